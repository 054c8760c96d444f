package infra

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/wafv2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// What nginx does on the host at the edge of the API
// (app/proxy/templates/default.conf.template) that the load balancer
// cannot: maintenance mode (503 with Retry-After, health endpoints
// excepted) and the per-viewer write limit (limit_req, 429). On ECS an
// AWS WAF web ACL on the api load balancer does both; docs/scaling.md
// says why WAF and not an nginx sidecar.
const (
	// wafScope is a web ACL for a regional resource (the load balancer),
	// not for CloudFront (the edge is unchanged by the ECS profile).
	wafScope = "REGIONAL"

	// maintenanceOff and maintenanceOn are the maintenance pattern set's
	// one regular expression: an empty path never occurs (off), every
	// path starts with a slash (on). `slipway maintenance on|off` swaps
	// them with UpdateRegexPatternSet; Pulumi creates the set "off" and
	// then ignores its expressions, so a deploy never ends a maintenance.
	maintenanceOff = "^$"
	maintenanceOn  = "^/"

	// maintenanceRetryAfter and maintenanceBody are nginx's maintenance
	// answer, to the byte (TestFirewallAnswersAsNginxDoes reads them out
	// of the template).
	maintenanceRetryAfter = "120"
	maintenanceBody       = `{"statusCode":503,"error":"Service Unavailable","message":"down for maintenance, please retry later"}` + "\n"
	// tooManyWritesBody is nginx's 429 body (@too_many_writes).
	tooManyWritesBody = `{"statusCode":429,"error":"Too Many Requests","message":"too many write requests; slow down"}` + "\n"

	// healthPaths are never in maintenance, as nginx's own location for
	// them is not. ALB target health checks never pass through WAF; this
	// keeps the viewer-facing /healthz and /readyz (CloudFront routes
	// them to the API, site.go apiPaths) answering from the tasks.
	healthPaths = `^/(healthz|readyz)$`
	// writeMethods and apiPrefix are what nginx limits: writes under /api/.
	writeMethods = `^(POST|PUT|PATCH|DELETE)$`
	apiPrefix    = "/api/"

	// proxyWriteRate is nginx's write rate, PROXY_WRITE_RATE's default
	// in app/proxy/docker-entrypoint.d/15-slipway-env.envsh (no stack
	// config and not the release set it, so it is what every host runs;
	// TestFirewallAnswersAsNginxDoes fails if the two drift apart).
	// PROXY_WRITE_BURST (10) has no WAF equivalent (WAFWriteLimit).
	proxyWriteRate = "1r/s"
)

// wafWindows are the evaluation windows a rate-based rule accepts
// (seconds); wafMinLimit and wafMaxLimit its limit's bounds per window
// (AWS WAF Developer Guide, "Rate-based rule statement").
var wafWindows = []int{60, 120, 300, 600}

const wafMinLimit, wafMaxLimit = 10, 2_000_000_000

// WAFWriteLimit converts nginx's rate (<n>r/s or <n>r/m) into a WAF
// limit per evaluation window with the same average rate: the shortest
// window whose count reaches WAF's minimum of 10, so the shape stays as
// close to nginx's as WAF allows. nginx's burst has no equivalent: WAF
// counts requests over the window, so a viewer may spend the window's
// whole count at once (60 writes in a second at 1r/s, where nginx lets
// burst+1 = 11 through and then one a second).
func WAFWriteLimit(rate string) (limit, window int, err error) {
	n, unit, ok := strings.Cut(strings.TrimSpace(rate), "r/")
	count, convErr := strconv.Atoi(n)
	if !ok || convErr != nil || count < 1 || n != strconv.Itoa(count) || (unit != "s" && unit != "m") {
		return 0, 0, fmt.Errorf("proxy write rate %q is not accepted: expected <n>r/s or <n>r/m with n from 1", rate)
	}
	for _, w := range wafWindows {
		limit = count * w / 60 // r/m: every window is whole minutes
		if unit == "s" {
			limit = count * w
		}
		if limit >= wafMinLimit && limit <= wafMaxLimit {
			return limit, w, nil
		}
	}
	return 0, 0, fmt.Errorf("proxy write rate %q has no WAF equivalent: a limit must be %d to %d per window of %v seconds",
		rate, wafMinLimit, wafMaxLimit, wafWindows)
}

// ApiFirewallArgs shapes the api load balancer's web ACL.
type ApiFirewallArgs struct {
	// LoadBalancerARN is the api load balancer the web ACL is associated
	// with.
	LoadBalancerARN pulumi.StringInput
	// MetricPrefix is <project>-<stack>: the CloudWatch metric names of
	// the web ACL and its rules (metric names are not auto-named).
	MetricPrefix string
	Stack        string
}

