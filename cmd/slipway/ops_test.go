package main

// The ops subcommands' command line, end to end through runOps: flags and
// arguments, the exit codes, and the errors as the operator reads them.
// SSM's Run Command calls (DescribeInstanceInformation, SendCommand,
// GetCommandInvocation) run against the fake (internal/ops/fakeaws)
// through the real SDK clients; the stack's outputs are handed in (their
// reading through the Pulumi CLI is tested in internal/ops).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"slipway/internal/ops"
	"slipway/internal/ops/fakeaws"
)

const opsTestInstance = "i-0123456789abcdef0"

func opsTestDeps(t *testing.T, outputsErr error) (opsDeps, *fakeaws.Server) {
	t.Helper()
	f := fakeaws.New(t)
	f.Instances[opsTestInstance] = "Online"
	for _, class := range []string{"dev", "review", "prod"} {
		for _, kind := range []string{"rollback", "maintenance", "status"} {
			f.Documents["slipway-"+class+"-"+kind] = true
		}
	}
	f.Script = []fakeaws.Invocation{{Status: "Success", Details: "Success", Stdout: "host says ok\n"}}
	fakeaws.Env(t, f.HTTP.URL, f.HTTP.URL)
	deps := opsDeps{
		projectDir: t.TempDir(),
		outputs: func(_ context.Context, _, stack string) (ops.Outputs, error) {
			if outputsErr != nil {
				return ops.Outputs{}, outputsErr
			}
			// A region the fake endpoint ignores; the clients must use it.
			return ops.Outputs{InstanceID: opsTestInstance, ReleaseID: "0123456789abcdef0123", Region: "eu-west-1"}, nil
		},
		loadAWS: ops.LoadConfig,
	}
	return deps, f
}

