package foundation_test

import (
	"testing"

	"slipway/infra/foundation"
)

// The rights the database backups (infra's backup.go, issue 14) need from
// the foundation, and the limits around them, decided directly: the app
// program's backup resources are checked by the coverage test when they
// are part of it.
func TestBackupRights(t *testing.T) {
	single := singleLayout(t)
	vault := func(stack string) string {
		return "arn:aws:backup:" + region + ":" + acct + ":backup-vault:slipway-" + stack + "-backup-vault-1a2b3c4d"
	}
	plan := "arn:aws:backup:" + region + ":" + acct + ":backup-plan:0f1e2d3c"
	archive := func(stack, key string) string {
		return "arn:aws:s3:::slipway-" + stack + "-backup-archive-1a2b3c4d" + key
	}
	viaBackup := map[string][]string{"kms:ViaService": {"backup." + region + ".amazonaws.com"}}
	for _, c := range []struct {
		who  string
		req  request
		want bool
	}{
		{foundation.DevDeployRole, one("backup:CreateBackupVault", vault("dev"), nil), true},
		{foundation.DevDeployRole, one("backup:DeleteBackupVault", vault("dev"), nil), true},
		{foundation.DevDeployRole, one("backup:CreateBackupVault", vault("prod"), nil), false},
		{foundation.DevDeployRole, one("backup:UpdateBackupPlan", plan, tagged("dev")), true},
		{foundation.DevDeployRole, one("backup:UpdateBackupPlan", plan, tagged("prod")), false},
		{foundation.DevDeployRole, one("backup:CreateBackupPlan", "arn:aws:backup:"+region+":"+acct+":backup-plan:*",
			map[string][]string{"aws:RequestTag/stack": {"dev"}}), true},
		{foundation.DevDeployRole, one("kms:CreateGrant", "arn:aws:kms:"+region+":"+acct+":key/k", viaBackup), true},
		{foundation.DevDeployRole, one("kms:CreateGrant", "arn:aws:kms:"+region+":"+acct+":key/k", nil), false},
		{foundation.DevDeployRole, one("iam:PassRole", roleARN("slipway-dev-backup-service-1"),
			map[string][]string{"iam:PassedToService": {"backup.amazonaws.com"}}), true},
		{foundation.DevDeployRole, one("s3:BypassGovernanceRetention", archive("dev", "/pgbackrest/x"), nil), false},
		{foundation.DevDeployRole, one("s3:PutObject", archive("prod", "/pgbackrest/x"), nil), false},
		{foundation.ProdDeployRole, one("backup:UpdateBackupPlan", plan, tagged("prod")), true},
		{foundation.ProdDeployRole, one("backup:PutBackupVaultLockConfiguration", vault("prod"), nil), true},
		{foundation.ProdDeployRole, one("backup:DeleteRecoveryPoint", vault("prod"), nil), false},
		{foundation.ProdDeployRole, one("backup:DeleteBackupPlan", plan, tagged("prod")), false},
		{foundation.ProdDeployRole, one("backup:DeleteBackupVault", vault("prod"), nil), false},
		{foundation.ProdDeployRole, one("backup:PutBackupVaultAccessPolicy", vault("prod"), nil), false},
		{foundation.ProdDeployRole, one("s3:PutBucketObjectLockConfiguration", archive("prod", ""), nil), true},
		{foundation.ProdDeployRole, one("s3:DeleteBucket", archive("prod", ""), nil), false},
		{foundation.ProdDeployRole, one("s3:PutObjectRetention", archive("prod", "/pgbackrest/x"), nil), false},
		{foundation.ProdDeployRole, one("s3:DeleteObjectVersion", archive("prod", "/pgbackrest/x"), nil), false},
		{foundation.ProdDeployRole, one("ec2:CreateVolume", "arn:aws:ec2:"+region+"::snapshot/snap-1", tagged("prod")), true},
		{foundation.DevDeployRole, one("ec2:CreateVolume", "arn:aws:ec2:"+region+"::snapshot/snap-1", tagged("prod")), false},
		// The hosts' archive rights (boundary): their own archive, never a delete.
		{boundaryOf + "prod", one("s3:PutObject", archive("prod", "/pgbackrest/x"), nil), true},
		{boundaryOf + "prod", one("s3:ListBucketVersions", archive("prod", ""), nil), true},
		{boundaryOf + "prod", one("s3:DeleteObject", archive("prod", "/pgbackrest/x"), nil), false},
		// ... but for pgBackRest's latest key (a delete marker on the locked bucket).
		{boundaryOf + "prod", one("s3:DeleteObject", archive("prod", "/pgbackrest/backup/main/latest"), nil), true},
		{boundaryOf + "dev", one("s3:DeleteObject", archive("dev", "/pgbackrest/backup/main/latest"), nil), true},
		{boundaryOf + "prod", one("s3:DeleteObjectVersion", archive("prod", "/pgbackrest/backup/main/latest"), nil), false},
		{boundaryOf + "prod", one("s3:DeleteObject", archive("prod", "/pgbackrest/backup/main/backup.info"), nil), false},
		{boundaryOf + "prod", one("s3:DeleteObject", archive("prod", "/pgbackrest/backup/main/20261201-000000F/backup.manifest"), nil), false},
		{boundaryOf + "dev", one("s3:DeleteObject", archive("prod", "/pgbackrest/backup/main/latest"), nil), false},
		{boundaryOf + "review", one("s3:DeleteObject", archive("pr-7", "/pgbackrest/backup/main/latest"), nil), false},
		{boundaryOf + "dev", one("s3:GetObject", archive("prod", "/pgbackrest/x"), nil), false},
		{boundaryOf + "review", one("s3:PutObject", archive("pr-7", "/x"), nil), false},
		{boundaryOf + "prod", one("backup:CopyIntoBackupVault", vault("prod"), nil), true},
		{boundaryOf + "prod", one("backup:CopyIntoBackupVault", vault("dev"), nil), false},
	} {
		if ok, why := decide(t, docsFor(t, c.who, single, false), c.req); ok != c.want {
			t.Errorf("%s: %s = %v (%s), want %v", c.who, c.req.What, ok, why, c.want)
		}
	}
}
