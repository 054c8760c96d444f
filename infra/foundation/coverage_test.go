package foundation_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"slipway/infra/foundation"
	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// This file asks the question statement-by-statement checks cannot: may
// each class's CI role actually create, read, update and delete every
// resource the app program registers for its stacks, and make every
// invoke the program makes? Each resource type maps to the IAM requests
// AWS authorizes for it (calls_test.go: the main calls, not every read the
// provider makes), and the evaluator decides each against the role's
// managed policies, as the foundation renders them.

// invokeCalls maps every invoke function the app program calls (found in
// its source, so a new one fails this test until mapped) to its IAM
// requests. Some need no permission: GetCallerIdentity is always allowed,
// the partition is local, and policy documents are rendered locally.
func invokeCalls(t *testing.T, res *mockcloud.Result, class stacks.Profile) map[string][]request {
	region := firstOf(t, res, "aws:ec2/vpc:Vpc").Region
	star := func(actions ...string) []request {
		out := []request{}
		for _, a := range actions {
			out = append(out, one(a, "*", nil))
		}
		return out
	}
	prefixList := ""
	for _, r := range res.ByType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
		if id, ok := r.In("prefixListId").(string); ok {
			prefixList = id
		}
	}
	if prefixList == "" {
		t.Fatalf("%s: no ingress rule names the CloudFront prefix list", res.Stack)
	}
	repo := firstOf(t, res, "aws:ecr/repository:Repository")
	boundary := "arn:aws:iam::" + acct + ":policy/slipway/" + foundation.BoundaryName(class)
	// The zone is looked up only by a stack with a custom domain (review
	// stacks have none, and their role no DNS right).
	zone := append(star("route53:ListHostedZones", "route53:ListHostedZonesByName"),
		one("route53:GetHostedZone", "arn:aws:route53:::hostedzone/"+zoneID, nil),
		one("route53:ListTagsForResource", "arn:aws:route53:::hostedzone/"+zoneID, nil))
	if len(res.ByType("aws:acm/certificate:Certificate")) == 0 {
		zone = nil
	}
	return map[string][]request{
		"aws.GetCallerIdentityOutput":     nil,
		"aws.GetPartitionOutput":          nil,
		"aws.GetRegionOutput":             nil,
		"iam.GetPolicyDocumentOutput":     nil,
		"aws.GetAvailabilityZonesOutput":  star("ec2:DescribeAvailabilityZones"),
		"ec2.LookupAmiOutput":             star("ec2:DescribeImages"),
		"ecr.GetAuthorizationTokenOutput": star("ecr:GetAuthorizationToken"),
		"ec2.LookupManagedPrefixListOutput": append(star("ec2:DescribeManagedPrefixLists"),
			one("ec2:GetManagedPrefixListEntries", "arn:aws:ec2:"+region+":aws:prefix-list/"+prefixList, nil)),
		// The boundary, by its ARN (infra/boundary.go).
		"iam.LookupPolicyOutput":   {one("iam:GetPolicy", boundary, nil), one("iam:GetPolicyVersion", boundary, nil)},
		"route53.LookupZoneOutput": zone,
		"cloudfront.LookupCachePolicyOutput": append(star("cloudfront:ListCachePolicies"),
			one("cloudfront:GetCachePolicy", "arn:aws:cloudfront::"+acct+":cache-policy/658327ea-f89d-4fab-a63d-7e88639e58f6", nil)),
		"cloudfront.LookupOriginRequestPolicyOutput": append(star("cloudfront:ListOriginRequestPolicies"),
			one("cloudfront:GetOriginRequestPolicy", "arn:aws:cloudfront::"+acct+":origin-request-policy/b689b0a8-53d0-40ab-baf2-68738e2966ac", nil)),
		// The registry's look-ups of a tag (registry.go, issue 13): whether
		// the repository holds it (the plain invoke), then its digest.
		"ecr.GetImage":       {one("ecr:DescribeImages", repo.Out("arn").(string), nil)},
		"ecr.GetImageOutput": {one("ecr:DescribeImages", repo.Out("arn").(string), nil)},
		// cluster.go: each ECS service read back after its deploy (ecs
		// mode only), to fail when the circuit breaker rolled it back.
		"ecs.LookupServiceOutput": ecsServiceReads(res),
		// release.go: the host's receipts, read before and after the
		// rollout, and the release's parameters (the attempt the last
		// rollout began), read before it.
		"ssm.GetParametersByPathOutput": {
			one("ssm:GetParametersByPath", "arn:aws:ssm:"+region+":"+acct+":parameter/slipway/"+res.Stack+"/receipts", nil),
			one("ssm:GetParametersByPath", "arn:aws:ssm:"+region+":"+acct+":parameter/slipway/"+res.Stack+"/release", nil),
		},
		// network.go: the zones that offer the host's instance type.
		"ec2.GetInstanceTypeOfferingsOutput": star("ec2:DescribeInstanceTypeOfferings"),
		"docker.LookupRegistryImageOutput": {
			one("ecr:GetAuthorizationToken", "*", nil),
			one("ecr:BatchGetImage", repo.Out("arn").(string), nil),
		},
	}
}

