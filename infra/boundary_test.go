package infra_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode"

	"slipway/infra"
	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// deployPolicies are the deploy identity's managed policies (its parts),
// not the role boundary, which is a managed policy too.
func deployPolicies(res *mockcloud.Result) []mockcloud.Resource {
	var out []mockcloud.Resource
	for _, p := range res.ByType("aws:iam/policy:Policy") {
		if strings.HasPrefix(p.Name, "deploy-") {
			out = append(out, p)
		}
	}
	return out
}

// boundaryARN is the ARN a stack's roles must carry: its own boundary in
// dev and prod, dev's in a review stack.
func boundaryARN(stack string) string {
	if stacks.IsReviewStack(stack) {
		stack = "dev"
	}
	return "arn:aws:iam::" + acct + ":policy/slipway/" + infra.RoleBoundaryName("slipway", stack)
}

// roleBoundary is the stack's boundary policy resource and its document.
func roleBoundary(t *testing.T, res *mockcloud.Result) (mockcloud.Resource, iamDoc) {
	t.Helper()
	var found []mockcloud.Resource
	for _, p := range res.ByType("aws:iam/policy:Policy") {
		if !strings.HasPrefix(p.Name, "deploy-") {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d role boundary policies", res.Stack, len(found))
	}
	var doc iamDoc
	if err := json.Unmarshal([]byte(found[0].Str("policy")), &doc); err != nil {
		t.Fatalf("%s: boundary: %v", res.Stack, err)
	}
	return found[0], doc
}

// The boundary exists in dev and prod under its fixed name and the
// project path, within IAM's managed-policy size, scoped to the stacks
// its deploy identity deploys; review stacks have none.
func TestRoleBoundaryPolicy(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		if stacks.IsReviewStack(stack) {
			for _, p := range res.ByType("aws:iam/policy:Policy") {
				t.Errorf("%s: policy %s in a review stack", stack, p.Name)
			}
			continue
		}
		p, doc := roleBoundary(t, res)
		if p.Str("name") != "slipway-"+stack+"-role-boundary" || p.Str("path") != "/slipway/" || p.Out("arn") != boundaryARN(stack) {
			t.Errorf("%s: boundary name %q path %q arn %v", stack, p.Str("name"), p.Str("path"), p.Out("arn"))
		}
		if !strings.HasSuffix(p.Parent, "slipway:deployer:RoleBoundary::role-boundary") {
			t.Errorf("%s: boundary not in its component: parent %s", stack, p.Parent)
		}
		size := len(strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, p.Str("policy")))
		if size > 6144 {
			t.Errorf("%s: boundary is %d characters, IAM allows 6144", stack, size)
		}
		t.Logf("%s: boundary %d characters", stack, size)
		var snapshots bool
		for _, st := range doc.Statement {
			if st.Effect != "Allow" || st.NotAction != nil || st.NotResource != nil {
				t.Errorf("%s: boundary statement %s is not a plain Allow", stack, st.Sid)
			}
			for _, a := range strs(st.Action) {
				if strings.Contains(a, "*") || strings.HasPrefix(a, "iam:") || strings.HasPrefix(a, "sts:") {
					t.Errorf("%s: boundary allows %s", stack, a)
				}
				snapshots = snapshots || a == "ec2:DeleteSnapshot"
			}
			for _, r := range strs(st.Resource) {
				other := map[string]string{"dev": "prod", "prod": "dev"}[stack]
				if strings.Contains(r, "slipway-"+other) || strings.Contains(r, "/slipway/"+other+"/") ||
					stack == "prod" && strings.Contains(r, "pr-") {
					t.Errorf("%s: boundary reaches another stack: %s", stack, r)
				}
			}
		}
		// Snapshots are prod's alone (the only stack with a schedule).
		if snapshots != (stack == "prod") {
			t.Errorf("%s: boundary allows snapshots: %v", stack, snapshots)
		}
		// Dev's boundary covers the review stacks dev's key deploys.
		if got, _ := iamAllows(t, doc, iamCall{"sqs:SendMessage", "arn:aws:sqs:us-east-1:" + acct + ":slipway-pr-9-queue-1", nil}); got != (stack == "dev") {
			t.Errorf("%s: boundary allows a review stack's queue: %v", stack, got)
		}
	}
}

