package infra

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"gopkg.in/yaml.v3"

	"slipway/infra/foundation"
	"slipway/stacks"
)

// The release script runs here against stand-ins: this test binary is
// also `docker` and `slipway-fetch` when invoked under those names (a
// symlink on PATH), so the stand-ins need nothing installed.
//
// The stand-in docker models the one rule that decides what `docker compose
// up` recreates: a container is recreated when the hash of its service's
// configuration (image digest and env files included) differs from the
// hash of the running one. It keeps the running hashes in a state file and
// logs, per `up`, which services it recreated, so "an API-only change
// recreates only api and worker" is checked against that rule rather than
// against what the script says about itself.
func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case "docker":
		os.Exit(fakeDocker(os.Args[1:]))
	case "slipway-fetch":
		os.Exit(fakeFetch(os.Args[1:]))
	case "slipway-imds":
		// The IMDS rule itself is tested for real (TestIMDSRuleInNetworkNamespaces);
		// here only what the release asks of it.
		logLine("imds %s", strings.Join(os.Args[1:], " "))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type dockerState struct {
	Running map[string]string // service -> config hash
	// Images and Stopped: what `ps --all` shows of containers the cutover
	// started (their own image) and stopped (exited).
	Images  map[string]string
	Stopped map[string]bool
	// Sick: services whose running container is unhealthy (FAKE_UNHEALTHY
	// names the image or <release id>/<service>).
	Sick map[string]bool
	// DBPassword is the database's password: set from POSTGRES_PASSWORD
	// only when the data directory is initialised (the first db), changed
	// only by ALTER ROLE, as with the real image.
	DBPassword string
}

// envValue reads KEY from a release's env file (KEY=v or KEY='v').
func envValue(dir, file, key string) string {
	b, _ := os.ReadFile(filepath.Join(dir, file))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
		}
	}
	return ""
}

var alterRole = regexp.MustCompile(`(?m)^ALTER ROLE "[^"]+" WITH PASSWORD '((?:[^']|'')*)';$`)

func stateFile() string { return filepath.Join(os.Getenv("FAKE_DOCKER_STATE"), "state.json") }

