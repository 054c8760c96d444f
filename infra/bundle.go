package infra

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"slipway/stacks"
)

// The release bundle is what the host needs to run a release, rendered
// here so the host only fetches files and runs compose. Each entry is a
// path in the release's directory on the host:
//
//	compose.yaml  app/compose.yaml with every ${VAR} resolved: images pinned
//	              by digest, log groups, data directory, region
//	db.env, api.env, worker.env, proxy.env
//	              each service's own non-secret settings (a setting one
//	              service reads recreates only that service)
//	.env          compose's own settings (COMPOSE_PROFILES)
//	proxy/templates/default.conf.template
//	              the nginx template (app/proxy/templates), mounted read-only
//	              over the proxy image's copy: a configuration change needs
//	              no image build. The proxy's compose label carries its hash,
//	              so a template change recreates the proxy (and only it).
//	bin/          the host scripts of this release (releaseScripts)
const (
	bundleCompose       = "compose.yaml"
	bundleDBEnv         = "db.env"
	bundleAPIEnv        = "api.env"
	bundleWorkerEnv     = "worker.env"
	bundleProxyEnv      = "proxy.env"
	bundleComposeEnv    = ".env"
	bundleProxyTemplate = "proxy/templates/default.conf.template"
	// bundleDatabase is what the host's db-setup reads in host + rds mode
	// (the master secret's ARN, the region, RDS's address, the old data
	// directory): JSON, because an ARN holds characters no env file here
	// accepts (rds!db-...). Absent with the container database.
	bundleDatabase = "database.json"
)

// releaseScripts are the host scripts that travel with each release (bundle
// path -> file of hostfiles/): the release script the loader runs, its
// secrets fetcher, the cutover it runs, the metrics publisher and the
// base-backup script (their timers run the current release's copy), and the
// restore script (the bootstrap links /usr/local/sbin/slipway-db-restore to
// the current release's copy). Both backup scripts do nothing on a stack
// without backups (no SLIPWAY_BACKUP_BUCKET in the db's environment). The
// move to RDS travels too, so the operator runs the host's own copy
// (docs/scaling.md, "Moving the data"); it does nothing unless run.
var releaseScripts = map[string]string{
	"bin/slipway-release":     "slipway-release.sh",
	"bin/slipway-cutover":     "slipway-cutover.sh",
	"bin/slipway-fetch":       "slipway-fetch.py",
	"bin/slipway-metrics":     "slipway-metrics.py",
	"bin/slipway-backup":      "slipway-backup.sh",
	"bin/slipway-db-restore":  "slipway-db-restore.sh",
	"bin/slipway-move-to-rds": "slipway-move-to-rds.sh",
}

// rdsScripts are the host scripts a host + rds release carries besides
// releaseScripts: bin/slipway-db-setup (the application's role on RDS, as
// the master user), which the cutover runs first when it finds it beside
// itself (slipway-cutover.sh, step 0). A container release does not carry
// it, so its bundle is unchanged.
var rdsScripts = map[string]string{
	"bin/slipway-db-setup": "slipway-db-setup.py",
}

// The db-setup service of a host + rds release (dbSetupService).
const (
	dbSetupServiceName = "db-setup"
	// dbSetupProfile keeps the service out of `up`, `config` and the
	// cutover's view of the project: only an explicit `docker compose run
	// db-setup` (slipway-db-setup.py) starts it.
	dbSetupProfile = "db-setup"
)

// imdsLabel marks the services the release lets reach the instance
// metadata service (slipway-release.sh, imds_addresses).
const imdsLabel = "slipway.imds"

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// varRef matches compose interpolation: $$ (a literal $), ${NAME},
// ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error} and $NAME.
var varRef = regexp.MustCompile(`\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*)|\{)`)

