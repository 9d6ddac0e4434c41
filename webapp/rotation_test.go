package webapp_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/internal/testredis"
)

// rollingRotation is two replicas halfway through a key rotation, sharing
// one session store and one token store: upgraded seals with the new key
// and still opens the old one; stale has not got the new key yet.
func rollingRotation(t *testing.T, tt *tenant, store string) (upgraded, stale *app) {
	t.Helper()
	newKey, oldKey := tokencache.GenerateKey(), tokencache.GenerateKey()
	ring := func(keys string) *tokencache.KeyRing {
		r, err := tokencache.ParseKeyRing(keys)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var opts func() appOptions
	switch store {
	case "memory":
		sessions := tokencache.NewMemoryStore(tokencache.MemoryOptions{})
		tokens := tokencache.NewMemoryStore(tokencache.MemoryOptions{})
		opts = func() appOptions { return appOptions{SessionStore: sessions, TokenStore: tokens} }
	case "redis":
		rs := testredis.Start(t)
		opts = func() appOptions { return redisStores(t, rs.URL()) }
	}
	up, old := opts(), opts()
	up.Keys, old.Keys = ring(newKey+","+oldKey), ring(oldKey)
	return startApp(t, tt, up), startApp(t, tt, old)
}

// TestRollingKeyRotationKeepsSessions: during a rolling update that
// brings a new key, a request served by a replica without the key is
// anonymous there, but the session survives it and is whole again on the
// replicas that hold the key. (The browser's one cookie jar is shared by
// both replicas, as behind a load balancer.)
func TestRollingKeyRotationKeepsSessions(t *testing.T) {
	tt := startTenant(t)
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			upgraded, stale := rollingRotation(t, tt, store)
			u := newUser(t, tt, "AdeleV").in(t)
			u.signIn(upgraded, "/me")
			sid := u.cookie(upgraded, sessionCookieName)

			p := u.get(stale.URL + "/me")
			if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, "/signin?") {
				t.Errorf("/me on the replica without the new key: %d %q, want a redirect to /signin", p.Status, p.Location)
			}
			if got := u.cookie(stale, sessionCookieName); got != sid {
				t.Errorf("the replica without the new key changed the session cookie")
			}
			me := u.get(upgraded.URL + "/me")
			if me.Status != http.StatusOK {
				t.Fatalf("/me on the replica with the new key, after the other served the session: %d %q (the session was deleted)", me.Status, me.Location)
			}
			mustContain(t, me.Body, "Adele Vance")
		})
	}
}

// TestRollingKeyRotationKeepsSignIns: a sign-in started on a replica that
// seals with the new key, whose callback lands on a replica without it,
// is not consumed there (nor is the browser's transaction cookie
// removed): the same response then completes on a replica with the key.
func TestRollingKeyRotationKeepsSignIns(t *testing.T) {
	tt := startTenant(t)
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			upgraded, stale := rollingRotation(t, tt, store)
			u := newUser(t, tt, "MeganB").in(t)
			auth, _ := u.startSignIn(upgraded, "/me")
			resp := u.authorizeOnly(auth)

			p := u.deliver(stale, resp.Mode, resp.Params)
			if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
				t.Errorf("callback on the replica without the new key: %d (Retry-After %q), want 503 with Retry-After",
					p.Status, p.Header.Get("Retry-After"))
			}
			if v := sessionSet(p); v != "" {
				t.Errorf("the replica without the new key set a session cookie")
			}
			if u.signInCookie(upgraded) == nil {
				t.Errorf("the replica without the new key removed the sign-in cookie")
			}

			cb := u.deliver(upgraded, resp.Mode, resp.Params)
			if cb.Status != http.StatusSeeOther || cb.Location != "/me" {
				t.Fatalf("the same callback on the replica with the new key: %d %q, want 303 to /me (the transaction was consumed)\n%s",
					cb.Status, cb.Location, cb.Body)
			}
			me := u.get(upgraded.URL + "/me")
			if me.Status != http.StatusOK {
				t.Fatalf("/me after the sign-in: %d %q", me.Status, me.Location)
			}
			mustContain(t, me.Body, "Megan Bowen")
		})
	}
}