func logLine(format string, args ...any) {
	f, err := os.OpenFile(filepath.Join(os.Getenv("FAKE_DOCKER_STATE"), "log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	fmt.Fprintf(f, format+"\n", args...)
}

// serviceHashes is compose's per-service config hash, as the stand-in
// computes it: the service definition plus its env files' contents.
func serviceHashes(dir string) (map[string]string, map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		return nil, nil, err
	}
	var doc struct {
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, nil, err
	}
	hashes, images := map[string]string{}, map[string]string{}
	for name, svc := range doc.Services {
		h := sha256.New()
		def, _ := json.Marshal(svc) // map keys sorted: stable
		h.Write(def)
		files, _ := svc["env_file"].([]any)
		for _, f := range files {
			content, err := os.ReadFile(filepath.Join(dir, fmt.Sprint(f)))
			if err != nil {
				return nil, nil, fmt.Errorf("env file %v: %w", f, err)
			}
			h.Write(content)
		}
		hashes[name] = hex.EncodeToString(h.Sum(nil))[:12]
		images[name], _ = svc["image"].(string)
	}
	return hashes, images, nil
}

func fakeDocker(args []string) int {
	if len(args) == 0 || args[0] != "compose" {
		fmt.Fprintln(os.Stderr, "fake docker: only compose")
		return 2
	}
	dir, _ := os.Getwd()
	args = args[1:]
	var st dockerState
	if b, err := os.ReadFile(stateFile()); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	if st.Running == nil {
		st.Running = map[string]string{}
	}
	if st.Images == nil {
		st.Images = map[string]string{}
	}
	if st.Stopped == nil {
		st.Stopped = map[string]bool{}
	}
	if st.Sick == nil {
		st.Sick = map[string]bool{}
	}
	hashes, images, err := serviceHashes(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake docker:", err)
		return 1
	}
	switch args[0] {
	case "config":
		if slices.Equal(args[1:], []string{"--format", "json"}) {
			// The resolved model, as docker compose prints it: compose's
			// own loader and its JSON form of the project.
			opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
				cli.WithWorkingDirectory(dir), cli.WithDotEnv)
			if err != nil {
				fmt.Fprintln(os.Stderr, "fake docker:", err)
				return 1
			}
			project, err := opts.LoadProject(context.Background())
			if err != nil {
				fmt.Fprintln(os.Stderr, "fake docker:", err)
				return 1
			}
			out, err := project.MarshalJSON()
			if err != nil {
				return 1
			}
			fmt.Println(string(out))
			return 0
		}
		if !slices.Equal(args[1:], []string{"--hash", "*"}) {
			return 2
		}
		for name, h := range hashes {
			fmt.Printf("%s %s\n", name, h)
		}
		return 0
	case "pull":
		logLine("pull %s", releaseName(dir))
		if os.Getenv("FAKE_PULL_FAIL") != "" {
			return 1
		}
		return 0
	case "ps":
		// ps --quiet --status running db: the running db container, if any.
		if slices.Contains(args, "--quiet") && slices.Contains(args, "db") {
			if _, ok := st.Running["db"]; ok {
				fmt.Println("0123456789ab")
			}
		}
		// ps --all --format json: one object per line, as compose v2 prints it.
		if slices.Contains(args, "--format") {
			for name := range st.Running {
				health := "healthy"
				if st.Sick[name] {
					health = "unhealthy"
				}
				b, _ := json.Marshal(map[string]any{"Service": name, "State": "running", "Health": health, "Image": st.Images[name]})
				fmt.Println(string(b))
			}
			for name := range st.Stopped {
				b, _ := json.Marshal(map[string]any{"Service": name, "State": "exited", "Health": "", "Image": st.Images[name]})
				fmt.Println(string(b))
			}
		}
		return 0
	case "logs":
		// logs --no-color --tail N SERVICE: that service's last lines.
		svc := args[len(args)-1]
		var lines []string
		for i := 1; i <= 30; i++ {
			lines = append(lines, fmt.Sprintf("%s-1  | log line %d of %s", svc, i, svc))
		}
		lines = append(lines, fmt.Sprintf("%s-1  | Error: connect ECONNREFUSED (the last line of %s)", svc, svc))
		if i := slices.Index(args, "--tail"); i >= 0 && i+1 < len(args) {
			var n int
			fmt.Sscan(args[i+1], &n)
			lines = lines[max(0, len(lines)-n):]
		}
		fmt.Println(strings.Join(lines, "\n"))
		return 0
	case "exec":
		// The cutover's graceful nginx reload of a new template.
		if slices.Equal(args[1:], []string{"-T", "proxy", "slipway-proxy-reload"}) {
			if _, ok := st.Running["proxy"]; !ok {
				fmt.Fprintln(os.Stderr, "service proxy is not running")
				return 1
			}
			logLine("reload %s proxy", releaseName(dir))
			return 0
		}
		if len(args) < 4 || !slices.Equal(args[1:4], []string{"-T", "db", "psql"}) {
			fmt.Fprintln(os.Stderr, "fake docker: unexpected exec", args)
			return 2
		}
		if _, ok := st.Running["db"]; !ok {
			fmt.Fprintln(os.Stderr, "service db is not running")
			return 1
		}
		// As app/db/initdb.d sets the database up: only the superuser
		// postgres logs in over the socket, and it changes the
		// application's role, never itself.
		if i := slices.Index(args, "--username"); i < 0 || i+1 >= len(args) || args[i+1] != "postgres" {
			fmt.Fprintln(os.Stderr, "fake docker: psql must run as the superuser postgres over the socket", args)
			return 1
		}
		sql, _ := io.ReadAll(os.Stdin)
		if role := regexp.MustCompile(`ALTER ROLE "([^"]+)"`).FindSubmatch(sql); role == nil || string(role[1]) == "postgres" {
			fmt.Fprintln(os.Stderr, "fake docker: the password sync must alter the application's role")
			return 1
		}
		m := alterRole.FindSubmatch(sql)
		if m == nil || !strings.Contains(string(sql), "SET log_min_error_statement") {
			fmt.Fprintf(os.Stderr, "fake docker: unexpected SQL\n")
			return 1
		}
		st.DBPassword = strings.ReplaceAll(string(m[1]), "''", "'")
		b, _ := json.Marshal(st)
		logLine("exec db psql (argv: %s)", strings.Join(args, " "))
		if err := os.WriteFile(stateFile(), b, 0o600); err != nil {
			return 1
		}
		return 0
	case "run":
		// The cutover's migration: run --rm --no-deps -T api-<slot> node src/migrate.js.
		if len(args) != 7 || !slices.Equal(args[1:4], []string{"--rm", "--no-deps", "-T"}) || !strings.HasPrefix(args[4], "api-") ||
			!slices.Equal(args[5:], []string{"node", "src/migrate.js"}) {
			fmt.Fprintln(os.Stderr, "fake docker: unexpected run", args)
			return 2
		}
		if dir != os.Getenv("SLIPWAY_PROJECT_DIR") {
			fmt.Fprintln(os.Stderr, "fake docker: run outside the project directory:", dir)
			return 1
		}
		if _, ok := st.Running["db"]; !ok {
			fmt.Fprintln(os.Stderr, "migration failed: the database is not running")
			return 1
		}
		// As src/migrate.js reports a failed migration (Postgres's message).
		if id, msg, _ := strings.Cut(os.Getenv("FAKE_MIGRATION_FAIL"), ":"); id == releaseName(dir) {
			logLine("migrate %s %s failed", releaseName(dir), args[4])
			fmt.Println("migrating: 0003-owner")
			fmt.Fprintln(os.Stderr, "migration failed: "+msg)
			return 1
		}
		logLine("migrate %s %s", releaseName(dir), args[4])
		return 0
	case "stop":
		for _, name := range args[1:] {
			if _, ok := st.Running[name]; ok {
				st.Stopped[name] = true
			}
			delete(st.Running, name)
			logLine("stop %s %s", releaseName(dir), name)
		}
		b, _ := json.Marshal(st)
		if err := os.WriteFile(stateFile(), b, 0o600); err != nil {
			return 1
		}
		return 0
	case "up":
		for _, want := range []string{"--detach", "--wait"} {
			if !slices.Contains(args, want) {
				fmt.Fprintln(os.Stderr, "fake docker: up without", want)
				return 2
			}
		}
		// The services named (after the flags and --wait-timeout's value),
		// or all of them.
		var named []string
		for i := 1; i < len(args); i++ {
			if args[i] == "--wait-timeout" {
				i++
				continue
			}
			if !strings.HasPrefix(args[i], "-") {
				named = append(named, args[i])
			}
		}
		if len(named) == 0 {
			for name := range hashes {
				named = append(named, name)
			}
		}
		for _, name := range named {
			if _, ok := hashes[name]; !ok {
				fmt.Fprintln(os.Stderr, "fake docker: no such service:", name)
				return 1
			}
		}
		if _, err := os.Stat(filepath.Join(dir, ".env")); err != nil {
			fmt.Fprintln(os.Stderr, "fake docker: no .env beside compose.yaml")
			return 1
		}
		// Compose's config hash holds the env files' absolute paths
		// (tests/composehash): every release comes up from one directory.
		if dir != os.Getenv("SLIPWAY_PROJECT_DIR") {
			fmt.Fprintln(os.Stderr, "fake docker: up outside the project directory:", dir)
			return 1
		}
		var recreated, removed []string
		force := slices.Contains(args, "--force-recreate") || slices.Contains(args, "--always-recreate-deps")
		for _, name := range named {
			if h := hashes[name]; st.Running[name] != h || force {
				recreated = append(recreated, name)
				st.Sick[name] = unhealthy(images[name]) || unhealthy(releaseName(dir)+"/"+name)
			}
			st.Running[name] = hashes[name]
			st.Images[name] = images[name]
			delete(st.Stopped, name)
		}
		if slices.Contains(args, "--remove-orphans") {
			for name := range st.Running {
				if _, ok := hashes[name]; !ok {
					removed = append(removed, name)
					delete(st.Running, name)
					delete(st.Images, name)
				}
			}
		}
		sort.Strings(recreated)
		sort.Strings(removed)
		if st.DBPassword == "" {
			st.DBPassword = envValue(dir, "secrets/db.env", "POSTGRES_PASSWORD") // initdb
		}
		b, _ := json.Marshal(st)
		if err := os.WriteFile(stateFile(), b, 0o600); err != nil {
			return 1
		}
		healthy := true
		for _, name := range named {
			if st.Sick[name] {
				fmt.Fprintf(os.Stderr, "container slipway-%s-1 is unhealthy\n", name)
				healthy = false
			}
		}
		usesDB := slices.ContainsFunc(named, func(n string) bool { return strings.HasPrefix(n, "api") || n == "worker" })
		if got := envValue(dir, "secrets/api.env", "DATABASE_PASSWORD"); usesDB && got != st.DBPassword {
			fmt.Fprintln(os.Stderr, "container slipway-api-1 is unhealthy (password authentication failed)")
			healthy = false
		}
		logLine("up %s recreate=%s remove=%s healthy=%v", releaseName(dir), strings.Join(recreated, ","), strings.Join(removed, ","), healthy)
		if !healthy {
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "fake docker: unexpected", args)
	return 2
}

// releaseName is the release a compose directory holds (its id file: the
// project directory holds the release being brought up).
func releaseName(dir string) string {
	if b, err := os.ReadFile(filepath.Join(dir, "id")); err == nil {
		return strings.TrimSpace(string(b))
	}
	return filepath.Base(dir)
}

func unhealthy(image string) bool {
	for _, bad := range strings.Split(os.Getenv("FAKE_UNHEALTHY"), ",") {
		if bad != "" && strings.Contains(image, bad) {
			return true
		}
	}
	return false
}

// fakeFetch writes the secrets of the release staged in --out (from
// $FAKE_BUNDLES/<id>/secrets), or, with --receipt, records the receipt in
// $FAKE_BUNDLES/receipts/<id> as the real fetcher's JSON.
func fakeFetch(args []string) int {
	flags := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		flags[args[i]] = args[i+1]
	}
	root := os.Getenv("FAKE_BUNDLES")
	if id, ok := flags["--receipt"]; ok {
		logs, _ := io.ReadAll(os.Stdin)
		lines := []string{}
		for _, l := range strings.Split(string(logs), "\n") {
			if strings.TrimSpace(l) != "" {
				lines = append(lines, l)
			}
		}
		b, _ := json.Marshal(map[string]any{"releaseId": id, "status": flags["--status"], "attempt": flags["--attempt"],
			"service": flags["--service"], "reason": flags["--reason"], "logs": lines})
		if os.Getenv("FAKE_RECEIPT_FAIL") != "" {
			fmt.Fprintln(os.Stderr, "fake fetch: PutParameter: AccessDenied")
			return 1
		}
		_ = os.MkdirAll(filepath.Join(root, "receipts"), 0o755)
		if err := os.WriteFile(filepath.Join(root, "receipts", id), b, 0o644); err != nil {
			return 1
		}
		return 0
	}
	out := flags["--out"]
	staged, err := os.ReadFile(filepath.Join(out, "id"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake fetch: no staged release in", out)
		return 1
	}
	id := strings.TrimSpace(string(staged))
	src := filepath.Join(root, id, "secrets")
	err = filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Dir(src), p)
		if err := os.MkdirAll(filepath.Join(out, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		// Deliberately readable by all: the script must make secrets root-only.
		o, err := os.OpenFile(filepath.Join(out, rel), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		defer o.Close()
		_, err = io.Copy(o, in)
		return err
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake fetch:", err)
		return 1
	}
	return 0
}

// releaseFixture renders a real bundle with the given API image digest
// and stores it for the stand-in fetcher; it returns the release id.
func releaseFixture(t *testing.T, bundles, apiDigestChar string) string {
	t.Helper()
	return releaseFixtureWithPassword(t, bundles, apiDigestChar, "pw", 1)
}

// releaseFixtureWithPassword is a release whose database password is pw,
// version version of the secret parameters.
func releaseFixtureWithPassword(t *testing.T, bundles, apiDigestChar, pw string, version int) string {
	t.Helper()
	in := testInputs()
	in.images["api"] = strings.Replace(in.images["api"], strings.Repeat("a", 64), strings.Repeat(apiDigestChar, 64), 1)
	files, err := renderBundle(testRelease(false), nil, in)
	if err != nil {
		t.Fatal(err)
	}
	id := releaseID(files, map[string]int{"api/DATABASE_PASSWORD": version, "db/POSTGRES_PASSWORD": version})
	tree := maps.Clone(files)
	tree["secrets/db.env"] = "POSTGRES_PASSWORD='" + strings.ReplaceAll(pw, "'", "") + "'\n"
	tree["secrets/api.env"] = "DATABASE_PASSWORD='" + strings.ReplaceAll(pw, "'", "") + "'\n"
	tree["secrets/proxy.env"] = "ORIGIN_HEADER_VALUE='origin-secret-value'\n"
	writeTree(t, filepath.Join(bundles, id), tree)
	return id
}

// fakeBoto3 stands in for boto3 under the real loader (slipway-load.py):
// SSM's release/id is $FAKE_BUNDLES/stored, release/bucket a fixed name, and
// S3's releases/<id>.json the files of $FAKE_BUNDLES/<id> (secrets apart, which
// the release's own fetcher reads from "SSM").
const fakeBoto3 = `import io, json, os

ROOT = os.environ["FAKE_BUNDLES"]


class _SSM:
    def get_parameter(self, Name):
        if Name.endswith("/release/id"):
            with open(os.path.join(ROOT, "stored")) as f:
                return {"Parameter": {"Value": f.read().strip()}}
        if Name.endswith("/release/bucket"):
            return {"Parameter": {"Value": "fake-bundles"}}
        raise Exception("ParameterNotFound: " + Name)


class _S3:
    def get_object(self, Bucket, Key):
        assert Bucket == "fake-bundles", Bucket
        rid = Key[len("releases/"):-len(".json")]
        base = os.path.join(ROOT, rid)
        if not os.path.isdir(base):
            raise Exception("NoSuchKey: " + Key)
        files = {}
        for d, _, names in os.walk(base):
            for n in names:
                rel = os.path.relpath(os.path.join(d, n), base)
                if not rel.startswith("secrets/"):
                    with open(os.path.join(d, n)) as f:
                        files[rel] = f.read()
        return {"Body": io.BytesIO(json.dumps({"releaseId": rid, "files": files}).encode())}


def client(name, region_name=None):
    return {"ssm": _SSM, "s3": _S3}[name]()
`

type scriptEnv struct {
	t                      *testing.T
	bin, state, bundles    string
	releases, python       string
	unhealthy, pullFailure string
	// attempt is the rollout document's SLIPWAY_ATTEMPT ("" outside it).
	attempt     string
	receiptFail bool
	// migrationFailure: <release id>:<error>, the error that release's
	// migration fails with in the stand-in.
	migrationFailure string
	fullLog          string // every stand-in log line so far
}

// receipt reads the receipt the host wrote for a release (nil if none).
func (e *scriptEnv) receipt(id string) map[string]any {
	b, err := os.ReadFile(filepath.Join(e.bundles, "receipts", id))
	if err != nil {
		return nil
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *scriptEnv) dbPassword() string {
	var st dockerState
	b, _ := os.ReadFile(filepath.Join(e.state, "state.json"))
	_ = json.Unmarshal(b, &st)
	return st.DBPassword
}

func newScriptEnv(t *testing.T) *scriptEnv {
	requireTool(t, "bash")
	requireTool(t, "flock")
	python := requireTool(t, "python3")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &scriptEnv{t: t, bin: filepath.Join(dir, "bin"), state: filepath.Join(dir, "docker"),
		bundles: filepath.Join(dir, "bundles"), releases: filepath.Join(dir, "releases"), python: filepath.Join(dir, "python")}
	for _, d := range []string{e.bin, e.state, e.bundles, filepath.Join(e.python, "boto3")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"docker", "slipway-fetch", "slipway-imds"} {
		if err := os.Symlink(self, filepath.Join(e.bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(e.python, "boto3", "__init__.py"), []byte(fakeBoto3), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(python, filepath.Join(e.bin, "python3")); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *scriptEnv) store(id string) {
	if err := os.WriteFile(filepath.Join(e.bundles, "stored"), []byte(id), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// run runs the host's loader (the real slipway-load.py, boto3 stood in for)
// as the documents and the boot unit do, which runs the release script of
// the release's own bundle; it returns the output and whether it succeeded.
func (e *scriptEnv) run(args ...string) (string, bool) {
	out, code := e.runCode(args...)
	return out, code == 0
}

func (e *scriptEnv) runCode(args ...string) (string, int) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.bin, "python3"), append([]string{"hostfiles/slipway-load.py"}, args...)...)
	fail := ""
	if e.receiptFail {
		fail = "1"
	}
	cmd.Env = append(os.Environ(),
		"PYTHONPATH="+e.python,
		"PYTHONDONTWRITEBYTECODE=1",
		"SLIPWAY_ATTEMPT="+e.attempt,
		"FAKE_RECEIPT_FAIL="+fail,
		"SLIPWAY_MAINTENANCE_DIR="+filepath.Join(e.state, "maintenance"),
		"PATH="+e.bin+":"+os.Getenv("PATH"),
		"SLIPWAY_HOST_ENV=/nonexistent",
		"SLIPWAY_PARAMETER_PATH=/slipway/dev/",
		"SLIPWAY_RELEASES="+e.releases,
		"SLIPWAY_PROJECT_DIR="+filepath.Join(filepath.Dir(e.releases), "project"),
		"SLIPWAY_FETCH="+filepath.Join(e.bin, "slipway-fetch"),
		"SLIPWAY_IMDS="+filepath.Join(e.bin, "slipway-imds"),
		"SLIPWAY_CUTOVER_STATE="+filepath.Join(e.state, "cutover"),
		"SLIPWAY_PROXY_STATE="+filepath.Join(e.state, "proxy"),
		"SLIPWAY_SETTLE_SECONDS=0",
		"FAKE_DOCKER_STATE="+e.state,
		"FAKE_BUNDLES="+e.bundles,
		"FAKE_UNHEALTHY="+e.unhealthy,
		"FAKE_PULL_FAIL="+e.pullFailure,
		"FAKE_MIGRATION_FAIL="+e.migrationFailure,
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	err := cmd.Run()
	if err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			return stderr.String(), exit.ExitCode()
		}
		e.t.Fatal(err)
	}
	return stderr.String(), 0
}

// ups returns the stand-in's "up" log lines since the last call.
func (e *scriptEnv) log() []string {
	b, _ := os.ReadFile(filepath.Join(e.state, "log"))
	e.fullLog += string(b)
	_ = os.Remove(filepath.Join(e.state, "log"))
	return upsOf(string(b))
}

// lines returns the stand-in's raw log lines since the last call.
func (e *scriptEnv) lines() []string {
	b, _ := os.ReadFile(filepath.Join(e.state, "log"))
	e.log()
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// upsOf sums the stand-in's log per release brought up: the cutover's
// several `up`s (the database, the new slot, the worker, the proxy, the
// orphans) of one release make one line with the services they recreated or
// removed, the slots it stopped and whether all were healthy.
func upsOf(log string) []string {
	type sum struct {
		id                          string
		recreated, removed, stopped []string
		healthy                     bool
	}
	var sums []*sum
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || (f[0] != "up" && f[0] != "stop") {
			continue
		}
		if len(sums) == 0 || sums[len(sums)-1].id != f[1] {
			sums = append(sums, &sum{id: f[1], healthy: true})
		}
		s := sums[len(sums)-1]
		if f[0] == "stop" {
			s.stopped = append(s.stopped, f[2])
			continue
		}
		for _, kv := range f[2:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "recreate":
				s.recreated = append(s.recreated, strings.Split(v, ",")...)
			case "remove":
				s.removed = append(s.removed, strings.Split(v, ",")...)
			case "healthy":
				s.healthy = s.healthy && v == "true"
			}
		}
	}
	norm := func(l []string) string {
		l = slices.DeleteFunc(slices.Clone(l), func(x string) bool { return x == "" })
		sort.Strings(l)
		return strings.Join(slices.Compact(l), ",")
	}
	var out []string
	for _, s := range sums {
		line := fmt.Sprintf("up %s recreate=%s remove=%s healthy=%v", s.id, norm(s.recreated), norm(s.removed), s.healthy)
		if len(s.stopped) > 0 {
			line += " stop=" + norm(s.stopped)
		}
		out = append(out, line)
	}
	return out
}

func (e *scriptEnv) link(name string) string {
	target, _ := os.Readlink(filepath.Join(e.releases, name))
	return target
}

func TestReleaseScriptPassesShellcheck(t *testing.T) {
	shellcheck := requireTool(t, "shellcheck")
	if out, err := exec.Command(shellcheck, "hostfiles/slipway-release.sh").CombinedOutput(); err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

func TestReleaseScriptRollsOutAndBack(t *testing.T) {
	e := newScriptEnv(t)
	a := releaseFixture(t, e.bundles, "a")
	b := releaseFixture(t, e.bundles, "b") // only the API image differs
	c := releaseFixture(t, e.bundles, "e") // an API image that never gets healthy
	e.unhealthy = strings.Repeat("e", 64)

	// First release: everything starts.
	e.store(a)
	if out, ok := e.run(a); !ok {
		t.Fatalf("first release failed:\n%s", out)
	}
	if ups := e.log(); !slices.Equal(ups, []string{"up " + a + " recreate=api-blue,db,proxy,worker remove= healthy=true"}) {
		t.Errorf("first release: %v", ups)
	}
	if e.link("current") != a || e.link("previous") != "" {
		t.Errorf("links: current=%s previous=%s", e.link("current"), e.link("previous"))
	}
	for _, f := range []string{"secrets", "secrets/db.env", "secrets/api.env", "secrets/proxy.env"} {
		info, err := os.Stat(filepath.Join(e.releases, a, f))
		if err != nil || info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is not root-only: %v %v", f, info.Mode(), err)
		}
	}
	if info, _ := os.Stat(e.releases); info.Mode().Perm() != 0o700 {
		t.Errorf("releases dir mode %v", info.Mode())
	}

	// API-only release: the cutover starts the idle slot and the worker,
	// stops the serving slot; db and proxy untouched.
	e.store(b)
	out, ok := e.run(b)
	if !ok {
		t.Fatalf("API release failed:\n%s", out)
	}
	if ups := e.log(); !slices.Equal(ups, []string{"up " + b + " recreate=api-green,worker remove= healthy=true stop=api-blue"}) {
		t.Errorf("API-only release touched more than the idle slot and worker: %v", ups)
	}
	if !strings.Contains(out, "services to recreate: api-blue api-green worker") {
		t.Errorf("the script does not say what it recreates:\n%s", out)
	}
	if e.link("current") != b || e.link("previous") != a {
		t.Errorf("links: current=%s previous=%s", e.link("current"), e.link("previous"))
	}

	// Unhealthy release: rolled back to b, non-zero exit.
	e.store(c)
	out, ok = e.run(c)
	if ok {
		t.Fatalf("an unhealthy release succeeded:\n%s", out)
	}
	if ups := e.log(); !slices.Equal(ups, []string{
		// The new slot fails its health check and is stopped; the worker and
		// the serving slot are never touched; the rollback is one more
		// cutover (b's image into the idle slot).
		"up " + c + " recreate=api-blue remove= healthy=false stop=api-blue",
		"up " + b + " recreate=api-blue remove= healthy=true stop=api-green",
	}) {
		t.Errorf("unhealthy release did not roll back to %s: %v\n%s", b, ups, out)
	}
	if e.link("current") != b || e.link("previous") != a {
		t.Errorf("after rollback: current=%s previous=%s", e.link("current"), e.link("previous"))
	}
	if !strings.Contains(out, "rolling back to "+b) {
		t.Errorf("no rollback message:\n%s", out)
	}

	// A rollout overtaken by a newer stored release does nothing.
	e.store(b)
	if out, ok := e.run(c); ok || len(e.log()) != 0 || !strings.Contains(out, "not "+c) {
		t.Errorf("a stale rollout ran: ok=%v\n%s", ok, out)
	}
	// A failed pull changes nothing on the host.
	e.pullFailure = "1"
	if out, ok := e.run(b); ok || len(e.log()) != 0 {
		t.Errorf("a failed pull went on: ok=%v\n%s", ok, out)
	}
	e.pullFailure = ""

	// Rollback by hand, then boot rolls forward to the stored release.
	if out, ok := e.run("rollback"); !ok {
		t.Fatalf("rollback failed:\n%s", out)
	}
	if ups := e.log(); !slices.Equal(ups, []string{"up " + a + " recreate=api-green,worker remove= healthy=true stop=api-blue"}) || e.link("current") != a || e.link("previous") != b {
		t.Errorf("manual rollback: %v current=%s previous=%s", ups, e.link("current"), e.link("previous"))
	}
	if out, ok := e.run("boot"); !ok || e.link("current") != b {
		t.Errorf("boot did not roll to the stored release:\n%s", out)
	}
	if ups := e.log(); !slices.Equal(ups, []string{"up " + b + " recreate=api-blue,worker remove= healthy=true stop=api-green"}) {
		t.Errorf("boot: %v", ups)
	}
	// Re-running the current release is a cutover to the idle slot with the
	// same image: db, worker and proxy are not recreated.
	if out, ok := e.run(b); !ok {
		t.Fatalf("re-run failed:\n%s", out)
	}
	if ups := e.log(); !slices.Equal(ups, []string{"up " + b + " recreate=api-green remove= healthy=true stop=api-blue"}) {
		t.Errorf("re-run of the current release: %v", ups)
	}
}

func TestReleaseScriptFirstReleaseUnhealthy(t *testing.T) {
	e := newScriptEnv(t)
	c := releaseFixture(t, e.bundles, "e")
	e.unhealthy = strings.Repeat("e", 64)
	e.store(c)
	out, ok := e.run(c)
	if ok {
		t.Fatalf("an unhealthy first release succeeded:\n%s", out)
	}
	if !strings.Contains(out, "nothing to roll back to") {
		t.Errorf("no explanation:\n%s", out)
	}
	if ups := e.log(); len(ups) != 1 {
		t.Errorf("ups: %v", ups)
	}
	if e.link("current") != "" {
		t.Errorf("a failed first release became current")
	}
	if _, err := os.Stat(filepath.Join(e.releases, c, ".failed")); err != nil {
		t.Errorf("the failed release is not marked: %v", err)
	}
}

func TestReleaseScriptRejectsBadArguments(t *testing.T) {
	e := newScriptEnv(t)
	for _, arg := range []string{"../../etc", "NOTHEX", ""} {
		if out, ok := e.run(arg); ok {
			t.Errorf("%q accepted:\n%s", arg, out)
		}
	}
	if out, ok := e.run("rollback"); ok || !strings.Contains(out, "no release has run on this host yet") {
		t.Errorf("rollback with no history: ok=%v\n%s", ok, out)
	}
	// Once a release ran, its own script answers.
	a := releaseFixture(t, e.bundles, "a")
	e.store(a)
	if out, ok := e.run(a); !ok {
		t.Fatalf("first release:\n%s", out)
	}
	if out, ok := e.run("rollback"); ok || !strings.Contains(out, "no previous release") {
		t.Errorf("rollback with one release: ok=%v\n%s", ok, out)
	}
}

// Under the rollout document (an attempt set) every rollout ends with a
// receipt: healthy, or failed with the failing service and its last log
// lines (taken before the rollback replaced it), and the exit code the
// document turns into success (foundation.ReportedFailure). Without the
// document (boot, by hand) no receipt is written. A receipt that cannot be
// written fails the rollout plainly (exit 1), healthy or not.
func TestReleaseScriptWritesReceipts(t *testing.T) {
	e := newScriptEnv(t)
	a := releaseFixture(t, e.bundles, "a")
	c := releaseFixture(t, e.bundles, "e")
	e.unhealthy = strings.Repeat("e", 64)

	e.store(a)
	if out, ok := e.run(a); !ok || e.receipt(a) != nil {
		t.Fatalf("a release outside the document: ok=%v receipt %v\n%s", ok, e.receipt(a), out)
	}
	e.attempt = "1"
	if out, ok := e.run(a); !ok {
		t.Fatalf("re-run of a under the document:\n%s", out)
	}
	if r := e.receipt(a); r["status"] != "healthy" || r["attempt"] != "1" || r["releaseId"] != a {
		t.Errorf("healthy receipt: %v", r)
	}

	e.store(c)
	e.attempt = "2"
	out, code := e.runCode(c)
	if code != foundation.ReportedFailure {
		t.Fatalf("a failed, reported release exits %d, want %d:\n%s", code, foundation.ReportedFailure, out)
	}
	r := e.receipt(c)
	logs, _ := r["logs"].([]any)
	if r["status"] != "failed" || r["attempt"] != "2" || r["service"] != "api-blue" || len(logs) != 20 ||
		!strings.Contains(fmt.Sprint(logs[len(logs)-1]), "the last line of api-blue") {
		t.Errorf("failed receipt: %v", r)
	}
	if reason, _ := r["reason"].(string); !strings.Contains(reason, "unhealthy: api-blue; release "+c+": api-blue is not healthy; still serving the previous release;") ||
		!strings.Contains(reason, "rolled back to "+a) {
		t.Errorf("failed receipt's reason: %q", reason)
	}
	if e.link("current") != a {
		t.Errorf("after the failure current=%s", e.link("current"))
	}

	// A pull failure is reported too, with what the pull said.
	e.log()
	e.pullFailure = "1"
	if out, code := e.runCode(c); code != foundation.ReportedFailure || !strings.Contains(fmt.Sprint(e.receipt(c)["reason"]), "pulling its images failed") {
		t.Errorf("pull failure: exit %d, receipt %v\n%s", code, e.receipt(c), out)
	}
	e.pullFailure = ""

	// No receipt can be written: a plain failure, even when healthy.
	e.receiptFail = true
	e.store(a)
	if out, code := e.runCode(a); code != 1 || !strings.Contains(out, "receipt could not be written") {
		t.Errorf("healthy, receipt refused: exit %d\n%s", code, out)
	}
	e.store(c)
	if out, code := e.runCode(c); code != 1 || !strings.Contains(out, "could not write its receipt") {
		t.Errorf("failed, receipt refused: exit %d\n%s", code, out)
	}
}

// A failed migration: the receipt's reason is the cutover's own last line,
// the migration's error in it, so `pulumi up` fails with that error; its log
// lines are the migration's output (no service was started, so no service's
// logs are shown for it); the serving slot is never touched.
func TestReleaseScriptReportsTheMigrationsError(t *testing.T) {
	e := newScriptEnv(t)
	a := releaseFixture(t, e.bundles, "a")
	b := releaseFixture(t, e.bundles, "b")
	e.store(a)
	if out, ok := e.run(a); !ok {
		t.Fatalf("first release:\n%s", out)
	}
	e.log()

	e.store(b)
	e.attempt = "1"
	e.migrationFailure = b + `:relation "nobody" does not exist`
	out, code := e.runCode(b)
	if code != foundation.ReportedFailure {
		t.Fatalf("a failed migration exits %d, want %d:\n%s", code, foundation.ReportedFailure, out)
	}
	r := e.receipt(b)
	want := "release " + b + `: migration failed: relation "nobody" does not exist; still serving the previous release; rolled back to ` + a
	if r["status"] != "failed" || r["reason"] != want || r["service"] != "" {
		t.Errorf("receipt of a failed migration: %v\nwant reason %q", r, want)
	}
	logs := fmt.Sprint(r["logs"])
	if !strings.Contains(logs, `migration failed: relation "nobody" does not exist`) || !strings.Contains(logs, "migrating: 0003-owner") {
		t.Errorf("the receipt's log lines are not the migration's output: %s", logs)
	}
	lines := e.lines()
	if !slices.Contains(lines, "migrate "+b+" api-green failed") || slices.ContainsFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "up "+b) && !strings.HasPrefix(l, "up "+b+" recreate= ")
	}) {
		t.Errorf("the failed migration's release started an application service: %v", lines)
	}
	if e.link("current") != a {
		t.Errorf("current=%s after a failed migration", e.link("current"))
	}
}

