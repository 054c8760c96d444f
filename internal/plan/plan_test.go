package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/internal/mockcloud"
	"slipway/internal/policy"
	"slipway/internal/testproject"
	"slipway/program"
	"slipway/stacks"
)

// projectDir is the repository root (tests run in internal/plan).
const projectDir = "../.."

var allStacks = []string{"dev", "prod", "pr-7"}

func mustPlan(t *testing.T, stack string) *Plan {
	t.Helper()
	p, err := Run(program.Build, projectDir, stack)
	if err != nil {
		t.Fatalf("%s: %v", stack, err)
	}
	return p
}

// notApplicable are the rules that do not apply to a stack, and why; every
// other rule must pass (not merely not fail) on the real program.
var notApplicable = map[string][]string{
	// dev: prod-only rules, review-only rules, and no OIDC role configured
	// and the foundation's rules (no CI identity, key or state bucket:
	// those are the foundation's)
	"dev": {"SLW-CF-007", "SLW-DATA-001", "SLW-DATA-002", "SLW-EC2-006", "SLW-EC2-007", "SLW-IAM-005",
		"SLW-REV-001", "SLW-REV-002", "SLW-REV-003", "SLW-FND-001", "SLW-FND-002", "SLW-FND-005", "SLW-IAM-002", "SLW-IAM-003",
		"SLW-BAK-001", "SLW-BAK-002", "SLW-BAK-003", "SLW-BAK-004"},
	// prod: review-only rules, and the foundation's
	"prod": {"SLW-IAM-005", "SLW-REV-001", "SLW-REV-002", "SLW-REV-003", "SLW-FND-001", "SLW-FND-002", "SLW-FND-005",
		"SLW-IAM-002", "SLW-IAM-003", "SLW-BAK-004"},
	// pr-7: no domain (so no certificate), prod-only rules, the foundation's
	"pr-7": {"SLW-ACM-001", "SLW-CF-002", "SLW-CF-003", "SLW-CF-007", "SLW-DATA-001", "SLW-DATA-002",
		"SLW-EC2-006", "SLW-EC2-007", "SLW-IAM-002", "SLW-IAM-003", "SLW-IAM-005", "SLW-FND-001", "SLW-FND-002", "SLW-FND-005",
		"SLW-BAK-001", "SLW-BAK-002", "SLW-BAK-003"},
}

// The whole baseline on the real program: nothing fails on dev, prod or a
// review stack, every rule that applies passes, and pass, fail and n/a add
// up.
func TestAllRulesPassOnTheRealStacks(t *testing.T) {
	for _, stack := range allStacks {
		p := mustPlan(t, stack)
		for _, r := range p.Policy {
			wantNA := slices.Contains(notApplicable[stack], r.ID)
			switch {
			case r.Status == policy.Fail:
				t.Errorf("%s: %s (%s) fails: %+v", stack, r.ID, r.Title, r.Findings)
			case wantNA && r.Status != policy.NotApplicable:
				t.Errorf("%s: %s is %s, want n/a", stack, r.ID, r.Status)
			case !wantNA && r.Status != policy.Pass:
				t.Errorf("%s: %s is %s (%s), want pass", stack, r.ID, r.Status, r.Reason)
			case r.Status == policy.NotApplicable && r.Reason == "":
				t.Errorf("%s: %s is n/a without a reason", stack, r.ID)
			}
		}
		s := p.Summary
		if s.Pass+s.Fail+s.NotApplicable != len(policy.Rules()) || s.NotApplicable != len(notApplicable[stack]) {
			t.Errorf("%s: summary %+v over %d rules", stack, s, len(policy.Rules()))
		}
		if p.Failed() {
			t.Errorf("%s: plan failed", stack)
		}
	}
}

