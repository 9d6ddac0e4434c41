package webapp_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/internal/testredis"
)

// TestIncrementalConsent: /directory needs User.Read.All, which the sign-in
// did not ask for and which only an administrator can grant.
func TestIncrementalConsent(t *testing.T) {
	t.Run("admin consents for the organization", func(t *testing.T) {
		tt := startTenant(t)
		if err := tt.srv.GenerateDirectory(60); err != nil {
			t.Fatal(err)
		}
		a := startApp(t, tt, appOptions{})
		u := newUser(t, tt, adminAlias(t, tt))
		u.signIn(a, "/")

		dir := u.get(a.URL + "/directory")
		if dir.Status != http.StatusFound {
			t.Fatalf("first /directory: %d, want a redirect to consent\n%s", dir.Status, dir.Body)
		}
		q := authorizeQuery(t, tt, dir.Location)
		if scopes := strings.Fields(q.Get("scope")); !slices.Contains(scopes, "https://graph.microsoft.com/User.Read.All") ||
			!slices.Contains(scopes, "https://graph.microsoft.com/User.Read") {
			t.Errorf("authorize scope = %q, want User.Read and User.Read.All", q.Get("scope"))
		}
		if q.Get("login_hint") != u.persona.Username {
			t.Errorf("login_hint = %q, want %q", q.Get("login_hint"), u.persona.Username)
		}

		// The consent page appears (SSO: no password), offering consent
		// for the whole organization to an administrator.
		consent := u.tenantPage(dir.Location)
		mustContain(t, consent.Body, `id="consent"`, `User.Read.All`, `name="consent_for_org"`, `id="accept"`)

		u.browser.ConsentForOrg = true
		cb := u.authorize(a, dir.Location)
		if cb.Status != http.StatusSeeOther || cb.Location != "/directory" {
			t.Fatalf("consent callback: %d %q\n%s", cb.Status, cb.Location, cb.Body)
		}
		page1 := u.get(a.URL + "/directory")
		if page1.Status != http.StatusOK {
			t.Fatalf("/directory after consent: %d %q\n%s", page1.Status, page1.Location, page1.Body)
		}
		mustContain(t, page1.Body, "Adele Vance", "Next page")
		next := nextLink(t, page1.Body)
		page2 := u.get(a.URL + next)
		if page2.Status != http.StatusOK {
			t.Fatalf("next page %s: %d\n%s", next, page2.Status, page2.Body)
		}
		mustContain(t, page2.Body, `href="/directory">First page`)
		upns1, upns2 := directoryUPNs(page1.Body), directoryUPNs(page2.Body)
		if len(upns1) != 25 || len(upns2) != 25 {
			t.Errorf("page sizes %d and %d, want 25 each (Top=25, %d users)", len(upns1), len(upns2), len(tt.srv.Users()))
		}
		for _, x := range upns2 {
			if slices.Contains(upns1, x) {
				t.Errorf("%s is on both pages", x)
			}
		}

		if again := u.get(a.URL + "/directory"); again.Status != http.StatusOK {
			t.Errorf("second /directory: %d %q, want 200 without a redirect", again.Status, again.Location)
		}
		if n := appMetric(t, a, `entrakit_reauthentications_total{reason="consent"}`); n != 1 {
			t.Errorf(`reauthentications{reason="consent"} = %v, want 1`, n)
		}

		// Consent for the organization covers every user: a user signing
		// in after it reads the directory without a consent trip.
		adele := newUser(t, tt, "AdeleV")
		adele.signIn(a, "/")
		if p := adele.get(a.URL + "/directory"); p.Status != http.StatusOK || !strings.Contains(p.Body, "Adele Vance") {
			t.Errorf("another user's /directory after the organization's consent: %d %q", p.Status, p.Location)
		}
	})

	t.Run("non-admin needs an administrator", func(t *testing.T) {
		tt, a, u := signedIn(t, "AdeleV", "/")
		dir := u.get(a.URL + "/directory")
		if dir.Status != http.StatusFound {
			t.Fatalf("/directory: %d, want a redirect to consent", dir.Status)
		}
		authorizeQuery(t, tt, dir.Location)

		// The dev tenant shows "Need admin approval" (AADSTS90094) with
		// only a way back to the app...
		consent := u.tenantPage(dir.Location)
		mustContain(t, consent.Body, `data-aadsts="90094"`, `value="decline"`)
		if strings.Contains(consent.Body, `id="accept"`) {
			t.Error("a non-admin is offered to accept an admin-only permission")
		}
		// ...which, as Entra does, answers the app with access_denied,
		// AADSTS65004 and error_subcode=cancel.
		resp, err := u.browser.Authorize(context.Background(), dir.Location)
		if err != nil {
			t.Fatalf("authorize: %v", err)
		}
		if resp.Params.Get("error") != "access_denied" || resp.Params.Get("error_subcode") != "cancel" ||
			!strings.Contains(resp.Params.Get("error_description"), "AADSTS65004") {
			t.Errorf("the dev tenant answered %v", resp.Params)
		}
		hr, err := resp.Deliver(context.Background(), u.client)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		if hr.StatusCode != http.StatusForbidden {
			t.Fatalf("callback: %d, want 403\n%s", hr.StatusCode, body)
		}
		// The user had no choice to make: the page must say that an
		// administrator has to consent, not that they cancelled.
		if !strings.Contains(string(body), "administrator") {
			t.Errorf("the 403 page does not say that an administrator must consent (the app only does for AADSTS90094, "+
				"which never reaches it; Entra sends AADSTS65004 from \"Need admin approval\"):\n%s", body)
		}
		// Still signed in, and the page does not loop by itself.
		if p := u.get(a.URL + "/me"); p.Status != http.StatusOK {
			t.Errorf("/me after the refused consent: %d", p.Status)
		}
	})

	t.Run("no redirect loop", func(t *testing.T) {
		tt := startTenant(t)
		clk := newGraphClock()
		a := startApp(t, tt, appOptions{Now: clk.Now})
		u := newUser(t, tt, adminAlias(t, tt))
		u.browser.ConsentForOrg = true
		u.signIn(a, "/")
		dir := u.get(a.URL + "/directory")
		if dir.Status != http.StatusFound {
			t.Fatalf("/directory: %d", dir.Status)
		}
		if cb := u.authorize(a, dir.Location); cb.Status != http.StatusSeeOther || cb.Location != "/directory" {
			t.Fatalf("callback: %d %q", cb.Status, cb.Location)
		}
		// Entra keeps refusing: the token the trip produced is revoked
		// before it is used (refresh token and SSO session too).
		if err := tt.srv.RevokeUser(u.persona.OID); err != nil {
			t.Fatal(err)
		}
		p := u.get(a.URL + "/directory")
		if p.Status != http.StatusBadGateway || !strings.Contains(p.Body, "Still no access") {
			t.Fatalf("second failure for /directory within 2 minutes: %d %q, want 502 Still no access\n%s", p.Status, p.Location, p.Body)
		}
		// The guard is for a loop, not forever: later, another trip.
		clk.Advance(3 * time.Minute)
		p = u.get(a.URL + "/directory")
		if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, tt.srv.URL()) {
			t.Errorf("/directory 3 minutes later: %d %q, want a new trip through sign-in", p.Status, p.Location)
		}
	})
}

