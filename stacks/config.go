// Package stacks is the one place Slipway reads Pulumi config. It turns the
// project defaults (Pulumi.yaml) and a stack's overrides (Pulumi.<stack>.yaml)
// into a typed, validated Config, so bad config fails before any resource is
// registered, with a message naming the key, the value and what is accepted.
package stacks

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Namespace is the Pulumi config namespace of the project's own keys.
const Namespace = "slipway"

// Config is everything a stack decides, grouped by the concern that uses it.
type Config struct {
	Project string
	Stack   string
	Profile Profile
	Region  string
	// AllowedAccountIDs pins the account (aws:allowedAccountIds): every
	// AWS provider refuses to run in another.
	AllowedAccountIDs []string
	// ProjectDir is the directory holding Pulumi.yaml; the paths of the
	// workload (app/...) and of the SPA build are relative to it.
	ProjectDir string

	Network  NetworkConfig
	Host     HostConfig
	Data     DataConfig
	Backup   BackupConfig
	Logs     LogsConfig
	Images   ImagesConfig
	Site     SiteConfig
	DNS      DNSConfig
	Queue    QueueConfig
	Alerts   AlertsConfig
	Deploy   DeployConfig
	Datadog  DatadogConfig
	Database DatabaseConfig
	// Origin is the shared secret CloudFront adds to every request to the
	// host and nginx checks, so the host answers only through CloudFront.
	Origin OriginConfig
	// Platform is compute (host | ecs) and database (container | rds).
	Platform PlatformConfig
}

// NetworkConfig shapes the stack's own VPC.
type NetworkConfig struct {
	VPCCIDR string
}

// HostConfig shapes the one EC2 host that runs the compose stack.
type HostConfig struct {
	InstanceType  string
	Architecture  string // "arm64" or "x86_64"
	RootVolumeGiB int
	// AMI pins the host image. Empty means "the newest Ubuntu 24.04 LTS at
	// creation, then kept": a newer AMI never replaces a running host;
	// setting this is how the host is rolled deliberately.
	AMI string
}

// DataConfig shapes the persistent EBS volume that holds Postgres data.
type DataConfig struct {
	VolumeGiB             int
	SnapshotRetentionDays int // daily snapshots kept, prod only
	// SnapshotID starts a new volume from an EBS snapshot (snap-...); it
	// is read only when the volume is created (backup.go).
	SnapshotID string
}

// LogsConfig shapes the CloudWatch log groups.
type LogsConfig struct {
	RetentionDays int
}

// ImagesConfig shapes the ECR repositories.
type ImagesConfig struct {
	KeepTagged int // tagged images kept per repository
}

// SiteConfig shapes the SPA bucket and the CloudFront distribution.
type SiteConfig struct {
	BuildDir   string // the SPA build uploaded by `pulumi up`, relative to the project
	PriceClass string
}

// DNSConfig is the optional custom domain. Empty Domain means the stack uses
// the CloudFront default domain and creates no DNS resources.
type DNSConfig struct {
	Domain     string
	HostedZone string // zone name or id; defaults to Domain
	CreateZone bool
	// CAA publishes `0 issue "amazon.com"` at the domain, off unless asked:
	// it limits every name at and below the domain to Amazon-issued
	// certificates, and fails to create over an existing CAA record.
	CAA bool
}

// QueueConfig shapes the SQS work queue and its dead-letter queue.
type QueueConfig struct {
	MaxReceiveCount      int
	RetentionDays        int
	WorkerTimeoutSeconds int
}

// AlertsConfig says where alarms go.
type AlertsConfig struct {
	Email string
}

// DeployConfig shapes the CI identity.
type DeployConfig struct {
	// GitHubRepository ("owner/name") enables the keyless OIDC deploy role.
	GitHubRepository  string
	GitHubEnvironment string
}

// DatadogConfig is optional: nothing Datadog-related is deployed without a key.
type DatadogConfig struct {
	APIKey Secret
	Site   string
}

// DatabaseConfig names the application database.
type DatabaseConfig struct {
	Name     string
	User     string
	Password Secret
}

// OriginConfig holds the origin-verify secret.
type OriginConfig struct {
	Secret Secret
}

// Enabled reports whether a Datadog key was configured.
func (d DatadogConfig) Enabled() bool { return d.APIKey.IsSet() }

