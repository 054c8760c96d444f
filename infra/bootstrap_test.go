package infra

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func testSettings() hostSettings {
	return hostSettings{
		Stack: "dev", Region: "us-east-1", ParameterPath: "/slipway/dev/",
		DataVolumeID: "vol-0123456789abcdef0", Registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
	}
}

// requireTool fails (not skips) when a checker is missing: the test
// command installs them, so a missing one is a broken setup.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed; run the test command from README.md (./scripts/test.sh), which installs it", name)
	}
	return path
}

func TestCloudConfigPassesCloudInitSchema(t *testing.T) {
	cloudInit := requireTool(t, "cloud-init")
	doc, err := cloudConfig(testSettings(), Bootstrap{
		Packages: []string{"jq"},
		Files:    []BootFile{{Path: "/usr/local/bin/hello", Permissions: "0755", Content: "#!/bin/sh\necho hi\n"}},
		Commands: [][]string{{"systemctl", "enable", "hello.timer"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cloudInit, "schema", "--config-file", path).CombinedOutput()
	if err != nil {
		t.Fatalf("cloud-init schema rejects the user data: %v\n%s\n%s", err, out, doc)
	}
	for _, want := range []string{"/usr/local/bin/hello", "jq", "slipway.service", "/etc/slipway/host.env"} {
		if !strings.Contains(doc, want) {
			t.Errorf("user data lacks %q", want)
		}
	}
	// the unit is enabled last, after everything it needs is in place
	if !strings.HasSuffix(strings.TrimSpace(doc), "- slipway.service") {
		t.Errorf("slipway.service is not started last:\n%s", doc)
	}
}

func TestCloudConfigRejectsUnsafeSettings(t *testing.T) {
	s := testSettings()
	s.Stack = "dev\nEVIL=1"
	if _, err := cloudConfig(s, Bootstrap{}); err == nil {
		t.Fatal("a newline in a host setting was accepted")
	}
}

func TestHostScriptsPassShellcheck(t *testing.T) {
	shellcheck := requireTool(t, "shellcheck")
	scripts, _ := filepath.Glob("hostfiles/*.sh")
	out, err := exec.Command(shellcheck, scripts...).CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

// The mount script formats the volume only when it has no filesystem, so
// a replacement host keeps the data. It runs here against a file standing
// in for the NVMe device, with mount and friends recorded instead of run.
func TestMountScriptFormatsOnlyOnce(t *testing.T) {
	requireTool(t, "mkfs.ext4")
	requireTool(t, "blkid")
	dir := t.TempDir()
	devices := filepath.Join(dir, "by-id")
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{devices, bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(dir, "calls.log")
	for _, name := range []string{"mount", "mountpoint", "install"} {
		stub := "#!/bin/sh\necho \"" + name + " $*\" >> " + log + "\n"
		if name == "mountpoint" {
			stub += "exit 1\n" // not mounted yet
		}
		if err := os.WriteFile(filepath.Join(bin, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	disk := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(disk, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(disk, filepath.Join(devices, "nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0")); err != nil {
		t.Fatal(err)
	}
	env := filepath.Join(dir, "host.env")
	if err := os.WriteFile(env, []byte("SLIPWAY_DATA_VOLUME_ID=vol-0123456789abcdef0\nSLIPWAY_DATA_DIR="+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fstab := filepath.Join(dir, "fstab")
	run := func() string {
		cmd := exec.Command("bash", "hostfiles/mount-data-volume.sh")
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH")+":/sbin:/usr/sbin",
			"SLIPWAY_HOST_ENV="+env, "SLIPWAY_FSTAB="+fstab, "SLIPWAY_DEVICE_DIR="+devices, "SLIPWAY_DATA_WAIT_SECONDS=5")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mount script: %v\n%s", err, out)
		}
		uuid, err := exec.Command("blkid", "-s", "UUID", "-o", "value", disk).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(uuid))
	}
	first := run()
	second := run()
	if first == "" || first != second {
		t.Fatalf("filesystem changed between boots (%q then %q): the volume was reformatted", first, second)
	}
	tab, _ := os.ReadFile(fstab)
	if strings.Count(string(tab), "UUID="+first) != 1 {
		t.Fatalf("fstab should hold the volume once:\n%s", tab)
	}
	calls, _ := os.ReadFile(log)
	if !strings.Contains(string(calls), "mount --fstab "+fstab) {
		t.Fatalf("volume not mounted: %s", calls)
	}
}

func TestMountScriptGivesUpWhenTheVolumeNeverArrives(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "host.env")
	if err := os.WriteFile(env, []byte("SLIPWAY_DATA_VOLUME_ID=vol-0aaaaaaaaaaaaaaaa\nSLIPWAY_DATA_DIR="+dir+"/data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "hostfiles/mount-data-volume.sh")
	cmd.Env = append(os.Environ(), "SLIPWAY_HOST_ENV="+env, "SLIPWAY_DEVICE_DIR="+dir, "SLIPWAY_DATA_WAIT_SECONDS=0", "SLIPWAY_FSTAB="+dir+"/fstab")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not attached") {
		t.Fatalf("want a clear failure, got %v: %s", err, out)
	}
}

func TestSubnetCIDR(t *testing.T) {
	for _, tc := range []struct {
		vpc   string
		index int
		want  string
	}{
		{"10.40.0.0/16", 0, "10.40.0.0/18"},
		{"10.40.0.0/16", 1, "10.40.64.0/18"},
		{"192.168.8.0/24", 1, "192.168.8.64/26"},
	} {
		if got, err := subnetCIDR(tc.vpc, 2, tc.index); err != nil || got != tc.want {
			t.Errorf("subnetCIDR(%s, %d) = %s, %v; want %s", tc.vpc, tc.index, got, err, tc.want)
		}
	}
	if _, err := subnetCIDR("10.0.0.0/16", 2, 4); err == nil {
		t.Error("index beyond the split accepted")
	}
}

func TestUserDataIsGzippedAndBounded(t *testing.T) {
	doc, err := cloudConfig(testSettings(), Bootstrap{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encodeUserData(doc)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := encodeUserData(doc)
	if enc != again {
		t.Fatal("the same document encodes differently: the host would be replaced on every up")
	}
	// Incompressible content past the limit is refused before AWS would.
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 3*userDataLimit)
	for i := range noise {
		noise[i] = byte(rng.UintN(256))
	}
	if _, err := encodeUserData(base64.StdEncoding.EncodeToString(noise)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("oversized user data accepted: %v", err)
	}
}

// The boot unit runs the release script, which may first wait for a
// rollout SSM started and then roll out (and back) itself: systemd must not
// kill it before the release budget is spent.
func TestBootUnitOutlastsTheReleaseBudget(t *testing.T) {
	unit, err := hostFiles.ReadFile("hostfiles/slipway.service")
	if err != nil {
		t.Fatal(err)
	}
	var timeout int
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "TimeoutStartSec="); ok {
			timeout, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if need := lockWait + rolloutWork + 60; timeout < need {
		t.Fatalf("slipway.service TimeoutStartSec=%d, the boot path may need %d s", timeout, need)
	}
}

// netnsTopology is the host's network as the IMDS rule meets it, built from
// network namespaces: a "host" namespace with the compose network's bridge
// (198.18.100.1/24) and forwarding on, one namespace per "container" on a
// veth pair into the bridge, and the metadata service in a namespace of its
// own behind the host's uplink, because on EC2 169.254.169.254 is not an
// address of the host: a container's request to it is forwarded (FORWARD,
// hence DOCKER-USER), not delivered locally.
type netnsTopology struct {
	t                *testing.T
	host, imds       string
	containers       map[string]string // address -> namespace
	python, stateDir string
}

func (n *netnsTopology) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// in runs a command inside a namespace.
func (n *netnsTopology) in(ns string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin", "SLIPWAY_IMDS_STATE="+filepath.Join(n.stateDir, "imds-allow"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// guard runs the host's real slipway-imds script in the host namespace.
func (n *netnsTopology) guard(args ...string) (string, error) {
	return n.in(n.host, append([]string{"bash", "hostfiles/slipway-imds.sh"}, args...)...)
}

// reaches reports whether an HTTP GET of the metadata service from a
// namespace succeeds (and returns what the service serves).
func (n *netnsTopology) reaches(ns string) bool {
	out, err := n.in(ns, n.python, "-c",
		"import urllib.request as u; print(u.urlopen('http://169.254.169.254/', timeout=3).read().decode().strip())")
	return err == nil && strings.Contains(out, "imds-credentials")
}

func (n *netnsTopology) counter(target string) int {
	out, err := n.in(n.host, "iptables", "-w", "5", "-L", "SLIPWAY-IMDS", "-v", "-x", "-n")
	if err != nil {
		n.t.Fatalf("iptables -L: %v\n%s", err, out)
	}
	total := 0
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 2 && f[2] == target {
			c, _ := strconv.Atoi(f[0])
			total += c
		}
	}
	return total
}

func newNetnsTopology(t *testing.T, containers ...string) *netnsTopology {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: the IMDS rule test needs root (network namespaces and iptables); run ./scripts/test.sh as root")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := exec.LookPath("/usr/sbin/" + tool); err != nil {
				t.Skipf("SKIPPED LOUDLY: %s is not installed; ./scripts/test.sh installs it (iproute2, iptables)", tool)
			}
		}
	}
	python := requireTool(t, "python3")
	id := strconv.Itoa(os.Getpid())
	n := &netnsTopology{t: t, host: "slw-host-" + id, imds: "slw-imds-" + id, containers: map[string]string{},
		python: python, stateDir: t.TempDir()}
	if out, err := exec.Command("ip", "netns", "add", n.host).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED LOUDLY: this machine cannot create network namespaces (%v: %s)", err, out)
	}
	namespaces := []string{n.host, n.imds}
	t.Cleanup(func() {
		for _, ns := range namespaces {
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	n.ip("netns", "add", n.imds)
	n.ip("-n", n.host, "link", "set", "lo", "up")
	n.ip("-n", n.imds, "link", "set", "lo", "up")
	n.ip("-n", n.host, "link", "add", "br0", "type", "bridge")
	n.ip("-n", n.host, "addr", "add", "198.18.100.1/24", "dev", "br0")
	n.ip("-n", n.host, "link", "set", "br0", "up")
	for i, addr := range containers {
		ns := "slw-c" + strconv.Itoa(i) + "-" + id
		n.ip("netns", "add", ns)
		namespaces = append(namespaces, ns)
		n.containers[addr] = ns
		veth := "veth" + strconv.Itoa(i)
		n.ip("-n", n.host, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
		n.ip("-n", n.host, "link", "set", veth, "master", "br0", "up")
		n.ip("-n", ns, "link", "set", "lo", "up")
		n.ip("-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
		n.ip("-n", ns, "link", "set", "eth0", "up")
		n.ip("-n", ns, "route", "add", "default", "via", "198.18.100.1")
	}
	// The uplink: the metadata service is one routed hop away.
	n.ip("-n", n.host, "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns", n.imds)
	n.ip("-n", n.host, "addr", "add", "10.99.0.1/24", "dev", "uplink")
	n.ip("-n", n.host, "link", "set", "uplink", "up")
	n.ip("-n", n.imds, "addr", "add", "10.99.0.2/24", "dev", "eth0")
	n.ip("-n", n.imds, "addr", "add", "169.254.169.254/32", "dev", "lo")
	n.ip("-n", n.imds, "link", "set", "eth0", "up")
	n.ip("-n", n.imds, "route", "add", "198.18.100.0/24", "via", "10.99.0.1")
	n.ip("-n", n.host, "route", "add", "169.254.169.254/32", "via", "10.99.0.2")
	if out, err := n.in(n.host, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		t.Fatalf("ip_forward: %v\n%s", err, out)
	}
	// A tiny metadata service: a fixed page standing in for the credentials.
	www := t.TempDir()
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("imds-credentials\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	server := exec.Command("ip", "netns", "exec", n.imds, python, "-m", "http.server", "--bind", "169.254.169.254", "--directory", www, "80")
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Process.Kill(); _ = server.Wait() })
	for i := 0; i < 50 && !n.reaches(n.host); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !n.reaches(n.host) {
		t.Fatal("the stand-in metadata service never answered")
	}
	return n
}

// dockerStarts does what dockerd does to the filter table when it starts
// (after slipway-imds.service, which it Requires): keep an existing
// DOCKER-USER, append its RETURN, jump to DOCKER-USER first in FORWARD, set
// FORWARD's policy to DROP and accept the bridge's traffic after it.
func (n *netnsTopology) dockerStarts() {
	n.t.Helper()
	script := `set -e
iptables -w 5 -N DOCKER-USER 2>/dev/null || true
iptables -w 5 -C DOCKER-USER -j RETURN 2>/dev/null || iptables -w 5 -A DOCKER-USER -j RETURN
iptables -w 5 -P FORWARD DROP
iptables -w 5 -A FORWARD -o br0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -w 5 -A FORWARD -i br0 ! -o br0 -j ACCEPT
iptables -w 5 -I FORWARD 1 -j DOCKER-USER`
	if out, err := n.in(n.host, "bash", "-c", script); err != nil {
		n.t.Fatalf("docker's rules: %v\n%s", err, out)
	}
}

// The IMDS rule for real: packets from a container-range address to
// 169.254.169.254 are refused, those from the API's and the worker's fixed
// addresses pass, the host itself keeps its access, the release can change
// the set, and a reboot restores it before Docker starts.
func TestIMDSRuleInNetworkNamespaces(t *testing.T) {
	const api, worker, other, next = "198.18.100.10", "198.18.100.11", "198.18.100.130", "198.18.100.12"
	n := newNetnsTopology(t, api, worker, other, next)
	// Without the rule every container reaches it: the topology routes.
	if !n.reaches(n.containers[other]) {
		t.Fatal("without the rule a container cannot reach the metadata service: the topology is wrong, not the rule")
	}

	// Boot on a new host (no state): slipway-imds.service runs before Docker.
	if out, err := n.guard("boot"); err != nil {
		t.Fatalf("slipway-imds boot: %v\n%s", err, out)
	}
	n.dockerStarts()
	for _, addr := range []string{api, worker, other} {
		if n.reaches(n.containers[addr]) {
			t.Errorf("before any release, %s reaches the metadata service", addr)
		}
	}

	// The release allows its api and worker.
	if out, err := n.guard("allow", worker, api, api); err != nil {
		t.Fatalf("slipway-imds allow: %v\n%s", err, out)
	}
	rejected := n.counter("REJECT")
	if !n.reaches(n.containers[api]) || !n.reaches(n.containers[worker]) {
		t.Errorf("the API (%s) or the worker (%s) cannot reach the metadata service", api, worker)
	}
	if n.reaches(n.containers[other]) {
		t.Errorf("a container at %s (Docker's dynamic range) reaches the metadata service", other)
	}
	if got := n.counter("REJECT"); got <= rejected {
		t.Errorf("the refused request did not hit SLIPWAY-IMDS's REJECT (counter %d -> %d)", rejected, got)
	}
	if !n.reaches(n.host) {
		t.Error("the host itself lost the metadata service (SSM agent, fetcher, metrics need it)")
	}
	if out, _ := n.guard("show"); strings.Fields(out)[0] != api || len(strings.Fields(out)) != 2 {
		t.Errorf("show = %q, want the sorted, unique set", out)
	}

	// A switch of releases: both APIs for a while, then only the new one.
	if out, err := n.guard("allow", api, next, worker); err != nil {
		t.Fatalf("allow: %v\n%s", err, out)
	}
	if !n.reaches(n.containers[api]) || !n.reaches(n.containers[next]) {
		t.Error("during a switch both the old and the new API must reach it")
	}
	if out, err := n.guard("allow", next, worker); err != nil {
		t.Fatalf("allow: %v\n%s", err, out)
	}
	if n.reaches(n.containers[api]) || !n.reaches(n.containers[next]) {
		t.Error("after the switch only the new API may reach it")
	}

	// Bad input changes nothing.
	for _, bad := range []string{"198.18.100.300", "010.0.0.1", "198.18.100.0/24", "-j ACCEPT", ""} {
		if out, err := n.guard("allow", bad); err == nil {
			t.Errorf("allow %q accepted:\n%s", bad, out)
		}
	}
	if !n.reaches(n.containers[next]) || n.reaches(n.containers[other]) {
		t.Error("a refused allow changed the rule")
	}

	// A reboot: the kernel's rules are gone; slipway-imds boot restores the
	// saved set before Docker starts, and Docker keeps it.
	if out, err := n.in(n.host, "bash", "-c", "iptables -w 5 -P FORWARD ACCEPT && iptables -w 5 -F && iptables -w 5 -X"); err != nil {
		t.Fatalf("flush: %v\n%s", err, out)
	}
	if out, err := n.guard("boot"); err != nil {
		t.Fatalf("boot: %v\n%s", err, out)
	}
	if out, err := n.guard("boot"); err != nil {
		t.Fatalf("boot again: %v\n%s", err, out)
	}
	n.dockerStarts()
	if !n.reaches(n.containers[next]) || !n.reaches(n.containers[worker]) || n.reaches(n.containers[other]) || n.reaches(n.containers[api]) {
		t.Error("after a reboot the saved set is not what the rule enforces")
	}
	rules, _ := n.in(n.host, "iptables", "-w", "5", "-S", "DOCKER-USER")
	if strings.Count(rules, "SLIPWAY-IMDS") != 1 || !strings.HasPrefix(strings.Split(rules, "\n")[1], "-A DOCKER-USER -d 169.254.169.254/32 -j SLIPWAY-IMDS") {
		t.Errorf("DOCKER-USER must start with exactly one jump to SLIPWAY-IMDS:\n%s", rules)
	}
}

// growEnv is a data volume on an ext4 image for the grow script: the image
// behind a loop device when the machine has them (as the NVMe device is on
// EC2), else the image file itself.
type growEnv struct {
	t                           *testing.T
	dir, image, device, hostEnv string
	devices, mnt                string
}

func (g *growEnv) run(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{"hostfiles/grow-data-volume.sh"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/sbin:/usr/sbin",
		"SLIPWAY_HOST_ENV="+g.hostEnv, "SLIPWAY_DEVICE_DIR="+g.devices)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (g *growEnv) sh(name string, args ...string) string {
	g.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		g.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fsBytes is the filesystem's size as ext4 records it (block count x size).
func (g *growEnv) fsBytes() int64 {
	out := g.sh("dumpe2fs", "-h", g.device)
	var count, size int64
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(l, ":")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "Block count":
			count = n
		case "Block size":
			size = n
		}
	}
	return count * size
}

// Growing slipway:dataVolumeSize grows the filesystem: the host's own
// script, on a real ext4 filesystem whose device was grown under it, with
// the data intact. Online (mounted, as on the host) where this machine
// allows it; resize2fs's online grow needs CAP_SYS_RESOURCE, which some
// containers lack, and then the same script's --offline path is what runs.
func TestGrowScriptGrowsTheFilesystem(t *testing.T) {
	requireTool(t, "mkfs.ext4")
	requireTool(t, "resize2fs")
	requireTool(t, "dumpe2fs")
	dir := t.TempDir()
	g := &growEnv{t: t, dir: dir, image: filepath.Join(dir, "data.img"), devices: filepath.Join(dir, "by-id"),
		mnt: filepath.Join(dir, "data"), hostEnv: filepath.Join(dir, "host.env")}
	for _, d := range []string{g.devices, g.mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(g.hostEnv, []byte("SLIPWAY_DATA_VOLUME_ID=vol-0123456789abcdef0\nSLIPWAY_DATA_DIR="+g.mnt+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const small, large = 64 << 20, 192 << 20
	if err := os.WriteFile(g.image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(g.image, small); err != nil {
		t.Fatal(err)
	}
	// Data on it from the start (mke2fs -d), so that even without a mount
	// the check reads it back (debugfs).
	data := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	seed := filepath.Join(dir, "seed")
	if err := os.Mkdir(seed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(seed, "base.dat"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	g.sh("mkfs.ext4", "-q", "-L", "slipway-data", "-d", seed, g.image)
	intact := func() {
		t.Helper()
		dump := filepath.Join(dir, "dump.dat")
		g.sh("debugfs", "-R", "dump /base.dat "+dump, g.device)
		if got, err := os.ReadFile(dump); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("data not intact after growing: %v", err)
		}
	}

	// A loop device when possible: the script then meets a block device.
	g.device = g.image
	loop := ""
	if os.Geteuid() == 0 {
		if out, err := exec.Command("losetup", "--find", "--show", g.image).Output(); err == nil {
			loop = strings.TrimSpace(string(out))
			g.device = loop
			t.Cleanup(func() { _ = exec.Command("losetup", "-d", loop).Run() })
			t.Logf("ext4 image on loop device %s", loop)
		}
	}
	if loop == "" {
		t.Log("NOTE: no loop device here (not root, or none free): the script runs against the image file itself, offline")
	}
	if err := os.Symlink(g.device, filepath.Join(g.devices, "nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0")); err != nil {
		t.Fatal(err)
	}

	mounted := false
	mount := func() bool {
		if loop == "" {
			return false
		}
		if out, err := exec.Command("mount", loop, g.mnt).CombinedOutput(); err != nil {
			t.Logf("NOTE: cannot mount here (%v: %s): offline only", err, strings.TrimSpace(string(out)))
			return false
		}
		mounted = true
		return true
	}
	unmount := func() {
		if mounted {
			g.sh("umount", g.mnt)
			mounted = false
		}
	}
	t.Cleanup(unmount)
	before := g.fsBytes()
	if !mount() {
		// The image file itself: the script's --offline path (resize2fs on
		// the file), the timer's path only as far as "not mounted".
		if err := os.Truncate(g.image, large); err != nil {
			t.Fatal(err)
		}
		if out, err := g.run(); err != nil || !strings.Contains(out, "not mounted") {
			t.Errorf("the timer's run on an unmounted filesystem: %v\n%s", err, out)
		}
		if out, err := g.run("--offline"); err != nil {
			t.Fatalf("offline grow of the image file: %v\n%s", err, out)
		}
		if after := g.fsBytes(); after < large-(16<<20) || after <= before {
			t.Fatalf("filesystem is %d bytes after growing (was %d, image %d)", after, before, large)
		}
		intact()
		return
	}

	// Nothing to do yet: the filesystem fills the device.
	if out, err := g.run(); err != nil || strings.Contains(out, "growing") {
		t.Fatalf("a full-size filesystem was touched: %v\n%s", err, out)
	}

	// The volume grows (ModifyVolume): the device is larger, the filesystem not.
	if err := os.Truncate(g.image, large); err != nil {
		t.Fatal(err)
	}
	g.sh("losetup", "--set-capacity", loop)
	out, err := g.run()
	online := err == nil
	switch {
	case online:
		t.Logf("grown online:\n%s", out)
	case strings.Contains(out, "Permission denied") || strings.Contains(out, "Operation not permitted"):
		t.Logf("NOTE: online resize2fs is refused on this machine (it needs CAP_SYS_RESOURCE, which a container may lack):\n%s\n"+
			"checking the same script's --offline path instead (what the runbook offers when online growing fails)", out)
		if !strings.Contains(out, "growing "+loop+" online") {
			t.Errorf("the timer's run did not try to grow the mounted filesystem:\n%s", out)
		}
		// Refused while mounted.
		if out, err := g.run("--offline"); err == nil || !strings.Contains(out, "is mounted") {
			t.Errorf("--offline ran on a mounted filesystem: %v\n%s", err, out)
		}
		unmount()
		if out, err := g.run(); err != nil || !strings.Contains(out, "not mounted") {
			t.Errorf("the timer's run on an unmounted filesystem: %v\n%s", err, out)
		}
		if out, err := g.run("--offline"); err != nil {
			t.Fatalf("offline grow: %v\n%s", err, out)
		}
		if !mount() {
			t.Fatal("cannot mount again")
		}
	default:
		t.Fatalf("grow script: %v\n%s", err, out)
	}
	after := g.fsBytes()
	if after < large-(16<<20) || after <= before {
		t.Fatalf("filesystem is %d bytes after growing (was %d, device %d)", after, before, large)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(g.mnt, &st); err != nil {
		t.Fatal(err)
	}
	if total := int64(st.Blocks) * st.Bsize; total < large*8/10 {
		t.Errorf("the mounted filesystem shows %d bytes, want about %d", total, large)
	}
	if got, err := os.ReadFile(filepath.Join(g.mnt, "base.dat")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("data not intact after growing (read through the mount): %v", err)
	}
	// Again: nothing to do.
	if out, err := g.run(); err != nil || strings.Contains(out, "growing") {
		t.Errorf("a second run grew again: %v\n%s", err, out)
	}
	unmount()
	if out, err := exec.Command("e2fsck", "-f", "-n", g.device).CombinedOutput(); err != nil {
		t.Errorf("e2fsck after growing: %v\n%s", err, out)
	}
	intact()
}

// host.env is checked against an allowlist (stacks.PlainValue): what it
// accepts reads back unchanged when bash sources the file (as the host's
// scripts do); anything else is refused before it reaches user data.
func TestHostEnvAllowlist(t *testing.T) {
	bash := requireTool(t, "bash")
	for _, stack := range []string{"dev", "pr-7", "a.b_c/d:e@f+g,h-i"} {
		s := testSettings()
		s.Stack = stack
		env, err := s.env()
		if err != nil {
			t.Fatalf("%q refused: %v", stack, err)
		}
		path := filepath.Join(t.TempDir(), "host.env")
		if err := os.WriteFile(path, []byte(env), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bash, "-c", `set -eu; . "$1"; printf %s "$SLIPWAY_STACK|$SLIPWAY_PARAMETER_PATH|$SLIPWAY_REGISTRY"`, "-", path).Output()
		if want := stack + "|/slipway/dev/|123456789012.dkr.ecr.us-east-1.amazonaws.com"; err != nil || string(out) != want {
			t.Errorf("bash reads %q (%v), want %q", out, err, want)
		}
	}
	for _, bad := range []string{"dev;id", "dev&", "dev|x", "(dev)", "dev<x", "dev>x", "dev x", "$(id)", "`id`", "dev\nX=1", "'dev'", `"dev"`, "~root", "dev\\", "dev#x", "dev*"} {
		s := testSettings()
		s.Stack = bad
		if _, err := s.env(); err == nil || !strings.Contains(err.Error(), "letters, digits and") {
			t.Errorf("host setting %q: %v", bad, err)
		}
	}
}

// The whole first boot (the core host files plus what the release and the
// metrics add) fits EC2's user-data limit with at least 10 % to spare.
func TestUserDataHasMargin(t *testing.T) {
	release, err := ReleaseBootstrap()
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := hostMetricsBootstrap()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cloudConfig(testSettings(), release.With(metrics))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encodeUserData(doc)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(enc)
	if len(raw) > userDataLimit*9/10 {
		t.Errorf("user data is %d bytes gzipped, within 10 %% of EC2's %d", len(raw), userDataLimit)
	}
	t.Logf("user data: %d bytes gzipped of %d", len(raw), userDataLimit)
}

// The IMDS rule is in place before Docker can start a container: its unit
// runs before docker.service, docker.service requires it through a drop-in
// written with the other files (before the packages, whose installation
// starts Docker), and the first boot starts it before enabling Docker. The
// grow timer is installed and enabled.
func TestBootstrapInstallsTheIMDSRuleBeforeDocker(t *testing.T) {
	doc, err := cloudConfig(testSettings(), Bootstrap{})
	if err != nil {
		t.Fatal(err)
	}
	var cc cloudConfigDoc
	if err := yaml.Unmarshal([]byte(strings.TrimPrefix(doc, "#cloud-config\n")), &cc); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range cc.WriteFiles {
		files[f.Path] = f.Content
	}
	unit := files["/etc/systemd/system/slipway-imds.service"]
	if !strings.Contains(unit, "Before=docker.service") || !strings.Contains(unit, "ExecStart=/usr/local/sbin/slipway-imds boot") || !strings.Contains(unit, "RemainAfterExit=yes") {
		t.Errorf("slipway-imds.service:\n%s", unit)
	}
	dropIn := files["/etc/systemd/system/docker.service.d/slipway-imds.conf"]
	if !strings.Contains(dropIn, "Requires=slipway-imds.service") || !strings.Contains(dropIn, "After=slipway-imds.service") {
		t.Errorf("docker.service drop-in:\n%s", dropIn)
	}
	if script, _ := hostFiles.ReadFile("hostfiles/slipway-imds.sh"); files["/usr/local/sbin/slipway-imds"] != string(script) {
		t.Error("the IMDS script is not installed as /usr/local/sbin/slipway-imds")
	}
	for _, p := range []string{"/usr/local/sbin/slipway-grow-data", "/etc/systemd/system/slipway-grow-data.service", "/etc/systemd/system/slipway-grow-data.timer"} {
		if files[p] == "" {
			t.Errorf("%s is not installed", p)
		}
	}
	if !slices.Contains(cc.Packages, "iptables") {
		t.Errorf("packages %v lack iptables", cc.Packages)
	}
	index := func(cmd ...string) int {
		return slices.IndexFunc(cc.Runcmd, func(c []string) bool { return slices.Equal(c, cmd) })
	}
	imds, docker := index("systemctl", "start", "slipway-imds.service"), index("systemctl", "enable", "--now", "docker.service")
	if imds < 0 || docker < 0 || imds > docker {
		t.Errorf("the IMDS rule is not started before Docker: %v", cc.Runcmd)
	}
	if index("systemctl", "enable", "--now", "slipway-grow-data.timer") < 0 {
		t.Errorf("the grow timer is not enabled: %v", cc.Runcmd)
	}
	// The release script hands the allowed set to the same script.
	release, _ := hostFiles.ReadFile("hostfiles/slipway-release.sh")
	if !strings.Contains(string(release), `imds="${SLIPWAY_IMDS:-/usr/local/sbin/slipway-imds}"`) {
		t.Error("the release script does not call /usr/local/sbin/slipway-imds")
	}
}
