package ops

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// LogsOptions shape one `slipway logs`.
type LogsOptions struct {
	// Service is a compose service with a log group (infra.LogServices).
	Service string
	// Since is how far back to start; zero means 10 minutes.
	Since time.Duration
	// Follow keeps polling for new events until the context ends.
	Follow bool
	// Services are the services that have log groups; Project is the
	// Pulumi project name in the groups' names (slipway).
	Services []string
	Project  string
}

// followLookback: CloudWatch Logs may ingest an event after events with
// later timestamps, so each poll starts this far before the newest event
// seen, and events already printed are skipped by id.
const followLookback = 30 * time.Second

// pageLimit is FilterLogEvents' largest page. Asked for explicitly: kumo
// (0.33.1) answers at most Limit events, 50 by default, and no NextToken.
const pageLimit = 10000

// Logs prints the service's log events from CloudWatch Logs, oldest first,
// every page of FilterLogEvents; with Follow it polls for new ones.
func (o *Ops) Logs(ctx context.Context, opts LogsOptions) error {
	group, err := o.logGroup(ctx, opts)
	if err != nil {
		return err
	}
	since := opts.Since
	if since <= 0 {
		since = 10 * time.Minute
	}
	start := time.Now().Add(-since).UnixMilli()
	seen := map[string]int64{} // stream/eventId -> timestamp
	for {
		newest, err := o.printEvents(ctx, group, start, seen)
		if err != nil {
			return err
		}
		if !opts.Follow {
			return nil
		}
		if from := newest - followLookback.Milliseconds(); from > start {
			start = from
		}
		for k, ts := range seen {
			if ts < start {
				delete(seen, k)
			}
		}
		select {
		case <-ctx.Done():
			return nil // Ctrl-C ends a follow; that is its normal end
		case <-time.After(o.poll()):
		}
	}
}

// printEvents prints every event of the group from start on that is not in
// seen, page by page, and returns the newest timestamp printed or seen.
func (o *Ops) printEvents(ctx context.Context, group string, start int64, seen map[string]int64) (int64, error) {
	newest := start
	var token *string
	for {
		out, err := o.AWS.Logs.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName: aws.String(group),
			StartTime:    aws.Int64(start),
			NextToken:    token,
			Limit:        aws.Int32(pageLimit),
		})
		if err != nil {
			if ctx.Err() != nil {
				return newest, nil
			}
			if apiCode(err) == "ResourceNotFoundException" {
				return newest, fmt.Errorf("log group %s does not exist in %s: %s", group, o.AWS.Region, apiMessage(err))
			}
			return newest, callError("logs FilterLogEvents "+group, err)
		}
		for _, ev := range out.Events {
			ts := aws.ToInt64(ev.Timestamp)
			newest = max(newest, ts)
			key := aws.ToString(ev.LogStreamName) + "/" + aws.ToString(ev.EventId)
			if _, ok := seen[key]; ok {
				continue
			}
			seen[key] = ts
			fmt.Fprintf(o.stdout(), "%s %s %s\n", time.UnixMilli(ts).UTC().Format("2006-01-02T15:04:05.000Z"),
				aws.ToString(ev.LogStreamName), strings.TrimRight(aws.ToString(ev.Message), "\n"))
		}
		if aws.ToString(out.NextToken) == "" {
			return newest, nil
		}
		token = out.NextToken
	}
}

// logGroup is the service's log group: the logGroups output when the
// program exports it, else the one group named by the convention
// <project>-<stack>-logs-<service>-<8 hex> (Pulumi's autonaming in
// Pulumi.yaml, logical name logs-<service> in infra/logs.go).
func (o *Ops) logGroup(ctx context.Context, opts LogsOptions) (string, error) {
	if !slices.Contains(opts.Services, opts.Service) {
		return "", fmt.Errorf("no log group for service %q: the services that log to CloudWatch are %s", opts.Service, strings.Join(opts.Services, ", "))
	}
	if o.Outputs.Compute == ComputeECS && !slices.Contains(ECSServices, opts.Service) {
		// The groups exist in both modes; on ECS only the tasks write,
		// to streams <container>/<container>/<task id> (awslogs-stream-prefix
		// is the container's name: db-setup, migrate and api in api's group).
		return "", fmt.Errorf("stack %s runs on ECS: only %s log there (there is no %s service: the load balancer and its WAF stand in for the proxy, "+
			"and the database is RDS, whose log group is /aws/rds/instance/%s-%s-db/postgresql)",
			o.Target.Stack, strings.Join(ECSServices, " and "), opts.Service, orDefault(opts.Project, "slipway"), o.Target.Stack)
	}
	if g := o.Outputs.LogGroups[opts.Service]; g != "" {
		return g, nil
	}
	project := orDefault(opts.Project, "slipway")
	prefix := project + "-" + o.Target.Stack + "-logs-" + opts.Service + "-"
	named := regexp.MustCompile("^" + regexp.QuoteMeta(prefix) + "[0-9a-f]{8}$")
	var found []string
	var token *string
	for {
		out, err := o.AWS.Logs.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{
			LogGroupNamePrefix: aws.String(prefix),
			NextToken:          token,
		})
		if err != nil {
			return "", callError("logs DescribeLogGroups", err)
		}
		for _, g := range out.LogGroups {
			if name := aws.ToString(g.LogGroupName); named.MatchString(name) {
				found = append(found, name)
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		token = out.NextToken
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("%w: no log group %s<8 hex> in %s: stack %s has no logs for %s (not deployed in this account or region?)",
			ErrNotDeployed, prefix, o.AWS.Region, o.Target.Stack, opts.Service)
	default:
		return "", fmt.Errorf("several log groups match %s<8 hex> in %s (%s): export the stack's logGroups output to choose",
			prefix, o.AWS.Region, strings.Join(found, ", "))
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
