package infra

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"slipway/infra/foundation"
	"slipway/stacks"
)

// Where a release lives: the bundle (compose file, settings, nginx
// template, the host scripts) is an S3 object per release in the stack's
// bucket (ReleaseStore, below, says why); the secrets are SecureString
// parameters below the stack's SSM path, beside the release id and the
// bucket's name (release/id, release/bucket), which the host's loader reads.
const (
	releaseDir = "release/"
	secretsDir = "secrets/"
	// receiptsDir holds the host's receipts, one per release id: what the
	// host says about a rollout (slipway-release.sh writes them, NewRelease
	// reads them back).
	receiptsDir = "receipts"
	// bundleLimit bounds the bundle: far below what an object holds, far
	// above what a release needs; a bundle this large is a bug.
	bundleLimit = 1 << 20
	// releaseScript is the stable loader (slipway-load.py) the bootstrap
	// installs and the boot unit and the foundation's host documents run,
	// so it lives where those documents look for it. It runs the release
	// script of the release's own bundle.
	releaseScript = foundation.ReleaseScript
	// originHeaderName is the header CloudFront adds and nginx checks.
	originHeaderName = "X-Origin-Verify"
	// datadogProfile is the compose profile of the Datadog agent.
	datadogProfile = "datadog"
	// maintenanceDir holds the maintenance flag (`on`) the release script
	// sets and nginx reads (mounted read-only at /etc/nginx/maintenance).
	maintenanceDir = "/srv/slipway/maintenance"
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
	// Store is the bucket the bundle goes to (NewReleaseStore).
	Store *ReleaseStore
	// ScriptsDir is the checkout's infra/hostfiles: the host scripts that
	// travel with the release are read from it at deploy time, like the
	// images' build contexts, so a change to them is a new release.
	ScriptsDir string
	// DBEnvironment is added to the db service's settings (Backups'
	// archiver options), nil without backups. With it, the db service may
	// reach the instance metadata service (pgBackRest's archive-push uses
	// the instance role): see docs/operations.md.
	DBEnvironment map[string]pulumi.StringInput
	// RDS is the stack's RDS instance in host + rds mode, nil with the
	// container database. The release then runs no Postgres container and
	// points the API and the worker at RDS (renderBundle); before each
	// cutover the host creates the application's role there
	// (slipway-db-setup.py). Its values are outputs of the instance, which
	// reach the bundle's content like the image digests do.
	RDS *Database
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
	// Status is "healthy" once the host's receipt says this release is;
	// it fails `pulumi up` with the host's reason otherwise (unknown in a
	// preview that rolls out).
	Status pulumi.StringOutput
}

// releaseInputs are the rendered bundle's inputs that are outputs of
// other resources.
type releaseInputs struct {
	images    map[string]string
	pins      map[string]string
	queueURL  string
	logGroups map[string]string
	// dbEnv is added to the db service's settings (backups).
	dbEnv map[string]string
	// rds is RDS in host + rds mode, nil with the container database.
	rds *rdsTarget
}

