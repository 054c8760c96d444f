package infra_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"slipway/app"
	"slipway/infra"
	"slipway/internal/mockcloud"
)

const (
	webACLType      = "aws:wafv2/webAcl:WebAcl"
	patternSetType  = "aws:wafv2/regexPatternSet:RegexPatternSet"
	associationType = "aws:wafv2/webAclAssociation:WebAclAssociation"
)

// wafRule is the web ACL's rule of that name, as recorded.
func wafRule(t *testing.T, acl mockcloud.Resource, name string) map[string]any {
	t.Helper()
	rules, _ := acl.In("rules").([]any)
	for _, r := range rules {
		if m, _ := r.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("web ACL %s: no rule %q", acl.Name, name)
	return nil
}

// at reads a nested value of a recorded input by dotted path, as
// mockcloud.Resource.In does.
func at(v any, path string) any {
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.Index(part, "["); i >= 0 {
			name, idx = part[:i], int(part[i+1]-'0')
		}
		m, _ := v.(map[string]any)
		v = m[name]
		if idx >= 0 {
			arr, _ := v.([]any)
			if idx >= len(arr) {
				return nil
			}
			v = arr[idx]
		}
	}
	return v
}

// In ecs mode one web ACL, in front of the api load balancer: REGIONAL,
// allowing by default, with metrics and sampled requests; in host mode
// none (nginx does its work).
func TestFirewallIsTheLoadBalancersInECSModeOnly(t *testing.T) {
	for _, stack := range ecsStacks {
		for _, typ := range []string{webACLType, patternSetType, associationType} {
			if n := len(deploy(t, stack).ByType(typ)); n != 0 {
				t.Errorf("%s host mode: %d %s", stack, n, typ)
			}
		}
		res := deploy(t, stack, onECSFor(stack))
		acl, lb, assoc := one(t, res, webACLType), one(t, res, "aws:lb/loadBalancer:LoadBalancer"), one(t, res, associationType)
		if assoc.Str("webAclArn") != acl.Out("arn") || assoc.Str("resourceArn") != lb.Out("arn") {
			t.Errorf("%s: association %s -> %s, want the web ACL %v on the load balancer %v", stack,
				assoc.Str("webAclArn"), assoc.Str("resourceArn"), acl.Out("arn"), lb.Out("arn"))
		}
		if acl.Str("scope") != "REGIONAL" || at(acl.In("defaultAction"), "allow") == nil || at(acl.In("defaultAction"), "block") != nil {
			t.Errorf("%s: web ACL scope %q default %v", stack, acl.Str("scope"), acl.In("defaultAction"))
		}
		if acl.Str("name") != "" || !strings.HasPrefix(acl.Out("name").(string), "slipway-"+stack+"-firewall-") {
			t.Errorf("%s: web ACL named %v, want auto-named slipway-%s-firewall-*", stack, acl.Out("name"), stack)
		}
		visible := func(what string, v any) {
			if at(v, "cloudwatchMetricsEnabled") != true || at(v, "sampledRequestsEnabled") != true ||
				!strings.HasPrefix(at(v, "metricName").(string), "slipway-"+stack+"-") {
				t.Errorf("%s: %s visibility %v", stack, what, v)
			}
		}
		visible("web ACL", acl.In("visibilityConfig"))
		rules, _ := acl.In("rules").([]any)
		names := []string{}
		for _, r := range rules {
			visible("rule", at(r, "visibilityConfig"))
			names = append(names, at(r, "name").(string))
		}
		if !slices.Equal(names, []string{"maintenance", "writes-per-viewer", "writes-per-connection"}) {
			t.Errorf("%s: rules %v", stack, names)
		}
		// WAF's pattern for descriptions (API reference, CreateWebACL).
		description := regexp.MustCompile(`^[\w+=:#@/\-,\.][\w+=:#@/\-,\.\s]+[\w+=:#@/\-,\.]$`)
		for _, r := range []mockcloud.Resource{acl, one(t, res, patternSetType)} {
			if d := r.Str("description"); !description.MatchString(d) || len(d) > 256 {
				t.Errorf("%s: %s description %q: WAF refuses it", stack, r.Type, d)
			}
		}
		for _, r := range []mockcloud.Resource{acl, one(t, res, patternSetType), assoc} {
			if !strings.HasSuffix(r.Parent, "slipway:firewall:ApiFirewall::firewall") {
				t.Errorf("%s: %s %s is parented to %s, not the firewall", stack, r.Type, r.Name, r.Parent)
			}
		}
	}
}

