package infra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"

	"slipway/infra"
	"slipway/internal/mockcloud"
	"slipway/stacks"
)

const acct = mockcloud.Account

// globMatch is IAM's wildcard match: * is any run of characters.
func globMatch(pattern, s string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	return regexp.MustCompile(re).MatchString(s)
}

// deployPolicyOf merges the deploy policy's parts into one document and
// checks each part against IAM's size limit for a managed policy.
func deployPolicyOf(t *testing.T, res *mockcloud.Result) policyDoc {
	t.Helper()
	var doc policyDoc
	parts := deployPolicies(res)
	if len(parts) != 4 {
		t.Fatalf("%s: %d deploy policies, want 4 parts", res.Stack, len(parts))
	}
	for _, p := range parts {
		raw := p.Str("policy")
		// IAM counts a managed policy's size without whitespace.
		size := len(strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, raw))
		if size > 6144 || size < 100 {
			t.Errorf("%s: deploy policy %s is %d characters, IAM allows 6144", res.Stack, p.Name, size)
		}
		doc.Statement = append(doc.Statement, parsePolicy(t, raw).Statement...)
	}
	return doc
}

func TestDeployPolicyIsLeastPrivilege(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		res := deploy(t, stack)
		doc := deployPolicyOf(t, res)
		other := map[string]string{"dev": "prod", "prod": "dev"}[stack]
		var denies []string
		for _, st := range doc.Statement {
			actions, resources := strs(st.Action), strs(st.Resource)
			if st.Effect == "Deny" {
				denies = append(denies, st.Sid)
				continue
			}
			for _, a := range actions {
				svc, verb, _ := strings.Cut(a, ":")
				if a == "*" || verb == "*" || svc == "iam" && strings.Contains(verb, "*") {
					t.Errorf("%s: %s allows wildcard action %s", stack, st.Sid, a)
				}
			}
			for _, r := range resources {
				if r == "*" {
					for _, a := range actions {
						if !slices.Contains(infra.UnscopableDeployActions, a) {
							t.Errorf("%s: %s grants %s on every resource, but it supports resource-level permissions", stack, st.Sid, a)
						}
					}
					continue
				}
				// Every other resource is this account's (S3 bucket and
				// Route 53 ARNs carry no account; EC2 images none either;
				// the CloudFront prefix list is owned by "aws").
				if !strings.Contains(r, ":"+acct+":") && !strings.HasPrefix(r, "arn:aws:s3:::slipway-"+stack+"-") &&
					!strings.HasPrefix(r, "arn:aws:s3:::slipway-pr-") && !strings.HasPrefix(r, "arn:aws:route53:::") &&
					r != "arn:aws:ec2:us-east-1::image/*" && r != "arn:aws:ec2:us-east-1:aws:prefix-list/*" {
					t.Errorf("%s: %s names a resource outside the account: %s", stack, st.Sid, r)
				}
				if strings.Contains(r, "slipway-"+other) || strings.Contains(r, "/slipway/"+other+"/") {
					t.Errorf("%s: %s reaches the %s stack: %s", stack, st.Sid, other, r)
				}
				if stack == "prod" && strings.Contains(r, "pr-") {
					t.Errorf("prod: %s reaches review stacks: %s", st.Sid, r)
				}
			}
			if slices.ContainsFunc(actions, func(a string) bool { return strings.HasPrefix(a, "iam:") }) {
				for _, r := range resources {
					if !strings.HasPrefix(r, "arn:aws:iam::"+acct+":") {
						t.Errorf("%s: %s IAM action on %s", stack, st.Sid, r)
						continue
					}
					_, rest, _ := strings.Cut(strings.TrimPrefix(r, "arn:aws:iam::"+acct+":"), "/")
					if !strings.HasPrefix(rest, "slipway/slipway-"+stack+"-") && !strings.HasPrefix(rest, "slipway/slipway-pr-") &&
						r != "arn:aws:iam::"+acct+":oidc-provider/token.actions.githubusercontent.com" {
						t.Errorf("%s: %s IAM resource outside /slipway/ and the stack: %s", stack, st.Sid, r)
					}
				}
			}
			if slices.Contains(actions, "iam:PassRole") {
				if got := strs(st.Condition["StringEquals"]["iam:PassedToService"]); !slices.Equal(got,
					[]string{"ec2.amazonaws.com", "vpc-flow-logs.amazonaws.com", "dlm.amazonaws.com"}) {
					t.Errorf("%s: PassRole to %v", stack, got)
				}
			}
			for _, a := range []string{"iam:CreateUser", "iam:AttachUserPolicy", "iam:PutUserPolicy", "iam:AttachGroupPolicy",
				"iam:PutGroupPolicy", "iam:CreatePolicyVersion", "iam:CreateAccessKey", "iam:CreateLoginProfile", "sts:AssumeRole"} {
				if slices.Contains(actions, a) {
					t.Errorf("%s: %s allows %s", stack, st.Sid, a)
				}
			}
			if slices.Contains(actions, "iam:AttachRolePolicy") {
				for _, arn := range strs(st.Condition["ArnLike"]["iam:PolicyARN"]) {
					if strings.Contains(arn, "Administrator") || arn == "*" {
						t.Errorf("%s: roles may get %s", stack, arn)
					}
				}
				if len(strs(st.Condition["ArnLike"]["iam:PolicyARN"])) == 0 {
					t.Errorf("%s: AttachRolePolicy without a policy condition", stack)
				}
			}
		}
		// The identity cannot change itself.
		user := one(t, res, "aws:iam/user:User")
		group := one(t, res, "aws:iam/group:Group")
		var self bool
		for _, st := range doc.Statement {
			if st.Effect == "Deny" && slices.Contains(strs(st.Resource), user.Out("arn").(string)) &&
				slices.Contains(strs(st.Resource), group.Out("arn").(string)) && slices.Contains(strs(st.Action), "iam:Attach*") {
				self = true
			}
		}
		if !self || !slices.Contains(denies, "DenyAssumingRoles") {
			t.Errorf("%s: deny statements %v do not cover the deploy user and group", stack, denies)
		}
	}
}

