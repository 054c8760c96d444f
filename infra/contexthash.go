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

// contextTag is the image tag for a build context: a hash of everything
// the build sees, so an unchanged context keeps its tag (and its image) and
// a changed one gets a new tag that cannot collide in an IMMUTABLE
// repository. It must cover at least what pulumi-docker hashes to decide a
// rebuild: were it to see a change our tag misses, it would rebuild and push
// onto an existing immutable tag and fail. So it follows .dockerignore with
// Docker's own matcher (moby/patternmatcher), always includes the
// Dockerfile and .dockerignore, and mixes in the platform and build args.
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
		var content []byte
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(path)
			if err != nil {
				return "", err
			}
			content = []byte("symlink:" + target)
		} else if content, err = os.ReadFile(path); err != nil {
			return "", err
		}
		// The executable bit is part of what COPY carries into the image.
		fmt.Fprintf(h, "file\x00%s\x00%o\x00%d\x00", rel, info.Mode().Perm()&0o111, len(content))
		h.Write(content)
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}
