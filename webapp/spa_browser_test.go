package webapp_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestBrowserSPA drives the single-page app at /spa/ — the real
// msal-browser, vendored from npm — in Chromium (testdata/browser/spa.mjs):
// sign in as a persona (authorization code flow with PKCE in the browser,
// the code redeemed cross-origin at the dev tenant), the profile fetched
// through /api/me and on-behalf-of, a user search through /api/users, a
// silent refresh after the access token expires, a claims challenge
// after the user's sessions are revoked, and sign-out. The script fails
// on any console error or failed request (except the one 401 with the
// claims challenge it expects). Screenshots (spa-*.png) go where
// TestBrowserSignIn's do.
func TestBrowserSPA(t *testing.T) {
	dir := browserDeps(t)
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	p, ok := tt.srv.Persona("AdeleV")
	if !ok {
		t.Fatal("no persona AdeleV")
	}
	// The script's way to act as an administrator mid-run: revoke the
	// persona's sessions, as revokeSignInSessions does.
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/revoke" {
			http.NotFound(w, r)
			return
		}
		if err := tt.srv.RevokeUser(p.OID); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(control.Close)
	elapsed := runBrowserScript(t, dir, "spa.mjs", tt, a,
		"ENTRAKIT_USERNAME="+p.Username,
		"ENTRAKIT_PASSWORD="+p.Password,
		"ENTRAKIT_DISPLAY_NAME="+p.DisplayName,
		"ENTRAKIT_SEARCH=Ale",
		"ENTRAKIT_SEARCH_EXPECT=Alex Wilber",
		"ENTRAKIT_CONTROL_URL="+control.URL,
	)
	t.Logf("Chromium ran the SPA through sign-in, OBO, refresh, a claims challenge and sign-out in %v", elapsed)
}
