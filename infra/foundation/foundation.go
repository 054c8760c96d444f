// Package foundation is what an administrator runs once per AWS account
// and on changes, and CI must never change: the GitHub OIDC provider, per
// environment class (dev, review, prod) the CI roles and their policies,
// the permissions boundary of the class's app-stack roles, the Pulumi
// state bucket and the KMS key that is the class's secrets provider, and
// an optional CI user. The host documents of each class are built in this
// package too (documents.go). The app stacks (package infra) create none
// of this: they derive the fixed names (names.go) and look the boundary up.
package foundation

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// Foundation is one account's foundation.
type Foundation struct {
	OIDC *GitHubOIDC
	// By class, for the classes the account hosts.
	Boundaries map[stacks.Profile]*RoleBoundary
	Roles      map[stacks.Profile]*CIRoles
	State      map[stacks.Profile]*StateBackend
	Policies   map[stacks.Profile]*CIPolicies
	Documents  map[stacks.Profile]*HostDocuments
	// CIUser is nil unless slipway-foundation:ciUser names a class.
	CIUser *CIUser

	cfg Config
}

// Tags are the foundation's default tags. Its stack tag is never an app
// stack's name (dev, prod, pr-<n>), so no CI identity's tag-scoped rights
// reach a foundation resource, whatever the foundation stack is called.
func Tags(stack string) map[string]string {
	return map[string]string{"project": Project, "stack": "foundation-" + stack, "managed-by": "pulumi"}
}

// New builds the foundation from its config, class by class: the
// boundary, the roles (trust only), the CI user if any, the state backend
// (whose key policy names the roles and the user, so they come first),
// then the policies, which name the bucket and the key.
func New(ctx *pulumi.Context, cfg Config) (*Foundation, error) {
	provider, err := aws.NewProvider(ctx, "aws", &aws.ProviderArgs{
		Region:            pulumi.String(cfg.Region),
		AllowedAccountIds: pulumi.ToStringArray(cfg.AllowedAccountIDs),
		DefaultTags:       &aws.ProviderDefaultTagsArgs{Tags: pulumi.ToStringMap(Tags(cfg.Stack))},
	})
	if err != nil {
		return nil, err
	}
	opt := pulumi.Provider(provider)
	acct := LookupAccount(ctx, provider, cfg.Region)
	f := &Foundation{cfg: cfg, Boundaries: map[stacks.Profile]*RoleBoundary{}, Documents: map[stacks.Profile]*HostDocuments{}, Roles: map[stacks.Profile]*CIRoles{},
		State: map[stacks.Profile]*StateBackend{}, Policies: map[stacks.Profile]*CIPolicies{}}

	if f.OIDC, err = NewGitHubOIDC(ctx, "github", opt); err != nil {
		return nil, err
	}
	for _, class := range cfg.Classes {
		name := string(class)
		// Every SSM document that runs as root on the class's hosts: CI
		// may run them, never write them (documents.go).
		if f.Documents[class], err = NewHostDocuments(ctx, name+"-documents", HostDocumentsArgs{Class: class}, opt); err != nil {
			return nil, err
		}
		if f.Boundaries[class], err = NewRoleBoundary(ctx, name+"-role-boundary", RoleBoundaryArgs{Class: class, Account: acct}, opt); err != nil {
			return nil, err
		}
		roles, err := NewCIRoles(ctx, name+"-ci", CIRolesArgs{Class: class, GitHubRepository: cfg.GitHubRepository, Provider: f.OIDC.ARN}, opt)
		if err != nil {
			return nil, err
		}
		f.Roles[class] = roles
		users := roles.ARNs()
		var group pulumi.StringInput
		if cfg.CIUser.Class == class {
			if f.CIUser, err = NewCIUser(ctx, "ci-user", CIUserArgs{Class: class, KeyGeneration: cfg.CIUser.KeyGeneration}, opt); err != nil {
				return nil, err
			}
			users, group = append(users, f.CIUser.UserARN), f.CIUser.GroupName
		}
		if f.State[class], err = NewStateBackend(ctx, name+"-state", StateBackendArgs{
			Class: class, Users: users, Administrators: cfg.Administrators, Account: acct,
		}, opt); err != nil {
			return nil, err
		}
		var zone *ZoneConfig
		if z, ok := cfg.Zones[class]; ok {
			zone = &z
		}
		if f.Policies[class], err = NewCIPolicies(ctx, name+"-ci-policies", CIPoliciesArgs{
			Class: class, Roles: roles, State: f.State[class], Zone: zone, Account: acct, UserGroup: group,
		}, opt); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Outputs are what the administrator hands to the GitHub environments
// (docs/ci.md): per class the backend URL, the secrets provider (the
// output is named EncryptionProvider: it names a key, it holds no secret) and the
// role ARNs.
func (f *Foundation) Outputs() pulumi.Map {
	out := pulumi.Map{"oidcProviderArn": f.OIDC.ARN}
	for class, s := range f.State {
		c := string(class)
		out[c+"BackendUrl"] = s.BackendURL
		out[c+"EncryptionProvider"] = pulumi.String(SecretsProvider(class))
		out[c+"BoundaryArn"] = f.Boundaries[class].ARN
		roles := pulumi.Map{}
		for n, r := range f.Roles[class].ByName {
			roles[n] = r.Arn
		}
		out[c+"RoleArns"] = roles
	}
	if u := f.CIUser; u != nil {
		out["ciUserName"] = u.UserName
		out["ciAccessKeyId"] = u.AccessKeyID
		out["ciSecretAccessKey"] = u.SecretAccessKey
	}
	return out
}

// Build is the foundation program as a function returning its outputs
// (foundation/main.go exports them; the offline plan reads them).
func Build(ctx *pulumi.Context) (pulumi.Map, error) {
	cfg, err := Load(ctx)
	if err != nil {
		return nil, err
	}
	f, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return f.Outputs(), nil
}

// Run is Build with the exports, for foundation/main.go.
func Run(ctx *pulumi.Context) error {
	out, err := Build(ctx)
	if err != nil {
		return err
	}
	for k, v := range out {
		ctx.Export(k, v)
	}
	return nil
}