// rdsTarget is where a host + rds release finds its database.
type rdsTarget struct {
	address, port, masterSecretARN string
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
	if args.Store == nil {
		return nil, fmt.Errorf("release: the bundle store (NewReleaseStore) is required")
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
		}, parent, pulumi.DeleteBeforeReplace(true)) // a fixed name: never created beside itself
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
	dbEnv := pulumi.StringMap{}
	for k, v := range args.DBEnvironment {
		dbEnv[k] = v
	}

	database := pulumi.StringMap{}
	if args.RDS != nil {
		database["address"] = args.RDS.Address
		database["port"] = pulumi.Sprintf("%d", args.RDS.Port)
		database["masterSecretArn"] = args.RDS.MasterSecretARN
	}

	bundle := pulumi.All(images.ToStringMapOutput(), pins.ToStringMapOutput(), queue, groups.ToStringMapOutput(), dbEnv.ToStringMapOutput(),
		database.ToStringMapOutput()).ApplyT(
		func(v []any) (map[string]string, error) {
			in := releaseInputs{
				images: v[0].(map[string]string), pins: v[1].(map[string]string),
				queueURL: v[2].(string), logGroups: v[3].(map[string]string),
			}
			if args.DBEnvironment != nil {
				in.dbEnv = v[4].(map[string]string)
			}
			if args.RDS != nil {
				db := v[5].(map[string]string)
				in.rds = &rdsTarget{address: db["address"], port: db["port"], masterSecretARN: db["masterSecretArn"]}
			}
			return renderBundle(args, profiles, in)
		}).(pulumi.StringMapOutput)

	r.ID = pulumi.All(bundle, versions.ToMapOutput()).ApplyT(func(v []any) string {
		sv := map[string]int{}
		for k, ver := range v[1].(map[string]any) {
			n, _ := ver.(int)
			sv[k] = n
		}
		return releaseID(v[0].(map[string]string), sv)
	}).(pulumi.StringOutput)

	// The bundle: one object per release, named by its id, in the stack's
	// private bucket (ReleaseStore). A new release is a new object (the
	// old one becomes a noncurrent version), so no fixed name is replaced.
	// It holds no secret.
	object, err := s3.NewBucketObjectv2(ctx, "release-bundle", &s3.BucketObjectv2Args{
		Bucket: args.Store.bucket.ID(),
		Key:    pulumi.Sprintf("%s%s.json", bundlePrefix, r.ID),
		Content: pulumi.All(r.ID, bundle).ApplyT(func(v []any) (string, error) {
			b, err := json.Marshal(map[string]any{"releaseId": v[0].(string), "files": v[1].(map[string]string)})
			return string(b), err
		}).(pulumi.StringOutput),
		ContentType:          pulumi.String("application/json"),
		ServerSideEncryption: pulumi.String("AES256"),
	}, parent)
	if err != nil {
		return nil, err
	}
	deps = append(deps, object)
	// Where the loader finds the bundles: a fixed name whose value never
	// changes (the stack's bucket).
	bucketParam, err := ssm.NewParameter(ctx, "release-bucket", &ssm.ParameterArgs{
		Name:        pulumi.String(args.ParameterPath + releaseDir + "bucket"),
		Type:        pulumi.String("String"),
		Value:       args.Store.BucketName,
		Description: pulumi.String("Slipway " + args.Stack + ": the bucket of the release bundles"),
	}, parent, pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return nil, err
	}
	deps = append(deps, bucketParam)

	// The id last: the host checks that what it fetched is the release it
	// was asked to roll out, and a reader never sees the new id beside a
	// half-written bundle.
	idParam, err := ssm.NewParameter(ctx, "release-id", &ssm.ParameterArgs{
		Name:        pulumi.String(args.ParameterPath + releaseDir + "id"),
		Type:        pulumi.String("String"),
		Value:       r.ID,
		Description: pulumi.String("Slipway " + args.Stack + ": the current release id"),
	}, parent, pulumi.DependsOn(deps), pulumi.DeleteBeforeReplace(true))
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
	// What the host said about this release before (its receipt, if a
	// rollout of it ran): a failed release retried with no change is the
	// next attempt, a new parameter of the association, so it is replaced
	// and rolls out again; a healthy one keeps its attempt and runs
	// nothing. Read in preview too (it changes nothing).
	//
	// And which attempt the last rollout began (release/attempt, written
	// below before the association runs): an attempt that began and left
	// no receipt is retried as the next one too. That is the association
	// that failed before the release script could report (the host never
	// finished its bootstrap, the class check refused, a missing document)
	// or was cut short: the provider then keeps the failed association in
	// state and would only update it, without waiting. Sound because the
	// marker is written before the association and read before the marker
	// is: a receipt can only be missing for an attempt that began, and
	// another attempt at the same release is a rollout the host can always
	// run again (the loader takes the stored release; an unchanged release
	// is a cutover into the idle slot). At worst an update stopped between
	// the marker and the association costs one extra rollout.
	receipts := args.ParameterPath + receiptsDir
	before := ssm.GetParametersByPathOutput(ctx, ssm.GetParametersByPathOutputArgs{
		Path: pulumi.String(receipts),
	}, parent)
	markerName := args.ParameterPath + releaseDir + "attempt"
	markers := ssm.GetParametersByPathOutput(ctx, ssm.GetParametersByPathOutputArgs{
		Path: pulumi.String(strings.TrimSuffix(args.ParameterPath+releaseDir, "/")),
	}, parent)
	attempt := pulumi.All(r.ID, before.Names(), before.Values(), markers.Names(), markers.Values()).ApplyT(func(v []any) string {
		rc, _ := findReceipt(receipts, v[0].(string), v[1].([]string), v[2].([]string))
		return nextAttempt(rc, startedAttempt(markerName, v[0].(string), v[3].([]string), v[4].([]string)))
	}).(pulumi.StringOutput)
	marker, err := ssm.NewParameter(ctx, "release-attempt", &ssm.ParameterArgs{
		Name: pulumi.String(markerName),
		Type: pulumi.String("String"),
		Value: pulumi.All(r.ID, attempt).ApplyT(func(v []any) (string, error) {
			b, err := json.Marshal(rolloutMarker{ReleaseID: v[0].(string), Attempt: v[1].(string)})
			return string(b), err
		}).(pulumi.StringOutput),
		Description: pulumi.String("Slipway " + args.Stack + ": the release and attempt the last rollout began"),
	}, parent, pulumi.DependsOn([]pulumi.Resource{idParam}), pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return nil, err
	}

	assoc, err := ssm.NewAssociation(ctx, "rollout", &ssm.AssociationArgs{
		Name: pulumi.String(foundation.HostDocumentName(class, foundation.DocumentRollout)),
		Targets: ssm.AssociationTargetArray{&ssm.AssociationTargetArgs{
			Key:    pulumi.String("InstanceIds"),
			Values: pulumi.StringArray{args.InstanceID.ToStringOutput()},
		}},
		Parameters:                   pulumi.StringMap{"releaseId": r.ID, "stack": pulumi.String(args.Stack), "attempt": attempt},
		WaitForSuccessTimeoutSeconds: pulumi.Int(defaultRolloutTimeout),
		MaxConcurrency:               pulumi.String("1"),
		MaxErrors:                    pulumi.String("0"),
		ComplianceSeverity:           pulumi.String("HIGH"),
	}, parent, pulumi.DependsOn([]pulumi.Resource{idParam, marker}),
		pulumi.ReplaceOnChanges([]string{"parameters", "targets"}),
		pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return nil, err
	}

	// After the rollout: the host's receipt for this release and attempt.
	// The path is derived from the association's id, so the read waits for
	// the association (which waits for the rollout) in `up`, and is unknown
	// in a preview that rolls out. The association itself succeeds when the
	// rollout ran to its end, healthy or not: the receipt is the verdict,
	// and a failed one fails `pulumi up` here with the host's reason.
	after := ssm.GetParametersByPathOutput(ctx, ssm.GetParametersByPathOutputArgs{
		Path: assoc.AssociationId.ApplyT(func(string) string { return receipts }).(pulumi.StringOutput),
	}, parent)
	r.Status = pulumi.All(r.ID, attempt, after.Names(), after.Values(), assoc.URN()).ApplyT(func(v []any) (string, error) {
		rc, found := findReceipt(receipts, v[0].(string), v[2].([]string), v[3].([]string))
		return checkReceipt(v[0].(string), v[1].(string), rc, found, string(v[4].(pulumi.URN)))
	}).(pulumi.StringOutput)

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
	return r, ctx.RegisterResourceOutputs(r, pulumi.Map{"releaseId": r.ID, "images": r.Images, "status": r.Status})
}

