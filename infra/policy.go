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

// Resource policies (queue, topic, key) and the deploy policy need what a
// Grant cannot say: principals and explicit denies. These helpers build
// them with the same invoke (iam.getPolicyDocument) as policyDocument.

// statements renders full policy statements to IAM JSON.
func statements(ctx *pulumi.Context, opts pulumi.InvokeOption, stmts ...iam.GetPolicyDocumentStatementArgs) pulumi.StringOutput {
	arr := iam.GetPolicyDocumentStatementArray{}
	for _, s := range stmts {
		arr = append(arr, s)
	}
	return iam.GetPolicyDocumentOutput(ctx, iam.GetPolicyDocumentOutputArgs{Statements: arr}, opts).Json()
}

// condition is one IAM condition: test (StringEquals, ArnLike, Bool...),
// key and the values any of which satisfies it.
func condition(test, key string, values ...pulumi.StringInput) iam.GetPolicyDocumentStatementConditionArgs {
	return iam.GetPolicyDocumentStatementConditionArgs{
		Test:     pulumi.String(test),
		Variable: pulumi.String(key),
		Values:   pulumi.StringArray(values),
	}
}

// conditions bundles conditions; all of them must hold.
func conditions(cs ...iam.GetPolicyDocumentStatementConditionArgs) iam.GetPolicyDocumentStatementConditionArray {
	out := iam.GetPolicyDocumentStatementConditionArray{}
	for _, c := range cs {
		out = append(out, c)
	}
	return out
}

// principal is one principal block, e.g. ("Service", "cloudwatch.amazonaws.com").
func principal(typ string, ids ...pulumi.StringInput) iam.GetPolicyDocumentStatementPrincipalArray {
	return iam.GetPolicyDocumentStatementPrincipalArray{iam.GetPolicyDocumentStatementPrincipalArgs{
		Type:        pulumi.String(typ),
		Identifiers: pulumi.StringArray(ids),
	}}
}

// denyInsecureTransport is the statement every resource policy carries:
// any request not made over TLS is refused, whoever makes it.
func denyInsecureTransport(actions []string, resources pulumi.StringArrayInput) iam.GetPolicyDocumentStatementArgs {
	return iam.GetPolicyDocumentStatementArgs{
		Sid:        pulumi.String("DenyInsecureTransport"),
		Effect:     pulumi.String("Deny"),
		Principals: principal("*", pulumi.String("*")),
		Actions:    pulumi.ToStringArray(actions),
		Resources:  resources,
		Conditions: conditions(condition("Bool", "aws:SecureTransport", pulumi.String("false"))),
	}
}

// statement is one full statement; principals and conds may be nil.
func statement(sid, effect string, principals iam.GetPolicyDocumentStatementPrincipalArray, actions []string,
	resources pulumi.StringArrayInput, conds iam.GetPolicyDocumentStatementConditionArrayInput) iam.GetPolicyDocumentStatementArgs {
	s := iam.GetPolicyDocumentStatementArgs{
		Sid:       pulumi.String(sid),
		Effect:    pulumi.String(effect),
		Actions:   pulumi.ToStringArray(actions),
		Resources: resources,
	}
	if principals != nil {
		s.Principals = principals
	}
	if conds != nil {
		s.Conditions = conds
	}
	return s
}

// allow is an Allow statement without principals (an identity policy's).
func allow(sid string, actions []string, resources pulumi.StringArrayInput, conds iam.GetPolicyDocumentStatementConditionArrayInput) iam.GetPolicyDocumentStatementArgs {
	return statement(sid, "Allow", nil, actions, resources, conds)
}

// each maps name or path patterns to ARNs, one per pattern.
func each(patterns []string, format func(p string) pulumi.StringOutput) pulumi.StringArray {
	out := pulumi.StringArray{}
	for _, p := range patterns {
		out = append(out, format(p))
	}
	return out
}

// iamPath holds every IAM role, user, group and policy Slipway creates, so
// the deploy identity's IAM rights can be confined to it.
const iamPath = "/slipway/"
