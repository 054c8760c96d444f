package infra

import (
	"encoding/json"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

const (
	// longPollSeconds is the longest receive wait SQS allows: an idle
	// worker makes three requests a minute instead of a busy loop.
	longPollSeconds = 20
	// visibilityMarginSeconds is added to the worker's budget. The worker
	// takes one message at a time and deletes it as soon as the job ends,
	// so the margin only has to cover the delete call (with SDK retries)
	// and a pause of the process. Lambda's "6x the timeout" rule is for
	// batches retried by an event source mapping; here it would only delay
	// the retry of a job whose worker died by five budgets.
	visibilityMarginSeconds = 30
	// deadLetterRetentionDays is SQS's maximum: a failed job can be
	// inspected (and redriven) for two weeks. It must also be at least
	// the source queue's retention, because a dead-lettered message keeps
	// its original enqueue time.
	deadLetterRetentionDays = 14
	// maxVisibilitySeconds is SQS's upper bound (12 hours).
	maxVisibilitySeconds = 43200
	day                  = 86400
)

// QueueArgs shapes the work queue.
type QueueArgs struct {
	Config  stacks.QueueConfig
	Account account
}

// Queue is the SQS work queue the API sends jobs to and the worker
// consumes, with a dead-letter queue for jobs that keep failing.
type Queue struct {
	pulumi.ResourceState

	URL                      pulumi.StringOutput
	ARN                      pulumi.StringOutput
	Name                     pulumi.StringOutput
	DeadLetterURL            pulumi.StringOutput
	DeadLetterARN            pulumi.StringOutput
	DeadLetterName           pulumi.StringOutput
	VisibilityTimeoutSeconds int
	// Grant lets the host (API and worker) use this queue and no other.
	Grant Grant
}

// visibilityTimeout is the worker's budget plus a margin, within SQS's bounds.
func visibilityTimeout(workerSeconds int) int {
	return min(workerSeconds+visibilityMarginSeconds, maxVisibilitySeconds)
}

// redrivePolicy is the queue's redrive JSON: after maxReceiveCount
// receives without a delete the message moves to the dead-letter queue.
func redrivePolicy(deadLetterARN string, maxReceiveCount int) (string, error) {
	b, err := json.Marshal(map[string]any{"deadLetterTargetArn": deadLetterARN, "maxReceiveCount": maxReceiveCount})
	return string(b), err
}

// NewQueue creates the queue, its dead-letter queue and their policies.
// Nothing here is protected, in any profile: a queue holds jobs in flight,
// not data of record.
func NewQueue(ctx *pulumi.Context, name string, args QueueArgs, opts ...pulumi.ResourceOption) (*Queue, error) {
	q := &Queue{}
	if err := ctx.RegisterComponentResource("slipway:queue:Queue", name, q, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(q)

	// Failed jobs land here to be inspected and redriven; encrypted at
	// rest with SQS-managed keys (free, no key policy to get wrong).
	dlq, err := sqs.NewQueue(ctx, name+"-dead-letter", &sqs.QueueArgs{
		SqsManagedSseEnabled:    pulumi.Bool(true),
		MessageRetentionSeconds: pulumi.Int(deadLetterRetentionDays * day),
		ReceiveWaitTimeSeconds:  pulumi.Int(longPollSeconds),
	}, parent)
	if err != nil {
		return nil, err
	}

	q.VisibilityTimeoutSeconds = visibilityTimeout(args.Config.WorkerTimeoutSeconds)
	redrive := dlq.Arn.ApplyT(func(arn string) (string, error) {
		return redrivePolicy(arn, args.Config.MaxReceiveCount)
	}).(pulumi.StringOutput)
	// The work queue: long polling, a visibility timeout above the
	// worker's budget so a job in progress is not handed to a second
	// worker, and the redrive to the dead-letter queue.
	queue, err := sqs.NewQueue(ctx, name, &sqs.QueueArgs{
		SqsManagedSseEnabled:     pulumi.Bool(true),
		MessageRetentionSeconds:  pulumi.Int(args.Config.RetentionDays * day),
		ReceiveWaitTimeSeconds:   pulumi.Int(longPollSeconds),
		VisibilityTimeoutSeconds: pulumi.Int(q.VisibilityTimeoutSeconds),
		RedrivePolicy:            redrive,
	}, parent)
	if err != nil {
		return nil, err
	}

	// Only this queue may use the dead-letter queue as its target.
	allow := queue.Arn.ApplyT(func(arn string) (string, error) {
		b, err := json.Marshal(map[string]any{"redrivePermission": "byQueue", "sourceQueueArns": []string{arn}})
		return string(b), err
	}).(pulumi.StringOutput)
	if _, err := sqs.NewRedriveAllowPolicy(ctx, name+"-dead-letter", &sqs.RedriveAllowPolicyArgs{
		QueueUrl:           dlq.Url,
		RedriveAllowPolicy: allow,
	}, parent); err != nil {
		return nil, err
	}

	// Both queues refuse requests that are not made over TLS.
	for _, target := range []struct {
		name string
		q    *sqs.Queue
	}{{name, queue}, {name + "-dead-letter", dlq}} {
		if _, err := sqs.NewQueuePolicy(ctx, target.name, &sqs.QueuePolicyArgs{
			QueueUrl: target.q.Url,
			Policy: statements(ctx, parent, denyInsecureTransport(
				[]string{"sqs:*"}, pulumi.StringArray{target.q.Arn})),
		}, parent); err != nil {
			return nil, err
		}
	}

	q.URL, q.ARN, q.Name = queue.Url, queue.Arn, queue.Name
	q.DeadLetterURL, q.DeadLetterARN, q.DeadLetterName = dlq.Url, dlq.Arn, dlq.Name
	q.Grant = Grant{
		Sid: "UseWorkQueue",
		Actions: []string{"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage",
			"sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"},
		Resources: pulumi.StringArray{queue.Arn},
	}
	return q, ctx.RegisterResourceOutputs(q, pulumi.Map{
		"url":           queue.Url,
		"arn":           queue.Arn,
		"deadLetterUrl": dlq.Url,
		"deadLetterArn": dlq.Arn,
	})
}
