package infra

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// providers are the explicit AWS providers every resource uses. Both carry
// the same default tags, so every taggable resource says which project and
// stack own it, and the same account pin: an explicit provider ignores the
// stack's aws:allowedAccountIds unless it is handed to it, and with it the
// provider refuses to configure (before any change) when the credentials
// belong to another account.
type providers struct {
	// Regional manages everything in the stack's region.
	Regional *aws.Provider
	// Global is us-east-1, where CloudFront's certificate and metrics live.
	Global *aws.Provider
}

// GlobalRegion is where CloudFront certificates and metrics live.
const GlobalRegion = "us-east-1"

func newProviders(ctx *pulumi.Context, cfg stacks.Config) (*providers, error) {
	tags := &aws.ProviderDefaultTagsArgs{Tags: pulumi.StringMap{
		"project":    pulumi.String(cfg.Project),
		"stack":      pulumi.String(cfg.Stack),
		"managed-by": pulumi.String("pulumi"),
	}}
	accounts := pulumi.ToStringArray(cfg.AllowedAccountIDs)
	regional, err := aws.NewProvider(ctx, "aws", &aws.ProviderArgs{
		Region:            pulumi.String(cfg.Region),
		AllowedAccountIds: accounts,
		DefaultTags:       tags,
	})
	if err != nil {
		return nil, err
	}
	global, err := aws.NewProvider(ctx, "aws-"+GlobalRegion, &aws.ProviderArgs{
		Region:            pulumi.String(GlobalRegion),
		AllowedAccountIds: accounts,
		DefaultTags:       tags,
	})
	if err != nil {
		return nil, err
	}
	return &providers{Regional: regional, Global: global}, nil
}

// account is what ARNs and policies need to know about where the stack runs.
type account struct {
	ID        pulumi.StringOutput
	Partition pulumi.StringOutput
	Region    string
}

func lookupAccount(ctx *pulumi.Context, p *aws.Provider, region string) account {
	identity := aws.GetCallerIdentityOutput(ctx, aws.GetCallerIdentityOutputArgs{}, pulumi.Provider(p))
	partition := aws.GetPartitionOutput(ctx, aws.GetPartitionOutputArgs{}, pulumi.Provider(p))
	return account{
		ID:        identity.AccountId(),
		Partition: partition.Partition(),
		Region:    region,
	}
}

// arn formats an ARN in this account and region: service and resource as
// AWS documents them, for example ("ssm", "parameter/slipway/dev/*").
func (a account) arn(service, res string) pulumi.StringOutput {
	return pulumi.Sprintf("arn:%s:%s:%s:%s:%s", a.Partition, service, a.Region, a.ID, res)
}

// globalARN formats an ARN of a global service (IAM, CloudFront).
func (a account) globalARN(service, res string) pulumi.StringOutput {
	return pulumi.Sprintf("arn:%s:%s::%s:%s", a.Partition, service, a.ID, res)
}

// managedPolicy is the ARN of an AWS-managed IAM policy, in this partition.
func (a account) managedPolicy(name string) pulumi.StringOutput {
	return pulumi.Sprintf("arn:%s:iam::aws:policy/%s", a.Partition, name)
}
