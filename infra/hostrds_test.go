package infra_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"slipway/internal/mockcloud"
	"slipway/stacks"

	"gopkg.in/yaml.v3"
)

// host + rds: a host whose database moved to RDS. The host stays (and its
// data volume), the release points the API and the worker at RDS and runs
// no Postgres container.

func onHostRDS(f *stacks.Files) { f.Values["slipway:database"] = "rds" }

// hostRDSStacks: prod (backups, protections), a review stack (neither) and
// dev (the default development stack).
var hostRDSStacks = []string{"prod", "pr-7", "dev"}

// envFileOf parses a rendered KEY=value env file.
func envFileOf(t *testing.T, content string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(content, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("env file line %q", l)
		}
		out[k] = v
	}
	return out
}

// loadComposeWith loads a rendered bundle as docker compose on the host
// does, with the given profiles enabled (the host's fetcher's secrets
// beside it).
func loadComposeWith(t *testing.T, bundle map[string]string, profiles []string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"secrets/api.env": "DATABASE_PASSWORD='x'\n", "secrets/proxy.env": "ORIGIN_HEADER_VALUE='y'\n"}
	for k, v := range bundle {
		files[k] = v
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithEnv([]string{"MASTER_USERNAME=master-user", "MASTER_PASSWORD=master-pw"}),
		cli.WithDotEnv, cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	project, err := cli.ProjectFromOptions(context.Background(), opts)
	if err != nil {
		t.Fatalf("compose-go rejects the rendered compose file: %v\n%s", err, bundle["compose.yaml"])
	}
	return project
}

func rdsInstance(t *testing.T, res *mockcloud.Result) (address, port, masterARN string) {
	t.Helper()
	db := one(t, res, "aws:rds/instance:Instance")
	address, _ = db.Out("address").(string)
	if p, ok := db.Out("port").(float64); ok {
		port = fmt.Sprint(int(p))
	}
	masterARN, _ = db.Out("masterUserSecrets[0].secretArn").(string)
	if address == "" || port == "" || !strings.Contains(masterARN, ":secret:rds!db-") {
		t.Fatalf("%s: the RDS instance's outputs %q %q %q", res.Stack, address, port, masterARN)
	}
	return address, port, masterARN
}

