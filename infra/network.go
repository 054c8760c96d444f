package infra

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// cloudFrontOriginPrefixList is AWS's managed list of the addresses
// CloudFront uses to reach origins; the host accepts HTTP only from it.
const cloudFrontOriginPrefixList = "com.amazonaws.global.cloudfront.origin-facing"

// subnetCount is two public subnets in two availability zones: the host
// lives in the first; the second keeps the layout ready for a second host.
const subnetCount = 2

// zoneIDOfferings asks for instance type offerings by zone id: zone names
// (us-east-1a) map to different physical zones in every account, zone ids
// (use1-az1) do not, and the offerings follow the physical zone.
const zoneIDOfferings = "availability-zone-id"

// NetworkArgs shapes the stack's VPC.
type NetworkArgs struct {
	CIDR string
	// FlowLogs records every flow to CloudWatch Logs (prod).
	FlowLogs         bool
	LogRetentionDays int
	Account          account
	// PermissionsBoundary is the stack's role boundary (flow-log role).
	PermissionsBoundary pulumi.StringInput
	// InstanceType is the host's: its subnet must be in a zone that
	// offers it. Region names the region in the error when none does.
	InstanceType, Region string
}

// Network is a VPC of the stack's own with public subnets only: no NAT
// gateway and no load balancer, the two biggest fixed costs of the Elastic
// Beanstalk design the notes set aside.
type Network struct {
	pulumi.ResourceState

	VpcID pulumi.IDOutput
	// SubnetIDs and SubnetZones are index-aligned.
	SubnetIDs   []pulumi.IDOutput
	SubnetZones []pulumi.StringOutput
	// HostSecurityGroupID admits HTTP from CloudFront's origin-facing
	// addresses only.
	HostSecurityGroupID pulumi.IDOutput
}

// NewNetwork builds the VPC, its subnets and routes and the host's firewall.
func NewNetwork(ctx *pulumi.Context, name string, args NetworkArgs, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := ctx.RegisterComponentResource("slipway:network:Network", name, n, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(n)
	invoke := pulumi.Parent(n)

	// DNS hostnames give the host the public DNS name CloudFront needs
	// as an origin (an origin cannot be an IP address).
	v, err := ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock:          pulumi.String(args.CIDR),
		EnableDnsSupport:   pulumi.Bool(true),
		EnableDnsHostnames: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, err
	}
	n.VpcID = v.ID()

	// Adopt the default security group and strip its rules, so nothing
	// attached to it by accident can talk to anything.
	if _, err := ec2.NewDefaultSecurityGroup(ctx, name+"-default", &ec2.DefaultSecurityGroupArgs{
		VpcId: v.ID(),
	}, parent); err != nil {
		return nil, err
	}

	igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{VpcId: v.ID()}, parent)
	if err != nil {
		return nil, err
	}
	routes, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId: v.ID(),
		Routes: ec2.RouteTableRouteArray{ec2.RouteTableRouteArgs{
			CidrBlock: pulumi.String("0.0.0.0/0"),
			GatewayId: igw.ID(),
		}},
	}, parent)
	if err != nil {
		return nil, err
	}

	zones := subnetZones(ctx, args, invoke)
	for i := 0; i < subnetCount; i++ {
		cidr, err := subnetCIDR(args.CIDR, 2, i)
		if err != nil {
			return nil, err
		}
		zone := zones.Chosen.Index(pulumi.Int(i))
		subnet, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-public-%d", name, i), &ec2.SubnetArgs{
			VpcId:            v.ID(),
			CidrBlock:        pulumi.String(cidr),
			AvailabilityZone: zone,
			// The host gets an Elastic IP; nothing else should get a
			// public address just by being launched here.
			MapPublicIpOnLaunch: pulumi.Bool(false),
			// The zone is chosen once: if AWS's list of available zones
			// or the zones offering the instance type change later, the
			// subnet (and with it the host and the data volume, which
			// take its actual zone) must not move.
		}, parent, pulumi.IgnoreChanges([]string{"availabilityZone"}))
		if err != nil {
			return nil, err
		}
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-public-%d", name, i), &ec2.RouteTableAssociationArgs{
			SubnetId:     subnet.ID(),
			RouteTableId: routes.ID(),
		}, parent); err != nil {
			return nil, err
		}
		id := subnet.ID()
		if i == 0 {
			id = hostSubnetOffers(id, subnet.AvailabilityZone, zones.Offering, args)
		}
		n.SubnetIDs = append(n.SubnetIDs, id)
		n.SubnetZones = append(n.SubnetZones, subnet.AvailabilityZone)
	}

	if n.HostSecurityGroupID, err = hostFirewall(ctx, name, v.ID(), parent, invoke); err != nil {
		return nil, err
	}
	if args.FlowLogs {
		if err := flowLogs(ctx, name, v.ID(), args, parent, invoke); err != nil {
			return nil, err
		}
	}
	return n, ctx.RegisterResourceOutputs(n, pulumi.Map{
		"vpcId":               v.ID(),
		"hostSecurityGroupId": n.HostSecurityGroupID,
	})
}