// scopedTypes maps a resource type to the deploy action that must reach it.
var scopedTypes = map[string]string{
	"aws:iam/role:Role":                       "iam:DeleteRole",
	"aws:iam/instanceProfile:InstanceProfile": "iam:DeleteInstanceProfile",
	"aws:cloudwatch/logGroup:LogGroup":        "logs:DeleteLogGroup",
	"aws:sqs/queue:Queue":                     "sqs:DeleteQueue",
	"aws:sns/topic:Topic":                     "sns:DeleteTopic",
	"aws:cloudwatch/metricAlarm:MetricAlarm":  "cloudwatch:DeleteAlarms",
	"aws:ecr/repository:Repository":           "ecr:DeleteRepository",
	"aws:ssm/document:Document":               "ssm:DeleteDocument",
	"aws:ssm/parameter:Parameter":             "ssm:DeleteParameter",
	"aws:cloudfront/function:Function":        "cloudfront:DeleteFunction",
	"aws:s3/bucketV2:BucketV2":                "s3:DeleteBucket",
	"aws:cloudwatch/dashboard:Dashboard":      "cloudwatch:DeleteDashboards",
}

func allows(doc policyDoc, action, arn string) bool {
	for _, st := range doc.Statement {
		if st.Effect != "Allow" || !slices.Contains(strs(st.Action), action) {
			continue
		}
		for _, r := range strs(st.Resource) {
			if globMatch(r, arn) {
				return true
			}
		}
	}
	return false
}

// The policy's patterns and the names the program gives must not drift:
// dev's identity reaches every scoped resource of dev and of a review
// stack, and none of prod's; prod's reaches prod's and nothing else.
func TestDeployPolicyCoversEveryResourceName(t *testing.T) {
	results := map[string]*mockcloud.Result{}
	for _, stack := range allStacks {
		results[stack] = deploy(t, stack)
	}
	for _, owner := range []string{"dev", "prod"} {
		doc := deployPolicyOf(t, results[owner])
		for _, stack := range allStacks {
			want := stack == owner || owner == "dev" && stack == "pr-7"
			checked := 0
			for _, r := range results[stack].Resources {
				action, ok := scopedTypes[r.Type]
				if !ok || strings.HasPrefix(r.Name, "deploy-") {
					continue // the deploy identity's own resources are the administrator's
				}
				arn, _ := r.Out("arn").(string)
				if r.Type == "aws:cloudwatch/dashboard:Dashboard" {
					arn, _ = r.Out("dashboardArn").(string)
				}
				checked++
				if got := allows(doc, action, arn); got != want {
					t.Errorf("%s's deploy policy: %s on %s %s (%s) = %v, want %v", owner, action, stack, r.Name, arn, got, want)
				}
			}
			if checked < 10 {
				t.Errorf("%s: only %d scoped resources checked", stack, checked)
			}
		}
	}
}