// Maintenance: the pattern set is created off (^$) and then left to
// `slipway maintenance` (ignoreChanges); while on (^/) every path but the
// health endpoints gets nginx's 503, Retry-After and body. The stack
// output names the set for the command.
func TestFirewallMaintenanceMode(t *testing.T) {
	for _, stack := range ecsStacks {
		res := deploy(t, stack, onECSFor(stack))
		acl, set := one(t, res, webACLType), one(t, res, patternSetType)
		exprs, _ := set.In("regularExpressions").([]any)
		if len(exprs) != 1 || at(exprs[0], "regexString") != "^$" || set.Str("scope") != "REGIONAL" {
			t.Errorf("%s: pattern set %v scope %s, want one expression ^$ (off), REGIONAL", stack, exprs, set.Str("scope"))
		}
		if !slices.Equal(set.IgnoreChanges, []string{"regularExpressions"}) {
			t.Errorf("%s: pattern set ignoreChanges %v: a deploy would end a maintenance window", stack, set.IgnoreChanges)
		}
		rule := wafRule(t, acl, "maintenance")
		if at(rule, "priority") != 0.0 {
			t.Errorf("%s: maintenance priority %v, want 0 (before the write limits, as nginx returns before limit_req)", stack, at(rule, "priority"))
		}
		resp := at(rule, "action.block.customResponse")
		if at(resp, "responseCode") != 503.0 || at(resp, "customResponseBodyKey") != "maintenance" {
			t.Errorf("%s: maintenance answers %v", stack, resp)
		}
		headers := map[string]any{}
		for _, h := range at(resp, "responseHeaders").([]any) {
			headers[at(h, "name").(string)] = at(h, "value")
		}
		if len(headers) != 2 || headers["Retry-After"] != "120" || headers["Cache-Control"] != "no-store" {
			t.Errorf("%s: maintenance headers %v", stack, headers)
		}
		ref := at(rule, "statement.andStatement.statements[0].regexPatternSetReferenceStatement")
		if at(ref, "arn") != set.Out("arn") || at(ref, "fieldToMatch.uriPath") == nil {
			t.Errorf("%s: maintenance matches %v, want the pattern set on the URI path", stack, ref)
		}
		health := at(rule, "statement.andStatement.statements[1].notStatement.statements[0].regexMatchStatement")
		if at(health, "fieldToMatch.uriPath") == nil {
			t.Fatalf("%s: maintenance does not except the health paths: %v", stack, at(rule, "statement"))
		}
		// What the rule blocks with the switch off and on, evaluated with
		// the recorded expressions (RE2, as WAF's regex match is).
		healthRE := regexp.MustCompile(at(health, "regexString").(string))
		blocks := func(pattern, path string) bool {
			return regexp.MustCompile(pattern).MatchString(path) && !healthRE.MatchString(path)
		}
		for _, path := range []string{"/api/items", "/api/items/42", "/", "/healthz/x", "/api/healthz"} {
			if blocks("^$", path) || !blocks("^/", path) {
				t.Errorf("%s: %s: blocked off=%v on=%v, want false/true", stack, path, blocks("^$", path), blocks("^/", path))
			}
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			if blocks("^/", path) {
				t.Errorf("%s: %s is in maintenance: nginx never puts the health endpoints in it", stack, path)
			}
		}
		out, _ := res.Outputs["maintenance"].Value.(map[string]any)
		if len(out) != 3 || out["patternSetName"] != set.Out("name") || out["patternSetId"] != set.ID || out["scope"] != "REGIONAL" {
			t.Errorf("%s: maintenance output %v, want the pattern set's name %v, id %v and REGIONAL", stack, out, set.Out("name"), set.ID)
		}
	}
}

