package mockcloud

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// BuildFunc is a Pulumi program that returns its stack outputs instead of
// exporting them (the mock monitor cannot see exports).
type BuildFunc func(ctx *pulumi.Context) (pulumi.Map, error)

// Output is one resolved stack output.
type Output struct {
	Value  any
	Secret bool
}

// Result is what one offline run recorded.
type Result struct {
	Stack     string
	Resources []Resource
	Outputs   map[string]Output
}

// Run runs build for a stack on a fresh offline cloud with the given
// config. dryRun runs it as a preview, as `pulumi preview` would. On error
// the result still lists what was registered before it.
func Run(build BuildFunc, project, stack string, files stacks.Files, dryRun bool) (*Result, error) {
	return New(project, stack, files.Values["aws:region"]).Run(build, files, dryRun)
}

// Run runs build on this cloud, as the package's Run does on a fresh one,
// for tests that first say what the cloud already holds (Image).
func (c *Cloud) Run(build BuildFunc, files stacks.Files, dryRun bool) (*Result, error) {
	stack := c.Stack
	var autonaming struct{ Pattern string }
	if raw, ok := files.Values["pulumi:autonaming"]; ok {
		if err := json.Unmarshal([]byte(raw), &autonaming); err != nil {
			return nil, fmt.Errorf("mockcloud: pulumi:autonaming: %w", err)
		}
	}
	c.NamePattern = autonaming.Pattern
	var (
		mu      sync.Mutex
		outputs pulumi.Map
		values  = map[string]any{}
	)
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		out, err := build(ctx)
		if err != nil {
			return err
		}
		outputs = out
		for name, o := range out {
			// Exported, so RunErr awaits the apply before it returns:
			// outputs derived from invokes (latestAmi) are not tracked
			// by the context otherwise, and could resolve too late.
			ctx.Export(name, pulumi.ToOutput(o).ApplyT(func(v any) any {
				mu.Lock()
				defer mu.Unlock()
				values[name] = plain(v)
				return v
			}))
		}
		return nil
	}, c.Option(files.Dir, files.Values, files.Secrets, dryRun))
	if err != nil {
		// What was registered before the failure is part of the answer.
		return &Result{Stack: stack, Resources: c.Resources()}, err
	}
	res := &Result{Stack: stack, Resources: c.Resources(), Outputs: map[string]Output{}}
	// Registration order varies from run to run; URN order does not.
	sort.Slice(res.Resources, func(i, j int) bool { return res.Resources[i].URN < res.Resources[j].URN })
	names := slices.Sorted(maps.Keys(outputs))
	for _, name := range names {
		v, ok := values[name]
		if !ok && !dryRun {
			return nil, fmt.Errorf("mockcloud: stack output %s never resolved", name)
		}
		res.Outputs[name] = Output{Value: v, Secret: pulumi.IsSecret(pulumi.ToOutput(outputs[name]))}
	}
	return res, nil
}

// ByType returns the recorded resources of a type token.
func (r *Result) ByType(typ string) []Resource {
	var out []Resource
	for _, res := range r.Resources {
		if res.Type == typ {
			out = append(out, res)
		}
	}
	return out
}

// Find returns the resource with a type token and logical name.
func (r *Result) Find(typ, name string) (Resource, bool) {
	for _, res := range r.Resources {
		if res.Type == typ && res.Name == name {
			return res, true
		}
	}
	return Resource{}, false
}

// ByURN indexes the recorded resources.
func (r *Result) ByURN() map[string]Resource {
	m := make(map[string]Resource, len(r.Resources))
	for _, res := range r.Resources {
		m[res.URN] = res
	}
	return m
}

// plain turns the SDK's named string types into strings.
func plain(v any) any {
	switch x := v.(type) {
	case pulumi.ID:
		return string(x)
	case pulumi.URN:
		return string(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	}
	return v
}
