package foundation

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// UnscopableDeployActions are the actions the deploy policies grant on
// "Resource": "*", because AWS offers no resource-level permission for
// them (the Service Authorization Reference lists no resource type):
// describes and lists, the ECR login token, creates whose resource does
// not exist yet, and CloudWatch Logs' account resource policy (vended log
// delivery to a log group writes it; the API takes no resource ARN).
// cloudfront:ListDistributions is deliberately absent: its summaries carry
// every distribution's origin custom headers, another environment's
// origin secret included, and nothing the program does needs it.
// Tests hold the policies to this list.
var UnscopableDeployActions = []string{
	"ec2:Describe*",
	"ecr:GetAuthorizationToken",
	"ssm:DescribeParameters", "ssm:ListDocuments", "ssm:ListAssociations", "ssm:ListCommands", "ssm:ListCommandInvocations",
	"ssm:GetCommandInvocation",
	"logs:DescribeLogGroups", "logs:DescribeResourcePolicies", "logs:PutResourcePolicy",
	"logs:DescribeDeliveries", "logs:DescribeDeliverySources", "logs:DescribeDeliveryDestinations",
	"sqs:ListQueues",
	"sns:ListTopics",
	"cloudwatch:DescribeAlarms", "cloudwatch:ListDashboards",
	"kms:CreateKey", "kms:ListKeys", "kms:ListAliases",
	"dlm:GetLifecyclePolicies", "dlm:CreateLifecyclePolicy",
	"acm:RequestCertificate", "acm:ListCertificates",
	"route53:ListHostedZones", "route53:ListHostedZonesByName",
	"cloudfront:ListCachePolicies", "cloudfront:ListOriginRequestPolicies",
	"cloudfront:ListResponseHeadersPolicies", "cloudfront:ListOriginAccessControls", "cloudfront:ListFunctions",
	// Creating a backup vault mounts its storage (no resource type).
	"backup-storage:MountCapsule",
}

// UnscopablePreviewActions are the read-only subset the preview role gets
// on "*": what `pulumi preview` (and a refresh) reads, no create.
var UnscopablePreviewActions = []string{
	"ec2:Describe*",
	"ecr:GetAuthorizationToken",
	"ssm:DescribeParameters", "ssm:ListDocuments", "ssm:ListAssociations",
	"logs:DescribeLogGroups", "logs:DescribeResourcePolicies",
	"logs:DescribeDeliveries", "logs:DescribeDeliverySources", "logs:DescribeDeliveryDestinations",
	"sqs:ListQueues", "sns:ListTopics", "cloudwatch:DescribeAlarms", "cloudwatch:ListDashboards",
	"kms:ListKeys", "kms:ListAliases", "dlm:GetLifecyclePolicies", "acm:ListCertificates",
	"route53:ListHostedZones", "route53:ListHostedZonesByName",
	"cloudfront:ListCachePolicies", "cloudfront:ListOriginRequestPolicies",
	"cloudfront:ListResponseHeadersPolicies", "cloudfront:ListOriginAccessControls", "cloudfront:ListFunctions",
}

// ec2Creates create a resource and tag it in the same call
// (tag-on-create). IAM evaluates the new resource with the request's tags
// (aws:RequestTag) and the existing resources the call names (the VPC of
// a subnet, the subnet and security groups of an instance) with their own
// (aws:ResourceTag): both must be this identity's stacks.
var ec2Creates = []string{
	"RunInstances", "CreateVpc", "CreateSubnet", "CreateInternetGateway", "CreateRouteTable",
	"CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
	"AllocateAddress", "CreateVolume", "CreateFlowLogs",
}

// ec2OwnChanges end, change, attach, detach or re-link existing resources:
// every resource they name must carry one of the identity's stack tags
// (default tags put project and stack on every resource at creation).
// This covers what the old policy left to the region alone: addresses
// (AssociateAddress and DisassociateAddress evaluate the address and the
// instance), routes and route tables, subnets, security groups and their
// rules, volumes and instances.
var ec2OwnChanges = []string{
	"ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances", "ec2:RebootInstances",
	"ec2:ModifyInstanceAttribute", "ec2:ModifyInstanceMetadataOptions", "ec2:ModifyInstanceCreditSpecification",
	"ec2:MonitorInstances", "ec2:UnmonitorInstances",
	"ec2:ModifyVolume", "ec2:AttachVolume", "ec2:DetachVolume", "ec2:DeleteVolume",
	"ec2:ModifyVpcAttribute", "ec2:ModifySubnetAttribute", "ec2:ModifySecurityGroupRules",
	"ec2:AttachInternetGateway", "ec2:DetachInternetGateway",
	"ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute", "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable",
	"ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
	"ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
	"ec2:AssociateAddress", "ec2:DisassociateAddress", "ec2:ReleaseAddress",
	"ec2:DeleteVpc", "ec2:DeleteSubnet", "ec2:DeleteInternetGateway", "ec2:DeleteRouteTable", "ec2:DeleteSecurityGroup",
	"ec2:DeleteFlowLogs", "ec2:CreateTags", "ec2:DeleteTags",
}

// ciPolicyParts names the managed policies of a deploy role, by concern:
// one managed policy holds at most 6,144 characters, and a deploy role's
// whole is several times that (a role takes up to 10 by default, and so
// does the CI user's group: nine leaves one to spare). compute and
// database are the ECS + RDS profile's (computepolicy.go).
var ciPolicyParts = map[roleKind][]string{
	deploys:  {"ec2", "services", "edge", "monitoring", "backup", "identity", "state", "compute", "database"},
	previews: {"read", "read-own", "read-compute", "state"},
}

