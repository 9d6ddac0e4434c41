package entra_test

import (
	"cmp"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra"
)

// fkClock is an injectable clock that tests move by hand.
type fkClock struct{ ns atomic.Int64 }

func newFKClock() *fkClock {
	c := &fkClock{}
	c.ns.Store(fkNow.UnixNano())
	return c
}

func (c *fkClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fkClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fkWeak is a 1024-bit RSA key: too weak to trust.
var fkWeak = sync.OnceValue(func() *rsa.PrivateKey { return fkGenerate(1024) })

// fkLookup returns how many keys VerificationKeys gave for kid, failing the
// test on an error.
func fkLookup(t *testing.T, ks *entra.RemoteKeySet, kid string) int {
	t.Helper()
	keys, err := ks.VerificationKeys(context.Background(), kid)
	if err != nil {
		t.Fatalf("VerificationKeys(%q): %v", kid, err)
	}
	return len(keys)
}

func fkHits(t *testing.T, srv *fkJWKS, want int32) {
	t.Helper()
	if got := srv.hits.Load(); got != want {
		t.Errorf("%d JWKS requests, want %d", got, want)
	}
}

func TestRemoteKeySetRefreshRateLimited(t *testing.T) {
	k1 := fkRSAJWK("k1", fkDecoy("k1"))
	k2 := fkRSAJWK("k2", fkDecoy("k2"))
	srv := fkServeJWKS(t, k1)
	clock := newFKClock()
	ks := srv.keySet()
	ks.Now, ks.MinRefreshInterval = clock.Now, time.Minute

	for i := 0; i < 2; i++ { // found twice, fetched once
		if fkLookup(t, ks, "k1") != 1 {
			t.Fatal("k1 not found")
		}
	}
	fkHits(t, srv, 1)

	srv.setKeys(k1, k2) // the issuer publishes a new key
	for range 10 {
		if n := fkLookup(t, ks, "k2"); n != 0 {
			t.Fatalf("k2 found before a refresh was allowed")
		}
	}
	fkHits(t, srv, 1) // fetched just now: no refetch for unknown kids
	clock.Advance(59 * time.Second)
	fkLookup(t, ks, "k2")
	fkHits(t, srv, 1)
	clock.Advance(time.Second)
	if n := fkLookup(t, ks, "k2"); n != 1 {
		t.Fatalf("k2 not found after the interval: %d keys", n)
	}
	fkHits(t, srv, 2)

	// An attacker spraying unknown kids gets one fetch per interval.
	for i := range 100 {
		fkLookup(t, ks, "spray-"+string(rune('a'+i%26)))
		if i == 50 {
			clock.Advance(30 * time.Second)
		}
	}
	fkHits(t, srv, 2)
	clock.Advance(30 * time.Second)
	fkLookup(t, ks, "spray-x")
	fkHits(t, srv, 3)
	// A token without kid gets the cached keys, no fetch.
	if n := fkLookup(t, ks, ""); n != 2 {
		t.Errorf("no kid: %d keys, want 2", n)
	}
	fkHits(t, srv, 3)
}

func TestRemoteKeySetDefaultInterval(t *testing.T) {
	srv := fkServeJWKS(t, fkRSAJWK("k1", fkDecoy("k1")))
	clock := newFKClock()
	ks := srv.keySet()
	ks.Now = clock.Now
	fkLookup(t, ks, "k1")
	clock.Advance(5*time.Minute - time.Second)
	fkLookup(t, ks, "unknown")
	fkHits(t, srv, 1)
	clock.Advance(time.Second)
	fkLookup(t, ks, "unknown")
	fkHits(t, srv, 2)
}

// fkRotated serves a JWKS holding the key "old" to a key set that fetches
// it, then, an hour later, publishes next beside it: a key the key set has
// not seen and may refetch for.
func fkRotated(t *testing.T, next map[string]any) (*fkJWKS, *entra.RemoteKeySet) {
	t.Helper()
	old := fkRSAJWK("old", fkDecoy("old"))
	srv := fkServeJWKS(t, old)
	clock := newFKClock()
	ks := srv.keySet()
	ks.Now = clock.Now
	fkLookup(t, ks, "old")
	clock.Advance(time.Hour)
	srv.setKeys(old, next)
	return srv, ks
}

// TestRemoteKeySetRotation: a token signed by a key published after the key
// set was fetched is accepted after one refetch; a kid that is still unknown
// afterwards is refused without another fetch.
func TestRemoteKeySetRotation(t *testing.T) {
	ctx := context.Background()
	srv, ks := fkRotated(t, fkRSAJWK(fkKid, &fkKey().PublicKey))
	v := fkValidator(ks, false)
	raw := fkSign(fkKey(), fkHeader(fkKid), fkIDClaims())
	c, err := v.ValidateIDToken(ctx, raw, fkNonce)
	fkCheck(t, raw, c, err, nil)
	fkHits(t, srv, 2)
	raw = fkSign(fkKey(), fkHeader("newer"), fkIDClaims())
	c, err = v.ValidateIDToken(ctx, raw, fkNonce)
	fkCheck(t, raw, c, err, entra.ErrUnknownKey)
	fkHits(t, srv, 2)
}

// fkConcurrent runs n lookups of kid at once while the JWKS endpoint holds
// its answer, and returns how many found exactly one key.
func fkConcurrent(t *testing.T, srv *fkJWKS, ks *entra.RemoteKeySet, kid string, n int, hitsBefore int32) int32 {
	t.Helper()
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	defer func() {
		srv.mu.Lock()
		srv.gate = nil
		srv.mu.Unlock()
	}()
	var found atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			keys, err := ks.VerificationKeys(context.Background(), kid)
			if err != nil {
				t.Errorf("VerificationKeys: %v", err)
			}
			if len(keys) == 1 {
				found.Add(1)
			}
		})
	}
	// Hold the fetch until it has started, and a little more, so the other
	// lookups pile up behind it.
	deadline := time.Now().Add(5 * time.Second)
	for srv.hits.Load() == hitsBefore && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	return found.Load()
}

