package cost

import (
	"math"
	"strings"
	"testing"

	"slipway/internal/mockcloud"
	"slipway/stacks"
)

// prod's backups as infra/backup.go builds them: a 50 GiB volume (25 GB
// used), an archive bucket locked for 35 days and a plan keeping 35 daily
// recovery points of the volume.
func TestBackupsArePriced(t *testing.T) {
	volARN := "arn:aws:ec2:us-east-1:123456789012:volume/vol-1"
	res := []mockcloud.Resource{
		rec("aws:ebs/volume:Volume", "data", "vol-1", map[string]any{"size": 50, "type": "gp3"}, map[string]any{"arn": volARN}),
		rec("aws:s3/bucketV2:BucketV2", "backup", "slipway-prod-backup-1", map[string]any{"objectLockEnabled": true}, nil),
		rec("aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2", "backup", "slipway-prod-backup-1",
			map[string]any{"bucket": "slipway-prod-backup-1", "rule": map[string]any{"defaultRetention": map[string]any{"mode": "COMPLIANCE", "days": 35}}}, nil),
		rec("aws:backup/plan:Plan", "backup", "plan-1", map[string]any{"rules": []any{map[string]any{"lifecycle": map[string]any{"deleteAfter": 35}}}}, nil),
		rec("aws:backup/selection:Selection", "backup", "sel-1", map[string]any{"planId": "plan-1", "resources": []any{volARN}}, nil),
	}
	est := Price(res, stacks.Prod)
	// 25 GB used: (35/7 + 1) = 6 full copies = 150 GB, plus 10% WAL a
	// day for 35 days = 87.5 GB; 237.5 GB at $0.023.
	if l := line(t, est, "backup", "archive ~238 GB (35 d retention)"); math.Abs(l.Monthly-237.5*0.023) > 0.001 || l.Kind != Fixed {
		t.Errorf("archive line %+v", l)
	}
	if l := line(t, est, "backup", "43k WAL PUTs"); !near(l.Monthly, round(43.2*0.005)) || l.Kind != Usage {
		t.Errorf("WAL PUT line %+v", l)
	}
	// 25 GB first, then 2% of it for each of 34 later days = 42 GB at $0.05.
	if l := line(t, est, "backup", "AWS Backup of data: ~42.0 GB (35 daily kept)"); !near(l.Monthly, 2.1) {
		t.Errorf("AWS Backup line %+v", l)
	}
	// The archive is not priced as a small site bucket.
	for _, l := range est.Lines {
		if l.Name == "backup" && strings.HasPrefix(l.Item, "storage ~") {
			t.Errorf("archive priced as a site bucket: %+v", l)
		}
	}
	if a := strings.Join(Assumptions(stacks.Prod), "\n"); !strings.Contains(a, "$0.023/GB-month") || !strings.Contains(a, "$0.05/GB-month") ||
		!strings.Contains(a, "2025") {
		t.Errorf("backup prices not stated: %s", a)
	}
}
