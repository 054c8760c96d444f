package infra

import (
	_ "embed"
	"errors"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudfront"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// viewerRequestJS is the CloudFront Function, deployed exactly as the file
// that infra/edge/viewer-request.test.mjs tests.
//
//go:embed edge/viewer-request.js
var viewerRequestJS string

const (
	// originHeader is the header CloudFront adds to every request to the
	// host; nginx refuses requests without the right value.
	originHeader = "X-Origin-Verify"
	// ViewerAddressHeader is the viewer's address as CloudFront saw it
	// ("<ip>:<port>"), added to API requests; nginx limits writes per
	// viewer by it (app/proxy/templates/default.conf.template).
	ViewerAddressHeader = "CloudFront-Viewer-Address"
	// contentSecurityPolicy is what the SPA (app/web) is built to run
	// under: its own scripts, styles and API only, no inline code, no
	// framing.
	contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
	// hstsSeconds is one year. includeSubDomains is on: everything under
	// the domain is served over TLS. preload is off: the preload list is
	// hard to leave and binds every subdomain of the apex forever, a
	// decision for the domain's owner, not for a stack.
	hstsSeconds = 365 * 24 * 3600
	// Noncurrent object versions (overwritten index.html, deleted files)
	// are kept this long: the window to restore a previous build's files
	// by hand.
	noncurrentDaysProd  = 30
	noncurrentDaysOther = 7
)

// apiPaths are routed to the host, uncached and never rewritten.
var apiPaths = []string{"/api/*", "/healthz", "/readyz"}

// SiteArgs shapes the SPA's bucket and the CloudFront distribution.
type SiteArgs struct {
	Config  stacks.SiteConfig
	Profile stacks.Profile
	Stack   string
	// BuildDir is the SPA build on disk (cfg.Path(cfg.Site.BuildDir)).
	BuildDir string
	// OriginDomain is the host's public DNS name; OriginSecret the value
	// of the origin-verify header (secret).
	OriginDomain pulumi.StringInput
	OriginSecret pulumi.StringInput
	// Domain is the custom apex ("" for none); Certificate its validated
	// ACM certificate in us-east-1 (nil without a domain).
	Domain      string
	Certificate pulumi.StringInput
	// AccessLogs keeps CloudFront access logs for LogRetentionDays, in
	// CloudWatch Logs in us-east-1 through Global.
	AccessLogs       bool
	LogRetentionDays int
	Global           *aws.Provider
}

// Site is the SPA on a private bucket behind CloudFront, with the API
// routed to the host.
type Site struct {
	pulumi.ResourceState

	BucketName     pulumi.StringOutput
	DistributionID pulumi.IDOutput
	// DomainName and HostedZoneID are the alias target of DNS records.
	DomainName   pulumi.StringOutput
	HostedZoneID pulumi.StringOutput
	URL          pulumi.StringOutput
}

// NewSite creates the bucket, the distribution in front of it and the
// host, and uploads the SPA build.
func NewSite(ctx *pulumi.Context, name string, args SiteArgs, opts ...pulumi.ResourceOption) (*Site, error) {
	s := &Site{}
	if err := ctx.RegisterComponentResource("slipway:site:Site", name, s, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(s)
	// Find the build first: a real `up` without one fails before anything
	// is created.
	files, err := spaBuild(ctx, args)
	if err != nil {
		return nil, err
	}

	bucket, err := siteBucket(ctx, name, args, s)
	if err != nil {
		return nil, err
	}
	dist, err := distribution(ctx, name, args, bucket, s)
	if err != nil {
		return nil, err
	}

	// Only this distribution may read, through OAC (CloudFront signs with
	// its service principal and names the distribution in aws:SourceArn),
	// and nothing may talk to the bucket without TLS.
	policy := statements(ctx, parent,
		statement("AllowThisDistributionToRead", "Allow", principal("Service", pulumi.String("cloudfront.amazonaws.com")),
			[]string{"s3:GetObject"}, pulumi.StringArray{pulumi.Sprintf("%s/*", bucket.bucket.Arn)},
			conditions(condition("StringEquals", "AWS:SourceArn", dist.Arn))),
		denyInsecureTransport([]string{"s3:*"}, pulumi.StringArray{bucket.bucket.Arn, pulumi.Sprintf("%s/*", bucket.bucket.Arn)}))
	// S3 rejects concurrent changes to a bucket's access settings, so the
	// policy waits for the public access block.
	if _, err := s3.NewBucketPolicy(ctx, name, &s3.BucketPolicyArgs{
		Bucket: bucket.bucket.ID(),
		Policy: policy,
	}, parent, pulumi.DependsOn([]pulumi.Resource{bucket.publicAccess})); err != nil {
		return nil, err
	}

	if err := uploadSPA(ctx, name, args, bucket.bucket, files, s); err != nil {
		return nil, err
	}
	if args.AccessLogs {
		if err := accessLogs(ctx, name, args, dist, s); err != nil {
			return nil, err
		}
	}

	s.BucketName = bucket.bucket.Bucket
	s.DistributionID = dist.ID()
	s.DomainName = dist.DomainName
	s.HostedZoneID = dist.HostedZoneId
	// The site's address: the apex domain, or the CloudFront domain
	// without one. Both resolve once the distribution exists (the alias set
	// the provider returns is unordered, so the apex is not read from it).
	s.URL = pulumi.Sprintf("https://%s", dist.DomainName)
	if args.Domain != "" {
		s.URL = dist.ID().ApplyT(func(pulumi.ID) string { return "https://" + args.Domain }).(pulumi.StringOutput)
	}
	return s, ctx.RegisterResourceOutputs(s, pulumi.Map{
		"bucketName":     s.BucketName,
		"distributionId": s.DistributionID,
		"domainName":     s.DomainName,
		"url":            s.URL,
	})
}

// spaBuild lists the build to upload. Without one, a real `up` stops with
// the commands that make it; a preview (the offline plan, pull-request
// previews of forks) warns and plans no objects.
func spaBuild(ctx *pulumi.Context, args SiteArgs) ([]spaFile, error) {
	files, err := spaFiles(args.BuildDir)
	if err == nil || !errors.Is(err, errNoBuild) {
		return files, err
	}
	msg := fmt.Sprintf("the SPA has not been built (%v); build it first: "+
		"npm --prefix app/web ci && npm --prefix app/web run build "+
		"(or point slipway:spaBuildDir at a build)", err)
	if ctx.DryRun() {
		return nil, ctx.Log.Warn(msg+"; this preview uploads no SPA files", nil)
	}
	return nil, errors.New(msg)
}

type bucketFamily struct {
	bucket       *s3.BucketV2
	publicAccess *s3.BucketPublicAccessBlock
}

// siteBucket is the private bucket the SPA lives in: no ACLs, no public
// access, encrypted, versioned.
func siteBucket(ctx *pulumi.Context, name string, args SiteArgs, s *Site) (bucketFamily, error) {
	parent := pulumi.Parent(s)
	prod := args.Profile.ProtectsData()
	// forceDestroy only in review stacks, so `pulumi destroy` of a pr-N
	// stack empties the bucket (every version) and always completes; dev
	// and prod refuse to delete a bucket that still holds files, and prod
	// protects it (its old assets serve browsers mid-session).
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		ForceDestroy: pulumi.Bool(args.Profile.Ephemeral()),
	}, parent, pulumi.Protect(prod))
	if err != nil {
		return bucketFamily{}, err
	}
	// Private: CloudFront reads through OAC, which is not public access.
	// SSE-S3: OAC reads it without a KMS key policy for CloudFront.
	pab, err := lockDown(ctx, name, bucket, parent)
	if err != nil {
		return bucketFamily{}, err
	}
	// Versioning keeps what a deploy overwrote or deleted (the previous
	// index.html) restorable for a while.
	versioning, err := s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, parent)
	if err != nil {
		return bucketFamily{}, err
	}
	// ...and the lifecycle bounds it: old versions expire (30 days in
	// prod, 7 elsewhere), leftover delete markers and failed multipart
	// uploads are cleaned up.
	days := noncurrentDaysOther
	if prod {
		days = noncurrentDaysProd
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{&s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:                          pulumi.String("expire-noncurrent-versions"),
			Status:                      pulumi.String("Enabled"),
			Filter:                      &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			NoncurrentVersionExpiration: &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{NoncurrentDays: pulumi.Int(days)},
			Expiration:                  &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{ExpiredObjectDeleteMarker: pulumi.Bool(true)},
			AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
				DaysAfterInitiation: pulumi.Int(1),
			},
		}},
	}, parent, pulumi.DependsOn([]pulumi.Resource{versioning})); err != nil {
		return bucketFamily{}, err
	}
	return bucketFamily{bucket: bucket, publicAccess: pab}, nil
}

