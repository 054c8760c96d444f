// Package plan is `slipway plan`: the real program (program.Build, the code
// path of main.go) run in-process under Pulumi's mocks (internal/mockcloud)
// with a stack's config files, then judged by the security baseline
// (internal/policy) and priced (internal/cost). Renderers turn a Plan into
// text for people, JSON in the shape of `pulumi stack export`, or a
// mermaid graph.
package plan

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"slipway/infra/foundation"
	"slipway/internal/cost"
	"slipway/internal/mockcloud"
	"slipway/internal/policy"
	"slipway/stacks"
)

// Project is the Pulumi project name (Pulumi.yaml name).
const Project = "slipway"

// RequiredSecrets are the secret keys stacks.Parse refuses to run without.
// The stack files hold none (they are set with `pulumi config set
// --secret`), so the plan stands in a placeholder and says so.
var RequiredSecrets = []string{"slipway:dbPassword", "slipway:originSecret"}

// Placeholder is a secret config value the plan did not (or could not)
// read.
type Placeholder struct {
	Key string `json:"key"`
	// Reason says why: encrypted in the stack file, or not set at all.
	Reason string `json:"reason"`
}

// NotSetReason is what the plan says about a required secret that is not set.
const NotSetReason = "not set: `pulumi up` would refuse until set (planned with a placeholder)"

// EncryptedReason is what the plan says about a `secure:` value.
const EncryptedReason = "encrypted in the stack file: not decrypted, planned with a placeholder"

// Plan is one offline plan of a stack.
type Plan struct {
	Project string
	Stack   string
	// Profile is the app stack's; a foundation stack has none.
	Profile stacks.Profile
	Region  string
	// AllowedAccountIDs is the account pin every provider gets
	// (aws:allowedAccountIds; a review stack's is dev's).
	AllowedAccountIDs []string
	// Foundation marks a plan of the foundation project; Classes are the
	// environment classes its account hosts.
	Foundation   bool
	Classes      []stacks.Profile
	HasStackFile bool
	Placeholders []Placeholder
	Result       *mockcloud.Result
	Policy       []policy.Result
	Summary      policy.Summary
	Cost         cost.Estimate
}

// ConfigError is bad config or a bad stack name: the user's to fix, exit 2.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }

// IsConfigError reports whether err is a ConfigError.
func IsConfigError(err error) bool {
	var c ConfigError
	return errors.As(err, &c)
}

// Build is the program the plan runs (program.Build).
type Build = mockcloud.BuildFunc

// Run plans a stack of the project in dir.
func Run(build Build, dir, stack string) (*Plan, error) {
	profile, err := stacks.ProfileOf(stack)
	if err != nil {
		return nil, ConfigError{err}
	}
	files, err := stacks.ReadFiles(dir, stack)
	if err != nil {
		return nil, ConfigError{fmt.Errorf("reading the stack's config: %w", err)}
	}
	p := &Plan{Project: Project, Stack: stack, Profile: profile, HasStackFile: files.HasStackFile}
	for _, k := range files.Encrypted {
		p.Placeholders = append(p.Placeholders, Placeholder{Key: k, Reason: EncryptedReason})
	}
	for _, k := range RequiredSecrets {
		if _, set := files.Values[k]; !set {
			files.SetSecret(k, stacks.OfflineSecret)
			p.Placeholders = append(p.Placeholders, Placeholder{Key: k, Reason: NotSetReason})
		}
	}
	sort.Slice(p.Placeholders, func(i, j int) bool { return p.Placeholders[i].Key < p.Placeholders[j].Key })
	// Config errors are reported before anything runs, as `pulumi up`
	// would report them.
	cfg, err := stacks.Parse(Project, stack, files)
	if err != nil {
		return nil, ConfigError{err}
	}
	p.Region, p.AllowedAccountIDs = cfg.Region, cfg.AllowedAccountIDs
	// dryRun: this is a preview, as `pulumi preview` runs the program.
	res, err := mockcloud.Run(build, Project, stack, files, true)
	if err != nil {
		return nil, fmt.Errorf("the program failed under mocks: %w", err)
	}
	p.Result = res
	p.Policy = policy.Evaluate(policy.Stack{
		Name: stack, Profile: profile, Region: cfg.Region,
		Resources: res.Resources, Outputs: res.Outputs,
		Secrets: knownSecrets(files, res),
	})
	p.Summary = policy.Summarize(p.Policy)
	p.Cost = cost.Price(res.Resources, profile)
	return p, nil
}

