package composehash

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/docker/compose/v2/pkg/compose"
)

// bundles are the real release bundles the infra tests render for each kind
// of change (infra/bundle_test.go, bundleVariations; kept current by
// TestBundleVariationsAreCurrent there), with secrets/<service>.env as the
// host's fetcher writes them.
const bundles = "../../infra/testdata/bundles"

// hashes puts a release's files into the project directory, as the release
// script does (one fixed directory for every release: compose's hash holds
// the env files' absolute paths), loads it as docker compose on the host
// does (compose.yaml, .env with COMPOSE_PROFILES, the env files) and
// returns Compose's own config hash of every enabled service.
func hashes(t *testing.T, dir, variation string) map[string]string {
	t.Helper()

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(bundles, variation))); err != nil {
		t.Fatal(err)
	}
	// COMPOSE_PROFILES from .env, as docker compose reads it there.
	var profiles []string
	env, err := os.ReadFile(filepath.Join(dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(env), "\n") {
		if v, ok := strings.CutPrefix(l, "COMPOSE_PROFILES="); ok {
			profiles = strings.Split(v, ",")
		}
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithDotEnv, cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%s: compose cannot load the bundle: %v", variation, err)
	}
	out := map[string]string{}
	for name, svc := range project.Services {
		h, err := compose.ServiceHash(svc)
		if err != nil {
			t.Fatalf("%s: %s: %v", variation, name, err)
		}
		out[name] = h
	}
	return out
}

// restarted lists the services whose hash differs from the base's, or that
// are new or gone: what `docker compose up` recreates, starts or removes.
func restarted(base, other map[string]string) []string {
	var out []string
	for name, h := range other {
		if base[name] != h {
			out = append(out, name)
		}
	}
	for name := range base {
		if _, ok := other[name]; !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// The README's restart table, checked against Compose's own hashing: each
// kind of change restarts exactly these services, and Postgres and nginx
// only when the change is theirs.
func TestWhatEachChangeRestarts(t *testing.T) {
	project := filepath.Join(t.TempDir(), "project")
	base := hashes(t, project, "base")
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range base {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, []string{"api-blue", "api-green", "db", "proxy", "worker"}) {
		t.Fatalf("base services %v", got)
	}
	want := map[string][]string{
		// One image runs both slots and the worker; the cutover starts only the idle slot
		// and stops the serving one after traffic moved (slipway-cutover.sh).
		"api-image": {"api-blue", "api-green", "worker"},
		// The template is a host directory the cutover writes, not part of any service's
		// configuration: nginx reloads it gracefully (slipway-proxy-reload), nothing restarts.
		"proxy-template": {},
		"worker-setting": {"worker"},
		"db-password":    {"api-blue", "api-green", "db", "worker"}, // db's secret, and the API's and worker's copy
		"origin-secret":  {"proxy"},
		"datadog-on":     {"api-blue", "api-green", "datadog-agent", "docker-socket-proxy", "worker"},
		"postgres-image": {"db"},
		"backups-on":     {"db"},
		// host + rds: the Postgres container goes (the cutover removes it as an orphan; its data
		// stays on the data volume), the API and the worker point at RDS; nginx keeps running,
		// and db-setup, under a profile no release enables, is no service compose brings up.
		"host-rds": {"api-blue", "api-green", "db", "worker"},
	}
	entries, err := os.ReadDir(bundles)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := want[e.Name()]; !ok && e.Name() != "base" {
			t.Errorf("variation %s has no expectation here", e.Name())
		}
	}
	for variation, services := range want {
		got := restarted(base, hashes(t, project, variation))
		if !slices.Equal(got, services) {
			t.Errorf("%s restarts %s, want %s", variation, strings.Join(got, " "), strings.Join(services, " "))
		}
		t.Logf("%-15s restarts %s", variation, strings.Join(got, " "))
	}
	// Unchanged is unchanged: the hash is stable.
	if got := restarted(base, hashes(t, project, "base")); len(got) != 0 {
		t.Errorf("the base against itself restarts %v", got)
	}
	// Why one project directory: the same release from another directory
	// (as from /var/lib/slipway/releases/<id>/) changes every service's
	// hash, so compose would recreate Postgres and nginx on every release.
	if got := restarted(base, hashes(t, filepath.Join(t.TempDir(), "elsewhere"), "base")); len(got) != len(base) {
		t.Errorf("the same release from another directory restarts only %v", got)
	}
}