// Enabled reports whether the stack has a custom domain.
func (d DNSConfig) Enabled() bool { return d.Domain != "" }

// Zone says which hosted zone holds the domain: by id (Z...) or by name,
// exactly one of the two set; by default the zone named like the domain.
func (d DNSConfig) Zone() (id, name string) {
	switch {
	case d.HostedZone == "":
		return "", d.Domain
	case zoneID.MatchString(d.HostedZone):
		return d.HostedZone, ""
	}
	return "", d.HostedZone
}

// Secret is a config value that must never be printed or stored in plain
// text. Its String method hides the value, so a stray log line is harmless.
type Secret struct{ value string }

// NewSecret wraps a value read from secret config.
func NewSecret(value string) Secret { return Secret{value: value} }

// IsSet reports whether a value was configured.
func (s Secret) IsSet() bool { return s.value != "" }

// String hides the value.
func (s Secret) String() string { return "[secret]" }

// Output is the value as a Pulumi output marked secret, the only way it
// leaves this package.
func (s Secret) Output() pulumi.StringOutput {
	return pulumi.ToSecret(pulumi.String(s.value)).(pulumi.StringOutput)
}

// Source is where config values come from: a Pulumi context in a real run,
// a map in tests and in the offline plan.
type Source interface {
	// Get returns the raw value of a fully-qualified key ("slipway:vpcCidr").
	Get(key string) (string, bool)
	// IsSecret reports whether the key was stored as a secret.
	IsSecret(key string) bool
}

// Load reads and validates the stack's config from the Pulumi context.
func Load(ctx *pulumi.Context) (Config, error) {
	dir := ctx.RootDirectory()
	if dir == "" {
		// Older CLIs do not pass the root directory; they run the
		// program in it.
		dir = "."
	}
	cfg, err := Parse(ctx.Project(), ctx.Stack(), withDevProfile(dir, ctx.Stack(), contextSource{ctx}))
	if err != nil {
		return cfg, err
	}
	cfg.ProjectDir = dir
	return cfg, nil
}

// Path resolves a project-relative path such as "app/api".
func (c Config) Path(rel string) string { return filepath.Join(c.ProjectDir, rel) }

type contextSource struct{ ctx *pulumi.Context }

func (s contextSource) Get(key string) (string, bool) { return s.ctx.GetConfig(key) }
func (s contextSource) IsSecret(key string) bool      { return s.ctx.IsConfigSecret(key) }

