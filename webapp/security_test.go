package webapp_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/tokencache"
)

const (
	sessionCookieName  = "__Host-entrakit"
	signInCookiePrefix = "__Host-entrakit-signin."
)

var (
	// corrRE is an error page's correlation id, a GUID as Entra writes it.
	corrRE      = regexp.MustCompile(`Correlation id: <code>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}</code>`)
	requestIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// randomID is a well-formed id (32 random bytes, base64url) that names nothing.
func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// in returns the same browser (same jar) reporting to t: helpers must fail
// the subtest that uses them, not its parent.
func (u *user) in(t testing.TB) *user {
	c := *u
	c.t = t
	return &c
}

// startSignIn is GET /signin: it returns the authorize URL and its state.
func (u *user) startSignIn(a *app, returnTo string) (authURL, state string) {
	u.t.Helper()
	p := u.get(a.URL + "/signin?returnTo=" + url.QueryEscape(returnTo))
	if p.Status != http.StatusFound {
		u.t.Fatalf("GET /signin: %d %s", p.Status, p.Body)
	}
	loc, err := url.Parse(p.Location)
	if err != nil {
		u.t.Fatal(err)
	}
	return p.Location, loc.Query().Get("state")
}

// authorizeOnly signs in at the dev tenant and returns the response meant
// for the app without delivering it, so a test can alter or replay it.
func (u *user) authorizeOnly(authURL string) *devtenant.AuthResponse {
	u.t.Helper()
	resp, err := u.browser.Authorize(context.Background(), authURL)
	if err != nil {
		u.t.Fatalf("authorize: %v", err)
	}
	return resp
}

// started is a browser that began a sign-in (so it holds the transaction
// cookie) and signed in at the dev tenant, with Entra's answer undelivered.
// replayedSignIn completes a sign-in as AdeleV, then hands an attacker's
// browser her captured sign-in cookie and the response to deliver again.
func replayedSignIn(t *testing.T, tt *tenant, a *app) (*user, url.Values) {
	t.Helper()
	u, resp := started(t, tt, a, "AdeleV")
	ck := u.signInCookie(a)
	if p := u.deliver(a, resp.Mode, resp.Params); p.Status != http.StatusSeeOther {
		t.Fatalf("first callback: %d %s", p.Status, p.Body)
	}
	attacker := newUser(t, tt, "AlexW")
	attacker.setCookie(a, ck.Name, ck.Value)
	return attacker, resp.Params
}

func started(t *testing.T, tt *tenant, a *app, alias string) (*user, *devtenant.AuthResponse) {
	t.Helper()
	u := newUser(t, tt, alias)
	auth, _ := u.startSignIn(a, "/")
	return u, u.authorizeOnly(auth)
}

// send makes one request: form (if any) as the body, then header pairs.
func (u *user) send(method, rawURL string, form url.Values, header ...string) page {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, rawURL, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return u.do(req)
}

// deliver sends params to the callback the way mode does: a GET with the
// query, or the form_post POST.
func (u *user) deliver(a *app, mode string, params url.Values) page {
	u.t.Helper()
	if mode == "query" {
		return u.get(a.URL + "/auth/callback?" + params.Encode())
	}
	return u.post(a.URL+"/auth/callback", params)
}

// signInCookie is the browser's sign-in transaction cookie (nil if none).
func (u *user) signInCookie(a *app) *http.Cookie {
	base, _ := url.Parse(a.URL)
	for _, c := range u.client.Jar.Cookies(base) {
		if strings.HasPrefix(c.Name, signInCookiePrefix) {
			return c
		}
	}
	return nil
}

// setCookie plants a cookie in the browser, as an attacker able to write
// cookies for the site (a sibling subdomain without __Host-, a MITM on http)
// would.
func (u *user) setCookie(a *app, name, value string) {
	base, _ := url.Parse(a.URL)
	u.client.Jar.SetCookies(base, []*http.Cookie{{Name: name, Value: value, Path: "/", Secure: true}})
}

// sessionSet is the non-empty session cookie a response sets, or "".
func sessionSet(p page) string {
	for _, c := range p.Header.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(c, sessionCookieName+"="); ok {
			if v, _, _ = strings.Cut(v, ";"); v != "" {
				return v
			}
		}
	}
	return ""
}

