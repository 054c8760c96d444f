package foundation

import (
	"slices"

	"slipway/stacks"
)

// AppProject is the Pulumi project of the app stacks the foundation's
// identities deploy: every name below starts with it.
const AppProject = "slipway"

// Classes are the environment classes, in the order the foundation
// builds them. An app stack's class is its profile: dev -> dev, prod ->
// prod, pr-<n> -> review (stacks.ProfileOf).
var Classes = []stacks.Profile{stacks.Dev, stacks.Review, stacks.Prod}

// The fixed physical names. A foundation is one per account,
// so fixed names cannot collide, and the app stacks derive them instead
// of reading another stack's outputs: an app stack needs no credentials
// for the foundation's state, only the account it already runs in.
const (
	DevDeployRole  = "slipway-dev-deploy"
	DevPreviewRole = "slipway-dev-preview"
	ReviewRole     = "slipway-review"
	ProdDeployRole = "slipway-prod-deploy"
)

// BoundaryName is the permissions boundary of a class's roles (path
// /slipway/).
func BoundaryName(class stacks.Profile) string {
	return AppProject + "-" + string(class) + "-role-boundary"
}

// SecretsKeyAlias is the alias of the KMS key that is the class's Pulumi
// secrets provider.
func SecretsKeyAlias(class stacks.Profile) string {
	return "alias/" + AppProject + "-" + string(class) + "-pulumi-secrets"
}

// SecretsProvider is the --secrets-provider of the class's stacks.
func SecretsProvider(class stacks.Profile) string { return "awskms://" + SecretsKeyAlias(class) }

// ciDocumentNames are the host documents of a class (written by
// documents.go's NewHostDocuments under these names): the only documents
// the class's CI roles may associate or send.
func ciDocumentNames(class stacks.Profile) []string {
	var out []string
	for _, op := range []string{"rollout", "rollback", "maintenance", "status"} {
		out = append(out, AppProject+"-"+string(class)+"-"+op)
	}
	return out
}

// roleKind says what a CI role does to its class's stacks.
type roleKind string

const (
	// deploys: previews, updates and destroys the class's stacks.
	deploys roleKind = "deploy"
	// previews: reads them, takes the state lock, changes nothing.
	previews roleKind = "preview"
)

// ciRole is one CI role: its name, the GitHub environment whose jobs
// alone may assume it, its class and what it does.
type ciRole struct {
	Name        string
	Environment string
	Class       stacks.Profile
	Kind        roleKind
}

// ciRoles are the CI roles per class. The GitHub environments carry the
// protection (docs/ci.md): production and dev admit the
// main branch only (production with required reviewers); review and
// dev-preview admit any branch, which is why their roles reach only
// review stacks and a read of dev.
var ciRoles = []ciRole{
	{DevDeployRole, "dev", stacks.Dev, deploys},
	{DevPreviewRole, "dev-preview", stacks.Dev, previews},
	{ReviewRole, "review", stacks.Review, deploys},
	{ProdDeployRole, "production", stacks.Prod, deploys},
}

func rolesOf(class stacks.Profile) []ciRole {
	var out []ciRole
	for _, r := range ciRoles {
		if r.Class == class {
			out = append(out, r)
		}
	}
	return out
}

// GitHubSubject is the one OIDC subject a role trusts: the repository's
// jobs that run in the role's GitHub environment, whatever their event or
// branch. No role trusts repo:R:pull_request or repo:R:ref:...: a branch
// can rewrite the workflow it runs, so only the environment's deployment
// rules (branches, reviewers) can stand between a push and a role.
func GitHubSubject(repository, role string) string {
	i := slices.IndexFunc(ciRoles, func(r ciRole) bool { return r.Name == role })
	if i < 0 {
		return ""
	}
	return "repo:" + repository + ":environment:" + ciRoles[i].Environment
}

// TrustedSubjects maps every CI role to the subject it trusts, for the
// workflow tests that pin which job may assume which role.
func TrustedSubjects(repository string) map[string]string {
	out := map[string]string{}
	for _, r := range ciRoles {
		out[r.Name] = GitHubSubject(repository, r.Name)
	}
	return out
}

// scope is what one class's identities and roles may touch, derived from
// the facts that name the app stacks' resources: the auto-naming pattern
// ${project}-${stack}-${name}-${hex}, the parameter path
// /slipway/<stack>/, the default tag stack=<stack>, the dashboard name
// slipway-<stack>. infra/foundation's coverage test checks the patterns
// against the names the app program gives.
type scope struct {
	Class stacks.Profile
	// Stacks are the stack-name patterns (the stack tag's values).
	Stacks []string
	// Names are the physical-name patterns (slipway-dev-*).
	Names []string
	// Parameters are the SSM parameter paths (/slipway/dev/*).
	Parameters []string
	// Dashboards are the dashboard names (not auto-named).
	Dashboards []string
	// Documents are the class's host documents.
	Documents []string
	// Boundary names the class's role boundary.
	Boundary string
	// Zone is the class's DNS, if it has any.
	Zone *ZoneConfig
}

func newScope(class stacks.Profile, zone *ZoneConfig) scope {
	stack := string(class)
	if class == stacks.Review {
		stack = "pr-*"
	}
	return scope{
		Class:      class,
		Stacks:     []string{stack},
		Names:      []string{AppProject + "-" + stack + "-*"},
		Parameters: []string{"/" + AppProject + "/" + stack + "/*"},
		Dashboards: []string{AppProject + "-" + stack},
		Documents:  ciDocumentNames(class),
		Boundary:   BoundaryName(class),
		Zone:       zone,
	}
}
