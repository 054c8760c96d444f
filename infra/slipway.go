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
	Registry *Registry
	Logs     *Logs
	Queue    *Queue
	Alerts   *Alerts
	Host     *Host
	Release  *Release
	// ReleaseStore holds the release bundles (created before the host,
	// whose role may read them).
	ReleaseStore *ReleaseStore
	Site         *Site
	Monitoring   *Monitoring
	// Domain is nil without a custom domain.
	Domain *Domain
	// Backups is nil without slipway:backups (always in review stacks).
	Backups *Backups
	// The "past one host" profile (cluster.go, rds.go): nil unless
	// slipway:database is rds (Database) or slipway:compute is ecs (the
	// rest). In ecs mode Host, Data and Release are nil.
	Database     *Database
	LoadBalancer *LoadBalancer
	Cluster      *Cluster
	Autoscaling  *Autoscaling
	// Firewall is the api load balancer's web ACL (waf.go), ecs mode
	// only: nginx's maintenance mode and write limits.
	Firewall *ApiFirewall

	// boundaryARN is the permissions boundary every role carries: the
	// class's, created by the foundation (boundary.go).
	boundaryARN pulumi.StringOutput

	cfg      stacks.Config
	p        *providers
	regional pulumi.ResourceOrInvokeOption
	acct     account
}

