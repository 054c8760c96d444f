package infra_test

import (
	"encoding/base64"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/internal/mockcloud"
	"slipway/internal/plan"
	"slipway/program"
	"slipway/stacks"
)

func TestNoNATGatewayOrLoadBalancer(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		for _, r := range res.Resources {
			if strings.Contains(r.Type, "natGateway") || strings.HasPrefix(r.Type, "aws:lb/") ||
				strings.HasPrefix(r.Type, "aws:alb/") || strings.HasPrefix(r.Type, "aws:elb/") ||
				r.Type == "aws:ec2/vpcEndpoint:VpcEndpoint" {
				t.Errorf("%s: %s %s costs money at idle and is not part of the design", stack, r.Type, r.Name)
			}
		}
	}
}

func TestEveryChildIsParentedAndUsesTheTaggedProvider(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		byURN := res.ByURN()
		for _, r := range res.Resources {
			if strings.HasPrefix(r.Type, "pulumi:providers:") {
				tags, _ := r.In("defaultTags.tags").(map[string]any)
				if tags["project"] != "slipway" || tags["stack"] != stack || tags["managed-by"] != "pulumi" {
					t.Errorf("%s: provider %s default tags = %v", stack, r.Name, tags)
				}
				continue
			}
			if !r.Custom {
				continue // components hang off the stack
			}
			if _, ok := byURN[r.Parent]; !ok {
				t.Errorf("%s: %s %s is not parented to a component (parent %q)", stack, r.Type, r.Name, r.Parent)
			}
			// Only AWS resources carry tags; the image builds use the docker provider.
			if strings.HasPrefix(r.Type, "aws:") && !strings.Contains(r.Provider, "pulumi:providers:aws::aws") {
				t.Errorf("%s: %s %s uses provider %q, not the tagged one", stack, r.Type, r.Name, r.Provider)
			}
		}
	}
}

func TestNetwork(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		vpc := one(t, res, "aws:ec2/vpc:Vpc")
		if vpc.Str("cidrBlock") != "10.40.0.0/16" || vpc.In("enableDnsHostnames") != true {
			t.Errorf("%s: vpc = %v", stack, vpc.Inputs)
		}
		subnets := res.ByType("aws:ec2/subnet:Subnet")
		if len(subnets) != 2 {
			t.Fatalf("%s: want 2 subnets, got %d", stack, len(subnets))
		}
		for _, sn := range subnets {
			if !slices.Equal(sn.IgnoreChanges, []string{"availabilityZone"}) {
				t.Errorf("%s: subnet %s would move (and take the host and its data with it) when AWS's zone list changes", stack, sn.Name)
			}
		}
		if subnets[0].Str("availabilityZone") == subnets[1].Str("availabilityZone") {
			t.Errorf("%s: both subnets in %s", stack, subnets[0].Str("availabilityZone"))
		}
		if subnets[0].Str("cidrBlock") != "10.40.0.0/18" || subnets[1].Str("cidrBlock") != "10.40.64.0/18" {
			t.Errorf("%s: subnet blocks %s, %s", stack, subnets[0].Str("cidrBlock"), subnets[1].Str("cidrBlock"))
		}
		rt := one(t, res, "aws:ec2/routeTable:RouteTable")
		if rt.Str("routes[0].cidrBlock") != "0.0.0.0/0" || !strings.HasPrefix(rt.Str("routes[0].gatewayId"), "igw-") {
			t.Errorf("%s: default route %v", stack, rt.In("routes"))
		}
		if n := len(res.ByType("aws:ec2/routeTableAssociation:RouteTableAssociation")); n != 2 {
			t.Errorf("%s: %d route table associations", stack, n)
		}
		def := one(t, res, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
		if def.In("ingress") != nil || def.In("egress") != nil {
			t.Errorf("%s: default security group keeps rules: %v", stack, def.Inputs)
		}
	}
}

