package webapp_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/signintest"
)

// apiScope is the API's delegated permission, as clients ask for it.
var apiScope = "api://" + infra.Apps().WebApp + "/access_as_user"

// userTokens signs alias in through MSAL Go's real interactive flow as
// entractl's public client (the dev tenant's Browser in place of a
// person) and returns the result for scopes: an access token for the API
// when scopes is apiScope.
func userTokens(t testing.TB, tt *tenant, alias string, scopes ...string) public.AuthResult {
	t.Helper()
	p := devtenanttest.Persona(t, tt.srv, alias)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	app, err := public.New(infra.Apps().CLI, public.WithAuthority(tt.srv.Authority()),
		public.WithHTTPClient(tt.srv.Client()), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := signintest.Interactive(ctx, app, tt.srv.NewBrowser(p.Username, p.Password), scopes)
	if err != nil {
		t.Fatalf("sign-in for %v: %v", scopes, err)
	}
	return res
}

// appToken gets an app-only token for the API with appID's client
// credentials (client_credentials, api://<web app>/.default).
func appToken(t testing.TB, tt *tenant, appID string) string {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(tt.srv.ClientSecret(appID))
	if err != nil {
		t.Fatal(err)
	}
	c, err := confidential.New(tt.srv.Authority(), appID, cred,
		confidential.WithHTTPClient(tt.srv.Client()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.AcquireTokenByCredential(context.Background(), []string{"api://" + infra.Apps().WebApp + "/.default"})
	if err != nil {
		t.Fatalf("client credentials for %s: %v", appID, err)
	}
	return res.AccessToken
}

// apiResponse is one answer of the API, body read.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r apiResponse) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// callAPI sends GET path to the app with the bearer token (none when
// empty) and extra headers as name, value pairs.
func callAPI(t testing.TB, a *app, path, token string, header ...string) apiResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiResponse{resp.StatusCode, resp.Header, b}
}

func TestAPIOnBehalfOf(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	tok := userTokens(t, tt, "AdeleV", apiScope).AccessToken

	r := callAPI(t, a, "/api/me", tok)
	if r.status != http.StatusOK {
		t.Fatalf("/api/me: %d %s\n%s", r.status, r.body, a.log)
	}
	var me struct{ ID, DisplayName, UserPrincipalName, JobTitle string }
	r.json(t, &me)
	if me.DisplayName != "Adele Vance" || me.JobTitle != "Retail Manager" || me.ID == "" {
		t.Errorf("/api/me = %+v", me)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}

	r = callAPI(t, a, "/api/users?search=Ale", tok)
	if r.status != http.StatusOK {
		t.Fatalf("/api/users: %d %s", r.status, r.body)
	}
	var found struct {
		Value []struct{ DisplayName string }
	}
	r.json(t, &found)
	if len(found.Value) == 0 || !strings.Contains(string(r.body), "Alex Wilber") {
		t.Errorf("search Ale: %s", r.body)
	}
	for _, u := range found.Value {
		if !strings.Contains(strings.ToLower(u.DisplayName), "ale") {
			t.Errorf("search Ale returned %q", u.DisplayName)
		}
	}

	r = callAPI(t, a, "/api/me/photo", tok)
	switch {
	case r.status == http.StatusOK && (r.header.Get("Content-Type") == "image/jpeg" || r.header.Get("Content-Type") == "image/png"):
	case r.status == http.StatusNotFound && strings.Contains(string(r.body), "not_found"):
	default:
		t.Errorf("/api/me/photo: %d %s %q", r.status, r.header.Get("Content-Type"), r.body[:min(len(r.body), 200)])
	}

	// Three calls, one exchange: the OBO token is reused from the memo.
	m := metricsText(t, a)
	for _, want := range []string{`entrakit_obo_acquisitions_total{source="entra"} 1`, `entrakit_obo_acquisitions_total{source="memo"} 2`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "obo"))
		}
	}
	// The exchanged token is in the shared store, sealed under the hash
	// of the caller's token and the scopes; nothing there is in clear.
	sum := sha256.Sum256([]byte(tok))
	scopes := sha256.Sum256([]byte("https://graph.microsoft.com/User.Read https://graph.microsoft.com/User.ReadBasic.All"))
	key := "obo:" + base64.URLEncoding.EncodeToString(sum[:]) + ":" + base64.RawURLEncoding.EncodeToString(scopes[:9])
	blob, _, err := a.cache.Store.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("no sealed OBO entry %s: %v", key, err)
	}
	if strings.Contains(string(blob), "eyJ") || strings.Contains(string(blob), `"at"`) {
		t.Error("the sealed OBO entry holds a token in clear")
	}

	// Another replica sharing the store: no exchange, the sealed token.
	b := startApp(t, tt, appOptions{TokenStore: a.cache.Store, Keys: a.cache.Keys})
	if r := callAPI(t, b, "/api/me", tok); r.status != http.StatusOK {
		t.Fatalf("replica /api/me: %d %s", r.status, r.body)
	}
	if m := metricsText(t, b); !strings.Contains(m, `entrakit_obo_acquisitions_total{source="cache"} 1`) || strings.Contains(m, `source="entra"`) {
		t.Errorf("the replica exchanged the token again:\n%s", grepLines(m, "obo"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// resign returns tok with its header replaced by header (JSON) and, when
// key is not nil, signed RS256 with key; with a nil key the signature is
// dropped (alg none).
func resign(t testing.TB, tok, header string, edit func(map[string]any), key *rsa.PrivateKey) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		if payload, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(payload)
	if key == nil {
		return signing + "."
	}
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestAPIRefusesHostileTokens: every token that is not a current access
// token for this API, issued by this tenant to a user with access_as_user
// (or to a daemon with the role, on the report), gets a JSON error with an
// RFC 6750 challenge, and Graph is never called for it.
func TestAPIRefusesHostileTokens(t *testing.T) {
	tt := startTenant(t)
	var skew time.Duration
	var mu sync.Mutex
	a := startApp(t, tt, appOptions{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skew) }})
	user := userTokens(t, tt, "AdeleV", apiScope)
	graph := userTokens(t, tt, "AdeleV", "User.Read")
	selfApp := appToken(t, tt, infra.Apps().WebApp) // app-only, no role
	daemon := appToken(t, tt, infra.Apps().Daemon)  // app-only, Reports.Read.All
	kid := tt.srv.SigningKeyID()
	attacker, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	header := `{"typ":"JWT","alg":"RS256","kid":"` + kid + `"}`
	otherTenant := "8f3c2d1e-0a9b-4c7d-8e6f-5a4b3c2d1e0f"

	graphCalls := func() string { return grepLines(metricsText(t, a), "entrakit_graph_requests_total") }
	before := graphCalls()
	for _, tc := range []struct {
		name, path, token string
		header            []string
		status            int
		code              string // the JSON error and WWW-Authenticate error
	}{
		{"no token", "/api/me", "", nil, 401, "unauthorized"},
		{"basic auth", "/api/me", "", []string{"Authorization", "Basic YWRlbGU6cGFzc3dvcmQ="}, 401, "unauthorized"},
		{"two bearer headers", "/api/me", "", []string{"Authorization", "Bearer " + user.AccessToken, "Authorization", "Bearer " + user.AccessToken}, 400, "invalid_request"},
		{"not a JWS", "/api/me", "", []string{"Authorization", "Bearer not-a-token"}, 401, "invalid_token"},
		{"Graph access token", "/api/me", graph.AccessToken, nil, 401, "invalid_token"},
		{"ID token", "/api/me", user.IDToken.RawToken, nil, 401, "invalid_token"},
		{"app-only token on a user endpoint", "/api/me", daemon, nil, 401, "invalid_token"},
		{"app token without the role", "/api/reports/usage", selfApp, nil, 403, "insufficient_scope"},
		{"user token on the daemon endpoint", "/api/reports/usage", user.AccessToken, nil, 401, "invalid_token"},
		{"alg none", "/api/me", resign(t, user.AccessToken, `{"typ":"JWT","alg":"none","kid":"`+kid+`"}`, nil, nil), nil, 401, "invalid_token"},
		{"signed by another key", "/api/me", resign(t, user.AccessToken, header, nil, attacker), nil, 401, "invalid_token"},
		{"scope raised, signed by another key", "/api/me", resign(t, user.AccessToken, header, func(m map[string]any) { m["scp"] = "access_as_user Admin" }, attacker), nil, 401, "invalid_token"},
		{"another tenant", "/api/me", resign(t, user.AccessToken, header, func(m map[string]any) {
			m["tid"] = otherTenant
			m["iss"] = strings.Replace(m["iss"].(string), tt.srv.TenantID(), otherTenant, 1)
		}, attacker), nil, 401, "invalid_token"},
		{"truncated signature", "/api/me", user.AccessToken[:len(user.AccessToken)-8], nil, 401, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := callAPI(t, a, tc.path, tc.token, tc.header...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			var e struct{ Error, ErrorDescription string }
			r.json(t, &e)
			if e.Error != tc.code {
				t.Errorf("error %q, want %q (%s)", e.Error, tc.code, r.body)
			}
			ch := r.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, "Bearer") || (tc.code != "unauthorized" && !strings.Contains(ch, `error="`+tc.code+`"`)) {
				t.Errorf("WWW-Authenticate %q", ch)
			}
			if strings.Contains(string(r.body), "eyJ") || strings.Contains(ch, "eyJ") {
				t.Error("the answer echoes a token")
			}
		})
	}
	if after := graphCalls(); after != before {
		t.Errorf("Graph was called for a refused token:\nbefore %s\nafter %s", before, after)
	}

	// The daemon's token reads the report.
	r := callAPI(t, a, "/api/reports/usage", daemon)
	if r.status != http.StatusOK {
		t.Fatalf("report: %d %s", r.status, r.body)
	}
	var rep struct {
		Caller      string
		APIRequests []struct {
			Route, Code string
			Count       int
		}
	}
	r.json(t, &rep)
	if rep.Caller != infra.Apps().Daemon || len(rep.APIRequests) == 0 {
		t.Errorf("report %s", r.body)
	}

	// Expired: the API's clock two hours on.
	mu.Lock()
	skew = 2 * time.Hour
	mu.Unlock()
	r = callAPI(t, a, "/api/me", user.AccessToken)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), "expired") {
		t.Errorf("expired token: %d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
	}
	if strings.Contains(a.log.String(), user.AccessToken[strings.LastIndexByte(user.AccessToken, '.')+1:]) {
		t.Error("the log holds a token")
	}
}

