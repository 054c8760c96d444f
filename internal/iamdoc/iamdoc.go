// Package iamdoc builds IAM policy documents with the invoke's Output form
// (iam.getPolicyDocument), so ARNs may be outputs of other resources. The
// app stacks (package infra) and the foundation (infra/foundation) both
// write policies with it; neither imports the other's package for this.
package iamdoc

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Statements renders full policy statements to IAM JSON.
func Statements(ctx *pulumi.Context, opts pulumi.InvokeOption, stmts ...iam.GetPolicyDocumentStatementArgs) pulumi.StringOutput {
	arr := iam.GetPolicyDocumentStatementArray{}
	for _, s := range stmts {
		arr = append(arr, s)
	}
	return iam.GetPolicyDocumentOutput(ctx, iam.GetPolicyDocumentOutputArgs{Statements: arr}, opts).Json()
}

// Condition is one IAM condition: test (StringEquals, ArnLike, Bool...),
// key and the values any of which satisfies it.
func Condition(test, key string, values ...pulumi.StringInput) iam.GetPolicyDocumentStatementConditionArgs {
	return iam.GetPolicyDocumentStatementConditionArgs{
		Test:     pulumi.String(test),
		Variable: pulumi.String(key),
		Values:   pulumi.StringArray(values),
	}
}

// Conditions bundles conditions; all of them must hold.
func Conditions(cs ...iam.GetPolicyDocumentStatementConditionArgs) iam.GetPolicyDocumentStatementConditionArray {
	out := iam.GetPolicyDocumentStatementConditionArray{}
	for _, c := range cs {
		out = append(out, c)
	}
	return out
}

// Principal is one principal block, e.g. ("Service", "cloudwatch.amazonaws.com").
func Principal(typ string, ids ...pulumi.StringInput) iam.GetPolicyDocumentStatementPrincipalArray {
	return iam.GetPolicyDocumentStatementPrincipalArray{iam.GetPolicyDocumentStatementPrincipalArgs{
		Type:        pulumi.String(typ),
		Identifiers: pulumi.StringArray(ids),
	}}
}

// Statement is one full statement; principals and conds may be nil (or
// empty), and are then left out.
func Statement(sid, effect string, principals iam.GetPolicyDocumentStatementPrincipalArray, actions []string,
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
	if a, ok := conds.(iam.GetPolicyDocumentStatementConditionArray); conds != nil && (!ok || a != nil) {
		s.Conditions = conds
	}
	return s
}

// Allow is an identity policy's Allow statement (no principals).
func Allow(sid string, actions []string, resources pulumi.StringArrayInput, conds iam.GetPolicyDocumentStatementConditionArrayInput) iam.GetPolicyDocumentStatementArgs {
	return Statement(sid, "Allow", nil, actions, resources, conds)
}

// Deny is an identity policy's Deny statement (no principals).
func Deny(sid string, actions []string, resources pulumi.StringArrayInput, conds iam.GetPolicyDocumentStatementConditionArrayInput) iam.GetPolicyDocumentStatementArgs {
	return Statement(sid, "Deny", nil, actions, resources, conds)
}

// DenyInsecureTransport is the statement every resource policy carries:
// any request not made over TLS is refused, whoever makes it.
func DenyInsecureTransport(actions []string, resources pulumi.StringArrayInput) iam.GetPolicyDocumentStatementArgs {
	return Statement("DenyInsecureTransport", "Deny", Principal("*", pulumi.String("*")), actions, resources,
		Conditions(Condition("Bool", "aws:SecureTransport", pulumi.String("false"))))
}

// Each maps name or path patterns to ARNs, one per pattern.
func Each(patterns []string, format func(p string) pulumi.StringOutput) pulumi.StringArray {
	out := pulumi.StringArray{}
	for _, p := range patterns {
		out = append(out, format(p))
	}
	return out
}