func TestProfilesAndPlaceholders(t *testing.T) {
	for _, stack := range allStacks {
		p := mustPlan(t, stack)
		wantProfile := map[string]stacks.Profile{"dev": stacks.Dev, "prod": stacks.Prod, "pr-7": stacks.Review}[stack]
		if p.Profile != wantProfile || p.HasStackFile != (stack != "pr-7") || p.Region != "us-east-1" {
			t.Errorf("%s: profile %s, stack file %v, region %s", stack, p.Profile, p.HasStackFile, p.Region)
		}
		var keys []string
		for _, ph := range p.Placeholders {
			keys = append(keys, ph.Key)
			if ph.Reason != NotSetReason {
				t.Errorf("%s: %s reason %q", stack, ph.Key, ph.Reason)
			}
		}
		if !slices.Equal(keys, RequiredSecrets) {
			t.Errorf("%s: placeholders %v, want %v", stack, keys, RequiredSecrets)
		}
		var text bytes.Buffer
		if err := p.WriteText(&text, Style{}); err != nil {
			t.Fatal(err)
		}
		for _, k := range RequiredSecrets {
			if !strings.Contains(text.String(), k) || !strings.Contains(text.String(), "not set: `pulumi up` would refuse until set") {
				t.Errorf("%s: text does not say %s is not set", stack, k)
			}
		}
	}
}

// The placeholder list is exactly what stacks.Parse needs.
func TestRequiredSecretsAreWhatParseRequires(t *testing.T) {
	files, err := stacks.ReadFiles(projectDir, "pr-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stacks.Parse(Project, "pr-1", files); err == nil {
		t.Fatal("Parse accepted a stack without secrets")
	}
	for _, k := range RequiredSecrets {
		files.SetSecret(k, stacks.OfflineSecret)
	}
	if _, err := stacks.Parse(Project, "pr-1", files); err != nil {
		t.Fatalf("placeholders for %v are not enough: %v", RequiredSecrets, err)
	}
}

// A stack file with encrypted values: never decrypted, listed, marked
// secret, and never written out.
func TestEncryptedValuesArePlaceholders(t *testing.T) {
	dir := testproject.Copy(t, projectDir, "Pulumi.yaml", "app")
	stackFile := "config:\n  aws:allowedAccountIds: [\"111111111111\"]\n  slipway:dbPassword:\n    secure: AAABAKq0cnlwdGVkLWJ5LXB1bHVtaQ==\n" +
		"  slipway:originSecret:\n    secure: AAABAE9yaWdpbi1zZWNyZXQtY2lwaGVy\n"
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.dev.yaml"), []byte(stackFile), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Run(program.Build, dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Placeholders) != 2 || p.Placeholders[0].Reason != EncryptedReason || p.Placeholders[1].Reason != EncryptedReason {
		t.Fatalf("placeholders %+v", p.Placeholders)
	}
	var out bytes.Buffer
	if err := p.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"AAABAKq0cnlwdGVkLWJ5LXB1bHVtaQ==", stacks.OfflineSecret} {
		if strings.Contains(out.String(), leak) {
			t.Errorf("JSON contains %q", leak)
		}
	}
}

func TestJSONHasTheStackExportShapeAndIsDeterministic(t *testing.T) {
	for _, stack := range allStacks {
		var a, b bytes.Buffer
		if err := mustPlan(t, stack).WriteJSON(&a); err != nil {
			t.Fatal(err)
		}
		if err := mustPlan(t, stack).WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("%s: two plans differ", stack)
		}
		var doc struct {
			Version    int
			Deployment struct {
				Manifest  map[string]any
				Resources []map[string]json.RawMessage
			}
			Slipway struct {
				Stack  string
				Policy struct {
					Summary policy.Summary
					Results []policy.Result
				}
				Cost struct {
					FixedMonthlyUsd float64
					Lines           []any
				}
			}
		}
		if err := json.Unmarshal(a.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Version != 3 || doc.Deployment.Manifest["time"] != ManifestTime ||
			doc.Deployment.Manifest["magic"] == nil || doc.Deployment.Manifest["version"] == nil {
			t.Errorf("%s: version %d manifest %v", stack, doc.Version, doc.Deployment.Manifest)
		}
		var urns []string
		for _, r := range doc.Deployment.Resources {
			for _, k := range []string{"urn", "custom", "type", "inputs", "outputs", "dependencies", "propertyDependencies", "protect", "retainOnDelete"} {
				if _, ok := r[k]; !ok {
					t.Errorf("%s: resource %s lacks %q", stack, r["urn"], k)
				}
			}
			var urn string
			_ = json.Unmarshal(r["urn"], &urn)
			urns = append(urns, urn)
		}
		if !sort.StringsAreSorted(urns) || len(urns) < 20 || !slices.Contains(urns, "urn:pulumi:"+stack+"::slipway::pulumi:pulumi:Stack::slipway-"+stack) {
			t.Errorf("%s: resources not in URN order or stack missing: %v", stack, urns)
		}
		if doc.Slipway.Stack != stack || len(doc.Slipway.Policy.Results) != len(policy.Rules()) || doc.Slipway.Cost.FixedMonthlyUsd <= 0 {
			t.Errorf("%s: slipway section %+v", stack, doc.Slipway)
		}
		if strings.Contains(a.String(), stacks.OfflineSecret) {
			t.Errorf("%s: a secret placeholder leaked into the JSON", stack)
		}
	}
}