func TestHostFirewallAdmitsOnlyCloudFrontHTTP(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		ingress := res.ByType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
		if len(ingress) != 1 {
			t.Fatalf("%s: want one ingress rule, got %d", stack, len(ingress))
		}
		in := ingress[0]
		if in.In("fromPort") != 80.0 || in.In("toPort") != 80.0 || in.Str("ipProtocol") != "tcp" {
			t.Errorf("%s: ingress %v", stack, in.Inputs)
		}
		if !strings.HasPrefix(in.Str("prefixListId"), "pl-") || in.In("cidrIpv4") != nil || in.In("cidrIpv6") != nil {
			t.Errorf("%s: ingress must come from the CloudFront prefix list only: %v", stack, in.Inputs)
		}
		rules := append(ingress, res.ByType("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")...)
		for _, r := range rules {
			if r.Str("description") == "" {
				t.Errorf("%s: rule %s has no description", stack, r.Name)
			}
			if from, to := r.In("fromPort"), r.In("toPort"); from == 22.0 || to == 22.0 || r.Str("ipProtocol") == "-1" {
				t.Errorf("%s: rule %s opens %v-%v/%s", stack, r.Name, from, to, r.Str("ipProtocol"))
			}
		}
		if sg := one(t, res, "aws:ec2/securityGroup:SecurityGroup"); sg.In("ingress") != nil {
			t.Errorf("%s: inline ingress on the host group: %v", stack, sg.In("ingress"))
		}
	}
}

func TestFlowLogsOnlyInProd(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		logs := prodOnly(t, res, "aws:ec2/flowLog:FlowLog")
		if stack != "prod" {
			continue
		}
		if len(logs) != 1 || logs[0].Str("trafficType") != "ALL" || logs[0].Str("logDestinationType") != "cloud-watch-logs" {
			t.Fatalf("prod flow logs: %v", logs)
		}
		group, ok := res.Find("aws:cloudwatch/logGroup:LogGroup", "network-flow-logs")
		if !ok || group.In("retentionInDays") != 90.0 {
			t.Errorf("prod flow log group retention: %v", group.Inputs)
		}
	}
}

func TestHostIsHardened(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		host := one(t, res, "aws:ec2/instance:Instance")
		want := map[string]any{
			"metadataOptions.httpTokens":              "required",
			"metadataOptions.httpPutResponseHopLimit": 2.0,
			"rootBlockDevice.volumeType":              "gp3",
			"rootBlockDevice.encrypted":               true,
			"rootBlockDevice.volumeSize":              20.0,
			"monitoring":                              stack == "prod",
			"userDataReplaceOnChange":                 true,
			"creditSpecification.cpuCredits":          "standard",
		}
		for path, v := range want {
			if got := host.In(path); got != v {
				t.Errorf("%s: host %s = %v, want %v", stack, path, got, v)
			}
		}
		wantType := map[string]string{"prod": "t4g.medium"}[stack]
		if wantType == "" {
			wantType = "t4g.small"
		}
		if host.Str("instanceType") != wantType {
			t.Errorf("%s: instance type %s", stack, host.Str("instanceType"))
		}
		if host.In("keyName") != nil {
			t.Errorf("%s: host has an SSH key pair", stack)
		}
		if !slices.Equal(host.IgnoreChanges, []string{"ami"}) {
			t.Errorf("%s: a newer AMI would replace the host: ignoreChanges = %v", stack, host.IgnoreChanges)
		}
		if !strings.HasPrefix(host.Str("ami"), "ami-") {
			t.Errorf("%s: ami %q", stack, host.Str("ami"))
		}
		if one(t, res, "aws:ec2/eipAssociation:EipAssociation").Str("instanceId") != host.ID {
			t.Errorf("%s: the Elastic IP is not on the host", stack)
		}
	}
}

func TestPinnedAMIRollsTheHostDeliberately(t *testing.T) {
	res := deploy(t, "dev", func(f *stacks.Files) { f.Values["slipway:hostAmi"] = "ami-0123456789abcdef0" })
	host := one(t, res, "aws:ec2/instance:Instance")
	if host.Str("ami") != "ami-0123456789abcdef0" || len(host.IgnoreChanges) != 0 {
		t.Fatalf("pinned AMI not used as is: ami=%s ignoreChanges=%v", host.Str("ami"), host.IgnoreChanges)
	}
}

