package infra

import (
	"encoding/json"
	"flag"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"slipway/app"
	"slipway/infra/foundation"
	"slipway/stacks"
)

func TestInterpolateIsStrict(t *testing.T) {
	vars := map[string]string{"A": "x", "EMPTY": "", "D": "co$t"}
	cases := map[string]string{
		"${A}":             "x",
		"$A/${A}":          "x/x",
		"${B:-dflt}":       "dflt",
		"${EMPTY:-dflt}":   "dflt",
		"${EMPTY-dflt}":    "",
		"$$A and $${A}":    "$$A and $${A}", // literal $, left for compose to unescape
		"${D}":             "co$$t",         // a value's $ is escaped, never re-interpolated
		"pg_isready -U $$": "pg_isready -U $$",
	}
	for in, want := range cases {
		missing := map[string]bool{}
		if got := interpolate(in, vars, missing); got != want || len(missing) > 0 {
			t.Errorf("interpolate(%q) = %q (missing %v), want %q", in, got, missing, want)
		}
	}
	for _, in := range []string{"${NOPE}", "$NOPE", "${EMPTY:?required}", "${NOPE?required}"} {
		missing := map[string]bool{}
		interpolate(in, vars, missing)
		if len(missing) != 1 {
			t.Errorf("interpolate(%q) accepted an unknown variable", in)
		}
	}
}

func testRelease(datadog bool) ReleaseArgs {
	args := ReleaseArgs{
		Stack: "dev", Region: "eu-west-1", ParameterPath: "/slipway/dev/", Compose: app.ComposeFile, ProxyTemplate: app.ProxyTemplate,
		Database:             stacks.DatabaseConfig{Name: "app", User: "app", Password: stacks.NewSecret("pw")},
		Origin:               stacks.OriginConfig{Secret: stacks.NewSecret("origin")},
		Datadog:              stacks.DatadogConfig{Site: "datadoghq.eu"},
		WorkerTimeoutSeconds: 30,
		ScriptsDir:           "hostfiles",
	}
	if datadog {
		args.Datadog.APIKey = stacks.NewSecret("dd-key")
	}
	return args
}

func testInputs() releaseInputs {
	d := func(c string) string { return strings.Repeat(c, 64) }
	return releaseInputs{images: map[string]string{
		"api":   "123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway-dev-api-1@sha256:" + d("a"),
		"proxy": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway-dev-proxy-1@sha256:" + d("b"),
		"db":    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway-dev-db-1@sha256:" + d("c"),
	}}
}

