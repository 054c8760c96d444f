package infra

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// contextTag is the image tag for a build context: a hash of what ends up
// in the image, so an unchanged context keeps its tag (and its image) and a
// changed one gets a new tag that cannot collide in an IMMUTABLE
// repository. It is Slipway's own decision (NewRegistry looks the tag up
// and does not push when the repository holds it), so it must depend on
// nothing a checkout varies: not the checkout path (paths are relative to
// the context), not mtimes or owners (never read), not the umask (of a
// file's mode only the owner's executable bit counts, the bit Git records;
// group and other bits follow the umask of whoever checked out). What it
// hashes: each path that is not .dockerignored (Docker's own matcher,
// moby/patternmatcher; the Dockerfile and .dockerignore always count), with
// its kind (directory, file, symlink), a file's content and executable bit,
// a symlink's target; and the platform and build args.
func contextTag(dir string, platform string, buildArgs map[string]string) (string, error) {
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		return "", fmt.Errorf("image build context %s is not a directory (the workload's app/ directory is missing?): %v", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "Dockerfile")); err != nil {
		return "", fmt.Errorf("image build context %s has no Dockerfile", dir)
	}
	var patterns []string
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("%s/.dockerignore: %w", dir, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return "", fmt.Errorf("%s/.dockerignore: %w", dir, err)
	}

	var files []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		always := rel == "Dockerfile" || rel == ".dockerignore"
		ignored, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if d.IsDir() {
			// A directory is skipped only when no exclusion (!pattern)
			// could bring a file below it back.
			if ignored && !pm.Exclusions() {
				return filepath.SkipDir
			}
			if !ignored {
				// COPY creates it, empty or not.
				files = append(files, rel)
			}
			return nil
		}
		if ignored && !always {
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		return "", err
	}
	slices.Sort(files) // WalkDir is lexical already; be explicit

	h := sha256.New()
	fmt.Fprintf(h, "platform\x00%s\x00", platform)
	keys := slices.Sorted(maps.Keys(buildArgs))
	for _, k := range keys {
		fmt.Fprintf(h, "arg\x00%s=%s\x00", k, buildArgs[k])
	}
	for _, rel := range files {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		info, err := os.Lstat(path)
		if err != nil {
			return "", err
		}
		// Each entry is kind, path, then what of it reaches the image;
		// lengths keep one entry from running into the next.
		switch mode := info.Mode(); {
		case mode.IsDir():
			fmt.Fprintf(h, "dir\x00%s\x00", rel)
		case mode&fs.ModeSymlink != 0:
			// A symlink's own mode means nothing on Linux and follows
			// the umask on macOS: only its target counts.
			target, err := os.Readlink(path)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "symlink\x00%s\x00%d\x00%s", rel, len(target), target)
		case mode.IsRegular():
			content, err := os.ReadFile(path)
			if err != nil {
				return "", err
			}
			// The owner's executable bit is the one a checkout carries
			// (Git stores 644 or 755); group and other bits are the
			// umask's, different from machine to machine.
			exec := 0
			if mode&0o100 != 0 {
				exec = 1
			}
			fmt.Fprintf(h, "file\x00%s\x00%d\x00%d\x00", rel, exec, len(content))
			h.Write(content)
		default:
			// Sockets, fifos and devices: the build context carries no
			// content for them, so neither does the tag.
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}