// digestRef is an image reference pinned by digest.
var digestRef = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$`)

// interpolate resolves compose variables in s strictly: a variable not in
// vars and without a default is an error, never an empty string. Literal
// $$ stays $$ (compose on the host turns it into $), and a substituted
// value's own $ is escaped the same way.
func interpolate(s string, vars map[string]string, missing map[string]bool) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		switch {
		case sub[1] == "$":
			return "$$"
		case sub[1] == "{":
			missing["${ (unterminated)"] = true
			return m
		}
		name, op, def := sub[2], sub[3], sub[4]
		if name == "" {
			name = sub[5]
		}
		v, ok := vars[name]
		if ok && (v != "" || !strings.HasPrefix(op, ":")) {
			return strings.ReplaceAll(v, "$", "$$")
		}
		if strings.HasSuffix(op, "-") {
			return def
		}
		missing[name] = true
		return m
	})
}

// renderCompose turns the workload's compose file into the production file
// for one stack: variables resolved (strictly), services of profiles not
// enabled removed (so nothing optional is even mentioned), and, when logs
// go to json-file instead of CloudWatch, the awslogs-* options dropped that
// the json-file driver would reject. Anchors and merge keys are resolved,
// so the x-* blocks that held them are dropped too.
//
// Every image ends up pinned by digest: ${VAR} images get the release's
// digests, literal ones the digest in pins (image -> image@sha256:...); an
// image left unpinned is an error.
//
// labels are added to services (service -> label -> value).
//
// With rds (host + rds mode) the file runs no Postgres container: the db
// service, its volume and the other services' dependencies on it are
// removed, and the db-setup service is added (dbSetupService).
func renderCompose(src []byte, vars map[string]string, profiles []string, jsonFileLogs bool, pins map[string]string, labels map[string]map[string]string, rds bool) (string, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return "", fmt.Errorf("compose file: %w", err)
	}
	for k := range doc {
		if strings.HasPrefix(k, "x-") {
			delete(doc, k)
		}
	}
	services, _ := doc["services"].(map[string]any)
	if len(services) == 0 {
		return "", fmt.Errorf("compose file has no services")
	}
	if rds {
		if err := withoutContainerDatabase(doc, services); err != nil {
			return "", err
		}
	}
	for name, raw := range services {
		svc, _ := raw.(map[string]any)
		if ps, ok := svc["profiles"].([]any); ok {
			on := false
			for _, p := range ps {
				on = on || slices.Contains(profiles, fmt.Sprint(p))
			}
			if !on {
				delete(services, name)
				continue
			}
		}
		if logging, ok := svc["logging"].(map[string]any); ok && jsonFileLogs {
			if opts, ok := logging["options"].(map[string]any); ok {
				for k := range opts {
					if strings.HasPrefix(k, "awslogs-") {
						delete(opts, k)
					}
				}
				// Rotation as the daemon default would give.
				opts["max-size"], opts["max-file"] = "10m", "3"
			}
		}
	}
	// Networks no enabled service joins (the Datadog profile's docker-api
	// when it is off) are dropped: compose would not create them, and the
	// file must stay within a standard-tier parameter.
	if networks, ok := doc["networks"].(map[string]any); ok {
		used := map[string]bool{}
		for _, raw := range services {
			svc, _ := raw.(map[string]any)
			switch n := svc["networks"].(type) {
			case []any:
				for _, name := range n {
					used[fmt.Sprint(name)] = true
				}
			case map[string]any:
				for name := range n {
					used[name] = true
				}
			}
		}
		for name := range networks {
			if !used[name] {
				delete(networks, name)
			}
		}
	}
	missing := map[string]bool{}
	resolved := walkStrings(doc, func(s string) string { return interpolate(s, vars, missing) })
	if len(missing) > 0 {
		names := slices.Sorted(maps.Keys(missing))
		return "", fmt.Errorf("compose file uses variables the release does not provide: %s", strings.Join(names, ", "))
	}
	for name, add := range labels {
		svc, ok := resolved.(map[string]any)["services"].(map[string]any)[name].(map[string]any)
		if !ok {
			return "", fmt.Errorf("compose file has no service %s to label", name)
		}
		l, _ := svc["labels"].(map[string]any)
		if l == nil {
			l = map[string]any{}
		}
		for k, v := range add {
			l[k] = v
		}
		svc["labels"] = l
	}
	if rds {
		api, _ := services["api-blue"].(map[string]any)
		if api == nil {
			return "", fmt.Errorf("compose file has no api-blue service for db-setup to run the image of")
		}
		services[dbSetupServiceName] = dbSetupService(api)
	}
	for name, raw := range services {
		svc, _ := raw.(map[string]any)
		image, _ := svc["image"].(string)
		if pinned, ok := pins[image]; ok {
			image = pinned
			svc["image"] = image
		}
		if !digestRef.MatchString(image) {
			return "", fmt.Errorf("compose service %s: image %q is not pinned by digest", name, image)
		}
	}
	// Two-space indentation: the file stays within a standard-tier
	// parameter (4 KB) where yaml.v3's default four spaces would not.
	var out strings.Builder
	out.WriteString("# Rendered by the Slipway release from app/compose.yaml. Do not edit on the host.\n")
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(resolved); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return out.String(), nil
}

// containerDatabase is the compose service of the Postgres container and
// its named volume (the data directory on the data volume).
const (
	containerDatabase       = "db"
	containerDatabaseVolume = "pgdata"
)

// withoutContainerDatabase removes the Postgres container from a compose
// document: the db service, its volume (only the declaration: the data on
// the data volume stays where it is, and no compose command removes a
// bind-mounted directory) and every other service's depends_on entry for
// it, which compose would otherwise refuse as a dependency on a service
// that does not exist.
func withoutContainerDatabase(doc map[string]any, services map[string]any) error {
	if _, ok := services[containerDatabase]; !ok {
		return fmt.Errorf("compose file has no %s service to replace with RDS", containerDatabase)
	}
	delete(services, containerDatabase)
	for _, raw := range services {
		svc, _ := raw.(map[string]any)
		switch deps := svc["depends_on"].(type) {
		case map[string]any:
			delete(deps, containerDatabase)
			if len(deps) == 0 {
				delete(svc, "depends_on")
			}
		case []any:
			kept := slices.DeleteFunc(deps, func(d any) bool { return fmt.Sprint(d) == containerDatabase })
			if len(kept) == 0 {
				delete(svc, "depends_on")
			} else {
				svc["depends_on"] = kept
			}
		}
	}
	if volumes, ok := doc["volumes"].(map[string]any); ok {
		delete(volumes, containerDatabaseVolume)
		if len(volumes) == 0 {
			delete(doc, "volumes")
		}
	}
	return nil
}

// dbSetupService is the one-off that creates or updates the application's
// role and database on RDS as the master user, before a host + rds
// release migrates: the same step as the ECS API task's db-setup
// container (dbSetupScript, cluster.go), run from the API's image with the
// API's settings and secrets (api.env: RDS's address, port and TLS mode;
// secrets/api.env: the role's password). The master credentials are not in
// any file: MASTER_USERNAME and MASTER_PASSWORD are passed through from
// the environment of the one `docker compose run` that slipway-db-setup.py
// starts with them (it reads them from Secrets Manager just before), and
// the container is removed when it exits. Under a profile no release
// enables, so `up`, `config` and the cutover never see it. No fixed
// address: it cannot reach the instance metadata service (it needs none).
// The script's $ are escaped ($$): compose interpolates the file again on
// the host.
func dbSetupService(api map[string]any) map[string]any {
	return map[string]any{
		"image":       api["image"],
		"profiles":    []any{dbSetupProfile},
		"command":     []any{"node", "-e", strings.ReplaceAll(dbSetupScript, "$", "$$")},
		"restart":     "no",
		"networks":    []any{"app"},
		"env_file":    []any{"./" + bundleAPIEnv, "./secrets/" + bundleAPIEnv},
		"environment": []any{"MASTER_USERNAME", "MASTER_PASSWORD"},
		"logging":     api["logging"],
	}
}

// walkStrings applies f to every string value (not to keys, as compose
// interpolates values only).
func walkStrings(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case map[string]any:
		for k, e := range x {
			x[k] = walkStrings(e, f)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = walkStrings(e, f)
		}
		return x
	}
	return v
}

// envFile renders KEY=value lines, sorted. Values are checked rather than
// quoted: the settings are plain identifiers, URLs and numbers, and a value
// compose would reinterpret ($, quotes, #, newlines) is a bug to report.
func envFile(header string, vars map[string]string) (string, error) {
	keys := slices.Sorted(maps.Keys(vars))
	var b strings.Builder
	b.WriteString(header)
	for _, k := range keys {
		v := vars[k]
		// An allowlist (stacks.PlainValue): compose reads these files,
		// and the release script reads DATABASE_USER with sed.
		if !stacks.PlainValue.Match(v) {
			return "", fmt.Errorf("setting %s = %q is not accepted in an env file: expected %s", k, v, stacks.PlainValue.Accepted)
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	return b.String(), nil
}

// releaseID names a release: a hash of the bundle's files and of the
// versions of the secret parameters (not their values), so a new image, a
// changed setting or a rotated secret is a new release, and an unchanged
// stack keeps its id and triggers nothing.
func releaseID(files map[string]string, secretVersions map[string]int) string {
	h := sha256.New()
	names := slices.Sorted(maps.Keys(files))
	for _, n := range names {
		fmt.Fprintf(h, "file\x00%s\x00%d\x00%s", n, len(files[n]), files[n])
	}
	keys := slices.Sorted(maps.Keys(secretVersions))
	for _, k := range keys {
		fmt.Fprintf(h, "secret\x00%s\x00%d\x00", k, secretVersions[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:20]
}