func TestRemoteKeySetSingleFlight(t *testing.T) {
	t.Run("cold", func(t *testing.T) {
		srv := fkServeJWKS(t, fkRSAJWK(fkKid, &fkKey().PublicKey))
		ks := srv.keySet()
		if found := fkConcurrent(t, srv, ks, fkKid, 50, 0); found != 50 {
			t.Errorf("%d of 50 lookups found the key", found)
		}
		fkHits(t, srv, 1)
	})
	t.Run("unknown kid", func(t *testing.T) {
		srv, ks := fkRotated(t, fkRSAJWK("new", fkDecoy("new")))
		if found := fkConcurrent(t, srv, ks, "new", 50, 1); found != 50 {
			t.Errorf("%d of 50 lookups found the new key", found)
		}
		fkHits(t, srv, 2)
	})
}

// TestRemoteKeySetServesCachedKeysWhenDown: once keys are cached, an
// endpoint that fails, answers garbage or is gone does not stop validation.
func TestRemoteKeySetServesCachedKeysWhenDown(t *testing.T) {
	ctx := context.Background()
	srv := fkServeJWKS(t, fkRSAJWK(fkKid, &fkKey().PublicKey))
	clock := newFKClock()
	ks := srv.keySet()
	ks.Now = clock.Now
	v := fkValidator(ks, false)
	raw := fkSign(fkKey(), fkHeader(fkKid), fkIDClaims())
	check := func(step string) {
		t.Helper()
		if _, err := v.ValidateIDToken(ctx, raw, fkNonce); err != nil {
			t.Errorf("%s: %v", step, err)
		}
		if n, err := ks.VerificationKeys(ctx, fkKid); err != nil || len(n) != 1 {
			t.Errorf("%s: cached key: %d keys, %v", step, len(n), err)
		}
	}
	check("warm")
	for _, outage := range []struct {
		name   string
		status int
		body   string
	}{
		{"500", http.StatusInternalServerError, `{"error":"server_error"}`},
		{"503 with a valid JWKS body", http.StatusServiceUnavailable, string(fkJSON(map[string]any{"keys": []any{fkRSAJWK("x", fkDecoy("x"))}}))},
		{"not JSON", http.StatusOK, "<html>maintenance</html>"},
		{"no usable key", http.StatusOK, `{"keys":[]}`},
	} {
		srv.set(outage.status, []byte(outage.body))
		clock.Advance(time.Hour)
		// An unknown kid forces a refetch, which fails.
		if _, err := ks.VerificationKeys(ctx, "rotated"); err != nil {
			t.Errorf("%s: unknown kid with cached keys: %v", outage.name, err)
		}
		check(outage.name)
	}
	srv.Close()
	clock.Advance(time.Hour)
	ks.VerificationKeys(ctx, "rotated")
	check("server gone")
	if h := srv.hits.Load(); h != 5 {
		t.Errorf("%d JWKS requests, want 5", h)
	}
}

func fkUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	if !errors.Is(err, entra.ErrKeySetUnavailable) {
		t.Errorf("%s: err = %v, want ErrKeySetUnavailable", what, err)
	}
	if errors.Is(err, entra.ErrInvalidToken) {
		t.Errorf("%s: err %v matches ErrInvalidToken: the caller would answer 401, not 503", what, err)
	}
}

func TestRemoteKeySetUnusableDocuments(t *testing.T) {
	ctx := context.Background()
	weak := fkRSAJWK(fkKid, &fkWeak().PublicKey)
	real := fkRSAJWK(fkKid, &fkKey().PublicKey)
	with := func(k map[string]any, kv ...any) map[string]any {
		m := map[string]any{}
		for key, val := range k {
			m[key] = val
		}
		fkSet(kv...)(m)
		return m
	}
	jwks := func(keys ...map[string]any) string { return string(fkJSON(map[string]any{"keys": keys})) }
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"not JSON", 200, "<!doctype html><title>Sign in</title>"},
		{"JSON array", 200, `[` + jwks(real) + `]`},
		{"no keys member", 200, `{}`},
		{"empty key list", 200, `{"keys":[]}`},
		{"keys is null", 200, `{"keys":null}`},
		{"only an EC key", 200, jwks(fkECJWK("ec1"))},
		{"only an oct key", 200, `{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0"}]}`},
		{"only an encryption key", 200, jwks(with(real, "use", "enc"))},
		{"only an RSA-OAEP key", 200, jwks(with(real, "alg", "RSA-OAEP"))},
		{"only a PS256 key", 200, jwks(with(real, "alg", "PS256"))},
		{"only a 1024-bit key", 200, jwks(weak)},
		{"only e = 1", 200, jwks(with(real, "e", "AQ"))},
		{"only an even e", 200, jwks(with(real, "e", "AQAA"))},
		{"only an empty e", 200, jwks(with(real, "e", ""))},
		{"only a 5-byte e", 200, jwks(with(real, "e", fkB64([]byte{1, 0, 0, 0, 1})))},
		{"only a bad base64 n", 200, jwks(with(real, "n", "***"))},
		{"truncated beyond 1 MiB", 200, `{"keys":[` + string(fkJSON(real)) + strings.Repeat(" ", 1<<20) + `]}`},
		{"HTTP 500 with a good body", 500, jwks(real)},
		{"HTTP 404", 404, `{"error":"not found"}`},
		{"HTTP 302", 302, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := fkServeJWKS(t)
			srv.set(tc.status, []byte(tc.body))
			ks := srv.keySet()
			_, err := ks.VerificationKeys(ctx, fkKid)
			fkUnavailable(t, "VerificationKeys", err)
			// Through the validator too: a technical failure, not a refusal.
			v := fkValidator(srv.keySet(), false)
			_, err = v.ValidateIDToken(ctx, fkSign(fkKey(), fkHeader(fkKid), fkIDClaims()), fkNonce)
			fkUnavailable(t, "ValidateIDToken", err)
		})
	}
	t.Run("server unreachable", func(t *testing.T) {
		srv := fkServeJWKS(t)
		srv.Close()
		_, err := srv.keySet().VerificationKeys(ctx, "")
		fkUnavailable(t, "VerificationKeys", err)
	})
}