// The write limit: writes (POST, PUT, PATCH, DELETE) under /api/ per
// viewer, keyed on CloudFront-Viewer-Address (never X-Forwarded-For,
// whose first entry the viewer writes), at nginx's average rate, blocked
// with 429 and nginx's body.
func TestFirewallLimitsWritesPerViewer(t *testing.T) {
	for _, stack := range ecsStacks {
		res := deploy(t, stack, onECSFor(stack))
		acl := one(t, res, webACLType)
		for _, name := range []string{"writes-per-viewer", "writes-per-connection"} {
			rule := wafRule(t, acl, name)
			resp := at(rule, "action.block.customResponse")
			if at(resp, "responseCode") != 429.0 || at(resp, "customResponseBodyKey") != "too-many-writes" ||
				at(resp, "responseHeaders[0].name") != "Retry-After" || at(resp, "responseHeaders[0].value") != "60" {
				t.Errorf("%s: %s answers %v", stack, name, resp)
			}
			rate := at(rule, "statement.rateBasedStatement")
			if at(rate, "limit") != 60.0 || at(rate, "evaluationWindowSec") != 60.0 {
				t.Errorf("%s: %s: %v per %v s, want 60 per 60 s (nginx's 1r/s)", stack, name, at(rate, "limit"), at(rate, "evaluationWindowSec"))
			}
			switch name {
			case "writes-per-viewer":
				if at(rate, "aggregateKeyType") != "FORWARDED_IP" || at(rate, "forwardedIpConfig.headerName") != infra.ViewerAddressHeader ||
					at(rate, "forwardedIpConfig.fallbackBehavior") != "NO_MATCH" {
					t.Errorf("%s: %s keyed on %v %v", stack, name, at(rate, "aggregateKeyType"), at(rate, "forwardedIpConfig"))
				}
			case "writes-per-connection":
				keys, _ := at(rate, "customKeys").([]any)
				if at(rate, "aggregateKeyType") != "CUSTOM_KEYS" || len(keys) != 1 || at(keys[0], "header.name") != infra.ViewerAddressHeader ||
					at(keys[0], "header.textTransformations[0].type") != "NONE" {
					t.Errorf("%s: %s keyed on %v %v", stack, name, at(rate, "aggregateKeyType"), keys)
				}
			}
			if strings.Contains(strings.ToLower(mustJSON(rate)), "x-forwarded-for") {
				t.Errorf("%s: %s reads X-Forwarded-For, whose first address the viewer chooses", stack, name)
			}
			method := at(rate, "scopeDownStatement.andStatement.statements[0].regexMatchStatement")
			path := at(rate, "scopeDownStatement.andStatement.statements[1].byteMatchStatement")
			if at(method, "fieldToMatch.method") == nil || at(path, "fieldToMatch.uriPath") == nil ||
				at(path, "positionalConstraint") != "STARTS_WITH" || at(path, "searchString") != "/api/" {
				t.Fatalf("%s: %s scoped down to %v", stack, name, at(rate, "scopeDownStatement"))
			}
			var transforms []string
			for _, tr := range at(path, "textTransformations").([]any) {
				transforms = append(transforms, at(tr, "type").(string))
			}
			if !slices.Equal(transforms, []string{"URL_DECODE", "NORMALIZE_PATH"}) {
				t.Errorf("%s: %s path transformations %v, want the path decoded and normalized as nginx matches it", stack, name, transforms)
			}
			writes := regexp.MustCompile(at(method, "regexString").(string))
			for m, want := range map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true,
				"GET": false, "HEAD": false, "OPTIONS": false, "POSTX": false} {
				if writes.MatchString(m) != want {
					t.Errorf("%s: %s counts %s = %v, want %v", stack, name, m, !want, want)
				}
			}
		}
	}
}