// TestClaimsChallenge: a revoked user's token is refused by Graph with a
// claims challenge (CAE); the app cannot renew it silently, sends the user
// through sign-in with the claims, and the page then succeeds.
func TestClaimsChallenge(t *testing.T) {
	tt, a, u := signedIn(t, "AdeleV", "/challenge")

	p := u.get(a.URL + "/challenge?run=1")
	if p.Status != http.StatusOK {
		t.Fatalf("/challenge?run=1: %d\n%s", p.Status, p.Body)
	}
	mustContain(t, p.Body, "No challenge this time", "Adele Vance")

	rev := u.post(a.URL+"/challenge/revoke", url.Values{"csrf": {csrfOf(t, p.Body)}})
	if rev.Status != http.StatusSeeOther || rev.Location != "/challenge?run=1" {
		t.Fatalf("POST /challenge/revoke: %d %q\n%s", rev.Status, rev.Location, rev.Body)
	}
	p = u.get(a.URL + rev.Location)
	if p.Status != http.StatusFound {
		t.Fatalf("/challenge?run=1 after the revocation: %d, want a redirect to sign in\n%s", p.Status, p.Body)
	}
	q := authorizeQuery(t, tt, p.Location)
	var claims map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(q.Get("claims")), &claims); err != nil {
		t.Fatalf("authorize claims = %q: %v", q.Get("claims"), err)
	}
	if _, ok := claims["access_token"]["nbf"]; !ok {
		t.Errorf("authorize claims lack the challenge's access_token.nbf: %s", q.Get("claims"))
	}
	if !strings.Contains(q.Get("claims"), "cp1") {
		t.Errorf("authorize claims lack the cp1 capability: %s", q.Get("claims"))
	}
	// The SSO session was revoked too: the sign-in form, not a silent
	// continue, so the (scripted) user types the password again.
	login := u.tenantPage(p.Location)
	mustContain(t, login.Body, `id="login"`, `type="password"`)
	if strings.Contains(login.Body, `id="continue"`) {
		t.Error("the revoked SSO session was offered to continue")
	}

	cb := u.authorize(a, p.Location)
	if cb.Status != http.StatusSeeOther || cb.Location != "/challenge?run=1" {
		t.Fatalf("callback: %d %q\n%s", cb.Status, cb.Location, cb.Body)
	}
	p = u.get(a.URL + cb.Location)
	if p.Status != http.StatusOK {
		t.Fatalf("/challenge?run=1 after signing in again: %d %q\n%s", p.Status, p.Location, p.Body)
	}
	mustContain(t, p.Body, "Handled", "Adele Vance")
	if n := appMetric(t, a, `entrakit_reauthentications_total{reason="claims-challenge"}`); n != 1 {
		t.Errorf(`reauthentications{reason="claims-challenge"} = %v, want 1`, n)
	}
}