// ApiFirewall is the web ACL in front of the API's load balancer: the
// maintenance switch and the per-viewer write limit nginx provides on the
// host. Every other request is allowed (the default action): the origin
// check stays the listener rule's (loadbalancer.go).
type ApiFirewall struct {
	pulumi.ResourceState

	WebACLARN pulumi.StringOutput
	// PatternSetName and PatternSetID name the maintenance switch for
	// `slipway maintenance` (the stack output `maintenance`).
	PatternSetName pulumi.StringOutput
	PatternSetID   pulumi.IDOutput
	// WriteLimit and WriteWindowSeconds are the rate rules' limit per
	// window, from nginx's rate.
	WriteLimit, WriteWindowSeconds int
}

// NewApiFirewall creates the maintenance pattern set, the web ACL with
// its three rules, and the ACL's association with the load balancer.
func NewApiFirewall(ctx *pulumi.Context, name string, args ApiFirewallArgs, opts ...pulumi.ResourceOption) (*ApiFirewall, error) {
	limit, window, err := WAFWriteLimit(proxyWriteRate)
	if err != nil {
		return nil, err
	}
	f := &ApiFirewall{WriteLimit: limit, WriteWindowSeconds: window}
	if err := ctx.RegisterComponentResource("slipway:firewall:ApiFirewall", name, f, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(f)

	// The maintenance switch. Created off; its expressions belong to
	// `slipway maintenance` from then on (ignoreChanges), so an `up`
	// during a maintenance window leaves the window open.
	set, err := wafv2.NewRegexPatternSet(ctx, name+"-maintenance", &wafv2.RegexPatternSetArgs{
		Scope: pulumi.String(wafScope),
		// WAF descriptions take letters, digits, spaces and +=:#@/-,._
		// only.
		Description: pulumi.String("Slipway " + args.Stack + " maintenance mode switch, set by slipway maintenance on/off"),
		RegularExpressions: wafv2.RegexPatternSetRegularExpressionArray{
			wafv2.RegexPatternSetRegularExpressionArgs{RegexString: pulumi.String(maintenanceOff)},
		},
	}, parent, pulumi.IgnoreChanges([]string{"regularExpressions"}))
	if err != nil {
		return nil, err
	}
	f.PatternSetName, f.PatternSetID = set.Name, set.ID()

	visibility := func(metric string) wafv2.WebAclRuleVisibilityConfigArgs {
		return wafv2.WebAclRuleVisibilityConfigArgs{
			CloudwatchMetricsEnabled: pulumi.Bool(true),
			SampledRequestsEnabled:   pulumi.Bool(true),
			MetricName:               pulumi.String(args.MetricPrefix + "-" + metric),
		}
	}
	none := wafv2.WebAclRuleStatementRegexMatchStatementTextTransformationArray{
		wafv2.WebAclRuleStatementRegexMatchStatementTextTransformationArgs{Priority: pulumi.Int(0), Type: pulumi.String("NONE")},
	}
	uriPath := &wafv2.WebAclRuleStatementRegexMatchStatementFieldToMatchArgs{
		UriPath: &wafv2.WebAclRuleStatementRegexMatchStatementFieldToMatchUriPathArgs{},
	}
	// Maintenance: every path the pattern set matches (all of them while
	// on) but the health endpoints.
	maintenance := wafv2.WebAclRuleArgs{
		Name:     pulumi.String("maintenance"),
		Priority: pulumi.Int(0),
		Action: &wafv2.WebAclRuleActionArgs{Block: &wafv2.WebAclRuleActionBlockArgs{
			CustomResponse: &wafv2.WebAclRuleActionBlockCustomResponseArgs{
				ResponseCode:          pulumi.Int(503),
				CustomResponseBodyKey: pulumi.String("maintenance"),
				ResponseHeaders: wafv2.WebAclRuleActionBlockCustomResponseResponseHeaderArray{
					wafv2.WebAclRuleActionBlockCustomResponseResponseHeaderArgs{Name: pulumi.String("Retry-After"), Value: pulumi.String(maintenanceRetryAfter)},
					wafv2.WebAclRuleActionBlockCustomResponseResponseHeaderArgs{Name: pulumi.String("Cache-Control"), Value: pulumi.String("no-store")},
				},
			},
		}},
		Statement: &wafv2.WebAclRuleStatementArgs{AndStatement: &wafv2.WebAclRuleStatementAndStatementArgs{
			Statements: wafv2.WebAclRuleStatementArray{
				wafv2.WebAclRuleStatementArgs{RegexPatternSetReferenceStatement: &wafv2.WebAclRuleStatementRegexPatternSetReferenceStatementArgs{
					Arn: set.Arn,
					FieldToMatch: &wafv2.WebAclRuleStatementRegexPatternSetReferenceStatementFieldToMatchArgs{
						UriPath: &wafv2.WebAclRuleStatementRegexPatternSetReferenceStatementFieldToMatchUriPathArgs{},
					},
					TextTransformations: wafv2.WebAclRuleStatementRegexPatternSetReferenceStatementTextTransformationArray{
						wafv2.WebAclRuleStatementRegexPatternSetReferenceStatementTextTransformationArgs{Priority: pulumi.Int(0), Type: pulumi.String("NONE")},
					},
				}},
				wafv2.WebAclRuleStatementArgs{NotStatement: &wafv2.WebAclRuleStatementNotStatementArgs{
					Statements: wafv2.WebAclRuleStatementArray{wafv2.WebAclRuleStatementArgs{
						RegexMatchStatement: &wafv2.WebAclRuleStatementRegexMatchStatementArgs{
							RegexString: pulumi.String(healthPaths), FieldToMatch: uriPath, TextTransformations: none,
						},
					}},
				}},
			},
		}},
		VisibilityConfig: visibility("maintenance"),
	}

	// Writes under /api/ (the path decoded and normalized first, as
	// nginx matches its location on the normalized URI), as nginx counts
	// them for limit_req.
	writes := &wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementArgs{
		AndStatement: &wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementAndStatementArgs{
			Statements: wafv2.WebAclRuleStatementArray{
				wafv2.WebAclRuleStatementArgs{RegexMatchStatement: &wafv2.WebAclRuleStatementRegexMatchStatementArgs{
					RegexString: pulumi.String(writeMethods),
					FieldToMatch: &wafv2.WebAclRuleStatementRegexMatchStatementFieldToMatchArgs{
						Method: &wafv2.WebAclRuleStatementRegexMatchStatementFieldToMatchMethodArgs{},
					},
					TextTransformations: none,
				}},
				wafv2.WebAclRuleStatementArgs{ByteMatchStatement: &wafv2.WebAclRuleStatementByteMatchStatementArgs{
					SearchString:         pulumi.String(apiPrefix),
					PositionalConstraint: pulumi.String("STARTS_WITH"),
					FieldToMatch: &wafv2.WebAclRuleStatementByteMatchStatementFieldToMatchArgs{
						UriPath: &wafv2.WebAclRuleStatementByteMatchStatementFieldToMatchUriPathArgs{},
					},
					TextTransformations: wafv2.WebAclRuleStatementByteMatchStatementTextTransformationArray{
						wafv2.WebAclRuleStatementByteMatchStatementTextTransformationArgs{Priority: pulumi.Int(0), Type: pulumi.String("URL_DECODE")},
						wafv2.WebAclRuleStatementByteMatchStatementTextTransformationArgs{Priority: pulumi.Int(1), Type: pulumi.String("NORMALIZE_PATH")},
					},
				}},
			},
		},
	}
	tooMany := &wafv2.WebAclRuleActionArgs{Block: &wafv2.WebAclRuleActionBlockArgs{
		CustomResponse: &wafv2.WebAclRuleActionBlockCustomResponseArgs{
			ResponseCode:          pulumi.Int(429),
			CustomResponseBodyKey: pulumi.String("too-many-writes"),
			// WAF blocks until the viewer's count over the window falls
			// below the limit: up to a window, where nginx's bucket
			// frees a place every second (its Retry-After: 1).
			ResponseHeaders: wafv2.WebAclRuleActionBlockCustomResponseResponseHeaderArray{
				wafv2.WebAclRuleActionBlockCustomResponseResponseHeaderArgs{Name: pulumi.String("Retry-After"), Value: pulumi.String(strconv.Itoa(window))},
			},
		},
	}}
	// The viewer is CloudFront-Viewer-Address ("<ip>:<port>"), which
	// CloudFront sets itself on API requests (site.go's origin request
	// policy adds it, so a viewer's own header of that name is replaced):
	// a viewer cannot choose its bucket. X-Forwarded-For is not used: WAF
	// reads its *first* address, which the viewer writes (CloudFront
	// appends the real one last). nginx keys on the address without the
	// port; WAF has no transformation that drops a port, so two rules:
	//   - writes-per-viewer reads the address as a forwarded IP. Whether
	//     WAF takes "<ip>:<port>" as a valid address is not documented;
	//     if it does not, NO_MATCH leaves the request uncounted (MATCH
	//     would put every viewer in one bucket: a limit for the whole
	//     site).
	//   - writes-per-connection keys on the header's whole value, which
	//     WAF documents: a viewer's connection (browsers keep one to
	//     CloudFront). It is the floor when the first rule counts
	//     nothing; a client that reconnects per window escapes it.
	// A request without the header (none came through CloudFront's API
	// behaviours) is counted by neither; the listener refuses it (403).
	perViewer := wafv2.WebAclRuleArgs{
		Name:     pulumi.String("writes-per-viewer"),
		Priority: pulumi.Int(1),
		Action:   tooMany,
		Statement: &wafv2.WebAclRuleStatementArgs{RateBasedStatement: &wafv2.WebAclRuleStatementRateBasedStatementArgs{
			Limit:               pulumi.Int(limit),
			EvaluationWindowSec: pulumi.Int(window),
			AggregateKeyType:    pulumi.String("FORWARDED_IP"),
			ForwardedIpConfig: &wafv2.WebAclRuleStatementRateBasedStatementForwardedIpConfigArgs{
				HeaderName:       pulumi.String(ViewerAddressHeader),
				FallbackBehavior: pulumi.String("NO_MATCH"),
			},
			ScopeDownStatement: writes,
		}},
		VisibilityConfig: visibility("writes-per-viewer"),
	}
	perConnection := wafv2.WebAclRuleArgs{
		Name:     pulumi.String("writes-per-connection"),
		Priority: pulumi.Int(2),
		Action:   tooMany,
		Statement: &wafv2.WebAclRuleStatementArgs{RateBasedStatement: &wafv2.WebAclRuleStatementRateBasedStatementArgs{
			Limit:               pulumi.Int(limit),
			EvaluationWindowSec: pulumi.Int(window),
			AggregateKeyType:    pulumi.String("CUSTOM_KEYS"),
			CustomKeys: wafv2.WebAclRuleStatementRateBasedStatementCustomKeyArray{
				wafv2.WebAclRuleStatementRateBasedStatementCustomKeyArgs{
					Header: &wafv2.WebAclRuleStatementRateBasedStatementCustomKeyHeaderArgs{
						Name: pulumi.String(ViewerAddressHeader),
						TextTransformations: wafv2.WebAclRuleStatementRateBasedStatementCustomKeyHeaderTextTransformationArray{
							wafv2.WebAclRuleStatementRateBasedStatementCustomKeyHeaderTextTransformationArgs{Priority: pulumi.Int(0), Type: pulumi.String("NONE")},
						},
					},
				},
			},
			ScopeDownStatement: writes,
		}},
		VisibilityConfig: visibility("writes-per-connection"),
	}

	acl, err := wafv2.NewWebAcl(ctx, name, &wafv2.WebAclArgs{
		Scope:         pulumi.String(wafScope),
		Description:   pulumi.String("Slipway " + args.Stack + " API: maintenance mode and per-viewer write limits, as nginx on the host"),
		DefaultAction: &wafv2.WebAclDefaultActionArgs{Allow: &wafv2.WebAclDefaultActionAllowArgs{}},
		CustomResponseBodies: wafv2.WebAclCustomResponseBodyArray{
			wafv2.WebAclCustomResponseBodyArgs{Key: pulumi.String("maintenance"), ContentType: pulumi.String("APPLICATION_JSON"), Content: pulumi.String(maintenanceBody)},
			wafv2.WebAclCustomResponseBodyArgs{Key: pulumi.String("too-many-writes"), ContentType: pulumi.String("APPLICATION_JSON"), Content: pulumi.String(tooManyWritesBody)},
		},
		Rules: wafv2.WebAclRuleArray{maintenance, perViewer, perConnection},
		VisibilityConfig: wafv2.WebAclVisibilityConfigArgs{
			CloudwatchMetricsEnabled: pulumi.Bool(true),
			SampledRequestsEnabled:   pulumi.Bool(true),
			MetricName:               pulumi.String(args.MetricPrefix + "-api"),
		},
	}, parent)
	if err != nil {
		return nil, err
	}
	f.WebACLARN = acl.Arn
	if _, err := wafv2.NewWebAclAssociation(ctx, name, &wafv2.WebAclAssociationArgs{
		ResourceArn: args.LoadBalancerARN,
		WebAclArn:   acl.Arn,
	}, parent); err != nil {
		return nil, err
	}
	return f, ctx.RegisterResourceOutputs(f, pulumi.Map{
		"webAclArn":      acl.Arn,
		"patternSetName": set.Name,
		"patternSetId":   set.ID(),
	})
}
