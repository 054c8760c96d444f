package infra

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// MetricsNamespace is where the host publishes what CloudWatch cannot see
// from outside (disk usage, API readiness); the host may write only here.
const MetricsNamespace = "Slipway"

// Thresholds, in one place for the alarms and the dashboard.
const (
	cpuHighPercent      = 80
	dataDiskHighPercent = 80
	rootDiskHighPercent = 85
	cdn5xxHighPercent   = 5
)

// hostMetricsBootstrap installs the publisher of the Slipway metrics: a
// systemd timer that runs a small python3-boto3 script every minute.
func hostMetricsBootstrap() (Bootstrap, error) {
	files, err := bootFiles(
		hostFile{"/usr/local/bin/slipway-metrics", "slipway-metrics.py", "0755"},
		hostFile{"/etc/systemd/system/slipway-metrics.service", "slipway-metrics.service", "0644"},
		hostFile{"/etc/systemd/system/slipway-metrics.timer", "slipway-metrics.timer", "0644"},
	)
	return Bootstrap{
		// boto3 from Ubuntu's signed archive (the release's fetcher uses
		// it too; the bootstrap de-duplicates packages).
		Packages: []string{"python3-boto3"},
		Files:    files,
		Commands: [][]string{{"systemctl", "enable", "--now", "slipway-metrics.timer"}},
	}, err
}

// hostMetricsGrant lets the host publish to the Slipway namespace only.
// PutMetricData has no resource type, so the namespace condition is the
// scoping.
func hostMetricsGrant() Grant {
	return Grant{
		Sid:        "PublishSlipwayMetrics",
		Actions:    []string{"cloudwatch:PutMetricData"},
		Resources:  pulumi.StringArray{pulumi.String("*")},
		Conditions: conditions(condition("StringEquals", "cloudwatch:namespace", pulumi.String(MetricsNamespace))),
	}
}

// MonitoringArgs shapes the alarms and the dashboard.
type MonitoringArgs struct {
	Stack      string
	Account    account
	InstanceID pulumi.StringInput
	Queue      *Queue
	Alerts     *Alerts
	// Global is the us-east-1 provider, where CloudFront's metrics live.
	Global *aws.Provider
	// DistributionID is the CloudFront distribution; nil creates no
	// CloudFront alarm (the edge wires it in).
	DistributionID pulumi.StringInput
	// DashboardName is the dashboard's name: CloudWatch dashboards are
	// not auto-named, so it is derived from project and stack (one per
	// stack, so it never collides).
	DashboardName string
}

// Monitoring is the stack's alarms (beyond the host's recovery alarm)
// and a dashboard of the same signals.
type Monitoring struct {
	pulumi.ResourceState

	DashboardURL pulumi.StringOutput
	// AlarmARNs by short name (reboot, cpu, dead-letter, ...).
	AlarmARNs map[string]pulumi.StringOutput
}

// alarmSpec is one alarm; regional unless global.
type alarmSpec struct {
	name, description   string
	namespace, metric   string
	dimensions          pulumi.StringMap
	statistic           string
	period, evaluations int
	datapoints          int // 0 means all evaluation periods
	threshold           float64
	comparison          string
	missing             string
	extraActions        []pulumi.StringInput
	global              bool
}

