package infra_test

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"slipway/infra"
	"slipway/infra/foundation"
	"slipway/internal/mockcloud"
	"slipway/internal/policy"
	"slipway/stacks"
)

const (
	tArchiveBucket = "aws:s3/bucketV2:BucketV2"
	tObjectLock    = "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2"
	tVault         = "aws:backup/vault:Vault"
	tVaultLock     = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
	tBackupPlan    = "aws:backup/plan:Plan"
	tSelection     = "aws:backup/selection:Selection"
)

// backupTypes are every resource type the backups bring; a stack without
// backups has none of them (beyond the site's bucket).
var backupTypes = []string{tObjectLock, tVault, tVaultLock, tBackupPlan, tSelection}

func withBackups(retention string) func(*stacks.Files) {
	return func(f *stacks.Files) {
		f.Values["slipway:backups"] = "true"
		if retention != "" {
			f.Values["slipway:backupRetentionDays"] = retention
		}
	}
}

// backupCase is a stack with backups and what its config says.
type backupCase struct {
	stack     string
	res       *mockcloud.Result
	retention float64
	mode      string
}

func backupCases(t *testing.T) []backupCase {
	return []backupCase{
		{"prod", deploy(t, "prod"), 35, "COMPLIANCE"},
		{"dev", deploy(t, "dev", withBackups("20")), 20, "GOVERNANCE"},
	}
}

// byRef returns the resources of typ whose input key names the resource.
func byRef(res *mockcloud.Result, typ, key string, target mockcloud.Resource) []mockcloud.Resource {
	var out []mockcloud.Resource
	for _, r := range res.ByType(typ) {
		if v := r.Str(key); v != "" && (v == target.ID || v == target.Out("bucket") || v == target.Out("name")) {
			out = append(out, r)
		}
	}
	return out
}

