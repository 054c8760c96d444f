package plan

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"slipway/internal/mockcloud"
)

func rec(typ string, in map[string]any) mockcloud.Resource {
	m := resource.NewPropertyMapFromMap(in)
	return mockcloud.Resource{Type: typ, Name: "x", Custom: true, Inputs: m, Outputs: m}
}

// Every detail line renders on empty inputs (other branches' types are not
// in this branch's program) and the edge and ops lines say what a reviewer
// needs.
func TestDetailsOfEveryType(t *testing.T) {
	d := &describer{byID: map[string]mockcloud.Resource{}}
	for typ := range details {
		_ = d.describe(rec(typ, map[string]any{}))
	}
	cases := []struct {
		r    mockcloud.Resource
		want []string
	}{
		{rec("aws:cloudfront/distribution:Distribution", map[string]any{
			"aliases": []any{"example.com"}, "priceClass": "PriceClass_100", "defaultRootObject": "index.html",
			"viewerCertificate": map[string]any{"acmCertificateArn": "arn:aws:acm:us-east-1:1:certificate/x",
				"minimumProtocolVersion": "TLSv1.2_2021", "sslSupportMethod": "sni-only"},
			"origins": []any{map[string]any{"originId": "site", "originAccessControlId": "E1"},
				map[string]any{"originId": "api", "customOriginConfig": map[string]any{"originProtocolPolicy": "http-only"}}},
			"defaultCacheBehavior": map[string]any{"targetOriginId": "site", "viewerProtocolPolicy": "redirect-to-https",
				"cachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
			"orderedCacheBehaviors": []any{map[string]any{"pathPattern": "/api/*", "targetOriginId": "api",
				"viewerProtocolPolicy": "https-only", "cachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"}},
		}), []string{"example.com", "TLSv1.2_2021 sni-only", "origin site (S3+OAC)", "origin api (http-only)",
			"*→site redirect-to-https cache CachingOptimized", "/api/*→api https-only cache CachingDisabled"}},
		{rec("aws:sqs/queue:Queue", map[string]any{"sqsManagedSseEnabled": true, "visibilityTimeoutSeconds": 180,
			"messageRetentionSeconds": 345600, "redrivePolicy": `{"deadLetterTargetArn":"arn:x","maxReceiveCount":5}`}),
			[]string{"SSE-SQS", "visibility 180s", "retention 4 d", "DLQ after 5 receives"}},
		{rec("aws:ecr/repository:Repository", map[string]any{"imageTagMutability": "IMMUTABLE",
			"imageScanningConfiguration": map[string]any{"scanOnPush": true}}), []string{"tags immutable", "scan on push"}},
		{rec("aws:cloudwatch/logGroup:LogGroup", map[string]any{}), []string{"NEVER EXPIRES"}},
		{rec("aws:acm/certificate:Certificate", map[string]any{"domainName": "example.com", "validationMethod": "DNS"}),
			[]string{"example.com", "DNS validation"}},
	}
	for _, c := range cases {
		got := d.describe(c.r)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", c.r.Type, got, w)
			}
		}
	}
}