// NewMonitoring creates the alarms and the dashboard.
func NewMonitoring(ctx *pulumi.Context, name string, args MonitoringArgs, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	m := &Monitoring{AlarmARNs: map[string]pulumi.StringOutput{}}
	if err := ctx.RegisterComponentResource("slipway:monitoring:Monitoring", name, m, opts...); err != nil {
		return nil, err
	}
	stackDim := pulumi.StringMap{"Stack": pulumi.String(args.Stack)}
	instanceDim := pulumi.StringMap{"InstanceId": args.InstanceID}
	specs := []alarmSpec{{
		name:        "reboot",
		description: "Instance status check failed for 3 minutes (OS or network inside the host): rebooting the host",
		namespace:   "AWS/EC2", metric: "StatusCheckFailed_Instance", dimensions: instanceDim,
		statistic: "Maximum", period: 60, evaluations: 3, threshold: 1, comparison: "GreaterThanOrEqualToThreshold",
		missing:      "missing",
		extraActions: []pulumi.StringInput{pulumi.Sprintf("arn:%s:automate:%s:ec2:reboot", args.Account.Partition, args.Account.Region)},
	}, {
		name:        "cpu",
		description: fmt.Sprintf("Host CPU above %d%% for 15 minutes: the host is too small or something spins", cpuHighPercent),
		namespace:   "AWS/EC2", metric: "CPUUtilization", dimensions: instanceDim,
		statistic: "Average", period: 300, evaluations: 3, threshold: cpuHighPercent, comparison: "GreaterThanThreshold",
		missing: "missing",
	}, {
		name:        "dead-letter",
		description: "Jobs failed repeatedly and are in the dead-letter queue: inspect them (docs/operations.md)",
		namespace:   "AWS/SQS", metric: "ApproximateNumberOfMessagesVisible",
		dimensions: pulumi.StringMap{"QueueName": args.Queue.DeadLetterName},
		statistic:  "Maximum", period: 300, evaluations: 1, threshold: 0, comparison: "GreaterThanThreshold",
		// An idle queue may publish no data points; that is not a failure.
		missing: "notBreaching",
	}, {
		name:        "api",
		description: "The API has not answered /readyz on the host for 3 minutes (or the host stopped reporting)",
		namespace:   MetricsNamespace, metric: "ApiReady", dimensions: stackDim,
		statistic: "Minimum", period: 60, evaluations: 3, threshold: 1, comparison: "LessThanThreshold",
		// The host publishes this every minute; silence means the host
		// or its publisher is down, which is as bad as a failing API.
		missing: "breaching",
	}, {
		name:        "data-disk",
		description: fmt.Sprintf("The Postgres data volume is more than %d%% full: grow slipway:dataVolumeSize", dataDiskHighPercent),
		namespace:   MetricsNamespace, metric: "DataVolumeUsedPercent", dimensions: stackDim,
		statistic: "Maximum", period: 300, evaluations: 1, threshold: dataDiskHighPercent, comparison: "GreaterThanThreshold",
		// A silent host is the api alarm's business; one page is enough.
		missing: "notBreaching",
	}, {
		name:        "root-disk",
		description: fmt.Sprintf("The host's root volume is more than %d%% full (images, logs): prune or grow slipway:rootVolumeSize", rootDiskHighPercent),
		namespace:   MetricsNamespace, metric: "RootVolumeUsedPercent", dimensions: stackDim,
		statistic: "Maximum", period: 300, evaluations: 1, threshold: rootDiskHighPercent, comparison: "GreaterThanThreshold",
		missing: "notBreaching",
	}}
	if args.InstanceID == nil {
		specs = withoutHostAlarms(specs) // ecs mode: no host (cluster.go)
	}
	if args.DistributionID != nil {
		specs = append(specs, alarmSpec{
			name:        "cdn-5xx",
			description: fmt.Sprintf("More than %d%% of CloudFront responses are 5xx in 2 of the last 3 five-minute periods", cdn5xxHighPercent),
			namespace:   "AWS/CloudFront", metric: "5xxErrorRate",
			dimensions: pulumi.StringMap{"DistributionId": args.DistributionID, "Region": pulumi.String("Global")},
			statistic:  "Average", period: 300, evaluations: 3, datapoints: 2, threshold: cdn5xxHighPercent,
			comparison: "GreaterThanThreshold",
			// No traffic, no data points: not an error.
			missing: "notBreaching",
			global:  true,
		})
	}

	for _, s := range specs {
		topic := args.Alerts.TopicARN
		opts := []pulumi.ResourceOption{pulumi.Parent(m)}
		if s.global {
			// CloudFront publishes its metrics in us-east-1 only, and an
			// alarm can only notify a topic in its own region.
			topic = args.Alerts.GlobalTopicARN
			opts = append(opts, pulumi.Provider(args.Global))
		}
		actions := pulumi.Array{}
		for _, a := range s.extraActions {
			actions = append(actions, a)
		}
		actions = append(actions, topic)
		datapoints := s.datapoints
		if datapoints == 0 {
			datapoints = s.evaluations
		}
		// Every alarm pages the topic on ALARM and says so again on OK.
		alarm, err := cloudwatch.NewMetricAlarm(ctx, name+"-"+s.name, &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   pulumi.String(s.description),
			Namespace:          pulumi.String(s.namespace),
			MetricName:         pulumi.String(s.metric),
			Dimensions:         s.dimensions,
			Statistic:          pulumi.String(s.statistic),
			Period:             pulumi.Int(s.period),
			EvaluationPeriods:  pulumi.Int(s.evaluations),
			DatapointsToAlarm:  pulumi.Int(datapoints),
			Threshold:          pulumi.Float64(s.threshold),
			ComparisonOperator: pulumi.String(s.comparison),
			TreatMissingData:   pulumi.String(s.missing),
			ActionsEnabled:     pulumi.Bool(true),
			AlarmActions:       actions,
			OkActions:          pulumi.Array{topic},
		}, opts...)
		if err != nil {
			return nil, err
		}
		m.AlarmARNs[s.name] = alarm.Arn
	}

	dashboard, err := cloudwatch.NewDashboard(ctx, name, &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(args.DashboardName),
		DashboardBody: dashboardBody(args, m.AlarmARNs),
	}, pulumi.Parent(m))
	if err != nil {
		return nil, err
	}
	region := args.Account.Region
	m.DashboardURL = pulumi.Sprintf("https://%s.console.aws.amazon.com/cloudwatch/home?region=%s#dashboards:name=%s",
		region, region, dashboard.DashboardName)
	return m, ctx.RegisterResourceOutputs(m, pulumi.Map{"dashboardUrl": m.DashboardURL})
}

