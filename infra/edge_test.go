package infra_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"slipway/internal/mockcloud"
	"slipway/program"
	"slipway/stacks"
)

// Resource type tokens of the edge.
const (
	tBucket       = "aws:s3/bucketV2:BucketV2"
	tObject       = "aws:s3/bucketObjectv2:BucketObjectv2"
	tDistribution = "aws:cloudfront/distribution:Distribution"
	tOAC          = "aws:cloudfront/originAccessControl:OriginAccessControl"
	tFunction     = "aws:cloudfront/function:Function"
	tHeaders      = "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy"
	tRecord       = "aws:route53/record:Record"
	tCertificate  = "aws:acm/certificate:Certificate"
	tValidation   = "aws:acm/certificateValidation:CertificateValidation"
)

// Managed CloudFront policies (the same ids in every account).
const (
	cachingOptimized = "658327ea-f89d-4fab-a63d-7e88639e58f6"
	cachingDisabled  = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
)

var domains = map[string]string{"dev": "dev.slipway.example.com", "prod": "slipway.example.com", "pr-7": ""}

// siteBuckets are the stack's buckets but the backup archive (the one
// with Object Lock, backup_test.go).
func siteBuckets(res *mockcloud.Result) []mockcloud.Resource {
	var out []mockcloud.Resource
	for _, b := range res.ByType(tBucket) {
		if b.In("objectLockEnabled") != true {
			out = append(out, b)
		}
	}
	return out
}

func siteBucket(t *testing.T, res *mockcloud.Result) mockcloud.Resource {
	t.Helper()
	if b := siteBuckets(res); len(b) == 1 {
		return b[0]
	}
	t.Fatalf("%s: want exactly one site bucket, found %d", res.Stack, len(siteBuckets(res)))
	return mockcloud.Resource{}
}

// ofBucket is the bucket's own resource of a type (named like the bucket).
func ofBucket(t *testing.T, res *mockcloud.Result, bucket mockcloud.Resource, typ string) mockcloud.Resource {
	t.Helper()
	r, ok := res.Find(typ, bucket.Name)
	if !ok {
		t.Fatalf("%s: no %s %s", res.Stack, typ, bucket.Name)
	}
	return r
}

// globalProvider is the us-east-1 provider's reference prefix.
func isGlobalProvider(r mockcloud.Resource) bool {
	return strings.Contains(r.Provider, "::pulumi:providers:aws::aws-us-east-1::")
}

