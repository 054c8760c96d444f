package infra

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

const (
	// ubuntuOwner is Canonical's AWS account, the publisher of Ubuntu AMIs.
	ubuntuOwner = "099720109477"
	// ssmCorePolicy lets Session Manager reach the host: shell access is
	// `aws ssm start-session`, never SSH.
	ssmCorePolicy = "AmazonSSMManagedInstanceCore"
	// dataDevice is where the data volume is attached; on Nitro hosts it
	// shows up as an NVMe device found by volume id instead.
	dataDevice = "/dev/sdf"
	// imdsHopLimit: see the instance's MetadataOptions.
	imdsHopLimit = 2
)

// HostArgs shapes the app host. Grants and Bootstrap are the seams other
// concerns use to give the host what they need, and nothing else.
type HostArgs struct {
	Config          stacks.HostConfig
	Profile         stacks.Profile
	Project, Stack  string
	SubnetID        pulumi.IDOutput
	SecurityGroupID pulumi.IDOutput
	Data            *DataVolume
	Account         account
	// ParameterPath is the SSM path the host reads its release from.
	ParameterPath string
	// Grants are added to the host role's policy.
	Grants []Grant
	// Bootstrap is added to the host's first boot.
	Bootstrap Bootstrap
	// AlarmActions are notified when the host is recovered.
	AlarmActions []pulumi.StringInput
	// PermissionsBoundary is the stack's role boundary (boundary.go): the
	// role's grants must fit inside it.
	PermissionsBoundary pulumi.StringInput
}

// Host is the one EC2 instance that runs the compose stack.
type Host struct {
	pulumi.ResourceState

	InstanceID pulumi.IDOutput
	PublicIP   pulumi.StringOutput
	// PublicDNS is the Elastic IP's DNS name, CloudFront's API origin.
	PublicDNS pulumi.StringOutput
	// AMI is the image the host runs; LatestAMI the newest one available.
	AMI       pulumi.StringOutput
	LatestAMI pulumi.StringOutput
}

// NewHost creates the host, its role, its address and its auto-recovery.
func NewHost(ctx *pulumi.Context, name string, args HostArgs, opts ...pulumi.ResourceOption) (*Host, error) {
	h := &Host{}
	if err := ctx.RegisterComponentResource("slipway:host:Host", name, h, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(h)

	profile, policies, err := hostRole(ctx, name, args, h)
	if err != nil {
		return nil, err
	}
	h.LatestAMI = latestUbuntu(ctx, args.Config.Architecture, parent)
	ami, keepAMI, err := hostAMI(ctx, name, args.Config, h.LatestAMI, parent)
	if err != nil {
		return nil, err
	}
	userData := pulumi.All(args.Data.VolumeID, args.Account.ID).ApplyT(func(v []any) (string, error) {
		doc, err := cloudConfig(hostSettings{
			Stack:         args.Stack,
			Region:        args.Account.Region,
			ParameterPath: args.ParameterPath,
			DataVolumeID:  string(v[0].(pulumi.ID)),
			Registry:      fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com", v[1], args.Account.Region),
		}, args.Bootstrap)
		if err != nil {
			return "", err
		}
		return encodeUserData(doc)
	}).(pulumi.StringOutput)

	prod := args.Profile == stacks.Prod
	instance, err := ec2.NewInstance(ctx, name, &ec2.InstanceArgs{
		Ami:                      ami,
		InstanceType:             pulumi.String(args.Config.InstanceType),
		SubnetId:                 args.SubnetID,
		VpcSecurityGroupIds:      pulumi.StringArray{args.SecurityGroupID},
		AssociatePublicIpAddress: pulumi.Bool(true), // the bootstrap needs the internet before the EIP lands
		IamInstanceProfile:       profile.Name,
		Monitoring:               pulumi.Bool(prod),
		CreditSpecification:      creditSpecification(args.Config.InstanceType),
		// IMDSv2 only. Hop limit 2, because the API and the worker need
		// the role (their queue, their metrics) and reach IMDS from a
		// container, one hop behind the docker bridge; hop limit 1 would
		// cut them off too. Every other container is refused by the
		// DOCKER-USER rule the host installs before Docker starts
		// (hostfiles/slipway-imds.sh; the release decides the allowed
		// addresses). Instance tags are readable on the host, so the host
		// documents can check the host's `stack` tag.
		MetadataOptions: &ec2.InstanceMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(imdsHopLimit),
			InstanceMetadataTags:    pulumi.String("enabled"),
		},
		RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
			VolumeType:          pulumi.String("gp3"),
			VolumeSize:          pulumi.Int(args.Config.RootVolumeGiB),
			Encrypted:           pulumi.Bool(true),
			DeleteOnTermination: pulumi.Bool(true),
		},
		UserDataBase64: userData,
		// The bootstrap runs once per instance, so a changed bootstrap is
		// a new host; the data volume carries the state across.
		UserDataReplaceOnChange: pulumi.Bool(true),
		Tags:                    pulumi.StringMap{"Name": pulumi.String(args.Project + "-" + args.Stack)},
	}, parent, keepAMI, pulumi.DependsOn(policies))
	if err != nil {
		return nil, err
	}

	// The attachment must go before a new one can be made for a
	// replacement host; stopping the old host first lets Postgres shut
	// down cleanly.
	if _, err := ec2.NewVolumeAttachment(ctx, name+"-data", &ec2.VolumeAttachmentArgs{
		DeviceName:                  pulumi.String(dataDevice),
		VolumeId:                    args.Data.VolumeID,
		InstanceId:                  instance.ID(),
		StopInstanceBeforeDetaching: pulumi.Bool(true),
	}, parent, pulumi.DeleteBeforeReplace(true)); err != nil {
		return nil, err
	}

	// A stable address that survives host replacement.
	eip, err := ec2.NewEip(ctx, name, &ec2.EipArgs{Domain: pulumi.String("vpc")}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := ec2.NewEipAssociation(ctx, name, &ec2.EipAssociationArgs{
		AllocationId: eip.AllocationId,
		InstanceId:   instance.ID(),
	}, parent); err != nil {
		return nil, err
	}
	if err := recoveryAlarm(ctx, name, instance, args, h); err != nil {
		return nil, err
	}

	h.InstanceID = instance.ID()
	h.PublicIP = eip.PublicIp
	h.PublicDNS = eip.PublicDns
	h.AMI = instance.Ami
	return h, ctx.RegisterResourceOutputs(h, pulumi.Map{
		"instanceId": instance.ID(),
		"publicIp":   eip.PublicIp,
		"publicDns":  eip.PublicDns,
	})
}