// The firewall answers as nginx does: the maintenance page, its
// Retry-After and the 429 body are the template's, and the limit is the
// one nginx's default rate converts to.
func TestFirewallAnswersAsNginxDoes(t *testing.T) {
	tpl := string(app.ProxyTemplate)
	block := regexp.MustCompile(`(?s)if \(-f \$\{MAINTENANCE_FILE\}\) \{(.*?)\n    \}`).FindStringSubmatch(tpl)
	if block == nil {
		t.Fatal("template: no maintenance block")
	}
	retry := regexp.MustCompile(`add_header Retry-After (\d+) always;`).FindStringSubmatch(block[1])
	body503 := regexp.MustCompile(`return 503 '([^']*)';`).FindStringSubmatch(block[1])
	body429 := regexp.MustCompile(`(?s)location @too_many_writes \{.*?return 429 '([^']*)';`).FindStringSubmatch(tpl)
	if retry == nil || body503 == nil || body429 == nil || !strings.Contains(block[1], "add_header Cache-Control no-store always;") {
		t.Fatalf("template: maintenance block %q, 429 %v", block[1], body429)
	}
	// nginx turns \n in a quoted string into a newline.
	unquote := func(s string) string { return strings.ReplaceAll(s, `\n`, "\n") }
	envsh, err := os.ReadFile("../app/proxy/docker-entrypoint.d/15-slipway-env.envsh")
	if err != nil {
		t.Fatal(err)
	}
	rate := regexp.MustCompile(`PROXY_WRITE_RATE="\$\{PROXY_WRITE_RATE:-([^}]+)\}"`).FindStringSubmatch(string(envsh))
	if rate == nil {
		t.Fatal("envsh: no PROXY_WRITE_RATE default")
	}
	limit, window, err := infra.WAFWriteLimit(rate[1])
	if err != nil {
		t.Fatal(err)
	}
	res := deploy(t, "prod", onECSFor("prod"))
	acl := one(t, res, webACLType)
	bodies := map[string]any{}
	for _, b := range acl.In("customResponseBodies").([]any) {
		if at(b, "contentType") != "APPLICATION_JSON" {
			t.Errorf("body %v is not JSON, as nginx's default_type application/json", b)
		}
		bodies[at(b, "key").(string)] = at(b, "content")
	}
	if bodies["maintenance"] != unquote(body503[1]) || bodies["too-many-writes"] != unquote(body429[1]) {
		t.Errorf("bodies %q, want nginx's %q and %q", bodies, unquote(body503[1]), unquote(body429[1]))
	}
	if got := at(wafRule(t, acl, "maintenance"), "action.block.customResponse.responseHeaders[0]"); at(got, "value") != retry[1] {
		t.Errorf("maintenance Retry-After %v, nginx's is %s", got, retry[1])
	}
	for _, name := range []string{"writes-per-viewer", "writes-per-connection"} {
		r := at(wafRule(t, acl, name), "statement.rateBasedStatement")
		if at(r, "limit") != float64(limit) || at(r, "evaluationWindowSec") != float64(window) {
			t.Errorf("%s: %v per %v s, nginx's default %s converts to %d per %d s", name, at(r, "limit"), at(r, "evaluationWindowSec"), rate[1], limit, window)
		}
	}
}

// nginx's rate becomes a WAF limit with the same average rate, on the
// shortest window that reaches WAF's minimum of 10; what has none fails.
func TestWAFWriteLimitKeepsNginxsAverageRate(t *testing.T) {
	for rate, want := range map[string][2]int{
		"1r/s": {60, 60}, "5r/s": {300, 60}, "30r/m": {30, 60}, "10r/m": {10, 60},
		"5r/m": {10, 120}, "2r/m": {10, 300}, "1r/m": {10, 600},
	} {
		limit, window, err := infra.WAFWriteLimit(rate)
		if err != nil || limit != want[0] || window != want[1] {
			t.Errorf("%s: %d per %d s (%v), want %d per %d s", rate, limit, window, err, want[0], want[1])
		}
	}
	for _, bad := range []string{"", "0r/s", "1r/h", "r/s", "01r/s", "-1r/s", "1.5r/s", "100000000r/s"} {
		if _, _, err := infra.WAFWriteLimit(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// The ECS services' names are stack outputs (`slipway` reads them).
func TestECSServiceOutputs(t *testing.T) {
	for _, stack := range ecsStacks {
		res := deploy(t, stack, onECSFor(stack))
		for out, svc := range map[string]string{"apiService": "cluster-api", "workerService": "cluster-worker"} {
			s := mustFind(t, res, "aws:ecs/service:Service", svc)
			if got := res.Outputs[out].Value; got == nil || got != s.Out("name") {
				t.Errorf("%s: %s = %v, want service %s's name %v", stack, out, got, svc, s.Out("name"))
			}
		}
	}
	for _, k := range []string{"maintenance", "apiService", "workerService"} {
		if _, ok := deploy(t, "prod").Outputs[k]; ok {
			t.Errorf("prod host mode: output %s", k)
		}
	}
}
