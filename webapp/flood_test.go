package webapp_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra/tokencache"
)

// TestSignInRateLimitKeysByNetwork: the per-client limit counts an IPv6
// client by its /64 (one customer's allocation holds 2^64 addresses), an
// IPv4 client by its address, and an IPv4-mapped IPv6 address as the IPv4
// one. Addresses come through X-Forwarded-For from a trusted proxy.
func TestSignInRateLimitKeysByNetwork(t *testing.T) {
	tt := startTenant(t)
	cases := []struct {
		name    string
		clients func(i int) string // the address of the i-th sign-in
		limited bool               // whether the 31st is refused
	}{
		{"one IPv6 /64, new address each time", func(i int) string { return fmt.Sprintf("2001:db8:1:2:%x::%x", i, i+1) }, true},
		{"IPv4 and its mapped IPv6 form", func(i int) string {
			if i%2 == 0 {
				return "198.51.100.7"
			}
			return "::ffff:198.51.100.7"
		}, true},
		{"IPv6 in different /64s", func(i int) string { return fmt.Sprintf("2001:db8:1:%x::1", i) }, false},
		{"neighbouring IPv4 addresses", func(i int) string { return fmt.Sprintf("198.51.100.%d", i+1) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startApp(t, tt, appOptions{Proxies: []string{"127.0.0.1", "::1"}})
			u := newUser(t, tt, "AdeleV")
			for i := 0; i < 30; i++ {
				if p := u.send(http.MethodGet, a.URL+"/signin", nil, "X-Forwarded-For", tc.clients(i)); p.Status != http.StatusFound {
					t.Fatalf("sign-in %d from %s: %d", i+1, tc.clients(i), p.Status)
				}
			}
			p := u.send(http.MethodGet, a.URL+"/signin", nil, "X-Forwarded-For", tc.clients(30))
			if got := p.Status == http.StatusTooManyRequests; got != tc.limited {
				t.Errorf("31st sign-in from %s: %d, want limited=%v", tc.clients(30), p.Status, tc.limited)
			}
		})
	}
}

// tokenRequests counts the dev tenant's token-endpoint requests so far.
func tokenRequests(tt *tenant) int {
	return strings.Count(tt.log.String(), `oauth2/v2.0/token"`)
}

// signInCookieFor is the name the app gives the transaction cookie of state.
func signInCookieFor(state string) string {
	h := sha256.Sum256([]byte(state))
	return signInCookiePrefix + base64.RawURLEncoding.EncodeToString(h[:9])
}

// TestForgedCallbackCostsNoTokenRequest: a callback whose state the store
// does not hold, or that comes without the transaction cookie, is refused
// before the code is redeemed — a flood of them spends none of the app's
// credential at the token endpoint.
func TestForgedCallbackCostsNoTokenRequest(t *testing.T) {
	tt := startTenant(t)
	cases := []struct {
		name  string
		forge func(t *testing.T, a *app) (*user, url.Values)
	}{
		{"unknown state, with a cookie the attacker set for it", func(t *testing.T, a *app) (*user, url.Values) {
			u := newUser(t, tt, "AlexW")
			st := randomID()
			u.setCookie(a, signInCookieFor(st), st)
			return u, url.Values{"state": {st}, "code": {"forged-code"}}
		}},
		{"real response, no transaction cookie", func(t *testing.T, a *app) (*user, url.Values) {
			_, resp := started(t, tt, a, "AdeleV")
			return newUser(t, tt, "AlexW"), resp.Params
		}},
		{"real state with a forged code, no transaction cookie", func(t *testing.T, a *app) (*user, url.Values) {
			_, st := newUser(t, tt, "AdeleV").startSignIn(a, "/")
			return newUser(t, tt, "AlexW"), url.Values{"state": {st}, "code": {"forged-code"}}
		}},
		{"replay of a completed sign-in, with its cookie", func(t *testing.T, a *app) (*user, url.Values) {
			return replayedSignIn(t, tt, a)
		}},
	}
	for _, mode := range []string{"form_post", "query"} {
		for _, tc := range cases {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				a := startApp(t, tt, appOptions{ResponseMode: mode})
				u, params := tc.forge(t, a)
				u = u.in(t)
				before := tokenRequests(tt)
				for i := 0; i < 5; i++ {
					if p := u.deliver(a, mode, params); p.Status != http.StatusBadRequest {
						t.Fatalf("forged callback %d: %d, want 400", i+1, p.Status)
					}
				}
				if n := tokenRequests(tt) - before; n != 0 {
					t.Errorf("5 forged callbacks made %d token-endpoint requests, want 0", n)
				}
			})
		}
	}
	// The replay cases redeemed their first, real, response: the count
	// sees token requests when there are some.
	if tokenRequests(tt) == 0 {
		t.Error("no token request counted at all: the tenant log no longer names the token endpoint")
	}
}

