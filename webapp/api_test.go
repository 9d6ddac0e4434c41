package webapp_test

import (
	"context"
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
	browser := tt.srv.NewBrowser(p.Username, p.Password)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	res, err := app.AcquireTokenInteractive(ctx, scopes, public.WithOpenURL(func(u string) error {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := browser.Authorize(ctx, u)
			if err == nil {
				var hr *http.Response
				if hr, err = resp.Deliver(ctx, http.DefaultClient); err == nil {
					hr.Body.Close()
				}
			}
			errc <- err
		}()
		return nil
	}))
	wg.Wait()
	if err != nil {
		t.Fatalf("sign-in for %v: %v", scopes, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
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
