package devtenant_test

// Entra's errors exactly as they go over the wire
// (shared/reference/entra-protocol-facts.md §2 and §4): raw HTTP against the
// token endpoint, and a Browser against the authorize endpoint.

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/entrakit/entrakit/entra/devtenant"
)

// wire drives a dev tenant with raw HTTP, as a client library would.
type wire struct {
	srv *devtenant.Server
	hc  *http.Client
}

// wireResp is one answer of the token endpoint.
type wireResp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// s returns the string field key of the body ("" if absent or not a string).
func (r wireResp) s(key string) string {
	v, _ := r.Body[key].(string)
	return v
}

func (w wire) tokenURL() string { return w.srv.Authority() + "/oauth2/v2.0/token" }

// post sends form to endpoint with the extra headers and decodes the JSON answer.
func (w wire) post(t testing.TB, endpoint string, form url.Values, hdr http.Header) wireResp {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, raw := send(t, w.hc, req)
	out := wireResp{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		t.Fatalf("POST %s: status %d, body is not JSON: %.300s", endpoint, resp.StatusCode, raw)
	}
	return out
}

func (w wire) token(t testing.TB, form url.Values, hdr http.Header) wireResp {
	t.Helper()
	return w.post(t, w.tokenURL(), form, hdr)
}

func (w wire) authorizeURL(v url.Values) string {
	return w.srv.Authority() + "/oauth2/v2.0/authorize?" + v.Encode()
}

// wireAuthParams is an authorization-code request with PKCE S256, a state
// and a nonce; it returns the parameters and the PKCE verifier.
func wireAuthParams(clientID, redirectURI, scope string) (url.Values, string) {
	verifier := oauth2.GenerateVerifier()
	return url.Values{
		"client_id":             {clientID},
		"response_type":         {"code"},
		"redirect_uri":          {redirectURI},
		"scope":                 {scope},
		"state":                 {"st-" + rand.Text()[:8]},
		"nonce":                 {"n0nce"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}, verifier
}

// code signs alias in to clientID in a fresh browser and returns the
// authorization code and its PKCE verifier.
func (w wire) code(t testing.TB, alias, clientID, redirectURI, scope string) (code, verifier string) {
	t.Helper()
	p := persona(t, w.srv, alias)
	v, verifier := wireAuthParams(clientID, redirectURI, scope)
	resp, err := w.srv.NewBrowser(p.Username, p.Password).Authorize(t.Context(), w.authorizeURL(v))
	if err != nil {
		t.Fatalf("authorize as %s: %v", alias, err)
	}
	if resp.Params.Get("code") == "" || resp.Params.Get("error") != "" || resp.Params.Get("state") != v.Get("state") {
		t.Fatalf("authorize as %s: %+v", alias, resp)
	}
	return resp.Params.Get("code"), verifier
}

const wireWebScope = "openid profile offline_access User.Read"

// webForm is a token request of the web app for grant, with the app's
// secret, as MSAL sends one.
func (w wire) webForm(grant string) url.Values {
	return url.Values{
		"grant_type":    {grant},
		"client_id":     {webAppID},
		"client_secret": {w.srv.ClientSecret(webAppID)},
		"scope":         {wireWebScope},
		"client_info":   {"1"},
	}
}

// redeemForm redeems a web-app code with the app's secret, as MSAL does.
func (w wire) redeemForm(code, verifier string) url.Values {
	f := w.webForm("authorization_code")
	f.Set("code", code)
	f.Set("redirect_uri", webRedirect)
	f.Set("code_verifier", verifier)
	return f
}

func (w wire) refreshForm(rt string) url.Values {
	f := w.webForm("refresh_token")
	f.Set("refresh_token", rt)
	return f
}

// refreshToken signs alias in to the web app and redeems the code.
func (w wire) refreshToken(t testing.TB, alias string) string {
	t.Helper()
	code, verifier := w.code(t, alias, webAppID, webRedirect, wireWebScope)
	r := w.token(t, w.redeemForm(code, verifier), nil)
	if r.Status != http.StatusOK || r.s("refresh_token") == "" {
		t.Fatalf("redeem code for %s: %d %s", alias, r.Status, r.Raw)
	}
	return r.s("refresh_token")
}

func (w wire) daemonForm(secret, scope string) url.Values {
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {daemonAppID}, "scope": {scope}}
	if secret != "" {
		f.Set("client_secret", secret)
	}
	return f
}