// FoundationDir is the foundation project's directory below the app's.
const FoundationDir = "foundation"

// RunFoundation plans a stack of the foundation project (dir/foundation:
// its Pulumi.yaml and Pulumi.<stack>.yaml) with the foundation's program,
// judged by the same baseline (the foundation's rules apply, the app
// stacks' do not).
func RunFoundation(dir, stack string) (*Plan, error) {
	files, err := stacks.ReadFiles(filepath.Join(dir, FoundationDir), stack)
	if err != nil {
		return nil, ConfigError{fmt.Errorf("reading the foundation stack's config: %w", err)}
	}
	if !files.HasStackFile {
		return nil, ConfigError{fmt.Errorf("foundation stack %q has no %s/Pulumi.%s.yaml: a foundation stack is one account's, configured in its file", stack, FoundationDir, stack)}
	}
	cfg, err := foundation.Parse(stack, files)
	if err != nil {
		return nil, ConfigError{err}
	}
	p := &Plan{Project: foundation.Project, Stack: stack, Region: cfg.Region, AllowedAccountIDs: cfg.AllowedAccountIDs,
		Foundation: true, Classes: cfg.Classes, HasStackFile: true}
	res, err := mockcloud.Run(foundation.Build, foundation.Project, stack, files, true)
	if err != nil {
		return nil, fmt.Errorf("the foundation failed under mocks: %w", err)
	}
	p.Result = res
	p.Policy = policy.Evaluate(policy.Stack{
		Name: stack, Foundation: true, Region: cfg.Region,
		Resources: res.Resources, Outputs: res.Outputs, Secrets: knownSecrets(files, res),
	})
	p.Summary = policy.Summarize(p.Policy)
	// A foundation's cost is its keys and state buckets; the state sees
	// little traffic, so the non-prod traffic assumptions price it.
	p.Cost = cost.Price(res.Resources, stacks.Dev)
	return p, nil
}

// knownSecrets are the values that must never appear in plain text: the
// secret config values (placeholders here) and every secret a resource
// returned (an access key's secret, say).
func knownSecrets(files stacks.Files, res *mockcloud.Result) []string {
	var out []string
	for _, k := range files.Secrets {
		if v := files.Values[k]; v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, r := range res.Resources {
		if schemaSecretOnly(r) {
			continue
		}
		for _, v := range r.Outputs {
			collectSecrets(v, false, &out)
		}
	}
	sort.Strings(out)
	return out
}

// schemaSecretOnly reports a resource whose values are secret because the
// provider's schema says so, not because they are: pulumi-aws marks every
// SSM parameter value secret, including the plain String parameters of the
// release bundle (which SLW-SSM-001 keeps free of secrets).
func schemaSecretOnly(r mockcloud.Resource) bool {
	return r.Type == "aws:ssm/parameter:Parameter" && r.Str("type") != "SecureString"
}

func collectSecrets(v resource.PropertyValue, inSecret bool, out *[]string) {
	switch {
	case v.IsSecret():
		collectSecrets(v.SecretValue().Element, true, out)
	case v.IsString():
		if s := v.StringValue(); inSecret && len(s) >= 8 && !slices.Contains(*out, s) {
			*out = append(*out, s)
		}
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			collectSecrets(e, inSecret, out)
		}
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			collectSecrets(e, inSecret, out)
		}
	case v.IsOutput():
		collectSecrets(v.OutputValue().Element, inSecret || v.OutputValue().Secret, out)
	}
}

// Failed reports whether an error-severity rule failed.
func (p *Plan) Failed() bool { return p.Summary.FailedErrors > 0 }

// StackURN is the URN of the stack's root resource, the parent of every
// component.
func (p *Plan) StackURN() string {
	return fmt.Sprintf("urn:pulumi:%s::%s::pulumi:pulumi:Stack::%s-%s", p.Stack, p.Project, p.Project, p.Stack)
}

// Account says which account the plan's providers are pinned to.
func (p *Plan) Account() string {
	if len(p.AllowedAccountIDs) == 0 {
		return "not pinned"
	}
	return strings.Join(p.AllowedAccountIDs, ", ")
}
