package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"slipway/internal/mockcloud"
	"slipway/internal/policy"
)

// Width is the terminal width the text output fits.
const Width = 100

// Style switches ANSI colour on or off.
type Style struct{ Color bool }

func (s Style) wrap(code, t string) string {
	if !s.Color {
		return t
	}
	return "\x1b[" + code + "m" + t + "\x1b[0m"
}

func (s Style) bold(t string) string   { return s.wrap("1", t) }
func (s Style) dim(t string) string    { return s.wrap("2", t) }
func (s Style) red(t string) string    { return s.wrap("31", t) }
func (s Style) green(t string) string  { return s.wrap("32", t) }
func (s Style) yellow(t string) string { return s.wrap("33", t) }

// shortType turns "aws:ec2/vpc:Vpc" into "ec2.Vpc" and
// "pulumi:providers:aws" into "provider aws".
func shortType(t string) string {
	if p, ok := strings.CutPrefix(t, "pulumi:providers:"); ok {
		return "provider " + p
	}
	pkg, rest, ok := strings.Cut(t, ":")
	if !ok {
		return t
	}
	mod, name, ok := strings.Cut(rest, ":")
	if !ok {
		return t
	}
	mod, _, _ = strings.Cut(mod, "/")
	if pkg == "aws" {
		return mod + "." + name
	}
	if mod == "index" {
		return pkg + "." + name
	}
	return pkg + ":" + mod + "." + name
}

// WriteText writes the human plan.
func (p *Plan) WriteText(w io.Writer, st Style) error {
	b := &strings.Builder{}
	line := func(format string, a ...any) { fmt.Fprintf(b, format+"\n", a...) }

	files := "Pulumi.yaml + Pulumi." + p.Stack + ".yaml"
	if !p.HasStackFile {
		files = "Pulumi.yaml only (no Pulumi." + p.Stack + ".yaml: project defaults, the review profile)"
	}
	if p.Foundation {
		classes := make([]string, len(p.Classes))
		for i, c := range p.Classes {
			classes[i] = string(c)
		}
		files = FoundationDir + "/Pulumi.yaml + " + FoundationDir + "/Pulumi." + p.Stack + ".yaml"
		line("%s", st.bold(fmt.Sprintf("Slipway foundation offline plan: stack %s (classes %s, region %s)", p.Stack, strings.Join(classes, ", "), p.Region)))
	} else {
		line("%s", st.bold(fmt.Sprintf("Slipway offline plan: stack %s (profile %s, region %s)", p.Stack, p.Profile, p.Region)))
	}
	line("%s", fmt.Sprintf("Account: %s (aws:allowedAccountIds; every AWS provider refuses any other)", p.Account()))
	for _, l := range wrap("Config from "+files+". The real program ran under Pulumi mocks as a preview: "+
		"no AWS credentials, no Pulumi CLI; IDs and ARNs are synthesized.", Width, "") {
		line("%s", st.dim(l))
	}
	if len(p.Placeholders) > 0 {
		line("")
		line("%s", st.bold("Secrets planned with placeholders"))
		for _, ph := range p.Placeholders {
			reason := ph.Reason
			if reason == NotSetReason {
				reason = st.yellow(reason)
			}
			line("  %-22s %s", ph.Key, reason)
		}
	}

	p.writeTree(b, st)
	p.writeOutputs(b, st)
	p.writePolicy(b, st)
	p.writeCost(b, st)
	_, err := io.WriteString(w, b.String())
	return err
}