// TestRemoteKeySetOutageAtStart: while the key set has never been fetched,
// every validation is a technical failure (503), not a refusal (401), and
// the key set recovers with the endpoint.
func TestRemoteKeySetOutageAtStart(t *testing.T) {
	ctx := context.Background()
	srv := fkServeJWKS(t)
	srv.set(http.StatusInternalServerError, []byte(`{"error":"server_error"}`))
	clock := newFKClock()
	ks := srv.keySet()
	ks.Now = clock.Now
	v := fkValidator(ks, false)
	raw := fkSign(fkKey(), fkHeader(fkKid), fkIDClaims())
	for i := range 3 {
		_, err := v.ValidateIDToken(ctx, raw, fkNonce)
		fkUnavailable(t, "validation "+string(rune('1'+i))+" during the outage", err)
	}
	srv.setKeys(fkRSAJWK(fkKid, &fkKey().PublicKey))
	clock.Advance(10 * time.Minute)
	c, err := v.ValidateIDToken(ctx, raw, fkNonce)
	fkCheck(t, raw, c, err, nil)
}

// TestRemoteKeySetCancelledFirstFetch: a caller that gives up (client
// disconnect, deadline) during the first fetch must not leave the key set
// empty for the next callers.
func TestRemoteKeySetCancelledFirstFetch(t *testing.T) {
	srv := fkServeJWKS(t, fkRSAJWK(fkKid, &fkKey().PublicKey))
	ks := srv.keySet()
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ks.VerificationKeys(cctx, fkKid); err == nil || errors.Is(err, entra.ErrInvalidToken) {
		t.Errorf("cancelled lookup: err = %v, want a technical error", err)
	}
	keys, err := ks.VerificationKeys(context.Background(), fkKid)
	if err != nil || len(keys) != 1 {
		t.Errorf("next lookup after a cancelled first fetch: %d keys, err %v; want the key (%d JWKS requests)", len(keys), err, srv.hits.Load())
	}
	v := fkValidator(ks, false)
	raw := fkSign(fkKey(), fkHeader(fkKid), fkIDClaims())
	if _, err := v.ValidateIDToken(context.Background(), raw, fkNonce); err != nil {
		t.Errorf("validation after a cancelled first fetch: %v", err)
	}
}

func TestRemoteKeySetIgnoresWeakKey(t *testing.T) {
	ctx := context.Background()
	weak := fkWeak()
	srv := fkServeJWKS(t, fkRSAJWK("weak", &weak.PublicKey), fkRSAJWK(fkKid, &fkKey().PublicKey))
	ks := srv.keySet()
	if n := fkLookup(t, ks, "weak"); n != 0 {
		t.Errorf("the 1024-bit key is served")
	}
	if n := fkLookup(t, ks, ""); n != 1 {
		t.Errorf("%d keys without kid, want only the 2048-bit one", n)
	}
	v := fkValidator(ks, false)
	raw := fkSign(weak, fkHeader("weak"), fkIDClaims())
	c, err := v.ValidateIDToken(ctx, raw, fkNonce)
	fkCheck(t, raw, c, err, entra.ErrUnknownKey)
	raw = fkSign(weak, fkHeader(""), fkIDClaims())
	c, err = v.ValidateIDToken(ctx, raw, fkNonce)
	fkCheck(t, raw, c, err, entra.ErrInvalidSignature)
	raw = fkSign(fkKey(), fkHeader(fkKid), fkIDClaims())
	c, err = v.ValidateIDToken(ctx, raw, fkNonce)
	fkCheck(t, raw, c, err, nil)
}