// The host's release points at RDS: no db service (no Postgres container,
// no volume, no dependency on it), the API and the worker carry RDS's
// address and port (outputs of the instance) and TLS, and the release
// carries the db-setup step and its settings.
func TestHostRDSReleasePointsAtRDS(t *testing.T) {
	for _, stack := range hostRDSStacks {
		res := deploy(t, stack, onHostRDS)
		address, port, masterARN := rdsInstance(t, res)
		bundle := bundleOf(t, res)

		project := loadCompose(t, bundle)
		if got := slices.Sorted(func(yield func(string) bool) {
			for name := range project.Services {
				if !yield(name) {
					return
				}
			}
		}); !slices.Equal(got, []string{"api-blue", "api-green", "proxy", "worker"}) {
			t.Errorf("%s: services %v, want the API slots, the worker and the proxy only", stack, got)
		}
		if len(project.Volumes) != 0 {
			t.Errorf("%s: volumes %v: the data directory is no compose volume without the db service", stack, project.Volumes)
		}
		for name, svc := range project.Services {
			if _, ok := svc.DependsOn["db"]; ok {
				t.Errorf("%s: %s depends on db", stack, name)
			}
		}
		if _, ok := bundle["db.env"]; ok {
			t.Errorf("%s: the bundle has db.env, which no service reads", stack)
		}
		if strings.Contains(bundle["compose.yaml"], "SLIPWAY_BACKUP_") || strings.Contains(bundle["compose.yaml"], "pgdata") {
			t.Errorf("%s: archiver settings or the pgdata volume in the rds compose file", stack)
		}
		for _, file := range []string{"api.env", "worker.env"} {
			env := envFileOf(t, bundle[file])
			want := map[string]string{"DATABASE_HOST": address, "DATABASE_PORT": port, "PGSSLMODE": "no-verify",
				"DATABASE_USER": "app", "DATABASE_NAME": "app"}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("%s: %s %s = %q, want %q", stack, file, k, env[k], v)
				}
			}
			if _, ok := env["DATABASE_PASSWORD"]; ok {
				t.Errorf("%s: the password is a plain setting in %s", stack, file)
			}
		}
		// Only the API slots and the worker reach IMDS (no db to label).
		for name, svc := range project.Services {
			allowed := svc.Labels["slipway.imds"] == "allow"
			if allowed != (name == "api-blue" || name == "api-green" || name == "worker") {
				t.Errorf("%s: %s slipway.imds=%v", stack, name, allowed)
			}
		}

		// db-setup: only when run by name (its profile), the API's image
		// and settings, the master credentials from the run's environment
		// only, no fixed address (so no IMDS).
		withSetup := loadComposeWith(t, bundle, []string{"db-setup"})
		setup, ok := withSetup.Services["db-setup"]
		if !ok {
			t.Fatalf("%s: no db-setup service", stack)
		}
		if setup.Image != project.Services["api-blue"].Image {
			t.Errorf("%s: db-setup runs %s, not the API's image", stack, setup.Image)
		}
		if u, p := setup.Environment["MASTER_USERNAME"], setup.Environment["MASTER_PASSWORD"]; u == nil || *u != "master-user" || p == nil || *p != "master-pw" {
			t.Errorf("%s: db-setup does not take the master credentials from the run's environment: %v", stack, setup.Environment)
		}
		if strings.Contains(bundle["compose.yaml"], "master-pw") {
			t.Errorf("%s: a master password in the compose file", stack)
		}
		if setup.Environment["DATABASE_HOST"] == nil || *setup.Environment["DATABASE_HOST"] != address || *setup.Environment["PGSSLMODE"] != "no-verify" {
			t.Errorf("%s: db-setup's environment %v", stack, setup.Environment)
		}
		cmd := strings.Join(setup.Command, " ")
		if !strings.Contains(cmd, "CREATE ROLE ${id.u} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE") || !strings.Contains(cmd, "CREATE DATABASE ${id.d} OWNER ${id.u}") {
			t.Errorf("%s: db-setup's command after compose's interpolation: %s", stack, cmd)
		}
		for _, n := range setup.Networks {
			if n != nil && n.Ipv4Address != "" {
				t.Errorf("%s: db-setup has the fixed address %s", stack, n.Ipv4Address)
			}
		}
		if len(setup.Labels) != 0 || len(setup.Ports) != 0 {
			t.Errorf("%s: db-setup labels %v ports %v", stack, setup.Labels, setup.Ports)
		}

		var settings map[string]string
		if err := json.Unmarshal([]byte(bundle["database.json"]), &settings); err != nil {
			t.Fatalf("%s: database.json: %v", stack, err)
		}
		if settings["address"] != address || settings["masterSecretArn"] != masterARN || settings["region"] != "us-east-1" ||
			settings["containerDataDir"] != "/srv/slipway/data/postgres" {
			t.Errorf("%s: database.json %v", stack, settings)
		}
		// The move marks the directory db-setup looks in.
		move, err := os.ReadFile(moveScript)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(move), `marker="${SLIPWAY_MOVED_MARKER:-`+settings["containerDataDir"]+`/MOVED-TO-RDS}"`) {
			t.Errorf("%s: the move script's default marker is not in %s, where db-setup looks", stack, settings["containerDataDir"])
		}
		// The cutover of this release runs db-setup first.
		for path, file := range map[string]string{"bin/slipway-cutover": "slipway-cutover.sh", "bin/slipway-db-setup": "slipway-db-setup.py"} {
			b, err := os.ReadFile(filepath.Join("hostfiles", file))
			if err != nil {
				t.Fatal(err)
			}
			if bundle[path] != string(b) {
				t.Errorf("%s: %s is not hostfiles/%s", stack, path, file)
			}
		}
	}
}