// TestForwardedForWithoutTrustedProxyWarnsOnce: X-Forwarded-For on requests
// while no proxy is trusted means the rate limit keys on the proxy's
// address (every user shares one limit): the app says so, once.
func TestForwardedForWithoutTrustedProxyWarnsOnce(t *testing.T) {
	tt := startTenant(t)
	const warning = "X-Forwarded-For"
	cases := []struct {
		name    string
		proxies []string
		header  bool
		want    int
	}{
		{"forwarded, no trusted proxy", nil, true, 1},
		{"forwarded through a trusted proxy", []string{"127.0.0.1", "::1"}, true, 0},
		{"not forwarded", nil, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startApp(t, tt, appOptions{Proxies: tc.proxies})
			u := newUser(t, tt, "AdeleV")
			for i := 0; i < 3; i++ {
				var hdr []string
				if tc.header {
					hdr = []string{"X-Forwarded-For", "203.0.113.9"}
				}
				u.send(http.MethodGet, a.URL+"/", nil, hdr...)
			}
			n := 0
			for _, line := range strings.Split(a.log.String(), "\n") {
				if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, warning) {
					n++
				}
			}
			if n != tc.want {
				t.Errorf("%d warnings about %s, want %d:\n%s", n, warning, tc.want, a.log.String())
			}
		})
	}
}

// TestSignInFloodKeepsPendingSignIns: anonymous clients starting sign-ins
// from many addresses (each within its own rate limit) fill no store, so
// they push out no real user's sign-in in progress — here with a session
// store of 100 entries, flooded by 300 sign-ins.
func TestSignInFloodKeepsPendingSignIns(t *testing.T) {
	tt := startTenant(t)
	store := tokencache.NewMemoryStore(tokencache.MemoryOptions{MaxEntries: 100})
	for _, mode := range []string{"form_post", "query"} {
		t.Run(mode, func(t *testing.T) {
			a := startApp(t, tt, appOptions{ResponseMode: mode, SessionStore: store})
			u, resp := started(t, tt, a, "AdeleV")
			u = u.in(t)
			for i := 0; i < 300; i++ {
				req := httptest.NewRequest(http.MethodGet, a.URL+"/signin", nil)
				req.RemoteAddr = fmt.Sprintf("10.0.%d.%d:40000", i/250, i%250+1)
				rec := httptest.NewRecorder()
				a.Handler().ServeHTTP(rec, req)
				if rec.Code != http.StatusFound {
					t.Fatalf("flood sign-in %d: %d", i+1, rec.Code)
				}
			}
			if p := u.deliver(a, resp.Mode, resp.Params); p.Status != http.StatusSeeOther {
				t.Fatalf("the real user's callback after the flood: %d, want 303 (the transaction was pushed out)", p.Status)
			}
		})
	}
}

// TestSignInTooLargeForItsCookie: a transaction that would not fit in a
// cookie (a return path that JSON-escapes to many times its length) is
// refused with a page, not a cookie the browser would drop.
func TestSignInTooLargeForItsCookie(t *testing.T) {
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	u := newUser(t, tt, "AdeleV")
	p := u.get(a.URL + "/signin?returnTo=" + url.QueryEscape("/"+strings.Repeat("<", 2000)))
	if p.Status != http.StatusBadRequest || u.signInCookie(a) != nil {
		t.Errorf("oversized sign-in: %d, cookie %v; want 400 and no cookie", p.Status, u.signInCookie(a) != nil)
	}
	u.signIn(a, "/me?view="+strings.Repeat("a", 500))
}
