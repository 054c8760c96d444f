package infra

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

const (
	// githubOIDCHost is GitHub Actions' token issuer.
	githubOIDCHost = "token.actions.githubusercontent.com"
	// deployName starts the logical name of every deployer resource, so
	// its physical names match deployScope.Self and the identity
	// is denied any change to itself.
	deployName = "deploy"
)

// githubThumbprints are the certificate thumbprints GitHub documents for
// its OIDC issuer. AWS now trusts the issuer through its own CA library
// and ignores them, but the API still takes the list.
var githubThumbprints = []string{
	"6938fd4d98bab03faadb97b34396831e3780aea1",
	"1c58a3a8518e8759bf075b76b750d4f2df264fcd",
}

// deployScope is what one stack's deploy identity may touch, derived from
// the same facts that name resources (the project's auto-naming pattern
// ${project}-${stack}-${name}-${hex}, the SSM parameter path, the IAM
// path and the default tags), so the names and the policy cannot drift.
// TestDeployPolicyCoversEveryResourceName checks the two against each
// other on the recorded resources.
type deployScope struct {
	// Stacks are the stack-name patterns: dev's identity also deploys
	// the review stacks (pr-*); prod's deploys prod alone.
	Stacks []string
	// Names are the physical-name patterns (slipway-dev-*).
	Names []string
	// Parameters are the SSM paths below which the stacks keep their
	// parameters (/slipway/dev/*).
	Parameters []string
	// Self matches the deploy identity's own IAM names.
	Self string
	// Dashboards are the dashboard names (not auto-named: see
	// dashboardName).
	Dashboards []string
	// Boundary names the role boundary every role of these stacks
	// carries (boundary.go); Boundaries matches every stack's.
	Boundary, Boundaries string
}

func newDeployScope(cfg stacks.Config) deployScope {
	stackPatterns := []string{cfg.Stack}
	if cfg.Profile == stacks.Dev {
		stackPatterns = append(stackPatterns, "pr-*")
	}
	s := deployScope{Stacks: stackPatterns, Self: cfg.Project + "-" + cfg.Stack + "-" + deployName + "-*",
		Boundary: RoleBoundaryName(cfg.Project, boundaryOwner(cfg)), Boundaries: RoleBoundaryName(cfg.Project, "*")}
	for _, st := range stackPatterns {
		s.Names = append(s.Names, cfg.Project+"-"+st+"-*")
		s.Parameters = append(s.Parameters, "/"+cfg.Project+"/"+st+"/*")
		s.Dashboards = append(s.Dashboards, cfg.Project+"-"+st)
	}
	return s
}

// dashboardName is the CloudWatch dashboard's name: dashboards take no
// auto-name, and one per stack cannot collide.
func dashboardName(cfg stacks.Config) string { return cfg.Project + "-" + cfg.Stack }

// DeployerArgs shapes the CI identity.
type DeployerArgs struct {
	Config  stacks.Config
	Account account
}

// Deployer is the identity CI deploys dev or prod with: an IAM user with
// an access key, and optionally a GitHub Actions OIDC role, both holding
// the same managed policy.
type Deployer struct {
	pulumi.ResourceState

	UserName        pulumi.StringOutput
	AccessKeyID     pulumi.StringOutput
	SecretAccessKey pulumi.StringOutput // secret
	// RoleARN is set when slipway:githubRepository is.
	RoleARN pulumi.StringOutput
	HasRole bool
}