func TestDeployIdentityOnlyInDevAndProd(t *testing.T) {
	deployTypes := []string{"aws:iam/user:User", "aws:iam/group:Group", "aws:iam/accessKey:AccessKey", "aws:iam/policy:Policy",
		"aws:iam/userGroupMembership:UserGroupMembership", "aws:iam/openIdConnectProvider:OpenIdConnectProvider"}
	for _, stack := range allStacks {
		res := deploy(t, stack)
		if stack == "pr-7" {
			for _, typ := range deployTypes {
				if n := len(res.ByType(typ)); n != 0 {
					t.Errorf("pr-7: %d %s in a review stack", n, typ)
				}
			}
			for _, k := range []string{"deployUserName", "deployAccessKeyId", "deploySecretAccessKey", "deployRoleArn"} {
				if _, ok := res.Outputs[k]; ok {
					t.Errorf("pr-7: output %s", k)
				}
			}
			continue
		}
		user := one(t, res, "aws:iam/user:User")
		group := one(t, res, "aws:iam/group:Group")
		key := one(t, res, "aws:iam/accessKey:AccessKey")
		if user.Str("path") != "/slipway/" || group.Str("path") != "/slipway/" || user.In("forceDestroy") != true {
			t.Errorf("%s: user %v group %v", stack, user.Inputs, group.Inputs)
		}
		for _, typ := range []string{"aws:iam/userLoginProfile:UserLoginProfile", "aws:iam/userPolicy:UserPolicy",
			"aws:iam/userPolicyAttachment:UserPolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment"} {
			if n := len(res.ByType(typ)); n != 0 {
				t.Errorf("%s: %d %s: rights must come through the group only, and no console login", stack, n, typ)
			}
		}
		m := one(t, res, "aws:iam/userGroupMembership:UserGroupMembership")
		if m.Str("user") != user.Out("name") || !slices.Equal(strs(m.In("groups")), []string{group.Out("name").(string)}) {
			t.Errorf("%s: membership %v", stack, m.Inputs)
		}
		var attached, policies []string
		for _, att := range res.ByType("aws:iam/groupPolicyAttachment:GroupPolicyAttachment") {
			if att.Str("group") != group.Out("name") {
				t.Errorf("%s: policy attached to %s", stack, att.Str("group"))
			}
			attached = append(attached, att.Str("policyArn"))
		}
		for _, p := range deployPolicies(res) {
			if p.Str("path") != "/slipway/" {
				t.Errorf("%s: policy path %s", stack, p.Str("path"))
			}
			policies = append(policies, p.Out("arn").(string))
		}
		slices.Sort(attached)
		slices.Sort(policies)
		if len(policies) == 0 || !slices.Equal(attached, policies) {
			t.Errorf("%s: group has %v, policies are %v", stack, attached, policies)
		}
		if key.Str("user") != user.Out("name") || !key.RetainOnDelete {
			t.Errorf("%s: access key %v retain=%v", stack, key.Inputs, key.RetainOnDelete)
		}
		secret := res.Outputs["deploySecretAccessKey"]
		if !secret.Secret || secret.Value == nil || secret.Value != key.Out("secret") {
			t.Errorf("%s: deploySecretAccessKey = %+v, want the key's secret, marked secret", stack, secret)
		}
		if id := res.Outputs["deployAccessKeyId"]; id.Value != key.ID || id.Secret {
			t.Errorf("%s: deployAccessKeyId = %+v", stack, id)
		}
		if res.Outputs["deployUserName"].Value != user.Out("name") {
			t.Errorf("%s: deployUserName = %v", stack, res.Outputs["deployUserName"])
		}
		if _, ok := res.Outputs["deployRoleArn"]; ok || len(res.ByType("aws:iam/openIdConnectProvider:OpenIdConnectProvider")) != 0 {
			t.Errorf("%s: OIDC role without slipway:githubRepository", stack)
		}
	}
}

