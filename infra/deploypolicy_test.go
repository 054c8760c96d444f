package infra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// This file asks the question the statement-by-statement checks cannot:
// may the deploy identity actually create, read, update and delete every
// resource the program registers, and make every invoke it makes? Each
// resource type maps to the IAM calls AWS authorizes for it (a short
// table: the main calls, not every read the provider makes), and a small
// IAM evaluator decides each call against the deploy policy.

// iamStatement is one statement with every field the evaluator reads.
type iamStatement struct {
	Sid                                      string
	Effect                                   string
	Action, NotAction, Resource, NotResource any
	Condition                                map[string]map[string]any
}

type iamDoc struct{ Statement []iamStatement }

// iamCall is one authorized request: an action on a resource ARN with the
// request context AWS evaluates conditions against.
type iamCall struct {
	Action, ARN string
	Context     map[string][]string
}

// iamGlob is IAM's wildcard match (* any run, ? one character);
// fold makes it case-insensitive, as action names are.
func iamGlob(pattern, s string, fold bool) bool {
	re := regexp.QuoteMeta(pattern)
	re = strings.ReplaceAll(strings.ReplaceAll(re, `\*`, ".*"), `\?`, ".")
	if fold {
		re = "(?i)" + re
	}
	return regexp.MustCompile("^" + re + "$").MatchString(s)
}

// conditionHolds evaluates one condition operator on one key: the
// operators the deploy policy uses; any other fails the test.
func conditionHolds(t *testing.T, op, key string, want []string, ctx map[string][]string) bool {
	t.Helper()
	got, present := ctx[key]
	if base, ok := strings.CutSuffix(op, "IfExists"); ok {
		if !present {
			return true
		}
		op = base
	}
	any := func(match func(w, g string) bool) bool {
		for _, g := range got {
			for _, w := range want {
				if match(w, g) {
					return true
				}
			}
		}
		return false
	}
	switch op {
	case "Null":
		return (want[0] == "true") == !present
	case "StringEquals", "ArnEquals":
		return any(func(w, g string) bool { return w == g })
	case "StringLike", "ArnLike":
		return any(func(w, g string) bool { return iamGlob(w, g, false) })
	case "StringNotEquals":
		return present && !any(func(w, g string) bool { return w == g })
	case "Bool":
		return any(func(w, g string) bool { return strings.EqualFold(w, g) })
	}
	t.Fatalf("evaluator: condition operator %s not supported", op)
	return false
}

func statementMatches(t *testing.T, st iamStatement, c iamCall) bool {
	t.Helper()
	matchAny := func(patterns any, s string, fold bool) bool {
		return slices.ContainsFunc(strs(patterns), func(p string) bool { return iamGlob(p, s, fold) })
	}
	if st.Action != nil && !matchAny(st.Action, c.Action, true) || st.NotAction != nil && matchAny(st.NotAction, c.Action, true) {
		return false
	}
	if st.Resource != nil && !matchAny(st.Resource, c.ARN, false) || st.NotResource != nil && matchAny(st.NotResource, c.ARN, false) {
		return false
	}
	for op, keys := range st.Condition {
		for key, values := range keys {
			if !conditionHolds(t, op, key, strs(values), c.Context) {
				return false
			}
		}
	}
	return true
}

// iamAllows is IAM's decision for one identity policy: an explicit Deny
// wins, else some Allow must match, else the implicit deny.
func iamAllows(t *testing.T, doc iamDoc, c iamCall) (bool, string) {
	t.Helper()
	allowed, by := false, ""
	for _, st := range doc.Statement {
		if !statementMatches(t, st, c) {
			continue
		}
		if st.Effect == "Deny" {
			return false, "denied by " + st.Sid
		}
		allowed, by = true, st.Sid
	}
	if !allowed {
		return false, "no statement allows it"
	}
	return true, by
}