func (p *Plan) writeTree(b *strings.Builder, st Style) {
	res := p.Result.Resources
	children := map[string][]mockcloud.Resource{}
	var components, providers int
	d := &describer{byID: map[string]mockcloud.Resource{}}
	for _, r := range res {
		children[r.Parent] = append(children[r.Parent], r)
		if r.ID != "" {
			d.byID[r.ID] = r
		}
		switch {
		case strings.HasPrefix(r.Type, "pulumi:providers:"):
			providers++
		case !r.Custom:
			components++
		}
	}
	fmt.Fprintf(b, "\n%s\n", st.bold(fmt.Sprintf("Resources (%d: %d components, %d providers, %d cloud resources)",
		len(res), components, providers, len(res)-components-providers)))
	fmt.Fprintf(b, "%s\n", st.dim(p.StackURN()))
	var walk func(parent, indent string)
	walk = func(parent, indent string) {
		kids := children[parent]
		// Components after the resources of a level, each in URN order.
		sort.SliceStable(kids, func(i, j int) bool {
			if kids[i].Custom != kids[j].Custom {
				return kids[i].Custom
			}
			return kids[i].URN < kids[j].URN
		})
		for i, r := range kids {
			last := i == len(kids)-1
			branch, cont := "├─ ", "│  "
			if last {
				branch, cont = "└─ ", "   "
			}
			pad := 30 - utf8.RuneCountInString(indent)
			if pad < 12 {
				pad = 12
			}
			head := indent + branch + fmt.Sprintf("%-*s %s", pad, shortType(r.Type), r.Name)
			component := !r.Custom && !strings.HasPrefix(r.Type, "pulumi:providers:")
			if component {
				head = indent + branch + st.bold(r.Name) + " " + st.dim(r.Type)
			}
			desc := d.describe(r)
			plainHead := indent + branch + fmt.Sprintf("%-*s %s", pad, shortType(r.Type), r.Name)
			switch {
			case desc == "":
				fmt.Fprintf(b, "%s\n", head)
			case !component && utf8.RuneCountInString(plainHead)+2+utf8.RuneCountInString(desc) <= Width:
				fmt.Fprintf(b, "%s  %s\n", head, desc)
			default:
				fmt.Fprintf(b, "%s\n", head)
				sub := indent + cont
				if len(children[r.URN]) > 0 {
					sub = indent + cont + "│ "
				}
				for _, l := range wrap(desc, Width-utf8.RuneCountInString(sub)-2, "") {
					fmt.Fprintf(b, "%s  %s\n", sub, st.dim(l))
				}
			}
			walk(r.URN, indent+cont)
		}
	}
	walk(p.StackURN(), "")
}

func (p *Plan) writeOutputs(b *strings.Builder, st Style) {
	fmt.Fprintf(b, "\n%s\n", st.bold("Stack outputs"))
	names := slices.Sorted(maps.Keys(p.Result.Outputs))
	for _, n := range names {
		o := p.Result.Outputs[n]
		v := "[secret]"
		if !o.Secret {
			switch x := o.Value.(type) {
			case string:
				v = x
			case nil:
				v = "(unknown until apply)"
			default:
				j, _ := json.Marshal(x)
				v = string(j)
			}
		}
		for i, l := range wrap(v, Width-26, "") {
			if i == 0 {
				fmt.Fprintf(b, "  %-23s %s\n", n, l)
			} else {
				fmt.Fprintf(b, "  %-23s %s\n", "", l)
			}
		}
	}
}

func (p *Plan) writePolicy(b *strings.Builder, st Style) {
	s := p.Summary
	head := fmt.Sprintf("Policy: %d pass, %d fail, %d not applicable (%d rules)", s.Pass, s.Fail, s.NotApplicable, len(p.Policy))
	fmt.Fprintf(b, "\n%s\n", st.bold(head))
	var na []string
	for _, r := range p.Policy {
		switch r.Status {
		case policy.Pass:
			fmt.Fprintf(b, "  %s  %-12s %-13s %s\n", st.green("pass"), r.ID, shortRef(r.Reference), trunc(r.Title, Width-35))
		case policy.Fail:
			label := st.red("FAIL")
			if r.Severity == policy.Warning {
				label = st.yellow("warn")
			}
			fmt.Fprintf(b, "  %s  %-12s %-13s %s\n", label, r.ID, shortRef(r.Reference), trunc(r.Title, Width-35))
			for _, f := range r.Findings {
				for _, l := range wrap(f.Name+": "+f.Message, Width, "        ") {
					fmt.Fprintf(b, "%s\n", l)
				}
			}
			for _, l := range wrap("fix: "+r.Fix, Width, "        ") {
				fmt.Fprintf(b, "%s\n", st.yellow(l))
			}
		default:
			na = append(na, r.ID)
		}
	}
	if len(na) > 0 {
		for _, l := range wrap("n/a here: "+strings.Join(na, " "), Width, "  ") {
			fmt.Fprintf(b, "%s\n", st.dim(l))
		}
	}
	if p.Failed() {
		fmt.Fprintf(b, "%s\n", st.red(fmt.Sprintf("  %d error-severity rule(s) failed: `slipway plan` exits 1", s.FailedErrors)))
	}
}