func TestUbuntuAMIMatchesArchitecture(t *testing.T) {
	arm := one(t, deploy(t, "dev"), "aws:ec2/instance:Instance")
	x86 := one(t, deploy(t, "dev", func(f *stacks.Files) {
		f.Values["slipway:instanceType"] = "t3.small"
		f.Values["slipway:architecture"] = "x86_64"
	}), "aws:ec2/instance:Instance")
	if arm.Str("ami") == x86.Str("ami") {
		t.Fatal("arm64 and x86_64 hosts got the same AMI")
	}
	if x86.Str("instanceType") != "t3.small" {
		t.Fatalf("instance type %s", x86.Str("instanceType"))
	}
}

func TestHostRoleIsLeastPrivilege(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		role, _ := res.Find("aws:iam/role:Role", "host")
		trust := parsePolicy(t, role.Str("assumeRolePolicy"))
		if p, _ := trust.Statement[0].Principal.(map[string]any); p["Service"] != "ec2.amazonaws.com" {
			t.Errorf("%s: host role trusts %v", stack, trust.Statement[0].Principal)
		}
		var managed []string
		for _, a := range res.ByType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
			if a.Str("role") == role.Out("name") {
				managed = append(managed, a.Str("policyArn"))
			}
		}
		if !slices.Equal(managed, []string{"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}) {
			t.Errorf("%s: host managed policies %v", stack, managed)
		}
		inline, _ := res.Find("aws:iam/rolePolicy:RolePolicy", "host")
		for _, st := range parsePolicy(t, inline.Str("policy")).Statement {
			for _, a := range strs(st.Action) {
				if strings.Contains(a, "*") {
					t.Errorf("%s: host policy grants wildcard action %s", stack, a)
				}
			}
			for _, r := range strs(st.Resource) {
				// PutMetricData has no resource type: its scope is the namespace condition.
				metrics := slices.Equal(strs(st.Action), []string{"cloudwatch:PutMetricData"}) &&
					st.Condition["StringEquals"]["cloudwatch:namespace"] == "Slipway"
				if r == "*" && !slices.Equal(strs(st.Action), []string{"ecr:GetAuthorizationToken"}) && !metrics {
					t.Errorf("%s: host policy statement %s on every resource", stack, st.Sid)
				}
				// Read its path; write only its receipts (release.go).
				receipts := st.Sid == "WriteReleaseReceipts" && len(strs(st.Action)) == 2 && slices.Contains(strs(st.Action), "ssm:PutParameter") &&
					slices.Contains(strs(st.Action), "ssm:DeleteParameters") &&
					r == "arn:aws:ssm:us-east-1:"+mockcloud.Account+":parameter/slipway/"+stack+"/receipts/*"
				if strings.HasPrefix(r, "arn:aws:ssm:") && r != "arn:aws:ssm:us-east-1:"+mockcloud.Account+":parameter/slipway/"+stack+"/*" && !receipts {
					t.Errorf("%s: host may read parameters %s", stack, r)
				}
			}
		}
	}
}

