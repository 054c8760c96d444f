// Package policy is Slipway's security baseline: rules over the resources a
// stack registers (as recorded by internal/mockcloud), each with an id, a
// severity, the published control it comes from (AWS Security Hub
// Foundational Security Best Practices or Checkov) and a one-line fix.
//
// The same rules run in `go test` (on every stack of the real program and
// on hand-built violating fixtures) and in `slipway plan`, so what the plan
// reports is what the tests hold the program to.
package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// Severity says whether a failed rule fails the plan.
type Severity string

const (
	// Error fails `slipway plan` (exit 1).
	Error Severity = "error"
	// Warning is reported, never fatal.
	Warning Severity = "warning"
)

// Status is a rule's verdict on one stack.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	// NotApplicable: the stack has nothing the rule is about (no resource
	// of its types, or a profile it does not cover). It is not a pass.
	NotApplicable Status = "n/a"
)

// Stack is what a rule sees: the recorded resources, the stack outputs,
// the profile and the values known to be secret.
type Stack struct {
	Name string
	// Foundation marks a foundation stack (infra/foundation): one per
	// account, no profile.
	Foundation bool
	Profile    stacks.Profile
	// Region is the stack's own region (aws:region).
	Region    string
	Resources []mockcloud.Resource
	Outputs   map[string]mockcloud.Output
	// Secrets are values that must never appear in plain text: the
	// stack's secret config values (in the plan, their placeholders).
	Secrets []string
}

// Rule is one check of the baseline.
type Rule struct {
	ID       string
	Severity Severity
	// Reference is the control the rule implements: a Security Hub FSBP
	// control id (S3.8), a Checkov id (CKV_AWS_46), or "Slipway design"
	// where the rule is the project's own contract.
	Reference string
	Title     string
	Fix       string
	// Types are the type tokens the rule inspects; with none of them in
	// a stack the rule is not applicable there.
	Types []string
	// Profiles limits the rule to some stack profiles (empty: all).
	Profiles []stacks.Profile
	// Scope limits the rule to app stacks or to the foundation (empty:
	// both).
	Scope Scope
	// Inputs documents the input paths the rule reads, per type token.
	Inputs []string
	check  func(e *eval)
}

// Scope is which kind of stack a rule judges.
type Scope string

const (
	// AppOnly: dev, prod and pr-<n> stacks.
	AppOnly Scope = "app stacks"
	// FoundationOnly: the foundation's stacks.
	FoundationOnly Scope = "the foundation"
)

