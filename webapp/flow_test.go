package webapp_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSignInMeSignOut walks the whole path a person takes, with both
// response modes: sign in, see the profile and photo, sign out.
func TestSignInMeSignOut(t *testing.T) {
	tt := startTenant(t)
	for _, mode := range []string{"form_post", "query"} {
		t.Run(mode, func(t *testing.T) {
			a := startApp(t, tt, appOptions{ResponseMode: mode})
			u := newUser(t, tt, "AdeleV")

			home := u.get(a.URL + "/")
			mustContain(t, home.Body, `href="/signin"`)
			if got := u.cookie(a, "__Host-entrakit"); got != "" {
				t.Errorf("an anonymous visit stored a session cookie")
			}

			// /me sends an anonymous browser to sign in, and back after.
			me := u.get(a.URL + "/me")
			if me.Status != http.StatusFound || me.Location != "/signin?returnTo=%2Fme" {
				t.Fatalf("anonymous /me: %d %q", me.Status, me.Location)
			}
			start := u.get(a.URL + me.Location)
			loc, _ := url.Parse(start.Location)
			q := loc.Query()
			if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || len(q.Get("state")) < 43 {
				t.Errorf("authorize request lacks PKCE S256, nonce or a 256-bit state: %s", start.Location)
			}
			if mode == "form_post" && q.Get("response_mode") != "form_post" || mode == "query" && q.Has("response_mode") {
				t.Errorf("response_mode = %q for %s", q.Get("response_mode"), mode)
			}
			cb := u.authorize(a, start.Location)
			if cb.Status != http.StatusSeeOther || cb.Location != "/me" {
				t.Fatalf("callback: %d %q %s", cb.Status, cb.Location, cb.Body)
			}
			sid := u.cookie(a, "__Host-entrakit")
			if sid == "" {
				t.Fatal("no session cookie after sign-in")
			}
			for _, c := range cb.Header.Values("Set-Cookie") {
				if strings.HasPrefix(c, "__Host-entrakit=") {
					for _, attr := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
						if !strings.Contains(c, attr) {
							t.Errorf("session cookie lacks %s: %s", attr, c)
						}
					}
					if strings.Contains(c, "Domain=") {
						t.Errorf("a __Host- cookie must not name a domain: %s", c)
					}
				}
			}

			me = u.get(a.URL + "/me")
			if me.Status != http.StatusOK {
				t.Fatalf("/me: %d %s", me.Status, me.Body)
			}
			mustContain(t, me.Body, "Adele Vance", u.persona.Username, `src="/me/photo"`)
			if cc := me.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("/me Cache-Control = %q", cc)
			}
			photo := u.get(a.URL + "/me/photo")
			if photo.Status != http.StatusOK || !strings.HasPrefix(photo.Header.Get("Content-Type"), "image/") || len(photo.Body) < 50 {
				t.Errorf("/me/photo: %d %q %d bytes", photo.Status, photo.Header.Get("Content-Type"), len(photo.Body))
			}

			claims := u.get(a.URL + "/claims")
			mustContain(t, claims.Body, "<code>oid</code>", u.persona.OID, "<code>nonce</code>", "Object id of the user")

			// Sign-out: a POST with the CSRF token, then Entra's logout, then
			// the signed-out page.
			out := u.post(a.URL+"/signout", url.Values{"csrf": {csrfOf(t, me.Body)}})
			if out.Status != http.StatusSeeOther || !strings.HasPrefix(out.Location, tt.srv.URL()+"/"+tt.srv.TenantID()+"/oauth2/v2.0/logout?") {
				t.Fatalf("sign-out: %d %q", out.Status, out.Location)
			}
			lq, _ := url.Parse(out.Location)
			if got := lq.Query().Get("post_logout_redirect_uri"); got != a.URL+"/signedout" {
				t.Errorf("post_logout_redirect_uri = %q", got)
			}
			if lq.Query().Has("id_token_hint") {
				t.Errorf("the ID token went into a URL: %s", out.Location)
			}
			if u.cookie(a, "__Host-entrakit") != "" {
				t.Error("the session cookie survived sign-out")
			}
			resp, err := tt.srv.Client().Get(out.Location)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Request.URL.String() != a.URL+"/signedout?state="+lq.Query().Get("state") {
				t.Errorf("Entra's logout went to %s", resp.Request.URL)
			}
			if got := u.get(a.URL + "/signedout"); got.Status != http.StatusOK || !strings.Contains(got.Body, "Signed out") {
				t.Errorf("/signedout: %d", got.Status)
			}

			// The old session id is dead even if replayed, and the tokens
			// are gone from the cache.
			replay, _ := http.NewRequest(http.MethodGet, a.URL+"/me", nil)
			replay.AddCookie(&http.Cookie{Name: "__Host-entrakit", Value: sid})
			if p := newUser(t, tt, "AdeleV").do(replay); p.Status != http.StatusFound {
				t.Errorf("replayed session cookie after sign-out: %d", p.Status)
			}
			if n := a.cache.Metrics.Writes.Load(); n == 0 {
				t.Error("the sign-in wrote nothing to the token cache")
			}
			// Sign-out leaves a tombstone (so a racing refresh cannot bring
			// the partition back): whatever is stored must hold no tokens.
			key := accountKey(t, a, u)
			if blob, _, err := a.cache.Store.Get(context.Background(), key); err == nil {
				if _, _, oerr := a.cache.Keys.Open(key, blob); oerr == nil {
					t.Error("the account's token cache partition survived sign-out")
				}
			}

			if strings.Contains(a.log.String(), sid) {
				t.Error("the session id was logged")
			}
		})
	}
}

// accountKey is the user's cache partition key (MSAL's home account id,
// oid.tid).
func accountKey(t testing.TB, a *app, u *user) string {
	return u.persona.OID + "." + a.t.srv.TenantID()
}

// TestSignOutSendsLogoutHint: the app registration asks for the login_hint
// optional claim, so sign-out names the account with logout_hint.
func TestSignOutSendsLogoutHint(t *testing.T) {
	_, a, u := signedIn(t, "MeganB", "/claims")
	claims := u.get(a.URL + "/claims")
	mustContain(t, claims.Body, "<code>login_hint</code>")
	out := u.post(a.URL+"/signout", url.Values{"csrf": {csrfOf(t, claims.Body)}})
	lq, _ := url.Parse(out.Location)
	if lq.Query().Get("logout_hint") == "" {
		t.Errorf("no logout_hint in %s", out.Location)
	}
}

// TestPhotoFallsBackToInitials: a user without a photo (Graph answers 404
// ImageNotFound) gets an SVG of their initials, the app's own, not an error.
func TestPhotoFallsBackToInitials(t *testing.T) {
	_, a, u := signedIn(t, "GradyA", "/me")
	p := u.get(a.URL + "/me/photo")
	if p.Status != http.StatusOK || p.Header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("/me/photo: %d %q", p.Status, p.Header.Get("Content-Type"))
	}
	mustContain(t, p.Body, ">GA</text>", `aria-label="GA"`)
	if strings.Contains(p.Body, "<script") {
		t.Error("the initials SVG carries script")
	}
}
