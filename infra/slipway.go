// Package infra is Slipway's infrastructure: one ComponentResource per
// concern, each in its own file, wired together by New. Config flows one
// way: stacks.Config -> New -> components -> Outputs.
package infra

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/app"
	"slipway/stacks"
)

// Stack is the built infrastructure of one stack.
type Stack struct {
	Network  *Network
	Data     *DataVolume
	Host     *Host
	Registry *Registry
	Release  *Release
	region   string
}

// New builds the whole stack from its config.
func New(ctx *pulumi.Context, cfg stacks.Config) (*Stack, error) {
	p, err := newProviders(ctx, cfg)
	if err != nil {
		return nil, err
	}
	regional := pulumi.Provider(p.Regional)
	acct := lookupAccount(ctx, p.Regional, cfg.Region)

	network, err := NewNetwork(ctx, "network", NetworkArgs{
		CIDR:             cfg.Network.VPCCIDR,
		FlowLogs:         cfg.Profile == stacks.Prod,
		LogRetentionDays: cfg.Logs.RetentionDays,
		Account:          acct,
	}, regional)
	if err != nil {
		return nil, err
	}

	// The volume lives in the host's subnet's zone: EBS cannot cross zones.
	data, err := NewDataVolume(ctx, "data", DataVolumeArgs{
		SizeGiB:               cfg.Data.VolumeGiB,
		AvailabilityZone:      network.SubnetZones[0],
		Profile:               cfg.Profile,
		SnapshotRetentionDays: cfg.Data.SnapshotRetentionDays,
		BackupTag:             cfg.Project + "-" + cfg.Stack,
	}, regional)
	if err != nil {
		return nil, err
	}

	// Images first: the host pulls from these repositories only.
	contexts := map[string]string{}
	for _, image := range Images {
		contexts[image] = cfg.Path("app/" + image)
	}
	registry, err := NewRegistry(ctx, "registry", RegistryArgs{
		Contexts:     contexts,
		Architecture: cfg.Host.Architecture,
		KeepTagged:   cfg.Images.KeepTagged,
		ForceDelete:  cfg.Profile.Ephemeral(),
	}, regional)
	if err != nil {
		return nil, err
	}
	releaseBoot, err := ReleaseBootstrap()
	if err != nil {
		return nil, err
	}

	host, err := NewHost(ctx, "host", HostArgs{
		Config:          cfg.Host,
		Profile:         cfg.Profile,
		Stack:           cfg.Stack,
		SubnetID:        network.SubnetIDs[0],
		SecurityGroupID: network.HostSecurityGroupID,
		Data:            data,
		Account:         acct,
		ParameterPath:   parameterPath(cfg),
		Grants:          registry.PullGrants,
		Bootstrap:       releaseBoot,
	}, regional)
	if err != nil {
		return nil, err
	}

	// The release rolls the host onto the images; an app change changes
	// only this, never the host.
	release, err := NewRelease(ctx, "release", ReleaseArgs{
		Stack:                cfg.Stack,
		Region:               cfg.Region,
		ParameterPath:        parameterPath(cfg),
		Compose:              app.ComposeFile,
		Images:               registry.Digests,
		Database:             cfg.Database,
		Origin:               cfg.Origin,
		Datadog:              cfg.Datadog,
		WorkerTimeoutSeconds: cfg.Queue.WorkerTimeoutSeconds,
		InstanceID:           host.InstanceID,
	}, regional)
	if err != nil {
		return nil, err
	}
	return &Stack{Network: network, Data: data, Host: host, Registry: registry, Release: release, region: cfg.Region}, nil
}

// parameterPath is the SSM path under which the stack's release and
// secrets live; the host may read only below it.
func parameterPath(cfg stacks.Config) string {
	return "/" + cfg.Project + "/" + cfg.Stack + "/"
}

// Outputs are the stack outputs, by name.
func (s *Stack) Outputs() pulumi.Map {
	return pulumi.Map{
		"vpcId":             s.Network.VpcID,
		"instanceId":        s.Host.InstanceID,
		"publicIp":          s.Host.PublicIP,
		"ssmSessionCommand": pulumi.Sprintf("aws ssm start-session --target %s --region %s", s.Host.InstanceID, s.region),
		"hostAmi":           s.Host.AMI,
		"latestAmi":         s.Host.LatestAMI,
		"dataVolumeId":      s.Data.VolumeID,
		"releaseId":         s.Release.ID,
		"imageDigests":      s.Release.Images,
	}
}
