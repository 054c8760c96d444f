package foundation_test

import (
	"encoding/json"
	"strings"
)

// The IAM calls of the ECS + RDS profile's resources (infra's cluster.go,
// loadbalancer.go, autoscaling.go, rds.go; issue 15). The resource each
// action is checked on, and the condition keys it offers, are AWS's
// Service Authorization Reference's ("Actions, resources, and condition
// keys for ..."), cited per service:
//   - Amazon Elastic Container Service: CreateCluster, CreateService
//     (cluster*, service*; aws:RequestTag), TagResource (ecs:CreateAction
//     for tag-on-create), Describe/Update/DeleteService (service*),
//     RegisterTaskDefinition, DescribeTaskDefinition and
//     DeregisterTaskDefinition (no resource type: "*").
//   - Elastic Load Balancing V2: CreateLoadBalancer (loadbalancer/app*),
//     CreateTargetGroup (targetgroup*), CreateListener (loadbalancer/app*,
//     listener/app*), CreateRule (listener/app*, listener-rule/app*),
//     AddTags (aws:RequestTag, elasticloadbalancing:CreateAction),
//     Describe* (no resource type).
//   - Application Auto Scaling: RegisterScalableTarget, PutScalingPolicy,
//     DeleteScalingPolicy, DeregisterScalableTarget (scalable-target*;
//     aws:RequestTag on register), Describe* (no resource type); AWS's
//     "Identity-based policy examples for Application Auto Scaling" adds
//     ecs:DescribeServices and ecs:UpdateService on the ECS service for
//     RegisterScalableTarget.
//   - Amazon RDS: CreateDBInstance (db*, og, pg, subgrp; aws:RequestTag),
//     ModifyDBInstance (db*, og, pg, subgrp), DescribeDBInstances (db*),
//     the subnet- and parameter-group calls (subgrp*, pg*),
//     AddTagsToResource (every taggable type; aws:RequestTag).
//   - AWS Secrets Manager: CreateSecret and TagResource (secret*;
//     aws:RequestTag), DeleteSecret (secret*; aws:ResourceTag); with
//     ManageMasterUserPassword RDS calls them in the caller's name
//     (RDS User Guide, "Permissions required for Secrets Manager
//     integration"), tagging the secret aws:rds:primaryDBInstanceArn.
//   - AWS WAF V2: CreateWebACL and UpdateWebACL (webacl*, and the
//     regexpatternset a rule references; aws:RequestTag on create, with
//     wafv2:TagResource for the tags), Get/DeleteWebACL (webacl*),
//     CreateRegexPatternSet (regexpatternset*; aws:RequestTag, TagResource),
//     Get/Update/DeleteRegexPatternSet (regexpatternset*), AssociateWebACL
//     (webacl*, loadbalancer/app; with elasticloadbalancing:SetWebAcl and,
//     per the reference's API-operations table,
//     elasticloadbalancing:CreateWebACLAssociation), DisassociateWebACL
//     (loadbalancer/app; SetWebAcl), GetWebACLForResource (webacl*,
//     loadbalancer/app). ARNs are <scope>/webacl/<name>/<id>.
// Target-tracking alarms are made by Application Auto Scaling's
// service-linked role, not the caller.

func init() {
	for k, v := range ecsResourceCalls {
		resourceCalls[k] = v
	}
}

// tail is the last path segment of an ARN or id.
func tail(s string) string { return s[strings.LastIndex(s, "/")+1:] }

// ecsServiceARN is a service's ARN in ECS's long format,
// service/<cluster>/<service>.
func (l *lifecycle) ecsServiceARN(cluster, name string) string {
	return l.arn("ecs", "service/"+tail(cluster)+"/"+name)
}

// byType finds the stack's resource of a type whose output or input
// path equals value.
func (l *lifecycle) find(typ, path, value string) string {
	for _, r := range l.res.ByType(typ) {
		if s, _ := r.Out(path).(string); s == value {
			return r.ID
		}
		if s, _ := r.In(path).(string); s == value {
			return r.ID
		}
	}
	l.t.Fatalf("%s: no %s with %s = %s", l.res.Stack, typ, path, value)
	return ""
}

// scalableTarget is the ARN of the scalable target of an ECS service
// (resourceId service/<cluster>/<service>).
func (l *lifecycle) scalableTarget(resourceID string) string {
	return l.arn("application-autoscaling", "scalable-target/"+l.find("aws:appautoscaling/target:Target", "resourceId", resourceID))
}

// serviceLinkedRole: the first resource of its service in an account
// creates the service's linked role in the caller's name (IAM User Guide,
// "Service-linked role permissions"; iam:AWSServiceName names the
// service).
func (l *lifecycle) serviceLinkedRole(service, role string) {
	l.add(map[string][]string{"iam:AWSServiceName": {service}}, l.global("iam", "role/aws-service-role/"+service+"/"+role),
		"iam:CreateServiceLinkedRole")
}