func (p *Plan) writeCost(b *strings.Builder, st Style) {
	c := p.Cost
	fmt.Fprintf(b, "\n%s\n", st.bold(fmt.Sprintf("Monthly cost estimate (USD, %s list prices as of %s)", c.Region, c.PricedAsOf)))
	fmt.Fprintf(b, "  %-24s %-22s %-34s %5s %9s\n", "resource", "type", "item", "kind", "$/month")
	for _, l := range c.SortedLines() {
		amount := fmt.Sprintf("%9.3f", l.Monthly)
		if !l.Priced {
			amount = st.yellow(fmt.Sprintf("%9s", "unpriced"))
		}
		fmt.Fprintf(b, "  %-24s %-22s %-34s %5s %s\n", trunc(l.Name, 24), trunc(shortType(l.Type), 22), trunc(l.Item, 34), l.Kind, amount)
	}
	fmt.Fprintf(b, "  %s\n", strings.Repeat("─", Width-4))
	fmt.Fprintf(b, "  %-87s %9.2f\n", "fixed at idle (no traffic)", c.FixedMonthly)
	fmt.Fprintf(b, "  %-87s %9.2f\n", "usage (assumed traffic, below)", c.UsageMonthly)
	fmt.Fprintf(b, "  %-87s %9.2f\n", st.bold("total per month"), c.TotalMonthly)
	if p.Profile == "review" {
		fmt.Fprintf(b, "  %s\n", st.bold(fmt.Sprintf("review stack: $%.3f per hour while up (idle), $%.2f per day", c.FixedHourly, c.FixedHourly*24)))
	} else {
		fmt.Fprintf(b, "  idle cost per hour: $%.3f\n", c.FixedHourly)
	}
	for _, u := range c.Unpriced {
		fmt.Fprintf(b, "  %s\n", st.yellow("unpriced: "+u))
	}
	fmt.Fprintf(b, "%s\n", st.dim("  assumptions:"))
	for _, a := range c.Assumptions {
		for i, l := range wrap(a, Width-6, "") {
			bullet := "    - "
			if i > 0 {
				bullet = "      "
			}
			fmt.Fprintf(b, "%s\n", st.dim(bullet+l))
		}
	}
}

// wrap breaks text into lines of at most width runes; continuation lines
// (and the first, if indent is set) start with indent.
func wrap(text string, width int, indent string) []string {
	if text == "" {
		return nil
	}
	words := strings.Fields(text)
	var lines []string
	cur := indent
	for _, w := range words {
		if utf8.RuneCountInString(cur) > utf8.RuneCountInString(indent) && utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(w) > width {
			lines = append(lines, cur)
			cur = indent
		}
		if utf8.RuneCountInString(cur) > utf8.RuneCountInString(indent) {
			cur += " "
		}
		if utf8.RuneCountInString(indent)+utf8.RuneCountInString(w) > width {
			w = trunc(w, width-utf8.RuneCountInString(indent))
		}
		cur += w
	}
	return append(lines, cur)
}

func trunc(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// shortRef fits a rule's reference in the verdict column: the control id,
// or "Slipway" for the project's own design rules.
func shortRef(ref string) string {
	if strings.HasPrefix(ref, "Slipway design") {
		return "Slipway"
	}
	return trunc(ref, 13)
}