func TestDiscoverDevTenant(t *testing.T) {
	tt := startTenant(t)
	ctx := context.Background()
	base := tt.srv.URL()
	template := base + "/{tenantid}/v2.0"
	for _, tc := range []struct{ authority, issuer string }{
		{tt.srv.Authority(), tt.srv.Issuer()},
		{tt.srv.Authority() + "/", tt.srv.Issuer()},
		{base + "/" + tt.srv.Domain(), tt.srv.Issuer()},
		{base + "/common", template},
		{base + "/organizations", template},
		{base + "/" + strings.ToUpper(tt.srv.TenantID()), tt.srv.Issuer()},
	} {
		t.Run(strings.TrimPrefix(tc.authority, base+"/"), func(t *testing.T) {
			md, err := entra.Discover(ctx, tt.client, tc.authority)
			if err != nil {
				t.Fatal(err)
			}
			if md.Issuer != tc.issuer || md.JWKSURI == "" || md.TokenEndpoint == "" || md.AuthorizationEndpoint == "" {
				t.Errorf("metadata = %+v, want issuer %s", md, tc.issuer)
			}
			ks := &entra.RemoteKeySet{JWKSURL: md.JWKSURI, HTTPClient: tt.client}
			if keys, err := ks.VerificationKeys(ctx, tt.srv.SigningKeyID()); err != nil || len(keys) != 1 {
				t.Errorf("signing key from %s: %d keys, %v", md.JWKSURI, len(keys), err)
			}
		})
	}
	if _, err := entra.Discover(ctx, tt.client, base+"/not-a-tenant.example.com"); err == nil {
		t.Error("Discover of an unknown tenant succeeded")
	}
}

func TestDiscoverMismatch(t *testing.T) {
	ctx := context.Background()
	const tid = fkTID
	var issuer atomic.Value // func(base string) string
	jwksHost := atomic.Value{}
	jwksHost.Store("")
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/v2.0/.well-known/openid-configuration") {
			http.NotFound(w, r)
			return
		}
		tenant := strings.Split(r.URL.Path, "/")[1]
		w.Header().Set("Content-Type", "application/json")
		w.Write(fkJSON(map[string]any{
			"issuer":                 issuer.Load().(func(string) string)(srv.URL),
			"authorization_endpoint": srv.URL + "/" + tenant + "/oauth2/v2.0/authorize",
			"token_endpoint":         srv.URL + "/" + tenant + "/oauth2/v2.0/token",
			"jwks_uri":               cmp.Or(jwksHost.Load().(string), srv.URL) + "/" + tenant + "/discovery/v2.0/keys",
		}))
	}))
	defer srv.Close()
	evil := "https://login.evil.test"
	https := strings.Replace(srv.URL, "http://", "https://", 1)
	const domain = "contoso.example.com"
	tests := []struct {
		name    string
		tenant  string
		issuer  func(base string) string
		matches bool
	}{
		{"tenant id, its issuer", tid, func(b string) string { return b + "/" + tid + "/v2.0" }, true},
		{"domain, a tenant id issuer", domain, func(b string) string { return b + "/" + tid + "/v2.0" }, true},
		{"common, the template", "common", func(b string) string { return b + "/{tenantid}/v2.0" }, true},
		{"organizations, the template", "organizations", func(b string) string { return b + "/{tenantid}/v2.0" }, true},

		{"tenant id, another tenant", tid, func(b string) string { return b + "/" + fkOther + "/v2.0" }, false},
		{"tenant id, another host", tid, func(string) string { return evil + "/" + tid + "/v2.0" }, false},
		{"tenant id, another scheme", tid, func(string) string { return https + "/" + tid + "/v2.0" }, false},
		{"tenant id, the template", tid, func(b string) string { return b + "/{tenantid}/v2.0" }, false},
		{"tenant id, v1 style issuer", tid, func(b string) string { return b + "/" + tid + "/" }, false},
		{"tenant id, trailing slash", tid, func(b string) string { return b + "/" + tid + "/v2.0/" }, false},
		{"tenant id, empty issuer", tid, func(string) string { return "" }, false},
		{"domain, another host", domain, func(string) string { return evil + "/" + tid + "/v2.0" }, false},
		{"domain, look-alike host", domain, func(b string) string { return b + ".evil.test/" + tid + "/v2.0" }, false},
		{"domain, the template", domain, func(b string) string { return b + "/{tenantid}/v2.0" }, false},
		{"domain, common", domain, func(b string) string { return b + "/common/v2.0" }, false},
		{"domain, another domain", domain, func(b string) string { return b + "/fabrikam.example.com/v2.0" }, false},
		{"domain, tenant id without /v2.0", domain, func(b string) string { return b + "/" + tid }, false},
		{"common, a tenant", "common", func(b string) string { return b + "/" + tid + "/v2.0" }, false},
		{"common, template of another host", "common", func(string) string { return evil + "/{tenantid}/v2.0" }, false},
		{"organizations, common", "organizations", func(b string) string { return b + "/common/v2.0" }, false},
	}
	// The keys must be on the authority's host: a document naming keys
	// elsewhere (an attacker's, or plain http) is refused.
	issuer.Store(func(b string) string { return b + "/" + tid + "/v2.0" })
	for _, elsewhere := range []string{evil, https, srv.URL + ".evil.test"} {
		jwksHost.Store(elsewhere)
		if _, err := entra.Discover(ctx, srv.Client(), srv.URL+"/"+tid); !errors.Is(err, entra.ErrDiscoveryMismatch) {
			t.Errorf("jwks_uri on %s: %v, want ErrDiscoveryMismatch", elsewhere, err)
		}
	}
	jwksHost.Store("")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			issuer.Store(tc.issuer)
			md, err := entra.Discover(ctx, srv.Client(), srv.URL+"/"+tc.tenant)
			if tc.matches {
				if err != nil {
					t.Fatalf("Discover: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Discover accepted issuer %q for authority %s", md.Issuer, tc.tenant)
			}
			if tc.issuer(srv.URL) != "" && !errors.Is(err, entra.ErrDiscoveryMismatch) {
				t.Errorf("err = %v, want ErrDiscoveryMismatch", err)
			}
			if errors.Is(err, entra.ErrInvalidToken) {
				t.Errorf("err %v matches ErrInvalidToken", err)
			}
		})
	}
}

