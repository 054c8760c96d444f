package infra

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/infra/foundation"
	"slipway/stacks"
)

// roleBoundaryARN is the permissions boundary every role of the stack
// carries (host, flow logs, snapshots): its class's, which the foundation
// creates under a fixed name (infra/foundation, names.go) and an
// administrator alone changes. The app stack creates no boundary; it
// derives the ARN and looks the policy up.
//
// The lookup is an invoke in Output form, by ARN: at preview the provider
// calls iam:GetPolicy on exactly that ARN, so a stack whose account has
// no foundation for its class fails right there, before any change, with
// IAM's NoSuchEntity naming the missing slipway-<class>-role-boundary,
// instead of creating roles a CI identity could not bound. (A lookup by
// name would list every policy of the account; by ARN it reads one.) The
// roles take the looked-up ARN, so they also wait for it.
func roleBoundaryARN(ctx *pulumi.Context, cfg stacks.Config, acct account, opts ...pulumi.InvokeOption) pulumi.StringOutput {
	arn := acct.globalARN("iam", "policy"+iamPath+foundation.BoundaryName(cfg.Profile))
	return iam.LookupPolicyOutput(ctx, iam.LookupPolicyOutputArgs{Arn: arn}, opts...).Arn()
}