// zoneID is the hosted zone of slipway.example.com in the offline cloud,
// which foundation/Pulumi.single.yaml names for dev and prod.
const zoneID = "Z5B396150AB112"

// programInvokes lists the invoke functions the app program's source
// (package infra) calls: the Output forms, and the plain forms (called as
// pkg.GetX(ctx, &pkg.GetXArgs{...}), as registry.go's holdsTag does).
func programInvokes(t *testing.T) []string {
	files, err := filepath.Glob("../*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\b([a-z0-9]+\.(?:Get|Lookup)[A-Za-z0-9]*Output)\(|\b([a-z0-9]+\.(?:Get|Lookup)[A-Za-z0-9]*)\(ctx, &[a-z0-9]+\.`)
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			seen[m[1]+m[2]] = true
		}
	}
	out := []string{}
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) < 5 {
		t.Fatalf("found only invokes %v: is the test running in infra/foundation/?", out)
	}
	return out
}

func firstOf(t *testing.T, res *mockcloud.Result, typ string) mockcloud.Resource {
	t.Helper()
	found := res.ByType(typ)
	if len(found) == 0 {
		t.Fatalf("%s: no %s", res.Stack, typ)
	}
	return found[0]
}

// roleFor is the CI role that deploys an app stack.
var roleFor = map[string]string{"dev": foundation.DevDeployRole, "pr-7": foundation.ReviewRole,
	"prod": foundation.ProdDeployRole, "prod-eu": foundation.ProdDeployRole}

var classFor = map[string]stacks.Profile{"dev": stacks.Dev, "pr-7": stacks.Review, "prod": stacks.Prod, "prod-eu": stacks.Prod}

// appVariant is one app stack configuration the coverage tests deploy.
type appVariant struct {
	label, stack string
	edits        []func(*stacks.Files)
	// mustHave are resource types the variant must record.
	mustHave []string
}

// onECS switches a stack to compute=ecs, database=rds (prod with the task
// minimums prod requires), as infra's ECS tests do.
func onECS(stack string) func(*stacks.Files) {
	return func(f *stacks.Files) {
		f.Values["slipway:compute"] = "ecs"
		f.Values["slipway:database"] = "rds"
		if !stacks.IsReviewStack(stack) {
			f.Values["slipway:apiMinTasks"] = "2"
			f.Values["slipway:workerMinTasks"] = "1"
		}
	}
}

var ecsTypes = []string{"aws:ecs/cluster:Cluster", "aws:ecs/service:Service", "aws:ecs/taskDefinition:TaskDefinition",
	"aws:lb/loadBalancer:LoadBalancer", "aws:lb/listenerRule:ListenerRule", "aws:appautoscaling/policy:Policy",
	"aws:rds/instance:Instance", "aws:wafv2/webAcl:WebAcl", "aws:wafv2/webAclAssociation:WebAclAssociation"}

// appVariants: the host profile of dev, pr-7 and prod (prod also in
// eu-west-1, where the CloudFront pieces are in another region than the
// rest), the ECS + RDS profile of prod, pr-7 and dev, and prod's host with
// its database on RDS.
func appVariants() []appVariant {
	return []appVariant{
		{label: "dev", stack: "dev"},
		{label: "pr-7", stack: "pr-7"},
		{label: "prod", stack: "prod"},
		{label: "prod-eu", stack: "prod", edits: []func(*stacks.Files){func(f *stacks.Files) { f.Values["aws:region"] = "eu-west-1" }}},
		{label: "prod ecs+rds", stack: "prod", edits: []func(*stacks.Files){onECS("prod")}, mustHave: ecsTypes},
		{label: "pr-7 ecs+rds", stack: "pr-7", edits: []func(*stacks.Files){onECS("pr-7")}, mustHave: ecsTypes},
		{label: "dev ecs+rds", stack: "dev", edits: []func(*stacks.Files){onECS("dev")}, mustHave: ecsTypes},
		{label: "prod host+rds", stack: "prod", edits: []func(*stacks.Files){func(f *stacks.Files) {
			f.Values["slipway:database"] = "rds"
		}}, mustHave: []string{"aws:rds/instance:Instance", "aws:ec2/instance:Instance"}},
	}
}

