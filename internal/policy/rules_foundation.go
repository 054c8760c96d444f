package policy

import (
	"regexp"
	"slices"
	"strings"
)

// Rules about the split between the foundation (one per account, an
// administrator's: infra/foundation) and the app stacks (dev, prod,
// pr-<n>). Scope says which of the two a rule judges.

const (
	tOIDCProvider  = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
	tDocument      = "aws:ssm/document:Document"
	tKey           = "aws:kms/key:Key"
	tAlias         = "aws:kms/alias:Alias"
	tAWSProvider   = "pulumi:providers:aws"
	tBucketVersion = "aws:s3/bucketVersioningV2:BucketVersioningV2"
)

// ciIdentityTypes are what only the foundation creates.
var ciIdentityTypes = []string{tUser, tGroup, tAccessKey, tOIDCProvider, tPolicy, tDocument}

// documentWrites and trustWrites are what no CI identity may be allowed.
var (
	documentWrites = []string{"ssm:CreateDocument", "ssm:UpdateDocument", "ssm:DeleteDocument", "ssm:UpdateDocumentDefaultVersion"}
	trustWrites    = []string{"iam:UpdateAssumeRolePolicy"}
	keyUse         = []string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:CreateGrant"}
)

// environmentSubject is the only subject shape a CI role may trust.
var environmentSubject = regexp.MustCompile(`^repo:[A-Za-z0-9-]+/[A-Za-z0-9._-]+:environment:[A-Za-z0-9._-]+$`)

// actionGlob reports whether an IAM action pattern (ssm:*, ssm:*Document)
// covers an action.
func actionGlob(pattern, action string) bool {
	re := "(?i)^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	return regexp.MustCompile(re).MatchString(action)
}

// grants reports whether a policy allows an action on any resource and no
// statement of it denies the action on every resource.
func grants(doc []statement, action string) (bool, string) {
	allowed, by := false, ""
	for _, st := range doc {
		covers := slices.ContainsFunc(st.Action, func(p string) bool { return actionGlob(p, action) }) ||
			len(st.NotAction) > 0 && !slices.ContainsFunc(st.NotAction, func(p string) bool { return actionGlob(p, action) })
		if !covers {
			continue
		}
		if !st.allows() && contains(st.Resource, "*") && len(st.Condition) == 0 {
			return false, ""
		}
		if st.allows() {
			allowed, by = true, st.Sid
		}
	}
	return allowed, by
}

