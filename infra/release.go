package infra

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"slipway/infra/foundation"
	"slipway/stacks"
)

// Where the bundle lives, and why SSM parameters rather than an S3 object:
// the host already reads its own parameter path (host.go grants exactly
// that), parameters are versioned, the secrets use the same API as
// SecureString, and the bundle is a few KB (a parameter holds 4 KB, 8 KB
// in the advanced tier). S3 would add a bucket, its policy and a second
// grant for no gain.
const (
	releaseDir = "release/"
	secretsDir = "secrets/"
	// standardTierLimit is the largest value of a standard-tier parameter;
	// larger values need the (paid) advanced tier.
	standardTierLimit = 4096
	// releaseScript is installed by the bootstrap and run at boot and by
	// the foundation's host documents (every rollout and rollback), so it
	// lives where those documents look for it.
	releaseScript = foundation.ReleaseScript
	fetchScript   = "/usr/local/lib/slipway/slipway-fetch"
	// originHeaderName is the header CloudFront adds and nginx checks.
	originHeaderName = "X-Origin-Verify"
	// datadogProfile is the compose profile of the Datadog agent.
	datadogProfile = "datadog"
)

// defaultRolloutTimeout is how long `pulumi up` waits for a rollout: the
// foundation's rollout document's timeout (its budget lives beside the
// document, infra/foundation/documents.go) plus SSM's own dispatch and
// reporting delay. release_budget_test.go checks the relation on the
// rendered document and the release script.
const defaultRolloutTimeout = foundation.RolloutTimeout + 300

// The boot path's share of the budget: at boot the release script may wait
// for a rollout SSM started (the lock) and then run its own rollout, which
// the boot unit's TimeoutStartSec must cover (bootstrap_test.go).
const (
	lockWait    = foundation.LockWait
	rolloutWork = foundation.RolloutWork
)

// workerStopMargin is what a stopping worker needs beyond its processing
// budget: acknowledging the message and closing the pool.
const workerStopMargin = 15

// ReleaseArgs shapes one stack's release. QueueURL and LogGroups are the
// seams the ops concern fills; without log groups the containers log to
// json-file on the host.
type ReleaseArgs struct {
	Stack         string
	Region        string
	ParameterPath string // "/slipway/<stack>/"
	// Compose is the workload's production compose file (app.ComposeFile).
	Compose []byte
	// ProxyTemplate is the nginx template (app.ProxyTemplate), shipped in
	// the bundle and mounted over the proxy image's copy.
	ProxyTemplate []byte
	// Images are the built images by name (api, proxy, db), as
	// "<repository>@sha256:..." digests.
	Images   map[string]pulumi.StringOutput
	Database stacks.DatabaseConfig
	Origin   stacks.OriginConfig
	Datadog  stacks.DatadogConfig
	// WorkerTimeoutSeconds is the worker's processing budget per job.
	WorkerTimeoutSeconds int
	// QueueURL reaches the API and worker as QUEUE_URL; nil leaves it out
	// (the API requires it, so the ops concern must wire it).
	QueueURL pulumi.StringInput
	// LogGroups maps a compose service (api, worker, proxy, db) to its
	// CloudWatch log group; empty means json-file logs on the host.
	LogGroups map[string]pulumi.StringInput
	// InstanceID is the host the release rolls out to.
	InstanceID pulumi.IDOutput
}

// Release is a stack's current release: the bundle and secrets in SSM and
// the rollout that puts them on the host.
type Release struct {
	pulumi.ResourceState

	// ID names the release; it changes exactly when the bundle or a
	// secret does.
	ID pulumi.StringOutput
	// Images are the image references the release runs, by image name.
	Images pulumi.StringMapOutput
}

// releaseInputs are the rendered bundle's inputs that are outputs of
// other resources.
type releaseInputs struct {
	images    map[string]string
	pins      map[string]string
	queueURL  string
	logGroups map[string]string
}