func TestSiteBucketIsPrivateEncryptedAndVersioned(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		bucket := siteBucket(t, res)
		review, prod := stack == "pr-7", stack == "prod"
		if bucket.In("forceDestroy") != review {
			t.Errorf("%s: forceDestroy = %v, want %v", stack, bucket.In("forceDestroy"), review)
		}
		if bucket.Protect != prod {
			t.Errorf("%s: bucket protect = %v", stack, bucket.Protect)
		}
		if name, _ := bucket.Out("bucket").(string); !strings.HasPrefix(name, "slipway-"+stack+"-site-") || bucket.In("bucket") != nil {
			t.Errorf("%s: bucket name %q is not auto-named", stack, name)
		}
		own := ofBucket(t, res, bucket, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
		if own.Str("bucket") != bucket.ID || own.Str("rule.objectOwnership") != "BucketOwnerEnforced" {
			t.Errorf("%s: ownership controls %v", stack, own.Inputs)
		}
		pab := ofBucket(t, res, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
		for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
			if pab.In(k) != true || pab.Str("bucket") != bucket.ID {
				t.Errorf("%s: public access block %s = %v", stack, k, pab.In(k))
			}
		}
		sse := ofBucket(t, res, bucket, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
		if sse.Str("bucket") != bucket.ID || sse.Str("rules[0].applyServerSideEncryptionByDefault.sseAlgorithm") != "AES256" {
			t.Errorf("%s: encryption %v", stack, sse.Inputs)
		}
		ver := ofBucket(t, res, bucket, "aws:s3/bucketVersioningV2:BucketVersioningV2")
		if ver.Str("bucket") != bucket.ID || ver.Str("versioningConfiguration.status") != "Enabled" {
			t.Errorf("%s: versioning %v", stack, ver.Inputs)
		}
		lc := ofBucket(t, res, bucket, "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2")
		wantDays := 7.0
		if prod {
			wantDays = 30
		}
		if lc.Str("bucket") != bucket.ID || lc.Str("rules[0].status") != "Enabled" ||
			lc.In("rules[0].noncurrentVersionExpiration.noncurrentDays") != wantDays {
			t.Errorf("%s: lifecycle %v", stack, lc.Inputs)
		}
		if n := len(res.ByType("aws:s3/bucketAclV2:BucketAclV2")); n != 0 {
			t.Errorf("%s: %d bucket ACLs", stack, n)
		}
	}
}

func TestBucketPolicyAdmitsOnlyThisDistributionOverTLS(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		bucket := siteBucket(t, res)
		dist := one(t, res, tDistribution)
		bp := ofBucket(t, res, bucket, "aws:s3/bucketPolicy:BucketPolicy")
		if bp.Str("bucket") != bucket.ID {
			t.Errorf("%s: policy on bucket %q", stack, bp.Str("bucket"))
		}
		pab := ofBucket(t, res, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
		if !slices.Contains(bp.Dependencies, pab.URN) {
			t.Errorf("%s: the bucket policy does not wait for the public access block", stack)
		}
		arn := bucket.Out("arn").(string)
		distArn := dist.Out("arn").(string)
		if !strings.HasPrefix(distArn, "arn:aws:cloudfront::"+mockcloud.Account+":distribution/E") {
			t.Fatalf("%s: distribution arn %q", stack, distArn)
		}
		var allow, deny int
		for _, st := range parsePolicy(t, bp.Str("policy")).Statement {
			switch st.Effect {
			case "Allow":
				allow++
				principal, _ := st.Principal.(map[string]any)
				if !reflect.DeepEqual(principal, map[string]any{"Service": "cloudfront.amazonaws.com"}) {
					t.Errorf("%s: allow principal %v", stack, st.Principal)
				}
				if !reflect.DeepEqual(strs(st.Action), []string{"s3:GetObject"}) || !reflect.DeepEqual(strs(st.Resource), []string{arn + "/*"}) {
					t.Errorf("%s: allow %v on %v", stack, st.Action, st.Resource)
				}
				if got := strs(st.Condition["StringEquals"]["AWS:SourceArn"]); !reflect.DeepEqual(got, []string{distArn}) {
					t.Errorf("%s: AWS:SourceArn %v, want this distribution %s", stack, got, distArn)
				}
			case "Deny":
				deny++
				if st.Principal != "*" || !reflect.DeepEqual(strs(st.Action), []string{"s3:*"}) {
					t.Errorf("%s: deny %v for %v", stack, st.Action, st.Principal)
				}
				if got := strs(st.Resource); !slices.Contains(got, arn) || !slices.Contains(got, arn+"/*") {
					t.Errorf("%s: deny covers %v", stack, got)
				}
				if got := strs(st.Condition["Bool"]["aws:SecureTransport"]); !reflect.DeepEqual(got, []string{"false"}) {
					t.Errorf("%s: deny condition %v", stack, st.Condition)
				}
			}
		}
		if allow != 1 || deny != 1 {
			t.Errorf("%s: %d allow and %d deny statements", stack, allow, deny)
		}
	}
}

func TestDistributionServesTheSPAFromS3ThroughOAC(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("edge", "viewer-request.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stack := range allStacks {
		res := deploy(t, stack)
		dist := one(t, res, tDistribution)
		bucket := siteBucket(t, res)
		oac := one(t, res, tOAC)
		fn := one(t, res, tFunction)
		headers := one(t, res, tHeaders)

		if oac.Str("originAccessControlOriginType") != "s3" || oac.Str("signingBehavior") != "always" || oac.Str("signingProtocol") != "sigv4" {
			t.Errorf("%s: OAC %v", stack, oac.Inputs)
		}
		if n := len(res.ByType("aws:cloudfront/originAccessIdentity:OriginAccessIdentity")); n != 0 {
			t.Errorf("%s: %d origin access identities", stack, n)
		}
		if fn.Str("runtime") != "cloudfront-js-2.0" || fn.Str("code") != string(src) || fn.In("publish") != true {
			t.Errorf("%s: function runtime %q, publish %v, code is the tested file: %v", stack, fn.Str("runtime"), fn.In("publish"), fn.Str("code") == string(src))
		}

		origins, _ := dist.In("origins").([]any)
		if len(origins) != 2 {
			t.Fatalf("%s: %d origins", stack, len(origins))
		}
		if dist.Str("origins[0].originId") != "spa" || dist.Str("origins[0].domainName") != bucket.Out("bucketRegionalDomainName") ||
			dist.Str("origins[0].originAccessControlId") != oac.ID || dist.In("origins[0].s3OriginConfig") != nil {
			t.Errorf("%s: S3 origin %v", stack, origins[0])
		}
		def := "defaultCacheBehavior."
		if dist.Str(def+"targetOriginId") != "spa" || dist.Str(def+"viewerProtocolPolicy") != "redirect-to-https" ||
			dist.In(def+"compress") != true || dist.Str(def+"cachePolicyId") != cachingOptimized ||
			dist.Str(def+"responseHeadersPolicyId") != headers.ID {
			t.Errorf("%s: default behaviour %v", stack, dist.In("defaultCacheBehavior"))
		}
		if dist.Str(def+"functionAssociations[0].eventType") != "viewer-request" ||
			dist.Str(def+"functionAssociations[0].functionArn") != fn.Out("arn") {
			t.Errorf("%s: function association %v", stack, dist.In(def+"functionAssociations"))
		}
		if dist.Str("httpVersion") != "http2and3" || dist.In("isIpv6Enabled") != true || dist.In("enabled") != true ||
			dist.Str("priceClass") != "PriceClass_100" || dist.Str("defaultRootObject") != "index.html" {
			t.Errorf("%s: distribution settings %v %v %v %v", stack, dist.In("httpVersion"), dist.In("isIpv6Enabled"), dist.In("priceClass"), dist.In("defaultRootObject"))
		}
		if dist.In("customErrorResponses") != nil {
			t.Errorf("%s: custom error responses would turn the API's 404s into HTML", stack)
		}
	}
	res := deploy(t, "pr-7", func(f *stacks.Files) { f.Values["slipway:priceClass"] = "PriceClass_All" })
	if got := one(t, res, tDistribution).Str("priceClass"); got != "PriceClass_All" {
		t.Errorf("price class from config: %q", got)
	}
}

func TestAPIBehavioursReachTheHostUncachedAndUnrewritten(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		dist := one(t, res, tDistribution)
		eip := one(t, res, "aws:ec2/eip:Eip")
		// CloudFront, not the viewer, sets the address nginx limits
		// writes by: the policy lists it as a CloudFront header.
		apiRequests := one(t, res, "aws:cloudfront/originRequestPolicy:OriginRequestPolicy")
		if apiRequests.Str("headersConfig.headerBehavior") != "allViewerAndWhitelistCloudFront" ||
			!slices.Equal(strs(apiRequests.In("headersConfig.headers.items")), []string{"CloudFront-Viewer-Address"}) ||
			apiRequests.Str("cookiesConfig.cookieBehavior") != "all" || apiRequests.Str("queryStringsConfig.queryStringBehavior") != "all" {
			t.Errorf("%s: API origin request policy %v", stack, apiRequests.Inputs)
		}
		headers := one(t, res, tHeaders)

		api := "origins[1]."
		if dist.Str(api+"originId") != "api" || dist.Str(api+"domainName") != eip.Out("publicDns") || eip.Out("publicDns") == nil {
			t.Errorf("%s: API origin %v, want the host's address %v", stack, dist.In("origins[1]"), eip.Out("publicDns"))
		}
		if dist.Str(api+"customOriginConfig.originProtocolPolicy") != "http-only" || dist.In(api+"customOriginConfig.httpPort") != 80.0 {
			t.Errorf("%s: API origin config %v", stack, dist.In(api+"customOriginConfig"))
		}
		if dist.Str(api+"customHeaders[0].name") != "X-Origin-Verify" || dist.Str(api+"customHeaders[0].value") != testOriginSecret {
			t.Errorf("%s: origin header %v", stack, dist.In(api+"customHeaders"))
		}
		if !dist.IsSecretInput("origins") {
			t.Errorf("%s: the origin secret is in plain text in the distribution's state", stack)
		}

		behaviours, _ := dist.In("orderedCacheBehaviors").([]any)
		var paths []string
		for i := range behaviours {
			b := func(k string) string { return "orderedCacheBehaviors[" + strconv.Itoa(i) + "]." + k }
			paths = append(paths, dist.Str(b("pathPattern")))
			if dist.Str(b("targetOriginId")) != "api" || dist.Str(b("cachePolicyId")) != cachingDisabled ||
				dist.Str(b("originRequestPolicyId")) != apiRequests.ID || dist.Str(b("viewerProtocolPolicy")) != "https-only" {
				t.Errorf("%s: API behaviour %v", stack, behaviours[i])
			}
			methods := strs(dist.In(b("allowedMethods")))
			slices.Sort(methods)
			if !reflect.DeepEqual(methods, []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}) {
				t.Errorf("%s: API methods %v", stack, methods)
			}
			if dist.In(b("functionAssociations")) != nil || dist.In(b("lambdaFunctionAssociations")) != nil {
				t.Errorf("%s: API behaviour %s has a function: API paths must not be rewritten", stack, dist.Str(b("pathPattern")))
			}
			if dist.Str(b("responseHeadersPolicyId")) != headers.ID {
				t.Errorf("%s: API behaviour without the security headers", stack)
			}
		}
		if !reflect.DeepEqual(paths, []string{"/api/*", "/healthz", "/readyz"}) {
			t.Errorf("%s: API paths %v", stack, paths)
		}
	}
}