// Every role the program creates (not the deploy identity's OIDC role,
// which an administrator manages) carries the boundary: dev's and prod's
// their own, created before the role; a review stack's dev's, by ARN.
func TestEveryRoleCarriesTheBoundary(t *testing.T) {
	// With the OIDC role configured, so it exists and is told apart.
	for _, stack := range allStacks {
		var edits []func(*stacks.Files)
		if !stacks.IsReviewStack(stack) {
			edits = append(edits, func(f *stacks.Files) { f.Values["slipway:githubRepository"] = "acme/slipway" })
		}
		res := deploy(t, stack, edits...)
		if _, ok := res.Find("aws:iam/role:Role", "deploy-github"); !ok && !stacks.IsReviewStack(stack) {
			t.Errorf("%s: no OIDC role", stack)
		}
		var boundary mockcloud.Resource
		if !stacks.IsReviewStack(stack) {
			boundary, _ = roleBoundary(t, res)
		}
		names := []string{}
		for _, r := range res.ByType("aws:iam/role:Role") {
			if strings.HasPrefix(r.Name, "deploy-") {
				continue
			}
			names = append(names, r.Name)
			if got := r.In("permissionsBoundary"); got != boundaryARN(stack) {
				t.Errorf("%s: role %s has boundary %v, want %s", stack, r.Name, got, boundaryARN(stack))
			}
			if boundary.URN != "" && !slices.Contains(r.PropertyDependencies["permissionsBoundary"], boundary.URN) {
				t.Errorf("%s: role %s does not wait for the boundary policy: %v", stack, r.Name, r.PropertyDependencies)
			}
		}
		want := []string{"host"}
		if stack == "prod" {
			want = []string{"data-snapshots", "host", "network-flow-logs"}
		}
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Errorf("%s: roles %v, want %v (a new role needs the boundary and a place in it)", stack, names, want)
		}
	}
}

// statementCalls turns one statement of a role's own policy into the
// calls it permits: each action on each resource (a wildcard resource is
// taken literally, so the boundary must match the whole pattern), with
// the statement's conditions as the request context.
func statementCalls(t *testing.T, st iamStatement) []iamCall {
	t.Helper()
	if st.Effect != "Allow" || st.NotAction != nil || st.NotResource != nil {
		t.Fatalf("role statement %s: only plain Allow statements are modelled", st.Sid)
	}
	ctx := map[string][]string{}
	for op, keys := range st.Condition {
		if op != "StringEquals" && op != "ArnEquals" {
			t.Fatalf("role statement %s: condition %s not modelled", st.Sid, op)
		}
		for k, v := range keys {
			ctx[k] = strs(v)
		}
	}
	var calls []iamCall
	for _, a := range strs(st.Action) {
		for _, r := range strs(st.Resource) {
			calls = append(calls, iamCall{a, r, ctx})
		}
	}
	return calls
}

// managedPolicyCalls are the calls of the AWS-managed policies the
// program attaches to its roles, as far as the boundary lets them.
func managedPolicyCalls(t *testing.T, res *mockcloud.Result, policyARN string) []iamCall {
	region := one(t, res, "aws:ec2/vpc:Vpc").Region
	var calls []iamCall
	switch policyARN {
	case "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore":
		for _, a := range infra.SSMAgentActions {
			calls = append(calls, iamCall{a, "*", nil})
		}
	case "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole":
		for _, a := range infra.SnapshotActions {
			calls = append(calls, iamCall{a, "arn:aws:ec2:" + region + "::snapshot/snap-1", nil},
				iamCall{a, "arn:aws:ec2:" + region + ":" + acct + ":volume/vol-1", nil})
		}
		calls = append(calls, iamCall{"ec2:CreateSnapshots", "arn:aws:ec2:" + region + ":" + acct + ":instance/i-1", nil},
			iamCall{"ec2:CreateTags", "arn:aws:ec2:" + region + "::snapshot/snap-1", nil})
		for _, a := range infra.SnapshotReadActions {
			calls = append(calls, iamCall{a, "*", nil})
		}
	default:
		t.Errorf("%s: managed policy %s is not modelled: add its actions and the boundary's room for them", res.Stack, policyARN)
	}
	return calls
}

