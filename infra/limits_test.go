package infra_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"unicode"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// AWS's hard and default limits that the app stacks' resources must stay
// under with at least 10 % to spare, in every region aws:region accepts
// (ARNs, endpoints and names carry the region, so sizes grow with its
// name: ap-southeast-2 is the longest). Each limit cites the AWS page
// that states it.
const limitMargin = 0.10

// IAM User Guide, "IAM and AWS STS quotas" (character limits count no
// white space; the role and policy attachment counts are default quotas).
const (
	iamManagedPolicyChars  = 6144  // "Managed policy size"
	iamTrustPolicyChars    = 2048  // "Role trust policy length" (default)
	iamRoleInlineChars     = 10240 // "Inline policy size: role" (aggregate)
	iamUserInlineChars     = 2048  // "Inline policy size: user" (aggregate)
	iamGroupInlineChars    = 5120  // "Inline policy size: group" (aggregate)
	iamManagedPerRole      = 10    // "Managed policies attached to an IAM role"
	iamManagedPerUser      = 10    // "Managed policies attached to an IAM user"
	iamManagedPerGroup     = 10    // "Managed policies attached to an IAM group"
	iamGroupsPerUser       = 10    // "Groups an IAM user can be a member of"
	userDataRawBytes       = 16384 // EC2 User Guide, "Instance user data": 16 KB in raw form, before base64
	ssmStandardValueBytes  = 4096  // "AWS Systems Manager endpoints and quotas": parameter value, standard tier 4 KB
	ssmAdvancedValueBytes  = 8192  // same page: advanced tier 8 KB
	cloudFrontFunctionSize = 10240 // CloudFront Developer Guide, "Quotas on CloudFront Functions": function size 10 KB
	// Amazon VPC User Guide, "Amazon VPC quotas": inbound or outbound
	// rules per security group, 60 each (default), and security groups
	// per network interface, 5.
	sgRulesPerDirection = 60
	sgPerInterface      = 5
)

// prefixListWeight is what a rule that references a managed prefix list
// counts as: the list's maximum entries (Amazon VPC User Guide, "Prefix
// list weight": CloudFront's origin-facing list weighs 55). The only list
// the program references is CloudFront's (network.go), so every
// prefix-list rule is counted at its weight, the heaviest AWS-managed one.
const prefixListWeight = 55

// resourcePolicyLimits are the sizes of the resource policies (not IAM's)
// the stack writes, in bytes of compact JSON.
var resourcePolicyLimits = map[string]struct {
	limit int
	page  string
}{
	"aws:s3/bucketPolicy:BucketPolicy":                   {20 << 10, `S3 User Guide, "Bucket policies": 20 KB`},
	"aws:sqs/queuePolicy:QueuePolicy":                    {8192, `SQS Developer Guide, "Amazon SQS policy quotas": 8,192 bytes`},
	"aws:sns/topicPolicy:TopicPolicy":                    {30 << 10, `SNS Developer Guide, "Amazon SNS quotas": topic policy 30 KB`},
	"aws:sns/topic:Topic":                                {30 << 10, `SNS Developer Guide, "Amazon SNS quotas": topic policy 30 KB`},
	"aws:kms/key:Key":                                    {32 << 10, `KMS Developer Guide, "Quotas": key policy document size 32 KB`},
	"aws:kms/keyPolicy:KeyPolicy":                        {32 << 10, `KMS Developer Guide, "Quotas": key policy document size 32 KB`},
	"aws:ecr/repositoryPolicy:RepositoryPolicy":          {10240, `ECR User Guide, "Amazon ECR service quotas": repository policy length 10,240 characters`},
	"aws:cloudwatch/logResourcePolicy:LogResourcePolicy": {5120, `CloudWatch Logs User Guide, "CloudWatch Logs quotas": resource policy 5,120 characters`},
}

// ssmNearTier are the standard-tier parameters within 10 % of 4 KB: they
// move to the (paid) advanced tier when they grow a little, and SSM never
// moves a parameter back. Reported, not failed: the program adapts.
var ssmNearTier = map[string]int{}

type usage struct {
	what        string
	used, limit int
	// urn is the measured resource, when there is one.
	urn string
}

func (u usage) ok() bool { return float64(u.used) <= (1-limitMargin)*float64(u.limit) }

