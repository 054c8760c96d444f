package plan

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"slipway/internal/mockcloud"
)

// managedPolicyNames names CloudFront's managed cache, origin-request and
// response-headers policies (same ids in every account).
var managedPolicyNames = map[string]string{
	"658327ea-f89d-4fab-a63d-7e88639e58f6": "CachingOptimized",
	"4135ea2d-6df8-44a3-9df3-4b5a84be39ad": "CachingDisabled",
	"b689b0a8-53d0-40ab-baf2-68738e2966ac": "AllViewerExceptHostHeader",
	"88a5eaf4-2fd4-4709-b370-b4c650ea3fcf": "CORS-S3Origin",
	"67f7725c-6f97-4210-82d7-5512b31e9d03": "SecurityHeadersPolicy",
	"216adef6-5c7f-47e4-b989-5492eafa07d3": "AllViewer",
	"b2884449-e4de-46a7-ac36-70bc7f1ddd6d": "CachingOptimizedForUncompressedObjects",
}

// details is the table of what a reviewer cares about, per type token.
var details = map[string]func(d *describer, r mockcloud.Resource) []string{
	"pulumi:providers:aws": func(d *describer, r mockcloud.Resource) []string {
		return []string{"region " + r.Str("region"), "default tags " + d.keys(r.In("defaultTags.tags"))}
	},
	"aws:ec2/vpc:Vpc": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("cidrBlock"), d.flag(r, "enableDnsHostnames", "DNS hostnames")}
	},
	"aws:ec2/subnet:Subnet": func(d *describer, r mockcloud.Resource) []string {
		pub := "no public IP on launch"
		if r.In("mapPublicIpOnLaunch") == true {
			pub = "PUBLIC IP ON LAUNCH"
		}
		return []string{r.Str("cidrBlock"), r.Str("availabilityZone"), pub}
	},
	"aws:ec2/routeTable:RouteTable": func(d *describer, r mockcloud.Resource) []string {
		var out []string
		for _, x := range list(r.In("routes")) {
			m, _ := x.(map[string]any)
			out = append(out, fmt.Sprintf("%s → %s", str(m["cidrBlock"]), firstNonEmpty(str(m["gatewayId"]), str(m["natGatewayId"]))))
		}
		return out
	},
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": func(d *describer, r mockcloud.Resource) []string {
		if len(list(r.In("ingress")))+len(list(r.In("egress"))) == 0 {
			return []string{"adopted, all rules removed"}
		}
		return []string{fmt.Sprintf("%d ingress, %d egress rules", len(list(r.In("ingress"))), len(list(r.In("egress"))))}
	},
	"aws:ec2/securityGroup:SecurityGroup": func(d *describer, r mockcloud.Resource) []string {
		out := []string{fmt.Sprintf("%q", r.Str("description"))}
		for _, x := range list(r.In("ingress")) {
			m, _ := x.(map[string]any)
			out = append(out, fmt.Sprintf("in %s %s from %s", str(m["protocol"]), ports(m["fromPort"], m["toPort"]),
				strings.Join(strs(m["cidrBlocks"]), ",")))
		}
		return out
	},
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": func(d *describer, r mockcloud.Resource) []string {
		return []string{"IN " + r.Str("ipProtocol") + " " + ports(r.In("fromPort"), r.In("toPort")) + " from " + d.source(r)}
	},
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": func(d *describer, r mockcloud.Resource) []string {
		return []string{"out " + r.Str("ipProtocol") + " " + ports(r.In("fromPort"), r.In("toPort")) + " to " + d.source(r)}
	},
	"aws:ec2/securityGroupRule:SecurityGroupRule": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("type") + " " + r.Str("protocol") + " " + ports(r.In("fromPort"), r.In("toPort")) + " " +
			strings.Join(strs(r.In("cidrBlocks")), ",")}
	},
	"aws:ec2/instance:Instance": func(d *describer, r mockcloud.Resource) []string {
		out := []string{r.Str("instanceType"), r.Str("ami")}
		if r.Str("metadataOptions.httpTokens") == "required" {
			out = append(out, "IMDSv2 only")
		} else {
			out = append(out, "IMDSv1 ALLOWED")
		}
		out = append(out, "root "+volume(r.Str("rootBlockDevice.volumeType"), r.In("rootBlockDevice.volumeSize"), r.In("rootBlockDevice.encrypted")))
		if r.In("monitoring") == true {
			out = append(out, "detailed monitoring")
		} else {
			out = append(out, "basic monitoring")
		}
		if r.In("associatePublicIpAddress") == true {
			out = append(out, "public IP")
		}
		if c := r.Str("creditSpecification.cpuCredits"); c != "" {
			out = append(out, "credits "+c)
		}
		if k := r.Str("keyName"); k != "" {
			out = append(out, "SSH KEY "+k)
		}
		if ud := r.UserData(); ud != "" {
			size := fmt.Sprintf("user data %d B", len(ud))
			if enc := r.Str("userDataBase64"); enc != "" {
				size += fmt.Sprintf(" (%d B gzipped)", base64.StdEncoding.DecodedLen(len(enc)))
			}
			out = append(out, size)
		}
		return out
	},
	"aws:ebs/volume:Volume": func(d *describer, r mockcloud.Resource) []string {
		out := []string{volume(r.Str("type"), r.In("size"), r.In("encrypted")), r.Str("availabilityZone")}
		if r.In("finalSnapshot") == true {
			out = append(out, "final snapshot on delete")
		}
		return out
	},
	"aws:ec2/volumeAttachment:VolumeAttachment": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("volumeId") + " at " + r.Str("deviceName") + " on " + r.Str("instanceId")}
	},
	"aws:ec2/eip:Eip": func(d *describer, r mockcloud.Resource) []string {
		return []string{d.out(r, "publicIp"), d.out(r, "publicDns")}
	},
	"aws:ec2/eipAssociation:EipAssociation": func(d *describer, r mockcloud.Resource) []string {
		return []string{"→ " + r.Str("instanceId")}
	},
	"aws:ec2/flowLog:FlowLog": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("trafficType") + " traffic → " + r.Str("logDestinationType")}
	},
	"aws:dlm/lifecyclePolicy:LifecyclePolicy": func(d *describer, r mockcloud.Resource) []string {
		return []string{fmt.Sprintf("every %v %s at %s, keep %v, targets %s", r.In("policyDetails.schedules[0].createRule.interval"),
			strings.ToLower(r.Str("policyDetails.schedules[0].createRule.intervalUnit")), r.Str("policyDetails.schedules[0].createRule.times"),
			r.In("policyDetails.schedules[0].retainRule.count"), d.kv(r.In("policyDetails.targetTags"))), r.Str("state")}
	},
	"aws:cloudwatch/logGroup:LogGroup": func(d *describer, r mockcloud.Resource) []string {
		if days, ok := r.In("retentionInDays").(float64); ok && days > 0 {
			return []string{fmt.Sprintf("retention %.0f d", days)}
		}
		return []string{"NEVER EXPIRES"}
	},
	"aws:cloudwatch/metricAlarm:MetricAlarm": func(d *describer, r mockcloud.Resource) []string {
		var acts []string
		for _, a := range strs(r.In("alarmActions")) {
			acts = append(acts, arnKind(a))
		}
		if q := metricMathAlarm(r); q != "" { // the scaling rules (details_ecs.go)
			return []string{q, "actions: " + orNone(strings.Join(acts, ", "))}
		}
		return []string{fmt.Sprintf("%s %s %s %v", r.Str("metricName"), r.Str("statistic"), comparison(r.Str("comparisonOperator")), r.In("threshold")),
			fmt.Sprintf("%v×%vs", r.In("evaluationPeriods"), r.In("period")), "actions: " + orNone(strings.Join(acts, ", "))}
	},
	"aws:cloudwatch/dashboard:Dashboard": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("dashboardName")}
	},
	"aws:iam/role:Role": func(d *describer, r mockcloud.Resource) []string {
		out := []string{"path " + r.Str("path"), "trusts " + trust(r.Str("assumeRolePolicy"))}
		if b := r.Str("permissionsBoundary"); b != "" {
			out = append(out, "boundary "+lastSegment(b))
		}
		return out
	},
	"aws:iam/rolePolicy:RolePolicy":   policyDetails,
	"aws:iam/groupPolicy:GroupPolicy": policyDetails,
	"aws:iam/userPolicy:UserPolicy":   policyDetails,
	"aws:iam/policy:Policy": func(d *describer, r mockcloud.Resource) []string {
		return append([]string{"path " + r.Str("path")}, policyDetails(d, r)...)
	},
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment": func(d *describer, r mockcloud.Resource) []string {
		return []string{lastSegment(r.Str("policyArn"))}
	},
	"aws:iam/groupPolicyAttachment:GroupPolicyAttachment": func(d *describer, r mockcloud.Resource) []string {
		return []string{lastSegment(r.Str("policyArn"))}
	},
	"aws:iam/instanceProfile:InstanceProfile": func(d *describer, r mockcloud.Resource) []string {
		return []string{"path " + r.Str("path")}
	},
	"aws:iam/user:User": func(d *describer, r mockcloud.Resource) []string {
		return []string{"path " + r.Str("path"), d.flag(r, "forceDestroy", "forceDestroy")}
	},
	"aws:iam/group:Group": func(d *describer, r mockcloud.Resource) []string {
		return []string{"path " + r.Str("path")}
	},
	"aws:iam/accessKey:AccessKey": func(d *describer, r mockcloud.Resource) []string {
		return []string{"for " + r.Str("user"), "secret: [secret]"}
	},
	"aws:s3/bucketV2:BucketV2": func(d *describer, r mockcloud.Resource) []string {
		return []string{d.out(r, "bucket"), d.flag(r, "forceDestroy", "forceDestroy")}
	},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": func(d *describer, r mockcloud.Resource) []string {
		for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
			if r.In(k) != true {
				return []string{"PUBLIC ACCESS NOT FULLY BLOCKED (" + k + ")"}
			}
		}
		return []string{"all public access blocked"}
	},
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": func(d *describer, r mockcloud.Resource) []string {
		return []string{"SSE " + r.Str("rules[0].applyServerSideEncryptionByDefault.sseAlgorithm")}
	},
	"aws:s3/bucketPolicy:BucketPolicy": policyDetails,
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("rule.objectOwnership")}
	},
	"aws:cloudfront/distribution:Distribution": distributionDetails,
	"aws:cloudfront/originAccessControl:OriginAccessControl": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("originAccessControlOriginType") + ", sign " + r.Str("signingBehavior") + " " + r.Str("signingProtocol")}
	},
	"aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": func(d *describer, r mockcloud.Resource) []string {
		out := []string{}
		if v := r.In("securityHeadersConfig.strictTransportSecurity.accessControlMaxAgeSec"); v != nil {
			out = append(out, fmt.Sprintf("HSTS %vs", v))
		}
		if r.In("securityHeadersConfig.contentSecurityPolicy") != nil {
			out = append(out, "CSP")
		}
		if f := r.Str("securityHeadersConfig.frameOptions.frameOption"); f != "" {
			out = append(out, "frame "+f)
		}
		return out
	},
	"aws:cloudfront/cachePolicy:CachePolicy": func(d *describer, r mockcloud.Resource) []string {
		return []string{fmt.Sprintf("TTL %v/%v/%v", r.In("minTtl"), r.In("defaultTtl"), r.In("maxTtl"))}
	},
	"aws:cloudfront/function:Function": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("runtime"), d.flag(r, "publish", "published")}
	},
	"aws:acm/certificate:Certificate": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("domainName") + sans(r.In("subjectAlternativeNames")), r.Str("validationMethod") + " validation", "in " + r.Region}
	},
	"aws:route53/zone:Zone": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("name"), d.flag(r, "forceDestroy", "forceDestroy")}
	},
	"aws:route53/record:Record": func(d *describer, r mockcloud.Resource) []string {
		target := strings.Join(strs(r.In("records")), " ")
		if a := r.Str("aliases[0].name"); a != "" {
			target = "alias " + a
		}
		return []string{r.Str("name") + " " + r.Str("type") + " " + target}
	},
	"aws:ecr/repository:Repository": func(d *describer, r mockcloud.Resource) []string {
		return []string{"tags " + strings.ToLower(r.Str("imageTagMutability")), d.flag(r, "imageScanningConfiguration.scanOnPush", "scan on push"),
			d.flag(r, "forceDelete", "forceDelete")}
	},
	"aws:ecr/lifecyclePolicy:LifecyclePolicy": func(d *describer, r mockcloud.Resource) []string {
		var doc struct {
			Rules []struct {
				Description string `json:"description"`
			} `json:"rules"`
		}
		_ = json.Unmarshal([]byte(r.Str("policy")), &doc)
		var out []string
		for _, x := range doc.Rules {
			out = append(out, x.Description)
		}
		return out
	},
	"aws:sqs/queue:Queue": func(d *describer, r mockcloud.Resource) []string {
		out := []string{}
		switch {
		case r.In("sqsManagedSseEnabled") == true:
			out = append(out, "SSE-SQS")
		case r.Str("kmsMasterKeyId") != "":
			out = append(out, "SSE-KMS")
		default:
			out = append(out, "NOT ENCRYPTED")
		}
		if v := r.In("visibilityTimeoutSeconds"); v != nil {
			out = append(out, fmt.Sprintf("visibility %vs", v))
		}
		if v, ok := r.In("messageRetentionSeconds").(float64); ok {
			out = append(out, fmt.Sprintf("retention %.0f d", v/86400))
		}
		var rp struct {
			Max float64 `json:"maxReceiveCount"`
		}
		if json.Unmarshal([]byte(r.Str("redrivePolicy")), &rp) == nil && rp.Max > 0 {
			out = append(out, fmt.Sprintf("DLQ after %.0f receives", rp.Max))
		}
		return out
	},
	"aws:sqs/queuePolicy:QueuePolicy": policyDetails,
	"aws:sns/topic:Topic":             func(d *describer, r mockcloud.Resource) []string { return []string{d.out(r, "name")} },
	"aws:sns/topicSubscription:TopicSubscription": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("protocol") + " " + r.Str("endpoint")}
	},
	"aws:ssm/parameter:Parameter": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("name"), r.Str("type")}
	},
	"aws:ssm/document:Document": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("documentType"), r.Str("documentFormat")}
	},
	"aws:ssm/association:Association": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("name"), "targets " + r.Str("targets[0].key") + "=" + strings.Join(strs(r.In("targets[0].values")), ",")}
	},
	"docker:index/image:Image": func(d *describer, r mockcloud.Resource) []string {
		return []string{r.Str("imageName"), r.Str("build.platform")}
	},
}

