package ops

// ReadOutputs against the real, pinned Pulumi CLI (.cache/bin/pulumi, or
// pulumi on PATH) and a file:// backend in a temporary directory: a stack
// that does not exist, one that was never deployed, one whose last update
// made no host, and one with the outputs a deployed Slipway stack has
// (imported as a state file: nothing is deployed anywhere).

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type pulumiEnv struct {
	t   *testing.T
	dir string
}

func newPulumiEnv(t *testing.T) pulumiEnv {
	t.Helper()
	if cached, err := filepath.Abs(filepath.Join("..", "..", ".cache", "bin")); err == nil {
		if _, err := os.Stat(filepath.Join(cached, "pulumi")); err == nil {
			t.Setenv("PATH", cached+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
	if _, err := exec.LookPath("pulumi"); err != nil {
		if os.Getenv("SLIPWAY_REQUIRE_PULUMI") != "" {
			t.Fatal("pulumi CLI not on PATH although SLIPWAY_REQUIRE_PULUMI is set: run ./scripts/test.sh")
		}
		t.Skip("\n*** SKIPPING: no pulumi CLI (tools/pulumi.sh builds the pinned one): ReadOutputs NOT tested against the Pulumi CLI ***")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "project")
	for _, d := range []string{dir, filepath.Join(root, "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte("name: slipway\nruntime: go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULUMI_BACKEND_URL", "file://"+filepath.ToSlash(filepath.Join(root, "state")))
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "ops-outputs-test")
	t.Setenv("PULUMI_HOME", filepath.Join(root, "home"))
	t.Setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
	return pulumiEnv{t: t, dir: dir}
}

func (p pulumiEnv) pulumi(stdin string, args ...string) string {
	p.t.Helper()
	cmd := exec.Command("pulumi", append(args, "--non-interactive")...)
	cmd.Dir = p.dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// importOutputs gives the stack a state whose root resource has outputs,
// as `pulumi up` leaves it.
func (p pulumiEnv) importOutputs(stack string, outputs map[string]any) {
	p.t.Helper()
	var state map[string]any
	if err := json.Unmarshal([]byte(p.pulumi("", "stack", "export", "--stack", stack)), &state); err != nil {
		p.t.Fatal(err)
	}
	state["deployment"].(map[string]any)["resources"] = []any{map[string]any{
		"urn": "urn:pulumi:" + stack + "::slipway::pulumi:pulumi:Stack::slipway-" + stack, "custom": false,
		"type": "pulumi:pulumi:Stack", "outputs": outputs,
	}}
	file := filepath.Join(p.t.TempDir(), "state.json")
	b, _ := json.Marshal(state)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.pulumi("", "stack", "import", "--stack", stack, "--file", file)
}

func TestPulumiCLIReadOutputs(t *testing.T) {
	p := newPulumiEnv(t)
	ctx := context.Background()

	_, err := ReadOutputs(ctx, p.dir, "dev")
	if !errors.Is(err, ErrNotDeployed) || !strings.Contains(err.Error(), "the backend has no stack dev") {
		t.Fatalf("missing stack: err = %v", err)
	}

	p.pulumi("", "stack", "init", "dev")
	_, err = ReadOutputs(ctx, p.dir, "dev")
	if !errors.Is(err, ErrNotDeployed) || !strings.Contains(err.Error(), "has no outputs") {
		t.Fatalf("never deployed: err = %v", err)
	}

	p.importOutputs("dev", map[string]any{"vpcId": "vpc-1"})
	_, err = ReadOutputs(ctx, p.dir, "dev")
	if !errors.Is(err, ErrNotDeployed) || !strings.Contains(err.Error(), "no instanceId output") {
		t.Fatalf("no host: err = %v", err)
	}

	p.importOutputs("dev", map[string]any{
		"instanceId":        "i-0fedcba9876543210",
		"releaseId":         "0123456789abcdef0123",
		"ssmSessionCommand": "aws ssm start-session --target i-0fedcba9876543210 --region eu-west-1",
		"imageDigests":      map[string]any{"api": "r/slipway-api@sha256:1", "db": "r/slipway-db@sha256:2"},
	})
	o, err := ReadOutputs(ctx, p.dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if o.Compute != ComputeHost || o.InstanceID != "i-0fedcba9876543210" || o.ReleaseID != "0123456789abcdef0123" || o.Region != "eu-west-1" ||
		o.ImageDigests["db"] != "r/slipway-db@sha256:2" || len(o.LogGroups) != 0 {
		t.Errorf("outputs = %+v", o)
	}

	// An ECS stack's outputs (slipway:compute=ecs), as the CLI prints them.
	p.importOutputs("dev", map[string]any{
		"clusterName":    "cluster-4f3e2d1",
		"ecsExecCommand": "aws ecs execute-command --cluster cluster-4f3e2d1 --task <task-id> --container api --interactive --command /bin/sh --region sa-east-1",
		"apiService":     "cluster-api-7a6b5c4", "workerService": "cluster-worker-3d2e1f0",
		"maintenance": map[string]any{"patternSetName": "slipway-dev-maintenance", "patternSetId": "a1b2", "scope": "REGIONAL"},
	})
	o, err = ReadOutputs(ctx, p.dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if o.Compute != ComputeECS || o.Region != "sa-east-1" || o.Services["worker"] != "cluster-worker-3d2e1f0" || o.Maintenance.ID != "a1b2" {
		t.Errorf("ECS outputs = %+v", o)
	}
}

func TestParseOutputsLogGroups(t *testing.T) {
	o, err := ParseOutputs("dev", map[string]any{"instanceId": "i-1", "logGroups": map[string]any{"api": "g-api"}})
	if err != nil || o.LogGroups["api"] != "g-api" || o.Region != "" {
		t.Fatalf("%+v %v", o, err)
	}
}

func TestParseOutputsECS(t *testing.T) {
	raw := map[string]any{
		"clusterName":          "cluster-4f3e2d1",
		"apiTaskDefinition":    "arn:aws:ecs:eu-central-1:123456789012:task-definition/slipway-dev-api:12",
		"workerTaskDefinition": "arn:aws:ecs:eu-central-1:123456789012:task-definition/slipway-dev-worker:6",
		"ecsExecCommand":       "aws ecs execute-command --cluster cluster-4f3e2d1 --task <task-id> --container api --interactive --command /bin/sh --region eu-central-1",
		"apiService":           "cluster-api-7a6b5c4",
		"workerService":        "cluster-worker-3d2e1f0",
		"maintenance":          map[string]any{"patternSetName": "slipway-dev-maintenance", "patternSetId": "a1b2", "scope": "REGIONAL"},
		"imageDigests":         map[string]any{"api": "r/slipway-api@sha256:1"},
	}
	o, err := ParseOutputs("dev", raw)
	if err != nil {
		t.Fatal(err)
	}
	if o.Compute != ComputeECS || o.ClusterName != "cluster-4f3e2d1" || o.Region != "eu-central-1" ||
		o.Services["api"] != "cluster-api-7a6b5c4" || o.Services["worker"] != "cluster-worker-3d2e1f0" ||
		o.TaskDefinitions["worker"] != "arn:aws:ecs:eu-central-1:123456789012:task-definition/slipway-dev-worker:6" ||
		o.Maintenance != (MaintenanceSet{Name: "slipway-dev-maintenance", ID: "a1b2", Scope: "REGIONAL"}) ||
		o.ImageDigests["api"] != "r/slipway-api@sha256:1" {
		t.Errorf("outputs = %+v", o)
	}
	// The host's outputs still make a host stack.
	h, err := ParseOutputs("dev", map[string]any{"instanceId": "i-1"})
	if err != nil || h.Compute != ComputeHost {
		t.Errorf("host outputs: %+v %v", h, err)
	}
	// Neither: not deployed, naming both.
	_, err = ParseOutputs("dev", map[string]any{"vpcId": "vpc-1"})
	if !errors.Is(err, ErrNotDeployed) || !strings.Contains(err.Error(), "no instanceId output (host) nor clusterName output (ecs)") {
		t.Errorf("err = %v", err)
	}
}