// TestSilentRenewal: an expired access token is renewed with the refresh
// token, without the user.
//
// The dev tenant's and the app's clocks can be moved, MSAL's cannot: it
// judges a cached access token by the wall clock (storage.AccessToken.Validate:
// expires_on before time.Now()+5 min) and caches expires_on as wall time +
// expires_in. So after moving both clocks past the token's lifetime, the
// test also ages the cached token: it opens the sealed partition with the
// key ring, sets expires_on to what it would be by then (expired), and
// stores it back. No wall-clock wait.
func TestSilentRenewal(t *testing.T) {
	tt := startTenant(t)
	clk := newGraphClock()
	a := startApp(t, tt, appOptions{Now: clk.Now, Idle: 48 * time.Hour, Absolute: 72 * time.Hour})
	u := newUser(t, tt, "AdeleV")
	u.signIn(a, "/me")
	if p := u.get(a.URL + "/me"); p.Status != http.StatusOK {
		t.Fatalf("/me: %d", p.Status)
	}
	if n := appMetric(t, a, `entrakit_token_acquisitions_total{source="refreshed"}`); n != 0 {
		t.Fatalf("refreshed = %v before the token expired", n)
	}
	expired := expireCachedAccessTokens(t, a, accountKey(t, a, u))

	// 25 h: beyond the 24 h of a CAE-capable (cp1) client's Graph token.
	tt.srv.AdvanceClock(25 * time.Hour)
	clk.Advance(25 * time.Hour)
	p := u.get(a.URL + "/me")
	if p.Status != http.StatusOK {
		t.Fatalf("/me with an expired access token: %d %q, want 200 without a redirect\n%s", p.Status, p.Location, p.Body)
	}
	mustContain(t, p.Body, "Adele Vance")
	if n := appMetric(t, a, `entrakit_token_acquisitions_total{source="refreshed"}`); n < 1 {
		t.Errorf("refreshed = %v, want >= 1", n)
	}
	if n := appMetric(t, a, `entrakit_reauthentications_total{reason="interaction"}`); n != 0 {
		t.Errorf("reauthentications = %v", n)
	}
	for _, s := range cachedAccessTokenSecrets(t, a, accountKey(t, a, u)) {
		if slices.Contains(expired, s) {
			t.Error("the cache still holds the expired access token")
		}
	}
	// The renewed token is served from the cache from now on.
	refreshed := appMetric(t, a, `entrakit_token_acquisitions_total{source="refreshed"}`)
	if p := u.get(a.URL + "/me"); p.Status != http.StatusOK {
		t.Fatalf("/me again: %d", p.Status)
	}
	if n := appMetric(t, a, `entrakit_token_acquisitions_total{source="refreshed"}`); n != refreshed {
		t.Errorf("refreshed again (%v -> %v): the renewed token was not cached", refreshed, n)
	}
}

