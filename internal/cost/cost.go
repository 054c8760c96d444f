// Package cost estimates what a stack costs per month from the resources it
// registers (as recorded by internal/mockcloud) and an embedded, dated
// price table (prices.go). It separates what the stack costs sitting idle
// (fixed) from what traffic adds (usage, from stated assumptions), and
// flags anything outside the priced region instead of guessing.
package cost

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// Kind separates cost at idle from cost driven by traffic.
type Kind string

const (
	Fixed Kind = "fixed"
	Usage Kind = "usage"
)

// Line is one priced item of one resource.
type Line struct {
	URN     string  `json:"urn"`
	Type    string  `json:"type"`
	Name    string  `json:"name"`
	Item    string  `json:"item"`
	Kind    Kind    `json:"kind"`
	Monthly float64 `json:"monthlyUsd"`
	// Priced is false for resources outside the priced region: their
	// Monthly is 0 and not part of the totals.
	Priced bool   `json:"priced"`
	Note   string `json:"note,omitempty"`
}

// Estimate is a stack's monthly cost.
type Estimate struct {
	PricedAsOf string   `json:"pricedAsOf"`
	Compiled   string   `json:"compiled"`
	Region     string   `json:"pricedRegion"`
	Sources    []string `json:"sources"`
	Lines      []Line   `json:"lines"`
	// FixedMonthly is what the stack costs with no traffic at all.
	FixedMonthly float64 `json:"fixedMonthlyUsd"`
	// UsageMonthly is what the stated traffic assumptions add.
	UsageMonthly float64 `json:"usageMonthlyUsd"`
	TotalMonthly float64 `json:"totalMonthlyUsd"`
	// FixedHourly is the idle cost per hour (what a review stack costs
	// for every hour it is left up).
	FixedHourly float64 `json:"fixedHourlyUsd"`
	// Unpriced lists resources the table cannot price (other regions,
	// unknown instance types).
	Unpriced    []string `json:"unpriced,omitempty"`
	Assumptions []string `json:"assumptions"`
}

// Traffic is the usage a stack is assumed to see per month.
type Traffic struct {
	CloudFrontGB       float64
	CloudFrontRequests float64
	S3Gets, S3Puts     float64
	LogGBPerGroup      float64
	FlowLogGB          float64
	QueueMessages      float64
	// Pollers long-poll the work queue (20 s waits) even when idle.
	Pollers float64
}

// TrafficFor is the assumed monthly traffic of a profile: a small product
// in prod, a handful of developers in dev and review stacks.
func TrafficFor(p stacks.Profile) Traffic {
	if p == stacks.Prod {
		return Traffic{CloudFrontGB: 50, CloudFrontRequests: 2e6, S3Gets: 1e5, S3Puts: 2e3,
			LogGBPerGroup: 2, FlowLogGB: 3, QueueMessages: 5e4, Pollers: 1}
	}
	return Traffic{CloudFrontGB: 2, CloudFrontRequests: 2e5, S3Gets: 2e4, S3Puts: 1e3,
		LogGBPerGroup: 0.5, FlowLogGB: 0.5, QueueMessages: 5e3, Pollers: 1}
}

// Fixed-cost assumptions.
const (
	ecrGBPerRepository = 1.0  // images kept per repository, after layer sharing
	siteGB             = 0.05 // the SPA build in the bucket
	dataUsedShare      = 0.5  // share of the data volume Postgres fills
	dailyChangeShare   = 0.02 // share of the used data changed per day (incremental snapshots)
	longPollsPerMonth  = 30 * 24 * 3600 / 20.0
	// The backup archive (infra/backup.go): a full base backup every
	// fullIntervalDays, kept for the retention, uncompressed (an upper
	// bound: pgBackRest compresses and differentials are smaller), plus
	// WAL of walDailyShare of the used data per day; at most one WAL
	// segment a minute (archive_timeout 60 s) is one PUT each.
	fullIntervalDays  = float64(stacks.FullBackupIntervalDays)
	walDailyShare     = 0.10
	walPutsPerMonth   = 30 * 24 * 60.0
	defaultBackupDays = float64(stacks.MinBackupRetentionDays)
)