func TestDataVolumeOutlivesTheHost(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		vol := one(t, res, "aws:ebs/volume:Volume")
		subnet := res.ByType("aws:ec2/subnet:Subnet")[0]
		if vol.Str("type") != "gp3" || vol.In("encrypted") != true {
			t.Errorf("%s: data volume %v", stack, vol.Inputs)
		}
		if vol.Str("availabilityZone") != subnet.Str("availabilityZone") {
			t.Errorf("%s: volume in %s, host subnet in %s", stack, vol.Str("availabilityZone"), subnet.Str("availabilityZone"))
		}
		prod := stack == "prod"
		if vol.Protect != prod || vol.RetainOnDelete != prod || vol.In("finalSnapshot") != prod {
			t.Errorf("%s: protect=%v retain=%v finalSnapshot=%v", stack, vol.Protect, vol.RetainOnDelete, vol.In("finalSnapshot"))
		}
		wantSize := map[string]float64{"prod": 50}[stack]
		if wantSize == 0 {
			wantSize = 20
		}
		if vol.In("size") != wantSize {
			t.Errorf("%s: size %v", stack, vol.In("size"))
		}
		att := one(t, res, "aws:ec2/volumeAttachment:VolumeAttachment")
		host := one(t, res, "aws:ec2/instance:Instance")
		if att.Str("volumeId") != vol.ID || att.Str("instanceId") != host.ID || !att.DeleteBeforeReplace ||
			att.In("stopInstanceBeforeDetaching") != true {
			t.Errorf("%s: attachment %v (deleteBeforeReplace=%v)", stack, att.Inputs, att.DeleteBeforeReplace)
		}
		if strings.HasPrefix(vol.Parent, host.URN) {
			t.Errorf("%s: the volume is the host's child and would share its fate", stack)
		}
	}
}

func TestProdSnapshotsDaily(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		policies := prodOnly(t, res, "aws:dlm/lifecyclePolicy:LifecyclePolicy")
		if stack != "prod" {
			continue
		}
		p := policies[0]
		vol := one(t, res, "aws:ebs/volume:Volume")
		if p.In("policyDetails.schedules[0].retainRule.count") != 14.0 ||
			p.In("policyDetails.schedules[0].createRule.interval") != 24.0 ||
			p.In("policyDetails.targetTags.slipway-backup") != vol.In("tags.slipway-backup") ||
			p.Str("state") != "ENABLED" {
			t.Errorf("prod snapshot policy %v", p.Inputs)
		}
	}
}

func TestReviewStackProtectsNothing(t *testing.T) {
	res := deploy(t, "pr-7")
	for _, r := range res.Resources {
		if r.Protect || r.RetainOnDelete {
			t.Errorf("review stack: %s %s is protected or retained", r.Type, r.Name)
		}
	}
}

func TestRecoveryAlarm(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		alarm, ok := res.Find("aws:cloudwatch/metricAlarm:MetricAlarm", "host-recover")
		if !ok {
			t.Fatalf("%s: no recovery alarm", stack)
		}
		host := one(t, res, "aws:ec2/instance:Instance")
		if alarm.Str("metricName") != "StatusCheckFailed_System" || alarm.Str("dimensions.InstanceId") != host.ID ||
			alarm.In("actionsEnabled") != true {
			t.Errorf("%s: recovery alarm %v", stack, alarm.Inputs)
		}
		if actions := strs(alarm.In("alarmActions")); !slices.Contains(actions, "arn:aws:automate:us-east-1:ec2:recover") {
			t.Errorf("%s: recovery alarm actions %v", stack, actions)
		}
	}
}

func TestUserDataIsABootstrapWithoutSecrets(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		host := one(t, res, "aws:ec2/instance:Instance")
		ud := host.UserData()
		// EC2 takes at most 16 KiB of user data before base64: the
		// bootstrap travels gzipped.
		if gz, err := base64.StdEncoding.DecodeString(host.Str("userDataBase64")); err != nil || len(gz) > 16384 || len(gz) == 0 {
			t.Errorf("%s: user data is %d bytes gzipped (err %v); EC2 accepts at most 16384", stack, len(gz), err)
		}
		if !strings.HasPrefix(ud, "#cloud-config\n") {
			t.Fatalf("%s: user data is not cloud-config", stack)
		}
		for _, secret := range []string{testDBPassword, testOriginSecret} {
			if strings.Contains(ud, secret) {
				t.Errorf("%s: user data contains a secret", stack)
			}
		}
		vol := one(t, res, "aws:ebs/volume:Volume")
		for _, want := range []string{"docker-compose-v2", "amazon-ecr-credential-helper", "SLIPWAY_DATA_VOLUME_ID=" + vol.ID,
			"SLIPWAY_PARAMETER_PATH=/slipway/" + stack + "/", mockcloud.Account + ".dkr.ecr.us-east-1.amazonaws.com"} {
			if !strings.Contains(ud, want) {
				t.Errorf("%s: user data lacks %q", stack, want)
			}
		}
		for _, forbidden := range []string{"curl ", "wget ", "| sh", "| bash"} {
			if strings.Contains(ud, forbidden) {
				t.Errorf("%s: user data downloads something unpinned: %q", stack, forbidden)
			}
		}
	}
}

