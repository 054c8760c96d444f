package infra

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// LogServices are the compose services that log to CloudWatch with the
// awslogs driver (app/compose.yaml). The host's own scripts log to the
// journal: nothing on the host ships it, so a group for them would stay
// empty.
var LogServices = []string{"api", "worker", "proxy", "db"}

// LogsArgs shapes the log groups.
type LogsArgs struct {
	RetentionDays int
}

// Logs is one CloudWatch log group per container. The groups are
// auto-named (slipway-<stack>-logs-api-1a2b3c4d) like every other
// resource: the stack in the name keeps stacks apart, and the deploy
// identity's rights on logs stay one pattern (log-group:slipway-*).
type Logs struct {
	pulumi.ResourceState

	// GroupNames is keyed by compose service (api, worker, proxy, db);
	// the release renders them into ${API_LOG_GROUP} etc.
	GroupNames map[string]pulumi.StringOutput
	// Grant lets the host's Docker daemon write to these groups only.
	Grant Grant
}

// NewLogs creates the log groups with the stack's retention.
func NewLogs(ctx *pulumi.Context, name string, args LogsArgs, opts ...pulumi.ResourceOption) (*Logs, error) {
	l := &Logs{GroupNames: map[string]pulumi.StringOutput{}}
	if err := ctx.RegisterComponentResource("slipway:logs:Logs", name, l, opts...); err != nil {
		return nil, err
	}
	resources := pulumi.StringArray{}
	outputs := pulumi.Map{}
	for _, svc := range LogServices {
		// The group exists before any container starts: the compose file
		// does not let the driver create groups (it would have no
		// retention and the host would need logs:CreateLogGroup).
		g, err := cloudwatch.NewLogGroup(ctx, name+"-"+svc, &cloudwatch.LogGroupArgs{
			RetentionInDays: pulumi.Int(args.RetentionDays),
		}, pulumi.Parent(l))
		if err != nil {
			return nil, err
		}
		l.GroupNames[svc] = g.Name
		outputs[svc] = g.Name
		// CreateLogStream is checked against the group, PutLogEvents
		// against its streams (<group arn>:log-stream:<name>).
		resources = append(resources, g.Arn, pulumi.Sprintf("%s:*", g.Arn))
	}
	// The awslogs driver needs exactly these two calls (it creates its
	// stream and writes to it; it never describes streams).
	l.Grant = Grant{
		Sid:       "WriteOwnLogGroups",
		Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
		Resources: resources,
	}
	return l, ctx.RegisterResourceOutputs(l, outputs)
}