var foundationRules = []Rule{
	{
		ID: "SLW-FND-001", Severity: Error, Reference: "Slipway design (CI trust, docs/ci.md)",
		Title: "GitHub OIDC roles trust exactly one GitHub environment: never a pull request, a branch or a pattern",
		Fix:   `trust StringEquals token.actions.githubusercontent.com:sub "repo:<owner>/<name>:environment:<env>" (infra/foundation, names.go)`,
		Types: []string{tRole},
		Inputs: []string{tRole + ": assumeRolePolicy statements with Principal.Federated …token.actions.githubusercontent.com: " +
			"sub only under StringEquals, each repo:<owner>/<name>:environment:<env>"},
		check: func(e *eval) {
			for _, r := range e.peek(tRole) {
				doc, _ := parseDoc(r.In("assumeRolePolicy"))
				for _, st := range doc {
					if !strings.Contains(strings.Join(st.principals("Federated"), " "), "token.actions.githubusercontent.com") {
						continue
					}
					e.checked++
					for op := range st.Condition {
						for k := range st.Condition[op] {
							if strings.EqualFold(k, "token.actions.githubusercontent.com:sub") && !strings.EqualFold(op, "StringEquals") {
								e.fail(r, "sub under %s: a pattern can match a pull request or a branch", op)
							}
						}
					}
					subs := st.condition("StringEquals", "token.actions.githubusercontent.com:sub")
					if len(subs) == 0 {
						e.fail(r, "trust names no subject")
					}
					for _, s := range subs {
						if !environmentSubject.MatchString(s) {
							e.fail(r, "trusts %q: only an environment's jobs may assume a CI role (pull_request and ref: subjects are what any branch presents)", s)
						}
					}
				}
			}
			e.naReason = "no GitHub OIDC role"
		},
	},
	{
		ID: "SLW-FND-002", Severity: Error, Reference: "Slipway design (secrets provider per class, docs/ci.md)",
		Title: "A class's secrets key is used only by that class's CI roles and the administrators: no account-wide or public grant, no other CI role",
		Fix:   "key policy without the root (kms:*) statement or \"*\" principals; name only role/slipway/slipway-<class>-… roles of its class and administrators",
		Types: []string{tKey},
		Inputs: []string{tKey + " aliased by " + tAlias + " alias/slipway-<class>-pulumi-secrets: policy Allow statements granting " +
			strings.Join(keyUse, ", ") + " name no *, no :root and no /slipway/ role of another class"},
		check: func(e *eval) {
			for _, a := range e.peek(tAlias) {
				name := a.Str("name")
				class, ok := strings.CutPrefix(name, "alias/slipway-")
				if !ok || !strings.HasSuffix(class, "-pulumi-secrets") {
					continue
				}
				class = strings.TrimSuffix(class, "-pulumi-secrets")
				key, found := e.find(tKey, a.In("targetKeyId"))
				if !found {
					for _, k := range e.peek(tKey) {
						if k.Out("keyId") == a.In("targetKeyId") {
							key, found = k, true
						}
					}
				}
				if !found {
					continue
				}
				e.checked++
				doc, ok := parseDoc(key.In("policy"))
				if !ok {
					e.fail(key, "no key policy: the default one lets every IAM policy of the account grant the key")
					continue
				}
				own := "slipway-" + class + "-"
				if class == "review" {
					own = "slipway-review"
				}
				for _, st := range doc {
					if !st.allows() || !slices.ContainsFunc(keyUse, func(a string) bool {
						return slices.ContainsFunc(st.Action, func(p string) bool { return actionGlob(p, a) })
					}) {
						continue
					}
					if st.isPublic() {
						e.fail(key, "statement %q lets any principal use %s", st.Sid, name)
					}
					for _, p := range st.principals("AWS") {
						_, role, isSlipway := strings.Cut(p, ":role/slipway/")
						switch {
						case p == "*" || strings.HasSuffix(p, ":root"):
							e.fail(key, "statement %q lets %s use %s: any IAM policy of the account could then grant it", st.Sid, p, name)
						case isSlipway && !strings.HasPrefix(role, own):
							e.fail(key, "statement %q lets %s use %s, a role of another class", st.Sid, p, name)
						}
					}
				}
			}
			e.naReason = "no secrets key (alias/slipway-<class>-pulumi-secrets)"
		},
	},
	{
		ID: "SLW-FND-003", Severity: Error, Reference: "Slipway design (host documents are the foundation's)",
		Title: "No CI policy may create, change or delete an SSM document (documents run as root on hosts)",
		Fix:   "allow only ssm:CreateAssociation/ssm:SendCommand on the class's slipway-<class>-* host documents, and deny " + strings.Join(documentWrites, ", ") + " on *",
		Types: []string{tPolicy, tRolePolicy, tGroupPolicy, tUserPolicy},
		Inputs: []string{strings.Join([]string{tPolicy, tRolePolicy, tGroupPolicy, tUserPolicy}, ", ") + ": policy allows none of " +
			strings.Join(documentWrites, ", ") + " (wildcards included) unless denied on *"},
		check: func(e *eval) { refuseActions(e, documentWrites) },
	},
	{
		ID: "SLW-FND-004", Severity: Error, Reference: "Slipway design (no CI rewrites a role's trust)",
		Title: "No CI policy may rewrite a role's trust (iam:UpdateAssumeRolePolicy)",
		Fix:   "leave iam:UpdateAssumeRolePolicy out of every CI policy and deny it on *",
		Types: []string{tPolicy, tRolePolicy, tGroupPolicy, tUserPolicy},
		Inputs: []string{strings.Join([]string{tPolicy, tRolePolicy, tGroupPolicy, tUserPolicy}, ", ") +
			": policy allows no iam:UpdateAssumeRolePolicy (wildcards included) unless denied on *"},
		check: func(e *eval) { refuseActions(e, trustWrites) },
	},
	{
		ID: "SLW-FND-005", Severity: Error, Reference: "Slipway design (Pulumi state per class, docs/ci.md)",
		Title: "The foundation's state buckets are versioned and encrypted with KMS",
		Fix:   "add a BucketVersioningV2 (Enabled) and SSE aws:kms with the class's key",
		Types: []string{tBucketV2}, Scope: FoundationOnly,
		Inputs: []string{tBucketVersion + ": versioningConfiguration.status Enabled; " + tBucketSSE + ": rules[0].applyServerSideEncryptionByDefault.sseAlgorithm aws:kms"},
		check: func(e *eval) {
			for _, b := range e.of(tBucketV2) {
				v, ok := findBy(e.peek(tBucketVersion), "bucket", b)
				if !ok || v.In("versioningConfiguration.status") != "Enabled" {
					e.fail(b, "state bucket not versioned: a bad checkpoint could not be rolled back")
				}
				s, ok := findBy(e.peek(tBucketSSE), "bucket", b)
				if !ok || s.In("rules[0].applyServerSideEncryptionByDefault.sseAlgorithm") != "aws:kms" {
					e.fail(b, "state bucket not encrypted with KMS")
				}
			}
		},
	},
	{
		ID: "SLW-APP-001", Severity: Error, Reference: "Slipway design (app stacks create no identity, boundary or document)",
		Title: "App stacks create no IAM user, group, access key, OIDC provider, managed policy (boundary) or SSM document",
		Fix:   "leave CI identities, boundaries and host documents to the foundation (infra/foundation); derive their names",
		Types: ciIdentityTypes, Scope: AppOnly,
		Inputs: []string{strings.Join(ciIdentityTypes, ", ") + ": absent in dev, prod and pr-<n>"},
		check: func(e *eval) {
			e.checked++ // the absence itself is what is checked
			for _, r := range e.peek(ciIdentityTypes...) {
				e.fail(r, "%s in an app stack: the foundation's (an administrator's), never CI's", r.Type)
			}
		},
	},
	{
		ID: "SLW-APP-002", Severity: Error, Reference: "Slipway design (every provider pins its account)",
		Title:  "Every AWS provider pins the account (allowedAccountIds)",
		Fix:    `pass aws:allowedAccountIds (stacks.Config.AllowedAccountIDs) to every aws.NewProvider`,
		Types:  []string{tAWSProvider},
		Inputs: []string{tAWSProvider + ": allowedAccountIds a non-empty list of 12-digit account ids"},
		check: func(e *eval) {
			for _, p := range e.of(tAWSProvider) {
				ids := strList(p.In("allowedAccountIds"))
				if len(ids) == 0 {
					e.fail(p, "no allowedAccountIds: the provider would run in whatever account the credentials name")
				}
				for _, id := range ids {
					if !accountID.MatchString(id) {
						e.fail(p, "allowedAccountIds entry %q is not a 12-digit account id", id)
					}
				}
			}
		},
	},
}

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// refuseActions fails every policy that grants one of actions.
func refuseActions(e *eval, actions []string) {
	for _, r := range e.of(tPolicy, tRolePolicy, tGroupPolicy, tUserPolicy) {
		doc, ok := parseDoc(r.In("policy"))
		if !ok {
			continue
		}
		for _, a := range actions {
			if ok, by := grants(doc, a); ok {
				e.fail(r, "statement %q allows %s", by, a)
			}
		}
	}
}