func TestGitHubOIDCRoleTrustsOnlyTheNamedRepository(t *testing.T) {
	// The subjects the workflows' jobs present (see GitHubSubjects):
	// environment jobs, pull-request jobs and the scheduled reaper.
	for _, tc := range []struct {
		stack, env string
		sub        []any
	}{
		{"prod", "", []any{"repo:acme/slipway:environment:production"}},
		{"prod", "prod-approval", []any{"repo:acme/slipway:environment:prod-approval"}},
		{"dev", "", []any{"repo:acme/slipway:environment:dev", "repo:acme/slipway:pull_request",
			"repo:acme/slipway:ref:refs/heads/main"}},
	} {
		res := deploy(t, tc.stack, func(f *stacks.Files) {
			f.Values["slipway:githubRepository"] = "acme/slipway"
			if tc.env != "" {
				f.Values["slipway:githubEnvironment"] = tc.env
			}
		})
		provider := one(t, res, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
		if provider.Str("url") != "https://token.actions.githubusercontent.com" ||
			!slices.Equal(strs(provider.In("clientIdLists")), []string{"sts.amazonaws.com"}) {
			t.Errorf("provider %v", provider.Inputs)
		}
		role, ok := res.Find("aws:iam/role:Role", "deploy-github")
		if !ok {
			t.Fatal("no OIDC role")
		}
		trust := parsePolicy(t, role.Str("assumeRolePolicy"))
		if len(trust.Statement) != 1 {
			t.Fatalf("trust %v", trust)
		}
		st := trust.Statement[0]
		p, _ := st.Principal.(map[string]any)
		if p["Federated"] != provider.Out("arn") || strs(st.Action)[0] != "sts:AssumeRoleWithWebIdentity" {
			t.Errorf("trust principal %v action %v", st.Principal, st.Action)
		}
		eq := st.Condition["StringEquals"]
		want := strs(tc.sub)
		if len(st.Condition) != 1 || len(eq) != 2 || eq["token.actions.githubusercontent.com:aud"] != "sts.amazonaws.com" ||
			!slices.Equal(strs(eq["token.actions.githubusercontent.com:sub"]), want) {
			t.Errorf("%s: trust condition %v, want exactly aud sts.amazonaws.com and sub %v", tc.stack, st.Condition, want)
		}
		if !slices.Equal(infra.GitHubSubjects(map[string]stacks.Profile{"dev": stacks.Dev, "prod": stacks.Prod}[tc.stack],
			stacks.DeployConfig{GitHubRepository: "acme/slipway", GitHubEnvironment: tc.env}), want) {
			t.Errorf("%s: GitHubSubjects disagrees with the role", tc.stack)
		}
		var attached, policies []string
		for _, att := range res.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
			if att.Str("role") == role.Out("name") {
				attached = append(attached, att.Str("policyArn"))
			}
		}
		for _, p := range deployPolicies(res) {
			policies = append(policies, p.Out("arn").(string))
		}
		slices.Sort(attached)
		slices.Sort(policies)
		if !slices.Equal(attached, policies) || role.Str("path") != "/slipway/" {
			t.Errorf("OIDC role policies %v (want %v), path %s", attached, policies, role.Str("path"))
		}
		if out := res.Outputs["deployRoleArn"]; out.Value != role.Out("arn") {
			t.Errorf("deployRoleArn = %+v", out)
		}
	}
}

func TestQueueIsEncryptedLongPolledAndRedrives(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		queue, _ := res.Find("aws:sqs/queue:Queue", "queue")
		dlq, _ := res.Find("aws:sqs/queue:Queue", "queue-dead-letter")
		retention := map[string]float64{"prod": 14}[stack]
		if retention == 0 {
			retention = 4
		}
		want := map[string]any{"sqsManagedSseEnabled": true, "receiveWaitTimeSeconds": 20.0,
			"visibilityTimeoutSeconds": 60.0, "messageRetentionSeconds": retention * 86400}
		for k, v := range want {
			if queue.In(k) != v {
				t.Errorf("%s: queue %s = %v, want %v", stack, k, queue.In(k), v)
			}
		}
		if dlq.In("sqsManagedSseEnabled") != true || dlq.In("messageRetentionSeconds") != 1209600.0 {
			t.Errorf("%s: dead-letter queue %v", stack, dlq.Inputs)
		}
		var redrive struct {
			DeadLetterTargetArn string
			MaxReceiveCount     int
		}
		if err := json.Unmarshal([]byte(queue.Str("redrivePolicy")), &redrive); err != nil ||
			redrive.DeadLetterTargetArn != dlq.Out("arn") || redrive.MaxReceiveCount != 5 {
			t.Errorf("%s: redrive policy %s", stack, queue.Str("redrivePolicy"))
		}
		allow := one(t, res, "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy")
		var ap struct {
			RedrivePermission string
			SourceQueueArns   []string
		}
		if err := json.Unmarshal([]byte(allow.Str("redriveAllowPolicy")), &ap); err != nil || allow.Str("queueUrl") != dlq.Out("url") ||
			ap.RedrivePermission != "byQueue" || !slices.Equal(ap.SourceQueueArns, []string{queue.Out("arn").(string)}) {
			t.Errorf("%s: redrive allow policy %v", stack, allow.Inputs)
		}
		policies := res.ByType("aws:sqs/queuePolicy:QueuePolicy")
		if len(policies) != 2 {
			t.Fatalf("%s: %d queue policies", stack, len(policies))
		}
		for _, p := range policies {
			target := queue
			if p.Str("queueUrl") == dlq.Out("url") {
				target = dlq
			}
			doc := parsePolicy(t, p.Str("policy"))
			st := doc.Statement[0]
			if len(doc.Statement) != 1 || st.Effect != "Deny" || st.Principal != "*" ||
				st.Condition["Bool"]["aws:SecureTransport"] != "false" || strs(st.Resource)[0] != target.Out("arn") {
				t.Errorf("%s: queue policy %s", stack, p.Str("policy"))
			}
		}
		if res.Outputs["queueUrl"].Value != queue.Out("url") || res.Outputs["deadLetterQueueUrl"].Value != dlq.Out("url") {
			t.Errorf("%s: queue outputs %v %v", stack, res.Outputs["queueUrl"], res.Outputs["deadLetterQueueUrl"])
		}
		grant := hostStatement(t, res, "UseWorkQueue")
		if !slices.Equal(strs(grant.Resource), []string{queue.Out("arn").(string)}) ||
			!slices.Equal(strs(grant.Action), []string{"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
				"sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}) {
			t.Errorf("%s: host queue grant %v on %v", stack, grant.Action, grant.Resource)
		}
	}
}

