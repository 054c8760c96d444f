package infra

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The rollout's time budget: the SSM document must outlast the worst case
// of everything it runs (waiting for the host, waiting for the lock a boot
// rollout may hold, pulling, the release's `up` and the rollback's `up`),
// or SSM kills the script mid-rollback; and `pulumi up` must wait longer
// than the document may run. The numbers are read from the rendered
// document and from the script itself, not from the Go constants.
func TestRolloutBudgetCoversTheWorstCase(t *testing.T) {
	raw, err := rolloutDocument()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		MainSteps []struct {
			Inputs struct {
				TimeoutSeconds string
				RunCommand     []string
			}
		}
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil || len(doc.MainSteps) != 1 {
		t.Fatalf("document: %v\n%s", err, raw)
	}
	step := doc.MainSteps[0].Inputs
	docTimeout, err := strconv.Atoi(step.TimeoutSeconds)
	if err != nil {
		t.Fatalf("document timeoutSeconds %q", step.TimeoutSeconds)
	}
	run := strings.Join(step.RunCommand, "\n")

	// Waiting for the host (release script installed, cloud-init done) is
	// bounded, by one `timeout N`.
	m := regexp.MustCompile(`(?m)^timeout (\d+) `).FindStringSubmatch(run)
	if m == nil {
		t.Fatalf("the document's wait for the host is unbounded:\n%s", run)
	}
	hostWait, _ := strconv.Atoi(m[1])

	// The document hands the script its waits; the script's own defaults
	// (used at boot) are the same numbers, and the script uses them.
	script, err := os.ReadFile("hostfiles/slipway-release.sh")
	if err != nil {
		t.Fatal(err)
	}
	waits := map[string]int{}
	for _, v := range []string{"SLIPWAY_LOCK_WAIT", "SLIPWAY_PULL_TIMEOUT", "SLIPWAY_WAIT_TIMEOUT"} {
		m := regexp.MustCompile(`\b` + v + `=(\d+)\b`).FindStringSubmatch(run)
		if m == nil {
			t.Errorf("the document does not set %s for the script:\n%s", v, run)
			continue
		}
		waits[v], _ = strconv.Atoi(m[1])
		d := regexp.MustCompile(`\$\{` + v + `:-(\d+)\}`).FindStringSubmatch(string(script))
		if d == nil || d[1] != m[1] {
			t.Errorf("the script's default for %s is %v, the document's %s", v, d, m[1])
		}
	}
	for _, use := range []string{`flock --wait "$lock_wait"`, `timeout "$pull_timeout" docker compose`, `--wait-timeout "$wait_timeout"`} {
		if !strings.Contains(string(script), use) {
			t.Errorf("the script does not use its budget: no %s", use)
		}
	}
	if t.Failed() {
		return
	}
	// A rollout: pull, up, and on failure the rollback's up.
	rollout := waits["SLIPWAY_PULL_TIMEOUT"] + 2*waits["SLIPWAY_WAIT_TIMEOUT"]
	if waits["SLIPWAY_LOCK_WAIT"] < rollout {
		t.Errorf("lock wait %d s is shorter than one rollout (%d s) the boot unit may be running", waits["SLIPWAY_LOCK_WAIT"], rollout)
	}
	worst := hostWait + waits["SLIPWAY_LOCK_WAIT"] + rollout
	if docTimeout < worst+60 {
		t.Errorf("document timeout %d s < worst case %d s (host %d + lock %d + pull %d + 2 x up %d) + 60 s margin",
			docTimeout, worst, hostWait, waits["SLIPWAY_LOCK_WAIT"], waits["SLIPWAY_PULL_TIMEOUT"], waits["SLIPWAY_WAIT_TIMEOUT"])
	}
}
