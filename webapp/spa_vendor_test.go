package webapp_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The SPA's msal-browser is vendored (scripts/vendor-msal.sh): the lock file
// in spa/npm pins the release, npm ci installs it with its integrity hash
// checked, and spa/msal-browser.min.js is the package's browser bundle
// copied byte for byte.
const (
	spaNPMDir     = "spa/npm"
	spaVendored   = "spa/msal-browser.min.js"
	msalBrowser   = "@azure/msal-browser"
	msalBundleRel = "lib/msal-browser.min.js" // the UMD bundle, inside the package
)

// exactSemver5 is an exact msal-browser 5 version: no range, no tag.
var exactSemver5 = regexp.MustCompile(`^5\.[0-9]+\.[0-9]+$`)

type npmLock struct {
	LockfileVersion int `json:"lockfileVersion"`
	Packages        map[string]struct {
		Version      string            `json:"version"`
		Integrity    string            `json:"integrity"`
		Dependencies map[string]string `json:"dependencies"`
	} `json:"packages"`
}

// TestSPAVendored fails when spa/msal-browser.min.js is not what the lock
// file produces. The lock and the file's banner are checked everywhere;
// the byte comparison needs spa/npm/node_modules (git-ignored, installed by
// scripts/deps.sh): without it the test fails under CI=true and is skipped
// elsewhere.
func TestSPAVendored(t *testing.T) {
	lock := readSPALock(t)
	pinned := lock.Packages["node_modules/"+msalBrowser]
	if !exactSemver5.MatchString(pinned.Version) {
		t.Fatalf("%s/package-lock.json pins %s %q, want an exact 5.x.y", spaNPMDir, msalBrowser, pinned.Version)
	}
	if got := lock.Packages[""].Dependencies[msalBrowser]; got != pinned.Version {
		t.Errorf("%s/package-lock.json: the root asks for %s %q, the lock resolves %q: run npm install --package-lock-only there",
			spaNPMDir, msalBrowser, got, pinned.Version)
	}
	for name, p := range lock.Packages {
		if name != "" && !strings.HasPrefix(p.Integrity, "sha512-") {
			t.Errorf("%s/package-lock.json: %s has no sha512 integrity hash (%q)", spaNPMDir, name, p.Integrity)
		}
	}
	var manifest struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	readSPAJSON(t, filepath.Join(spaNPMDir, "package.json"), &manifest)
	if got := manifest.Dependencies[msalBrowser]; got != pinned.Version {
		t.Errorf("%s/package.json asks for %s %q, want exactly the locked %q (no range)", spaNPMDir, msalBrowser, got, pinned.Version)
	}

	vendored, err := os.ReadFile(spaVendored)
	if err != nil {
		t.Fatalf("%v (run scripts/vendor-msal.sh)", err)
	}
	// The bundle opens with its banner: "/*! @azure/msal-browser v5.31.0 <date> */".
	if banner := "/*! " + msalBrowser + " v" + pinned.Version + " "; !bytes.HasPrefix(vendored, []byte(banner)) {
		t.Errorf("%s does not open with %q but %q: run scripts/vendor-msal.sh", spaVendored, banner, bannerOf(vendored))
	}

	pkgDir := filepath.Join(spaNPMDir, "node_modules", filepath.FromSlash(msalBrowser))
	var installed struct {
		Version string `json:"version"`
	}
	if _, err := os.Stat(filepath.Join(pkgDir, "package.json")); err != nil {
		why := fmt.Sprintf("webapp/%s/node_modules has no %s (npm ci in webapp/%s, or scripts/deps.sh)", spaNPMDir, msalBrowser, spaNPMDir)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: cannot compare the vendored bundle", why)
		}
		t.Skipf("%s: skipping the byte comparison; CI fails here instead", why)
	}
	readSPAJSON(t, filepath.Join(pkgDir, "package.json"), &installed)
	if installed.Version != pinned.Version {
		t.Fatalf("node_modules holds %s %s, the lock pins %s: run npm ci in webapp/%s (or scripts/vendor-msal.sh)",
			msalBrowser, installed.Version, pinned.Version, spaNPMDir)
	}
	want, err := os.ReadFile(filepath.Join(pkgDir, filepath.FromSlash(msalBundleRel)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vendored, want) {
		t.Errorf("%s (%d bytes, sha256 %x) differs from %s %s's %s (%d bytes, sha256 %x): run scripts/vendor-msal.sh",
			spaVendored, len(vendored), sha256.Sum256(vendored), msalBrowser, pinned.Version, msalBundleRel, len(want), sha256.Sum256(want))
	}
}

func readSPALock(t *testing.T) npmLock {
	t.Helper()
	var lock npmLock
	readSPAJSON(t, filepath.Join(spaNPMDir, "package-lock.json"), &lock)
	if lock.LockfileVersion < 2 {
		t.Fatalf("%s/package-lock.json: lockfileVersion %d, want 2 or later (npm 7+)", spaNPMDir, lock.LockfileVersion)
	}
	return lock
}

func readSPAJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func bannerOf(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}
