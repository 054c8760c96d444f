package infra

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/backup"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// The archiver-health metrics the host publishes to MetricsNamespace with
// the dimension Stack=<stack> (slipway-metrics.py; publishing them is the
// host's part, the alarms here are the stack's).
const (
	// ArchiveFailuresMetric is the number of failed WAL archive attempts
	// since the previous sample: the increase of
	// pg_stat_archiver.failed_count between two samples (0 when it did
	// not grow, the new value after a stats reset or a restart).
	ArchiveFailuresMetric = "ArchiveFailures"
	// WalPendingSecondsMetric is the age in seconds of the OLDEST WAL
	// segment still waiting to be archived (the oldest
	// pg_wal/archive_status/*.ready file), 0 when none waits. It is not
	// the age of the last archived segment: that grows on any idle
	// database, where nothing is at risk.
	WalPendingSecondsMetric = "WalPendingSeconds"
	// walPendingAlarmSeconds: WAL waiting longer than five minutes is
	// five minutes of commits that exist only on the host.
	walPendingAlarmSeconds = 300
)

// The archive's layout in the bucket, shared with the archiver on the
// host (pgBackRest: repo1-path and stanza). The lifecycle rules below
// expire by these prefixes, so they must match what the host writes.
const (
	// ArchiveRepoPath is pgBackRest's repo1-path: the key prefix of the
	// whole repository.
	ArchiveRepoPath = "/pgbackrest"
	// ArchiveStanza is pgBackRest's stanza (one Postgres cluster).
	ArchiveStanza = "main"
)

// ArchiveLatestKey is the one key the host may delete: pgBackRest's
// "latest" entry under the stanza's backups. On a repository without
// symlinks (S3) every backup removes it (and writes no link back), so
// without s3:DeleteObject on it each backup fails at its very end.
const ArchiveLatestKey = "pgbackrest/backup/" + ArchiveStanza + "/latest"

// HostArchiveDeleteActions is the host's only delete on the archive, on
// ArchiveLatestKey alone. On this versioned Object Lock bucket a
// DeleteObject without a version id removes nothing and is never blocked
// by the lock: S3 only adds a delete marker as the key's current
// version, and every locked version stays until its retention ends (then
// the lifecycle removes it and the marker). Deleting a version
// (s3:DeleteObjectVersion, a delete with a version id) is what the lock
// refuses, and the host has no right to it.
var HostArchiveDeleteActions = []string{"s3:DeleteObject"}

const (
	// backupServiceRolePolicy is AWS's managed policy for AWS Backup's
	// backup jobs (EBS snapshots among them).
	backupServiceRolePolicy = "service-role/AWSBackupServiceRolePolicyForBackup"
	// vaultLockGraceDays is the prod vault lock's cooling-off time
	// (AWS's minimum, 3 days): until then an administrator can still
	// delete the lock; after it, nobody can, not even the account root.
	vaultLockGraceDays = 3
	// vaultMaxRetentionDays caps what any backup in the vault may keep
	// (the config's own upper bound), so no plan can grow the bill
	// without bound either.
	vaultMaxRetentionDays = 365
	// incompleteUploadDays cleans up multipart uploads the archiver
	// abandoned (a base backup that died mid-file).
	incompleteUploadDays = 2
)

// BackupsArgs shapes the stack's backups.
type BackupsArgs struct {
	Config  stacks.BackupConfig
	Profile stacks.Profile
	Stack   string
	// Volume is the data volume AWS Backup snapshots.
	Volume  *DataVolume
	Account account
	// PermissionsBoundary is the stack's role boundary (AWS Backup's role).
	PermissionsBoundary pulumi.StringInput
	// AlarmActions are notified when the archiver is unhealthy.
	AlarmActions []pulumi.StringInput
	// DatabaseOnRDS is host + rds mode: RDS's automated backups and
	// point-in-time recovery back the data (rds.go), and no Postgres
	// container archives once the host's release points at RDS. The
	// archive, the vault and the volume's daily backups stay (they hold
	// the data as it was before the move, prod's are locked and
	// protected); the archiver's alarms stay too, but a host that stopped
	// publishing archiver metrics (no db container) is no alarm there.
	DatabaseOnRDS bool
}

