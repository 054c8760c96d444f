package stacks

import (
	"strings"
	"testing"
)

func TestBackupConfigFollowsTheProfile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack string
		src   Files
		want  []string
	}{
		{"prod without backups", "prod", with("slipway:backups", "false"), []string{"slipway:backups", `"false"`, "true in prod"}},
		{"prod backups unset", "prod", valid(), []string{"slipway:backups", "true in prod"}},
		{"review with backups", "pr-4", with("slipway:backups", "true"), []string{"slipway:backups", `"true"`, "review stack"}},
		{"retention below two full intervals", "dev", with("slipway:backupRetentionDays", "13"), []string{"slipway:backupRetentionDays", `"13"`, "14 to 365"}},
		{"retention too long", "dev", with("slipway:backupRetentionDays", "366"), []string{"slipway:backupRetentionDays", "14 to 365"}},
		{"archive timeout too short", "dev", with("slipway:archiveTimeoutSeconds", "5"), []string{"slipway:archiveTimeoutSeconds", `"5"`, "10 to 300"}},
		{"archive timeout too long", "dev", with("slipway:archiveTimeoutSeconds", "600"), []string{"slipway:archiveTimeoutSeconds", "10 to 300"}},
		{"snapshot id malformed", "dev", with("slipway:dataVolumeSnapshotId", "vol-0123456789abcdef0"), []string{"slipway:dataVolumeSnapshotId", "vol-0123456789abcdef0", "snap-"}},
		{"backups not a boolean", "dev", with("slipway:backups", "sometimes"), []string{"slipway:backups", "true or false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("slipway", tc.stack, tc.src)
			if err == nil {
				t.Fatalf("accepted; want an error mentioning %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBackupConfigDefaultsAndOverrides(t *testing.T) {
	cfg, err := Parse("slipway", "dev", valid())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backup != (BackupConfig{Enabled: false, RetentionDays: 14, ArchiveTimeoutSeconds: 60}) || cfg.Data.SnapshotID != "" {
		t.Errorf("dev defaults: %+v, snapshot %q", cfg.Backup, cfg.Data.SnapshotID)
	}
	cfg, err = Parse("slipway", "dev", with("slipway:backups", "true", "slipway:backupRetentionDays", "30",
		"slipway:archiveTimeoutSeconds", "30", "slipway:dataVolumeSnapshotId", "snap-0123456789abcdef0"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backup != (BackupConfig{Enabled: true, RetentionDays: 30, ArchiveTimeoutSeconds: 30}) || cfg.Data.SnapshotID != "snap-0123456789abcdef0" {
		t.Errorf("dev overrides: %+v, snapshot %q", cfg.Backup, cfg.Data.SnapshotID)
	}
	if MinBackupRetentionDays < 2*FullBackupIntervalDays {
		t.Errorf("minimum retention %d below two full-backup intervals of %d days", MinBackupRetentionDays, FullBackupIntervalDays)
	}
	// prod's file turns backups on with five weeks of retention.
	f, err := ReadFiles("..", "prod")
	if err != nil {
		t.Fatal(err)
	}
	f.SetSecret("slipway:dbPassword", "correct-horse-battery-staple")
	f.SetSecret("slipway:originSecret", "0123456789abcdef0123")
	cfg, err = Parse("slipway", "prod", f)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Backup.Enabled || cfg.Backup.RetentionDays != 35 || cfg.Backup.ArchiveTimeoutSeconds != 60 {
		t.Errorf("prod backups %+v", cfg.Backup)
	}
	// and the project file declares every key, so `pulumi config` documents them.
	for _, k := range []string{"backups", "backupRetentionDays", "archiveTimeoutSeconds", "dataVolumeSnapshotId"} {
		if _, ok := f.Values["slipway:"+k]; !ok {
			t.Errorf("Pulumi.yaml does not declare %s", k)
		}
	}
}