func TestIAMEvaluator(t *testing.T) {
	doc := iamDoc{Statement: []iamStatement{
		{Sid: "A", Effect: "Allow", Action: "ec2:Describe*", Resource: "*"},
		{Sid: "B", Effect: "Allow", Action: []any{"ec2:CreateTags"}, Resource: "arn:aws:ec2:*:1:instance/*",
			Condition: map[string]map[string]any{"StringLike": {"aws:ResourceTag/stack": []any{"dev", "pr-*"}},
				"StringLikeIfExists": {"aws:RequestTag/stack": []any{"dev", "pr-*"}}}},
		{Sid: "C", Effect: "Allow", NotAction: "iam:*", Resource: "arn:aws:s3:::b"},
		{Sid: "D", Effect: "Deny", Action: "s3:DeleteBucket", Resource: "*"},
		{Sid: "E", Effect: "Allow", Action: "ec2:CreateTags", Resource: "arn:aws:ec2:*:1:security-group/*",
			Condition: map[string]map[string]any{"Null": {"aws:ResourceTag/stack": "true"}}},
	}}
	tag := func(k, v string) map[string][]string { return map[string][]string{k: {v}} }
	for _, tc := range []struct {
		c    iamCall
		want bool
	}{
		{iamCall{"EC2:describeinstances", "*", nil}, true},
		{iamCall{"ec2:RunInstances", "*", nil}, false},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:instance/i-1", tag("aws:ResourceTag/stack", "pr-7")}, true},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:instance/i-1", tag("aws:ResourceTag/stack", "prod")}, false},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:instance/i-1", nil}, false},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:instance/i-1", map[string][]string{
			"aws:ResourceTag/stack": {"dev"}, "aws:RequestTag/stack": {"prod"}}}, false},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:security-group/sg-1", nil}, true},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:security-group/sg-1", tag("aws:ResourceTag/stack", "x")}, false},
		{iamCall{"s3:PutBucketPolicy", "arn:aws:s3:::b", nil}, true},
		{iamCall{"iam:CreateRole", "arn:aws:s3:::b", nil}, false},
		{iamCall{"s3:DeleteBucket", "arn:aws:s3:::b", nil}, false},
	} {
		if got, why := iamAllows(t, doc, tc.c); got != tc.want {
			t.Errorf("%s on %s %v = %v (%s), want %v", tc.c.Action, tc.c.ARN, tc.c.Context, got, why, tc.want)
		}
	}
}

