package foundation

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"slipway/stacks"
)

// The CI identities (docs/ci.md), written once: each GitHub environment,
// the OIDC subject a job in it presents, the role that trusts exactly that
// subject, and the environment class whose state and secrets it reaches.
// No role trusts `pull_request` or a branch ref, so a job without an
// environment gets no cloud identity at all.
var workflowEnvironments = map[string]struct {
	subject, role string
	class         stacks.Profile
	// pullRequestCode: the environment admits any branch, so a pull
	// request's code (which can rewrite its workflow) may hold it.
	pullRequestCode bool
}{
	"production":  {"repo:<owner>/<repo>:environment:production", "slipway-prod-deploy", "prod", false},
	"dev":         {"repo:<owner>/<repo>:environment:dev", "slipway-dev-deploy", "dev", false},
	"review":      {"repo:<owner>/<repo>:environment:review", "slipway-review", "review", true},
	"dev-preview": {"repo:<owner>/<repo>:environment:dev-preview", "slipway-dev-preview", "dev", true},
}

// Names no workflow may use any more: the shared passphrase and token that
// decrypted or read every stack, and the repository-wide role and backend
// secrets (both now environment variables).
var retiredCISecrets = []string{"PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN", "secrets.PULUMI_BACKEND_URL", "secrets.AWS_ROLE_ARN"}

type workflowStep struct {
	Uses string            `yaml:"uses"`
	With map[string]string `yaml:"with"`
	Run  string            `yaml:"run"`
}

type workflowJob struct {
	If          string         `yaml:"if"`
	Environment yaml.Node      `yaml:"environment"`
	Permissions yaml.Node      `yaml:"permissions"`
	Uses        string         `yaml:"uses"`
	Steps       []workflowStep `yaml:"steps"`
}

type ciWorkflow struct {
	file string
	On   yaml.Node              `yaml:"on"`
	Jobs map[string]workflowJob `yaml:"jobs"`
	// raw is the job's YAML text, by job, for what must not be mentioned.
	raw map[string]string
	// pushBranches are the push trigger's branches.
	pushBranches []string
	triggers     []string
}

func workflowRepoRoot() string { return filepath.Join("..", "..") }

