package ops

// Every test in this file runs SendCommand, GetCommandInvocation and
// DescribeInstanceInformation against the fake (fakeaws), through the
// real AWS SDK for Go v2 clients that Connect builds (signing, JSON 1.1
// serialization, error decoding): no emulator covers those calls.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"slipway/internal/ops/fakeaws"
	"slipway/stacks"
)

const testInstance = "i-0123456789abcdef0"

type opsRun struct {
	ops            *Ops
	stdout, stderr *bytes.Buffer
}

// newFakeOps connects to the fake (SSM) as a stack's operator would, with
// the fake's host registered and online and the class's documents present.
func newFakeOps(t *testing.T, stack string) (*fakeaws.Server, opsRun) {
	t.Helper()
	f := fakeaws.New(t)
	f.Instances[testInstance] = "Online"
	target, err := NewTarget(stack)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []DocumentKind{KindRollback, KindMaintenance, KindStatus} {
		f.Documents["slipway-"+string(target.Class)+"-"+string(kind)] = true
	}
	fakeaws.Env(t, f.HTTP.URL, f.HTTP.URL)
	clients, err := Connect(context.Background(), "us-east-1")
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	r := opsRun{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	r.ops = &Ops{
		Target: target,
		Outputs: Outputs{InstanceID: testInstance, ReleaseID: "0123456789abcdef0123", Region: "us-east-1",
			ImageDigests: map[string]string{"api": "123456789012.dkr.ecr.us-east-1.amazonaws.com/slipway-api@sha256:aaaa"}},
		AWS: clients, Stdout: r.stdout, Stderr: r.stderr,
		PollInterval: 5 * time.Millisecond, Timeout: 5 * time.Second,
	}
	return f, r
}

func success(stdout string) []fakeaws.Invocation {
	return []fakeaws.Invocation{{Status: "InProgress", Details: "InProgress"}, {Status: "Success", Details: "Success", Stdout: stdout, Stderr: "guard: host of stack dev\n"}}
}

func TestFakeSSMRollbackRunsTheClassDocumentAndMentionsHEAD(t *testing.T) {
	f, r := newFakeOps(t, "dev")
	f.Script = success("rolled back to release 00000000000000000001\n")
	if err := r.ops.Rollback(context.Background()); err != nil {
		t.Fatalf("Rollback: %v\nstderr: %s", err, r.stderr)
	}
	sends := f.Sent("SendCommand")
	if len(sends) != 1 {
		t.Fatalf("SendCommand calls = %d, want 1", len(sends))
	}
	body := sends[0].Body
	if body["DocumentName"] != "slipway-dev-rollback" {
		t.Errorf("DocumentName = %v, want slipway-dev-rollback", body["DocumentName"])
	}
	if got := body["InstanceIds"].([]any); len(got) != 1 || got[0] != testInstance {
		t.Errorf("InstanceIds = %v", got)
	}
	params := body["Parameters"].(map[string]any)
	if len(params) != 1 || params["stack"].([]any)[0] != "dev" {
		t.Errorf("Parameters = %v, want only stack=[dev]", params)
	}
	out := r.stdout.String()
	for _, want := range []string{"rolled back to release 00000000000000000001", "the next `pulumi up` deploys the code at HEAD again"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(r.stderr.String(), "guard: host of stack dev") {
		t.Errorf("the document's stderr was not printed: %s", r.stderr)
	}
	// The host was asked about first, and polled until Success.
	if f.Requests()[0].Operation != "DescribeInstanceInformation" || len(f.Sent("GetCommandInvocation")) < 3 {
		t.Errorf("calls: %v", f.Requests())
	}
}

func TestFakeSSMReviewStackRunsReviewDocumentsWithItsName(t *testing.T) {
	f, r := newFakeOps(t, "pr-7")
	f.Script = success("ok")
	if err := r.ops.Maintenance(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if err := r.ops.Maintenance(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	sends := f.Sent("SendCommand")
	if len(sends) != 2 {
		t.Fatalf("SendCommand calls = %d", len(sends))
	}
	for i, mode := range []string{"on", "off"} {
		b := sends[i].Body
		params := b["Parameters"].(map[string]any)
		if b["DocumentName"] != "slipway-review-maintenance" || params["stack"].([]any)[0] != "pr-7" || params["mode"].([]any)[0] != mode {
			t.Errorf("send %d: %v %v", i, b["DocumentName"], params)
		}
	}
	if !strings.Contains(r.stdout.String(), "503 with Retry-After") || !strings.Contains(r.stdout.String(), "maintenance off for stack pr-7") {
		t.Errorf("stdout: %s", r.stdout)
	}
}

func TestFakeSSMStatusPrintsOutputsThenTheHost(t *testing.T) {
	f, r := newFakeOps(t, "prod")
	f.Script = success("current 0123456789abcdef0123 healthy\nprevious 00000000000000000001\napi healthy\n")
	if err := r.ops.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := r.stdout.String()
	for _, want := range []string{"release 0123456789abcdef0123", "slipway-api@sha256:aaaa", "on the host:", "api healthy"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if f.Sent("SendCommand")[0].Body["DocumentName"] != "slipway-prod-status" {
		t.Error("status did not run slipway-prod-status")
	}
}

func TestFakeSSMDocumentMissingSaysRunTheFoundation(t *testing.T) {
	f, r := newFakeOps(t, "dev")
	delete(f.Documents, "slipway-dev-status")
	err := r.ops.Status(context.Background())
	if !errors.Is(err, ErrNoDocument) {
		t.Fatalf("err = %v, want ErrNoDocument", err)
	}
	if want := "the foundation of this account has no document slipway-dev-status: run the foundation's pulumi up"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v\nwant it to say %q", err, want)
	}
}

func TestFakeSSMHostNotRegisteredSendsNothing(t *testing.T) {
	f, r := newFakeOps(t, "dev")
	delete(f.Instances, testInstance)
	err := r.ops.Rollback(context.Background())
	if !errors.Is(err, ErrHostUnreachable) || !strings.Contains(err.Error(), "not registered with Systems Manager") {
		t.Fatalf("err = %v, want ErrHostUnreachable (not registered)", err)
	}
	if n := len(f.Sent("SendCommand")); n != 0 {
		t.Errorf("SendCommand was called %d times for a host that does not answer", n)
	}
}

func TestFakeSSMHostConnectionLost(t *testing.T) {
	f, r := newFakeOps(t, "dev")
	f.Instances[testInstance] = "ConnectionLost"
	err := r.ops.Maintenance(context.Background(), true)
	if !errors.Is(err, ErrHostUnreachable) || !strings.Contains(err.Error(), "ConnectionLost, last seen 2026-12-01T22:00:00Z") {
		t.Fatalf("err = %v", err)
	}
	if len(f.Sent("SendCommand")) != 0 {
		t.Error("a command was sent to a host whose agent is not online")
	}
}

func TestFakeSSMCommandNeverDeliveredIsAHostThatDoesNotAnswer(t *testing.T) {
	f, r := newFakeOps(t, "dev")
	f.Script = []fakeaws.Invocation{{Status: "Pending", Details: "Pending"}, {Status: "TimedOut", Details: "DeliveryTimedOut"}}
	err := r.ops.Rollback(context.Background())
	if !errors.Is(err, ErrHostUnreachable) || !strings.Contains(err.Error(), "DeliveryTimedOut") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(r.stdout.String(), "HEAD") {
		t.Error("a failed rollback printed the success message")
	}
}

func TestFakeSSMFailedDocumentPrintsItsOutput(t *testing.T) {
	f, r := newFakeOps(t, "dev")
	f.Script = []fakeaws.Invocation{{Status: "Failed", Details: "Failed", Stdout: "", Stderr: "slipway-dev-rollback: refused: no previous release\n"}}
	err := r.ops.Rollback(context.Background())
	if !errors.Is(err, ErrCommandFailed) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(r.stderr.String(), "no previous release") {
		t.Errorf("the host's reason is not shown: %s", r.stderr)
	}
}

func TestFakeSSMCommandStillRunningAtTimeout(t *testing.T) {
	f, r := newFakeOps(t, "dev")
	f.Script = []fakeaws.Invocation{{Status: "InProgress", Details: "InProgress"}}
	r.ops.Timeout = 50 * time.Millisecond
	err := r.ops.Rollback(context.Background())
	if err == nil || !strings.Contains(err.Error(), "aws ssm get-command-invocation --command-id 0b6e2b5c-fake-4c1d-9a37-command") {
		t.Fatalf("err = %v", err)
	}
}

func TestFakeSSMWrongStackParameterIsRefusedBySSM(t *testing.T) {
	// A dev target whose Stack is not dev (built by hand: NewTarget never
	// makes one) meets the document's allowedPattern.
	f, r := newFakeOps(t, "dev")
	r.ops.Target.Stack = "prod"
	err := r.ops.Rollback(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refused the parameters") {
		t.Fatalf("err = %v", err)
	}
	_ = f
}

func TestNoCredentialsIsSaidBeforeAnyCall(t *testing.T) {
	f := fakeaws.New(t)
	fakeaws.Env(t, f.HTTP.URL, f.HTTP.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, err := Connect(context.Background(), "us-east-1")
	if !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("err = %v, want ErrNoCredentials", err)
	}
	if !strings.Contains(err.Error(), "aws sso login") {
		t.Errorf("the error does not say what to do: %v", err)
	}
	if len(f.Requests()) != 0 {
		t.Errorf("%d requests reached AWS without credentials", len(f.Requests()))
	}

	// A profile that does not exist is the same failure, named.
	t.Setenv("AWS_PROFILE", "slipway-nope")
	_, err = Connect(context.Background(), "us-east-1")
	if !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), `profile "slipway-nope"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestNoRegionIsAnError(t *testing.T) {
	f := fakeaws.New(t)
	fakeaws.Env(t, f.HTTP.URL, f.HTTP.URL)
	if _, err := Connect(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "no AWS region") {
		t.Fatalf("err = %v", err)
	}
}

// Only the foundation's documents can ever be sent: the name is built
// from the class and a closed set of kinds, and refused otherwise.
func TestOnlySlipwayHostDocumentsCanBeSent(t *testing.T) {
	for _, class := range []stacks.Profile{stacks.Dev, stacks.Review, stacks.Prod} {
		for _, kind := range []DocumentKind{KindRollback, KindMaintenance, KindStatus} {
			name, err := DocumentName(class, kind)
			if err != nil || name != "slipway-"+string(class)+"-"+string(kind) {
				t.Errorf("DocumentName(%s, %s) = %q, %v", class, kind, name, err)
			}
		}
	}
	for _, bad := range []struct {
		class stacks.Profile
		kind  DocumentKind
	}{
		{stacks.Dev, "rollout"}, // pulumi up's, not a workstation's
		{stacks.Dev, "x"}, {stacks.Dev, "status-AWS-RunShellScript"}, {stacks.Dev, "status/../x"},
		{"staging", KindStatus}, {"", KindStatus}, {"dev-prod", KindStatus},
	} {
		if name, err := DocumentName(bad.class, bad.kind); err == nil {
			t.Errorf("DocumentName(%q, %q) = %q, want a refusal", bad.class, bad.kind, name)
		}
	}
	// And through the only send path: a kind outside the set never
	// reaches SSM.
	f, r := newFakeOps(t, "dev")
	f.Documents["AWS-RunShellScript"] = true
	f.Script = success("ok")
	if _, err := r.ops.runHostDocument(context.Background(), "rollout", nil); err == nil {
		t.Error("runHostDocument sent a rollout")
	}
	if _, err := r.ops.runHostDocument(context.Background(), DocumentKind("../AWS-RunShellScript"), nil); err == nil {
		t.Error("runHostDocument accepted a foreign kind")
	}
	// Every command that acts on the host, run once: every document sent
	// is a slipway-<class>-* name.
	ctx := context.Background()
	for _, run := range []func() error{
		func() error { return r.ops.Rollback(ctx) },
		func() error { return r.ops.Maintenance(ctx, true) },
		func() error { return r.ops.Maintenance(ctx, false) },
		func() error { return r.ops.Status(ctx) },
	} {
		if err := run(); err != nil {
			t.Fatal(err)
		}
	}
	sends := f.Sent("SendCommand")
	if len(sends) != 4 {
		t.Fatalf("SendCommand calls = %d, want 4", len(sends))
	}
	for _, s := range sends {
		if name, _ := s.Body["DocumentName"].(string); !regexp.MustCompile(`^slipway-dev-(rollback|maintenance|status)$`).MatchString(name) {
			t.Errorf("sent document %q", name)
		}
	}
}

// The package's source has one SendCommand call (runHostDocument's, behind
// the name check) and names no generic AWS document but the Session
// Manager one psql uses.
func TestSourceSendsOnlyThroughRunHostDocument(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	calls := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		calls += strings.Count(src, ".SendCommand(")
		for _, doc := range regexp.MustCompile(`"AWS-[A-Za-z-]+"`).FindAllString(src, -1) {
			if doc != `"AWS-StartInteractiveCommand"` {
				t.Errorf("%s names the generic document %s", f, doc)
			}
		}
		if strings.Contains(src, "AWS-StartInteractiveCommand") && f != "session.go" {
			t.Errorf("%s uses AWS-StartInteractiveCommand outside psql's session", f)
		}
	}
	if calls != 1 {
		t.Errorf("SendCommand is called at %d places, want 1 (runHostDocument)", calls)
	}
}
