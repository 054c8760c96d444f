package foundation

import (
	"slipway/internal/iamdoc"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// iamPath holds every role and policy the foundation creates; the app
// stacks' roles live under it too, which is what the CI policies scope.
const iamPath = "/slipway/"

// The statement helpers are internal/iamdoc's, shared by the app stacks
// (infra/policy.go) and the foundation (infra/foundation/iam.go); the short
// local names keep the policies below readable.
var (
	statements            = iamdoc.Statements
	statement             = iamdoc.Statement
	condition             = iamdoc.Condition
	conditions            = iamdoc.Conditions
	principal             = iamdoc.Principal
	allow                 = iamdoc.Allow
	deny                  = iamdoc.Deny
	denyInsecureTransport = iamdoc.DenyInsecureTransport
	each                  = iamdoc.Each
)

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