// TestAPICORS: browsers at the app's own origin or a configured one may
// call the API (bearer tokens, no cookies); any other origin gets no CORS
// headers, and its preflight is refused.
func TestAPICORS(t *testing.T) {
	tt := startTenant(t)
	const spaElsewhere = "https://spa.example.com"
	a := startApp(t, tt, appOptions{APIOrigins: []string{spaElsewhere}})
	for _, tc := range []struct {
		name, origin string
		allowed      bool
	}{
		{"own origin", a.URL, true},
		{"configured origin", spaElsewhere, true},
		{"other origin", "https://evil.example", false},
		{"configured origin with a path-like suffix", spaElsewhere + ".evil.example", false},
		{"null origin", "null", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodOptions, a.URL+"/api/me", nil)
			req.Header.Set("Origin", tc.origin)
			req.Header.Set("Access-Control-Request-Method", "GET")
			req.Header.Set("Access-Control-Request-Headers", "authorization")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			acao := resp.Header.Get("Access-Control-Allow-Origin")
			if tc.allowed {
				if resp.StatusCode != http.StatusNoContent || acao != tc.origin ||
					!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
					t.Errorf("preflight: %d, ACAO %q, headers %q", resp.StatusCode, acao, resp.Header.Get("Access-Control-Allow-Headers"))
				}
			} else if resp.StatusCode != http.StatusForbidden || acao != "" {
				t.Errorf("preflight from %s: %d, ACAO %q", tc.origin, resp.StatusCode, acao)
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("the API allows credentials cross-origin")
			}

			// The actual request: a 401 the page can read only when allowed.
			r := callAPI(t, a, "/api/me", "", "Origin", tc.origin)
			if got := r.header.Get("Access-Control-Allow-Origin"); (got == tc.origin) != tc.allowed || (!tc.allowed && got != "") {
				t.Errorf("GET from %s: ACAO %q", tc.origin, got)
			}
			if tc.allowed && !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
				t.Errorf("WWW-Authenticate not exposed: %q", r.header.Get("Access-Control-Expose-Headers"))
			}
			if !strings.Contains(r.header.Get("Vary"), "Origin") {
				t.Errorf("Vary %q lacks Origin", r.header.Get("Vary"))
			}
		})
	}
	// Unknown API paths answer JSON, not the HTML error page.
	if r := callAPI(t, a, "/api/nope", ""); r.status != http.StatusNotFound || !strings.Contains(string(r.body), `"not_found"`) {
		t.Errorf("/api/nope: %d %s", r.status, r.body)
	}
}

