package foundation_test

import (
	"os"
	"path/filepath"
	"regexp"
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
		// The registry's look-ups of a tag (registry.go, issue 13): the
		// newest image's tags, then the tag's digest.
		"ecr.LookupRepositoryOutput": {
			one("ecr:DescribeRepositories", repo.Out("arn").(string), nil),
			one("ecr:DescribeImages", repo.Out("arn").(string), nil),
			one("ecr:ListTagsForResource", repo.Out("arn").(string), nil),
		},
		"ecr.GetImageOutput": {one("ecr:DescribeImages", repo.Out("arn").(string), nil)},
		// cluster.go: each ECS service read back after its deploy (ecs
		// mode only), to fail when the circuit breaker rolled it back.
		"ecs.LookupServiceOutput": ecsServiceReads(res),
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
// (package infra) calls.
func programInvokes(t *testing.T) []string {
	files, err := filepath.Glob("../*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\b([a-z0-9]+\.(?:Get|Lookup)[A-Za-z0-9]*Output)\(`)
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
			seen[m[1]] = true
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

// The deploy role of dev, the review role (on pr-7) and prod's deploy
// role (in us-east-1 and in eu-west-1, where the CloudFront pieces are in
// another region than the rest) can make every request their stacks'
// resources and invokes need; prod's is refused what loses prod's data.
func TestCIRolesAllowEveryCallTheProgramMakes(t *testing.T) {
	single := runFoundation(t, "single")
	singleEU := runFoundation(t, "single", func(f *stacks.Files) { f.Values["aws:region"] = "eu-west-1" })
	invokes := programInvokes(t)
	for _, stack := range []string{"dev", "pr-7", "prod", "prod-eu"} {
		var res *mockcloud.Result
		f := single
		if stack == "prod-eu" {
			res = deployApp(t, "prod", func(f *stacks.Files) { f.Values["aws:region"] = "eu-west-1" })
			f = singleEU
		} else {
			res = deployApp(t, stack)
		}
		doc := rolePolicies(t, f, roleFor[stack])
		check := func(what string, rs []request, want bool) {
			for _, r := range rs {
				if ok, why := decide(t, doc, r); ok != want {
					t.Errorf("%s on %s: %s: %s = %v (%s), want %v", roleFor[stack], stack, what, r.What, ok, why, want)
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
		table := invokeCalls(t, res, classFor[stack])
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
	for _, fn := range programInvokes(t) {
		for _, r := range invokeCalls(t, res, stacks.Dev)[fn] {
			if ok, why := decide(t, doc, r); !ok {
				t.Errorf("preview role: invoke %s: %s refused (%s)", fn, r.What, why)
			}
		}
	}
	// Every allow is a read, but for the state lock and the data key
	// that encrypts it.
	reads := regexp.MustCompile(`^[a-z0-9]+:(Get|List|Describe|BatchGet|BatchCheck)`)
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
