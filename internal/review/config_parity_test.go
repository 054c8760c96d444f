package review

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"slipway/stacks"
)

// The offline plan and the mocks tests read Pulumi.yaml and the stack files
// with stacks.ReadFiles instead of the CLI. This test holds the two to the
// same answer: for dev, prod and a review stack, the real CLI's view of the
// real project files equals ReadFiles' view, key by key.
func TestOfflineConfigReaderAgreesWithTheCLI(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	for _, name := range []string{"Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, stack := range []string{"dev", "prod", "pr-5"} {
		s, err := auto.UpsertStackInlineSource(ctx, stack, "slipway", testProgram(nil, nil), auto.WorkDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		cli, err := s.GetAllConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		offline, err := stacks.ReadFiles(dir, stack)
		if err != nil {
			t.Fatal(err)
		}
		if len(cli) != len(offline.Values) {
			t.Errorf("%s: CLI sees %d keys, ReadFiles %d", stack, len(cli), len(offline.Values))
		}
		for k, v := range cli {
			if got, ok := offline.Values[k]; !ok || got != v.Value {
				t.Errorf("%s: %s: CLI %q, ReadFiles %q (present %v)", stack, k, v.Value, got, ok)
			}
		}
	}
	_ = e
}
