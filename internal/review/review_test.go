package review

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// These tests run the lifecycle on the real Pulumi engine: the pinned CLI
// (tools/pulumi.sh puts it on PATH), a temporary file:// backend and the
// passphrase secrets provider. The AWS and Docker provider plugins cannot be
// installed on the machines these tests run on, so the program injected into
// the lifecycle is provider-free: one component resource and the same kind
// of exports the real program has (siteUrl, a secret). The lifecycle code is
// exactly what `slipway review` runs; only the program differs.

const testProjectYAML = `name: slipway
runtime: go
description: review lifecycle test project
config:
  greeting:
    type: string
    default: hello from Pulumi.yaml
`

// site is the provider-free stand-in for the real program's components.
type site struct{ pulumi.ResourceState }

// testProgram registers one component and exports siteUrl, the generated
// database password (as a secret) and a value whose only source is the
// project's config default. When hold is non-nil the program signals held
// and then blocks until hold is closed, keeping the update running and the
// stack locked for as long as a test needs.
func testProgram(held chan<- struct{}, hold <-chan struct{}) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		var s site
		if err := ctx.RegisterComponentResource("slipway:test:Site", "site", &s); err != nil {
			return err
		}
		cfg := config.New(ctx, "slipway")
		url := pulumi.Sprintf("https://%s.review.example.test", ctx.Stack())
		if err := ctx.RegisterResourceOutputs(&s, pulumi.Map{"url": url}); err != nil {
			return err
		}
		ctx.Export("siteUrl", url)
		ctx.Export("dbPassword", cfg.RequireSecret("dbPassword"))
		ctx.Export("greeting", pulumi.String(cfg.Get("greeting")))
		if hold != nil {
			close(held)
			<-hold
		}
		return nil
	}
}

// env gives each test its own backend, Pulumi home and project directory.
type env struct {
	t          *testing.T
	projectDir string
	out, errs  syncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if _, err := exec.LookPath("pulumi"); err != nil {
		// The test command sets SLIPWAY_REQUIRE_PULUMI, so in CI a
		// missing CLI fails instead of silently skipping.
		if os.Getenv("SLIPWAY_REQUIRE_PULUMI") != "" {
			t.Fatal("pulumi CLI not on PATH although SLIPWAY_REQUIRE_PULUMI is set: run ./scripts/test.sh")
		}
		t.Skip("pulumi CLI not on PATH: run ./scripts/test.sh, which builds the pinned CLI")
	}
	root := t.TempDir()
	t.Setenv("PULUMI_BACKEND_URL", "file://"+filepath.ToSlash(filepath.Join(root, "state")))
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "review-lifecycle-test")
	t.Setenv("PULUMI_HOME", filepath.Join(root, "home"))
	t.Setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
	t.Setenv("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
	if err := os.MkdirAll(filepath.Join(root, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t}
	e.projectDir = e.freshCheckout()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lifecycle stdout:\n%s\nlifecycle stderr:\n%s", e.out.String(), e.errs.String())
		}
	})
	return e
}

