package infra

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// UnscopableDeployActions are the actions the deploy policy grants on
// "Resource": "*", because AWS offers no resource-level permission for
// them (the Service Authorization Reference lists no resource type):
// describes and lists, the ECR login token, creates whose resource does
// not exist yet, Route 53 zone creation, and CloudWatch Logs' account
// resource policy (vended log delivery to a log group writes it; the API
// takes no resource ARN). Tests hold the policy to this list.
var UnscopableDeployActions = []string{
	"ec2:Describe*",
	"ecr:GetAuthorizationToken",
	"ssm:DescribeParameters", "ssm:ListDocuments", "ssm:ListAssociations", "ssm:ListCommands", "ssm:ListCommandInvocations",
	"logs:DescribeLogGroups", "logs:DescribeResourcePolicies", "logs:PutResourcePolicy",
	"logs:DescribeDeliveries", "logs:DescribeDeliverySources", "logs:DescribeDeliveryDestinations",
	"sqs:ListQueues",
	"sns:ListTopics",
	"cloudwatch:DescribeAlarms", "cloudwatch:ListDashboards",
	"kms:CreateKey", "kms:ListKeys", "kms:ListAliases",
	"dlm:GetLifecyclePolicies", "dlm:CreateLifecyclePolicy",
	"acm:RequestCertificate", "acm:ListCertificates",
	"route53:ListHostedZones", "route53:ListHostedZonesByName", "route53:CreateHostedZone",
	"cloudfront:ListDistributions", "cloudfront:ListCachePolicies", "cloudfront:ListOriginRequestPolicies",
	"cloudfront:ListResponseHeadersPolicies", "cloudfront:ListOriginAccessControls", "cloudfront:ListFunctions",
}

// ec2OwnResourceActions end, stop, modify, attach or detach a resource;
// they are allowed only on resources tagged as one of the identity's
// stacks (default tags put project and stack on every resource, at
// creation). Every resource they name (instance and volume, gateway and
// VPC) carries that tag.
var ec2OwnResourceActions = []string{
	"ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances", "ec2:RebootInstances",
	"ec2:ModifyInstanceAttribute", "ec2:ModifyInstanceMetadataOptions", "ec2:ModifyInstanceCreditSpecification",
	"ec2:MonitorInstances", "ec2:UnmonitorInstances",
	"ec2:ModifyVolume", "ec2:AttachVolume", "ec2:DetachVolume", "ec2:DeleteVolume",
	"ec2:ModifyVpcAttribute", "ec2:ModifySubnetAttribute", "ec2:ModifySecurityGroupRules",
	"ec2:AttachInternetGateway", "ec2:DetachInternetGateway",
	"ec2:DeleteVpc", "ec2:DeleteSubnet", "ec2:DeleteInternetGateway",
	"ec2:DeleteRouteTable", "ec2:DeleteSecurityGroup", "ec2:ReleaseAddress", "ec2:DeleteFlowLogs",
	"ec2:CreateTags", "ec2:DeleteTags",
}

// ec2CreateActions are the creates that tag their resource in the same
// call (tag-on-create): ec2:CreateTags is allowed on an untagged resource
// only as part of one of them, and only with this identity's stack tag.
var ec2CreateActions = []string{
	"RunInstances", "CreateVpc", "CreateSubnet", "CreateInternetGateway", "CreateRouteTable",
	"CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
	"AllocateAddress", "CreateVolume", "CreateFlowLogs",
}

// ec2RegionalChanges create resources and change the links between them.
// They are scoped to the stack's account and region but not by tag: a new
// resource has no tags to test, the VPC's default security group is
// adopted untagged, and several of them name resources of other types
// (subnets, images, network interfaces) that a tag condition would
// wrongly have to match too.
var ec2RegionalChanges = []string{
	"ec2:RunInstances", "ec2:CreateVpc", "ec2:CreateSubnet", "ec2:CreateInternetGateway",
	"ec2:CreateRouteTable", "ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute",
	"ec2:AssociateRouteTable", "ec2:DisassociateRouteTable",
	"ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
	"ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
	"ec2:UpdateSecurityGroupRuleDescriptionsIngress", "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
	"ec2:AllocateAddress", "ec2:AssociateAddress", "ec2:DisassociateAddress",
	"ec2:CreateVolume", "ec2:CreateFlowLogs",
}

