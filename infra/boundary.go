package infra

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// SSMAgentActions are the calls the SSM agent makes with the host role
// (Session Manager, inventory, associations): the actions of AWS's
// AmazonSSMManagedInstanceCore, which the host role attaches, except its
// ssm:GetParameter(s) on "*" (the boundary keeps those to the project's
// parameters). The actions have no resource type AWS can scope.
var SSMAgentActions = []string{
	"ssm:DescribeAssociation", "ssm:GetDeployablePatchSnapshotForInstance", "ssm:GetDocument", "ssm:DescribeDocument",
	"ssm:GetManifest", "ssm:ListAssociations", "ssm:ListInstanceAssociations", "ssm:PutInventory",
	"ssm:PutComplianceItems", "ssm:PutConfigurePackageResult", "ssm:UpdateAssociationStatus",
	"ssm:UpdateInstanceAssociationStatus", "ssm:UpdateInstanceInformation",
	"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
	"ssmmessages:OpenDataChannel",
	"ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
	"ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
}

// SnapshotActions are what Data Lifecycle Manager does with the snapshot
// role for a daily EBS snapshot policy: the snapshot part of AWS's
// AWSDataLifecycleManagerServiceRole. The rest of that policy (copying,
// sharing through ModifySnapshotAttribute, fast restore, archive tiers,
// EventBridge rules for cross-account copies) is left out of the
// boundary: Slipway's schedule uses none of it.
var SnapshotActions = []string{
	"ec2:CreateSnapshot", "ec2:CreateSnapshots", "ec2:DeleteSnapshot",
}

// SnapshotReadActions are the snapshot role's describes (no resource type).
var SnapshotReadActions = []string{
	"ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:DescribeAvailabilityZones",
}

// RoleBoundaryName is the physical name of the permissions boundary of a
// stack's roles. It is fixed, not auto-named: the deploy policy names it
// in its conditions and review stacks find dev's by it. The stack in the
// name keeps dev's and prod's apart in a shared account.
func RoleBoundaryName(project, stack string) string { return project + "-" + stack + "-role-boundary" }

// boundaryOwner is the stack whose boundary limits cfg's roles: dev and
// prod own one; a review stack uses dev's, since dev's deploy identity
// deploys it (so dev must be deployed in the account first).
func boundaryOwner(cfg stacks.Config) string {
	if cfg.Profile.Ephemeral() {
		return string(stacks.Dev)
	}
	return cfg.Stack
}

// roleBoundaryARN is the ARN of the boundary for cfg's roles, computed
// from its fixed name (review stacks do not look it up).
func roleBoundaryARN(cfg stacks.Config, acct account) pulumi.StringOutput {
	return acct.globalARN("iam", "policy"+iamPath+RoleBoundaryName(cfg.Project, boundaryOwner(cfg)))
}

// RoleBoundaryArgs shapes the boundary.
type RoleBoundaryArgs struct {
	Config  stacks.Config
	Account account
}

// RoleBoundary is the permissions boundary every role the deploy identity
// may change carries: the most any such role can do, whatever policy the
// identity puts on it. Only an administrator changes it (the deploy
// policy denies every write to it).
type RoleBoundary struct {
	pulumi.ResourceState

	ARN pulumi.StringOutput
}

// NewRoleBoundary creates the boundary policy of dev (covering review
// stacks too) or prod.
func NewRoleBoundary(ctx *pulumi.Context, name string, args RoleBoundaryArgs, opts ...pulumi.ResourceOption) (*RoleBoundary, error) {
	if args.Config.Profile.Ephemeral() {
		return nil, fmt.Errorf("role boundary: review stack %s uses dev's", args.Config.Stack)
	}
	b := &RoleBoundary{}
	if err := ctx.RegisterComponentResource("slipway:deployer:RoleBoundary", name, b, opts...); err != nil {
		return nil, err
	}
	scope := newDeployScope(args.Config)
	parent := pulumi.Parent(b)
	// The boundary: a managed policy under the project path with its
	// fixed name, holding the union of what the stacks' roles need.
	policy, err := iam.NewPolicy(ctx, name, &iam.PolicyArgs{
		Name: pulumi.String(RoleBoundaryName(args.Config.Project, args.Config.Stack)),
		Path: pulumi.String(iamPath),
		Description: pulumi.String("Permissions boundary of the roles of Slipway " +
			strings.Join(scope.Stacks, ", ") + "; changed by an administrator only"),
		Policy: roleBoundaryDocument(ctx, parent, scope, args.Account, args.Config.Profile.ProtectsData()),
	}, parent)
	if err != nil {
		return nil, err
	}
	b.ARN = policy.Arn
	return b, ctx.RegisterResourceOutputs(b, pulumi.Map{"arn": policy.Arn})
}

