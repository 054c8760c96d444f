package foundation_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"slipway/infra/foundation"
	"slipway/stacks"
)

// The escalation cases of issue 11, one or more per finding, decided in
// the SINGLE-ACCOUNT layout (foundation/Pulumi.single.yaml: dev, review
// stacks and prod in one account, one hosted zone), where only IAM, the
// key policies and the documents keep the environments apart. Resources
// are told apart by their stack tag, as the app stacks' default tags set
// it.
//
// Each case is also decided against the policies of the code before the
// foundation (testdata/old-policy: the deploy policies, boundaries and
// OIDC trust that commit b7d6563's dev and prod stacks rendered under the
// same mocks, dumped to JSON): a case marked openBefore must be ALLOWED
// there, so the case demonstrably fails on the old policy. (Checked: every
// openBefore case below is allowed by the old documents, and
// TestEscalationsWereOpenBefore keeps it so.) In the old layout the review
// stacks and the pull-request jobs used dev's identity and dev's boundary.

// escalation is one attack: who tries it (a CI role, or the boundary of a
// class's app roles), the request, and the finding it belongs to.
type escalation struct {
	finding string
	who     string
	req     request
	// openBefore: the old policy allowed it.
	openBefore bool
}

const region = "us-east-1"

func ec2ARN(kind, id string) string {
	return "arn:aws:ec2:" + region + ":" + acct + ":" + kind + "/" + id
}
func ssmDoc(name string) string   { return "arn:aws:ssm:" + region + ":" + acct + ":document/" + name }
func ssmParam(path string) string { return "arn:aws:ssm:" + region + ":" + acct + ":parameter" + path }
func roleARN(name string) string  { return "arn:aws:iam::" + acct + ":role/slipway/" + name }

const boundaryOf = "boundary:"

