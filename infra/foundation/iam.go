package foundation

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The statement helpers below render IAM JSON with the invoke's Output
// form (iam.getPolicyDocument), so ARNs may be outputs of other resources.
// They mirror infra/policy.go: the foundation does not import the app
// stacks' package (infra imports this one for the names it derives).

// iamPath holds every role and policy the foundation creates; the app
// stacks' roles live under it too, which is what the CI policies scope.
const iamPath = "/slipway/"

// statements renders full statements to a policy document.
func statements(ctx *pulumi.Context, opts pulumi.InvokeOption, stmts ...iam.GetPolicyDocumentStatementArgs) pulumi.StringOutput {
	arr := iam.GetPolicyDocumentStatementArray{}
	for _, s := range stmts {
		arr = append(arr, s)
	}
	return iam.GetPolicyDocumentOutput(ctx, iam.GetPolicyDocumentOutputArgs{Statements: arr}, opts).Json()
}

// condition is one IAM condition: operator, key and the values any of
// which satisfies it.
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

// principal is one principal block.
func principal(typ string, ids ...pulumi.StringInput) iam.GetPolicyDocumentStatementPrincipalArray {
	return iam.GetPolicyDocumentStatementPrincipalArray{iam.GetPolicyDocumentStatementPrincipalArgs{
		Type:        pulumi.String(typ),
		Identifiers: pulumi.StringArray(ids),
	}}
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

// allow is an identity policy's Allow statement.
func allow(sid string, actions []string, resources pulumi.StringArrayInput, conds iam.GetPolicyDocumentStatementConditionArray) iam.GetPolicyDocumentStatementArgs {
	return statement(sid, "Allow", nil, actions, resources, conds)
}

// deny is an identity policy's Deny statement.
func deny(sid string, actions []string, resources pulumi.StringArrayInput, conds iam.GetPolicyDocumentStatementConditionArray) iam.GetPolicyDocumentStatementArgs {
	return statement(sid, "Deny", nil, actions, resources, conds)
}

// denyInsecureTransport refuses any request not made over TLS.
func denyInsecureTransport(actions []string, resources pulumi.StringArrayInput) iam.GetPolicyDocumentStatementArgs {
	return statement("DenyInsecureTransport", "Deny", principal("*", pulumi.String("*")), actions, resources,
		conditions(condition("Bool", "aws:SecureTransport", pulumi.String("false"))))
}

// each maps name or path patterns to ARNs, one per pattern.
func each(patterns []string, format func(p string) pulumi.StringOutput) pulumi.StringArray {
	out := pulumi.StringArray{}
	for _, p := range patterns {
		out = append(out, format(p))
	}
	return out
}

// join concatenates ARN lists.
func join(arrs ...pulumi.StringArray) pulumi.StringArray {
	out := pulumi.StringArray{}
	for _, a := range arrs {
		out = append(out, a...)
	}
	return out
}

// strs turns plain strings into condition values.
func strs(values ...string) []pulumi.StringInput {
	out := make([]pulumi.StringInput, len(values))
	for i, v := range values {
		out[i] = pulumi.String(v)
	}
	return out
}
