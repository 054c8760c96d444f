package policy

import (
	"encoding/json"
	"slices"
	"strings"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// Type tokens of the edge: the SPA bucket, CloudFront, ACM.
const (
	tBucketV2      = "aws:s3/bucketV2:BucketV2"
	tBucket        = "aws:s3/bucket:Bucket"
	tBucketPAB     = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	tBucketSSE     = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	tBucketPolicy  = "aws:s3/bucketPolicy:BucketPolicy"
	tBucketACL     = "aws:s3/bucketAclV2:BucketAclV2"
	tBucketWebsite = "aws:s3/bucketWebsiteConfigurationV2:BucketWebsiteConfigurationV2"
	tDistribution  = "aws:cloudfront/distribution:Distribution"
	tOAC           = "aws:cloudfront/originAccessControl:OriginAccessControl"
	tOAI           = "aws:cloudfront/originAccessIdentity:OriginAccessIdentity"
	tHeadersPolicy = "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy"
	tLogDelivery   = "aws:cloudwatch/logDeliverySource:LogDeliverySource"
	tLogDeliveryTo = "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination"
	tLogDelivered  = "aws:cloudwatch/logDelivery:LogDelivery"
	tCertificate   = "aws:acm/certificate:Certificate"
)

// managedSecurityHeadersPolicy is CloudFront's managed
// "Managed-SecurityHeadersPolicy" (same id in every account).
const managedSecurityHeadersPolicy = "67f7725c-6f97-4210-82d7-5512b31e9d03"

// modernViewerTLS are the CloudFront security policies at or above
// TLSv1.2_2021.
var modernViewerTLS = []string{"TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"}

var edgeRules = []Rule{
	{
		ID: "SLW-S3-001", Severity: Error, Reference: "S3.8",
		Title: "Every bucket blocks all public access",
		Fix:   "add an s3.BucketPublicAccessBlock for the bucket with all four Block/Ignore/Restrict flags true",
		Types: []string{tBucketV2, tBucket},
		Inputs: []string{tBucketPAB + ": bucket (= bucket id), blockPublicAcls, blockPublicPolicy, " +
			"ignorePublicAcls, restrictPublicBuckets all true"},
		check: func(e *eval) {
			for _, b := range e.of(tBucketV2, tBucket) {
				pab, ok := e.find(tBucketPAB, b.ID)
				if !ok {
					pab, ok = findBy(e.peek(tBucketPAB), "bucket", b)
				}
				if !ok {
					e.fail(b, "no public access block")
					continue
				}
				for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
					if pab.In(k) != true {
						e.fail(b, "public access block %s is not true", k)
					}
				}
			}
		},
	},
	{
		ID: "SLW-S3-002", Severity: Error, Reference: "CKV_AWS_19",
		Title: "Every bucket has default server-side encryption configured",
		Fix:   "add an s3.BucketServerSideEncryptionConfigurationV2 with sseAlgorithm AES256 (or aws:kms)",
		Types: []string{tBucketV2, tBucket},
		Inputs: []string{tBucketSSE + ": bucket (= bucket id), " +
			"rules[*].applyServerSideEncryptionByDefault.sseAlgorithm in AES256, aws:kms, aws:kms:dsse"},
		check: func(e *eval) {
			for _, b := range e.of(tBucketV2, tBucket) {
				sse, ok := findBy(e.peek(tBucketSSE), "bucket", b)
				if !ok {
					e.fail(b, "no server-side encryption configuration")
					continue
				}
				good := false
				for _, r := range list(sse.In("rules")) {
					m, _ := r.(map[string]any)
					def, _ := m["applyServerSideEncryptionByDefault"].(map[string]any)
					if slices.Contains([]string{"AES256", "aws:kms", "aws:kms:dsse"}, str(def["sseAlgorithm"])) {
						good = true
					}
				}
				if !good {
					e.fail(b, "encryption configuration names no sseAlgorithm")
				}
			}
		},
	},
	{
		ID: "SLW-S3-003", Severity: Error, Reference: "S3.5",
		Title: "Every bucket denies requests made without TLS",
		Fix:   `bucket policy: Deny "s3:*" to Principal "*" when Bool aws:SecureTransport = "false"`,
		Types: []string{tBucketV2, tBucket},
		Inputs: []string{tBucketPolicy + `: bucket (= bucket id), policy (JSON) with a Deny statement, Principal "*", ` +
			`Action "s3:*", Condition {"Bool": {"aws:SecureTransport": "false"}}`},
		check: func(e *eval) {
			for _, b := range e.of(tBucketV2, tBucket) {
				p, ok := findBy(e.peek(tBucketPolicy), "bucket", b)
				if !ok {
					e.fail(b, "no bucket policy, so plain-HTTP requests are not denied")
					continue
				}
				doc, ok := parseDoc(p.In("policy"))
				if !ok || !denyInsecureTransport(doc, "s3:") {
					e.fail(b, "bucket policy does not deny aws:SecureTransport=false for s3:*")
				}
			}
		},
	},
	{
		ID: "SLW-S3-004", Severity: Error, Reference: "S3.2",
		Title: "Only CloudFront (OAC, by distribution ARN) may read a bucket; no public ACL or website endpoint",
		Fix:   `grant s3:GetObject to Service cloudfront.amazonaws.com with StringEquals AWS:SourceArn = the distribution ARN; drop ACLs and website hosting`,
		Types: []string{tBucketV2, tBucket},
		Inputs: []string{
			tBucketPolicy + ": every Allow statement has Principal.Service cloudfront.amazonaws.com and Condition AWS:SourceArn arn:aws:cloudfront::…",
			tBucketACL + ": acl not public-read, public-read-write or authenticated-read",
			tBucketWebsite + ": absent",
		},
		check: func(e *eval) {
			for _, b := range e.of(tBucketV2, tBucket) {
				if acl, ok := findBy(e.peek(tBucketACL), "bucket", b); ok {
					if a := acl.Str("acl"); a == "public-read" || a == "public-read-write" || a == "authenticated-read" {
						e.fail(b, "bucket ACL %s", a)
					}
				}
				if a := b.Str("acl"); a == "public-read" || a == "public-read-write" {
					e.fail(b, "bucket ACL %s", a)
				}
				if _, ok := findBy(e.peek(tBucketWebsite), "bucket", b); ok {
					e.fail(b, "website endpoint configured (public, plain HTTP)")
				}
				p, ok := findBy(e.peek(tBucketPolicy), "bucket", b)
				if !ok {
					continue
				}
				doc, _ := parseDoc(p.In("policy"))
				for _, st := range doc {
					if !st.allows() || st.isELBLogDelivery() { // a load balancer's log bucket (rules_ecs.go)
						continue
					}
					svc := st.principals("Service")
					if st.isPublic() || !slices.Equal(svc, []string{"cloudfront.amazonaws.com"}) {
						e.fail(b, "policy statement %q allows a principal other than cloudfront.amazonaws.com", st.Sid)
						continue
					}
					src := append(st.condition("StringEquals", "AWS:SourceArn"), st.condition("ArnLike", "AWS:SourceArn")...)
					if len(src) == 0 {
						e.fail(b, "policy statement %q lets any CloudFront distribution read (no AWS:SourceArn)", st.Sid)
					}
					for _, s := range src {
						if !strings.Contains(s, ":cloudfront::") {
							e.fail(b, "policy statement %q: AWS:SourceArn %s is not a CloudFront distribution", st.Sid, s)
						}
					}
				}
			}
		},
	},
	{
		ID: "SLW-CF-001", Severity: Error, Reference: "CloudFront.3",
		Title: "Viewers reach CloudFront over HTTPS only",
		Fix:   "set viewerProtocolPolicy redirect-to-https (or https-only) on every cache behavior",
		Types: []string{tDistribution},
		Inputs: []string{tDistribution + ": defaultCacheBehavior.viewerProtocolPolicy, " +
			"orderedCacheBehaviors[*].viewerProtocolPolicy in redirect-to-https, https-only"},
		check: func(e *eval) {
			for _, d := range e.of(tDistribution) {
				for _, b := range behaviors(d) {
					if p := str(b["viewerProtocolPolicy"]); p != "redirect-to-https" && p != "https-only" {
						e.fail(d, "behavior %s has viewerProtocolPolicy %q", behaviorName(b), p)
					}
				}
			}
		},
	},
	{
		ID: "SLW-CF-002", Severity: Error, Reference: "CKV_AWS_174",
		Title: "A custom-domain distribution uses TLSv1.2_2021 or newer and an ACM certificate from us-east-1",
		Fix:   "viewerCertificate: acmCertificateArn of a us-east-1 certificate, minimumProtocolVersion TLSv1.2_2021",
		Types: []string{tDistribution},
		Inputs: []string{tDistribution + ": viewerCertificate.acmCertificateArn (arn:aws:acm:us-east-1:…), " +
			"viewerCertificate.minimumProtocolVersion in " + strings.Join(modernViewerTLS, ", ") +
			"; distributions with viewerCertificate.cloudfrontDefaultCertificate true are not checked"},
		check: func(e *eval) {
			for _, d := range e.peek(tDistribution) {
				arn := d.Str("viewerCertificate.acmCertificateArn")
				if arn == "" && d.Str("viewerCertificate.iamCertificateId") == "" {
					continue // default *.cloudfront.net certificate: AWS fixes its TLS policy
				}
				e.checked++
				if v := d.Str("viewerCertificate.minimumProtocolVersion"); !slices.Contains(modernViewerTLS, v) {
					e.fail(d, "minimumProtocolVersion %q, want %s or newer", v, modernViewerTLS[0])
				}
				if arn == "" {
					e.fail(d, "certificate is an IAM server certificate, not ACM")
				} else if !strings.HasPrefix(arn, "arn:aws:acm:us-east-1:") && !strings.Contains(arn, ":acm:us-east-1:") {
					e.fail(d, "certificate %s is not in us-east-1, where CloudFront reads certificates", arn)
				}
				if c, ok := e.find(tCertificate, arn); ok && c.Region != "" && c.Region != "us-east-1" {
					e.fail(d, "certificate resource %s is managed by a %s provider", c.Name, c.Region)
				}
			}
			e.naReason = "no custom-domain distribution (the default *.cloudfront.net certificate's TLS policy is fixed by AWS)"
		},
	},
	{
		ID: "SLW-CF-003", Severity: Error, Reference: "CloudFront.8",
		Title:  "A custom certificate is served with SNI (no dedicated-IP custom SSL)",
		Fix:    "set viewerCertificate.sslSupportMethod sni-only (vip costs $600 a month)",
		Types:  []string{tDistribution},
		Inputs: []string{tDistribution + ": viewerCertificate.sslSupportMethod = sni-only when acmCertificateArn is set"},
		check: func(e *eval) {
			for _, d := range e.peek(tDistribution) {
				if d.Str("viewerCertificate.acmCertificateArn") == "" && d.Str("viewerCertificate.iamCertificateId") == "" {
					continue
				}
				e.checked++
				if m := d.Str("viewerCertificate.sslSupportMethod"); m != "sni-only" {
					e.fail(d, "sslSupportMethod %q", m)
				}
			}
			e.naReason = "no distribution with a custom certificate"
		},
	},
	{
		ID: "SLW-CF-004", Severity: Error, Reference: "CloudFront.10",
		Title:  "CloudFront offers custom origins TLSv1.2 only (no SSLv3, TLSv1, TLSv1.1)",
		Fix:    `set customOriginConfig.originSslProtocols ["TLSv1.2"]`,
		Types:  []string{tDistribution},
		Inputs: []string{tDistribution + ": origins[*].customOriginConfig.originSslProtocols without SSLv3, TLSv1, TLSv1.1"},
		check: func(e *eval) {
			for _, d := range e.peek(tDistribution) {
				for _, o := range list(d.In("origins")) {
					m, _ := o.(map[string]any)
					c, ok := m["customOriginConfig"].(map[string]any)
					if !ok {
						continue
					}
					e.checked++
					for _, p := range strList(c["originSslProtocols"]) {
						if p == "SSLv3" || p == "TLSv1" || p == "TLSv1.1" {
							e.fail(d, "origin %s allows %s", str(m["originId"]), p)
						}
					}
				}
			}
			e.naReason = "no custom (non-S3) origin"
		},
	},
	{
		ID: "SLW-CF-005", Severity: Error, Reference: "CKV2_AWS_32",
		Title: "The default behavior adds security headers (HSTS, nosniff, frame options)",
		Fix:   "attach Managed-SecurityHeadersPolicy or a ResponseHeadersPolicy with HSTS ≥ 1 year, contentTypeOptions, frameOptions",
		Types: []string{tDistribution},
		Inputs: []string{tDistribution + ": defaultCacheBehavior.responseHeadersPolicyId = " + managedSecurityHeadersPolicy +
			" or the id of a recorded " + tHeadersPolicy + " with securityHeadersConfig.strictTransportSecurity.accessControlMaxAgeSec ≥ 31536000, " +
			"securityHeadersConfig.contentTypeOptions, securityHeadersConfig.frameOptions"},
		check: func(e *eval) {
			for _, d := range e.of(tDistribution) {
				id := d.Str("defaultCacheBehavior.responseHeadersPolicyId")
				switch {
				case id == "":
					e.fail(d, "no response headers policy on the default behavior")
				case id == managedSecurityHeadersPolicy:
				default:
					p, ok := e.find(tHeadersPolicy, id)
					if !ok {
						e.fail(d, "response headers policy %s is neither recorded here nor Managed-SecurityHeadersPolicy", id)
						continue
					}
					age, _ := num(p.In("securityHeadersConfig.strictTransportSecurity.accessControlMaxAgeSec"))
					if age < 31536000 {
						e.fail(d, "response headers policy %s: HSTS max-age %v, want ≥ 31536000", p.Name, age)
					}
					for _, k := range []string{"contentTypeOptions", "frameOptions"} {
						if p.In("securityHeadersConfig."+k) == nil {
							e.fail(d, "response headers policy %s sets no %s", p.Name, k)
						}
					}
				}
			}
		},
	},
	{
		ID: "SLW-CF-006", Severity: Error, Reference: "CloudFront.1",
		Title:  "Distributions have a default root object",
		Fix:    `set defaultRootObject "index.html"`,
		Types:  []string{tDistribution},
		Inputs: []string{tDistribution + ": defaultRootObject non-empty"},
		check: func(e *eval) {
			for _, d := range e.of(tDistribution) {
				if d.Str("defaultRootObject") == "" {
					e.fail(d, "no defaultRootObject")
				}
			}
		},
	},
	{
		ID: "SLW-CF-007", Severity: Error, Reference: "CloudFront.5",
		Title: "Prod distributions log viewer requests",
		Fix:   "set loggingConfig.bucket, or deliver ACCESS_LOGS: a cloudwatch.LogDeliverySource for the distribution, a LogDeliveryDestination and a LogDelivery joining them",
		Types: []string{tDistribution}, Profiles: []stacks.Profile{stacks.Prod},
		Inputs: []string{tDistribution + ": loggingConfig.bucket non-empty, or " + tLogDelivery +
			": logType ACCESS_LOGS, resourceArn = the distribution's ARN, and " + tLogDelivered +
			": deliverySourceName = that source's name, deliveryDestinationArn = a " + tLogDeliveryTo},
		check: func(e *eval) {
			for _, d := range e.of(tDistribution) {
				if d.Str("loggingConfig.bucket") != "" {
					continue
				}
				sourced, delivered := false, false
				for _, s := range e.peek(tLogDelivery) {
					if s.Str("logType") != "ACCESS_LOGS" || !refersTo(s.In("resourceArn"), d) {
						continue
					}
					sourced = true
					// A source alone delivers nothing: a delivery must
					// join it to a destination.
					for _, l := range e.peek(tLogDelivered) {
						if _, ok := e.find(tLogDeliveryTo, l.In("deliveryDestinationArn")); ok && refersTo(l.In("deliverySourceName"), s) {
							delivered = true
						}
					}
				}
				switch {
				case !sourced:
					e.fail(d, "no access logging (loggingConfig or LogDeliverySource)")
				case !delivered:
					e.fail(d, "its LogDeliverySource has no LogDelivery to a LogDeliveryDestination")
				}
			}
		},
	},
	{
		ID: "SLW-CF-008", Severity: Error, Reference: "CloudFront.13",
		Title: "S3 origins use Origin Access Control (sigv4, always), never an Origin Access Identity",
		Fix:   "create a cloudfront.OriginAccessControl (s3, always, sigv4) and set originAccessControlId on the S3 origin",
		Types: []string{tDistribution},
		Inputs: []string{
			tDistribution + ": origins[*] whose domainName is an S3 endpoint have originAccessControlId and no s3OriginConfig.originAccessIdentity",
			tOAC + ": originAccessControlOriginType s3, signingBehavior always, signingProtocol sigv4",
			tOAI + ": absent",
		},
		check: func(e *eval) {
			for _, oai := range e.peek(tOAI) {
				e.fail(oai, "Origin Access Identity is the legacy mechanism; use Origin Access Control")
			}
			for _, d := range e.peek(tDistribution) {
				for _, o := range list(d.In("origins")) {
					m, _ := o.(map[string]any)
					if !isS3Domain(str(m["domainName"])) {
						continue
					}
					e.checked++
					if s3, ok := m["s3OriginConfig"].(map[string]any); ok && str(s3["originAccessIdentity"]) != "" {
						e.fail(d, "origin %s uses an Origin Access Identity", str(m["originId"]))
					}
					id := str(m["originAccessControlId"])
					if id == "" {
						e.fail(d, "S3 origin %s has no originAccessControlId", str(m["originId"]))
						continue
					}
					if oac, ok := e.find(tOAC, id); ok {
						if oac.Str("originAccessControlOriginType") != "s3" || oac.Str("signingBehavior") != "always" ||
							oac.Str("signingProtocol") != "sigv4" {
							e.fail(d, "origin access control %s is not s3/always/sigv4", oac.Name)
						}
					}
				}
			}
			e.naReason = "no S3 origin"
		},
	},
	{
		ID: "SLW-CF-009", Severity: Error, Reference: "CloudFront.12",
		Title:  "Every S3 origin is a bucket of this stack",
		Fix:    "set the origin's domainName from the bucket's bucketRegionalDomainName output",
		Types:  []string{tDistribution},
		Inputs: []string{tDistribution + ": origins[*].domainName = a recorded " + tBucketV2 + "'s bucketRegionalDomainName"},
		check: func(e *eval) {
			for _, d := range e.peek(tDistribution) {
				for _, o := range list(d.In("origins")) {
					m, _ := o.(map[string]any)
					domain := str(m["domainName"])
					if !isS3Domain(domain) {
						continue
					}
					e.checked++
					found := false
					for _, b := range e.peek(tBucketV2, tBucket) {
						if b.Out("bucketRegionalDomainName") == domain || b.Out("bucketDomainName") == domain {
							found = true
						}
					}
					if !found {
						e.fail(d, "origin %s points at %s, which is no bucket of this stack", str(m["originId"]), domain)
					}
				}
			}
			e.naReason = "no S3 origin"
		},
	},
	{
		ID: "SLW-ACM-001", Severity: Error, Reference: "ACM.1",
		Title:  "Certificates are DNS-validated, so ACM renews them unattended",
		Fix:    `set validationMethod "DNS" and publish the validation records in Route 53`,
		Types:  []string{tCertificate},
		Inputs: []string{tCertificate + ": validationMethod DNS"},
		check: func(e *eval) {
			for _, c := range e.of(tCertificate) {
				if c.Str("validationMethod") != "DNS" {
					e.fail(c, "validationMethod %q", c.Str("validationMethod"))
				}
			}
		},
	},
}

