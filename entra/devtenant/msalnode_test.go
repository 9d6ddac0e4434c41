package devtenant_test

// @azure/msal-node against the dev tenant: the Node.js MSAL must not tell it
// from Entra either. testdata/msalnode/msalnode.mjs runs the library; this
// file drives the sign-in pages, hands the code over and judges the tokens.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
)

// TestMSALNode runs @azure/msal-node 7 (pinned in
// testdata/msalnode/package.json) as a confidential client: the web app's
// auth code flow with its secret, then silent refreshes; the daemon's client
// credentials with a certificate. Where node or the npm packages are missing
// it fails when CI=true and is skipped (saying so) otherwise; `make deps`
// installs them.
func TestMSALNode(t *testing.T) {
	node, dir := msalNodeDeps(t)
	srv := startTenant(t)
	caFile := filepath.Join(t.TempDir(), "devtenant-ca.pem")
	if err := os.WriteFile(caFile, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, ctx context.Context, scenario map[string]any) *msalNodeProc {
		t.Helper()
		scenario["authority"] = srv.Authority()
		return startMSALNode(t, ctx, node, dir, caFile, scenario)
	}

	t.Run("auth code with secret, refresh, silent", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		adele := persona(t, srv, "AdeleV")
		const nonce = "msal-node-n0nce"
		p := run(t, ctx, map[string]any{
			"flow":         "authcode",
			"clientId":     webAppID,
			"clientSecret": srv.ClientSecret(webAppID),
			"redirectUri":  webRedirect,
			"scopes":       []string{"User.Read"},
			"nonce":        nonce,
		})
		var authorize struct{ Authorize string }
		p.read(&authorize)
		if q := mustQuery(t, authorize.Authorize); q.Get("nonce") != nonce || q.Get("code_challenge_method") != "S256" || q.Get("client_id") != webAppID {
			t.Errorf("authorize URL query = %v", redactQuery(q))
		}
		resp, err := srv.NewBrowser(adele.Username, adele.Password).Authorize(ctx, authorize.Authorize)
		if err != nil {
			p.fail("signing in: %v", err)
		}
		if resp.RedirectURI != webRedirect || resp.Params.Get("code") == "" {
			p.fail("authorization response %s to %s with %v", resp.Mode, resp.RedirectURI, redactQuery(resp.Params))
		}
		p.write(map[string]string{"code": resp.Params.Get("code"), "state": resp.Params.Get("state")})
		report := p.report()
		report.checkHosts(t, srv)

		byCode := report.step(t, "acquireTokenByCode")
		if byCode == nil {
			return
		}
		tr := byCode.tokenRequest(t, "authorization_code")
		for _, name := range []string{"client_id", "client_secret", "code", "code_verifier", "redirect_uri", "scope", "claims"} {
			if !tr.has(name) {
				t.Errorf("the code redemption sent no %s: %v", name, tr.paramNames())
			}
		}
		t.Logf("msal-node's code redemption: %s %s?%s, parameters %v", tr.Method, tr.Path, strings.Join(tr.Query, "&"), tr.paramNames())
		t.Logf("msal-node's claims parameter: %s", tr.param("claims"))
		t.Logf("msal-node's headers: %v", tr.Headers)
		checkMSALNodeUserTokens(t, srv, byCode, adele, nonce)
		if byCode.Account == nil || byCode.Account.Username != adele.Username || byCode.Account.LocalAccountID != adele.OID {
			t.Errorf("account = %+v", byCode.Account)
		}

		refreshed := report.step(t, "acquireTokenSilent forceRefresh")
		if refreshed != nil {
			rt := refreshed.tokenRequest(t, "refresh_token")
			t.Logf("msal-node's refresh: parameters %v, claims %s", rt.paramNames(), rt.param("claims"))
			checkMSALNodeUserTokens(t, srv, refreshed, adele, "")
			if refreshed.FromCache || refreshed.AccessToken == byCode.AccessToken {
				t.Errorf("forceRefresh returned the cached access token (fromCache %v)", refreshed.FromCache)
			}
		}

		silent := report.step(t, "acquireTokenSilent")
		if silent == nil {
			return
		}
		if !silent.FromCache || len(silent.Requests) != 0 {
			t.Errorf("acquireTokenSilent: fromCache %v after %d requests, want the cache", silent.FromCache, len(silent.Requests))
		}
		if refreshed != nil && silent.AccessToken != refreshed.AccessToken {
			t.Error("acquireTokenSilent did not return the refreshed access token")
		}
	})

	t.Run("client credentials with certificate twice", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cert, _ := certs(t)
		if err := srv.AddClientCertificate(daemonAppID, cert.cert); err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(cert.key)
		if err != nil {
			t.Fatal(err)
		}
		keyFile := filepath.Join(t.TempDir(), "daemon-key.pem")
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			t.Fatal(err)
		}
		thumbprint := sha256.Sum256(cert.cert.Raw)
		p := run(t, ctx, map[string]any{
			"flow":     "clientcredentials",
			"clientId": daemonAppID,
			"certificate": map[string]string{
				"thumbprintSha256": hex.EncodeToString(thumbprint[:]),
				"privateKeyFile":   keyFile,
			},
			"scopes": []string{graphDefault},
			"calls":  2,
		})
		report := p.report()
		report.checkHosts(t, srv)

		var jtis []any
		for i := 1; i <= 2; i++ {
			s := report.step(t, fmt.Sprintf("acquireTokenByClientCredential #%d", i))
			if s == nil {
				continue
			}
			tr := s.tokenRequest(t, "client_credentials")
			if tr.param("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || tr.Assertion == nil {
				t.Errorf("call %d: no client assertion: %v", i, tr.paramNames())
				continue
			}
			if i == 1 {
				t.Logf("msal-node's client credentials request: parameters %v, claims %q; assertion header %v", tr.paramNames(), tr.param("claims"), tr.Assertion.Header)
			}
			jtis = append(jtis, tr.Assertion.Claims["jti"])
			if s.FromCache {
				t.Errorf("call %d: from the cache despite skipCache", i)
			}
			c := claimsOf(t, s.AccessToken)
			if c["aud"] != "https://graph.microsoft.com" || c["appid"] != daemonAppID || c["appidacr"] != "2" ||
				c["idtyp"] != "app" || !hasString(c["roles"], "User.Read.All") || c["tid"] != srv.TenantID() {
				t.Errorf("call %d: access token claims = %v", i, c)
			}
		}
		// What this test is about: msal-node signs one assertion and reuses
		// it (same jti) for 10 minutes, and Entra accepts the reuse.
		if len(jtis) == 2 && jtis[0] != jtis[1] {
			t.Errorf("msal-node sent two assertions (jti %v, %v): the test no longer exercises a reused assertion", jtis[0], jtis[1])
		}
	})
}

