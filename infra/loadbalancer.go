package infra

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// apiPort is where the API listens in its task (app/api: PORT=3000).
const apiPort = 3000

// elbLogAccounts are the Elastic Load Balancing accounts that write access
// logs, per region (AWS: "Enable access logs for your Application Load
// Balancer", regions available before August 2022 name this account in
// the bucket policy; newer regions use the logdelivery service principal).
var elbLogAccounts = map[string]string{
	"us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980", "us-west-2": "797873946194",
	"ca-central-1": "985666609251", "eu-central-1": "054676820928", "eu-west-1": "156460612806", "eu-west-2": "652711504416",
	"eu-west-3": "009996457667", "eu-north-1": "897822967062", "ap-northeast-1": "582318560864", "ap-southeast-1": "114774131450",
	"ap-southeast-2": "783225319266", "ap-south-1": "718504428378", "sa-east-1": "507241528517",
}

// forbiddenBody is what a request without CloudFront's origin header gets,
// the same JSON nginx answers on the host.
const forbiddenBody = `{"statusCode":403,"error":"Forbidden","message":"direct access is not allowed"}`

// LoadBalancerArgs shapes the API's load balancer.
type LoadBalancerArgs struct {
	// NamePrefix is project-stack: load balancer and target group names
	// hold at most 32 characters, too few for the auto-naming pattern
	// (slipway-pr-123456789-loadbalancer-1a2b3c4d), so they are named
	// <project>-<stack>-alb and -api (one of each per stack).
	NamePrefix string
	Profile    stacks.Profile
	VpcID      pulumi.IDOutput
	SubnetIDs  []pulumi.IDOutput
	// OriginSecret is the value CloudFront sends in X-Origin-Verify.
	OriginSecret pulumi.StringInput
	// AccessLogs sends access logs to a bucket of the stack's (prod).
	AccessLogs       bool
	LogRetentionDays int
	Account          account
	// AlarmActions is the alarm topic: the API-down alarm pages it (the
	// host's ApiReady alarm has no host to come from in ecs mode).
	AlarmActions []pulumi.StringInput
}

// LoadBalancer is an internet-facing Application Load Balancer that only
// CloudFront can use.
//
// Why not a CloudFront VPC origin on an internal load balancer, which no
// one on the internet can reach at all? It costs the same (VPC origins
// are free; the ALB is paid either way) and is the safer design, but the
// internal load balancer must sit in private subnets, which the network
// does not have (network.go: public subnets only, no NAT), the
// distribution's API origin becomes a vpcOriginConfig (the edge changes,
// which this profile keeps as it is), and a VPC origin takes about 15
// minutes per create or update. The public ALB gets the same two locks the host has: its
// security group admits only CloudFront's origin-facing prefix list (no
// other AWS customer's CloudFront is excluded by that), and a listener
// rule forwards only requests carrying the origin secret; everything else
// gets 403. docs/scaling.md has the trade-off and the upgrade path.
type LoadBalancer struct {
	pulumi.ResourceState

	DNSName         pulumi.StringOutput
	ARN             pulumi.StringOutput
	ARNSuffix       pulumi.StringOutput
	SecurityGroupID pulumi.IDOutput
	TargetGroupARN  pulumi.StringOutput
	// TargetGroupARNSuffix with ARNSuffix makes the ALBRequestCountPerTarget
	// resource label of the API's autoscaling.
	TargetGroupARNSuffix pulumi.StringOutput
	// Listener is the HTTP listener; the API service depends on it (a
	// target group must belong to a load balancer before ECS uses it).
	Listener *lb.Listener
}

