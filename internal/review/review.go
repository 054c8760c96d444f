// Package review runs the lifecycle of ephemeral per-pull-request review
// stacks (pr-<n>) on the real Pulumi engine through the Automation API:
// create or update one (Up), tear one down (Destroy), and reap the ones whose
// time to live has passed (Reap).
//
// The backend is whatever PULUMI_BACKEND_URL names (S3, Pulumi Cloud or
// file://), read by the Pulumi CLI itself; the secrets provider is that
// backend's default (PULUMI_CONFIG_PASSPHRASE for the DIY backends).
//
// Every operation that could destroy something refuses any stack that is not
// a review stack, by name and by profile, so dev and prod can never be torn
// down through this package.
package review

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"slipway/stacks"
)

// DefaultSecretKeys are the per-stack secrets a Slipway stack needs: the
// Postgres password and the shared secret CloudFront sends to the origin.
var DefaultSecretKeys = []string{"slipway:dbPassword", "slipway:originSecret"}

// Lifecycle manages review stacks of one Pulumi project.
type Lifecycle struct {
	// Program is the Pulumi program every review stack runs, inline in this
	// process.
	Program pulumi.RunFunc
	// ProjectDir holds Pulumi.yaml (project name and config defaults) and is
	// the workspace directory, so the project's settings and any
	// Pulumi.<stack>.yaml there apply exactly as they do for `pulumi up`.
	ProjectDir string
	// SecretKeys are the secret config keys generated once per stack when
	// absent; nil means DefaultSecretKeys.
	SecretKeys []string
	// Stdout receives the engine's progress and the lifecycle's report;
	// Stderr receives the engine's error output and warnings. Nil discards.
	Stdout, Stderr io.Writer
}

func (l *Lifecycle) stdout() io.Writer { return orDiscard(l.Stdout) }
func (l *Lifecycle) stderr() io.Writer { return orDiscard(l.Stderr) }

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func (l *Lifecycle) secretKeys() []string {
	if l.SecretKeys == nil {
		return DefaultSecretKeys
	}
	return l.SecretKeys
}

// workspace opens the project directory as a local workspace running the
// inline program. It insists on an existing Pulumi.yaml: without one the
// Automation API would invent a default project (and write it into the
// directory), which would silently drop the project's config defaults.
func (l *Lifecycle) workspace(ctx context.Context) (auto.Workspace, error) {
	if l.Program == nil {
		return nil, errors.New("review: no Pulumi program given")
	}
	if _, err := projectFile(l.ProjectDir); err != nil {
		return nil, err
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(l.ProjectDir), auto.Program(l.Program))
	if err != nil {
		return nil, fmt.Errorf("open Pulumi workspace in %s: %w", l.ProjectDir, err)
	}
	return ws, nil
}

// settingsExtensions are the file extensions Pulumi accepts for project and
// stack settings files, in its own order of preference.
var settingsExtensions = []string{".yaml", ".yml", ".json"}

func projectFile(dir string) (string, error) {
	if p, ok := findSettings(dir, "Pulumi"); ok {
		return p, nil
	}
	return "", fmt.Errorf("review: no Pulumi.yaml in project directory %q", dir)
}

// stackFileExists reports whether the workspace holds a Pulumi.<stack>.yaml
// for the stack. A fresh CI checkout never does for a review stack.
func stackFileExists(dir, stack string) bool {
	_, ok := findSettings(dir, "Pulumi."+path.Base(stack))
	return ok
}

func findSettings(dir, base string) (string, bool) {
	for _, ext := range settingsExtensions {
		p := filepath.Join(dir, base+ext)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// ErrNotReviewStack is returned for any attempt to change a stack that is
// not an ephemeral review stack.
var ErrNotReviewStack = errors.New("not an ephemeral review stack")

// requireReviewStack refuses every stack but pr-<n>. It checks the name and,
// independently, the profile the stacks package derives from it, so a future
// change to either rule cannot alone expose dev or prod to a teardown.
func requireReviewStack(name string) error {
	base := path.Base(name) // list results may be fully qualified: org/project/stack
	if !stacks.IsReviewStack(base) {
		return fmt.Errorf("refusing to touch stack %q: %w (only pr-<number>)", name, ErrNotReviewStack)
	}
	profile, err := stacks.ProfileOf(base)
	if err != nil {
		return fmt.Errorf("refusing to touch stack %q: %w", name, err)
	}
	if !profile.Ephemeral() {
		return fmt.Errorf("refusing to touch stack %q: profile %q: %w", name, profile, ErrNotReviewStack)
	}
	return nil
}

// reviewStackName maps a pull request number to its stack name, guarded.
func reviewStackName(pr int) (string, error) {
	name, err := stacks.ReviewStackName(pr)
	if err != nil {
		return "", err
	}
	if err := requireReviewStack(name); err != nil {
		return "", err
	}
	return name, nil
}