// checkMSALNodeUserTokens checks the ID token (wantNonce "" means none) and
// the Graph access token of a sign-in or a refresh of persona p in the web
// app.
func checkMSALNodeUserTokens(t *testing.T, srv *devtenant.Server, s *msalNodeStep, p devtenant.Persona, wantNonce string) {
	t.Helper()
	if s.IDToken == "" || s.AccessToken == "" {
		t.Errorf("%s: ID token set %v, access token set %v", s.Name, s.IDToken != "", s.AccessToken != "")
		return
	}
	id := claimsOf(t, s.IDToken)
	if id["aud"] != webAppID || id["iss"] != srv.Issuer() || id["tid"] != srv.TenantID() || id["oid"] != p.OID ||
		id["preferred_username"] != p.Username {
		t.Errorf("%s: ID token claims = %v", s.Name, id)
	}
	if nonce, ok := id["nonce"]; wantNonce == "" && ok || wantNonce != "" && nonce != wantNonce {
		t.Errorf("%s: ID token nonce = %v, want %q", s.Name, nonce, wantNonce)
	}
	at := claimsOf(t, s.AccessToken)
	if at["aud"] != "https://graph.microsoft.com" || at["appid"] != webAppID || at["oid"] != p.OID ||
		!strings.Contains(" "+str(at["scp"])+" ", " User.Read ") {
		t.Errorf("%s: access token claims = %v", s.Name, at)
	}
}

// msalNodeDeps finds node and testdata/msalnode with its npm packages.
func msalNodeDeps(t *testing.T) (node, dir string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "msalnode"))
	if err != nil {
		t.Fatal(err)
	}
	missing := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: TestMSALNode cannot run (make test installs it: `make deps`, i.e. scripts/deps.sh)", why)
		}
		t.Skipf("%s: skipping TestMSALNode (run `make deps`); CI fails here instead", why)
	}
	if node, err = exec.LookPath("node"); err != nil {
		missing("node is not installed (install Node.js 20 or later)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@azure", "msal-node", "package.json")); err != nil {
		missing("entra/devtenant/testdata/msalnode/node_modules/@azure/msal-node is missing (npm ci in entra/devtenant/testdata/msalnode)")
	}
	return node, dir
}

// msalNodeProc is a running msalnode.mjs: JSON lines in and out, msal-node's
// log on stderr.
type msalNodeProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *json.Decoder
	stderr *lockedBuffer
	waited bool
}

func startMSALNode(t *testing.T, ctx context.Context, node, dir, caFile string, scenario any) *msalNodeProc {
	t.Helper()
	cmd := exec.CommandContext(ctx, node, "msalnode.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+caFile)
	cmd.WaitDelay = 5 * time.Second
	p := &msalNodeProc{t: t, cmd: cmd, stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.out = json.NewDecoder(bufio.NewReader(stdout))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.waited { // the test ended early: closing stdin ends the script
			p.stdin.Close()
			cmd.Wait()
		}
	})
	p.write(scenario)
	return p
}

