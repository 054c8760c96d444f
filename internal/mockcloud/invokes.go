package mockcloud

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Managed CloudFront policies have the same IDs in every account.
var managedPolicies = map[string]string{
	"Managed-CachingOptimized":          "658327ea-f89d-4fab-a63d-7e88639e58f6",
	"Managed-CachingDisabled":           "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
	"Managed-AllViewerExceptHostHeader": "b689b0a8-53d0-40ab-baf2-68738e2966ac",
	"Managed-CORS-S3Origin":             "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf",
	"Managed-SecurityHeadersPolicy":     "67f7725c-6f97-4210-82d7-5512b31e9d03",
}

// invoke answers the data sources the program reads.
func invoke(token string, args resource.PropertyMap, region string) (resource.PropertyMap, error) {
	str := func(k string) string {
		if v, ok := args[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	switch token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		names, ids := zones(region)
		return props(map[string]any{"names": anys(names), "zoneIds": anys(ids), "id": region}), nil
	case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
		return instanceTypeOfferings(args, region)
	case "aws:ec2/getAmi:getAmi":
		name := firstFilterValue(args, "name")
		arch := firstFilterValue(args, "architecture")
		return props(map[string]any{
			"id":           "ami-" + hash(name+region, 17),
			"imageId":      "ami-" + hash(name+region, 17),
			"name":         strings.ReplaceAll(name, "*", "20261115"),
			"architecture": arch,
			"ownerId":      firstString(args, "owners"),
		}), nil
	case "aws:ec2/getManagedPrefixList:getManagedPrefixList":
		name := str("name")
		if name == "" {
			name = firstFilterValue(args, "prefix-list-name")
		}
		return props(map[string]any{
			"id": "pl-" + hash(name+region, 8), "name": name, "addressFamily": "IPv4", "maxEntries": 55,
		}), nil
	case "aws:route53/getZone:getZone":
		zoneName := strings.TrimSuffix(str("name"), ".")
		id := str("zoneId")
		if id == "" {
			id = "Z" + strings.ToUpper(hash(zoneName, 13))
		}
		if zoneName == "" {
			zoneName = "example.com"
		}
		return props(map[string]any{
			"zoneId": id, "id": id, "name": zoneName + ".", "nameServers": nameServers(id),
			"arn": "arn:aws:route53:::hostedzone/" + id,
		}), nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return props(map[string]any{
			"accountId": Account, "arn": "arn:aws:iam::" + Account + ":user/offline", "userId": "AIDAOFFLINE", "id": Account,
		}), nil
	case "aws:iam/getPolicy:getPolicy":
		// The foundation's boundary, looked up by ARN: in this offline
		// account every foundation exists (infra/boundary.go).
		arn := str("arn")
		path, name := "/", arn[strings.LastIndex(arn, "/")+1:]
		if _, rest, ok := strings.Cut(arn, ":policy/"); ok && strings.Contains(rest, "/") {
			path = "/" + rest[:strings.LastIndex(rest, "/")+1]
		}
		return props(map[string]any{"arn": arn, "name": name, "path": path, "id": arn, "policyId": "ANPA" + strings.ToUpper(hash(arn, 17))}), nil
	case "aws:index/getPartition:getPartition":
		return props(map[string]any{"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}), nil
	case "aws:index/getRegion:getRegion":
		return props(map[string]any{"name": region, "id": region, "endpoint": "ec2." + region + ".amazonaws.com"}), nil
	case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
		return resource.PropertyMap{
			"userName":           resource.NewProperty("AWS"),
			"password":           resource.MakeSecret(resource.NewProperty("offline-ecr-token")),
			"authorizationToken": resource.MakeSecret(resource.NewProperty("QVdTOm9mZmxpbmUtZWNyLXRva2Vu")),
			"proxyEndpoint":      resource.NewProperty(fmt.Sprintf("https://%s.dkr.ecr.%s.amazonaws.com", Account, region)),
			"id":                 resource.NewProperty(region),
		}, nil
	case "docker:index/getRegistryImage:getRegistryImage":
		// The registry's digest for a tag (deterministic per name).
		return props(map[string]any{"name": str("name"), "sha256Digest": "sha256:" + hash(str("name"), 64), "id": hash(str("name"), 12)}), nil
	case "aws:iam/getPolicyDocument:getPolicyDocument":
		doc, err := policyDocument(args)
		if err != nil {
			return nil, err
		}
		return props(map[string]any{"json": doc, "minifiedJson": doc, "id": hash(doc, 10)}), nil
	case "aws:cloudfront/getCachePolicy:getCachePolicy",
		"aws:cloudfront/getOriginRequestPolicy:getOriginRequestPolicy",
		"aws:cloudfront/getResponseHeadersPolicy:getResponseHeadersPolicy":
		id, ok := managedPolicies[str("name")]
		if !ok {
			return nil, fmt.Errorf("mockcloud: no managed CloudFront policy named %q", str("name"))
		}
		return props(map[string]any{"id": id, "name": str("name")}), nil
	}
	return nil, fmt.Errorf("mockcloud: the offline cloud does not answer invoke %s", token)
}

// zones are a region's three Availability Zones: names and, index-aligned,
// zone ids in AWS's format (us-east-1 -> use1-az1, ap-southeast-2 ->
// apse2-az1).
func zones(region string) (names, ids []string) {
	for i, letter := range []string{"a", "b", "c"} {
		names = append(names, region+letter)
		ids = append(ids, fmt.Sprintf("%s-az%d", zoneIDPrefix(region), i+1))
	}
	return names, ids
}

func zoneIDPrefix(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 {
		return region
	}
	short := map[string]string{"northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw"}[parts[1]]
	if short == "" && parts[1] != "" {
		short = parts[1][:1]
	}
	return parts[0] + short + parts[2]
}

// OfferingsEnv configures which zones offer which instance types, for the
// tests and for `slipway plan`: entries "<type>=<zone id>,<zone id>"
// separated by ";", type "*" for every type, an empty zone list for none.
// Unset, every zone offers every type.
//
//	SLIPWAY_OFFLINE_OFFERINGS='t4g.small=use1-az2,use1-az3'
//	SLIPWAY_OFFLINE_OFFERINGS='*='   # no zone offers anything
const OfferingsEnv = "SLIPWAY_OFFLINE_OFFERINGS"

// instanceTypeOfferings answers ec2.getInstanceTypeOfferings for the
// instance-type filter, by zone id, zone name or region as asked.
func instanceTypeOfferings(args resource.PropertyMap, region string) (resource.PropertyMap, error) {
	names, ids := zones(region)
	var types []string
	if f, ok := args["filters"]; ok && f.IsArray() {
		for _, item := range f.ArrayValue() {
			if o := item.ObjectValue(); o["name"].IsString() && o["name"].StringValue() == "instance-type" {
				for _, v := range o["values"].ArrayValue() {
					types = append(types, v.StringValue())
				}
			}
		}
	}
	if len(types) == 0 {
		return nil, fmt.Errorf("mockcloud: getInstanceTypeOfferings without an instance-type filter")
	}
	locationType := "region"
	if v, ok := args["locationType"]; ok && v.IsString() {
		locationType = v.StringValue()
	}
	locations, instanceTypes, locationTypes := []any{}, []any{}, []any{}
	for _, typ := range types {
		offered, err := offeredZones(typ, ids)
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			if !offered[id] {
				continue
			}
			loc := map[string]string{"availability-zone-id": id, "availability-zone": names[i], "region": region}[locationType]
			if loc == "" {
				return nil, fmt.Errorf("mockcloud: getInstanceTypeOfferings locationType %q", locationType)
			}
			locations, instanceTypes, locationTypes = append(locations, loc), append(instanceTypes, typ), append(locationTypes, locationType)
			if locationType == "region" {
				break
			}
		}
	}
	return props(map[string]any{
		"locations": locations, "instanceTypes": instanceTypes, "locationTypes": locationTypes, "id": region,
	}), nil
}

// offeredZones reads OfferingsEnv for one instance type: the entry for the
// type, else the "*" entry, else every zone.
func offeredZones(typ string, ids []string) (map[string]bool, error) {
	entries := map[string]string{}
	if raw, ok := os.LookupEnv(OfferingsEnv); ok {
		for _, entry := range strings.Split(raw, ";") {
			if strings.TrimSpace(entry) == "" {
				continue
			}
			k, v, ok := strings.Cut(entry, "=")
			if !ok {
				return nil, fmt.Errorf("mockcloud: %s entry %q: expected <type>=<zone id>,...", OfferingsEnv, entry)
			}
			entries[strings.TrimSpace(k)] = v
		}
	}
	zoneList, ok := entries[typ]
	if !ok {
		zoneList, ok = entries["*"]
	}
	offered := map[string]bool{}
	if !ok {
		for _, id := range ids {
			offered[id] = true
		}
		return offered, nil
	}
	for _, id := range strings.Split(zoneList, ",") {
		if id = strings.TrimSpace(id); id != "" {
			offered[id] = true
		}
	}
	return offered, nil
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func props(m map[string]any) resource.PropertyMap { return resource.NewPropertyMapFromMap(m) }

func firstString(args resource.PropertyMap, k string) string {
	if v, ok := args[resource.PropertyKey(k)]; ok && v.IsArray() && len(v.ArrayValue()) > 0 && v.ArrayValue()[0].IsString() {
		return v.ArrayValue()[0].StringValue()
	}
	return ""
}

// firstFilterValue reads `filters: [{name, values}]` as EC2 data sources take them.
func firstFilterValue(args resource.PropertyMap, name string) string {
	f, ok := args["filters"]
	if !ok || !f.IsArray() {
		return ""
	}
	for _, item := range f.ArrayValue() {
		if !item.IsObject() {
			continue
		}
		o := item.ObjectValue()
		if n, ok := o["name"]; ok && n.IsString() && n.StringValue() == name {
			return firstString(o, "values")
		}
	}
	return ""
}

// policyDocument renders iam.getPolicyDocument arguments to the JSON AWS
// would store, so tests can parse and check policies statement by statement.
func policyDocument(args resource.PropertyMap) (string, error) {
	plain := unwrap(resource.NewObjectProperty(args)).(map[string]any)
	doc := map[string]any{"Version": "2012-10-17"}
	stmts, _ := plain["statements"].([]any)
	var out []any
	for _, raw := range stmts {
		s, ok := raw.(map[string]any)
		if !ok {
			return "", fmt.Errorf("mockcloud: policy statement is not an object: %v", raw)
		}
		st := map[string]any{"Effect": orDefault(s["effect"], "Allow")}
		if sid, ok := s["sid"].(string); ok && sid != "" {
			st["Sid"] = sid
		}
		for src, dst := range map[string]string{"actions": "Action", "notActions": "NotAction", "resources": "Resource", "notResources": "NotResource"} {
			if v, ok := s[src].([]any); ok && len(v) > 0 {
				st[dst] = oneOrMany(v)
			}
		}
		for src, dst := range map[string]string{"principals": "Principal", "notPrincipals": "NotPrincipal"} {
			if v, ok := s[src].([]any); ok && len(v) > 0 {
				st[dst] = principals(v)
			}
		}
		if v, ok := s["conditions"].([]any); ok && len(v) > 0 {
			st["Condition"] = conditions(v)
		}
		out = append(out, st)
	}
	doc["Statement"] = out
	b, err := json.Marshal(doc)
	return string(b), err
}

func orDefault(v any, def string) any {
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return def
}

func oneOrMany(v []any) any {
	if len(v) == 1 {
		return v[0]
	}
	return v
}

func principals(v []any) any {
	if len(v) == 1 {
		if p, ok := v[0].(map[string]any); ok && p["type"] == "*" {
			return "*"
		}
	}
	m := map[string]any{}
	for _, raw := range v {
		p, _ := raw.(map[string]any)
		typ, _ := p["type"].(string)
		ids, _ := p["identifiers"].([]any)
		m[typ] = oneOrMany(ids)
	}
	return m
}

func conditions(v []any) any {
	m := map[string]map[string]any{}
	for _, raw := range v {
		c, _ := raw.(map[string]any)
		test, _ := c["test"].(string)
		variable, _ := c["variable"].(string)
		values, _ := c["values"].([]any)
		if m[test] == nil {
			m[test] = map[string]any{}
		}
		m[test][variable] = oneOrMany(values)
	}
	return m
}

// unwrap turns a property value into plain Go values, looking through
// secrets (a policy never holds one, but an input might be marked so).
func unwrap(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return unwrap(v.SecretValue().Element)
	case v.IsOutput():
		return unwrap(v.OutputValue().Element)
	case v.IsObject():
		m := map[string]any{}
		for k, e := range v.ObjectValue() {
			m[string(k)] = unwrap(e)
		}
		return m
	case v.IsArray():
		a := make([]any, 0, len(v.ArrayValue()))
		for _, e := range v.ArrayValue() {
			a = append(a, unwrap(e))
		}
		return a
	case v.IsNull():
		return nil
	}
	return v.V
}