// TestAPIConsentMissing: without consent for the API to call Graph for the
// user, Entra refuses the exchange (AADSTS65001) and the caller gets a
// 403 saying so.
func TestAPIConsentMissing(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	tok := userTokens(t, tt, "AdeleV", apiScope).AccessToken
	tt.srv.Directory.RevokeConsent(infra.Apps().WebApp, "00000003-0000-0000-c000-000000000000", "")
	r := callAPI(t, a, "/api/me", tok)
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), `"consent_required"`) ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("%d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.body)
	}
	if !strings.Contains(a.log.String(), "65001") {
		t.Errorf("the log does not name AADSTS65001:\n%s", a.log)
	}
}

// TestAPIClaimsChallengeAfterRevocation: the user's sessions are revoked
// (CAE). Graph refuses the API's OBO token with a claims challenge; the
// API asks Entra again with the claims, Entra refuses the caller's token
// (issued before the revocation), and the caller gets 401
// insufficient_claims with Graph's claims, base64, as Graph itself sends
// them: msal-browser re-authenticates with them. A token from the new
// sign-in works.
func TestAPIClaimsChallengeAfterRevocation(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	res := userTokens(t, tt, "AdeleV", apiScope)
	if r := callAPI(t, a, "/api/me", res.AccessToken); r.status != http.StatusOK {
		t.Fatalf("/api/me: %d %s", r.status, r.body)
	}
	if err := tt.srv.RevokeUser(res.IDToken.Oid); err != nil {
		t.Fatal(err)
	}
	r := callAPI(t, a, "/api/me", res.AccessToken)
	ch := r.header.Get("WWW-Authenticate")
	if r.status != http.StatusUnauthorized || !strings.Contains(ch, `error="insufficient_claims"`) || !strings.Contains(string(r.body), `"insufficient_claims"`) {
		t.Fatalf("after revocation: %d %q %s\n%s", r.status, ch, r.body, a.log)
	}
	i := strings.Index(ch, `claims="`)
	if i < 0 {
		t.Fatalf("no claims in %q", ch)
	}
	enc := ch[i+len(`claims="`):]
	enc = enc[:strings.IndexByte(enc, '"')]
	claims, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || !json.Valid(claims) || !strings.Contains(string(claims), `"access_token"`) {
		t.Fatalf("claims %q: %v", claims, err)
	}
	if !strings.Contains(a.log.String(), "50173") {
		t.Errorf("the log does not show Entra's refusal (AADSTS50173)")
	}
	// The client signs in again (with the claims) and calls with the new token.
	fresh := userTokens(t, tt, "AdeleV", apiScope)
	if r := callAPI(t, a, "/api/me", fresh.AccessToken); r.status != http.StatusOK {
		t.Fatalf("with a token from after the revocation: %d %s", r.status, r.body)
	}
}

// TestAPIReportClients: with Config.APIReportClients, only those daemons
// read the report, whatever role another app holds.
func TestAPIReportClients(t *testing.T) {
	tt := startTenant(t)
	daemonToken := appToken(t, tt, infra.Apps().Daemon)
	for _, tc := range []struct {
		clients []string
		status  int
	}{
		{[]string{infra.Apps().Daemon}, http.StatusOK},
		{[]string{infra.Apps().CLI}, http.StatusUnauthorized},
	} {
		a := startApp(t, tt, appOptions{ReportClients: tc.clients})
		if r := callAPI(t, a, "/api/reports/usage", daemonToken); r.status != tc.status {
			t.Errorf("clients %v: %d %s", tc.clients, r.status, r.body)
		}
	}
}
