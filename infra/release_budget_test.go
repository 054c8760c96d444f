package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"slipway/infra/foundation"
	"slipway/stacks"
)

// hostStep is the one step of a rendered host document.
type hostStep struct {
	timeout int
	run     string
}

func hostDocumentStep(t *testing.T, class stacks.Profile, kind string) hostStep {
	t.Helper()
	raw, err := foundation.HostDocumentContent(class, kind)
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
		t.Fatalf("%s %s document: %v\n%s", class, kind, err, raw)
	}
	timeout, err := strconv.Atoi(doc.MainSteps[0].Inputs.TimeoutSeconds)
	if err != nil {
		t.Fatalf("%s %s document timeoutSeconds %q", class, kind, doc.MainSteps[0].Inputs.TimeoutSeconds)
	}
	return hostStep{timeout, strings.Join(doc.MainSteps[0].Inputs.RunCommand, "\n")}
}

// guardWorstCase is the longest the documents' IMDS check can take, read
// from its curl options: every request, all its attempts at --max-time,
// plus the delays between them.
func guardWorstCase(t *testing.T, run string) int {
	t.Helper()
	def := regexp.MustCompile(`(?m)^imds\(\) \{ curl .*--max-time (\d+) --retry (\d+) --retry-delay (\d+) `).FindStringSubmatch(run)
	if def == nil {
		t.Fatalf("the document's IMDS requests are not bounded (--max-time, --retry, --retry-delay):\n%s", run)
	}
	if strings.Count(run, "curl ") != 1 {
		t.Fatalf("the document calls curl outside its bounded imds():\n%s", run)
	}
	maxTime, _ := strconv.Atoi(def[1])
	retries, _ := strconv.Atoi(def[2])
	delay, _ := strconv.Atoi(def[3])
	calls := len(regexp.MustCompile(`\$\(imds `).FindAllString(run, -1))
	return calls * ((retries+1)*maxTime + retries*delay)
}