func (l *lifecycle) kmsVia(services ...string) {
	for _, s := range services {
		l.add(map[string][]string{"kms:ViaService": {s + "." + l.region() + ".amazonaws.com"}}, l.arn("kms", "key/*"),
			"kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt")
	}
}

var ecsResourceCalls = map[string]func(l *lifecycle){
	"aws:ecs/cluster:Cluster": func(l *lifecycle) {
		arn := l.str("arn")
		l.add(l.creating(), arn, "ecs:CreateCluster")
		l.serviceLinkedRole("ecs.amazonaws.com", "AWSServiceRoleForECS")
		l.add(merge(l.creating(), map[string][]string{"ecs:CreateAction": {"CreateCluster"}}), arn, "ecs:TagResource")
		l.add(l.own(), arn, "ecs:DescribeClusters", "ecs:UpdateCluster", "ecs:ListTagsForResource", "ecs:UntagResource",
			"ecs:DeleteCluster")
	},
	"aws:ecs/service:Service": func(l *lifecycle) {
		arn := l.ecsServiceARN(l.str("cluster"), l.str("name"))
		l.add(l.creating(), arn, "ecs:CreateService")
		l.add(merge(l.creating(), map[string][]string{"ecs:CreateAction": {"CreateService"}}), arn, "ecs:TagResource")
		// waitForSteadyState polls DescribeServices; a delete drains
		// (UpdateService to 0) and then deletes.
		l.add(l.own(), arn, "ecs:DescribeServices", "ecs:UpdateService", "ecs:ListTagsForResource", "ecs:DeleteService")
	},
	"aws:ecs/taskDefinition:TaskDefinition": func(l *lifecycle) {
		arn := l.arn("ecs", "task-definition/"+l.str("family")+":1")
		l.add(l.creating(), "*", "ecs:RegisterTaskDefinition")
		l.add(merge(l.creating(), map[string][]string{"ecs:CreateAction": {"RegisterTaskDefinition"}}), arn, "ecs:TagResource")
		// Registering names the two roles: PassRole to ECS tasks.
		for _, role := range []string{"executionRoleArn", "taskRoleArn"} {
			l.add(map[string][]string{"iam:PassedToService": {"ecs-tasks.amazonaws.com"}}, l.str(role), "iam:PassRole")
		}
		l.add(nil, "*", "ecs:DescribeTaskDefinition", "ecs:DeregisterTaskDefinition")
		l.add(l.own(), arn, "ecs:ListTagsForResource")
	},
	"aws:lb/loadBalancer:LoadBalancer": func(l *lifecycle) {
		arn := l.str("arn")
		l.add(l.creating(), arn, "elasticloadbalancing:CreateLoadBalancer")
		l.serviceLinkedRole("elasticloadbalancing.amazonaws.com", "AWSServiceRoleForElasticLoadBalancing")
		l.add(merge(l.creating(), map[string][]string{"elasticloadbalancing:CreateAction": {"CreateLoadBalancer"}}), arn,
			"elasticloadbalancing:AddTags")
		l.add(nil, "*", "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
			"elasticloadbalancing:DescribeTags")
		l.add(l.own(), arn, "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetSecurityGroups",
			"elasticloadbalancing:SetSubnets", "elasticloadbalancing:RemoveTags", "elasticloadbalancing:DeleteLoadBalancer")
	},
	"aws:lb/targetGroup:TargetGroup": func(l *lifecycle) {
		arn := l.str("arn")
		l.add(l.creating(), arn, "elasticloadbalancing:CreateTargetGroup")
		l.add(merge(l.creating(), map[string][]string{"elasticloadbalancing:CreateAction": {"CreateTargetGroup"}}), arn,
			"elasticloadbalancing:AddTags")
		l.add(nil, "*", "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
			"elasticloadbalancing:DescribeTags")
		l.add(l.own(), arn, "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes",
			"elasticloadbalancing:DeleteTargetGroup")
	},
	"aws:lb/listener:Listener": func(l *lifecycle) {
		lbARN := l.str("loadBalancerArn")
		arn := strings.Replace(lbARN, ":loadbalancer/", ":listener/", 1) + "/" + tail(l.str("arn"))
		// The request's tags are evaluated on every resource it names.
		l.add(merge(l.creating(), l.own()), lbARN, "elasticloadbalancing:CreateListener")
		l.add(l.creating(), arn, "elasticloadbalancing:CreateListener")
		l.add(merge(l.creating(), map[string][]string{"elasticloadbalancing:CreateAction": {"CreateListener"}}), arn,
			"elasticloadbalancing:AddTags")
		l.add(nil, "*", "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeTags")
		l.add(l.own(), arn, "elasticloadbalancing:ModifyListener", "elasticloadbalancing:DeleteListener")
	},
	"aws:lb/listenerRule:ListenerRule": func(l *lifecycle) {
		var listener string
		for _, r := range l.res.ByType("aws:lb/listener:Listener") {
			if r.Out("arn") == l.str("listenerArn") {
				listener = strings.Replace(r.Str("loadBalancerArn"), ":loadbalancer/", ":listener/", 1) + "/" + tail(l.str("listenerArn"))
			}
		}
		if listener == "" {
			l.t.Fatalf("%s: rule %s: no listener", l.res.Stack, l.r.Name)
		}
		arn := strings.Replace(listener, ":listener/", ":listener-rule/", 1) + "/" + tail(l.str("arn"))
		l.add(merge(l.creating(), l.own()), listener, "elasticloadbalancing:CreateRule")
		l.add(l.creating(), arn, "elasticloadbalancing:CreateRule")
		l.add(merge(l.creating(), map[string][]string{"elasticloadbalancing:CreateAction": {"CreateRule"}}), arn,
			"elasticloadbalancing:AddTags")
		// The rule's header condition holds the origin secret: a
		// DescribeRules anywhere in the account returns it
		// (docs/scaling.md says what that means in one account).
		l.add(nil, "*", "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTags")
		l.add(l.own(), arn, "elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities",
			"elasticloadbalancing:DeleteRule")
	},
	"aws:appautoscaling/target:Target": func(l *lifecycle) {
		arn := l.arn("application-autoscaling", "scalable-target/"+l.r.ID)
		l.add(l.creating(), l.arn("application-autoscaling", "scalable-target/*"), "application-autoscaling:RegisterScalableTarget",
			"application-autoscaling:TagResource")
		l.serviceLinkedRole("ecs.application-autoscaling.amazonaws.com", "AWSServiceRoleForApplicationAutoScaling_ECSService")
		// Registering an ECS service checks it can read and scale it.
		parts := strings.Split(l.str("resourceId"), "/")
		l.add(l.own(), l.arn("ecs", "service/"+parts[1]+"/"+parts[2]), "ecs:DescribeServices", "ecs:UpdateService")
		l.add(nil, "*", "application-autoscaling:DescribeScalableTargets")
		l.add(l.own(), arn, "application-autoscaling:RegisterScalableTarget", "application-autoscaling:ListTagsForResource",
			"application-autoscaling:UntagResource", "application-autoscaling:DeregisterScalableTarget")
	},
	"aws:appautoscaling/policy:Policy": func(l *lifecycle) {
		target := l.scalableTarget(l.str("resourceId"))
		l.add(l.own(), target, "application-autoscaling:PutScalingPolicy", "application-autoscaling:DeleteScalingPolicy")
		l.add(nil, "*", "application-autoscaling:DescribeScalingPolicies")
	},
	"aws:rds/instance:Instance": func(l *lifecycle) {
		arn := l.str("arn")
		sub, pg := l.arn("rds", "subgrp:"+l.str("dbSubnetGroupName")), l.arn("rds", "pg:"+l.str("parameterGroupName"))
		og := l.arn("rds", "og:default:postgres-"+l.str("engineVersion"))
		l.add(l.creating(), arn, "rds:CreateDBInstance", "rds:AddTagsToResource")
		l.serviceLinkedRole("rds.amazonaws.com", "AWSServiceRoleForRDS")
		// The create's request tags are evaluated on the groups it names
		// too; a modify names them as existing resources.
		l.add(merge(l.creating(), l.own()), sub, "rds:CreateDBInstance")
		l.add(merge(l.creating(), l.own()), pg, "rds:CreateDBInstance")
		l.add(l.own(), sub, "rds:ModifyDBInstance")
		l.add(l.own(), pg, "rds:ModifyDBInstance")
		l.add(nil, og, "rds:CreateDBInstance", "rds:ModifyDBInstance")
		// ManageMasterUserPassword: RDS creates the master secret in the
		// caller's name, tagged with the instance's ARN, and uses the
		// AWS-managed keys of RDS (storage) and Secrets Manager.
		secret := l.arn("secretsmanager", "secret:rds!db-"+l.r.ID)
		l.add(map[string][]string{"aws:RequestTag/aws:rds:primaryDBInstanceArn": {arn}}, secret,
			"secretsmanager:CreateSecret", "secretsmanager:TagResource")
		l.kmsVia("rds", "secretsmanager")
		l.add(l.own(), arn, "rds:DescribeDBInstances", "rds:ModifyDBInstance", "rds:ListTagsForResource",
			"rds:RemoveTagsFromResource")
		// Deleting prod's database, its snapshots or retained backups, or
		// sharing a snapshot, is an administrator's act.
		l.prodAdminOnly(one("rds:DeleteDBInstance", arn, l.own()),
			one("secretsmanager:DeleteSecret", secret, map[string][]string{"aws:ResourceTag/aws:rds:primaryDBInstanceArn": {arn}}))
		if l.res.Stack == "prod" {
			snap := l.arn("rds", "snapshot:"+l.str("finalSnapshotIdentifier"))
			l.adminOnly = append(l.adminOnly, one("rds:DeleteDBSnapshot", snap, l.own()),
				one("rds:ModifyDBSnapshotAttribute", snap, l.own()),
				one("rds:DeleteDBInstanceAutomatedBackup", l.arn("rds", "auto-backup:ab-1"), l.own()))
		}
	},
	"aws:wafv2/regexPatternSet:RegexPatternSet": func(l *lifecycle) {
		arn := l.str("arn")
		l.add(l.creating(), arn, "wafv2:CreateRegexPatternSet", "wafv2:TagResource")
		// Its expressions are `slipway maintenance`'s (ignoreChanges): the
		// provider still updates the set when its description changes.
		l.add(l.own(), arn, "wafv2:GetRegexPatternSet", "wafv2:UpdateRegexPatternSet", "wafv2:ListTagsForResource",
			"wafv2:UntagResource", "wafv2:DeleteRegexPatternSet")
	},
	"aws:wafv2/webAcl:WebAcl": func(l *lifecycle) {
		arn := l.str("arn")
		sets := []string{}
		for _, s := range l.res.ByType("aws:wafv2/regexPatternSet:RegexPatternSet") {
			if strings.Contains(mustJSONString(l.r.In("rules")), s.Out("arn").(string)) {
				sets = append(sets, s.Out("arn").(string))
			}
		}
		if len(sets) == 0 {
			l.t.Fatalf("%s: web ACL %s references no pattern set", l.res.Stack, l.r.Name)
		}
		l.add(l.creating(), arn, "wafv2:CreateWebACL", "wafv2:TagResource")
		for _, set := range sets {
			l.add(merge(l.creating(), l.own()), set, "wafv2:CreateWebACL")
			l.add(l.own(), set, "wafv2:UpdateWebACL")
		}
		l.add(l.own(), arn, "wafv2:GetWebACL", "wafv2:UpdateWebACL", "wafv2:ListTagsForResource", "wafv2:UntagResource",
			"wafv2:DeleteWebACL")
	},
	"aws:wafv2/webAclAssociation:WebAclAssociation": func(l *lifecycle) {
		acl, lb := l.str("webAclArn"), l.str("resourceArn")
		associate := request{What: "wafv2:AssociateWebACL", Calls: []iamCall{
			{Action: "wafv2:AssociateWebACL", ARN: acl, Context: l.own()},
			{Action: "wafv2:AssociateWebACL", ARN: lb, Context: l.own()},
			{Action: "elasticloadbalancing:SetWebAcl", ARN: lb, Context: l.own()},
			{Action: "elasticloadbalancing:CreateWebACLAssociation", ARN: lb, Context: l.own()},
		}}
		disassociate := request{What: "wafv2:DisassociateWebACL", Calls: []iamCall{
			{Action: "wafv2:DisassociateWebACL", ARN: lb, Context: l.own()},
			{Action: "elasticloadbalancing:SetWebAcl", ARN: lb, Context: l.own()},
		}}
		l.requests = append(l.requests, associate, disassociate)
		l.add(l.own(), acl, "wafv2:GetWebACLForResource")
		l.add(l.own(), lb, "wafv2:GetWebACLForResource")
	},
	"aws:rds/subnetGroup:SubnetGroup": func(l *lifecycle) {
		arn := l.arn("rds", "subgrp:"+l.str("name"))
		l.add(l.creating(), arn, "rds:CreateDBSubnetGroup", "rds:AddTagsToResource")
		l.add(l.own(), arn, "rds:DescribeDBSubnetGroups", "rds:ModifyDBSubnetGroup", "rds:ListTagsForResource",
			"rds:DeleteDBSubnetGroup")
	},
	"aws:rds/parameterGroup:ParameterGroup": func(l *lifecycle) {
		arn := l.arn("rds", "pg:"+l.str("name"))
		l.add(l.creating(), arn, "rds:CreateDBParameterGroup", "rds:AddTagsToResource")
		l.add(l.own(), arn, "rds:DescribeDBParameterGroups", "rds:DescribeDBParameters", "rds:ModifyDBParameterGroup",
			"rds:ListTagsForResource", "rds:DeleteDBParameterGroup")
	},
}

func mustJSONString(v any) string { b, _ := json.Marshal(v); return string(b) }