// Backups are the two independent copies of the database that live
// outside the host: the continuous archive (WAL plus base backups, written
// by the archiver on the host into a locked bucket) for point-in-time
// restore, and AWS Backup's daily snapshots of the data volume in a locked
// vault. Neither can be deleted by the host, and in prod neither by the
// deploy identity: Object Lock COMPLIANCE and a compliance-mode vault
// lock are enforced by S3 and AWS Backup themselves, not by IAM.
type Backups struct {
	pulumi.ResourceState

	BucketName pulumi.StringOutput
	BucketARN  pulumi.StringOutput
	VaultName  pulumi.StringOutput
	VaultARN   pulumi.StringOutput
	PlanID     pulumi.IDOutput
	// Region is the bucket's region (the archiver's S3 endpoint).
	Region string
	// ArchiveTimeoutSeconds is Postgres's archive_timeout.
	ArchiveTimeoutSeconds int
	// Grant lets the host write new archive objects and read them back;
	// it holds no delete, lifecycle, lock or bypass right.
	Grant Grant
	// LatestGrant is the host's one delete: s3:DeleteObject on
	// ArchiveLatestKey alone (a delete marker, see HostArchiveDeleteActions).
	LatestGrant Grant
}

// HostArchiveActions are the whole of the host's rights on the archive:
// write objects (multipart uploads included: S3 checks s3:PutObject for
// each part), read and list them, including older versions (pgBackRest's
// repo-target-time reads the repository as it was). AbortMultipartUpload
// discards only an unfinished upload, never a stored object.
var HostArchiveActions = []string{
	"s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:AbortMultipartUpload",
	"s3:ListBucket", "s3:ListBucketVersions",
}

// NewBackups creates the archive bucket, the backup vault with its lock,
// the daily plan for the data volume, AWS Backup's role and the archiver's
// alarms. Only stacks with backups enabled call it (never a review stack).
func NewBackups(ctx *pulumi.Context, name string, args BackupsArgs, opts ...pulumi.ResourceOption) (*Backups, error) {
	if args.Profile.Ephemeral() {
		return nil, fmt.Errorf("backups: review stack %s keeps no backups (nothing locked can be destroyed with it)", args.Stack)
	}
	b := &Backups{Region: args.Account.Region, ArchiveTimeoutSeconds: args.Config.ArchiveTimeoutSeconds}
	if err := ctx.RegisterComponentResource("slipway:backup:Backups", name, b, opts...); err != nil {
		return nil, err
	}
	if err := archiveBucket(ctx, name, args, b); err != nil {
		return nil, err
	}
	if err := volumeBackups(ctx, name, args, b); err != nil {
		return nil, err
	}
	if err := archiverAlarms(ctx, name, args, b); err != nil {
		return nil, err
	}
	b.Grant = Grant{
		Sid:       "WriteAndReadOwnArchive",
		Actions:   HostArchiveActions,
		Resources: pulumi.StringArray{b.BucketARN, pulumi.Sprintf("%s/*", b.BucketARN)},
	}
	// A statement of its own, on exactly one key (no wildcard), so no
	// widening of the grant above can carry a delete along.
	b.LatestGrant = Grant{
		Sid:       "MarkOwnArchiveLatest",
		Actions:   HostArchiveDeleteActions,
		Resources: pulumi.StringArray{pulumi.Sprintf("%s/%s", b.BucketARN, ArchiveLatestKey)},
	}
	return b, ctx.RegisterResourceOutputs(b, pulumi.Map{
		"bucketName": b.BucketName,
		"vaultName":  b.VaultName,
		"planId":     b.PlanID,
	})
}

// lockMode is the Object Lock retention mode: COMPLIANCE in prod (no one,
// root included, can delete or shorten a locked version), GOVERNANCE in
// dev (an administrator with s3:BypassGovernanceRetention can clean up).
func lockMode(p stacks.Profile) string {
	if p.ProtectsData() {
		return "COMPLIANCE"
	}
	return "GOVERNANCE"
}

// expiringPrefixes are the keys the lifecycle expires: pgBackRest's WAL
// (archive/<stanza>/<pg version>-<n>/, a Postgres major 10 to 29) and
// backups (backup/<stanza>/<yyyymmdd>-<hhmmss>F..., and the history of
// their manifests). The repository's info files (archive.info,
// backup.info and their .copy) sit beside those directories and never
// expire: archive.info is written once at stanza-create, and the archiver
// fails without it.
func expiringPrefixes() []string {
	root := ArchiveRepoPath[1:] + "/"
	return []string{
		root + "archive/" + ArchiveStanza + "/1",
		root + "archive/" + ArchiveStanza + "/2",
		root + "backup/" + ArchiveStanza + "/2",
		root + "backup/" + ArchiveStanza + "/backup.history/",
	}
}