// dashboardBody renders the dashboard JSON once the ids it names are known.
func dashboardBody(args MonitoringArgs, alarms map[string]pulumi.StringOutput) pulumi.StringOutput {
	distribution := pulumi.StringInput(pulumi.String(""))
	if args.DistributionID != nil {
		distribution = args.DistributionID
	}
	// The alarm widget lists the regional alarms (it shows one region).
	var regional []pulumi.StringOutput
	for _, n := range []string{"reboot", "cpu", "dead-letter", "api", "data-disk", "root-disk"} {
		if a, ok := alarms[n]; ok {
			regional = append(regional, a)
		}
	}
	instance := args.InstanceID
	if instance == nil {
		instance = pulumi.String("")
	}
	inputs := []any{instance, args.Queue.Name, args.Queue.DeadLetterName, distribution}
	for _, a := range regional {
		inputs = append(inputs, a)
	}
	return pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
		instance, queue, dlq, dist := v[0].(string), v[1].(string), v[2].(string), v[3].(string)
		arns := []string{}
		for _, a := range v[4:] {
			arns = append(arns, a.(string))
		}
		return renderDashboard(args.Account.Region, args.Stack, instance, queue, dlq, dist, arns)
	}).(pulumi.StringOutput)
}

type widget struct {
	Type       string         `json:"type"`
	X          int            `json:"x"`
	Y          int            `json:"y"`
	Width      int            `json:"width"`
	Height     int            `json:"height"`
	Properties map[string]any `json:"properties"`
}

// renderDashboard lays the signals out in a 24-column grid, two per row.
func renderDashboard(region, stack, instance, queue, dlq, distribution string, alarmARNs []string) (string, error) {
	widgets := []widget{{
		Type: "alarm", Width: 24, Height: 3,
		Properties: map[string]any{"title": "Alarms", "alarms": alarmARNs},
	}}
	metricWidget := func(title, widgetRegion string, stat string, metrics [][]string, threshold float64) {
		rows := make([]any, 0, len(metrics))
		for _, mt := range metrics {
			row := make([]any, len(mt))
			for i, s := range mt {
				row[i] = s
			}
			rows = append(rows, row)
		}
		props := map[string]any{
			"title": title, "region": widgetRegion, "stat": stat, "period": 300,
			"view": "timeSeries", "metrics": rows,
		}
		if threshold > 0 {
			props["annotations"] = map[string]any{"horizontal": []any{map[string]any{"label": "alarm", "value": threshold}}}
		}
		n := len(widgets) - 1
		widgets = append(widgets, widget{Type: "metric", X: (n % 2) * 12, Y: 3 + (n/2)*6, Width: 12, Height: 6, Properties: props})
	}
	metricWidget("Host CPU %", region, "Average", [][]string{{"AWS/EC2", "CPUUtilization", "InstanceId", instance}}, cpuHighPercent)
	metricWidget("Status checks failed", region, "Maximum", [][]string{
		{"AWS/EC2", "StatusCheckFailed_System", "InstanceId", instance},
		{"AWS/EC2", "StatusCheckFailed_Instance", "InstanceId", instance},
	}, 0)
	metricWidget("API ready (1 = yes)", region, "Minimum", [][]string{{MetricsNamespace, "ApiReady", "Stack", stack}}, 0)
	metricWidget("Disk used %", region, "Maximum", [][]string{
		{MetricsNamespace, "DataVolumeUsedPercent", "Stack", stack},
		{MetricsNamespace, "RootVolumeUsedPercent", "Stack", stack},
	}, dataDiskHighPercent)
	metricWidget("Queue depth", region, "Maximum", [][]string{
		{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue},
		{"AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue},
		{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dlq},
	}, 0)
	if distribution != "" {
		metricWidget("CloudFront 5xx %", GlobalRegion, "Average", [][]string{
			{"AWS/CloudFront", "5xxErrorRate", "DistributionId", distribution, "Region", "Global"},
			{"AWS/CloudFront", "4xxErrorRate", "DistributionId", distribution, "Region", "Global"},
		}, cdn5xxHighPercent)
	}
	b, err := json.Marshal(map[string]any{"widgets": widgets})
	return string(b), err
}
