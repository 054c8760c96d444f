package mockcloud

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// hash is a deterministic hex string for a seed, so two runs of the plan
// give the same IDs and diff cleanly.
func hash(seed string, n int) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:])[:n]
}

// naming is Pulumi's auto-naming: by default the logical name plus a
// random suffix, or the project's `pulumi:autonaming` pattern.
type naming struct {
	project, stack string
	pattern        string // e.g. ${project}-${stack}-${name}-${hex(7)}
}

var hexPattern = regexp.MustCompile(`\$\{hex\((\d+)\)\}`)

// physicalName is the name auto-naming gives a resource (with a
// deterministic suffix, so runs diff cleanly).
func (n naming) physicalName(seed, name string) string {
	if n.pattern == "" {
		return name + "-" + hash(seed, 7)
	}
	out := strings.NewReplacer("${project}", n.project, "${stack}", n.stack, "${name}", name).Replace(n.pattern)
	return hexPattern.ReplaceAllStringFunc(out, func(m string) string {
		k, _ := strconv.Atoi(hexPattern.FindStringSubmatch(m)[1])
		return hash(seed, k)
	})
}

// idPrefixes are the AWS ID formats of the resources whose ID is not their
// name or ARN.
var idPrefixes = map[string]string{
	"aws:ec2/vpc:Vpc":                                            "vpc-",
	"aws:ec2/subnet:Subnet":                                      "subnet-",
	"aws:ec2/internetGateway:InternetGateway":                    "igw-",
	"aws:ec2/routeTable:RouteTable":                              "rtb-",
	"aws:ec2/routeTableAssociation:RouteTableAssociation":        "rtbassoc-",
	"aws:ec2/securityGroup:SecurityGroup":                        "sg-",
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":          "sg-",
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":  "sgr-",
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":    "sgr-",
	"aws:ec2/instance:Instance":                                  "i-",
	"aws:ebs/volume:Volume":                                      "vol-",
	"aws:ec2/eip:Eip":                                            "eipalloc-",
	"aws:ec2/eipAssociation:EipAssociation":                      "eipassoc-",
	"aws:ec2/flowLog:FlowLog":                                    "fl-",
	"aws:dlm/lifecyclePolicy:LifecyclePolicy":                    "policy-",
	"aws:cloudfront/distribution:Distribution":                   "E",
	"aws:cloudfront/originAccessControl:OriginAccessControl":     "E",
	"aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": "",
	"aws:route53/zone:Zone":                                      "Z",
	"aws:iam/accessKey:AccessKey":                                "AKIA",
}