// TestTwoInstancesShareRedis: two instances behind a load balancer share
// sessions, sign-in transactions and tokens through Redis.
func TestTwoInstancesShareRedis(t *testing.T) {
	rs := testredis.Start(t)
	tt := startTenant(t)
	keys, err := tokencache.ParseKeyRing(tokencache.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	shared := func() appOptions {
		o := redisStores(t, rs.URL())
		o.Keys = keys
		return o
	}
	appA, appB := startApp(t, tt, shared()), startApp(t, tt, shared())
	const sessionCookie = "__Host-entrakit"

	// Signed in on A; B gets only the session cookie (a browser of its own).
	u := newUser(t, tt, "AdeleV")
	u.signIn(appA, "/me")
	sid := u.cookie(appA, sessionCookie)
	onB := newUser(t, tt, "AdeleV")
	copyCookies(onB, appB, []*http.Cookie{{Name: sessionCookie, Value: sid}})
	me := onB.get(appB.URL + "/me")
	if me.Status != http.StatusOK {
		t.Fatalf("/me on B with A's session: %d %q", me.Status, me.Location)
	}
	mustContain(t, me.Body, "Adele Vance", u.persona.Username)
	// B used the token A cached in Redis: no refresh, no sign-in.
	if n := appMetric(t, appB, `entrakit_token_acquisitions_total{source="cache"}`); n != 1 {
		t.Errorf(`B's token acquisitions{source="cache"} = %v, want 1`, n)
	}

	t.Run("sign-in started on A completes on B", func(t *testing.T) {
		v := newUser(t, tt, "MeganB")
		start := v.get(appA.URL + "/signin?returnTo=%2Fme")
		if start.Status != http.StatusFound {
			t.Fatalf("/signin on A: %d", start.Status)
		}
		resp, err := v.browser.Authorize(context.Background(), start.Location)
		if err != nil {
			t.Fatal(err)
		}
		resp.RedirectURI = appB.URL + "/auth/callback"
		vb := newUser(t, tt, "MeganB")
		base, _ := url.Parse(appA.URL)
		copyCookies(vb, appB, v.client.Jar.Cookies(base)) // the sign-in cookie
		hr, err := resp.Deliver(context.Background(), vb.client)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		if hr.StatusCode != http.StatusSeeOther || hr.Header.Get("Location") != "/me" {
			t.Fatalf("callback on B: %d %q\n%s", hr.StatusCode, hr.Header.Get("Location"), body)
		}
		if p := vb.get(appB.URL + "/me"); p.Status != http.StatusOK || !strings.Contains(p.Body, "Megan Bowen") {
			t.Errorf("/me on B: %d %q", p.Status, p.Location)
		}
		back := newUser(t, tt, "MeganB")
		copyCookies(back, appA, []*http.Cookie{{Name: sessionCookie, Value: vb.cookie(appB, sessionCookie)}})
		if p := back.get(appA.URL + "/me"); p.Status != http.StatusOK || !strings.Contains(p.Body, "Megan Bowen") {
			t.Errorf("/me on A with the session made on B: %d %q", p.Status, p.Location)
		}
	})

	t.Run("sign-out on B ends the session on A", func(t *testing.T) {
		out := onB.post(appB.URL+"/signout", url.Values{"csrf": {csrfOf(t, me.Body)}})
		if out.Status != http.StatusSeeOther {
			t.Fatalf("sign-out on B: %d\n%s", out.Status, out.Body)
		}
		p := u.get(appA.URL + "/me")
		if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, "/signin") {
			t.Errorf("/me on A after sign-out on B: %d %q, want a redirect to /signin", p.Status, p.Location)
		}
	})
}