// A secret rotation (or any config the host reads at release time) must
// not change the instance: only the bootstrap and the host's shape do.
func TestHostInputsIgnoreSecretsAndReleaseConfig(t *testing.T) {
	a := one(t, deploy(t, "prod"), "aws:ec2/instance:Instance")
	b := one(t, deploy(t, "prod", func(f *stacks.Files) {
		f.SetSecret("slipway:dbPassword", "a-rotated-db-password-123")
		f.SetSecret("slipway:originSecret", "a-rotated-origin-secret-456")
	}), "aws:ec2/instance:Instance")
	if !reflect.DeepEqual(a.Inputs, b.Inputs) {
		t.Fatal("rotating secrets changes the host's inputs; the host would be replaced")
	}
}

func TestOutputs(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		host := one(t, res, "aws:ec2/instance:Instance")
		vpc := one(t, res, "aws:ec2/vpc:Vpc")
		want := map[string]any{
			"instanceId":        host.ID,
			"vpcId":             vpc.ID,
			"ssmSessionCommand": "aws ssm start-session --target " + host.ID + " --region us-east-1",
		}
		for k, v := range want {
			if got := res.Outputs[k]; got.Value != v || got.Secret {
				t.Errorf("%s: output %s = %+v, want %v", stack, k, got, v)
			}
		}
		if ip, _ := res.Outputs["publicIp"].Value.(string); !strings.HasPrefix(ip, "203.0.113.") {
			t.Errorf("%s: publicIp %v", stack, res.Outputs["publicIp"])
		}
	}
}

// Bad config must fail before anything is registered.
func TestBadConfigRegistersNothing(t *testing.T) {
	files := stackFiles(t, "dev")
	files.Values["slipway:vpcCidr"] = "300.1.2.3/16"
	res, err := mockcloud.Run(program.Build, "slipway", "dev", files, false)
	if err == nil || !strings.Contains(err.Error(), "slipway:vpcCidr") {
		t.Fatalf("want a config error naming slipway:vpcCidr, got %v", err)
	}
	if n := len(res.Resources); n != 0 {
		t.Fatalf("%d resources registered before the config error", n)
	}
}

// Physical names come from the project's auto-naming pattern, so two
// stacks in one account never collide and each name says whose it is.
func TestPhysicalNamesCarryProjectAndStack(t *testing.T) {
	for _, stack := range allStacks {
		res := deploy(t, stack)
		role, _ := res.Find("aws:iam/role:Role", "host")
		name, _ := role.Out("name").(string)
		if !strings.HasPrefix(name, "slipway-"+stack+"-host-") || len(name) != len("slipway-"+stack+"-host-")+8 {
			t.Errorf("%s: host role physical name %q", stack, name)
		}
		if role.In("name") != nil {
			t.Errorf("%s: the host role has a hard-coded name", stack)
		}
	}
}

// hostZone is the zone of the host's subnet (the first, network-public-0)
// and of the data volume, as recorded.
func hostZone(t *testing.T, res *mockcloud.Result) (subnet, volume string) {
	t.Helper()
	sn, ok := res.Find("aws:ec2/subnet:Subnet", "network-public-0")
	if !ok {
		t.Fatalf("%s: no host subnet", res.Stack)
	}
	return sn.Str("availabilityZone"), one(t, res, "aws:ebs/volume:Volume").Str("availabilityZone")
}

