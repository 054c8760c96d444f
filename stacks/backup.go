package stacks

import (
	"regexp"
	"strconv"
)

// FullBackupIntervalDays is how often the archiver (pgBackRest on the
// host) takes a full base backup; differential or incremental backups and
// the WAL archive fill the days between. The bucket's lifecycle, not the
// host, expires backups (infra/backup.go), and pgBackRest tolerates that
// only while every object lives at least two full intervals: then the
// newest full backup, every file it references and all WAL written since
// are always present (a full is at most one interval old, and the one
// before it is still complete while the next is being written).
const FullBackupIntervalDays = 7

// MinBackupRetentionDays is that rule: retention >= 2 x the full interval.
const MinBackupRetentionDays = 2 * FullBackupIntervalDays

// BackupConfig shapes the continuous archive of Postgres (WAL plus base
// backups in a locked S3 bucket) and the AWS Backup plan of the data
// volume.
type BackupConfig struct {
	// Enabled is always true in prod, optional in dev, never in review
	// stacks (Object Lock would make them impossible to destroy).
	Enabled bool
	// RetentionDays every archived object and every AWS Backup recovery
	// point is kept: Object Lock's default retention, the lifecycle's
	// expiry, the backup plan's deleteAfter and the vault lock's minimum.
	RetentionDays int
	// ArchiveTimeoutSeconds is Postgres's archive_timeout: a WAL segment
	// is switched and archived at least this often, so it bounds the
	// data lost with the host (the release passes it to the db container).
	ArchiveTimeoutSeconds int
}

func parseBackup(r *reader) BackupConfig {
	return BackupConfig{
		Enabled:               r.boolean(key("backups"), false),
		RetentionDays:         r.integer(key("backupRetentionDays"), MinBackupRetentionDays, between(MinBackupRetentionDays, 365)),
		ArchiveTimeoutSeconds: r.integer(key("archiveTimeoutSeconds"), 60, between(10, 300)),
	}
}

// checkBackup holds backups to the profile: prod always archives, review
// stacks never do.
func (c *Config) checkBackup(r *reader) {
	switch {
	case c.Profile == Prod && !c.Backup.Enabled && !c.Platform.OnECS():
		r.fail(key("backups"), strconv.FormatBool(c.Backup.Enabled), "true in prod: prod's data is always archived and backed up")
	case c.Profile == Review && c.Backup.Enabled:
		r.fail(key("backups"), "true", "false in a review stack: a locked backup bucket or vault could not be destroyed with the stack")
	}
}

var snapshotPattern = regexp.MustCompile(`^snap-([0-9a-f]{8}|[0-9a-f]{17})$`)

func snapshotID(v string) string {
	if snapshotPattern.MatchString(v) {
		return ""
	}
	return "an EBS snapshot id such as snap-0123456789abcdef0 (read only when the data volume is created)"
}