// deployPolicyParts names the parts of the deploy policy. One managed
// policy holds at most 6,144 characters, and the whole is about three
// times that, so it is split by concern into managed policies attached
// side by side (a group or role takes up to 10 by default).
var deployPolicyParts = []string{"compute", "config", "edge", "identity"}

// deployPolicy is the deploy identity's policy, by part. Allow statements
// name this project's resources wherever the service allows; the Deny
// statements keep the identity from changing itself or borrowing a role.
func deployPolicy(ctx *pulumi.Context, opts pulumi.InvokeOption, s deployScope, acct account, userARN, groupARN pulumi.StringOutput) map[string]pulumi.StringOutput {
	star := pulumi.StringArray{pulumi.String("*")}
	regional := func(service, res string) pulumi.StringOutput { return acct.arn(service, res) }
	join := func(arrs ...pulumi.StringArray) pulumi.StringArray {
		out := pulumi.StringArray{}
		for _, a := range arrs {
			out = append(out, a...)
		}
		return out
	}
	iamARN := func(kind string) pulumi.StringArray {
		return each(s.Names, func(p string) pulumi.StringOutput { return acct.globalARN("iam", kind+iamPath+p) })
	}
	stackValues := []pulumi.StringInput{}
	for _, st := range s.Stacks {
		stackValues = append(stackValues, pulumi.String(st))
	}
	tagged := func(key string) iam.GetPolicyDocumentStatementConditionArray {
		return conditions(condition("StringLike", key, stackValues...))
	}
	ownTags, newTags := tagged("aws:ResourceTag/stack"), tagged("aws:RequestTag/stack")
	// Keys and alarm topics live in the stack's region and in us-east-1.
	bothRegions := func(service, res string) pulumi.StringArray {
		out := pulumi.StringArray{regional(service, res)}
		if acct.Region != GlobalRegion {
			g := acct
			g.Region = GlobalRegion
			out = append(out, g.arn(service, res))
		}
		return out
	}
	bothRegionsEach := func(service, prefix string) pulumi.StringArray {
		out := pulumi.StringArray{}
		for _, p := range s.Names {
			out = append(out, bothRegions(service, prefix+p)...)
		}
		return out
	}
	ec2ARNs := pulumi.StringArray{
		regional("ec2", "*"),
		pulumi.Sprintf("arn:%s:ec2:%s::image/*", acct.Partition, acct.Region),
	}
	cf := func(kind string) pulumi.StringOutput { return acct.globalARN("cloudfront", kind+"/*") }

	compute := []iam.GetPolicyDocumentStatementArgs{
		allow("Unscopable", UnscopableDeployActions, star, nil),

		// EC2: network, host, volume, address, flow logs (see above).
		allow("Ec2InRegion", ec2RegionalChanges, ec2ARNs, nil),
		allow("Ec2ChangeOwn", ec2OwnResourceActions, pulumi.StringArray{regional("ec2", "*")},
			append(ownTags, condition("StringLikeIfExists", "aws:RequestTag/stack", stackValues...))),
		// Tags go on at creation, with this identity's stack tag, so an
		// existing resource of someone else's cannot be tagged into reach.
		allow("Ec2TagOnCreate", []string{"ec2:CreateTags"}, pulumi.StringArray{regional("ec2", "*")},
			append(newTags, condition("StringEquals", "ec2:CreateAction", pulumi.ToStringArray(ec2CreateActions)...))),
		// The VPC's default security group comes untagged from CreateVpc;
		// adopting it tags it. Untagged security groups only.
		allow("Ec2TagAdoptedSecurityGroup", []string{"ec2:CreateTags"}, pulumi.StringArray{regional("ec2", "security-group/*")},
			append(newTags, condition("Null", "aws:ResourceTag/stack", pulumi.String("true")))),
		// The CloudFront origin-facing prefix list is AWS's (owner "aws").
		allow("Ec2ReadAwsPrefixLists", []string{"ec2:GetManagedPrefixListEntries"},
			pulumi.StringArray{pulumi.Sprintf("arn:%s:ec2:%s:aws:prefix-list/*", acct.Partition, acct.Region)}, nil),
	}
	// A role's rights may be created or changed only on a role that
	// carries the stacks' role boundary (boundary.go), so whatever the
	// identity writes into a role, the role can do no more than the
	// boundary allows.
	boundary := acct.globalARN("iam", "policy"+iamPath+s.Boundary)
	withinBoundary := conditions(condition("StringEquals", "iam:PermissionsBoundary", boundary))
	identity := []iam.GetPolicyDocumentStatementArgs{
		// IAM: only roles and instance profiles named for these stacks
		// under the project path; users, groups and policies read only.
		allow("IamRoles", []string{"iam:DeleteRole", "iam:GetRole", "iam:UpdateRole",
			"iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:ListRoleTags",
			"iam:GetRolePolicy", "iam:ListRolePolicies",
			"iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole"}, iamARN("role"), nil),
		allow("IamRolesWithinBoundary", []string{"iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
			"iam:PutRolePermissionsBoundary"}, iamARN("role"), withinBoundary),
		// Managed policies may be attached only if they are AWS's two
		// the host and the snapshots use, or the project's own, and only
		// to a role within the boundary.
		allow("IamAttachKnownPolicies", []string{"iam:AttachRolePolicy", "iam:DetachRolePolicy"}, iamARN("role"),
			append(conditions(condition("ArnLike", "iam:PolicyARN",
				pulumi.Sprintf("arn:%s:iam::aws:policy/AmazonSSMManagedInstanceCore", acct.Partition),
				pulumi.Sprintf("arn:%s:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole", acct.Partition),
				acct.globalARN("iam", "policy"+iamPath+"*"))), withinBoundary...)),
		allow("IamInstanceProfiles", []string{"iam:CreateInstanceProfile", "iam:DeleteInstanceProfile",
			"iam:GetInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
			"iam:TagInstanceProfile", "iam:UntagInstanceProfile", "iam:ListInstanceProfileTags"}, iamARN("instance-profile"), nil),
		// Roles go only to the services Slipway gives them to.
		allow("IamPassRoles", []string{"iam:PassRole"}, iamARN("role"),
			conditions(condition("StringEquals", "iam:PassedToService", pulumi.String("ec2.amazonaws.com"),
				pulumi.String("vpc-flow-logs.amazonaws.com"), pulumi.String("dlm.amazonaws.com")))),
		allow("IamReadDeployIdentity", []string{"iam:GetUser", "iam:ListGroupsForUser", "iam:ListAccessKeys",
			"iam:ListUserTags", "iam:GetGroup", "iam:ListAttachedGroupPolicies", "iam:GetPolicy", "iam:GetPolicyVersion",
			"iam:ListPolicyVersions", "iam:ListPolicyTags", "iam:GetOpenIDConnectProvider"},
			join(iamARN("user"), iamARN("group"), iamARN("policy"),
				pulumi.StringArray{acct.globalARN("iam", "oidc-provider/"+githubOIDCHost)}), nil),
	}
	config := []iam.GetPolicyDocumentStatementArgs{
		// Snapshot schedule (prod), by tag: DLM policies have ids only.
		allow("DlmOwn", []string{"dlm:GetLifecyclePolicy", "dlm:UpdateLifecyclePolicy", "dlm:DeleteLifecyclePolicy",
			"dlm:TagResource", "dlm:UntagResource", "dlm:ListTagsForResource"},
			pulumi.StringArray{regional("dlm", "policy/*")}, ownTags),
		// Creating with tags needs the tag action on the new, untagged
		// resource: allowed when the request carries this stack's tag.
		allow("TagOnCreate", []string{"dlm:TagResource", "kms:TagResource"},
			append(pulumi.StringArray{regional("dlm", "policy/*")}, bothRegions("kms", "key/*")...), newTags),

		// SSM: the stacks' parameters (release, secrets) and the rollout
		// document and association.
		allow("SsmParameters", []string{"ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters",
			"ssm:GetParametersByPath", "ssm:DeleteParameter", "ssm:DeleteParameters", "ssm:AddTagsToResource",
			"ssm:RemoveTagsFromResource", "ssm:ListTagsForResource"},
			each(s.Parameters, func(p string) pulumi.StringOutput { return regional("ssm", "parameter"+p) }), nil),
		allow("SsmDocuments", []string{"ssm:CreateDocument", "ssm:UpdateDocument", "ssm:DeleteDocument",
			"ssm:DescribeDocument", "ssm:GetDocument", "ssm:DescribeDocumentPermission", "ssm:UpdateDocumentDefaultVersion",
			"ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource"},
			each(s.Names, func(p string) pulumi.StringOutput { return regional("ssm", "document/"+p) }), nil),
		// Associations run the project's documents (by name) on the
		// project's hosts (by tag: an association runs a document as root,
		// so another instance must be out of reach). No ssm:SendCommand:
		// the program sends none.
		allow("SsmOwnAssociations", []string{"ssm:CreateAssociation", "ssm:UpdateAssociation",
			"ssm:DeleteAssociation", "ssm:DescribeAssociation", "ssm:DescribeAssociationExecutions",
			"ssm:AddTagsToResource", "ssm:RemoveTagsFromResource", "ssm:ListTagsForResource"},
			append(each(s.Names, func(p string) pulumi.StringOutput { return regional("ssm", "document/"+p) }),
				regional("ssm", "association/*")), nil),
		allow("SsmAssociateOwnHosts", []string{"ssm:CreateAssociation", "ssm:UpdateAssociation"},
			pulumi.StringArray{regional("ec2", "instance/*")}, ownTags),

		// ECR: the stacks' repositories, images pushed by `pulumi up`.
		allow("EcrRepositories", []string{"ecr:CreateRepository", "ecr:DeleteRepository", "ecr:DescribeRepositories",
			"ecr:PutLifecyclePolicy", "ecr:GetLifecyclePolicy", "ecr:DeleteLifecyclePolicy",
			"ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability", "ecr:ListTagsForResource",
			"ecr:TagResource", "ecr:UntagResource", "ecr:SetRepositoryPolicy", "ecr:GetRepositoryPolicy",
			"ecr:DeleteRepositoryPolicy", "ecr:DescribeImages", "ecr:ListImages", "ecr:BatchGetImage",
			"ecr:BatchDeleteImage", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
			"ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"},
			each(s.Names, func(p string) pulumi.StringOutput { return regional("ecr", "repository/"+p) }), nil),

		// S3: the SPA buckets and their objects. Prefix wildcards: a
		// bucket has some thirty configuration reads and writes, all on
		// these buckets only.
		allow("S3OwnBuckets", []string{"s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteBucketPolicy",
			"s3:DeleteBucketOwnershipControls", "s3:Get*", "s3:List*", "s3:Put*", "s3:DeleteObject", "s3:DeleteObjectVersion"},
			join(each(s.Names, func(p string) pulumi.StringOutput { return pulumi.Sprintf("arn:%s:s3:::%s", acct.Partition, p) }),
				each(s.Names, func(p string) pulumi.StringOutput { return pulumi.Sprintf("arn:%s:s3:::%s/*", acct.Partition, p) })), nil),

		// KMS keys (the alarm topics' keys) have ids only: by tag.
		allow("KmsOwnKeys", []string{"kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus",
			"kms:EnableKeyRotation", "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource",
			"kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion"}, bothRegions("kms", "key/*"), ownTags),
	}
	edge := []iam.GetPolicyDocumentStatementArgs{
		// CloudFront: functions by name; distributions (ids only) by tag;
		// OAC and policies by type in this account.
		allow("CloudFrontFunctions", []string{"cloudfront:CreateFunction", "cloudfront:UpdateFunction",
			"cloudfront:DeleteFunction", "cloudfront:DescribeFunction", "cloudfront:GetFunction", "cloudfront:PublishFunction"},
			each(s.Names, func(p string) pulumi.StringOutput { return acct.globalARN("cloudfront", "function/"+p) }), nil),
		allow("CloudFrontCreateDistributions", []string{"cloudfront:CreateDistribution", "cloudfront:CreateDistributionWithTags",
			"cloudfront:TagResource"}, pulumi.StringArray{cf("distribution")}, newTags),
		allow("CloudFrontOwnDistributions", []string{"cloudfront:GetDistribution", "cloudfront:GetDistributionConfig",
			"cloudfront:UpdateDistribution", "cloudfront:DeleteDistribution", "cloudfront:ListTagsForResource",
			"cloudfront:TagResource", "cloudfront:UntagResource", "cloudfront:CreateInvalidation", "cloudfront:GetInvalidation",
			"cloudfront:AllowVendedLogDeliveryForResource"},
			pulumi.StringArray{cf("distribution")}, ownTags),
		allow("CloudFrontAccessControlAndPolicies", []string{"cloudfront:CreateOriginAccessControl", "cloudfront:GetOriginAccessControl",
			"cloudfront:GetOriginAccessControlConfig", "cloudfront:UpdateOriginAccessControl", "cloudfront:DeleteOriginAccessControl",
			"cloudfront:GetCachePolicy", "cloudfront:GetOriginRequestPolicy", "cloudfront:GetResponseHeadersPolicy",
			"cloudfront:CreateResponseHeadersPolicy", "cloudfront:UpdateResponseHeadersPolicy", "cloudfront:DeleteResponseHeadersPolicy"},
			pulumi.StringArray{cf("origin-access-control"), cf("cache-policy"), cf("origin-request-policy"), cf("response-headers-policy")}, nil),

		// ACM certificates (us-east-1, ids only), by tag.
		allow("AcmOwnCertificates", []string{"acm:DescribeCertificate", "acm:DeleteCertificate", "acm:ListTagsForCertificate",
			"acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate"},
			pulumi.StringArray{pulumi.Sprintf("arn:%s:acm:%s:%s:certificate/*", acct.Partition, GlobalRegion, acct.ID)}, ownTags),
		allow("AcmTagOnCreate", []string{"acm:AddTagsToCertificate"},
			pulumi.StringArray{pulumi.Sprintf("arn:%s:acm:%s:%s:certificate/*", acct.Partition, GlobalRegion, acct.ID)}, newTags),
		// Route 53 zone ids are not known in advance; zones of the
		// account, records included. The broadest grant here (docs).
		allow("Route53Zones", []string{"route53:GetHostedZone", "route53:ListResourceRecordSets",
			"route53:ChangeResourceRecordSets", "route53:DeleteHostedZone", "route53:ListTagsForResource",
			"route53:ChangeTagsForResource", "route53:GetChange"},
			pulumi.StringArray{pulumi.Sprintf("arn:%s:route53:::hostedzone/*", acct.Partition),
				pulumi.Sprintf("arn:%s:route53:::change/*", acct.Partition)}, nil),

		// Queues, log groups, alarms, dashboards, topics: by name.
		allow("SqsOwnQueues", []string{"sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes",
			"sqs:SetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags", "sqs:TagQueue", "sqs:UntagQueue",
			"sqs:ListDeadLetterSourceQueues"},
			each(s.Names, func(p string) pulumi.StringOutput { return regional("sqs", p) }), nil),
		allow("LogsOwnGroups", []string{"logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
			"logs:DeleteRetentionPolicy", "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource",
			"logs:TagLogGroup", "logs:ListTagsLogGroup"},
			bothRegionsEach("logs", "log-group:"), nil),
		// CloudFront access logs (vended delivery, us-east-1): sources and
		// destinations by name; deliveries have generated ids only.
		allow("LogsOwnDeliveries", []string{"logs:PutDeliverySource", "logs:GetDeliverySource", "logs:DeleteDeliverySource",
			"logs:PutDeliveryDestination", "logs:GetDeliveryDestination", "logs:DeleteDeliveryDestination",
			"logs:CreateDelivery", "logs:GetDelivery", "logs:DeleteDelivery", "logs:UpdateDeliveryConfiguration",
			"logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource"},
			join(bothRegionsEach("logs", "delivery-source:"), bothRegionsEach("logs", "delivery-destination:"),
				bothRegions("logs", "delivery:*")), nil),
		allow("CloudWatchOwnAlarms", []string{"cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms",
			"cloudwatch:TagResource", "cloudwatch:UntagResource", "cloudwatch:ListTagsForResource"},
			bothRegionsEach("cloudwatch", "alarm:"), nil),
		allow("CloudWatchOwnDashboards", []string{"cloudwatch:GetDashboard", "cloudwatch:PutDashboard",
			"cloudwatch:DeleteDashboards"},
			each(s.Dashboards, func(n string) pulumi.StringOutput { return acct.globalARN("cloudwatch", "dashboard/"+n) }), nil),
		allow("SnsOwnTopics", []string{"sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes",
			"sns:SetTopicAttributes", "sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes",
			"sns:SetSubscriptionAttributes", "sns:ListSubscriptionsByTopic", "sns:TagResource", "sns:UntagResource",
			"sns:ListTagsForResource"}, bothRegionsEach("sns", ""), nil),
	}
	identity = append(identity,
		// The identity never changes itself (its user, group, policy or
		// OIDC role): that takes an administrator (docs/operations.md).
		statement("DenyChangingTheDeployIdentity", "Deny", nil, []string{"iam:Create*", "iam:Delete*", "iam:Update*",
			"iam:Put*", "iam:Attach*", "iam:Detach*", "iam:Add*", "iam:Remove*", "iam:Tag*", "iam:Untag*", "iam:Set*",
			"iam:PassRole"},
			pulumi.StringArray{userARN, groupARN,
				acct.globalARN("iam", "policy"+iamPath+s.Self), acct.globalARN("iam", "role"+iamPath+s.Self),
				acct.globalARN("iam", "oidc-provider/"+githubOIDCHost)}, nil),
		// Nor does it assume roles: rewriting a project role's trust to
		// name itself would otherwise be a way out of this policy.
		statement("DenyAssumingRoles", "Deny", nil, []string{"sts:AssumeRole"}, star, nil),
		// No role loses its boundary, and no boundary changes: only an
		// administrator changes what the project's roles may do at most.
		statement("DenyRemovingRoleBoundaries", "Deny", nil, []string{"iam:DeleteRolePermissionsBoundary"}, star, nil),
		statement("DenyChangingRoleBoundaries", "Deny", nil, []string{"iam:CreatePolicy", "iam:CreatePolicyVersion",
			"iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy", "iam:TagPolicy", "iam:UntagPolicy"},
			pulumi.StringArray{acct.globalARN("iam", "policy"+iamPath+s.Boundaries)}, nil),
	)
	return map[string]pulumi.StringOutput{
		"compute":  statements(ctx, opts, compute...),
		"config":   statements(ctx, opts, config...),
		"edge":     statements(ctx, opts, edge...),
		"identity": statements(ctx, opts, identity...),
	}
}