// The subnets, and with the host subnet the data volume, go in zones that
// offer the instance type, by zone id; the host subnet in the first.
func TestSubnetsGoWhereTheInstanceTypeIsOffered(t *testing.T) {
	for _, tc := range []struct {
		stack, region, offerings, host, second string
	}{
		// Every zone offers it: AWS's order.
		{"dev", "us-east-1", "", "us-east-1a", "us-east-1b"},
		// Not in the first zone: the host moves to the second.
		{"dev", "us-east-1", "t4g.small=use1-az2,use1-az3", "us-east-1b", "us-east-1c"},
		// One zone only: the host there, the empty second subnet in a
		// zone that does not offer the type.
		{"prod", "us-east-1", "t4g.medium=use1-az3", "us-east-1c", "us-east-1a"},
		// Offerings of another type do not count.
		{"pr-7", "ap-southeast-2", "t4g.small=apse2-az3;*=apse2-az1", "ap-southeast-2c", "ap-southeast-2a"},
	} {
		t.Run(tc.stack+" "+tc.offerings, func(t *testing.T) {
			t.Setenv(mockcloud.OfferingsEnv, tc.offerings)
			if tc.offerings == "" {
				os.Unsetenv(mockcloud.OfferingsEnv)
			}
			res := deploy(t, tc.stack, func(f *stacks.Files) { f.Values["aws:region"] = tc.region })
			subnet, volume := hostZone(t, res)
			second, _ := res.Find("aws:ec2/subnet:Subnet", "network-public-1")
			if subnet != tc.host || volume != tc.host || second.Str("availabilityZone") != tc.second {
				t.Errorf("host subnet in %s, volume in %s, second subnet in %s; want %s, %s, %s",
					subnet, volume, second.Str("availabilityZone"), tc.host, tc.host, tc.second)
			}
		})
	}
}

// A region where no zone offers the instance type fails before anything
// is created there, in a preview as in an up, naming the type and the
// region; and so does `slipway plan`.
func TestNoZoneOffersTheInstanceType(t *testing.T) {
	t.Setenv(mockcloud.OfferingsEnv, "t4g.small=")
	want := []string{"no availability zone in eu-west-1 offers instance type t4g.small", "slipway:instanceType"}
	for _, dryRun := range []bool{true, false} {
		files := stackFiles(t, "dev")
		files.Values["aws:region"] = "eu-west-1"
		res, err := mockcloud.Run(program.Build, "slipway", "dev", files, dryRun)
		if err == nil {
			t.Fatalf("dryRun=%v: no error", dryRun)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("dryRun=%v: error %q does not say %q", dryRun, err, w)
			}
		}
		for _, r := range res.Resources {
			if r.Type == "aws:ec2/subnet:Subnet" || r.Type == "aws:ec2/instance:Instance" || r.Type == "aws:ebs/volume:Volume" {
				t.Errorf("dryRun=%v: %s %s registered without a zone offering the type", dryRun, r.Type, r.Name)
			}
		}
	}
	var out, errOut strings.Builder
	if code := plan.Command([]string{"--stack", "dev", "--project-dir", ".."}, program.Build, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "no availability zone in us-east-1 offers instance type t4g.small") {
		t.Errorf("slipway plan: exit %d, stderr %q", code, errOut.String())
	}
}

// keepIgnored is the engine's part of an update for the tests below: for a
// resource that already exists (in prior), the inputs it ignores changes
// to keep their old values, so its outputs (what dependents read) are
// the old ones. The mock monitor alone starts from nothing on every run.
type keepIgnored struct {
	*mockcloud.Cloud
	prior *mockcloud.Result
}

func (k keepIgnored) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	if old, ok := k.prior.Find(args.TypeToken, args.Name); ok && args.RegisterRPC != nil {
		args.Inputs = args.Inputs.Copy()
		for _, key := range args.RegisterRPC.GetIgnoreChanges() {
			if v, ok := old.Inputs[resource.PropertyKey(key)]; ok {
				args.Inputs[resource.PropertyKey(key)] = v
			}
		}
	}
	return k.Cloud.NewResource(args)
}