// The documents hand the script its waits; the script's own defaults (used
// at boot) are the same numbers, and the script uses them.
func scriptWaits(t *testing.T, run string, names ...string) map[string]int {
	t.Helper()
	script, err := os.ReadFile("hostfiles/slipway-release.sh")
	if err != nil {
		t.Fatal(err)
	}
	waits := map[string]int{}
	for _, v := range names {
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
	for _, use := range []string{`flock --wait "$lock_wait"`, `timeout "$pull_timeout" docker compose`, `SLIPWAY_WAIT_TIMEOUT="$wait_timeout"`} {
		if !strings.Contains(string(script), use) {
			t.Errorf("the script does not use its budget: no %s", use)
		}
	}
	return waits
}

// cutoverWorstCase is one cutover's longest run, read from the cutover script
// (its defaults must be the document's numbers; every `up --wait` it has
// counts, failure and success paths together) and the compose file (the API
// slots' stop grace), plus the worker's stop grace at the largest job budget
// the stacks accept (900 s, plus workerStopMargin).
func cutoverWorstCase(t *testing.T, run string) int {
	t.Helper()
	script, err := os.ReadFile("hostfiles/slipway-cutover.sh")
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]int{}
	for _, v := range []string{"SLIPWAY_WAIT_TIMEOUT", "SLIPWAY_MIGRATE_TIMEOUT", "SLIPWAY_SETTLE_SECONDS"} {
		m := regexp.MustCompile(`\b` + v + `=(\d+)\b`).FindStringSubmatch(run)
		d := regexp.MustCompile(`\$\{` + v + `:-(\d+)\}`).FindStringSubmatch(string(script))
		if m == nil || d == nil || d[1] != m[1] {
			t.Errorf("%s: the document sets %v, the cutover's default is %v", v, m, d)
			continue
		}
		vals[v], _ = strconv.Atoi(m[1])
	}
	ups := strings.Count(string(script), `--wait-timeout "$wait_timeout"`)
	if ups == 0 || !strings.Contains(string(script), `timeout "$migrate_timeout" docker compose run`) || !strings.Contains(string(script), `sleep "$settle"`) {
		t.Errorf("the cutover does not use its budget (%d bounded ups)", ups)
	}
	compose, err := os.ReadFile(filepath.Join("..", "app", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	g := regexp.MustCompile(`(?m)^  api-blue: &api\n(?:    .*\n|\s*\n)*?    stop_grace_period: (\d+)s`).FindSubmatch(compose)
	if g == nil {
		t.Fatal("app/compose.yaml: api-blue has no stop_grace_period in seconds")
	}
	apiGrace, _ := strconv.Atoi(string(g[1]))
	return ups*vals["SLIPWAY_WAIT_TIMEOUT"] + vals["SLIPWAY_MIGRATE_TIMEOUT"] + vals["SLIPWAY_SETTLE_SECONDS"] + apiGrace + 900 + workerStopMargin
}

// The rollout's time budget: the SSM document must outlast the worst case
// of everything it runs (the class check, waiting for the host, waiting for
// the lock a boot rollout may hold, pulling, the release's `up` and the
// rollback's `up`), or SSM kills the script mid-rollback; and `pulumi up`
// must wait longer than the document may run. The numbers are read from
// the rendered foundation documents and from the script itself, not from
// the Go constants.
func TestReleaseRolloutBudgetCoversTheWorstCase(t *testing.T) {
	for _, class := range []stacks.Profile{stacks.Dev, stacks.Review, stacks.Prod} {
		step := hostDocumentStep(t, class, foundation.DocumentRollout)
		guard := guardWorstCase(t, step.run)

		// Waiting for the host (release script installed, cloud-init
		// done) is bounded, by one `timeout N`.
		m := regexp.MustCompile(`(?m)^timeout (\d+) `).FindStringSubmatch(step.run)
		if m == nil {
			t.Fatalf("%s: the document's wait for the host is unbounded:\n%s", class, step.run)
		}
		hostWait, _ := strconv.Atoi(m[1])

		waits := scriptWaits(t, step.run, "SLIPWAY_LOCK_WAIT", "SLIPWAY_PULL_TIMEOUT", "SLIPWAY_WAIT_TIMEOUT")
		cutover := cutoverWorstCase(t, step.run)
		if t.Failed() {
			return
		}
		// A rollout: pull, the release's cutover, and on failure the
		// rollback's cutover.
		rollout := waits["SLIPWAY_PULL_TIMEOUT"] + 2*cutover
		if waits["SLIPWAY_LOCK_WAIT"] < rollout {
			t.Errorf("%s: lock wait %d s is shorter than one rollout (%d s) the boot unit may be running", class, waits["SLIPWAY_LOCK_WAIT"], rollout)
		}
		worst := guard + hostWait + waits["SLIPWAY_LOCK_WAIT"] + rollout
		if step.timeout < worst+60 {
			t.Errorf("%s: document timeout %d s < worst case %d s (guard %d + host %d + lock %d + pull %d + 2 x cutover %d) + 60 s margin",
				class, step.timeout, worst, guard, hostWait, waits["SLIPWAY_LOCK_WAIT"], waits["SLIPWAY_PULL_TIMEOUT"], cutover)
		}
		// What pulumi up waits (the association) against what this
		// document may run; release_test.go checks the association carries
		// it.
		if defaultRolloutTimeout < step.timeout+120 {
			t.Errorf("%s: pulumi up waits %d s, not comfortably above the document's %d s", class, defaultRolloutTimeout, step.timeout)
		}
	}
}

// The rollback document: the class check, the lock, one `up` of the
// previous release.
func TestReleaseRollbackBudgetCoversTheWorstCase(t *testing.T) {
	for _, class := range []stacks.Profile{stacks.Dev, stacks.Review, stacks.Prod} {
		step := hostDocumentStep(t, class, foundation.DocumentRollback)
		guard := guardWorstCase(t, step.run)
		waits := scriptWaits(t, step.run, "SLIPWAY_LOCK_WAIT", "SLIPWAY_WAIT_TIMEOUT")
		cutover := cutoverWorstCase(t, step.run)
		if t.Failed() {
			return
		}
		if worst := guard + waits["SLIPWAY_LOCK_WAIT"] + cutover; step.timeout < worst+60 {
			t.Errorf("%s: rollback document timeout %d s < worst case %d s (guard %d + lock %d + cutover %d) + 60 s margin",
				class, step.timeout, worst, guard, waits["SLIPWAY_LOCK_WAIT"], cutover)
		}
	}
}

// A host + rds cutover runs db-setup first (hostfiles/slipway-db-setup.py).
// The budget gives it no term of its own: it fits in the one `up --wait`
// of CutoverUps that no run of the cutover reaches. Its own timeout, the
// script's default, is what the document's budget assumes.
func TestReleaseBudgetCoversDBSetup(t *testing.T) {
	script, err := os.ReadFile("hostfiles/slipway-db-setup.py")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"SLIPWAY_DB_SETUP_TIMEOUT", "(\d+)"`).FindStringSubmatch(string(script))
	if m == nil {
		t.Fatal("slipway-db-setup.py has no default SLIPWAY_DB_SETUP_TIMEOUT")
	}
	run, _ := strconv.Atoi(m[1])
	if run+30 != foundation.DBSetupWait {
		t.Errorf("db-setup's run is bounded at %d s; foundation.DBSetupWait (%d) assumes %d", run, foundation.DBSetupWait, foundation.DBSetupWait-30)
	}
	if foundation.DBSetupWait > foundation.UpWait {
		t.Errorf("DBSetupWait %d s no longer fits in one UpWait (%d s): give it a term in CutoverWait", foundation.DBSetupWait, foundation.UpWait)
	}
}
