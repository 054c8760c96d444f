package infra

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/base64"
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"slipway/infra/foundation"
	"slipway/stacks"
)

// hostFiles are the host's files: what the bootstrap puts on the host (the
// data-volume mount, the docker daemon settings, the systemd units, the
// stable release loader) and the scripts that travel with each release
// (releaseScripts).
//
//go:embed hostfiles
var hostFiles embed.FS

// DataDir is where the data volume is mounted on the host.
const DataDir = "/srv/slipway/data"

// releasesDir is where the loader unpacks releases (slipway-load.py ROOT;
// "current" is the running one).
const releasesDir = "/var/lib/slipway/releases"

// BootFile is a file the bootstrap writes. Content is static: nothing that
// changes per release, and never a secret, because user data is readable
// by anyone who can describe the instance.
type BootFile struct {
	Path        string
	Permissions string
	Content     string
}

// Bootstrap is what other concerns add to the host's first boot (the
// release process adds its scripts and their packages).
type Bootstrap struct {
	Packages []string
	Files    []BootFile
	Commands [][]string
}

// hostFile is one of the embedded hostfiles/ and where it goes on the host.
type hostFile struct{ path, name, mode string }

// bootFiles reads embedded host files for the bootstrap.
func bootFiles(files ...hostFile) ([]BootFile, error) {
	out := make([]BootFile, 0, len(files))
	for _, f := range files {
		content, err := hostFiles.ReadFile("hostfiles/" + f.name)
		if err != nil {
			return nil, err
		}
		out = append(out, BootFile{Path: f.path, Permissions: f.mode, Content: string(content)})
	}
	return out, nil
}

// hostSettings are the non-secret facts the host's scripts read from
// /etc/slipway/host.env.
type hostSettings struct {
	Stack         string
	Region        string
	ParameterPath string // SSM path of the release and its secrets
	DataVolumeID  string
	Registry      string // ECR registry host, for the credential helper
}