// findBy returns the resource whose input key refers to target.
func findBy(rs []mockcloud.Resource, key string, target mockcloud.Resource) (mockcloud.Resource, bool) {
	for _, r := range rs {
		if refersTo(r.In(key), target) {
			return r, true
		}
	}
	return mockcloud.Resource{}, false
}

// behaviors returns a distribution's default and ordered cache behaviors.
func behaviors(d mockcloud.Resource) []map[string]any {
	var out []map[string]any
	if m, ok := d.In("defaultCacheBehavior").(map[string]any); ok {
		out = append(out, m)
	}
	for _, b := range list(d.In("orderedCacheBehaviors")) {
		if m, ok := b.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func behaviorName(b map[string]any) string {
	if p := str(b["pathPattern"]); p != "" {
		return p
	}
	return "default"
}

func isS3Domain(domain string) bool {
	return strings.Contains(domain, ".s3.") && strings.HasSuffix(domain, ".amazonaws.com") ||
		strings.HasSuffix(domain, ".s3.amazonaws.com")
}

// lifecycleRules counts the rules of an ECR lifecycle policy document.
func lifecycleRules(v any) int {
	var doc struct {
		Rules []json.RawMessage `json:"rules"`
	}
	if json.Unmarshal([]byte(str(v)), &doc) != nil {
		return 0
	}
	return len(doc.Rules)
}