// lifecycle builds the calls one resource's create, read, update and
// delete make, in the context of the stack that owns it.
type lifecycle struct {
	t     *testing.T
	res   *mockcloud.Result
	r     mockcloud.Resource
	calls []iamCall
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

// add records calls; ctx is one of the contexts below.
func (l *lifecycle) add(ctx map[string][]string, arn string, actions ...string) {
	for _, a := range actions {
		l.calls = append(l.calls, iamCall{a, arn, ctx})
	}
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
// (outside the deploy identity itself, which the administrator manages).
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
		l.ec2Create("volume", "CreateVolume", "DeleteVolume")
		l.ec2Own("volume", l.r.ID, "ec2:ModifyVolume")
	},
	"aws:ec2/volumeAttachment:VolumeAttachment": func(l *lifecycle) {
		for _, v := range []string{"ec2:AttachVolume", "ec2:DetachVolume"} {
			l.ec2Own("instance", l.str("instanceId"), v)
			l.ec2Own("volume", l.str("volumeId"), v)
		}
	},
	"aws:ec2/eip:Eip": func(l *lifecycle) {
		l.ec2Create("elastic-ip", "AllocateAddress", "ReleaseAddress")
	},
	"aws:ec2/eipAssociation:EipAssociation": func(l *lifecycle) {
		l.ec2Own("elastic-ip", l.str("allocationId"), "ec2:AssociateAddress", "ec2:DisassociateAddress")
		l.ec2Own("instance", l.str("instanceId"), "ec2:AssociateAddress")
	},
	"aws:dlm/lifecyclePolicy:LifecyclePolicy": func(l *lifecycle) {
		l.add(l.creating(), "*", "dlm:CreateLifecyclePolicy")
		l.add(l.creating(), l.arn("dlm", "policy/*"), "dlm:TagResource")
		l.add(map[string][]string{"iam:PassedToService": {"dlm.amazonaws.com"}}, l.roleARN(l.str("executionRoleArn")), "iam:PassRole")
		l.add(l.own(), l.arn("dlm", "policy/"+l.r.ID), "dlm:GetLifecyclePolicy", "dlm:UpdateLifecyclePolicy",
			"dlm:DeleteLifecyclePolicy", "dlm:TagResource", "dlm:UntagResource")
	},
	// IAM roles of the stack (not the deploy identity).
	"aws:iam/role:Role": func(l *lifecycle) {
		arn := l.r.Out("arn").(string)
		l.add(l.bounded(arn, nil), arn, "iam:CreateRole", "iam:PutRolePermissionsBoundary")
		l.add(nil, arn, "iam:TagRole", "iam:GetRole", "iam:UpdateAssumeRolePolicy",
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
	// The role boundary (dev, prod): an administrator creates and changes
	// it (the deploy identity is denied every write); CI's previews and
	// updates read it.
	"aws:iam/policy:Policy": func(l *lifecycle) {
		arn := l.r.Out("arn").(string)
		l.add(nil, arn, "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions", "iam:ListPolicyTags")
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
	"aws:ssm/document:Document": func(l *lifecycle) {
		l.add(nil, l.arn("ssm", "document/"+l.str("name")), "ssm:CreateDocument", "ssm:AddTagsToResource", "ssm:GetDocument",
			"ssm:DescribeDocument", "ssm:DescribeDocumentPermission", "ssm:UpdateDocument", "ssm:UpdateDocumentDefaultVersion",
			"ssm:DeleteDocument")
	},
	"aws:ssm/association:Association": func(l *lifecycle) {
		for _, a := range []string{"ssm:CreateAssociation", "ssm:UpdateAssociation"} {
			l.add(nil, l.arn("ssm", "document/"+l.str("name")), a)
			l.add(l.own(), l.arn("ec2", "instance/"+l.str("targets[0].values[0]")), a)
		}
		l.add(l.creating(), l.arn("ssm", "association/*"), "ssm:CreateAssociation", "ssm:AddTagsToResource")
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
			"s3:DeleteBucket", "s3:ListBucketVersions")
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
		zone := "arn:aws:route53:::hostedzone/" + l.str("zoneId")
		l.add(nil, zone, "route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets")
		l.add(nil, "arn:aws:route53:::change/C0123", "route53:GetChange")
	},
}

// invokeCalls maps every invoke function the program calls (found in its
// source, so a new one fails this test until mapped) to its IAM calls.
// Some need no permission: GetCallerIdentity is always allowed, the
// partition is local, and policy documents are rendered locally.
func invokeCalls(t *testing.T, res *mockcloud.Result) map[string][]iamCall {
	region := one(t, res, "aws:ec2/vpc:Vpc").Region
	star := func(actions ...string) []iamCall {
		out := []iamCall{}
		for _, a := range actions {
			out = append(out, iamCall{a, "*", nil})
		}
		return out
	}
	prefixList := ""
	for _, r := range res.ByType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
		if id, ok := r.In("prefixListId").(string); ok {
			prefixList = id
		}
	}
	if prefixList == "" {
		t.Fatalf("%s: no ingress rule names the CloudFront prefix list", res.Stack)
	}
	repos := res.ByType("aws:ecr/repository:Repository")
	if len(repos) == 0 {
		t.Fatalf("%s: no repository", res.Stack)
	}
	repo := repos[0]
	return map[string][]iamCall{
		"aws.GetCallerIdentityOutput":     nil,
		"aws.GetPartitionOutput":          nil,
		"aws.GetRegionOutput":             nil,
		"iam.GetPolicyDocumentOutput":     nil,
		"aws.GetAvailabilityZonesOutput":  star("ec2:DescribeAvailabilityZones"),
		"ec2.LookupAmiOutput":             star("ec2:DescribeImages"),
		"ecr.GetAuthorizationTokenOutput": star("ecr:GetAuthorizationToken"),
		"ec2.LookupManagedPrefixListOutput": append(star("ec2:DescribeManagedPrefixLists"),
			iamCall{"ec2:GetManagedPrefixListEntries", "arn:aws:ec2:" + region + ":aws:prefix-list/" + prefixList, nil}),
		"route53.LookupZoneOutput": append(star("route53:ListHostedZones", "route53:ListHostedZonesByName"),
			iamCall{"route53:GetHostedZone", "arn:aws:route53:::hostedzone/Z0123", nil},
			iamCall{"route53:ListTagsForResource", "arn:aws:route53:::hostedzone/Z0123", nil}),
		"cloudfront.LookupCachePolicyOutput": append(star("cloudfront:ListCachePolicies"),
			iamCall{"cloudfront:GetCachePolicy", "arn:aws:cloudfront::" + acct + ":cache-policy/658327ea-f89d-4fab-a63d-7e88639e58f6", nil}),
		"cloudfront.LookupOriginRequestPolicyOutput": append(star("cloudfront:ListOriginRequestPolicies"),
			iamCall{"cloudfront:GetOriginRequestPolicy", "arn:aws:cloudfront::" + acct + ":origin-request-policy/b689b0a8-53d0-40ab-baf2-68738e2966ac", nil}),
		// The registry's look-ups of a tag (registry.go): the newest
		// image's tags, then the tag's digest.
		"ecr.LookupRepositoryOutput": {
			{"ecr:DescribeRepositories", repo.Out("arn").(string), nil},
			{"ecr:DescribeImages", repo.Out("arn").(string), nil},
			{"ecr:ListTagsForResource", repo.Out("arn").(string), nil},
		},
		"ecr.GetImageOutput": {{"ecr:DescribeImages", repo.Out("arn").(string), nil}},
		"docker.LookupRegistryImageOutput": {
			{"ecr:GetAuthorizationToken", "*", nil},
			{"ecr:BatchGetImage", repo.Out("arn").(string), nil},
		},
		// release.go: the host's receipts, read before and after the rollout.
		"ssm.GetParametersByPathOutput": {{"ssm:GetParametersByPath", "arn:aws:ssm:" + region + ":" + acct + ":parameter/slipway/" + res.Stack + "/receipts", nil}},
		// network.go: the zones that offer the host's instance type.
		"ec2.GetInstanceTypeOfferingsOutput": star("ec2:DescribeInstanceTypeOfferings"),
	}
}

// programInvokes lists the invoke functions the program's source calls.
func programInvokes(t *testing.T) []string {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\b([a-z0-9]+\.(?:Get|Lookup)[A-Za-z0-9]*Output)\(`)
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			seen[m[1]] = true
		}
	}
	out := []string{}
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) < 5 {
		t.Fatalf("found only invokes %v: is the test running in infra/?", out)
	}
	return out
}

func deployDoc(t *testing.T, res *mockcloud.Result) iamDoc {
	t.Helper()
	var doc iamDoc
	for _, p := range deployPolicies(res) {
		var part iamDoc
		if err := json.Unmarshal([]byte(p.Str("policy")), &part); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		doc.Statement = append(doc.Statement, part.Statement...)
	}
	if len(doc.Statement) == 0 {
		t.Fatalf("%s: no deploy policy", res.Stack)
	}
	return doc
}

// The deploy identity of dev (deploying dev and review stacks) and of
// prod can make every call its stacks' resources and invokes need.
func TestDeployPolicyAllowsEveryCallTheProgramMakes(t *testing.T) {
	results := map[string]*mockcloud.Result{}
	for _, stack := range allStacks {
		results[stack] = deploy(t, stack)
	}
	// Outside us-east-1, the CloudFront pieces (access logs, the 5xx
	// alarm and its topic) are in another region than the rest.
	results["prod-eu"] = deploy(t, "prod", func(f *stacks.Files) { f.Values["aws:region"] = "eu-west-1" })
	invokes := programInvokes(t)
	for _, tc := range []struct{ owner, stack string }{{"dev", "dev"}, {"dev", "pr-7"}, {"prod", "prod"}, {"prod-eu", "prod-eu"}} {
		doc := deployDoc(t, results[tc.owner])
		res := results[tc.stack]
		check := func(what string, calls []iamCall) {
			for _, c := range calls {
				if ok, why := iamAllows(t, doc, c); !ok {
					t.Errorf("%s's deploy identity on %s: %s: %s on %s %v: %s", tc.owner, tc.stack, what, c.Action, c.ARN, c.Context, why)
				}
			}
		}
		types := map[string]bool{}
		for _, r := range res.Resources {
			// pulumi:index:* (the host's Stash) live in the engine's state only: no AWS call.
			if !r.Custom || strings.HasPrefix(r.Type, "pulumi:providers:") || strings.HasPrefix(r.Type, "pulumi:index:") || strings.HasPrefix(r.Name, "deploy-") {
				continue
			}
			types[r.Type] = true
			build, ok := resourceCalls[r.Type]
			if !ok {
				t.Errorf("%s: resource type %s (%s) is not in the table of IAM calls: add it", tc.stack, r.Type, r.Name)
				continue
			}
			l := &lifecycle{t: t, res: res, r: r}
			build(l)
			if len(l.calls) == 0 {
				t.Fatalf("%s: no calls", r.Type)
			}
			check(r.Type+" "+r.Name, l.calls)
		}
		if len(types) < 40 {
			t.Errorf("%s: only %d resource types checked", tc.stack, len(types))
		}
		table := invokeCalls(t, res)
		for _, fn := range invokes {
			calls, ok := table[fn]
			if !ok {
				t.Errorf("invoke %s is not in the table of IAM calls: add it", fn)
				continue
			}
			check("invoke "+fn, calls)
		}
	}
}

// And the deny side: the calls that would take the identity out of its
// stacks are refused, whatever the statements above allow.
func TestDeployPolicyRefusesEscalations(t *testing.T) {
	res := deploy(t, "dev")
	doc := deployDoc(t, res)
	user := one(t, res, "aws:iam/user:User").Out("arn").(string)
	foreign := map[string][]string{"aws:ResourceTag/stack": {"prod"}}
	untagged := map[string][]string(nil)
	ec2 := func(kind string) string { return "arn:aws:ec2:us-east-1:" + acct + ":" + kind + "/x-0123" }
	for _, c := range []iamCall{
		// Tagging someone else's resource into reach, then changing it.
		{"ec2:CreateTags", ec2("instance"), foreign},
		{"ec2:CreateTags", ec2("instance"), untagged},
		{"ec2:CreateTags", ec2("instance"), map[string][]string{"aws:RequestTag/stack": {"dev"}}},
		{"ec2:CreateTags", ec2("instance"), map[string][]string{"aws:ResourceTag/stack": {"dev"}, "aws:RequestTag/stack": {"prod"}}},
		{"ec2:CreateTags", ec2("instance"), map[string][]string{"aws:RequestTag/stack": {"prod"}, "ec2:CreateAction": {"RunInstances"}}},
		{"ec2:ModifyInstanceAttribute", ec2("instance"), foreign},
		{"ec2:TerminateInstances", ec2("instance"), untagged},
		{"ec2:AttachVolume", ec2("volume"), foreign},
		{"ec2:DetachVolume", ec2("instance"), untagged},
		{"ec2:StopInstances", ec2("instance"), foreign},
		{"ec2:CreateTags", ec2("security-group"), foreign},
		// Running commands as root on other instances.
		{"ssm:SendCommand", ec2("instance"), map[string][]string{"aws:ResourceTag/stack": {"dev"}}},
		{"ssm:CreateAssociation", ec2("instance"), foreign},
		// Tag-on-create for another stack.
		{"kms:TagResource", "arn:aws:kms:us-east-1:" + acct + ":key/k", map[string][]string{"aws:RequestTag/stack": {"prod"}}},
		{"acm:AddTagsToCertificate", "arn:aws:acm:us-east-1:" + acct + ":certificate/c", untagged},
		// The identity itself and roles.
		{"iam:AttachGroupPolicy", one(t, res, "aws:iam/group:Group").Out("arn").(string), nil},
		{"iam:CreateAccessKey", user, nil},
		{"sts:AssumeRole", "arn:aws:iam::" + acct + ":role/slipway/slipway-dev-host-1", nil},
		{"iam:AttachRolePolicy", "arn:aws:iam::" + acct + ":role/slipway/slipway-dev-host-1",
			map[string][]string{"iam:PolicyARN": {"arn:aws:iam::aws:policy/AdministratorAccess"}}},
		{"iam:PassRole", "arn:aws:iam::" + acct + ":role/slipway/slipway-dev-host-1",
			map[string][]string{"iam:PassedToService": {"lambda.amazonaws.com"}}},
		{"ec2:GetManagedPrefixListEntries", "arn:aws:ec2:us-east-1:" + acct + ":prefix-list/pl-mine", nil},
	} {
		if ok, why := iamAllows(t, doc, c); ok {
			t.Errorf("dev's deploy identity may %s on %s %v (%s)", c.Action, c.ARN, c.Context, why)
		}
	}
	escalationsThroughRoles(t, doc)
}

// escalationsThroughRoles: the identity may write a role's rights only on
// a role that carries its stacks' boundary, never take a boundary off, and
// never change a boundary; with the boundary, the calls the program makes
// go through.
func escalationsThroughRoles(t *testing.T, doc iamDoc) {
	t.Helper()
	role := func(name string) string { return "arn:aws:iam::" + acct + ":role/slipway/" + name }
	policy := func(name string) string { return "arn:aws:iam::" + acct + ":policy/slipway/" + name }
	devBoundary, prodBoundary := policy("slipway-dev-role-boundary"), policy("slipway-prod-role-boundary")
	bounded := func(b string, extra ...string) map[string][]string {
		ctx := map[string][]string{}
		if b != "" {
			ctx["iam:PermissionsBoundary"] = []string{b}
		}
		for i := 0; i+1 < len(extra); i += 2 {
			ctx[extra[i]] = []string{extra[i+1]}
		}
		return ctx
	}
	ssmCore := []string{"iam:PolicyARN", "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}
	own := []string{"iam:PolicyARN", policy("slipway-dev-extra")}
	for _, host := range []string{role("slipway-dev-host-1"), role("slipway-pr-7-host-1"), role("slipway-dev-new-1")} {
		for _, c := range []iamCall{
			// Without a boundary, or with another one (prod's, or a
			// project policy the identity would like to be the limit).
			{"iam:CreateRole", host, bounded("")},
			{"iam:CreateRole", host, bounded(prodBoundary)},
			{"iam:PutRolePolicy", host, bounded("")},
			{"iam:PutRolePolicy", host, bounded(policy("slipway-dev-deploy-policy-identity-1"))},
			{"iam:DeleteRolePolicy", host, bounded("")},
			{"iam:AttachRolePolicy", host, bounded("", ssmCore...)},
			{"iam:AttachRolePolicy", host, bounded("", own...)},
			{"iam:DetachRolePolicy", host, bounded("", ssmCore...)},
			{"iam:PutRolePermissionsBoundary", host, bounded(policy("slipway-dev-anything"))},
			{"iam:PutRolePermissionsBoundary", host, bounded(prodBoundary)},
			// Taking the boundary off, with or without it in the context.
			{"iam:DeleteRolePermissionsBoundary", host, bounded(devBoundary)},
			{"iam:DeleteRolePermissionsBoundary", host, bounded("")},
			// Within the boundary, but an AWS policy that is not one of the two.
			{"iam:AttachRolePolicy", host, bounded(devBoundary, "iam:PolicyARN", "arn:aws:iam::aws:policy/AdministratorAccess")},
		} {
			if ok, why := iamAllows(t, doc, c); ok {
				t.Errorf("dev's deploy identity may %s on %s %v (%s)", c.Action, c.ARN, c.Context, why)
			}
		}
		for _, c := range []iamCall{
			{"iam:CreateRole", host, bounded(devBoundary)},
			{"iam:PutRolePolicy", host, bounded(devBoundary)},
			{"iam:DeleteRolePolicy", host, bounded(devBoundary)},
			{"iam:PutRolePermissionsBoundary", host, bounded(devBoundary)},
			{"iam:AttachRolePolicy", host, bounded(devBoundary, ssmCore...)},
			{"iam:AttachRolePolicy", host, bounded(devBoundary, own...)},
			{"iam:DetachRolePolicy", host, bounded(devBoundary, ssmCore...)},
		} {
			if ok, why := iamAllows(t, doc, c); !ok {
				t.Errorf("dev's deploy identity may not %s on %s %v (%s)", c.Action, c.ARN, c.Context, why)
			}
		}
	}
	// Changing a boundary (dev's or prod's) or creating one, or taking one
	// off a role: an administrator's job. Explicit denies, so they hold
	// even if the identity is someday given a broader policy too.
	broader := iamDoc{Statement: append([]iamStatement{{Sid: "Broader", Effect: "Allow", Action: "*", Resource: "*"}}, doc.Statement...)}
	for _, b := range []string{devBoundary, prodBoundary} {
		for _, a := range []string{"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion",
			"iam:SetDefaultPolicyVersion", "iam:DeletePolicy", "iam:TagPolicy", "iam:UntagPolicy"} {
			if ok, why := iamAllows(t, broader, iamCall{a, b, nil}); ok {
				t.Errorf("dev's deploy identity may %s on %s (%s)", a, b, why)
			}
		}
	}
	for _, r := range []string{role("slipway-dev-host-1"), role("anything")} {
		if ok, why := iamAllows(t, broader, iamCall{"iam:DeleteRolePermissionsBoundary", r, bounded(devBoundary)}); ok {
			t.Errorf("dev's deploy identity may take the boundary off %s (%s)", r, why)
		}
	}
	// Reading its own boundary is what previews and refreshes do.
	for _, a := range []string{"iam:GetPolicy", "iam:GetPolicyVersion"} {
		if ok, why := iamAllows(t, doc, iamCall{a, devBoundary, nil}); !ok {
			t.Errorf("dev's deploy identity may not %s its boundary (%s)", a, why)
		}
	}
}