// NewRelease renders the bundle, stores it and the secrets in SSM and rolls
// it out to the host through an SSM association, which `pulumi up` waits
// for: an unhealthy release fails the update (after the host has rolled
// itself back).
func NewRelease(ctx *pulumi.Context, name string, args ReleaseArgs, opts ...pulumi.ResourceOption) (*Release, error) {
	r := &Release{}
	if err := ctx.RegisterComponentResource("slipway:release:Release", name, r, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(r)
	if !args.Database.Password.IsSet() || !args.Origin.Secret.IsSet() {
		return nil, fmt.Errorf("release: database password and origin secret are required")
	}
	if len(args.ProxyTemplate) == 0 {
		return nil, fmt.Errorf("release: the nginx template (app.ProxyTemplate) is required")
	}
	profiles := []string{}
	if args.Datadog.Enabled() {
		profiles = append(profiles, datadogProfile)
	}

	// Secrets: SecureString parameters read by the host at release time
	// into per-service, root-only env files (secretFiles). The values come
	// from secret config and stay secret outputs. They use the AWS-managed
	// aws/ssm key, whose key policy lets the account's principals decrypt
	// through SSM, so the host needs no KMS grant beyond its parameter-path
	// read (host.go).
	var deps []pulumi.Resource
	versions := pulumi.Map{}
	for _, s := range secretFiles(args) {
		p, err := ssm.NewParameter(ctx, "secret-"+strings.ToLower(strings.ReplaceAll(s.key, "_", "-")), &ssm.ParameterArgs{
			Name:        pulumi.String(args.ParameterPath + secretsDir + s.file + "/" + s.key),
			Type:        pulumi.String("SecureString"),
			Value:       s.value.Output(),
			Description: pulumi.String("Slipway " + args.Stack + ": " + s.key + " for secrets/" + s.file + ".env on the host"),
		}, parent)
		if err != nil {
			return nil, err
		}
		deps = append(deps, p)
		versions[s.file+"/"+s.key] = p.Version
	}

	// Images the compose file names by tag (the Datadog agent) are pinned
	// to the digest the registry has for that tag now.
	fixed, err := taggedImages(args.Compose, profiles)
	if err != nil {
		return nil, err
	}
	pins := pulumi.StringMap{}
	for _, ref := range fixed {
		pins[ref] = docker.LookupRegistryImageOutput(ctx, docker.LookupRegistryImageOutputArgs{
			Name: pulumi.String(ref),
		}, parent).Sha256Digest().ApplyT(func(d string) string { return ref + "@" + d }).(pulumi.StringOutput)
	}
	groups := pulumi.StringMap{}
	for svc, g := range args.LogGroups {
		groups[svc] = g
	}
	queue := pulumi.StringInput(pulumi.String(""))
	if args.QueueURL != nil {
		queue = args.QueueURL
	}
	images := pulumi.StringMap{}
	for n, d := range args.Images {
		images[n] = d
	}

	bundle := pulumi.All(images.ToStringMapOutput(), pins.ToStringMapOutput(), queue, groups.ToStringMapOutput()).ApplyT(
		func(v []any) (map[string]string, error) {
			return renderBundle(args, profiles, releaseInputs{
				images: v[0].(map[string]string), pins: v[1].(map[string]string),
				queueURL: v[2].(string), logGroups: v[3].(map[string]string),
			})
		}).(pulumi.StringMapOutput)

	for _, file := range bundleFiles {
		content := bundle.MapIndex(pulumi.String(file))
		// The bundle is public to anyone who may read the path, so it
		// holds no secret; the advanced tier only when a file outgrows
		// the standard one.
		p, err := ssm.NewParameter(ctx, "release-"+strings.ReplaceAll(file, ".", "-"), &ssm.ParameterArgs{
			Name:        pulumi.String(args.ParameterPath + releaseDir + file),
			Type:        pulumi.String("String"),
			Value:       content,
			Tier:        content.ApplyT(tierFor).(pulumi.StringOutput),
			Description: pulumi.String("Slipway " + args.Stack + " release: " + file),
		}, parent)
		if err != nil {
			return nil, err
		}
		deps = append(deps, p)
	}

	r.ID = pulumi.All(bundle, versions.ToMapOutput()).ApplyT(func(v []any) string {
		sv := map[string]int{}
		for k, ver := range v[1].(map[string]any) {
			n, _ := ver.(int)
			sv[k] = n
		}
		return releaseID(v[0].(map[string]string), sv)
	}).(pulumi.StringOutput)

	// The id last: the host checks that what it fetched is the release it
	// was asked to roll out, and a reader never sees the new id beside a
	// half-written bundle.
	idParam, err := ssm.NewParameter(ctx, "release-id", &ssm.ParameterArgs{
		Name:        pulumi.String(args.ParameterPath + releaseDir + "id"),
		Type:        pulumi.String("String"),
		Value:       r.ID,
		Description: pulumi.String("Slipway " + args.Stack + ": the current release id"),
	}, parent, pulumi.DependsOn(deps))
	if err != nil {
		return nil, err
	}

	// The rollout command is the foundation's document of this stack's
	// class, referred to by its fixed name: an app stack creates no
	// document (CI cannot create, change or delete one; the document is
	// what keeps one environment's identity off another's hosts, see
	// infra/foundation/documents.go). The stack parameter names this
	// stack, which the document checks against the host's stack tag.
	class, err := stacks.ProfileOf(args.Stack)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	// The association runs the document on the host whenever its
	// parameters (the release id) or its target (a new host) change, and
	// `pulumi up` waits for the result: a failed rollout fails the update.
	// An unchanged release changes nothing here and runs nothing.
	//
	// The provider waits (waitForSuccessTimeoutSeconds) on create only, so a
	// new release id or a new host replaces the association rather than
	// updating it: every rollout is a create that `pulumi up` waits for.
	// The old association goes first, so two never run against one host.
	if _, err := ssm.NewAssociation(ctx, "rollout", &ssm.AssociationArgs{
		Name: pulumi.String(foundation.HostDocumentName(class, foundation.DocumentRollout)),
		Targets: ssm.AssociationTargetArray{&ssm.AssociationTargetArgs{
			Key:    pulumi.String("InstanceIds"),
			Values: pulumi.StringArray{args.InstanceID.ToStringOutput()},
		}},
		Parameters:                   pulumi.StringMap{"releaseId": r.ID, "stack": pulumi.String(args.Stack)},
		WaitForSuccessTimeoutSeconds: pulumi.Int(defaultRolloutTimeout),
		MaxConcurrency:               pulumi.String("1"),
		MaxErrors:                    pulumi.String("0"),
		ComplianceSeverity:           pulumi.String("HIGH"),
	}, parent, pulumi.DependsOn([]pulumi.Resource{idParam}),
		pulumi.ReplaceOnChanges([]string{"parameters", "targets"}),
		pulumi.DeleteBeforeReplace(true)); err != nil {
		return nil, err
	}

	r.Images = pulumi.All(images.ToStringMapOutput(), pins.ToStringMapOutput()).ApplyT(func(v []any) map[string]string {
		out := map[string]string{}
		for k, d := range v[0].(map[string]string) {
			out[k] = d
		}
		for tag, d := range v[1].(map[string]string) {
			out[tag] = d
		}
		return out
	}).(pulumi.StringMapOutput)
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{"releaseId": r.ID, "images": r.Images})
}