// receipt is what the host writes after a rollout (slipway-fetch's
// put_receipt): the verdict on one attempt at one release.
type receipt struct {
	ReleaseID string   `json:"releaseId"`
	Status    string   `json:"status"` // healthy or failed
	Attempt   string   `json:"attempt"`
	Service   string   `json:"service"`
	Reason    string   `json:"reason"`
	Logs      []string `json:"logs"`
}

// findReceipt picks the receipt of release id from a by-path read.
func findReceipt(path, id string, names, values []string) (receipt, bool) {
	for i, n := range names {
		if n != path+"/"+id || i >= len(values) {
			continue
		}
		var rc receipt
		if err := json.Unmarshal([]byte(values[i]), &rc); err != nil {
			return receipt{Status: "unreadable", Reason: err.Error()}, true
		}
		return rc, true
	}
	return receipt{}, false
}

// rolloutMarker is release/attempt: the attempt the last rollout began.
type rolloutMarker struct {
	ReleaseID string `json:"releaseId"`
	Attempt   string `json:"attempt"`
}

// startedAttempt is the attempt the marker says the last rollout of release
// id began (0 for none, or the marker of another release).
func startedAttempt(name, id string, names, values []string) int {
	for i, n := range names {
		if n != name || i >= len(values) {
			continue
		}
		var m rolloutMarker
		if json.Unmarshal([]byte(values[i]), &m) != nil || m.ReleaseID != id {
			return 0
		}
		if n, err := strconv.Atoi(m.Attempt); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// nextAttempt is the attempt the rollout of a release runs as: 1 for a
// release never tried, the same attempt for one the host reported healthy
// (nothing to run again), the next one after a failure (a retry), and the
// next one after an attempt that began (started, from the marker) and left
// no receipt: its association failed before the host could report.
func nextAttempt(rc receipt, started int) string {
	n, err := strconv.Atoi(rc.Attempt)
	if err != nil || n < 1 {
		n = 0
	}
	switch {
	case started > n:
		return strconv.Itoa(started + 1)
	case n == 0:
		return "1"
	case rc.Status == "healthy":
		return strconv.Itoa(n)
	}
	return strconv.Itoa(n + 1)
}

// checkReceipt is `pulumi up`'s verdict: healthy only when the host says
// this attempt at this release is. urn is the association's, for the
// command that re-runs it.
func checkReceipt(id, attempt string, rc receipt, found bool, urn string) (string, error) {
	retry := fmt.Sprintf("A plain `pulumi up` retries it (the next attempt), as does `pulumi up --replace '%s'`.", urn)
	if !found {
		return "", fmt.Errorf("release %s: the host wrote no receipt for attempt %s; the rollout did not run to its end "+
			"(see the association's output in the SSM console: the host never finished its bootstrap, or the receipt could not be written). %s",
			id, attempt, retry)
	}
	if rc.Attempt != attempt {
		return "", fmt.Errorf("release %s: the host's receipt is of attempt %q, not of this rollout's attempt %s. %s", id, rc.Attempt, attempt, retry)
	}
	if rc.Status == "healthy" {
		return "healthy", nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "release %s failed on the host (attempt %s): %s", id, attempt, rc.Reason)
	if rc.Service != "" {
		fmt.Fprintf(&b, "\nservice %s failed; its last log lines:", rc.Service)
	} else if len(rc.Logs) > 0 {
		// No service failed (a failed migration): the release's own output.
		b.WriteString("\nthe release's last output lines on the host:")
	}
	for _, l := range rc.Logs {
		b.WriteString("\n  " + l)
	}
	b.WriteString("\nThe host runs its previous release (if it had one). Fix the release, or run `pulumi up` again to retry it as the next attempt.")
	return "", fmt.Errorf("%s", b.String())
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
//
// In host + rds mode the db file stays (no service reads it there): the
// parameter keeps its URN, and a container release that a host rolls back
// to reads its own copy.
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

// renderBundle renders the bundle's files for resolved inputs.
func renderBundle(args ReleaseArgs, profiles []string, in releaseInputs) (map[string]string, error) {
	vars := map[string]string{
		"DB_DATA_DIR": DataDir + "/postgres", // created by slipway-mount-data for uid 999
		"AWS_REGION":  args.Region,
		// A stopping worker finishes the job in hand: its grace period
		// follows the processing budget, with room to delete the message.
		"WORKER_STOP_GRACE_PERIOD": strconv.Itoa(args.WorkerTimeoutSeconds+workerStopMargin) + "s",
		// The maintenance flag's directory (slipway-release maintenance).
		"MAINTENANCE_DIR": maintenanceDir,
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
	// Each service's own settings (Deliver 4 of issue 13): compose hashes
	// a service's env files into its configuration, so a setting only one
	// service reads must live only in that service's file, or changing it
	// recreates the others too. Keys several services read are repeated.
	database := map[string]string{
		"DATABASE_HOST": "db",
		"DATABASE_PORT": "5432",
		"DATABASE_NAME": args.Database.Name,
		"DATABASE_USER": args.Database.User,
	}
	if in.rds != nil {
		if in.dbEnv != nil {
			return nil, fmt.Errorf("release: archiver settings for a db service, but the database is RDS (no db service runs)")
		}
		database["DATABASE_HOST"] = in.rds.address
		database["DATABASE_PORT"] = in.rds.port
		// rds.force_ssl refuses plain connections; node-postgres reads
		// PGSSLMODE (the migration, the API, the worker and db-setup alike).
		// no-verify, as the ECS tasks (cluster.go): encrypted, but RDS's
		// certificate is not checked, because the image carries no RDS CA
		// bundle (app/api has none, and nothing sets NODE_EXTRA_CA_CERTS);
		// verify-full needs that bundle in the image first (docs/scaling.md).
		database["PGSSLMODE"] = rdsSSLMode
	}
	api := map[string]string{
		"PORT":       "3000",
		"AWS_REGION": args.Region,
		"LOG_LEVEL":  "info",
	}
	maps.Copy(api, database)
	if in.queueURL != "" {
		api["QUEUE_URL"] = in.queueURL
	}
	composeEnv := map[string]string{}
	if args.Datadog.Enabled() {
		vars["DD_TRACE_ENABLED"] = "true"
		vars["DD_SITE"] = args.Datadog.Site
		api["DD_TRACE_ENABLED"] = "true"
		api["DD_AGENT_HOST"] = "datadog-agent"
		api["DD_SITE"] = args.Datadog.Site
		api["DD_ENV"] = args.Stack
		api["DD_SERVICE"] = "slipway-api"
		composeEnv["COMPOSE_PROFILES"] = strings.Join(profiles, ",")
	} else {
		vars["DD_TRACE_ENABLED"] = "false"
	}
	// The worker: the API's settings and its processing budget, which only
	// it reads.
	worker := maps.Clone(api)
	worker["WORKER_JOB_TIMEOUT_SECONDS"] = strconv.Itoa(args.WorkerTimeoutSeconds)
	// The database: its name and the application's role (app/db/initdb.d),
	// and the archiver's options with backups.
	db := map[string]string{
		"POSTGRES_DB":   args.Database.Name,
		"DATABASE_NAME": args.Database.Name,
		"DATABASE_USER": args.Database.User,
	}
	maps.Copy(db, in.dbEnv)
	// nginx: which header CloudFront sends. Its upstreams are the two API
	// slots' fixed addresses (the image's defaults; app/compose.yaml).
	proxy := map[string]string{
		"ORIGIN_HEADER_NAME": originHeaderName,
	}
	// With backups the db service may reach IMDS (pgBackRest's archive-push
	// signs its S3 requests with the instance role); otherwise it may not.
	labels := map[string]map[string]string{}
	if in.dbEnv != nil {
		labels["db"] = map[string]string{imdsLabel: "allow"}
	}
	compose, err := renderCompose(args.Compose, vars, profiles, jsonFile, in.pins, labels, in.rds != nil)
	if err != nil {
		return nil, err
	}
	files := map[string]string{bundleProxyTemplate: string(args.ProxyTemplate)}
	envFiles := map[string]map[string]string{
		bundleDBEnv: db, bundleAPIEnv: api, bundleWorkerEnv: worker, bundleProxyEnv: proxy,
	}
	scripts := releaseScripts
	if in.rds != nil {
		// No db service reads db.env; db-setup reads database.json.
		delete(envFiles, bundleDBEnv)
		if files[bundleDatabase], err = databaseSettings(args, in.rds); err != nil {
			return nil, err
		}
		scripts = maps.Clone(releaseScripts)
		maps.Copy(scripts, rdsScripts)
	}
	for file, settings := range envFiles {
		if files[file], err = envFile("# Settings of stack "+args.Stack+" that the "+strings.TrimSuffix(file, ".env")+
			" service reads (its secrets are in secrets/).\n", settings); err != nil {
			return nil, err
		}
	}
	// A header, so the file says what it is even with no settings.
	if files[bundleComposeEnv], err = envFile("# Compose settings of stack "+args.Stack+" (installed as .env).\n", composeEnv); err != nil {
		return nil, err
	}
	files[bundleCompose] = compose
	// The host scripts that can change travel with the release: a change
	// to them is a new release id, never a new host (the bootstrap
	// installs only the stable loader, slipway-load.py).
	for path, name := range scripts {
		b, err := os.ReadFile(filepath.Join(args.ScriptsDir, name))
		if err != nil {
			return nil, fmt.Errorf("release: the host script %s travels with the release: %w", name, err)
		}
		files[path] = string(b)
	}
	size := 0
	for _, content := range files {
		size += len(content)
	}
	if size > bundleLimit {
		return nil, fmt.Errorf("release: the bundle is %d bytes, over Slipway's limit of %d", size, bundleLimit)
	}
	return files, nil
}

// rdsSSLMode is PGSSLMODE for connections to RDS (see renderBundle).
const rdsSSLMode = "no-verify"

// databaseSettings is database.json, what slipway-db-setup.py reads in
// host + rds mode: the RDS master secret to read (only that run reads it;
// the host role may read this one secret), the region, the address the
// release points at, and the host's old Postgres data directory, which
// must have been moved (slipway-move-to-rds.sh marks it) before a release
// that points elsewhere may serve.
func databaseSettings(args ReleaseArgs, rds *rdsTarget) (string, error) {
	if rds.address == "" || rds.masterSecretARN == "" {
		return "", fmt.Errorf("release: RDS has no address or master secret")
	}
	b, err := json.MarshalIndent(map[string]string{
		"address":          rds.address,
		"port":             rds.port,
		"masterSecretArn":  rds.masterSecretARN,
		"region":           args.Region,
		"containerDataDir": DataDir + "/postgres",
	}, "", "  ")
	return string(b) + "\n", err
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

// ReleaseBootstrap is what the host needs before its first release: the
// stable loader at the documents' fixed path, and its package (python3-boto3
// from Ubuntu's archive: Ubuntu 24.04 has no awscli package, and nothing is
// downloaded outside the signed archive). The release, fetch and metrics
// scripts are not here: they come with each release (releaseScripts), so a
// change to them never replaces the host. Static content only.
func ReleaseBootstrap() (Bootstrap, error) {
	files, err := bootFiles(hostFile{releaseScript, "slipway-load.py", "0755"})
	return Bootstrap{Packages: []string{"python3-boto3"}, Files: files}, err
}

// ReleaseStoreArgs shapes the bucket the release bundles live in.
type ReleaseStoreArgs struct {
	// ParameterPath is the stack's SSM path ("/slipway/<stack>/"): the
	// host writes its receipts below it.
	ParameterPath string
	Account       account
	// ForceDestroy lets a review stack be destroyed with its bundles in it.
	ForceDestroy bool
}

// ReleaseStore is where the release bundles live: one versioned, private
// S3 object per release. Created before the host, because the host's role
// is granted exactly this bucket's releases/ prefix.
//
// Why S3 rather than SSM parameters (issue 13, "no size cliffs"): a
// parameter holds 4 KB (8 KB in the advanced tier), the rendered compose
// file was within 200 bytes of the first, and with the host scripts in the
// bundle it is several times the second. An object holds 5 TB; the bucket
// costs cents (a few objects of ~40 KB, GETs at release time only), is
// private (public access blocked, ACLs off, TLS only, SSE-S3) and the
// object key is the release id, so a new release is a new object and
// nothing with a fixed name is ever replaced. The secrets stay SecureString
// parameters.
type ReleaseStore struct {
	pulumi.ResourceState

	BucketName pulumi.StringOutput
	BucketARN  pulumi.StringOutput
	// HostGrants let the host read the bundles and write its receipts.
	HostGrants []Grant

	bucket *s3.BucketV2
}

// bundlePrefix is where bundles live in the store: releases/<id>.json.
const bundlePrefix = "releases/"

// releaseNoncurrentDays is how long a replaced bundle's version is kept
// (the host keeps its own copies of recent releases for rollbacks).
const releaseNoncurrentDays = 30

// NewReleaseStore creates the stack's bundle bucket.
func NewReleaseStore(ctx *pulumi.Context, name string, args ReleaseStoreArgs, opts ...pulumi.ResourceOption) (*ReleaseStore, error) {
	st := &ReleaseStore{}
	if err := ctx.RegisterComponentResource("slipway:release:ReleaseStore", name, st, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(st)
	// Auto-named (two stacks in one account never collide). Bundles are
	// rebuilt by every `pulumi up`, so nothing here needs protecting.
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		ForceDestroy: pulumi.Bool(args.ForceDestroy),
	}, parent)
	if err != nil {
		return nil, err
	}
	st.bucket = bucket
	st.BucketName, st.BucketARN = bucket.Bucket, bucket.Arn
	// SSE-S3: the bundle holds no secret, and the host needs no KMS grant.
	pab, err := lockDown(ctx, name, bucket, parent)
	if err != nil {
		return nil, err
	}
	// Versioned: what was rolled out stays readable for a while after the
	// next release replaced its object.
	versioning, err := s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{&s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:     pulumi.String("remove-old-bundles"),
			Status: pulumi.String("Enabled"),
			Filter: &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			NoncurrentVersionExpiration: &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
				NoncurrentDays: pulumi.Int(releaseNoncurrentDays),
			},
			Expiration: &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{ExpiredObjectDeleteMarker: pulumi.Bool(true)},
		}},
	}, parent, pulumi.DependsOn([]pulumi.Resource{versioning})); err != nil {
		return nil, err
	}
	// Nothing talks to the bucket without TLS; the policy waits for the
	// public access block (S3 rejects concurrent access changes).
	if _, err := s3.NewBucketPolicy(ctx, name, &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: statements(ctx, parent, denyInsecureTransport([]string{"s3:*"},
			pulumi.StringArray{bucket.Arn, pulumi.Sprintf("%s/*", bucket.Arn)})),
	}, parent, pulumi.DependsOn([]pulumi.Resource{pab})); err != nil {
		return nil, err
	}
	st.HostGrants = []Grant{
		{
			Sid:       "ReadReleaseBundles",
			Actions:   []string{"s3:GetObject"},
			Resources: pulumi.StringArray{pulumi.Sprintf("%s/%s*", bucket.Arn, bundlePrefix)},
		},
		{
			// The receipts: the host's report on each rollout, which
			// `pulumi up` reads back (its read is the parameter-path read
			// the host already has); it keeps the newest 20 (slipway-fetch).
			Sid:     "WriteReleaseReceipts",
			Actions: []string{"ssm:PutParameter", "ssm:DeleteParameters"},
			Resources: pulumi.StringArray{args.Account.arn("ssm",
				"parameter"+args.ParameterPath+receiptsDir+"/*")},
		},
	}
	return st, ctx.RegisterResourceOutputs(st, pulumi.Map{"bucketName": st.BucketName})
}