// roleBoundaryDocument is the union of what the host, flow-log and
// snapshot roles of the scope's stacks need, on the scope's resource
// patterns (the same as the deploy policy's). TestRoleBoundaryCoversRoles
// checks every role's own policy against it.
func roleBoundaryDocument(ctx *pulumi.Context, opts pulumi.InvokeOption, s deployScope, acct account, snapshots bool) pulumi.StringOutput {
	star := pulumi.StringArray{pulumi.String("*")}
	stmts := []iam.GetPolicyDocumentStatementArgs{
		// The host pulls the project's images (the login token takes "*").
		allow("EcrLogin", []string{"ecr:GetAuthorizationToken"}, star, nil),
		allow("EcrPullProjectImages", []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"},
			each(s.Names, func(p string) pulumi.StringOutput { return acct.arn("ecr", "repository/"+p) }), nil),
		// Containers (awslogs) and VPC flow logs write to the project's
		// log groups.
		allow("WriteProjectLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams",
			"logs:DescribeLogGroups"},
			each(s.Names, func(p string) pulumi.StringOutput { return acct.arn("logs", "log-group:"+p) }), nil),
		// The release and secrets below the stacks' parameter paths.
		allow("ReadProjectParameters", []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"},
			each(s.Parameters, func(p string) pulumi.StringOutput { return acct.arn("ssm", "parameter"+p) }), nil),
		// The host's rollout receipts below the stacks' parameter paths,
		// and the release bundles in the stacks' release stores (release.go).
		allow("WriteProjectReceipts", []string{"ssm:PutParameter", "ssm:DeleteParameters"},
			each(s.Parameters, func(p string) pulumi.StringOutput {
				return acct.arn("ssm", "parameter"+strings.TrimSuffix(p, "*")+receiptsDir+"/*")
			}), nil),
		allow("ReadProjectBundles", []string{"s3:GetObject"},
			each(s.Names, func(p string) pulumi.StringOutput {
				return pulumi.Sprintf("arn:%s:s3:::%sreleases-*/%s*", acct.Partition, strings.TrimSuffix(p, "*"), bundlePrefix)
			}), nil),
		// The worker's queue.
		allow("UseProjectQueues", []string{"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
			"sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"},
			each(s.Names, func(p string) pulumi.StringOutput { return acct.arn("sqs", p) }), nil),
		// The host's metrics, in the Slipway namespace only.
		allow("PublishSlipwayMetrics", []string{"cloudwatch:PutMetricData"}, star,
			conditions(condition("StringEquals", "cloudwatch:namespace", pulumi.String(MetricsNamespace)))),
		// Session Manager and the SSM agent.
		allow("SsmAgent", SSMAgentActions, star, nil),
	}
	if snapshots {
		// Data Lifecycle Manager's daily snapshots (prod only).
		snapshotARNs := pulumi.StringArray{
			pulumi.Sprintf("arn:%s:ec2:%s::snapshot/*", acct.Partition, acct.Region),
			acct.arn("ec2", "volume/*"), acct.arn("ec2", "instance/*"),
		}
		stmts = append(stmts,
			allow("DlmSnapshots", SnapshotActions, snapshotARNs, nil),
			allow("DlmTagSnapshots", []string{"ec2:CreateTags"}, snapshotARNs[:1], nil),
			allow("DlmDescribe", SnapshotReadActions, star, nil))
	}
	return statements(ctx, opts, stmts...)
}