// zoneChoice is where the subnets go: Chosen are the zone names for the
// subnets, host subnet first; Offering are the names of the zones that
// offer the host's instance type today, in any state.
type zoneChoice struct {
	Chosen, Offering pulumi.StringArrayOutput
}

// subnetZones chooses the subnets' zones: the zones that offer the host's
// instance type, in AWS's order, then the other available zones (the
// second subnet holds no host yet, and a region where one zone offers the
// type still gets two subnets). A region where no zone offers the type
// fails the preview with an error naming the type and the region, instead
// of RunInstances failing with "Unsupported" halfway through the first
// `up`.
func subnetZones(ctx *pulumi.Context, args NetworkArgs, invoke pulumi.InvokeOption) zoneChoice {
	// Availability Zones only: Local Zones and Wavelength Zones (opt-in)
	// lack most instance types and services.
	zones := aws.GetAvailabilityZonesOutput(ctx, aws.GetAvailabilityZonesOutputArgs{
		State: pulumi.String("available"),
		Filters: aws.GetAvailabilityZonesFilterArray{aws.GetAvailabilityZonesFilterArgs{
			Name:   pulumi.String("opt-in-status"),
			Values: pulumi.ToStringArray([]string{"opt-in-not-required"}),
		}},
	}, invoke)
	offerings := ec2.GetInstanceTypeOfferingsOutput(ctx, ec2.GetInstanceTypeOfferingsOutputArgs{
		LocationType: pulumi.String(zoneIDOfferings),
		Filters: ec2.GetInstanceTypeOfferingsFilterArray{ec2.GetInstanceTypeOfferingsFilterArgs{
			Name:   pulumi.String("instance-type"),
			Values: pulumi.ToStringArray([]string{args.InstanceType}),
		}},
	}, invoke)
	// The host subnet's zone is checked by name, whatever its state: a
	// zone that is impaired today is still where the host and its data
	// are.
	byName := ec2.GetInstanceTypeOfferingsOutput(ctx, ec2.GetInstanceTypeOfferingsOutputArgs{
		LocationType: pulumi.String("availability-zone"),
		Filters: ec2.GetInstanceTypeOfferingsFilterArray{ec2.GetInstanceTypeOfferingsFilterArgs{
			Name:   pulumi.String("instance-type"),
			Values: pulumi.ToStringArray([]string{args.InstanceType}),
		}},
	}, invoke)
	return zoneChoice{
		Chosen: pulumi.All(zones.Names(), zones.ZoneIds(), offerings.Locations()).ApplyT(func(v []any) ([]string, error) {
			return chooseZones(v[0].([]string), v[1].([]string), v[2].([]string), args.InstanceType, args.Region)
		}).(pulumi.StringArrayOutput),
		Offering: byName.Locations(),
	}
}

