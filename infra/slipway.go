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
	Site     *Site
	// Domain is nil without a custom domain.
	Domain *Domain
	region string
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
	site, domain, err := newEdge(ctx, cfg, p, host)
	if err != nil {
		return nil, err
	}
	return &Stack{Network: network, Data: data, Host: host, Registry: registry, Release: release,
		Site: site, Domain: domain, region: cfg.Region}, nil
}

// newEdge builds the SPA's site and, with a custom domain, its DNS: the
// certificate before the distribution, the alias records after it.
func newEdge(ctx *pulumi.Context, cfg stacks.Config, p *providers, host *Host) (*Site, *Domain, error) {
	regional := pulumi.Provider(p.Regional)
	var (
		domain      *Domain
		certificate pulumi.StringInput
		err         error
	)
	if cfg.DNS.Enabled() {
		domain, err = NewDomain(ctx, "domain", DomainArgs{Config: cfg.DNS, Profile: cfg.Profile, Global: p.Global}, regional)
		if err != nil {
			return nil, nil, err
		}
		certificate = domain.CertificateArn
	}
	site, err := NewSite(ctx, "site", SiteArgs{
		Config:           cfg.Site,
		Profile:          cfg.Profile,
		Stack:            cfg.Stack,
		BuildDir:         cfg.Path(cfg.Site.BuildDir),
		OriginDomain:     host.PublicDNS,
		OriginSecret:     cfg.Origin.Secret.Output(),
		Domain:           cfg.DNS.Domain,
		Certificate:      certificate,
		AccessLogs:       cfg.Profile == stacks.Prod,
		LogRetentionDays: cfg.Logs.RetentionDays,
		Global:           p.Global,
	}, regional)
	if err != nil {
		return nil, nil, err
	}
	if domain != nil {
		if err := domain.PointAt(ctx, AliasTarget{DomainName: site.DomainName, HostedZoneID: site.HostedZoneID}); err != nil {
			return nil, nil, err
		}
	}
	return site, domain, nil
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
		"siteUrl":           s.Site.URL,
		"cloudfrontDomain":  s.Site.DomainName,
		"distributionId":    s.Site.DistributionID,
		"bucketName":        s.Site.BucketName,
		"nameServers":       s.nameServers(),
	}
}

// nameServers are the created zone's name servers, to delegate the domain
// to at the registrar; always present, empty when there is nothing to
// delegate (no domain, or a zone that was looked up).
func (s *Stack) nameServers() pulumi.StringArrayOutput {
	if s.Domain == nil {
		return pulumi.StringArray{}.ToStringArrayOutput()
	}
	return s.Domain.NameServers
}