// synthesize returns a resource's ID and its outputs: the inputs plus the
// attributes AWS would compute.
func synthesize(typ, name string, n naming, in resource.PropertyMap, region string) (string, resource.PropertyMap) {
	out := in.Copy()
	// IDs differ per stack, as they would in one account.
	seed := n.stack + "/" + typ + name
	set := func(k string, v any) {
		if _, ok := out[resource.PropertyKey(k)]; !ok {
			out[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
		}
	}
	str := func(k string) string {
		if v, ok := in[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		if v, ok := in[resource.PropertyKey(k)]; ok && v.IsSecret() && v.SecretValue().Element.IsString() {
			return v.SecretValue().Element.StringValue()
		}
		return ""
	}
	id := n.physicalName(seed, name)
	if prefix, ok := idPrefixes[typ]; ok {
		id = prefix + hash(seed, 17)
		if prefix == "E" || prefix == "Z" || prefix == "AKIA" {
			id = prefix + strings.ToUpper(hash(seed, 13))
		}
	}
	phys := n.physicalName(seed, name)
	if n := str("name"); n != "" {
		phys = n
	} else if p := str("namePrefix"); p != "" {
		phys = p + hash(seed, 7)
	}
	arn := func(service, res string) string {
		return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, region, Account, res)
	}
	global := func(service, res string) string {
		return fmt.Sprintf("arn:aws:%s::%s:%s", service, Account, res)
	}
	ip := fmt.Sprintf("203.0.113.%d", 1+int(hash(seed, 2)[0])%200)

	switch typ {
	case "aws:ec2/vpc:Vpc":
		set("arn", arn("ec2", "vpc/"+id))
		set("defaultSecurityGroupId", "sg-"+hash(id+"default", 17))
		set("mainRouteTableId", "rtb-"+hash(id+"main", 17))
	case "aws:ec2/subnet:Subnet":
		set("arn", arn("ec2", "subnet/"+id))
	case "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":
		set("arn", arn("ec2", "security-group/"+id))
		set("name", phys)
	case "aws:ec2/instance:Instance":
		set("arn", arn("ec2", "instance/"+id))
		set("privateIp", "10.40.0.10")
		set("publicIp", ip)
		set("publicDns", "ec2-"+strings.ReplaceAll(ip, ".", "-")+"."+computeDomain(region))
		set("availabilityZone", region+"a")
	case "aws:ec2/eip:Eip":
		set("publicIp", ip)
		set("publicDns", "ec2-"+strings.ReplaceAll(ip, ".", "-")+"."+computeDomain(region))
		set("allocationId", id)
	case "aws:ebs/volume:Volume":
		set("arn", arn("ec2", "volume/"+id))
	case "aws:iam/role:Role":
		set("name", phys)
		set("arn", global("iam", "role"+pathOf(str("path"))+phys))
		set("uniqueId", "AROA"+strings.ToUpper(hash(id, 17)))
		id = phys
	case "aws:iam/user:User":
		set("name", phys)
		set("arn", global("iam", "user"+pathOf(str("path"))+phys))
		id = phys
	case "aws:iam/group:Group":
		set("name", phys)
		set("arn", global("iam", "group"+pathOf(str("path"))+phys))
		id = phys
	case "aws:iam/policy:Policy":
		set("name", phys)
		set("arn", global("iam", "policy"+pathOf(str("path"))+phys))
		id = global("iam", "policy"+pathOf(str("path"))+phys)
	case "aws:iam/instanceProfile:InstanceProfile":
		set("name", phys)
		set("arn", global("iam", "instance-profile"+pathOf(str("path"))+phys))
		id = phys
	case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
		set("arn", global("iam", "oidc-provider/"+strings.TrimPrefix(str("url"), "https://")))
	case "aws:iam/accessKey:AccessKey":
		set("secret", resource.MakeSecret(resource.NewProperty("mock/"+hash(id+"secret", 36))))
		set("status", "Active")
	case "aws:cloudwatch/logGroup:LogGroup":
		set("name", phys)
		set("arn", arn("logs", "log-group:"+phys))
		id = phys
	case "aws:cloudwatch/metricAlarm:MetricAlarm":
		set("name", phys)
		set("arn", arn("cloudwatch", "alarm:"+phys))
		id = phys
	case "aws:cloudwatch/dashboard:Dashboard":
		set("dashboardArn", global("cloudwatch", "dashboard/"+str("dashboardName")))
		id = str("dashboardName")
	case "aws:kms/key:Key":
		id = hash(seed, 8) + "-" + hash(seed+"1", 4) + "-" + hash(seed+"2", 4) + "-" + hash(seed+"3", 4) + "-" + hash(seed+"4", 12)
		set("keyId", id)
		set("arn", arn("kms", "key/"+id))
	case "aws:sns/topic:Topic":
		set("name", phys)
		set("arn", arn("sns", phys))
		id = arn("sns", phys)
	case "aws:sqs/queue:Queue":
		set("name", phys)
		set("arn", arn("sqs", phys))
		set("url", fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", region, Account, phys))
		id = fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", region, Account, phys)
	case "aws:ssm/parameter:Parameter":
		set("arn", arn("ssm", "parameter"+str("name")))
		set("version", 1)
		id = str("name")
	case "aws:ssm/document:Document":
		set("arn", arn("ssm", "document/"+phys))
		set("name", phys)
		id = phys
	case "aws:ssm/association:Association":
		set("associationId", hash(seed, 8)+"-"+hash(name, 4)+"-"+hash(typ, 4)+"-"+hash(name+typ, 12))
	case "aws:ecr/repository:Repository":
		set("name", phys)
		set("arn", arn("ecr", "repository/"+phys))
		set("registryId", Account)
		set("repositoryUrl", fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", Account, region, phys))
		id = phys
	case "docker:index/image:Image":
		image := str("imageName")
		repo, _, _ := strings.Cut(image, ":")
		if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
			repo = image[:i]
		}
		set("repoDigest", repo+"@sha256:"+hash(fmt.Sprint(unwrap(resource.NewObjectProperty(in))), 64))
		set("baseImageName", image)
	case "aws:s3/bucketV2:BucketV2":
		bucket := str("bucket")
		if bucket == "" {
			bucket = phys
		}
		set("bucket", bucket)
		set("arn", "arn:aws:s3:::"+bucket)
		set("bucketRegionalDomainName", bucket+".s3."+region+".amazonaws.com")
		set("bucketDomainName", bucket+".s3.amazonaws.com")
		id = bucket
	case "aws:cloudfront/distribution:Distribution":
		set("arn", global("cloudfront", "distribution/"+id))
		set("domainName", "d"+hash(id, 13)+".cloudfront.net")
		set("hostedZoneId", "Z2FDTNDATAQYW2")
		set("status", "Deployed")
	case "aws:cloudfront/function:Function":
		set("arn", global("cloudfront", "function/"+phys))
		set("name", phys)
		id = phys
	case "aws:route53/zone:Zone":
		set("zoneId", id)
		set("arn", "arn:aws:route53:::hostedzone/"+id)
		set("nameServers", nameServers(id))
	case "aws:acm/certificate:Certificate":
		id = arn("acm", "certificate/"+hash(id, 8)+"-"+hash(id+"1", 4)+"-"+hash(id+"2", 4)+"-"+hash(id+"3", 12))
		set("arn", id)
		set("domainValidationOptions", validationOptions(in))
	case "aws:route53/record:Record":
		set("fqdn", strings.TrimSuffix(str("name"), "."))
		id = str("zoneId") + "_" + strings.TrimSuffix(str("name"), ".") + "_" + str("type")
	case "aws:cloudwatch/logDeliverySource:LogDeliverySource":
		set("name", phys)
		set("arn", arn("logs", "delivery-source:"+phys))
		id = phys
	case "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination":
		set("name", phys)
		set("arn", arn("logs", "delivery-destination:"+phys))
		id = phys
	case "aws:backup/vault:Vault":
		set("name", phys)
		set("arn", arn("backup", "backup-vault:"+phys))
		id = phys
	case "aws:backup/plan:Plan":
		id = hash(seed, 8) + "-" + hash(seed+"1", 4) + "-" + hash(seed+"2", 4) + "-" + hash(seed+"3", 4) + "-" + hash(seed+"4", 12)
		set("arn", arn("backup", "backup-plan:"+id))
	case "aws:acm/certificateValidation:CertificateValidation":
		set("certificateArn", str("certificateArn"))
	case "aws:ecs/cluster:Cluster":
		set("name", phys)
		set("arn", arn("ecs", "cluster/"+phys))
		id = arn("ecs", "cluster/"+phys)
	case "aws:ecs/service:Service":
		set("name", phys)
		id = arn("ecs", "service/"+phys)
	case "aws:ecs/taskDefinition:TaskDefinition":
		set("revision", 1)
		set("arn", arn("ecs", "task-definition/"+str("family")+":1"))
		set("arnWithoutRevision", arn("ecs", "task-definition/"+str("family")))
		id = str("family")
	case "aws:lb/loadBalancer:LoadBalancer":
		suffix := "app/" + phys + "/" + hash(seed, 16)
		set("name", phys)
		set("arn", arn("elasticloadbalancing", "loadbalancer/"+suffix))
		set("arnSuffix", suffix)
		set("dnsName", phys+"-"+hash(seed, 10)+"."+region+".elb.amazonaws.com")
		set("zoneId", "Z35SXDOTRQ7X7K")
		id = arn("elasticloadbalancing", "loadbalancer/"+suffix)
	case "aws:lb/targetGroup:TargetGroup":
		suffix := "targetgroup/" + phys + "/" + hash(seed, 16)
		set("name", phys)
		set("arn", arn("elasticloadbalancing", suffix))
		set("arnSuffix", suffix)
		id = arn("elasticloadbalancing", suffix)
	case "aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule":
		set("arn", arn("elasticloadbalancing", "listener/"+hash(seed, 16)))
	case "aws:appautoscaling/policy:Policy":
		set("arn", fmt.Sprintf("arn:aws:autoscaling:%s:%s:scalingPolicy:%s-%s:resource/%s:policyName/%s",
			region, Account, hash(seed, 8), hash(seed+"1", 4), str("resourceId"), phys))
	case "aws:rds/parameterGroup:ParameterGroup", "aws:rds/subnetGroup:SubnetGroup":
		set("name", phys)
		id = phys
	case "aws:wafv2/webAcl:WebAcl", "aws:wafv2/regexPatternSet:RegexPatternSet":
		// wafv2 ARNs: <scope>/<kind>/<name>/<id>; the id is a UUID.
		kind := map[string]string{"aws:wafv2/webAcl:WebAcl": "webacl", "aws:wafv2/regexPatternSet:RegexPatternSet": "regexpatternset"}[typ]
		scope := "regional"
		if str("scope") == "CLOUDFRONT" {
			scope = "global"
		}
		h := hash(seed, 32)
		id = h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		set("name", phys)
		set("arn", arn("wafv2", scope+"/"+kind+"/"+phys+"/"+id))
		set("lockToken", hash(seed+"lock", 8)+"-"+hash(seed+"lock", 36)[8:12])
	case "aws:wafv2/webAclAssociation:WebAclAssociation":
		id = str("webAclArn") + "," + str("resourceArn")
	case "aws:rds/instance:Instance":
		ident := str("identifier")
		set("address", ident+"."+hash(seed, 12)+"."+region+".rds.amazonaws.com")
		set("port", 5432)
		set("arn", arn("rds", "db:"+ident))
		set("masterUserSecrets", []any{map[string]any{
			"secretArn":    arn("secretsmanager", "secret:rds!db-"+hash(seed, 8)+"-"+hash(seed, 6)),
			"secretStatus": "active",
		}})
		id = ident
	}
	if _, ok := out["arn"]; !ok && typ != "" && strings.HasPrefix(typ, "aws:") && typ != "aws:wafv2/webAclAssociation:WebAclAssociation" {
		set("arn", arn(serviceOf(typ), id))
	}
	set("id", id)
	return id, out
}

func pathOf(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func computeDomain(region string) string {
	if region == "us-east-1" {
		return "compute-1.amazonaws.com"
	}
	return region + ".compute.amazonaws.com"
}

func serviceOf(typ string) string {
	mod := strings.TrimPrefix(typ, "aws:")
	mod, _, _ = strings.Cut(mod, "/")
	return mod
}

func nameServers(zone string) []any {
	h := hash(zone, 8)
	n := func(i int) int { return int(h[i]) * 7 % 2000 }
	return []any{
		fmt.Sprintf("ns-%d.awsdns-%02d.com", n(0), n(1)%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.net", n(2), n(3)%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.org", n(4), n(5)%64),
		fmt.Sprintf("ns-%d.awsdns-%02d.co.uk", n(6), n(7)%64),
	}
}

// validationOptions gives one DNS validation record per name on the
// certificate, as ACM does.
func validationOptions(in resource.PropertyMap) []any {
	names := []string{}
	if v, ok := in["domainName"]; ok && v.IsString() {
		names = append(names, v.StringValue())
	}
	if v, ok := in["subjectAlternativeNames"]; ok && v.IsArray() {
		for _, s := range v.ArrayValue() {
			if s.IsString() {
				names = append(names, s.StringValue())
			}
		}
	}
	opts := make([]any, 0, len(names))
	for _, n := range names {
		opts = append(opts, map[string]any{
			"domainName":          n,
			"resourceRecordName":  "_" + hash(n, 32) + "." + n + ".",
			"resourceRecordType":  "CNAME",
			"resourceRecordValue": "_" + hash(n+"v", 32) + ".mhbtsbpdnt.acm-validations.aws.",
		})
	}
	return opts
}