// ciPolicyArgs is what one role's documents are built from.
type ciPolicyArgs struct {
	Role  ciRole
	Scope scope
	State *StateBackend
	Acct  Account
}

// ciPolicyDocuments renders one CI role's managed policies, by part.
func ciPolicyDocuments(ctx *pulumi.Context, opts pulumi.InvokeOption, a ciPolicyArgs) map[string]pulumi.StringOutput {
	var parts map[string][]iam.GetPolicyDocumentStatementArgs
	if a.Role.Kind == previews {
		parts = previewStatements(a)
	} else {
		parts = deployStatements(a)
	}
	// Every part carries the guards, so no attachment order or a part
	// detached by mistake can leave an allow without them.
	out := map[string]pulumi.StringOutput{}
	for name, stmts := range parts {
		if name == "identity" || name == "read" {
			stmts = append(stmts, guardStatements(a)...)
		}
		out[name] = statements(ctx, opts, stmts...)
	}
	return out
}

// helpers over a scope.
type arns struct {
	s    scope
	acct Account
}

func (x arns) names(service, prefix string) pulumi.StringArray {
	return each(x.s.Names, func(p string) pulumi.StringOutput { return x.acct.arn(service, prefix+p) })
}

func (x arns) namesBoth(service, prefix string) pulumi.StringArray {
	out := pulumi.StringArray{}
	for _, p := range x.s.Names {
		out = append(out, x.acct.bothRegions(service, prefix+p)...)
	}
	return out
}

func (x arns) iam(kind string) pulumi.StringArray {
	return each(x.s.Names, func(p string) pulumi.StringOutput { return x.acct.globalARN("iam", kind+iamPath+p) })
}

func (x arns) buckets() pulumi.StringArray {
	return join(each(x.s.Names, func(p string) pulumi.StringOutput { return pulumi.Sprintf("arn:%s:s3:::%s", x.acct.Partition, p) }),
		each(x.s.Names, func(p string) pulumi.StringOutput { return pulumi.Sprintf("arn:%s:s3:::%s/*", x.acct.Partition, p) }))
}

func (x arns) documents() pulumi.StringArray {
	return each(x.s.Documents, func(d string) pulumi.StringOutput { return x.acct.arn("ssm", "document/"+d) })
}

func (x arns) cloudfront(kind string) pulumi.StringOutput {
	return x.acct.globalARN("cloudfront", kind+"/*")
}

func (x arns) certificates() pulumi.StringArray {
	return pulumi.StringArray{x.acct.arnIn(GlobalRegion, "acm", "certificate/*")}
}

func (x arns) zone() pulumi.StringArray {
	return pulumi.StringArray{pulumi.Sprintf("arn:%s:route53:::hostedzone/%s", x.acct.Partition, x.s.Zone.ZoneID)}
}

func (x arns) change() pulumi.StringArray {
	return pulumi.StringArray{pulumi.Sprintf("arn:%s:route53:::change/*", x.acct.Partition)}
}

func (x arns) boundary() pulumi.StringArray {
	return pulumi.StringArray{x.acct.globalARN("iam", "policy"+iamPath+x.s.Boundary)}
}

// tag conditions on the scope's stack patterns.
func (x arns) own() iam.GetPolicyDocumentStatementConditionArray {
	return conditions(condition("StringLike", "aws:ResourceTag/stack", strs(x.s.Stacks...)...))
}

// newTagged is a create's condition: the request tags the new resource as
// one of the scope's stacks, and any existing resource the call names is
// the scope's too (absent on the new resource itself, hence IfExists), so
// an existing resource of another stack can be neither re-tagged into
// reach nor used as a parent.
func (x arns) newTagged() iam.GetPolicyDocumentStatementConditionArray {
	return conditions(condition("StringLike", "aws:RequestTag/stack", strs(x.s.Stacks...)...),
		condition("StringLikeIfExists", "aws:ResourceTag/stack", strs(x.s.Stacks...)...))
}

// ownKeepingTag is a change of an own resource that, if it sets the
// stack tag, sets it to one of the scope's stacks.
func (x arns) ownKeepingTag() iam.GetPolicyDocumentStatementConditionArray {
	return append(x.own(), condition("StringLikeIfExists", "aws:RequestTag/stack", strs(x.s.Stacks...)...))
}