// testRDS is an RDS instance as the release sees it in host + rds mode.
func testRDS() *rdsTarget {
	return &rdsTarget{address: "slipway-dev-db.abcdefghijkl.eu-west-1.rds.amazonaws.com", port: "5432",
		masterSecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123abcd-4567-89ef-ab12-cd34ef567890-AbCdEf"}
}

type composeDoc struct {
	Services map[string]struct {
		Image       string         `yaml:"image"`
		Environment map[string]any `yaml:"environment"`
		Logging     struct {
			Driver  string            `yaml:"driver"`
			Options map[string]string `yaml:"options"`
		} `yaml:"logging"`
	} `yaml:"services"`
	Volumes map[string]struct {
		DriverOpts map[string]string `yaml:"driver_opts"`
	} `yaml:"volumes"`
}

func parseCompose(t *testing.T, s string) composeDoc {
	t.Helper()
	var c composeDoc
	if err := yaml.Unmarshal([]byte(s), &c); err != nil {
		t.Fatalf("rendered compose is not YAML: %v\n%s", err, s)
	}
	return c
}

func TestBundleWithoutLogGroupsUsesJSONFileLogs(t *testing.T) {
	files, err := renderBundle(testRelease(false), nil, testInputs())
	if err != nil {
		t.Fatal(err)
	}
	c := parseCompose(t, files[bundleCompose])
	for name, svc := range c.Services {
		if svc.Logging.Driver != "json-file" {
			t.Errorf("%s logs to %q", name, svc.Logging.Driver)
		}
		for k := range svc.Logging.Options {
			if strings.HasPrefix(k, "awslogs-") {
				t.Errorf("%s keeps %s, which json-file rejects", name, k)
			}
		}
		if svc.Logging.Options["max-size"] == "" {
			t.Errorf("%s json-file logs are not rotated", name)
		}
	}
	if got := c.Volumes["pgdata"].DriverOpts["device"]; got != DataDir+"/postgres" {
		t.Errorf("pgdata device = %q", got)
	}
	if strings.Contains(files[bundleCompose], "${") {
		t.Errorf("unresolved variable left:\n%s", files[bundleCompose])
	}
}

// No size cliff: the bundle is one S3 object. A compose file twice today's
// size (its services duplicated under other names) renders and fits;
// only a bundle far beyond any release's size is refused.
func TestBundleHasRoomToGrow(t *testing.T) {
	files, err := renderBundle(testRelease(false), nil, testInputs())
	if err != nil {
		t.Fatal(err)
	}
	today := 0
	for _, c := range files {
		today += len(c)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(app.ComposeFile, &doc); err != nil {
		t.Fatal(err)
	}
	services := doc["services"].(map[string]any)
	for name, svc := range maps.Clone(services) {
		if name == "datadog-agent" || name == "docker-socket-proxy" {
			continue
		}
		b, _ := yaml.Marshal(svc)
		var copied map[string]any
		if err := yaml.Unmarshal(b, &copied); err != nil {
			t.Fatal(err)
		}
		services[name+"-copy"] = copied
	}
	// Comments are dropped by the render: pad with a label instead.
	services["db-copy"].(map[string]any)["labels"] = map[string]any{"padding": strings.Repeat("x", len(files[bundleCompose]))}
	doubled, _ := yaml.Marshal(doc)
	args := testRelease(false)
	args.Compose = doubled
	big, err := renderBundle(args, nil, testInputs())
	if err != nil {
		t.Fatalf("a compose file twice today's size: %v", err)
	}
	if len(big[bundleCompose]) < 2*len(files[bundleCompose]) {
		t.Fatalf("the test's compose file is %d bytes, not twice today's %d", len(big[bundleCompose]), len(files[bundleCompose]))
	}
	size := 0
	for _, c := range big {
		size += len(c)
	}
	t.Logf("bundle today %d bytes; with a doubled compose file %d bytes (SSM's standard tier held 4096 per file)", today, size)
	args.Compose = app.ComposeFile
	args.ProxyTemplate = []byte(strings.Repeat("# padding\n", bundleLimit/10+1))
	if _, err := renderBundle(args, nil, testInputs()); err == nil || !strings.Contains(err.Error(), "over Slipway's limit") {
		t.Errorf("a bundle over %d bytes: %v", bundleLimit, err)
	}
}

func TestBundleWithLogGroupsUsesAwslogs(t *testing.T) {
	in := testInputs()
	in.logGroups = map[string]string{"api": "g-api", "worker": "g-worker", "proxy": "g-proxy", "db": "g-db"}
	files, err := renderBundle(testRelease(false), nil, in)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCompose(t, files[bundleCompose])
	for _, name := range []string{"api-blue", "api-green", "worker", "proxy", "db"} {
		l := c.Services[name].Logging
		group := "g-" + strings.TrimSuffix(strings.TrimSuffix(name, "-blue"), "-green") // both slots log to the API's group
		if l.Driver != "awslogs" || l.Options["awslogs-group"] != group || l.Options["awslogs-region"] != "eu-west-1" {
			t.Errorf("%s logging = %+v", name, l)
		}
	}
	// Strict: a service without its log group is an error, not "".
	delete(in.logGroups, "db")
	if _, err := renderBundle(testRelease(false), nil, in); err == nil || !strings.Contains(err.Error(), "DB_LOG_GROUP") {
		t.Errorf("missing DB log group: err = %v", err)
	}
}

// The nginx template travels in the bundle, byte for byte the file the image
// and the end-to-end test use. The proxy mounts the host's directory the
// cutover installs it into (slipway-cutover.sh reloads nginx when it changed),
// so a template-only release changes no service's configuration: nothing is
// recreated.
func TestBundleShipsTheProxyTemplate(t *testing.T) {
	files, err := renderBundle(testRelease(false), nil, testInputs())
	if err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile(filepath.Join("..", "app", "proxy", "templates", "default.conf.template"))
	if err != nil {
		t.Fatal(err)
	}
	if files[bundleProxyTemplate] != string(source) {
		t.Error("the bundle's nginx template is not app/proxy/templates/default.conf.template")
	}
	if _, ok := files[bundleProxyTemplate]; !ok {
		t.Error("the template is not stored with the bundle")
	}
	var doc struct {
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(files[bundleCompose]), &doc); err != nil {
		t.Fatal(err)
	}
	mounts, _ := doc.Services["proxy"]["volumes"].([]any)
	want := []any{"/srv/slipway/proxy/templates:/etc/nginx/templates:ro",
		"/srv/slipway/proxy/slot:/etc/nginx/slipway/slot:ro",
		maintenanceDir + ":/etc/nginx/maintenance:ro"}
	if !slices.Equal(mounts, want) {
		t.Errorf("proxy volumes = %v, want %v", mounts, want)
	}

	changed := testRelease(false)
	changed.ProxyTemplate = append(append([]byte{}, app.ProxyTemplate...), "\n# changed\n"...)
	other, err := renderBundle(changed, nil, testInputs())
	if err != nil {
		t.Fatal(err)
	}
	var doc2 struct {
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(other[bundleCompose]), &doc2); err != nil {
		t.Fatal(err)
	}
	for name, svc := range doc.Services {
		a, _ := json.Marshal(svc)
		b, _ := json.Marshal(doc2.Services[name])
		if string(a) != string(b) {
			t.Errorf("a template change changes service %s (the cutover reloads nginx instead)", name)
		}
	}
	if releaseID(files, nil) == releaseID(other, nil) {
		t.Error("a template change keeps the release id")
	}
}

func TestBundleRejectsUnpinnedImages(t *testing.T) {
	in := testInputs()
	in.images["api"] = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:latest"
	if _, err := renderBundle(testRelease(false), nil, in); err == nil || !strings.Contains(err.Error(), "not pinned") {
		t.Errorf("a tag-only image was accepted: %v", err)
	}
	// The Datadog agent is named by tag in compose.yaml: without its pin
	// the render fails.
	if _, err := renderBundle(testRelease(true), []string{datadogProfile}, testInputs()); err == nil {
		t.Error("the Datadog agent was rendered without a digest")
	}
}

func TestBundleDatadog(t *testing.T) {
	// The agent and its read-only Docker API proxy, sorted.
	tagged, err := taggedImages(app.ComposeFile, []string{datadogProfile})
	if err != nil || len(tagged) != 2 || !strings.Contains(tagged[0], "tecnativa/docker-socket-proxy") || !strings.Contains(tagged[1], "datadog/agent") {
		t.Fatalf("tagged images = %v, %v", tagged, err)
	}
	if none, _ := taggedImages(app.ComposeFile, nil); len(none) != 0 {
		t.Errorf("without the profile, tagged images = %v", none)
	}
	in := testInputs()
	in.pins = map[string]string{tagged[0]: tagged[0] + "@sha256:" + strings.Repeat("f", 64)}
	tagged = tagged[1:]
	in.pins[tagged[0]] = tagged[0] + "@sha256:" + strings.Repeat("d", 64)
	files, err := renderBundle(testRelease(true), []string{datadogProfile}, in)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCompose(t, files[bundleCompose])
	if c.Services["datadog-agent"].Image != in.pins[tagged[0]] {
		t.Errorf("agent image = %q", c.Services["datadog-agent"].Image)
	}
	if v := c.Services["api-blue"].Environment["DD_TRACE_ENABLED"]; v != "true" {
		t.Errorf("api DD_TRACE_ENABLED = %v", v)
	}
	if !strings.Contains(files[bundleComposeEnv], "COMPOSE_PROFILES=datadog\n") {
		t.Errorf("compose.env = %q", files[bundleComposeEnv])
	}
	for _, file := range []string{bundleAPIEnv, bundleWorkerEnv} {
		for _, want := range []string{"DD_TRACE_ENABLED=true", "DD_AGENT_HOST=datadog-agent", "DD_SITE=datadoghq.eu", "DD_ENV=dev", "DD_SERVICE=slipway-api"} {
			if !strings.Contains(files[file], want+"\n") {
				t.Errorf("%s lacks %s:\n%s", file, want, files[file])
			}
		}
	}
	for _, file := range []string{bundleDBEnv, bundleProxyEnv} {
		if strings.Contains(files[file], "DD_") {
			t.Errorf("%s carries Datadog settings, so Datadog on/off would recreate it:\n%s", file, files[file])
		}
	}
	for name, content := range files {
		if strings.Contains(content, "dd-key") {
			t.Errorf("the Datadog key is in the bundle's %s", name)
		}
	}

	off, err := renderBundle(testRelease(false), nil, testInputs())
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range off {
		if strings.Contains(content, "datadog-agent:") || strings.Contains(content, "DD_SITE") || strings.Contains(content, "COMPOSE_PROFILES") {
			t.Errorf("without a key, %s mentions Datadog:\n%s", name, content)
		}
	}
	if v := parseCompose(t, off[bundleCompose]).Services["api-blue"].Environment["DD_TRACE_ENABLED"]; v != "false" {
		t.Errorf("without a key, api DD_TRACE_ENABLED = %v", v)
	}
}

func TestReleaseIDFollowsContentAndSecretVersions(t *testing.T) {
	files := map[string]string{"compose.yaml": "a", "app.env": "b"}
	base := releaseID(files, map[string]int{"DATABASE_PASSWORD": 1})
	if base != releaseID(map[string]string{"app.env": "b", "compose.yaml": "a"}, map[string]int{"DATABASE_PASSWORD": 1}) {
		t.Error("release id depends on map order")
	}
	if base == releaseID(map[string]string{"compose.yaml": "a2", "app.env": "b"}, map[string]int{"DATABASE_PASSWORD": 1}) {
		t.Error("a compose change keeps the release id")
	}
	if base == releaseID(files, map[string]int{"DATABASE_PASSWORD": 2}) {
		t.Error("a rotated secret keeps the release id")
	}
	// Name/content boundaries cannot be shifted to collide.
	if releaseID(map[string]string{"a": "bc"}, nil) == releaseID(map[string]string{"ab": "c"}, nil) {
		t.Error("release id collides across a shifted boundary")
	}
}

func TestLifecyclePolicy(t *testing.T) {
	doc, err := lifecyclePolicy(30)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Rules []struct {
			RulePriority int
			Selection    struct {
				TagStatus      string
				TagPatternList []string
				CountType      string
				CountUnit      string
				CountNumber    int
			}
			Action struct{ Type string }
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 2 {
		t.Fatalf("rules = %+v", p.Rules)
	}
	u, k := p.Rules[0], p.Rules[1]
	if u.Selection.TagStatus != "untagged" || u.Selection.CountType != "sinceImagePushed" || u.Selection.CountUnit != "days" || u.Selection.CountNumber != 1 || u.Action.Type != "expire" {
		t.Errorf("untagged rule = %+v", u)
	}
	if k.Selection.TagStatus != "tagged" || strings.Join(k.Selection.TagPatternList, ",") != "*" || k.Selection.CountType != "imageCountMoreThan" || k.Selection.CountNumber != 30 || k.Action.Type != "expire" {
		t.Errorf("tagged rule = %+v", k)
	}
	if u.RulePriority == k.RulePriority {
		t.Error("rule priorities must differ")
	}
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestContextTag(t *testing.T) {
	if _, err := contextTag(filepath.Join(t.TempDir(), "missing"), "linux/arm64", nil); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("missing context: err = %v", err)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":             "FROM scratch\n",
		".dockerignore":          "node_modules\ntest\n*.md\n",
		"src/server.js":          "v1",
		"node_modules/x/index":   "dep",
		"test/a.test.js":         "t",
		"README.md":              "docs",
		"package.json":           "{}",
		"src/nested/deep/a.js":   "a",
		"src/nested/deep/b.json": "b",
	})
	tag := func() string {
		t.Helper()
		s, err := contextTag(dir, "linux/arm64", map[string]string{"BUILDKIT_INLINE_CACHE": "1"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := tag()
	if base != tag() {
		t.Fatal("tag is not deterministic")
	}
	// Ignored files do not change the tag...
	writeTree(t, dir, map[string]string{"node_modules/x/index": "dep2", "test/a.test.js": "t2", "README.md": "more"})
	if tag() != base {
		t.Error("a .dockerignore'd change changed the tag")
	}
	// ...what the build sees does.
	writeTree(t, dir, map[string]string{"src/nested/deep/a.js": "a2"})
	changed := tag()
	if changed == base {
		t.Error("a source change kept the tag")
	}
	if err := os.Chmod(filepath.Join(dir, "src/server.js"), 0o755); err != nil {
		t.Fatal(err)
	}
	if tag() == changed {
		t.Error("an executable-bit change kept the tag")
	}
	if other, _ := contextTag(dir, "linux/amd64", map[string]string{"BUILDKIT_INLINE_CACHE": "1"}); other == tag() {
		t.Error("the platform is not part of the tag")
	}
}

// The workload's real contexts: the db's .dockerignore excludes
// everything ("*"), yet its Dockerfile must count; the proxy re-includes
// its templates with "!templates/".
func TestContextTagOnTheWorkload(t *testing.T) {
	for _, image := range Images {
		if _, err := contextTag(filepath.Join("..", "app", image), "linux/arm64", nil); err != nil {
			t.Fatalf("%s: %v", image, err)
		}
	}
	for _, c := range []struct{ image, file string }{
		{"db", "Dockerfile"}, {"proxy", "templates/default.conf.template"}, {"api", "src/server.js"},
	} {
		dir := filepath.Join(t.TempDir(), c.image)
		if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "app", c.image))); err != nil {
			t.Fatal(err)
		}
		before, _ := contextTag(dir, "linux/arm64", nil)
		f, err := os.OpenFile(filepath.Join(dir, c.file), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("\n# changed\n")
		f.Close()
		if after, _ := contextTag(dir, "linux/arm64", nil); after == before {
			t.Errorf("%s: a change to %s kept the tag", c.image, c.file)
		}
	}
}

// The release's bootstrap is valid cloud-config and static: scripts and
// their package, nothing per release.
func TestReleaseBootstrapPassesCloudInitSchema(t *testing.T) {
	cloudInit := requireTool(t, "cloud-init")
	boot, err := ReleaseBootstrap()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cloudConfig(testSettings(), boot)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cloudInit, "schema", "--config-file", path).CombinedOutput(); err != nil {
		t.Fatalf("cloud-init schema: %v\n%s", err, out)
	}
	for _, want := range []string{"python3-boto3", releaseScript, "slipway-release boot", foundation.BootstrapMarker} {
		if !strings.Contains(doc, want) {
			t.Errorf("user data lacks %s", want)
		}
	}
	// The scripts that travel with the release are not in the user data.
	for _, name := range releaseScripts {
		content, _ := hostFiles.ReadFile("hostfiles/" + name)
		if strings.Contains(doc, strings.SplitN(string(content), "\n", 3)[1]) {
			t.Errorf("user data holds %s, which travels with the release", name)
		}
	}
	if strings.Contains(doc, "@sha256:") {
		t.Error("user data holds per-release content")
	}
}

var updateBundles = flag.Bool("update-bundles", false, "rewrite testdata/bundles from the current render")

// bundleVariations are the kinds of change the README's restart table
// lists, each rendered for real from a base stack. The compose-hash module
// (tests/composehash) loads each with Compose's own loader and compares
// Compose's own service hash (what `docker compose up` recreates by) with
// the base's: that test says which services each change restarts.
func bundleVariations(t *testing.T) map[string]map[string]string {
	t.Helper()
	type variation struct {
		args     func(*ReleaseArgs)
		in       func(*releaseInputs)
		profiles []string
		// secrets/<service>.env as the fetcher writes them.
		secrets map[string]string
	}
	secrets := map[string]string{
		"secrets/db.env": "POSTGRES_PASSWORD='pw-1'\n", "secrets/api.env": "DATABASE_PASSWORD='pw-1'\n",
		"secrets/proxy.env": "ORIGIN_HEADER_VALUE='origin-1'\n", "secrets/datadog.env": "DD_API_KEY='dd-1'\n",
	}
	agent := "public.ecr.aws/datadog/agent:7.60.0"
	socket := "ghcr.io/tecnativa/docker-socket-proxy:0.4.1"
	variations := map[string]variation{
		"base": {},
		"api-image": {in: func(in *releaseInputs) {
			in.images["api"] = strings.Replace(in.images["api"], strings.Repeat("a", 64), strings.Repeat("1", 64), 1)
		}},
		"postgres-image": {in: func(in *releaseInputs) {
			in.images["db"] = strings.Replace(in.images["db"], strings.Repeat("c", 64), strings.Repeat("3", 64), 1)
		}},
		"proxy-template": {args: func(a *ReleaseArgs) {
			a.ProxyTemplate = append(append([]byte{}, a.ProxyTemplate...), "\n# a configuration change\n"...)
		}},
		"worker-setting": {args: func(a *ReleaseArgs) { a.WorkerTimeoutSeconds = 120 }},
		"db-password":    {secrets: map[string]string{"secrets/db.env": "POSTGRES_PASSWORD='pw-2'\n", "secrets/api.env": "DATABASE_PASSWORD='pw-2'\n"}},
		"origin-secret":  {secrets: map[string]string{"secrets/proxy.env": "ORIGIN_HEADER_VALUE='origin-2'\n"}},
		"datadog-on": {
			args:     func(a *ReleaseArgs) { a.Datadog.APIKey = stacks.NewSecret("dd-key") },
			profiles: []string{datadogProfile},
			in: func(in *releaseInputs) {
				in.pins = map[string]string{agent: agent + "@sha256:" + strings.Repeat("d", 64), socket: socket + "@sha256:" + strings.Repeat("e", 64)}
			},
		},
		"backups-on": {in: func(in *releaseInputs) {
			in.dbEnv = map[string]string{"SLIPWAY_BACKUP_BUCKET": "slipway-dev-backup-0123abcd", "SLIPWAY_BACKUP_STANZA": "main"}
		}},
		// host + rds: no db service; the API and the worker point at RDS.
		"host-rds": {in: func(in *releaseInputs) { in.rds = testRDS() }},
	}
	out := map[string]map[string]string{}
	for name, v := range variations {
		args := testRelease(false)
		in := testInputs()
		if v.args != nil {
			v.args(&args)
		}
		if v.in != nil {
			v.in(&in)
		}
		files, err := renderBundle(args, v.profiles, in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for path := range releaseScripts {
			delete(files, path) // the scripts are not compose's concern
		}
		for path := range rdsScripts {
			delete(files, path)
		}
		for k, s := range secrets {
			files[k] = s
		}
		for k, s := range v.secrets {
			files[k] = s
		}
		out[name] = files
	}
	return out
}

// The rendered variations in testdata/bundles are the current render
// (regenerate with go test ./infra/ -run TestBundleVariationsAreCurrent -update-bundles).
func TestBundleVariationsAreCurrent(t *testing.T) {
	root := filepath.Join("testdata", "bundles")
	variations := bundleVariations(t)
	if *updateBundles {
		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
		for name, files := range variations {
			writeTree(t, filepath.Join(root, name), files)
		}
	}
	for name, files := range variations {
		for path, content := range files {
			b, err := os.ReadFile(filepath.Join(root, name, path))
			if err != nil || string(b) != content {
				t.Errorf("testdata/bundles/%s/%s is not the current render (%v): go test ./infra/ -run TestBundleVariationsAreCurrent -update-bundles", name, path, err)
			}
		}
	}
	dirs, _ := os.ReadDir(root)
	if len(dirs) != len(variations) {
		t.Errorf("testdata/bundles holds %d variations, the render %d", len(dirs), len(variations))
	}
}

// A unit that runs the current release's copy of a script (the metrics and
// backup timers) names a script the release carries, and the bootstrap's
// links for the operator point at release scripts too.
func TestUnitsRunScriptsTheReleaseCarries(t *testing.T) {
	entries, err := hostFiles.ReadDir("hostfiles")
	if err != nil {
		t.Fatal(err)
	}
	current := releasesDir + "/current/"
	found := map[string]bool{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".service") {
			continue
		}
		content, err := hostFiles.ReadFile("hostfiles/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(content), "\n") {
			key, value, ok := strings.Cut(line, "=")
			if !ok || (key != "ExecStart" && key != "ConditionPathExists") || !strings.HasPrefix(value, current) {
				continue
			}
			rel := strings.Fields(strings.TrimPrefix(value, current))[0]
			if _, ok := releaseScripts[rel]; !ok {
				t.Errorf("%s: %s runs %s, which no release carries (releaseScripts)", e.Name(), key, rel)
			}
			found[e.Name()+" "+key] = true
		}
	}
	for _, want := range []string{"slipway-metrics.service ExecStart", "slipway-backup.service ExecStart",
		"slipway-backup.service ConditionPathExists"} {
		if !found[want] {
			t.Errorf("%s does not name the current release's copy", want)
		}
	}
	for _, name := range []string{"bin/slipway-backup", "bin/slipway-db-restore"} {
		if _, ok := releaseScripts[name]; !ok {
			t.Errorf("%s does not travel with the release", name)
		}
	}
}
