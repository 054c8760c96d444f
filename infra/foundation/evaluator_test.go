package foundation_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// A small IAM evaluator: enough of IAM's policy evaluation logic to decide
// the calls the app program makes and the calls an attacker would make,
// against the foundation's CI policies, boundaries and key policies.
// (Moved here from infra/deploypolicy_test.go with the policy itself.)
//
// IAM decides one request by evaluating each resource the action's
// authorization names (the Service Authorization Reference, "Actions,
// resources, and condition keys for <service>", lists them per action):
// the request is allowed only if every such resource is allowed. The
// request builders below (createAssociation, sendCommand, associateAddress,
// changeRecordSets) model, per call, which resources and condition keys
// IAM evaluates; each says beside it which AWS page states the fact.

// iamStatement is one statement with every field the evaluator reads.
type iamStatement struct {
	Sid                                      string
	Effect                                   string
	Principal                                any
	Action, NotAction, Resource, NotResource any
	Condition                                map[string]map[string]any
}

type iamDoc struct{ Statement []iamStatement }

// iamCall is one authorization: an action on one resource ARN with the
// request context AWS evaluates conditions against (tags of the resource
// as aws:ResourceTag/<key>, of the request as aws:RequestTag/<key>, and
// service keys). Principal is set for resource policies (key, bucket).
type iamCall struct {
	Action, ARN string
	Context     map[string][]string
	Principal   string
}

// iamGlob is IAM's wildcard match (* any run, ? one character); fold
// makes it case-insensitive, as action names are.
func iamGlob(pattern, s string, fold bool) bool {
	re := regexp.QuoteMeta(pattern)
	re = strings.ReplaceAll(strings.ReplaceAll(re, `\*`, ".*"), `\?`, ".")
	if fold {
		re = "(?i)" + re
	}
	return regexp.MustCompile("^" + re + "$").MatchString(s)
}

// conditionHolds evaluates one condition operator on one key, as IAM's
// "Condition operators" page describes them: a single-valued operator is
// true when any request value matches any policy value; ForAllValues:
// when every request value matches some policy value (also when the key
// is absent or empty, which is why a Null test must accompany it);
// ...IfExists: true when the key is absent; the Not operators: true when
// no value matches (and, without IfExists, also when the key is absent).
func conditionHolds(t *testing.T, op, key string, want []string, ctx map[string][]string) bool {
	t.Helper()
	got, present := ctx[key]
	present = present && len(got) > 0
	if base, ok := strings.CutSuffix(op, "IfExists"); ok {
		if !present {
			return true
		}
		op = base
	}
	match := func(op string) func(w, g string) bool {
		switch op {
		case "StringEquals", "ArnEquals":
			return func(w, g string) bool { return w == g }
		case "StringLike", "ArnLike":
			return func(w, g string) bool { return iamGlob(w, g, false) }
		case "Bool":
			return strings.EqualFold
		}
		t.Fatalf("evaluator: condition operator %s not supported", op)
		return nil
	}
	anyMatch := func(m func(w, g string) bool, g string) bool {
		return slices.ContainsFunc(want, func(w string) bool { return m(w, g) })
	}
	if base, ok := strings.CutPrefix(op, "ForAllValues:"); ok {
		m := match(base)
		for _, g := range got {
			if !anyMatch(m, g) {
				return false
			}
		}
		return true
	}
	switch op {
	case "Null":
		return (want[0] == "true") == !present
	case "StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike":
		m := match(strings.Replace(op, "Not", "", 1))
		return !slices.ContainsFunc(got, func(g string) bool { return anyMatch(m, g) })
	}
	m := match(op)
	return slices.ContainsFunc(got, func(g string) bool { return anyMatch(m, g) })
}

func principalMatches(p any, who string) bool {
	if p == nil {
		return true
	}
	if s, ok := p.(string); ok {
		return s == "*"
	}
	m, _ := p.(map[string]any)
	for _, ids := range m {
		for _, id := range strs(ids) {
			if id == "*" || id == who {
				return true
			}
		}
	}
	return false
}

func statementMatches(t *testing.T, st iamStatement, c iamCall) bool {
	t.Helper()
	matchAny := func(patterns any, s string, fold bool) bool {
		return slices.ContainsFunc(strs(patterns), func(p string) bool { return iamGlob(p, s, fold) })
	}
	if st.Action != nil && !matchAny(st.Action, c.Action, true) || st.NotAction != nil && matchAny(st.NotAction, c.Action, true) {
		return false
	}
	if st.Resource != nil && !matchAny(st.Resource, c.ARN, false) || st.NotResource != nil && matchAny(st.NotResource, c.ARN, false) {
		return false
	}
	if st.Principal != nil && !principalMatches(st.Principal, c.Principal) {
		return false
	}
	ctx := c.Context
	if c.Principal != "" {
		ctx = merge(ctx, map[string][]string{"aws:PrincipalArn": {c.Principal}})
	}
	for op, keys := range st.Condition {
		for key, values := range keys {
			if !conditionHolds(t, op, key, strs(values), ctx) {
				return false
			}
		}
	}
	return true
}