func TestVisibilityTimeoutFollowsTheWorkerBudget(t *testing.T) {
	res := deploy(t, "dev", func(f *stacks.Files) { f.Values["slipway:workerTimeoutSeconds"] = "300" })
	queue, _ := res.Find("aws:sqs/queue:Queue", "queue")
	if queue.In("visibilityTimeoutSeconds") != 330.0 {
		t.Fatalf("visibility timeout %v for a 300 s budget", queue.In("visibilityTimeoutSeconds"))
	}
}

func hostStatement(t *testing.T, res *mockcloud.Result, sid string) struct {
	Sid, Effect                 string
	Action, Resource, Principal any
	Condition                   map[string]map[string]any
} {
	t.Helper()
	inline, _ := res.Find("aws:iam/rolePolicy:RolePolicy", "host")
	for _, st := range parsePolicy(t, inline.Str("policy")).Statement {
		if st.Sid == sid {
			return struct {
				Sid, Effect                 string
				Action, Resource, Principal any
				Condition                   map[string]map[string]any
			}{st.Sid, st.Effect, st.Action, st.Resource, st.Principal, st.Condition}
		}
	}
	t.Fatalf("%s: host policy has no statement %s", res.Stack, sid)
	panic("unreachable")
}

func TestLogGroupsPerContainerWithTheStacksRetention(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		retention := map[string]float64{"dev": 14, "prod": 90, "pr-7": 3}[stack]
		groups := res.ByType("aws:cloudwatch/logGroup:LogGroup")
		for _, g := range groups {
			if g.In("retentionInDays") != retention {
				t.Errorf("%s: log group %s retention %v, want %v", stack, g.Name, g.In("retentionInDays"), retention)
			}
		}
		grant := hostStatement(t, res, "WriteOwnLogGroups")
		var want []string
		for _, svc := range infra.LogServices {
			g, ok := res.Find("aws:cloudwatch/logGroup:LogGroup", "logs-"+svc)
			if !ok {
				t.Fatalf("%s: no log group for %s", stack, svc)
			}
			name, _ := g.Out("name").(string)
			if !strings.HasPrefix(name, "slipway-"+stack+"-logs-"+svc+"-") {
				t.Errorf("%s: log group name %s", stack, name)
			}
			arn := g.Out("arn").(string)
			want = append(want, arn, arn+":*")
		}
		if !slices.Equal(strs(grant.Resource), want) ||
			!slices.Equal(strs(grant.Action), []string{"logs:CreateLogStream", "logs:PutLogEvents"}) {
			t.Errorf("%s: host logs grant %v on %v", stack, grant.Action, grant.Resource)
		}
	}
}

