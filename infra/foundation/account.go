package foundation

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// GlobalRegion is where CloudFront's certificates, metrics and access-log
// deliveries live; the app stacks use it beside their own region.
const GlobalRegion = "us-east-1"

// Account is what ARNs need to know about the account the foundation
// manages: its id and partition (looked up with the foundation's own
// provider, so they are the account it actually runs in) and the region
// its app stacks run in.
type Account struct {
	ID        pulumi.StringOutput
	Partition pulumi.StringOutput
	Region    string
}

// LookupAccount reads the caller's account and partition.
func LookupAccount(ctx *pulumi.Context, p *aws.Provider, region string) Account {
	identity := aws.GetCallerIdentityOutput(ctx, aws.GetCallerIdentityOutputArgs{}, pulumi.Provider(p))
	partition := aws.GetPartitionOutput(ctx, aws.GetPartitionOutputArgs{}, pulumi.Provider(p))
	return Account{ID: identity.AccountId(), Partition: partition.Partition(), Region: region}
}

// arn is an ARN in this account and the app region.
func (a Account) arn(service, res string) pulumi.StringOutput {
	return pulumi.Sprintf("arn:%s:%s:%s:%s:%s", a.Partition, service, a.Region, a.ID, res)
}

// arnIn is an ARN in this account and the given region.
func (a Account) arnIn(region, service, res string) pulumi.StringOutput {
	return pulumi.Sprintf("arn:%s:%s:%s:%s:%s", a.Partition, service, region, a.ID, res)
}

// globalARN is an ARN of a global service (IAM, CloudFront).
func (a Account) globalARN(service, res string) pulumi.StringOutput {
	return pulumi.Sprintf("arn:%s:%s::%s:%s", a.Partition, service, a.ID, res)
}

// regions are the app region and, when it differs, us-east-1.
func (a Account) regions() []string {
	if a.Region == GlobalRegion {
		return []string{a.Region}
	}
	return []string{a.Region, GlobalRegion}
}

// bothRegions is one ARN per region of regions().
func (a Account) bothRegions(service, res string) pulumi.StringArray {
	out := pulumi.StringArray{}
	for _, r := range a.regions() {
		out = append(out, a.arnIn(r, service, res))
	}
	return out
}
