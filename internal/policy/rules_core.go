package policy

import (
	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// Type tokens of the core: network, host, data volume.
const (
	tVpc            = "aws:ec2/vpc:Vpc"
	tSubnet         = "aws:ec2/subnet:Subnet"
	tDefaultSG      = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
	tFlowLog        = "aws:ec2/flowLog:FlowLog"
	tInstance       = "aws:ec2/instance:Instance"
	tLaunchTemplate = "aws:ec2/launchTemplate:LaunchTemplate"
	tVolume         = "aws:ebs/volume:Volume"
	tDLM            = "aws:dlm/lifecyclePolicy:LifecyclePolicy"
)

var coreRules = []Rule{
	{
		ID: "SLW-EC2-001", Severity: Error, Reference: "EC2.8",
		Title:  "Instances require IMDSv2",
		Fix:    `set metadataOptions.httpTokens "required"`,
		Types:  []string{tInstance, tLaunchTemplate},
		Inputs: []string{tInstance + ", " + tLaunchTemplate + `: metadataOptions.httpTokens = "required"`},
		check: func(e *eval) {
			for _, r := range e.of(tInstance, tLaunchTemplate) {
				if v := r.Str("metadataOptions.httpTokens"); v != "required" {
					e.fail(r, "metadataOptions.httpTokens %q (IMDSv1 allowed)", v)
				}
			}
		},
	},
	{
		ID: "SLW-EC2-002", Severity: Error, Reference: "EC2.3",
		Title:  "Every EBS volume is encrypted",
		Fix:    "set encrypted true on the volume, the root block device and every EBS block device",
		Types:  []string{tVolume, tInstance},
		Inputs: []string{tVolume + ": encrypted true", tInstance + ": rootBlockDevice.encrypted true, ebsBlockDevices[*].encrypted true"},
		check: func(e *eval) {
			for _, r := range e.of(tVolume, tInstance) {
				if r.Type == tVolume {
					if r.In("encrypted") != true {
						e.fail(r, "volume not encrypted")
					}
					continue
				}
				if r.In("rootBlockDevice.encrypted") != true {
					e.fail(r, "root volume not encrypted")
				}
				for i, d := range list(r.In("ebsBlockDevices")) {
					if m, _ := d.(map[string]any); m["encrypted"] != true {
						e.fail(r, "ebsBlockDevices[%d] not encrypted", i)
					}
				}
			}
		},
	},
	{
		ID: "SLW-EC2-003", Severity: Error, Reference: "EC2.13",
		Title: "No SSH: no inbound rule covers port 22 and no instance has a key pair",
		Fix:   "remove the port-22 rule and keyName; shell access is `aws ssm start-session`",
		Types: append([]string{tInstance}, ingressTypes...),
		Inputs: []string{"ingress rules (aws:ec2/securityGroup:SecurityGroup ingress[*], aws:ec2/securityGroupRule:SecurityGroupRule type ingress, " +
			"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule): fromPort..toPort must not cover 22, protocol not -1",
			tInstance + ": keyName empty"},
		check: func(e *eval) {
			e.of(ingressTypes...)
			for _, in := range ingressRules(e.peek(ingressTypes...)) {
				if in.covers(22) {
					e.fail(in.res, "inbound %s %v-%v covers SSH (22)", in.protocol, in.from, in.to)
				}
			}
			for _, r := range e.of(tInstance) {
				if r.Str("keyName") != "" {
					e.fail(r, "instance has SSH key pair %s", r.Str("keyName"))
				}
			}
		},
	},
	{
		ID: "SLW-EC2-004", Severity: Error, Reference: "EC2.18",
		Title:  "No port is open to the whole internet (0.0.0.0/0 or ::/0)",
		Fix:    "admit traffic from a prefix list (CloudFront origin-facing) or a security group, not from everyone",
		Types:  ingressTypes,
		Inputs: []string{"ingress rules: cidrBlocks/ipv6CidrBlocks (inline, securityGroupRule) or cidrIpv4/cidrIpv6 (vpc rule) not 0.0.0.0/0 or ::/0"},
		check: func(e *eval) {
			e.of(ingressTypes...)
			for _, in := range ingressRules(e.peek(ingressTypes...)) {
				if in.worldOpen() {
					e.fail(in.res, "inbound %s %v-%v open to %v", in.protocol, in.from, in.to, in.sources)
				}
			}
		},
	},
	{
		ID: "SLW-EC2-005", Severity: Error, Reference: "EC2.2",
		Title:  "Each VPC's default security group is adopted and has no rules",
		Fix:    "add an ec2.DefaultSecurityGroup for the VPC with no ingress and no egress",
		Types:  []string{tVpc},
		Inputs: []string{tDefaultSG + ": vpcId = the VPC id, ingress and egress empty"},
		check: func(e *eval) {
			for _, v := range e.of(tVpc) {
				sg, ok := findBy(e.peek(tDefaultSG), "vpcId", v)
				if !ok {
					e.fail(v, "default security group keeps AWS's default rules (not adopted)")
					continue
				}
				if len(list(sg.In("ingress"))) > 0 || len(list(sg.In("egress"))) > 0 {
					e.fail(v, "default security group has rules")
				}
			}
		},
	},
	{
		ID: "SLW-EC2-006", Severity: Error, Reference: "EC2.6",
		Title: "Prod VPCs log their flows",
		Fix:   "add an ec2.FlowLog for the VPC with trafficType ALL",
		Types: []string{tVpc}, Profiles: []stacks.Profile{stacks.Prod},
		Inputs: []string{tFlowLog + ": vpcId = the VPC id, trafficType ALL or REJECT"},
		check: func(e *eval) {
			for _, v := range e.of(tVpc) {
				fl, ok := findBy(e.peek(tFlowLog), "vpcId", v)
				if !ok {
					e.fail(v, "no flow log")
				} else if t := fl.Str("trafficType"); t != "ALL" && t != "REJECT" {
					e.fail(v, "flow log trafficType %q", t)
				}
			}
		},
	},
	{
		ID: "SLW-EC2-007", Severity: Error, Reference: "CKV_AWS_126",
		Title: "Prod instances have detailed (1-minute) monitoring",
		Fix:   "set monitoring true (the host profile does this for prod)",
		Types: []string{tInstance}, Profiles: []stacks.Profile{stacks.Prod},
		Inputs: []string{tInstance + ": monitoring true"},
		check: func(e *eval) {
			for _, r := range e.of(tInstance) {
				if r.In("monitoring") != true {
					e.fail(r, "detailed monitoring off")
				}
			}
		},
	},
	{
		ID: "SLW-EC2-008", Severity: Error, Reference: "EC2.15",
		Title:  "Subnets do not hand out public addresses by default",
		Fix:    "set mapPublicIpOnLaunch false; the host has its own Elastic IP",
		Types:  []string{tSubnet},
		Inputs: []string{tSubnet + ": mapPublicIpOnLaunch not true"},
		check: func(e *eval) {
			for _, s := range e.of(tSubnet) {
				if s.In("mapPublicIpOnLaunch") == true {
					e.fail(s, "mapPublicIpOnLaunch true")
				}
			}
		},
	},
	{
		ID: "SLW-DATA-001", Severity: Error, Reference: "Slipway design (prod data survives any update or destroy)",
		Title: "Prod data volumes are protected, retained on delete and leave a final snapshot",
		Fix:   "register the volume with pulumi.Protect(true), pulumi.RetainOnDelete(true) and finalSnapshot true",
		Types: []string{tVolume}, Profiles: []stacks.Profile{stacks.Prod},
		Inputs: []string{tVolume + ": resource options protect and retainOnDelete, input finalSnapshot true"},
		check: func(e *eval) {
			for _, v := range e.of(tVolume) {
				if !v.Protect || !v.RetainOnDelete || v.In("finalSnapshot") != true {
					e.fail(v, "protect=%v retainOnDelete=%v finalSnapshot=%v", v.Protect, v.RetainOnDelete, v.In("finalSnapshot"))
				}
			}
		},
	},
	{
		ID: "SLW-DATA-002", Severity: Error, Reference: "EC2.28",
		Title: "Prod data volumes are snapshotted at least daily and kept at least 7 snapshots",
		Fix:   "add a dlm.LifecyclePolicy (ENABLED, VOLUME) whose targetTags match the volume's tags, every ≤ 24 h, retain count ≥ 7",
		Types: []string{tVolume}, Profiles: []stacks.Profile{stacks.Prod},
		Inputs: []string{tDLM + ": state ENABLED, policyDetails.resourceTypes contains VOLUME, policyDetails.targetTags ⊆ the volume's tags, " +
			"policyDetails.schedules[*].createRule.interval ≤ 24 (intervalUnit HOURS), retainRule.count ≥ 7"},
		check: func(e *eval) {
			for _, v := range e.of(tVolume) {
				if !backedUp(v, e.peek(tDLM)) {
					e.fail(v, "no enabled daily snapshot schedule keeping ≥ 7 snapshots targets this volume's tags")
				}
			}
		},
	},
}

// backedUp reports whether a DLM policy targets the volume by tag with a
// daily (or more frequent) schedule keeping at least 7 snapshots.
func backedUp(v mockcloud.Resource, policies []mockcloud.Resource) bool {
	tags, _ := v.In("tags").(map[string]any)
	for _, p := range policies {
		if p.Str("state") == "DISABLED" || !contains(strList(p.In("policyDetails.resourceTypes")), "VOLUME") {
			continue
		}
		target, _ := p.In("policyDetails.targetTags").(map[string]any)
		if len(target) == 0 {
			continue
		}
		match := true
		for k, want := range target {
			if tags[k] != want {
				match = false
			}
		}
		if !match {
			continue
		}
		for _, s := range list(p.In("policyDetails.schedules")) {
			m, _ := s.(map[string]any)
			create, _ := m["createRule"].(map[string]any)
			retain, _ := m["retainRule"].(map[string]any)
			interval, _ := num(create["interval"])
			count, _ := num(retain["count"])
			daily := (interval > 0 && interval <= 24 && str(create["intervalUnit"]) != "") || str(create["cronExpression"]) != ""
			if daily && count >= 7 {
				return true
			}
		}
	}
	return false
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
