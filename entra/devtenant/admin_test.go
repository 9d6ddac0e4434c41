package devtenant_test

// The admin HTTP API under /admin/ (Authorization: Bearer <AdminKey>), and the
// request log, which must never carry a secret.

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
)

// adminAPI calls the admin API of srv.
type adminAPI struct {
	srv *devtenant.Server
	hc  *http.Client
}

// call sends body (JSON, or nothing when "") with the given admin key ("" for
// no Authorization header) and returns the status, the headers and the body.
func (a adminAPI) call(t *testing.T, method, path, key, body string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, a.srv.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, b := send(t, a.hc, req)
	return resp.StatusCode, resp.Header, b
}

// ok calls with the admin key and requires wantStatus; it decodes the JSON
// answer into out (when not nil).
func (a adminAPI) ok(t *testing.T, method, path, body string, wantStatus int, out any) {
	t.Helper()
	status, _, b := a.call(t, method, path, a.srv.AdminKey(), body)
	if status != wantStatus {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, status, wantStatus, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// daemonToken asks for a client-credentials token for scope.
func adminDaemonToken(t *testing.T, srv *devtenant.Server, scope string) wireResp {
	t.Helper()
	w := wire{srv: srv, hc: srv.Client()}
	return w.token(t, w.daemonForm(srv.ClientSecret(daemonAppID), scope), nil)
}

func TestAdminAPI(t *testing.T) {
	srv := startTenant(t)
	a := adminAPI{srv: srv, hc: srv.Client()}

	t.Run("needs the admin key", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, path, key, body string
		}{
			{"no key", "GET", "/admin/personas", "", ""},
			{"wrong key", "GET", "/admin/personas", "not-the-" + srv.AdminKey(), ""},
			{"key with a suffix", "GET", "/admin/personas", srv.AdminKey() + "x", ""},
			{"no key, mutating", "POST", "/admin/clock", "", `{"advance":"240h"}`},
			{"wrong key, mutating", "POST", "/admin/users", "wrong", `{"userPrincipalName":"mallory@contoso.onmicrosoft.com","password":"Pa55-word-123"}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, hdr, b := a.call(t, tc.method, tc.path, tc.key, tc.body)
				if status != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s = %d (WWW-Authenticate %q): %s", tc.method, tc.path, status, hdr.Get("WWW-Authenticate"), b)
				}
			})
		}
		// Basic credentials are not the bearer key, even with the key as password.
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL()+"/admin/personas", nil)
		req.SetBasicAuth("admin", srv.AdminKey())
		if resp, _ := send(t, a.hc, req); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Basic auth = %d", resp.StatusCode)
		}
		if _, ok := srv.Persona("mallory"); ok {
			t.Error("an unauthenticated request created a user")
		}
	})

	t.Run("personas", func(t *testing.T) {
		var ps []devtenant.Persona
		a.ok(t, "GET", "/admin/personas", "", http.StatusOK, &ps)
		byAlias := map[string]devtenant.Persona{}
		admins, guests := 0, 0
		for _, p := range ps {
			alias, _, _ := strings.Cut(p.Username, "@")
			byAlias[alias] = p
			if p.Admin {
				admins++
			}
			if p.Guest {
				guests++
			}
		}
		if adele := byAlias["AdeleV"]; adele.Password == "" || !adele.Enabled || adele.OID != persona(t, srv, "AdeleV").OID {
			t.Errorf("AdeleV = %+v", adele)
		}
		if lynne, ok := byAlias["LynneR"]; !ok || lynne.Enabled {
			t.Errorf("LynneR = %+v, want present and disabled", lynne)
		}
		if admins != 1 || guests != 1 {
			t.Errorf("%d admins and %d guests, want one of each", admins, guests)
		}
		if !byAlias["admin"].Admin {
			t.Errorf("admin = %+v", byAlias["admin"])
		}
	})

	t.Run("users", func(t *testing.T) {
		const upn, password = "newhire@contoso.onmicrosoft.com", "Welcome-2-entrakit!"
		var created struct {
			ID                string `json:"id"`
			UserPrincipalName string `json:"userPrincipalName"`
		}
		a.ok(t, "POST", "/admin/users", `{"userPrincipalName":"`+upn+`","displayName":"New Hire","password":"`+password+`","department":"Retail"}`,
			http.StatusCreated, &created)
		if !guidRE.MatchString(created.ID) || created.UserPrincipalName != upn {
			t.Fatalf("created = %+v", created)
		}
		if p, ok := srv.Persona("newhire"); !ok || p.OID != created.ID || !p.Enabled {
			t.Errorf("Persona(newhire) = %+v, %v", p, ok)
		}
		// The same user twice is an error.
		status, _, b := a.call(t, "POST", "/admin/users", srv.AdminKey(), `{"userPrincipalName":"`+upn+`","password":"another-Pa55"}`)
		if status != http.StatusBadRequest {
			t.Errorf("duplicate user = %d: %s", status, b)
		}

		w := wire{srv: srv, hc: srv.Client()}
		signIn := func() (*devtenant.AuthResponse, error) {
			v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
			return srv.NewBrowser(upn, password).Authorize(t.Context(), w.authorizeURL(v))
		}
		resp, err := signIn()
		if err != nil || resp.Params.Get("code") == "" {
			t.Fatalf("new user's sign-in: %+v, %v", resp, err)
		}

		a.ok(t, "POST", "/admin/users/"+created.ID+"/disable", "", http.StatusOK, nil)
		_, err = signIn()
		var pe *devtenant.PageError
		if !errors.As(err, &pe) || pe.Code != 50057 {
			t.Errorf("disabled user's sign-in: %v, want AADSTS50057", err)
		}

		a.ok(t, "POST", "/admin/users/"+created.ID+"/enable", "", http.StatusOK, nil)
		if resp, err := signIn(); err != nil || resp.Params.Get("code") == "" {
			t.Errorf("re-enabled user's sign-in: %+v, %v", resp, err)
		}
	})

	t.Run("faults", func(t *testing.T) {
		a.ok(t, "POST", "/admin/faults", `{"endpoint":"token","status":429,"retryAfterSeconds":7,"count":1}`, http.StatusOK, nil)
		r := adminDaemonToken(t, srv, "https://graph.microsoft.com/.default")
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "7" {
			t.Errorf("faulted request = %d, Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
		checkEntraError(t, r, http.StatusTooManyRequests, r.s("error"), 0, "", "")
		if r := adminDaemonToken(t, srv, "https://graph.microsoft.com/.default"); r.Status != http.StatusOK {
			t.Errorf("request after the fault = %d: %s", r.Status, r.Raw)
		}

		// count 0: until cleared.
		a.ok(t, "POST", "/admin/faults", `{"endpoint":"token","status":503}`, http.StatusOK, nil)
		for range 2 {
			if r := adminDaemonToken(t, srv, "https://graph.microsoft.com/.default"); r.Status != http.StatusServiceUnavailable {
				t.Errorf("with a standing fault = %d", r.Status)
			}
		}
		a.ok(t, "DELETE", "/admin/faults", "", http.StatusOK, nil)
		if r := adminDaemonToken(t, srv, "https://graph.microsoft.com/.default"); r.Status != http.StatusOK {
			t.Errorf("after clearing the faults = %d: %s", r.Status, r.Raw)
		}
	})

	// A throttled SPA (msal-browser) must be able to read the 429 and its
	// Retry-After: without Access-Control-Allow-Origin the browser hides the
	// answer and reports a network error instead. The SPA's token errors
	// carry the header from its registered origins (spa_cors_test.go).
	t.Run("faults answer cross-origin requests with CORS", func(t *testing.T) {
		w := wire{srv: srv, hc: srv.Client()}
		origin := http.Header{"Origin": {"http://localhost:8080"}}
		other := w.token(t, url.Values{"grant_type": {"none"}, "client_id": {spaAppID}}, origin)
		if other.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Fatalf("a cross-origin token error without Access-Control-Allow-Origin: %d", other.Status)
		}
		a.ok(t, "POST", "/admin/faults", `{"endpoint":"token","status":429,"retryAfterSeconds":3,"count":1}`, http.StatusOK, nil)
		r := w.token(t, url.Values{"grant_type": {"refresh_token"}, "client_id": {spaAppID}, "refresh_token": {"x"}}, origin)
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("faulted request = %d", r.Status)
		}
		if r.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Error("the injected 429 has no Access-Control-Allow-Origin: a browser app cannot see it")
		}
	})

	t.Run("keys rotate", func(t *testing.T) {
		before := srv.SigningKeyID()
		var out struct {
			Kid string `json:"kid"`
		}
		a.ok(t, "POST", "/admin/keys/rotate", "", http.StatusOK, &out)
		after := srv.SigningKeyID()
		if after == before || out.Kid != after {
			t.Fatalf("kid before %q, after %q, answered %q", before, after, out.Kid)
		}
		// New tokens are signed with the new key.
		r := adminDaemonToken(t, srv, "api://"+webAppID+"/.default")
		if r.Status != http.StatusOK {
			t.Fatalf("token: %d %s", r.Status, r.Raw)
		}
		if kid := headerOf(t, r.s("access_token"))["kid"]; kid != after {
			t.Errorf("token kid = %v, want %q", kid, after)
		}
	})

	t.Run("clock", func(t *testing.T) {
		var out struct {
			Now string `json:"now"`
		}
		start := time.Now()
		a.ok(t, "POST", "/admin/clock", `{"advance":"2h"}`, http.StatusOK, &out)
		now, err := time.Parse(time.RFC3339, out.Now)
		if err != nil {
			t.Fatal(err)
		}
		if d := now.Sub(start); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
			t.Errorf("tenant now %s is %s ahead, want 2h", now, d)
		}
		r := adminDaemonToken(t, srv, "https://graph.microsoft.com/.default")
		iat, _ := claimsOf(t, r.s("access_token"))["iat"].(float64)
		if d := time.Unix(int64(iat), 0).Sub(start); d < 2*time.Hour-time.Minute || d > 2*time.Hour+time.Minute {
			t.Errorf("token iat is %s ahead of the real clock, want 2h", d)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		adele := persona(t, srv, "AdeleV")
		for _, tc := range []struct{ name, method, path, body string }{
			{"users: not JSON", "POST", "/admin/users", `{"userPrincipalName":`},
			{"users: no domain", "POST", "/admin/users", `{"userPrincipalName":"nodomain","password":"Pa55-word"}`},
			{"users: no password", "POST", "/admin/users", `{"userPrincipalName":"nopass@contoso.onmicrosoft.com"}`},
			{"users: unknown action", "POST", "/admin/users/" + adele.OID + "/promote", ""},
			{"users: unknown user", "POST", "/admin/users/" + wireGUID() + "/disable", ""},
			{"clock: not JSON", "POST", "/admin/clock", `advance=2h`},
			{"clock: not a duration", "POST", "/admin/clock", `{"advance":"soon"}`},
			{"faults: not JSON", "POST", "/admin/faults", `[1,2`},
			{"faults: unknown endpoint", "POST", "/admin/faults", `{"endpoint":"authorize","status":500}`},
			{"faults: not an error status", "POST", "/admin/faults", `{"endpoint":"token","status":200}`},
			{"consent: not JSON", "POST", "/admin/consent", `{`},
			{"consent: unknown scope", "POST", "/admin/consent", `{"clientId":"` + webAppID + `","resource":"` + devtenant.GraphAppID + `","scopes":["Mail.Frobnicate"]}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, hdr, b := a.call(t, tc.method, tc.path, srv.AdminKey(), tc.body)
				var out struct {
					Error string `json:"error"`
				}
				if status != http.StatusBadRequest || json.Unmarshal(b, &out) != nil || out.Error == "" ||
					!strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
					t.Errorf("%s %s = %d %q: %s", tc.method, tc.path, status, hdr.Get("Content-Type"), b)
				}
			})
		}
		// None of them changed anything.
		if r := adminDaemonToken(t, srv, "https://graph.microsoft.com/.default"); r.Status != http.StatusOK {
			t.Errorf("token after the bad fault requests = %d", r.Status)
		}
		if p := persona(t, srv, "AdeleV"); !p.Enabled {
			t.Error("AdeleV was disabled by a bad request")
		}
	})
}

func TestRequestLogHasNoSecrets(t *testing.T) {
	// The log goes to a file, as a deployed tenant's would: the server's
	// goroutines write it while the test reads it back.
	logPath := filepath.Join(t.TempDir(), "devtenant.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	readLog := func() string {
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	srv := startTenant(t, func(o *devtenant.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	w := wire{srv: srv, hc: srv.Client()}
	adele := persona(t, srv, "AdeleV")
	secrets := map[string]string{
		"daemon secret": srv.ClientSecret(daemonAppID),
		"web secret":    srv.ClientSecret(webAppID),
		"password":      adele.Password,
		"wrong secret":  "abc8Q~a-wrong-secret-that-must-not-be-logged",
		"admin key":     srv.AdminKey(),
	}

	// Client credentials with the secret, in the body and in Basic auth.
	cc := w.token(t, w.daemonForm(srv.ClientSecret(daemonAppID), "https://graph.microsoft.com/.default"), nil)
	if cc.Status != http.StatusOK {
		t.Fatalf("client credentials: %d %s", cc.Status, cc.Raw)
	}
	secrets["client-credentials access token"] = cc.s("access_token")
	basic := w.daemonForm("", "https://graph.microsoft.com/.default")
	basic.Del("client_id")
	req, _ := http.NewRequestWithContext(t.Context(), "POST", w.tokenURL(), strings.NewReader(basic.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(daemonAppID), url.QueryEscape(srv.ClientSecret(daemonAppID)))
	if resp, err := w.hc.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Basic client credentials: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	w.token(t, w.daemonForm(secrets["wrong secret"], "https://graph.microsoft.com/.default"), nil)

	// An authorization-code flow: password, code, tokens, refresh.
	code, verifier := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
	secrets["code"], secrets["verifier"] = code, verifier
	r := w.token(t, w.redeemForm(code, verifier), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("redeem: %d %s", r.Status, r.Raw)
	}
	secrets["refresh token"], secrets["access token"], secrets["id token"] = r.s("refresh_token"), r.s("access_token"), r.s("id_token")
	rr := w.token(t, w.refreshForm(r.s("refresh_token")), nil)
	secrets["second refresh token"] = rr.s("refresh_token")
	w.token(t, w.redeemForm(code, verifier), nil) // a replay, logged as an error
	// A wrong password on the form, and an admin call.
	v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
	secrets["wrong password"] = "not-" + adele.Password
	if _, err := srv.NewBrowser(adele.Username, secrets["wrong password"]).Authorize(t.Context(), w.authorizeURL(v)); err == nil {
		t.Fatal("wrong password signed in")
	}
	adminAPI{srv: srv, hc: w.hc}.ok(t, "GET", "/admin/personas", "", http.StatusOK, nil)

	// A last request with a marker, to know the log has caught up.
	marker := wireGUID()
	w.token(t, url.Values{"grant_type": {"none"}}, http.Header{"Client-Request-Id": {marker}})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(readLog(), marker) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	log := readLog()
	if !strings.Contains(log, marker) || !strings.Contains(log, "/oauth2/v2.0/token") || !strings.Contains(log, `"aadsts":54005`) {
		t.Fatalf("the log does not show the requests:\n%s", log)
	}
	for name, s := range secrets {
		if s == "" {
			t.Errorf("no %s to look for", name)
			continue
		}
		if strings.Contains(log, s) {
			t.Errorf("the log contains the %s", name)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", log)
	}
}