// archiveBucket is the stack's bucket with Object Lock (the other bucket
// is the site's).
func archiveBucket(t *testing.T, res *mockcloud.Result) mockcloud.Resource {
	t.Helper()
	var found []mockcloud.Resource
	for _, b := range res.ByType(tArchiveBucket) {
		if b.In("objectLockEnabled") == true {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d buckets with Object Lock, want 1", res.Stack, len(found))
	}
	return found[0]
}

// Prod always has backups, dev only with slipway:backups, review stacks
// never: not a bucket with Object Lock, not a vault, plan or lock.
func TestBackupsFollowTheProfile(t *testing.T) {
	for _, tc := range []struct {
		stack string
		edits []func(*stacks.Files)
		want  bool
	}{
		{"prod", nil, true},
		{"dev", nil, false},
		{"dev", []func(*stacks.Files){withBackups("")}, true},
		{"pr-7", nil, false},
	} {
		res := deploy(t, tc.stack, tc.edits...)
		for _, typ := range backupTypes {
			if n := len(res.ByType(typ)); (n == 1) != tc.want || n > 1 {
				t.Errorf("%s (backups %v): %d %s", tc.stack, tc.want, n, typ)
			}
		}
		locked := 0
		for _, b := range res.ByType(tArchiveBucket) {
			if b.In("objectLockEnabled") == true {
				locked++
			}
		}
		if (locked == 1) != tc.want {
			t.Errorf("%s (backups %v): %d locked buckets", tc.stack, tc.want, locked)
		}
		if _, ok := res.Outputs["backupBucketName"]; ok != tc.want {
			t.Errorf("%s: backupBucketName output present=%v", tc.stack, ok)
		}
		if _, ok := res.Outputs["backupVaultName"]; ok != tc.want {
			t.Errorf("%s: backupVaultName output present=%v", tc.stack, ok)
		}
		for _, r := range res.Resources {
			if r.Type == "slipway:backup:Backups" && !tc.want {
				t.Errorf("%s: a Backups component without backups", tc.stack)
			}
			if slices.Contains(backupTypes, r.Type) && !strings.HasSuffix(r.Parent, "slipway:backup:Backups::backup") {
				t.Errorf("%s: %s %s is not a child of the Backups component (parent %s)", tc.stack, r.Type, r.Name, r.Parent)
			}
		}
		// And the whole baseline holds on it.
		if tc.want {
			st := policy.Stack{Name: tc.stack, Resources: res.Resources, Outputs: res.Outputs}
			st.Profile, _ = stacks.ProfileOf(tc.stack)
			for _, r := range policy.Evaluate(st) {
				if r.Status == policy.Fail {
					t.Errorf("%s with backups: %s fails: %v", tc.stack, r.ID, r.Findings)
				}
				if strings.HasPrefix(r.ID, "SLW-BAK-00") && r.ID != "SLW-BAK-004" && tc.stack == "prod" && r.Status != policy.Pass {
					t.Errorf("prod: %s is %s", r.ID, r.Status)
				}
			}
		}
	}
	// A review stack cannot ask for them.
	files := stackFiles(t, "pr-7")
	withBackups("")(&files)
	if _, err := mockcloud.Run(programBuild, "slipway", "pr-7", files, false); err == nil || !strings.Contains(err.Error(), "slipway:backups") {
		t.Errorf("pr-7 with backups: %v", err)
	}
}

func TestBackupBucketIsPrivateVersionedEncryptedAndLocked(t *testing.T) {
	for _, c := range backupCases(t) {
		res, prod := c.res, c.stack == "prod"
		b := archiveBucket(t, res)
		if b.In("forceDestroy") == true || b.Protect != prod || b.RetainOnDelete != prod {
			t.Errorf("%s: bucket forceDestroy=%v protect=%v retain=%v", c.stack, b.In("forceDestroy"), b.Protect, b.RetainOnDelete)
		}
		if !strings.HasSuffix(b.Parent, "slipway:backup:Backups::backup") {
			t.Errorf("%s: bucket parent %s", c.stack, b.Parent)
		}
		own := byRef(res, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "bucket", b)
		if len(own) != 1 || own[0].Str("rule.objectOwnership") != "BucketOwnerEnforced" {
			t.Errorf("%s: ownership controls %v", c.stack, own)
		}
		pab := byRef(res, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "bucket", b)
		if len(pab) != 1 {
			t.Fatalf("%s: %d public access blocks", c.stack, len(pab))
		}
		for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
			if pab[0].In(k) != true {
				t.Errorf("%s: %s = %v", c.stack, k, pab[0].In(k))
			}
		}
		sse := byRef(res, "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "bucket", b)
		if len(sse) != 1 || sse[0].Str("rules[0].applyServerSideEncryptionByDefault.sseAlgorithm") != "AES256" {
			t.Errorf("%s: encryption %v", c.stack, sse)
		}
		ver := byRef(res, "aws:s3/bucketVersioningV2:BucketVersioningV2", "bucket", b)
		if len(ver) != 1 || ver[0].Str("versioningConfiguration.status") != "Enabled" {
			t.Fatalf("%s: versioning %v", c.stack, ver)
		}
		lock := byRef(res, tObjectLock, "bucket", b)
		if len(lock) != 1 {
			t.Fatalf("%s: %d object lock configurations", c.stack, len(lock))
		}
		if lock[0].Str("rule.defaultRetention.mode") != c.mode || lock[0].In("rule.defaultRetention.days") != c.retention ||
			lock[0].In("rule.defaultRetention.years") != nil || lock[0].Protect != prod {
			t.Errorf("%s: object lock %v (protect %v)", c.stack, lock[0].Inputs, lock[0].Protect)
		}
		if !slices.Contains(lock[0].Dependencies, ver[0].URN) {
			t.Errorf("%s: object lock does not wait for versioning", c.stack)
		}
		// Only TLS.
		pol := byRef(res, "aws:s3/bucketPolicy:BucketPolicy", "bucket", b)
		if len(pol) != 1 {
			t.Fatalf("%s: %d bucket policies", c.stack, len(pol))
		}
		doc := parsePolicy(t, pol[0].Str("policy"))
		arn := b.Out("arn").(string)
		if len(doc.Statement) != 1 {
			t.Fatalf("%s: bucket policy %v", c.stack, doc)
		}
		st := doc.Statement[0]
		if st.Effect != "Deny" || st.Principal != "*" && !slices.Contains(strs(st.Principal.(map[string]any)["AWS"]), "*") ||
			!slices.Equal(strs(st.Action), []string{"s3:*"}) || !slices.Equal(strs(st.Resource), []string{arn, arn + "/*"}) ||
			st.Condition["Bool"]["aws:SecureTransport"] != "false" {
			t.Errorf("%s: TLS statement %+v", c.stack, st)
		}
	}
}

// The lifecycle expires what the archiver wrote once its lock has run out,
// never the repository's info files, and cleans up versions, markers and
// abandoned uploads.
func TestBackupLifecycleExpiresAfterRetentionOnly(t *testing.T) {
	for _, c := range backupCases(t) {
		b := archiveBucket(t, c.res)
		lc := byRef(c.res, "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "bucket", b)
		if len(lc) != 1 {
			t.Fatalf("%s: %d lifecycle configurations", c.stack, len(lc))
		}
		rules := mockcloud.List(lc[0].In("rules"))
		// expires reports after how many days a rule of the lifecycle
		// marks key deleted (0: never).
		expires := func(key string) float64 {
			days := 0.0
			for _, x := range rules {
				r := x.(map[string]any)
				prefix := mockcloud.Str(r["filter"].(map[string]any)["prefix"])
				exp, _ := r["expiration"].(map[string]any)
				if d, ok := mockcloud.Num(exp["days"]); ok && r["status"] == "Enabled" && strings.HasPrefix(key, prefix) {
					days = d
				}
			}
			return days
		}
		for key, want := range map[string]float64{
			"pgbackrest/archive/main/16-1/0000000100000000/000000010000000000000001-abc.zst": c.retention,
			"pgbackrest/archive/main/16-1/00000002.history":                                  c.retention,
			"pgbackrest/backup/main/20260101-030000F/pg_data/base/1/1259.zst":                c.retention,
			"pgbackrest/backup/main/20260101-030000F_20260102-030000D/backup.manifest":       c.retention,
			"pgbackrest/backup/main/backup.history/2026/20260101-030000F.manifest.gz":        c.retention,
			"pgbackrest/archive/main/archive.info":                                           0,
			"pgbackrest/archive/main/archive.info.copy":                                      0,
			"pgbackrest/backup/main/backup.info":                                             0,
			"pgbackrest/backup/main/backup.info.copy":                                        0,
		} {
			if got := expires(key); got != want {
				t.Errorf("%s: %s expires after %v days, want %v", c.stack, key, got, want)
			}
		}
		var housekeeping map[string]any
		for _, x := range rules {
			if r := x.(map[string]any); mockcloud.Str(r["filter"].(map[string]any)["prefix"]) == "" {
				housekeeping = r
			}
		}
		if housekeeping == nil || housekeeping["status"] != "Enabled" ||
			housekeeping["noncurrentVersionExpiration"].(map[string]any)["noncurrentDays"] != 1.0 ||
			housekeeping["expiration"].(map[string]any)["expiredObjectDeleteMarker"] != true ||
			housekeeping["expiration"].(map[string]any)["days"] != nil ||
			housekeeping["abortIncompleteMultipartUpload"].(map[string]any)["daysAfterInitiation"] != 2.0 {
			t.Errorf("%s: housekeeping rule %v", c.stack, housekeeping)
		}
		// The rule the archiver needs: nothing expires before two full
		// backup intervals.
		if c.retention < 2*stacks.FullBackupIntervalDays {
			t.Errorf("%s: retention %v below 2 x %d", c.stack, c.retention, stacks.FullBackupIntervalDays)
		}
	}
}

// forbiddenForTheHost are calls that would let the host (or anyone holding
// its credentials) destroy or shorten the archive.
var forbiddenForTheHost = []string{
	"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket", "s3:PutLifecycleConfiguration",
	"s3:PutBucketObjectLockConfiguration", "s3:BypassGovernanceRetention", "s3:PutObjectRetention",
	"s3:PutObjectLegalHold", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketVersioning",
}

func TestBackupHostWritesAndReadsTheArchiveButNeverDeletes(t *testing.T) {
	for _, c := range append(backupCases(t), backupCase{stack: "dev (no backups)", res: deploy(t, "dev")},
		backupCase{stack: "pr-7", res: deploy(t, "pr-7")}) {
		policies := c.res.ByType("aws:iam/rolePolicy:RolePolicy")
		var host mockcloud.Resource
		for _, p := range policies {
			if p.Name == "host" {
				host = p
			}
		}
		if host.URN == "" {
			t.Fatalf("%s: no host role policy", c.stack)
		}
		doc := parsePolicy(t, host.Str("policy"))
		var grant, resources, latest []string
		for _, st := range doc.Statement {
			if st.Sid == "MarkOwnArchiveLatest" {
				// The one delete, checked below: s3:DeleteObject alone, on
				// exactly the latest key.
				latest = strs(st.Resource)
				if !slices.Equal(strs(st.Action), []string{"s3:DeleteObject"}) {
					t.Errorf("%s: host statement %s allows %v, want s3:DeleteObject only", c.stack, st.Sid, strs(st.Action))
				}
				continue
			}
			for _, a := range strs(st.Action) {
				for _, f := range forbiddenForTheHost {
					if globMatch(strings.ToLower(a), strings.ToLower(f)) {
						t.Errorf("%s: host statement %s allows %s (%s)", c.stack, st.Sid, f, a)
					}
				}
			}
			if st.Sid == "WriteAndReadOwnArchive" {
				grant, resources = strs(st.Action), strs(st.Resource)
			}
		}
		if c.retention == 0 {
			if grant != nil || latest != nil {
				t.Errorf("%s: archive grant without backups", c.stack)
			}
			continue
		}
		slices.Sort(grant)
		want := slices.Clone(infra.HostArchiveActions)
		slices.Sort(want)
		if !slices.Equal(grant, want) {
			t.Errorf("%s: archive grant %v, want %v", c.stack, grant, want)
		}
		for _, need := range []string{"s3:PutObject", "s3:GetObject", "s3:ListBucket"} {
			if !slices.Contains(grant, need) {
				t.Errorf("%s: host cannot %s", c.stack, need)
			}
		}
		arn := archiveBucket(t, c.res).Out("arn").(string)
		if !slices.Equal(resources, []string{arn, arn + "/*"}) {
			t.Errorf("%s: archive grant on %v, want the archive bucket %s", c.stack, resources, arn)
		}
		if want := []string{arn + "/pgbackrest/backup/main/latest"}; !slices.Equal(latest, want) {
			t.Errorf("%s: the host's delete is on %v, want exactly %v", c.stack, latest, want)
		}
	}
}

func TestDataVolumeIsInALockedDailyBackupPlan(t *testing.T) {
	for _, c := range backupCases(t) {
		res, prod := c.res, c.stack == "prod"
		vault := one(t, res, tVault)
		vaultName := vault.Out("name").(string)
		if !strings.HasPrefix(vaultName, "slipway-"+c.stack+"-backup-") || vault.In("name") != nil {
			t.Errorf("%s: vault name %q (inputs %v)", c.stack, vaultName, vault.Inputs)
		}
		if vault.In("forceDestroy") == true || vault.Protect != prod || vault.RetainOnDelete != prod {
			t.Errorf("%s: vault forceDestroy=%v protect=%v retain=%v", c.stack, vault.In("forceDestroy"), vault.Protect, vault.RetainOnDelete)
		}
		lock := one(t, res, tVaultLock)
		if lock.Str("backupVaultName") != vaultName || lock.In("minRetentionDays") != c.retention ||
			lock.In("maxRetentionDays") != 365.0 || lock.Protect != prod {
			t.Errorf("%s: vault lock %v", c.stack, lock.Inputs)
		}
		// Compliance mode (immutable after the grace period) in prod only.
		if grace := lock.In("changeableForDays"); prod && grace != 3.0 || !prod && grace != nil {
			t.Errorf("%s: changeableForDays %v", c.stack, grace)
		}
		plan := one(t, res, tBackupPlan)
		rules := mockcloud.List(plan.In("rules"))
		if len(rules) != 1 {
			t.Fatalf("%s: plan rules %v", c.stack, rules)
		}
		rule := rules[0].(map[string]any)
		if rule["targetVaultName"] != vaultName || rule["schedule"] != "cron(0 5 * * ? *)" ||
			rule["lifecycle"].(map[string]any)["deleteAfter"] != c.retention {
			t.Errorf("%s: plan rule %v", c.stack, rule)
		}
		// The vault lock's minimum must admit the plan's retention.
		if d := rule["lifecycle"].(map[string]any)["deleteAfter"].(float64); d < lock.In("minRetentionDays").(float64) || d > 365 {
			t.Errorf("%s: plan keeps %v days, outside the vault lock", c.stack, d)
		}
		sel := one(t, res, tSelection)
		vol := one(t, res, "aws:ebs/volume:Volume")
		role, ok := res.Find("aws:iam/role:Role", "backup-service")
		if !ok {
			t.Fatalf("%s: no AWS Backup role", c.stack)
		}
		if sel.Str("planId") != plan.ID || !slices.Equal(strs(sel.In("resources")), []string{vol.Out("arn").(string)}) ||
			sel.Str("iamRoleArn") != role.Out("arn") {
			t.Errorf("%s: selection %v (plan %s, volume %v, role %v)", c.stack, sel.Inputs, plan.ID, vol.Out("arn"), role.Out("arn"))
		}
		trust := parsePolicy(t, role.Str("assumeRolePolicy"))
		if p, _ := trust.Statement[0].Principal.(map[string]any); len(trust.Statement) != 1 || p["Service"] != "backup.amazonaws.com" {
			t.Errorf("%s: backup role trust %v", c.stack, trust)
		}
		if role.In("permissionsBoundary") != classBoundaryARN(t, c.stack) || role.Str("path") != "/slipway/" {
			t.Errorf("%s: backup role boundary %v path %v", c.stack, role.In("permissionsBoundary"), role.In("path"))
		}
		att, ok := res.Find("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "backup-service")
		if !ok || att.Str("policyArn") != "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup" ||
			att.Str("role") != role.Out("name") || !slices.Contains(sel.Dependencies, att.URN) {
			t.Errorf("%s: backup role policy %v", c.stack, att.Inputs)
		}
	}
}

func TestBackupArchiverHealthAlarms(t *testing.T) {
	for _, c := range backupCases(t) {
		topic := one(t, c.res, "aws:sns/topic:Topic").Out("arn").(string)
		want := map[string]struct {
			metric, stat string
			threshold    float64
		}{
			"backup-archive-failures": {infra.ArchiveFailuresMetric, "Sum", 0},
			"backup-wal-pending":      {infra.WalPendingSecondsMetric, "Maximum", 300},
		}
		missing := map[string]string{"prod": "breaching", "dev": "notBreaching"}[c.stack]
		for name, w := range want {
			a, ok := c.res.Find("aws:cloudwatch/metricAlarm:MetricAlarm", name)
			if !ok {
				t.Errorf("%s: no alarm %s", c.stack, name)
				continue
			}
			if a.Str("namespace") != infra.MetricsNamespace || a.Str("metricName") != w.metric || a.Str("statistic") != w.stat ||
				a.Str("dimensions.Stack") != c.stack || a.In("threshold") != w.threshold ||
				a.Str("comparisonOperator") != "GreaterThanThreshold" || a.Str("treatMissingData") != missing ||
				a.In("actionsEnabled") != true || !slices.Contains(strs(a.In("alarmActions")), topic) {
				t.Errorf("%s: alarm %s %v", c.stack, name, a.Inputs)
			}
		}
	}
	if infra.ArchiveFailuresMetric != "ArchiveFailures" || infra.WalPendingSecondsMetric != "WalPendingSeconds" {
		t.Error("the metric names are the host's contract: change them with slipway-metrics.py")
	}
}

// programBuild is program.Build plus what the release must carry from the
// backups into the db container, as outputs the test can read.
func programBuild(ctx *pulumi.Context) (pulumi.Map, error) {
	cfg, err := stacks.Load(ctx)
	if err != nil {
		return nil, err
	}
	s, err := infra.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	out := s.Outputs()
	if s.Backups != nil {
		for k, v := range s.Backups.DBEnvironment() {
			out["env:"+k] = v
		}
	}
	return out, nil
}

func TestBackupOutputsAndTheReleasesEnvironment(t *testing.T) {
	for _, tc := range []struct {
		stack   string
		edits   []func(*stacks.Files)
		timeout string
	}{
		{"prod", nil, "60"},
		{"dev", []func(*stacks.Files){withBackups(""), func(f *stacks.Files) { f.Values["slipway:archiveTimeoutSeconds"] = "30" }}, "30"},
	} {
		files := stackFiles(t, tc.stack)
		for _, e := range tc.edits {
			e(&files)
		}
		res, err := mockcloud.Run(programBuild, "slipway", tc.stack, files, false)
		if err != nil {
			t.Fatal(err)
		}
		bucket := archiveBucket(t, res).Out("bucket").(string)
		vault := one(t, res, tVault).Out("name").(string)
		if res.Outputs["backupBucketName"].Value != bucket || res.Outputs["backupVaultName"].Value != vault {
			t.Errorf("%s: outputs bucket %v vault %v", tc.stack, res.Outputs["backupBucketName"], res.Outputs["backupVaultName"])
		}
		env := map[string]any{}
		for k, v := range res.Outputs {
			if name, ok := strings.CutPrefix(k, "env:"); ok {
				env[name] = v.Value
			}
		}
		want := map[string]any{
			"SLIPWAY_BACKUP_BUCKET": bucket, "SLIPWAY_BACKUP_REGION": "us-east-1",
			"SLIPWAY_BACKUP_ENDPOINT": "s3.us-east-1.amazonaws.com", "SLIPWAY_BACKUP_KEY_TYPE": "auto",
			"SLIPWAY_BACKUP_PATH": "/pgbackrest", "SLIPWAY_BACKUP_STANZA": "main",
			"SLIPWAY_ARCHIVE_TIMEOUT": tc.timeout,
		}
		if !maps.Equal(env, want) {
			t.Errorf("%s: db environment %v, want %v", tc.stack, env, want)
		}
		checkImageReads(t, tc.stack, env)
	}
}

// checkImageReads runs the db image's own entrypoint and renderer
// (app/db) with the release's db environment, as the container does, and
// checks that every name the release sets lands where it must: in
// pgbackrest.conf and in Postgres's archive settings. A name the image
// does not read (the release and the image disagreeing) fails here.
func checkImageReads(t *testing.T, stack string, env map[string]any) {
	t.Helper()
	for _, tool := range []string{"bash", "install"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run the db image's scripts: %v", tool, err)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	render, err := filepath.Abs("../app/db/slipway-pgbackrest-render.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(render, filepath.Join(bin, "slipway-pgbackrest-render")); err != nil {
		t.Fatal(err)
	}
	// Stands in for the server: prints the command line it was given.
	if err := os.WriteFile(filepath.Join(bin, "postgres"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "pgbackrest.conf")
	cmd := exec.Command("bash", "../app/db/slipway-db-entrypoint.sh", "postgres")
	cmd.Env = []string{
		"PATH=" + bin + ":" + os.Getenv("PATH"),
		"PGDATA=" + filepath.Join(dir, "18/docker"),
		"SLIPWAY_DB_ROOT=" + dir,
		"SLIPWAY_DB_EXEC=direct",
		"SLIPWAY_PGBACKREST_CONF=" + conf,
		"SLIPWAY_PGBACKREST_TEMPLATE=../app/db/pgbackrest.conf.template",
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v.(string))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: the db entrypoint refused the release's environment: %v\n%s", stack, err, out)
	}
	rendered, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(rendered), "\n")
	for _, l := range []string{
		"repo1-type=s3",
		"repo1-s3-bucket=" + env["SLIPWAY_BACKUP_BUCKET"].(string),
		"repo1-s3-region=" + env["SLIPWAY_BACKUP_REGION"].(string),
		"repo1-s3-endpoint=" + env["SLIPWAY_BACKUP_ENDPOINT"].(string),
		"repo1-s3-key-type=" + env["SLIPWAY_BACKUP_KEY_TYPE"].(string),
		"repo1-path=" + infra.ArchiveRepoPath,
		"expire-auto=n",
		"[" + infra.ArchiveStanza + "]",
	} {
		if !slices.Contains(lines, l) {
			t.Errorf("%s: rendered pgbackrest.conf lacks %q:\n%s", stack, l, rendered)
		}
	}
	args := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, a := range []string{
		"archive_mode=on",
		"archive_command=pgbackrest --config=" + conf + " --stanza=" + infra.ArchiveStanza + " archive-push %p",
		"archive_timeout=" + env["SLIPWAY_ARCHIVE_TIMEOUT"].(string),
	} {
		if !slices.Contains(args, a) {
			t.Errorf("%s: postgres started with %q, want %q among them", stack, args, a)
		}
	}
	// Every name the release sets is one the image reads.
	var image []byte
	for _, f := range []string{"../app/db/slipway-db-entrypoint.sh", "../app/db/slipway-pgbackrest-render.sh", "../app/db/pgbackrest.conf.template"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		image = append(image, b...)
	}
	for k := range env {
		if !strings.Contains(string(image), "${"+k) {
			t.Errorf("%s: the release sets %s, which the db image never reads", stack, k)
		}
	}
}

// dataVolumeSnapshotId starts a new volume from a snapshot, and setting it
// on a stack whose volume exists changes nothing that would replace it:
// the only input that differs between the two runs is snapshotId, and the
// volume ignores later changes to it.
func TestDataVolumeSnapshotIdNeverReplacesTheVolume(t *testing.T) {
	for _, stack := range []string{"prod", "dev"} {
		before := one(t, deploy(t, stack), "aws:ebs/volume:Volume")
		after := one(t, deploy(t, stack, func(f *stacks.Files) {
			f.Values["slipway:dataVolumeSnapshotId"] = "snap-0123456789abcdef0"
		}), "aws:ebs/volume:Volume")
		if before.In("snapshotId") != nil || after.Str("snapshotId") != "snap-0123456789abcdef0" {
			t.Errorf("%s: snapshotId before %v after %v", stack, before.In("snapshotId"), after.In("snapshotId"))
		}
		for _, v := range []mockcloud.Resource{before, after} {
			if !slices.Contains(v.IgnoreChanges, "snapshotId") || len(v.ReplaceOnChanges) != 0 {
				t.Errorf("%s: volume ignoreChanges %v replaceOnChanges %v", stack, v.IgnoreChanges, v.ReplaceOnChanges)
			}
		}
		for k := range after.Inputs {
			if k == "snapshotId" {
				continue
			}
			if !before.Inputs[k].DeepEquals(after.Inputs[k]) {
				t.Errorf("%s: volume input %s changed from %v to %v", stack, k, before.Inputs[k], after.Inputs[k])
			}
		}
		if len(before.Inputs)+1 != len(after.Inputs) || before.URN != after.URN || before.Protect != after.Protect {
			t.Errorf("%s: volume changed beyond snapshotId: %v -> %v", stack, before.Inputs, after.Inputs)
		}
	}
}

// classBoundaryARN is the foundation's boundary of the stack's class, as
// the app stack refers to it (the mock account).
func classBoundaryARN(t *testing.T, stack string) string {
	t.Helper()
	class, err := stacks.ProfileOf(stack)
	if err != nil {
		t.Fatal(err)
	}
	return "arn:aws:iam::123456789012:policy/slipway/slipway-" + string(class) + "-role-boundary"
}

// The foundation's boundary allows the host exactly the archive rights
// the app stack grants it: one list each side of the project boundary,
// kept equal here.
func TestHostArchiveActionsMatchTheFoundation(t *testing.T) {
	if !slices.Equal(infra.HostArchiveActions, foundation.HostArchiveActions) {
		t.Errorf("infra.HostArchiveActions %v != foundation.HostArchiveActions %v", infra.HostArchiveActions, foundation.HostArchiveActions)
	}
	if !slices.Equal(infra.HostArchiveDeleteActions, foundation.HostArchiveDeleteActions) {
		t.Errorf("infra.HostArchiveDeleteActions %v != foundation.HostArchiveDeleteActions %v", infra.HostArchiveDeleteActions, foundation.HostArchiveDeleteActions)
	}
	if infra.ArchiveLatestKey != foundation.ArchiveLatestKey {
		t.Errorf("infra.ArchiveLatestKey %q != foundation.ArchiveLatestKey %q", infra.ArchiveLatestKey, foundation.ArchiveLatestKey)
	}
	// SLW-BAK-002 allows exactly this key; the rule's own tests probe it.
	if policy.ArchiveLatestKey != infra.ArchiveLatestKey {
		t.Errorf("policy.ArchiveLatestKey %q != infra.ArchiveLatestKey %q", policy.ArchiveLatestKey, infra.ArchiveLatestKey)
	}
}

// The backup timer exists from the first boot on every stack (the script
// does nothing without backups), and the operator's fixed paths link to the
// current release's scripts.
func TestHostInstallsTheBackupTimerAndLinks(t *testing.T) {
	for _, stack := range []string{"prod", "dev", "pr-7"} {
		res := deploy(t, stack)
		var doc struct {
			WriteFiles []struct{ Path, Permissions, Content string } `yaml:"write_files"`
			Runcmd     [][]string
		}
		if err := yaml.Unmarshal([]byte(one(t, res, "aws:ec2/instance:Instance").UserData()), &doc); err != nil {
			t.Fatalf("%s: user data: %v", stack, err)
		}
		files := map[string]string{}
		for _, f := range doc.WriteFiles {
			files[f.Path] = f.Content
		}
		unit := files["/etc/systemd/system/slipway-backup.service"]
		if !strings.Contains(unit, "\nExecStart=/var/lib/slipway/releases/current/bin/slipway-backup\n") ||
			!strings.Contains(unit, "\nConditionPathExists=/var/lib/slipway/releases/current/bin/slipway-backup\n") {
			t.Errorf("%s: slipway-backup.service does not run the current release's copy:\n%s", stack, unit)
		}
		if !strings.Contains(files["/etc/systemd/system/slipway-backup.timer"], "OnUnitActiveSec=") {
			t.Errorf("%s: no slipway-backup.timer", stack)
		}
		for _, want := range [][]string{
			{"systemctl", "enable", "--now", "slipway-backup.timer"},
			{"ln", "-sfn", "/var/lib/slipway/releases/current/bin/slipway-backup", "/usr/local/sbin/slipway-backup"},
			{"ln", "-sfn", "/var/lib/slipway/releases/current/bin/slipway-db-restore", "/usr/local/sbin/slipway-db-restore"},
		} {
			if !slices.ContainsFunc(doc.Runcmd, func(c []string) bool { return slices.Equal(c, want) }) {
				t.Errorf("%s: user data lacks %v", stack, want)
			}
		}
	}
}
