package infra

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// hostAMI on the real Pulumi engine (a local file backend, no cloud): the
// engine's own Stash semantics, not a model of them, decide whether a
// change of architecture is refused (in the preview as in the up) and
// whether pinning an AMI rolls it.
// Successive `pulumi up`s of a program that is only hostAMI, with a fixed
// "newest AMI" per architecture.
func TestHostAMIOnTheRealEngine(t *testing.T) {
	if _, err := exec.LookPath("pulumi"); err != nil {
		if os.Getenv("SLIPWAY_REQUIRE_PULUMI") != "" {
			t.Fatal("pulumi CLI not on PATH although SLIPWAY_REQUIRE_PULUMI is set: run ./scripts/test.sh")
		}
		t.Skip("SKIPPED LOUDLY: pulumi CLI not on PATH: run ./scripts/test.sh, which builds the pinned CLI")
	}
	root := t.TempDir()
	t.Setenv("PULUMI_BACKEND_URL", "file://"+filepath.ToSlash(filepath.Join(root, "state")))
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "host-ami-test")
	t.Setenv("PULUMI_HOME", filepath.Join(root, "home"))
	t.Setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
	t.Setenv("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
	if err := os.MkdirAll(filepath.Join(root, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	newest := map[string]string{"arm64": "ami-0aaaaaaaaaaaaaaaa", "x86_64": "ami-0bbbbbbbbbbbbbbbb"}
	ctx := context.Background()
	up := func(cfg stacks.HostConfig) (string, error) {
		t.Helper()
		program := func(pctx *pulumi.Context) error {
			ami, _, err := hostAMI(pctx, "host", cfg, pulumi.String(newest[cfg.Architecture]).ToStringOutput(), pulumi.Protect(false))
			if err != nil {
				return err
			}
			pctx.Export("ami", ami)
			return nil
		}
		s, err := auto.UpsertStackInlineSource(ctx, "dev", "slipway-host-ami", program,
			auto.Project(workspace.Project{Name: "slipway-host-ami", Runtime: workspace.NewProjectRuntimeInfo("go", nil)}),
			auto.WorkDir(root))
		if err != nil {
			t.Fatal(err)
		}
		// The preview (what a pull request shows) refuses what the up refuses.
		var shown strings.Builder
		_, perr := s.Preview(ctx, optpreview.ProgressStreams(&shown))
		res, err := s.Up(ctx)
		if (perr == nil) != (err == nil) || (err != nil && !strings.Contains(shown.String(), "slipway:architecture changed")) {
			t.Errorf("preview says %v (%s), up says %v", perr, shown.String(), err)
		}
		if err != nil {
			return "", err
		}
		v, _ := res.Outputs["ami"].Value.(string)
		return v, nil
	}
	arm := stacks.HostConfig{InstanceType: "t4g.small", Architecture: "arm64"}
	x86 := stacks.HostConfig{InstanceType: "t3.small", Architecture: "x86_64"}
	pinned := x86
	pinned.AMI = "ami-0123456789abcdef0"

	if ami, err := up(arm); err != nil || ami != newest["arm64"] {
		t.Fatalf("first up: %q, %v", ami, err)
	}
	for i := 0; i < 2; i++ {
		_, err := up(x86)
		if err == nil || !strings.Contains(err.Error(), "slipway:architecture changed from arm64 to x86_64") || !strings.Contains(err.Error(), newest["x86_64"]) {
			t.Fatalf("architecture change with an empty hostAmi (try %d): %v", i+1, err)
		}
	}
	if ami, err := up(pinned); err != nil || ami != pinned.AMI {
		t.Fatalf("pinning an x86_64 AMI: %q, %v", ami, err)
	}
	if ami, err := up(x86); err != nil || ami != newest["x86_64"] {
		t.Fatalf("hostAmi emptied after the roll: %q, %v", ami, err)
	}
	if _, err := up(arm); err == nil || !strings.Contains(err.Error(), "from x86_64 to arm64") {
		t.Fatalf("back to arm64 with an empty hostAmi: %v", err)
	}
}
