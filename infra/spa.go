package infra

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// The SPA's cache design. Vite names every file it emits under assets/
// after a hash of its content (assets/index-3f2a1b9c.js): a new build is
// new names, so those files can be cached for a year and never change.
// index.html and the other unhashed files (favicon.ico, robots.txt, what
// is in the app's public/ folder) keep their names across builds, so
// browsers and CloudFront revalidate them on every request. A deploy then
// needs no invalidation: the next request for index.html sees the new one,
// which names the new assets.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// hashedAsset is Vite's (Rollup's) default asset name: assets/<name>-<hash>
// with an 8-character base64url hash, then the extension(s) (.js, .js.map).
// A file that does not match is treated as unhashed, the safe side: it is
// only revalidated more often than needed, never served stale for a year.
var hashedAsset = regexp.MustCompile(`^assets/(?:[^/]+/)*[^/]+-[A-Za-z0-9_-]{8}(?:\.[A-Za-z0-9]+)+$`)

// contentTypes is the explicit table of what a SPA build contains; text
// types carry their charset. Anything else is served as a download.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".txt":         "text/plain; charset=utf-8",
	".xml":         "application/xml",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/x-icon",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".wasm":        "application/wasm",
	".pdf":         "application/pdf",
	".mp4":         "video/mp4",
	".webm":        "video/webm",
}

const defaultContentType = "application/octet-stream"

// spaFile is one file of the build as it is uploaded.
type spaFile struct {
	Path         string // on disk
	Key          string // object key: the path relative to the build, with slashes
	ContentType  string
	CacheControl string
	// Hashed files are immutable; they are kept in the bucket when a later
	// build no longer has them (see site.go).
	Hashed bool
	SHA256 string // hex; a changed file re-uploads
}

// spaObject maps an object key to its content type and cache policy.
func spaObject(key string) (contentType, cacheControl string, hashed bool) {
	contentType = contentTypes[strings.ToLower(path.Ext(key))]
	if contentType == "" {
		contentType = defaultContentType
	}
	if hashedAsset.MatchString(key) {
		return contentType, cacheImmutable, true
	}
	return contentType, cacheRevalidate, false
}

// errNoBuild says the SPA has not been built.
var errNoBuild = errors.New("no SPA build")

// spaFiles lists the build in dir, sorted by key. Hidden files and folders
// (.vite/manifest.json, .DS_Store) are build metadata and stay local. A
// build without index.html is not a build: errNoBuild.
func spaFiles(dir string) ([]spaFile, error) {
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !info.IsDir()) {
		return nil, fmt.Errorf("%w: %s is not a directory", errNoBuild, dir)
	}
	if err != nil {
		return nil, err
	}
	var files []spaFile
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil // directories; symlinks are not followed
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		sum, err := fileSHA256(p)
		if err != nil {
			return err
		}
		contentType, cacheControl, hashed := spaObject(key)
		files = append(files, spaFile{
			Path: p, Key: key, ContentType: contentType, CacheControl: cacheControl,
			Hashed: hashed, SHA256: sum,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Key < files[j].Key })
	for _, f := range files {
		if f.Key == "index.html" {
			return files, nil
		}
	}
	return nil, fmt.Errorf("%w: %s has no index.html", errNoBuild, dir)
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