// TestRemoteKeySetMaxAge: keys older than MaxAge are fetched again, so a key
// the issuer withdrew stops being trusted; a failed refetch keeps the old ones.
func TestRemoteKeySetMaxAge(t *testing.T) {
	var fetches atomic.Int64
	var withdraw, fail atomic.Bool
	key := fkKey()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if withdraw.Load() { // the issuer rotated k1 out
			json.NewEncoder(w).Encode(map[string]any{"keys": []any{fkRSAJWK("k2", &fkAttacker().PublicKey)}})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{fkRSAJWK("k1", &key.PublicKey)}})
	}))
	defer srv.Close()
	now := time.Unix(1_800_000_000, 0)
	ks := &entra.RemoteKeySet{JWKSURL: srv.URL, MaxAge: time.Hour, Now: func() time.Time { return now }}
	ctx := context.Background()
	if keys, err := ks.VerificationKeys(ctx, "k1"); err != nil || len(keys) != 1 {
		t.Fatalf("first lookup: %d keys, %v", len(keys), err)
	}
	now = now.Add(2 * time.Hour)
	fail.Store(true)
	if keys, err := ks.VerificationKeys(ctx, "k1"); err != nil || len(keys) != 1 {
		t.Fatalf("refetch failed: cached key must still serve: %d keys, %v", len(keys), err)
	}
	fail.Store(false)
	withdraw.Store(true)
	now = now.Add(2 * time.Hour)
	if keys, _ := ks.VerificationKeys(ctx, "k1"); len(keys) != 0 {
		t.Fatal("a withdrawn key is still trusted after MaxAge")
	}
	if fetches.Load() < 3 {
		t.Errorf("%d fetches, want a refetch after each MaxAge", fetches.Load())
	}
}

