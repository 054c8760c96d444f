package foundation

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"strings"

	"slipway/stacks"
)

// MetricsNamespace is the CloudWatch namespace the hosts publish to
// (infra.MetricsNamespace; a test keeps the two equal).
const MetricsNamespace = "Slipway"

// SSMAgentActions are the calls the SSM agent makes with the host role
// (Session Manager, inventory, associations): the actions of AWS's
// AmazonSSMManagedInstanceCore, which the host role attaches, except its
// ssm:GetParameter(s) on "*" (the boundary keeps those to the class's
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
// cross-account copies) is left out of the boundary: the schedule uses
// none of it.
var SnapshotActions = []string{"ec2:CreateSnapshot", "ec2:CreateSnapshots", "ec2:DeleteSnapshot"}

// SnapshotReadActions are the snapshot role's describes (no resource type).
var SnapshotReadActions = []string{
	"ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:DescribeAvailabilityZones",
}

// HostArchiveActions are what a host does with its stack's database
// archive: write and read, never delete. It must equal
// infra.HostArchiveActions (backup.go, issue 14), which the host's grant
// uses; TestRoleBoundaryCoversAppRoles fails when the host asks for more.
var HostArchiveActions = []string{
	"s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:AbortMultipartUpload",
	"s3:ListBucket", "s3:ListBucketVersions",
}

// ArchiveLatestKey and HostArchiveDeleteActions are the host's one delete
// on its archive: s3:DeleteObject on pgBackRest's "latest" key under the
// stanza's backups, which every backup to S3 removes. Without a version id
// that delete only adds a delete marker on the versioned Object Lock
// bucket (no locked version is touched, so the lock does not refuse it).
// They must equal infra.ArchiveLatestKey and infra.HostArchiveDeleteActions.
const ArchiveLatestKey = "pgbackrest/backup/main/latest"

var HostArchiveDeleteActions = []string{"s3:DeleteObject"}

// BackupTag is the tag key the data volume carries for its snapshot
// schedule (infra/data.go), value slipway-<stack>; DLM copies the volume's
// tags (CopyTags) onto every snapshot it makes.
const BackupTag = "slipway-backup"

// RoleBoundaryArgs shapes one class's boundary.
type RoleBoundaryArgs struct {
	Class   stacks.Profile
	Account Account
}

// RoleBoundary is the permissions boundary every role of a class's app
// stacks carries (host, flow logs, snapshots): the most such a role can
// do, whatever policy the class's CI identity puts on it. It is created
// here, by an administrator; the CI policies deny every write to it and
// allow a role's rights to be written only on a role that carries it.
type RoleBoundary struct {
	pulumi.ResourceState

	ARN pulumi.StringOutput
}

