package infra

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// AlertsArgs shapes where alarms go.
type AlertsArgs struct {
	// Email is subscribed to every topic when set.
	Email   string
	Account account
	// AlarmNamePrefix (slipway-<stack>-) is the start of every alarm
	// name; only those alarms may publish.
	AlarmNamePrefix string
	// Global is the us-east-1 provider, for the topic CloudFront alarms
	// notify; nil or a stack already in us-east-1 needs no second topic.
	Global *aws.Provider
}

// Alerts are the SNS topics alarms notify. It is created before the host
// (whose recovery alarm notifies it) and before the alarms themselves.
type Alerts struct {
	pulumi.ResourceState

	// TopicARN is the topic in the stack's region.
	TopicARN pulumi.StringOutput
	// GlobalTopicARN is a topic in us-east-1 for alarms on CloudFront
	// metrics: an alarm can only notify a topic in its own region. When
	// the stack is in us-east-1 it is the same topic.
	GlobalTopicARN pulumi.StringOutput
}

// NewAlerts creates the topic (and a us-east-1 twin when the stack's
// region is another one), each with its key, policy and subscription.
func NewAlerts(ctx *pulumi.Context, name string, args AlertsArgs, opts ...pulumi.ResourceOption) (*Alerts, error) {
	a := &Alerts{}
	if err := ctx.RegisterComponentResource("slipway:monitoring:Alerts", name, a, opts...); err != nil {
		return nil, err
	}
	regional, err := alertTopic(ctx, name, args, args.Account, a)
	if err != nil {
		return nil, err
	}
	a.TopicARN, a.GlobalTopicARN = regional, regional
	// One topic where one suffices: a second topic would mean a second
	// subscription to confirm for the same address.
	if args.Global != nil && args.Account.Region != GlobalRegion {
		global := args.Account
		global.Region = GlobalRegion
		a.GlobalTopicARN, err = alertTopic(ctx, name+"-"+GlobalRegion, args, global, a, pulumi.Provider(args.Global))
		if err != nil {
			return nil, err
		}
	}
	return a, ctx.RegisterResourceOutputs(a, pulumi.Map{
		"topicArn":       a.TopicARN,
		"globalTopicArn": a.GlobalTopicARN,
	})
}

// alertTopic is one encrypted topic in acct.Region that only this stack's
// alarms may publish to.
func alertTopic(ctx *pulumi.Context, name string, args AlertsArgs, acct account, a *Alerts, extra ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	opts := append([]pulumi.ResourceOption{pulumi.Parent(a)}, extra...)
	invoke := pulumi.Parent(a)
	alarms := acct.arn("cloudwatch", "alarm:"+args.AlarmNamePrefix+"*")
	fromOwnAlarms := conditions(
		condition("StringEquals", "aws:SourceAccount", acct.ID),
		condition("ArnLike", "aws:SourceArn", alarms),
	)

	// A customer managed key, not alias/aws/sns: the AWS managed key's
	// policy cannot be changed to let CloudWatch use it, and alarms
	// publishing to a topic encrypted with it fail ("CloudWatch Alarms
	// does not have authorization to access the SNS topic encryption
	// key"). The first statement is AWS's default key policy (the account
	// governs the key through IAM, so it can never become unmanageable).
	key, err := kms.NewKey(ctx, name, &kms.KeyArgs{
		Description:          pulumi.String("Encrypts the Slipway alarm topic; CloudWatch alarms may use it"),
		EnableKeyRotation:    pulumi.Bool(true),
		DeletionWindowInDays: pulumi.Int(7),
		Policy: statements(ctx, invoke,
			statement("AccountAdministersKey", "Allow", principal("AWS", pulumi.Sprintf("arn:%s:iam::%s:root", acct.Partition, acct.ID)),
				[]string{"kms:*"}, pulumi.StringArray{pulumi.String("*")}, nil),
			statement("CloudWatchAlarmsPublish", "Allow", principal("Service", pulumi.String("cloudwatch.amazonaws.com")),
				[]string{"kms:Decrypt", "kms:GenerateDataKey*"}, pulumi.StringArray{pulumi.String("*")}, fromOwnAlarms),
		),
	}, opts...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}

	// Where alarms go: encrypted at rest with the key above.
	topic, err := sns.NewTopic(ctx, name, &sns.TopicArgs{
		DisplayName:    pulumi.String("Slipway alarms"),
		KmsMasterKeyId: key.Arn,
	}, opts...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	// Only this stack's alarms may publish, and only over TLS.
	if _, err := sns.NewTopicPolicy(ctx, name, &sns.TopicPolicyArgs{
		Arn: topic.Arn,
		Policy: statements(ctx, invoke,
			statement("CloudWatchAlarmsPublish", "Allow", principal("Service", pulumi.String("cloudwatch.amazonaws.com")),
				[]string{"sns:Publish"}, pulumi.StringArray{topic.Arn}, fromOwnAlarms),
			denyInsecureTransport([]string{"sns:Publish"}, pulumi.StringArray{topic.Arn}),
		),
	}, opts...); err != nil {
		return pulumi.StringOutput{}, err
	}
	// A person: the address must confirm the subscription mail once.
	if args.Email != "" {
		if _, err := sns.NewTopicSubscription(ctx, name+"-email", &sns.TopicSubscriptionArgs{
			Topic:    topic.Arn,
			Protocol: pulumi.String("email"),
			Endpoint: pulumi.String(args.Email),
		}, opts...); err != nil {
			return pulumi.StringOutput{}, err
		}
	}
	return topic.Arn, nil
}