// NewLoadBalancer creates the load balancer, its security group, target
// group, listener, the origin-header rule and (prod) its log bucket.
func NewLoadBalancer(ctx *pulumi.Context, name string, args LoadBalancerArgs, opts ...pulumi.ResourceOption) (*LoadBalancer, error) {
	l := &LoadBalancer{}
	if err := ctx.RegisterComponentResource("slipway:loadbalancer:LoadBalancer", name, l, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(l)
	prod := args.Profile == stacks.Prod

	sg, err := ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		VpcId:       args.VpcID,
		Description: pulumi.String("Slipway load balancer: HTTP from CloudFront only"),
	}, parent)
	if err != nil {
		return nil, err
	}
	if err := httpFromCloudFrontOnly(ctx, name, sg, parent, parent); err != nil {
		return nil, err
	}
	l.SecurityGroupID = sg.ID()

	subnets := pulumi.StringArray{}
	for _, id := range args.SubnetIDs {
		subnets = append(subnets, id.ToStringOutput())
	}
	var logs *lb.LoadBalancerAccessLogsArgs
	var logOpts []pulumi.ResourceOption
	if args.AccessLogs {
		bucket, policy, err := accessLogBucket(ctx, name, args, parent)
		if err != nil {
			return nil, err
		}
		logs = &lb.LoadBalancerAccessLogsArgs{Bucket: bucket.Bucket, Enabled: pulumi.Bool(true)}
		// ELB checks it may write when logging is switched on.
		logOpts = append(logOpts, pulumi.DependsOn([]pulumi.Resource{policy}))
	}
	alb, err := lb.NewLoadBalancer(ctx, name, &lb.LoadBalancerArgs{
		Name:             pulumi.String(args.NamePrefix + "-alb"),
		LoadBalancerType: pulumi.String("application"),
		Internal:         pulumi.Bool(false),
		SecurityGroups:   pulumi.StringArray{sg.ID()},
		Subnets:          subnets,
		// Malformed header names are dropped, not passed to Node (ELB.4).
		DropInvalidHeaderFields: pulumi.Bool(true),
		// Ambiguous requests (request smuggling) are closed.
		DesyncMitigationMode: pulumi.String("strictest"),
		// Above CloudFront's origin keep-alive (5 s default, 60 s max), so
		// the ALB never closes a connection CloudFront is about to reuse.
		IdleTimeout: pulumi.Int(65),
		// X-Forwarded-For as CloudFront sent it, whose last entry is the
		// viewer CloudFront saw: the API trusts one proxy hop (app.js
		// trustProxy: 1), so it reads the viewer as it did behind nginx.
		// Appending (the default) would make every viewer CloudFront's
		// edge address. Only origin-verified requests reach the API.
		XffHeaderProcessingMode:  pulumi.String("preserve"),
		EnableDeletionProtection: pulumi.Bool(prod), // ELB.6
		AccessLogs:               logs,              // ELB.5
	}, append([]pulumi.ResourceOption{parent}, logOpts...)...)
	if err != nil {
		return nil, err
	}
	l.DNSName, l.ARN, l.ARNSuffix = alb.DnsName, alb.Arn, alb.ArnSuffix

	// The API's tasks, by IP (awsvpc). The health check asks /readyz
	// (reachable and migrated) straight at the task: it never passes the
	// listener, so it needs no origin header, as localhost on the host
	// needs none. Deregistration waits as long as the API's stop grace,
	// so in-flight requests finish during a rolling deploy.
	tg, err := lb.NewTargetGroup(ctx, name+"-api", &lb.TargetGroupArgs{
		Name:                pulumi.String(args.NamePrefix + "-api"),
		VpcId:               args.VpcID,
		TargetType:          pulumi.String("ip"),
		Protocol:            pulumi.String("HTTP"),
		Port:                pulumi.Int(apiPort),
		DeregistrationDelay: pulumi.Int(30),
		HealthCheck: &lb.TargetGroupHealthCheckArgs{
			Path:               pulumi.String("/readyz"),
			Matcher:            pulumi.String("200"),
			Interval:           pulumi.Int(15),
			Timeout:            pulumi.Int(5),
			HealthyThreshold:   pulumi.Int(2),
			UnhealthyThreshold: pulumi.Int(3),
		},
	}, parent)
	if err != nil {
		return nil, err
	}
	l.TargetGroupARN, l.TargetGroupARNSuffix = tg.Arn, tg.ArnSuffix

	// HTTP, as CloudFront speaks to the host (site.go: http-only): an
	// HTTPS listener needs a certificate for a name CloudFront connects
	// to, and the ALB's own amazonaws.com name cannot have one.
	listener, err := lb.NewListener(ctx, name+"-http", &lb.ListenerArgs{
		LoadBalancerArn: alb.Arn,
		Port:            pulumi.Int(80),
		Protocol:        pulumi.String("HTTP"),
		DefaultActions: lb.ListenerDefaultActionArray{lb.ListenerDefaultActionArgs{
			Type: pulumi.String("fixed-response"),
			FixedResponse: &lb.ListenerDefaultActionFixedResponseArgs{
				StatusCode:  pulumi.String("403"),
				ContentType: pulumi.String("application/json"),
				MessageBody: pulumi.String(forbiddenBody),
			},
		}},
	}, parent)
	if err != nil {
		return nil, err
	}
	l.Listener = listener
	// Only requests with CloudFront's secret reach the API. ALB header
	// conditions compare case-insensitively (the host's nginx compares
	// exactly): the secret's entropy is what keeps it unguessable, and a
	// 32-byte random value keeps plenty when case is folded.
	if _, err := lb.NewListenerRule(ctx, name+"-origin-verified", &lb.ListenerRuleArgs{
		ListenerArn: listener.Arn,
		Priority:    pulumi.Int(10),
		Conditions: lb.ListenerRuleConditionArray{lb.ListenerRuleConditionArgs{
			HttpHeader: &lb.ListenerRuleConditionHttpHeaderArgs{
				HttpHeaderName: pulumi.String(originHeader),
				Values:         pulumi.StringArray{args.OriginSecret},
			},
		}},
		Actions: lb.ListenerRuleActionArray{lb.ListenerRuleActionArgs{
			Type:           pulumi.String("forward"),
			TargetGroupArn: tg.Arn,
		}},
	}, parent); err != nil {
		return nil, err
	}
	// The API is down when no target is healthy for 3 minutes; silence
	// (no data) is as bad, as with the host's ApiReady alarm.
	actions := pulumi.Array{}
	for _, a := range args.AlarmActions {
		actions = append(actions, a)
	}
	if _, err := cloudwatch.NewMetricAlarm(ctx, name+"-api-healthy", &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.String("No healthy API task behind the load balancer for 3 minutes (or no data)"),
		Namespace:          pulumi.String("AWS/ApplicationELB"),
		MetricName:         pulumi.String("HealthyHostCount"),
		Dimensions:         pulumi.StringMap{"LoadBalancer": alb.ArnSuffix, "TargetGroup": tg.ArnSuffix},
		Statistic:          pulumi.String("Minimum"),
		Period:             pulumi.Int(60),
		EvaluationPeriods:  pulumi.Int(3),
		Threshold:          pulumi.Float64(1),
		ComparisonOperator: pulumi.String("LessThanThreshold"),
		TreatMissingData:   pulumi.String("breaching"),
		AlarmActions:       actions,
		OkActions:          actions,
	}, parent); err != nil {
		return nil, err
	}
	return l, ctx.RegisterResourceOutputs(l, pulumi.Map{"dnsName": alb.DnsName})
}