// The deploy role of dev, the review role (on pr-7) and prod's deploy
// role (in us-east-1 and in eu-west-1, where the CloudFront pieces are in
// another region than the rest) can make every request their stacks'
// resources and invokes need; prod's is refused what loses prod's data.
func TestCIRolesAllowEveryCallTheProgramMakes(t *testing.T) {
	single := runFoundation(t, "single")
	singleEU := runFoundation(t, "single", func(f *stacks.Files) { f.Values["aws:region"] = "eu-west-1" })
	invokes := programInvokes(t)
	// The actions each role was asked for and allowed, for the check
	// below that every right of the ECS + RDS profile is needed.
	used := map[string][]string{}
	defer func() { checkProfileRightsUsed(t, single, used) }()
	for _, c := range appVariants() {
		stack := c.label
		f := single
		if c.label == "prod-eu" {
			f = singleEU
		}
		res := deployApp(t, c.stack, c.edits...)
		doc := rolePolicies(t, f, roleFor[c.stack])
		check := func(what string, rs []request, want bool) {
			for _, r := range rs {
				ok, why := decide(t, doc, r)
				if ok != want {
					t.Errorf("%s on %s: %s: %s = %v (%s), want %v", roleFor[c.stack], stack, what, r.What, ok, why, want)
				}
				if ok && want {
					for _, call := range r.Calls {
						used[roleFor[c.stack]] = append(used[roleFor[c.stack]], call.Action)
					}
				}
			}
		}
		types := map[string]bool{}
		for _, r := range res.Resources {
			// Providers and the engine's own resources (pulumi:index:Stash)
			// make no AWS call.
			if !r.Custom || strings.HasPrefix(r.Type, "pulumi:") {
				continue
			}
			types[r.Type] = true
			build, ok := resourceCalls[r.Type]
			if !ok {
				t.Errorf("%s: resource type %s (%s) is not in the table of IAM calls: add it", stack, r.Type, r.Name)
				continue
			}
			l := &lifecycle{t: t, res: res, r: r}
			build(l)
			if len(l.requests) == 0 {
				t.Fatalf("%s: no calls", r.Type)
			}
			check(r.Type+" "+r.Name, l.requests, true)
			check(r.Type+" "+r.Name+" (administrator only)", l.adminOnly, false)
		}
		if len(types) < 35 {
			t.Errorf("%s: only %d resource types checked", stack, len(types))
		}
		for _, typ := range c.mustHave {
			if !types[typ] {
				t.Errorf("%s: no %s recorded: the variant does not exercise the profile", stack, typ)
			}
		}
		table := invokeCalls(t, res, classFor[c.stack])
		for _, fn := range invokes {
			calls, ok := table[fn]
			if !ok {
				t.Errorf("invoke %s is not in the table of IAM calls: add it", fn)
				continue
			}
			check("invoke "+fn, calls, true)
		}
	}
}

