package infra

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Grant is one IAM policy statement a component needs another identity to
// have: components hand grants to the host role (and the deploy policy)
// instead of reaching into each other.
type Grant struct {
	Sid       string
	Actions   []string
	Resources pulumi.StringArrayInput
	// Conditions narrow the grant, e.g. to a namespace or a path.
	Conditions iam.GetPolicyDocumentStatementConditionArrayInput
}

// policyDocument renders grants to IAM JSON with the invoke's Output form,
// so resource ARNs may be outputs of other resources.
func policyDocument(ctx *pulumi.Context, opts pulumi.InvokeOption, grants ...Grant) pulumi.StringOutput {
	statements := iam.GetPolicyDocumentStatementArray{}
	for _, g := range grants {
		statements = append(statements, iam.GetPolicyDocumentStatementArgs{
			Sid:        pulumi.String(g.Sid),
			Effect:     pulumi.String("Allow"),
			Actions:    pulumi.ToStringArray(g.Actions),
			Resources:  g.Resources,
			Conditions: g.Conditions,
		})
	}
	return iam.GetPolicyDocumentOutput(ctx, iam.GetPolicyDocumentOutputArgs{Statements: statements}, opts).Json()
}

// assumeRolePolicy lets an AWS service assume a role. Services that pass
// the caller's account (VPC flow logs, for one) get the confused-deputy
// guard AWS recommends through sourceAccount; EC2 instance profiles do not
// send it, so their trust is the service principal alone.
func assumeRolePolicy(ctx *pulumi.Context, opts pulumi.InvokeOption, service string, sourceAccount pulumi.StringInput) pulumi.StringOutput {
	statement := iam.GetPolicyDocumentStatementArgs{
		Effect:  pulumi.String("Allow"),
		Actions: pulumi.ToStringArray([]string{"sts:AssumeRole"}),
		Principals: iam.GetPolicyDocumentStatementPrincipalArray{iam.GetPolicyDocumentStatementPrincipalArgs{
			Type:        pulumi.String("Service"),
			Identifiers: pulumi.ToStringArray([]string{service}),
		}},
	}
	if sourceAccount != nil {
		statement.Conditions = iam.GetPolicyDocumentStatementConditionArray{iam.GetPolicyDocumentStatementConditionArgs{
			Test:     pulumi.String("StringEquals"),
			Variable: pulumi.String("aws:SourceAccount"),
			Values:   pulumi.StringArray{sourceAccount},
		}}
	}
	return iam.GetPolicyDocumentOutput(ctx, iam.GetPolicyDocumentOutputArgs{
		Statements: iam.GetPolicyDocumentStatementArray{statement},
	}, opts).Json()
}

// iamPath holds every IAM role, user, group and policy Slipway creates, so
// the deploy identity's IAM rights can be confined to it.
const iamPath = "/slipway/"