func TestResponseHeadersPolicy(t *testing.T) {
	for _, stack := range allStacks {
		h := one(t, deploy(t, stack), tHeaders)
		c := "securityHeadersConfig."
		if h.In(c+"strictTransportSecurity.accessControlMaxAgeSec") != 31536000.0 || h.In(c+"strictTransportSecurity.includeSubdomains") != true ||
			h.In(c+"strictTransportSecurity.preload") != false || h.In(c+"strictTransportSecurity.override") != true {
			t.Errorf("%s: HSTS %v", stack, h.In(c+"strictTransportSecurity"))
		}
		if h.In(c+"contentTypeOptions.override") != true {
			t.Errorf("%s: nosniff %v", stack, h.In(c+"contentTypeOptions"))
		}
		if h.Str(c+"frameOptions.frameOption") != "DENY" {
			t.Errorf("%s: frame options %v", stack, h.In(c+"frameOptions"))
		}
		if h.Str(c+"referrerPolicy.referrerPolicy") != "strict-origin-when-cross-origin" {
			t.Errorf("%s: referrer policy %v", stack, h.In(c+"referrerPolicy"))
		}
		const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; " +
			"frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
		if h.Str(c+"contentSecurityPolicy.contentSecurityPolicy") != csp || h.In(c+"contentSecurityPolicy.override") != true {
			t.Errorf("%s: CSP %v", stack, h.In(c+"contentSecurityPolicy"))
		}
	}
}

