// Package mockcloud is an offline AWS for the Slipway program: a Pulumi mock
// monitor that records every resource the program registers and answers its
// invokes with realistic, deterministic values (IDs, ARNs, domain names,
// image digests). The infra tests and `slipway plan` both run on it, so
// what the plan shows is what the tests assert.
package mockcloud

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Account is the placeholder AWS account every ARN names.
const Account = "123456789012"

// Resource is one registered resource as the engine would see it.
type Resource struct {
	URN          string
	Type         string
	Name         string
	Custom       bool
	ID           string
	Inputs       resource.PropertyMap
	Outputs      resource.PropertyMap
	Parent       string
	Provider     string // provider reference "urn::id", empty for components
	Dependencies []string
	// PropertyDependencies maps an input to the URNs it depends on.
	PropertyDependencies map[string][]string
	Protect              bool
	RetainOnDelete       bool
	DeleteBeforeReplace  bool
	IgnoreChanges        []string
	ReplaceOnChanges     []string
	// Aliases are the URNs the resource declares it was known by
	// (pulumi.Aliases), resolved as the engine resolves alias specs.
	// Aliases a child inherits from its parent's are the engine's to
	// derive and are not listed.
	Aliases []string
	// Region is the region of the provider that manages the resource.
	Region string
}

// Cloud implements pulumi.MockResourceMonitor.
type Cloud struct {
	Project, Stack string
	// Region is the default provider's region.
	Region string
	// NamePattern is the project's auto-naming pattern, if any.
	NamePattern string

	mu        sync.Mutex
	resources []Resource
	providers map[string]string // provider URN -> region
	images    []heldImage       // pushed before the run (ecr.go)
	// parameters held before the run and how rollouts fail (ssm.go).
	parameters map[string]string
	failure    *rolloutFailure
	noReceipts bool
}

// New returns an empty cloud for a project's stack whose default region is
// region.
func New(project, stack, region string) *Cloud {
	if region == "" {
		region = "us-east-1"
	}
	return &Cloud{Project: project, Stack: stack, Region: region, providers: map[string]string{}}
}

// Option runs a Pulumi program on this cloud with the given config, as the
// CLI would pass it: values by fully-qualified key, and the secret keys.
func (c *Cloud) Option(projectDir string, config map[string]string, secretKeys []string, dryRun bool) pulumi.RunOption {
	return func(info *pulumi.RunInfo) {
		pulumi.WithMocks(c.Project, c.Stack, c)(info)
		info.RootDirectory = projectDir
		info.Config = config
		info.ConfigSecretKeys = secretKeys
		info.DryRun = dryRun
	}
}

// Resources returns what was registered, in registration order.
func (c *Cloud) Resources() []Resource {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Resource(nil), c.resources...)
}

// NewResource records a resource and synthesizes its outputs.
func (c *Cloud) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rpc := args.RegisterRPC
	region := c.regionOf(args.Provider)
	if strings.HasPrefix(args.TypeToken, "pulumi:providers:") {
		if r, ok := args.Inputs["region"]; ok && r.IsString() {
			region = r.StringValue()
		}
	}
	id, outputs := synthesize(args.TypeToken, args.Name, naming{c.Project, c.Stack, c.NamePattern}, args.Inputs, region)
	if !args.Custom {
		id = ""
	}
	r := Resource{
		Type: args.TypeToken, Name: args.Name, Custom: args.Custom, ID: id,
		Inputs: args.Inputs, Outputs: outputs, Provider: args.Provider, Region: region,
	}
	if rpc != nil {
		r.Parent = rpc.GetParent()
		r.Dependencies = append([]string(nil), rpc.GetDependencies()...)
		sort.Strings(r.Dependencies)
		r.PropertyDependencies = map[string][]string{}
		for k, deps := range rpc.GetPropertyDependencies() {
			urns := append([]string(nil), deps.GetUrns()...)
			sort.Strings(urns)
			r.PropertyDependencies[k] = urns
		}
		r.Protect = rpc.GetProtect()
		r.RetainOnDelete = rpc.GetRetainOnDelete()
		r.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		r.ReplaceOnChanges = rpc.GetReplaceOnChanges()
		r.URN = c.urnOf(rpc.GetParent(), args.TypeToken, args.Name)
		for _, a := range rpc.GetAliases() {
			r.Aliases = append(r.Aliases, c.aliasURN(a, r))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.HasPrefix(args.TypeToken, "pulumi:providers:") {
		c.providers[r.URN] = region
	}
	c.resources = append(c.resources, r)
	return id, outputs, nil
}

// Call answers an invoke.
func (c *Cloud) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	if out, ok, err := c.ecrInvoke(args.Token, args.Args); ok {
		return out, err
	}
	if args.Token == "aws:ecs/getService:getService" {
		return c.ecsService(args.Args)
	}
	if out, ok, err := c.ssmInvoke(args.Token, args.Args); ok {
		return out, err
	}
	return invoke(args.Token, args.Args, c.regionOf(args.Provider))
}