// secretFile is one secret and the service env file it goes to on the host:
// secrets/<file>.env, which only the services that need it read.
type secretFile struct {
	file, key string
	value     stacks.Secret
}

// secretFiles is the one mapping of secrets to services' env files. Its
// SSM layout is /slipway/<stack>/secrets/<file>/<KEY>, so the fetcher needs
// no copy of it. app/compose.yaml lists each service's file: the internet-
// facing proxy and the Datadog agent never see the database password, the
// database never sees the origin secret, and rotating one secret recreates
// only the services that read it.
func secretFiles(args ReleaseArgs) []secretFile {
	out := []secretFile{
		{"db", "POSTGRES_PASSWORD", args.Database.Password},
		{"api", "DATABASE_PASSWORD", args.Database.Password}, // api and worker
		{"proxy", "ORIGIN_HEADER_VALUE", args.Origin.Secret},
	}
	if args.Datadog.Enabled() {
		out = append(out, secretFile{"datadog", "DD_API_KEY", args.Datadog.APIKey})
	}
	return out
}

func tierFor(content string) string {
	if len(content) > standardTierLimit {
		return "Advanced"
	}
	return "Standard"
}

// renderBundle renders the bundle's files for resolved inputs.
func renderBundle(args ReleaseArgs, profiles []string, in releaseInputs) (map[string]string, error) {
	vars := map[string]string{
		"DB_DATA_DIR": DataDir + "/postgres", // created by slipway-mount-data for uid 999
		"AWS_REGION":  args.Region,
		// The proxy's label: a template change recreates the proxy (compose
		// does not look into bind-mounted files).
		"PROXY_TEMPLATE_SHA256": sha256Hex(args.ProxyTemplate),
		// A stopping worker finishes the job in hand: its grace period
		// follows the processing budget, with room to delete the message.
		"WORKER_STOP_GRACE_PERIOD": strconv.Itoa(args.WorkerTimeoutSeconds+workerStopMargin) + "s",
	}
	for _, image := range Images {
		ref, ok := in.images[image]
		if !ok {
			return nil, fmt.Errorf("release: no %s image", image)
		}
		vars[strings.ToUpper(image)+"_IMAGE"] = ref
	}
	jsonFile := len(in.logGroups) == 0
	if jsonFile {
		vars["LOG_DRIVER"] = "json-file"
	} else {
		vars["LOG_DRIVER"] = "awslogs"
		for svc, g := range in.logGroups {
			vars[strings.ToUpper(svc)+"_LOG_GROUP"] = g
		}
	}
	app := map[string]string{
		"PORT":                       "3000",
		"API_UPSTREAM":               "api:3000",
		"DATABASE_HOST":              "db",
		"DATABASE_PORT":              "5432",
		"DATABASE_NAME":              args.Database.Name,
		"DATABASE_USER":              args.Database.User,
		"POSTGRES_DB":                args.Database.Name,
		"AWS_REGION":                 args.Region,
		"LOG_LEVEL":                  "info",
		"WORKER_JOB_TIMEOUT_SECONDS": strconv.Itoa(args.WorkerTimeoutSeconds),
		"ORIGIN_HEADER_NAME":         originHeaderName,
	}
	if in.queueURL != "" {
		app["QUEUE_URL"] = in.queueURL
	}
	composeEnv := map[string]string{}
	if args.Datadog.Enabled() {
		vars["DD_TRACE_ENABLED"] = "true"
		vars["DD_SITE"] = args.Datadog.Site
		app["DD_TRACE_ENABLED"] = "true"
		app["DD_AGENT_HOST"] = "datadog-agent"
		app["DD_SITE"] = args.Datadog.Site
		app["DD_ENV"] = args.Stack
		app["DD_SERVICE"] = "slipway-api"
		composeEnv["COMPOSE_PROFILES"] = strings.Join(profiles, ",")
	} else {
		vars["DD_TRACE_ENABLED"] = "false"
	}
	compose, err := renderCompose(args.Compose, vars, profiles, jsonFile, in.pins)
	if err != nil {
		return nil, err
	}
	appEnv, err := envFile("# Non-secret settings of stack "+args.Stack+" (secrets are in secrets/<service>.env).\n", app)
	if err != nil {
		return nil, err
	}
	// Never empty: an SSM parameter cannot hold an empty value.
	cenv, err := envFile("# Compose settings of stack "+args.Stack+" (installed as .env).\n", composeEnv)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		bundleCompose: compose, bundleAppEnv: appEnv, bundleComposeEnv: cenv,
		bundleProxyTemplate: string(args.ProxyTemplate),
	}, nil
}