// Assumptions states what the usage and fixed figures rest on.
func Assumptions(p stacks.Profile) []string {
	t := TrafficFor(p)
	return []string{
		fmt.Sprintf("prices: %s on-demand list prices as of %s, table compiled %s offline (not fetched live)", PricedRegion, PricedAsOf, Compiled),
		"a month is 730 hours; free tiers are NOT subtracted (CloudFront's always-free 1 TB and 10M requests, SQS's 1M requests, 10 free alarms and 3 free dashboards per account would make several usage lines $0)",
		"public IPv4: $0.005/h per address; an Elastic IP is one address, and an instance's auto-assigned address is released once an Elastic IP is associated with it",
		fmt.Sprintf("traffic per month (%s): CloudFront %.0f GB out and %.0f HTTPS requests; S3 %.0f GETs (cache misses) and %.0f PUTs (deploys); %.1f GB of logs per log group; %.1f GB of flow logs; %.0f queue messages (send+receive+delete) plus %.0f long-poller(s) at 20 s waits",
			p, t.CloudFrontGB, t.CloudFrontRequests, t.S3Gets, t.S3Puts, t.LogGBPerGroup, t.FlowLogGB, t.QueueMessages, t.Pollers),
		fmt.Sprintf("ECR keeps %.0f GB per repository; the SPA is %.2f GB; log storage holds ingestion × retention (uncompressed, an upper bound)", ecrGBPerRepository, siteGB),
		fmt.Sprintf("snapshots are incremental: the first holds %.0f%% of the volume, each later one %.0f%% of that", dataUsedShare*100, dailyChangeShare*100),
		"detailed monitoring bills 7 instance metrics as custom metrics; an alarm on a non-AWS namespace watches one custom metric",
		fmt.Sprintf("backup archive (S3 Standard $%.3f/GB-month): retention/%.0f + 1 full copies of the used data, uncompressed, plus WAL of %.0f%% of it per day; one WAL PUT a minute. AWS Backup EBS warm storage $%.2f/GB-month (%s, 2025 list price): the first recovery point holds the used data, each later one the daily change", s3GBMonth, fullIntervalDays, walDailyShare*100, backupEBSWarmGBMonth, PricedRegion),
		"data from the host to CloudFront (origin fetches) and from ECR to the host (same region) is free; SNS email, standard SSM parameters, ACM public certificates, IAM and AWS-managed KMS keys cost nothing",
	}
}

// Price prices a stack's resources.
func Price(resources []mockcloud.Resource, profile stacks.Profile) Estimate {
	e := &estimator{res: resources, traffic: TrafficFor(profile)}
	for _, r := range resources {
		e.price(r)
	}
	est := Estimate{
		PricedAsOf: PricedAsOf, Compiled: Compiled, Region: PricedRegion, Sources: Sources,
		Lines: e.lines, Unpriced: e.unpriced, Assumptions: Assumptions(profile),
	}
	for _, l := range est.Lines {
		if !l.Priced {
			continue
		}
		if l.Kind == Fixed {
			est.FixedMonthly += l.Monthly
		} else {
			est.UsageMonthly += l.Monthly
		}
	}
	est.FixedMonthly = round(est.FixedMonthly)
	est.UsageMonthly = round(est.UsageMonthly)
	est.TotalMonthly = round(est.FixedMonthly + est.UsageMonthly)
	est.FixedHourly = round(est.FixedMonthly / HoursPerMonth)
	return est
}

type estimator struct {
	res      []mockcloud.Resource
	traffic  Traffic
	lines    []Line
	unpriced []string
	metrics  map[string]bool // custom metrics already billed
}

// global services are priced whatever the provider's region.
var global = []string{"aws:cloudfront/", "aws:route53/", "aws:iam/", "aws:acm/"}