func TestCertificateInUSEast1AndDistributionWaitsForIt(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		res := deploy(t, stack)
		domain := domains[stack]
		cert := one(t, res, tCertificate)
		validation := one(t, res, tValidation)
		for _, r := range []mockcloud.Resource{cert, validation} {
			if r.Region != "us-east-1" || !isGlobalProvider(r) {
				t.Errorf("%s: %s in %s through %s, want the us-east-1 provider", stack, r.Type, r.Region, r.Provider)
			}
		}
		if cert.Str("domainName") != domain || !reflect.DeepEqual(strs(cert.In("subjectAlternativeNames")), []string{"www." + domain}) ||
			cert.Str("validationMethod") != "DNS" {
			t.Errorf("%s: certificate %v", stack, cert.Inputs)
		}
		// One validation record per name, each from its own option.
		options, _ := cert.Out("domainValidationOptions").([]any)
		var fqdns []string
		for _, label := range []string{"apex", "www"} {
			rec, ok := res.Find(tRecord, "domain-validation-"+label)
			if !ok {
				t.Fatalf("%s: no validation record for %s", stack, label)
			}
			name := domain
			if label == "www" {
				name = "www." + domain
			}
			var want map[string]any
			for _, o := range options {
				if m := o.(map[string]any); m["domainName"] == name {
					want = m
				}
			}
			if want == nil || rec.Str("name") != want["resourceRecordName"] || rec.Str("type") != "CNAME" ||
				!reflect.DeepEqual(rec.In("records"), []any{want["resourceRecordValue"]}) {
				t.Errorf("%s: validation record %s = %v, want option %v", stack, label, rec.Inputs, want)
			}
			if rec.Region != "us-east-1" || rec.In("allowOverwrite") != true {
				t.Errorf("%s: validation record %s region %s, allowOverwrite %v", stack, label, rec.Region, rec.In("allowOverwrite"))
			}
			fqdns = append(fqdns, rec.Out("fqdn").(string))
		}
		if validation.Str("certificateArn") != cert.Out("arn") || !reflect.DeepEqual(strs(validation.In("validationRecordFqdns")), fqdns) {
			t.Errorf("%s: validation %v, want fqdns %v", stack, validation.Inputs, fqdns)
		}

		dist := one(t, res, tDistribution)
		vc := "viewerCertificate."
		if dist.Str(vc+"acmCertificateArn") != cert.Out("arn") || dist.Str(vc+"sslSupportMethod") != "sni-only" ||
			dist.Str(vc+"minimumProtocolVersion") != "TLSv1.2_2021" || dist.In(vc+"cloudfrontDefaultCertificate") != nil {
			t.Errorf("%s: viewer certificate %v", stack, dist.In("viewerCertificate"))
		}
		if !slices.Contains(dist.PropertyDependencies["viewerCertificate"], validation.URN) {
			t.Errorf("%s: the distribution does not wait for the certificate validation: %v", stack, dist.PropertyDependencies["viewerCertificate"])
		}
		if !reflect.DeepEqual(strs(dist.In("aliases")), []string{domain, "www." + domain}) {
			t.Errorf("%s: aliases %v", stack, dist.In("aliases"))
		}
	}
}