func loadWorkflows(t *testing.T) []ciWorkflow {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(workflowRepoRoot(), ".github", "workflows", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows: %v", err)
	}
	var out []ciWorkflow
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w := ciWorkflow{file: filepath.Base(f), raw: map[string]string{}}
		if err := yaml.Unmarshal(b, &w); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var doc struct {
			Jobs map[string]yaml.Node `yaml:"jobs"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for name, node := range doc.Jobs {
			text, err := yaml.Marshal(&node)
			if err != nil {
				t.Fatal(err)
			}
			w.raw[name] = string(text)
		}
		w.triggers, w.pushBranches = workflowTriggers(t, &w.On)
		out = append(out, w)
	}
	return out
}

// triggers lists a workflow's events and the push trigger's branches.
func workflowTriggers(t *testing.T, on *yaml.Node) (events, pushBranches []string) {
	t.Helper()
	switch on.Kind {
	case yaml.ScalarNode:
		return []string{on.Value}, nil
	case yaml.SequenceNode:
		for _, n := range on.Content {
			events = append(events, n.Value)
		}
		return events, nil
	case yaml.MappingNode:
		for i := 0; i < len(on.Content); i += 2 {
			event := on.Content[i].Value
			events = append(events, event)
			if event != "push" {
				continue
			}
			var spec map[string][]string
			if err := on.Content[i+1].Decode(&spec); err != nil {
				t.Fatalf("push trigger: %v", err)
			}
			for k := range spec {
				if k != "branches" {
					t.Errorf("push trigger has %s: only `branches` is understood here", k)
				}
			}
			pushBranches = spec["branches"]
		}
		return events, pushBranches
	}
	t.Fatalf("unreadable `on`")
	return nil, nil
}

func (j workflowJob) environment(t *testing.T) string {
	t.Helper()
	switch j.Environment.Kind {
	case 0:
		return ""
	case yaml.ScalarNode:
		return j.Environment.Value
	case yaml.MappingNode:
		var e struct{ Name string }
		if err := j.Environment.Decode(&e); err != nil {
			t.Fatal(err)
		}
		return e.Name
	}
	t.Fatalf("unreadable environment")
	return ""
}

// idToken says whether the job may request an OIDC token.
func (j workflowJob) idToken(t *testing.T) bool {
	t.Helper()
	var p map[string]string
	if j.Permissions.Kind == yaml.MappingNode {
		if err := j.Permissions.Decode(&p); err != nil {
			t.Fatal(err)
		}
	}
	return p["id-token"] == "write" || j.Permissions.Value == "write-all"
}

// topLevel splits an expression at a top-level operator (outside
// parentheses and quotes).
func exprSplit(expr, op string) []string {
	var parts []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && strings.HasPrefix(expr[i:], op):
			parts = append(parts, strings.TrimSpace(expr[start:i]))
			start = i + len(op)
			i += len(op) - 1
		}
	}
	return append(parts, strings.TrimSpace(expr[start:]))
}

var workflowEventIs = regexp.MustCompile(`github\.event_name == '([a-z_]+)'`)

// events are the workflow's triggers the job can run under: its `if`
// narrows them when every top-level alternative names an event.
func (w ciWorkflow) events(j workflowJob) []string {
	alternatives := exprSplit(j.If, "||")
	var named []string
	for _, alt := range alternatives {
		m := workflowEventIs.FindAllStringSubmatch(alt, -1)
		if len(m) == 0 || strings.Contains(alt, "!=") {
			return w.triggers
		}
		for _, e := range m {
			named = append(named, e[1])
		}
	}
	var out []string
	for _, e := range w.triggers {
		if slices.Contains(named, e) {
			out = append(out, e)
		}
	}
	return out
}

// onMainOnly says whether the job can run only main's code: pushes to main,
// the schedule (the default branch), or a dispatch its `if` requires to be
// on main. Anything else may be any branch's code, a pull request's
// included.
func (w ciWorkflow) onMainOnly(t *testing.T, j workflowJob) bool {
	t.Helper()
	guarded := slices.Contains(exprSplit(j.If, "&&"), "github.ref == 'refs/heads/main'") && len(exprSplit(j.If, "||")) == 1
	for _, e := range w.events(j) {
		switch {
		case e == "push" && slices.Equal(w.pushBranches, []string{"main"}):
		case e == "schedule":
		case e == "workflow_dispatch" && guarded:
		case e == "push" && guarded:
		default:
			return false
		}
	}
	return true
}

var workflowSecretRef = regexp.MustCompile(`secrets\.([A-Za-z_][A-Za-z0-9_]*)`)

// Jobs that may run a pull request's (or any branch's) code hold at most
// dev-preview or review; with credentials they name nothing of prod nor
// dev's deploy role; only main's code reaches `dev` and `production`.
func TestWorkflowPullRequestCodeGetsNoDeployOrProdIdentity(t *testing.T) {
	prJobs := 0
	for _, w := range loadWorkflows(t) {
		if slices.Contains(w.triggers, "pull_request_target") {
			t.Errorf("%s: pull_request_target runs with the base repository's secrets; not used here", w.file)
		}
		for name, j := range w.Jobs {
			where := w.file + " job " + name
			env := jobEnvironment(t, j)
			raw := w.raw[name]
			if j.Uses != "" {
				t.Errorf("%s: reusable workflows are not checked by this test", where)
			}
			if w.onMainOnly(t, j) {
				continue
			}
			if slices.Contains(w.events(j), "pull_request") {
				prJobs++
			}
			if env != "" && !workflowEnvironments[env].pullRequestCode {
				t.Errorf("%s runs pull-request or branch code in environment %q; such jobs may hold only dev-preview or review", where, env)
			}
			credentials := env != "" || j.idToken(t)
			for _, m := range workflowSecretRef.FindAllStringSubmatch(raw, -1) {
				if m[1] != "GITHUB_TOKEN" {
					credentials = true
				}
			}
			if env == "" && credentials {
				t.Errorf("%s runs pull-request or branch code with an OIDC token or secrets but no environment", where)
			}
			// A job with credentials names nothing of prod (an offline plan
			// of prod, with no credential at all, is fine).
			if credentials {
				for _, bad := range []*regexp.Regexp{regexp.MustCompile(`\bprod\b`), regexp.MustCompile(`production`),
					regexp.MustCompile(`slipway-prod-`), regexp.MustCompile(`(?i)prod_`), regexp.MustCompile(`slipway-dev-deploy`)} {
					if loc := bad.FindString(raw); loc != "" {
						t.Errorf("%s runs pull-request or branch code with credentials and names %q", where, loc)
					}
				}
			}
		}
	}
	if prJobs == 0 {
		t.Error("no job runs on pull requests: the test reads the wrong files")
	}
}

func jobEnvironment(t *testing.T, j workflowJob) string {
	t.Helper()
	env := j.environment(t)
	if strings.Contains(env, "${{") {
		t.Errorf("environment %q is an expression: the environment a job holds must be visible in the file", env)
	}
	return env
}

// Every environment a job holds is one of those, each job with a
// cloud identity holds one (its OIDC subject is the environment's, the only
// kind any role trusts), and the identity it takes is its environment's: the
// role from the environment variable AWS_ROLE_ARN, the backend from
// PULUMI_BACKEND_URL, the secrets provider of the environment's class.
// Deploy environments run only main's code.
func TestWorkflowEnvironmentsMapToTheContractSubjects(t *testing.T) {
	used := map[string]bool{}
	for _, w := range loadWorkflows(t) {
		for name, j := range w.Jobs {
			where := w.file + " job " + name
			env := jobEnvironment(t, j)
			spec, known := workflowEnvironments[env]
			if env != "" && !known {
				t.Errorf("%s: environment %q is not one of the CI identities (no role trusts its subject)", where, env)
				continue
			}
			used[env] = true
			if j.idToken(t) && env == "" {
				t.Errorf("%s: requests an OIDC token without an environment; its subject would be trusted by no role", where)
			}
			if env != "" && !spec.pullRequestCode && !w.onMainOnly(t, j) {
				t.Errorf("%s: environment %s (role %s) is held by a job that can run code other than main's (events %v, if %q)",
					where, env, spec.role, w.events(j), j.If)
			}
			if env == "production" || env == "dev" {
				for _, e := range w.events(j) {
					if e != "push" && e != "workflow_dispatch" {
						t.Errorf("%s: environment %s runs on %s", where, env, e)
					}
				}
			}
			for _, s := range j.Steps {
				action, _, _ := strings.Cut(s.Uses, "@")
				switch action {
				case "aws-actions/configure-aws-credentials":
					if env == "" {
						t.Errorf("%s: AWS credentials outside an environment", where)
					}
					if s.With["role-to-assume"] != "${{ vars.AWS_ROLE_ARN }}" {
						t.Errorf("%s: role-to-assume %q, want the environment variable AWS_ROLE_ARN", where, s.With["role-to-assume"])
					}
					for _, k := range []string{"aws-access-key-id", "aws-secret-access-key"} {
						if v := s.With[k]; v != "" && !strings.HasPrefix(v, "${{ vars.AWS_ROLE_ARN == '' && secrets.") {
							t.Errorf("%s: %s %q: keys only as the fallback when no role is set", where, k, v)
						}
					}
				case "pulumi/actions":
					if s.With["cloud-url"] != "${{ vars.PULUMI_BACKEND_URL }}" {
						t.Errorf("%s: cloud-url %q, want the environment variable PULUMI_BACKEND_URL", where, s.With["cloud-url"])
					}
					stack := s.With["stack-name"]
					class, err := stacks.ProfileOf(stack)
					if err != nil || class != spec.class {
						t.Errorf("%s: stack %q (class %q) in environment %q of class %s", where, stack, class, env, spec.class)
					}
					if want := "awskms://alias/slipway-" + string(spec.class) + "-pulumi-secrets"; s.With["secrets-provider"] != want {
						t.Errorf("%s: secrets-provider %q, want %s", where, s.With["secrets-provider"], want)
					}
				}
				for _, m := range regexp.MustCompile(`awskms://alias/slipway-([a-z]+)-pulumi-secrets`).FindAllStringSubmatch(s.Run, -1) {
					if m[1] != string(spec.class) {
						t.Errorf("%s: uses the %s secrets key in environment %q", where, m[1], env)
					}
				}
			}
			if strings.Contains(w.raw[name], "PULUMI_BACKEND_URL") && !strings.Contains(w.raw[name], "PULUMI_BACKEND_URL: ${{ vars.PULUMI_BACKEND_URL }}") {
				t.Errorf("%s: PULUMI_BACKEND_URL does not come from the environment variable", where)
			}
		}
	}
	for _, env := range []string{"production", "dev", "review", "dev-preview"} {
		if !used[env] {
			t.Errorf("no job uses environment %s (its role %s would be unused)", env, workflowEnvironments[env].role)
		}
	}
}

