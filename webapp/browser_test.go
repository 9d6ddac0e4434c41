package webapp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromiumPath is Debian's Chromium, which scripts/deps.sh installs.
const chromiumPath = "/usr/bin/chromium"

// TestBrowserSignIn signs in with a real Chromium (driven by playwright-core
// from testdata/browser/signin.mjs): the home page, "Sign in", the dev
// tenant's sign-in page over HTTPS, consent if asked, the cross-site
// form_post back to the app, the profile with its photo, "Sign out" through
// the dev tenant's logout to /signedout. It catches what an HTTP client
// does not: a CSP that blocks the stylesheet or a form's redirect, a cookie
// Chromium refuses or does not send. Screenshots go to
// $ENTRAKIT_ARTIFACTS_DIR, or test-artifacts/browser at the repository root.
//
// Where node, Chromium or the npm packages are missing the test fails when
// CI=true and is skipped (saying so) otherwise; `make deps` installs them.
func TestBrowserSignIn(t *testing.T) {
	dir := browserDeps(t)
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{}) // form_post, the default
	p, ok := tt.srv.Persona("AdeleV")
	if !ok {
		t.Fatal("no persona AdeleV")
	}
	elapsed := runBrowserScript(t, dir, "signin.mjs", tt, a,
		"ENTRAKIT_USERNAME="+p.Username,
		"ENTRAKIT_PASSWORD="+p.Password,
		"ENTRAKIT_DISPLAY_NAME="+p.DisplayName,
	)
	t.Logf("Chromium signed in and out in %v", elapsed)
}

// browserDeps returns the directory of the browser scripts, failing (CI)
// or skipping the test when node, Chromium or the npm packages are missing.
func browserDeps(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "browser"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		browserDepMissing(t, "node is not installed (install Node.js 20 or later)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		browserDepMissing(t, chromiumPath+" is missing (Debian's chromium package)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		browserDepMissing(t, "webapp/testdata/browser/node_modules/playwright-core is missing (npm ci in webapp/testdata/browser)")
	}
	return dir
}

// runBrowserScript runs a Playwright script of dir against the app and the
// dev tenant, with what every script needs in its environment plus env,
// and fails the test with the script's output and both servers' logs when
// it fails. Screenshots go to $ENTRAKIT_ARTIFACTS_DIR, or
// test-artifacts/browser at the repository root.
func runBrowserScript(t *testing.T, dir, script string, tt *tenant, a *app, env ...string) time.Duration {
	t.Helper()
	artifacts := os.Getenv("ENTRAKIT_ARTIFACTS_DIR")
	if artifacts == "" {
		// Tests run in the package directory, webapp/: the repository root is its parent.
		artifacts = filepath.Join("..", "test-artifacts", "browser")
	}
	artifacts, err := filepath.Abs(artifacts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(),
		"ENTRAKIT_APP_URL="+a.URL,
		"ENTRAKIT_TENANT_URL="+tt.srv.URL(),
		"ENTRAKIT_SPKI="+leafSPKIHash(t, tt.srv.URL(), tt),
		"ENTRAKIT_USER_DATA_DIR="+t.TempDir(),
		"ENTRAKIT_ARTIFACTS_DIR="+artifacts,
		"ENTRAKIT_CHROMIUM="+chromiumPath,
	), env...)
	// On timeout, SIGINT first: Playwright then closes Chromium before
	// exiting. Whatever is left is killed after WaitDelay.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start).Round(time.Millisecond)
	if err != nil {
		t.Logf("%s output:\n%s", script, out.String())
		t.Logf("web app log:\n%s", a.log.String())
		t.Logf("dev tenant log:\n%s", tt.log.String())
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("%s did not finish within 2 minutes (%v)", script, err)
		}
		t.Fatalf("%s failed after %v: %v (%s)", script, elapsed, err, lastFailLine(out.String()))
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "screenshot ") || strings.Contains(l, "notes (tolerated)") || strings.HasPrefix(l, "  ") {
			t.Log(strings.TrimSpace(l))
		}
	}
	return elapsed
}

// browserDepMissing fails the test under CI (where `make deps` has run and the
// browser test must run) and skips it elsewhere, saying why.
func browserDepMissing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: the browser test cannot run (make test installs it: `make deps`, i.e. scripts/deps.sh)", why)
	}
	t.Skipf("%s: skipping the browser test (run `make deps`); CI fails here instead", why)
}

// leafSPKIHash is what --ignore-certificate-errors-spki-list takes: the
// base64 SHA-256 of the dev tenant's server certificate's
// SubjectPublicKeyInfo, read from a TLS handshake that trusts only the dev
// tenant's CA. Chromium then accepts that one key, not every certificate.
func leafSPKIHash(t *testing.T, rawURL string, tt *tenant) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: tt.srv.CertPool(), ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS to the dev tenant: %v", err)
	}
	defer conn.Close()
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		t.Fatal("the dev tenant sent no certificate")
	}
	sum := sha256.Sum256(certs[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func lastFailLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAIL:") {
			return l
		}
	}
	return "no FAIL line; see the output above"
}