// wireGUID is a random version-4 GUID, as MSAL sends in client-request-id.
func wireGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

const entraTimestamp = "2006-01-02 15:04:05Z"

// checkEntraError asserts that r is a token-endpoint error in Entra's exact
// shape. code 0 accepts any AADSTS number; suberror "" requires none; corr
// "" requires a made-up GUID.
func checkEntraError(t testing.TB, r wireResp, status int, oauthErr string, code int, suberror, corr string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status = %d, want %d", r.Status, status)
	}
	if got := r.s("error"); got != oauthErr {
		t.Errorf("error = %q, want %q", got, oauthErr)
	}
	codes, _ := r.Body["error_codes"].([]any)
	gotCode := 0
	if len(codes) > 0 {
		f, _ := codes[0].(float64)
		gotCode = int(f)
	}
	if gotCode == 0 || (code != 0 && gotCode != code) {
		t.Errorf("error_codes = %v, want [%d]", r.Body["error_codes"], code)
	}
	desc := r.s("error_description")
	if !strings.HasPrefix(desc, fmt.Sprintf("AADSTS%d:", gotCode)) {
		t.Errorf("error_description does not start with AADSTS%d: %q", gotCode, desc)
	}
	trace, corrID, ts := r.s("trace_id"), r.s("correlation_id"), r.s("timestamp")
	if !guidRE.MatchString(trace) {
		t.Errorf("trace_id = %q", trace)
	}
	if !guidRE.MatchString(corrID) {
		t.Errorf("correlation_id = %q", corrID)
	}
	if corr != "" && corrID != corr {
		t.Errorf("correlation_id = %q, want the client-request-id %q", corrID, corr)
	}
	if _, err := time.Parse(entraTimestamp, ts); err != nil {
		t.Errorf("timestamp = %q: %v", ts, err)
	}
	for _, part := range []string{"\r\nTrace ID: " + trace, "\r\nCorrelation ID: " + corrID, "\r\nTimestamp: " + ts} {
		if !strings.Contains(desc, part) {
			t.Errorf("error_description lacks %q: %q", part, desc)
		}
	}
	if uri := r.s("error_uri"); !strings.HasSuffix(uri, fmt.Sprintf("/error?code=%d", gotCode)) {
		t.Errorf("error_uri = %q", uri)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store, no-cache" {
		t.Errorf("Cache-Control = %q", got)
	}
	if got := r.Header.Get("Pragma"); got != "no-cache" {
		t.Errorf("Pragma = %q", got)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	if got, present := r.Body["suberror"]; suberror == "" && present {
		t.Errorf("unexpected suberror %v", got)
	} else if suberror != "" && got != suberror {
		t.Errorf("suberror = %v, want %q", got, suberror)
	}
	if t.Failed() {
		t.Logf("body: %s", r.Raw)
	}
}