// New builds the whole stack from its config, in dependency order: what
// the host needs (its network, data, images, logs, queue, alarm topic),
// the host, what runs on it (the release), what fronts it (the edge) and
// what watches it (monitoring). Who deploys it is not the stack's: the CI
// identities, their boundary and the host documents are the foundation's
// (infra/foundation), so an app stack creates no identity, no boundary
// and no document; it finds its class's boundary by name.
func New(ctx *pulumi.Context, cfg stacks.Config) (*Stack, error) {
	p, err := newProviders(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Stack{cfg: cfg, p: p, regional: pulumi.Provider(p.Regional), acct: lookupAccount(ctx, p.Regional, cfg.Region)}
	s.boundaryARN = roleBoundaryARN(ctx, cfg, s.acct, s.regional)
	for _, step := range []func(*pulumi.Context) error{
		s.buildNetworkAndData,
		s.buildHostServices,
		s.buildBackups,
		s.buildPlatform,
		s.buildHost,
		s.buildRelease,
		s.buildEdge,
		s.buildMonitoring,
	} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Stack) buildNetworkAndData(ctx *pulumi.Context) (err error) {
	s.Network, err = NewNetwork(ctx, "network", NetworkArgs{
		CIDR:                s.cfg.Network.VPCCIDR,
		FlowLogs:            s.cfg.Profile == stacks.Prod,
		LogRetentionDays:    s.cfg.Logs.RetentionDays,
		Account:             s.acct,
		PermissionsBoundary: s.boundaryARN,
		InstanceType:        s.cfg.Host.InstanceType,
		Region:              s.cfg.Region,
	}, s.regional)
	if err != nil || s.cfg.Platform.OnECS() {
		return err // ecs: no host, so no data volume
	}
	// The volume lives in the host's subnet's zone (its actual zone, an
	// output, not the zone the network would choose today): EBS cannot
	// cross zones.
	s.Data, err = NewDataVolume(ctx, "data", DataVolumeArgs{
		SizeGiB:               s.cfg.Data.VolumeGiB,
		AvailabilityZone:      s.Network.SubnetZones[0],
		Profile:               s.cfg.Profile,
		SnapshotRetentionDays: s.cfg.Data.SnapshotRetentionDays,
		BackupTag:             s.cfg.Project + "-" + s.cfg.Stack,
		Account:               s.acct,
		PermissionsBoundary:   s.boundaryARN,
		SnapshotID:            s.cfg.Data.SnapshotID,
	}, s.regional)
	return err
}

// buildHostServices creates what the host is granted access to: the image
// repositories, its log groups and queue, and the topic its alarms notify.
func (s *Stack) buildHostServices(ctx *pulumi.Context) (err error) {
	contexts := map[string]string{}
	for _, image := range Images {
		contexts[image] = s.cfg.Path("app/" + image)
	}
	if s.Registry, err = NewRegistry(ctx, "registry", RegistryArgs{
		Contexts:     contexts,
		Architecture: s.cfg.Host.Architecture,
		KeepTagged:   s.cfg.Images.KeepTagged,
		ForceDelete:  s.cfg.Profile.Ephemeral(),
	}, s.regional); err != nil {
		return err
	}
	if s.ReleaseStore, err = NewReleaseStore(ctx, "releases", ReleaseStoreArgs{
		ParameterPath: parameterPath(s.cfg),
		Account:       s.acct,
		ForceDestroy:  s.cfg.Profile.Ephemeral(),
	}, s.regional); err != nil {
		return err
	}
	if s.Logs, err = NewLogs(ctx, "logs", LogsArgs{RetentionDays: s.cfg.Logs.RetentionDays}, s.regional); err != nil {
		return err
	}
	if s.Queue, err = NewQueue(ctx, "queue", QueueArgs{Config: s.cfg.Queue, Account: s.acct}, s.regional); err != nil {
		return err
	}
	s.Alerts, err = NewAlerts(ctx, "alerts", AlertsArgs{
		Email:           s.cfg.Alerts.Email,
		Account:         s.acct,
		AlarmNamePrefix: s.cfg.Project + "-" + s.cfg.Stack + "-",
		Global:          s.p.Global,
	}, s.regional)
	return err
}

// buildBackups archives the database and backs up its volume, when the
// stack has backups (prod always, dev by config, review never). They
// follow the data volume: in ecs mode there is none, RDS keeps the
// point-in-time backups (rds.go), and an archive retained earlier stays.
func (s *Stack) buildBackups(ctx *pulumi.Context) (err error) {
	if !s.cfg.Backup.Enabled || s.Data == nil {
		return nil
	}
	s.Backups, err = NewBackups(ctx, "backup", BackupsArgs{
		Config:              s.cfg.Backup,
		Profile:             s.cfg.Profile,
		Stack:               s.cfg.Stack,
		Volume:              s.Data,
		Account:             s.acct,
		PermissionsBoundary: s.boundaryARN,
		AlarmActions:        []pulumi.StringInput{s.Alerts.TopicARN},
		DatabaseOnRDS:       s.cfg.Platform.OnRDS(),
	}, s.regional)
	return err
}

func (s *Stack) buildHost(ctx *pulumi.Context) error {
	if s.cfg.Platform.OnECS() {
		return nil
	}
	release, err := ReleaseBootstrap()
	if err != nil {
		return err
	}
	metrics, err := hostMetricsBootstrap()
	if err != nil {
		return err
	}
	grants := append([]Grant{s.Logs.Grant, s.Queue.Grant, hostMetricsGrant()}, s.Registry.PullGrants...)
	grants = append(grants, s.ReleaseStore.HostGrants...)
	if s.Backups != nil {
		grants = append(grants, s.Backups.Grant, s.Backups.LatestGrant)
	}
	if s.Database != nil {
		// host + rds: the release's db-setup reads the master secret (this
		// one secret, nothing broader) to create the application's role.
		grants = append(grants, s.Database.MasterSecretGrant)
	}
	s.Host, err = NewHost(ctx, "host", HostArgs{
		Config:          s.cfg.Host,
		Profile:         s.cfg.Profile,
		Project:         s.cfg.Project,
		Stack:           s.cfg.Stack,
		SubnetID:        s.Network.SubnetIDs[0],
		SecurityGroupID: s.Network.HostSecurityGroupID,
		Data:            s.Data,
		Account:         s.acct,
		ParameterPath:   parameterPath(s.cfg),
		Grants:          grants,
		Bootstrap:       release.With(metrics),
		AlarmActions:    []pulumi.StringInput{s.Alerts.TopicARN},

		PermissionsBoundary: s.boundaryARN,
	}, s.regional)
	return err
}

// buildRelease rolls the host onto the images; an app change changes only
// the release, never the host.
func (s *Stack) buildRelease(ctx *pulumi.Context) (err error) {
	if s.cfg.Platform.OnECS() {
		return nil
	}
	logGroups := map[string]pulumi.StringInput{}
	for service, name := range s.Logs.GroupNames {
		logGroups[service] = name
	}
	// With RDS (host + rds) no db service runs: no archiver settings.
	var dbEnv map[string]pulumi.StringInput
	if s.Backups != nil && s.Database == nil {
		dbEnv = s.Backups.DBEnvironment()
	}
	s.Release, err = NewRelease(ctx, "release", ReleaseArgs{
		Stack:                s.cfg.Stack,
		Region:               s.cfg.Region,
		ParameterPath:        parameterPath(s.cfg),
		Compose:              app.ComposeFile,
		ProxyTemplate:        app.ProxyTemplate,
		Images:               s.Registry.Digests,
		Database:             s.cfg.Database,
		Origin:               s.cfg.Origin,
		Datadog:              s.cfg.Datadog,
		WorkerTimeoutSeconds: s.cfg.Queue.WorkerTimeoutSeconds,
		InstanceID:           s.Host.InstanceID,
		QueueURL:             s.Queue.URL,
		LogGroups:            logGroups,
		Store:                s.ReleaseStore,
		ScriptsDir:           s.cfg.Path("infra/hostfiles"),
		DBEnvironment:        dbEnv,
		RDS:                  s.Database,
	}, s.regional)
	return err
}

// buildEdge builds the SPA's site and, with a custom domain, its DNS: the
// certificate before the distribution, the alias records after it.
func (s *Stack) buildEdge(ctx *pulumi.Context) (err error) {
	var certificate pulumi.StringInput
	if s.cfg.DNS.Enabled() {
		if s.Domain, err = NewDomain(ctx, "domain", DomainArgs{Config: s.cfg.DNS, Profile: s.cfg.Profile, Global: s.p.Global}, s.regional); err != nil {
			return err
		}
		certificate = s.Domain.CertificateArn
	}
	if s.Site, err = NewSite(ctx, "site", SiteArgs{
		Config:           s.cfg.Site,
		Profile:          s.cfg.Profile,
		Stack:            s.cfg.Stack,
		BuildDir:         s.cfg.Path(s.cfg.Site.BuildDir),
		OriginDomain:     s.originDomain(),
		OriginSecret:     s.cfg.Origin.Secret.Output(),
		Domain:           s.cfg.DNS.Domain,
		Certificate:      certificate,
		AccessLogs:       s.cfg.Profile == stacks.Prod,
		LogRetentionDays: s.cfg.Logs.RetentionDays,
		Global:           s.p.Global,
	}, s.regional); err != nil {
		return err
	}
	if s.Domain == nil {
		return nil
	}
	return s.Domain.PointAt(ctx, AliasTarget{DomainName: s.Site.DomainName, HostedZoneID: s.Site.HostedZoneID})
}

func (s *Stack) buildMonitoring(ctx *pulumi.Context) (err error) {
	s.Monitoring, err = NewMonitoring(ctx, "monitoring", MonitoringArgs{
		Stack:          s.cfg.Stack,
		Account:        s.acct,
		InstanceID:     s.monitoredInstance(),
		Queue:          s.Queue,
		Alerts:         s.Alerts,
		Global:         s.p.Global,
		DashboardName:  dashboardName(s.cfg),
		DistributionID: s.Site.DistributionID.ToStringOutput(),
	}, s.regional)
	return err
}

// dashboardName is the CloudWatch dashboard's name: dashboards take no
// auto-name, and one per stack cannot collide.
func dashboardName(cfg stacks.Config) string { return cfg.Project + "-" + cfg.Stack }

// parameterPath is the SSM path under which the stack's release and
// secrets live; the host may read only below it.
func parameterPath(cfg stacks.Config) string {
	return "/" + cfg.Project + "/" + cfg.Stack + "/"
}

// Outputs are the stack outputs, by name.
func (s *Stack) Outputs() pulumi.Map {
	out := pulumi.Map{
		"vpcId":              s.Network.VpcID,
		"siteUrl":            s.Site.URL,
		"cloudfrontDomain":   s.Site.DomainName,
		"distributionId":     s.Site.DistributionID,
		"bucketName":         s.Site.BucketName,
		"nameServers":        s.nameServers(),
		"queueUrl":           s.Queue.URL,
		"deadLetterQueueUrl": s.Queue.DeadLetterURL,
		"alarmTopicArn":      s.Alerts.TopicARN,
		"dashboardUrl":       s.Monitoring.DashboardURL,
		// What `slipway logs` and the other workstation commands read
		// (internal/ops): the region and each service's log group.
		"region":    pulumi.String(s.cfg.Region),
		"logGroups": s.logGroups(),
	}
	s.computeOutputs(out)
	if b := s.Backups; b != nil {
		out["backupBucketName"] = b.BucketName
		out["backupVaultName"] = b.VaultName
	}
	return out
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

// logGroups are the services' log groups by compose service name.
func (s *Stack) logGroups() pulumi.StringMap {
	out := pulumi.StringMap{}
	for service, name := range s.Logs.GroupNames {
		out[service] = name
	}
	return out
}