// mustBeSignedOut: /me sends the browser to sign in.
func mustBeSignedOut(t testing.TB, u *user, a *app) {
	t.Helper()
	if p := u.in(t).get(a.URL + "/me"); p.Status != http.StatusFound || !strings.HasPrefix(p.Location, "/signin?") {
		t.Errorf("the browser is signed in: /me answered %d %q", p.Status, p.Location)
	}
}

// TestCallbackRefusesStaleOrForgedState: a callback whose state is not a
// transaction this browser started, still open, and unexpired is refused
// with a way to start again, and signs nobody in (login CSRF, replay).
func TestCallbackRefusesStaleOrForgedState(t *testing.T) {
	tt := startTenant(t)
	// setup returns the browser that delivers params, and whether it was
	// legitimately signed in before (then its session must not change).
	type setup func(t *testing.T, a *app, clk *graphClock) (u *user, params url.Values, signedIn bool)
	// own: the browser's own response, altered, after the clock moved by d.
	own := func(alter func(url.Values), d time.Duration) setup {
		return func(t *testing.T, a *app, clk *graphClock) (*user, url.Values, bool) {
			u, resp := started(t, tt, a, "AdeleV")
			alter(resp.Params)
			clk.Advance(d)
			return u, resp.Params, false
		}
	}
	keep := func(url.Values) {}
	cases := []struct {
		name  string
		setup setup
	}{
		{"no sign-in cookie", func(t *testing.T, a *app, _ *graphClock) (*user, url.Values, bool) {
			// A real response, delivered by a browser that never started
			// this sign-in (an attacker's page posting its own code).
			_, resp := started(t, tt, a, "AlexW")
			return newUser(t, tt, "AdeleV"), resp.Params, false
		}},
		{"cookie for another state", func(t *testing.T, a *app, _ *graphClock) (*user, url.Values, bool) {
			victim := newUser(t, tt, "AdeleV")
			victim.startSignIn(a, "/")
			_, resp := started(t, tt, a, "AlexW")
			return victim, resp.Params, false
		}},
		{"cookie named for the state, holding another state", func(t *testing.T, a *app, _ *graphClock) (*user, url.Values, bool) {
			victim := newUser(t, tt, "AdeleV")
			_, victimState := victim.startSignIn(a, "/")
			attacker, resp := started(t, tt, a, "AlexW")
			victim.setCookie(a, attacker.signInCookie(a).Name, victimState)
			return victim, resp.Params, false
		}},
		{"state missing", own(func(p url.Values) { p.Del("state") }, 0)},
		{"forged state", own(func(p url.Values) { p.Set("state", randomID()) }, 0)},
		{"replayed by the same browser", func(t *testing.T, a *app, _ *graphClock) (*user, url.Values, bool) {
			u, resp := started(t, tt, a, "AdeleV")
			if p := u.deliver(a, resp.Mode, resp.Params); p.Status != http.StatusSeeOther {
				t.Fatalf("first callback: %d %s", p.Status, p.Body)
			}
			return u, resp.Params, true
		}},
		{"replayed with the captured sign-in cookie", func(t *testing.T, a *app, _ *graphClock) (*user, url.Values, bool) {
			// The cookie check passes; the store's tombstone must refuse.
			attacker, params := replayedSignIn(t, tt, a)
			return attacker, params, false
		}},
		// Past the 10 min lifetime but still in the store (11 min TTL): the
		// transaction's own expiry refuses; then long gone from the store.
		{"transaction expired", own(keep, 10*time.Minute+30*time.Second)},
		{"transaction expired and gone from the store", own(keep, 20*time.Minute)},
	}
	for _, mode := range []string{"form_post", "query"} {
		t.Run(mode, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					clk := newGraphClock()
					a := startApp(t, tt, appOptions{ResponseMode: mode, Now: clk.Now,
						SessionStore: tokencache.NewMemoryStore(tokencache.MemoryOptions{Now: clk.Now})})
					u, params, signedIn := tc.setup(t, a, clk)
					u = u.in(t)
					before := u.cookie(a, sessionCookieName)
					p := u.deliver(a, mode, params)
					if p.Status != http.StatusBadRequest {
						t.Fatalf("callback: %d %q, want 400", p.Status, p.Location)
					}
					mustContain(t, p.Body, `href="/signin"`, "This sign-in cannot continue")
					if v := sessionSet(p); v != "" {
						t.Errorf("a refused callback set a session cookie")
					}
					if u.cookie(a, sessionCookieName) != before {
						t.Errorf("a refused callback changed the browser's session")
					}
					if signedIn {
						if me := u.get(a.URL + "/me"); me.Status != http.StatusOK {
							t.Errorf("a refused replay ended the session the first callback started: /me %d", me.Status)
						}
					} else {
						mustBeSignedOut(t, u, a)
					}
				})
			}
		})
	}
}