// A new worker that is not healthy: the cutover starts the previous
// release's worker again from the one project directory (compose's hash
// holds the env files' paths; the stand-in refuses an `up` anywhere else),
// with the previous release's files there for that `up`, so the release
// script's rollback finds the worker unchanged and does not recreate it a
// second time. The project directory holds the new release's files again
// afterwards (for the rollback to replace), with nothing left aside.
func TestReleaseScriptRestoresThePreviousWorkerFromTheProjectDirectory(t *testing.T) {
	e := newScriptEnv(t)
	a := releaseFixture(t, e.bundles, "a")
	b := releaseFixture(t, e.bundles, "b") // a new API image: api and worker change
	e.store(a)
	if out, ok := e.run(a); !ok {
		t.Fatalf("first release:\n%s", out)
	}
	e.log()
	e.unhealthy = b + "/worker"
	e.store(b)
	out, ok := e.run(b)
	if ok {
		t.Fatalf("a release with an unhealthy worker succeeded:\n%s", out)
	}
	lines := e.lines()
	bad := slices.Index(lines, "up "+b+" recreate=worker remove= healthy=false")
	back := slices.Index(lines, "up "+a+" recreate=worker remove= healthy=true")
	rollback := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "migrate "+a) })
	if bad < 0 || back < bad || rollback < back {
		t.Fatalf("the cutover did not start the previous worker again, from the project directory, before the rollback: %v\n%s", lines, out)
	}
	for _, l := range lines[back+1:] {
		if strings.HasPrefix(l, "up ") && strings.Contains(l, "worker") {
			t.Errorf("the rollback recreated the worker once more: %q in %v", l, lines)
		}
	}
	var st dockerState
	raw, _ := os.ReadFile(filepath.Join(e.state, "state.json"))
	_ = json.Unmarshal(raw, &st)
	want, _, err := serviceHashes(filepath.Join(e.releases, a))
	if err != nil || st.Running["worker"] != want["worker"] || st.Sick["worker"] {
		t.Errorf("the worker that runs: %s (sick %v), want %s of %s (%v)", st.Running["worker"], st.Sick["worker"], want["worker"], a, err)
	}
	project := filepath.Join(filepath.Dir(e.releases), "project")
	if id, _ := os.ReadFile(filepath.Join(project, "id")); strings.TrimSpace(string(id)) != a {
		t.Errorf("after the rollback the project directory holds %q, want %s", id, a)
	}
	if _, err := os.Stat(project + ".cutover-aside"); !os.IsNotExist(err) {
		t.Errorf("the cutover left its set-aside copy: %v", err)
	}
	if !strings.Contains(out, "release "+b+": the worker is not healthy; still serving the previous release") || e.link("current") != a {
		t.Errorf("current=%s\n%s", e.link("current"), out)
	}
}