// update runs the program for a stack whose resources exist as prior
// recorded them.
func update(t *testing.T, prior *mockcloud.Result, stack string) *mockcloud.Result {
	t.Helper()
	files := stackFiles(t, stack)
	cloud := mockcloud.New("slipway", stack, files.Values["aws:region"])
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := program.Build(ctx)
		return err
	}, func(info *pulumi.RunInfo) {
		pulumi.WithMocks("slipway", stack, keepIgnored{cloud, prior})(info)
		info.RootDirectory, info.Config, info.ConfigSecretKeys = files.Dir, files.Values, files.Secrets
	})
	if err != nil {
		t.Fatalf("%s: update: %v", stack, err)
	}
	return &mockcloud.Result{Stack: stack, Resources: cloud.Resources()}
}

// Once chosen, the zones stay: when the offerings change (AWS starts
// offering the type in the first zone, or the zone list changes), a fresh
// stack would choose differently, but the existing subnets ignore the
// change and the data volume follows the host subnet's actual zone, so
// nothing moves, and the host keeps its subnet.
func TestZonesStayOnceChosen(t *testing.T) {
	for _, stack := range allStacks {
		typ := map[string]string{"prod": "t4g.medium"}[stack]
		if typ == "" {
			typ = "t4g.small"
		}
		t.Setenv(mockcloud.OfferingsEnv, typ+"=use1-az2,use1-az3")
		first := deploy(t, stack)
		if s, v := hostZone(t, first); s != "us-east-1b" || v != s {
			t.Fatalf("%s: first up: subnet %s, volume %s", stack, s, v)
		}
		for _, later := range []string{typ + "=use1-az1,use1-az2,use1-az3", typ + "=use1-az3,use1-az1,use1-az2"} {
			t.Setenv(mockcloud.OfferingsEnv, later)
			// A new stack would now put the host in us-east-1a...
			if s, _ := hostZone(t, deploy(t, stack)); s != "us-east-1a" {
				t.Fatalf("%s: the new offerings %s do not change the choice (%s): the test shows nothing", stack, later, s)
			}
			// ...the existing one keeps us-east-1b for subnet, host and data.
			second := update(t, first, stack)
			if s, v := hostZone(t, second); s != "us-east-1b" || v != "us-east-1b" {
				t.Errorf("%s: after the offerings became %s: subnet %s, volume %s, want us-east-1b", stack, later, s, v)
			}
			sn, _ := second.Find("aws:ec2/subnet:Subnet", "network-public-0")
			vol := one(t, second, "aws:ebs/volume:Volume")
			host := one(t, second, "aws:ec2/instance:Instance")
			if !slices.Contains(vol.PropertyDependencies["availabilityZone"], sn.URN) {
				t.Errorf("%s: the volume's zone does not come from the host subnet", stack)
			}
			if host.Str("subnetId") != sn.ID || host.In("availabilityZone") != nil {
				t.Errorf("%s: the host is placed by %v/%v, not by its subnet %s", stack, host.In("subnetId"), host.In("availabilityZone"), sn.ID)
			}
		}
	}
}

// The host subnet keeps its zone; an instance type its zone does not
// offer fails the preview instead of the host's replacement.
func TestInstanceTypeNotOfferedInTheHostZoneFailsThePreview(t *testing.T) {
	t.Setenv(mockcloud.OfferingsEnv, "t4g.small=use1-az1,use1-az2;t4g.large=use1-az2,use1-az3")
	first := deploy(t, "dev")
	if s, _ := hostZone(t, first); s != "us-east-1a" {
		t.Fatalf("first up: host subnet %s", s)
	}
	files := stackFiles(t, "dev")
	files.Values["slipway:instanceType"] = "t4g.large"
	cloud := mockcloud.New("slipway", "dev", "us-east-1")
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := program.Build(ctx)
		return err
	}, func(info *pulumi.RunInfo) {
		pulumi.WithMocks("slipway", "dev", keepIgnored{cloud, first})(info)
		info.RootDirectory, info.Config, info.ConfigSecretKeys, info.DryRun = files.Dir, files.Values, files.Secrets, true
	})
	if err == nil || !strings.Contains(err.Error(), "the host's subnet is in us-east-1a, which does not offer instance type t4g.large") {
		t.Errorf("err = %v", err)
	}
}
