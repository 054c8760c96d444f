package policy

import (
	"regexp"
	"slices"
	"strings"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

const (
	tObjectLock = "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2"
	tVault      = "aws:backup/vault:Vault"
	tVaultLock  = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
	tBackupPlan = "aws:backup/plan:Plan"
	tSelection  = "aws:backup/selection:Selection"
)

// backupDestroyActions are the calls that would delete an archived object,
// cut its lock short or let the bucket forget it: none may reach a locked
// bucket from the host's role.
var backupDestroyActions = []string{
	"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket", "s3:PutLifecycleConfiguration",
	"s3:PutBucketObjectLockConfiguration", "s3:BypassGovernanceRetention", "s3:PutObjectRetention",
	"s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketVersioning",
}

// ArchiveLatestKey is the one archive key the host may delete, with
// s3:DeleteObject alone (infra.ArchiveLatestKey; a test keeps them equal):
// pgBackRest removes backup/<stanza>/latest on every backup to S3. Without
// a version id the delete only adds a delete marker on the versioned
// Object Lock bucket; no locked version goes.
const ArchiveLatestKey = "pgbackrest/backup/main/latest"

// backupProbeKeys are archive keys a host statement must not reach with a
// destroying call: WAL, the repository's info files, a backup set's
// files, and keys beside the latest one.
var backupProbeKeys = []string{
	"pgbackrest/archive/x", "pgbackrest/archive/main/archive.info", "pgbackrest/backup/main/backup.info",
	"pgbackrest/backup/main/20261201-000000F/backup.manifest", "pgbackrest/backup/main/latest.copy",
	"pgbackrest/backup/other/latest", "x/" + ArchiveLatestKey,
}

// backupResourceTypes are what a stack's backups consist of; a review
// stack has none of them.
var backupResourceTypes = []string{tObjectLock, tVault, tVaultLock, tBackupPlan, tSelection}

var backupRules = []Rule{
	{
		ID: "SLW-BAK-001", Severity: Error, Reference: "S3.15",
		Title: "Prod archives its database into a versioned bucket with Object Lock in COMPLIANCE mode for at least 14 days",
		Fix:   "enable slipway:backups (infra/backup.go): objectLockEnabled on the bucket, versioning, a default retention COMPLIANCE ≥ 14 days",
		Types: []string{tBucketV2}, Profiles: []stacks.Profile{stacks.Prod},
		Inputs: []string{tBucketV2 + ": objectLockEnabled true", "aws:s3/bucketVersioningV2:BucketVersioningV2: versioningConfiguration.status Enabled",
			tObjectLock + ": bucket (= bucket id), rule.defaultRetention.mode COMPLIANCE, days ≥ 14 (or years ≥ 1)"},
		check: func(e *eval) {
			locked := 0
			for _, b := range e.of(tBucketV2) {
				if b.In("objectLockEnabled") != true {
					continue
				}
				locked++
				if v, ok := findBy(e.peek("aws:s3/bucketVersioningV2:BucketVersioningV2"), "bucket", b); !ok ||
					v.Str("versioningConfiguration.status") != "Enabled" {
					e.fail(b, "Object Lock bucket without versioning enabled")
				}
				lock, ok := findBy(e.peek(tObjectLock), "bucket", b)
				if !ok {
					e.fail(b, "no Object Lock configuration: objects are written without a retention")
					continue
				}
				days, _ := num(lock.In("rule.defaultRetention.days"))
				years, _ := num(lock.In("rule.defaultRetention.years"))
				if mode := lock.Str("rule.defaultRetention.mode"); mode != "COMPLIANCE" {
					e.fail(b, "default retention mode %q: only COMPLIANCE stops every identity, root included, from deleting", mode)
				}
				if days < float64(stacks.MinBackupRetentionDays) && years < 1 {
					e.fail(b, "default retention %v days: below 2 full-backup intervals (%d days)", days, stacks.MinBackupRetentionDays)
				}
			}
			// The archive follows the data volume: a stack without one
			// (compute ecs, Postgres on RDS) has RDS's point-in-time
			// backups instead.
			if locked == 0 && e.checked > 0 && len(e.peek("aws:ebs/volume:Volume")) > 0 {
				e.failName("backups", "no bucket with Object Lock: prod's continuous archive is missing")
			}
		},
	},
	{
		ID: "SLW-BAK-002", Severity: Error, Reference: "Slipway design (issue 14: the host writes backups, never deletes them)",
		Title: "No role an EC2 instance assumes may delete, unlock or re-configure a backup bucket (but delete-mark pgBackRest's latest key)",
		Fix: "grant the host only s3:PutObject, GetObject(Version), ListBucket(Versions) and AbortMultipartUpload on the archive " +
			"(infra.HostArchiveActions), and s3:DeleteObject on exactly <bucket>/" + ArchiveLatestKey + " in a statement of its own",
		Types: []string{tRolePolicy},
		Inputs: []string{tRolePolicy + ": role (= a " + tRole + " trusted by ec2.amazonaws.com), policy: no Allow of " +
			strings.Join(backupDestroyActions, ", ") + " on a resource matching a bucket with objectLockEnabled; " +
			"the one exception: s3:DeleteObject on exactly <bucket>/" + ArchiveLatestKey + " (no wildcard)"},
		check: func(e *eval) {
			var locked []mockcloud.Resource
			for _, b := range e.peek(tBucketV2) {
				if b.In("objectLockEnabled") == true {
					locked = append(locked, b)
				}
			}
			if len(locked) == 0 {
				e.naReason = "no bucket with Object Lock in this stack"
				return
			}
			for _, rp := range e.peek(tRolePolicy) {
				role, ok := e.backupRoleOf(rp)
				if !ok || !backupTrustedBy(role, "ec2.amazonaws.com") {
					continue
				}
				e.checked++
				doc, _ := parseDoc(rp.In("policy"))
				for _, st := range doc {
					if !st.allows() {
						continue
					}
					for _, b := range locked {
						arn, _ := b.Out("arn").(string)
						probes := []string{arn}
						for _, k := range backupProbeKeys {
							probes = append(probes, arn+"/"+k)
						}
						if a, ok := backupReaches(st, backupDestroyActions, probes); ok {
							e.fail(rp, "statement %q lets the host %s on the backup bucket %s", st.Sid, a, arn)
							continue
						}
						latest := arn + "/" + ArchiveLatestKey
						others := slices.DeleteFunc(slices.Clone(backupDestroyActions), func(a string) bool { return a == "s3:DeleteObject" })
						if a, ok := backupReaches(st, others, []string{latest}); ok {
							e.fail(rp, "statement %q lets the host %s on %s: only s3:DeleteObject (a delete marker) is allowed there", st.Sid, a, latest)
							continue
						}
						if _, ok := backupReaches(st, []string{"s3:DeleteObject"}, []string{latest}); ok {
							for _, r := range st.Resource {
								if r != latest && backupGlob(r, latest) {
									e.fail(rp, "statement %q allows the delete of %s through %q: name exactly that key", st.Sid, latest, r)
								}
							}
						}
					}
				}
			}
		},
	},
	{
		ID: "SLW-BAK-003", Severity: Error, Reference: "EC2.28",
		Title: "Prod's data volume is in an AWS Backup plan whose vault has a compliance-mode vault lock",
		Fix:   "enable slipway:backups (infra/backup.go): a backup.Selection of the volume's ARN, a plan rule into the vault, a VaultLockConfiguration with changeableForDays",
		Types: []string{tVolume}, Profiles: []stacks.Profile{stacks.Prod},
		Inputs: []string{tSelection + ": resources contains the volume's arn (or selectionTags match its tags), planId (= plan id)",
			tBackupPlan + ": rules[*].targetVaultName (= vault name), rules[*].lifecycle.deleteAfter ≥ the lock's minRetentionDays",
			tVaultLock + ": backupVaultName (= vault name), changeableForDays set (compliance mode), minRetentionDays ≥ 7"},
		check: func(e *eval) {
			for _, v := range e.of(tVolume) {
				if why := e.lockedBackupOf(v); why != "" {
					e.fail(v, "%s", why)
				}
			}
		},
	},
	{
		ID: "SLW-BAK-004", Severity: Error, Reference: "Slipway design (review stacks are fully destroyable)",
		Title: "Review stacks hold no locked or retained backups: no Object Lock bucket, backup vault, vault lock or backup plan",
		Fix:   "leave slipway:backups false in review stacks (stacks refuses true); Object Lock and vault locks cannot be force-destroyed",
		Types: []string{tBucketV2, tVault}, Profiles: []stacks.Profile{stacks.Review},
		Inputs: []string{tBucketV2 + ": objectLockEnabled not true", strings.Join(backupResourceTypes, ", ") + ": absent"},
		check: func(e *eval) {
			for _, b := range e.of(tBucketV2) {
				if b.In("objectLockEnabled") == true {
					e.fail(b, "bucket with Object Lock: its locked versions would outlive `pulumi destroy`")
				}
			}
			for _, r := range e.of(backupResourceTypes...) {
				e.fail(r, "%s in a review stack: it cannot be destroyed with the stack", r.Type)
			}
		},
	},
}

// backupRoleOf is the role a role policy belongs to (role = name or id).
func (e *eval) backupRoleOf(rp mockcloud.Resource) (mockcloud.Resource, bool) {
	return e.find(tRole, rp.In("role"))
}

// backupTrustedBy reports whether a role's trust lets the service assume it.
func backupTrustedBy(role mockcloud.Resource, service string) bool {
	doc, _ := parseDoc(role.In("assumeRolePolicy"))
	for _, st := range doc {
		if st.allows() && contains(st.principals("Service"), service) {
			return true
		}
	}
	return false
}

// backupReaches reports the first of actions a statement allows on any of arns,
// with IAM's wildcards (* and ?) in the statement's actions and resources
// and NotAction taken into account.
func backupReaches(st statement, actions, arns []string) (string, bool) {
	resourceHit := false
	for _, r := range st.Resource {
		for _, arn := range arns {
			resourceHit = resourceHit || backupGlob(r, arn)
		}
	}
	if !resourceHit {
		return "", false
	}
	for _, a := range actions {
		if len(st.NotAction) > 0 {
			excluded := false
			for _, na := range st.NotAction {
				excluded = excluded || backupGlob(strings.ToLower(na), strings.ToLower(a))
			}
			if !excluded {
				return a, true
			}
			continue
		}
		for _, p := range st.Action {
			if backupGlob(strings.ToLower(p), strings.ToLower(a)) {
				return a, true
			}
		}
	}
	return "", false
}

// backupGlob matches an IAM pattern (* any run, ? one character).
func backupGlob(pattern, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(s)
}

// lockedBackupOf says why the volume is not in a plan whose vault has a
// compliance-mode lock ("" when it is).
func (e *eval) lockedBackupOf(v mockcloud.Resource) string {
	arn, _ := v.Out("arn").(string)
	tags, _ := v.In("tags").(map[string]any)
	selected := false
	for _, sel := range e.peek(tSelection) {
		hit := false
		for _, r := range strList(sel.In("resources")) {
			hit = hit || arn != "" && backupGlob(r, arn) && r != "*"
		}
		for _, t := range list(sel.In("selectionTags")) {
			m, _ := t.(map[string]any)
			if str(m["type"]) == "STRINGEQUALS" && tags[str(m["key"])] == m["value"] && str(m["key"]) != "" {
				hit = true
			}
		}
		if !hit {
			continue
		}
		selected = true
		plan, ok := e.find(tBackupPlan, sel.In("planId"))
		if !ok {
			continue
		}
		for _, x := range list(plan.In("rules")) {
			rule, _ := x.(map[string]any)
			vault, ok := e.find(tVault, rule["targetVaultName"])
			if !ok {
				continue
			}
			name, _ := vault.Out("name").(string)
			for _, lock := range e.peek(tVaultLock) {
				if lock.Str("backupVaultName") != name || name == "" {
					continue
				}
				grace, compliance := num(lock.In("changeableForDays"))
				minDays, _ := num(lock.In("minRetentionDays"))
				keep, _ := num(backupMapOf(rule["lifecycle"])["deleteAfter"])
				if compliance && grace > 0 && minDays >= 7 && keep >= minDays {
					return ""
				}
			}
		}
	}
	if !selected {
		return "no AWS Backup selection covers the volume (by ARN or tag)"
	}
	return "the volume's backup plan writes to no vault with a compliance-mode lock (changeableForDays, minRetentionDays ≥ 7, kept ≥ the minimum)"
}

func backupMapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