// The alias records, and a CAA record only when asked for: a CAA record
// limits every name below the domain to Amazon's certificates and fails
// to create over an existing one, so it is never a default.
func TestAliasAndCAARecords(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		res := deploy(t, stack, func(f *stacks.Files) { f.Values["slipway:caaRecord"] = "true" })
		domain := domains[stack]
		dist := one(t, res, tDistribution)
		zoneID := ""
		aliases := map[string]bool{}
		var caa []mockcloud.Resource
		for _, r := range res.ByType(tRecord) {
			if zoneID == "" {
				zoneID = r.Str("zoneId")
			}
			if r.Str("zoneId") != zoneID || !strings.HasPrefix(zoneID, "Z") {
				t.Errorf("%s: record %s in zone %q, others in %q", stack, r.Name, r.Str("zoneId"), zoneID)
			}
			switch r.Str("type") {
			case "A", "AAAA":
				aliases[r.Str("name")+" "+r.Str("type")] = true
				if r.Str("aliases[0].name") != dist.Out("domainName") || r.Str("aliases[0].zoneId") != dist.Out("hostedZoneId") ||
					r.In("aliases[0].evaluateTargetHealth") != false || r.In("records") != nil {
					t.Errorf("%s: alias %s %v, want the distribution %v in %v", stack, r.Name, r.In("aliases"), dist.Out("domainName"), dist.Out("hostedZoneId"))
				}
				// CloudFront's zone id is one constant; taking it from the
				// distribution (not a literal) shows as a dependency.
				if !slices.Contains(r.PropertyDependencies["aliases"], dist.URN) {
					t.Errorf("%s: alias %s does not take its target from the distribution", stack, r.Name)
				}
			case "CAA":
				caa = append(caa, r)
			}
		}
		want := map[string]bool{domain + " A": true, domain + " AAAA": true, "www." + domain + " A": true, "www." + domain + " AAAA": true}
		if !reflect.DeepEqual(aliases, want) {
			t.Errorf("%s: alias records %v", stack, aliases)
		}
		if len(caa) != 1 || caa[0].Str("name") != domain || !reflect.DeepEqual(strs(caa[0].In("records")), []string{`0 issue "amazon.com"`}) {
			t.Errorf("%s: CAA records %v", stack, caa)
		}
		if n := len(res.ByType("aws:route53/zone:Zone")); n != 0 {
			t.Errorf("%s: %d zones created; the zone is looked up", stack, n)
		}
		if v, ok := res.Outputs["nameServers"].Value.([]string); !ok || len(v) != 0 {
			t.Errorf("%s: nameServers %v for a looked-up zone", stack, v)
		}

		// By default (the committed stack files, Pulumi.yaml's default)
		// and when switched off, no CAA record.
		for _, edit := range []func(*stacks.Files){
			func(*stacks.Files) {},
			func(f *stacks.Files) { f.Values["slipway:caaRecord"] = "false" },
			func(f *stacks.Files) { f.Values["slipway:createHostedZone"] = "true" },
		} {
			for _, r := range deploy(t, stack, edit).ByType(tRecord) {
				if r.Str("type") == "CAA" {
					t.Errorf("%s: CAA record %s without slipway:caaRecord=true", stack, r.Name)
				}
			}
		}
	}
}