func TestEveryAlarmReachesThePager(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		topic := one(t, res, "aws:sns/topic:Topic")
		topicARN := topic.Out("arn").(string)
		names := []string{}
		for _, a := range res.ByType("aws:cloudwatch/metricAlarm:MetricAlarm") {
			names = append(names, a.Name)
			actions := strs(a.In("alarmActions"))
			if a.In("actionsEnabled") != true || !slices.Contains(actions, topicARN) {
				t.Errorf("%s: alarm %s actionsEnabled=%v actions=%v", stack, a.Name, a.In("actionsEnabled"), actions)
			}
		}
		slices.Sort(names)
		want := []string{"host-recover", "monitoring-api", "monitoring-cdn-5xx", "monitoring-cpu", "monitoring-data-disk",
			"monitoring-dead-letter", "monitoring-reboot", "monitoring-root-disk"}
		if stack == "prod" { // the archiver's (backup_test.go)
			want = append([]string{"backup-archive-failures", "backup-wal-pending"}, want...)
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: alarms %v, want %v", stack, names, want)
		}
		// CloudFront's metrics live in us-east-1: so must its alarm.
		cdn, _ := res.Find("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-cdn-5xx")
		dist := one(t, res, "aws:cloudfront/distribution:Distribution")
		if cdn.Region != "us-east-1" || !strings.Contains(cdn.Provider, "::aws-us-east-1::") ||
			cdn.Str("dimensions.DistributionId") != dist.ID || cdn.Str("namespace") != "AWS/CloudFront" {
			t.Errorf("%s: CloudFront alarm region=%s provider=%s inputs=%v", stack, cdn.Region, cdn.Provider, cdn.Inputs)
		}
		host := one(t, res, "aws:ec2/instance:Instance")
		reboot, _ := res.Find("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-reboot")
		if reboot.Str("metricName") != "StatusCheckFailed_Instance" || reboot.Str("dimensions.InstanceId") != host.ID ||
			!slices.Contains(strs(reboot.In("alarmActions")), "arn:aws:automate:us-east-1:ec2:reboot") {
			t.Errorf("%s: reboot alarm %v", stack, reboot.Inputs)
		}
		cpu, _ := res.Find("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-cpu")
		if cpu.In("threshold") != 80.0 || cpu.In("period").(float64)*cpu.In("evaluationPeriods").(float64) != 900 {
			t.Errorf("%s: cpu alarm %v", stack, cpu.Inputs)
		}
		dlq, _ := res.Find("aws:sqs/queue:Queue", "queue-dead-letter")
		dl, _ := res.Find("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-dead-letter")
		if dl.Str("dimensions.QueueName") != dlq.Out("name") || dl.In("threshold") != 0.0 ||
			dl.Str("comparisonOperator") != "GreaterThanThreshold" || dl.Str("metricName") != "ApproximateNumberOfMessagesVisible" {
			t.Errorf("%s: dead-letter alarm %v", stack, dl.Inputs)
		}
		api, _ := res.Find("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-api")
		if api.Str("namespace") != "Slipway" || api.Str("dimensions.Stack") != stack || api.Str("treatMissingData") != "breaching" {
			t.Errorf("%s: api alarm %v", stack, api.Inputs)
		}
		disk, _ := res.Find("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-data-disk")
		if disk.Str("metricName") != "DataVolumeUsedPercent" || disk.Str("dimensions.Stack") != stack {
			t.Errorf("%s: data disk alarm %v", stack, disk.Inputs)
		}
		// Only this stack's alarms may publish to the topic.
		tp := parsePolicy(t, one(t, res, "aws:sns/topicPolicy:TopicPolicy").Str("policy"))
		pub := tp.Statement[0]
		if p, _ := pub.Principal.(map[string]any); p["Service"] != "cloudwatch.amazonaws.com" ||
			pub.Condition["StringEquals"]["aws:SourceAccount"] != acct ||
			pub.Condition["ArnLike"]["aws:SourceArn"] != "arn:aws:cloudwatch:us-east-1:"+acct+":alarm:slipway-"+stack+"-*" {
			t.Errorf("%s: topic policy %v", stack, pub)
		}
		for _, a := range res.ByType("aws:cloudwatch/metricAlarm:MetricAlarm") {
			if name, _ := a.Out("name").(string); !globMatch("slipway-"+stack+"-*", name) {
				t.Errorf("%s: alarm %s could not publish: name %s", stack, a.Name, name)
			}
		}
		if res.Outputs["alarmTopicArn"].Value != topicARN {
			t.Errorf("%s: alarmTopicArn %v", stack, res.Outputs["alarmTopicArn"])
		}
	}
}