// TestSignInErrorsFromEntra: Entra's error answers become pages a person
// understands, with the correlation id an administrator needs.
func TestSignInErrorsFromEntra(t *testing.T) {
	tt := startTenant(t)
	corr := "5b4e2c1d-7a8f-4e3b-9c6d-0f1a2b3c4d5e"
	entraDesc := func(first string) string {
		return first + "\r\nTrace ID: 0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6\r\nCorrelation ID: " + corr + "\r\nTimestamp: 2025-06-01 10:00:00Z"
	}
	cases := []struct {
		name   string
		params func(t *testing.T, u *user, auth, state string) url.Values
		status int
		want   []string
	}{
		{"user declines consent at the dev tenant", func(t *testing.T, u *user, auth, _ string) url.Values {
			// The default scopes are admin-consented: prompt=consent makes
			// the dev tenant show the consent page anyway.
			au, _ := url.Parse(auth)
			q := au.Query()
			q.Set("prompt", "consent")
			au.RawQuery = q.Encode()
			u.browser.Consent = "decline"
			params := u.authorizeOnly(au.String()).Params
			if params.Get("error") != "access_denied" {
				t.Fatalf("the dev tenant answered %v, want access_denied", params)
			}
			return params
		}, http.StatusForbidden, []string{"You cancelled", `href="/signin"`}},
		// The correlation id is a regression check: the cancelled branch
		// once matched entra.ErrUserCancelled in a || that short-circuited
		// before errors.As filled ae, so the page lost the id.
		{"access_denied as Entra sends it", func(_ *testing.T, _ *user, _, state string) url.Values {
			return url.Values{"error": {"access_denied"}, "state": {state},
				"error_description": {entraDesc("AADSTS65004: User declined to consent to access the app.")}}
		}, http.StatusForbidden, []string{"You cancelled", corr, `href="/signin"`}},
		{"another AADSTS error", func(_ *testing.T, _ *user, _, state string) url.Values {
			return url.Values{"error": {"invalid_request"}, "state": {state}, "error_description": {entraDesc(
				"AADSTS50011: The redirect URI 'https://x.example/cb' specified in the request does not match the redirect URIs configured for the application.")}}
		}, http.StatusBadRequest, []string{"Sign-in failed", "AADSTS50011", "does not match the redirect URIs", corr, `href="/signin"`}},
		{"token endpoint refuses the code", func(_ *testing.T, _ *user, _, state string) url.Values {
			return url.Values{"code": {"1.A" + randomID()}, "state": {state}}
		}, http.StatusBadGateway, []string{"Sign-in failed", "AADSTS9002313", `href="/signin"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startApp(t, tt, appOptions{})
			u := newUser(t, tt, "AdeleV")
			auth, state := u.startSignIn(a, "/me")
			p := u.deliver(a, "form_post", tc.params(t, u, auth, state))
			if p.Status != tc.status {
				t.Fatalf("callback: %d, want %d\n%s", p.Status, tc.status, p.Body)
			}
			mustContain(t, p.Body, tc.want...)
			if tc.status == http.StatusBadGateway && !corrRE.MatchString(p.Body) {
				t.Errorf("the token error page shows no correlation id:\n%s", p.Body)
			}
			if strings.Contains(p.Body, "Trace ID") || strings.Contains(p.Body, "Timestamp:") {
				t.Errorf("the page shows Entra's whole description, not its first line:\n%s", p.Body)
			}
			if sessionSet(p) != "" {
				t.Error("a failed sign-in set a session cookie")
			}
			mustBeSignedOut(t, u, a)
		})
	}
}

// TestSessionFixation: a session id the browser carried before sign-in,
// planted or real, is never the one after it, and no longer opens.
func TestSessionFixation(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})

	t.Run("planted unknown id", func(t *testing.T) {
		u := newUser(t, tt, "AdeleV")
		planted := randomID()
		u.setCookie(a, sessionCookieName, planted)
		if p := u.get(a.URL + "/signin"); sessionSet(p) != "" {
			t.Error("starting a sign-in stored an anonymous session")
		}
		u.signIn(a, "/")
		if got := u.cookie(a, sessionCookieName); got == "" || got == planted {
			t.Fatalf("session after sign-in = %q, planted %q", got, planted)
		}
		other := newUser(t, tt, "AlexW")
		other.setCookie(a, sessionCookieName, planted)
		mustBeSignedOut(t, other, a)
	})

	t.Run("attacker's own signed-in session planted", func(t *testing.T) {
		attacker := newUser(t, tt, "AlexW")
		attacker.signIn(a, "/")
		planted := attacker.cookie(a, sessionCookieName)
		victim := newUser(t, tt, "AdeleV")
		victim.setCookie(a, sessionCookieName, planted)
		victim.signIn(a, "/")
		if got := victim.cookie(a, sessionCookieName); got == planted {
			t.Fatal("the victim signed in on the planted session id")
		}
		if me := victim.get(a.URL + "/me"); me.Status != http.StatusOK || !strings.Contains(me.Body, "Adele Vance") {
			t.Errorf("victim's /me: %d", me.Status)
		}
		// The callback ended the session the browser came with.
		mustBeSignedOut(t, attacker, a)
	})

	t.Run("form_post callback without the Lax session cookie", func(t *testing.T) {
		u := newUser(t, tt, "AdeleV")
		u.signIn(a, "/")
		old := u.cookie(a, sessionCookieName)
		auth, _ := u.startSignIn(a, "/") // SSO at the dev tenant
		resp := u.authorizeOnly(auth)
		// A browser sends only the SameSite=None sign-in cookie with
		// Entra's cross-site POST; the prior session must still die.
		ck := u.signInCookie(a)
		p := newUser(t, tt, "AdeleV").send(http.MethodPost, resp.RedirectURI, resp.Params, "Cookie", ck.Name+"="+ck.Value)
		if p.Status != http.StatusSeeOther {
			t.Fatalf("callback: %d %s", p.Status, p.Body)
		}
		if sid := sessionSet(p); sid == "" || sid == old {
			t.Errorf("new session %q, old %q", sid, old)
		}
		mustBeSignedOut(t, u, a) // u still holds the old id
	})
}

// TestStateChangingPostsNeedCSRF: sign-out and revoke refuse a POST
// without this session's token, or one the browser marks cross-site; a
// refused POST changes nothing.
func TestStateChangingPostsNeedCSRF(t *testing.T) {
	tt, a, u := signedIn(t, "AdeleV", "/")
	token := csrfOf(t, u.get(a.URL+"/").Body)
	other := newUser(t, tt, "AlexW")
	other.signIn(a, "/")
	otherToken := csrfOf(t, other.get(a.URL+"/").Body)

	cases := []struct {
		name, path, token, site string
	}{
		{"sign-out without a token", "/signout", "", ""},
		{"sign-out with a wrong token", "/signout", randomID(), ""},
		{"sign-out with another user's token", "/signout", otherToken, ""},
		{"sign-out with the token but cross-site", "/signout", token, "cross-site"},
		{"revoke without a token", "/challenge/revoke", "", ""},
		{"revoke with another user's token", "/challenge/revoke", otherToken, ""},
		{"revoke with the token but cross-site", "/challenge/revoke", token, "cross-site"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := u.in(t)
			form := url.Values{}
			if tc.token != "" {
				form.Set("csrf", tc.token)
			}
			if p := u.send(http.MethodPost, a.URL+tc.path, form, "Sec-Fetch-Site", tc.site); p.Status != http.StatusForbidden {
				t.Fatalf("POST %s: %d %q, want 403", tc.path, p.Status, p.Location)
			}
			// Still signed in, and not revoked (a revoked user's /me
			// would be sent back through sign-in).
			if me := u.get(a.URL + "/me"); me.Status != http.StatusOK {
				t.Errorf("after the refused POST /me answered %d %q", me.Status, me.Location)
			}
		})
	}
	t.Run("control: the right token from the same origin signs out", func(t *testing.T) {
		u := u.in(t)
		if p := u.send(http.MethodPost, a.URL+"/signout", url.Values{"csrf": {token}}, "Sec-Fetch-Site", "same-origin"); p.Status != http.StatusSeeOther {
			t.Fatalf("sign-out: %d", p.Status)
		}
		mustBeSignedOut(t, u, a)
	})
}

// TestSignInReturnToStaysLocal: whatever returnTo says, the browser lands
// on this site after sign-in (checklist: open redirect vectors).
func TestSignInReturnToStaysLocal(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	base, _ := url.Parse(a.URL)
	vectors := []struct{ returnTo, want string }{
		{"//evil.example", "/"}, {"///evil.example", "/"}, {`/\evil.example`, "/"}, {`/\/evil.example`, "/"},
		{"/%09/evil.example", "/"}, {"/%2F%2Fevil.example", "/"}, {"https://evil.example", "/"},
		{"http:evil.example", "/"}, {"javascript:alert(1)", "/"}, {"%0a", "/"}, {"%0b", "/"}, {"%0d", "/"},
		{"/\t/evil", "/"}, {"/\n/evil.example", "/"}, {`\\evil`, "/"}, {"https://localhost.evil.example/", "/"},
		{"/.evil.example", "/.evil.example"}, // a path on this site: allowed
		{"/claims?x=1", "/claims?x=1"},
	}
	for _, v := range vectors {
		// As given (query-escaped), and, for %-escapes, as a raw link
		// would carry them (decoded once more by the server).
		queries := []string{url.QueryEscape(v.returnTo)}
		if strings.Contains(v.returnTo, "%") {
			queries = append(queries, v.returnTo)
		}
		for _, q := range queries {
			t.Run(strconv.Quote(q), func(t *testing.T) {
				u := newUser(t, tt, "AdeleV")
				start := u.get(a.URL + "/signin?returnTo=" + q)
				if start.Status != http.StatusFound {
					t.Fatalf("GET /signin: %d", start.Status)
				}
				cb := u.authorize(a, start.Location)
				if cb.Status != http.StatusSeeOther {
					t.Fatalf("callback: %d", cb.Status)
				}
				loc := cb.Location
				lu, err := url.Parse(loc)
				if err != nil || lu.Scheme != "" || lu.Host != "" || !strings.HasPrefix(loc, "/") ||
					strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) || strings.ContainsAny(loc, "\\\t\r\n\v") {
					t.Fatalf("Location %q may leave the site", loc)
				}
				if abs := base.ResolveReference(lu); abs.Host != base.Host {
					t.Fatalf("Location %q resolves to %s", loc, abs.Host)
				}
				if loc != v.want {
					t.Errorf("Location = %q, want %q", loc, v.want)
				}
			})
		}
	}
}

// TestSessionTimeouts: a session unused for IdleTimeout ends; one kept
// alive ends anyway at AbsoluteTimeout after sign-in.
func TestSessionTimeouts(t *testing.T) {
	tt := startTenant(t)
	cases := []struct {
		name                    string
		idle, absolute          time.Duration // configured (0: defaults)
		wantIdle, wantAbs, step time.Duration
	}{
		{"configured", 10 * time.Minute, time.Hour, 10 * time.Minute, time.Hour, 5 * time.Minute},
		{"defaults", 0, 0, 30 * time.Minute, 8 * time.Hour, 25 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status := func(t *testing.T, u *user, a *app) int { return u.in(t).get(a.URL + "/me").Status }

			t.Run("idle", func(t *testing.T) {
				clk := newGraphClock()
				a := startApp(t, tt, appOptions{Now: clk.Now, Idle: tc.idle, Absolute: tc.absolute})
				u := newUser(t, tt, "AdeleV")
				u.signIn(a, "/")
				clk.Advance(tc.wantIdle - time.Minute)
				if s := status(t, u, a); s != http.StatusOK {
					t.Fatalf("/me just inside the idle timeout: %d", s)
				}
				clk.Advance(tc.wantIdle + time.Second) // idle since the last request
				p := u.in(t).get(a.URL + "/me")
				if p.Status != http.StatusFound || p.Location != "/signin?returnTo=%2Fme" {
					t.Fatalf("/me after the idle timeout: %d %q", p.Status, p.Location)
				}
			})

			t.Run("absolute", func(t *testing.T) {
				clk := newGraphClock()
				a := startApp(t, tt, appOptions{Now: clk.Now, Idle: tc.idle, Absolute: tc.absolute})
				u := newUser(t, tt, "AdeleV")
				u.signIn(a, "/")
				var elapsed time.Duration
				for elapsed+tc.step < tc.wantAbs {
					clk.Advance(tc.step)
					elapsed += tc.step
					if s := status(t, u, a); s != http.StatusOK {
						t.Fatalf("keep-alive at +%v: %d", elapsed, s)
					}
				}
				clk.Advance(tc.wantAbs - elapsed - time.Second)
				if s := status(t, u, a); s != http.StatusOK {
					t.Fatalf("/me a second before the absolute timeout: %d", s)
				}
				clk.Advance(2 * time.Second)
				mustBeSignedOut(t, u, a)
			})
		})
	}
}

// checkPageHeaders: what every page, error pages included, must carry.
func checkPageHeaders(t *testing.T, p page) {
	t.Helper()
	h := p.Header
	csp := h.Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	if directives["default-src"] != "'none'" || directives["frame-ancestors"] != "'none'" {
		t.Errorf("CSP lacks default-src 'none' or frame-ancestors 'none': %q", csp)
	}
	if s, ok := directives["script-src"]; ok && s != "'none'" {
		t.Errorf("CSP allows scripts: %q", csp)
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("CSP has an unsafe- source: %q", csp)
	}
	for name, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if cc := h.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q", cc)
	}
	if !requestIDRE.MatchString(h.Get("X-Request-Id")) {
		t.Errorf("X-Request-Id = %q", h.Get("X-Request-Id"))
	}
}

// TestSecurityHeaders: pages and error pages carry the CSP and friends;
// HSTS only when the request is https (here: from a trusted proxy that
// says so); X-Forwarded-Proto and X-Request-Id only from trusted proxies.
func TestSecurityHeaders(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	u := newUser(t, tt, "AdeleV")

	pages := []struct {
		name, method, path string
		status             int
	}{
		{"home", http.MethodGet, "/", http.StatusOK},
		{"signed out", http.MethodGet, "/signedout", http.StatusOK},
		{"not found", http.MethodGet, "/no/such/page", http.StatusNotFound},
		{"method not allowed", http.MethodPut, "/", http.StatusMethodNotAllowed},
		{"stale callback", http.MethodGet, "/auth/callback?state=" + randomID(), http.StatusBadRequest},
		{"csrf refusal", http.MethodPost, "/signout", http.StatusForbidden},
		{"profile (signed in)", http.MethodGet, "/me", http.StatusOK},
		{"claims (signed in)", http.MethodGet, "/claims", http.StatusOK},
	}
	u.signIn(a, "/")
	for _, pg := range pages {
		t.Run(pg.name, func(t *testing.T) {
			p := u.in(t).send(pg.method, a.URL+pg.path, nil)
			if p.Status != pg.status {
				t.Fatalf("%s %s: %d, want %d", pg.method, pg.path, p.Status, pg.status)
			}
			checkPageHeaders(t, p)
			if hsts := p.Header.Get("Strict-Transport-Security"); hsts != "" {
				t.Errorf("HSTS on plain http: %q", hsts)
			}
		})
	}

	trusted := startApp(t, tt, appOptions{Proxies: []string{"127.0.0.1"}})
	outside := startApp(t, tt, appOptions{Proxies: []string{"10.0.0.0/8"}})
	const incomingID = "proxy-req.42_abc"
	proxied := []struct {
		name      string
		app       *app
		proto, id string
		hsts      bool // Strict-Transport-Security expected
		echoID    bool // the incoming X-Request-Id expected back
	}{
		{"trusted proxy, https", trusted, "https", incomingID, true, true},
		{"trusted proxy, http", trusted, "http", incomingID, false, true},
		{"trusted proxy, malformed request id", trusted, "https", "bad id<script>", true, false},
		{"trusted proxy, overlong request id", trusted, "https", strings.Repeat("a", 65), true, false},
		{"no trusted proxies", a, "https", incomingID, false, false},
		{"peer outside the trusted CIDR", outside, "https", incomingID, false, false},
	}
	for _, pc := range proxied {
		t.Run(pc.name, func(t *testing.T) {
			p := newUser(t, tt, "AdeleV").send(http.MethodGet, pc.app.URL+"/", nil, "X-Forwarded-Proto", pc.proto, "X-Request-Id", pc.id)
			checkPageHeaders(t, p)
			if hsts := p.Header.Get("Strict-Transport-Security"); pc.hsts != strings.Contains(hsts, "max-age=") {
				t.Errorf("Strict-Transport-Security = %q, want present: %v", hsts, pc.hsts)
			}
			if got := p.Header.Get("X-Request-Id"); (got == pc.id) != pc.echoID {
				t.Errorf("X-Request-Id = %q for incoming %q, want echoed: %v", got, pc.id, pc.echoID)
			}
		})
	}
}

// cachedSecrets are the access, refresh and ID tokens in the user's sealed
// MSAL cache partition, by a name for the report.
func cachedSecrets(t *testing.T, a *app, u *user) map[string]string {
	t.Helper()
	doc, _, _ := partitionAccessTokens(t, a, accountKey(t, a, u))
	out := map[string]string{}
	for _, kind := range []string{"AccessToken", "RefreshToken", "IdToken"} {
		var entries map[string]struct {
			Secret string `json:"secret"`
		}
		if err := json.Unmarshal(doc[kind], &entries); err != nil || len(entries) == 0 {
			t.Fatalf("no %s in the cache partition (%v)", kind, err)
		}
		for key, e := range entries {
			out[kind+" "+key] = e.Secret
		}
	}
	return out
}

// TestLogsHoldNoSecrets: after a whole session, neither the app's log nor
// the dev tenant's holds a code, state, cookie, credential or token.
func TestLogsHoldNoSecrets(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	u := newUser(t, tt, "AdeleV")

	auth, state := u.startSignIn(a, "/me")
	au, _ := url.Parse(auth)
	resp := u.authorizeOnly(auth)
	if cb := u.deliver(a, resp.Mode, resp.Params); cb.Status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", cb.Status, cb.Body)
	}
	me := u.get(a.URL + "/me")
	if me.Status != http.StatusOK {
		t.Fatalf("/me: %d", me.Status)
	}
	secrets := map[string]string{
		"authorization code": resp.Params.Get("code"),
		"state":              state,
		"nonce":              au.Query().Get("nonce"),
		"session id":         u.cookie(a, sessionCookieName),
		"CSRF token":         csrfOf(t, me.Body),
		"client secret":      tt.srv.ClientSecret(webAppID),
		"password":           u.persona.Password,
		"JWT (eyJ)":          "eyJ",
	}
	for name, v := range cachedSecrets(t, a, u) {
		secrets[name] = v
	}
	if out := u.post(a.URL+"/signout", url.Values{"csrf": {secrets["CSRF token"]}}); out.Status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", out.Status)
	}
	logs := map[string]string{"app": a.log.String(), "dev tenant": tt.log.String()}
	for name, log := range logs {
		if !strings.Contains(log, `"request"`) {
			t.Fatalf("the %s log is empty: the test would prove nothing", name)
		}
		for what, s := range secrets {
			if s == "" {
				t.Fatalf("no %s captured", what)
			}
			if strings.Contains(log, s) {
				t.Errorf("the %s log holds the %s", name, what)
			}
		}
	}
}

// TestOpsEndpoints: health, readiness and the metrics an operator graphs.
func TestOpsEndpoints(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	u := newUser(t, tt, "AdeleV")

	if p := u.get(a.URL + "/healthz"); p.Status != http.StatusOK {
		t.Errorf("/healthz: %d", p.Status)
	}
	if p := u.get(a.URL + "/readyz"); p.Status != http.StatusOK || !strings.Contains(p.Body, "ready") {
		t.Errorf("/readyz: %d %q", p.Status, p.Body)
	}
	u.signIn(a, "/")
	if p := u.get(a.URL + "/me"); p.Status != http.StatusOK {
		t.Fatalf("/me: %d", p.Status)
	}
	if p := u.get(a.URL + "/metrics"); p.Status != http.StatusNotFound {
		t.Errorf("/metrics on the public listener: %d, want 404 (ops endpoints have their own listener)", p.Status)
	}
	m := metricsText(t, a)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^entrakit_http_requests_total\{code="200",method="GET",route="/me"\} [1-9]`),
		regexp.MustCompile(`(?m)^entrakit_signins_total\{result="completed"\} 1$`),
		regexp.MustCompile(`(?m)^entrakit_signins_total\{result="started"\} 1$`),
		regexp.MustCompile(`(?m)^entrakit_token_cache_hits_total [1-9]`),
		regexp.MustCompile(`(?m)^entrakit_graph_requests_total\{code="200"\} [1-9]`),
		regexp.MustCompile(`(?m)^entrakit_graph_request_duration_seconds_count [1-9]`),
	} {
		if !want.MatchString(m) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestBadInput: oversized, unknown and wrong-method requests get an error
// page, not a panic.
func TestBadInput(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	u := newUser(t, tt, "AdeleV")
	big := url.Values{"state": {strings.Repeat("a", 70<<10)}, "code": {"x"}}

	cases := []struct {
		name, method, path string
		form               url.Values
		status             int
		want               string
	}{
		{"callback body over 64 KiB", http.MethodPost, "/auth/callback", big, http.StatusBadRequest, "could not be read"},
		{"sign-out body over 64 KiB", http.MethodPost, "/signout", big, http.StatusForbidden, "Request refused"},
		{"unknown route", http.MethodGet, "/nope", nil, http.StatusNotFound, "Page not found"},
		{"PUT /", http.MethodPut, "/", nil, http.StatusMethodNotAllowed, "Method not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := u.in(t).send(tc.method, a.URL+tc.path, tc.form)
			if p.Status != tc.status {
				t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, p.Status, tc.status)
			}
			mustContain(t, p.Body, tc.want)
			checkPageHeaders(t, p)
		})
	}
	if strings.Contains(a.log.String(), "panic") {
		t.Errorf("the app logged a panic:\n%s", a.log.String())
	}
	if p := u.get(a.URL + "/healthz"); p.Status != http.StatusOK {
		t.Errorf("/healthz after bad input: %d", p.Status)
	}
}

// TestSignInCookieLifetimeFollowsAppClock: the transaction expires on the
// app's clock (Config.Now), so the sign-in cookie must be sized on it too.
// Regression: it was sized with time.Until (the wall clock), and with a
// clock 15 minutes behind the cookie was sent already expired.
func TestSignInCookieLifetimeFollowsAppClock(t *testing.T) {
	tt := startTenant(t)
	clk := newGraphClock()
	clk.Advance(-15 * time.Minute)
	a := startApp(t, tt, appOptions{Now: clk.Now})
	u := newUser(t, tt, "AdeleV")
	u.startSignIn(a, "/")
	if u.signInCookie(a) == nil {
		t.Fatal("the sign-in cookie was set already expired: its lifetime ignores Config.Now")
	}
}
