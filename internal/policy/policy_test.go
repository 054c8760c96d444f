package policy

import (
	"regexp"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// violation makes one rule fire: a profile whose good world the rule
// passes, and a change to that world that breaks it.
type violation struct {
	profile stacks.Profile
	break_  func(w *world)
}

// inFoundation marks a violation of the foundation's world
// (goodFoundation) by its empty profile: the foundation has none.
const inFoundation stacks.Profile = ""

// worldFor is the good world a violation starts from.
func (v violation) world() *world {
	if v.profile == inFoundation {
		return goodFoundation()
	}
	return good(v.profile)
}

var (
	dev    = stacks.Dev
	prod   = stacks.Prod
	review = stacks.Review
)

// violations has one entry per rule; TestEveryRuleHasAViolatingFixture
// makes sure no rule is added without one.
var violations = map[string]violation{
	"SLW-S3-001": {dev, func(w *world) { w.get(tBucketPAB, "site").set("blockPublicPolicy", false) }},
	"SLW-S3-002": {dev, func(w *world) { w.drop(tBucketSSE, "site") }},
	"SLW-S3-003": {dev, func(w *world) {
		w.get(tBucketPolicy, "site").set("policy", doc(map[string]any{"Effect": "Allow",
			"Principal": map[string]any{"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject", "Resource": "*",
			"Condition": map[string]any{"StringEquals": map[string]any{"AWS:SourceArn": distARN}}}))
	}},
	"SLW-S3-004": {dev, func(w *world) {
		w.get(tBucketPolicy, "site").set("policy", doc(
			map[string]any{"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
			denyInsecure("s3:*", "*")))
	}},
	"SLW-CF-001": {dev, func(w *world) {
		w.get(tDistribution, "site").set("orderedCacheBehaviors[0].viewerProtocolPolicy", "allow-all")
	}},
	"SLW-CF-002": {dev, func(w *world) {
		w.get(tDistribution, "site").set("viewerCertificate.minimumProtocolVersion", "TLSv1.2_2019")
	}},
	"SLW-CF-003": {dev, func(w *world) { w.get(tDistribution, "site").set("viewerCertificate.sslSupportMethod", "vip") }},
	"SLW-CF-004": {dev, func(w *world) {
		w.get(tDistribution, "site").set("origins[1].customOriginConfig.originSslProtocols", []any{"TLSv1", "TLSv1.2"})
	}},
	"SLW-CF-005": {dev, func(w *world) {
		w.get(tHeadersPolicy, "security").set("securityHeadersConfig.strictTransportSecurity.accessControlMaxAgeSec", 300)
	}},
	"SLW-CF-006": {dev, func(w *world) { w.get(tDistribution, "site").set("defaultRootObject", nil) }},
	"SLW-CF-007": {prod, func(w *world) {
		w.get(tLogDelivery, "site-access-logs").set("resourceArn", "arn:aws:cloudfront::"+acct+":distribution/EOTHER")
	}},
	"SLW-CF-008": {dev, func(w *world) { w.get(tDistribution, "site").set("origins[0].originAccessControlId", nil) }},
	"SLW-CF-009": {dev, func(w *world) {
		w.get(tDistribution, "site").set("origins[0].domainName", "someone-elses.s3.us-east-1.amazonaws.com")
	}},
	"SLW-ACM-001": {dev, func(w *world) { w.get(tCertificate, "site").set("validationMethod", "EMAIL") }},
	"SLW-EC2-001": {dev, func(w *world) { w.get(tInstance, "host").set("metadataOptions.httpTokens", "optional") }},
	"SLW-EC2-002": {dev, func(w *world) { w.get(tInstance, "host").set("rootBlockDevice.encrypted", false) }},
	"SLW-EC2-003": {dev, func(w *world) {
		w.add("aws:ec2/securityGroupRule:SecurityGroupRule", "ssh", "sgr-ssh", map[string]any{"type": "ingress",
			"protocol": "tcp", "fromPort": 0, "toPort": 1024, "cidrBlocks": []any{"10.0.0.0/8"}}, nil)
	}},
	"SLW-EC2-004": {dev, func(w *world) {
		w.get("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "network-http").set("cidrIpv6", "::/0")
	}},
	"SLW-EC2-005":  {dev, func(w *world) { w.drop(tDefaultSG, "network-default") }},
	"SLW-EC2-006":  {prod, func(w *world) { w.drop(tFlowLog, "network") }},
	"SLW-EC2-007":  {prod, func(w *world) { w.get(tInstance, "host").set("monitoring", false) }},
	"SLW-EC2-008":  {dev, func(w *world) { w.get(tSubnet, "network-public-0").set("mapPublicIpOnLaunch", true) }},
	"SLW-DATA-001": {prod, func(w *world) { w.get(tVolume, "data").retain = false }},
	"SLW-DATA-002": {prod, func(w *world) { w.get(tDLM, "data").set("policyDetails.schedules[0].retainRule.count", 3) }},
	"SLW-ECR-001":  {dev, func(w *world) { w.get(tRepository, "api").set("imageTagMutability", "MUTABLE") }},
	"SLW-ECR-002":  {dev, func(w *world) { w.get(tRepository, "api").set("imageScanningConfiguration", nil) }},
	"SLW-ECR-003":  {dev, func(w *world) { w.drop(tECRLifecycle, "api") }},
	"SLW-SQS-001":  {dev, func(w *world) { w.get(tQueue, "dlq").set("sqsManagedSseEnabled", false) }},
	"SLW-SQS-002":  {dev, func(w *world) { w.get(tQueue, "work").set("redrivePolicy", nil) }},
	"SLW-SQS-003":  {dev, func(w *world) { w.drop(tQueuePolicy, "dlq") }},
	"SLW-IAM-001": {dev, func(w *world) {
		w.get(tRolePolicy, "host").set("policy", doc(map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}))
	}},
	"SLW-IAM-002": {inFoundation, func(w *world) {
		w.add(tLoginProfile, "ci-user", "slipway-ci-dev", map[string]any{"user": "slipway-ci-dev"}, nil)
	}},
	"SLW-IAM-003": {inFoundation, func(w *world) {
		w.add(tUserAttachment, "ci-user", "x", map[string]any{"user": "slipway-ci-dev", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, nil)
	}},
	"SLW-IAM-004": {dev, func(w *world) { w.get(tInstanceProfile, "host").set("path", "/") }},
	"SLW-IAM-005": {inFoundation, func(w *world) {
		w.get(tRole, "slipway-dev-deploy").set("assumeRolePolicy", doc(map[string]any{
			"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
			"Principal": map[string]any{"Federated": "arn:aws:iam::" + acct + ":oidc-provider/token.actions.githubusercontent.com"},
			"Condition": map[string]any{
				"StringEquals": map[string]any{"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
				"StringLike":   map[string]any{"token.actions.githubusercontent.com:sub": "repo:*"},
			}}))
	}},
	"SLW-IAM-006": {dev, func(w *world) {
		w.get(tRole, "host").set("assumeRolePolicy", doc(map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"AWS": "*"}, "Action": "sts:AssumeRole"}))
	}},
	"SLW-IAM-007": {review, func(w *world) { w.get(tRole, "host").set("permissionsBoundary", nil) }},
	"SLW-LOG-001": {dev, func(w *world) { w.get(tLogGroup, "api").set("retentionInDays", nil) }},
	"SLW-CW-001":  {dev, func(w *world) { w.get(tAlarm, "host-recover").set("alarmActions", []any{}) }},
	"SLW-CW-002": {dev, func(w *world) {
		w.get(tAlarm, "host-recover").set("alarmActions", []any{"arn:aws:automate:us-east-1:ec2:recover"})
	}},
	"SLW-SSM-001": {dev, func(w *world) { w.get(tParameter, "db-password").set("type", "String") }},
	"SLW-SSM-002": {dev, func(w *world) { w.get(tParameter, "release").set("name", "/slipway/prod/release/id") }},
	"SLW-REV-001": {review, func(w *world) { w.get(tVolume, "data").protect = true }},
	"SLW-REV-002": {review, func(w *world) { w.get(tBucketV2, "site").set("forceDestroy", false) }},
	"SLW-REV-003": {review, func(w *world) {
		w.add(tUser, "deploy", "slipway-deploy", map[string]any{"path": "/slipway/"}, nil)
	}},
	"SLW-FND-001": {inFoundation, func(w *world) {
		w.get(tRole, "slipway-dev-deploy").set("assumeRolePolicy", trust("repo:acme/shop:pull_request"))
	}},
	"SLW-FND-002": {inFoundation, func(w *world) {
		w.get(tKey, "dev-state").set("policy", doc(map[string]any{"Sid": "EnableIAMPolicies", "Effect": "Allow",
			"Principal": map[string]any{"AWS": "arn:aws:iam::" + acct + ":root"}, "Action": "kms:*", "Resource": "*"}))
	}},
	"SLW-FND-003": {inFoundation, func(w *world) {
		w.get(tPolicy, "slipway-ci-dev-deploy-services").set("policy", doc(map[string]any{"Sid": "SsmDocuments", "Effect": "Allow",
			"Action": []any{"ssm:*Document"}, "Resource": "arn:aws:ssm:us-east-1:" + acct + ":document/slipway-dev-*"}))
	}},
	"SLW-FND-004": {inFoundation, func(w *world) {
		w.get(tPolicy, "slipway-ci-dev-deploy-services").set("policy", doc(map[string]any{"Sid": "IamRoles", "Effect": "Allow",
			"Action": []any{"iam:UpdateAssumeRolePolicy"}, "Resource": "arn:aws:iam::" + acct + ":role/slipway/slipway-dev-*"}))
	}},
	"SLW-FND-005": {inFoundation, func(w *world) { w.drop(tBucketVersion, "dev-state") }},
	"SLW-APP-001": {dev, func(w *world) {
		w.add(tDocument, "rollout", "slipway-dev-rollout-1a2b", map[string]any{"documentType": "Command"}, nil)
	}},
	"SLW-APP-002": {prod, func(w *world) { w.get(tAWSProvider, "aws-us-east-1").set("allowedAccountIds", nil) }},
	"SLW-SEC-001": {dev, func(w *world) {
		w.get(tInstance, "host").set("userData", "#cloud-config\nwrite_files:\n- content: DATABASE_PASSWORD="+testSecret+"\n")
	}},
	"SLW-SEC-002": {dev, func(w *world) {
		w.outputs["databaseUrl"] = mockcloud.Output{Value: "postgres://app:" + testSecret + "@db/app"}
	}},
	"SLW-SEC-003": {dev, func(w *world) {
		w.get(tDistribution, "site").set("origins[1].customHeaders", []any{
			map[string]any{"name": "X-Origin-Verify", "value": testSecret}})
	}},
}

func TestBaselineShape(t *testing.T) {
	rules := Rules()
	if len(rules) < 30 {
		t.Fatalf("%d rules, want at least 30", len(rules))
	}
	id := regexp.MustCompile(`^SLW-[A-Z0-9]+-\d{3}$`)
	ref := regexp.MustCompile(`^([A-Za-z0-9]+\.\d+|CKV2?_AWS_\d+|Slipway design.*)`)
	seen := map[string]bool{}
	for _, r := range rules {
		if !id.MatchString(r.ID) || seen[r.ID] {
			t.Errorf("rule id %q malformed or duplicated", r.ID)
		}
		seen[r.ID] = true
		if r.Severity != Error && r.Severity != Warning {
			t.Errorf("%s: severity %q", r.ID, r.Severity)
		}
		if !ref.MatchString(r.Reference) {
			t.Errorf("%s: reference %q is neither a Security Hub control, a Checkov id nor a design rule", r.ID, r.Reference)
		}
		if r.Title == "" || r.Fix == "" || len(r.Types) == 0 || len(r.Inputs) == 0 || r.check == nil {
			t.Errorf("%s: title, fix, types, inputs and check are all required", r.ID)
		}
		if strings.Contains(r.Fix, "\n") {
			t.Errorf("%s: fix must be one line", r.ID)
		}
	}
}

func TestEveryRuleHasAViolatingFixture(t *testing.T) {
	for _, r := range Rules() {
		if _, ok := violations[r.ID]; !ok {
			t.Errorf("%s has no violating fixture", r.ID)
		}
	}
	for id := range violations {
		if _, ok := ruleByID(id); !ok {
			t.Errorf("fixture for unknown rule %s", id)
		}
	}
}

func ruleByID(id string) (Rule, bool) {
	for _, r := range Rules() {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// Each rule passes on the good world of its profile and fails once the
// world is broken the way its fixture says.
func TestRulesPassOnGoodFixturesAndFireOnViolations(t *testing.T) {
	for id, v := range violations {
		t.Run(id, func(t *testing.T) {
			r, ok := ruleByID(id)
			if !ok {
				t.Fatal("no such rule")
			}
			ok1 := r.Evaluate(v.world().stackOf())
			if ok1.Status != Pass {
				t.Fatalf("good %s fixture: status %s (%s) findings %v", v.profile, ok1.Status, ok1.Reason, ok1.Findings)
			}
			w := v.world()
			v.break_(w)
			bad := r.Evaluate(w.stackOf())
			if bad.Status != Fail || len(bad.Findings) == 0 {
				t.Fatalf("violating fixture: status %s, findings %v", bad.Status, bad.Findings)
			}
			for _, f := range bad.Findings {
				if f.Message == "" || f.Name == "" {
					t.Errorf("finding without name or message: %+v", f)
				}
			}
		})
	}
}

// The good worlds pass every rule that applies to their profile, so the
// fixtures are a consistent picture of the whole merged program.
func TestGoodWorldsPassTheWholeBaseline(t *testing.T) {
	for _, p := range []stacks.Profile{dev, prod, review} {
		for _, r := range Evaluate(good(p).stackOf()) {
			if r.Status == Fail {
				t.Errorf("%s: %s fails: %v", p, r.ID, r.Findings)
			}
		}
	}
	for _, r := range Evaluate(goodFoundation().stackOf()) {
		if r.Status == Fail {
			t.Errorf("foundation: %s fails: %v", r.ID, r.Findings)
		}
	}
}

func TestNotApplicableIsNotAPass(t *testing.T) {
	empty := Stack{Name: "dev", Profile: dev}
	results := Evaluate(empty)
	s := Summarize(results)
	if s.Fail != 0 {
		t.Fatalf("empty stack fails: %+v", results)
	}
	for _, r := range results {
		if r.ID == "SLW-S3-001" && (r.Status != NotApplicable || !strings.Contains(r.Reason, tBucketV2)) {
			t.Errorf("S3 rule on a stack without buckets: %s %q", r.Status, r.Reason)
		}
		if r.ID == "SLW-EC2-006" && (r.Status != NotApplicable || !strings.Contains(r.Reason, "prod")) {
			t.Errorf("prod-only rule on dev: %s %q", r.Status, r.Reason)
		}
	}
	if s.NotApplicable < 40 || s.Pass+s.Fail+s.NotApplicable != len(results) {
		t.Errorf("summary %+v of %d results", s, len(results))
	}
	// A custom-domain rule on a default-certificate distribution is n/a,
	// with the reason.
	w := good(dev)
	w.get(tDistribution, "site").set("viewerCertificate", map[string]any{"cloudfrontDefaultCertificate": true})
	r, _ := ruleByID("SLW-CF-002")
	if got := r.Evaluate(w.stackOf()); got.Status != NotApplicable || !strings.Contains(got.Reason, "default") {
		t.Errorf("CF-002 on default certificate: %s %q", got.Status, got.Reason)
	}
}

// A secret wrapped as a secret is fine; the same value in plain text is not.
func TestSecretsInsideSecretsAreFine(t *testing.T) {
	w := good(dev)
	w.get(tDistribution, "site").set("origins[1].customHeaders", []any{
		map[string]any{"name": "X-Origin-Verify", "value": resource.MakeSecret(resource.NewProperty(testSecret))}})
	r, _ := ruleByID("SLW-SEC-003")
	if got := r.Evaluate(w.stackOf()); got.Status != Pass {
		t.Fatalf("secret-wrapped header flagged: %v", got.Findings)
	}
}

// SLW-CF-007's other ways to fail: a source nobody delivers, a delivery to
// a destination that does not exist, and no logging at all.
func TestAccessLogsNeedADelivery(t *testing.T) {
	r, _ := ruleByID("SLW-CF-007")
	for name, break_ := range map[string]func(w *world){
		"no delivery":       func(w *world) { w.drop(tLogDelivered, "site-access-logs") },
		"no destination":    func(w *world) { w.drop(tLogDeliveryTo, "site-access-logs") },
		"other source":      func(w *world) { w.get(tLogDelivered, "site-access-logs").set("deliverySourceName", "someone-else") },
		"no source":         func(w *world) { w.drop(tLogDelivery, "site-access-logs") },
		"source not ACCESS": func(w *world) { w.get(tLogDelivery, "site-access-logs").set("logType", "CONNECTION_LOGS") },
	} {
		w := good(prod)
		break_(w)
		if res := r.Evaluate(w.stackOf()); res.Status != Fail {
			t.Errorf("%s: status %s", name, res.Status)
		}
	}
	w := good(prod)
	w.drop(tLogDelivery, "site-access-logs")
	w.get(tDistribution, "site").set("loggingConfig", map[string]any{"bucket": "logs.s3.amazonaws.com"})
	if res := r.Evaluate(w.stackOf()); res.Status != Pass {
		t.Errorf("legacy S3 logging: status %s %v", res.Status, res.Findings)
	}
}