// caaRecord defaults to false in Go as in Pulumi.yaml (the project-wide
// equality is TestPulumiYAMLDefaultsMatchGoDefaults), and is refused
// without a domain.
func TestCAARecordIsOffByDefault(t *testing.T) {
	yaml := stackFiles(t, "prod")
	if v := yaml.Values["slipway:caaRecord"]; v != "false" {
		t.Errorf("Pulumi.yaml + Pulumi.prod.yaml: slipway:caaRecord = %q, want false", v)
	}
	bare := stacks.Files{Values: map[string]string{"slipway:domain": "slipway.example.com",
		"aws:allowedAccountIds": `["222222222222"]`, "slipway:backups": "true"}}
	bare.SetSecret("slipway:dbPassword", testDBPassword)
	bare.SetSecret("slipway:originSecret", testOriginSecret)
	cfg, err := stacks.Parse("slipway", "prod", bare)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DNS.CAA {
		t.Error("the Go default of slipway:caaRecord is true")
	}
	noDomain := stacks.Files{Values: map[string]string{"slipway:caaRecord": "true"}}
	noDomain.SetSecret("slipway:dbPassword", testDBPassword)
	noDomain.SetSecret("slipway:originSecret", testOriginSecret)
	if _, err := stacks.Parse("slipway", "pr-7", noDomain); err == nil ||
		!strings.Contains(err.Error(), `slipway:caaRecord = "true" is not accepted: expected only together with slipway:domain`) {
		t.Errorf("caaRecord without a domain: %v", err)
	}
}

func TestCreatedZoneExportsItsNameServers(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		res := deploy(t, stack, func(f *stacks.Files) { f.Values["slipway:createHostedZone"] = "true" })
		zone := one(t, res, "aws:route53/zone:Zone")
		wantName := map[string]string{"dev": "slipway.example.com", "prod": "slipway.example.com"}[stack]
		if zone.Str("name") != wantName || zone.Protect != (stack == "prod") || zone.In("forceDestroy") != false {
			t.Errorf("%s: zone %v protect %v", stack, zone.Inputs, zone.Protect)
		}
		for _, r := range res.ByType(tRecord) {
			if r.Str("zoneId") != zone.Out("zoneId") {
				t.Errorf("%s: record %s in zone %q, not the created %v", stack, r.Name, r.Str("zoneId"), zone.Out("zoneId"))
			}
		}
		ns := res.Outputs["nameServers"]
		if got, want := outputStrings(ns.Value), strs(zone.Out("nameServers")); !reflect.DeepEqual(got, want) || len(want) != 4 || ns.Secret {
			t.Errorf("%s: nameServers output %v, want the zone's %v", stack, got, want)
		}
	}
}

