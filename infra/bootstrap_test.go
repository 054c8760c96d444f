package infra

import (
	"encoding/base64"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
	out, err := exec.Command(shellcheck, "hostfiles/mount-data-volume.sh").CombinedOutput()
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
