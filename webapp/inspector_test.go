package webapp_test

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// flowRow is a row of one of /dev/flow's tables: <code>name</code>, then
// the value (in <code> or not).
func flowRow(t *testing.T, body, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<tr><td><code>` + regexp.QuoteMeta(name) + `</code></td><td>(?:<code>)?([^<]*)`).FindStringSubmatch(body)
	if m == nil {
		t.Errorf("/dev/flow has no %s row", name)
		return ""
	}
	return html.UnescapeString(m[1])
}

// TestFlowInspector: in dev mode, /dev/flow shows the signed-in session's
// last sign-in step by step (the authorize parameters, the callback, the
// token request with the PKCE verifier and the client's credential reduced
// to its kind, the response, the ID token decoded, the checks) without the
// full code, any full token or the client secret.
func TestFlowInspector(t *testing.T) {
	tt := startTenant(t)
	for _, mode := range []string{"form_post", "query"} {
		t.Run(mode, func(t *testing.T) {
			a := startApp(t, tt, appOptions{ResponseMode: mode, DevMode: devModeInfo(tt.srv, "")})
			u := newUser(t, tt, "AdeleV")
			mustContain(t, u.get(a.URL+"/").Body, `href="/dev/flow"`, "See your last sign-in step by step")

			auth, state := u.startSignIn(a, "/dev/flow")
			au, _ := url.Parse(auth)
			sent := au.Query()
			resp := u.authorizeOnly(auth)
			code := resp.Params.Get("code")
			if cb := u.deliver(a, resp.Mode, resp.Params); cb.Status != http.StatusSeeOther || cb.Location != "/dev/flow" {
				t.Fatalf("callback: %d %q %s", cb.Status, cb.Location, cb.Body)
			}
			p := u.get(a.URL + "/dev/flow")
			if p.Status != http.StatusOK {
				t.Fatalf("/dev/flow: %d %s", p.Status, p.Body)
			}
			body := p.Body
			text := html.UnescapeString(body)
			if strings.Contains(p.Header.Get("Content-Security-Policy"), "unsafe-inline") || strings.Contains(body, "<script") || strings.Contains(body, "style=") {
				t.Error("the page needs inline script or style, which the CSP forbids")
			}

			// 1. The authorize request, parameter by parameter.
			mustContain(t, text, "1. The authorize request", au.Scheme+"://"+au.Host+au.Path)
			for name, want := range map[string]string{
				"client_id": webAppID, "redirect_uri": a.URL + "/auth/callback", "response_type": "code",
				"scope": sent.Get("scope"), "state": state, "nonce": sent.Get("nonce"),
				"code_challenge": sent.Get("code_challenge"), "code_challenge_method": "S256",
			} {
				if got := flowRow(t, body, name); got != want || want == "" {
					t.Errorf("authorize %s = %q, want %q", name, got, want)
				}
			}
			mustContain(t, text, "CSRF protection", "Binds the ID token to this request", "PKCE (RFC 7636)")
			if mode == "form_post" && flowRow(t, body, "response_mode") != "form_post" {
				t.Error("no response_mode=form_post row")
			}

			// 2. The callback: how it came, the code truncated, the state check.
			mustContain(t, text, "The response arrived as <strong>"+mode+"</strong>", code[:12]+"…", "State check: <strong>passed</strong>")

			// 3. The token request: the verifier (spent) whose S256 is the
			// challenge sent, and the secret only as its kind.
			verifier := flowRow(t, body, "code_verifier")
			if verifier == "" || oauth2.S256ChallengeFromVerifier(verifier) != sent.Get("code_challenge") {
				t.Errorf("code_verifier %q does not hash to the code_challenge %q", verifier, sent.Get("code_challenge"))
			}
			if got := flowRow(t, body, "grant_type"); got != "authorization_code" {
				t.Errorf("grant_type = %q", got)
			}
			mustContain(t, text, "client_secret: [redacted]", "PKCE (checked by Entra): <strong>passed</strong>", "/oauth2/v2.0/token")
			if secret := tt.srv.ClientSecret(webAppID); secret == "" || strings.Contains(text, secret) {
				t.Error("the page shows the client secret")
			}

			// 4. The response, and the ID token decoded.
			if got := flowRow(t, body, "token_type"); !strings.EqualFold(got, "Bearer") {
				t.Errorf("token_type = %q", got)
			}
			for name, want := range map[string]string{"oid": u.persona.OID, "tid": tt.srv.TenantID(), "nonce": sent.Get("nonce"), "alg": "RS256"} {
				if got := flowRow(t, body, name); got != want {
					t.Errorf("ID token %s = %q, want %q", name, got, want)
				}
			}
			mustContain(t, text, "Object id of the user", "(20") // exp, iat as times

			// 5. The checks, each passed, with what they compared.
			for _, check := range []string{"signature", "issuer", "audience", "expiry", "not before", "nonce", "tenant allowed", "required claims", "account"} {
				if !regexp.MustCompile(`<tr><td>` + check + `</td><td>[^<]+</td><td><strong>passed</strong>`).MatchString(body) {
					t.Errorf("no passed %q check", check)
				}
			}
			mustContain(t, text, `signature verifies with the key "`+tt.srv.SigningKeyID()+`"`, `= the nonce of step 1 "`+sent.Get("nonce")+`"`)
			if strings.Contains(body, "failed") {
				t.Error("a check failed")
			}

			// Never a full code or token, on the page or in the log.
			secrets := cachedSecrets(t, a, u)
			secrets["authorization code"] = code
			for what, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("the page shows the %s", what)
				}
			}
			secrets["code_verifier"] = verifier
			for what, s := range secrets {
				if strings.Contains(a.log.String(), s) {
					t.Errorf("the log holds the %s", what)
				}
			}
		})
	}
}

// TestFlowInspectorSignedOut: /dev/flow sends a browser without a session
// to sign in, and back.
func TestFlowInspectorSignedOut(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{DevMode: devModeInfo(tt.srv, "")})
	u := newUser(t, tt, "AdeleV")
	p := u.get(a.URL + "/dev/flow")
	if p.Status != http.StatusFound || p.Location != "/signin?returnTo=%2Fdev%2Fflow" {
		t.Fatalf("anonymous /dev/flow: %d %q", p.Status, p.Location)
	}
	if cb := u.signIn(a, "/dev/flow"); cb.Location != "/dev/flow" {
		t.Fatalf("after sign-in: %q", cb.Location)
	}
	mustContain(t, u.get(a.URL+"/dev/flow").Body, "5. The checks on the ID token")
	// Signed out, the record is out of reach.
	out := u.post(a.URL+"/signout", url.Values{"csrf": {csrfOf(t, u.get(a.URL+"/").Body)}})
	if out.Status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", out.Status)
	}
	if p := u.get(a.URL + "/dev/flow"); p.Status != http.StatusFound {
		t.Errorf("/dev/flow after sign-out: %d", p.Status)
	}
}

// TestFlowInspectorPerSession: each session sees its own sign-in only:
// another user's, and the same user's sign-in in another browser, stay
// where they were made.
func TestFlowInspectorPerSession(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{DevMode: devModeInfo(tt.srv, "")})
	type browser struct {
		u     *user
		state string
	}
	var bs []browser
	for _, alias := range []string{"AdeleV", "MeganB", "AdeleV"} {
		u := newUser(t, tt, alias)
		auth, state := u.startSignIn(a, "/")
		resp := u.authorizeOnly(auth)
		if cb := u.deliver(a, resp.Mode, resp.Params); cb.Status != http.StatusSeeOther {
			t.Fatalf("%s: callback %d", alias, cb.Status)
		}
		bs = append(bs, browser{u, state})
	}
	for i, b := range bs {
		body := b.u.get(a.URL + "/dev/flow").Body
		if got := flowRow(t, body, "state"); got != b.state {
			t.Errorf("browser %d (%s) sees state %q, want its own %q", i, b.u.persona.Username, got, b.state)
		}
		if got := flowRow(t, body, "oid"); got != b.u.persona.OID {
			t.Errorf("browser %d (%s) sees oid %q", i, b.u.persona.Username, got)
		}
		for j, other := range bs {
			if j != i && strings.Contains(body, other.state) {
				t.Errorf("browser %d sees browser %d's sign-in", i, j)
			}
		}
	}
}

// TestFlowInspectorOnlyInDevMode: without Config.DevMode (production, or a
// dev tenant without dev mode) /dev/flow is a 404, the home page does not
// link it, and the code redemption goes straight to the app's transport:
// nothing of the app's sits in between to record it. With DevMode, the
// same probe sees the inspector's recorder (the probe works).
func TestFlowInspectorOnlyInDevMode(t *testing.T) {
	tt := startTenant(t)
	for _, dev := range []bool{false, true} {
		t.Run(fmt.Sprintf("dev mode %v", dev), func(t *testing.T) {
			spy := &redemptionSpy{}
			o := appOptions{Transport: func(base http.RoundTripper) http.RoundTripper { spy.base = base; return spy }}
			if dev {
				o.DevMode = devModeInfo(tt.srv, "")
			}
			a := startApp(t, tt, o)
			u := newUser(t, tt, "AdeleV")
			u.signIn(a, "/")
			p := u.get(a.URL + "/dev/flow")
			if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[dev]; p.Status != want {
				t.Errorf("/dev/flow: %d, want %d", p.Status, want)
			}
			if strings.Contains(u.get(a.URL+"/").Body, "/dev/flow") != dev {
				t.Errorf("home page links /dev/flow: %v, want %v", !dev, dev)
			}
			redemptions, recorded := spy.counts()
			if redemptions != 1 {
				t.Fatalf("the spy saw %d code redemptions, want 1", redemptions)
			}
			if got := recorded == 1; got != dev {
				t.Errorf("the code redemption went through the app's recorder: %v, want %v", got, dev)
			}
		})
	}
}

// redemptionSpy is the app's HTTP transport: it counts the authorization
// code redemptions, and those handed to it by a RoundTrip of the webapp
// package (the inspector's recorder) rather than by net/http itself.
type redemptionSpy struct {
	base http.RoundTripper

	mu                    sync.Mutex
	redemptions, recorded int
}

func (s *redemptionSpy) RoundTrip(req *http.Request) (*http.Response, error) {
	caller := ""
	if pc, _, _, ok := runtime.Caller(1); ok {
		caller = runtime.FuncForPC(pc).Name()
	}
	if req.Method == http.MethodPost && req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			if form, _ := url.ParseQuery(string(b)); form.Get("grant_type") == "authorization_code" {
				s.mu.Lock()
				s.redemptions++
				if strings.HasPrefix(caller, "github.com/entrakit/entrakit/webapp.") && strings.HasSuffix(caller, ".RoundTrip") {
					s.recorded++
				}
				s.mu.Unlock()
			}
		}
	}
	return s.base.RoundTrip(req)
}

func (s *redemptionSpy) counts() (redemptions, recorded int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.redemptions, s.recorded
}
