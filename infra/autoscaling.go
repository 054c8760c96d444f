package infra

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// Scaling targets. The API holds this many requests per task per minute
// (a Node process with Postgres behind it serves far more, so a burst
// finds headroom while new tasks start) or this CPU, whichever asks for
// more tasks; the worker holds this many visible messages per task.
const (
	apiRequestsPerTarget = 1000
	apiCPUPercent        = 60
	workerBacklogPerTask = 10
)

// AutoscalingArgs shapes the services' scaling.
type AutoscalingArgs struct {
	Platform stacks.PlatformConfig
	Cluster  *Cluster
	LB       *LoadBalancer
	Queue    *Queue
}

// Autoscaling is the API's and the worker's Application Auto Scaling.
type Autoscaling struct {
	pulumi.ResourceState
}

// NewAutoscaling scales the API on load balancer requests per target and
// CPU between its minimum and maximum, and the worker on queue backlog
// per task, with its own rules for 0 -> 1 and back to 0.
func NewAutoscaling(ctx *pulumi.Context, name string, args AutoscalingArgs, opts ...pulumi.ResourceOption) (*Autoscaling, error) {
	a := &Autoscaling{}
	if err := ctx.RegisterComponentResource("slipway:autoscaling:Autoscaling", name, a, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(a)
	target := func(svc string, size stacks.ServiceSize) (*appautoscaling.Target, error) {
		return appautoscaling.NewTarget(ctx, name+"-"+svc, &appautoscaling.TargetArgs{
			ServiceNamespace:  pulumi.String("ecs"),
			ScalableDimension: pulumi.String("ecs:service:DesiredCount"),
			ResourceId:        pulumi.Sprintf("service/%s/%s", args.Cluster.Name, args.Cluster.Services[svc].Name),
			MinCapacity:       pulumi.Int(size.MinTasks),
			MaxCapacity:       pulumi.Int(size.MaxTasks),
		}, parent)
	}

	api, err := target("api", args.Platform.API)
	if err != nil {
		return nil, err
	}
	tracking := func(policy string, cfg *appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs, t *appautoscaling.Target) error {
		_, err := appautoscaling.NewPolicy(ctx, name+"-"+policy, &appautoscaling.PolicyArgs{
			PolicyType:                               pulumi.String("TargetTrackingScaling"),
			ServiceNamespace:                         t.ServiceNamespace,
			ScalableDimension:                        t.ScalableDimension,
			ResourceId:                               t.ResourceId,
			TargetTrackingScalingPolicyConfiguration: cfg,
		}, parent)
		return err
	}
	if err := tracking("api-requests", &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs{
		TargetValue: pulumi.Float64(apiRequestsPerTarget),
		PredefinedMetricSpecification: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs{
			PredefinedMetricType: pulumi.String("ALBRequestCountPerTarget"),
			ResourceLabel:        pulumi.Sprintf("%s/%s", args.LB.ARNSuffix, args.LB.TargetGroupARNSuffix),
		},
		ScaleOutCooldown: pulumi.Int(60),
		ScaleInCooldown:  pulumi.Int(300),
	}, api); err != nil {
		return nil, err
	}
	if err := tracking("api-cpu", &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs{
		TargetValue: pulumi.Float64(apiCPUPercent),
		PredefinedMetricSpecification: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs{
			PredefinedMetricType: pulumi.String("ECSServiceAverageCPUUtilization"),
		},
		ScaleOutCooldown: pulumi.Int(60),
		ScaleInCooldown:  pulumi.Int(300),
	}, api); err != nil {
		return nil, err
	}

	worker, err := target("worker", args.Platform.Worker)
	if err != nil {
		return nil, err
	}
	queueDim := pulumi.StringMap{"QueueName": args.Queue.Name}
	serviceDims := pulumi.StringMap{"ClusterName": args.Cluster.Name, "ServiceName": args.Cluster.Services["worker"].Name}
	// Backlog per task: visible messages / running tasks, by metric math.
	// At zero tasks the ratio is undefined (no running-task data), so the
	// divisor is at least 1 and the 0 -> 1 step below starts the first.
	stat := func(id, namespace, metric string, dims pulumi.StringMap, s string) appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgs {
		d := appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArray{}
		for _, k := range []string{"QueueName", "ClusterName", "ServiceName"} {
			if v, ok := dims[k]; ok {
				d = append(d, appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs{
					Name: pulumi.String(k), Value: v,
				})
			}
		}
		return appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgs{
			Id: pulumi.String(id),
			MetricStat: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatArgs{
				Metric: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricArgs{
					Namespace: pulumi.String(namespace), MetricName: pulumi.String(metric), Dimensions: d,
				},
				Stat: pulumi.String(s),
			},
			ReturnData: pulumi.Bool(false),
		}
	}
	if err := tracking("worker-backlog", &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs{
		TargetValue: pulumi.Float64(workerBacklogPerTask),
		CustomizedMetricSpecification: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs{
			Metrics: appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArray{
				stat("visible", "AWS/SQS", "ApproximateNumberOfMessagesVisible", queueDim, "Sum"),
				stat("running", "ECS/ContainerInsights", "RunningTaskCount", serviceDims, "Average"),
				appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgs{
					Id:         pulumi.String("backlog"),
					Label:      pulumi.String("Visible messages per running worker task"),
					Expression: pulumi.String(backlogExpression),
					ReturnData: pulumi.Bool(true),
				},
			},
		},
		ScaleOutCooldown: pulumi.Int(60),
		ScaleInCooldown:  pulumi.Int(300),
	}, worker); err != nil {
		return nil, err
	}

	// 0 -> 1: target tracking cannot start the first task (the ratio has
	// no divisor and a tracking policy never scales out from no data), so
	// a step policy adds one task when messages wait and none run.
	if err := a.stepRule(ctx, name+"-worker-start", worker, stepRule{
		adjustmentType: "ChangeInCapacity", adjustment: 1, above: true, periods: 1, missing: "notBreaching",
		description: "Messages wait in the queue and no worker task runs: start one", expression: startExpression,
	}, queueDim, serviceDims, parent); err != nil {
		return nil, err
	}
	// 1 -> 0, only where the minimum allows it (dev and review): a quiet
	// queue (nothing visible or in flight) for 15 minutes stops the last
	// task; target tracking alone does not scale in to zero.
	if args.Platform.Worker.MinTasks == 0 {
		if err := a.stepRule(ctx, name+"-worker-stop", worker, stepRule{
			adjustmentType: "ExactCapacity", adjustment: 0, above: false, periods: 15,
			// SQS stops publishing for a long-idle queue: silence is idle.
			missing:     "breaching",
			description: "The queue has been empty for 15 minutes: stop the worker", expression: idleExpression,
		}, queueDim, serviceDims, parent); err != nil {
			return nil, err
		}
	}
	return a, ctx.RegisterResourceOutputs(a, pulumi.Map{})
}

// The metric math. FILL(running, 0) treats "no data" (no task has
// reported) as zero tasks; the IF keeps the divisor at least 1. The start
// and stop rules' expressions are 1 or 0 (start) and a message count
// (stop), compared against a threshold of 0.5.
const (
	backlogExpression = "visible / IF(FILL(running, 0) > 0, FILL(running, 0), 1)"
	startExpression   = "IF(FILL(visible, 0) > 0 AND FILL(running, 0) == 0, 1, 0)"
	idleExpression    = "FILL(visible, 0) + FILL(inflight, 0)"
)

// stepRule is one step-scaling rule: an alarm on metric math (threshold
// 0.5: above for start, below for stop) and one adjustment.
type stepRule struct {
	adjustmentType, description, expression, missing string
	adjustment, periods                              int
	above                                            bool
}

// stepRule creates the policy and the CloudWatch alarm that triggers it.
func (a *Autoscaling) stepRule(ctx *pulumi.Context, name string, t *appautoscaling.Target, r stepRule,
	queueDim, serviceDims pulumi.StringMap, parent pulumi.ResourceOption) error {
	// The step covers every breach: at or above the threshold for a
	// rule that fires above it, at or below for one that fires below.
	step := appautoscaling.PolicyStepScalingPolicyConfigurationStepAdjustmentArgs{ScalingAdjustment: pulumi.Int(r.adjustment)}
	comparison := "LessThanThreshold"
	if r.above {
		step.MetricIntervalLowerBound = pulumi.String("0")
		comparison = "GreaterThanThreshold"
	} else {
		step.MetricIntervalUpperBound = pulumi.String("0")
	}
	policy, err := appautoscaling.NewPolicy(ctx, name, &appautoscaling.PolicyArgs{
		PolicyType:        pulumi.String("StepScaling"),
		ServiceNamespace:  t.ServiceNamespace,
		ScalableDimension: t.ScalableDimension,
		ResourceId:        t.ResourceId,
		StepScalingPolicyConfiguration: &appautoscaling.PolicyStepScalingPolicyConfigurationArgs{
			AdjustmentType:        pulumi.String(r.adjustmentType),
			Cooldown:              pulumi.Int(60),
			MetricAggregationType: pulumi.String("Maximum"),
			StepAdjustments:       appautoscaling.PolicyStepScalingPolicyConfigurationStepAdjustmentArray{step},
		},
	}, parent)
	if err != nil {
		return err
	}
	metric := func(id, namespace, name string, dims pulumi.StringMap, stat string) cloudwatch.MetricAlarmMetricQueryArgs {
		return cloudwatch.MetricAlarmMetricQueryArgs{
			Id: pulumi.String(id),
			Metric: &cloudwatch.MetricAlarmMetricQueryMetricArgs{
				Namespace: pulumi.String(namespace), MetricName: pulumi.String(name), Dimensions: dims,
				Period: pulumi.Int(60), Stat: pulumi.String(stat),
			},
		}
	}
	_, err = cloudwatch.NewMetricAlarm(ctx, name, &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.String(r.description),
		ComparisonOperator: pulumi.String(comparison),
		EvaluationPeriods:  pulumi.Int(r.periods),
		Threshold:          pulumi.Float64(0.5),
		TreatMissingData:   pulumi.String(r.missing),
		MetricQueries: cloudwatch.MetricAlarmMetricQueryArray{
			metric("visible", "AWS/SQS", "ApproximateNumberOfMessagesVisible", queueDim, "Maximum"),
			metric("inflight", "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", queueDim, "Maximum"),
			metric("running", "ECS/ContainerInsights", "RunningTaskCount", serviceDims, "Average"),
			cloudwatch.MetricAlarmMetricQueryArgs{Id: pulumi.String("rule"), Expression: pulumi.String(r.expression), Label: pulumi.String(r.description), ReturnData: pulumi.Bool(true)},
		},
		AlarmActions: pulumi.Array{policy.Arn},
	}, parent)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