// distribution is CloudFront in front of the bucket (the SPA) and the host
// (the API).
func distribution(ctx *pulumi.Context, name string, args SiteArgs, bucket bucketFamily, s *Site) (*cloudfront.Distribution, error) {
	parent := pulumi.Parent(s)
	// OAC, not the legacy Origin Access Identity: SigV4 on every request
	// to S3, so the bucket stays private.
	oac, err := cloudfront.NewOriginAccessControl(ctx, name, &cloudfront.OriginAccessControlArgs{
		Description:                   pulumi.String("Slipway " + args.Stack + ": CloudFront reads the SPA bucket"),
		OriginAccessControlOriginType: pulumi.String("s3"),
		SigningBehavior:               pulumi.String("always"),
		SigningProtocol:               pulumi.String("sigv4"),
	}, parent)
	if err != nil {
		return nil, err
	}
	// SPA routing and the www redirect at the edge (see the file).
	fn, err := cloudfront.NewFunction(ctx, name+"-viewer-request", &cloudfront.FunctionArgs{
		Runtime: pulumi.String("cloudfront-js-2.0"),
		Comment: pulumi.String("Slipway " + args.Stack + ": SPA routes to /index.html, www to the apex"),
		Code:    pulumi.String(viewerRequestJS),
		Publish: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, err
	}
	// Security headers on every response, the SPA's and the API's.
	headers, err := cloudfront.NewResponseHeadersPolicy(ctx, name, &cloudfront.ResponseHeadersPolicyArgs{
		Comment: pulumi.String("Slipway " + args.Stack + ": HSTS, CSP, nosniff, no framing, referrer policy"),
		SecurityHeadersConfig: &cloudfront.ResponseHeadersPolicySecurityHeadersConfigArgs{
			StrictTransportSecurity: &cloudfront.ResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurityArgs{
				AccessControlMaxAgeSec: pulumi.Int(hstsSeconds),
				IncludeSubdomains:      pulumi.Bool(true),
				Preload:                pulumi.Bool(false),
				Override:               pulumi.Bool(true),
			},
			ContentTypeOptions: &cloudfront.ResponseHeadersPolicySecurityHeadersConfigContentTypeOptionsArgs{
				Override: pulumi.Bool(true),
			},
			FrameOptions: &cloudfront.ResponseHeadersPolicySecurityHeadersConfigFrameOptionsArgs{
				FrameOption: pulumi.String("DENY"),
				Override:    pulumi.Bool(true),
			},
			ReferrerPolicy: &cloudfront.ResponseHeadersPolicySecurityHeadersConfigReferrerPolicyArgs{
				ReferrerPolicy: pulumi.String("strict-origin-when-cross-origin"),
				Override:       pulumi.Bool(true),
			},
			ContentSecurityPolicy: &cloudfront.ResponseHeadersPolicySecurityHeadersConfigContentSecurityPolicyArgs{
				ContentSecurityPolicy: pulumi.String(contentSecurityPolicy),
				Override:              pulumi.Bool(true),
			},
		},
	}, parent)
	if err != nil {
		return nil, err
	}

	// AWS-managed policies, looked up by name: same id in every account.
	cachingOptimized := cloudfront.LookupCachePolicyOutput(ctx, cloudfront.LookupCachePolicyOutputArgs{
		Name: pulumi.String("Managed-CachingOptimized")}, parent).Id()
	cachingDisabled := cloudfront.LookupCachePolicyOutput(ctx, cloudfront.LookupCachePolicyOutputArgs{
		Name: pulumi.String("Managed-CachingDisabled")}, parent).Id()
	// The API's origin requests carry CloudFront-Viewer-Address, which
	// nginx keys its per-viewer write limit on. CloudFront adds that
	// header only when an origin request policy lists it, and then sets
	// it itself; under the managed AllViewerExceptHostHeader policy a
	// header of that name would be the viewer's own, so a viewer could
	// choose its rate-limit bucket. No header behaviour both adds a
	// CloudFront header and leaves out Host, so Host is passed on too:
	// nginx serves any name (server_name _) and the origin's address is
	// the origin's domain name either way.
	apiRequests, err := cloudfront.NewOriginRequestPolicy(ctx, name+"-api", &cloudfront.OriginRequestPolicyArgs{
		Comment: pulumi.String("Slipway " + args.Stack + ": API requests with the viewer's headers and CloudFront-Viewer-Address"),
		HeadersConfig: &cloudfront.OriginRequestPolicyHeadersConfigArgs{
			HeaderBehavior: pulumi.String("allViewerAndWhitelistCloudFront"),
			Headers: &cloudfront.OriginRequestPolicyHeadersConfigHeadersArgs{
				Items: pulumi.ToStringArray([]string{ViewerAddressHeader}),
			},
		},
		CookiesConfig:      &cloudfront.OriginRequestPolicyCookiesConfigArgs{CookieBehavior: pulumi.String("all")},
		QueryStringsConfig: &cloudfront.OriginRequestPolicyQueryStringsConfigArgs{QueryStringBehavior: pulumi.String("all")},
	}, parent)
	if err != nil {
		return nil, err
	}

	const spaOrigin, apiOrigin = "spa", "api"
	// The API behaviours: every method, nothing cached (every request
	// reaches the host), the viewer's headers, cookies and query passed on
	// with the viewer's address (apiRequests). No function: API paths are never
	// rewritten. HTTPS only rather than a redirect: a redirected POST
	// would come back as a GET. nginx compresses its own responses.
	api := cloudfront.DistributionOrderedCacheBehaviorArray{}
	for _, p := range apiPaths {
		api = append(api, cloudfront.DistributionOrderedCacheBehaviorArgs{
			PathPattern:             pulumi.String(p),
			TargetOriginId:          pulumi.String(apiOrigin),
			ViewerProtocolPolicy:    pulumi.String("https-only"),
			AllowedMethods:          pulumi.ToStringArray([]string{"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}),
			CachedMethods:           pulumi.ToStringArray([]string{"GET", "HEAD"}),
			CachePolicyId:           cachingDisabled,
			OriginRequestPolicyId:   apiRequests.ID(),
			ResponseHeadersPolicyId: headers.ID(),
			Compress:                pulumi.Bool(false),
		})
	}

	certificate := &cloudfront.DistributionViewerCertificateArgs{CloudfrontDefaultCertificate: pulumi.Bool(true)}
	var aliases pulumi.StringArrayInput
	if args.Domain != "" {
		// The certificate ARN comes from the certificate validation, so the
		// distribution waits until ACM has issued it.
		certificate = &cloudfront.DistributionViewerCertificateArgs{
			AcmCertificateArn:      args.Certificate,
			SslSupportMethod:       pulumi.String("sni-only"),
			MinimumProtocolVersion: pulumi.String("TLSv1.2_2021"),
		}
		aliases = pulumi.ToStringArray([]string{args.Domain, "www." + args.Domain})
	}

	return cloudfront.NewDistribution(ctx, name, &cloudfront.DistributionArgs{
		Enabled:           pulumi.Bool(true),
		Comment:           pulumi.String("Slipway " + args.Stack),
		Aliases:           aliases,
		HttpVersion:       pulumi.String("http2and3"),
		IsIpv6Enabled:     pulumi.Bool(true),
		PriceClass:        pulumi.String(args.Config.PriceClass),
		DefaultRootObject: pulumi.String("index.html"),
		Origins: cloudfront.DistributionOriginArray{
			cloudfront.DistributionOriginArgs{
				OriginId:              pulumi.String(spaOrigin),
				DomainName:            bucket.bucket.BucketRegionalDomainName,
				OriginAccessControlId: oac.ID(),
			},
			// The host, over HTTP on port 80: its security group admits
			// only CloudFront's origin-facing addresses, and the secret
			// header proves to nginx that the request came through this
			// distribution. The header value is secret in state.
			cloudfront.DistributionOriginArgs{
				OriginId:   pulumi.String(apiOrigin),
				DomainName: args.OriginDomain,
				CustomOriginConfig: &cloudfront.DistributionOriginCustomOriginConfigArgs{
					HttpPort:             pulumi.Int(80),
					HttpsPort:            pulumi.Int(443),
					OriginProtocolPolicy: pulumi.String("http-only"),
					OriginSslProtocols:   pulumi.ToStringArray([]string{"TLSv1.2"}),
				},
				CustomHeaders: cloudfront.DistributionOriginCustomHeaderArray{cloudfront.DistributionOriginCustomHeaderArgs{
					Name:  pulumi.String(originHeader),
					Value: args.OriginSecret,
				}},
			},
		},
		// The SPA: cached at the edge by the object's own Cache-Control
		// (immutable assets for a year, index.html revalidated), HTTP
		// redirected to HTTPS, compressed.
		DefaultCacheBehavior: &cloudfront.DistributionDefaultCacheBehaviorArgs{
			TargetOriginId:          pulumi.String(spaOrigin),
			ViewerProtocolPolicy:    pulumi.String("redirect-to-https"),
			AllowedMethods:          pulumi.ToStringArray([]string{"GET", "HEAD", "OPTIONS"}),
			CachedMethods:           pulumi.ToStringArray([]string{"GET", "HEAD"}),
			CachePolicyId:           cachingOptimized,
			ResponseHeadersPolicyId: headers.ID(),
			Compress:                pulumi.Bool(true),
			FunctionAssociations: cloudfront.DistributionDefaultCacheBehaviorFunctionAssociationArray{
				cloudfront.DistributionDefaultCacheBehaviorFunctionAssociationArgs{
					EventType:   pulumi.String("viewer-request"),
					FunctionArn: fn.Arn,
				},
			},
		},
		OrderedCacheBehaviors: api,
		Restrictions: &cloudfront.DistributionRestrictionsArgs{
			GeoRestriction: &cloudfront.DistributionRestrictionsGeoRestrictionArgs{RestrictionType: pulumi.String("none")},
		},
		ViewerCertificate: certificate,
	}, parent)
}

// uploadSPA puts every file of the build in the bucket, one object each.
//
// Old hashed assets must outlive a deploy: a browser that loaded the
// previous index.html still asks for the previous assets/index-<old>.js.
// Pulumi deletes objects that are no longer in the program, so hashed
// assets are RetainOnDelete in dev and prod: a later build drops them from
// the state, never from the bucket. They are immutable and small (a build
// is some hundred kB), so keeping them costs next to nothing; docs/edge.md
// says how to prune them by hand. Versioning alone would not do: a deleted
// object's old version is no longer served. Review stacks do not retain:
// forceDestroy empties their bucket, so `pulumi destroy` still removes
// everything.
//
// index.html and the other unhashed files are written after every hashed
// asset, so no index.html ever names an asset that is not there yet.
func uploadSPA(ctx *pulumi.Context, name string, args SiteArgs, bucket *s3.BucketV2, files []spaFile, s *Site) error {
	retain := !args.Profile.Ephemeral()
	var assets []pulumi.Resource
	upload := func(f spaFile, opts ...pulumi.ResourceOption) (*s3.BucketObjectv2, error) {
		return s3.NewBucketObjectv2(ctx, name+"/"+f.Key, &s3.BucketObjectv2Args{
			Bucket:       bucket.ID(),
			Key:          pulumi.String(f.Key),
			Source:       pulumi.NewFileAsset(f.Path),
			SourceHash:   pulumi.String(f.SHA256),
			ContentType:  pulumi.String(f.ContentType),
			CacheControl: pulumi.String(f.CacheControl),
		}, append([]pulumi.ResourceOption{pulumi.Parent(s)}, opts...)...)
	}
	for _, f := range files {
		if !f.Hashed {
			continue
		}
		obj, err := upload(f, pulumi.RetainOnDelete(retain))
		if err != nil {
			return err
		}
		assets = append(assets, obj)
	}
	for _, f := range files {
		if f.Hashed {
			continue
		}
		if _, err := upload(f, pulumi.DependsOn(assets)); err != nil {
			return err
		}
	}
	return nil
}

// accessLogs keeps CloudFront's access logs in CloudWatch Logs for the
// stack's log retention, through CloudFront's standard logging v2 (vended
// log delivery). Chosen over the legacy logging to S3, which needs a
// bucket with ACLs enabled and the awslogsdelivery account granted in
// them: here no ACL exists anywhere, retention is one setting, and the logs
// are queryable with Logs Insights. CloudFront's delivery source must live
// in us-east-1, so all four resources use the us-east-1 provider;
// CloudWatch Logs adds the log group's resource policy for the delivery
// service itself.
func accessLogs(ctx *pulumi.Context, name string, args SiteArgs, dist *cloudfront.Distribution, s *Site) error {
	opts := []pulumi.ResourceOption{pulumi.Parent(s), pulumi.Provider(args.Global)}
	group, err := cloudwatch.NewLogGroup(ctx, name+"-access-logs", &cloudwatch.LogGroupArgs{
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
	}, opts...)
	if err != nil {
		return err
	}
	source, err := cloudwatch.NewLogDeliverySource(ctx, name+"-access-logs", &cloudwatch.LogDeliverySourceArgs{
		LogType:     pulumi.String("ACCESS_LOGS"),
		ResourceArn: dist.Arn,
	}, opts...)
	if err != nil {
		return err
	}
	destination, err := cloudwatch.NewLogDeliveryDestination(ctx, name+"-access-logs", &cloudwatch.LogDeliveryDestinationArgs{
		OutputFormat: pulumi.String("json"),
		DeliveryDestinationConfiguration: &cloudwatch.LogDeliveryDestinationDeliveryDestinationConfigurationArgs{
			DestinationResourceArn: group.Arn,
		},
	}, opts...)
	if err != nil {
		return err
	}
	_, err = cloudwatch.NewLogDelivery(ctx, name+"-access-logs", &cloudwatch.LogDeliveryArgs{
		DeliverySourceName:     source.Name,
		DeliveryDestinationArn: destination.Arn,
	}, opts...)
	return err
}
