package foundation_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"slipway/infra/foundation"
	"slipway/internal/mockcloud"
	"slipway/stacks"
)

const (
	audKey = "token.actions.githubusercontent.com:aud"
	subKey = "token.actions.githubusercontent.com:sub"
)

// The subjects each role trusts, pinned: exactly one GitHub environment
// per role (docs/ci.md). A change here is a change to who can deploy.
var pinnedSubjects = map[string]string{
	foundation.ProdDeployRole: "repo:acme/slipway:environment:production",
	foundation.DevDeployRole:  "repo:acme/slipway:environment:dev",
	foundation.ReviewRole:     "repo:acme/slipway:environment:review",
	foundation.DevPreviewRole: "repo:acme/slipway:environment:dev-preview",
}

// assume is sts:AssumeRoleWithWebIdentity with a GitHub token's claims,
// decided against a role's trust policy.
func assume(provider, sub string) iamCall {
	return iamCall{Action: "sts:AssumeRoleWithWebIdentity", ARN: "*", Principal: provider,
		Context: map[string][]string{audKey: {"sts.amazonaws.com"}, subKey: {sub}}}
}

// The subjects a job can present that are not its environment's: every
// pull-request job (pull_request), any branch or tag push (ref:...), and
// the other environments.
func untrustedSubjects(role string) []string {
	out := []string{"repo:acme/slipway:pull_request", "repo:acme/slipway:ref:refs/heads/main",
		"repo:acme/slipway:ref:refs/heads/feature", "repo:acme/slipway:ref:refs/tags/v1",
		"repo:other/slipway:environment:production", "repo:acme/slipway-fork:environment:dev"}
	for r, s := range pinnedSubjects {
		if r != role {
			out = append(out, s)
		}
	}
	return out
}