// iamAllows is IAM's decision for one authorization against one policy
// set: an explicit Deny wins, else some Allow must match, else the
// implicit deny.
func iamAllows(t *testing.T, doc iamDoc, c iamCall) (bool, string) {
	t.Helper()
	allowed, by := false, ""
	for _, st := range doc.Statement {
		if !statementMatches(t, st, c) {
			continue
		}
		if st.Effect == "Deny" {
			return false, "denied by " + st.Sid
		}
		allowed, by = true, st.Sid
	}
	if !allowed {
		return false, "no statement allows it"
	}
	return true, by
}

// request is one API request as IAM authorizes it: one authorization per
// resource the action evaluates, all of which must be allowed.
type request struct {
	What  string
	Calls []iamCall
}

// decide is IAM's decision on a request.
func decide(t *testing.T, doc iamDoc, r request) (bool, string) {
	t.Helper()
	if len(r.Calls) == 0 {
		t.Fatalf("request %s authorizes nothing", r.What)
	}
	for _, c := range r.Calls {
		if ok, why := iamAllows(t, doc, c); !ok {
			return false, c.Action + " on " + c.ARN + ": " + why
		}
	}
	return true, ""
}

func merge(ms ...map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func tagged(stack string) map[string][]string {
	if stack == "" {
		return nil
	}
	return map[string][]string{"aws:ResourceTag/stack": {stack}}
}

// createAssociation is ssm:CreateAssociation with Targets (how Slipway's
// rollout association and any attacker's would name hosts). Systems
// Manager User Guide, "Working with associations using IAM" /
// "Restricting access to associations": for associations that use
// Targets, IAM evaluates the document and the association resource; the
// instance resource is evaluated only for the deprecated InstanceId
// parameter. So the instances are NOT part of the request, whatever
// their tags, and no instance-tag condition can stop this call.
func createAssociation(region, document string, requestTags map[string][]string) request {
	return request{What: "ssm:CreateAssociation of " + document + " with Targets", Calls: []iamCall{
		{Action: "ssm:CreateAssociation", ARN: "arn:aws:ssm:" + region + ":" + acct + ":document/" + document, Context: requestTags},
		{Action: "ssm:CreateAssociation", ARN: "arn:aws:ssm:" + region + ":" + acct + ":association/*", Context: requestTags},
	}}
}

// sendCommandTargets is ssm:SendCommand with Targets. Same fact as above
// ("Restricting Run Command access based on tags", Systems Manager User
// Guide; Service Authorization Reference for Systems Manager, SendCommand:
// document, and instance only when InstanceIds names them): with Targets
// only the document is evaluated.
func sendCommandTargets(region, document string) request {
	return request{What: "ssm:SendCommand of " + document + " with Targets", Calls: []iamCall{
		{Action: "ssm:SendCommand", ARN: "arn:aws:ssm:" + region + ":" + acct + ":document/" + document},
	}}
}

// associateAddress is ec2:AssociateAddress (and DisassociateAddress).
// Service Authorization Reference, "Actions, resources, and condition keys
// for Amazon EC2", AssociateAddress: resource types elastic-ip, instance
// and network-interface, each with aws:ResourceTag. Both the address and
// the instance it is moved to are evaluated, with their own tags.
func associateAddress(region, action, eipTag, instanceTag string) request {
	return request{What: action + " of a " + eipTag + " address to a " + instanceTag + " instance", Calls: []iamCall{
		{Action: action, ARN: "arn:aws:ec2:" + region + ":" + acct + ":elastic-ip/eipalloc-0123", Context: tagged(eipTag)},
		{Action: action, ARN: "arn:aws:ec2:" + region + ":" + acct + ":instance/i-0123", Context: tagged(instanceTag)},
	}}
}

// changeRecordSets is route53:ChangeResourceRecordSets. Route 53
// Developer Guide, "Using IAM policy conditions for fine-grained access
// control": the resource is the hosted zone, and the request carries the
// multivalued keys route53:ChangeResourceRecordSetsNormalizedRecordNames
// (the batch's record names, lower case, without the trailing dot),
// ...RecordTypes and ...Actions.
func changeRecordSets(zoneID string, names []string, types []string) request {
	normalized := make([]string, len(names))
	for i, n := range names {
		normalized[i] = strings.ToLower(strings.TrimSuffix(n, "."))
	}
	return request{What: "route53:ChangeResourceRecordSets " + strings.Join(types, ",") + " " + strings.Join(names, ","), Calls: []iamCall{{
		Action: "route53:ChangeResourceRecordSets", ARN: "arn:aws:route53:::hostedzone/" + zoneID,
		Context: map[string][]string{
			"route53:ChangeResourceRecordSetsNormalizedRecordNames": normalized,
			"route53:ChangeResourceRecordSetsRecordTypes":           types,
			"route53:ChangeResourceRecordSetsActions":               {"UPSERT"},
		},
	}}}
}

// one is a request of a single authorization.
func one(action, arn string, ctx map[string][]string) request {
	return request{What: action + " on " + arn, Calls: []iamCall{{Action: action, ARN: arn, Context: ctx}}}
}

func TestIAMEvaluator(t *testing.T) {
	doc := iamDoc{Statement: []iamStatement{
		{Sid: "A", Effect: "Allow", Action: "ec2:Describe*", Resource: "*"},
		{Sid: "B", Effect: "Allow", Action: []any{"ec2:CreateTags"}, Resource: "arn:aws:ec2:*:1:instance/*",
			Condition: map[string]map[string]any{"StringLike": {"aws:ResourceTag/stack": []any{"dev", "pr-*"}},
				"StringLikeIfExists": {"aws:RequestTag/stack": []any{"dev", "pr-*"}}}},
		{Sid: "C", Effect: "Allow", NotAction: "iam:*", Resource: "arn:aws:s3:::b"},
		{Sid: "D", Effect: "Deny", Action: "s3:DeleteBucket", Resource: "*"},
		{Sid: "E", Effect: "Allow", Action: "ec2:CreateTags", Resource: "arn:aws:ec2:*:1:security-group/*",
			Condition: map[string]map[string]any{"Null": {"aws:ResourceTag/stack": "true"}}},
		{Sid: "F", Effect: "Allow", Action: "route53:ChangeResourceRecordSets", Resource: "arn:aws:route53:::hostedzone/Z1",
			Condition: map[string]map[string]any{
				"ForAllValues:StringLike": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": []any{"d.example.com", "*.d.example.com"}},
				"Null":                    {"route53:ChangeResourceRecordSetsNormalizedRecordNames": "false"}}},
		{Sid: "G", Effect: "Allow", Principal: map[string]any{"AWS": "arn:aws:iam::1:role/r"}, Action: "kms:Decrypt", Resource: "*"},
		{Sid: "H", Effect: "Deny", Principal: "*", Action: "kms:Decrypt", Resource: "*",
			Condition: map[string]map[string]any{"ArnNotLike": {"aws:PrincipalArn": []any{"arn:aws:iam::1:role/r", "arn:aws:iam::1:role/admin"}}}},
	}}
	tag := func(k, v string) map[string][]string { return map[string][]string{k: {v}} }
	names := func(n ...string) map[string][]string {
		return map[string][]string{"route53:ChangeResourceRecordSetsNormalizedRecordNames": n}
	}
	for _, tc := range []struct {
		c    iamCall
		want bool
	}{
		{iamCall{Action: "EC2:describeinstances", ARN: "*"}, true},
		{iamCall{Action: "ec2:RunInstances", ARN: "*"}, false},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:instance/i-1", tag("aws:ResourceTag/stack", "pr-7"), ""}, true},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:instance/i-1", tag("aws:ResourceTag/stack", "prod"), ""}, false},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:instance/i-1", nil, ""}, false},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:instance/i-1", map[string][]string{
			"aws:ResourceTag/stack": {"dev"}, "aws:RequestTag/stack": {"prod"}}, ""}, false},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:security-group/sg-1", nil, ""}, true},
		{iamCall{"ec2:CreateTags", "arn:aws:ec2:us-east-1:1:security-group/sg-1", tag("aws:ResourceTag/stack", "x"), ""}, false},
		{iamCall{Action: "s3:PutBucketPolicy", ARN: "arn:aws:s3:::b"}, true},
		{iamCall{Action: "iam:CreateRole", ARN: "arn:aws:s3:::b"}, false},
		{iamCall{Action: "s3:DeleteBucket", ARN: "arn:aws:s3:::b"}, false},
		{iamCall{"route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z1", names("d.example.com", "_x.d.example.com"), ""}, true},
		{iamCall{"route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z1", names("d.example.com", "example.com"), ""}, false},
		{iamCall{"route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z1", nil, ""}, false},
		{iamCall{"route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z2", names("d.example.com"), ""}, false},
		{iamCall{"kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", nil, "arn:aws:iam::1:role/r"}, true},
		{iamCall{"kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", nil, "arn:aws:iam::1:role/other"}, false},
	} {
		if got, why := iamAllows(t, doc, tc.c); got != tc.want {
			t.Errorf("%s on %s %v by %q = %v (%s), want %v", tc.c.Action, tc.c.ARN, tc.c.Context, tc.c.Principal, got, why, tc.want)
		}
	}
	// A request is allowed only when every resource it evaluates is.
	both := iamDoc{Statement: []iamStatement{{Sid: "Own", Effect: "Allow", Action: "ec2:AssociateAddress", Resource: "*",
		Condition: map[string]map[string]any{"StringEquals": {"aws:ResourceTag/stack": "dev"}}}}}
	if ok, _ := decide(t, both, associateAddress("us-east-1", "ec2:AssociateAddress", "dev", "dev")); !ok {
		t.Error("own address to own instance refused")
	}
	if ok, _ := decide(t, both, associateAddress("us-east-1", "ec2:AssociateAddress", "prod", "dev")); ok {
		t.Error("a prod address moved: the address was not evaluated")
	}
	if ok, _ := decide(t, both, associateAddress("us-east-1", "ec2:AssociateAddress", "dev", "prod")); ok {
		t.Error("an address moved to a prod instance: the instance was not evaluated")
	}
}