func TestAlarmTopicIsEncryptedWithAKeyCloudWatchMayUse(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		topic := one(t, res, "aws:sns/topic:Topic")
		key := one(t, res, "aws:kms/key:Key")
		if topic.Str("kmsMasterKeyId") != key.Out("arn") || strings.Contains(topic.Str("kmsMasterKeyId"), "alias/aws/sns") {
			t.Errorf("%s: topic key %s", stack, topic.Str("kmsMasterKeyId"))
		}
		if key.In("enableKeyRotation") != true {
			t.Errorf("%s: key rotation off", stack)
		}
		var cw bool
		for _, st := range parsePolicy(t, key.Str("policy")).Statement {
			if p, _ := st.Principal.(map[string]any); p["Service"] == "cloudwatch.amazonaws.com" {
				cw = slices.Equal(strs(st.Action), []string{"kms:Decrypt", "kms:GenerateDataKey*"}) &&
					st.Condition["StringEquals"]["aws:SourceAccount"] == acct
			}
		}
		if !cw {
			t.Errorf("%s: CloudWatch may not use the topic key: %s", stack, key.Str("policy"))
		}
		subs := res.ByType("aws:sns/topicSubscription:TopicSubscription")
		if stack == "prod" {
			if len(subs) != 1 || subs[0].Str("protocol") != "email" || subs[0].Str("endpoint") != "ops@example.com" ||
				subs[0].Str("topic") != topic.Out("arn") {
				t.Errorf("prod: subscriptions %v", subs)
			}
		} else if len(subs) != 0 {
			t.Errorf("%s: subscriptions without slipway:alarmEmail", stack)
		}
	}
}

// Outside us-east-1 a second topic there serves the CloudFront alarm,
// with the same subscription.
func TestSecondTopicInUSEast1OutsideIt(t *testing.T) {
	res := deploy(t, "prod", func(f *stacks.Files) { f.Values["aws:region"] = "eu-west-1" })
	topics := res.ByType("aws:sns/topic:Topic")
	if len(topics) != 2 {
		t.Fatalf("%d topics", len(topics))
	}
	regions := []string{topics[0].Region, topics[1].Region}
	slices.Sort(regions)
	if !slices.Equal(regions, []string{"eu-west-1", "us-east-1"}) {
		t.Errorf("topic regions %v", regions)
	}
	for _, k := range res.ByType("aws:kms/key:Key") {
		if k.Region != "eu-west-1" && k.Region != "us-east-1" {
			t.Errorf("key in %s", k.Region)
		}
	}
	subs := res.ByType("aws:sns/topicSubscription:TopicSubscription")
	if len(subs) != 2 || subs[0].Region == subs[1].Region {
		t.Errorf("subscriptions %v", subs)
	}
	if arn, _ := res.Outputs["alarmTopicArn"].Value.(string); !strings.HasPrefix(arn, "arn:aws:sns:eu-west-1:") {
		t.Errorf("alarmTopicArn %s", arn)
	}
}

func TestHostPublishesItsMetrics(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		grant := hostStatement(t, res, "PublishSlipwayMetrics")
		if !slices.Equal(strs(grant.Action), []string{"cloudwatch:PutMetricData"}) ||
			grant.Condition["StringEquals"]["cloudwatch:namespace"] != "Slipway" {
			t.Errorf("%s: metrics grant %v %v", stack, grant.Action, grant.Condition)
		}
		var doc struct {
			Packages   []string
			WriteFiles []struct{ Path, Permissions, Content string } `yaml:"write_files"`
			Runcmd     [][]string
		}
		ud := one(t, res, "aws:ec2/instance:Instance").UserData()
		if err := yaml.Unmarshal([]byte(ud), &doc); err != nil {
			t.Fatalf("%s: user data: %v", stack, err)
		}
		if !slices.Contains(doc.Packages, "python3-boto3") ||
			!slices.ContainsFunc(doc.Runcmd, func(c []string) bool {
				return slices.Equal(c, []string{"systemctl", "enable", "--now", "slipway-metrics.timer"})
			}) {
			t.Errorf("%s: packages %v, commands %v", stack, doc.Packages, doc.Runcmd)
		}
		files := map[string]string{}
		for _, f := range doc.WriteFiles {
			files[f.Path] = f.Permissions
		}
		// The publisher itself travels with the release (its timer runs the
		// current release's copy): only the units are the host's.
		if _, ok := files["/usr/local/bin/slipway-metrics"]; ok {
			t.Errorf("%s: the metrics script is in the user data; it travels with the release", stack)
		}
		for path, mode := range map[string]string{
			"/etc/systemd/system/slipway-metrics.service": "0644", "/etc/systemd/system/slipway-metrics.timer": "0644"} {
			if files[path] != mode {
				t.Errorf("%s: %s mode %q", stack, path, files[path])
			}
		}
	}
}