func TestNoRoleTrustsPullRequestOrBranch(t *testing.T) {
	res := runFoundation(t, "single")
	provider := firstOf(t, res, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
	if provider.Str("url") != "https://token.actions.githubusercontent.com" ||
		!slices.Equal(strs(provider.In("clientIdLists")), []string{"sts.amazonaws.com"}) {
		t.Errorf("provider %v", provider.Inputs)
	}
	pARN := provider.Out("arn").(string)
	roles := res.ByType("aws:iam/role:Role")
	if len(roles) != len(pinnedSubjects) {
		t.Fatalf("%d roles, want %d", len(roles), len(pinnedSubjects))
	}
	for _, r := range roles {
		name := r.Str("name")
		want, ok := pinnedSubjects[name]
		if !ok {
			t.Errorf("unexpected role %s", name)
			continue
		}
		if r.Str("path") != "/slipway/" || foundation.GitHubSubject("acme/slipway", name) != want {
			t.Errorf("%s: path %s, GitHubSubject %s", name, r.Str("path"), foundation.GitHubSubject("acme/slipway", name))
		}
		trust := parseDoc(t, r.Str("assumeRolePolicy"))
		if len(trust.Statement) != 1 {
			t.Fatalf("%s: trust %v", name, trust)
		}
		st := trust.Statement[0]
		eq := st.Condition["StringEquals"]
		if len(st.Condition) != 1 || len(eq) != 2 || eq[audKey] != "sts.amazonaws.com" || !slices.Equal(strs(eq[subKey]), []string{want}) {
			t.Errorf("%s: trust condition %v, want exactly aud sts.amazonaws.com and sub %s", name, st.Condition, want)
		}
		if ok, why := iamAllows(t, trust, assume(pARN, want)); !ok {
			t.Errorf("%s: its own environment's job may not assume it (%s)", name, why)
		}
		for _, sub := range untrustedSubjects(name) {
			if ok, _ := iamAllows(t, trust, assume(pARN, sub)); ok {
				t.Errorf("%s trusts %s", name, sub)
			}
		}
	}
	if got := foundation.TrustedSubjects("acme/slipway"); len(got) != len(pinnedSubjects) {
		t.Errorf("TrustedSubjects %v", got)
	} else {
		for r, s := range pinnedSubjects {
			if got[r] != s {
				t.Errorf("TrustedSubjects[%s] = %s, want %s", r, got[r], s)
			}
		}
	}
	// Before the foundation, dev's role trusted every pull request and
	// every push to main (testdata/old-policy/dev-trust.json).
	old := oldDoc(t, "dev-trust")
	for _, sub := range []string{"repo:acme/slipway:pull_request", "repo:acme/slipway:ref:refs/heads/main"} {
		if ok, _ := iamAllows(t, old, assume("arn:aws:iam::"+acct+":oidc-provider/token.actions.githubusercontent.com", sub)); !ok {
			t.Errorf("old dev trust refuses %s: the case proves nothing", sub)
		}
	}
}

// keyUsers are the principals a key policy lets Decrypt.
func keyUsers(t *testing.T, res *mockcloud.Result, class stacks.Profile) (mockcloud.Resource, iamDoc) {
	t.Helper()
	for _, a := range res.ByType("aws:kms/alias:Alias") {
		if a.Str("name") == foundation.SecretsKeyAlias(class) {
			for _, k := range res.ByType("aws:kms/key:Key") {
				if k.Out("keyId") == a.Str("targetKeyId") || k.ID == a.Str("targetKeyId") {
					return k, parseDoc(t, k.Str("policy"))
				}
			}
		}
	}
	t.Fatalf("%s: no key aliased %s", res.Stack, foundation.SecretsKeyAlias(class))
	return mockcloud.Resource{}, iamDoc{}
}

// Prod's key decrypts for slipway-prod-deploy and the administrators
// only; dev's for dev's roles; review's for the review role. No key
// policy delegates to the account (root with kms:*), so no IAM policy
// anywhere in the account can add a user.
func TestSecretsKeysServeTheirClassOnly(t *testing.T) {
	res := runFoundation(t, "single")
	admin := "arn:aws:iam::111111111111:role/Administrator"
	users := map[stacks.Profile][]string{
		stacks.Prod:   {foundation.ProdDeployRole},
		stacks.Dev:    {foundation.DevDeployRole, foundation.DevPreviewRole},
		stacks.Review: {foundation.ReviewRole},
	}
	everyone := []string{roleARN(foundation.ProdDeployRole), roleARN(foundation.DevDeployRole), roleARN(foundation.DevPreviewRole),
		roleARN(foundation.ReviewRole), roleARN("slipway-prod-host-1"), "arn:aws:iam::" + acct + ":root",
		"arn:aws:iam::" + acct + ":user/anyone", "arn:aws:iam::999999999999:role/outsider", admin}
	for class, want := range users {
		key, doc := keyUsers(t, res, class)
		if key.In("enableKeyRotation") != true || !key.Protect {
			t.Errorf("%s key: rotation %v protect %v", class, key.In("enableKeyRotation"), key.Protect)
		}
		for _, st := range doc.Statement {
			if p, _ := st.Principal.(map[string]any); st.Effect == "Allow" && (st.Principal == "*" ||
				slices.ContainsFunc(strs(p["AWS"]), func(s string) bool { return s == "*" || strings.HasSuffix(s, ":root") })) {
				t.Errorf("%s key: statement %s allows %v", class, st.Sid, st.Principal)
			}
		}
		allowed := []string{admin}
		for _, r := range want {
			allowed = append(allowed, roleARN(r))
		}
		for _, who := range everyone {
			for _, a := range []string{"kms:Decrypt", "kms:GenerateDataKey", "kms:CreateGrant"} {
				c := iamCall{Action: a, ARN: "*", Principal: who}
				wantOK := slices.Contains(allowed, who) && a != "kms:CreateGrant"
				if who == admin && a == "kms:CreateGrant" {
					wantOK = true // an administrator administers grants
				}
				if ok, why := iamAllows(t, doc, c); ok != wantOK {
					t.Errorf("%s key: %s by %s = %v (%s), want %v", class, a, who, ok, why, wantOK)
				}
			}
		}
	}
}

// Each class's state bucket: versioned, encrypted with the class's key,
// public access blocked, TLS only, and only the key's principals.
func TestStateBucketsAreTheClasssOwn(t *testing.T) {
	res := runFoundation(t, "single")
	buckets := res.ByType("aws:s3/bucketV2:BucketV2")
	if len(buckets) != 3 {
		t.Fatalf("%d state buckets, want one per class", len(buckets))
	}
	for _, b := range buckets {
		if !b.Protect {
			t.Errorf("bucket %s not protected", b.Name)
		}
		class := stacks.Profile(strings.TrimSuffix(b.Name, "-state"))
		key, _ := keyUsers(t, res, class)
		by := func(typ string) mockcloud.Resource {
			for _, r := range res.ByType(typ) {
				if r.Str("bucket") == b.ID {
					return r
				}
			}
			t.Fatalf("%s: no %s", b.Name, typ)
			return mockcloud.Resource{}
		}
		if v := by("aws:s3/bucketVersioningV2:BucketVersioningV2").In("versioningConfiguration.status"); v != "Enabled" {
			t.Errorf("%s: versioning %v", b.Name, v)
		}
		sse := by("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
		if sse.In("rules[0].applyServerSideEncryptionByDefault.sseAlgorithm") != "aws:kms" ||
			sse.In("rules[0].applyServerSideEncryptionByDefault.kmsMasterKeyId") != key.Out("arn") {
			t.Errorf("%s: encryption %v", b.Name, sse.Inputs)
		}
		pab := by("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
		for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
			if pab.In(k) != true {
				t.Errorf("%s: %s not set", b.Name, k)
			}
		}
		policy := parseDoc(t, by("aws:s3/bucketPolicy:BucketPolicy").Str("policy"))
		object := b.Out("arn").(string) + "/.pulumi/stacks/slipway/x.json"
		if ok, _ := iamAllows(t, policy, iamCall{Action: "s3:GetObject", ARN: object, Principal: roleARN(foundation.ProdDeployRole),
			Context: map[string][]string{"aws:SecureTransport": {"false"}}}); ok {
			t.Errorf("%s: plain HTTP not refused", b.Name)
		}
		for _, r := range []string{foundation.ProdDeployRole, foundation.DevDeployRole, foundation.DevPreviewRole, foundation.ReviewRole} {
			c := iamCall{Action: "s3:GetObject", ARN: object, Principal: roleARN(r), Context: map[string][]string{"aws:SecureTransport": {"true"}}}
			denied := false
			for _, st := range policy.Statement {
				if st.Effect == "Deny" && statementMatches(t, st, c) {
					denied = true
				}
			}
			owner := slices.ContainsFunc(foundationRoles(class), func(s string) bool { return s == r })
			if denied == owner {
				t.Errorf("%s: bucket policy denies %s: %v", b.Name, r, denied)
			}
		}
	}
}

func foundationRoles(class stacks.Profile) []string {
	return map[stacks.Profile][]string{stacks.Prod: {foundation.ProdDeployRole},
		stacks.Dev: {foundation.DevDeployRole, foundation.DevPreviewRole}, stacks.Review: {foundation.ReviewRole}}[class]
}

// Every foundation policy fits IAM's limits with at least 10% to spare,
// in every region an app stack accepts (ARNs grow with the region's
// name, and outside us-east-1 many name two regions): a managed policy
// 6,144 characters (without whitespace), a role's trust 2,048, managed
// policies per role 10; key policies 32,768, bucket policies 20,480.
func TestPolicySizesWithMarginInEveryRegion(t *testing.T) {
	margin := func(limit int) int { return limit * 9 / 10 }
	for _, region := range stacks.SupportedRegions() {
		res := runFoundation(t, "single", func(f *stacks.Files) { f.Values["aws:region"] = region })
		largest, largestName := 0, ""
		defer func() { t.Logf("%s: largest managed policy %s, %d characters", region, largestName, largest) }()
		check := func(what string, doc string, limit int) {
			if n := iamSize(doc); limit == 6144 && n > largest {
				largest, largestName = n, what
			}
			if n := iamSize(doc); n > margin(limit) || n < 50 {
				t.Errorf("%s: %s is %d characters; IAM allows %d, the margin %d", region, what, n, limit, margin(limit))
			}
		}
		for _, p := range res.ByType("aws:iam/policy:Policy") {
			check("managed policy "+p.Str("name"), p.Str("policy"), 6144)
		}
		for _, r := range res.ByType("aws:iam/role:Role") {
			check("trust of "+r.Str("name"), r.Str("assumeRolePolicy"), 2048)
			n := 0
			for _, a := range res.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
				if a.Str("role") == r.Out("name") {
					n++
				}
			}
			if n > margin(10) || n == 0 {
				t.Errorf("%s: %s has %d managed policies; IAM allows 10 by default", region, r.Str("name"), n)
			}
		}
		for _, r := range res.ByType("aws:iam/rolePolicy:RolePolicy") {
			check("inline policy "+r.Name, r.Str("policy"), 10240)
		}
		for _, k := range res.ByType("aws:kms/key:Key") {
			check("key policy "+k.Name, k.Str("policy"), 32768)
		}
		for _, b := range res.ByType("aws:s3/bucketPolicy:BucketPolicy") {
			check("bucket policy "+b.Name, b.Str("policy"), 20480)
		}
	}
}

// Every child is parented (a component of the foundation), every
// resource uses the foundation's provider, which pins the account and
// tags with a stack tag no app stack has.
func TestFoundationShape(t *testing.T) {
	for _, stack := range []string{"dev", "prod", "single"} {
		res := runFoundation(t, stack)
		providers := res.ByType("pulumi:providers:aws")
		if len(providers) != 1 {
			t.Fatalf("%s: %d providers", stack, len(providers))
		}
		p := providers[0]
		if len(strs(p.In("allowedAccountIds"))) != 1 || p.In("defaultTags.tags.stack") != "foundation-"+stack {
			t.Errorf("%s: provider %v", stack, p.Inputs)
		}
		for _, st := range []string{"dev", "prod", "pr-7"} {
			if mockcloud.Strings(p.In("defaultTags.tags.stack"))[0] == st {
				t.Errorf("%s: foundation tagged as app stack %s", stack, st)
			}
		}
		for _, r := range res.Resources {
			if strings.HasPrefix(r.Type, "pulumi:providers:") {
				continue
			}
			if !strings.Contains(r.Parent, "slipway:foundation:") && r.Custom {
				t.Errorf("%s: %s %s is not in a component (parent %s)", stack, r.Type, r.Name, r.Parent)
			}
			if r.Custom && !strings.HasPrefix(r.Provider, p.URN) {
				t.Errorf("%s: %s %s uses provider %s", stack, r.Type, r.Name, r.Provider)
			}
		}
		want := map[string][]string{"dev": {"dev", "review"}, "prod": {"prod"}, "single": {"dev", "review", "prod"}}[stack]
		var got []string
		for _, b := range res.ByType("slipway:foundation:StateBackend") {
			got = append(got, strings.TrimSuffix(b.Name, "-state"))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: state backends for %v, want %v", stack, got, want)
		}
		if len(res.ByType("aws:iam/user:User")) != 0 || len(res.ByType("aws:iam/accessKey:AccessKey")) != 0 {
			t.Errorf("%s: a CI user by default", stack)
		}
		for _, class := range want {
			if out := res.Outputs[class+"EncryptionProvider"]; out.Value != "awskms://alias/slipway-"+class+"-pulumi-secrets" {
				t.Errorf("%s: %sEncryptionProvider = %v", stack, class, out.Value)
			}
			if out, _ := res.Outputs[class+"BackendUrl"].Value.(string); !strings.HasPrefix(out, "s3://") {
				t.Errorf("%s: %sBackendUrl = %v", stack, class, out)
			}
		}
	}
}

// Bad config fails before anything is registered, naming the key, the
// value and what is accepted.
func TestFoundationConfigIsValidated(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"slipway-foundation:classes", `["review"]`, "review only together with dev"},
		{"slipway-foundation:classes", `["dev", "dev"]`, "each once"},
		{"slipway-foundation:classes", `["staging"]`, "dev, review, prod"},
		{"slipway-foundation:githubRepository", "not a repo", "owner/name"},
		{"slipway-foundation:administrators", `["root"]`, "IAM role or user ARNs"},
		{"slipway-foundation:administrators", `[]`, "non-empty"},
		{"slipway-foundation:zones", `{"prod": {"zoneId": "Z123456789", "domain": "example.com"}}`, "classes this account hosts"},
		{"slipway-foundation:zones", `{"dev": {"zoneId": "nope", "domain": "dev.example.com"}}`, "zoneId"},
		{"slipway-foundation:ciUser", "prod", "a class this account hosts"},
		{"slipway-foundation:ciUserKeyGeneration", "0", "at least 1"},
		{"aws:allowedAccountIds", `["1234"]`, "12-digit"},
		{"aws:region", "mars-1", "eu-west-1"},
	} {
		files := foundationFiles(t, "dev")
		files.Values[tc.key] = tc.value
		_, err := foundation.Parse("dev", files)
		if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), fmt.Sprintf("%q", tc.value)) {
			t.Errorf("%s = %s: %v (want %q)", tc.key, tc.value, err, tc.want)
		}
		res, err := mockcloud.Run(foundation.Build, foundation.Project, "dev", files, true)
		if err == nil || len(res.Resources) != 0 {
			t.Errorf("%s = %s: registered %d resources (err %v)", tc.key, tc.value, len(res.Resources), err)
		}
	}
	for _, k := range []string{"slipway-foundation:classes", "slipway-foundation:githubRepository",
		"slipway-foundation:administrators", "aws:allowedAccountIds"} {
		files := foundationFiles(t, "dev")
		delete(files.Values, k)
		if _, err := foundation.Parse("dev", files); err == nil || !strings.Contains(err.Error(), k+" is not set") {
			t.Errorf("without %s: %v", k, err)
		}
	}
}