// legacyRelease turns a rendered release into one made before the cutover:
// no bin/slipway-cutover, a single api service (api-blue's address) instead
// of the two slots.
func legacyRelease(t *testing.T, bundles, id string) {
	t.Helper()
	dir := filepath.Join(bundles, id)
	if err := os.Remove(filepath.Join(dir, "bin", "slipway-cutover")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	services := doc["services"].(map[string]any)
	services["api"] = services["api-blue"]
	delete(services, "api-blue")
	delete(services, "api-green")
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A release made before the cutover existed (no bin/slipway-cutover; `slipway
// rollback` can reach one) comes up as such releases did: `docker compose up
// --detach --remove-orphans --wait` from the project directory, said in the
// log, with its own IMDS set; the slots go as orphans and the cutover's state
// is reset, so the next cutover starts from a single-api host (api-green
// first, the old api removed).
func TestReleaseScriptBringsUpAReleaseWithoutACutover(t *testing.T) {
	e := newScriptEnv(t)
	old := releaseFixture(t, e.bundles, "a")
	legacyRelease(t, e.bundles, old)
	b := releaseFixture(t, e.bundles, "b")
	e.store(old)
	out, ok := e.run(old)
	if !ok {
		t.Fatalf("a release without a cutover failed:\n%s", out)
	}
	if !strings.Contains(out, "release "+old+" has no bin/slipway-cutover (made before the cutover): bringing it up with docker compose up --wait") {
		t.Errorf("the fallback is not logged:\n%s", out)
	}
	if got := e.events(); !slices.Equal(got, []string{
		"imds allow 198.18.100.10 198.18.100.11",
		"up " + old,
		"imds allow 198.18.100.10 198.18.100.11",
	}) {
		t.Errorf("first release without a cutover: %v", got)
	}
	e.store(b)
	if out, ok := e.run(b); !ok {
		t.Fatalf("the cutover from a single-api release:\n%s", out)
	}
	if ups := e.log(); !slices.Equal(ups, []string{"up " + b + " recreate=api-green,worker remove=api healthy=true"}) {
		t.Errorf("from the single api to the slots: %v", ups)
	}
	out, ok = e.run("rollback")
	if !ok || e.link("current") != old {
		t.Fatalf("rollback to a release without a cutover: current=%s\n%s", e.link("current"), out)
	}
	if ups := e.log(); !slices.Equal(ups, []string{"up " + old + " recreate=api,worker remove=api-green healthy=true"}) {
		t.Errorf("rollback to the single api: %v", ups)
	}
	if _, err := os.Stat(filepath.Join(e.state, "cutover", "active-slot")); !os.IsNotExist(err) {
		t.Errorf("the cutover's active slot outlived the single-api release: %v", err)
	}
	e.store(b)
	if out, ok := e.run(b); !ok {
		t.Fatalf("rolling forward again:\n%s", out)
	}
	if ups := e.log(); !slices.Equal(ups, []string{"up " + b + " recreate=api-green,worker remove=api healthy=true"}) {
		t.Errorf("forward again from the single api: %v", ups)
	}
}

// status: the current and previous release, each service's state and
// health and the image digests, as JSON; maintenance on|off sets the flag
// nginx reads, with modes nginx's workers can read, and takes no lock.
func TestReleaseScriptStatusAndMaintenance(t *testing.T) {
	e := newScriptEnv(t)
	a := releaseFixture(t, e.bundles, "a")
	b := releaseFixture(t, e.bundles, "b")
	for _, id := range []string{a, b} {
		e.store(id)
		if out, ok := e.run(id); !ok {
			t.Fatalf("release %s:\n%s", id, out)
		}
	}
	out, ok := e.run("status")
	if !ok {
		t.Fatalf("status:\n%s", out)
	}
	var st struct {
		Current struct {
			ID       string
			Services map[string]struct{ Image, State, Health string }
		}
		Previous struct {
			ID     string
			Images map[string]string
		}
	}
	if i := strings.Index(out, "{"); i < 0 {
		t.Fatalf("status prints no JSON:\n%s", out)
	} else if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&st); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, out)
	}
	if st.Current.ID != b || st.Previous.ID != a {
		t.Errorf("status: current %s previous %s, want %s %s", st.Current.ID, st.Previous.ID, b, a)
	}
	// b went into api-green (a ran in api-blue, now stopped).
	if s := st.Current.Services["api-blue"]; s.State != "exited" {
		t.Errorf("status of the idle slot api-blue: %+v", s)
	}
	for _, svc := range []string{"api-green", "worker", "db", "proxy"} {
		s := st.Current.Services[svc]
		if s.State != "running" || s.Health != "healthy" || !digestRef.MatchString(s.Image) {
			t.Errorf("status of %s: %+v", svc, s)
		}
	}
	if !strings.Contains(st.Current.Services["api-green"].Image, strings.Repeat("b", 64)) || !strings.Contains(st.Previous.Images["api-blue"], strings.Repeat("a", 64)) {
		t.Errorf("status images: current %v previous %v", st.Current.Services["api-green"].Image, st.Previous.Images)
	}

	flag := filepath.Join(e.state, "maintenance", "on")
	// No lock: maintenance works while a rollout holds it.
	lock, err := os.OpenFile(filepath.Join(e.releases, ".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if out, ok := e.run("maintenance", "on"); !ok {
		t.Fatalf("maintenance on:\n%s", out)
	}
	info, err := os.Stat(flag)
	dir, _ := os.Stat(filepath.Dir(flag))
	if err != nil || info.Mode().Perm() != 0o644 || dir.Mode().Perm() != 0o755 {
		t.Errorf("the flag nginx reads: %v %v (dir %v)", info, err, dir)
	}
	if out, ok := e.run("status"); !ok || !strings.Contains(out, "maintenance mode is on") {
		t.Errorf("status in maintenance:\n%s", out)
	}
	if out, ok := e.run("maintenance", "off"); !ok {
		t.Fatalf("maintenance off:\n%s", out)
	}
	if _, err := os.Stat(flag); !os.IsNotExist(err) {
		t.Errorf("maintenance off left the flag: %v", err)
	}
	if out, ok := e.run("maintenance", "maybe"); ok {
		t.Errorf("maintenance maybe accepted:\n%s", out)
	}
}