// The container database's stacks render what they rendered: db service,
// db.env, the cutover itself as bin/slipway-cutover, nothing of RDS.
func TestContainerReleaseIsUnchangedByHostRDS(t *testing.T) {
	cutover, err := os.ReadFile("hostfiles/slipway-cutover.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, stack := range allStacks {
		bundle := bundleOf(t, deploy(t, stack))
		if _, ok := loadCompose(t, bundle).Services["db"]; !ok {
			t.Errorf("%s: no db service with the container database", stack)
		}
		for _, absent := range []string{"database.json", "bin/slipway-db-setup"} {
			if _, ok := bundle[absent]; ok {
				t.Errorf("%s: %s in a container release", stack, absent)
			}
		}
		if bundle["bin/slipway-cutover"] != string(cutover) || envFileOf(t, bundle["api.env"])["DATABASE_HOST"] != "db" {
			t.Errorf("%s: the container release changed", stack)
		}
		if strings.Contains(bundle["api.env"], "PGSSLMODE") {
			t.Errorf("%s: PGSSLMODE in a container release", stack)
		}
	}
}

// secretsStatements are the host role's statements that name a Secrets
// Manager action (or a wildcard that would cover one).
func secretsStatements(t *testing.T, res *mockcloud.Result) (sids []string, actions, resources []string) {
	t.Helper()
	rp, ok := res.Find("aws:iam/rolePolicy:RolePolicy", "host")
	if !ok {
		t.Fatalf("%s: no host role policy", res.Stack)
	}
	for _, st := range parsePolicy(t, rp.Str("policy")).Statement {
		for _, a := range strs(st.Action) {
			if strings.HasPrefix(a, "secretsmanager:") || a == "*" {
				sids = append(sids, st.Sid)
				actions = append(actions, strs(st.Action)...)
				resources = append(resources, strs(st.Resource)...)
				break
			}
		}
	}
	return sids, actions, resources
}

// The host role may read exactly the RDS master secret in host + rds mode,
// and no secret at all with the container database.
func TestHostRDSRoleReadsTheMasterSecretOnly(t *testing.T) {
	for _, stack := range hostRDSStacks {
		res := deploy(t, stack, onHostRDS)
		_, _, masterARN := rdsInstance(t, res)
		sids, actions, resources := secretsStatements(t, res)
		if !slices.Equal(actions, []string{"secretsmanager:GetSecretValue"}) || !slices.Equal(resources, []string{masterARN}) || len(sids) != 1 {
			t.Errorf("%s: the host role's Secrets Manager statements %v: %v on %v, want GetSecretValue on %s alone", stack, sids, actions, resources, masterARN)
		}
		if sids, _, _ := secretsStatements(t, deploy(t, stack)); len(sids) != 0 {
			t.Errorf("%s: with the container database the host role has Secrets Manager statements %v", stack, sids)
		}
	}
}

// Nothing that holds data goes: every resource of the container stack is
// still there in host + rds mode, at the same URN and under the same
// parent (the data volume, its snapshots and backups, the archive, the
// secrets, the release), with the same inputs for the data volume; what
// is new is the database and its network rule. The archiver's alarms stay
// but no longer page on missing data (no Postgres container publishes).
func TestHostRDSKeepsTheDataAndUnconcernedURNs(t *testing.T) {
	for _, stack := range hostRDSStacks {
		before := deploy(t, stack).ByURN()
		after := deploy(t, stack, onHostRDS).ByURN()
		for urn, r := range before {
			got, ok := after[urn]
			if !ok {
				t.Errorf("%s: %s is gone in host + rds mode", stack, urn)
				continue
			}
			if got.Parent != r.Parent || got.Protect != r.Protect || got.RetainOnDelete != r.RetainOnDelete {
				t.Errorf("%s: %s changed parent or protection", stack, urn)
			}
			if r.Type == "aws:ebs/volume:Volume" || r.Type == "aws:ec2/volumeAttachment:VolumeAttachment" || r.Type == "aws:dlm/lifecyclePolicy:LifecyclePolicy" {
				if mustJSON(r.Inputs.Mappable()) != mustJSON(got.Inputs.Mappable()) {
					t.Errorf("%s: %s has other inputs in host + rds mode", stack, urn)
				}
			}
		}
		for urn, r := range after {
			if _, ok := before[urn]; !ok && !strings.Contains(urn, "::slipway:database:Database") {
				t.Errorf("%s: new in host + rds mode and not the database's: %s (%s)", stack, urn, r.Type)
			}
		}
		for _, r := range mustHaveVolume(t, stack, after) {
			if stack == "prod" && !r.Protect {
				t.Errorf("prod: the data volume is not protected in host + rds mode")
			}
		}
		for urn, r := range after {
			if strings.HasSuffix(urn, "::backup-archive-failures") || strings.HasSuffix(urn, "::backup-wal-pending") {
				if r.In("treatMissingData") != "notBreaching" {
					t.Errorf("%s: %s treats missing data as %v; with RDS no db container publishes", stack, r.Name, r.In("treatMissingData"))
				}
				if b := before[urn]; stack == "prod" && b.In("treatMissingData") != "breaching" {
					t.Errorf("prod: %s with the container database treats missing data as %v", r.Name, b.In("treatMissingData"))
				}
			}
		}
	}
}

