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
	// OutputLogGroups (service -> log group name) is not an output of the
	// program today; logs.go falls back to the naming convention when it
	// is absent.
	OutputLogGroups = "logGroups"
)

// Outputs are what the last `pulumi up` of the stack exported.
type Outputs struct {
	InstanceID   string
	ReleaseID    string
	ImageDigests map[string]string
	// Region is the stack's region, read from ssmSessionCommand; empty
	// when that output is absent.
	Region    string
	LogGroups map[string]string
}

var regionFlag = regexp.MustCompile(`--region\s+([a-z0-9-]+)`)

// ParseOutputs reads the outputs `pulumi stack output --json` printed. A
// stack without outputs or without instanceId is not deployed.
func ParseOutputs(stack string, raw map[string]any) (Outputs, error) {
	if len(raw) == 0 {
		return Outputs{}, fmt.Errorf("%w: stack %s has no outputs (never deployed, or destroyed): run `pulumi up --stack %s` first",
			ErrNotDeployed, stack, stack)
	}
	o := Outputs{ImageDigests: map[string]string{}, LogGroups: map[string]string{}}
	o.InstanceID, _ = raw[OutputInstanceID].(string)
	if !strings.HasPrefix(o.InstanceID, "i-") {
		return Outputs{}, fmt.Errorf("%w: stack %s has no %s output (its last update did not create the host): run `pulumi up --stack %s`",
			ErrNotDeployed, stack, OutputInstanceID, stack)
	}
	o.ReleaseID, _ = raw[OutputReleaseID].(string)
	for k, v := range asMap(raw[OutputImageDigests]) {
		o.ImageDigests[k] = v
	}
	for k, v := range asMap(raw[OutputLogGroups]) {
		o.LogGroups[k] = v
	}
	if cmd, ok := raw[OutputSessionCommand].(string); ok {
		if m := regionFlag.FindStringSubmatch(cmd); m != nil {
			o.Region = m[1]
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