// Secrets are masked in inputs, outputs and stack outputs.
func TestSecretsAreMaskedInTheExport(t *testing.T) {
	in := resource.PropertyMap{
		"name":     resource.NewProperty("visible"),
		"password": resource.MakeSecret(resource.NewProperty("hunter2-hunter2")),
		"nested":   resource.NewProperty(resource.PropertyMap{"token": resource.MakeSecret(resource.NewProperty("tok-123456789"))}),
	}
	p := &Plan{Project: "slipway", Stack: "dev", Result: &mockcloud.Result{
		Resources: []mockcloud.Resource{{URN: "urn:pulumi:dev::slipway::aws:iam/accessKey:AccessKey::k", Type: "aws:iam/accessKey:AccessKey",
			Custom: true, Inputs: in, Outputs: in}},
		Outputs: map[string]mockcloud.Output{"key": {Value: "AKIA", Secret: false}, "secret": {Value: "s3cr3t-output-value", Secret: true}},
	}}
	var out bytes.Buffer
	if err := p.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, leak := range []string{"hunter2-hunter2", "tok-123456789", "s3cr3t-output-value"} {
		if strings.Contains(s, leak) {
			t.Errorf("export contains %q", leak)
		}
	}
	if strings.Count(s, `"`+SecretSig+`": "`+SecretSigValue+`"`) < 6 || !strings.Contains(s, `"ciphertext": "[secret]"`) ||
		!strings.Contains(s, "visible") {
		t.Errorf("secrets not marked as Pulumi marks them:\n%s", s)
	}
}

func TestTextFits100ColumnsAndColoursOnlyOnRequest(t *testing.T) {
	for _, stack := range allStacks {
		p := mustPlan(t, stack)
		var plain, color bytes.Buffer
		if err := p.WriteText(&plain, Style{}); err != nil {
			t.Fatal(err)
		}
		if err := p.WriteText(&color, Style{Color: true}); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(plain.String(), "\n") {
			if n := utf8.RuneCountInString(l); n > Width {
				t.Errorf("%s: line of %d columns: %q", stack, n, l)
			}
		}
		if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(color.String(), "\x1b[") {
			t.Errorf("%s: colour on without request or off with it", stack)
		}
		text := plain.String()
		for _, want := range []string{"ec2.Instance", "IMDSv2 only", "gp3 20 GiB encrypted", "from pl-", "Stack outputs",
			"Policy: ", "Monthly cost estimate", "t4g.", "fixed at idle", "assumptions:"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: text lacks %q", stack, want)
			}
		}
		switch stack {
		case "prod":
			if !strings.Contains(text, "[protect], [retain]") || !strings.Contains(text, "t4g.medium × 730 h") {
				t.Errorf("prod: protect/retain flags or instance line missing")
			}
		case "pr-7":
			if !strings.Contains(text, "review stack: $") || strings.Contains(text, "[protect]") {
				t.Errorf("pr-7: per-hour cost missing or something protected")
			}
		}
	}
}