// hostAMI is the image the instance is given, and whether later AMIs are
// ignored. With slipway:hostAmi empty the host keeps the AMI it was created
// with (ignoreChanges), so a newer Ubuntu image never replaces it. That
// also keeps the old image when slipway:architecture changes, and an arm64
// image cannot boot an x86_64 instance type (nor the other way round): the
// engine substitutes the old AMI even when the instance is replaced. So the
// architecture the host's image was chosen for is kept in the state (a
// Stash, which keeps its first value) and a change of architecture with an
// empty hostAmi is refused, saying how to roll the host: pin an AMI of the
// new architecture in slipway:hostAmi (the message names the newest), which
// replaces the host on the next `pulumi up`; while pinned, the stash is
// replaced whenever the architecture or the AMI changes, so it follows the
// image.
func hostAMI(ctx *pulumi.Context, name string, cfg stacks.HostConfig, latest pulumi.StringOutput, parent pulumi.ResourceOption) (pulumi.StringOutput, pulumi.ResourceOption, error) {
	// The pinned AMI is part of the input, so pinning one after a refused
	// run (whose update already recorded the new architecture as the
	// stash's input, not its output) still replaces the stash.
	input := pulumi.StringMap{"architecture": pulumi.String(cfg.Architecture)}
	opts := []pulumi.ResourceOption{parent}
	if cfg.AMI != "" {
		input["ami"] = pulumi.String(cfg.AMI)
		opts = append(opts, pulumi.ReplaceOnChanges([]string{"input"}))
	}
	recorded, err := pulumi.NewStash(ctx, name+"-architecture", &pulumi.StashArgs{Input: input}, opts...)
	if err != nil {
		return pulumi.StringOutput{}, nil, err
	}
	if cfg.AMI != "" {
		return pulumi.String(cfg.AMI).ToStringOutput(), pulumi.IgnoreChanges(nil), nil
	}
	ami := pulumi.All(recorded.Output, latest).ApplyT(func(v []any) (string, error) {
		// Nothing recorded yet (a new stack, a preview of it): nothing to compare.
		stored, _ := v[0].(map[string]any)
		was, _ := stored["architecture"].(string)
		if was != "" && was != cfg.Architecture {
			return "", fmt.Errorf("slipway:architecture changed from %s to %s, but with slipway:hostAmi empty the host keeps its %s image, which cannot boot %s: "+
				"roll the host by setting slipway:hostAmi to an %s AMI (the newest Ubuntu 24.04 for %s is %s) and running pulumi up, which replaces the host "+
				"(the data volume and the Elastic IP move to the new one); hostAmi may be emptied again afterwards",
				was, cfg.Architecture, was, cfg.InstanceType, cfg.Architecture, cfg.Architecture, v[1])
		}
		return v[1].(string), nil
	}).(pulumi.StringOutput)
	return ami, pulumi.IgnoreChanges([]string{"ami"}), nil
}

