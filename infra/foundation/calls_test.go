package foundation_test

import (
	"strings"
	"testing"

	"slipway/internal/mockcloud"
)

// lifecycle builds the calls one resource's create, read, update and
// delete make, in the context of the stack that owns it.
type lifecycle struct {
	t        *testing.T
	res      *mockcloud.Result
	r        mockcloud.Resource
	requests []request
	// adminOnly are requests the class's CI identity must be refused:
	// in prod, what loses the data or its backups (an administrator's
	// act, docs/operations.md).
	adminOnly []request
}

func (l *lifecycle) region() string { return l.r.Region }
func (l *lifecycle) str(path string) string {
	s, _ := l.r.In(path).(string)
	if s == "" {
		s, _ = l.r.Out(path).(string)
	}
	if s == "" {
		l.t.Fatalf("%s: %s %s has no %s", l.res.Stack, l.r.Type, l.r.Name, path)
	}
	return s
}
func (l *lifecycle) arn(service, res string) string {
	return "arn:aws:" + service + ":" + l.region() + ":" + acct + ":" + res
}
func (l *lifecycle) global(service, res string) string {
	return "arn:aws:" + service + "::" + acct + ":" + res
}

// add records single-resource requests; ctx is one of the contexts below.
func (l *lifecycle) add(ctx map[string][]string, arn string, actions ...string) {
	for _, a := range actions {
		l.requests = append(l.requests, one(a, arn, ctx))
	}
}

// prodAdminOnly records requests that are CI's in dev and review stacks
// and an administrator's in prod.
func (l *lifecycle) prodAdminOnly(rs ...request) {
	if l.res.Stack == "prod" || l.res.Stack == "prod-eu" {
		l.adminOnly = append(l.adminOnly, rs...)
		return
	}
	l.requests = append(l.requests, rs...)
}

// creating: the request carries the default tags, the resource has none.
func (l *lifecycle) creating() map[string][]string {
	return map[string][]string{"aws:RequestTag/stack": {l.res.Stack}}
}

// ec2Creating: EC2 tag-on-create, part of the create action.
func (l *lifecycle) ec2Creating(action string) map[string][]string {
	return map[string][]string{"aws:RequestTag/stack": {l.res.Stack}, "ec2:CreateAction": {action}}
}

// own: an existing resource with the stack's default tags.
func (l *lifecycle) own() map[string][]string {
	return map[string][]string{"aws:ResourceTag/stack": {l.res.Stack}}
}

// ec2Own is an existing EC2 resource, ARN by kind and id.
func (l *lifecycle) ec2Own(kind, id string, actions ...string) {
	l.add(l.own(), l.arn("ec2", kind+"/"+id), actions...)
}

// ec2Create is an EC2 create with tags on create, then read, tag updates
// and delete by tag.
func (l *lifecycle) ec2Create(kind, create, del string, parents ...string) {
	l.add(l.creating(), l.arn("ec2", kind+"/*"), "ec2:"+create)
	l.add(l.ec2Creating(create), l.arn("ec2", kind+"/*"), "ec2:CreateTags")
	for _, p := range parents {
		l.add(l.own(), p, "ec2:"+create)
	}
	l.add(nil, "*", "ec2:Describe"+strings.TrimPrefix(strings.TrimPrefix(create, "Create"), "Allocate")+"s")
	l.ec2Own(kind, l.r.ID, "ec2:CreateTags", "ec2:DeleteTags", "ec2:"+del)
}

func (l *lifecycle) roleARN(name string) string {
	for _, r := range l.res.ByType("aws:iam/role:Role") {
		if r.Out("name") == name || r.Out("arn") == name {
			return r.Out("arn").(string)
		}
	}
	l.t.Fatalf("%s: no role %s", l.res.Stack, name)
	return ""
}