// freshCheckout is a new project directory holding only Pulumi.yaml, as a
// CI job's checkout does: no Pulumi.<stack>.yaml from earlier runs.
func (e *env) freshCheckout() string {
	e.t.Helper()
	dir := e.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte(testProjectYAML), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

func (e *env) lifecycle(dir string, program pulumi.RunFunc) *Lifecycle {
	return &Lifecycle{Program: program, ProjectDir: dir, Stdout: &e.out, Stderr: &e.errs}
}

func (e *env) workspace(dir string) auto.Workspace {
	e.t.Helper()
	ws, err := auto.NewLocalWorkspace(context.Background(), auto.WorkDir(dir), auto.Program(testProgram(nil, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	return ws
}

func (e *env) stackNames() []string {
	e.t.Helper()
	summaries, err := e.workspace(e.projectDir).ListStacks(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, s := range summaries {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

func (e *env) up(l *Lifecycle, opts UpOptions) UpResult {
	e.t.Helper()
	res, err := l.Up(context.Background(), opts)
	if err != nil {
		e.t.Fatalf("review up --pr %d: %v", opts.PR, err)
	}
	return res
}

// deployPlainStack creates and deploys a stack outside the lifecycle, the
// way `pulumi up` does for dev and prod, so it has state and a last update.
func (e *env) deployPlainStack(name string) {
	e.t.Helper()
	ctx := context.Background()
	s, err := auto.UpsertStack(ctx, name, e.workspace(e.projectDir))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := s.SetConfig(ctx, "slipway:dbPassword", auto.ConfigValue{Value: "x", Secret: true}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := s.Up(ctx); err != nil {
		e.t.Fatalf("up %s: %v", name, err)
	}
}

func outputs(t *testing.T, dir, stack string) auto.OutputMap {
	t.Helper()
	ctx := context.Background()
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ws.StackOutputs(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// onlySame fails unless the update summary reports every resource as
// unchanged.
func onlySame(t *testing.T, what string, changes map[string]int) {
	t.Helper()
	for op, n := range changes {
		if op != "same" && n > 0 {
			t.Errorf("%s: %d resource(s) %s, want no changes (summary %v)", what, n, op, changes)
		}
	}
	if changes["same"] == 0 {
		t.Errorf("%s: summary %v reports no unchanged resources", what, changes)
	}
}

func TestUpCreatesTaggedStackAndRerunChangesNothing(t *testing.T) {
	e := newEnv(t)
	l := e.lifecycle(e.projectDir, testProgram(nil, nil))
	before := time.Now().Add(-time.Second)

	first := e.up(l, UpOptions{PR: 1, TTL: 48 * time.Hour, GitSHA: "1111111"})
	if !first.Created || first.Stack != "pr-1" {
		t.Errorf("first up: created=%v stack=%q, want a new stack pr-1", first.Created, first.Stack)
	}
	if want := "https://pr-1.review.example.test"; first.SiteURL != want {
		t.Errorf("site URL %q, want %q", first.SiteURL, want)
	}
	if first.Changes["create"] != 2 { // the stack resource and the component
		t.Errorf("first up changes %v, want 2 creates", first.Changes)
	}
	if !slices.Equal(first.GeneratedSecrets, DefaultSecretKeys) {
		t.Errorf("generated %v, want %v", first.GeneratedSecrets, DefaultSecretKeys)
	}

	tags, err := e.workspace(e.projectDir).ListTags(context.Background(), "pr-1")
	if err != nil {
		t.Fatal(err)
	}
	meta := parseTags(tags)
	if meta.PR != 1 || meta.TTL != 48*time.Hour || meta.GitSHA != "1111111" {
		t.Errorf("tags %v", tags)
	}
	if meta.CreatedAt.Before(before) || meta.CreatedAt.After(time.Now()) || !strings.HasSuffix(tags[TagCreatedAt], "Z") {
		t.Errorf("created-at tag %q is not this run's time in UTC", tags[TagCreatedAt])
	}

	out := outputs(t, e.projectDir, "pr-1")
	password, _ := out["dbPassword"].Value.(string)
	if !out["dbPassword"].Secret || len(password) < 43 {
		t.Errorf("dbPassword output: secret=%v len=%d, want a secret of 43+ characters", out["dbPassword"].Secret, len(password))
	}
	if got := out["greeting"].Value; got != "hello from Pulumi.yaml" {
		t.Errorf("greeting %v: the project's config default did not apply", got)
	}
	stackFile, err := os.ReadFile(filepath.Join(e.projectDir, "Pulumi.pr-1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stackFile, []byte(password)) {
		t.Error("Pulumi.pr-1.yaml holds the database password in plain text")
	}

	second := e.up(l, UpOptions{PR: 1, TTL: 48 * time.Hour, GitSHA: "2222222"})
	if second.Created || len(second.GeneratedSecrets) != 0 {
		t.Errorf("second up: created=%v generated=%v, want the same stack and secrets", second.Created, second.GeneratedSecrets)
	}
	onlySame(t, "second up", second.Changes)

	// CI runs every up in a fresh checkout, without Pulumi.pr-1.yaml: the
	// stack's config and secrets must come back from the backend unchanged.
	third := e.up(e.lifecycle(e.freshCheckout(), testProgram(nil, nil)), UpOptions{PR: 1, TTL: 48 * time.Hour, GitSHA: "3333333"})
	if len(third.GeneratedSecrets) != 0 {
		t.Errorf("up from a fresh checkout generated %v again", third.GeneratedSecrets)
	}
	onlySame(t, "up from a fresh checkout", third.Changes)
	if got := outputs(t, e.projectDir, "pr-1")["dbPassword"].Value; got != password {
		t.Error("up from a fresh checkout changed the database password")
	}

	tags, err = e.workspace(e.projectDir).ListTags(context.Background(), "pr-1")
	if err != nil {
		t.Fatal(err)
	}
	if tags[TagGitSHA] != "3333333" || !parseTags(tags).CreatedAt.Equal(meta.CreatedAt) {
		t.Errorf("after re-runs tags are %v: want git-sha of the last up and the original created-at %s", tags, meta.CreatedAt)
	}
}

func TestDestroyRemovesStackAndMissingStackSucceeds(t *testing.T) {
	e := newEnv(t)
	e.up(e.lifecycle(e.projectDir, testProgram(nil, nil)), UpOptions{PR: 2, GitSHA: "abc"})

	// Teardown runs from a fresh checkout too (the PR-closed workflow).
	l := e.lifecycle(e.freshCheckout(), testProgram(nil, nil))
	res, err := l.Destroy(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.Missing || res.Changes["delete"] != 2 {
		t.Errorf("destroy: %+v, want 2 deletes", res)
	}
	if names := e.stackNames(); len(names) != 0 {
		t.Errorf("stacks after destroy: %v, want none", names)
	}
	if stackFileExists(l.ProjectDir, "pr-2") {
		t.Error("Pulumi.pr-2.yaml left behind")
	}

	for _, pr := range []int{2, 99} {
		res, err := l.Destroy(context.Background(), pr)
		if err != nil || !res.Missing {
			t.Errorf("destroy of missing pr-%d: %+v, %v; want success, nothing to do", pr, res, err)
		}
	}

	// Reopening the PR starts over: no tag of the old stack may survive,
	// or a stale created-at would get the new stack reaped at once.
	destroyedAt := time.Now().Add(-time.Second)
	again := e.up(l, UpOptions{PR: 2, GitSHA: "def"})
	tags, err := e.workspace(l.ProjectDir).ListTags(context.Background(), "pr-2")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Created || parseTags(tags).CreatedAt.Before(destroyedAt) {
		t.Errorf("recreated pr-2: created=%v tags=%v, want a new stack with a new created-at", again.Created, tags)
	}
}

func TestDevAndProdAreRefused(t *testing.T) {
	e := newEnv(t)
	e.deployPlainStack("dev")
	e.deployPlainStack("prod")
	l := e.lifecycle(e.projectDir, testProgram(nil, nil))
	ws := e.workspace(e.projectDir)

	for _, name := range []string{"dev", "prod", "organization/slipway/prod", "pr-0", "pr-x", "staging"} {
		if _, err := l.destroyStack(context.Background(), ws, name); !errors.Is(err, ErrNotReviewStack) {
			t.Errorf("destroy %q: %v, want ErrNotReviewStack", name, err)
		}
	}
	for _, pr := range []int{0, -1} {
		if _, err := l.Up(context.Background(), UpOptions{PR: pr}); err == nil {
			t.Errorf("up --pr %d accepted", pr)
		}
		if _, err := l.Destroy(context.Background(), pr); err == nil {
			t.Errorf("destroy --pr %d accepted", pr)
		}
	}

	// The reaper sees dev and prod in the listing, long past any TTL.
	time.Sleep(1100 * time.Millisecond)
	report, err := l.Reap(context.Background(), time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Destroyed) != 0 || len(report.Kept) != 2 {
		t.Errorf("reap report %+v, want dev and prod kept", report)
	}
	if names := e.stackNames(); !slices.Equal(names, []string{"dev", "prod"}) {
		t.Errorf("stacks %v, want dev and prod untouched", names)
	}
}

func TestReapDestroysExpiredAndKeepsFresh(t *testing.T) {
	e := newEnv(t)
	l := e.lifecycle(e.projectDir, testProgram(nil, nil))
	e.up(l, UpOptions{PR: 3, TTL: time.Second, GitSHA: "a"}) // expires by its ttl tag
	e.up(l, UpOptions{PR: 4, TTL: time.Hour, GitSHA: "b"})   // fresh
	e.up(l, UpOptions{PR: 5, TTL: time.Hour, GitSHA: "c"})   // untagged below: last update + default ttl
	ws := e.workspace(e.projectDir)
	for _, tag := range []string{TagCreatedAt, TagTTL} {
		if err := ws.RemoveTag(context.Background(), "pr-5", tag); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)

	report, err := e.lifecycle(e.freshCheckout(), testProgram(nil, nil)).Reap(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := stackNamesOf(report.Destroyed); !slices.Equal(got, []string{"pr-3", "pr-5"}) {
		t.Errorf("destroyed %v, want pr-3 (ttl tag) and pr-5 (last update)", report.Destroyed)
	}
	if got := stackNamesOf(report.Kept); !slices.Equal(got, []string{"pr-4"}) {
		t.Errorf("kept %v, want pr-4", report.Kept)
	}
	if names := e.stackNames(); !slices.Equal(names, []string{"pr-4"}) {
		t.Errorf("stacks after reap %v, want only pr-4", names)
	}
}

func TestReapSkipsStackLockedByRunningUpdate(t *testing.T) {
	e := newEnv(t)
	e.up(e.lifecycle(e.projectDir, testProgram(nil, nil)), UpOptions{PR: 6, TTL: time.Second, GitSHA: "a"})
	time.Sleep(1100 * time.Millisecond)

	// A second up of pr-6 that blocks inside the program holds the stack's
	// lock, as a CI update still running would.
	held, hold := make(chan struct{}), make(chan struct{})
	upErr := make(chan error, 1)
	go func() {
		_, err := e.lifecycle(e.projectDir, testProgram(held, hold)).Up(context.Background(), UpOptions{PR: 6, TTL: time.Second, GitSHA: "b"})
		upErr <- err
	}()
	select {
	case <-held:
	case err := <-upErr:
		t.Fatalf("blocking up ended early: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("blocking up never started the program")
	}
	released := false
	release := func() {
		if !released {
			close(hold)
			released = true
		}
	}
	defer release()

	l := e.lifecycle(e.freshCheckout(), testProgram(nil, nil))
	report, err := l.Reap(context.Background(), time.Second)
	if err != nil {
		t.Fatalf("reap with a locked stack: %v", err)
	}
	if got := stackNamesOf(report.Skipped); !slices.Equal(got, []string{"pr-6"}) || !strings.Contains(report.Skipped[0].Reason, "locked") {
		t.Errorf("skipped %v, want pr-6 as locked", report.Skipped)
	}
	if !strings.Contains(e.errs.String(), "warning: reap: pr-6: locked") {
		t.Errorf("no warning about the locked stack on stderr:\n%s", e.errs.String())
	}

	release()
	if err := <-upErr; err != nil {
		t.Fatalf("the blocked up failed after release: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	report, err = l.Reap(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := stackNamesOf(report.Destroyed); !slices.Equal(got, []string{"pr-6"}) {
		t.Errorf("once unlocked, destroyed %v, want pr-6", report.Destroyed)
	}
}

func TestDeadlineOf(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		meta       Metadata
		lastUpdate string
		want       time.Time
		known      bool
	}{
		{"tags win", Metadata{CreatedAt: created, TTL: time.Hour}, "2027-01-01T00:00:00.000Z", created.Add(time.Hour), true},
		{"default ttl", Metadata{CreatedAt: created}, "", created.Add(72 * time.Hour), true},
		{"last update fallback", Metadata{TTL: time.Hour}, "2026-01-02T03:04:05.000Z", created.Add(time.Hour), true},
		{"unknown age", Metadata{}, "", time.Time{}, false},
		{"unparseable last update", Metadata{}, "yesterday", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, known := deadlineOf(tt.meta, tt.lastUpdate, DefaultTTL)
			if known != tt.known || !got.Equal(tt.want) {
				t.Errorf("deadlineOf = %s, %v; want %s, %v", got, known, tt.want, tt.known)
			}
		})
	}
}

func TestParseTagsIgnoresGarbage(t *testing.T) {
	m := parseTags(map[string]string{TagPR: "x", TagCreatedAt: "today", TagTTL: "-1h", TagGitSHA: "abc"})
	if m.PR != 0 || !m.CreatedAt.IsZero() || m.TTL != 0 || m.GitSHA != "abc" {
		t.Errorf("parseTags = %+v", m)
	}
}

func TestNewSecretIsURLSafeAndRandom(t *testing.T) {
	a, err := newSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newSecret()
	if a == b || len(a) != 43 || strings.ContainsAny(a, "+/=") {
		t.Errorf("secrets %q, %q: want two different 43-character URL-safe values", a, b)
	}
}

func stackNamesOf(ds []Decision) []string {
	var names []string
	for _, d := range ds {
		names = append(names, d.Stack)
	}
	slices.Sort(names)
	return names
}

// syncBuffer collects the lifecycle's output from concurrent operations.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