// The preview role previews dev: every invoke the program makes, and the
// reads of dev's resources a refresh makes; it writes nothing but the
// state lock.
func TestPreviewRoleReadsDevAndChangesNothing(t *testing.T) {
	f := runFoundation(t, "single")
	doc := rolePolicies(t, f, foundation.DevPreviewRole)
	res := deployApp(t, "dev")
	// Dev on the ECS + RDS profile: the ECS read-back invoke too.
	ecsRes := deployApp(t, "dev", onECS("dev"))
	for _, r := range []*mockcloud.Result{res, ecsRes} {
		for _, fn := range programInvokes(t) {
			for _, r := range invokeCalls(t, r, stacks.Dev)[fn] {
				if ok, why := decide(t, doc, r); !ok {
					t.Errorf("preview role: invoke %s: %s refused (%s)", fn, r.What, why)
				}
			}
		}
	}
	// A refresh of dev on the profile reads each of its resources: every
	// read (Describe, List, Get) their lifecycles make is allowed.
	reads0 := regexp.MustCompile(`^[a-z0-9-]+:(Get|List|Describe)`)
	profileReads := 0
	for _, r := range ecsRes.Resources {
		if !slices.Contains(ecsTypes, r.Type) && !strings.HasPrefix(r.Type, "aws:lb/") && !strings.HasPrefix(r.Type, "aws:rds/") &&
			!strings.HasPrefix(r.Type, "aws:appautoscaling/") && !strings.HasPrefix(r.Type, "aws:ecs/") && !strings.HasPrefix(r.Type, "aws:wafv2/") {
			continue
		}
		l := &lifecycle{t: t, res: ecsRes, r: r}
		resourceCalls[r.Type](l)
		for _, req := range l.requests {
			// (Key uses through RDS happen while it creates the instance.)
			if !reads0.MatchString(req.Calls[0].Action) || req.Calls[0].Context["kms:ViaService"] != nil {
				continue
			}
			profileReads++
			if ok, why := decide(t, doc, req); !ok {
				t.Errorf("preview role: refresh of %s %s: %s refused (%s)", r.Type, r.Name, req.What, why)
			}
		}
	}
	if profileReads < 20 {
		t.Errorf("preview role: only %d reads of the profile's resources checked", profileReads)
	}
	if len(ecsServiceReads(ecsRes)) != 2 {
		t.Errorf("dev on ECS: %d service read-backs, want 2", len(ecsServiceReads(ecsRes)))
	}
	// Every allow is a read, but for the state lock and the data key
	// that encrypts it.
	reads := regexp.MustCompile(`^[a-z0-9-]+:(Get|List|Describe|BatchGet|BatchCheck)`)
	for _, st := range doc.Statement {
		if st.Effect != "Allow" {
			continue
		}
		for _, a := range strs(st.Action) {
			switch {
			case reads.MatchString(a), a == "kms:Decrypt", a == "kms:GenerateDataKey":
			case (a == "s3:PutObject" || a == "s3:DeleteObject") && len(strs(st.Resource)) == 1 &&
				strings.HasSuffix(strs(st.Resource)[0], "/.pulumi/locks/*"):
			default:
				t.Errorf("preview role: %s allows %s on %v", st.Sid, a, st.Resource)
			}
		}
	}
	// Reads of dev's own resources a refresh makes (a sample per kind).
	for _, r := range []request{
		one("ec2:DescribeInstances", "*", nil),
		one("ssm:GetParameter", "arn:aws:ssm:us-east-1:"+acct+":parameter/slipway/dev/release/id", nil),
		one("cloudfront:GetDistribution", "arn:aws:cloudfront::"+acct+":distribution/E1", tagged("dev")),
		one("iam:GetRole", "arn:aws:iam::"+acct+":role/slipway/slipway-dev-host-1", nil),
		one("sqs:GetQueueAttributes", "arn:aws:sqs:us-east-1:"+acct+":slipway-dev-queue-1", nil),
		one("route53:ListResourceRecordSets", "arn:aws:route53:::hostedzone/"+zoneID, nil),
		one("ecs:DescribeServices", "arn:aws:ecs:us-east-1:"+acct+":service/slipway-dev-cluster-1/slipway-dev-cluster-api-1", nil),
		one("ecs:DescribeTaskDefinition", "*", nil),
		one("elasticloadbalancing:DescribeRules", "*", nil),
		one("application-autoscaling:DescribeScalingPolicies", "*", nil),
		one("rds:DescribeDBInstances", "arn:aws:rds:us-east-1:"+acct+":db:slipway-dev-db", nil),
		one("rds:DescribeDBParameters", "arn:aws:rds:us-east-1:"+acct+":pg:slipway-dev-database-1", nil),
	} {
		if ok, why := decide(t, doc, r); !ok {
			t.Errorf("preview role: %s refused (%s)", r.What, why)
		}
	}
}

// ecsServiceReads are the calls the ECS read-back makes: one
// DescribeServices per ECS service of the stack (none outside ecs mode).
func ecsServiceReads(res *mockcloud.Result) []request {
	var calls []request
	for _, s := range res.ByType("aws:ecs/service:Service") {
		calls = append(calls, one("ecs:DescribeServices", s.ID, nil))
	}
	return calls
}

// profileStatements are the statements of the ECS + RDS profile
// (computepolicy.go) in the deploy roles' policies.
var profileStatements = []string{"ComputeUnscopable", "EcsRegisterTaskDefinitions", "EcsReadTaskDefinitions", "EcsCreate",
	"EcsOwn", "ElbCreate", "ElbOwn", "AutoscalingCreate", "AutoscalingOwn", "IamPassTaskRoles", "IamServiceLinkedRoles",
	"WafCreate", "WafOwn", "WafOnLoadBalancer", "ElbSetWebAcl",
	"RdsCreate", "RdsDefaultOptionGroup", "RdsOwn", "RdsMasterSecret", "RdsNewMasterSecret", "RdsDefaultKeys", "RdsLogGroups"}

// checkProfileRightsUsed: every action the profile's statements allow a
// deploy role is one some recorded resource of its stacks asked for, so
// no right is there that the program does not need.
func checkProfileRightsUsed(t *testing.T, f *mockcloud.Result, used map[string][]string) {
	for _, role := range []string{foundation.DevDeployRole, foundation.ReviewRole, foundation.ProdDeployRole} {
		found := 0
		for _, st := range rolePolicies(t, f, role).Statement {
			if st.Effect != "Allow" || !slices.Contains(profileStatements, st.Sid) {
				continue
			}
			found++
			for _, a := range strs(st.Action) {
				if !slices.ContainsFunc(used[role], func(u string) bool { return iamGlob(a, u, true) }) {
					t.Errorf("%s: %s allows %s, which no recorded resource of its stacks needs", role, st.Sid, a)
				}
			}
		}
		if found < len(profileStatements)-1 {
			t.Errorf("%s: only %d of the profile's statements found", role, found)
		}
	}
}