func TestFetcher(t *testing.T) {
	python := requireTool(t, "python3")
	if out, err := exec.Command(python, "-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())", "hostfiles/slipway-fetch.py").CombinedOutput(); err != nil {
		t.Fatalf("slipway-fetch does not parse: %v\n%s", err, out)
	}
	cmd := exec.Command(python, "testdata/test_slipway_fetch.py")
	cmd.Env = append(os.Environ(), "SLIPWAY_FETCH=hostfiles/slipway-fetch.py", "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fetcher unit tests: %v\n%s", err, out)
	}
	cmd = exec.Command(python, "testdata/test_slipway_load.py")
	cmd.Env = append(os.Environ(), "SLIPWAY_LOAD=hostfiles/slipway-load.py", "PYTHONDONTWRITEBYTECODE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("loader unit tests: %v\n%s", err, out)
	}
}

// Rotating slipway:dbPassword: Postgres keeps the password it was
// initialised with, so the release applies the new one to the running
// database before `up` (else the new API cannot log in and every release
// rolls back), and a rollback applies the old one again. The value never
// reaches the log or a command line.
func TestReleaseScriptRotatesTheDatabasePassword(t *testing.T) {
	e := newScriptEnv(t)
	a := releaseFixtureWithPassword(t, e.bundles, "a", "first-pw-1111", 1)
	b := releaseFixtureWithPassword(t, e.bundles, "a", "rotated-pw-2$2\\2", 2)
	c := releaseFixtureWithPassword(t, e.bundles, "e", "third-pw-3333", 3)
	e.unhealthy = strings.Repeat("e", 64)

	e.store(a)
	if out, ok := e.run(a); !ok || e.dbPassword() != "first-pw-1111" {
		t.Fatalf("first release: ok=%v password=%q\n%s", ok, e.dbPassword(), out)
	}
	e.log()

	e.store(b)
	out, ok := e.run(b)
	if !ok || e.link("current") != b {
		t.Fatalf("a release with a rotated database password failed:\n%s", out)
	}
	if e.dbPassword() != "rotated-pw-2$2\\2" {
		t.Errorf("the running database has password %q", e.dbPassword())
	}
	if ups := e.log(); len(ups) != 1 || !strings.Contains(ups[0], "healthy=true") {
		t.Errorf("ups: %v", ups)
	}

	// A failed release after another rotation: the rollback restores the
	// password its own API uses.
	e.store(c)
	out2, ok := e.run(c)
	if ok || e.link("current") != b {
		t.Fatalf("unhealthy release: ok=%v current=%s\n%s", ok, e.link("current"), out2)
	}
	if ups := e.log(); len(ups) != 2 || !strings.Contains(ups[1], "up "+b) || !strings.Contains(ups[1], "healthy=true") {
		t.Errorf("the rollback was not healthy: %v\n%s", ups, out2)
	}
	if e.dbPassword() != "rotated-pw-2$2\\2" {
		t.Errorf("after the rollback the database password is %q", e.dbPassword())
	}
	for _, pw := range []string{"first-pw", "rotated-pw", "third-pw"} {
		if strings.Contains(out+out2+e.fullLog, pw) {
			t.Errorf("a database password reached the log or a command line (%s)", pw)
		}
	}
}