// describer renders values against the other resources of the stack
// (to name prefix lists, for example).
type describer struct {
	byID map[string]mockcloud.Resource
}

func (d *describer) describe(r mockcloud.Resource) string {
	var parts []string
	if f, ok := details[r.Type]; ok {
		for _, p := range f(d, r) {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
	}
	if r.Protect {
		parts = append(parts, "[protect]")
	}
	if r.RetainOnDelete {
		parts = append(parts, "[retain]")
	}
	if r.DeleteBeforeReplace {
		parts = append(parts, "[delete-before-replace]")
	}
	if len(r.IgnoreChanges) > 0 {
		parts = append(parts, "[ignore "+strings.Join(r.IgnoreChanges, ",")+"]")
	}
	return strings.Join(parts, ", ")
}

func (d *describer) flag(r mockcloud.Resource, path, label string) string {
	if r.In(path) == true {
		return label
	}
	return ""
}

func (d *describer) out(r mockcloud.Resource, key string) string {
	s, _ := r.Out(key).(string)
	return s
}

func (d *describer) keys(v any) string {
	m, _ := v.(map[string]any)
	ks := slices.Sorted(maps.Keys(m))
	return strings.Join(ks, ",")
}

func (d *describer) kv(v any) string {
	m, _ := v.(map[string]any)
	ks := make([]string, 0, len(m))
	for k, x := range m {
		ks = append(ks, fmt.Sprintf("%s=%v", k, x))
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// source names where a vpc security group rule admits from or sends to.
func (d *describer) source(r mockcloud.Resource) string {
	switch {
	case r.Str("cidrIpv4") != "":
		return r.Str("cidrIpv4")
	case r.Str("cidrIpv6") != "":
		return r.Str("cidrIpv6")
	case r.Str("prefixListId") != "":
		if r.Str("prefixListId") != "" && strings.Contains(strings.ToLower(r.Str("description")), "cloudfront") {
			return r.Str("prefixListId") + " (CloudFront origin-facing)"
		}
		return r.Str("prefixListId")
	case r.Str("referencedSecurityGroupId") != "":
		return r.Str("referencedSecurityGroupId")
	}
	return "?"
}

func distributionDetails(d *describer, r mockcloud.Resource) []string {
	out := []string{}
	if a := strs(r.In("aliases")); len(a) > 0 {
		out = append(out, strings.Join(a, ","))
	} else if s := d.out(r, "domainName"); s != "" {
		out = append(out, s)
	}
	out = append(out, r.Str("priceClass"))
	if o := r.Str("defaultRootObject"); o != "" {
		out = append(out, "root "+o)
	}
	if v := r.Str("viewerCertificate.minimumProtocolVersion"); v != "" && r.Str("viewerCertificate.acmCertificateArn") != "" {
		out = append(out, v+" "+r.Str("viewerCertificate.sslSupportMethod"))
	} else if r.In("viewerCertificate.cloudfrontDefaultCertificate") == true {
		out = append(out, "default certificate")
	}
	for _, o := range list(r.In("origins")) {
		m, _ := o.(map[string]any)
		kind := "custom"
		if str(m["originAccessControlId"]) != "" {
			kind = "S3+OAC"
		} else if c, ok := m["customOriginConfig"].(map[string]any); ok {
			kind = str(c["originProtocolPolicy"])
		}
		out = append(out, "origin "+str(m["originId"])+" ("+kind+")")
	}
	behavior := func(m map[string]any) string {
		path := str(m["pathPattern"])
		if path == "" {
			path = "*"
		}
		cache := str(m["cachePolicyId"])
		if n, ok := managedPolicyNames[cache]; ok {
			cache = n
		} else if c, ok := d.byID[cache]; ok {
			cache = c.Name
		}
		return fmt.Sprintf("%s→%s %s cache %s", path, str(m["targetOriginId"]), str(m["viewerProtocolPolicy"]), orNone(cache))
	}
	if m, ok := r.In("defaultCacheBehavior").(map[string]any); ok {
		out = append(out, behavior(m))
	}
	for _, b := range list(r.In("orderedCacheBehaviors")) {
		if m, ok := b.(map[string]any); ok {
			out = append(out, behavior(m))
		}
	}
	if b := r.Str("loggingConfig.bucket"); b != "" {
		out = append(out, "logs to "+b)
	}
	return out
}

func policyDetails(d *describer, r mockcloud.Resource) []string {
	var doc struct {
		Statement []struct {
			Sid    string
			Effect string
			Action any
		}
	}
	if json.Unmarshal([]byte(r.Str("policy")), &doc) != nil {
		return nil
	}
	var out []string
	for _, s := range doc.Statement {
		label := s.Sid
		if label == "" {
			label = strings.Join(strs(s.Action), ",")
		}
		if s.Effect == "Deny" {
			label = "deny " + label
		}
		out = append(out, label)
	}
	return out
}

func trust(doc string) string {
	var p struct {
		Statement []struct {
			Principal map[string]any
		}
	}
	if json.Unmarshal([]byte(doc), &p) != nil {
		return "?"
	}
	var out []string
	for _, s := range p.Statement {
		for _, kind := range []string{"Service", "Federated", "AWS"} {
			for _, v := range strs(s.Principal[kind]) {
				out = append(out, lastSegment(v))
			}
		}
	}
	return strings.Join(out, ",")
}

func volume(typ string, size, encrypted any) string {
	enc := "UNENCRYPTED"
	if encrypted == true {
		enc = "encrypted"
	}
	return fmt.Sprintf("%s %v GiB %s", typ, size, enc)
}

func ports(from, to any) string {
	f, _ := from.(float64)
	t, _ := to.(float64)
	if f == t {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.0f-%.0f", f, t)
}

func comparison(op string) string {
	return map[string]string{
		"GreaterThanOrEqualToThreshold": "≥", "GreaterThanThreshold": ">",
		"LessThanThreshold": "<", "LessThanOrEqualToThreshold": "≤",
	}[op]
}

func arnKind(arn string) string {
	switch {
	case strings.Contains(arn, ":automate:") && strings.HasSuffix(arn, ":ec2:recover"):
		return "ec2 recover"
	case strings.Contains(arn, ":sns:"):
		return "sns " + lastSegment(arn)
	}
	return arn
}

func sans(v any) string {
	s := strs(v)
	if len(s) == 0 {
		return ""
	}
	return " +" + strings.Join(s, ",")
}

func lastSegment(arn string) string {
	if i := strings.LastIndexAny(arn, "/:"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Plain-value helpers, shared with the policy rules and the cost model.
var (
	str  = mockcloud.Str
	list = mockcloud.List
	strs = mockcloud.Strings
)
