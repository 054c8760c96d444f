package infra

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The fixture build in testdata/spa is a small Vite output: index.html,
// hashed assets, unhashed public files and Vite's hidden manifest.
func TestSPAFilesMapsTheFixtureBuild(t *testing.T) {
	files, err := spaFiles(filepath.Join("testdata", "spa"))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Key, ContentType, CacheControl string
		Hashed                         bool
	}
	var got []row
	for _, f := range files {
		got = append(got, row{f.Key, f.ContentType, f.CacheControl, f.Hashed})
		if len(f.SHA256) != 64 {
			t.Errorf("%s: sha256 %q", f.Key, f.SHA256)
		}
		if want := filepath.Join("testdata", "spa", filepath.FromSlash(f.Key)); f.Path != want {
			t.Errorf("%s: path %s, want %s", f.Key, f.Path, want)
		}
	}
	const immutable = "public, max-age=31536000, immutable"
	want := []row{
		{"assets/index-3f2a1b9c.js", "text/javascript; charset=utf-8", immutable, true},
		{"assets/index-9d8e7f6a.css", "text/css; charset=utf-8", immutable, true},
		{"assets/logo-a1B2_c3D.svg", "image/svg+xml", immutable, true},
		{"favicon.ico", "image/x-icon", "no-cache", false},
		{"index.html", "text/html; charset=utf-8", "no-cache", false},
		{"og-image.png", "image/png", "no-cache", false},
		{"robots.txt", "text/plain; charset=utf-8", "no-cache", false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mapping:\n got %+v\nwant %+v", got, want)
	}
}

func TestSPAObjectRules(t *testing.T) {
	cases := []struct {
		key, contentType string
		hashed           bool
	}{
		{"assets/index-BfKd8Gkw.js", "text/javascript; charset=utf-8", true},
		{"assets/index-D3x_y-1A.css", "text/css; charset=utf-8", true},
		{"assets/index-3f2a1b9c.js.map", "application/json", true},
		{"assets/vendor.min-abc12345.js", "text/javascript; charset=utf-8", true},
		{"assets/fonts/Inter-Regular-0a1b2c3d.woff2", "font/woff2", true},
		{"assets/photo-ABCDEFGH.JPG", "image/jpeg", true},
		// Not Vite's hashed form: revalidated, never cached for a year.
		{"assets/background.png", "image/png", false},
		{"assets/my-background.png", "image/png", false},
		{"assets/index-3f2a1b9.js", "text/javascript; charset=utf-8", false},
		{"index-3f2a1b9c.js", "text/javascript; charset=utf-8", false},
		{"img/assets/x-3f2a1b9c.png", "image/png", false},
		{"manifest.webmanifest", "application/manifest+json", false},
		{"LICENSE", "application/octet-stream", false},
		{"data.bin", "application/octet-stream", false},
	}
	for _, c := range cases {
		contentType, cacheControl, hashed := spaObject(c.key)
		if contentType != c.contentType || hashed != c.hashed {
			t.Errorf("%s: %q hashed=%v, want %q hashed=%v", c.key, contentType, hashed, c.contentType, c.hashed)
		}
		want := "no-cache"
		if c.hashed {
			want = "public, max-age=31536000, immutable"
		}
		if cacheControl != want {
			t.Errorf("%s: cache-control %q, want %q", c.key, cacheControl, want)
		}
	}
}

func TestSPAFilesWithoutABuild(t *testing.T) {
	dir := t.TempDir()
	if _, err := spaFiles(filepath.Join(dir, "dist")); !errors.Is(err, errNoBuild) {
		t.Errorf("missing dir: %v, want errNoBuild", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "robots.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := spaFiles(dir); !errors.Is(err, errNoBuild) {
		t.Errorf("build without index.html: %v, want errNoBuild", err)
	}
	if _, err := spaFiles(filepath.Join(dir, "robots.txt")); !errors.Is(err, errNoBuild) {
		t.Errorf("a file, not a dir: %v, want errNoBuild", err)
	}
}
