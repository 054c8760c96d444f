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
	"errors"
	"fmt"
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
