package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/infra"
)

// env is a test's environment: what .devtenant/env would set, and a cache
// directory of its own.
type env map[string]string

func (e env) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

func devEnv(t *testing.T, srv *devtenant.Server) env {
	t.Helper()
	return env{
		"AZURE_AUTHORITY_HOST": srv.URL() + "/",
		"AZURE_TENANT_ID":      srv.TenantID(),
		"AZURE_CLIENT_ID":      infra.Apps().WebApp,
		"AZURE_CLIENT_SECRET":  srv.ClientSecret(infra.Apps().WebApp),
		"ENTRACTL_CLIENT_ID":   infra.Apps().CLI,
		"ENTRAKIT_GRAPH_URL":   srv.GraphURL(),
		"ENTRACTL_CACHE_DIR":   filepath.Join(t.TempDir(), "entractl"),
	}
}

// result is one entractl run.
type result struct {
	code           int
	stdout, stderr string
}

// entractl runs the command with e against srv; the browser (login) is
// the dev tenant's Browser signed in as alias, delivering the response to
// MSAL's loopback listener.
func entractl(t *testing.T, srv *devtenant.Server, e env, alias string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := newCLI(strings.NewReader(""), &stdout, &stderr, e.lookup)
	c.httpClient = srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if alias != "" {
		p := devtenanttest.Persona(t, srv, alias)
		b := srv.NewBrowser(p.Username, p.Password)
		c.openURL = func(u string) error {
			go func() {
				resp, err := b.Authorize(ctx, u)
				if err == nil {
					var hr *http.Response
					if hr, err = resp.Deliver(ctx, http.DefaultClient); err == nil {
						hr.Body.Close()
					}
				}
				if err != nil {
					t.Errorf("browser: %v", err)
				}
			}()
			return nil
		}
		c.onDeviceCode = func(uri, code string) {
			go func() {
				if err := b.DeviceLogin(ctx, uri, code); err != nil {
					t.Errorf("device login: %v", err)
				}
			}()
		}
	} else {
		c.openURL = func(string) error { t.Error("entractl opened a browser"); return nil }
	}
	code := c.run(ctx, args)
	return result{code, stdout.String(), stderr.String()}
}

func (r result) want(t *testing.T, code int, in ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range in {
		if !strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("output lacks %q\nstdout: %s\nstderr: %s", s, r.stdout, r.stderr)
		}
	}
}