func TestReviewStackHasNoDNS(t *testing.T) {
	res := deploy(t, "pr-7")
	for _, r := range res.Resources {
		if strings.HasPrefix(r.Type, "aws:route53/") || strings.HasPrefix(r.Type, "aws:acm/") || r.Type == "slipway:dns:Domain" {
			t.Errorf("pr-7: %s %s in a stack without a domain", r.Type, r.Name)
		}
	}
	dist := one(t, res, tDistribution)
	if dist.In("viewerCertificate.cloudfrontDefaultCertificate") != true || dist.In("viewerCertificate.acmCertificateArn") != nil ||
		dist.In("aliases") != nil {
		t.Errorf("pr-7: certificate %v, aliases %v", dist.In("viewerCertificate"), dist.In("aliases"))
	}
	if v, ok := res.Outputs["nameServers"].Value.([]string); !ok || len(v) != 0 {
		t.Errorf("pr-7: nameServers %#v, want an empty list", res.Outputs["nameServers"].Value)
	}
}

func TestEdgeOutputs(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		dist := one(t, res, tDistribution)
		bucket := siteBucket(t, res)
		wantURL := "https://" + domains[stack]
		if stack == "pr-7" {
			wantURL = "https://" + dist.Out("domainName").(string)
		}
		want := map[string]any{
			"siteUrl":          wantURL,
			"cloudfrontDomain": dist.Out("domainName"),
			"distributionId":   dist.ID,
			"bucketName":       bucket.Out("bucket"),
		}
		for k, v := range want {
			if got := res.Outputs[k]; got.Value != v || got.Secret {
				t.Errorf("%s: output %s = %+v, want %v", stack, k, got, v)
			}
		}
		if d, _ := dist.Out("domainName").(string); !strings.HasSuffix(d, ".cloudfront.net") {
			t.Errorf("%s: cloudfront domain %q", stack, d)
		}
	}
}

func TestAccessLogsInProdOnly(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		prodOnly(t, res, "aws:cloudwatch/logDeliverySource:LogDeliverySource")
		if stack != "prod" {
			continue
		}
		dist := one(t, res, tDistribution)
		source := one(t, res, "aws:cloudwatch/logDeliverySource:LogDeliverySource")
		dest := one(t, res, "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination")
		delivery := one(t, res, "aws:cloudwatch/logDelivery:LogDelivery")
		group, ok := res.Find("aws:cloudwatch/logGroup:LogGroup", "site-access-logs")
		if !ok {
			t.Fatal("prod: no access log group")
		}
		for _, r := range []mockcloud.Resource{source, dest, delivery, group} {
			if r.Region != "us-east-1" || !isGlobalProvider(r) {
				t.Errorf("prod: %s %s not through the us-east-1 provider", r.Type, r.Name)
			}
		}
		if group.In("retentionInDays") != 90.0 {
			t.Errorf("prod: access log retention %v", group.In("retentionInDays"))
		}
		if source.Str("logType") != "ACCESS_LOGS" || source.Str("resourceArn") != dist.Out("arn") {
			t.Errorf("prod: delivery source %v", source.Inputs)
		}
		if dest.Str("deliveryDestinationConfiguration.destinationResourceArn") != group.Out("arn") {
			t.Errorf("prod: delivery destination %v", dest.Inputs)
		}
		if delivery.Str("deliverySourceName") != source.Out("name") || delivery.Str("deliveryDestinationArn") != dest.Out("arn") ||
			delivery.Str("deliverySourceName") == "" {
			t.Errorf("prod: delivery %v", delivery.Inputs)
		}
		if n := len(res.ByType("aws:s3/bucketAclV2:BucketAclV2")) + len(siteBuckets(res)); n != 1 {
			t.Errorf("prod: %d buckets and ACLs; access logs need neither", n)
		}
	}
}

