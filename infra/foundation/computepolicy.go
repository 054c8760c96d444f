package foundation

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The rights of the ECS + RDS profile (issue 15: infra's cluster.go,
// loadbalancer.go, autoscaling.go and rds.go), in two parts of their own
// ("compute": ECS, the load balancer, autoscaling and the task roles;
// "database": RDS and the master secret RDS keeps in Secrets Manager).
// The resource each action is checked on is the one AWS's Service
// Authorization Reference ("Actions, resources, and condition keys for
// Amazon Elastic Container Service / Elastic Load Balancing V2 /
// Application Auto Scaling / Amazon RDS / AWS Secrets Manager") names for
// it; infra/foundation's calls_test.go repeats the fact beside each call.
// None of this ran against AWS (docs/scaling.md, "IAM").

// UnscopableComputeActions are the profile's actions AWS offers no
// resource type for: ECS task-definition registration and reads (the
// registration is tied to the class by its request tag instead), the
// load balancer and autoscaling describes, and RDS's engine-wide reads.
var UnscopableComputeActions = join3(taskDefinitionRegistration, taskDefinitionReads, computeDescribes)

var (
	taskDefinitionRegistration = []string{"ecs:RegisterTaskDefinition"}
	taskDefinitionReads        = []string{"ecs:DescribeTaskDefinition", "ecs:DeregisterTaskDefinition"}
	computeDescribes           = []string{"elasticloadbalancing:Describe*",
		"application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies"}
)

func join3(a, b, c []string) []string { return append(append(append([]string{}, a...), b...), c...) }

// UnscopablePreviewComputeActions are the preview role's part of them.
var UnscopablePreviewComputeActions = []string{
	"ecs:DescribeTaskDefinition", "elasticloadbalancing:Describe*",
	"application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies",
}

// TaskRoleService is the one service the ECS task and execution roles go
// to.
const TaskRoleService = "ecs-tasks.amazonaws.com"

// taskRoles are the ECS task and execution roles of the class's stacks:
// the cluster component names them <project>-<stack>-cluster-<svc>-*.
func (x arns) taskRoles() pulumi.StringArray {
	return each(x.s.Stacks, func(st string) pulumi.StringOutput {
		return x.acct.globalARN("iam", "role"+iamPath+AppProject+"-"+st+"-cluster-*")
	})
}

// computeStatements are the deploy roles' ECS, load-balancer and
// autoscaling rights.
func computeStatements(a ciPolicyArgs, x arns) []iam.GetPolicyDocumentStatementArgs {
	acct := a.Acct
	ecsARNs := join(x.names("ecs", "cluster/"), x.names("ecs", "service/"), x.names("ecs", "task-definition/"))
	elb := join(x.names("elasticloadbalancing", "loadbalancer/app/"), x.names("elasticloadbalancing", "targetgroup/"),
		x.names("elasticloadbalancing", "listener/app/"), x.names("elasticloadbalancing", "listener-rule/app/"))
	targets := pulumi.StringArray{acct.arn("application-autoscaling", "scalable-target/*")}
	out := []iam.GetPolicyDocumentStatementArgs{
		allow("ComputeUnscopable", computeDescribes, pulumi.StringArray{pulumi.String("*")}, nil),
		// Task definitions: RegisterTaskDefinition takes no resource, so
		// the request must tag the revision as the class's; it names the
		// roles, which PassRole below keeps to the class's task roles.
		allow("EcsRegisterTaskDefinitions", taskDefinitionRegistration, pulumi.StringArray{pulumi.String("*")},
			conditions(condition("StringLike", "aws:RequestTag/stack", strs(a.Scope.Stacks...)...))),
		allow("EcsReadTaskDefinitions", taskDefinitionReads, pulumi.StringArray{pulumi.String("*")}, nil),
		// Clusters and services by name, created tagged as the class's.
		allow("EcsCreate", []string{"ecs:CreateCluster", "ecs:CreateService"},
			join(x.names("ecs", "cluster/"), x.names("ecs", "service/")), x.newTagged()),
		allow("EcsOwn", []string{"ecs:DescribeClusters", "ecs:UpdateCluster", "ecs:DeleteCluster",
			"ecs:DescribeServices", "ecs:UpdateService", "ecs:DeleteService", "ecs:TagResource", "ecs:UntagResource", "ecs:ListTagsForResource"}, ecsARNs, nil),
		// The load balancer, its target group, listener and rules by
		// name (each listener's and rule's ARN carries its load
		// balancer's name), created tagged as the class's.
		allow("ElbCreate", []string{"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
			"elasticloadbalancing:CreateListener", "elasticloadbalancing:CreateRule", "elasticloadbalancing:AddTags"},
			elb, x.newTagged()),
		allow("ElbOwn", []string{"elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetSecurityGroups",
			"elasticloadbalancing:SetSubnets", "elasticloadbalancing:ModifyTargetGroup",
			"elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:ModifyListener",
			"elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities", "elasticloadbalancing:AddTags",
			"elasticloadbalancing:RemoveTags", "elasticloadbalancing:DeleteRule", "elasticloadbalancing:DeleteListener",
			"elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:DeleteLoadBalancer"}, elb, x.ownKeepingTag()),
		// Scalable targets have generated ids only: by tag.
		allow("AutoscalingCreate", []string{"application-autoscaling:RegisterScalableTarget",
			"application-autoscaling:TagResource"}, targets, x.newTagged()),
		allow("AutoscalingOwn", []string{"application-autoscaling:RegisterScalableTarget",
			"application-autoscaling:DeregisterScalableTarget", "application-autoscaling:PutScalingPolicy",
			"application-autoscaling:DeleteScalingPolicy", "application-autoscaling:ListTagsForResource",
			"application-autoscaling:TagResource", "application-autoscaling:UntagResource"}, targets, x.ownKeepingTag()),
		// The task and execution roles go to ECS tasks only, and only
		// they do (IamPassRoles names the other services; the deny in
		// the identity part refuses a task role to anything but ECS).
		allow("IamPassTaskRoles", []string{"iam:PassRole"}, x.taskRoles(),
			conditions(condition("StringEquals", "iam:PassedToService", pulumi.String(TaskRoleService)))),
		// The first cluster, load balancer, scalable target and database
		// of an account create their services' linked roles (fixed,
		// AWS-managed policies) in the caller's name.
		allow("IamServiceLinkedRoles", []string{"iam:CreateServiceLinkedRole"},
			pulumi.StringArray{acct.globalARN("iam", "role/aws-service-role/*")},
			conditions(condition("StringEquals", "iam:AWSServiceName", strs(ServiceLinkedRoleServices...)...))),
	}
	return out
}

// firewallStatements are the deploy roles' rights on the api load
// balancer's web ACL and its maintenance pattern set (infra's waf.go, ecs
// mode): by name, created tagged as the class's. They sit in the edge
// part (what fronts the API), which has the room: the compute part would
// pass 90 % of IAM's 6,144 characters with them. CreateWebACL and
// UpdateWebACL are also checked on the pattern set a rule references
// (the class's own). `slipway maintenance` (UpdateRegexPatternSet) is an
// operator's act under the operator's own credentials; the deploy role
// may update the set because it manages it (description, tags), and
// Pulumi ignores its expressions.
func firewallStatements(x arns) []iam.GetPolicyDocumentStatementArgs {
	waf := join(x.names("wafv2", "regional/webacl/"), x.names("wafv2", "regional/regexpatternset/"))
	lbs := x.names("elasticloadbalancing", "loadbalancer/app/")
	return []iam.GetPolicyDocumentStatementArgs{
		allow("WafCreate", []string{"wafv2:CreateWebACL", "wafv2:CreateRegexPatternSet", "wafv2:TagResource"}, waf, x.newTagged()),
		allow("WafOwn", []string{"wafv2:GetWebACL", "wafv2:UpdateWebACL", "wafv2:DeleteWebACL", "wafv2:GetRegexPatternSet",
			"wafv2:UpdateRegexPatternSet", "wafv2:DeleteRegexPatternSet", "wafv2:ListTagsForResource", "wafv2:TagResource",
			"wafv2:UntagResource", "wafv2:AssociateWebACL", "wafv2:GetWebACLForResource"}, waf, x.ownKeepingTag()),
		// Associating names the load balancer in WAF's calls (by name:
		// WAF does not evaluate the load balancer's tags) and in ELB's
		// own SetWebAcl (by its tag too).
		allow("WafOnLoadBalancer", []string{"wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "wafv2:GetWebACLForResource"},
			lbs, nil),
		allow("ElbSetWebAcl", []string{"elasticloadbalancing:SetWebAcl", "elasticloadbalancing:CreateWebACLAssociation"},
			lbs, x.own()),
	}
}

// ServiceLinkedRoleServices are the services whose linked roles the
// profile's first deploy in an account creates.
var ServiceLinkedRoleServices = []string{
	"ecs.amazonaws.com", "elasticloadbalancing.amazonaws.com",
	"ecs.application-autoscaling.amazonaws.com", "rds.amazonaws.com",
}

// rdsSecretTag is the tag RDS puts on the master secret it manages
// (rds!db-<id>), valued with the instance's ARN: the only way to tell one
// stack's master secret from another's, since RDS names them by a
// generated id.
const rdsSecretTag = "aws:rds:primaryDBInstanceArn"

// databaseInstances are the class's DB instance ARN patterns.
func (x arns) databaseInstances() pulumi.StringArray { return x.names("rds", "db:") }

// rdsSecretOfClass: a master secret of one of the class's instances.
func (x arns) rdsSecretOfClass(key string) iam.GetPolicyDocumentStatementConditionArray {
	return conditions(condition("StringLike", key+"/"+rdsSecretTag, x.databaseInstances()...))
}

// databaseStatements are the deploy roles' RDS rights: the instance, its
// subnet group, and parameter group by name, created
// tagged as the class's, and the master secret RDS creates in the
// caller's name. Prod keeps its database: its role may not delete the
// instance, any snapshot or retained automated backup, nor share a
// snapshot. ModifyDBInstance cannot be refused on its
// DeletionProtection or BackupRetentionPeriod arguments (RDS offers no
// condition key for either), so prod's role could still switch
// deletion protection off or shorten retention; deleting then stays
// refused here, and switching protection off is visible in the plan.
func databaseStatements(a ciPolicyArgs, x arns) []iam.GetPolicyDocumentStatementArgs {
	acct := a.Acct
	named := join(x.names("rds", "db:"), x.names("rds", "subgrp:"), x.names("rds", "pg:"))
	prod := a.Scope.Class.ProtectsData()
	own := []string{"rds:DescribeDBInstances", "rds:ModifyDBInstance", "rds:DescribeDBSubnetGroups",
		"rds:ModifyDBSubnetGroup", "rds:DescribeDBParameterGroups", "rds:DescribeDBParameters",
		"rds:ModifyDBParameterGroup", "rds:AddTagsToResource", "rds:RemoveTagsFromResource", "rds:ListTagsForResource",
		"rds:DeleteDBSubnetGroup", "rds:DeleteDBParameterGroup"}
	secret := []string{"secretsmanager:TagResource"}
	if !prod {
		own = append(own, "rds:DeleteDBInstance")
		secret = append(secret, "secretsmanager:DeleteSecret")
	}
	out := []iam.GetPolicyDocumentStatementArgs{
		allow("RdsCreate", []string{"rds:CreateDBInstance", "rds:CreateDBSubnetGroup", "rds:CreateDBParameterGroup",
			"rds:AddTagsToResource"}, named, x.newTagged()),
		// CreateDBInstance is also checked on the subnet group, the
		// parameter group (named above, the class's) and the option
		// group the instance joins: Postgres's default, which no CI role
		// may change.
		allow("RdsDefaultOptionGroup", []string{"rds:CreateDBInstance", "rds:ModifyDBInstance"},
			pulumi.StringArray{acct.arn("rds", "og:default:postgres-*")}, nil),
		allow("RdsOwn", own, named, x.ownKeepingTag()),
		// The master secret RDS manages (rds!db-<id>): created and
		// deleted by RDS in the caller's name, tagged with its
		// instance's ARN from the start.
		allow("RdsMasterSecret", secret, pulumi.StringArray{acct.arn("secretsmanager", "secret:rds!db-*")},
			x.rdsSecretOfClass("aws:ResourceTag")),
		allow("RdsNewMasterSecret", []string{"secretsmanager:CreateSecret", "secretsmanager:TagResource"},
			pulumi.StringArray{acct.arn("secretsmanager", "secret:rds!db-*")}, x.rdsSecretOfClass("aws:RequestTag")),
		// The AWS-managed keys of the instance's storage (aws/rds) and of
		// the secret (aws/secretsmanager), only through those services.
		allow("RdsDefaultKeys", []string{"kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt"},
			pulumi.StringArray{acct.arn("kms", "key/*")},
			conditions(condition("StringEquals", "kms:ViaService", pulumi.String("rds."+acct.Region+".amazonaws.com"),
				pulumi.String("secretsmanager."+acct.Region+".amazonaws.com")))),
		// The instance's exported logs (/aws/rds/instance/<id>/...): the
		// program creates the groups so they get a retention.
		allow("RdsLogGroups", []string{"logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
			"logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource"},
			each(a.Scope.Names, func(p string) pulumi.StringOutput { return acct.arn("logs", "log-group:/aws/rds/instance/"+p) }), nil),
	}
	if prod {
		out = append(out, deny("DenyLosingProdDatabase", []string{"rds:DeleteDBInstance", "rds:DeleteDBSnapshot",
			"rds:DeleteDBInstanceAutomatedBackup", "rds:ModifyDBSnapshotAttribute", "rds:ModifyDBSnapshot"},
			pulumi.StringArray{acct.arn("rds", "db:*"), acct.arn("rds", "snapshot:*"), acct.arn("rds", "auto-backup:*")}, nil))
	}
	return out
}

// taskRoleDeny refuses any task or execution role to every service but
// ECS tasks, whatever an allow says.
func taskRoleDeny(x arns) iam.GetPolicyDocumentStatementArgs {
	return deny("DenyTaskRolesOutsideEcs", []string{"iam:PassRole"}, x.taskRoles(),
		conditions(condition("StringNotEquals", "iam:PassedToService", pulumi.String(TaskRoleService))))
}

// previewComputeStatements are the preview role's reads of the profile:
// what a refresh of dev reads and the ECS read-back invoke asks.
func previewComputeStatements(a ciPolicyArgs, x arns) []iam.GetPolicyDocumentStatementArgs {
	acct := a.Acct
	return []iam.GetPolicyDocumentStatementArgs{
		allow("ComputeUnscopable", UnscopablePreviewComputeActions, pulumi.StringArray{pulumi.String("*")}, nil),
		allow("ReadEcs", []string{"ecs:DescribeClusters", "ecs:DescribeServices", "ecs:ListTagsForResource"},
			join(x.names("ecs", "cluster/"), x.names("ecs", "service/"), x.names("ecs", "task-definition/")), nil),
		allow("ReadAutoscalingTags", []string{"application-autoscaling:ListTagsForResource"},
			pulumi.StringArray{acct.arn("application-autoscaling", "scalable-target/*")}, x.own()),
		allow("ReadWaf", []string{"wafv2:GetWebACL", "wafv2:GetRegexPatternSet", "wafv2:ListTagsForResource", "wafv2:GetWebACLForResource"},
			join(x.names("wafv2", "regional/webacl/"), x.names("wafv2", "regional/regexpatternset/")), nil),
		allow("ReadWafOfLoadBalancer", []string{"wafv2:GetWebACLForResource"}, x.names("elasticloadbalancing", "loadbalancer/app/"), nil),
		allow("ReadRds", []string{"rds:DescribeDBInstances", "rds:DescribeDBSubnetGroups", "rds:DescribeDBParameterGroups",
			"rds:DescribeDBParameters", "rds:ListTagsForResource"},
			join(x.names("rds", "db:"), x.names("rds", "subgrp:"), x.names("rds", "pg:")), nil),
	}
}
