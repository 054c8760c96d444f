package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// testSecret is the secret config value the fixtures' stacks know.
const testSecret = "fixture-secret-value-1234"

// fx is a hand-built resource record: inputs as plain Go values, plus the
// outputs AWS would compute.
type fx struct {
	typ, name string
	id        string
	in        map[string]any
	out       map[string]any
	protect   bool
	retain    bool
	region    string
}

// world is a stack of fixtures plus its outputs.
type world struct {
	// foundation marks the foundation's world (goodFoundation).
	foundation bool
	profile    stacks.Profile
	stack      string
	res        []*fx
	outputs    map[string]mockcloud.Output
}

func (w *world) add(typ, name, id string, in map[string]any, out map[string]any) *fx {
	f := &fx{typ: typ, name: name, id: id, in: in, out: out, region: "us-east-1"}
	w.res = append(w.res, f)
	return f
}

// get returns the fixture of a type and name; it panics on a typo so a
// mutation can never silently miss.
func (w *world) get(typ, name string) *fx {
	for _, f := range w.res {
		if f.typ == typ && f.name == name {
			return f
		}
	}
	panic(fmt.Sprintf("fixture %s %s not found", typ, name))
}

func (w *world) drop(typ, name string) {
	w.get(typ, name)
	out := w.res[:0]
	for _, f := range w.res {
		if f.typ != typ || f.name != name {
			out = append(out, f)
		}
	}
	w.res = out
}

// set sets an input at a dotted path ("viewerCertificate.sslSupportMethod",
// "origins[1].customOriginConfig.originSslProtocols").
func (f *fx) set(path string, v any) {
	parts := strings.Split(path, ".")
	var cur any = f.in
	for i, part := range parts {
		name, idx := part, -1
		if j := strings.Index(part, "["); j >= 0 {
			name = part[:j]
			idx, _ = strconv.Atoi(part[j+1 : len(part)-1])
		}
		m := cur.(map[string]any)
		last := i == len(parts)-1
		if idx < 0 {
			if last {
				if v == nil {
					delete(m, name)
				} else {
					m[name] = v
				}
				return
			}
			if _, ok := m[name].(map[string]any); !ok {
				m[name] = map[string]any{}
			}
			cur = m[name]
			continue
		}
		arr := m[name].([]any)
		if last {
			arr[idx] = v
			return
		}
		cur = arr[idx]
	}
}

func (w *world) stackOf() Stack {
	s := Stack{Name: w.stack, Foundation: w.foundation, Profile: w.profile, Region: "us-east-1", Outputs: w.outputs, Secrets: []string{testSecret}}
	for _, f := range w.res {
		in := resource.NewPropertyMapFromMap(f.in)
		out := in.Copy()
		for k, v := range f.out {
			out[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
		}
		out["id"] = resource.NewProperty(f.id)
		s.Resources = append(s.Resources, mockcloud.Resource{
			URN:  "urn:pulumi:" + w.stack + "::slipway::" + f.typ + "::" + f.name,
			Type: f.typ, Name: f.name, Custom: true, ID: f.id,
			Inputs: in, Outputs: out, Protect: f.protect, RetainOnDelete: f.retain, Region: f.region,
		})
	}
	return s
}

func doc(statements ...map[string]any) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": statements})
	return string(b)
}

func denyInsecure(action, resource string) map[string]any {
	return map[string]any{
		"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": action,
		"Resource": resource, "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
	}
}

const (
	acct       = "123456789012"
	distARN    = "arn:aws:cloudfront::" + acct + ":distribution/EDISTRIBUTION1"
	certARN    = "arn:aws:acm:us-east-1:" + acct + ":certificate/0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
	topicARN   = "arn:aws:sns:us-east-1:" + acct + ":slipway-alarms"
	workARN    = "arn:aws:sqs:us-east-1:" + acct + ":slipway-work"
	dlqARN     = "arn:aws:sqs:us-east-1:" + acct + ":slipway-dlq"
	workURL    = "https://sqs.us-east-1.amazonaws.com/" + acct + "/slipway-work"
	dlqURL     = "https://sqs.us-east-1.amazonaws.com/" + acct + "/slipway-dlq"
	bucketName = "slipway-site-0a1b2c3d"
)