func escalations() []escalation {
	dev, prod, review, preview := foundation.DevDeployRole, foundation.ProdDeployRole, foundation.ReviewRole, foundation.DevPreviewRole
	withTags := func(resource, request string) map[string][]string {
		return map[string][]string{"aws:ResourceTag/stack": {resource}, "aws:RequestTag/stack": {request}}
	}
	newTagged := map[string][]string{"aws:RequestTag/stack": {"dev"}}
	return []escalation{
		// 1. Dev's identity runs commands as root on the prod host:
		// create a document, associate it with Targets naming the prod
		// instance (IAM never evaluates the instance).
		{"1 dev -> prod host (new document)", dev, one("ssm:CreateDocument", ssmDoc("slipway-dev-x"), nil), true},
		{"1 dev -> prod host (rewrite a dev document)", dev, one("ssm:UpdateDocument", ssmDoc("slipway-dev-rollout"), nil), true},
		{"1 dev -> prod host (associate its own document)", dev, createAssociation(region, "slipway-dev-x", newTagged), true},
		{"1 dev -> prod host (associate prod's document)", dev, createAssociation(region, "slipway-prod-rollout", newTagged), false},
		{"1 dev -> prod host (run AWS's shell document)", dev, sendCommandTargets(region, "AWS-RunShellScript"), false},
		{"1 review -> dev or prod host (dev's document)", review, createAssociation(region, "slipway-dev-rollout", newTagged), true},
		// 2. A branch gets a role that reads prod's secrets: no role
		// trusts the pull_request subject (trust cases in
		// TestNoRoleTrustsPullRequestOrBranch); the preview role a
		// pull request gets cannot read dev's secrets either.
		{"2 pull request -> dev secrets", preview, one("ssm:GetParameter", ssmParam("/slipway/dev/secrets/dbPassword"), nil), true},
		{"2 pull request -> dev host", preview, one("ec2:TerminateInstances", ec2ARN("instance", "i-dev"), tagged("dev")), true},
		{"2 pull request -> dev release", preview, one("ssm:PutParameter", ssmParam("/slipway/dev/release/id"), nil), true},
		{"2 pull request -> prod host", preview, one("ec2:TerminateInstances", ec2ARN("instance", "i-prod"), tagged("prod")), false},
		// 3. Dev's identity acts on prod's resources in one account.
		{"3 dev -> prod Elastic IP (move it)", dev, associateAddress(region, "ec2:AssociateAddress", "prod", "dev"), true},
		{"3 dev -> prod Elastic IP (take it off)", dev, associateAddress(region, "ec2:DisassociateAddress", "prod", "prod"), true},
		{"3 dev -> prod Elastic IP (to a dev address)", dev, associateAddress(region, "ec2:AssociateAddress", "dev", "prod"), true},
		{"3 dev -> prod routes", dev, one("ec2:ReplaceRoute", ec2ARN("route-table", "rtb-prod"), tagged("prod")), true},
		{"3 dev -> prod routes (delete)", dev, one("ec2:DeleteRoute", ec2ARN("route-table", "rtb-prod"), tagged("prod")), true},
		{"3 dev -> prod security group (revoke)", dev, one("ec2:RevokeSecurityGroupIngress", ec2ARN("security-group", "sg-prod"), tagged("prod")), true},
		{"3 dev -> prod security group (open)", dev, one("ec2:AuthorizeSecurityGroupIngress", ec2ARN("security-group", "sg-prod"),
			withTags("prod", "dev")), true},
		{"3 dev -> prod subnet (a dev subnet in prod's VPC)", dev, request{What: "ec2:CreateSubnet in prod's VPC", Calls: []iamCall{
			{Action: "ec2:CreateSubnet", ARN: ec2ARN("subnet", "*"), Context: newTagged},
			{Action: "ec2:CreateSubnet", ARN: ec2ARN("vpc", "vpc-prod"), Context: withTags("prod", "dev")},
		}}, true},
		{"3 dev -> prod subnet (an instance in it)", dev, request{What: "ec2:RunInstances into prod's subnet", Calls: []iamCall{
			{Action: "ec2:RunInstances", ARN: ec2ARN("instance", "*"), Context: newTagged},
			{Action: "ec2:RunInstances", ARN: ec2ARN("subnet", "subnet-prod"), Context: withTags("prod", "dev")},
		}}, true},
		{"3 dev -> prod zone (CAA)", dev, changeRecordSets(zoneID, []string{"slipway.example.com."}, []string{"CAA"}), true},
		{"3 dev -> prod zone (API record)", dev, changeRecordSets(zoneID, []string{"slipway.example.com"}, []string{"A"}), true},
		{"3 dev -> prod zone (a batch with one of dev's names)", dev,
			changeRecordSets(zoneID, []string{"dev.slipway.example.com", "slipway.example.com"}, []string{"A"}), true},
		{"3 dev -> another zone", dev, changeRecordSets("ZOTHERZONE1234", []string{"dev.slipway.example.com"}, []string{"A"}), true},
		{"3 dev -> prod origin secret (list)", dev, one("cloudfront:ListDistributions", "*", nil), true},
		{"3 dev -> prod origin secret (config)", dev, one("cloudfront:GetDistributionConfig",
			"arn:aws:cloudfront::"+acct+":distribution/EPROD", tagged("prod")), false},
		// 4. Prod's identity destroys prod's data and its backups, or
		// leaves a door.
		{"4 prod -> delete the data volume", prod, one("ec2:DeleteVolume", ec2ARN("volume", "vol-data"), tagged("prod")), true},
		{"4 prod -> detach the data volume", prod, request{What: "ec2:DetachVolume", Calls: []iamCall{
			{Action: "ec2:DetachVolume", ARN: ec2ARN("instance", "i-prod"), Context: tagged("prod")},
			{Action: "ec2:DetachVolume", ARN: ec2ARN("volume", "vol-data"), Context: tagged("prod")},
		}}, true},
		{"4 prod -> shorten the snapshot schedule (DLM deletes backups)", prod,
			one("dlm:UpdateLifecyclePolicy", "arn:aws:dlm:"+region+":"+acct+":policy/policy-1", tagged("prod")), true},
		{"4 prod -> delete the snapshot schedule", prod,
			one("dlm:DeleteLifecyclePolicy", "arn:aws:dlm:"+region+":"+acct+":policy/policy-1", tagged("prod")), true},
		{"4 prod -> delete snapshots", prod, one("ec2:DeleteSnapshot", "arn:aws:ec2:"+region+"::snapshot/snap-1", tagged("prod")), false},
		{"4 prod -> share snapshots", prod, one("ec2:ModifySnapshotAttribute", "arn:aws:ec2:"+region+"::snapshot/snap-1", tagged("prod")), false},
		{"4 prod boundary -> delete any snapshot in the region", boundaryOf + "prod",
			one("ec2:DeleteSnapshot", "arn:aws:ec2:"+region+"::snapshot/snap-other", nil), true},
		{"4 prod boundary -> delete dev's snapshots", boundaryOf + "prod",
			one("ec2:DeleteSnapshot", "arn:aws:ec2:"+region+"::snapshot/snap-dev", tagged("dev")), true},
		{"4 prod -> rewrite the snapshot role's trust", prod,
			one("iam:UpdateAssumeRolePolicy", roleARN("slipway-prod-data-snapshots-1"), nil), true},
		{"4 prod -> rewrite the host role's trust", prod, one("iam:UpdateAssumeRolePolicy", roleARN("slipway-prod-host-1"), nil), true},
		{"4 dev -> rewrite a role's trust", dev, one("iam:UpdateAssumeRolePolicy", roleARN("slipway-dev-host-1"), nil), true},
		{"4 prod -> change its own role", prod, one("iam:PutRolePolicy", roleARN(foundation.ProdDeployRole),
			map[string][]string{"iam:PermissionsBoundary": {"arn:aws:iam::" + acct + ":policy/slipway/slipway-prod-role-boundary"}}), true},
		// Review and preview identities reach neither dev nor prod.
		{"review -> dev secrets", review, one("ssm:GetParameter", ssmParam("/slipway/dev/secrets/dbPassword"), nil), true},
		{"review -> dev host", review, one("ec2:TerminateInstances", ec2ARN("instance", "i-dev"), tagged("dev")), true},
		{"review -> dev's images", review, one("ecr:PutImage", "arn:aws:ecr:"+region+":"+acct+":repository/slipway-dev-api-1", nil), true},
		{"review -> prod host", review, one("ec2:TerminateInstances", ec2ARN("instance", "i-prod"), tagged("prod")), false},
		{"review boundary -> dev secrets", boundaryOf + "review", one("ssm:GetParameter", ssmParam("/slipway/dev/secrets/dbPassword"), nil), true},
		{"review boundary -> dev queue", boundaryOf + "review",
			one("sqs:ReceiveMessage", "arn:aws:sqs:"+region+":"+acct+":slipway-dev-queue-1", nil), true},
		{"preview -> prod secrets", preview, one("ssm:GetParameter", ssmParam("/slipway/prod/secrets/dbPassword"), nil), false},
		{"preview -> dev data volume", preview, one("ec2:DeleteVolume", ec2ARN("volume", "vol-dev"), tagged("dev")), true},
	}
}