// fail ends the test with msal-node's log.
func (p *msalNodeProc) fail(format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("%s\nmsalnode.mjs stderr:\n%s", fmt.Sprintf(format, args...), p.stderr.String())
}

func (p *msalNodeProc) write(msg any) {
	p.t.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		p.fail("writing to msalnode.mjs: %v", err)
	}
}

func (p *msalNodeProc) read(v any) {
	p.t.Helper()
	if err := p.out.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("it exited")
		}
		p.fail("reading from msalnode.mjs: %v", err)
	}
}

// report reads the script's final answer.
func (p *msalNodeProc) report() *msalNodeReport {
	p.t.Helper()
	var r msalNodeReport
	p.read(&r)
	r.stderr = p.stderr
	p.stdin.Close()
	p.waited = true
	if err := p.cmd.Wait(); err != nil {
		p.fail("msalnode.mjs: %v", err)
	}
	return &r
}

type msalNodeReport struct {
	Steps    []msalNodeStep    `json:"steps"`
	Requests []msalNodeRequest `json:"requests"`
	stderr   *lockedBuffer
}

type msalNodeStep struct {
	Name        string
	OK          bool
	Error       *struct{ Name, ErrorCode, SubError, Message string }
	AccessToken string
	IDToken     string
	Scopes      []string
	FromCache   bool
	Account     *struct{ HomeAccountID, LocalAccountID, TenantID, Username string }
	Requests    []msalNodeRequest
}

// msalNodeRequest is one HTTP request msal-node made, secrets replaced by
// their length.
type msalNodeRequest struct {
	Method, Host, Path string
	Query              []string
	Headers            map[string]string
	Params             []struct{ Name, Value string }
	Assertion          *struct{ Header, Claims map[string]any }
	Status             int
	Error              *struct {
		Error      string  `json:"error"`
		ErrorCodes []int64 `json:"error_codes"`
		Suberror   string  `json:"suberror"`
	}
	Refused bool
}

// step returns the step named name if it succeeded, and reports its error
// otherwise.
func (r *msalNodeReport) step(t *testing.T, name string) *msalNodeStep {
	t.Helper()
	for i := range r.Steps {
		s := &r.Steps[i]
		if s.Name != name {
			continue
		}
		if !s.OK {
			t.Errorf("%s failed: %s %s (suberror %q): %s", name, s.Error.Name, s.Error.ErrorCode, s.Error.SubError, s.Error.Message)
			for _, req := range s.Requests {
				t.Logf("  %s %s → %d, parameters %v, claims %s", req.Method, req.Path, req.Status, req.paramNames(), req.param("claims"))
			}
			return nil
		}
		return s
	}
	t.Errorf("no step %s in msalnode.mjs's report; its stderr:\n%s", name, r.stderr.String())
	return nil
}

// checkHosts checks that msal-node called the dev tenant and nothing else
// (no instance discovery at login.microsoftonline.com).
func (r *msalNodeReport) checkHosts(t *testing.T, srv *devtenant.Server) {
	t.Helper()
	host := strings.TrimPrefix(srv.URL(), "https://")
	for _, req := range r.Requests {
		if req.Refused || req.Host != host {
			t.Errorf("msal-node called %s %s%s (refused: %v)", req.Method, req.Host, req.Path, req.Refused)
		}
	}
}

// tokenRequest returns the step's one token request, which must be of
// grantType.
func (s *msalNodeStep) tokenRequest(t *testing.T, grantType string) *msalNodeRequest {
	t.Helper()
	var found []*msalNodeRequest
	for i := range s.Requests {
		if strings.HasSuffix(s.Requests[i].Path, "/oauth2/v2.0/token") {
			found = append(found, &s.Requests[i])
		}
	}
	if len(found) != 1 || found[0].param("grant_type") != grantType {
		names := make([]string, len(found))
		for i, r := range found {
			names[i] = r.param("grant_type")
		}
		t.Fatalf("%s: token requests with grant types %q, want one %s", s.Name, names, grantType)
	}
	return found[0]
}

func (r *msalNodeRequest) param(name string) string {
	for _, p := range r.Params {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

func (r *msalNodeRequest) has(name string) bool {
	for _, p := range r.Params {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (r *msalNodeRequest) paramNames() []string {
	names := make([]string, len(r.Params))
	for i, p := range r.Params {
		names[i] = p.Name
	}
	return names
}

// redactQuery is q for a log: codes and other secrets replaced.
func redactQuery(q map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range q {
		switch k {
		case "code", "code_challenge", "id_token", "access_token":
			out[k] = []string{"<redacted>"}
		default:
			out[k] = v
		}
	}
	return out
}

// lockedBuffer is a bytes buffer the exec package writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