// Parse builds the Config for a stack from src. Every invalid value is
// reported, one line each, so a user fixes them all in one go.
func Parse(project, stack string, src Source) (Config, error) {
	profile, err := ProfileOf(stack)
	if err != nil {
		return Config{}, err
	}
	r := &reader{src: src}
	cfg := Config{
		Project: project,
		Stack:   stack,
		Profile: profile,
		Region:  r.str("aws:region", defaultRegion, oneOf(supportedRegions...)),
		Network: NetworkConfig{
			VPCCIDR: r.str(key("vpcCidr"), "10.40.0.0/16", privateCIDR),
		},
		Host: HostConfig{
			InstanceType:  r.str(key("instanceType"), "t4g.small", instanceType),
			Architecture:  r.str(key("architecture"), "arm64", oneOf("arm64", "x86_64")),
			RootVolumeGiB: r.integer(key("rootVolumeSize"), 20, between(12, 200)),
			AMI:           r.str(key("hostAmi"), "", optional(amiID)),
		},
		Data: DataConfig{
			VolumeGiB:             r.integer(key("dataVolumeSize"), 20, between(10, 1024)),
			SnapshotRetentionDays: r.integer(key("dataSnapshotRetentionDays"), 7, between(1, 365)),
			SnapshotID:            r.str(key("dataVolumeSnapshotId"), "", optional(snapshotID)),
		},
		Backup: parseBackup(r),
		Logs:   LogsConfig{RetentionDays: r.integer(key("logRetentionDays"), 3, logRetention)},
		Images: ImagesConfig{KeepTagged: r.integer(key("ecrKeepImages"), 10, between(1, 100))},
		Site: SiteConfig{
			BuildDir:   r.str(key("spaBuildDir"), "app/web/dist", relativePath),
			PriceClass: r.str(key("priceClass"), "PriceClass_100", oneOf("PriceClass_100", "PriceClass_200", "PriceClass_All")),
		},
		DNS: DNSConfig{
			Domain:     r.str(key("domain"), "", optional(domainName)),
			HostedZone: r.str(key("hostedZone"), "", optional(hostedZone)),
			CreateZone: r.boolean(key("createHostedZone"), false),
			CAA:        r.boolean(key("caaRecord"), false),
		},
		Queue: QueueConfig{
			MaxReceiveCount:      r.integer(key("queueMaxReceiveCount"), 5, between(1, 1000)),
			RetentionDays:        r.integer(key("queueRetentionDays"), 4, between(1, 14)),
			WorkerTimeoutSeconds: r.integer(key("workerTimeoutSeconds"), 30, between(1, 900)),
		},
		Alerts: AlertsConfig{Email: r.str(key("alarmEmail"), "", optional(email))},
		Deploy: DeployConfig{
			GitHubRepository:  r.str(key("githubRepository"), "", optional(githubRepository)),
			GitHubEnvironment: r.str(key("githubEnvironment"), "", optional(githubEnvironment)),
		},
		Datadog: DatadogConfig{
			APIKey: r.secret(key("datadogApiKey"), false),
			Site:   r.str(key("datadogSite"), "datadoghq.com", oneOf(datadogSites...)),
		},
		Database: DatabaseConfig{
			Name:     r.str(key("dbName"), "app", sqlName),
			User:     r.str(key("dbUser"), "app", sqlName),
			Password: r.secret(key("dbPassword"), true),
		},
		Origin:   OriginConfig{Secret: r.headerSecret(key("originSecret"))},
		Platform: readProfile(r),
	}
	cfg.AllowedAccountIDs = r.allowedAccounts(stack, profile)
	cfg.checkCombinations(r)
	cfg.checkBackup(r)
	cfg.checkProfile(r)
	if len(r.errs) > 0 {
		return Config{}, fmt.Errorf("stack %s has invalid config:\n  %w", stack, errors.Join(r.errs...))
	}
	return cfg, nil
}

// key qualifies one of the project's own keys.
func key(name string) string { return Namespace + ":" + name }

// checkCombinations validates rules that span keys.
func (c *Config) checkCombinations(r *reader) {
	if want := architectureOf(c.Host.InstanceType); want != "" && want != c.Host.Architecture {
		r.fail(key("architecture"), c.Host.Architecture,
			fmt.Sprintf("%s to match instanceType %s (or choose an instance type built for %s)", want, c.Host.InstanceType, c.Host.Architecture))
	}
	if c.DNS.HostedZone != "" && c.DNS.Domain == "" {
		r.fail(key("hostedZone"), c.DNS.HostedZone, "only together with slipway:domain")
	}
	if c.DNS.CreateZone && c.DNS.Domain == "" {
		r.fail(key("createHostedZone"), "true", "only together with slipway:domain")
	}
	if c.DNS.CAA && c.DNS.Domain == "" {
		r.fail(key("caaRecord"), "true", "only together with slipway:domain")
	}
	if zoneIDValue, zoneName := c.DNS.Zone(); c.DNS.Domain != "" && c.DNS.HostedZone != "" {
		switch {
		case zoneIDValue != "" && c.DNS.CreateZone:
			r.fail(key("hostedZone"), c.DNS.HostedZone, "a zone name when slipway:createHostedZone is true (an id names an existing zone)")
		case zoneName != "" && c.DNS.Domain != zoneName && !strings.HasSuffix(c.DNS.Domain, "."+zoneName):
			r.fail(key("hostedZone"), c.DNS.HostedZone, "a zone that contains slipway:domain "+c.DNS.Domain)
		}
	}
	if c.Deploy.GitHubEnvironment != "" && c.Deploy.GitHubRepository == "" {
		r.fail(key("githubEnvironment"), c.Deploy.GitHubEnvironment, "only together with slipway:githubRepository")
	}
	if c.Profile == Prod && c.Data.SnapshotRetentionDays < 7 {
		r.fail(key("dataSnapshotRetentionDays"), strconv.Itoa(c.Data.SnapshotRetentionDays), "at least 7 in prod: a week of daily snapshots")
	}
	if c.Profile == Review && (c.Deploy.GitHubRepository != "") {
		r.fail(key("githubRepository"), c.Deploy.GitHubRepository, "nothing in a review stack: the deploy identity belongs to dev and prod")
	}
}