// Finding is one resource (or output) that breaks a rule.
type Finding struct {
	URN     string `json:"urn,omitempty"`
	Type    string `json:"type,omitempty"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// Result is a rule's verdict on a stack.
type Result struct {
	ID        string    `json:"id"`
	Severity  Severity  `json:"severity"`
	Reference string    `json:"reference"`
	Title     string    `json:"title"`
	Fix       string    `json:"fix"`
	Status    Status    `json:"status"`
	Checked   int       `json:"checked"`
	Reason    string    `json:"reason,omitempty"`
	Findings  []Finding `json:"findings,omitempty"`
}

// Summary counts verdicts; pass, fail and n/a are separate so a stack
// where most rules do not apply never looks fully checked.
type Summary struct {
	Pass          int `json:"pass"`
	Fail          int `json:"fail"`
	NotApplicable int `json:"notApplicable"`
	FailedErrors  int `json:"failedErrors"`
	FailedWarns   int `json:"failedWarnings"`
}

// Rules returns the baseline, ordered by id.
func Rules() []Rule {
	out := append([]Rule(nil), all...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Evaluate runs every rule on a stack.
func Evaluate(s Stack) []Result {
	rules := Rules()
	out := make([]Result, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.Evaluate(s))
	}
	return out
}

// Evaluate runs one rule on a stack.
func (r Rule) Evaluate(s Stack) Result {
	res := Result{ID: r.ID, Severity: r.Severity, Reference: r.Reference, Title: r.Title, Fix: r.Fix}
	if r.Scope == AppOnly && s.Foundation || r.Scope == FoundationOnly && !s.Foundation {
		res.Status = NotApplicable
		res.Reason = "applies to " + string(r.Scope) + " only"
		return res
	}
	if len(r.Profiles) > 0 && !slices.Contains(r.Profiles, s.Profile) {
		res.Status = NotApplicable
		names := make([]string, len(r.Profiles))
		for i, p := range r.Profiles {
			names[i] = string(p)
		}
		res.Reason = fmt.Sprintf("applies to %s stacks only", strings.Join(names, ", "))
		return res
	}
	e := &eval{s: &s, rule: &r}
	r.check(e)
	res.Checked = e.checked
	res.Findings = e.findings
	switch {
	case len(e.findings) > 0:
		res.Status = Fail
	case e.checked == 0:
		res.Status = NotApplicable
		res.Reason = e.naReason
		if res.Reason == "" {
			res.Reason = "no " + strings.Join(r.Types, ", ") + " in this stack"
		}
	default:
		res.Status = Pass
	}
	return res
}

// Summarize counts results.
func Summarize(results []Result) Summary {
	var s Summary
	for _, r := range results {
		switch r.Status {
		case Pass:
			s.Pass++
		case Fail:
			s.Fail++
			if r.Severity == Error {
				s.FailedErrors++
			} else {
				s.FailedWarns++
			}
		default:
			s.NotApplicable++
		}
	}
	return s
}

// eval is one rule's run over a stack.
type eval struct {
	s        *Stack
	rule     *Rule
	checked  int
	findings []Finding
	naReason string
}

// of returns the stack's resources of the given types and counts them as
// checked.
func (e *eval) of(types ...string) []mockcloud.Resource {
	out := e.peek(types...)
	e.checked += len(out)
	return out
}

// peek returns resources of the given types without counting them.
func (e *eval) peek(types ...string) []mockcloud.Resource {
	var out []mockcloud.Resource
	for _, r := range e.s.Resources {
		if slices.Contains(types, r.Type) {
			out = append(out, r)
		}
	}
	return out
}

func (e *eval) fail(r mockcloud.Resource, format string, args ...any) {
	e.findings = append(e.findings, Finding{URN: r.URN, Type: r.Type, Name: r.Name, Message: fmt.Sprintf(format, args...)})
}

func (e *eval) failName(name, format string, args ...any) {
	e.findings = append(e.findings, Finding{Name: name, Message: fmt.Sprintf(format, args...)})
}

// refersTo reports whether a reference value (an input holding an ID, a
// name, an ARN or a URL) names the resource.
func refersTo(v any, r mockcloud.Resource) bool {
	s, ok := v.(string)
	if !ok || s == "" {
		return false
	}
	if s == r.ID {
		return true
	}
	for _, k := range []string{"arn", "bucket", "name", "url", "id"} {
		if o, ok := r.Out(k).(string); ok && o == s {
			return true
		}
	}
	return false
}

// find returns the first resource of typ that the reference names.
func (e *eval) find(typ string, ref any) (mockcloud.Resource, bool) {
	for _, r := range e.peek(typ) {
		if refersTo(ref, r) {
			return r, true
		}
	}
	return mockcloud.Resource{}, false
}

// MarkdownTable renders the baseline as the rule table of docs/plan.md.
func MarkdownTable() string {
	esc := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;")
	var b strings.Builder
	b.WriteString("| id | severity | reference | what it checks | profiles | type tokens and input paths |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range Rules() {
		profiles := "all"
		if r.Scope != "" {
			profiles = string(r.Scope)
		}
		if len(r.Profiles) > 0 {
			ps := make([]string, len(r.Profiles))
			for i, p := range r.Profiles {
				ps[i] = string(p)
			}
			profiles = strings.Join(ps, ", ")
		}
		inputs := make([]string, len(r.Inputs))
		for i, in := range r.Inputs {
			inputs[i] = esc.Replace(in)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s. Fix: %s | %s | %s |\n", r.ID, r.Severity, esc.Replace(r.Reference),
			esc.Replace(r.Title), esc.Replace(r.Fix), profiles, strings.Join(inputs, "<br>"))
	}
	return b.String()
}

// Plain-value helpers, shared with the plan and the cost model.
var (
	str     = mockcloud.Str
	num     = mockcloud.Num
	list    = mockcloud.List
	strList = mockcloud.Strings
)