func (e *estimator) add(r mockcloud.Resource, kind Kind, item string, monthly float64, note string) {
	l := Line{URN: r.URN, Type: r.Type, Name: r.Name, Item: item, Kind: kind, Monthly: round(monthly), Priced: true, Note: note}
	if !e.inPricedRegion(r) {
		l.Priced, l.Monthly = false, 0
		l.Note = "unpriced: region " + r.Region + " (the table prices " + PricedRegion + " only)"
		e.unpriced = appendOnce(e.unpriced, r.Type+" "+r.Name+" in "+r.Region)
	}
	e.lines = append(e.lines, l)
}

func (e *estimator) inPricedRegion(r mockcloud.Resource) bool {
	for _, g := range global {
		if strings.HasPrefix(r.Type, g) {
			return true
		}
	}
	return r.Region == "" || r.Region == PricedRegion
}

func (e *estimator) price(r mockcloud.Resource) {
	t := e.traffic
	switch r.Type {
	case "aws:ec2/instance:Instance":
		typ := r.Str("instanceType")
		hourly, ok := InstanceHourly(typ)
		if !ok {
			e.unpriced = appendOnce(e.unpriced, r.Type+" "+r.Name+": instance type "+typ+" not in the table")
			e.lines = append(e.lines, Line{URN: r.URN, Type: r.Type, Name: r.Name, Item: typ, Kind: Fixed, Note: "unpriced: instance type not in the table"})
		} else {
			note := "on-demand Linux"
			if r.Str("creditSpecification.cpuCredits") == "unlimited" {
				note += "; unlimited CPU credits can add surplus charges"
			}
			e.add(r, Fixed, fmt.Sprintf("%s × %.0f h", typ, HoursPerMonth), hourly*HoursPerMonth, note)
		}
		if size, _ := num(r.In("rootBlockDevice.volumeSize")); size > 0 {
			vt := orDefault(r.Str("rootBlockDevice.volumeType"), "gp3")
			e.add(r, Fixed, fmt.Sprintf("root volume %s %.0f GiB", vt, size), size*ebsGBMonth[vt], "")
		}
		if r.In("monitoring") == true {
			e.add(r, Fixed, "detailed monitoring (7 metrics)", detailedMonitoring*customMetric, "")
		}
		if r.In("associatePublicIpAddress") == true && !e.hasEIP(r) {
			e.add(r, Fixed, "public IPv4 address", publicIPv4Hour*HoursPerMonth, "auto-assigned, no Elastic IP")
		}
	case "aws:ebs/volume:Volume":
		size, _ := num(r.In("size"))
		vt := orDefault(r.Str("type"), "gp2")
		monthly := size * ebsGBMonth[vt]
		item := fmt.Sprintf("%s %.0f GiB", vt, size)
		if iops, _ := num(r.In("iops")); vt == "gp3" && iops > 3000 {
			monthly += (iops - 3000) * gp3IOPSMonth
			item += fmt.Sprintf(", %.0f IOPS", iops)
		} else if vt == "io1" || vt == "io2" {
			monthly += iops * ioIOPSMonth
		}
		if tp, _ := num(r.In("throughput")); vt == "gp3" && tp > 125 {
			monthly += (tp - 125) * gp3ThroughputMonth
			item += fmt.Sprintf(", %.0f MB/s", tp)
		}
		e.add(r, Fixed, item, monthly, "")
	case "aws:ec2/eip:Eip":
		e.add(r, Fixed, "public IPv4 address (Elastic IP)", publicIPv4Hour*HoursPerMonth, "")
	case "aws:dlm/lifecyclePolicy:LifecyclePolicy":
		for _, v := range e.targets(r) {
			size, _ := num(v.In("size"))
			count := e.retainCount(r)
			used := size * dataUsedShare
			gb := used + used*dailyChangeShare*math.Max(count-1, 0)
			e.add(r, Fixed, fmt.Sprintf("snapshots of %s: ~%.1f GB (%.0f kept)", v.Name, gb, count), gb*snapshotGBMonth, "incremental")
		}
	case "aws:route53/zone:Zone":
		e.add(r, Fixed, "hosted zone", route53Zone, "alias queries to CloudFront are free")
	case "aws:cloudwatch/metricAlarm:MetricAlarm":
		metrics := 1.0
		if q := list(r.In("metricQueries")); len(q) > 0 {
			metrics = 0
			for _, x := range q {
				if m, _ := x.(map[string]any); m["metric"] != nil {
					metrics++
				}
			}
		}
		price, item := alarmStandard, "standard alarm"
		if p, _ := num(r.In("period")); p > 0 && p < 60 {
			price, item = alarmHighRes, "high-resolution alarm"
		}
		e.add(r, Fixed, item, metrics*price, "")
		if ns := r.Str("namespace"); ns != "" && !strings.HasPrefix(ns, "AWS/") {
			e.customMetric(r, ns+"/"+r.Str("metricName"))
		}
	case "aws:cloudwatch/logMetricFilter:LogMetricFilter":
		e.customMetric(r, r.Str("metricTransformation.namespace")+"/"+r.Str("metricTransformation.name"))
	case "aws:cloudwatch/dashboard:Dashboard":
		e.add(r, Fixed, "dashboard", dashboardMonth, "the account's first 3 dashboards are free; not assumed")
	case "aws:cloudwatch/logGroup:LogGroup":
		days, _ := num(r.In("retentionInDays"))
		months := days / 30
		if days <= 0 {
			months = 12 // never expires: a year of logs, and growing
		}
		ingest := t.LogGBPerGroup
		note := ""
		if e.isFlowLogDestination(r) {
			ingest, note = t.FlowLogGB, "flow logs: ingestion billed on the flow log line"
		} else {
			e.add(r, Usage, fmt.Sprintf("ingest %.1f GB", ingest), ingest*logsIngestGB, "")
		}
		e.add(r, Usage, fmt.Sprintf("store ~%.1f GB (%.0f d retention)", ingest*months, days), ingest*months*logsStoreGBMonth, note)
	case "aws:ec2/flowLog:FlowLog":
		e.add(r, Usage, fmt.Sprintf("vended logs %.1f GB", t.FlowLogGB), t.FlowLogGB*logsIngestGB, "")
	case "aws:ecr/repository:Repository":
		e.add(r, Fixed, fmt.Sprintf("storage ~%.0f GB", ecrGBPerRepository), ecrGBPerRepository*ecrGBMonth, "assumed image size")
	case "aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket":
		if r.In("objectLockEnabled") == true {
			e.archive(r)
			break
		}
		e.add(r, Fixed, fmt.Sprintf("storage ~%.2f GB", siteGB), siteGB*s3GBMonth, "")
		e.add(r, Usage, fmt.Sprintf("%.0fk GET + %.0fk PUT", t.S3Gets/1e3, t.S3Puts/1e3), t.S3Gets/1e3*s3Get1000+t.S3Puts/1e3*s3Put1000, "")
	case "aws:cloudfront/distribution:Distribution":
		e.add(r, Usage, fmt.Sprintf("%.0f GB out", t.CloudFrontGB), t.CloudFrontGB*cfGBOut, "North America/Europe rate")
		e.add(r, Usage, fmt.Sprintf("%.1fM HTTPS requests", t.CloudFrontRequests/1e6), t.CloudFrontRequests/1e4*cfHTTPS10k, "")
	case "aws:cloudfront/function:Function":
		e.add(r, Usage, fmt.Sprintf("%.1fM invocations", t.CloudFrontRequests/1e6), t.CloudFrontRequests/1e6*cfFunction, "one per viewer request")
	case "aws:sqs/queue:Queue":
		price := sqsStandardMillion
		if r.In("fifoQueue") == true {
			price = sqsFIFOMillion
		}
		if e.isDeadLetterQueue(r) {
			e.add(r, Usage, "dead-letter queue: ~0 requests", 0, "")
			break
		}
		req := t.QueueMessages*3 + t.Pollers*longPollsPerMonth
		e.add(r, Usage, fmt.Sprintf("%.0fk requests", req/1e3), req/1e6*price,
			fmt.Sprintf("within the %.0fM free requests per account", freeSQSRequests/1e6))
	case "aws:ssm/parameter:Parameter":
		if r.Str("tier") == "Advanced" {
			e.add(r, Fixed, "advanced parameter", ssmAdvancedParameter, "")
		}
	case "aws:kms/key:Key":
		e.add(r, Fixed, "customer managed key", kmsKeyMonth, "")
	case "aws:ec2/natGateway:NatGateway":
		e.add(r, Fixed, "NAT gateway × 730 h", natGatewayHour*HoursPerMonth, "plus $0.045/GB processed")
	case "aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer":
		e.add(r, Fixed, "load balancer × 730 h", albHour*HoursPerMonth, "plus LCU-hours")
	case "aws:ec2/vpcEndpoint:VpcEndpoint":
		if r.Str("vpcEndpointType") == "Interface" {
			azs := math.Max(float64(len(list(r.In("subnetIds")))), 1)
			e.add(r, Fixed, fmt.Sprintf("interface endpoint × %.0f AZ", azs), azs*endpointAZHour*HoursPerMonth, "plus $0.01/GB")
		}
	case "aws:backup/selection:Selection":
		e.volumeBackups(r)
	case "aws:secretsmanager/secret:Secret":
		e.add(r, Fixed, "secret", secretMonth, "")
	default:
		e.pricePlatform(r) // ECS and RDS (ecs.go)
	}
}