// TestGraphErrors: Graph failing shows an error page with a fitting status.
// Faults carry a Retry-After of 1 s: without one kiota backs off 3+6+12 s
// (plus jitter) before giving up, ~22 s per request.
func TestGraphErrors(t *testing.T) {
	tt, a, u := signedIn(t, "AdeleV", "/me")
	if p := u.get(a.URL + "/me"); p.Status != http.StatusOK {
		t.Fatalf("/me: %d", p.Status)
	}
	fault := func(t *testing.T, f devtenant.Fault) {
		f.Endpoint = "graph"
		tt.srv.InjectFault(f)
		t.Cleanup(tt.srv.ClearFaults)
	}

	t.Run("503 after the retries", func(t *testing.T) {
		fault(t, devtenant.Fault{Status: 503, RetryAfter: time.Second, Count: 10})
		p := u.get(a.URL + "/me")
		if p.Status != http.StatusBadGateway && p.Status != http.StatusServiceUnavailable {
			t.Fatalf("/me with Graph down: %d, want 502 or 503\n%s", p.Status, p.Body)
		}
		mustContain(t, p.Body, "Microsoft Graph", "Request id")
		if strings.Contains(p.Body, "Something went wrong") {
			t.Error("a Graph outage ended in the panic page")
		}
	})

	t.Run("one 503 is retried", func(t *testing.T) {
		fault(t, devtenant.Fault{Status: 503, RetryAfter: time.Second, Count: 1})
		if p := u.get(a.URL + "/me"); p.Status != http.StatusOK {
			t.Errorf("/me after one 503: %d", p.Status)
		}
	})

	t.Run("429 after the retries", func(t *testing.T) {
		fault(t, devtenant.Fault{Status: 429, RetryAfter: time.Second, Count: 10})
		p := u.get(a.URL + "/me")
		if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
			t.Fatalf("/me throttled: %d Retry-After %q, want 503 with Retry-After", p.Status, p.Header.Get("Retry-After"))
		}
		mustContain(t, p.Body, "Microsoft Graph is busy")
	})

	t.Run("429 beyond the retry budget", func(t *testing.T) {
		// Graph asks for an hour: the app must not hold the request that
		// long (kiota would wait: it checks its 180 s cap before adding the
		// next delay), but answer 503 with Retry-After at once. 5 s is
		// ample for an answer that needs no waiting.
		fault(t, devtenant.Fault{Status: 429, RetryAfter: time.Hour, Count: 10})
		c := *u.client
		c.Timeout = 5 * time.Second
		resp, err := c.Get(a.URL + "/me")
		if err != nil {
			t.Fatalf("/me with Retry-After: 3600 did not answer within %v (the app waits for Graph's Retry-After "+
				"instead of answering 503): %v", c.Timeout, err)
		}
		resp.Body.Close()
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusServiceUnavailable || ra < 3600 {
			t.Errorf("/me: %d Retry-After %q, want 503 and Retry-After >= 3600", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})
}

// adminAlias is the alias of the tenant's administrator persona.
func adminAlias(t testing.TB, tt *tenant) string {
	t.Helper()
	for _, p := range tt.srv.Personas() {
		if p.Admin {
			return strings.SplitN(p.Username, "@", 2)[0]
		}
	}
	t.Fatal("the dev tenant has no administrator persona")
	return ""
}

// authorizeQuery checks that an app redirect goes to the dev tenant's
// authorize endpoint and returns its query.
func authorizeQuery(t testing.TB, tt *tenant, location string) url.Values {
	t.Helper()
	want := tt.srv.URL() + "/" + tt.srv.TenantID() + "/oauth2/v2.0/authorize?"
	if !strings.HasPrefix(location, want) {
		t.Fatalf("redirect to %q, want the dev tenant's authorize endpoint", location)
	}
	u, _ := url.Parse(location)
	return u.Query()
}

// tenantPage opens a dev tenant URL in the user's browser (its cookies)
// without following redirects: what the person would see there.
func (u *user) tenantPage(rawURL string) page {
	u.t.Helper()
	c := *u.browser.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(rawURL)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(b), Location: resp.Header.Get("Location")}
}