// chooseZones orders zone names (index-aligned with their ids) for the
// subnets: the ones whose id offers the instance type first.
func chooseZones(names, ids, offered []string, instanceType, region string) ([]string, error) {
	if len(names) != len(ids) {
		return nil, fmt.Errorf("availability zones in %s: %d names but %d zone ids", region, len(names), len(ids))
	}
	offering, rest := splitZones(names, ids, offered)
	if len(offering) == 0 {
		return nil, fmt.Errorf("no availability zone in %s offers instance type %s (zones %s): "+
			"choose another slipway:instanceType (with slipway:architecture) or aws:region",
			region, instanceType, strings.Join(ids, ", "))
	}
	chosen := append(offering, rest...)
	if len(chosen) < subnetCount {
		return nil, fmt.Errorf("%s has %d available zones: the network needs %d", region, len(chosen), subnetCount)
	}
	return chosen, nil
}

// splitZones splits zone names into those whose id is offered and the rest.
func splitZones(names, ids, offered []string) (offering, rest []string) {
	offers := map[string]bool{}
	for _, id := range offered {
		offers[id] = true
	}
	for i, name := range names {
		if i < len(ids) && offers[ids[i]] {
			offering = append(offering, name)
		} else {
			rest = append(rest, name)
		}
	}
	return offering, rest
}

// hostSubnetOffers passes on the host subnet's id only once its actual
// zone is known to offer the instance type. The subnet keeps its zone
// forever, so a later change of slipway:instanceType to a type its zone
// does not offer would otherwise fail in RunInstances, after the old host
// was already being replaced; this fails the preview instead.
func hostSubnetOffers(id pulumi.IDOutput, zone pulumi.StringOutput, offering pulumi.StringArrayOutput, args NetworkArgs) pulumi.IDOutput {
	return pulumi.All(id, zone, offering).ApplyT(func(v []any) (pulumi.ID, error) {
		zone, offering := v[1].(string), v[2].([]string)
		if !slices.Contains(offering, zone) {
			return "", fmt.Errorf("the host's subnet is in %s, which does not offer instance type %s (zones in %s offering it: %s): "+
				"choose a slipway:instanceType offered in %s; the subnet and the data volume never move",
				zone, args.InstanceType, args.Region, strings.Join(offering, ", "), zone)
		}
		return v[0].(pulumi.ID), nil
	}).(pulumi.IDOutput)
}

// hostFirewall admits HTTP from CloudFront only and lets the host reach
// out on HTTP and HTTPS (package mirrors, ECR, SSM, CloudWatch). There is
// no SSH rule: shell access is `aws ssm start-session`.
func hostFirewall(ctx *pulumi.Context, name string, vpcID pulumi.IDOutput, parent, invoke pulumi.ResourceOrInvokeOption) (pulumi.IDOutput, error) {
	sg, err := ec2.NewSecurityGroup(ctx, name+"-host", &ec2.SecurityGroupArgs{
		VpcId:       vpcID,
		Description: pulumi.String("Slipway app host: HTTP from CloudFront only"),
	}, parent)
	if err != nil {
		return pulumi.IDOutput{}, err
	}
	if err := httpFromCloudFrontOnly(ctx, name, sg, parent, invoke); err != nil {
		return pulumi.IDOutput{}, err
	}
	for _, port := range []struct {
		number int
		why    string
	}{
		{443, "HTTPS out: ECR, SSM, CloudWatch, SQS and package mirrors"},
		{80, "HTTP out: Ubuntu package mirrors (apt verifies signatures)"},
	} {
		if _, err := vpc.NewSecurityGroupEgressRule(ctx, fmt.Sprintf("%s-egress-%d", name, port.number), &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId: sg.ID(),
			Description:     pulumi.String(port.why),
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(port.number),
			ToPort:          pulumi.Int(port.number),
			CidrIpv4:        pulumi.String("0.0.0.0/0"),
		}, parent); err != nil {
			return pulumi.IDOutput{}, err
		}
	}
	return sg.ID(), nil
}