// NewRoleBoundary creates the class's boundary under its fixed name.
func NewRoleBoundary(ctx *pulumi.Context, name string, args RoleBoundaryArgs, opts ...pulumi.ResourceOption) (*RoleBoundary, error) {
	b := &RoleBoundary{}
	if err := ctx.RegisterComponentResource("slipway:foundation:RoleBoundary", name, b, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(b)
	s := newScope(args.Class, nil)
	policy, err := iam.NewPolicy(ctx, name, &iam.PolicyArgs{
		Name: pulumi.String(BoundaryName(args.Class)),
		Path: pulumi.String(iamPath),
		Description: pulumi.String("Permissions boundary of the roles of Slipway's " + string(args.Class) +
			" stacks; changed by an administrator only"),
		Policy: roleBoundaryDocument(ctx, parent, s, args.Account),
	}, parent)
	if err != nil {
		return nil, err
	}
	b.ARN = policy.Arn
	return b, ctx.RegisterResourceOutputs(b, pulumi.Map{"arn": policy.Arn})
}

// roleBoundaryDocument is the union of what the host, flow-log and
// snapshot roles of the class's stacks need, on the class's name, path
// and tag patterns. The review class has its own (slipway-pr-* only), so
// a review stack's host can never read dev's parameters.
func roleBoundaryDocument(ctx *pulumi.Context, opts pulumi.InvokeOption, s scope, acct Account) pulumi.StringOutput {
	star := pulumi.StringArray{pulumi.String("*")}
	stmts := []iam.GetPolicyDocumentStatementArgs{
		// The host pulls the class's images (the login token takes "*").
		allow("EcrLogin", []string{"ecr:GetAuthorizationToken"}, star, nil),
		allow("EcrPullProjectImages", []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"},
			each(s.Names, func(p string) pulumi.StringOutput { return acct.arn("ecr", "repository/"+p) }), nil),
		// Containers (awslogs) and VPC flow logs write to the class's
		// log groups.
		allow("WriteProjectLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams",
			"logs:DescribeLogGroups"},
			each(s.Names, func(p string) pulumi.StringOutput { return acct.arn("logs", "log-group:"+p) }), nil),
		// The release and secrets below the class's parameter paths.
		allow("ReadProjectParameters", []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"},
			each(s.Parameters, func(p string) pulumi.StringOutput { return acct.arn("ssm", "parameter"+p) }), nil),
		// The host's rollout receipts below the class's parameter paths,
		// and the release bundles in the stacks' release stores (infra's
		// release.go): a receipt is how `pulumi up` learns the release's
		// health, a bundle object is the release.
		allow("WriteProjectReceipts", []string{"ssm:PutParameter", "ssm:DeleteParameters"},
			each(s.Parameters, func(p string) pulumi.StringOutput {
				return acct.arn("ssm", "parameter"+strings.TrimSuffix(p, "*")+"receipts/*")
			}), nil),
		allow("ReadProjectBundles", []string{"s3:GetObject"},
			each(s.Names, func(p string) pulumi.StringOutput {
				return pulumi.Sprintf("arn:%s:s3:::%sreleases-*/releases/*", acct.Partition, strings.TrimSuffix(p, "*"))
			}), nil),
		// The worker's queue.
		allow("UseProjectQueues", []string{"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
			"sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"},
			each(s.Names, func(p string) pulumi.StringOutput { return acct.arn("sqs", p) }), nil),
		// The RDS master secret (compute=ecs, database=rds): the API's
		// execution role injects it into the db-setup container. RDS names
		// the secret rds!db-<id> and tags it with its instance's ARN, so
		// only the class's own instances' secrets are within reach.
		allow("ReadOwnDatabaseMasterSecret", []string{"secretsmanager:GetSecretValue"},
			pulumi.StringArray{acct.arn("secretsmanager", "secret:rds!db-*")},
			conditions(condition("StringLike", "aws:ResourceTag/"+rdsSecretTag,
				each(s.Names, func(p string) pulumi.StringOutput { return acct.arn("rds", "db:"+p) })...))),
		// The host's metrics, in the Slipway namespace only.
		allow("PublishSlipwayMetrics", []string{"cloudwatch:PutMetricData"}, star,
			conditions(condition("StringEquals", "cloudwatch:namespace", pulumi.String(MetricsNamespace)))),
		// Session Manager and the SSM agent.
		allow("SsmAgent", SSMAgentActions, star, nil),
	}
	if s.Class != stacks.Review {
		// The database archive (infra's backup.go): the host writes and
		// reads its own stack's archive bucket and deletes nothing there but
		// pgBackRest's latest key (a delete marker; see ArchiveLatestKey).
		archive := func(suffix string) func(st string) pulumi.StringOutput {
			return func(st string) pulumi.StringOutput {
				return pulumi.Sprintf("arn:%s:s3:::%s-%s-backup-*%s", acct.Partition, AppProject, st, suffix)
			}
		}
		stmts = append(stmts, allow("HostOwnArchive", HostArchiveActions,
			join(each(s.Stacks, archive("")), each(s.Stacks, archive("/*"))), nil),
			// Its own statement, on the one key of each stack's archive.
			allow("HostOwnArchiveLatest", HostArchiveDeleteActions, each(s.Stacks, archive("/"+ArchiveLatestKey)), nil))
	}
	if s.Class != stacks.Review {
		// Data Lifecycle Manager's daily snapshots (prod) and AWS Backup's
		// (prod, and dev when its backups are on), on what
		// this class's stacks made alone: snapshots of their own volumes
		// and instances (tagged stack=<stack>), tags on a snapshot only
		// while it is new (untagged) or theirs, and deletion (retention)
		// only of snapshots DLM made for this class's backup schedule,
		// which carry the volume's stack and backup tags (CopyTags).
		own := func(key string) iam.GetPolicyDocumentStatementConditionArray {
			return conditions(condition("StringLike", key, strs(s.Stacks...)...))
		}
		snapshots := pulumi.StringArray{pulumi.Sprintf("arn:%s:ec2:%s::snapshot/*", acct.Partition, acct.Region)}
		backups := []pulumi.StringInput{}
		for _, st := range s.Stacks {
			backups = append(backups, pulumi.String(AppProject+"-"+st))
		}
		stmts = append(stmts,
			allow("DlmSnapshotOwnVolumes", []string{"ec2:CreateSnapshot", "ec2:CreateSnapshots"},
				pulumi.StringArray{acct.arn("ec2", "volume/*"), acct.arn("ec2", "instance/*")}, own("aws:ResourceTag/stack")),
			allow("DlmCreateSnapshots", []string{"ec2:CreateSnapshot", "ec2:CreateSnapshots"}, snapshots, nil),
			allow("DlmTagSnapshots", []string{"ec2:CreateTags"}, snapshots,
				conditions(condition("StringLikeIfExists", "aws:ResourceTag/stack", strs(s.Stacks...)...))),
			allow("DlmExpireOwnBackups", []string{"ec2:DeleteSnapshot"}, snapshots,
				append(own("aws:ResourceTag/stack"), condition("StringLike", "aws:ResourceTag/"+BackupTag, backups...))),
			allow("DlmDescribe", SnapshotReadActions, star, nil),
			// AWS Backup's role: the vault it copies into, and tag reads.
			allow("BackupIntoOwnVaults", []string{"backup:DescribeBackupVault", "backup:CopyIntoBackupVault"},
				each(s.Names, func(p string) pulumi.StringOutput { return acct.arn("backup", "backup-vault:"+p) }), nil),
			allow("BackupReadTags", []string{"tag:GetResources", "ec2:DescribeTags"}, star, nil))
	}
	return statements(ctx, opts, stmts...)
}