// deployStatements are a deploy role's allows (the guards are added by
// ciPolicyDocuments), by part.
func deployStatements(a ciPolicyArgs) map[string][]iam.GetPolicyDocumentStatementArgs {
	x := arns{a.Scope, a.Acct}
	acct := a.Acct
	star := pulumi.StringArray{pulumi.String("*")}
	ec2All := pulumi.StringArray{acct.arn("ec2", "*")}

	ec2 := []iam.GetPolicyDocumentStatementArgs{
		allow("Unscopable", UnscopableDeployActions, star, nil),
		// Creates: the new resource tagged as this class's, any parent
		// the class's own.
		allow("Ec2CreateTagged", prefixed("ec2:", ec2Creates), ec2All, x.newTagged()),
		// Tags go on at creation only through a create above.
		allow("Ec2TagOnCreate", []string{"ec2:CreateTags"}, ec2All,
			append(x.newTagged(), condition("StringEquals", "ec2:CreateAction", strs(ec2Creates...)...))),
		// Instances boot from AWS's public images, which carry no tags.
		allow("Ec2RunPublicImages", []string{"ec2:RunInstances"},
			pulumi.StringArray{pulumi.Sprintf("arn:%s:ec2:%s::image/*", acct.Partition, acct.Region)}, nil),
		allow("Ec2ChangeOwn", append(append([]string{}, ec2OwnChanges...), prefixed("ec2:", ec2Creates)...), ec2All, x.ownKeepingTag()),
		// The VPC's default security group comes untagged from CreateVpc;
		// adopting it tags it. Untagged security groups only.
		allow("Ec2AdoptDefaultSecurityGroup", []string{"ec2:CreateTags"}, pulumi.StringArray{acct.arn("ec2", "security-group/*")},
			conditions(condition("StringLike", "aws:RequestTag/stack", strs(a.Scope.Stacks...)...),
				condition("Null", "aws:ResourceTag/stack", pulumi.String("true")))),
		// The CloudFront origin-facing prefix list is AWS's (owner "aws").
		allow("Ec2ReadAwsPrefixLists", []string{"ec2:GetManagedPrefixListEntries"},
			pulumi.StringArray{pulumi.Sprintf("arn:%s:ec2:%s:aws:prefix-list/*", acct.Partition, acct.Region)}, nil),
		// A data volume restored from a snapshot (dataVolumeSnapshotId):
		// CreateVolume is also checked on the snapshot, which must be one
		// of the class's (its backups carry the volume's stack tag), so no
		// class can restore another's data.
		allow("Ec2VolumeFromOwnSnapshot", []string{"ec2:CreateVolume"},
			pulumi.StringArray{pulumi.Sprintf("arn:%s:ec2:%s::snapshot/*", acct.Partition, acct.Region)}, x.own()),
	}

	services := []iam.GetPolicyDocumentStatementArgs{
		// Snapshot schedule (prod), by tag: DLM policies have ids only.
		allow("DlmOwn", []string{"dlm:GetLifecyclePolicy", "dlm:UpdateLifecyclePolicy", "dlm:DeleteLifecyclePolicy",
			"dlm:TagResource", "dlm:UntagResource", "dlm:ListTagsForResource"},
			pulumi.StringArray{acct.arn("dlm", "policy/*")}, x.ownKeepingTag()),
		allow("TagOnCreate", []string{"dlm:TagResource", "kms:TagResource"},
			append(pulumi.StringArray{acct.arn("dlm", "policy/*")}, acct.bothRegions("kms", "key/*")...), x.newTagged()),
		// SSM: the class's parameters (release, secrets).
		allow("SsmParameters", []string{"ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters",
			"ssm:GetParametersByPath", "ssm:DeleteParameter", "ssm:DeleteParameters", "ssm:AddTagsToResource",
			"ssm:RemoveTagsFromResource", "ssm:ListTagsForResource"},
			each(a.Scope.Parameters, func(p string) pulumi.StringOutput { return acct.arn("ssm", "parameter"+p) }), nil),
		// SSM: the class's host documents, read, associated and sent,
		// never created, changed or deleted (the guards deny that on
		// every document). For CreateAssociation and SendCommand with
		// Targets IAM evaluates only the document (and the association),
		// never the instances, so the targets cannot be scoped here:
		// what keeps a dev document off a prod host is the document
		// itself, which refuses a host whose stack tag is not its class.
		allow("SsmUseClassDocuments", []string{"ssm:CreateAssociation", "ssm:UpdateAssociation", "ssm:SendCommand",
			"ssm:DescribeDocument", "ssm:GetDocument", "ssm:DescribeDocumentPermission", "ssm:ListTagsForResource"},
			x.documents(), nil),
		// A new association: the document above is the gate (the
		// association resource itself names nothing); its tags must be
		// the class's.
		allow("SsmCreateAssociations", []string{"ssm:CreateAssociation"},
			pulumi.StringArray{acct.arn("ssm", "association/*")}, nil),
		allow("SsmTagNewAssociations", []string{"ssm:AddTagsToResource"},
			pulumi.StringArray{acct.arn("ssm", "association/*")}, x.newTagged()),
		allow("SsmOwnAssociations", []string{"ssm:UpdateAssociation", "ssm:DeleteAssociation", "ssm:DescribeAssociation",
			"ssm:DescribeAssociationExecutions", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource"},
			pulumi.StringArray{acct.arn("ssm", "association/*")}, x.ownKeepingTag()),
		// SendCommand with InstanceIds also evaluates the instances: the
		// class's own.
		allow("SsmSendToOwnHosts", []string{"ssm:SendCommand"}, pulumi.StringArray{acct.arn("ec2", "instance/*")}, x.own()),
		// ECR: the class's repositories, images pushed by `pulumi up`.
		allow("EcrRepositories", []string{"ecr:CreateRepository", "ecr:DeleteRepository", "ecr:DescribeRepositories",
			"ecr:PutLifecyclePolicy", "ecr:GetLifecyclePolicy", "ecr:DeleteLifecyclePolicy",
			"ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability", "ecr:ListTagsForResource",
			"ecr:TagResource", "ecr:UntagResource", "ecr:SetRepositoryPolicy", "ecr:GetRepositoryPolicy",
			"ecr:DeleteRepositoryPolicy", "ecr:DescribeImages", "ecr:ListImages", "ecr:BatchGetImage",
			"ecr:BatchDeleteImage", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
			"ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"},
			x.names("ecr", "repository/"), nil),
		// S3: the SPA buckets and their objects (prefix wildcards: some
		// thirty configuration calls, on these buckets only).
		allow("S3OwnBuckets", []string{"s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteBucketPolicy",
			"s3:DeleteBucketOwnershipControls", "s3:Get*", "s3:List*", "s3:Put*", "s3:DeleteObject", "s3:DeleteObjectVersion"},
			x.buckets(), nil),
		// KMS keys (the alarm topics' keys) have ids only: by tag.
		allow("KmsOwnKeys", []string{"kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus",
			"kms:EnableKeyRotation", "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource",
			"kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion"}, acct.bothRegions("kms", "key/*"), x.ownKeepingTag()),
	}

	edge := []iam.GetPolicyDocumentStatementArgs{
		// CloudFront: functions by name; distributions (ids only) by tag,
		// so another environment's distribution (and the origin secret
		// its config holds) is out of reach; OAC and policies by type.
		allow("CloudFrontFunctions", []string{"cloudfront:CreateFunction", "cloudfront:UpdateFunction",
			"cloudfront:DeleteFunction", "cloudfront:DescribeFunction", "cloudfront:GetFunction", "cloudfront:PublishFunction"},
			each(a.Scope.Names, func(p string) pulumi.StringOutput { return acct.globalARN("cloudfront", "function/"+p) }), nil),
		allow("CloudFrontCreateDistributions", []string{"cloudfront:CreateDistribution", "cloudfront:CreateDistributionWithTags",
			"cloudfront:TagResource"}, pulumi.StringArray{x.cloudfront("distribution")}, x.newTagged()),
		allow("CloudFrontOwnDistributions", []string{"cloudfront:GetDistribution", "cloudfront:GetDistributionConfig",
			"cloudfront:UpdateDistribution", "cloudfront:DeleteDistribution", "cloudfront:ListTagsForResource",
			"cloudfront:TagResource", "cloudfront:UntagResource", "cloudfront:CreateInvalidation", "cloudfront:GetInvalidation",
			"cloudfront:AllowVendedLogDeliveryForResource"},
			pulumi.StringArray{x.cloudfront("distribution")}, x.ownKeepingTag()),
		allow("CloudFrontAccessControlAndPolicies", []string{"cloudfront:CreateOriginAccessControl", "cloudfront:GetOriginAccessControl",
			"cloudfront:GetOriginAccessControlConfig", "cloudfront:UpdateOriginAccessControl", "cloudfront:DeleteOriginAccessControl",
			"cloudfront:GetCachePolicy", "cloudfront:GetOriginRequestPolicy", "cloudfront:GetResponseHeadersPolicy",
			"cloudfront:CreateResponseHeadersPolicy", "cloudfront:UpdateResponseHeadersPolicy", "cloudfront:DeleteResponseHeadersPolicy",
			"cloudfront:CreateOriginRequestPolicy", "cloudfront:UpdateOriginRequestPolicy", "cloudfront:DeleteOriginRequestPolicy"},
			pulumi.StringArray{x.cloudfront("origin-access-control"), x.cloudfront("cache-policy"),
				x.cloudfront("origin-request-policy"), x.cloudfront("response-headers-policy")}, nil),
		// ACM certificates (us-east-1, ids only), by tag.
		allow("AcmOwnCertificates", []string{"acm:DescribeCertificate", "acm:DeleteCertificate", "acm:ListTagsForCertificate",
			"acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate"}, x.certificates(), x.ownKeepingTag()),
		allow("AcmTagOnCreate", []string{"acm:AddTagsToCertificate"}, x.certificates(), x.newTagged()),
	}
	if a.Scope.Zone != nil {
		edge = append(edge, route53Statements(x, false)...)
	}

	monitoring := []iam.GetPolicyDocumentStatementArgs{
		// Queues, log groups, alarms, dashboards, topics: by name.
		allow("SqsOwnQueues", []string{"sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes",
			"sqs:SetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags", "sqs:TagQueue", "sqs:UntagQueue",
			"sqs:ListDeadLetterSourceQueues"}, x.names("sqs", ""), nil),
		allow("LogsOwnGroups", []string{"logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
			"logs:DeleteRetentionPolicy", "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource",
			"logs:TagLogGroup", "logs:ListTagsLogGroup"}, x.namesBoth("logs", "log-group:"), nil),
		// CloudFront access logs (vended delivery): sources and
		// destinations by name; deliveries have generated ids only.
		allow("LogsOwnDeliveries", []string{"logs:PutDeliverySource", "logs:GetDeliverySource", "logs:DeleteDeliverySource",
			"logs:PutDeliveryDestination", "logs:GetDeliveryDestination", "logs:DeleteDeliveryDestination",
			"logs:CreateDelivery", "logs:GetDelivery", "logs:DeleteDelivery", "logs:UpdateDeliveryConfiguration",
			"logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource"},
			join(x.namesBoth("logs", "delivery-source:"), x.namesBoth("logs", "delivery-destination:"),
				acct.bothRegions("logs", "delivery:*")), nil),
		allow("CloudWatchOwnAlarms", []string{"cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms",
			"cloudwatch:TagResource", "cloudwatch:UntagResource", "cloudwatch:ListTagsForResource"},
			x.namesBoth("cloudwatch", "alarm:"), nil),
		allow("CloudWatchOwnDashboards", []string{"cloudwatch:GetDashboard", "cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"},
			each(a.Scope.Dashboards, func(n string) pulumi.StringOutput { return acct.globalARN("cloudwatch", "dashboard/"+n) }), nil),
		allow("SnsOwnTopics", []string{"sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes",
			"sns:SetTopicAttributes", "sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes",
			"sns:SetSubscriptionAttributes", "sns:ListSubscriptionsByTopic", "sns:TagResource", "sns:UntagResource",
			"sns:ListTagsForResource"}, x.namesBoth("sns", ""), nil),
	}

	backup := backupStatements(a, x)

	// IAM: only roles and instance profiles named for the class's stacks
	// under the project path. A role's rights may be written only on a
	// role that carries the class's boundary, so whatever the identity
	// writes into a role, the role can do no more than the boundary
	// allows. No iam:UpdateAssumeRolePolicy (the guards deny it): a
	// role's trust, once created, is an administrator's to change.
	withinBoundary := conditions(condition("StringEquals", "iam:PermissionsBoundary", x.boundary()[0]))
	identity := []iam.GetPolicyDocumentStatementArgs{
		allow("IamRoles", []string{"iam:DeleteRole", "iam:GetRole", "iam:UpdateRole", "iam:UpdateRoleDescription",
			"iam:TagRole", "iam:UntagRole", "iam:ListRoleTags", "iam:GetRolePolicy", "iam:ListRolePolicies",
			"iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole"}, x.iam("role"), nil),
		allow("IamRolesWithinBoundary", []string{"iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
			"iam:PutRolePermissionsBoundary"}, x.iam("role"), withinBoundary),
		// Managed policies: only AWS's three the host, the snapshots and
		// AWS Backup use, and only on a role within the boundary.
		allow("IamAttachKnownPolicies", []string{"iam:AttachRolePolicy", "iam:DetachRolePolicy"}, x.iam("role"),
			append(conditions(condition("ArnEquals", "iam:PolicyARN",
				pulumi.Sprintf("arn:%s:iam::aws:policy/AmazonSSMManagedInstanceCore", acct.Partition),
				pulumi.Sprintf("arn:%s:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole", acct.Partition),
				pulumi.Sprintf("arn:%s:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup", acct.Partition))),
				withinBoundary...)),
		allow("IamInstanceProfiles", []string{"iam:CreateInstanceProfile", "iam:DeleteInstanceProfile",
			"iam:GetInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
			"iam:TagInstanceProfile", "iam:UntagInstanceProfile", "iam:ListInstanceProfileTags"}, x.iam("instance-profile"), nil),
		// Roles go only to the services Slipway gives them to.
		allow("IamPassRoles", []string{"iam:PassRole"}, x.iam("role"),
			conditions(condition("StringEquals", "iam:PassedToService", pulumi.String("ec2.amazonaws.com"),
				pulumi.String("vpc-flow-logs.amazonaws.com"), pulumi.String("dlm.amazonaws.com"), pulumi.String("backup.amazonaws.com")))),
		// IamPassRoles matches the ECS task roles too: they go to ECS
		// tasks only (the compute part allows that).
		taskRoleDeny(x),
		// The app stacks look their boundary up by ARN (infra/boundary.go).
		allow("IamReadBoundary", []string{"iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"}, x.boundary(), nil),
	}
	if a.Scope.Class.ProtectsData() {
		// Prod's data and backups are beyond CI: protect and
		// retainOnDelete are Pulumi client settings, so IAM refuses the
		// calls themselves. Prod's one EBS volume is the data volume
		// (the root volume goes with its instance, not by DeleteVolume);
		// the snapshots are its backups, and shortening or deleting the
		// schedule would let DLM delete them. An administrator does these
		// (docs/operations.md); replacing prod's host detaches the volume,
		// so that too is an administrator's run.
		identity = append(identity,
			deny("DenyLosingProdData", []string{"ec2:DetachVolume", "ec2:DeleteVolume", "ec2:DeleteSnapshot",
				"ec2:ModifySnapshotAttribute", "dlm:UpdateLifecyclePolicy", "dlm:DeleteLifecyclePolicy"},
				pulumi.StringArray{acct.arn("ec2", "volume/*"), pulumi.Sprintf("arn:%s:ec2:%s::snapshot/*", acct.Partition, acct.Region),
					acct.arn("dlm", "policy/*")}, nil))
	}
	return map[string][]iam.GetPolicyDocumentStatementArgs{
		"ec2": ec2, "services": services, "edge": append(edge, firewallStatements(x)...), "monitoring": monitoring, "backup": backup,
		"identity": identity, "state": stateStatements(a),
		"compute": computeStatements(a, x), "database": databaseStatements(a, x),
	}
}

// backupStatements are the rights of the database backups (infra's
// backup.go, issue 14): the archive bucket is one of the class's
// slipway-<stack>-* buckets (S3OwnBuckets); here AWS Backup's vault, plan
// and selection, and the vault's default key through AWS Backup. Vaults
// are named slipway-<stack>-*; plans have generated ids and go by their
// stack tag. Prod keeps its backups: its role may not delete a vault, its
// lock, a plan, a selection or a recovery point, nor shorten one's
// lifecycle or open the vault's access policy, and may not delete the
// archive bucket or shorten or bypass an object's retention.
func backupStatements(a ciPolicyArgs, x arns) []iam.GetPolicyDocumentStatementArgs {
	acct := a.Acct
	vaults := x.names("backup", "backup-vault:")
	plans := pulumi.StringArray{acct.arn("backup", "backup-plan:*")}
	vaultActions := []string{"backup:CreateBackupVault", "backup:DescribeBackupVault", "backup:PutBackupVaultLockConfiguration",
		"backup:ListTags", "backup:TagResource", "backup:UntagResource"}
	planActions := []string{"backup:GetBackupPlan", "backup:UpdateBackupPlan", "backup:CreateBackupSelection",
		"backup:GetBackupSelection", "backup:ListTags", "backup:TagResource", "backup:UntagResource"}
	prod := a.Scope.Class.ProtectsData()
	if !prod {
		vaultActions = append(vaultActions, "backup:DeleteBackupVault", "backup:DeleteBackupVaultLockConfiguration")
		planActions = append(planActions, "backup:DeleteBackupPlan", "backup:DeleteBackupSelection")
	}
	out := []iam.GetPolicyDocumentStatementArgs{
		allow("BackupOwnVaults", vaultActions, vaults, nil),
		// A new plan selects nothing until a selection is added, which
		// needs the plan's stack tag (BackupOwnPlans).
		allow("BackupCreatePlans", []string{"backup:CreateBackupPlan"}, plans, nil),
		allow("BackupTagNewPlans", []string{"backup:TagResource"}, plans, x.newTagged()),
		allow("BackupOwnPlans", planActions, plans, x.ownKeepingTag()),
		// The vault's default key (aws/backup), only through AWS Backup.
		allow("BackupDefaultKey", []string{"kms:CreateGrant", "kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt", "kms:RetireGrant"},
			pulumi.StringArray{acct.arn("kms", "key/*")},
			conditions(condition("StringEquals", "kms:ViaService", pulumi.String("backup."+acct.Region+".amazonaws.com")))),
	}
	archives := join(each(a.Scope.Stacks, func(st string) pulumi.StringOutput {
		return pulumi.Sprintf("arn:%s:s3:::%s-%s-backup-*", acct.Partition, AppProject, st)
	}), each(a.Scope.Stacks, func(st string) pulumi.StringOutput {
		return pulumi.Sprintf("arn:%s:s3:::%s-%s-backup-*/*", acct.Partition, AppProject, st)
	}))
	// No CI identity bypasses an archive's governance lock.
	out = append(out, deny("DenyBypassingArchiveLocks", []string{"s3:BypassGovernanceRetention"}, archives, nil))
	if prod {
		out = append(out,
			deny("DenyLosingProdBackups", []string{"backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle",
				"backup:DeleteBackupVault", "backup:DeleteBackupVaultLockConfiguration", "backup:DeleteBackupPlan",
				"backup:DeleteBackupSelection", "backup:PutBackupVaultAccessPolicy", "backup:DisassociateRecoveryPoint"},
				pulumi.StringArray{pulumi.String("*")}, nil),
			deny("DenyLosingProdArchive", []string{"s3:DeleteBucket", "s3:PutObjectRetention", "s3:DeleteObject",
				"s3:DeleteObjectVersion"}, archives, nil))
	}
	return out
}

// route53Statements confine Route 53 to the class's zone and, for
// changes, to record names at or below the class's domain. IAM evaluates
// route53:ChangeResourceRecordSets on the hosted zone and offers the
// normalized record names of the change batch as a multivalued key:
// ForAllValues requires every name of the batch to match, and the Null
// test refuses a request without the key (ForAllValues alone would pass
// an empty set).
func route53Statements(x arns, readOnly bool) []iam.GetPolicyDocumentStatementArgs {
	reads := []string{"route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:ListTagsForResource"}
	out := []iam.GetPolicyDocumentStatementArgs{
		allow("Route53ReadClassZone", reads, x.zone(), nil),
		allow("Route53Changes", []string{"route53:GetChange"}, x.change(), nil),
	}
	if readOnly {
		return out
	}
	d := x.s.Zone.Domain
	return append(out, allow("Route53ClassRecords", []string{"route53:ChangeResourceRecordSets"}, x.zone(),
		conditions(
			condition("ForAllValues:StringLike", "route53:ChangeResourceRecordSetsNormalizedRecordNames",
				pulumi.String(d), pulumi.String("*."+d)),
			condition("Null", "route53:ChangeResourceRecordSetsNormalizedRecordNames", pulumi.String("false")),
		)))
}

// stateStatements are a role's rights on its class's state bucket and
// key: a deploy role reads and writes the state; the preview role reads
// it and writes only the lock (pulumi preview takes one).
func stateStatements(a ciPolicyArgs) []iam.GetPolicyDocumentStatementArgs {
	bucket := pulumi.StringArray{a.State.BucketARN}
	key := pulumi.StringArray{a.State.KeyARN}
	list := allow("StateList", []string{"s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketVersioning"}, bucket, nil)
	if a.Role.Kind == previews {
		return []iam.GetPolicyDocumentStatementArgs{list,
			allow("StateRead", []string{"s3:GetObject"}, pulumi.StringArray{pulumi.Sprintf("%s/*", a.State.BucketARN)}, nil),
			allow("StateLock", []string{"s3:PutObject", "s3:DeleteObject"},
				pulumi.StringArray{pulumi.Sprintf("%s/.pulumi/locks/*", a.State.BucketARN)}, nil),
			// Decrypt the class's own config and state; the data key
			// encrypts the lock object (SSE-KMS).
			allow("StateKey", []string{"kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"}, key, nil),
		}
	}
	return []iam.GetPolicyDocumentStatementArgs{list,
		allow("StateReadWrite", []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
			pulumi.StringArray{pulumi.Sprintf("%s/*", a.State.BucketARN)}, nil),
		allow("StateKey", keyUse, key, nil),
	}
}

// previewStatements are the preview role's: reads of the class's
// resources and of what the program's invokes ask, no write anywhere but
// the state lock. No parameter read below secrets/ (the preview role
// runs a pull request's code).
func previewStatements(a ciPolicyArgs) map[string][]iam.GetPolicyDocumentStatementArgs {
	x := arns{a.Scope, a.Acct}
	acct := a.Acct
	star := pulumi.StringArray{pulumi.String("*")}
	read := []iam.GetPolicyDocumentStatementArgs{
		allow("Unscopable", UnscopablePreviewActions, star, nil),
		allow("Ec2ReadAwsPrefixLists", []string{"ec2:GetManagedPrefixListEntries"},
			pulumi.StringArray{pulumi.Sprintf("arn:%s:ec2:%s:aws:prefix-list/*", acct.Partition, acct.Region)}, nil),
		allow("ReadReleaseParameters", []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:ListTagsForResource"},
			each(a.Scope.Stacks, func(st string) pulumi.StringOutput {
				return acct.arn("ssm", "parameter/"+AppProject+"/"+st+"/release/*")
			}), nil),
		// The rollout receipts the program reads back, and the release's
		// parameters it reads for the attempt the last rollout began
		// (infra's release.go): a release's id, bucket, attempt and health,
		// never a secret (those live under secrets/, not below release).
		allow("ReadReceipts", []string{"ssm:GetParametersByPath"},
			append(each(a.Scope.Stacks, func(st string) pulumi.StringOutput {
				return acct.arn("ssm", "parameter/"+AppProject+"/"+st+"/receipts")
			}), each(a.Scope.Stacks, func(st string) pulumi.StringOutput {
				return acct.arn("ssm", "parameter/"+AppProject+"/"+st+"/release")
			})...), nil),
	}
	own := []iam.GetPolicyDocumentStatementArgs{
		allow("ReadNamed", []string{"ecr:DescribeRepositories", "ecr:ListTagsForResource", "ecr:GetLifecyclePolicy",
			"ecr:DescribeImages", "ecr:BatchGetImage", "ecr:GetRepositoryPolicy",
			"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags",
			"logs:ListTagsForResource", "logs:ListTagsLogGroup", "cloudwatch:ListTagsForResource",
			"sns:GetTopicAttributes", "sns:ListTagsForResource", "sns:GetSubscriptionAttributes", "sns:ListSubscriptionsByTopic"},
			join(x.names("ecr", "repository/"), x.names("sqs", ""), x.namesBoth("logs", "log-group:"),
				x.namesBoth("cloudwatch", "alarm:"), x.namesBoth("sns", "")), nil),
		allow("ReadBuckets", []string{"s3:GetBucket*", "s3:GetEncryptionConfiguration", "s3:GetLifecycleConfiguration",
			"s3:ListBucket"}, x.buckets()[:len(a.Scope.Names)], nil),
		allow("ReadTagged", []string{"cloudfront:GetDistribution", "cloudfront:ListTagsForResource",
			"acm:DescribeCertificate", "acm:ListTagsForCertificate", "kms:DescribeKey", "kms:GetKeyPolicy",
			"kms:GetKeyRotationStatus", "kms:ListResourceTags", "dlm:GetLifecyclePolicy", "ssm:DescribeAssociation"},
			join(pulumi.StringArray{x.cloudfront("distribution")}, x.certificates(), acct.bothRegions("kms", "key/*"),
				pulumi.StringArray{acct.arn("dlm", "policy/*"), acct.arn("ssm", "association/*")}), x.own()),
	}
	read = append(read,
		allow("ReadIdentity", []string{"iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
			"iam:ListRoleTags", "iam:GetInstanceProfile", "iam:ListInstanceProfileTags"},
			join(x.iam("role"), x.iam("instance-profile")), nil),
		allow("IamReadBoundary", []string{"iam:GetPolicy", "iam:GetPolicyVersion"}, x.boundary(), nil),
		allow("ReadFunctionsAndDocuments", []string{"cloudfront:DescribeFunction", "cloudfront:GetFunction",
			"ssm:DescribeDocument", "ssm:GetDocument", "cloudwatch:GetDashboard"},
			join(each(a.Scope.Names, func(p string) pulumi.StringOutput { return acct.globalARN("cloudfront", "function/"+p) }),
				x.documents(),
				each(a.Scope.Dashboards, func(n string) pulumi.StringOutput { return acct.globalARN("cloudwatch", "dashboard/"+n) })), nil),
		allow("ReadCloudFrontPolicies", []string{"cloudfront:GetCachePolicy", "cloudfront:GetOriginRequestPolicy",
			"cloudfront:GetResponseHeadersPolicy", "cloudfront:GetOriginAccessControl"},
			pulumi.StringArray{x.cloudfront("origin-access-control"), x.cloudfront("cache-policy"),
				x.cloudfront("origin-request-policy"), x.cloudfront("response-headers-policy")}, nil))
	if a.Scope.Zone != nil {
		read = append(read, route53Statements(x, true)...)
	}
	return map[string][]iam.GetPolicyDocumentStatementArgs{"read": read, "read-own": own,
		"read-compute": previewComputeStatements(a, x), "state": stateStatements(a)}
}

// guardStatements are the explicit denies every CI role carries. They
// hold whatever the allows say, now or after a later change to them.
func guardStatements(a ciPolicyArgs) []iam.GetPolicyDocumentStatementArgs {
	acct := a.Acct
	star := pulumi.StringArray{pulumi.String("*")}
	foundationIAM := pulumi.StringArray{}
	for _, r := range ciRoles {
		foundationIAM = append(foundationIAM, acct.globalARN("iam", "role"+iamPath+r.Name))
	}
	foundationIAM = append(foundationIAM,
		acct.globalARN("iam", "oidc-provider/"+GitHubOIDCHost),
		acct.globalARN("iam", "policy"+iamPath+AppProject+"-*-role-boundary"),
		acct.globalARN("iam", "policy"+iamPath+ciPolicyPrefix+"*"),
		acct.globalARN("iam", "user"+iamPath+ciPolicyPrefix+"*"),
		acct.globalARN("iam", "group"+iamPath+ciPolicyPrefix+"*"))
	return []iam.GetPolicyDocumentStatementArgs{
		// The foundation's identities, boundaries and policies are the
		// administrator's.
		deny("DenyChangingTheFoundation", []string{"iam:Create*", "iam:Delete*", "iam:Update*", "iam:Put*", "iam:Attach*",
			"iam:Detach*", "iam:Add*", "iam:Remove*", "iam:Tag*", "iam:Untag*", "iam:Set*", "iam:PassRole"}, foundationIAM, nil),
		// A role's trust is never rewritten by CI (to another account,
		// say, as a door that outlives a key rotation), nor a boundary
		// taken off, nor a role borrowed.
		deny("DenyTrustAndBoundaryChanges", []string{"iam:UpdateAssumeRolePolicy", "iam:DeleteRolePermissionsBoundary",
			"sts:AssumeRole"}, star, nil),
		// Host documents run as root on hosts: the foundation writes
		// them; CI may only associate or send its class's (above).
		deny("DenyWritingDocuments", []string{"ssm:CreateDocument", "ssm:UpdateDocument", "ssm:DeleteDocument",
			"ssm:UpdateDocumentDefaultVersion", "ssm:UpdateDocumentMetadata", "ssm:ModifyDocumentPermission"}, star, nil),
	}
}

// ciPolicyPrefix starts the names of the foundation's CI policies, user
// and group, which the guards put out of CI's reach.
const ciPolicyPrefix = AppProject + "-ci-"

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// CIPoliciesArgs shapes one class's CI policies.
type CIPoliciesArgs struct {
	Class   stacks.Profile
	Roles   *CIRoles
	State   *StateBackend
	Zone    *ZoneConfig
	Account Account
	// UserGroup is the CI user's group when the user deploys this class.
	UserGroup pulumi.StringInput
}

// CIPolicies are one class's CI managed policies, attached to the class's
// roles (and to the CI user's group, when it deploys this class).
type CIPolicies struct {
	pulumi.ResourceState

	// ARNs are the policy ARNs by role name.
	ARNs map[string]pulumi.StringArray
}

// NewCIPolicies creates and attaches the policies.
func NewCIPolicies(ctx *pulumi.Context, name string, args CIPoliciesArgs, opts ...pulumi.ResourceOption) (*CIPolicies, error) {
	c := &CIPolicies{ARNs: map[string]pulumi.StringArray{}}
	if err := ctx.RegisterComponentResource("slipway:foundation:CIPolicies", name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	s := newScope(args.Class, args.Zone)
	outputs := pulumi.Map{}
	for _, r := range rolesOf(args.Class) {
		docs := ciPolicyDocuments(ctx, parent, ciPolicyArgs{Role: r, Scope: s, State: args.State, Acct: args.Account})
		for _, part := range ciPolicyParts[r.Kind] {
			policyName := ciPolicyPrefix + trimProject(r.Name) + "-" + part
			policy, err := iam.NewPolicy(ctx, policyName, &iam.PolicyArgs{
				Name:        pulumi.String(policyName),
				Path:        pulumi.String(iamPath),
				Description: pulumi.String(string(r.Kind) + " of Slipway's " + string(args.Class) + " stacks by " + r.Name + " (" + part + ")"),
				Policy:      docs[part],
			}, parent)
			if err != nil {
				return nil, err
			}
			if _, err := iam.NewRolePolicyAttachment(ctx, policyName, &iam.RolePolicyAttachmentArgs{
				Role:      args.Roles.ByName[r.Name].Name,
				PolicyArn: policy.Arn,
			}, parent); err != nil {
				return nil, err
			}
			if args.UserGroup != nil && r.Kind == deploys {
				if _, err := iam.NewGroupPolicyAttachment(ctx, policyName+"-user", &iam.GroupPolicyAttachmentArgs{
					Group:     args.UserGroup,
					PolicyArn: policy.Arn,
				}, parent); err != nil {
					return nil, err
				}
			}
			c.ARNs[r.Name] = append(c.ARNs[r.Name], policy.Arn)
		}
		outputs[r.Name] = c.ARNs[r.Name]
	}
	return c, ctx.RegisterResourceOutputs(c, outputs)
}

// trimProject turns slipway-dev-deploy into dev-deploy.
func trimProject(name string) string { return name[len(AppProject)+1:] }