// Issue 15's profile (ECS, load balancer, RDS) in the single-account
// layout: dev's identity reaches none of prod's, prod's cannot lose its
// database, and no task role goes to a service other than ECS tasks. None
// of these resources existed before the foundation (openBefore false).
func ecsEscalations() []escalation {
	dev, prod, review, preview := foundation.DevDeployRole, foundation.ProdDeployRole, foundation.ReviewRole, foundation.DevPreviewRole
	ecs := func(res string) string { return "arn:aws:ecs:" + region + ":" + acct + ":" + res }
	elb := func(res string) string { return "arn:aws:elasticloadbalancing:" + region + ":" + acct + ":" + res }
	rds := func(res string) string { return "arn:aws:rds:" + region + ":" + acct + ":" + res }
	waf := func(res string) string { return "arn:aws:wafv2:" + region + ":" + acct + ":regional/" + res }
	secret := "arn:aws:secretsmanager:" + region + ":" + acct + ":secret:rds!db-1a2b3c-AbCdEf"
	prodSecret := map[string][]string{"aws:ResourceTag/aws:rds:primaryDBInstanceArn": {rds("db:slipway-prod-db")}}
	passTo := func(svc string) map[string][]string { return map[string][]string{"iam:PassedToService": {svc}} }
	return []escalation{
		{"15 dev -> prod cluster", dev, one("ecs:DeleteCluster", ecs("cluster/slipway-prod-cluster-1"), tagged("prod")), false},
		{"15 dev -> prod service", dev, one("ecs:UpdateService", ecs("service/slipway-prod-cluster-1/slipway-prod-cluster-api-1"), tagged("prod")), false},
		{"15 dev -> delete prod service", dev, one("ecs:DeleteService", ecs("service/slipway-prod-cluster-1/slipway-prod-cluster-api-1"), tagged("prod")), false},
		{"15 dev -> prod task definition (tags)", dev, one("ecs:TagResource", ecs("task-definition/slipway-prod-api:1"), tagged("prod")), false},
		{"15 dev -> register a task definition as prod's", dev, one("ecs:RegisterTaskDefinition", "*",
			map[string][]string{"aws:RequestTag/stack": {"prod"}}), false},
		{"15 dev -> a task definition with prod's task role", dev, one("iam:PassRole", roleARN("slipway-prod-cluster-api-task-1"),
			passTo("ecs-tasks.amazonaws.com")), false},
		{"15 dev -> prod load balancer", dev, one("elasticloadbalancing:DeleteLoadBalancer",
			elb("loadbalancer/app/slipway-prod-alb/50dc6c495c0c9188"), tagged("prod")), false},
		{"15 dev -> prod listener (forward elsewhere)", dev, one("elasticloadbalancing:ModifyListener",
			elb("listener/app/slipway-prod-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"), tagged("prod")), false},
		{"15 dev -> prod listener rule (drop the origin check)", dev, one("elasticloadbalancing:ModifyRule",
			elb("listener-rule/app/slipway-prod-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"), tagged("prod")), false},
		// The firewall (waf.go): dev's identity could otherwise put prod
		// into maintenance, drop its write limits or unhook its web ACL.
		{"15 dev -> prod's maintenance switch", dev, one("wafv2:UpdateRegexPatternSet",
			waf("regexpatternset/slipway-prod-firewall-maintenance-1/1a2b3c4d-0000-1111-2222-333344445555"), tagged("prod")), false},
		{"15 dev -> prod's web ACL (drop the write limits)", dev, one("wafv2:UpdateWebACL",
			waf("webacl/slipway-prod-firewall-1/5a6b7c8d-0000-1111-2222-333344445555"), tagged("prod")), false},
		{"15 dev -> prod load balancer's web ACL (disassociate)", dev, one("wafv2:DisassociateWebACL",
			elb("loadbalancer/app/slipway-prod-alb/50dc6c495c0c9188"), tagged("prod")), false},
		{"15 dev -> dev's web ACL on prod's load balancer", dev, request{What: "associate", Calls: []iamCall{
			{Action: "wafv2:AssociateWebACL", ARN: waf("webacl/slipway-dev-firewall-1/5a6b7c8d-0000-1111-2222-333344445555"), Context: tagged("dev")},
			{Action: "wafv2:AssociateWebACL", ARN: elb("loadbalancer/app/slipway-prod-alb/50dc6c495c0c9188"), Context: tagged("prod")},
			{Action: "elasticloadbalancing:SetWebAcl", ARN: elb("loadbalancer/app/slipway-prod-alb/50dc6c495c0c9188"), Context: tagged("prod")},
		}}, false},
		{"15 review -> dev's web ACL (delete)", review, one("wafv2:DeleteWebACL",
			waf("webacl/slipway-dev-firewall-1/5a6b7c8d-0000-1111-2222-333344445555"), tagged("dev")), false},
		{"15 preview -> dev's maintenance switch", preview, one("wafv2:UpdateRegexPatternSet",
			waf("regexpatternset/slipway-dev-firewall-maintenance-1/1a2b3c4d-0000-1111-2222-333344445555"), tagged("dev")), false},
		{"15 dev -> prod target group", dev, one("elasticloadbalancing:ModifyTargetGroup",
			elb("targetgroup/slipway-prod-api/73e2d6bc24d8a067"), tagged("prod")), false},
		{"15 dev -> prod's autoscaling", dev, one("application-autoscaling:DeregisterScalableTarget",
			"arn:aws:application-autoscaling:"+region+":"+acct+":scalable-target/0ec1", tagged("prod")), false},
		{"15 dev -> prod RDS instance (modify)", dev, one("rds:ModifyDBInstance", rds("db:slipway-prod-db"), tagged("prod")), false},
		{"15 dev -> prod RDS instance (delete)", dev, one("rds:DeleteDBInstance", rds("db:slipway-prod-db"), tagged("prod")), false},
		{"15 dev -> prod's master secret (delete)", dev, one("secretsmanager:DeleteSecret", secret, prodSecret), false},
		{"15 dev boundary -> prod's master secret (read)", boundaryOf + "dev", one("secretsmanager:GetSecretValue", secret, prodSecret), false},
		{"15 review boundary -> dev's master secret (read)", boundaryOf + "review", one("secretsmanager:GetSecretValue", secret,
			map[string][]string{"aws:ResourceTag/aws:rds:primaryDBInstanceArn": {rds("db:slipway-dev-db")}}), false},
		{"15 review -> dev's cluster", review, one("ecs:UpdateService", ecs("service/slipway-dev-cluster-1/slipway-dev-cluster-api-1"), tagged("dev")), false},
		{"15 preview -> dev's service (change)", preview, one("ecs:UpdateService", ecs("service/slipway-dev-cluster-1/slipway-dev-cluster-api-1"), tagged("dev")), false},
		{"15 prod -> delete its RDS instance", prod, one("rds:DeleteDBInstance", rds("db:slipway-prod-db"), tagged("prod")), false},
		{"15 prod -> delete its final snapshot", prod, one("rds:DeleteDBSnapshot", rds("snapshot:slipway-prod-db-final"), tagged("prod")), false},
		{"15 prod -> delete a snapshot", prod, one("rds:DeleteDBSnapshot", rds("snapshot:rds:slipway-prod-db-2026-12-01"), tagged("prod")), false},
		{"15 prod -> share a snapshot", prod, one("rds:ModifyDBSnapshotAttribute", rds("snapshot:slipway-prod-db-final"), tagged("prod")), false},
		{"15 prod -> delete retained automated backups", prod, one("rds:DeleteDBInstanceAutomatedBackup", rds("auto-backup:ab-1"), tagged("prod")), false},
		{"15 prod -> delete its master secret", prod, one("secretsmanager:DeleteSecret", secret, prodSecret), false},
		{"15 prod -> a task role to EC2", prod, one("iam:PassRole", roleARN("slipway-prod-cluster-api-task-1"), passTo("ec2.amazonaws.com")), false},
		{"15 prod -> an execution role to Lambda", prod, one("iam:PassRole", roleARN("slipway-prod-cluster-api-execution-1"), passTo("lambda.amazonaws.com")), false},
		{"15 dev -> a task role to AWS Backup", dev, one("iam:PassRole", roleARN("slipway-dev-cluster-worker-task-1"), passTo("backup.amazonaws.com")), false},
		{"15 review -> a task role to EC2", review, one("iam:PassRole", roleARN("slipway-pr-7-cluster-api-task-1"), passTo("ec2.amazonaws.com")), false},
		{"15 prod -> the host role to ECS tasks", prod, one("iam:PassRole", roleARN("slipway-prod-host-1"), passTo("ecs-tasks.amazonaws.com")), false},
	}
}

