package infra

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

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
	resources pulumi.StringArrayInput, conds iam.GetPolicyDocumentStatementConditionArray) iam.GetPolicyDocumentStatementArgs {
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