// archiveBucket is the continuous archive: private, versioned, encrypted,
// TLS-only, every object version locked for the retention and expired by
// the bucket's lifecycle after it, so the host never deletes.
func archiveBucket(ctx *pulumi.Context, name string, args BackupsArgs, b *Backups) error {
	parent := pulumi.Parent(b)
	prod := args.Profile.ProtectsData()
	keep := []pulumi.ResourceOption{parent, pulumi.Protect(prod), pulumi.RetainOnDelete(prod)}
	// Object Lock is switched on when the bucket is created (the
	// provider replaces the bucket if objectLockEnabled changes, so it
	// never changes). No forceDestroy: locked versions cannot be
	// force-deleted anyway, and prod's bucket is protected and retained.
	bucket, err := s3.NewBucketV2(ctx, name, &s3.BucketV2Args{
		ObjectLockEnabled: pulumi.Bool(true),
		ForceDestroy:      pulumi.Bool(false),
	}, keep...)
	if err != nil {
		return err
	}
	b.BucketName, b.BucketARN = bucket.Bucket, bucket.Arn
	// SSE-S3 rather than a customer KMS key: a key is one more thing that
	// could destroy every locked backup at once (a scheduled key deletion
	// makes them unreadable, and Object Lock cannot stop that), a restore
	// onto a new host would need kms:Decrypt, and each WAL segment every
	// minute would be a KMS request. S3-managed keys have none of that.
	pab, err := lockDown(ctx, name, bucket, parent)
	if err != nil {
		return err
	}
	// Object Lock needs versioning (and an Object Lock bucket can never
	// suspend it): an overwrite or delete only adds a version or marker.
	versioning, err := s3.NewBucketVersioningV2(ctx, name, &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, parent)
	if err != nil {
		return err
	}
	afterVersioning := pulumi.DependsOn([]pulumi.Resource{versioning})
	// Every new object version is locked for the retention from the
	// moment it is written; the archiver sets nothing itself.
	if _, err := s3.NewBucketObjectLockConfigurationV2(ctx, name, &s3.BucketObjectLockConfigurationV2Args{
		Bucket:            bucket.ID(),
		ObjectLockEnabled: pulumi.String("Enabled"),
		Rule: &s3.BucketObjectLockConfigurationV2RuleArgs{
			DefaultRetention: &s3.BucketObjectLockConfigurationV2RuleDefaultRetentionArgs{
				Mode: pulumi.String(lockMode(args.Profile)),
				Days: pulumi.Int(args.Config.RetentionDays),
			},
		},
	}, append(keep, afterVersioning)...); err != nil {
		return err
	}
	// Expiry is the bucket's, never the host's (pgBackRest runs with
	// expire-auto=n and has no delete right). The rule the archiver
	// tolerates: every object lives RetentionDays >= 2 x the full-backup
	// interval (stacks.MinBackupRetentionDays), so the newest full backup,
	// the files its differentials reference and all WAL since are always
	// there. An object is marked deleted when it is RetentionDays old (its
	// lock has just run out) and its version removed a day later.
	var rules s3.BucketLifecycleConfigurationV2RuleArray
	for i, prefix := range expiringPrefixes() {
		rules = append(rules, &s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:         pulumi.Sprintf("expire-after-retention-%d", i),
			Status:     pulumi.String("Enabled"),
			Filter:     &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String(prefix)},
			Expiration: &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(args.Config.RetentionDays)},
		})
	}
	// Everywhere: a version that is no longer current (an expired object,
	// or an info file the archiver rewrote) goes a day later — S3 keeps
	// it while its lock lasts — and so do the delete markers left behind
	// and abandoned uploads.
	rules = append(rules, &s3.BucketLifecycleConfigurationV2RuleArgs{
		Id:     pulumi.String("remove-noncurrent-versions"),
		Status: pulumi.String("Enabled"),
		Filter: &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
		NoncurrentVersionExpiration: &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
			NoncurrentDays: pulumi.Int(1),
		},
		Expiration: &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{ExpiredObjectDeleteMarker: pulumi.Bool(true)},
		AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
			DaysAfterInitiation: pulumi.Int(incompleteUploadDays),
		},
	})
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name, &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules:  rules,
	}, parent, afterVersioning); err != nil {
		return err
	}
	// Nothing talks to the archive without TLS. S3 rejects concurrent
	// changes to a bucket's access settings, so the policy waits for the
	// public access block.
	_, err = s3.NewBucketPolicy(ctx, name, &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: statements(ctx, parent, denyInsecureTransport([]string{"s3:*"},
			pulumi.StringArray{bucket.Arn, pulumi.Sprintf("%s/*", bucket.Arn)})),
	}, parent, pulumi.DependsOn([]pulumi.Resource{pab}))
	return err
}