// TestSession: login (browser on the loopback redirect, PKCE), accounts,
// token, token --decode, jwt decode/verify, graph, cache ls, logout — one
// terminal session against the dev tenant.
func TestSession(t *testing.T) {
	srv := devtenanttest.Start(t)
	e := devEnv(t, srv)
	adele := devtenanttest.Persona(t, srv, "AdeleV")

	entractl(t, srv, e, "", "accounts").want(t, exitSignIn, "run entractl login")
	entractl(t, srv, e, "AdeleV", "login").want(t, exitOK, "Signed in as "+adele.Username)
	// One resource per token (AADSTS28000): a sign-in for two is refused.
	entractl(t, srv, e, "AdeleV", "login", "--scopes", "User.Read,api://"+infra.Apps().WebApp+"/access_as_user").
		want(t, exitFailed, "AADSTS28000")
	if fi, err := os.Stat(filepath.Join(e["ENTRACTL_CACHE_DIR"], "key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
	entractl(t, srv, e, "", "accounts").want(t, exitOK, adele.Username)

	tok := entractl(t, srv, e, "", "token")
	tok.want(t, exitOK)
	raw := strings.TrimSpace(tok.stdout)
	if strings.Count(raw, ".") != 2 {
		t.Fatalf("token: %q", raw)
	}
	entractl(t, srv, e, "", "token", "--decode").want(t, exitOK, "scp", "User.Read", "A Microsoft Graph access token")
	var tj tokenJSON
	j := entractl(t, srv, e, "", "token", "-o", "json", "--scopes", "api://"+infra.Apps().WebApp+"/access_as_user")
	j.want(t, exitOK)
	if err := json.Unmarshal([]byte(j.stdout), &tj); err != nil || tj.Kind != "delegated" || tj.Account != adele.Username {
		t.Fatalf("token -o json: %v %+v", err, tj)
	}

	// The API token verifies against the dev tenant's keys; the Graph
	// token is Graph's alone.
	entractl(t, srv, e, "", "jwt", "verify", tj.AccessToken, "--audience", infra.Apps().WebApp).want(t, exitOK, "Verified")
	entractl(t, srv, e, "", "jwt", "verify", raw).want(t, exitUnverified, "only Graph can verify it")
	entractl(t, srv, e, "", "jwt", "verify", tj.AccessToken, "--audience", "api://someone-else").want(t, exitUnverified, "audience")
	tampered := tj.AccessToken[:len(tj.AccessToken)-6] + "AAAAAA"
	entractl(t, srv, e, "", "jwt", "verify", tampered).want(t, exitUnverified, "signature")
	entractl(t, srv, e, "", "jwt", "decode", tj.AccessToken).want(t, exitOK, "access_as_user", "A delegated access token", "Object id of the user")

	entractl(t, srv, e, "", "graph", "GET", "/me").want(t, exitOK, `"displayName": "Adele Vance"`)
	entractl(t, srv, e, "", "graph", "GET", "/users/nobody@nowhere").want(t, exitFailed, "403 Forbidden", "Authorization_RequestDenied") // User.Read reads only /me

	ls := entractl(t, srv, e, "", "cache", "ls")
	ls.want(t, exitOK, "account", "access_token", "refresh_token", adele.Username)
	if strings.Contains(ls.stdout, raw[:20]) || strings.Contains(ls.stdout, "eyJ") {
		t.Error("cache ls prints a token")
	}
	blobs, _ := filepath.Glob(filepath.Join(e["ENTRACTL_CACHE_DIR"], "tokens", "*"))
	for _, b := range blobs {
		if data, _ := os.ReadFile(b); bytes.Contains(data, []byte(raw[:40])) || bytes.Contains(data, []byte("refresh_token")) {
			t.Errorf("%s holds a token in clear", b)
		}
	}

	entractl(t, srv, e, "", "logout").want(t, exitOK, "Signed out "+adele.Username)
	entractl(t, srv, e, "", "token").want(t, exitSignIn, "entractl login")
	entractl(t, srv, e, "", "cache", "purge").want(t, exitOK, "Deleted")
	entractl(t, srv, e, "", "cache", "ls", "-o", "json").want(t, exitOK, "[]")
}

// TestDeviceCodeLogin: login --device-code prints Entra's message and,
// once a browser elsewhere completes the code, caches the tokens.
func TestDeviceCodeLogin(t *testing.T) {
	srv := devtenanttest.Start(t)
	e := devEnv(t, srv)
	start := time.Now()
	r := entractl(t, srv, e, "AlexW", "login", "--device-code", "-o", "json")
	r.want(t, exitOK, "enter the code", "AlexW@")
	tok := entractl(t, srv, e, "", "token")
	tok.want(t, exitOK)
	t.Logf("login --device-code to a printed token: %v", time.Since(start).Round(time.Millisecond))
}

// TestAppToken: token --app with the registration's secret (client
// credentials), and what it refuses.
func TestAppToken(t *testing.T) {
	srv := devtenanttest.Start(t)
	e := devEnv(t, srv)
	r := entractl(t, srv, e, "", "token", "--app", "--decode")
	r.want(t, exitOK, "An app-only access token", "idtyp")
	entractl(t, srv, e, "", "token", "--app", "--scopes", "User.Read").want(t, exitUsage, "/.default")
	delete(e, "AZURE_CLIENT_SECRET")
	entractl(t, srv, e, "", "token", "--app").want(t, exitUsage, "needs a credential")
	e["AZURE_CLIENT_SECRET"] = "wrong"
	entractl(t, srv, e, "", "token", "--app").want(t, exitFailed, "7000215")
}

// TestBadInput: every mistake gets a clear message and a non-zero exit.
func TestBadInput(t *testing.T) {
	srv := devtenanttest.Start(t)
	e := devEnv(t, srv)
	noClient := devEnv(t, srv)
	delete(noClient, "ENTRACTL_CLIENT_ID")
	for _, tc := range []struct {
		name string
		env  env
		args []string
		code int
		want string
	}{
		{"no command", e, nil, exitUsage, "usage: entractl"},
		{"unknown command", e, []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown flag", e, []string{"token", "--nope"}, exitUsage, "flag provided but not defined"},
		{"bad output format", e, []string{"accounts", "-o", "yaml"}, exitUsage, "want text or json"},
		{"malformed JWT", e, []string{"jwt", "decode", "abc"}, exitUsage, "not a JWT"},
		{"JWT with a bad payload", e, []string{"jwt", "decode", "eyJhbGciOiJSUzI1NiJ9.!!!.sig"}, exitUsage, "payload: not base64url"},
		{"JWE", e, []string{"jwt", "decode", "a.b.c.d.e"}, exitUsage, "encrypted JWT"},
		{"no token on stdin", e, []string{"jwt", "decode"}, exitUsage, "no token"},
		{"jwt without a verb", e, []string{"jwt"}, exitUsage, "want decode or verify"},
		{"issuer not the configured authority", e, []string{"jwt", "verify", fakeJWT(`{"iss":"https://attacker.example/6f1a3c2e-8d4b-4e7a-9c1f-2b5d8e0a4c7f/v2.0","aud":"x"}`)}, exitUnverified, "is not on the configured authority"},
		{"unknown issuer, pinned", e, []string{"jwt", "verify", "--issuer", "https://127.0.0.1:1/nobody/v2.0", fakeJWT(`{"iss":"https://127.0.0.1:1/nobody/v2.0","aud":"x"}`)}, exitUnverified, "discovery document"},
		{"issuer not https", e, []string{"jwt", "verify", fakeJWT(`{"iss":"http://evil.example/t/v2.0"}`)}, exitUnverified, "not an https URL"},
		{"missing client id", noClient, []string{"login"}, exitUsage, "ENTRACTL_CLIENT_ID is not set"},
		{"graph POST", e, []string{"graph", "POST", "/me"}, exitUsage, "only GET"},
		{"graph full URL", e, []string{"graph", "GET", "https://evil.example/me"}, exitUsage, "must start with /"},
		{"graph without a path", e, []string{"graph", "GET"}, exitUsage, "want a method and a path"},
		{"cache without a verb", e, []string{"cache"}, exitUsage, "want ls or purge"},
		{"keys without a verb", e, []string{"keys"}, exitUsage, "want new"},
		{"bad cache key", env{"ENTRACTL_CACHE_KEY": "short", "ENTRACTL_CLIENT_ID": infra.Apps().CLI, "ENTRACTL_CACHE_DIR": t.TempDir()}, []string{"accounts"}, exitUsage, "ENTRACTL_CACHE_KEY"},
		{"devtenant bad flag", e, []string{"devtenant", "--nope"}, exitUsage, "bad command line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entractl(t, srv, tc.env, "", tc.args...).want(t, tc.code, tc.want)
		})
	}
}

// fakeJWT is an unsigned JWT with the given claims.
func fakeJWT(claims string) string {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	return enc(`{"alg":"RS256","kid":"k"}`) + "." + enc(claims) + ".c2ln"
}

// TestKeysNew: a fresh 32-byte key each time, usable as ENTRACTL_CACHE_KEY.
func TestKeysNew(t *testing.T) {
	srv := devtenanttest.Start(t)
	a := entractl(t, srv, env{}, "", "keys", "new")
	b := entractl(t, srv, env{}, "", "keys", "new")
	a.want(t, exitOK)
	if strings.TrimSpace(a.stdout) == strings.TrimSpace(b.stdout) || len(strings.TrimSpace(a.stdout)) != 44 {
		t.Fatalf("keys: %q %q", a.stdout, b.stdout)
	}
	e := devEnv(t, srv)
	e["ENTRACTL_CACHE_KEY"] = strings.TrimSpace(a.stdout)
	entractl(t, srv, e, "AdeleV", "login").want(t, exitOK, "Signed in")
	if _, err := os.Stat(filepath.Join(e["ENTRACTL_CACHE_DIR"], "key")); err == nil {
		t.Error("a key file was written although ENTRACTL_CACHE_KEY is set")
	}
	e["ENTRACTL_CACHE_KEY"] = strings.TrimSpace(b.stdout)
	entractl(t, srv, e, "", "cache", "ls").want(t, exitFailed, "does not open with this key")
}

// TestDevTenant: entractl devtenant serves the dev tenant and writes the
// env file, ENTRACTL_CLIENT_ID included, until its context ends.
func TestDevTenant(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	c := newCLI(strings.NewReader(""), &stdout, &stderr, env{}.lookup)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- c.run(ctx, []string{"devtenant", "-listen", "127.0.0.1:0", "-state-dir", dir}) }()
	deadline := time.Now().Add(30 * time.Second)
	var body []byte
	for time.Now().Before(deadline) {
		if body, _ = os.ReadFile(filepath.Join(dir, "env")); bytes.Contains(body, []byte("ENTRACTL_CLIENT_ID="+infra.Apps().CLI)) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !bytes.Contains(body, []byte("ENTRACTL_CLIENT_ID=")) || !strings.Contains(stdout.String(), "Personas") {
		t.Fatalf("env file:\n%s\nbanner:\n%s", body, stdout.String())
	}
}

// TestKeyFileRace: first runs at once all end up with the one key file.
func TestKeyFileRace(t *testing.T) {
	dir := t.TempDir()
	c := newCLI(strings.NewReader(""), io.Discard, io.Discard, env{}.lookup)
	keys := make(chan string, 8)
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			k, err := c.cacheKeys(dir, true)
			if err != nil {
				errs <- err
				return
			}
			keys <- k.PrimaryID()
		}()
	}
	first := ""
	for i := 0; i < 8; i++ {
		select {
		case err := <-errs:
			t.Fatal(err)
		case id := <-keys:
			if first == "" {
				first = id
			} else if id != first {
				t.Fatalf("two keys: %s and %s", first, id)
			}
		}
	}
	if names, _ := filepath.Glob(filepath.Join(dir, ".key-*")); len(names) != 0 {
		t.Errorf("temporary files left: %v", names)
	}
}

// TestDecodeQuotesControlCharacters: a hostile token's escape sequences
// are shown quoted, never sent to the terminal.
func TestDecodeQuotesControlCharacters(t *testing.T) {
	srv := devtenanttest.Start(t)
	r := entractl(t, srv, env{}, "", "jwt", "decode", fakeJWT(`{"name":"\u001b]52;c;aGVsbG8=\u0007","iss":"x"}`))
	r.want(t, exitOK, `"\x1b]52;c;aGVsbG8=\a"`)
	if strings.ContainsRune(r.stdout, 0x1b) {
		t.Error("an escape character reached the terminal")
	}
}