// iamChars is a policy's size as IAM counts it: characters, no white space.
func iamChars(doc string) int {
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// policyDocuments finds every policy document among an input's values
// (a JSON string holding a Statement), by dotted path.
func policyDocuments(path string, v any, found map[string]string) {
	switch x := v.(type) {
	case string:
		var doc struct{ Statement any }
		if json.Unmarshal([]byte(x), &doc) == nil && doc.Statement != nil {
			found[path] = x
		}
	case map[string]any:
		for k, e := range x {
			policyDocuments(strings.TrimPrefix(path+"."+k, "."), e, found)
		}
	case []any:
		for i, e := range x {
			policyDocuments(fmt.Sprintf("%s[%d]", path, i), e, found)
		}
	}
}

// limitUsages measures one run against every limit above.
func limitUsages(t *testing.T, res *mockcloud.Result) []usage {
	t.Helper()
	var out []usage
	var cur string
	add := func(what string, used, limit int) { out = append(out, usage{what, used, limit, cur}) }
	roleInline, userInline, groupInline := map[string]int{}, map[string]int{}, map[string]int{}
	perRole, perUser, perGroup, groupsPerUser := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	rolesByName := map[string]bool{}

	for _, r := range res.Resources {
		if !strings.HasPrefix(r.Type, "aws:") {
			continue
		}
		cur = r.URN
		docs := map[string]string{}
		for k := range r.Inputs {
			policyDocuments(string(k), r.In(string(k)), docs)
		}
		if strings.HasPrefix(r.Type, "aws:iam/") {
			for path, doc := range docs {
				n := iamChars(doc)
				switch r.Type + " " + path {
				case "aws:iam/policy:Policy policy":
					add("managed policy "+r.Name, n, iamManagedPolicyChars)
				case "aws:iam/role:Role assumeRolePolicy":
					add("trust policy of role "+r.Name, n, iamTrustPolicyChars)
				case "aws:iam/rolePolicy:RolePolicy policy":
					roleInline[r.Str("role")] += n
				case "aws:iam/userPolicy:UserPolicy policy":
					userInline[r.Str("user")] += n
				case "aws:iam/groupPolicy:GroupPolicy policy":
					groupInline[r.Str("group")] += n
				default:
					if strings.HasPrefix(r.Type+" "+path, "aws:iam/role:Role inlinePolicies[") {
						roleInline[r.Out("name").(string)] += n
						continue
					}
					t.Errorf("%s: %s %s holds a policy document at %s that no IAM limit covers: add it", res.Stack, r.Type, r.Name, path)
				}
			}
		} else {
			for path, doc := range docs {
				lim, ok := resourcePolicyLimits[r.Type]
				if !ok {
					t.Errorf("%s: %s %s holds a policy document at %s with no known size limit: add it", res.Stack, r.Type, r.Name, path)
					continue
				}
				var compact strings.Builder
				var v any
				_ = json.Unmarshal([]byte(doc), &v)
				b, _ := json.Marshal(v)
				compact.Write(b)
				add(fmt.Sprintf("%s %s %s (%s)", r.Type, r.Name, path, lim.page), compact.Len(), lim.limit)
			}
		}
		switch r.Type {
		case "aws:iam/role:Role":
			name, _ := r.Out("name").(string)
			rolesByName[name] = true
			perRole[name] += len(mockcloud.List(r.In("managedPolicyArns")))
		case "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
			perRole[r.Str("role")]++
		case "aws:iam/userPolicyAttachment:UserPolicyAttachment":
			perUser[r.Str("user")]++
		case "aws:iam/groupPolicyAttachment:GroupPolicyAttachment":
			perGroup[r.Str("group")]++
		case "aws:iam/policyAttachment:PolicyAttachment":
			for _, role := range mockcloud.Strings(r.In("roles")) {
				perRole[role]++
			}
			for _, user := range mockcloud.Strings(r.In("users")) {
				perUser[user]++
			}
			for _, group := range mockcloud.Strings(r.In("groups")) {
				perGroup[group]++
			}
		case "aws:iam/userGroupMembership:UserGroupMembership":
			groupsPerUser[r.Str("user")] += len(mockcloud.List(r.In("groups")))
		case "aws:iam/groupMembership:GroupMembership":
			for _, user := range mockcloud.Strings(r.In("users")) {
				groupsPerUser[user]++
			}
		case "aws:ec2/instance:Instance":
			raw, err := base64.StdEncoding.DecodeString(r.Str("userDataBase64"))
			if err != nil || r.Str("userData") != "" {
				t.Errorf("%s: host user data is not base64 (%v): the raw size is unknown", res.Stack, err)
			}
			// EC2 counts the payload it decodes: here the gzipped bytes.
			add("user data of "+r.Name+" (gzipped, raw)", len(raw), userDataRawBytes)
			add("security groups of "+r.Name, len(mockcloud.List(r.In("vpcSecurityGroupIds"))), sgPerInterface)
		case "aws:ssm/parameter:Parameter":
			// release.go chooses the tier by size (tierFor): a value over
			// the standard tier's 4 KB is stored in the advanced tier, so
			// the ceiling with margin is the advanced tier's 8 KB, and a
			// standard-tier value must fit 4 KB exactly.
			n := len(r.Str("value"))
			switch tier := r.Str("tier"); tier {
			case "Advanced":
			case "", "Standard":
				if n > ssmStandardValueBytes {
					t.Errorf("%s: parameter %s is %d bytes in the standard tier (limit %d)", res.Stack, r.Str("name"), n, ssmStandardValueBytes)
				}
				if float64(n) > (1-limitMargin)*ssmStandardValueBytes {
					ssmNearTier[r.Str("name")] = n
				}
			default:
				t.Errorf("%s: parameter %s tier %q", res.Stack, r.Name, tier)
			}
			add(fmt.Sprintf("SSM parameter %s (%s tier)", r.Str("name"), r.Str("tier")), n, ssmAdvancedValueBytes)
		case "aws:cloudfront/function:Function":
			add("CloudFront Function "+r.Name, len(r.Str("code")), cloudFrontFunctionSize)
		}
	}
	cur = ""
	for role, n := range roleInline {
		add("inline policies of role "+role, n, iamRoleInlineChars)
	}
	for user, n := range userInline {
		add("inline policies of user "+user, n, iamUserInlineChars)
	}
	for group, n := range groupInline {
		add("inline policies of group "+group, n, iamGroupInlineChars)
	}
	for role, n := range perRole {
		add("managed policies attached to role "+role, n, iamManagedPerRole)
	}
	for user, n := range perUser {
		add("managed policies attached to user "+user, n, iamManagedPerUser)
	}
	for group, n := range perGroup {
		add("managed policies attached to group "+group, n, iamManagedPerGroup)
	}
	for user, n := range groupsPerUser {
		add("groups of user "+user, n, iamGroupsPerUser)
	}
	out = append(out, securityGroupRules(t, res)...)
	if len(rolesByName) == 0 {
		t.Errorf("%s: no role found: is the test reading the right resources?", res.Stack)
	}
	return out
}

// securityGroupRules counts each security group's inbound and outbound
// rules, a prefix-list rule by the list's weight, inline rules included.
func securityGroupRules(t *testing.T, res *mockcloud.Result) []usage {
	t.Helper()
	in, out := map[string]int{}, map[string]int{}
	weight := func(r mockcloud.Resource) int {
		if r.Str("prefixListId") != "" {
			return prefixListWeight
		}
		return 1
	}
	var groups []string
	for _, r := range res.Resources {
		switch r.Type {
		case "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":
			groups = append(groups, r.ID)
			in[r.ID] += len(mockcloud.List(r.In("ingress")))
			out[r.ID] += len(mockcloud.List(r.In("egress")))
		case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
			in[r.Str("securityGroupId")] += weight(r)
		case "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":
			out[r.Str("securityGroupId")] += weight(r)
		case "aws:ec2/securityGroupRule:SecurityGroupRule":
			t.Errorf("%s: %s: count aws:ec2/securityGroupRule too", res.Stack, r.Name)
		}
	}
	var u []usage
	for _, g := range groups {
		u = append(u, usage{what: "inbound rules of security group " + g, used: in[g], limit: sgRulesPerDirection},
			usage{what: "outbound rules of security group " + g, used: out[g], limit: sgRulesPerDirection})
	}
	return u
}

// movesToFoundation reports whether a resource belongs to the deploy
// identity (slipway:deployer:Deployer), which the foundation project
// takes over from the app stacks (issue 12's foundation work; its policies
// are sized there). Nothing is exempt once the app stacks lose it.
func movesToFoundation(res *mockcloud.Result, urn string) bool {
	byURN := res.ByURN()
	for r, ok := byURN[urn]; ok; r, ok = byURN[r.Parent] {
		if r.Type == "slipway:deployer:Deployer" {
			return true
		}
	}
	return false
}

// Every limit, in every supported region, for dev, prod and pr-7.
func TestLimitsWithMarginInEveryRegion(t *testing.T) {
	regions := stacks.SupportedRegions()
	if len(regions) < 10 {
		t.Fatalf("only %d supported regions: %v", len(regions), regions)
	}
	worst := map[string]usage{}
	for _, region := range regions {
		for _, stack := range allStacks {
			res := deploy(t, stack, func(f *stacks.Files) { f.Values["aws:region"] = region })
			us := limitUsages(t, res)
			kinds := map[string]bool{}
			for _, u := range us {
				kind := strings.Fields(u.what)[0]
				kinds[kind] = true
				if key := stack + " " + u.what; worst[key].limit == 0 ||
					float64(u.used)/float64(u.limit) > float64(worst[key].used)/float64(worst[key].limit) {
					w := u
					w.what += " [" + region + "]"
					worst[key] = w
				}
				if !u.ok() && movesToFoundation(res, u.urn) {
					t.Logf("%s in %s: %s is %d of %d: the deploy identity moves to the foundation project, whose tests must hold it",
						stack, region, u.what, u.used, u.limit)
					continue
				}
				if !u.ok() && strings.HasPrefix(u.what, "inbound rules of security group ") && u.used == prefixListWeight {
					// The CloudFront prefix list alone is 55 of the default
					// 60: the only margin is a quota increase (Service
					// Quotas, Amazon VPC, "Inbound or outbound rules per
					// security group", L-0EA8095F). Pinned at exactly that
					// one rule: any other inbound rule on the host group
					// fails here until the quota is raised.
					continue
				}
				if !u.ok() {
					t.Errorf("%s in %s: %s is %d of %d (%.1f %%): less than %.0f %% to spare",
						stack, region, u.what, u.used, u.limit, 100*float64(u.used)/float64(u.limit), 100*limitMargin)
				}
			}
			// Each kind of limit was measured, so a renamed input cannot
			// make a check pass by measuring nothing.
			for _, kind := range []string{"managed", "trust", "inline", "user", "SSM", "CloudFront", "inbound", "outbound", "security",
				"aws:s3/bucketPolicy:BucketPolicy", "aws:sqs/queuePolicy:QueuePolicy", "aws:sns/topicPolicy:TopicPolicy", "aws:kms/key:Key"} {
				if !kinds[kind] {
					t.Errorf("%s in %s: nothing measured for %q limits", stack, region, kind)
				}
			}
		}
	}
	keys := make([]string, 0, len(worst))
	for k := range worst {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := worst[keys[i]], worst[keys[j]]
		return float64(a.used)/float64(a.limit) > float64(b.used)/float64(b.limit)
	})
	for name, n := range ssmNearTier {
		t.Logf("note: SSM parameter %s is %d bytes, within 10 %% of the standard tier's 4 KB: it moves to the advanced tier when it grows", name, n)
	}
	for _, k := range keys[:min(12, len(keys))] {
		w := worst[k]
		t.Logf("%5.1f %%  %s: %d of %d", 100*float64(w.used)/float64(w.limit), k, w.used, w.limit)
	}
}

// The measure itself can fail: a policy over the margin, a prefix list of
// unknown weight and an unclassified policy document are reported.
func TestLimitMeasuresCanFail(t *testing.T) {
	if (usage{what: "x", used: 5530, limit: iamManagedPolicyChars}).ok() || !(usage{what: "x", used: 5529, limit: iamManagedPolicyChars}).ok() {
		t.Error("the 10 % margin of a 6,144-character policy is not at 5,529")
	}
	if n := iamChars("{ \"Statement\": [ ] }\n"); n != 16 {
		t.Errorf("iamChars counts white space: %d", n)
	}
	docs := map[string]string{}
	policyDocuments("", map[string]any{"a": []any{`{"Statement":[]}`}, "b": `{"Version":"x"}`, "c": "plain"}, docs)
	if len(docs) != 1 || docs["a[0]"] == "" {
		t.Errorf("policy documents found: %v", docs)
	}
}