// latestUbuntu finds the newest Ubuntu 24.04 LTS image for the
// architecture: Docker, compose v2 and the ECR credential helper all come
// from its own archive.
func latestUbuntu(ctx *pulumi.Context, architecture string, opts ...pulumi.InvokeOption) pulumi.StringOutput {
	arch := map[string]string{"arm64": "arm64", "x86_64": "amd64"}[architecture]
	return ec2.LookupAmiOutput(ctx, ec2.LookupAmiOutputArgs{
		Owners:     pulumi.ToStringArray([]string{ubuntuOwner}),
		MostRecent: pulumi.Bool(true),
		Filters: ec2.GetAmiFilterArray{
			ec2.GetAmiFilterArgs{Name: pulumi.String("name"), Values: pulumi.ToStringArray([]string{
				"ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-" + arch + "-server-*"})},
			ec2.GetAmiFilterArgs{Name: pulumi.String("architecture"), Values: pulumi.ToStringArray([]string{architecture})},
			ec2.GetAmiFilterArgs{Name: pulumi.String("virtualization-type"), Values: pulumi.ToStringArray([]string{"hvm"})},
		},
	}, opts...).Id()
}

// creditSpecification keeps burstable instances on standard credits: an
// idle host must never run up "unlimited" surplus charges.
func creditSpecification(instanceType string) ec2.InstanceCreditSpecificationPtrInput {
	if !strings.HasPrefix(instanceType, "t") {
		return nil
	}
	return &ec2.InstanceCreditSpecificationArgs{CpuCredits: pulumi.String("standard")}
}

// hostRole is the instance role: Session Manager, plus exactly the grants
// other concerns hand over (their ECR repositories, log groups, SSM
// parameters, queue).
func hostRole(ctx *pulumi.Context, name string, args HostArgs, h *Host) (*iam.InstanceProfile, []pulumi.Resource, error) {
	parent := pulumi.Parent(h)
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		Path:             pulumi.String(iamPath),
		Description:      pulumi.String("Slipway app host " + args.Stack),
		AssumeRolePolicy: assumeRolePolicy(ctx, parent, "ec2.amazonaws.com", nil),
		// The deploy identity may change this role only within it.
		PermissionsBoundary: args.PermissionsBoundary,
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	ssm, err := iam.NewRolePolicyAttachment(ctx, name+"-ssm", &iam.RolePolicyAttachmentArgs{
		Role:      role.Name,
		PolicyArn: args.Account.managedPolicy(ssmCorePolicy),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	policies := []pulumi.Resource{ssm}
	grants := append([]Grant{{
		Sid:       "ReadOwnParameters",
		Actions:   []string{"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"},
		Resources: pulumi.StringArray{args.Account.arn("ssm", "parameter"+strings.TrimSuffix(args.ParameterPath, "/")+"/*")},
	}}, args.Grants...)
	inline, err := iam.NewRolePolicy(ctx, name, &iam.RolePolicyArgs{
		Role:   role.ID(),
		Policy: policyDocument(ctx, parent, grants...),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	policies = append(policies, inline)
	profile, err := iam.NewInstanceProfile(ctx, name, &iam.InstanceProfileArgs{
		Path: pulumi.String(iamPath),
		Role: role.Name,
	}, parent)
	return profile, policies, err
}

// recoveryAlarm moves the host to healthy hardware when AWS's own system
// status check fails (same instance id, volumes and address).
func recoveryAlarm(ctx *pulumi.Context, name string, instance *ec2.Instance, args HostArgs, h *Host) error {
	actions := pulumi.Array{pulumi.Sprintf("arn:%s:automate:%s:ec2:recover", args.Account.Partition, args.Account.Region)}
	for _, a := range args.AlarmActions {
		actions = append(actions, a)
	}
	_, err := cloudwatch.NewMetricAlarm(ctx, name+"-recover", &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.String("System status check failed: recover the host onto healthy hardware"),
		Namespace:          pulumi.String("AWS/EC2"),
		MetricName:         pulumi.String("StatusCheckFailed_System"),
		Dimensions:         pulumi.StringMap{"InstanceId": instance.ID()},
		Statistic:          pulumi.String("Maximum"),
		Period:             pulumi.Int(60),
		EvaluationPeriods:  pulumi.Int(2),
		Threshold:          pulumi.Float64(1),
		ComparisonOperator: pulumi.String("GreaterThanOrEqualToThreshold"),
		ActionsEnabled:     pulumi.Bool(true),
		AlarmActions:       actions,
	}, pulumi.Parent(h))
	return err
}