func mustHaveVolume(t *testing.T, stack string, res map[string]mockcloud.Resource) []mockcloud.Resource {
	t.Helper()
	var out []mockcloud.Resource
	for _, r := range res {
		if r.Type == "aws:ebs/volume:Volume" {
			out = append(out, r)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%s: %d data volumes in host + rds mode, want 1", stack, len(out))
	}
	return out
}

// --- the host side: db-setup and the rds cutover, with stand-ins for
// boto3 and docker ---

// dbSetupEnv is a release directory with database.json, a data directory,
// a boto3 stand-in that serves the master secret (and records the ids it
// was asked for), and a docker stand-in that records its arguments and the
// master credentials it was given, and exits with $FAKE_DOCKER_EXIT.
type dbSetupEnv struct {
	dir, release, data string
	env                []string
}

func newDBSetupEnv(t *testing.T) *dbSetupEnv {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	e := &dbSetupEnv{dir: t.TempDir()}
	e.release = filepath.Join(e.dir, "release")
	e.data = filepath.Join(e.dir, "data", "postgres")
	for _, d := range []string{e.release, e.data, filepath.Join(e.dir, "py"), filepath.Join(e.dir, "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	settings, _ := json.Marshal(map[string]string{"address": "slipway-prod-db.x.us-east-1.rds.amazonaws.com", "port": "5432",
		"masterSecretArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:rds!db-abc-XyZ", "region": "us-east-1",
		"containerDataDir": e.data})
	write := func(path, content string, mode os.FileMode) {
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(e.release, "database.json"), string(settings), 0o644)
	write(filepath.Join(e.dir, "py", "boto3.py"), `import json, os
class _SM:
    def get_secret_value(self, SecretId):
        with open(os.environ["FAKE_LOG"], "a") as f:
            f.write("secret " + SecretId + "\n")
        return {"SecretString": json.dumps({"username": "slipway_admin", "password": "master pw $x'\"1"})}
def client(name, region_name=None):
    assert name == "secretsmanager" and region_name == "us-east-1", (name, region_name)
    return _SM()
`, 0o644)
	write(filepath.Join(e.dir, "bin", "docker"), `#!/bin/bash
{ echo "docker $* (in $PWD)"; echo "env $MASTER_USERNAME/$MASTER_PASSWORD"; } >>"$FAKE_LOG"
[ -z "${FAKE_DOCKER_OUTPUT:-}" ] || echo "$FAKE_DOCKER_OUTPUT" >&2
exit "${FAKE_DOCKER_EXIT:-0}"
`, 0o755)
	e.env = append(os.Environ(), "PYTHONPATH="+filepath.Join(e.dir, "py"), "PATH="+filepath.Join(e.dir, "bin")+":"+os.Getenv("PATH"),
		"FAKE_LOG="+filepath.Join(e.dir, "log"))
	return e
}

func (e *dbSetupEnv) run(t *testing.T, extra ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("python3", "hostfiles/slipway-db-setup.py", e.release)
	cmd.Env = append(append([]string{}, e.env...), extra...)
	out, err := cmd.CombinedOutput()
	code := 0
	if x, ok := err.(*exec.ExitError); ok {
		code = x.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func (e *dbSetupEnv) log() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "log"))
	_ = os.Remove(filepath.Join(e.dir, "log"))
	return string(b)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// db-setup on a new stack runs the release's db-setup service once, with
// the master credentials in that command's environment only; on a host
// whose own database holds data it refuses until the move marked that
// data as moved to this RDS address, and then it runs.
func TestDBSetupRunsOnceAndOnlyAfterTheMove(t *testing.T) {
	e := newDBSetupEnv(t)
	// A new stack: no Postgres data on the host.
	out, code := e.run(t)
	log := e.log()
	if code != 0 || !strings.Contains(out, "nothing to move") || !strings.Contains(out, "role is ready") {
		t.Fatalf("new stack: exit %d\n%s", code, out)
	}
	wantRun := "docker compose run --rm --no-deps -T db-setup (in " + e.release + ")"
	if !strings.Contains(log, "secret arn:aws:secretsmanager:us-east-1:111111111111:secret:rds!db-abc-XyZ\n") ||
		!strings.Contains(log, wantRun+"\nenv slipway_admin/master pw $x'\"1\n") || strings.Count(log, "docker ") != 1 {
		t.Errorf("new stack: the secret read and the run:\n%s", log)
	}
	if strings.Contains(out, "master pw") {
		t.Errorf("the master password reached the output:\n%s", out)
	}

	// The host's own database, not moved: refused before the secret is read.
	cluster := filepath.Join(e.data, "18", "docker")
	if err := os.MkdirAll(cluster, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cluster, "PG_VERSION"), []byte("18\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = e.run(t)
	if code == 0 || !strings.Contains(lastLine(out), "slipway-db-setup: the host's own database ("+cluster+") has not been moved to RDS: run slipway-move-to-rds") {
		t.Errorf("not moved: exit %d\n%s", code, out)
	}
	if log := e.log(); log != "" {
		t.Errorf("not moved, yet it read the secret or ran docker:\n%s", log)
	}
	// Moved elsewhere (another RDS instance): refused.
	marker := filepath.Join(e.data, "MOVED-TO-RDS")
	if err := os.WriteFile(marker, []byte("slipway-prod-db.old.us-east-1.rds.amazonaws.com\nmoved ...\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code = e.run(t); code == 0 || !strings.Contains(lastLine(out), "was moved to slipway-prod-db.old.us-east-1.rds.amazonaws.com") || e.log() != "" {
		t.Errorf("moved elsewhere: exit %d\n%s", code, out)
	}
	// Moved here: runs.
	if err := os.WriteFile(marker, []byte("slipway-prod-db.x.us-east-1.rds.amazonaws.com\nmoved ...\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code = e.run(t); code != 0 || !strings.Contains(e.log(), wantRun) {
		t.Errorf("moved: exit %d\n%s", code, out)
	}
	// The step's own failure is the reason.
	out, code = e.run(t, "FAKE_DOCKER_EXIT=1", "FAKE_DOCKER_OUTPUT=db-setup failed: role app may create roles or databases or is a superuser: refusing to use it")
	if code == 0 || lastLine(out) != "slipway-db-setup: db-setup failed: role app may create roles or databases or is a superuser: refusing to use it" {
		t.Errorf("failing step: exit %d\n%s", code, out)
	}
	// Not an rds release.
	if err := os.Remove(filepath.Join(e.release, "database.json")); err != nil {
		t.Fatal(err)
	}
	if out, code = e.run(t); code == 0 || !strings.Contains(out, "not a host + rds release") {
		t.Errorf("no database.json: exit %d\n%s", code, out)
	}
}

// The cutover of an rds release (bin/slipway-db-setup beside it) runs
// db-setup on the project directory before anything else: a failed
// db-setup stops it before any docker call, with db-setup's reason on the
// last line; a successful one lets the cutover go on to compose. A
// cutover without db-setup beside it (a container release) goes straight
// to compose.
func TestCutoverRunsDBSetupFirst(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	stub := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/bash\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	setup := stub("db-setup", `echo "db-setup $*" >>"`+log+`"; echo "slipway-db-setup: checked" >&2
[ -z "${FAIL:-}" ] || { echo "slipway-db-setup: db-setup failed: RDS said no" >&2; exit 1; }`)
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// A docker that records the call and fails: the cutover stops at its
	// first compose call, which is all this test needs to see.
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte("#!/bin/bash\necho \"docker $*\" >>\""+log+"\"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	project := filepath.Join(dir, "project")
	if err := os.Mkdir(project, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "compose.yaml"), []byte("name: slipway\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(extra ...string) (string, error) {
		_ = os.Remove(log)
		cmd := exec.Command("bash", "hostfiles/slipway-cutover.sh", project, "none")
		cmd.Env = append(os.Environ(), append([]string{"PATH=" + bin + ":" + os.Getenv("PATH"),
			"SLIPWAY_CUTOVER_STATE=" + filepath.Join(dir, "state"), "SLIPWAY_PROXY_STATE=" + filepath.Join(dir, "proxy")}, extra...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	ran := func() string { b, _ := os.ReadFile(log); return string(b) }
	if out, err := run("SLIPWAY_DB_SETUP=" + setup); err == nil || !strings.HasPrefix(ran(), "db-setup "+project+"\ndocker compose ") {
		t.Errorf("db-setup first, then compose: %v\n%s\nran:\n%s", err, out, ran())
	}
	out, err := run("SLIPWAY_DB_SETUP="+setup, "FAIL=1")
	if err == nil || !strings.Contains(lastLine(out), "db-setup on RDS failed: db-setup failed: RDS said no; nothing was changed") {
		t.Errorf("failing db-setup: %v\n%s", err, out)
	}
	if got := ran(); got != "db-setup "+project+"\n" {
		t.Errorf("after a failed db-setup it ran:\n%s", got)
	}
	if _, err := run(); !strings.HasPrefix(ran(), "docker compose ") {
		t.Errorf("without db-setup beside it: %v, ran:\n%s", err, ran())
	}
}

// The hourly base backup finds no db service in a host + rds release and
// does nothing, successfully: RDS's automated backups are the backup.
func TestBackupTimerIsANoOpWithoutTheDBContainer(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(filepath.Join(dir, "releases", "current"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// docker compose as on an rds release: there is no db service.
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte("#!/bin/bash\necho 'no such service: db' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "hostfiles/slipway-backup.sh")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "SLIPWAY_HOST_ENV=/nonexistent",
		"SLIPWAY_RELEASES="+filepath.Join(dir, "releases"), "SLIPWAY_BACKUP_LOCK="+filepath.Join(dir, "lock"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "nothing to do") {
		t.Errorf("slipway-backup on an rds release: %v\n%s", err, out)
	}
}

// --- for real: the rendered db-setup and the cutover's migration against
// a TLS-only Postgres whose admin is not a superuser (as RDS's master) ---

// composeCommand is a service's command from the rendered compose file, as
// compose runs it ($$ is a literal $).
func composeCommand(t *testing.T, compose, service string) []string {
	t.Helper()
	var doc struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(compose), &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range doc.Services[service].Command {
		out = append(out, strings.ReplaceAll(a, "$$", "$"))
	}
	if len(out) == 0 {
		t.Fatalf("no command for %s", service)
	}
	return out
}

// The host + rds release's own steps, with the environment its api.env
// and secrets give them: db-setup (as the master) creates the app's role
// and database, twice without harm (the second only sets the password);
// the cutover's migration (node src/migrate.js) then applies the schema as
// that role over TLS (PGSSLMODE=no-verify against a TLS-only server), and
// the worker's settings reach the same database.
func TestHostRDSStepsRunAgainstPostgres(t *testing.T) {
	node, rds := rdsLikeServer(t, "slipway-hostrds-")

	bundle := bundleOf(t, deploy(t, "pr-7", onHostRDS))
	environ := func(file, password string, master bool) []string {
		env := []string{"PATH=" + os.Getenv("PATH")}
		for k, v := range envFileOf(t, bundle[file]) {
			switch k {
			case "DATABASE_HOST":
				v = "127.0.0.1"
			case "DATABASE_PORT":
				v = rds.port
			}
			env = append(env, k+"="+v)
		}
		// secrets/api.env, and the master only in db-setup's run.
		env = append(env, "DATABASE_PASSWORD="+password)
		if master {
			env = append(env, "MASTER_USERNAME=slipway_admin", "MASTER_PASSWORD=rds-master-pw")
		}
		return env
	}
	runNode := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(node, args...)
		cmd.Dir = "../app/api"
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	setup := composeCommand(t, bundle["compose.yaml"], "db-setup")
	if setup[0] != "node" {
		t.Fatalf("db-setup runs %v", setup)
	}
	for i, pw := range []string{"first-app-password-123", testDBPassword} {
		if out, err := runNode(environ("api.env", pw, true), setup[1:]...); err != nil {
			t.Fatalf("db-setup run %d: %v\n%s", i+1, err, out)
		}
	}
	// The cutover's migration: `compose run api-<slot> node src/migrate.js`.
	if out, err := runNode(environ("api.env", testDBPassword, false), "src/migrate.js"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	app := func(sql string) string { return rds.psql(t, "app", testDBPassword, "app", "require", sql) }
	if got := app("SELECT count(*) > 0 FROM schema_migrations"); got != "t" {
		t.Errorf("no migrations recorded: %s", got)
	}
	assertAppRoleNarrow(t, app)
	// The worker's settings reach the same database (its migration is a no-op now).
	if out, err := runNode(environ("worker.env", testDBPassword, false), "src/migrate.js"); err != nil {
		t.Fatalf("migrate with the worker's settings: %v\n%s", err, out)
	}
	// Without TLS the server refuses, as RDS with rds.force_ssl does:
	// PGSSLMODE is what makes the connection work.
	plain := slices.DeleteFunc(environ("api.env", testDBPassword, false), func(s string) bool { return strings.HasPrefix(s, "PGSSLMODE=") })
	if out, err := runNode(append(plain, "PGSSLMODE=disable"), "src/migrate.js"); err == nil {
		t.Errorf("migrate without TLS succeeded against a TLS-only server:\n%s", out)
	}
}

// After a verified move the host's database is fenced (new sessions are
// read-only) and the data directory is marked as moved to this RDS
// address, which is what db-setup requires; a failed move leaves neither.
func TestMoveToRDSFencesAndMarksTheHost(t *testing.T) {
	f := newMoveFixture(t)
	marker := filepath.Join(f.dir, "MOVED-TO-RDS")
	out, err := f.move(t)
	if err != nil {
		t.Fatalf("move failed: %v\n%s", err, out)
	}
	b, err := os.ReadFile(marker)
	if err != nil || !strings.HasPrefix(string(b), "127.0.0.1\n") {
		t.Errorf("marker %q (%v)", b, err)
	}
	if got := f.src.psql(t, "app", "host-app-pw", "app", "disable", "SHOW default_transaction_read_only"); got != "on" {
		t.Errorf("the host's database after the move: default_transaction_read_only = %s", got)
	}
	write := exec.Command(f.src.bin+"/psql", "-X", "-v", "ON_ERROR_STOP=1", "-d",
		"host=127.0.0.1 port="+f.src.port+" dbname=app user=app sslmode=disable", "-c", "INSERT INTO notes (body) VALUES ('after the move')")
	write.Env = append(os.Environ(), "PGPASSWORD=host-app-pw")
	if out, err := write.CombinedOutput(); err == nil || !strings.Contains(string(out), "read-only transaction") {
		t.Errorf("a write to the host's database after the move: %v\n%s", err, out)
	}
	for _, want := range []string{"pulumi up                                  # compute host", "rm " + marker, "RESET default_transaction_read_only"} {
		if !strings.Contains(out, want) {
			t.Errorf("the move's next steps lack %q:\n%s", want, out)
		}
	}

	// A move whose verification fails marks nothing and leaves the host writable.
	g := newMoveFixture(t)
	g.dst.psql(t, "postgres", "postgres-super-pw", "postgres", "require", "CREATE ROLE app LOGIN SUPERUSER PASSWORD 'x'")
	if out, err := g.move(t); err == nil {
		t.Fatalf("a move onto a superuser role succeeded:\n%s", out)
	}
	if exists(filepath.Join(g.dir, "MOVED-TO-RDS")) {
		t.Error("a failed move wrote the marker")
	}
	if got := g.src.psql(t, "app", "host-app-pw", "app", "disable", "SHOW default_transaction_read_only"); got != "off" {
		t.Errorf("a failed move left the host's database read-only (%s)", got)
	}
}