// docsFor are the policies a case is decided against, now (the single
// foundation) or before (the old documents).
func docsFor(t *testing.T, who string, single func(string) iamDoc, old bool) iamDoc {
	t.Helper()
	if !old {
		return single(who)
	}
	// Before: review stacks and pull requests used dev's identity and
	// dev's boundary.
	file := map[string]string{
		foundation.DevDeployRole: "dev-deploy", foundation.DevPreviewRole: "dev-deploy", foundation.ReviewRole: "dev-deploy",
		foundation.ProdDeployRole: "prod-deploy", boundaryOf + "dev": "dev-boundary", boundaryOf + "review": "dev-boundary",
		boundaryOf + "prod": "prod-boundary",
	}[who]
	return oldDoc(t, file)
}

func oldDoc(t *testing.T, name string) iamDoc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "old-policy", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var d iamDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func singleLayout(t *testing.T) func(string) iamDoc {
	res := runFoundation(t, "single")
	cache := map[string]iamDoc{}
	return func(who string) iamDoc {
		if d, ok := cache[who]; ok {
			return d
		}
		var d iamDoc
		if class, ok := cutBoundary(who); ok {
			d = boundaryDoc(t, res, class)
		} else {
			d = rolePolicies(t, res, who)
		}
		cache[who] = d
		return d
	}
}