// good builds a stack of every concern, configured as the baseline
// expects for the profile. Every rule that applies to the profile passes.
func good(profile stacks.Profile) *world {
	stack := map[stacks.Profile]string{stacks.Prod: "prod", stacks.Dev: "dev", stacks.Review: "pr-7"}[profile]
	prod, review := profile == stacks.Prod, profile == stacks.Review
	w := &world{profile: profile, stack: stack, outputs: map[string]mockcloud.Output{
		"publicIp": {Value: "203.0.113.10"},
		"siteUrl":  {Value: "https://example.com"},
	}}

	// Edge.
	w.add(tBucketV2, "site", bucketName, map[string]any{"forceDestroy": review}, map[string]any{
		"bucket": bucketName, "arn": "arn:aws:s3:::" + bucketName,
		"bucketRegionalDomainName": bucketName + ".s3.us-east-1.amazonaws.com",
	})
	w.add(tBucketPAB, "site", bucketName, map[string]any{"bucket": bucketName, "blockPublicAcls": true,
		"blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true}, nil)
	w.add(tBucketSSE, "site", bucketName, map[string]any{"bucket": bucketName, "rules": []any{
		map[string]any{"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": "AES256"}}}}, nil)
	w.add(tBucketPolicy, "site", bucketName, map[string]any{"bucket": bucketName, "policy": doc(
		map[string]any{"Sid": "CloudFrontReads", "Effect": "Allow", "Principal": map[string]any{"Service": "cloudfront.amazonaws.com"},
			"Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + bucketName + "/*",
			"Condition": map[string]any{"StringEquals": map[string]any{"AWS:SourceArn": distARN}}},
		denyInsecure("s3:*", "arn:aws:s3:::"+bucketName+"/*"),
	)}, nil)
	w.add(tOAC, "site", "E2OACEXAMPLE", map[string]any{"originAccessControlOriginType": "s3",
		"signingBehavior": "always", "signingProtocol": "sigv4"}, nil)
	w.add(tHeadersPolicy, "security", "rhp-0123", map[string]any{"securityHeadersConfig": map[string]any{
		"strictTransportSecurity": map[string]any{"accessControlMaxAgeSec": 63072000, "includeSubdomains": true, "override": true},
		"contentTypeOptions":      map[string]any{"override": true},
		"frameOptions":            map[string]any{"frameOption": "DENY", "override": true},
	}}, nil)
	cert := w.add(tCertificate, "site", certARN, map[string]any{"domainName": "example.com", "validationMethod": "DNS"},
		map[string]any{"arn": certARN})
	cert.region = "us-east-1"
	w.add(tDistribution, "site", "EDISTRIBUTION1", map[string]any{
		"enabled": true, "defaultRootObject": "index.html",
		"defaultCacheBehavior": map[string]any{"viewerProtocolPolicy": "redirect-to-https", "responseHeadersPolicyId": "rhp-0123",
			"targetOriginId": "site"},
		"orderedCacheBehaviors": []any{map[string]any{"pathPattern": "/api/*", "viewerProtocolPolicy": "https-only", "targetOriginId": "api"}},
		"origins": []any{
			map[string]any{"originId": "site", "domainName": bucketName + ".s3.us-east-1.amazonaws.com", "originAccessControlId": "E2OACEXAMPLE"},
			map[string]any{"originId": "api", "domainName": "ec2-203-0-113-10.compute-1.amazonaws.com",
				"customOriginConfig": map[string]any{"originProtocolPolicy": "http-only", "httpPort": 80, "httpsPort": 443,
					"originSslProtocols": []any{"TLSv1.2"}}},
		},
		"viewerCertificate": map[string]any{"acmCertificateArn": certARN, "minimumProtocolVersion": "TLSv1.2_2021", "sslSupportMethod": "sni-only"},
	}, map[string]any{"arn": distARN})
	if prod {
		// Access logs as the real prod stack ships them: vended log
		// delivery to a log group (infra/site.go accessLogs).
		w.add(tLogDelivery, "site-access-logs", "slipway-prod-site-access-logs-1a2b", map[string]any{
			"logType": "ACCESS_LOGS", "resourceArn": distARN}, map[string]any{"name": "slipway-prod-site-access-logs-1a2b",
			"arn": "arn:aws:logs:us-east-1:" + acct + ":delivery-source:slipway-prod-site-access-logs-1a2b"})
		w.add(tLogDeliveryTo, "site-access-logs", "slipway-prod-site-access-logs-3c4d", map[string]any{"outputFormat": "json"},
			map[string]any{"name": "slipway-prod-site-access-logs-3c4d",
				"arn": "arn:aws:logs:us-east-1:" + acct + ":delivery-destination:slipway-prod-site-access-logs-3c4d"})
		w.add(tLogDelivered, "site-access-logs", "delivery-0123", map[string]any{
			"deliverySourceName":     "slipway-prod-site-access-logs-1a2b",
			"deliveryDestinationArn": "arn:aws:logs:us-east-1:" + acct + ":delivery-destination:slipway-prod-site-access-logs-3c4d"}, nil)
	}
	w.add(tZone, "site", "Z0123456789ABC", map[string]any{"name": "example.com", "forceDestroy": review}, nil)

	// Core.
	w.add(tVpc, "network", "vpc-0123", map[string]any{"cidrBlock": "10.40.0.0/16"}, nil)
	w.add(tDefaultSG, "network-default", "sg-default", map[string]any{"vpcId": "vpc-0123"}, nil)
	if prod {
		w.add(tFlowLog, "network", "fl-0123", map[string]any{"vpcId": "vpc-0123", "trafficType": "ALL"}, nil)
	}
	w.add(tSubnet, "network-public-0", "subnet-0", map[string]any{"vpcId": "vpc-0123", "mapPublicIpOnLaunch": false}, nil)
	w.add("aws:ec2/securityGroup:SecurityGroup", "network-host", "sg-host", map[string]any{"vpcId": "vpc-0123"}, nil)
	w.add("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "network-http", "sgr-1", map[string]any{
		"securityGroupId": "sg-host", "ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "prefixListId": "pl-0123"}, nil)
	w.add("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "network-egress-443", "sgr-2", map[string]any{
		"securityGroupId": "sg-host", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"}, nil)
	w.add(tInstance, "host", "i-0123", map[string]any{
		"instanceType": "t4g.small", "monitoring": prod, "userData": "#cloud-config\npackages: [docker.io]\n",
		"metadataOptions": map[string]any{"httpTokens": "required", "httpPutResponseHopLimit": 2},
		"rootBlockDevice": map[string]any{"volumeType": "gp3", "volumeSize": 20, "encrypted": true},
		"tags":            map[string]any{"Name": "slipway-" + stack},
	}, nil)
	vol := w.add(tVolume, "data", "vol-0123", map[string]any{"size": 20, "type": "gp3", "encrypted": true,
		"finalSnapshot": prod, "tags": map[string]any{"slipway-backup": "slipway-" + stack}}, nil)
	vol.protect, vol.retain = prod, prod
	if prod {
		w.add(tDLM, "data", "policy-0123", map[string]any{"state": "ENABLED", "policyDetails": map[string]any{
			"resourceTypes": []any{"VOLUME"}, "targetTags": map[string]any{"slipway-backup": "slipway-" + stack},
			"schedules": []any{map[string]any{"name": "daily",
				"createRule": map[string]any{"interval": 24, "intervalUnit": "HOURS", "times": "03:00"},
				"retainRule": map[string]any{"count": 14}}},
		}}, nil)
	}

	// Registry, release, ops.
	w.add(tRepository, "api", "slipway-api", map[string]any{"imageTagMutability": "IMMUTABLE",
		"imageScanningConfiguration": map[string]any{"scanOnPush": true}, "forceDelete": review}, map[string]any{"name": "slipway-api"})
	w.add(tECRLifecycle, "api", "slipway-api", map[string]any{"repository": "slipway-api",
		"policy": `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`}, nil)
	w.add(tQueue, "work", workURL, map[string]any{"sqsManagedSseEnabled": true,
		"redrivePolicy": `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":5}`}, map[string]any{"arn": workARN, "url": workURL})
	w.add(tQueue, "dlq", dlqURL, map[string]any{"sqsManagedSseEnabled": true}, map[string]any{"arn": dlqARN, "url": dlqURL})
	w.add(tQueuePolicy, "work", workURL, map[string]any{"queueUrl": workURL, "policy": doc(denyInsecure("sqs:*", workARN))}, nil)
	w.add(tQueuePolicy, "dlq", dlqURL, map[string]any{"queueUrl": dlqURL, "policy": doc(denyInsecure("sqs:*", dlqARN))}, nil)
	w.add(tLogGroup, "api", "slipway-api-logs", map[string]any{"retentionInDays": 14}, nil)
	w.add(tTopic, "alarms", topicARN, map[string]any{}, map[string]any{"arn": topicARN})
	w.add(tAlarm, "host-recover", "slipway-host-recover", map[string]any{"actionsEnabled": true,
		"alarmActions": []any{"arn:aws:automate:us-east-1:ec2:recover", topicARN}}, nil)
	w.add(tParameter, "db-password", "/slipway/"+stack+"/secrets/db-password", map[string]any{
		"name": "/slipway/" + stack + "/secrets/db-password", "type": "SecureString",
		"value": resource.MakeSecret(resource.NewProperty(testSecret))}, nil)
	w.add(tParameter, "release", "/slipway/"+stack+"/release/id", map[string]any{
		"name": "/slipway/" + stack + "/release/id", "type": "String", "value": "r-1"}, nil)
	w.add(tRole, "host", "slipway-host", map[string]any{"path": "/slipway/",
		"permissionsBoundary": "arn:aws:iam::" + acct + ":policy/slipway/slipway-dev-role-boundary", "assumeRolePolicy": doc(map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})}, nil)
	w.add(tRolePolicy, "host", "slipway-host", map[string]any{"policy": doc(map[string]any{
		"Effect": "Allow", "Action": []any{"ssm:GetParameter"}, "Resource": "arn:aws:ssm:us-east-1:" + acct + ":parameter/slipway/" + stack + "/*"})}, nil)
	w.add(tInstanceProfile, "host", "slipway-host", map[string]any{"path": "/slipway/"}, nil)
	w.add(tRoleAttachment, "host-ssm", "slipway-host-ssm", map[string]any{"policyArn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}, nil)
	// The explicit providers, pinned to the stack's account.
	for _, name := range []string{"aws", "aws-us-east-1"} {
		w.add(tAWSProvider, name, name+"-id", map[string]any{"region": "us-east-1", "allowedAccountIds": []any{acct}}, nil)
	}
	addBackups(w)
	addPlatform(w) // the ECS + RDS profile (ecs_fixtures_test.go)
	return w
}

// Foundation fixtures: a dev account's foundation as infra/foundation
// builds it, with the optional CI user on.
const (
	oidcARN    = "arn:aws:iam::" + acct + ":oidc-provider/token.actions.githubusercontent.com"
	stateName  = "slipway-foundation-dev-state-1a2b3c4d"
	keyARN     = "arn:aws:kms:us-east-1:" + acct + ":key/0f1e2d3c-1111-2222-3333-444455556666"
	ciPolicy   = "arn:aws:iam::" + acct + ":policy/slipway/slipway-ci-dev-deploy-services"
	adminARN   = "arn:aws:iam::" + acct + ":role/Administrator"
	devDeploy  = "arn:aws:iam::" + acct + ":role/slipway/slipway-dev-deploy"
	devPreview = "arn:aws:iam::" + acct + ":role/slipway/slipway-dev-preview"
)

func trust(sub string) string {
	return doc(map[string]any{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
		"Principal": map[string]any{"Federated": oidcARN},
		"Condition": map[string]any{"StringEquals": map[string]any{
			"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
			"token.actions.githubusercontent.com:sub": sub}}})
}

func goodFoundation() *world {
	w := &world{foundation: true, stack: "dev", outputs: map[string]mockcloud.Output{
		"devBackendUrl": {Value: "s3://" + stateName},
	}}
	w.add(tAWSProvider, "aws", "aws-id", map[string]any{"region": "us-east-1", "allowedAccountIds": []any{acct}}, nil)
	w.add(tOIDCProvider, "github", oidcARN, map[string]any{"url": "https://token.actions.githubusercontent.com"}, map[string]any{"arn": oidcARN})
	w.add(tRole, "slipway-dev-deploy", "slipway-dev-deploy", map[string]any{"name": "slipway-dev-deploy", "path": "/slipway/",
		"assumeRolePolicy": trust("repo:acme/shop:environment:dev")}, map[string]any{"arn": devDeploy})
	w.add(tRole, "slipway-dev-preview", "slipway-dev-preview", map[string]any{"name": "slipway-dev-preview", "path": "/slipway/",
		"assumeRolePolicy": trust("repo:acme/shop:environment:dev-preview")}, map[string]any{"arn": devPreview})
	w.add(tPolicy, "dev-role-boundary", "arn:aws:iam::"+acct+":policy/slipway/slipway-dev-role-boundary", map[string]any{
		"name": "slipway-dev-role-boundary", "path": "/slipway/", "policy": doc(map[string]any{"Effect": "Allow",
			"Action": []any{"ssm:GetParameter"}, "Resource": "arn:aws:ssm:us-east-1:" + acct + ":parameter/slipway/dev/*"})}, nil)
	w.add(tPolicy, "slipway-ci-dev-deploy-services", ciPolicy, map[string]any{"name": "slipway-ci-dev-deploy-services", "path": "/slipway/",
		"policy": doc(
			map[string]any{"Sid": "SsmUseClassDocuments", "Effect": "Allow", "Action": []any{"ssm:CreateAssociation", "ssm:SendCommand"},
				"Resource": "arn:aws:ssm:us-east-1:" + acct + ":document/slipway-dev-rollout"},
			map[string]any{"Sid": "IamRoles", "Effect": "Allow", "Action": []any{"iam:GetRole", "iam:TagRole"},
				"Resource": "arn:aws:iam::" + acct + ":role/slipway/slipway-dev-*"},
			map[string]any{"Sid": "DenyWritingDocuments", "Effect": "Deny", "Action": []any{"ssm:CreateDocument", "ssm:UpdateDocument",
				"ssm:DeleteDocument", "ssm:UpdateDocumentDefaultVersion"}, "Resource": "*"},
			map[string]any{"Sid": "DenyTrust", "Effect": "Deny", "Action": []any{"iam:UpdateAssumeRolePolicy"}, "Resource": "*"},
		)}, map[string]any{"arn": ciPolicy})
	w.add(tRoleAttachment, "slipway-ci-dev-deploy-services", "att-1", map[string]any{"role": "slipway-dev-deploy", "policyArn": ciPolicy}, nil)
	// The optional CI user: through a group, no console.
	w.add(tUser, "ci-user", "slipway-ci-dev", map[string]any{"name": "slipway-ci-dev", "path": "/slipway/"}, map[string]any{"name": "slipway-ci-dev"})
	w.add(tGroup, "ci-user", "slipway-ci-dev", map[string]any{"name": "slipway-ci-dev", "path": "/slipway/"}, map[string]any{"name": "slipway-ci-dev"})
	w.add(tUserGroups, "ci-user", "slipway-ci-dev-groups", map[string]any{"user": "slipway-ci-dev", "groups": []any{"slipway-ci-dev"}}, nil)
	w.add(tGroupAttachment, "ci-user", "att-2", map[string]any{"group": "slipway-ci-dev", "policyArn": ciPolicy}, nil)
	w.add(tAccessKey, "ci-user-key-1", "AKIAEXAMPLE", map[string]any{"user": "slipway-ci-dev", "status": "Active"}, nil)
	w.outputs["ciSecretAccessKey"] = mockcloud.Output{Value: "mock-secret", Secret: true}
	// The class's state: key (no root statement) and bucket.
	w.add(tKey, "dev-state", "0f1e2d3c-1111-2222-3333-444455556666", map[string]any{"enableKeyRotation": true, "policy": doc(
		map[string]any{"Sid": "Administer", "Effect": "Allow", "Principal": map[string]any{"AWS": adminARN}, "Action": []any{"kms:*"}, "Resource": "*"},
		map[string]any{"Sid": "UseForPulumi", "Effect": "Allow", "Principal": map[string]any{"AWS": []any{devDeploy, devPreview}},
			"Action": []any{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"}, "Resource": "*"},
	)}, map[string]any{"arn": keyARN, "keyId": "0f1e2d3c-1111-2222-3333-444455556666"})
	w.add(tAlias, "dev-state", "alias/slipway-dev-pulumi-secrets", map[string]any{"name": "alias/slipway-dev-pulumi-secrets",
		"targetKeyId": "0f1e2d3c-1111-2222-3333-444455556666"}, nil)
	w.add(tBucketV2, "dev-state", stateName, map[string]any{}, map[string]any{"bucket": stateName, "arn": "arn:aws:s3:::" + stateName})
	w.add(tBucketVersion, "dev-state", stateName, map[string]any{"bucket": stateName,
		"versioningConfiguration": map[string]any{"status": "Enabled"}}, nil)
	w.add(tBucketPAB, "dev-state", stateName, map[string]any{"bucket": stateName, "blockPublicAcls": true,
		"blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true}, nil)
	w.add(tBucketSSE, "dev-state", stateName, map[string]any{"bucket": stateName, "rules": []any{map[string]any{
		"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": "aws:kms", "kmsMasterKeyId": keyARN}, "bucketKeyEnabled": true}}}, nil)
	w.add(tBucketPolicy, "dev-state", stateName, map[string]any{"bucket": stateName, "policy": doc(
		denyInsecure("s3:*", "arn:aws:s3:::"+stateName+"/*"))}, nil)
	return w
}
