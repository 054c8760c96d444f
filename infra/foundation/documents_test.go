package foundation

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// hostDocContent is the part of a rendered document the tests read.
type hostDocContent struct {
	SchemaVersion string
	Description   string
	Parameters    map[string]struct {
		Type           string
		AllowedPattern string
	}
	MainSteps []struct {
		Action string
		Name   string
		Inputs struct {
			TimeoutSeconds string
			RunCommand     []string
		}
	}
}

func parseHostDoc(t *testing.T, raw string) hostDocContent {
	t.Helper()
	var d hostDocContent
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatalf("document is not JSON: %v\n%s", err, raw)
	}
	if len(d.MainSteps) != 1 {
		t.Fatalf("want one step, found %d", len(d.MainSteps))
	}
	return d
}

func renderHostDoc(t *testing.T, class stacks.Profile, kind string) hostDocContent {
	t.Helper()
	raw, err := HostDocumentContent(class, kind)
	if err != nil {
		t.Fatal(err)
	}
	return parseHostDoc(t, raw)
}

// A foundation hosting all three classes, under Pulumi mocks: each class
// gets its rollout and rollback under the fixed names, typed Command for
// instances, parented to its component, every parameter validated.
func TestHostDocumentsUnderMocks(t *testing.T) {
	build := func(ctx *pulumi.Context) (pulumi.Map, error) {
		out := pulumi.Map{}
		for _, class := range documentClasses {
			h, err := NewHostDocuments(ctx, "documents-"+string(class), HostDocumentsArgs{Class: class})
			if err != nil {
				return nil, err
			}
			out[string(class)] = h.Names
		}
		return out, nil
	}
	res, err := mockcloud.Run(build, "slipway-foundation", "account", stacks.Files{Values: map[string]string{"aws:region": "eu-central-1"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	docs := res.ByType("aws:ssm/document:Document")
	if len(docs) != 12 {
		t.Fatalf("want 12 documents (3 classes x rollout, rollback, status, maintenance), found %d", len(docs))
	}
	components := map[string]string{}
	for _, r := range res.ByType("slipway:foundation:HostDocuments") {
		components[r.URN] = r.Name
	}
	seen := map[string]bool{}
	for _, d := range docs {
		name := d.Str("name")
		seen[name] = true
		class := stacks.Profile(strings.TrimPrefix(components[d.Parent], "documents-"))
		if components[d.Parent] == "" {
			t.Errorf("%s is not parented to a HostDocuments component (parent %q)", name, d.Parent)
			continue
		}
		kind := strings.TrimPrefix(name, "slipway-"+string(class)+"-")
		if name != HostDocumentName(class, kind) || !slices.Contains(HostDocumentKinds(), kind) {
			t.Errorf("document %s under the %s component", name, class)
		}
		if d.Str("documentType") != "Command" || d.Str("documentFormat") != "JSON" || d.Str("targetType") != "/AWS::EC2::Instance" {
			t.Errorf("%s: type %q format %q target %q", name, d.Str("documentType"), d.Str("documentFormat"), d.Str("targetType"))
		}
		if !d.DeleteBeforeReplace {
			t.Errorf("%s: a fixed name must be deleted before it is replaced", name)
		}
		c := parseHostDoc(t, d.Str("content"))
		if c.SchemaVersion != "2.2" || c.MainSteps[0].Action != "aws:runShellScript" {
			t.Errorf("%s: schema %s action %s", name, c.SchemaVersion, c.MainSteps[0].Action)
		}
		for p, spec := range c.Parameters {
			if spec.AllowedPattern == "" || !strings.HasPrefix(spec.AllowedPattern, "^") || !strings.HasSuffix(spec.AllowedPattern, "$") {
				t.Errorf("%s: parameter %s has no anchored allowedPattern (%q)", name, p, spec.AllowedPattern)
			}
		}
		// Every placeholder in the script is a declared parameter.
		run := strings.Join(c.MainSteps[0].Inputs.RunCommand, "\n")
		for _, m := range regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`).FindAllStringSubmatch(run, -1) {
			if _, ok := c.Parameters[m[1]]; !ok {
				t.Errorf("%s: the script uses {{ %s }}, which is not a parameter", name, m[1])
			}
		}
		// The class is a literal of the content, not a parameter.
		if _, ok := c.Parameters["class"]; ok || !strings.Contains(run, "doc_class='"+string(class)+"'") {
			t.Errorf("%s: the class %s is not fixed in the script", name, class)
		}
	}
	for _, class := range documentClasses {
		got := fmt.Sprint(res.Outputs[string(class)].Value)
		for _, kind := range []string{"rollout", "rollback", "status", "maintenance"} {
			want := "slipway-" + string(class) + "-" + kind
			if !seen[want] || !strings.Contains(got, kind+":"+want) {
				t.Errorf("%s: no document %s (names output %v)", class, want, got)
			}
		}
	}
}

func TestHostDocumentsRefuseAnUnknownClass(t *testing.T) {
	build := func(ctx *pulumi.Context) (pulumi.Map, error) {
		_, err := NewHostDocuments(ctx, "documents", HostDocumentsArgs{Class: "staging"})
		return nil, err
	}
	_, err := mockcloud.Run(build, "slipway-foundation", "account", stacks.Files{Values: map[string]string{}}, false)
	if err == nil || !strings.Contains(err.Error(), `"staging"`) || !strings.Contains(err.Error(), "dev, review, prod") {
		t.Fatalf("want an error naming the class and the accepted ones, got %v", err)
	}
	if _, err := HostDocumentContent("dev", "shell"); err == nil || !strings.Contains(err.Error(), "rollout, rollback, status, maintenance") {
		t.Errorf("unknown kind: %v", err)
	}
}

// The parameters' patterns admit exactly the values of the class: what an
// attacker may put into the script is a release id or the class's stack.
func TestHostDocumentsParametersAdmitOnlyTheClass(t *testing.T) {
	cases := map[stacks.Profile]struct{ ok, bad []string }{
		"dev":    {[]string{"dev"}, []string{"prod", "pr-7", "dev ", "dev\n", "dev;id", ""}},
		"prod":   {[]string{"prod"}, []string{"dev", "pr-7", "prod2", ""}},
		"review": {[]string{"pr-7", "pr-1234"}, []string{"dev", "prod", "pr-", "pr-7a", "pr-7\n", "pr-7'", "PR-7", ""}},
	}
	for class, c := range cases {
		for _, kind := range HostDocumentKinds() {
			d := renderHostDoc(t, class, kind)
			stack := regexp.MustCompile(d.Parameters["stack"].AllowedPattern)
			for _, v := range c.ok {
				if !stack.MatchString(v) {
					t.Errorf("%s %s: stack %q refused", class, kind, v)
				}
			}
			for _, v := range c.bad {
				if stack.MatchString(v) {
					t.Errorf("%s %s: stack %q admitted", class, kind, v)
				}
			}
		}
		id := regexp.MustCompile(renderHostDoc(t, class, "rollout").Parameters["releaseId"].AllowedPattern)
		for v, want := range map[string]bool{"0123456789abcdef0123": true, "0123456789abcdef012": false,
			"0123456789abcdef0123;": false, "rollback": false, "0123456789ABCDEF0123": false} {
			if id.MatchString(v) != want {
				t.Errorf("%s rollout: releaseId %q admitted=%v", class, v, !want)
			}
		}
	}
	if _, ok := renderHostDoc(t, "dev", "rollback").Parameters["releaseId"]; ok {
		t.Error("the rollback takes a release id")
	}
}

// substitute fills the {{ name }} placeholders as SSM does before the
// script runs.
func ssmSubstitute(t *testing.T, script string, params map[string]string) string {
	t.Helper()
	out := regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`).ReplaceAllStringFunc(script, func(m string) string {
		name := strings.Trim(m, "{} ")
		v, ok := params[name]
		if !ok {
			t.Fatalf("no value for parameter %s", name)
		}
		return v
	})
	return out
}

func hostDocScript(t *testing.T, class stacks.Profile, kind string) string {
	t.Helper()
	return "#!/bin/sh\n" + strings.Join(renderHostDoc(t, class, kind).MainSteps[0].Inputs.RunCommand, "\n") + "\n"
}

// SSM's aws:runShellScript runs the commands with sh (dash on Ubuntu):
// every document's script is clean POSIX sh.
func TestHostDocumentsScriptsPassShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is required (scripts/test.sh installs it)")
	}
	dir := t.TempDir()
	for _, class := range documentClasses {
		for _, kind := range HostDocumentKinds() {
			f := filepath.Join(dir, string(class)+"-"+kind+".sh")
			if err := os.WriteFile(f, []byte(hostDocScript(t, class, kind)), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(sc, "--shell=sh", "--severity=style", f).CombinedOutput(); err != nil {
				t.Errorf("%s %s: shellcheck: %v\n%s", class, kind, err, out)
			}
		}
	}
}

// fakeIMDS answers as EC2's instance metadata service with IMDSv2 required
// and instance-metadata tags on: a token from PUT /latest/api/token, then
// the tag under /latest/meta-data/tags/instance/stack for requests that
// carry it. An empty tag is a host without the tag (404).
func fakeIMDS(t *testing.T, tag string) *httptest.Server {
	const token = "fake-imds-token-7c1e"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/latest/api/token" && r.Method == http.MethodPut:
			if r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
				http.Error(w, "missing ttl", http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, token)
		case r.Header.Get("X-aws-ec2-metadata-token") != token:
			http.Error(w, "IMDSv2 token required", http.StatusUnauthorized)
		case r.URL.Path == "/latest/meta-data/tags/instance/stack" && r.Method == http.MethodGet && tag != "":
			fmt.Fprint(w, tag)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// runDocument runs a class's document as SSM would on a host whose stack
// tag is tag: placeholders filled, sh, a PATH where curl reaches the fake
// IMDS instead of 169.254.169.254 (the real curl does the requests) and
// cloud-init reports done. The release script is a recorder at a temporary
// path. It returns the exit error, the output, and the release script's
// arguments (nil when it never ran).
func runHostDoc(t *testing.T, class stacks.Profile, kind, tag string, params map[string]string) (error, string, []string) {
	t.Helper()
	realCurl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required")
	}
	imds := fakeIMDS(t, tag)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(dir, "release-args")
	release := filepath.Join(dir, "slipway-release")
	marker := filepath.Join(dir, "bootstrapped")
	if !hostDocNotReady {
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(bin, "curl"): "#!/bin/sh\nfor a; do\n\tshift\n\tcase \"$a\" in http://169.254.169.254/*) a=\"" + imds.URL +
			"${a#http://169.254.169.254}\" ;; esac\n\tset -- \"$@\" \"$a\"\ndone\nexec " + realCurl + " \"$@\"\n",
		filepath.Join(bin, "cloud-init"): "#!/bin/sh\nexit 0\n",
		release:                          "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + record + "\necho release-script-ran attempt=$SLIPWAY_ATTEMPT\nexit " + fmt.Sprint(hostDocReleaseExit) + "\n",
	}
	for f, content := range files {
		if err := os.WriteFile(f, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := ssmSubstitute(t, hostDocScript(t, class, kind), params)
	if !strings.Contains(s, ReleaseScript) {
		t.Fatalf("the %s %s document does not run %s", class, kind, ReleaseScript)
	}
	s = strings.ReplaceAll(s, ReleaseScript, release)
	s = strings.ReplaceAll(s, BootstrapMarker, marker)
	s = strings.ReplaceAll(s, fmt.Sprintf("timeout %d ", HostReadyWait), "timeout 2 ")
	cmd := exec.Command("sh", "-c", s)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + dir}
	out, err := cmd.CombinedOutput()
	var args []string
	if b, rerr := os.ReadFile(record); rerr == nil {
		args = strings.Fields(string(b))
	}
	return err, string(out), args
}

const hostDocReleaseID = "0123456789abcdef0123"

// What runHostDoc's host is like: a bootstrap that never finished, and the
// release script's exit code (tests that set them restore them).
var (
	hostDocNotReady    bool
	hostDocReleaseExit int
)

// The rollout waits for the bootstrap's marker and fails, naming it, when it
// never appears; the release script does not run. A release that failed and
// was reported (exit ReportedFailure) is a successful document run (pulumi
// up reads the receipt); any other failure fails the document.
func TestHostDocumentsRolloutWaitsForTheBootstrapAndMapsTheReport(t *testing.T) {
	params := map[string]string{"stack": "dev", "releaseId": hostDocReleaseID, "attempt": "3"}
	hostDocNotReady = true
	err, out, args := runHostDoc(t, "dev", "rollout", "dev", params)
	hostDocNotReady = false
	if err == nil || args != nil || !strings.Contains(out, "slipway-dev-rollout: the host's bootstrap has not finished") || !strings.Contains(out, "/bootstrapped)") ||
		strings.Contains(out, "trying anyway") {
		t.Errorf("a host that never finished its bootstrap: exit %v, release script args %v, output:\n%s", err, args, out)
	}
	for code, wantOK := range map[int]bool{0: true, ReportedFailure: true, 1: false, 3: false} {
		hostDocReleaseExit = code
		err, out, args := runHostDoc(t, "dev", "rollout", "dev", params)
		if (err == nil) != wantOK || !slices.Equal(args, []string{hostDocReleaseID}) || !strings.Contains(out, "attempt=3") {
			t.Errorf("release script exit %d: document exit %v (want success %v), args %v, output:\n%s", code, err, wantOK, args, out)
		}
		if code == ReportedFailure && !strings.Contains(out, "wrote its receipt") {
			t.Errorf("a reported failure is not explained:\n%s", out)
		}
	}
	hostDocReleaseExit = 0
}

// Status and maintenance run the release script's operator commands; the
// maintenance mode is on or off and nothing else.
func TestHostDocumentsStatusAndMaintenance(t *testing.T) {
	for _, class := range documentClasses {
		stack := map[stacks.Profile]string{"dev": "dev", "prod": "prod", "review": "pr-7"}[class]
		err, out, args := runHostDoc(t, class, "status", stack, map[string]string{"stack": stack})
		if err != nil || !slices.Equal(args, []string{"status"}) {
			t.Errorf("%s status: exit %v args %v\n%s", class, err, args, out)
		}
		for _, mode := range []string{"on", "off"} {
			err, out, args := runHostDoc(t, class, "maintenance", stack, map[string]string{"stack": stack, "mode": mode})
			if err != nil || !slices.Equal(args, []string{"maintenance", mode}) {
				t.Errorf("%s maintenance %s: exit %v args %v\n%s", class, mode, err, args, out)
			}
		}
		mode := regexp.MustCompile(renderHostDoc(t, class, "maintenance").Parameters["mode"].AllowedPattern)
		for v, want := range map[string]bool{"on": true, "off": true, "ON": false, "on;id": false, "": false, "of": false, "on\n": false} {
			if mode.MatchString(v) != want {
				t.Errorf("%s maintenance: mode %q admitted=%v", class, v, !want)
			}
		}
	}
}

func TestHostDocumentsGuardRunsOnlyOnItsClass(t *testing.T) {
	cases := []struct {
		name             string
		class            stacks.Profile
		kind, tag, stack string
		// ok: the release script runs with want; otherwise refused with
		// a message containing refusal.
		ok      bool
		want    []string
		refusal string
	}{
		{"dev rollout on dev", "dev", "rollout", "dev", "dev", true, []string{hostDocReleaseID}, ""},
		{"dev rollback on dev", "dev", "rollback", "dev", "dev", true, []string{"rollback"}, ""},
		{"prod rollout on prod", "prod", "rollout", "prod", "prod", true, []string{hostDocReleaseID}, ""},
		{"review rollout on its stack", "review", "rollout", "pr-7", "pr-7", true, []string{hostDocReleaseID}, ""},
		{"review rollback on its stack", "review", "rollback", "pr-7", "pr-7", true, []string{"rollback"}, ""},

		{"dev rollout on prod", "dev", "rollout", "prod", "dev", false, nil, "stack tag is 'prod', not a stack of class dev"},
		{"dev rollback on prod", "dev", "rollback", "prod", "dev", false, nil, "not a stack of class dev"},
		{"dev rollout on a review host", "dev", "rollout", "pr-7", "dev", false, nil, "not a stack of class dev"},
		{"review rollout on prod", "review", "rollout", "prod", "pr-7", false, nil, "stack tag is 'prod', not a stack of class review"},
		{"review rollout on dev", "review", "rollout", "dev", "pr-7", false, nil, "not a stack of class review"},
		{"prod rollout on dev", "prod", "rollout", "dev", "prod", false, nil, "not a stack of class prod"},
		{"review rollout on another review stack", "review", "rollout", "pr-8", "pr-7", false, nil,
			"stack tag is 'pr-8', but the command was for stack 'pr-7'"},
		{"review rollback on another review stack", "review", "rollback", "pr-8", "pr-7", false, nil, "was for stack 'pr-7'"},
		{"review tag that only looks like one", "review", "rollout", "pr-7x", "pr-7", false, nil, "not a stack of class review"},
		{"host without a stack tag", "dev", "rollout", "", "dev", false, nil, "cannot read this host's stack tag"},
		// allowedPattern stops this before the host; the script does not
		// rely on it.
		{"review document named at dev", "review", "rollout", "dev", "dev", false, nil, "stack 'dev' is not a stack of class review"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			params := map[string]string{"stack": c.stack}
			if c.kind == "rollout" {
				params["releaseId"] = hostDocReleaseID
				params["attempt"] = "1"
			}
			err, out, args := runHostDoc(t, c.class, c.kind, c.tag, params)
			if c.ok {
				if err != nil || !slices.Equal(args, c.want) || !strings.Contains(out, "release-script-ran") {
					t.Fatalf("want the release script run with %v; exit %v, args %v, output:\n%s", c.want, err, args, out)
				}
				return
			}
			if err == nil || args != nil {
				t.Fatalf("want a refusal; exit %v, release script args %v, output:\n%s", err, args, out)
			}
			want := HostDocumentName(c.class, c.kind) + ": refused: "
			if !strings.Contains(out, want) || !strings.Contains(out, c.refusal) {
				t.Fatalf("want %q and %q in the output:\n%s", want, c.refusal, out)
			}
		})
	}
}

// Without IMDS (unreachable, or IMDSv1 answers only) the document refuses
// rather than run unchecked.
func TestHostDocumentsGuardRefusesWithoutIMDSv2(t *testing.T) {
	v1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, "dev")
	}))
	defer v1.Close()
	s := ssmSubstitute(t, hostDocScript(t, "dev", "rollout"), map[string]string{"stack": "dev", "releaseId": hostDocReleaseID, "attempt": "1"})
	s = strings.ReplaceAll(s, "http://169.254.169.254", v1.URL)
	s = strings.ReplaceAll(s, ReleaseScript, "/nonexistent/release")
	out, err := exec.Command("sh", "-c", s).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refused: cannot get an IMDSv2 token") {
		t.Fatalf("want a refusal without a token; exit %v, output:\n%s", err, out)
	}
}