func cutBoundary(who string) (stacks.Profile, bool) {
	if len(who) > len(boundaryOf) && who[:len(boundaryOf)] == boundaryOf {
		return stacks.Profile(who[len(boundaryOf):]), true
	}
	return "", false
}

// Every escalation is refused in the single-account layout.
func TestEscalationsAreRefusedInOneAccount(t *testing.T) {
	single := singleLayout(t)
	for _, e := range append(escalations(), ecsEscalations()...) {
		if ok, why := decide(t, docsFor(t, e.who, single, false), e.req); ok {
			t.Errorf("finding %s: %s may %s (%s)", e.finding, e.who, e.req.What, why)
		}
	}
	// And the legitimate neighbours of those requests still pass, so the
	// refusals are about the target, not a broken policy.
	for _, c := range []struct {
		who string
		req request
	}{
		{foundation.DevDeployRole, createAssociation(region, "slipway-dev-rollout", map[string][]string{"aws:RequestTag/stack": {"dev"}})},
		{foundation.DevDeployRole, sendCommandTargets(region, "slipway-dev-status")},
		{foundation.DevDeployRole, associateAddress(region, "ec2:AssociateAddress", "dev", "dev")},
		{foundation.DevDeployRole, one("ec2:ReplaceRoute", ec2ARN("route-table", "rtb-dev"), tagged("dev"))},
		{foundation.DevDeployRole, changeRecordSets(zoneID, []string{"dev.slipway.example.com", "_abc.dev.slipway.example.com"}, []string{"CAA", "CNAME"})},
		{foundation.ProdDeployRole, changeRecordSets(zoneID, []string{"slipway.example.com"}, []string{"CAA"})},
		{foundation.ProdDeployRole, one("ec2:ModifyVolume", ec2ARN("volume", "vol-data"), tagged("prod"))},
		{foundation.ReviewRole, one("ec2:TerminateInstances", ec2ARN("instance", "i-pr"), tagged("pr-7"))},
		{foundation.ReviewRole, createAssociation(region, "slipway-review-rollout", map[string][]string{"aws:RequestTag/stack": {"pr-7"}})},
		{boundaryOf + "prod", one("ec2:DeleteSnapshot", "arn:aws:ec2:"+region+"::snapshot/snap-1",
			map[string][]string{"aws:ResourceTag/stack": {"prod"}, "aws:ResourceTag/slipway-backup": {"slipway-prod"}})},
		{boundaryOf + "review", one("ssm:GetParameter", ssmParam("/slipway/pr-7/secrets/dbPassword"), nil)},
		{foundation.DevDeployRole, one("ecs:UpdateService", "arn:aws:ecs:"+region+":"+acct+":service/slipway-dev-cluster-1/slipway-dev-cluster-api-1", tagged("dev"))},
		{foundation.DevDeployRole, one("iam:PassRole", roleARN("slipway-dev-cluster-api-task-1"),
			map[string][]string{"iam:PassedToService": {"ecs-tasks.amazonaws.com"}})},
		{foundation.ProdDeployRole, one("rds:ModifyDBInstance", "arn:aws:rds:"+region+":"+acct+":db:slipway-prod-db", tagged("prod"))},
		{foundation.ProdDeployRole, one("wafv2:UpdateWebACL", "arn:aws:wafv2:"+region+":"+acct+":regional/webacl/slipway-prod-firewall-1/5a6b", tagged("prod"))},
		{foundation.ProdDeployRole, one("iam:PassRole", roleARN("slipway-prod-host-1"), map[string][]string{"iam:PassedToService": {"ec2.amazonaws.com"}})},
		{foundation.ReviewRole, one("rds:DeleteDBInstance", "arn:aws:rds:"+region+":"+acct+":db:slipway-pr-7-db", tagged("pr-7"))},
		{boundaryOf + "prod", one("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:"+region+":"+acct+":secret:rds!db-1a2b3c-AbCdEf",
			map[string][]string{"aws:ResourceTag/aws:rds:primaryDBInstanceArn": {"arn:aws:rds:" + region + ":" + acct + ":db:slipway-prod-db"}})},
	} {
		if ok, why := decide(t, docsFor(t, c.who, single, false), c.req); !ok {
			t.Errorf("%s may not %s (%s)", c.who, c.req.What, why)
		}
	}
}

// The cases marked openBefore were allowed by the old policy: the tests
// above fail on the code before the foundation.
func TestEscalationsWereOpenBefore(t *testing.T) {
	open := 0
	for _, e := range escalations() {
		ok, why := decide(t, docsFor(t, e.who, nil, true), e.req)
		if e.openBefore && !ok {
			t.Errorf("finding %s: marked open before, but the old policy refuses %s (%s)", e.finding, e.req.What, why)
		}
		if ok {
			open++
		}
		t.Logf("%-70s before: %v", e.finding, ok)
	}
	if open < 30 {
		t.Errorf("only %d escalations were open before", open)
	}
}
