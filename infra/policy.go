package infra

import (
	"slipway/internal/iamdoc"

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
	stmts := make([]iam.GetPolicyDocumentStatementArgs, 0, len(grants))
	for _, g := range grants {
		stmts = append(stmts, allow(g.Sid, g.Actions, g.Resources, g.Conditions))
	}
	return statements(ctx, opts, stmts...)
}

// assumeRolePolicy lets an AWS service assume a role. Services that pass
// the caller's account (VPC flow logs, for one) get the confused-deputy
// guard AWS recommends through sourceAccount; EC2 instance profiles do not
// send it, so their trust is the service principal alone.
func assumeRolePolicy(ctx *pulumi.Context, opts pulumi.InvokeOption, service string, sourceAccount pulumi.StringInput) pulumi.StringOutput {
	var guard iam.GetPolicyDocumentStatementConditionArrayInput
	if sourceAccount != nil {
		guard = conditions(condition("StringEquals", "aws:SourceAccount", sourceAccount))
	}
	return statements(ctx, opts, statement("", "Allow", principal("Service", pulumi.String(service)),
		[]string{"sts:AssumeRole"}, nil, guard))
}

// Resource policies (queue, topic, key) need what a Grant cannot say:
// principals and explicit denies. The statement helpers are
// internal/iamdoc's, shared with the foundation (infra/foundation/iam.go);
// the short local names keep the policies readable.
var (
	statements            = iamdoc.Statements
	statement             = iamdoc.Statement
	condition             = iamdoc.Condition
	conditions            = iamdoc.Conditions
	principal             = iamdoc.Principal
	allow                 = iamdoc.Allow
	denyInsecureTransport = iamdoc.DenyInsecureTransport
	each                  = iamdoc.Each
)

// iamPath holds every IAM role, user, group and policy Slipway creates, so
// the deploy identity's IAM rights can be confined to it.
const iamPath = "/slipway/"