// events returns every stand-in log line (ups and IMDS changes) since the
// last call.
func (e *scriptEnv) events() []string {
	b, _ := os.ReadFile(filepath.Join(e.state, "log"))
	e.fullLog += string(b)
	_ = os.Remove(filepath.Join(e.state, "log"))
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(l, "up ") || strings.HasPrefix(l, "imds ") {
			out = append(out, strings.Fields(l)[0]+" "+strings.Fields(l)[1]+map[bool]string{true: " " + strings.Join(strings.Fields(l)[2:], " ")}[strings.HasPrefix(l, "imds ")])
		}
	}
	return out
}

// The release decides which containers reach the instance metadata
// service: before `up`, the labelled services (api, worker) of the new and
// the running release; once the new one is healthy, only its own; after a
// rollback, the old one's. A labelled service without a fixed address stops
// the release before anything changes.
func TestReleaseScriptSetsIMDSAccess(t *testing.T) {
	e := newScriptEnv(t)
	requireTool(t, "python3")
	a := releaseFixture(t, e.bundles, "a")
	c := releaseFixture(t, e.bundles, "e")
	e.unhealthy = strings.Repeat("e", 64)
	// The cutover sets the IMDS set: during (both releases' labelled services and both slots), after
	// (the serving slot and the worker), and on failure back to before.
	imdsOnly := func(ev []string) []string {
		return slices.DeleteFunc(ev, func(l string) bool { return !strings.HasPrefix(l, "imds ") })
	}
	both := "imds allow 198.18.100.10 198.18.100.11" // api-blue and the worker

	e.store(a)
	if out, ok := e.run(a); !ok {
		t.Fatalf("first release failed:\n%s", out)
	}
	if got := imdsOnly(e.events()); !slices.Equal(got, []string{both, both}) {
		t.Errorf("first release: %v", got)
	}
	e.store(c)
	if out, ok := e.run(c); ok {
		t.Fatalf("unhealthy release succeeded:\n%s", out)
	}
	if got := imdsOnly(e.events()); !slices.Equal(got, []string{
		"imds allow 198.18.100.10 198.18.100.11 198.18.100.12", // c into api-green: both slots
		"imds allow 198.18.100.11 198.18.100.10",               // c failed: back to a's
		"imds allow 198.18.100.10 198.18.100.11 198.18.100.12", // the rollback's cutover (a into api-green)
		"imds allow 198.18.100.11 198.18.100.12",               // a serves from api-green
	}) {
		t.Errorf("unhealthy release and rollback: %v", got)
	}

	// The worker labelled, its address gone: refused before any up.
	b := releaseFixture(t, e.bundles, "b")
	path := filepath.Join(e.bundles, b, "compose.yaml")
	compose, _ := os.ReadFile(path)
	broken := strings.Replace(string(compose), "ipv4_address: 198.18.100.11", "", 1)
	if broken == string(compose) {
		t.Fatal("the rendered compose file has no worker address to remove")
	}
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	e.store(b)
	out, ok := e.run(b)
	if ok || !strings.Contains(out, "a service labelled slipway.imds=allow has no fixed ipv4_address; nothing was changed") {
		t.Errorf("a labelled service without an address was accepted: ok=%v\n%s", ok, out)
	}
	if got := e.events(); slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, "up "+b) }) {
		t.Errorf("the broken release was started: %v", got)
	}
}