// bounded adds the role's permissions boundary, as AWS puts it in the
// request context (iam:PermissionsBoundary), to ctx.
func (l *lifecycle) bounded(roleARN string, ctx map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range ctx {
		out[k] = v
	}
	for _, r := range l.res.ByType("aws:iam/role:Role") {
		if r.Out("arn") == roleARN {
			if b, ok := r.In("permissionsBoundary").(string); ok && b != "" {
				out["iam:PermissionsBoundary"] = []string{b}
			}
		}
	}
	return out
}

func (l *lifecycle) bucket(name string) string { return "arn:aws:s3:::" + name }

func (l *lifecycle) queueARN(url string) string {
	return l.arn("sqs", url[strings.LastIndex(url, "/")+1:])
}

// resourceCalls is the table: every resource type the program registers
// (app stacks register no identity, boundary or document: the
// foundation does; TestAppStacksCreateNoHostDocument in infra fails if
// one appears).
var resourceCalls = map[string]func(l *lifecycle){
	// Network.
	"aws:ec2/vpc:Vpc": func(l *lifecycle) {
		l.ec2Create("vpc", "CreateVpc", "DeleteVpc")
		l.ec2Own("vpc", l.r.ID, "ec2:ModifyVpcAttribute")
	},
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": func(l *lifecycle) {
		// Adopted untagged: tagging it is the adoption.
		l.add(l.creating(), l.arn("ec2", "security-group/"+l.r.ID), "ec2:CreateTags")
		l.ec2Own("security-group", l.r.ID, "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:CreateTags")
	},
	"aws:ec2/internetGateway:InternetGateway": func(l *lifecycle) {
		l.ec2Create("internet-gateway", "CreateInternetGateway", "DeleteInternetGateway")
		l.ec2Own("internet-gateway", l.r.ID, "ec2:AttachInternetGateway", "ec2:DetachInternetGateway")
		l.ec2Own("vpc", l.str("vpcId"), "ec2:AttachInternetGateway", "ec2:DetachInternetGateway")
	},
	"aws:ec2/routeTable:RouteTable": func(l *lifecycle) {
		l.ec2Create("route-table", "CreateRouteTable", "DeleteRouteTable", l.arn("ec2", "vpc/"+l.str("vpcId")))
		l.ec2Own("route-table", l.r.ID, "ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute")
	},
	"aws:ec2/subnet:Subnet": func(l *lifecycle) {
		l.ec2Create("subnet", "CreateSubnet", "DeleteSubnet", l.arn("ec2", "vpc/"+l.str("vpcId")))
		l.ec2Own("subnet", l.r.ID, "ec2:ModifySubnetAttribute")
	},
	"aws:ec2/routeTableAssociation:RouteTableAssociation": func(l *lifecycle) {
		l.ec2Own("route-table", l.str("routeTableId"), "ec2:AssociateRouteTable", "ec2:DisassociateRouteTable")
		l.ec2Own("subnet", l.str("subnetId"), "ec2:AssociateRouteTable")
	},
	"aws:ec2/securityGroup:SecurityGroup": func(l *lifecycle) {
		l.ec2Create("security-group", "CreateSecurityGroup", "DeleteSecurityGroup", l.arn("ec2", "vpc/"+l.str("vpcId")))
		// The provider removes the default allow-all egress rule.
		l.ec2Own("security-group", l.r.ID, "ec2:RevokeSecurityGroupEgress", "ec2:ModifySecurityGroupRules")
	},
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": func(l *lifecycle) {
		l.ec2Own("security-group", l.str("securityGroupId"), "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress",
			"ec2:UpdateSecurityGroupRuleDescriptionsIngress")
		l.add(l.ec2Creating("AuthorizeSecurityGroupIngress"), l.arn("ec2", "security-group-rule/*"), "ec2:CreateTags")
		l.ec2Own("security-group-rule", l.r.ID, "ec2:CreateTags", "ec2:DeleteTags")
	},
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": func(l *lifecycle) {
		l.ec2Own("security-group", l.str("securityGroupId"), "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress")
		l.add(l.ec2Creating("AuthorizeSecurityGroupEgress"), l.arn("ec2", "security-group-rule/*"), "ec2:CreateTags")
		l.ec2Own("security-group-rule", l.r.ID, "ec2:CreateTags", "ec2:DeleteTags")
	},
	"aws:ec2/flowLog:FlowLog": func(l *lifecycle) {
		l.ec2Create("vpc-flow-log", "CreateFlowLogs", "DeleteFlowLogs", l.arn("ec2", "vpc/"+l.str("vpcId")))
		l.add(map[string][]string{"iam:PassedToService": {"vpc-flow-logs.amazonaws.com"}}, l.roleARN(l.str("iamRoleArn")), "iam:PassRole")
	},
	// Host, data volume, address.
	"aws:ec2/instance:Instance": func(l *lifecycle) {
		l.ec2Create("instance", "RunInstances", "TerminateInstances",
			l.arn("ec2", "subnet/"+l.str("subnetId")), "arn:aws:ec2:"+l.region()+"::image/"+l.str("ami"))
		for _, sg := range strs(l.r.In("vpcSecurityGroupIds")) {
			l.add(l.own(), l.arn("ec2", "security-group/"+sg), "ec2:RunInstances")
		}
		l.add(l.creating(), l.arn("ec2", "network-interface/*"), "ec2:RunInstances")
		l.add(l.creating(), l.arn("ec2", "volume/*"), "ec2:RunInstances")
		profile := l.str("iamInstanceProfile")
		for _, p := range l.res.ByType("aws:iam/instanceProfile:InstanceProfile") {
			if p.Out("name") == profile {
				role := p.In("role").(string)
				l.add(map[string][]string{"iam:PassedToService": {"ec2.amazonaws.com"}}, l.roleARN(role), "iam:PassRole")
			}
		}
		l.ec2Own("instance", l.r.ID, "ec2:ModifyInstanceAttribute", "ec2:ModifyInstanceMetadataOptions",
			"ec2:MonitorInstances", "ec2:UnmonitorInstances", "ec2:StopInstances", "ec2:StartInstances",
			"ec2:ModifyInstanceCreditSpecification")
	},
	"aws:ebs/volume:Volume": func(l *lifecycle) {
		l.add(l.creating(), l.arn("ec2", "volume/*"), "ec2:CreateVolume")
		l.add(l.ec2Creating("CreateVolume"), l.arn("ec2", "volume/*"), "ec2:CreateTags")
		l.add(nil, "*", "ec2:DescribeVolumes")
		l.ec2Own("volume", l.r.ID, "ec2:ModifyVolume", "ec2:CreateTags", "ec2:DeleteTags")
		l.prodAdminOnly(one("ec2:DeleteVolume", l.arn("ec2", "volume/"+l.r.ID), l.own()))
		// From dataVolumeSnapshotId: CreateVolume is also checked on the
		// snapshot, one of the stack's backups.
		if s, _ := l.r.In("snapshotId").(string); s != "" {
			l.add(l.own(), "arn:aws:ec2:"+l.region()+"::snapshot/"+s, "ec2:CreateVolume")
		}
	},
	"aws:ec2/volumeAttachment:VolumeAttachment": func(l *lifecycle) {
		// AttachVolume and DetachVolume evaluate the instance and the
		// volume (Service Authorization Reference, Amazon EC2).
		attach := func(action string) request {
			return request{What: action, Calls: []iamCall{
				{Action: action, ARN: l.arn("ec2", "instance/"+l.str("instanceId")), Context: l.own()},
				{Action: action, ARN: l.arn("ec2", "volume/"+l.str("volumeId")), Context: l.own()},
			}}
		}
		l.requests = append(l.requests, attach("ec2:AttachVolume"))
		l.prodAdminOnly(attach("ec2:DetachVolume"))
	},
	"aws:ec2/eip:Eip": func(l *lifecycle) {
		l.ec2Create("elastic-ip", "AllocateAddress", "ReleaseAddress")
	},
	"aws:ec2/eipAssociation:EipAssociation": func(l *lifecycle) {
		for _, a := range []string{"ec2:AssociateAddress", "ec2:DisassociateAddress"} {
			r := associateAddress(l.region(), a, l.res.Stack, l.res.Stack)
			r.Calls[0].ARN = l.arn("ec2", "elastic-ip/"+l.str("allocationId"))
			r.Calls[1].ARN = l.arn("ec2", "instance/"+l.str("instanceId"))
			l.requests = append(l.requests, r)
		}
	},
	"aws:dlm/lifecyclePolicy:LifecyclePolicy": func(l *lifecycle) {
		l.add(l.creating(), "*", "dlm:CreateLifecyclePolicy")
		l.add(l.creating(), l.arn("dlm", "policy/*"), "dlm:TagResource")
		l.add(map[string][]string{"iam:PassedToService": {"dlm.amazonaws.com"}}, l.roleARN(l.str("executionRoleArn")), "iam:PassRole")
		arn := l.arn("dlm", "policy/"+l.r.ID)
		l.add(l.own(), arn, "dlm:GetLifecyclePolicy", "dlm:TagResource", "dlm:UntagResource")
		// Shortening or deleting the schedule lets DLM delete backups.
		l.prodAdminOnly(one("dlm:UpdateLifecyclePolicy", arn, l.own()), one("dlm:DeleteLifecyclePolicy", arn, l.own()))
	},
	// IAM roles of the stack (not the deploy identity).
	"aws:iam/role:Role": func(l *lifecycle) {
		arn := l.r.Out("arn").(string)
		l.add(l.bounded(arn, nil), arn, "iam:CreateRole", "iam:PutRolePermissionsBoundary")
		// No iam:UpdateAssumeRolePolicy: a role's trust is fixed at
		// creation, changed by an administrator only.
		l.add(nil, arn, "iam:TagRole", "iam:GetRole",
			"iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:DeleteRole")
	},
	"aws:iam/rolePolicy:RolePolicy": func(l *lifecycle) {
		arn := l.roleARN(l.str("role"))
		l.add(l.bounded(arn, nil), arn, "iam:PutRolePolicy", "iam:DeleteRolePolicy")
		l.add(nil, arn, "iam:GetRolePolicy")
	},
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment": func(l *lifecycle) {
		arn := l.roleARN(l.str("role"))
		l.add(l.bounded(arn, map[string][]string{"iam:PolicyARN": {l.str("policyArn")}}), arn,
			"iam:AttachRolePolicy", "iam:DetachRolePolicy")
	},
	"aws:iam/instanceProfile:InstanceProfile": func(l *lifecycle) {
		arn := l.r.Out("arn").(string)
		l.add(nil, arn, "iam:CreateInstanceProfile", "iam:TagInstanceProfile", "iam:GetInstanceProfile",
			"iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile")
	},
	// Images and release.
	"aws:ecr/repository:Repository": func(l *lifecycle) {
		arn := l.r.Out("arn").(string)
		l.add(l.creating(), arn, "ecr:CreateRepository", "ecr:TagResource")
		l.add(l.own(), arn, "ecr:DescribeRepositories", "ecr:ListTagsForResource", "ecr:PutImageScanningConfiguration",
			"ecr:PutImageTagMutability", "ecr:DeleteRepository", "ecr:BatchDeleteImage")
	},
	"aws:ecr/lifecyclePolicy:LifecyclePolicy": func(l *lifecycle) {
		l.add(nil, l.arn("ecr", "repository/"+l.str("repository")), "ecr:PutLifecyclePolicy", "ecr:GetLifecyclePolicy",
			"ecr:DeleteLifecyclePolicy")
	},
	"docker:index/image:Image": func(l *lifecycle) {
		ref := l.str("imageName")
		repo := ref[strings.Index(ref, "/")+1 : strings.LastIndex(ref, ":")]
		l.add(nil, "*", "ecr:GetAuthorizationToken")
		l.add(nil, l.arn("ecr", "repository/"+repo), "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload",
			"ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
	},
	"aws:ssm/parameter:Parameter": func(l *lifecycle) {
		l.add(nil, l.arn("ssm", "parameter"+l.str("name")), "ssm:PutParameter", "ssm:AddTagsToResource", "ssm:GetParameter",
			"ssm:GetParameters", "ssm:ListTagsForResource", "ssm:DeleteParameter")
		l.add(nil, "*", "ssm:DescribeParameters")
	},
	// Host documents are the foundation's (documents.go): an app stack
	// that still registers one is wrong, and CI may not create it.
	"aws:ssm/document:Document": func(l *lifecycle) {
		l.t.Errorf("%s: the app stack registers document %s: host documents are the foundation's; "+
			"the release associates slipway-<class>-rollout by name", l.res.Stack, l.r.Name)
		l.adminOnly = append(l.adminOnly, one("ssm:CreateDocument", l.arn("ssm", "document/"+l.str("name")), nil))
		l.requests = append(l.requests, one("ssm:DescribeParameters", "*", nil))
	},
	"aws:ssm/association:Association": func(l *lifecycle) {
		doc := l.str("name")
		// CreateAssociation with Targets: the document and the
		// association, never the instances (createAssociation).
		l.requests = append(l.requests, createAssociation(l.region(), doc, l.creating()))
		l.add(l.creating(), l.arn("ssm", "association/*"), "ssm:AddTagsToResource")
		l.add(nil, l.arn("ssm", "document/"+doc), "ssm:UpdateAssociation", "ssm:DescribeDocument", "ssm:GetDocument")
		l.add(l.own(), l.arn("ssm", "association/"+l.r.ID), "ssm:DescribeAssociation", "ssm:DescribeAssociationExecutions",
			"ssm:UpdateAssociation", "ssm:DeleteAssociation", "ssm:AddTagsToResource", "ssm:ListTagsForResource")
		l.add(nil, "*", "ssm:ListCommandInvocations")
	},
	// Queue, logs, alarms, topic.
	"aws:sqs/queue:Queue": func(l *lifecycle) {
		arn := l.r.Out("arn").(string)
		l.add(l.creating(), arn, "sqs:CreateQueue", "sqs:TagQueue")
		l.add(l.own(), arn, "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags",
			"sqs:UntagQueue", "sqs:DeleteQueue")
	},
	"aws:sqs/queuePolicy:QueuePolicy": func(l *lifecycle) {
		l.add(nil, l.queueARN(l.str("queueUrl")), "sqs:SetQueueAttributes", "sqs:GetQueueAttributes")
	},
	"aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": func(l *lifecycle) {
		l.add(nil, l.queueARN(l.str("queueUrl")), "sqs:SetQueueAttributes", "sqs:GetQueueAttributes")
	},
	"aws:cloudwatch/logGroup:LogGroup": func(l *lifecycle) {
		arn := l.arn("logs", "log-group:"+l.str("name"))
		l.add(l.creating(), arn, "logs:CreateLogGroup", "logs:TagResource")
		l.add(l.own(), arn+":*", "logs:PutRetentionPolicy", "logs:ListTagsForResource", "logs:UntagResource", "logs:DeleteLogGroup")
		l.add(nil, "*", "logs:DescribeLogGroups")
	},
	"aws:cloudwatch/metricAlarm:MetricAlarm": func(l *lifecycle) {
		arn := l.arn("cloudwatch", "alarm:"+l.str("name"))
		l.add(l.creating(), arn, "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource")
		l.add(l.own(), arn, "cloudwatch:ListTagsForResource", "cloudwatch:DeleteAlarms")
		l.add(nil, "*", "cloudwatch:DescribeAlarms")
	},
	"aws:cloudwatch/dashboard:Dashboard": func(l *lifecycle) {
		l.add(nil, l.global("cloudwatch", "dashboard/"+l.str("dashboardName")), "cloudwatch:PutDashboard",
			"cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards")
	},
	"aws:kms/key:Key": func(l *lifecycle) {
		arn := l.arn("kms", "key/"+l.r.ID)
		l.add(l.creating(), "*", "kms:CreateKey")
		l.add(l.creating(), l.arn("kms", "key/*"), "kms:TagResource")
		l.add(l.own(), arn, "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:EnableKeyRotation",
			"kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:TagResource", "kms:ScheduleKeyDeletion")
	},
	"aws:sns/topic:Topic": func(l *lifecycle) {
		arn := l.r.Out("arn").(string)
		l.add(l.creating(), arn, "sns:CreateTopic", "sns:TagResource")
		l.add(l.own(), arn, "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:ListTagsForResource", "sns:DeleteTopic")
	},
	"aws:sns/topicPolicy:TopicPolicy": func(l *lifecycle) {
		l.add(nil, l.str("arn"), "sns:SetTopicAttributes", "sns:GetTopicAttributes")
	},
	"aws:sns/topicSubscription:TopicSubscription": func(l *lifecycle) {
		l.add(nil, l.str("topic"), "sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes")
	},
	// Edge.
	"aws:s3/bucketV2:BucketV2": func(l *lifecycle) {
		arn := l.bucket(l.str("bucket"))
		l.add(l.creating(), arn, "s3:CreateBucket", "s3:PutBucketTagging")
		l.add(nil, arn, "s3:GetBucketTagging", "s3:GetBucketPolicy", "s3:ListBucket", "s3:GetBucketVersioning",
			"s3:ListBucketVersions")
		// The database archive (slipway-<stack>-backup-*) outlives prod:
		// deleting it is an administrator's act there.
		if strings.Contains(l.str("bucket"), "-backup-") {
			l.prodAdminOnly(one("s3:DeleteBucket", arn, nil))
		} else {
			l.add(nil, arn, "s3:DeleteBucket")
		}
	},
	"aws:s3/bucketObjectv2:BucketObjectv2": func(l *lifecycle) {
		arn := l.bucket(l.str("bucket")) + "/" + l.str("key")
		l.add(nil, arn, "s3:PutObject", "s3:PutObjectTagging", "s3:GetObject", "s3:GetObjectTagging", "s3:DeleteObject",
			"s3:DeleteObjectVersion")
	},
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2": func(l *lifecycle) {
		l.add(nil, l.bucket(l.str("bucket")), "s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration")
	},
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls": func(l *lifecycle) {
		l.add(nil, l.bucket(l.str("bucket")), "s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls",
			"s3:DeleteBucketOwnershipControls")
	},
	"aws:s3/bucketPolicy:BucketPolicy": func(l *lifecycle) {
		l.add(nil, l.bucket(l.str("bucket")), "s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy")
	},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": func(l *lifecycle) {
		l.add(nil, l.bucket(l.str("bucket")), "s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock")
	},
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": func(l *lifecycle) {
		l.add(nil, l.bucket(l.str("bucket")), "s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration")
	},
	"aws:s3/bucketVersioningV2:BucketVersioningV2": func(l *lifecycle) {
		l.add(nil, l.bucket(l.str("bucket")), "s3:PutBucketVersioning", "s3:GetBucketVersioning")
	},
	"aws:cloudfront/distribution:Distribution": func(l *lifecycle) {
		arn := l.global("cloudfront", "distribution/"+l.r.ID)
		l.add(l.creating(), l.global("cloudfront", "distribution/*"), "cloudfront:CreateDistributionWithTags", "cloudfront:TagResource")
		l.add(l.own(), arn, "cloudfront:GetDistribution", "cloudfront:UpdateDistribution", "cloudfront:ListTagsForResource",
			"cloudfront:DeleteDistribution")
	},
	"aws:cloudfront/function:Function": func(l *lifecycle) {
		l.add(nil, l.global("cloudfront", "function/"+l.str("name")), "cloudfront:CreateFunction", "cloudfront:PublishFunction",
			"cloudfront:DescribeFunction", "cloudfront:GetFunction", "cloudfront:UpdateFunction", "cloudfront:DeleteFunction")
	},
	"aws:cloudfront/originAccessControl:OriginAccessControl": func(l *lifecycle) {
		l.add(nil, l.global("cloudfront", "origin-access-control/"+l.r.ID), "cloudfront:CreateOriginAccessControl",
			"cloudfront:GetOriginAccessControl", "cloudfront:UpdateOriginAccessControl", "cloudfront:DeleteOriginAccessControl")
	},
	"aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": func(l *lifecycle) {
		l.add(nil, l.global("cloudfront", "response-headers-policy/"+l.r.ID), "cloudfront:CreateResponseHeadersPolicy",
			"cloudfront:GetResponseHeadersPolicy", "cloudfront:UpdateResponseHeadersPolicy", "cloudfront:DeleteResponseHeadersPolicy")
	},
	// CloudFront access logs through vended log delivery (us-east-1).
	"aws:cloudwatch/logDeliverySource:LogDeliverySource": func(l *lifecycle) {
		arn := l.arn("logs", "delivery-source:"+l.str("name"))
		l.add(l.creating(), arn, "logs:PutDeliverySource", "logs:TagResource")
		l.add(l.own(), l.str("resourceArn"), "cloudfront:AllowVendedLogDeliveryForResource")
		l.add(l.own(), arn, "logs:GetDeliverySource", "logs:ListTagsForResource", "logs:DeleteDeliverySource")
		l.add(nil, "*", "logs:DescribeDeliverySources")
	},
	"aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination": func(l *lifecycle) {
		arn := l.arn("logs", "delivery-destination:"+l.str("name"))
		l.add(l.creating(), arn, "logs:PutDeliveryDestination", "logs:TagResource")
		l.add(l.own(), arn, "logs:GetDeliveryDestination", "logs:ListTagsForResource", "logs:DeleteDeliveryDestination")
		// Delivering to a log group adds the account's logs resource
		// policy for the delivery service.
		l.add(nil, "*", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
			"logs:DescribeDeliveryDestinations")
		l.add(l.own(), l.str("deliveryDestinationConfiguration.destinationResourceArn"), "logs:ListTagsForResource")
	},
	"aws:cloudwatch/logDelivery:LogDelivery": func(l *lifecycle) {
		for _, r := range []string{l.arn("logs", "delivery-source:"+l.str("deliverySourceName")), l.str("deliveryDestinationArn"),
			l.arn("logs", "delivery:*")} {
			l.add(l.creating(), r, "logs:CreateDelivery")
		}
		l.add(l.creating(), l.arn("logs", "delivery:*"), "logs:TagResource")
		l.add(l.own(), l.arn("logs", "delivery:"+l.r.ID), "logs:GetDelivery", "logs:UpdateDeliveryConfiguration",
			"logs:ListTagsForResource", "logs:DeleteDelivery")
		l.add(nil, "*", "logs:DescribeDeliveries")
	},
	// DNS (custom domain): the zone is looked up, never created.
	"aws:acm/certificate:Certificate": func(l *lifecycle) {
		l.add(l.creating(), "*", "acm:RequestCertificate")
		l.add(l.creating(), "arn:aws:acm:us-east-1:"+acct+":certificate/*", "acm:AddTagsToCertificate")
		l.add(l.own(), l.r.Out("arn").(string), "acm:DescribeCertificate", "acm:ListTagsForCertificate", "acm:DeleteCertificate")
	},
	"aws:acm/certificateValidation:CertificateValidation": func(l *lifecycle) {
		l.add(l.own(), l.str("certificateArn"), "acm:DescribeCertificate")
	},
	"aws:route53/record:Record": func(l *lifecycle) {
		// The zone plus the batch's normalized record names
		// (changeRecordSets).
		l.requests = append(l.requests, changeRecordSets(l.str("zoneId"), []string{l.str("name")}, []string{l.str("type")}))
		l.add(nil, "arn:aws:route53:::hostedzone/"+l.str("zoneId"), "route53:ListResourceRecordSets")
		l.add(nil, "arn:aws:route53:::change/C0123", "route53:GetChange")
	},
	// The database backups (infra's backup.go, issue 14): the calls CI
	// makes creating, reading, updating and (outside prod, where they are
	// retained) deleting them. AWS's Service Authorization Reference names
	// the resource each action is checked on: vault and lock calls on the
	// vault, plan and selection calls on the plan (plans go by their stack
	// tag: ids only), PassRole on AWS Backup's role.
	"aws:backup/vault:Vault": func(l *lifecycle) {
		arn := l.arn("backup", "backup-vault:"+l.str("name"))
		l.add(nil, arn, "backup:CreateBackupVault", "backup:DescribeBackupVault", "backup:ListTags", "backup:TagResource",
			"backup:UntagResource")
		// Creating a vault mounts its storage and grants AWS Backup the
		// default key (aws/backup) through KMS.
		l.add(nil, "*", "backup-storage:MountCapsule")
		l.add(map[string][]string{"kms:ViaService": {"backup." + l.region() + ".amazonaws.com"}}, l.arn("kms", "key/*"),
			"kms:CreateGrant", "kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt", "kms:RetireGrant")
		l.prodAdminOnly(one("backup:DeleteBackupVault", arn, nil))
	},
	"aws:backup/vaultLockConfiguration:VaultLockConfiguration": func(l *lifecycle) {
		arn := l.arn("backup", "backup-vault:"+l.str("backupVaultName"))
		l.add(nil, arn, "backup:PutBackupVaultLockConfiguration", "backup:DescribeBackupVault")
		// Only a governance-mode lock (dev) can be removed; prod's is
		// retained, and immutable after its grace period.
		l.prodAdminOnly(one("backup:DeleteBackupVaultLockConfiguration", arn, nil))
	},
	"aws:backup/plan:Plan": func(l *lifecycle) {
		l.add(l.creating(), l.arn("backup", "backup-plan:*"), "backup:CreateBackupPlan", "backup:TagResource")
		arn := l.arn("backup", "backup-plan:"+l.r.ID)
		l.add(l.own(), arn, "backup:GetBackupPlan", "backup:UpdateBackupPlan", "backup:ListTags", "backup:TagResource",
			"backup:UntagResource")
		l.prodAdminOnly(one("backup:DeleteBackupPlan", arn, l.own()))
	},
	"aws:backup/selection:Selection": func(l *lifecycle) {
		plan := l.arn("backup", "backup-plan:"+l.str("planId"))
		l.add(l.own(), plan, "backup:CreateBackupSelection", "backup:GetBackupSelection")
		l.prodAdminOnly(one("backup:DeleteBackupSelection", plan, l.own()))
		l.add(map[string][]string{"iam:PassedToService": {"backup.amazonaws.com"}}, l.roleARN(l.str("iamRoleArn")), "iam:PassRole")
	},
	"aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2": func(l *lifecycle) {
		// Object Lock is switched on at CreateBucket, which then also
		// needs these two on the bucket.
		l.add(nil, l.bucket(l.str("bucket")), "s3:PutBucketObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration",
			"s3:PutBucketVersioning")
	},
}