// RolledBackEnv names ECS services (by logical name, comma-separated)
// whose deployment the offline cloud reports as rolled back: the service
// runs the previous task definition revision, not the one registered.
const RolledBackEnv = "SLIPWAY_OFFLINE_ECS_ROLLED_BACK"

// ecsService answers aws:ecs/getService as ECS would after the deploy:
// the service runs the task definition it was given, unless RolledBackEnv
// names it.
func (c *Cloud) ecsService(args resource.PropertyMap) (resource.PropertyMap, error) {
	want := args["serviceName"]
	for _, r := range c.Resources() {
		if r.Type != "aws:ecs/service:Service" || r.Outputs["name"] != want {
			continue
		}
		td := r.Inputs["taskDefinition"]
		for _, n := range strings.Split(os.Getenv(RolledBackEnv), ",") {
			if n != "" && n == r.Name && td.IsString() {
				td = resource.NewProperty(strings.TrimSuffix(td.StringValue(), ":1") + ":0")
			}
		}
		return resource.PropertyMap{
			"serviceName": want, "clusterArn": args["clusterArn"], "taskDefinition": td,
			"arn": resource.NewProperty(r.ID), "id": resource.NewProperty(r.ID),
		}, nil
	}
	return nil, fmt.Errorf("mockcloud: no ECS service named %v", want)
}

// regionOf finds the region of the provider behind a "urn::id" reference.
func (c *Cloud) regionOf(providerRef string) string {
	urn := providerRef
	if i := strings.LastIndex(providerRef, "::"); i > 0 {
		urn = providerRef[:i]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.providers[urn]; ok {
		return r
	}
	return c.Region
}

// aliasURN resolves an alias: a URN, or a spec whose empty fields default
// to the resource's own name, type, stack, project and parent.
func (c *Cloud) aliasURN(a *pulumirpc.Alias, r Resource) string {
	if a.GetUrn() != "" {
		return a.GetUrn()
	}
	spec := a.GetSpec()
	name, typ, stack, project, parent := spec.GetName(), spec.GetType(), spec.GetStack(), spec.GetProject(), r.Parent
	if name == "" {
		name = r.Name
	}
	if typ == "" {
		typ = r.Type
	}
	if stack == "" {
		stack = c.Stack
	}
	if project == "" {
		project = c.Project
	}
	if spec.GetNoParent() {
		parent = ""
	} else if p := spec.GetParentUrn(); p != "" {
		parent = p
	}
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(stack), tokens.PackageName(project), parentType, tokens.Type(typ), name))
}

// urnOf builds the URN pulumi's mock monitor assigns (its newURN), so
// parents, dependencies and providers can be matched to records.
func (c *Cloud) urnOf(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(c.Stack), tokens.PackageName(c.Project), parentType, tokens.Type(typ), name))
}