func TestMermaidGraph(t *testing.T) {
	var out bytes.Buffer
	if err := mustPlan(t, "dev").WriteMermaid(&out); err != nil {
		t.Fatal(err)
	}
	m := out.String()
	if !strings.HasPrefix(m, "graph TD\n") || !strings.Contains(m, `stack["slipway-dev`) || !strings.Contains(m, "[[\"host<br/>") {
		t.Fatalf("mermaid:\n%s", m)
	}
	// Every resource hangs off its component; every component off the stack.
	if strings.Count(m, " --> ") < 25 || !strings.Contains(m, "stack --> ") {
		t.Errorf("too few edges:\n%s", m)
	}
}

func TestCostOfTheCoreStacks(t *testing.T) {
	dev := mustPlan(t, "dev").Cost
	prod := mustPlan(t, "prod").Cost
	// dev: t4g.small 12.264 + root 1.60 + data 1.60 + EIP 3.65 + 8 alarms 0.80
	// + 3 custom metrics 0.90 + alarm topic KMS key 1.00 + dashboard 3.00
	// + ECR 3 × 1 GB 0.30 + SPA storage 0.001
	if dev.FixedMonthly != 25.115 {
		t.Errorf("dev fixed %v, want 25.115", dev.FixedMonthly)
	}
	// prod: t4g.medium 24.528 + root 1.60 + data 50 GiB 4.00 + EIP 3.65
	// + the same monitoring, key, ECR and SPA 6.001 + detailed monitoring 2.10
	// + snapshots (25 + 13×0.5 GB) × 0.05 = 1.575
	// + backups: archive 237.5 GB × 0.023 = 5.4625, AWS Backup 42 GB × 0.05
	// = 2.10, 2 alarms 0.20 and their 2 custom metrics 0.60
	if prod.FixedMonthly != 51.816 {
		t.Errorf("prod fixed %v, want 51.816", prod.FixedMonthly)
	}
	if prod.UsageMonthly <= 0 {
		t.Errorf("prod flow logs and log storage should add usage cost: %v", prod.UsageMonthly)
	}
}