// usedGB is the data Postgres holds on the stack's data volumes.
func (e *estimator) usedGB() float64 {
	gb := 0.0
	for _, v := range e.res {
		if v.Type == "aws:ebs/volume:Volume" {
			size, _ := num(v.In("size"))
			gb += size * dataUsedShare
		}
	}
	return gb
}

// archive prices the continuous archive: its retention is the bucket's
// Object Lock default retention.
func (e *estimator) archive(b mockcloud.Resource) {
	days := defaultBackupDays
	for _, r := range e.res {
		if r.Type == "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2" && r.Str("bucket") == b.ID {
			if d, ok := num(r.In("rule.defaultRetention.days")); ok && d > 0 {
				days = d
			}
		}
	}
	used := e.usedGB()
	gb := used*(math.Floor(days/fullIntervalDays)+1) + used*walDailyShare*days
	e.add(b, Fixed, fmt.Sprintf("archive ~%.0f GB (%.0f d retention)", gb, days), gb*s3GBMonth, "upper bound: uncompressed full backups")
	e.add(b, Usage, fmt.Sprintf("%.0fk WAL PUTs", walPutsPerMonth/1e3), walPutsPerMonth/1e3*s3Put1000, "at most one segment a minute")
}

// volumeBackups prices AWS Backup's recovery points of the volumes a
// selection names, kept as long as its plan's rule says.
func (e *estimator) volumeBackups(sel mockcloud.Resource) {
	days := defaultBackupDays
	for _, p := range e.res {
		if p.Type != "aws:backup/plan:Plan" || p.ID != sel.Str("planId") {
			continue
		}
		for _, x := range list(p.In("rules")) {
			m, _ := x.(map[string]any)
			lc, _ := m["lifecycle"].(map[string]any)
			if d, ok := num(lc["deleteAfter"]); ok && d > 0 {
				days = d
			}
		}
	}
	arns := map[string]bool{}
	for _, a := range mockcloud.Strings(sel.In("resources")) {
		arns[a] = true
	}
	for _, v := range e.res {
		arn, _ := v.Out("arn").(string)
		if v.Type != "aws:ebs/volume:Volume" || !arns[arn] {
			continue
		}
		size, _ := num(v.In("size"))
		used := size * dataUsedShare
		gb := used + used*dailyChangeShare*math.Max(days-1, 0)
		e.add(sel, Fixed, fmt.Sprintf("AWS Backup of %s: ~%.1f GB (%.0f daily kept)", v.Name, gb, days), gb*backupEBSWarmGBMonth, "EBS warm storage, incremental")
	}
}

