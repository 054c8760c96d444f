package infra_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The move script runs for real between two local Postgres servers: a
// "host" one (the db container's role and data) and an "RDS" one that,
// like RDS with rds.force_ssl, accepts only TLS connections and whose
// admin is not a superuser (CREATEROLE, CREATEDB), as RDS's master is not.

const moveScript = "hostfiles/slipway-move-to-rds.sh"

type pgServer struct {
	bin, dir, port string
}

func pgBin(t *testing.T) string {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p)
		}
		t.Skip("no Postgres server binaries (initdb) on this machine")
	}
	return filepath.Dir(matches[len(matches)-1])
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// asPostgres runs a server command as the postgres user when the test
// runs as root (initdb refuses root).
func asPostgres(t *testing.T, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root without a postgres user to run the server as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	return cmd
}

func run(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

// startPostgres initialises and starts a cluster on a loopback port with
// a password-protected superuser postgres; tls makes it accept TLS only.
func startPostgres(t *testing.T, base, name string, tls bool) pgServer {
	t.Helper()
	bin := pgBin(t)
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(base, name+".pw")
	if err := os.WriteFile(pw, []byte("postgres-super-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chownPostgres(t, dir, pw)
	run(t, asPostgres(t, bin+"/initdb", "-D", dir, "-U", "postgres", "--auth=scram-sha-256", "--pwfile="+pw, "--no-sync"))
	hba := "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
	opts := []string{"-c listen_addresses=127.0.0.1", "-c unix_socket_directories=" + dir, "-c fsync=off"}
	if tls {
		key, crt := filepath.Join(dir, "server.key"), filepath.Join(dir, "server.crt")
		run(t, exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=rds.test",
			"-keyout", key, "-out", crt))
		chownPostgres(t, key, crt)
		// TLS only, as rds.force_ssl=1: a plain connection finds no hba line.
		hba = "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
		opts = append(opts, "-c ssl=on", "-c ssl_cert_file="+crt, "-c ssl_key_file="+key)
	}
	if err := os.WriteFile(filepath.Join(dir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	chownPostgres(t, filepath.Join(dir, "pg_hba.conf"))
	s := pgServer{bin: bin, dir: dir, port: freePort(t)}
	opts = append(opts, "-p "+s.port)
	run(t, asPostgres(t, bin+"/pg_ctl", "-D", dir, "-l", filepath.Join(dir, "log"), "-o", strings.Join(opts, " "), "-w", "start"))
	t.Cleanup(func() { _ = asPostgres(t, bin+"/pg_ctl", "-D", dir, "-m", "immediate", "-w", "stop").Run() })
	return s
}

func chownPostgres(t *testing.T, paths ...string) {
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Skip("no postgres user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}

// psql runs SQL on a server as a user, over TCP.
func (s pgServer) psql(t *testing.T, user, password, db, sslmode, sql string) string {
	t.Helper()
	cmd := exec.Command(s.bin+"/psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-d",
		fmt.Sprintf("host=127.0.0.1 port=%s dbname=%s user=%s sslmode=%s", s.port, db, user, sslmode), "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
	return strings.TrimSpace(run(t, cmd))
}

// moveFixture is a host database with the app's shape and awkward data,
// and an empty RDS stand-in with a non-superuser admin.
type moveFixture struct {
	src, dst pgServer
	dir      string
	env      []string
}

func newMoveFixture(t *testing.T) *moveFixture {
	t.Helper()
	for _, tool := range []string{"bash", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	base, err := os.MkdirTemp("", "slipway-move-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &moveFixture{dir: base}
	f.src = startPostgres(t, base, "host", false)
	f.dst = startPostgres(t, base, "rds", true)

	// The host: the container's role owns the app database.
	f.src.psql(t, "postgres", "postgres-super-pw", "postgres", "disable", "CREATE ROLE app LOGIN PASSWORD 'host-app-pw'")
	f.src.psql(t, "postgres", "postgres-super-pw", "postgres", "disable", "CREATE DATABASE app OWNER app")
	f.src.psql(t, "app", "host-app-pw", "app", "disable", `
		CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO schema_migrations (version, name) VALUES (1, 'jobs'), (2, 'notes');
		CREATE TABLE jobs (id bigserial PRIMARY KEY, kind text NOT NULL, payload jsonb, state text NOT NULL DEFAULT 'queued',
		                   created_at timestamptz NOT NULL DEFAULT now(), blob bytea);
		INSERT INTO jobs (kind, payload, blob) SELECT 'k' || (g % 7), jsonb_build_object('n', g, 'tags', ARRAY['a', 'ü'||g]),
		       decode(md5(g::text), 'hex') FROM generate_series(1, 2500) g;
		CREATE TABLE notes (id serial PRIMARY KEY, body text, job_id bigint REFERENCES jobs(id));
		INSERT INTO notes (body, job_id) VALUES (E'line one\nline two\ttab', 1), (NULL, 2), ('quote '' and "double"', 3), ('', NULL);
		CREATE TABLE empty_things (x int);
		CREATE INDEX jobs_state ON jobs (state);`)
	// RDS: a master that is not a superuser, as RDS's is not.
	f.dst.psql(t, "postgres", "postgres-super-pw", "postgres", "require",
		"CREATE ROLE slipway_admin LOGIN CREATEROLE CREATEDB PASSWORD 'rds-master-pw'")

	f.env = append(os.Environ(),
		"SRC_HOST=127.0.0.1", "SRC_PORT="+f.src.port, "SRC_DB=app", "SRC_USER=app", "SRC_PASSWORD=host-app-pw",
		"DST_HOST=127.0.0.1", "DST_PORT="+f.dst.port, "DST_DB=app", "DST_ADMIN_USER=slipway_admin",
		"DST_ADMIN_PASSWORD=rds-master-pw", "DST_APP_USER=app", "DST_APP_PASSWORD=rds-app-pw-0123456789",
		"SLIPWAY_PG_BIN="+f.src.bin,
		"SLIPWAY_STOP_WRITERS=touch "+filepath.Join(base, "writers-stopped"),
		"SLIPWAY_START_WRITERS=touch "+filepath.Join(base, "writers-started"),
		"SLIPWAY_MOVED_MARKER="+filepath.Join(base, "MOVED-TO-RDS"))
	return f
}

func (f *moveFixture) move(t *testing.T, extra ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", moveScript)
	cmd.Env = append(append([]string{}, f.env...), extra...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestMoveToRDSCopiesAndVerifies(t *testing.T) {
	f := newMoveFixture(t)
	out, err := f.move(t)
	if err != nil {
		t.Fatalf("move failed: %v\n%s", err, out)
	}
	t.Log(out)
	for _, want := range []string{"public.jobs", "2500", "public.notes", "public.empty_things", "public.jobs_id_seq",
		"verified 4 tables and 2 sequences", "pulumi config set slipway:compute ecs", "writers on this host stay stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "MISMATCH") {
		t.Errorf("mismatch reported:\n%s", out)
	}
	if !exists(filepath.Join(f.dir, "writers-stopped")) || exists(filepath.Join(f.dir, "writers-started")) {
		t.Error("a successful move must stop the writers and leave them stopped")
	}
	// On "RDS": the same rows, owned by the application's own role, which
	// is no superuser and cannot create roles or databases; TLS only.
	app := func(sql string) string { return f.dst.psql(t, "app", "rds-app-pw-0123456789", "app", "require", sql) }
	if got := app("SELECT count(*), sum(id), count(DISTINCT payload) FROM jobs"); got != "2500|3126250|2500" {
		t.Errorf("jobs on RDS: %s", got)
	}
	if got := app(`SELECT body FROM notes WHERE id = 1`); got != "line one\nline two\ttab" {
		t.Errorf("notes body %q", got)
	}
	assertAppRoleNarrow(t, app)
	if got := app("SELECT nextval('jobs_id_seq')"); got != "2501" {
		t.Errorf("sequence continues at %s, want 2501", got)
	}
	plain := exec.Command(f.dst.bin+"/psql", "-X", "-d", "host=127.0.0.1 port="+f.dst.port+" dbname=app user=app sslmode=disable", "-c", "SELECT 1")
	plain.Env = append(os.Environ(), "PGPASSWORD=rds-app-pw-0123456789")
	if err := plain.Run(); err == nil {
		t.Error("the RDS stand-in accepted a plain connection")
	}
	// A second run refuses to restore over the copy.
	if out, err := f.move(t); err == nil || !strings.Contains(out, "already holds 4 tables") {
		t.Errorf("second move: %v\n%s", err, out)
	}
}

// A writer still connected means the copy would not be consistent: the
// move stops before copying anything and starts the writers again.
func TestMoveToRDSRefusesWhileAWriterIsConnected(t *testing.T) {
	f := newMoveFixture(t)
	hold := exec.Command(f.src.bin+"/psql", "-X", "-d", "host=127.0.0.1 port="+f.src.port+" dbname=app user=app sslmode=disable",
		"-c", "SELECT pg_sleep(60)")
	hold.Env = append(os.Environ(), "PGPASSWORD=host-app-pw")
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hold.Process.Kill(); _ = hold.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for f.src.psql(t, "app", "host-app-pw", "app", "disable",
		"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("the holding session never connected")
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, err := f.move(t)
	if err == nil || !strings.Contains(out, "other sessions are still connected") {
		t.Fatalf("move with a writer connected: %v\n%s", err, out)
	}
	if !exists(filepath.Join(f.dir, "writers-started")) || !strings.Contains(out, "starting the writers again") {
		t.Error("a failed move must start the writers again")
	}
	if got := f.dst.psql(t, "postgres", "postgres-super-pw", "postgres", "require",
		"SELECT count(*) FROM pg_database WHERE datname = 'app'"); got != "0" {
		t.Errorf("the failed move created the RDS database (%s)", got)
	}
}

// The verification can fail: a restore that loses a row is caught, the
// move fails and the writers start again.
func TestMoveToRDSDetectsADifference(t *testing.T) {
	f := newMoveFixture(t)
	// A pg_restore that drops one row after restoring, standing in for a
	// copy that went wrong.
	wrap := filepath.Join(f.dir, "bin")
	if err := os.MkdirAll(wrap, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"psql", "pg_dump"} {
		if err := os.Symlink(filepath.Join(f.src.bin, tool), filepath.Join(wrap, tool)); err != nil {
			t.Fatal(err)
		}
	}
	script := "#!/usr/bin/env bash\nset -e\n" + f.src.bin + "/pg_restore \"$@\"\n" +
		f.src.bin + "/psql -X -q -d \"${@: -2:1}\" -c 'DELETE FROM notes WHERE id = 4'\n"
	if err := os.WriteFile(filepath.Join(wrap, "pg_restore"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := f.move(t, "SLIPWAY_PG_BIN="+wrap)
	if err == nil || !strings.Contains(out, "MISMATCH") || !strings.Contains(out, "public.notes") {
		t.Fatalf("a lost row was not caught: %v\n%s", err, out)
	}
	if !exists(filepath.Join(f.dir, "writers-started")) {
		t.Error("writers not started again after a failed verification")
	}
}

func TestMoveToRDSScriptIsClean(t *testing.T) {
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck not installed")
	}
	if out, err := exec.Command(shellcheck, moveScript).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// The API task's db-setup and migrate steps, exactly as the task
// definition renders them (command and environment), run for real with
// Node against a TLS-only Postgres whose admin is not a superuser (as
// RDS's master): db-setup creates the application's role and database,
// twice without harm; migrate applies the app's migrations as that role.
func TestECSDatabaseStepsRunAgainstPostgres(t *testing.T) {
	node, rds := rdsLikeServer(t, "slipway-dbsetup-")

	res := deploy(t, "pr-7", onECSFor("pr-7"))
	cs := containersOf(t, mustFind(t, res, "aws:ecs/taskDefinition:TaskDefinition", "cluster-api"))
	step := func(name string, password string) (string, error) {
		c := byName(cs, name)
		cmd := c["command"].([]any)
		run := exec.Command(node, cmd[1].(string), cmd[2].(string))
		run.Dir = "../app/api"
		env := []string{"PATH=" + os.Getenv("PATH")}
		for _, e := range c["environment"].([]any) {
			kv := e.(map[string]any)
			v := kv["value"].(string)
			switch kv["name"] {
			case "DATABASE_HOST":
				v = "127.0.0.1"
			case "DATABASE_PORT":
				v = rds.port
			}
			env = append(env, kv["name"].(string)+"="+v)
		}
		// What ECS injects from SSM and Secrets Manager.
		env = append(env, "DATABASE_PASSWORD="+password, "MASTER_USERNAME=slipway_admin", "MASTER_PASSWORD=rds-master-pw")
		run.Env = env
		out, err := run.CombinedOutput()
		return string(out), err
	}
	for i, pw := range []string{"first-app-password-123", "rotated-app-password-456"} {
		if out, err := step("db-setup", pw); err != nil {
			t.Fatalf("db-setup run %d: %v\n%s", i+1, err, out)
		}
	}
	if out, err := step("migrate", "rotated-app-password-456"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	app := func(sql string) string { return rds.psql(t, "app", "rotated-app-password-456", "app", "require", sql) }
	if got := app("SELECT count(*) > 0 FROM schema_migrations"); got != "t" {
		t.Errorf("no migrations recorded: %s", got)
	}
	assertAppRoleNarrow(t, app)
	// The first password no longer works: the second run updated it.
	old := exec.Command(rds.bin+"/psql", "-X", "-d", "host=127.0.0.1 port="+rds.port+" dbname=app user=app sslmode=require", "-c", "SELECT 1")
	old.Env = append(os.Environ(), "PGPASSWORD=first-app-password-123")
	if err := old.Run(); err == nil {
		t.Error("db-setup did not update the role's password")
	}
	// A failing migration exits non-zero (so ECS never starts the API).
	rds.psql(t, "postgres", "postgres-super-pw", "app", "require", "REVOKE CREATE ON SCHEMA public FROM app; ALTER SCHEMA public OWNER TO postgres; DELETE FROM schema_migrations")
	if out, err := step("migrate", "rotated-app-password-456"); err == nil {
		t.Errorf("a migration that cannot apply exited 0:\n%s", out)
	}
}

// A role that already exists on RDS (an earlier db-setup or move) only
// gets its password; one wider than the application's is refused.
func TestMoveToRDSReusesTheApplicationRole(t *testing.T) {
	f := newMoveFixture(t)
	admin := func(sql string) { f.dst.psql(t, "slipway_admin", "rds-master-pw", "postgres", "require", sql) }
	admin("CREATE ROLE app LOGIN CREATEDB PASSWORD 'older-password'")
	if out, err := f.move(t); err == nil || !strings.Contains(out, "role app may create roles or databases") {
		t.Fatalf("a role with CREATEDB was used: %v\n%s", err, out)
	}
	admin("ALTER ROLE app NOCREATEDB")
	out, err := f.move(t)
	if err != nil {
		t.Fatalf("move with an existing role: %v\n%s", err, out)
	}
	if got := f.dst.psql(t, "app", "rds-app-pw-0123456789", "app", "require", "SELECT count(*) FROM jobs"); got != "2500" {
		t.Errorf("jobs %s", got)
	}
}

// rdsLikeServer starts a TLS-only Postgres whose admin, slipway_admin
// (password rds-master-pw), may create roles and databases but is no
// superuser, as RDS's master user: for the steps that run as that master
// (db-setup) and as the role it creates (migrate). It returns node's path
// too; without node, app/api's node_modules or openssl the test is skipped.
func rdsLikeServer(t *testing.T, prefix string) (string, pgServer) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	if _, err := os.Stat("../app/api/node_modules/pg"); err != nil {
		t.Skip("app/api/node_modules missing: run npm ci in app/api (scripts/test.sh does)")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	base, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	_ = os.Chmod(base, 0o755)
	rds := startPostgres(t, base, "rds", true)
	rds.psql(t, "postgres", "postgres-super-pw", "postgres", "require",
		"CREATE ROLE slipway_admin LOGIN CREATEROLE CREATEDB PASSWORD 'rds-master-pw'")
	return node, rds
}

// assertAppRoleNarrow checks, over the application's own connection (app
// runs SQL as the role "app" on its database "app"), that the role is no
// superuser and may create neither roles nor databases, and that it owns
// its database and every table in public: the application never needs the
// master user.
func assertAppRoleNarrow(t *testing.T, app func(sql string) string) {
	t.Helper()
	if got := app("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"); got != "f|f|f" {
		t.Errorf("app role super/createdb/createrole = %s", got)
	}
	if got := app("SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'"); got != "app" {
		t.Errorf("tables owned by %q, want app", got)
	}
	if got := app("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'"); got != "app" {
		t.Errorf("database owner %s, want app", got)
	}
}
