package app

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// What the release provides: the interpolated variables, and the two env files on the host.
var releaseEnv = map[string]string{
	"API_IMAGE":        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api@sha256:" + strings.Repeat("a", 64),
	"PROXY_IMAGE":      "123456789012.dkr.ecr.eu-west-1.amazonaws.com/proxy@sha256:" + strings.Repeat("b", 64),
	"DB_IMAGE":         "123456789012.dkr.ecr.eu-west-1.amazonaws.com/db@sha256:" + strings.Repeat("c", 64),
	"DB_DATA_DIR":      "/srv/pgdata",
	"LOG_DRIVER":       "awslogs",
	"AWS_REGION":       "eu-west-1",
	"API_LOG_GROUP":    "slipway-dev-api",
	"WORKER_LOG_GROUP": "slipway-dev-worker",
	"PROXY_LOG_GROUP":  "slipway-dev-proxy",
	"DB_LOG_GROUP":     "slipway-dev-db",
}

var secretKeys = []string{"DATABASE_PASSWORD", "POSTGRES_PASSWORD", "ORIGIN_HEADER_VALUE", "DD_API_KEY"}

// load copies the compose files into a temporary directory next to sample env files (the
// loader reads env_file) and loads them as docker compose would.
func load(t *testing.T, files []string, profiles ...string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	copies := make([]string, len(files))
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		copies[i] = filepath.Join(dir, f)
		if err := os.WriteFile(copies[i], data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dev, err := os.ReadFile("dev.env")
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		// As infra/release.go writes them: each service's own settings (a
		// POSTGRES_USER there must not win over compose.yaml's).
		"db.env":              "DATABASE_NAME=app\nDATABASE_USER=app\nPOSTGRES_DB=app\nPOSTGRES_USER=app\n",
		"api.env":             "PORT=3000\nDATABASE_HOST=db\nDATABASE_NAME=app\nDATABASE_USER=app\n",
		"worker.env":          "PORT=3000\nDATABASE_HOST=db\nDATABASE_NAME=app\nDATABASE_USER=app\nWORKER_JOB_TIMEOUT_SECONDS=30\n",
		"proxy.env":           "ORIGIN_HEADER_NAME=X-Origin-Verify\n",
		"secrets/db.env":      "POSTGRES_PASSWORD=sample-db\n",
		"secrets/api.env":     "DATABASE_PASSWORD=sample-api\n",
		"secrets/proxy.env":   "ORIGIN_HEADER_VALUE=sample-origin-value\n",
		"secrets/datadog.env": "DD_API_KEY=sample-dd\n",
		"dev.env":             string(dev),
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := make([]string, 0, len(releaseEnv))
	for k, v := range releaseEnv {
		env = append(env, k+"="+v)
	}
	opts, err := cli.NewProjectOptions(copies,
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	return project
}

func TestProductionCompose(t *testing.T) {
	p := load(t, []string{"compose.yaml"})

	if got := strings.Join(p.ServiceNames(), ","); got != "api-blue,api-green,db,proxy,worker" {
		t.Errorf("services = %s, want api-blue,api-green,db,proxy,worker (datadog-agent only with its profile)", got)
	}
	images := map[string]string{"api-blue": "API_IMAGE", "api-green": "API_IMAGE", "worker": "API_IMAGE", "proxy": "PROXY_IMAGE", "db": "DB_IMAGE"}
	groups := map[string]string{"api-blue": "API_LOG_GROUP", "api-green": "API_LOG_GROUP", "worker": "WORKER_LOG_GROUP", "proxy": "PROXY_LOG_GROUP", "db": "DB_LOG_GROUP"}
	for name, svc := range p.Services {
		if svc.Image != releaseEnv[images[name]] {
			t.Errorf("%s image = %q, want $%s", name, svc.Image, images[name])
		}
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 {
			t.Errorf("%s has no health check", name)
		}
		if svc.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("%s restart = %q", name, svc.Restart)
		}
		// Each service its own settings (a setting only it reads restarts only it) and its own
		// secrets (the worker shares the API's database password).
		settings := map[string]string{"db": "db.env", "api-blue": "api.env", "api-green": "api.env", "worker": "worker.env", "proxy": "proxy.env"}[name]
		want := map[string]string{"db": "db.env", "api-blue": "api.env", "api-green": "api.env", "worker": "api.env", "proxy": "proxy.env"}[name]
		if len(svc.EnvFiles) != 2 || filepath.Base(svc.EnvFiles[0].Path) != settings ||
			svc.EnvFiles[1].Path != filepath.Join(filepath.Dir(svc.EnvFiles[0].Path), "secrets", want) {
			t.Errorf("%s env files = %+v, want %s and secrets/%s", name, svc.EnvFiles, settings, want)
		}
		l := svc.Logging
		if l == nil || l.Driver != "awslogs" || l.Options["awslogs-group"] != releaseEnv[groups[name]] || l.Options["awslogs-region"] != "eu-west-1" {
			t.Errorf("%s logging = %+v", name, l)
		}
		for dep, cfg := range svc.DependsOn {
			if cfg.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s depends on %s with condition %q", name, dep, cfg.Condition)
			}
		}
	}
	if got := p.Services["worker"].Command; strings.Join(got, " ") != "node src/worker.js" {
		t.Errorf("worker command = %v", got)
	}
	// The cutover orders the application itself (migrate, new slot, worker, proxy): compose's
	// dependencies are only the database, and the proxy depends on nothing (starting it must not
	// start or recreate a slot).
	for svc, deps := range map[string][]string{"api-blue": {"db"}, "api-green": {"db"}, "worker": {"db"}, "proxy": {}} {
		var got []string
		for d := range p.Services[svc].DependsOn {
			got = append(got, d)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(deps, ",") {
			t.Errorf("%s depends on %v, want %v", svc, got, deps)
		}
	}
	// Both slots are the same service but for their address.
	blue, green := p.Services["api-blue"], p.Services["api-green"]
	if blue.Image != green.Image || strings.Join(blue.Command, " ") != strings.Join(green.Command, " ") ||
		blue.StopGracePeriod == nil || green.StopGracePeriod == nil || *blue.StopGracePeriod != *green.StopGracePeriod ||
		blue.Labels["slipway.imds"] != "allow" || green.Labels["slipway.imds"] != "allow" {
		t.Errorf("api-blue and api-green differ: %+v / %+v", blue, green)
	}
	// The proxy reads the template and the slot flag from the host's directories the cutover
	// writes (slipway-cutover.sh), and the maintenance flag.
	mounts := map[string]string{}
	for _, v := range p.Services["proxy"].Volumes {
		if !v.ReadOnly {
			t.Errorf("proxy mount %s -> %s is writable", v.Source, v.Target)
		}
		mounts[v.Target] = v.Source
	}
	for target, source := range map[string]string{
		"/etc/nginx/templates":    "/srv/slipway/proxy/templates",
		"/etc/nginx/slipway/slot": "/srv/slipway/proxy/slot",
	} {
		if mounts[target] != source {
			t.Errorf("proxy mounts %q at %s, want %s", mounts[target], target, source)
		}
	}
	if filepath.Base(mounts["/etc/nginx/maintenance"]) != "maintenance" {
		t.Errorf("proxy mounts %q at /etc/nginx/maintenance, want the maintenance directory", mounts["/etc/nginx/maintenance"])
	}
	ports := p.Services["proxy"].Ports
	if len(ports) != 1 || ports[0].Published != "80" || ports[0].Target != 80 {
		t.Errorf("proxy ports = %+v, want 80:80", ports)
	}
	vol := p.Volumes["pgdata"]
	if vol.Driver != "local" || vol.DriverOpts["type"] != "none" || vol.DriverOpts["o"] != "bind" || vol.DriverOpts["device"] != "/srv/pgdata" {
		t.Errorf("pgdata = %+v", vol)
	}
	if m := p.Services["db"].Volumes; len(m) != 1 || m[0].Source != "pgdata" || m[0].Target != "/var/lib/postgresql" {
		t.Errorf("db volumes = %+v", m)
	}
	if got := p.Services["api-blue"].Environment["DD_TRACE_ENABLED"]; got == nil || *got != "false" {
		t.Errorf("DD_TRACE_ENABLED defaults to %v, want false", got)
	}
}

func TestDatadogProfile(t *testing.T) {
	p := load(t, []string{"compose.yaml"}, "datadog")
	dd, ok := p.Services["datadog-agent"]
	if !ok {
		t.Fatal("datadog-agent missing with profile datadog")
	}
	if !strings.HasPrefix(dd.Image, "public.ecr.aws/datadog/agent:7.") {
		t.Errorf("datadog image = %s, want a pinned 7.x tag", dd.Image)
	}
	// The agent never holds the Docker socket (":ro" does not limit the API: the socket is root on
	// the host); it reads Docker through the read-only proxy, on a network only the two share.
	for _, v := range dd.Volumes {
		if strings.Contains(v.Source, "docker.sock") {
			t.Errorf("datadog-agent mounts %s", v.Source)
		}
	}
	if h := dd.Environment["DOCKER_HOST"]; h == nil || *h != "tcp://docker-socket-proxy:2375" {
		t.Errorf("datadog-agent DOCKER_HOST = %v, want tcp://docker-socket-proxy:2375", h)
	}
	if _, ok := dd.DependsOn["docker-socket-proxy"]; !ok {
		t.Error("datadog-agent does not wait for the Docker API proxy")
	}
	proxy, ok := p.Services["docker-socket-proxy"]
	if !ok {
		t.Fatal("docker-socket-proxy missing with profile datadog")
	}
	if !regexp.MustCompile(`^ghcr\.io/tecnativa/docker-socket-proxy:[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(proxy.Image) {
		t.Errorf("docker-socket-proxy image = %s, want a pinned x.y.z version", proxy.Image)
	}
	// GET and HEAD only, and only containers, images and info (plus the ping and version every
	// client asks first, and the event stream the agent follows containers by). Every section
	// the image would allow by default is set explicitly.
	granted := map[string]bool{"CONTAINERS": true, "IMAGES": true, "INFO": true, "PING": true, "VERSION": true, "EVENTS": true}
	for _, section := range []string{"CONTAINERS", "IMAGES", "INFO", "PING", "VERSION", "EVENTS", "POST", "EXEC",
		"BUILD", "AUTH", "SECRETS", "ALLOW_START", "ALLOW_STOP", "ALLOW_RESTARTS"} {
		v := proxy.Environment[section]
		want := map[bool]string{true: "1", false: "0"}[granted[section]]
		if v == nil || *v != want {
			t.Errorf("docker-socket-proxy %s = %v, want %s", section, v, want)
		}
	}
	for name, v := range proxy.Environment {
		if v != nil && *v == "1" && !granted[name] && name != "DISABLE_IPV6" {
			t.Errorf("docker-socket-proxy grants %s", name)
		}
	}
	for _, svc := range []types.ServiceConfig{dd, proxy} {
		if !slices.Contains(svc.CapDrop, "NET_RAW") {
			t.Errorf("%s keeps NET_RAW: it could forge the api's address past the IMDS rule", svc.Name)
		}
	}
	if !proxy.ReadOnly {
		t.Error("docker-socket-proxy's filesystem is writable")
	}
	if _, ok := proxy.Networks["docker-api"]; !ok || len(proxy.Networks) != 1 {
		t.Errorf("docker-socket-proxy networks = %v, want docker-api", proxy.Networks)
	}
	if nw := p.Networks["docker-api"]; !nw.Internal {
		t.Errorf("network docker-api = %+v, want internal (no route out)", nw)
	}
	for name, svc := range p.Services {
		_, onDockerAPI := svc.Networks["docker-api"]
		if onDockerAPI != (name == "datadog-agent" || name == "docker-socket-proxy") {
			t.Errorf("%s on docker-api = %v: only the agent and the proxy may reach the Docker API", name, onDockerAPI)
		}
		for _, v := range svc.Volumes {
			if strings.Contains(v.Source, "docker.sock") && name != "docker-socket-proxy" {
				t.Errorf("%s mounts the Docker socket", name)
			}
		}
	}
}

func TestDevelopmentOverride(t *testing.T) {
	p := load(t, []string{"compose.yaml", "compose.override.yaml"})
	for _, name := range []string{"db", "api-blue", "api-green", "worker", "proxy", "sqs", "web"} {
		svc, ok := p.Services[name]
		if !ok {
			t.Fatalf("service %s missing", name)
		}
		if svc.Logging == nil || svc.Logging.Driver != "json-file" || svc.Logging.Options["awslogs-group"] != "" {
			t.Errorf("%s logging = %+v, want plain json-file", name, svc.Logging)
		}
	}
	if b := p.Services["api-blue"].Build; b == nil || !strings.HasSuffix(b.Context, "api") {
		t.Errorf("api build = %+v", b)
	}
	if len(p.Services["api-blue"].Volumes) == 0 {
		t.Error("api source is not bind-mounted")
	}
	if got := p.Volumes["pgdata"].DriverOpts; len(got) != 0 {
		t.Errorf("dev pgdata driver_opts = %v, want none", got)
	}
	if ports := p.Services["proxy"].Ports; len(ports) != 1 || ports[0].Published != "8080" {
		t.Errorf("dev proxy ports = %+v", ports)
	}
}

// Secrets reach containers only through secrets.env: no compose file names them.
func TestNoSecretsInComposeFiles(t *testing.T) {
	for _, f := range []string{"compose.yaml", "compose.override.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			code, _, _ := strings.Cut(line, "#")
			for _, k := range secretKeys {
				if strings.Contains(code, k) {
					t.Errorf("%s sets %s: %q", f, k, line)
				}
			}
		}
	}
}

func TestEmbedded(t *testing.T) {
	if !strings.Contains(string(ComposeFile), "${API_IMAGE}") || !strings.Contains(string(ProxyTemplate), "${ORIGIN_HEADER_VARIABLE}") {
		t.Error("embedded artefacts are not the expected files")
	}
}

// nginx resolves its upstream's name once, at start, and an API-only release recreates the api
// container while the proxy keeps running: the api must come back at the same address, whatever
// the nginx version. So the api has a fixed address on the project's network, outside the range
// Docker hands out to the other containers, and everything (dev's extra services included) is on
// that network.
func TestAPIHasAFixedAddress(t *testing.T) {
	for _, files := range [][]string{{"compose.yaml"}, {"compose.yaml", "compose.override.yaml"}} {
		p := load(t, files, "datadog")
		nw, ok := p.Networks["app"]
		if !ok || len(nw.Ipam.Config) != 1 {
			t.Fatalf("%v: network app = %+v, want one IPAM pool", files, nw)
		}
		pool := nw.Ipam.Config[0]
		_, subnet, err := net.ParseCIDR(pool.Subnet)
		if err != nil {
			t.Fatalf("%v: subnet %q: %v", files, pool.Subnet, err)
		}
		_, dynamic, err := net.ParseCIDR(pool.IPRange)
		if err != nil || !subnet.Contains(dynamic.IP) {
			t.Fatalf("%v: ip_range %q is not inside %s", files, pool.IPRange, pool.Subnet)
		}
		// Never the VPC's block (stacks accept only private ones) nor Docker's default pools
		// (172.17-31/16, 192.168/16).
		if subnet.IP.IsPrivate() {
			t.Errorf("%v: subnet %s may clash with the VPC or Docker's default pools", files, subnet)
		}
		fixed := map[string]bool{}
		for name, svc := range p.Services {
			// The Docker API proxy is only on its own network (TestDatadogProfile); the agent
			// joins that one too.
			want := 1
			if name == "datadog-agent" {
				want = 2
			}
			if len(svc.Networks) != want {
				t.Errorf("%v: %s networks = %v, want app only (the agent: app and docker-api)", files, name, svc.Networks)
			}
			if name == "docker-socket-proxy" {
				continue
			}
			cfg, ok := svc.Networks["app"]
			if !ok {
				t.Errorf("%v: %s is not on network app: %v", files, name, svc.Networks)
				continue
			}
			// The services that reach the instance metadata service (the host role) are the
			// API and the worker, each admitted by its fixed address (infra/hostfiles/slipway-imds.sh).
			// The db has a fixed address too: the release labels it only when backups are on
			// (pgBackRest's archive-push uses the role; infra/release.go), never this file.
			imds := svc.Labels["slipway.imds"] == "allow"
			app := name == "api-blue" || name == "api-green" || name == "worker"
			if imds != app {
				t.Errorf("%v: %s label slipway.imds=allow is %v: only the API slots and the worker may reach IMDS", files, name, imds)
			}
			if !app && name != "db" {
				if cfg != nil && cfg.Ipv4Address != "" {
					t.Errorf("%v: %s has a fixed address too", files, name)
				}
				continue
			}
			ip := net.ParseIP(cfg.Ipv4Address)
			if cfg == nil || ip == nil || !subnet.Contains(ip) || dynamic.Contains(ip) || ip.Equal(subnet.IP) || ip[len(ip)-1] == 1 {
				t.Errorf("%v: %s address %+v must be in %s, outside the dynamic range %s, not the network or gateway address", files, name, cfg, subnet, dynamic)
			} else if fixed[ip.String()] {
				t.Errorf("%v: %s shares its address %s", files, name, ip)
			}
			fixed[ip.String()] = true
		}
		if len(fixed) != 4 {
			t.Errorf("%v: fixed addresses %v, want the two API slots', the worker's and the db's", files, fixed)
		}
	}
	// The host's own health probe reaches nginx through the published port, from the network's
	// gateway: the proxy admits health checks from exactly that address.
	for _, files := range [][]string{{"compose.yaml"}} {
		p := load(t, files, "")
		gateway := p.Networks["app"].Ipam.Config[0].Gateway
		host := p.Services["proxy"].Environment["HOST_ADDRESS"]
		if gateway == "" || host == nil || *host != gateway {
			t.Errorf("%v: proxy HOST_ADDRESS %v, network gateway %q: the host's health probe would be refused", files, host, gateway)
		}
	}
	// The proxy's first API slot (api-blue) is the api's fixed address (the release's cutover
	// adds api-green at 198.18.100.12).
	envsh, err := os.ReadFile("proxy/docker-entrypoint.d/15-slipway-env.envsh")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`API_BLUE_UPSTREAM="\$\{API_BLUE_UPSTREAM:-198\.18\.100\.10:3000\}"`).Match(envsh) {
		t.Error("the proxy's api-blue upstream is not the api's fixed address 198.18.100.10:3000")
	}
}

// Each service sees only its own secrets: the internet-facing proxy and the Datadog agent (which
// reads Docker through a read-only proxy) never get the database password, the database never gets the origin
// secret.
func TestEachServiceSeesOnlyItsSecrets(t *testing.T) {
	p := load(t, []string{"compose.yaml"}, "datadog")
	want := map[string][]string{
		"db":            {"POSTGRES_PASSWORD"},
		"api-blue":      {"DATABASE_PASSWORD"},
		"api-green":     {"DATABASE_PASSWORD"},
		"worker":        {"DATABASE_PASSWORD"},
		"proxy":         {"ORIGIN_HEADER_VALUE"},
		"datadog-agent": {"DD_API_KEY"},
	}
	for name, svc := range p.Services {
		var got []string
		for _, k := range secretKeys {
			if _, ok := svc.Environment[k]; ok {
				got = append(got, k)
			}
		}
		if strings.Join(got, ",") != strings.Join(want[name], ",") {
			t.Errorf("%s gets secrets %v, want %v", name, got, want[name])
		}
	}
}

// The db image's superuser is "postgres", never the application's role: the image makes
// POSTGRES_USER its superuser, and its init script (db/initdb.d) makes DATABASE_USER an ordinary
// role owning DATABASE_NAME. So the db service must see POSTGRES_USER=postgres whatever db.env
// says, and DATABASE_USER/DATABASE_NAME must reach it (they are what the API logs in with).
func TestDatabaseSuperuserIsNotTheApplicationRole(t *testing.T) {
	for _, files := range [][]string{{"compose.yaml"}, {"compose.yaml", "compose.override.yaml"}} {
		db := load(t, files).Services["db"]
		get := func(k string) string {
			if v := db.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		if got := get("POSTGRES_USER"); got != "postgres" {
			t.Errorf("%v: db POSTGRES_USER = %q, want postgres (the superuser, not the app role)", files, got)
		}
		for _, k := range []string{"DATABASE_USER", "DATABASE_NAME", "POSTGRES_PASSWORD"} {
			if get(k) == "" {
				t.Errorf("%v: db gets no %s, which its init script needs", files, k)
			}
		}
		if get("DATABASE_USER") == "postgres" {
			t.Errorf("%v: the application role is the superuser", files)
		}
	}
}