func TestEntraErrorsAsSent(t *testing.T) {
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	graphDotDefault := "https://graph.microsoft.com/.default"
	const (
		spaRedirect = "http://localhost:8080/spa/"
		cliRedirect = "http://localhost:53682"
		spaScope    = "openid profile offline_access User.Read"
	)
	spaForm := func(code, verifier string) url.Values {
		return url.Values{
			"grant_type": {"authorization_code"}, "client_id": {spaAppID}, "code": {code},
			"redirect_uri": {spaRedirect}, "code_verifier": {verifier}, "scope": {spaScope},
		}
	}

	tests := []struct {
		name string
		// send prepares what it needs, then makes the request that must fail.
		send     func(t *testing.T, hdr http.Header) wireResp
		status   int
		err      string
		code     int // 0: any AADSTS number
		suberror string
	}{
		{
			name: "unknown app",
			send: func(t *testing.T, hdr http.Header) wireResp {
				f := w.daemonForm("abc8Q~not-a-real-secret", graphDotDefault)
				f.Set("client_id", "0b5c7a3e-1d2f-4e6a-8b9c-0d1e2f3a4b5c")
				return w.token(t, f, hdr)
			},
			status: 400, err: "unauthorized_client", code: 700016,
		},
		{
			name: "bad secret",
			send: func(t *testing.T, hdr http.Header) wireResp {
				return w.token(t, w.daemonForm("abc8Q~wrong-secret-value", graphDotDefault), hdr)
			},
			status: 401, err: "invalid_client", code: 7000215,
		},
		{
			name: "confidential client without a credential",
			send: func(t *testing.T, hdr http.Header) wireResp {
				return w.token(t, w.daemonForm("", graphDotDefault), hdr)
			},
			status: 401, err: "invalid_client", code: 7000218,
		},
		{
			name: "public client sends a secret",
			send: func(t *testing.T, hdr http.Header) wireResp {
				scope := "openid offline_access User.Read"
				code, verifier := w.code(t, "AdeleV", cliAppID, cliRedirect, scope)
				return w.token(t, url.Values{
					"grant_type": {"authorization_code"}, "client_id": {cliAppID}, "client_secret": {"abc8Q~public-clients-have-none"},
					"code": {code}, "redirect_uri": {cliRedirect}, "code_verifier": {verifier}, "scope": {scope},
				}, hdr)
			},
			status: 401, err: "invalid_client", code: 700025,
		},
		{
			name: "expired code",
			send: func(t *testing.T, hdr http.Header) wireResp {
				code, verifier := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
				srv.AdvanceClock(11 * time.Minute)
				return w.token(t, w.redeemForm(code, verifier), hdr)
			},
			status: 400, err: "invalid_grant", code: 70008,
		},
		{
			// What the first redemption produced stays valid:
			// TestCodeReplayKeepsFirstTokens.
			name: "code redeemed twice",
			send: func(t *testing.T, hdr http.Header) wireResp {
				code, verifier := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
				if first := w.token(t, w.redeemForm(code, verifier), nil); first.Status != http.StatusOK {
					t.Fatalf("first redemption: %d %s", first.Status, first.Raw)
				}
				return w.token(t, w.redeemForm(code, verifier), hdr)
			},
			status: 400, err: "invalid_grant", code: 54005,
		},
		{
			name: "PKCE verifier does not match",
			send: func(t *testing.T, hdr http.Header) wireResp {
				code, _ := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
				return w.token(t, w.redeemForm(code, oauth2.GenerateVerifier()), hdr)
			},
			status: 400, err: "invalid_grant", code: 501481,
		},
		{
			name: "PKCE verifier missing after a challenge",
			send: func(t *testing.T, hdr http.Header) wireResp {
				code, _ := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
				f := w.redeemForm(code, "")
				f.Del("code_verifier")
				return w.token(t, f, hdr)
			},
			status: 400, err: "invalid_grant", code: 501481,
		},
		{
			name: "redirect_uri differs from the authorize request",
			send: func(t *testing.T, hdr http.Header) wireResp {
				code, verifier := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
				f := w.redeemForm(code, verifier)
				f.Set("redirect_uri", "https://localhost:8443/auth/callback") // registered, but not the one used
				return w.token(t, f, hdr)
			},
			status: 400, err: "invalid_grant",
		},
		{
			name: "unknown scope",
			send: func(t *testing.T, hdr http.Header) wireResp {
				f := w.refreshForm(w.refreshToken(t, "AdeleV"))
				f.Set("scope", "openid offline_access User.Frobnicate")
				return w.token(t, f, hdr)
			},
			status: 400, err: "invalid_scope", code: 70011,
		},
		{
			name: "two resources in one request",
			send: func(t *testing.T, hdr http.Header) wireResp {
				f := w.refreshForm(w.refreshToken(t, "AdeleV"))
				f.Set("scope", "User.Read api://"+webAppID+"/access_as_user offline_access")
				return w.token(t, f, hdr)
			},
			status: 400, err: "invalid_scope", code: 28000,
		},
		{
			name: "client credentials without /.default",
			send: func(t *testing.T, hdr http.Header) wireResp {
				return w.token(t, w.daemonForm(srv.ClientSecret(daemonAppID), "https://graph.microsoft.com/User.Read.All"), hdr)
			},
			status: 400, err: "invalid_scope", code: 1002012,
		},
		{
			name: "consent revoked after the refresh token was issued",
			send: func(t *testing.T, hdr http.Header) wireResp {
				rt := w.refreshToken(t, "AlexW")
				srv.RevokeConsent(webAppID, devtenant.GraphAppID, "")
				t.Cleanup(func() {
					if err := srv.GrantConsent(webAppID, devtenant.GraphAppID, "", "User.Read", "openid", "profile", "email", "offline_access"); err != nil {
						t.Error(err)
					}
				})
				return w.token(t, w.refreshForm(rt), hdr)
			},
			status: 400, err: "invalid_grant", code: 65001, suberror: "consent_required",
		},
		{
			name: "user disabled after the refresh token was issued",
			send: func(t *testing.T, hdr http.Header) wireResp {
				rt := w.refreshToken(t, "DiegoS")
				oid := persona(t, srv, "DiegoS").OID
				if err := srv.SetUserEnabled(oid, false); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = srv.SetUserEnabled(oid, true) })
				return w.token(t, w.refreshForm(rt), hdr)
			},
			status: 400, err: "invalid_grant", code: 50057,
		},
		{
			name: "refresh token revoked",
			send: func(t *testing.T, hdr http.Header) wireResp {
				rt := w.refreshToken(t, "GradyA")
				if err := srv.RevokeUser(persona(t, srv, "GradyA").OID); err != nil {
					t.Fatal(err)
				}
				return w.token(t, w.refreshForm(rt), hdr)
			},
			status: 400, err: "invalid_grant", code: 50173,
		},
		{
			name: "claims challenge needs interaction",
			send: func(t *testing.T, hdr http.Header) wireResp {
				const claims = `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
				f := w.refreshForm(w.refreshToken(t, "AdeleV"))
				f.Set("claims", claims)
				r := w.token(t, f, hdr)
				if got := r.s("claims"); got != claims {
					t.Errorf("claims = %q, want the request's %q", got, claims)
				}
				return r
			},
			status: 400, err: "interaction_required", code: 50076, suberror: "basic_action",
		},
		{
			name: "unsupported grant type",
			send: func(t *testing.T, hdr http.Header) wireResp {
				return w.token(t, url.Values{"grant_type": {"urn:entrakit:test:no-such-grant"}, "client_id": {webAppID}}, hdr)
			},
			status: 400, err: "unsupported_grant_type", code: 70003,
		},
		{
			name: "unknown tenant",
			send: func(t *testing.T, hdr http.Header) wireResp {
				u := srv.URL() + "/" + wireGUID() + "/oauth2/v2.0/token"
				return w.post(t, u, w.daemonForm(srv.ClientSecret(daemonAppID), graphDotDefault), hdr)
			},
			status: 400, err: "invalid_request", code: 90002,
		},
		{
			name: "SPA code redeemed without Origin",
			send: func(t *testing.T, hdr http.Header) wireResp {
				code, verifier := w.code(t, "AdeleV", spaAppID, spaRedirect, spaScope)
				return w.token(t, spaForm(code, verifier), hdr)
			},
			status: 400, err: "invalid_request", code: 9002327,
		},
		{
			// Last: it moves the clock past every refresh token's lifetime.
			name: "refresh token expired",
			send: func(t *testing.T, hdr http.Header) wireResp {
				rt := w.refreshToken(t, "AdeleV")
				srv.AdvanceClock(91 * 24 * time.Hour)
				return w.token(t, w.refreshForm(rt), hdr)
			},
			status: 400, err: "invalid_grant", code: 700082,
		},
	}
	t.Run("token", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				corr := wireGUID()
				r := tc.send(t, http.Header{"Client-Request-Id": {corr}})
				checkEntraError(t, r, tc.status, tc.err, tc.code, tc.suberror, corr)
			})
		}
	})

	t.Run("token/correlation id made up when the client sends none", func(t *testing.T) {
		r := w.token(t, w.daemonForm("abc8Q~wrong-secret-value", graphDotDefault), http.Header{"Client-Request-Id": {"not-a-guid"}})
		checkEntraError(t, r, 401, "invalid_client", 7000215, "", "")
		if r.s("correlation_id") == "not-a-guid" {
			t.Error("a client-request-id that is not a GUID was echoed")
		}
		r2 := w.token(t, w.daemonForm("abc8Q~wrong-secret-value", graphDotDefault), nil)
		checkEntraError(t, r2, 401, "invalid_client", 7000215, "", "")
		if r2.s("trace_id") == r.s("trace_id") {
			t.Error("two errors share a trace id")
		}
	})

	t.Run("token/SPA code redeemed cross-origin", func(t *testing.T) {
		code, verifier := w.code(t, "AdeleV", spaAppID, spaRedirect, spaScope)
		r := w.token(t, spaForm(code, verifier), http.Header{"Origin": {"http://localhost:8080"}})
		if r.Status != http.StatusOK || r.s("access_token") == "" || r.s("refresh_token") == "" {
			t.Fatalf("redeem with Origin: %d %s", r.Status, r.Raw)
		}
		if r.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Error("no Access-Control-Allow-Origin on a cross-origin token response")
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store, no-cache" {
			t.Errorf("Cache-Control = %q", got)
		}
	})

	t.Run("authorize/sign-in form", func(t *testing.T) {
		adele, lynne := persona(t, srv, "AdeleV"), persona(t, srv, "LynneR")
		if lynne.Enabled {
			t.Fatal("LynneR should be disabled in the cast")
		}
		for _, tc := range []struct {
			name, user, password string
			code                 int
		}{
			{"wrong password", adele.Username, "not-" + adele.Password, 50126},
			{"unknown user", "nobody@" + srv.Domain(), "whatever-Pa55", 50034},
			{"disabled user", lynne.Username, lynne.Password, 50057},
		} {
			t.Run(tc.name, func(t *testing.T) {
				v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
				resp, err := srv.NewBrowser(tc.user, tc.password).Authorize(t.Context(), w.authorizeURL(v))
				var pe *devtenant.PageError
				if !errors.As(err, &pe) {
					t.Fatalf("Authorize = %+v, %v; want a *PageError", resp, err)
				}
				if pe.Code != tc.code || !strings.Contains(pe.Message, fmt.Sprintf("AADSTS%d:", tc.code)) {
					t.Errorf("PageError = %d %q, want AADSTS%d", pe.Code, pe.Message, tc.code)
				}
			})
		}
	})

	t.Run("authorize/redirect URI mismatch shows a page and never redirects", func(t *testing.T) {
		adele := persona(t, srv, "AdeleV")
		for _, bad := range []string{
			"http://localhost:8080/evil",
			"http://localhost:8080/Auth/Callback", // exact match: case matters
			"http://localhost:8080/auth/callback/",
			"https://attacker.example/auth/callback",
		} {
			v, _ := wireAuthParams(webAppID, bad, wireWebScope)
			resp, err := srv.NewBrowser(adele.Username, adele.Password).Authorize(t.Context(), w.authorizeURL(v))
			var pe *devtenant.PageError
			if !errors.As(err, &pe) || pe.Code != 50011 {
				t.Errorf("%s: Authorize = %+v, %v; want PageError 50011", bad, resp, err)
				continue
			}
			// The same request by hand: an error page, no Location.
			hc := srv.Client()
			hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			raw, err := hc.Get(w.authorizeURL(v))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(raw.Body)
			raw.Body.Close()
			if raw.StatusCode != http.StatusBadRequest || raw.Header.Get("Location") != "" || !strings.Contains(string(body), `data-aadsts="50011"`) {
				t.Errorf("%s: raw authorize = %d, Location %q", bad, raw.StatusCode, raw.Header.Get("Location"))
			}
		}
	})

	t.Run("authorize/prompt=none without a session", func(t *testing.T) {
		corr := wireGUID()
		b := srv.NewBrowser("", "")
		b.Client.Transport = wireHeaderTransport{base: b.Client.Transport, hdr: http.Header{"Client-Request-Id": {corr}}}
		v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
		v.Set("prompt", "none")
		resp, err := b.Authorize(t.Context(), w.authorizeURL(v))
		if err != nil {
			t.Fatal(err)
		}
		if resp.RedirectURI != webRedirect || resp.Params.Get("code") != "" || resp.Params.Get("state") != v.Get("state") {
			t.Errorf("response = %+v", resp)
		}
		checkRedirectError(t, resp.Params, "login_required", 50058, corr)
	})

	t.Run("authorize/consent declined", func(t *testing.T) {
		adele := persona(t, srv, "AdeleV")
		b := srv.NewBrowser(adele.Username, adele.Password)
		b.Consent = "decline"
		v, _ := wireAuthParams(webAppID, webRedirect, "openid User.ReadBasic.All") // user-consentable, not granted
		resp, err := b.Authorize(t.Context(), w.authorizeURL(v))
		if err != nil {
			t.Fatal(err)
		}
		if resp.RedirectURI != webRedirect || resp.Params.Get("code") != "" || resp.Params.Get("state") != v.Get("state") {
			t.Errorf("response = %+v", resp)
		}
		checkRedirectError(t, resp.Params, "access_denied", 65004, "")
	})

	t.Run("authorize/admin approval", func(t *testing.T) {
		adele, admin := persona(t, srv, "AdeleV"), persona(t, srv, "admin")
		const scope = "openid profile User.Read.All" // admin-only delegated permission

		// By hand: the consent page says "Need admin approval" and offers no Accept.
		v, _ := wireAuthParams(webAppID, webRedirect, scope)
		page := wireSignInPage(t, srv, w.authorizeURL(v), adele)
		if !strings.Contains(page, "Need admin approval") || !strings.Contains(page, `data-aadsts="90094"`) ||
			strings.Contains(page, `value="accept"`) || !strings.Contains(page, "User.Read.All") {
			t.Errorf("consent page for a non-admin:\n%s", page)
		}

		// The Browser can only go back: access_denied.
		v, _ = wireAuthParams(webAppID, webRedirect, scope)
		resp, err := srv.NewBrowser(adele.Username, adele.Password).Authorize(t.Context(), w.authorizeURL(v))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Params.Get("error") != "access_denied" || resp.Params.Get("code") != "" {
			t.Fatalf("non-admin response = %+v", resp.Params)
		}

		// An administrator consents for the organization...
		b := srv.NewBrowser(admin.Username, admin.Password)
		b.ConsentForOrg = true
		v, _ = wireAuthParams(webAppID, webRedirect, scope)
		resp, err = b.Authorize(t.Context(), w.authorizeURL(v))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Params.Get("code") == "" {
			t.Fatalf("admin response = %+v", resp.Params)
		}

		// ...and Adele then gets a code with no consent page (declining
		// any page that did show up would answer access_denied).
		b = srv.NewBrowser(adele.Username, adele.Password)
		b.Consent = "decline"
		v, verifier := wireAuthParams(webAppID, webRedirect, scope)
		resp, err = b.Authorize(t.Context(), w.authorizeURL(v))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Params.Get("code") == "" {
			t.Fatalf("after admin consent, Adele got %+v", resp.Params)
		}
		f := w.redeemForm(resp.Params.Get("code"), verifier)
		f.Set("scope", scope)
		r := w.token(t, f, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("redeem: %d %s", r.Status, r.Raw)
		}
		if scp, _ := claimsOf(t, r.s("access_token"))["scp"].(string); !strings.Contains(" "+scp+" ", " User.Read.All ") {
			t.Errorf("scp = %q, want User.Read.All", scp)
		}
	})

	// Every error the tenant sends is stamped with its own clock (the one
	// AdvanceClock moves), whichever endpoint sends it.
	t.Run("authorize/error timestamps follow the tenant clock", func(t *testing.T) {
		srv.AdvanceClock(72 * time.Hour)
		tokenErr := w.token(t, w.daemonForm("abc8Q~wrong-secret-value", graphDotDefault), nil)
		tenantNow, err := time.Parse(entraTimestamp, tokenErr.s("timestamp"))
		if err != nil {
			t.Fatal(err)
		}
		near := func(what, desc string) {
			t.Helper()
			m := regexp.MustCompile(`Timestamp: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ)`).FindStringSubmatch(desc)
			if m == nil {
				t.Errorf("%s: no timestamp in %q", what, desc)
				return
			}
			ts, _ := time.Parse(entraTimestamp, m[1])
			if d := ts.Sub(tenantNow); d < -time.Minute || d > time.Minute {
				t.Errorf("%s is stamped %s, the tenant clock says %s (the token endpoint's timestamp)", what, ts, tenantNow)
			}
		}
		v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
		v.Set("prompt", "none")
		resp, err := srv.NewBrowser("", "").Authorize(t.Context(), w.authorizeURL(v))
		if err != nil {
			t.Fatal(err)
		}
		near("the authorize redirect error", resp.Params.Get("error_description"))

		v.Set("redirect_uri", "http://localhost:8080/evil")
		_, err = srv.NewBrowser("", "").Authorize(t.Context(), w.authorizeURL(v))
		var pe *devtenant.PageError
		if !errors.As(err, &pe) {
			t.Fatalf("want a PageError, got %v", err)
		}
		near("the error page", pe.Message)
	})
}

// checkRedirectError asserts an OAuth error delivered to the redirect URI in
// Entra's shape: error, and error_description "AADSTSnnnn: ...\r\nTrace ID:
// ...\r\nCorrelation ID: ...\r\nTimestamp: ...".
func checkRedirectError(t *testing.T, p url.Values, oauthErr string, code int, corr string) {
	t.Helper()
	if got := p.Get("error"); got != oauthErr {
		t.Errorf("error = %q, want %q", got, oauthErr)
	}
	desc := p.Get("error_description")
	if !strings.HasPrefix(desc, fmt.Sprintf("AADSTS%d:", code)) {
		t.Errorf("error_description does not start with AADSTS%d: %q", code, desc)
	}
	for _, part := range []string{"\r\nTrace ID: ", "\r\nCorrelation ID: " + corr, "\r\nTimestamp: "} {
		if !strings.Contains(desc, part) {
			t.Errorf("error_description lacks %q: %q", part, desc)
		}
	}
}

// wireHeaderTransport adds headers to every request (client-request-id).
type wireHeaderTransport struct {
	base http.RoundTripper
	hdr  http.Header
}

func (h wireHeaderTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, vs := range h.hdr {
		r.Header[k] = vs
	}
	return h.base.RoundTrip(r)
}

var wireCtxRE = regexp.MustCompile(`name="ctx" value="([^"]+)"`)

// wireSignInPage opens authorizeURL, signs p in on the form, and returns the
// page that follows (the consent page, when one is due).
func wireSignInPage(t *testing.T, srv *devtenant.Server, authorizeURL string, p devtenant.Persona) string {
	t.Helper()
	hc := srv.Client()
	hc.Jar, _ = cookiejar.New(nil)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	read := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", resp.Request.URL.Path, resp.StatusCode, b)
		}
		return string(b)
	}
	login := read(hc.Get(authorizeURL))
	m := wireCtxRE.FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("no sign-in form:\n%s", login)
	}
	return read(hc.PostForm(srv.Authority()+"/login", url.Values{"ctx": {m[1]}, "username": {p.Username}, "password": {p.Password}}))
}