// Whatever the program grants its roles fits inside the boundary they
// carry, so a future grant outside it fails here rather than in AWS
// (where the boundary would silently cut it off). Review stacks are
// checked against dev's boundary.
func TestRoleBoundaryCoversRoles(t *testing.T) {
	dev := deploy(t, "dev")
	for _, stack := range allStacks {
		res := dev
		if stack != "dev" {
			res = deploy(t, stack)
		}
		owner := res
		if stacks.IsReviewStack(stack) {
			owner = dev
		}
		_, boundary := roleBoundary(t, owner)
		check := func(what string, calls []iamCall) {
			if len(calls) == 0 {
				t.Errorf("%s: %s: no calls", stack, what)
			}
			for _, c := range calls {
				if ok, why := iamAllows(t, boundary, c); !ok {
					t.Errorf("%s: %s grants %s on %s %v, outside the role boundary (%s)", stack, what, c.Action, c.ARN, c.Context, why)
				}
			}
		}
		var checked int
		for _, rp := range res.ByType("aws:iam/rolePolicy:RolePolicy") {
			doc := iamDoc{}
			if err := json.Unmarshal([]byte(rp.Str("policy")), &doc); err != nil {
				t.Fatal(err)
			}
			for _, st := range doc.Statement {
				check("role policy "+rp.Name+" "+st.Sid, statementCalls(t, st))
				checked++
			}
		}
		for _, att := range res.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
			if strings.HasPrefix(att.Name, "deploy-") {
				continue
			}
			check("managed policy on "+att.Name, managedPolicyCalls(t, res, att.Str("policyArn")))
		}
		// The host's grants: parameters, logs, queue, metrics, ECR.
		if checked < 6 {
			t.Errorf("%s: only %d role statements checked", stack, checked)
		}
		// And the boundary is a limit: the stack's roles could not be
		// given these through any policy.
		for _, c := range []iamCall{
			{"ssm:GetParameter", "arn:aws:ssm:us-east-1:" + acct + ":parameter/slipway/other/secrets/x", nil},
			{"ssm:GetParameter", "*", nil},
			{"sqs:SendMessage", "*", nil},
			{"logs:PutLogEvents", "arn:aws:logs:us-east-1:" + acct + ":log-group:other:*", nil},
			{"cloudwatch:PutMetricData", "*", map[string][]string{"cloudwatch:namespace": {"AWS/EC2"}}},
			{"ecr:BatchGetImage", "arn:aws:ecr:us-east-1:" + acct + ":repository/other", nil},
			{"s3:GetObject", "arn:aws:s3:::slipway-" + stack + "-site/x", nil},
			{"iam:PassRole", "*", nil},
			{"iam:CreateRole", "*", nil},
			{"sts:AssumeRole", "*", nil},
			{"ec2:RunInstances", "*", nil},
			{"ec2:ModifySnapshotAttribute", "*", nil},
		} {
			if ok, why := iamAllows(t, boundary, c); ok {
				t.Errorf("%s: the role boundary allows %s on %s (%s)", stack, c.Action, c.ARN, why)
			}
		}
	}
}

// Prod's identity works within prod's boundary, and dev's is no way out.
func TestProdDeployPolicyUsesProdBoundary(t *testing.T) {
	doc := deployDoc(t, deploy(t, "prod"))
	host := "arn:aws:iam::" + acct + ":role/slipway/slipway-prod-host-1"
	for b, want := range map[string]bool{boundaryARN("prod"): true, boundaryARN("dev"): false, "": false} {
		ctx := map[string][]string{}
		if b != "" {
			ctx["iam:PermissionsBoundary"] = []string{b}
		}
		for _, a := range []string{"iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary"} {
			if got, why := iamAllows(t, doc, iamCall{a, host, ctx}); got != want {
				t.Errorf("prod's deploy identity %s with boundary %q: %v (%s), want %v", a, b, got, why, want)
			}
		}
	}
}