// NewDeployer creates the deploy user, its group, policy and key, and the
// OIDC role when configured. Only dev and prod have one.
func NewDeployer(ctx *pulumi.Context, name string, args DeployerArgs, opts ...pulumi.ResourceOption) (*Deployer, error) {
	if args.Config.Profile.Ephemeral() {
		return nil, fmt.Errorf("deployer: review stack %s has no deploy identity", args.Config.Stack)
	}
	d := &Deployer{}
	if err := ctx.RegisterComponentResource("slipway:deployer:Deployer", name, d, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(d)
	scope := newDeployScope(args.Config)

	// The CI user: no login profile (no console), keys only. ForceDestroy
	// deletes its keys with it, including one left by a rotation.
	user, err := iam.NewUser(ctx, name+"-user", &iam.UserArgs{
		Path:         pulumi.String(iamPath),
		ForceDestroy: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, err
	}
	// Rights come through a group, never attached to the user itself.
	group, err := iam.NewGroup(ctx, name+"-group", &iam.GroupArgs{Path: pulumi.String(iamPath)}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewUserGroupMembership(ctx, name+"-user", &iam.UserGroupMembershipArgs{
		User:   user.Name,
		Groups: pulumi.StringArray{group.Name},
	}, parent); err != nil {
		return nil, err
	}

	// The deploy policy: managed policies, so the OIDC role shares them.
	docs := deployPolicy(ctx, parent, scope, args.Account, user.Arn, group.Arn)
	var policies []*iam.Policy
	for _, part := range deployPolicyParts {
		policy, err := iam.NewPolicy(ctx, name+"-policy-"+part, &iam.PolicyArgs{
			Path: pulumi.String(iamPath),
			Description: pulumi.String("What CI needs to preview, update and destroy Slipway stacks " +
				strings.Join(scope.Stacks, ", ") + " (" + part + ")"),
			Policy: docs[part],
		}, parent)
		if err != nil {
			return nil, err
		}
		if _, err := iam.NewGroupPolicyAttachment(ctx, name+"-group-"+part, &iam.GroupPolicyAttachmentArgs{
			Group:     group.Name,
			PolicyArn: policy.Arn,
		}, parent); err != nil {
			return nil, err
		}
		policies = append(policies, policy)
	}

	// The key CI stores. Rotation (docs/operations.md) is `pulumi up
	// --replace` on this resource: RetainOnDelete keeps the old key
	// working in AWS until CI has switched, then it is deleted by hand.
	key, err := iam.NewAccessKey(ctx, name+"-key", &iam.AccessKeyArgs{User: user.Name},
		parent, pulumi.RetainOnDelete(true))
	if err != nil {
		return nil, err
	}
	d.UserName, d.AccessKeyID = user.Name, key.ID().ToStringOutput()
	d.SecretAccessKey = pulumi.ToSecret(key.Secret).(pulumi.StringOutput)

	if repo := args.Config.Deploy.GitHubRepository; repo != "" {
		d.HasRole = true
		if d.RoleARN, err = githubRole(ctx, name, args, policies, d); err != nil {
			return nil, err
		}
	}
	outputs := pulumi.Map{"userName": user.Name, "accessKeyId": d.AccessKeyID}
	if d.HasRole {
		outputs["roleArn"] = d.RoleARN
	}
	return d, ctx.RegisterResourceOutputs(d, outputs)
}

// GitHubSubjects are the exact token subjects the OIDC role trusts, one
// per way the workflows in .github/workflows reach the stack (a job that
// names an environment gets the environment's subject, whatever its
// branch or event):
//   - prod: the deploy and preview jobs in the environment
//     (slipway:githubEnvironment, default "production"), which has
//     required reviewers;
//   - dev: the deploy job in its environment (default "dev"); pull-request
//     jobs without an environment (the dev preview, review stack up and
//     destroy): repo:R:pull_request, which GitHub issues to branches of
//     this repository only, never to forks; the scheduled review-stack
//     reaper on the default branch: repo:R:ref:refs/heads/main.
func GitHubSubjects(profile stacks.Profile, cfg stacks.DeployConfig) []string {
	repo := "repo:" + cfg.GitHubRepository + ":"
	env := cfg.GitHubEnvironment
	if env == "" {
		env = map[stacks.Profile]string{stacks.Prod: "production", stacks.Dev: "dev"}[profile]
	}
	subjects := []string{repo + "environment:" + env}
	if profile == stacks.Dev {
		subjects = append(subjects, repo+"pull_request", repo+"ref:refs/heads/main")
	}
	return subjects
}

// githubRole is the keyless alternative: GitHub Actions exchanges its OIDC
// token for this role's credentials, with the deploy policy.
func githubRole(ctx *pulumi.Context, name string, args DeployerArgs, policies []*iam.Policy, d *Deployer) (pulumi.StringOutput, error) {
	parent := pulumi.Parent(d)
	// One provider per account and issuer; the role names the audience.
	provider, err := iam.NewOpenIdConnectProvider(ctx, name+"-github", &iam.OpenIdConnectProviderArgs{
		Url:             pulumi.String("https://" + githubOIDCHost),
		ClientIdLists:   pulumi.ToStringArray([]string{"sts.amazonaws.com"}),
		ThumbprintLists: pulumi.ToStringArray(githubThumbprints),
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	trust := statements(ctx, parent, statement("GitHubActions", "Allow",
		principal("Federated", provider.Arn),
		[]string{"sts:AssumeRoleWithWebIdentity"}, nil,
		conditions(
			condition("StringEquals", githubOIDCHost+":aud", pulumi.String("sts.amazonaws.com")),
			condition("StringEquals", githubOIDCHost+":sub",
				pulumi.ToStringArray(GitHubSubjects(args.Config.Profile, args.Config.Deploy))...),
		)))
	role, err := iam.NewRole(ctx, name+"-github", &iam.RoleArgs{
		Path:               pulumi.String(iamPath),
		Description:        pulumi.String("GitHub Actions deploys of Slipway " + args.Config.Stack),
		AssumeRolePolicy:   trust,
		MaxSessionDuration: pulumi.Int(3600),
	}, parent)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	for i, policy := range policies {
		if _, err := iam.NewRolePolicyAttachment(ctx, name+"-github-"+deployPolicyParts[i], &iam.RolePolicyAttachmentArgs{
			Role:      role.Name,
			PolicyArn: policy.Arn,
		}, parent); err != nil {
			return pulumi.StringOutput{}, err
		}
	}
	return role.Arn, nil
}