// The fixture build is uploaded object by object with the right headers.
func TestSPAUpload(t *testing.T) {
	fixture := filepath.Join("testdata", "spa")
	const immutable = "public, max-age=31536000, immutable"
	want := map[string][2]string{
		"assets/index-3f2a1b9c.js":  {"text/javascript; charset=utf-8", immutable},
		"assets/index-9d8e7f6a.css": {"text/css; charset=utf-8", immutable},
		"assets/logo-a1B2_c3D.svg":  {"image/svg+xml", immutable},
		"favicon.ico":               {"image/x-icon", "no-cache"},
		"index.html":                {"text/html; charset=utf-8", "no-cache"},
		"og-image.png":              {"image/png", "no-cache"},
		"robots.txt":                {"text/plain; charset=utf-8", "no-cache"},
	}
	for _, stack := range allStacks {
		res := deploy(t, stack)
		bucket := siteBucket(t, res)
		objects := res.ByType(tObject)
		got := map[string][2]string{}
		var assetURNs []string
		for _, o := range objects {
			key := o.Str("key")
			got[key] = [2]string{o.Str("contentType"), o.Str("cacheControl")}
			if o.Str("bucket") != bucket.ID {
				t.Errorf("%s: %s in bucket %q", stack, key, o.Str("bucket"))
			}
			src := o.Inputs["source"]
			wantPath, _ := filepath.Abs(filepath.Join(fixture, filepath.FromSlash(key)))
			if !src.IsAsset() || src.AssetValue().Path != wantPath {
				t.Errorf("%s: %s source %v, want file asset %s", stack, key, src, wantPath)
			}
			b, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if o.Str("sourceHash") != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: %s sourceHash %q", stack, key, o.Str("sourceHash"))
			}
			hashed := strings.HasPrefix(key, "assets/")
			// Old hashed assets outlive a deploy (dev, prod); review
			// stacks keep nothing.
			if wantRetain := hashed && stack != "pr-7"; o.RetainOnDelete != wantRetain {
				t.Errorf("%s: %s retainOnDelete %v, want %v", stack, key, o.RetainOnDelete, wantRetain)
			}
			if hashed {
				assetURNs = append(assetURNs, o.URN)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: uploaded\n %v\nwant\n %v", stack, got, want)
		}
		index, ok := res.Find(tObject, "site/index.html")
		if !ok {
			t.Fatalf("%s: no index.html object", stack)
		}
		for _, u := range assetURNs {
			if !slices.Contains(index.Dependencies, u) {
				t.Errorf("%s: index.html is not uploaded after %s", stack, u)
			}
		}
	}
}

// Without a build, a real up stops with the commands that make one; a
// preview warns and plans the rest of the stack without objects.
func TestMissingSPABuild(t *testing.T) {
	for _, stack := range allStacks {
		files := stackFiles(t, stack)
		files.Values["slipway:spaBuildDir"] = "app/web/not-built"
		_, err := mockcloud.Run(program.Build, "slipway", stack, files, false)
		if err == nil || !strings.Contains(err.Error(), "npm --prefix app/web ci && npm --prefix app/web run build") ||
			!strings.Contains(err.Error(), "not-built") {
			t.Errorf("%s: up without a build: %v", stack, err)
		}
		res, err := mockcloud.Run(program.Build, "slipway", stack, files, true)
		if err != nil {
			t.Fatalf("%s: preview without a build: %v", stack, err)
		}
		if n := len(res.ByType(tObject)); n != 0 {
			t.Errorf("%s: preview without a build plans %d objects", stack, n)
		}
		if len(res.ByType(tDistribution)) != 1 || len(res.ByType("aws:s3/bucketPolicy:BucketPolicy")) != len(res.ByType(tBucket)) {
			t.Errorf("%s: preview without a build lacks the distribution or the bucket policy", stack)
		}
	}
}

// outputStrings reads a string-list stack output.
func outputStrings(v any) []string {
	if s, ok := v.([]string); ok {
		return s
	}
	return strs(v)
}