// The optional CI user: off by default; when on, it holds its class's
// deploy policies through a group, the key policy names it, and raising
// the key generation makes a new active key and deactivates the old one
// (the one before that is gone).
func TestCIUserRotationDeactivatesTheOldKey(t *testing.T) {
	for gen, want := range map[string]map[string]string{
		"1": {"ci-user-key-1": "Active"},
		"2": {"ci-user-key-1": "Inactive", "ci-user-key-2": "Active"},
		"3": {"ci-user-key-2": "Inactive", "ci-user-key-3": "Active"},
	} {
		res := runFoundation(t, "prod", func(f *stacks.Files) {
			f.Values["slipway-foundation:ciUser"] = "prod"
			f.Values["slipway-foundation:ciUserKeyGeneration"] = gen
		})
		got := map[string]string{}
		for _, k := range res.ByType("aws:iam/accessKey:AccessKey") {
			got[k.Name] = k.Str("status")
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("generation %s: keys %v, want %v", gen, got, want)
		}
		user := firstOf(t, res, "aws:iam/user:User")
		group := firstOf(t, res, "aws:iam/group:Group")
		var attached []string
		for _, a := range res.ByType("aws:iam/groupPolicyAttachment:GroupPolicyAttachment") {
			if a.Str("group") == group.Out("name") {
				attached = append(attached, a.Str("policyArn"))
			}
		}
		// A deploy role's nine parts (a group takes up to 10).
		if len(attached) != 9 || len(res.ByType("aws:iam/userPolicyAttachment:UserPolicyAttachment")) != 0 {
			t.Errorf("generation %s: group policies %v", gen, attached)
		}
		_, doc := keyUsers(t, res, stacks.Prod)
		if ok, why := iamAllows(t, doc, iamCall{Action: "kms:Decrypt", ARN: "*", Principal: user.Out("arn").(string)}); !ok {
			t.Errorf("generation %s: the CI user may not use prod's key (%s)", gen, why)
		}
		out := res.Outputs["ciSecretAccessKey"]
		if !out.Secret || out.Value == nil {
			t.Errorf("generation %s: ciSecretAccessKey %+v", gen, out)
		}
	}
}