// charsetValues are secrets at the edges of stacks.SecretValue: shell, SQL
// and env-file metacharacters that must be carried end to end, and what
// an env file cannot carry, which must be refused by stacks and by the
// fetcher alike (none of them is trimmed or short: stacks would change or
// refuse those for other reasons).
var charsetValues = []string{
	`pa$$word"; rm -rf / & echo | (x) <y> \ ` + "`id`",
	`$(whoami)-${HOME}-$HOME-#not-a-comment`,
	`back\slash\\-and-"double"-quotes`,
	"100%-sure!~^[]{}=+*?@:,./",
	"it's-a-long-secret-value",
	"line-one-secret\nline-two",
	"carriage\rreturn-secret",
	"tab\tseparated-secret-v",
	"n\u00fcn-ascii-secret-value",
	"nul-\x00-in-a-secret-value",
}

// One definition per character set, the same answer from every consumer:
// each value goes through stacks.Parse (as dbPassword) and through the
// real fetcher (python3, an SSM stand-in); both accept it or both refuse
// it, and what they accept reads back, byte for byte, from the env file
// the fetcher wrote, parsed by compose's own env-file parser.
func TestCharsetsMatchTheHost(t *testing.T) {
	python := requireTool(t, "python3")
	src, err := os.ReadFile("hostfiles/slipway-fetch.py")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^SECRET_VALUE = re\.compile\(r"(.*)"\)$`).FindSubmatch(src)
	if m == nil || string(m[1]) != stacks.SecretValue.Pattern {
		t.Fatalf("the fetcher's SECRET_VALUE is not stacks.SecretValue (%q): %q", stacks.SecretValue.Pattern, m)
	}
	accepted := 0
	for _, v := range charsetValues {
		files := stacks.Files{Values: map[string]string{"aws:allowedAccountIds": `["111111111111"]`}}
		files.SetSecret("slipway:dbPassword", v)
		files.SetSecret("slipway:originSecret", "0123456789abcdef0123")
		_, parseErr := stacks.Parse("slipway", "dev", files)

		params := map[string]string{
			"/slipway/dev/secrets/db/POSTGRES_PASSWORD":  v,
			"/slipway/dev/secrets/api/DATABASE_PASSWORD": v,
		}
		in, _ := json.Marshal(params)
		out := t.TempDir()
		cmd := exec.Command(python, "testdata/fetch_values.py", out)
		cmd.Env = append(os.Environ(), "SLIPWAY_FETCH=hostfiles/slipway-fetch.py", "PYTHONDONTWRITEBYTECODE=1")
		cmd.Stdin = strings.NewReader(string(in))
		fetched, fetchErr := cmd.CombinedOutput()
		if (parseErr == nil) != (fetchErr == nil) {
			t.Errorf("%q: stacks says %v, the fetcher says %v (%s)", v, parseErr, fetchErr, fetched)
			continue
		}
		if fetchErr != nil {
			if strings.Contains(string(fetched), v) {
				t.Errorf("the fetcher's refusal echoes the secret: %s", fetched)
			}
			continue
		}
		accepted++
		for file, key := range map[string]string{"db.env": "POSTGRES_PASSWORD", "api.env": "DATABASE_PASSWORD"} {
			f, err := os.Open(filepath.Join(out, "secrets", file))
			if err != nil {
				t.Fatal(err)
			}
			// Any interpolation compose did would show as this marker.
			env, err := dotenv.ParseWithLookup(f, func(string) (string, bool) { return "INTERPOLATED", true })
			f.Close()
			if err != nil || env[key] != v {
				t.Errorf("%s: compose reads %s = %q (%v), want %q", file, key, env[key], err, v)
			}
		}
	}
	if accepted != 4 {
		t.Errorf("%d values carried end to end, want the 4 with metacharacters", accepted)
	}
}

// The database password as the fetcher writes it (KEY='value') reaches
// ALTER ROLE unchanged, whatever shell or SQL metacharacters it holds.
func TestReleaseScriptCarriesMetacharactersToTheDatabase(t *testing.T) {
	e := newScriptEnv(t)
	a := releaseFixtureWithPassword(t, e.bundles, "a", "first-pw-1111-xyz", 1)
	e.store(a)
	if out, ok := e.run(a); !ok {
		t.Fatalf("first release:\n%s", out)
	}
	for i, pw := range charsetValues[:4] {
		if !stacks.SecretValue.Match(pw) {
			t.Fatalf("%q is not a value stacks accepts", pw)
		}
		id := releaseFixtureWithPassword(t, e.bundles, "a", pw, i+2)
		e.store(id)
		if out, ok := e.run(id); !ok || e.dbPassword() != pw {
			t.Errorf("password %q: ok=%v, the database has %q\n%s", pw, ok, e.dbPassword(), out)
		}
	}
}