func TestCommandExitCodes(t *testing.T) {
	run := func(build Build, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Command(args, build, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, _ := run(program.Build, "--stack", "dev", "--project-dir", projectDir); code != 0 || !strings.Contains(out, "Slipway offline plan") {
		t.Errorf("dev: exit %d", code)
	}
	if code, out, _ := run(program.Build, "--stack", "pr-7", "--project-dir", projectDir, "--format", "mermaid"); code != 0 || !strings.HasPrefix(out, "graph TD") {
		t.Errorf("mermaid: exit %d", code)
	}
	if code, _, errs := run(program.Build, "--stack", "staging", "--project-dir", projectDir); code != 2 || !strings.Contains(errs, `"staging"`) {
		t.Errorf("bad stack name: exit %d, %q", code, errs)
	}
	if code, _, _ := run(program.Build, "--project-dir", projectDir); code != 2 {
		t.Errorf("missing --stack: exit %d", code)
	}
	if code, _, _ := run(program.Build, "--stack", "dev", "--format", "yaml"); code != 2 {
		t.Errorf("bad format: exit %d", code)
	}

	// Bad config: exit 2, the message names key, value and what is accepted.
	dir := testproject.Copy(t, projectDir, "Pulumi.yaml")
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.dev.yaml"), []byte("config:\n  slipway:vpcCidr: 8.8.0.0/16\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := run(program.Build, "--stack", "dev", "--project-dir", dir); code != 2 ||
		!strings.Contains(errs, "slipway:vpcCidr") || !strings.Contains(errs, "8.8.0.0/16") || !strings.Contains(errs, "private IPv4") {
		t.Errorf("bad config: exit %d, %q", code, errs)
	}

	// A program that opens SSH to the world fails error-severity rules:
	// exit 1, and the text names the rule and its fix.
	withSSH := func(ctx *pulumi.Context) (pulumi.Map, error) {
		out, err := program.Build(ctx)
		if err != nil {
			return nil, err
		}
		var rule pulumi.CustomResourceState
		err = ctx.RegisterResource("aws:ec2/securityGroupRule:SecurityGroupRule", "ssh", pulumi.Map{
			"type": pulumi.String("ingress"), "protocol": pulumi.String("tcp"), "fromPort": pulumi.Int(22), "toPort": pulumi.Int(22),
			"cidrBlocks": pulumi.StringArray{pulumi.String("0.0.0.0/0")}, "securityGroupId": pulumi.String("sg-1"),
		}, &rule)
		return out, err
	}
	code, out, errs := run(withSSH, "--stack", "dev", "--project-dir", projectDir)
	if code != 1 || !strings.Contains(out, "FAIL  SLW-EC2-003") || !strings.Contains(out, "FAIL  SLW-EC2-004") ||
		!strings.Contains(out, "fix: ") || !strings.Contains(errs, "error-severity") {
		t.Errorf("SSH open: exit %d\n%s\n%s", code, out, errs)
	}
}

// The foundation's stacks plan too (slipway plan --project foundation),
// with the foundation's rules passing and the app stacks' rules not
// applying; the plan shows the account pin.
func TestFoundationPlansPass(t *testing.T) {
	for stack, classes := range map[string]string{"dev": "dev, review", "prod": "prod", "single": "dev, review, prod"} {
		p, err := RunFoundation(projectDir, stack)
		if err != nil {
			t.Fatalf("foundation %s: %v", stack, err)
		}
		if p.Failed() || !p.Foundation || p.Project != "slipway-foundation" {
			t.Errorf("foundation %s: failed %v (%+v)", stack, p.Failed(), p.Summary)
		}
		for _, r := range p.Policy {
			switch {
			case r.Status == policy.Fail:
				t.Errorf("foundation %s: %s fails: %+v", stack, r.ID, r.Findings)
			case strings.HasPrefix(r.ID, "SLW-FND-") || r.ID == "SLW-APP-002" || r.ID == "SLW-IAM-004" || r.ID == "SLW-IAM-005":
				if r.Status != policy.Pass {
					t.Errorf("foundation %s: %s is %s (%s), want pass", stack, r.ID, r.Status, r.Reason)
				}
			case r.ID == "SLW-APP-001" && r.Status != policy.NotApplicable:
				t.Errorf("foundation %s: the app-stack rule %s applies", stack, r.ID)
			}
		}
		var out strings.Builder
		if err := p.WriteText(&out, Style{}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "classes "+classes) || !strings.Contains(out.String(), "Account: ") {
			t.Errorf("foundation %s: header %q", stack, strings.SplitN(out.String(), "\n", 3)[:2])
		}
	}
	if _, err := RunFoundation(projectDir, "nope"); err == nil || !IsConfigError(err) {
		t.Errorf("a foundation stack without a file: %v", err)
	}
}

// The plan shows every stack's account pin; a review stack's is dev's.
func TestPlanShowsTheAccountPin(t *testing.T) {
	for stack, want := range map[string]string{"dev": "111111111111", "prod": "222222222222", "pr-7": "111111111111"} {
		p := mustPlan(t, stack)
		var out strings.Builder
		if err := p.WriteText(&out, Style{}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "Account: "+want+" (aws:allowedAccountIds") {
			t.Errorf("%s: plan does not show account %s", stack, want)
		}
		if got := p.ToExport().Slipway.AllowedAccountIDs; !slices.Equal(got, []string{want}) {
			t.Errorf("%s: export allowedAccountIds %v", stack, got)
		}
	}
}

func TestCommandPlansTheFoundation(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Command(args, program.Build, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, errs := run("--project", "foundation", "--stack", "prod", "--project-dir", projectDir); code != 0 ||
		!strings.Contains(out, "Slipway foundation offline plan: stack prod") {
		t.Errorf("foundation prod: exit %d %s", code, errs)
	}
	if code, out, _ := run("--project", "foundation", "--stack", "single", "--project-dir", projectDir, "--format", "json"); code != 0 ||
		!strings.Contains(out, `"project": "slipway-foundation"`) {
		t.Errorf("foundation json: exit %d", code)
	}
	if code, _, errs := run("--project", "infra", "--stack", "dev", "--project-dir", projectDir); code != 2 || !strings.Contains(errs, "app or foundation") {
		t.Errorf("bad project: exit %d %q", code, errs)
	}
}