// fkHangUp is a JWKS endpoint whose callers hang up: on each request it
// cancels the context of the lookup in progress (hangUp), and answers only
// once that lookup has returned, so the answer comes after the caller left.
type fkHangUp struct {
	*httptest.Server
	hits   atomic.Int32
	hangUp atomic.Pointer[fkLeaver]
}

// fkLeaver is one lookup: cancel ends its context, returned is closed when
// VerificationKeys has returned.
type fkLeaver struct {
	cancel   context.CancelFunc
	returned chan struct{}
}

func fkServeHangUp(t *testing.T) *fkHangUp {
	t.Helper()
	s := &fkHangUp{}
	body := fkJSON(map[string]any{"keys": []any{fkRSAJWK("k1", fkDecoy("k1"))}})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if c := s.hangUp.Load(); c != nil {
			c.cancel()
			select {
			case <-c.returned:
			case <-time.After(5 * time.Second): // a test bug; do not hang
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// lookup asks for kid as a caller that hangs up while the key set fetches
// (or, with cancelled, before it even asks), and returns its error.
func (s *fkHangUp) lookup(ks *entra.RemoteKeySet, kid string, cancelled bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &fkLeaver{cancel: cancel, returned: make(chan struct{})}
	if cancelled {
		cancel()
	}
	s.hangUp.Store(c)
	_, err := ks.VerificationKeys(ctx, kid)
	close(c.returned)
	s.hangUp.Store(nil)
	return err
}

// TestRemoteKeySetRefetchLimitWithHangUps: callers that hang up during (or
// before) a refetch for an unknown kid still use up the refetch: the
// attempt counts whatever their context does, so a flood of requests that
// disconnect cannot make the key set refetch on each one.
func TestRemoteKeySetRefetchLimitWithHangUps(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cancelled bool
	}{
		{"cancelled during the fetch", false},
		{"cancelled before asking", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fkServeHangUp(t)
			clock := newFKClock()
			ks := &entra.RemoteKeySet{JWKSURL: srv.URL, HTTPClient: srv.Client(), Now: clock.Now, MinRefreshInterval: time.Minute}
			if n := fkLookup(t, ks, "k1"); n != 1 {
				t.Fatalf("k1: %d keys", n)
			}
			clock.Advance(time.Minute) // one refetch allowed from now on
			for i := range 20 {
				srv.lookup(ks, "unknown-"+string(rune('a'+i)), tc.cancelled)
			}
			// A patient caller now: the refetch of this interval is spent
			// (or still under way, and shared).
			fkLookup(t, ks, "unknown-z")
			if got := srv.hits.Load(); got > 2 {
				t.Errorf("%d JWKS requests within one interval, want at most 2 (the first fetch and one refetch)", got)
			}
			clock.Advance(time.Minute)
			fkLookup(t, ks, "unknown-y")
			if got := srv.hits.Load(); got > 3 {
				t.Errorf("%d JWKS requests after the next interval, want at most 3", got)
			}
		})
	}
}

// TestRemoteKeySetSharedFetchOutlivesCallers: concurrent lookups of an
// unknown kid share one fetch, which completes and is recorded even when
// every one of them hangs up while it runs.
func TestRemoteKeySetSharedFetchOutlivesCallers(t *testing.T) {
	srv, ks := fkRotated(t, fkRSAJWK("new", fkDecoy("new")))
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := ks.VerificationKeys(ctx, "new"); !errors.Is(err, context.Canceled) {
				t.Errorf("lookup whose caller left: err = %v, want context.Canceled", err)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for srv.hits.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel() // every caller hangs up while the fetch is held
	wg.Wait()
	srv.mu.Lock()
	srv.gate = nil
	srv.mu.Unlock()
	close(gate)
	// The fetch went on without them: the new key is there, and no one
	// fetched again for it.
	if n := fkLookup(t, ks, "new"); n != 1 {
		t.Errorf("the new key after the callers left: %d keys", n)
	}
	for range 10 {
		fkLookup(t, ks, "still-unknown")
	}
	fkHits(t, srv, 2)
}
