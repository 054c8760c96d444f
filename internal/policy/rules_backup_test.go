package policy

import (
	"testing"

	"slipway/stacks"
)

const (
	archiveName = "slipway-prod-backup-0a1b2c3d"
	archiveARN  = "arn:aws:s3:::" + archiveName
	vaultName   = "slipway-prod-backup-4e5f6a7b"
	planID      = "0a1b2c3d-1111-2222-3333-444455556666"
	volumeARN   = "arn:aws:ec2:us-east-1:" + acct + ":volume/vol-0123"
)

// addBackups completes a good world with the backups its profile has, as
// infra/backup.go builds them: prod only (dev's are optional and off by
// default, review stacks have none).
func addBackups(w *world) {
	if w.profile != stacks.Prod {
		return
	}
	w.get(tVolume, "data").out = map[string]any{"arn": volumeARN}
	w.add(tBucketV2, "backup", archiveName, map[string]any{"objectLockEnabled": true, "forceDestroy": false},
		map[string]any{"bucket": archiveName, "arn": archiveARN}).protect = true
	w.add(tBucketPAB, "backup", archiveName, map[string]any{"bucket": archiveName, "blockPublicAcls": true,
		"blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true}, nil)
	w.add(tBucketSSE, "backup", archiveName, map[string]any{"bucket": archiveName, "rules": []any{
		map[string]any{"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": "AES256"}}}}, nil)
	w.add("aws:s3/bucketVersioningV2:BucketVersioningV2", "backup", archiveName, map[string]any{"bucket": archiveName,
		"versioningConfiguration": map[string]any{"status": "Enabled"}}, nil)
	w.add(tObjectLock, "backup", archiveName, map[string]any{"bucket": archiveName, "objectLockEnabled": "Enabled",
		"rule": map[string]any{"defaultRetention": map[string]any{"mode": "COMPLIANCE", "days": 35}}}, nil)
	w.add(tBucketPolicy, "backup", archiveName, map[string]any{"bucket": archiveName, "policy": doc(
		denyInsecure("s3:*", archiveARN+"/*"))}, nil)
	w.add(tVault, "backup", vaultName, map[string]any{"forceDestroy": false}, map[string]any{"name": vaultName,
		"arn": "arn:aws:backup:us-east-1:" + acct + ":backup-vault:" + vaultName}).protect = true
	w.add(tVaultLock, "backup", vaultName, map[string]any{"backupVaultName": vaultName, "changeableForDays": 3,
		"minRetentionDays": 35, "maxRetentionDays": 365}, nil)
	w.add(tBackupPlan, "backup", planID, map[string]any{"rules": []any{map[string]any{"ruleName": "daily",
		"targetVaultName": vaultName, "schedule": "cron(0 5 * * ? *)", "lifecycle": map[string]any{"deleteAfter": 35}}}}, nil)
	w.add(tRole, "backup-service", "slipway-prod-backup-service", map[string]any{"path": "/slipway/",
		"permissionsBoundary": "arn:aws:iam::" + acct + ":policy/slipway/slipway-prod-role-boundary", "assumeRolePolicy": doc(map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"})},
		map[string]any{"arn": "arn:aws:iam::" + acct + ":role/slipway/slipway-prod-backup-service"})
	w.add(tRoleAttachment, "backup-service", "slipway-prod-backup-service-att", map[string]any{"role": "slipway-prod-backup-service",
		"policyArn": "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"}, nil)
	w.add(tSelection, "backup", "sel-0123", map[string]any{"planId": planID, "resources": []any{volumeARN},
		"iamRoleArn": "arn:aws:iam::" + acct + ":role/slipway/slipway-prod-backup-service"}, nil)
	// The host's grant on the archive: write and read back, no delete.
	host := w.get(tRolePolicy, "host")
	host.set("role", "slipway-host")
	host.set("policy", doc(
		map[string]any{"Effect": "Allow", "Action": []any{"ssm:GetParameter"}, "Resource": "arn:aws:ssm:us-east-1:" + acct + ":parameter/slipway/prod/*"},
		map[string]any{"Sid": "WriteAndReadOwnArchive", "Effect": "Allow", "Action": []any{"s3:PutObject", "s3:GetObject",
			"s3:GetObjectVersion", "s3:AbortMultipartUpload", "s3:ListBucket", "s3:ListBucketVersions"},
			"Resource": []any{archiveARN, archiveARN + "/*"}},
		map[string]any{"Sid": "MarkOwnArchiveLatest", "Effect": "Allow", "Action": []any{"s3:DeleteObject"},
			"Resource": []any{archiveARN + "/" + ArchiveLatestKey}}))
}

func init() {
	violations["SLW-BAK-001"] = violation{prod, func(w *world) {
		w.get(tObjectLock, "backup").set("rule.defaultRetention.mode", "GOVERNANCE")
	}}
	violations["SLW-BAK-002"] = violation{prod, func(w *world) {
		w.get(tRolePolicy, "host").set("policy", doc(map[string]any{"Sid": "Cleanup", "Effect": "Allow",
			"Action": "s3:Delete*", "Resource": "*"}))
	}}
	violations["SLW-BAK-003"] = violation{prod, func(w *world) { w.drop(tVaultLock, "backup") }}
	violations["SLW-BAK-004"] = violation{review, func(w *world) {
		w.add(tVault, "backup", "slipway-pr-7-backup", map[string]any{"forceDestroy": true}, map[string]any{"name": "slipway-pr-7-backup"})
	}}
}

// The other ways each backup rule fails, and the shapes it accepts.
func TestBackupRulesCases(t *testing.T) {
	for _, tc := range []struct {
		name    string
		id      string
		profile stacks.Profile
		change  func(w *world)
		want    Status
	}{
		{"prod without an archive", "SLW-BAK-001", prod, func(w *world) {
			w.get(tBucketV2, "backup").set("objectLockEnabled", false)
		}, Fail},
		{"lock too short", "SLW-BAK-001", prod, func(w *world) {
			w.get(tObjectLock, "backup").set("rule.defaultRetention.days", 7)
		}, Fail},
		{"lock in years", "SLW-BAK-001", prod, func(w *world) {
			w.get(tObjectLock, "backup").set("rule.defaultRetention.days", nil)
			w.get(tObjectLock, "backup").set("rule.defaultRetention.years", 1)
		}, Pass},
		{"no lock configuration", "SLW-BAK-001", prod, func(w *world) { w.drop(tObjectLock, "backup") }, Fail},
		{"versioning suspended", "SLW-BAK-001", prod, func(w *world) {
			w.get("aws:s3/bucketVersioningV2:BucketVersioningV2", "backup").set("versioningConfiguration.status", "Suspended")
		}, Fail},
		{"host with s3:*", "SLW-BAK-002", prod, func(w *world) {
			w.get(tRolePolicy, "host").set("policy", doc(map[string]any{"Effect": "Allow", "Action": "s3:*", "Resource": archiveARN + "/*"}))
		}, Fail},
		{"host may change the lifecycle", "SLW-BAK-002", prod, func(w *world) {
			w.get(tRolePolicy, "host").set("policy", doc(map[string]any{"Effect": "Allow", "Action": "s3:PutLifecycleConfiguration", "Resource": "arn:aws:s3:::slipway-prod-*"}))
		}, Fail},
		{"host through NotAction", "SLW-BAK-002", prod, func(w *world) {
			w.get(tRolePolicy, "host").set("policy", doc(map[string]any{"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"}))
		}, Fail},
		{"host deletes only the latest key", "SLW-BAK-002", prod, func(w *world) {
			w.get(tRolePolicy, "host").set("policy", doc(map[string]any{"Effect": "Allow", "Action": "s3:DeleteObject",
				"Resource": archiveARN + "/pgbackrest/backup/main/latest"}))
		}, Pass},
		{"host may delete a backup set", "SLW-BAK-002", prod, func(w *world) {
			w.get(tRolePolicy, "host").set("policy", doc(map[string]any{"Effect": "Allow", "Action": "s3:DeleteObject",
				"Resource": archiveARN + "/pgbackrest/backup/main/*"}))
		}, Fail},
		{"host may delete latest through a wildcard", "SLW-BAK-002", prod, func(w *world) {
			w.get(tRolePolicy, "host").set("policy", doc(map[string]any{"Effect": "Allow", "Action": "s3:DeleteObject",
				"Resource": archiveARN + "/pgbackrest/backup/main/lat*"}))
		}, Fail},
		{"host may delete the latest key's versions", "SLW-BAK-002", prod, func(w *world) {
			w.get(tRolePolicy, "host").set("policy", doc(map[string]any{"Effect": "Allow", "Action": []any{"s3:DeleteObject", "s3:DeleteObjectVersion"},
				"Resource": archiveARN + "/pgbackrest/backup/main/latest"}))
		}, Fail},
		{"host may delete the info files", "SLW-BAK-002", prod, func(w *world) {
			w.get(tRolePolicy, "host").set("policy", doc(map[string]any{"Effect": "Allow", "Action": "s3:DeleteObject",
				"Resource": archiveARN + "/pgbackrest/backup/main/backup.info"}))
		}, Fail},
		{"host may delete only elsewhere", "SLW-BAK-002", prod, func(w *world) {
			w.get(tRolePolicy, "host").set("policy", doc(map[string]any{"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::some-other-bucket/*"}))
		}, Pass},
		{"a non-host role may manage the bucket", "SLW-BAK-002", prod, func(w *world) {
			w.add(tRolePolicy, "backup-service", "x", map[string]any{"role": "slipway-prod-backup-service",
				"policy": doc(map[string]any{"Effect": "Allow", "Action": "s3:*", "Resource": "*"})}, nil)
		}, Pass},
		{"no archive, nothing to check", "SLW-BAK-002", dev, func(w *world) {}, NotApplicable},
		{"selected by tag", "SLW-BAK-003", prod, func(w *world) {
			w.get(tSelection, "backup").set("resources", nil)
			w.get(tSelection, "backup").set("selectionTags", []any{map[string]any{"type": "STRINGEQUALS", "key": "slipway-backup", "value": "slipway-prod"}})
		}, Pass},
		{"not selected", "SLW-BAK-003", prod, func(w *world) {
			w.get(tSelection, "backup").set("resources", []any{"arn:aws:ec2:us-east-1:" + acct + ":volume/vol-other"})
		}, Fail},
		{"governance-mode vault lock", "SLW-BAK-003", prod, func(w *world) {
			w.get(tVaultLock, "backup").set("changeableForDays", nil)
		}, Fail},
		{"plan keeps less than the lock's minimum", "SLW-BAK-003", prod, func(w *world) {
			w.get(tBackupPlan, "backup").set("rules[0].lifecycle.deleteAfter", 7)
		}, Fail},
		{"plan into another vault", "SLW-BAK-003", prod, func(w *world) {
			w.get(tBackupPlan, "backup").set("rules[0].targetVaultName", "Default")
		}, Fail},
		{"review with an Object Lock bucket", "SLW-BAK-004", review, func(w *world) {
			w.get(tBucketV2, "site").set("objectLockEnabled", true)
		}, Fail},
		{"review with a backup plan", "SLW-BAK-004", review, func(w *world) {
			w.add(tBackupPlan, "backup", "p-1", map[string]any{"rules": []any{}}, nil)
		}, Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := ruleByID(tc.id)
			if !ok {
				t.Fatal("no such rule")
			}
			w := good(tc.profile)
			tc.change(w)
			if got := r.Evaluate(w.stackOf()); got.Status != tc.want {
				t.Errorf("status %s (%s), want %s: %v", got.Status, got.Reason, tc.want, got.Findings)
			}
		})
	}
}