// The boundaries: under their fixed names, plain allows, no IAM, scoped
// to their class; the review class's reaches neither dev nor prod; the
// snapshot rights are dev's and prod's, on their own backups only.
func TestRoleBoundaries(t *testing.T) {
	res := runFoundation(t, "single")
	for _, class := range []stacks.Profile{stacks.Dev, stacks.Review, stacks.Prod} {
		doc := boundaryDoc(t, res, class)
		snapshots := false
		for _, st := range doc.Statement {
			if st.Effect != "Allow" || st.NotAction != nil || st.NotResource != nil {
				t.Errorf("%s boundary: statement %s is not a plain Allow", class, st.Sid)
			}
			for _, a := range strs(st.Action) {
				if strings.Contains(a, "*") || strings.HasPrefix(a, "iam:") || strings.HasPrefix(a, "sts:") {
					t.Errorf("%s boundary allows %s", class, a)
				}
				snapshots = snapshots || a == "ec2:DeleteSnapshot"
			}
			for _, r := range strs(st.Resource) {
				for _, other := range []string{"dev", "prod", "pr-"} {
					own := map[stacks.Profile]string{stacks.Dev: "dev", stacks.Prod: "prod", stacks.Review: "pr-"}[class]
					if other != own && (strings.Contains(r, "slipway-"+other) || strings.Contains(r, "/slipway/"+other)) {
						t.Errorf("%s boundary reaches %s: %s", class, other, r)
					}
				}
			}
		}
		// Snapshots: prod's DLM schedule, and AWS Backup's in dev and prod.
		if snapshots != (class != stacks.Review) {
			t.Errorf("%s boundary: snapshot rights %v", class, snapshots)
		}
	}
}