// volumeBackups puts the data volume in a daily AWS Backup plan whose vault
// is locked: the snapshots Security Hub's EC2.28 counts, and that neither
// the host nor (after the grace period, in prod) anyone can delete early.
func volumeBackups(ctx *pulumi.Context, name string, args BackupsArgs, b *Backups) error {
	parent := pulumi.Parent(b)
	prod := args.Profile.ProtectsData()
	keep := []pulumi.ResourceOption{parent, pulumi.Protect(prod), pulumi.RetainOnDelete(prod)}
	// Encrypted with AWS Backup's default key; EBS snapshots keep the
	// volume's own encryption. A vault holding recovery points cannot be
	// deleted, and forceDestroy stays off in every profile that has one.
	vault, err := backup.NewVault(ctx, name, &backup.VaultArgs{ForceDestroy: pulumi.Bool(false)}, keep...)
	if err != nil {
		return err
	}
	b.VaultName, b.VaultARN = vault.Name, vault.Arn
	// The lock: no recovery point is deleted, or has its retention cut,
	// before RetentionDays. In prod it is compliance mode (changeableForDays
	// set): after the grace period the lock itself is immutable, for the
	// deploy identity, an administrator and the account root alike. In dev
	// it is governance mode, which an administrator may remove.
	var grace pulumi.IntPtrInput
	if prod {
		grace = pulumi.Int(vaultLockGraceDays)
	}
	if _, err := backup.NewVaultLockConfiguration(ctx, name, &backup.VaultLockConfigurationArgs{
		BackupVaultName:   vault.Name,
		MinRetentionDays:  pulumi.Int(args.Config.RetentionDays),
		MaxRetentionDays:  pulumi.Int(vaultMaxRetentionDays),
		ChangeableForDays: grace,
	}, keep...); err != nil {
		return err
	}
	// AWS Backup's own role, inside the stack's boundary like every role
	// the deploy identity creates.
	role, err := iam.NewRole(ctx, name+"-service", &iam.RoleArgs{
		Path:             pulumi.String(iamPath),
		Description:      pulumi.String("AWS Backup jobs of Slipway " + args.Stack),
		AssumeRolePolicy: assumeRolePolicy(ctx, parent, "backup.amazonaws.com", nil),
		// The deploy identity may change this role only within it.
		PermissionsBoundary: args.PermissionsBoundary,
	}, parent)
	if err != nil {
		return err
	}
	attached, err := iam.NewRolePolicyAttachment(ctx, name+"-service", &iam.RolePolicyAttachmentArgs{
		Role:      role.Name,
		PolicyArn: args.Account.managedPolicy(backupServiceRolePolicy),
	}, parent)
	if err != nil {
		return err
	}
	// Daily at 05:00 UTC (after DLM's 03:00 snapshot), kept RetentionDays,
	// which the vault lock's minimum requires.
	plan, err := backup.NewPlan(ctx, name, &backup.PlanArgs{
		Rules: backup.PlanRuleArray{&backup.PlanRuleArgs{
			RuleName:         pulumi.String("daily"),
			TargetVaultName:  vault.Name,
			Schedule:         pulumi.String("cron(0 5 * * ? *)"),
			StartWindow:      pulumi.Int(60),
			CompletionWindow: pulumi.Int(240),
			Lifecycle:        &backup.PlanRuleLifecycleArgs{DeleteAfter: pulumi.Int(args.Config.RetentionDays)},
		}},
	}, parent)
	if err != nil {
		return err
	}
	b.PlanID = plan.ID()
	// The data volume, by ARN: a tag selection would follow any volume a
	// tag is copied to (a restored copy included).
	volumeARN := pulumi.Sprintf("arn:%s:ec2:%s:%s:volume/%s", args.Account.Partition, args.Account.Region, args.Account.ID, args.Volume.VolumeID)
	_, err = backup.NewSelection(ctx, name, &backup.SelectionArgs{
		PlanId:     plan.ID(),
		IamRoleArn: role.Arn,
		Resources:  pulumi.StringArray{volumeARN},
	}, parent, pulumi.DependsOn([]pulumi.Resource{attached}))
	return err
}