// No workflow, composite action or doc-free corner uses the retired
// repository secrets.
func TestWorkflowUsesNoSharedPulumiSecret(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(workflowRepoRoot(), ".github", "workflows", "*.yml"))
	actions, _ := filepath.Glob(filepath.Join(workflowRepoRoot(), ".github", "actions", "*", "action.yml"))
	for _, f := range append(files, actions...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range retiredCISecrets {
			if strings.Contains(string(b), name) {
				t.Errorf("%s uses %s", filepath.Base(f), name)
			}
		}
	}
}

var pinnedAction = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[^@]+)?@[0-9a-f]{40}$`)
var releaseComment = regexp.MustCompile(`^# v[0-9]+\.[0-9]+\.[0-9]+$`)

// Every third-party action is pinned to a full commit SHA, with the
// release tag it came from beside it.
func TestWorkflowActionsArePinnedByCommit(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(workflowRepoRoot(), ".github", "workflows", "*.yml"))
	actions, _ := filepath.Glob(filepath.Join(workflowRepoRoot(), ".github", "actions", "*", "action.yml"))
	count := 0
	for _, f := range append(files, actions...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var root yaml.Node
		if err := yaml.Unmarshal(b, &root); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					k, v := n.Content[i], n.Content[i+1]
					if k.Value == "uses" && v.Kind == yaml.ScalarNode && !strings.HasPrefix(v.Value, "./") {
						count++
						if !pinnedAction.MatchString(v.Value) {
							t.Errorf("%s:%d: %s is not pinned to a commit SHA", filepath.Base(f), v.Line, v.Value)
						}
						if !releaseComment.MatchString(v.LineComment) {
							t.Errorf("%s:%d: %s has no `# vX.Y.Z` comment naming its release (%q)", filepath.Base(f), v.Line, v.Value, v.LineComment)
						}
					}
				}
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(&root)
	}
	if count == 0 {
		t.Error("no third-party action found: the test reads the wrong files")
	}
}