// InstanceHourly is the on-demand Linux price of an instance type.
func InstanceHourly(typ string) (float64, bool) {
	if p, ok := instanceHourly[typ]; ok {
		return p, true
	}
	family, size, _ := strings.Cut(typ, ".")
	if strings.HasPrefix(family, "t") {
		return 0, false
	}
	large, ok := largeHourly[family]
	f, sized := sizeFactor[size]
	if !ok || !sized {
		return 0, false
	}
	return large * f, true
}

// hasEIP reports whether an Elastic IP is associated with the instance.
func (e *estimator) hasEIP(inst mockcloud.Resource) bool {
	for _, r := range e.res {
		if r.Type == "aws:ec2/eipAssociation:EipAssociation" && r.Str("instanceId") == inst.ID {
			return true
		}
		if r.Type == "aws:ec2/eip:Eip" && r.Str("instance") == inst.ID {
			return true
		}
	}
	return false
}

// targets returns the volumes a DLM policy's target tags select.
func (e *estimator) targets(p mockcloud.Resource) []mockcloud.Resource {
	want, _ := p.In("policyDetails.targetTags").(map[string]any)
	var out []mockcloud.Resource
	for _, r := range e.res {
		if r.Type != "aws:ebs/volume:Volume" || len(want) == 0 {
			continue
		}
		tags, _ := r.In("tags").(map[string]any)
		match := true
		for k, v := range want {
			if tags[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, r)
		}
	}
	return out
}

