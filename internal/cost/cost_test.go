package cost

import (
	"math"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

func rec(typ, name, id string, in map[string]any, out map[string]any) mockcloud.Resource {
	inputs := resource.NewPropertyMapFromMap(in)
	outputs := inputs.Copy()
	for k, v := range out {
		outputs[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
	}
	return mockcloud.Resource{URN: "urn:pulumi:dev::slipway::" + typ + "::" + name, Type: typ, Name: name, ID: id,
		Custom: true, Inputs: inputs, Outputs: outputs, Region: "us-east-1"}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func line(t *testing.T, est Estimate, name, itemPrefix string) Line {
	t.Helper()
	for _, l := range est.Lines {
		if l.Name == name && strings.HasPrefix(l.Item, itemPrefix) {
			return l
		}
	}
	t.Fatalf("no line %s %q in %+v", name, itemPrefix, est.Lines)
	return Line{}
}

func TestPinnedPrices(t *testing.T) {
	cases := []struct {
		typ  string
		want float64
	}{
		{"t4g.small", 12.264}, {"t4g.medium", 24.528}, {"t3.small", 15.184},
		{"m7g.large", 59.568}, {"m7g.2xlarge", 238.272}, {"c6g.medium", 24.82},
	}
	for _, c := range cases {
		h, ok := InstanceHourly(c.typ)
		if !ok || !near(round(h*HoursPerMonth), c.want) {
			t.Errorf("%s: %v/h → %v a month, want %v", c.typ, h, round(h*HoursPerMonth), c.want)
		}
	}
	if _, ok := InstanceHourly("m6i.medium"); ok {
		t.Error("m6i.medium does not exist but was priced")
	}
	if _, ok := InstanceHourly("t4g.9xlarge"); ok {
		t.Error("unknown burstable size priced")
	}
}

// The core host as the program builds it: a t4g.small with a 20 GiB gp3
// root volume, a 20 GiB gp3 data volume and one Elastic IP associated with
// the instance (whose auto-assigned address is then released).
func TestCoreHostAtIdle(t *testing.T) {
	inst := rec("aws:ec2/instance:Instance", "host", "i-1", map[string]any{
		"instanceType": "t4g.small", "associatePublicIpAddress": true, "monitoring": false,
		"rootBlockDevice": map[string]any{"volumeType": "gp3", "volumeSize": 20},
	}, nil)
	vol := rec("aws:ebs/volume:Volume", "data", "vol-1", map[string]any{"size": 20, "type": "gp3"}, nil)
	eip := rec("aws:ec2/eip:Eip", "host", "eipalloc-1", map[string]any{"domain": "vpc"}, nil)
	assoc := rec("aws:ec2/eipAssociation:EipAssociation", "host", "eipassoc-1", map[string]any{"instanceId": "i-1"}, nil)
	est := Price([]mockcloud.Resource{inst, vol, eip, assoc}, stacks.Dev)

	if l := line(t, est, "host", "t4g.small"); !near(l.Monthly, 12.264) || l.Kind != Fixed {
		t.Errorf("instance line %+v", l)
	}
	if l := line(t, est, "data", "gp3 20 GiB"); !near(l.Monthly, 1.60) {
		t.Errorf("20 GiB gp3 = %v, want 1.60", l.Monthly)
	}
	if l := line(t, est, "host", "public IPv4 address (Elastic IP)"); !near(l.Monthly, 3.65) {
		t.Errorf("one public IPv4 = %v, want 3.65", l.Monthly)
	}
	ipv4 := 0
	for _, l := range est.Lines {
		if strings.Contains(l.Item, "public IPv4") {
			ipv4++
		}
	}
	if ipv4 != 1 {
		t.Errorf("%d public IPv4 lines; an instance with an associated Elastic IP has one address", ipv4)
	}
	// 12.264 + 1.60 (root) + 1.60 (data) + 3.65
	if !near(est.FixedMonthly, 19.114) || !near(est.UsageMonthly, 0) {
		t.Errorf("fixed %v usage %v, want 19.114 and 0", est.FixedMonthly, est.UsageMonthly)
	}
	if !near(est.FixedHourly, round(19.114/730)) {
		t.Errorf("hourly %v", est.FixedHourly)
	}
}

func TestAutoAssignedAddressWithoutEIPIsBilled(t *testing.T) {
	inst := rec("aws:ec2/instance:Instance", "host", "i-1", map[string]any{
		"instanceType": "t4g.medium", "associatePublicIpAddress": true, "monitoring": true}, nil)
	est := Price([]mockcloud.Resource{inst}, stacks.Prod)
	if l := line(t, est, "host", "public IPv4 address"); !near(l.Monthly, 3.65) {
		t.Errorf("auto-assigned IPv4 %v", l.Monthly)
	}
	if l := line(t, est, "host", "detailed monitoring"); !near(l.Monthly, 2.10) {
		t.Errorf("detailed monitoring %v", l.Monthly)
	}
	if !near(est.FixedMonthly, 24.528+3.65+2.10) {
		t.Errorf("fixed %v", est.FixedMonthly)
	}
}

func TestOpsAndEdgeLines(t *testing.T) {
	res := []mockcloud.Resource{
		rec("aws:route53/zone:Zone", "zone", "Z1", map[string]any{"name": "example.com"}, nil),
		rec("aws:cloudwatch/metricAlarm:MetricAlarm", "cpu", "a1", map[string]any{"namespace": "AWS/EC2", "metricName": "CPUUtilization", "period": 300}, nil),
		rec("aws:cloudwatch/metricAlarm:MetricAlarm", "dlq", "a2", map[string]any{"namespace": "Slipway", "metricName": "JobsFailed", "period": 10}, nil),
		rec("aws:cloudwatch/dashboard:Dashboard", "main", "d", map[string]any{"dashboardName": "x"}, nil),
		rec("aws:ecr/repository:Repository", "api", "r", map[string]any{}, nil),
		rec("aws:cloudwatch/logGroup:LogGroup", "api", "lg", map[string]any{"retentionInDays": 90}, map[string]any{"arn": "arn:lg"}),
		rec("aws:cloudfront/distribution:Distribution", "site", "E1", map[string]any{}, nil),
		rec("aws:sqs/queue:Queue", "work", "q1", map[string]any{"redrivePolicy": `{"deadLetterTargetArn":"arn:dlq","maxReceiveCount":5}`}, map[string]any{"arn": "arn:q1"}),
		rec("aws:sqs/queue:Queue", "dlq", "q2", map[string]any{}, map[string]any{"arn": "arn:dlq"}),
		rec("aws:sns/topic:Topic", "alarms", "t", map[string]any{}, nil),
	}
	est := Price(res, stacks.Prod)
	want := map[[2]string]float64{
		{"zone", "hosted zone"}:          0.50,
		{"cpu", "standard alarm"}:        0.10,
		{"dlq", "high-resolution alarm"}: 0.30,
		{"dlq", "custom metric"}:         0.30,
		{"main", "dashboard"}:            3.00,
		{"api", "storage"}:               0.10,
		{"api", "ingest 2.0 GB"}:         1.00,
		{"api", "store ~6.0 GB"}:         0.18,
		{"site", "50 GB out"}:            4.25,
		{"site", "2.0M HTTPS requests"}:  2.00,
		{"dlq", "dead-letter queue"}:     0,
		{"work", "280k requests"}:        0.112,
	}
	for k, v := range want {
		if l := line(t, est, k[0], k[1]); !near(l.Monthly, v) {
			t.Errorf("%s %s = %v, want %v", k[0], k[1], l.Monthly, v)
		}
	}
	for _, l := range est.Lines {
		if l.Name == "alarms" {
			t.Errorf("an SNS topic has no idle cost: %+v", l)
		}
	}
	if !near(est.FixedMonthly, 0.5+0.1+0.3+0.3+3+0.1) {
		t.Errorf("fixed %v", est.FixedMonthly)
	}
}

func TestSnapshotsAreIncremental(t *testing.T) {
	vol := rec("aws:ebs/volume:Volume", "data", "vol-1", map[string]any{"size": 50, "type": "gp3",
		"tags": map[string]any{"slipway-backup": "slipway-prod"}}, nil)
	dlm := rec("aws:dlm/lifecyclePolicy:LifecyclePolicy", "data", "p", map[string]any{"policyDetails": map[string]any{
		"targetTags": map[string]any{"slipway-backup": "slipway-prod"},
		"schedules":  []any{map[string]any{"retainRule": map[string]any{"count": 14}}}}}, nil)
	est := Price([]mockcloud.Resource{vol, dlm}, stacks.Prod)
	// 25 GB used + 13 × 2% of 25 GB = 31.5 GB × $0.05
	if l := line(t, est, "data", "snapshots"); !near(l.Monthly, 1.575) {
		t.Errorf("snapshots %+v", l)
	}
}

func TestOtherRegionsAreFlaggedUnpriced(t *testing.T) {
	inst := rec("aws:ec2/instance:Instance", "host", "i-1", map[string]any{"instanceType": "t4g.small"}, nil)
	inst.Region = "eu-west-1"
	cf := rec("aws:cloudfront/distribution:Distribution", "site", "E1", map[string]any{}, nil)
	cf.Region = "eu-west-1"
	est := Price([]mockcloud.Resource{inst, cf}, stacks.Dev)
	l := line(t, est, "host", "t4g.small")
	if l.Priced || l.Monthly != 0 || !strings.Contains(l.Note, "unpriced") {
		t.Errorf("eu-west-1 instance priced: %+v", l)
	}
	if len(est.Unpriced) != 1 || !strings.Contains(est.Unpriced[0], "eu-west-1") {
		t.Errorf("unpriced %v", est.Unpriced)
	}
	if est.FixedMonthly != 0 || est.UsageMonthly == 0 {
		t.Errorf("fixed %v (want 0: nothing priced), usage %v (CloudFront is global)", est.FixedMonthly, est.UsageMonthly)
	}
}

func TestUnknownInstanceTypeIsFlagged(t *testing.T) {
	inst := rec("aws:ec2/instance:Instance", "host", "i-1", map[string]any{"instanceType": "x9z.large"}, nil)
	est := Price([]mockcloud.Resource{inst}, stacks.Dev)
	if len(est.Unpriced) != 1 || est.FixedMonthly != 0 {
		t.Errorf("unknown type: unpriced %v fixed %v", est.Unpriced, est.FixedMonthly)
	}
}

func TestAssumptionsAreStated(t *testing.T) {
	a := strings.Join(Assumptions(stacks.Dev), "\n")
	for _, want := range []string{PricedAsOf, "not fetched live", "730 hours", "free tiers", "GB", "20 s"} {
		if !strings.Contains(a, want) {
			t.Errorf("assumptions lack %q", want)
		}
	}
}