func TestDashboardShowsTheSignals(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		d := one(t, res, "aws:cloudwatch/dashboard:Dashboard")
		if d.Str("dashboardName") != "slipway-"+stack {
			t.Errorf("%s: dashboard name %s", stack, d.Str("dashboardName"))
		}
		var body struct {
			Widgets []struct {
				Type       string
				Properties map[string]any
			}
		}
		if err := json.Unmarshal([]byte(d.Str("dashboardBody")), &body); err != nil {
			t.Fatalf("%s: dashboard body: %v", stack, err)
		}
		text := d.Str("dashboardBody")
		host := one(t, res, "aws:ec2/instance:Instance")
		dlq, _ := res.Find("aws:sqs/queue:Queue", "queue-dead-letter")
		for _, want := range []string{host.ID, dlq.Out("name").(string), "DataVolumeUsedPercent", "ApiReady", "CPUUtilization",
			"StatusCheckFailed_Instance"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: dashboard lacks %s", stack, want)
			}
		}
		if body.Widgets[0].Type != "alarm" || len(strs(body.Widgets[0].Properties["alarms"])) != 6 {
			t.Errorf("%s: alarm widget %v", stack, body.Widgets[0])
		}
		want := "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=slipway-" + stack
		if res.Outputs["dashboardUrl"].Value != want {
			t.Errorf("%s: dashboardUrl %v", stack, res.Outputs["dashboardUrl"].Value)
		}
	}
}

// Every workflow job that takes AWS credentials must be able to use them:
// the OIDC subject GitHub gives the job is one the stack's role trusts,
// and access keys are passed only when no role is configured (with both,
// configure-aws-credentials uses the keys to call sts:AssumeRole, which
// the deploy policy denies).
func TestWorkflowJobsCanAssumeTheDeployRole(t *testing.T) {
	files, err := filepath.Glob("../.github/workflows/*.yml")
	if err != nil || len(files) < 3 {
		t.Fatalf("workflows: %v %v", files, err)
	}
	checked := 0
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var wf struct {
			On   map[string]any `yaml:"on"`
			Jobs map[string]struct {
				If          string
				Environment any
				Steps       []struct {
					Uses string
					With map[string]string
				}
				Permissions map[string]string
			}
		}
		if err := yaml.Unmarshal(raw, &wf); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for name, job := range wf.Jobs {
			for _, step := range job.Steps {
				if !strings.HasPrefix(step.Uses, "aws-actions/configure-aws-credentials@") {
					continue
				}
				checked++
				where := filepath.Base(file) + " " + name
				for _, k := range []string{"aws-access-key-id", "aws-secret-access-key"} {
					if !strings.HasPrefix(step.With[k], "${{ secrets.AWS_ROLE_ARN == '' && secrets.") {
						t.Errorf("%s: %s = %q: pass keys only when AWS_ROLE_ARN is empty", where, k, step.With[k])
					}
				}
				if step.With["role-to-assume"] != "${{ secrets.AWS_ROLE_ARN }}" || job.Permissions["id-token"] != "write" {
					t.Errorf("%s: role-to-assume %q, id-token %q", where, step.With["role-to-assume"], job.Permissions["id-token"])
				}
				// The subject GitHub puts in the job's token.
				env, _ := job.Environment.(string)
				var subject string
				switch {
				case env != "":
					subject = "environment:" + env
				case strings.Contains(job.If, "github.event_name == 'pull_request'"):
					subject = "pull_request"
				case strings.Contains(job.If, "'schedule'"):
					subject = "ref:refs/heads/main" // schedules run on the default branch
				default:
					subject = "ref:refs/heads/main"
				}
				if _, isPR := wf.On["pull_request"]; isPR && env == "" && !strings.Contains(job.If, "'schedule'") {
					subject = "pull_request"
				}
				// Which identity: prod's secrets live in the production
				// environment; everything else uses dev's.
				profile := stacks.Dev
				if env == "production" {
					profile = stacks.Prod
				}
				subjects := infra.GitHubSubjects(profile, stacks.DeployConfig{GitHubRepository: "acme/slipway"})
				if !slices.Contains(subjects, "repo:acme/slipway:"+subject) {
					t.Errorf("%s: its token's subject repo:acme/slipway:%s is not trusted by %s's role (%v)", where, subject, profile, subjects)
				}
			}
		}
	}
	if checked < 6 {
		t.Errorf("only %d jobs configure AWS credentials", checked)
	}
}
