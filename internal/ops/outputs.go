package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// The stack outputs the operations read (infra/slipway.go, Stack.Outputs).
const (
	OutputInstanceID   = "instanceId"
	OutputReleaseID    = "releaseId"
	OutputImageDigests = "imageDigests"
	// OutputSessionCommand is "aws ssm start-session --target <id>
	// --region <region>": the only output that names the region.
	OutputSessionCommand = "ssmSessionCommand"
	// OutputLogGroups is service -> log group name; logs.go falls back
	// to the naming convention for stacks deployed before it existed.
	OutputLogGroups = "logGroups"
	// OutputRegion is the stack's region.
	OutputRegion = "region"

	// ECS mode (slipway:compute=ecs, infra/cluster.go computeOutputs).
	OutputClusterName          = "clusterName"
	OutputAPITaskDefinition    = "apiTaskDefinition"
	OutputWorkerTaskDefinition = "workerTaskDefinition"
	// OutputECSExecCommand is "aws ecs execute-command --cluster <name>
	// ... --region <region>": it names the region as ssmSessionCommand does.
	OutputECSExecCommand = "ecsExecCommand"
	OutputAPIService     = "apiService"
	OutputWorkerService  = "workerService"
	// OutputMaintenance is {"patternSetName", "patternSetId", "scope"}:
	// the WAF regex pattern set the maintenance rule matches (infra/cluster.go, computeOutputs).
	OutputMaintenance = "maintenance"
)

// Compute is what runs the stack's workload, decided from its outputs.
type Compute string

const (
	// ComputeHost: the single EC2 host (instanceId), operated through
	// the foundation's host documents and Session Manager.
	ComputeHost Compute = "host"
	// ComputeECS: the ECS cluster's api and worker services
	// (clusterName), operated through the ECS and WAFv2 APIs.
	ComputeECS Compute = "ecs"
)

// ECSServices are the ECS services every ECS stack runs, in order.
var ECSServices = []string{"api", "worker"}

// MaintenanceSet is the WAF regex pattern set of the maintenance rule.
type MaintenanceSet struct {
	Name, ID, Scope string
}

// Outputs are what the last `pulumi up` of the stack exported.
type Outputs struct {
	// Compute is host (InstanceID set) or ecs (ClusterName set).
	Compute      Compute
	InstanceID   string
	ReleaseID    string
	ImageDigests map[string]string
	// Region is the stack's region, read from ssmSessionCommand; empty
	// when that output is absent.
	Region    string
	LogGroups map[string]string

	// ECS mode only.
	ClusterName string
	// Services and TaskDefinitions are by service (api, worker): the ECS
	// service names and the task definitions the last up deployed.
	Services        map[string]string
	TaskDefinitions map[string]string
	// Maintenance is the maintenance rule's pattern set; zero when the
	// stack exports none.
	Maintenance MaintenanceSet
}

var regionFlag = regexp.MustCompile(`--region\s+([a-z0-9-]+)`)

// ParseOutputs reads the outputs `pulumi stack output --json` printed. A
// stack without outputs, or with neither instanceId (host) nor clusterName
// (ecs), is not deployed.
func ParseOutputs(stack string, raw map[string]any) (Outputs, error) {
	if len(raw) == 0 {
		return Outputs{}, fmt.Errorf("%w: stack %s has no outputs (never deployed, or destroyed): run `pulumi up --stack %s` first",
			ErrNotDeployed, stack, stack)
	}
	o := Outputs{ImageDigests: map[string]string{}, LogGroups: map[string]string{},
		Services: map[string]string{}, TaskDefinitions: map[string]string{}}
	o.InstanceID, _ = raw[OutputInstanceID].(string)
	o.ClusterName, _ = raw[OutputClusterName].(string)
	switch {
	case strings.HasPrefix(o.InstanceID, "i-"):
		o.Compute = ComputeHost
	case o.ClusterName != "":
		o.Compute = ComputeECS
	default:
		return Outputs{}, fmt.Errorf("%w: stack %s has no %s output (host) nor %s output (ecs): its last update did not create the host or the cluster: run `pulumi up --stack %s`",
			ErrNotDeployed, stack, OutputInstanceID, OutputClusterName, stack)
	}
	if o.Compute == ComputeECS {
		o.Services["api"], _ = raw[OutputAPIService].(string)
		o.Services["worker"], _ = raw[OutputWorkerService].(string)
		o.TaskDefinitions["api"], _ = raw[OutputAPITaskDefinition].(string)
		o.TaskDefinitions["worker"], _ = raw[OutputWorkerTaskDefinition].(string)
		m := asMap(raw[OutputMaintenance])
		o.Maintenance = MaintenanceSet{Name: m["patternSetName"], ID: m["patternSetId"], Scope: m["scope"]}
	}
	o.ReleaseID, _ = raw[OutputReleaseID].(string)
	for k, v := range asMap(raw[OutputImageDigests]) {
		o.ImageDigests[k] = v
	}
	for k, v := range asMap(raw[OutputLogGroups]) {
		o.LogGroups[k] = v
	}
	o.Region, _ = raw[OutputRegion].(string)
	for _, key := range []string{OutputSessionCommand, OutputECSExecCommand} {
		if cmd, ok := raw[key].(string); ok && o.Region == "" {
			if m := regionFlag.FindStringSubmatch(cmd); m != nil {
				o.Region = m[1]
			}
		}
	}
	return o, nil
}

func asMap(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := map[string]string{}
	for k, x := range m {
		if s, ok := x.(string); ok {
			out[k] = s
		}
	}
	return out
}

// sortedKeys lists a map's keys in order, for stable output.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ReadOutputs runs `pulumi stack output --json --stack <stack>` in the
// project directory with the operator's own Pulumi CLI and backend
// (PULUMI_BACKEND_URL or `pulumi login`), as internal/review reaches its
// stacks. Without --show-secrets: secret outputs print as "[secret]", and
// none of the outputs the operations read is secret, so no secrets
// provider (KMS key, passphrase) is needed to run them.
func ReadOutputs(ctx context.Context, projectDir, stack string) (Outputs, error) {
	bin, err := exec.LookPath("pulumi")
	if err != nil {
		return Outputs{}, errors.New("the Pulumi CLI is not on PATH: it reads the stack's outputs (tools/pulumi.sh builds the pinned CLI)")
	}
	cmd := exec.CommandContext(ctx, bin, "stack", "output", "--json", "--stack", stack, "--non-interactive")
	cmd.Dir = projectDir
	cmd.Env = append(os.Environ(), "PULUMI_SKIP_UPDATE_CHECK=true")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "no stack named") {
			return Outputs{}, fmt.Errorf("%w: the backend has no stack %s (%s); PULUMI_BACKEND_URL=%q",
				ErrNotDeployed, stack, msg, os.Getenv("PULUMI_BACKEND_URL"))
		}
		return Outputs{}, fmt.Errorf("pulumi stack output --stack %s: %v: %s", stack, err, msg)
	}
	var raw map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
		return Outputs{}, fmt.Errorf("pulumi stack output --json --stack %s printed no JSON object: %w", stack, err)
	}
	return ParseOutputs(stack, raw)
}
