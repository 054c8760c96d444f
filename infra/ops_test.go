package infra_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

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

// App stacks create no CI identity, no boundary and no host document:
// those are the foundation's (infra/foundation), an administrator's to
// change. They find their class's boundary by its fixed ARN.
func TestAppStacksCreateNoCIIdentity(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		for _, typ := range []string{"aws:iam/user:User", "aws:iam/group:Group", "aws:iam/accessKey:AccessKey",
			"aws:iam/policy:Policy", "aws:iam/userGroupMembership:UserGroupMembership",
			"aws:iam/openIdConnectProvider:OpenIdConnectProvider"} {
			for _, r := range res.ByType(typ) {
				t.Errorf("%s: %s %s: the foundation's, not an app stack's", stack, typ, r.Name)
			}
		}
		for _, k := range []string{"deployUserName", "deployAccessKeyId", "deploySecretAccessKey", "deployRoleArn"} {
			if _, ok := res.Outputs[k]; ok {
				t.Errorf("%s: output %s", stack, k)
			}
		}
		class := map[string]string{"dev": "dev", "prod": "prod", "pr-7": "review"}[stack]
		for _, r := range res.ByType("aws:iam/role:Role") {
			if want := "arn:aws:iam::" + acct + ":policy/slipway/slipway-" + class + "-role-boundary"; r.In("permissionsBoundary") != want {
				t.Errorf("%s: role %s has boundary %v, want %s", stack, r.Name, r.In("permissionsBoundary"), want)
			}
		}
	}
}

// Nor a host document: a document runs as root on hosts, so only the
// foundation writes them (slipway-<class>-rollout and the operator
// actions); the release associates the class's rollout document by name.
func TestAppStacksCreateNoHostDocument(t *testing.T) {
	for _, stack := range allStacks {
		for _, r := range deploy(t, stack).ByType("aws:ssm/document:Document") {
			t.Errorf("%s: document %s: the foundation's, not an app stack's", stack, r.Name)
		}
	}
}

// Every explicit AWS provider carries the stack's account pin: dev's and
// every review stack's is Pulumi.dev.yaml's, prod's Pulumi.prod.yaml's.
func TestEveryProviderPinsTheAccount(t *testing.T) {
	for stack, want := range map[string][]string{"dev": {"111111111111"}, "prod": {"222222222222"}, "pr-7": {"111111111111"}} {
		res := deploy(t, stack)
		providers := res.ByType("pulumi:providers:aws")
		if len(providers) < 2 {
			t.Fatalf("%s: %d aws providers", stack, len(providers))
		}
		for _, p := range providers {
			if got := strs(p.In("allowedAccountIds")); !slices.Equal(got, want) {
				t.Errorf("%s: provider %s allowedAccountIds %v, want %v", stack, p.Name, got, want)
			}
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
		for path, mode := range map[string]string{"/usr/local/bin/slipway-metrics": "0755",
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
