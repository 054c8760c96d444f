package infra

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The content tag is checked on real Git checkouts: Git writes the working
// tree under the umask of whoever clones, as it would on a laptop or a CI
// runner, so the test sees the modes a machine really gets.

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// origin is a repository holding a build context ctx/ with what contexts
// hold: an executable script, a subdirectory, a symlink and a .dockerignore.
func origin(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	repo := filepath.Join(t.TempDir(), "origin")
	files := map[string]string{
		"ctx/Dockerfile":     "FROM scratch\nCOPY . /app\n",
		"ctx/.dockerignore":  "*.log\nnode_modules\n",
		"ctx/run.sh":         "#!/bin/sh\nexec node src/index.js\n",
		"ctx/src/index.js":   "console.log('hello')\n",
		"ctx/src/lib/db.js":  "module.exports = {}\n",
		"ctx/package.json":   "{\"name\":\"api\"}\n",
		"outside/README.txt": "not in the context\n",
	}
	for rel, content := range files {
		p := filepath.Join(repo, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(repo, "ctx/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("src/index.js", filepath.Join(repo, "ctx/main.js")); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "init", "-q")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "context")
	return repo
}

// cloneUnder checks origin out to dst with umask set in a real shell, and
// returns the context directory of the checkout.
func cloneUnder(t *testing.T, umask, repo, dst string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `umask "$0" && git clone -q "$1" "$2"`, umask, repo, dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clone under umask %s: %v\n%s", umask, err, out)
	}
	return filepath.Join(dst, "ctx")
}

func tagOf(t *testing.T, dir string) string {
	t.Helper()
	tag, err := contextTag(dir, "linux/arm64", map[string]string{"BUILDKIT_INLINE_CACHE": "1"})
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

// Two checkouts of one commit under umasks 022 and 077, at different
// absolute paths, with different mtimes (and owners, where the test may
// change them), get one tag.
func TestContextHashSameAcrossCheckouts(t *testing.T) {
	repo := origin(t)
	a := cloneUnder(t, "022", repo, filepath.Join(t.TempDir(), "a"))
	b := cloneUnder(t, "077", repo, filepath.Join(t.TempDir(), "home", "ci", "work", "slipway"))

	// The umasks took: the checkouts really differ in group and other bits.
	if p := perm(t, filepath.Join(a, "run.sh")); p != 0o755 {
		t.Fatalf("umask 022 checkout: run.sh is %o, want 755", p)
	}
	if p := perm(t, filepath.Join(b, "run.sh")); p != 0o700 {
		t.Fatalf("umask 077 checkout: run.sh is %o, want 700", p)
	}
	if p := perm(t, filepath.Join(b, "src/index.js")); p != 0o600 {
		t.Fatalf("umask 077 checkout: src/index.js is %o, want 600", p)
	}

	// Other mtimes (a checkout writes files at checkout time) and, as
	// root, other owners.
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	err := filepath.WalkDir(b, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if os.Geteuid() == 0 {
			if err := os.Lchown(path, 4242, 4242); err != nil {
				return err
			}
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		return os.Chtimes(path, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}

	if ta, tb := tagOf(t, a), tagOf(t, b); ta != tb {
		t.Errorf("one commit, two tags: umask 022 checkout %s, umask 077 checkout %s", ta, tb)
	}
}

// What reaches the image changes the tag; what does not, does not.
func TestContextHashFollowsContent(t *testing.T) {
	repo := origin(t)
	base := tagOf(t, cloneUnder(t, "022", repo, filepath.Join(t.TempDir(), "base")))
	write := func(rel, content string) func(t *testing.T, ctx string) {
		return func(t *testing.T, ctx string) {
			p := filepath.Join(ctx, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	chmod := func(rel string, mode fs.FileMode) func(t *testing.T, ctx string) {
		return func(t *testing.T, ctx string) {
			if err := os.Chmod(filepath.Join(ctx, rel), mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name   string
		change func(t *testing.T, ctx string)
		newTag bool
	}{
		{"changed file", write("src/index.js", "console.log('bye')\n"), true},
		{"changed Dockerfile", write("Dockerfile", "FROM scratch\nCOPY . /srv\n"), true},
		{"executable bit removed", chmod("run.sh", 0o644), true},
		{"executable bit added", chmod("package.json", 0o755), true},
		{"new file", write("src/extra.js", "1\n"), true},
		{"new empty directory", func(t *testing.T, ctx string) {
			if err := os.Mkdir(filepath.Join(ctx, "uploads"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"symlink retargeted", func(t *testing.T, ctx string) {
			p := filepath.Join(ctx, "main.js")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("src/lib/db.js", p); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"renamed file", func(t *testing.T, ctx string) {
			if err := os.Rename(filepath.Join(ctx, "src/lib/db.js"), filepath.Join(ctx, "src/lib/store.js")); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"ignored file", write("debug.log", "noise\n"), false},
		{"ignored directory", write("node_modules/left-pad/index.js", "module.exports = 1\n"), false},
		{"file outside the context", write("../outside/NOTES.txt", "x\n"), false},
		{"group and other bits only", chmod("run.sh", 0o750), false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := cloneUnder(t, "022", repo, filepath.Join(t.TempDir(), "c", string(rune('a'+i))))
			c.change(t, ctx)
			got := tagOf(t, ctx)
			if c.newTag && got == base {
				t.Errorf("%s: tag stayed %s", c.name, got)
			}
			if !c.newTag && got != base {
				t.Errorf("%s: tag changed %s -> %s", c.name, base, got)
			}
		})
	}
}