// accessLogBucket is prod's bucket for the load balancer's access logs:
// private, encrypted with SSE-S3 (the only encryption ELB log delivery
// supports), TLS-only, writable by ELB's log delivery under AWSLogs/ only,
// expiring with the stack's log retention.
func accessLogBucket(ctx *pulumi.Context, name string, args LoadBalancerArgs, parent pulumi.ResourceOrInvokeOption) (*s3.BucketV2, *s3.BucketPolicy, error) {
	writer, ok := elbLogAccounts[args.Account.Region]
	if !ok {
		return nil, nil, fmt.Errorf("no Elastic Load Balancing log account known for %s", args.Account.Region)
	}
	bucket, err := s3.NewBucketV2(ctx, name+"-logs", &s3.BucketV2Args{}, parent)
	if err != nil {
		return nil, nil, err
	}
	// SSE-S3: the only encryption ELB access logs accept.
	pab, err := lockDown(ctx, name+"-logs", bucket, parent)
	if err != nil {
		return nil, nil, err
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-logs", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{&s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:         pulumi.String("expire-access-logs"),
			Status:     pulumi.String("Enabled"),
			Filter:     &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			Expiration: &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(args.LogRetentionDays)},
		}},
	}, parent); err != nil {
		return nil, nil, err
	}
	objects := pulumi.Sprintf("%s/AWSLogs/%s/*", bucket.Arn, args.Account.ID)
	doc := statements(ctx, parent,
		statement("ElbLogDelivery", "Allow",
			principal("AWS", pulumi.Sprintf("arn:%s:iam::%s:root", args.Account.Partition, writer)),
			[]string{"s3:PutObject"}, pulumi.StringArray{objects}, nil),
		denyInsecureTransport([]string{"s3:*"}, pulumi.StringArray{bucket.Arn, pulumi.Sprintf("%s/*", bucket.Arn)}),
	)
	policy, err := s3.NewBucketPolicy(ctx, name+"-logs", &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: doc,
	}, parent, pulumi.DependsOn([]pulumi.Resource{pab}))
	if err != nil {
		return nil, nil, err
	}
	return bucket, policy, nil
}