func (s hostSettings) env() (string, error) {
	vars := [][2]string{
		{"SLIPWAY_STACK", s.Stack},
		{"AWS_REGION", s.Region},
		{"AWS_DEFAULT_REGION", s.Region},
		{"SLIPWAY_PARAMETER_PATH", s.ParameterPath},
		{"SLIPWAY_DATA_VOLUME_ID", s.DataVolumeID},
		{"SLIPWAY_DATA_DIR", DataDir},
		{"SLIPWAY_REGISTRY", s.Registry},
	}
	var b strings.Builder
	for _, kv := range vars {
		// An allowlist: host.env is sourced by bash and read by systemd.
		if !stacks.PlainValue.Match(kv[1]) {
			return "", fmt.Errorf("host setting %s = %q is not accepted in /etc/slipway/host.env: expected %s", kv[0], kv[1], stacks.PlainValue.Accepted)
		}
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	return b.String(), nil
}

type cloudConfigFile struct {
	Path        string `yaml:"path"`
	Permissions string `yaml:"permissions"`
	Owner       string `yaml:"owner"`
	Content     string `yaml:"content"`
}

type cloudConfigDoc struct {
	PackageUpdate bool              `yaml:"package_update"`
	Packages      []string          `yaml:"packages"`
	WriteFiles    []cloudConfigFile `yaml:"write_files"`
	Runcmd        [][]string        `yaml:"runcmd"`
}

// hostPackages come from Ubuntu's own signed archive: Docker, the compose
// v2 plugin, the ECR credential helper, and iptables for the IMDS rule
// (Docker depends on it too). Nothing is fetched with curl.
var hostPackages = []string{"docker.io", "docker-compose-v2", "amazon-ecr-credential-helper", "iptables"}

// cloudConfig renders the host's user data: a bootstrap only. It installs
// Docker and compose, points Docker at ECR through the credential helper,
// mounts the data volume and installs the unit that runs the stack. The
// release itself is fetched by the host at release time, so an app release
// never changes this document and never replaces the host.
func cloudConfig(s hostSettings, extra Bootstrap) (string, error) {
	env, err := s.env()
	if err != nil {
		return "", err
	}
	files := []cloudConfigFile{
		{Path: "/etc/slipway/host.env", Permissions: "0644", Content: env},
		{Path: "/root/.docker/config.json", Permissions: "0600",
			Content: fmt.Sprintf("{\"credHelpers\": {%q: \"ecr-login\"}}\n", s.Registry)},
	}
	core, err := bootFiles(
		hostFile{"/etc/docker/daemon.json", "docker-daemon.json", "0644"},
		// The IMDS rule (slipway-imds.sh): written before the packages
		// are installed, so even the Docker their installation starts
		// waits for it (the drop-in Requires it).
		hostFile{"/usr/local/sbin/slipway-imds", "slipway-imds.sh", "0755"},
		hostFile{"/etc/systemd/system/slipway-imds.service", "slipway-imds.service", "0644"},
		hostFile{"/etc/systemd/system/docker.service.d/slipway-imds.conf", "docker-slipway-imds.conf", "0644"},
		hostFile{"/usr/local/sbin/slipway-mount-data", "mount-data-volume.sh", "0755"},
		// A grown data volume grows its filesystem (grow-data-volume.sh).
		hostFile{"/usr/local/sbin/slipway-grow-data", "grow-data-volume.sh", "0755"},
		hostFile{"/etc/systemd/system/slipway-grow-data.service", "slipway-grow-data.service", "0644"},
		hostFile{"/etc/systemd/system/slipway-grow-data.timer", "slipway-grow-data.timer", "0644"},
		hostFile{"/etc/systemd/system/slipway.service", "slipway.service", "0644"},
		// Base backups (pgBackRest): the timer exists from the first boot
		// (its first run creates the stanza the archiver needs); the unit
		// runs the current release's bin/slipway-backup and is skipped
		// until a release is there. Without backups the script exits 0.
		hostFile{"/etc/systemd/system/slipway-backup.service", "slipway-backup.service", "0644"},
		hostFile{"/etc/systemd/system/slipway-backup.timer", "slipway-backup.timer", "0644"},
	)
	if err != nil {
		return "", err
	}
	for _, f := range append(core, extra.Files...) {
		files = append(files, cloudConfigFile{Path: f.Path, Permissions: f.Permissions, Content: f.Content})
	}
	for i := range files {
		files[i].Owner = "root:root"
	}
	packages := append(slices.Clone(hostPackages), extra.Packages...)
	slices.Sort(packages)
	commands := [][]string{
		{"/usr/local/sbin/slipway-mount-data"},
		{"systemctl", "daemon-reload"},
		// Explicitly first, in case the packages' Docker started
		// before the drop-in was read.
		{"systemctl", "start", "slipway-imds.service"},
		{"systemctl", "enable", "--now", "docker.service"},
		{"systemctl", "enable", "--now", "slipway-grow-data.timer"},
		{"systemctl", "enable", "--now", "slipway-backup.timer"},
		// Fixed paths for the operator (docs/operations.md): the current
		// release's copies, which travel with each release.
		{"ln", "-sfn", releasesDir + "/current/bin/slipway-backup", "/usr/local/sbin/slipway-backup"},
		{"ln", "-sfn", releasesDir + "/current/bin/slipway-db-restore", "/usr/local/sbin/slipway-db-restore"},
	}
	commands = append(commands, extra.Commands...)
	commands = append(commands, []string{"systemctl", "enable", "--now", "--no-block", "slipway.service"})
	// Last: the signal the rollout document waits for
	// (foundation.BootstrapMarker), written only when what a release needs
	// is there. cloud-init runs every runcmd entry even after one failed,
	// so the marker checks rather than follows.
	commands = append(commands, []string{"sh", "-c", "mountpoint -q " + DataDir + " && systemctl is-active --quiet docker.service && " +
		"[ -x " + foundation.ReleaseScript + " ] && mkdir -p " + path.Dir(foundation.BootstrapMarker) + " && touch " + foundation.BootstrapMarker})
	doc, err := yaml.Marshal(cloudConfigDoc{
		PackageUpdate: true,
		Packages:      slices.Compact(packages),
		WriteFiles:    files,
		Runcmd:        commands,
	})
	if err != nil {
		return "", err
	}
	return "#cloud-config\n" + string(doc), nil
}

// userDataLimit is EC2's limit on user data, before base64 encoding.
const userDataLimit = 16 << 10

// encodeUserData gzips the cloud-config (cloud-init recognises gzip by its
// magic bytes) and base64-encodes it for the instance's userDataBase64: the
// host's scripts make the plain document larger than EC2's 16 KiB limit.
func encodeUserData(doc string) (string, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", err
	}
	// A fixed header (no name, no time) keeps the bytes, and so the
	// instance's inputs, identical for identical documents.
	if _, err := zw.Write([]byte(doc)); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	if buf.Len() > userDataLimit {
		return "", fmt.Errorf("host user data is %d bytes gzipped, over EC2's limit of %d: move files out of the bootstrap", buf.Len(), userDataLimit)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// With combines two concerns' additions to the first boot.
func (b Bootstrap) With(o Bootstrap) Bootstrap {
	return Bootstrap{
		Packages: append(slices.Clone(b.Packages), o.Packages...),
		Files:    append(slices.Clone(b.Files), o.Files...),
		Commands: append(slices.Clone(b.Commands), o.Commands...),
	}
}