var (
	nextHref = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	upnCell  = regexp.MustCompile(`<td>([^<@]+@[^<]+)</td>`)
)

func nextLink(t testing.TB, body string) string {
	t.Helper()
	m := nextHref.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no next page link:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

func directoryUPNs(body string) []string {
	var out []string
	for _, m := range upnCell.FindAllStringSubmatch(body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// appMetric reads one series of the app's metrics (0 when absent).
func appMetric(t testing.TB, a *app, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(metricsText(t, a), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

// copyCookies puts cookies in u's jar for app a, as a load balancer in front
// of both instances would let the browser send them.
func copyCookies(u *user, a *app, cs []*http.Cookie) {
	base, _ := url.Parse(a.URL)
	var out []*http.Cookie
	for _, c := range cs {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value, Path: "/", Secure: true, HttpOnly: true})
	}
	u.client.Jar.SetCookies(base, out)
}

// graphClock is a clock the test moves.
type graphClock struct {
	mu  sync.Mutex
	off time.Duration
}

func newGraphClock() *graphClock { return &graphClock{} }

func (c *graphClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *graphClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// partitionAccessTokens opens the sealed token cache partition key and
// returns MSAL's serialized cache, its access tokens and the store version.
func partitionAccessTokens(t testing.TB, a *app, key string) (map[string]json.RawMessage, map[string]map[string]any, uint64) {
	t.Helper()
	blob, v, err := a.cache.Store.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("token cache partition %s: %v", key, err)
	}
	plain, _, err := a.cache.Keys.Open(key, blob)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(plain, &doc); err != nil {
		t.Fatal(err)
	}
	var ats map[string]map[string]any
	if err := json.Unmarshal(doc["AccessToken"], &ats); err != nil || len(ats) == 0 {
		t.Fatalf("no access token in the partition (%v)", err)
	}
	return doc, ats, v
}

// expireCachedAccessTokens makes MSAL see the partition's access tokens as
// expired (expires_on one minute from now: inside its 5-minute margin),
// stores the partition back (compare-and-set), and returns their secrets.
func expireCachedAccessTokens(t testing.TB, a *app, key string) (secrets []string) {
	t.Helper()
	doc, ats, v := partitionAccessTokens(t, a, key)
	soon := strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)
	for _, at := range ats {
		at["expires_on"], at["extended_expires_on"] = soon, soon
		delete(at, "refresh_on")
		s, _ := at["secret"].(string)
		secrets = append(secrets, s)
	}
	var err error
	if doc["AccessToken"], err = json.Marshal(ats); err != nil {
		t.Fatal(err)
	}
	plain, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.cache.Store.Put(context.Background(), key, a.cache.Keys.Seal(key, plain), v, time.Hour); err != nil {
		t.Fatal(err)
	}
	return secrets
}

func cachedAccessTokenSecrets(t testing.TB, a *app, key string) []string {
	t.Helper()
	_, ats, _ := partitionAccessTokens(t, a, key)
	var out []string
	for _, at := range ats {
		s, _ := at["secret"].(string)
		out = append(out, s)
	}
	return out
}