// archiverAlarms page when the archive falls behind: any failed archive
// attempt, or WAL waiting longer than five minutes. In prod a host that
// stops publishing is an alarm too (missing data is breaching).
func archiverAlarms(ctx *pulumi.Context, name string, args BackupsArgs, b *Backups) error {
	missing := "notBreaching"
	if args.Profile.ProtectsData() && !args.DatabaseOnRDS {
		missing = "breaching"
	}
	actions := pulumi.Array{}
	for _, a := range args.AlarmActions {
		actions = append(actions, a)
	}
	for _, a := range []struct {
		suffix, metric, statistic, what string
		period, threshold               int
	}{
		{"archive-failures", ArchiveFailuresMetric, "Sum", "WAL archiving failed: recent commits exist only on the host", 300, 0},
		{"wal-pending", WalPendingSecondsMetric, "Maximum", "WAL has waited more than five minutes to be archived", 60, walPendingAlarmSeconds},
	} {
		if _, err := cloudwatch.NewMetricAlarm(ctx, name+"-"+a.suffix, &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   pulumi.String(a.what + " (" + args.Stack + ")"),
			Namespace:          pulumi.String(MetricsNamespace),
			MetricName:         pulumi.String(a.metric),
			Dimensions:         pulumi.StringMap{"Stack": pulumi.String(args.Stack)},
			Statistic:          pulumi.String(a.statistic),
			Period:             pulumi.Int(a.period),
			EvaluationPeriods:  pulumi.Int(1),
			Threshold:          pulumi.Float64(float64(a.threshold)),
			ComparisonOperator: pulumi.String("GreaterThanThreshold"),
			TreatMissingData:   pulumi.String(missing),
			ActionsEnabled:     pulumi.Bool(true),
			AlarmActions:       actions,
			OkActions:          actions,
		}, pulumi.Parent(b)); err != nil {
			return err
		}
	}
	return nil
}

// DBEnvironment is what the release puts into the db container's
// environment (db.env) for the archiver: exactly the SLIPWAY_BACKUP_*
// settings the db image's renderer (app/db/slipway-pgbackrest-render.sh)
// turns into pgbackrest.conf, and SLIPWAY_ARCHIVE_TIMEOUT, which its
// entrypoint (app/db/slipway-db-entrypoint.sh) passes to Postgres as
// archive_timeout. The rest (repo1-type=s3, expire-auto=n: the bucket
// expires backups, the archiver never does) is fixed in the image's
// template. Path and stanza are given although the image has defaults:
// the lifecycle rules above expire by ArchiveRepoPath and ArchiveStanza,
// so the host must write exactly there. The bucket name is known only
// after the bucket exists, so the values are outputs.
// TestDBEnvironmentIsWhatTheImageReads runs the image's scripts with it.
func (b *Backups) DBEnvironment() map[string]pulumi.StringInput {
	return map[string]pulumi.StringInput{
		"SLIPWAY_BACKUP_BUCKET":   b.BucketName,
		"SLIPWAY_BACKUP_REGION":   pulumi.String(b.Region),
		"SLIPWAY_BACKUP_ENDPOINT": pulumi.String("s3." + b.Region + ".amazonaws.com"),
		// auto: the instance role's credentials from IMDS (the release
		// labels the db slipway.imds=allow when backups are on).
		"SLIPWAY_BACKUP_KEY_TYPE": pulumi.String("auto"),
		"SLIPWAY_BACKUP_PATH":     pulumi.String(ArchiveRepoPath),
		"SLIPWAY_BACKUP_STANZA":   pulumi.String(ArchiveStanza),
		"SLIPWAY_ARCHIVE_TIMEOUT": pulumi.String(fmt.Sprint(b.ArchiveTimeoutSeconds)),
	}
}