func runOpsTest(t *testing.T, deps opsDeps, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runOps(args[0], args[1:], deps, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestOpsUsageErrors(t *testing.T) {
	deps, f := opsTestDeps(t, nil)
	for _, args := range [][]string{
		{"rollback"},                          // no --stack
		{"rollback", "--stack", "staging"},    // not a Slipway stack
		{"rollback", "--stack", "dev", "now"}, // stray argument
		{"maintenance", "--stack", "dev"},     // neither on nor off
		{"maintenance", "maybe", "--stack", "dev"},
		{"logs", "--stack", "dev"},             // no service
		{"status", "--stack", "dev", "--nope"}, // unknown flag
	} {
		code, _, stderr := runOpsTest(t, deps, args...)
		if code != 2 || !strings.Contains(stderr, "usage (from a workstation") {
			t.Errorf("slipway %s: exit %d, stderr %s", strings.Join(args, " "), code, stderr)
		}
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("usage errors reached AWS %d times", n)
	}
}

func TestOpsRollbackSaysHEAD(t *testing.T) {
	deps, f := opsTestDeps(t, nil)
	code, stdout, stderr := runOpsTest(t, deps, "rollback", "--stack", "dev")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "host says ok") || !strings.Contains(stdout, "the next `pulumi up` deploys the code at HEAD again") {
		t.Errorf("stdout: %s", stdout)
	}
	send := f.Sent("SendCommand")[0]
	if got := send.Body["DocumentName"]; got != "slipway-dev-rollback" {
		t.Errorf("sent %v", got)
	}
	if send.Region != "eu-west-1" {
		t.Errorf("signed for region %q, want the stack's eu-west-1 (from its outputs)", send.Region)
	}
	// --region wins over the outputs.
	if code, _, stderr := runOpsTest(t, deps, "rollback", "--stack", "dev", "--region", "us-west-2"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := f.Sent("SendCommand")[1].Region; got != "us-west-2" {
		t.Errorf("with --region us-west-2, signed for %q", got)
	}
}

func TestOpsMaintenanceArgumentBeforeOrAfterFlags(t *testing.T) {
	deps, f := opsTestDeps(t, nil)
	for _, args := range [][]string{{"maintenance", "on", "--stack", "pr-7"}, {"maintenance", "--stack", "pr-7", "off"}} {
		if code, _, stderr := runOpsTest(t, deps, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	sends := f.Sent("SendCommand")
	for i, mode := range []string{"on", "off"} {
		p := sends[i].Body["Parameters"].(map[string]any)
		if sends[i].Body["DocumentName"] != "slipway-review-maintenance" || p["mode"].([]any)[0] != mode || p["stack"].([]any)[0] != "pr-7" {
			t.Errorf("send %d: %v", i, sends[i].Body)
		}
	}
}

func TestOpsErrorsAsTheOperatorReadsThem(t *testing.T) {
	t.Run("not deployed", func(t *testing.T) {
		deps, _ := opsTestDeps(t, fmt.Errorf("%w: stack dev has no outputs", ops.ErrNotDeployed))
		code, _, stderr := runOpsTest(t, deps, "status", "--stack", "dev")
		if code != 1 || !strings.Contains(stderr, "slipway status: stack is not deployed: stack dev has no outputs") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		// The outputs would fail too: credentials are checked first.
		deps, f := opsTestDeps(t, errors.New("pulumi stack output: NoCredentialProviders"))
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		code, _, stderr := runOpsTest(t, deps, "rollback", "--stack", "prod")
		if code != 1 || !strings.Contains(stderr, "no AWS credentials") || len(f.Requests()) != 0 {
			t.Errorf("exit %d, %d requests: %s", code, len(f.Requests()), stderr)
		}
	})
	t.Run("host does not answer", func(t *testing.T) {
		deps, f := opsTestDeps(t, nil)
		delete(f.Instances, opsTestInstance)
		code, _, stderr := runOpsTest(t, deps, "maintenance", "on", "--stack", "dev")
		if code != 1 || !strings.Contains(stderr, "host does not answer") || len(f.Sent("SendCommand")) != 0 {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("document missing", func(t *testing.T) {
		deps, f := opsTestDeps(t, nil)
		delete(f.Documents, "slipway-dev-status")
		code, _, stderr := runOpsTest(t, deps, "status", "--stack", "dev", "--timeout", time.Second.String())
		if code != 1 || !strings.Contains(stderr, "the foundation of this account has no document slipway-dev-status: run the foundation's pulumi up") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		deps, _ := opsTestDeps(t, nil)
		code, _, stderr := runOpsTest(t, deps, "logs", "nginx", "--stack", "dev")
		if code != 1 || !strings.Contains(stderr, "api, worker, proxy, db") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
}

// The whole path through main's dispatch: `slipway status --stack dev`
// run from a project directory, the outputs read by the pinned Pulumi CLI
// from a file:// backend (a state imported with a deployed stack's
// outputs: nothing is deployed anywhere), the credentials found by the
// SDK, and DescribeInstanceInformation, SendCommand and
// GetCommandInvocation against the fake.
func TestOpsStatusThroughMainWithThePulumiCLI(t *testing.T) {
	if cached, err := filepath.Abs(filepath.Join("..", "..", ".cache", "bin")); err == nil {
		if _, err := os.Stat(filepath.Join(cached, "pulumi")); err == nil {
			t.Setenv("PATH", cached+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	if _, err := exec.LookPath("pulumi"); err != nil {
		if os.Getenv("SLIPWAY_REQUIRE_PULUMI") != "" {
			t.Fatal("pulumi CLI not on PATH although SLIPWAY_REQUIRE_PULUMI is set")
		}
		t.Skip("\n*** SKIPPING: no pulumi CLI: the ops commands were NOT run through the Pulumi CLI ***")
	}
	_, f := opsTestDeps(t, nil)
	f.Script = []fakeaws.Invocation{{Status: "Success", Details: "Success", Stdout: "current 0123456789abcdef0123 healthy\n"}}
	root := t.TempDir()
	dir := filepath.Join(root, "project", "sub")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "project", "Pulumi.yaml"), []byte("name: slipway\nruntime: go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULUMI_BACKEND_URL", "file://"+filepath.ToSlash(root))
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "ops-main-test")
	t.Setenv("PULUMI_HOME", filepath.Join(root, ".pulumi-home"))
	t.Setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
	pulumi := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("pulumi", append(args, "--non-interactive")...)
		cmd.Dir = filepath.Join(root, "project")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("pulumi %v: %v", args, err)
		}
		return out
	}
	pulumi("stack", "init", "dev")
	var state map[string]any
	if err := json.Unmarshal(pulumi("stack", "export", "--stack", "dev"), &state); err != nil {
		t.Fatal(err)
	}
	state["deployment"].(map[string]any)["resources"] = []any{map[string]any{
		"urn": "urn:pulumi:dev::slipway::pulumi:pulumi:Stack::slipway-dev", "custom": false, "type": "pulumi:pulumi:Stack",
		"outputs": map[string]any{
			"instanceId":        opsTestInstance,
			"releaseId":         "0123456789abcdef0123",
			"ssmSessionCommand": "aws ssm start-session --target " + opsTestInstance + " --region ap-southeast-2",
			"imageDigests":      map[string]any{"api": "r/slipway-api@sha256:feed"},
		},
	}}
	b, _ := json.Marshal(state)
	file := filepath.Join(root, "state.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	pulumi("stack", "import", "--stack", "dev", "--file", file)

	t.Chdir(dir) // slipway finds Pulumi.yaml in a parent, as review does
	var stdout, stderr bytes.Buffer
	if code := run([]string{"status", "--stack", "dev"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"instance " + opsTestInstance + ", region ap-southeast-2", "release 0123456789abcdef0123", "slipway-api@sha256:feed", "current 0123456789abcdef0123 healthy"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	send := f.Sent("SendCommand")
	if len(send) != 1 || send[0].Body["DocumentName"] != "slipway-dev-status" || send[0].Region != "ap-southeast-2" {
		t.Errorf("sent %+v", send)
	}

	// A stack the backend does not have: not deployed, exit 1.
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"rollback", "--stack", "prod"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "stack is not deployed: the backend has no stack prod") {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}

// An ECS stack (slipway:compute=ecs) through runOps: the same commands,
// answered by the fake's ECS and WAFv2 (kumo serves neither the calls
// they read with nor WAFv2: internal/ops TestKumoLacksTheECSAndWAFCalls),
// through the real SDK clients; no SSM call is made.
func ecsTestDeps(t *testing.T) (opsDeps, *fakeaws.Server) {
	t.Helper()
	deps, f := opsTestDeps(t, nil)
	fakeaws.EnvECS(t, f.HTTP.URL)
	f.Clusters["cluster-4f3e2d1"] = true
	td := "arn:aws:ecs:us-east-1:123456789012:task-definition/"
	for _, fam := range []string{"slipway-dev-api", "slipway-dev-worker"} {
		f.AddTaskDefinition(fam, 1, "ACTIVE", map[string]string{"api": "r/slipway-api@sha256:0001"})
		f.AddTaskDefinition(fam, 2, "ACTIVE", map[string]string{"api": "r/slipway-api@sha256:0002"})
	}
	// In this order: the tests name the api service as f.ECSServices[0].
	for _, s := range [][2]string{{"cluster-api-1", "slipway-dev-api"}, {"cluster-worker-1", "slipway-dev-worker"}} {
		svc, fam := s[0], s[1]
		f.ECSServices = append(f.ECSServices, &fakeaws.ECSService{Cluster: "cluster-4f3e2d1", Name: svc, Status: "ACTIVE",
			TaskDefinition: td + fam + ":2", Desired: 1, StableAfter: 1,
			Deployments: []map[string]any{fakeaws.Deployment("PRIMARY", td+fam+":2", "COMPLETED", 1, 1)}})
	}
	f.PatternSets["ps-1"] = &fakeaws.PatternSet{Name: "slipway-dev-maintenance", Scope: "REGIONAL", Regexes: []string{"^$"}, LockToken: "t0"}
	deps.outputs = func(context.Context, string, string) (ops.Outputs, error) {
		return ops.Outputs{Compute: ops.ComputeECS, ClusterName: "cluster-4f3e2d1", Region: "eu-west-1",
			Services:        map[string]string{"api": "cluster-api-1", "worker": "cluster-worker-1"},
			TaskDefinitions: map[string]string{"api": td + "slipway-dev-api:2", "worker": td + "slipway-dev-worker:2"},
			Maintenance:     ops.MaintenanceSet{Name: "slipway-dev-maintenance", ID: "ps-1", Scope: "REGIONAL"}}, nil
	}
	return deps, f
}

func TestOpsECSStackThroughRunOps(t *testing.T) {
	deps, f := ecsTestDeps(t)
	code, stdout, stderr := runOpsTest(t, deps, "status", "--stack", "dev")
	if code != 0 || !strings.Contains(stdout, "service api (cluster-api-1): desired 1, running 1, pending 0, task definition slipway-dev-api:2") {
		t.Fatalf("status: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runOpsTest(t, deps, "rollback", "--stack", "dev")
	if code != 0 || !strings.Contains(stdout, "the next `pulumi up` deploys the code at HEAD again") {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := len(f.Sent("RegisterTaskDefinition")); n != 0 || len(f.Sent("UpdateService")) != 2 {
		t.Errorf("RegisterTaskDefinition %d (revision 1 is ACTIVE: none needed), UpdateService %d", n, len(f.Sent("UpdateService")))
	}
	for _, u := range f.Sent("UpdateService") {
		if !strings.HasSuffix(u.Body["taskDefinition"].(string), ":1") || u.Region != "eu-west-1" {
			t.Errorf("UpdateService %v signed for %s", u.Body, u.Region)
		}
	}
	if code, stdout, stderr = runOpsTest(t, deps, "maintenance", "on", "--stack", "dev"); code != 0 || !strings.Contains(stdout, "maintenance on for stack dev") {
		t.Fatalf("maintenance: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got := f.PatternSetNow("ps-1").Regexes; len(got) != 1 || got[0] != "^/" {
		t.Errorf("pattern set = %v", got)
	}
	if n := len(f.Sent("SendCommand")) + len(f.Sent("DescribeInstanceInformation")); n != 0 {
		t.Errorf("an ECS stack's commands called SSM %d times", n)
	}
}

func TestOpsECSErrorsAsTheOperatorReadsThem(t *testing.T) {
	t.Run("no credentials", func(t *testing.T) {
		deps, f := ecsTestDeps(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		code, _, stderr := runOpsTest(t, deps, "maintenance", "off", "--stack", "dev")
		if code != 1 || !strings.Contains(stderr, "slipway maintenance: no AWS credentials") || len(f.Requests()) != 0 {
			t.Errorf("exit %d, %d requests: %s", code, len(f.Requests()), stderr)
		}
	})
	t.Run("not deployed", func(t *testing.T) {
		deps, f := ecsTestDeps(t)
		delete(f.Clusters, "cluster-4f3e2d1")
		code, _, stderr := runOpsTest(t, deps, "rollback", "--stack", "dev")
		if code != 1 || !strings.Contains(stderr, "slipway rollback: stack is not deployed: ECS has no cluster cluster-4f3e2d1 in eu-west-1") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("service does not answer", func(t *testing.T) {
		deps, f := ecsTestDeps(t)
		f.ECSServices[0].Status = "INACTIVE"
		code, _, stderr := runOpsTest(t, deps, "status", "--stack", "dev")
		if code != 1 || !strings.Contains(stderr, "slipway status: ECS service does not answer: service cluster-api-1 in cluster cluster-4f3e2d1 is INACTIVE") {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
	t.Run("psql", func(t *testing.T) {
		deps, f := ecsTestDeps(t)
		dir := t.TempDir()
		for _, tool := range []string{"aws", "session-manager-plugin"} {
			if err := os.WriteFile(filepath.Join(dir, tool), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv("PATH", dir)
		code, _, stderr := runOpsTest(t, deps, "psql", "--stack", "dev")
		if code != 1 || !strings.Contains(stderr, "slipway psql: no psql client on ECS") || !strings.Contains(stderr, "slipway shell --stack dev") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		if len(f.Requests()) != 0 {
			t.Errorf("%d requests", len(f.Requests()))
		}
	})
}
