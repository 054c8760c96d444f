package foundation

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// CIRolesArgs shapes one class's CI roles.
type CIRolesArgs struct {
	Class            stacks.Profile
	GitHubRepository string
	// Provider is the account's GitHub OIDC provider.
	Provider pulumi.StringInput
}

// CIRoles are one class's GitHub Actions roles, with their trust alone:
// the policies come after the state backend (CIPolicies), whose key
// policy must name roles that already exist (KMS rejects a policy naming
// an unknown principal).
type CIRoles struct {
	pulumi.ResourceState

	// ByName are the roles by their fixed name (slipway-dev-deploy, ...).
	ByName map[string]*iam.Role
	roles  []ciRole
}

// NewCIRoles creates the class's roles under their fixed names.
func NewCIRoles(ctx *pulumi.Context, name string, args CIRolesArgs, opts ...pulumi.ResourceOption) (*CIRoles, error) {
	c := &CIRoles{ByName: map[string]*iam.Role{}, roles: rolesOf(args.Class)}
	if err := ctx.RegisterComponentResource("slipway:foundation:CIRoles", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	outputs := pulumi.Map{}
	for _, r := range c.roles {
		// Exactly one subject, with StringEquals: no wildcard, no
		// pull_request, no branch ref (names.go says why).
		trust := statements(ctx, parent, statement("GitHubActions", "Allow",
			principal("Federated", args.Provider),
			[]string{"sts:AssumeRoleWithWebIdentity"}, nil,
			conditions(
				condition("StringEquals", GitHubOIDCHost+":aud", pulumi.String("sts.amazonaws.com")),
				condition("StringEquals", GitHubOIDCHost+":sub", pulumi.String(GitHubSubject(args.GitHubRepository, r.Name))),
			)))
		role, err := iam.NewRole(ctx, r.Name, &iam.RoleArgs{
			Name:               pulumi.String(r.Name),
			Path:               pulumi.String(iamPath),
			Description:        pulumi.String("GitHub Actions, environment " + r.Environment + ": " + string(r.Kind) + " of Slipway's " + string(r.Class) + " stacks"),
			AssumeRolePolicy:   trust,
			MaxSessionDuration: pulumi.Int(3600),
		}, parent)
		if err != nil {
			return nil, err
		}
		c.ByName[r.Name] = role
		outputs[r.Name] = role.Arn
	}
	return c, ctx.RegisterResourceOutputs(c, outputs)
}

// ARNs are the class's role ARNs, in a fixed order.
func (c *CIRoles) ARNs() []pulumi.StringInput {
	var out []pulumi.StringInput
	for _, r := range c.roles {
		out = append(out, c.ByName[r.Name].Arn)
	}
	return out
}