func (e *estimator) retainCount(p mockcloud.Resource) float64 {
	n := 0.0
	for _, s := range list(p.In("policyDetails.schedules")) {
		m, _ := s.(map[string]any)
		retain, _ := m["retainRule"].(map[string]any)
		if c, ok := num(retain["count"]); ok && c > n {
			n = c
		}
	}
	if n == 0 {
		n = 7
	}
	return n
}

func (e *estimator) isFlowLogDestination(g mockcloud.Resource) bool {
	arn, _ := g.Out("arn").(string)
	for _, r := range e.res {
		if r.Type == "aws:ec2/flowLog:FlowLog" && arn != "" && strings.TrimSuffix(r.Str("logDestination"), ":*") == arn {
			return true
		}
	}
	return false
}

func (e *estimator) isDeadLetterQueue(q mockcloud.Resource) bool {
	arn, _ := q.Out("arn").(string)
	if arn == "" {
		return false
	}
	for _, r := range e.res {
		if r.Type == "aws:sqs/queue:Queue" && strings.Contains(r.Str("redrivePolicy"), arn) {
			return true
		}
		if r.Type == "aws:sqs/redrivePolicy:RedrivePolicy" && strings.Contains(r.Str("redrivePolicy"), arn) {
			return true
		}
	}
	return false
}

func (e *estimator) customMetric(r mockcloud.Resource, key string) {
	if e.metrics == nil {
		e.metrics = map[string]bool{}
	}
	if e.metrics[key] {
		return
	}
	e.metrics[key] = true
	e.add(r, Fixed, "custom metric "+key, customMetric, "")
}

// SortedLines returns the lines ordered by URN, then item.
func (est Estimate) SortedLines() []Line {
	out := append([]Line(nil), est.Lines...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].URN != out[j].URN {
			return out[i].URN < out[j].URN
		}
		return out[i].Item < out[j].Item
	})
	return out
}

// round keeps a tenth of a cent, so totals are stable and 12.264 stays
// 12.264.
func round(v float64) float64 { return math.Round(v*1000) / 1000 }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func appendOnce(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

// Plain-value helpers, shared with the policy rules and the plan.
var (
	num  = mockcloud.Num
	list = mockcloud.List
)