// httpFromCloudFrontOnly is the one way in of whatever serves CloudFront's
// origin (the host, or the load balancer on ECS): HTTP on port 80 from
// CloudFront's origin-facing prefix list, nothing else. The rule is named
// <name>-http-from-cloudfront.
func httpFromCloudFrontOnly(ctx *pulumi.Context, name string, sg *ec2.SecurityGroup, parent, invoke pulumi.ResourceOrInvokeOption) error {
	cloudFront := ec2.LookupManagedPrefixListOutput(ctx, ec2.LookupManagedPrefixListOutputArgs{
		Name: pulumi.String(cloudFrontOriginPrefixList),
	}, invoke)
	_, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-http-from-cloudfront", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId: sg.ID(),
		Description:     pulumi.String("HTTP from CloudFront origin-facing servers"),
		IpProtocol:      pulumi.String("tcp"),
		FromPort:        pulumi.Int(80),
		ToPort:          pulumi.Int(80),
		PrefixListId:    cloudFront.Id(),
	}, parent)
	return err
}

// flowLogs sends every accepted and rejected flow to CloudWatch Logs.
func flowLogs(ctx *pulumi.Context, name string, vpcID pulumi.IDOutput, args NetworkArgs, parent, invoke pulumi.ResourceOrInvokeOption) error {
	group, err := cloudwatch.NewLogGroup(ctx, name+"-flow-logs", &cloudwatch.LogGroupArgs{
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
	}, parent)
	if err != nil {
		return err
	}
	role, err := iam.NewRole(ctx, name+"-flow-logs", &iam.RoleArgs{
		Path:             pulumi.String(iamPath),
		AssumeRolePolicy: assumeRolePolicy(ctx, invoke, "vpc-flow-logs.amazonaws.com", args.Account.ID),
		// The deploy identity may change this role only within it.
		PermissionsBoundary: args.PermissionsBoundary,
	}, parent)
	if err != nil {
		return err
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-flow-logs", &iam.RolePolicyArgs{
		Role: role.ID(),
		Policy: policyDocument(ctx, invoke, Grant{
			Sid:       "WriteFlowLogs",
			Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
			Resources: pulumi.StringArray{pulumi.Sprintf("%s:*", group.Arn)},
		}),
	}, parent); err != nil {
		return err
	}
	_, err = ec2.NewFlowLog(ctx, name, &ec2.FlowLogArgs{
		VpcId:                  vpcID,
		TrafficType:            pulumi.String("ALL"),
		LogDestinationType:     pulumi.String("cloud-watch-logs"),
		LogDestination:         group.Arn,
		IamRoleArn:             role.Arn,
		MaxAggregationInterval: pulumi.Int(600),
	}, parent)
	return err
}

// subnetCIDR carves the index-th block of 2^newBits equal blocks out of a
// VPC CIDR (the cidrsubnet function of Terraform).
func subnetCIDR(vpcCIDR string, newBits, index int) (string, error) {
	_, block, err := net.ParseCIDR(vpcCIDR)
	if err != nil {
		return "", fmt.Errorf("vpc cidr %q: %w", vpcCIDR, err)
	}
	ones, bits := block.Mask.Size()
	if ones+newBits > 28 || index >= 1<<newBits {
		return "", fmt.Errorf("vpc cidr %q cannot hold subnet %d of %d", vpcCIDR, index, 1<<newBits)
	}
	ip := block.IP.To4()
	base := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	base += uint32(index) << uint(bits-ones-newBits)
	return fmt.Sprintf("%d.%d.%d.%d/%d", byte(base>>24), byte(base>>16), byte(base>>8), byte(base), ones+newBits), nil
}