// taggedImages lists the images of enabled services that the compose file
// names literally (not through a ${VAR} the release sets): they are pinned
// by digest at deploy time.
func taggedImages(src []byte, profiles []string) ([]string, error) {
	var doc struct {
		Services map[string]struct {
			Image    string   `yaml:"image"`
			Profiles []string `yaml:"profiles"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("compose file: %w", err)
	}
	var out []string
	for _, s := range doc.Services {
		enabled := len(s.Profiles) == 0
		for _, p := range s.Profiles {
			enabled = enabled || contains(profiles, p)
		}
		if !enabled || s.Image == "" || strings.Contains(s.Image, "$") || strings.Contains(s.Image, "@sha256:") {
			continue
		}
		out = append(out, s.Image)
	}
	sort.Strings(out)
	return out, nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// ReleaseBootstrap is what the host needs to run releases: the release
// script, the SSM fetcher and its package (python3-boto3 from Ubuntu's
// archive: Ubuntu 24.04 has no awscli package, and nothing is downloaded
// outside the signed archive). Static content only: it never changes per
// release, so a release never replaces the host.
func ReleaseBootstrap() (Bootstrap, error) {
	files, err := bootFiles(
		hostFile{releaseScript, "slipway-release.sh", "0755"},
		hostFile{fetchScript, "slipway-fetch.py", "0755"},
	)
	return Bootstrap{Packages: []string{"python3-boto3"}, Files: files}, err
}
