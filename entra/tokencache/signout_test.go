package tokencache_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/internal/testlog"
	"github.com/entrakit/entrakit/internal/testredis"
)

// everyStore runs check against each store kind: memory, file, Redis, and a
// layered memory over Redis.
func everyStore(t *testing.T, check func(t *testing.T, store tokencache.Store)) {
	srv := testredis.Start(t)
	for _, s := range []struct {
		name string
		make func(t *testing.T) tokencache.Store
	}{
		{"memory", func(*testing.T) tokencache.Store { return tokencache.NewMemoryStore(tokencache.MemoryOptions{}) }},
		{"file", func(t *testing.T) tokencache.Store { return fileStore(t, filepath.Join(t.TempDir(), "cache")) }},
		{"redis", func(t *testing.T) tokencache.Store { return redisStore(t, srv) }},
		{"layered", func(t *testing.T) tokencache.Store { return tokencache.NewLayered(redisStore(t, srv), 100) }},
	} {
		t.Run(s.name, func(t *testing.T) { check(t, s.make(t)) })
	}
}

// storedState is what a client that loads key now would hold.
func storedState(t *testing.T, c *tokencache.Cache, key string) string {
	t.Helper()
	f := newFakeMSAL("")
	if err := c.Partition(key).Replace(context.Background(), f, noReplace); err != nil {
		t.Fatal(err)
	}
	return f.get()
}

// TestRefreshRacingSignOut: a client loads its partition, the user signs out
// (Remove), then the client's refresh completes and exports the refreshed
// token. The export must not bring the partition back; a later sign-in must.
func TestRefreshRacingSignOut(t *testing.T) {
	everyStore(t, func(t *testing.T, store tokencache.Store) {
		ctx := context.Background()
		c := tcCache(store, sealRing(t, 1))
		export(t, c.Partition(userA), `{"RefreshToken":{"rt":{"secret":"rt-before-sign-out"}}}`)

		p := c.Partition(userA)
		f := newFakeMSAL("")
		if err := p.Replace(ctx, f, noReplace); err != nil || !strings.Contains(f.get(), "rt-before-sign-out") {
			t.Fatalf("load: %v %q", err, f.get())
		}
		if err := c.Remove(ctx, userA); err != nil {
			t.Fatal(err)
		}
		f.addEntry(t, "RefreshToken", "rt", `{"secret":"rt-refreshed"}`) // the refresh in flight
		if err := p.Export(ctx, f, noExport); err != nil {
			t.Fatal(err)
		}
		if got := storedState(t, c, userA); strings.Contains(got, "rt-") {
			t.Fatalf("the partition came back after sign-out: a new client loads %q", got)
		}
		// The racing client forgets its tokens on its next call, and what it
		// would export then is not stored either.
		if err := p.Replace(ctx, f, noReplace); err != nil || strings.Contains(f.get(), "rt-") {
			t.Fatalf("the racing client still holds %q after sign-out (%v)", f.get(), err)
		}
		if got := storedState(t, c, userA); strings.Contains(got, "rt-") {
			t.Fatalf("the partition came back: %q", got)
		}

		// A genuine sign-in after the sign-out creates the partition again.
		signIn := `{"RefreshToken":{"rt":{"secret":"rt-new-session"}}}`
		if err := c.Router().Export(ctx, newFakeMSAL(signIn), cache.ExportHints{PartitionKey: userA}); err != nil {
			t.Fatal(err)
		}
		if got := storedState(t, c, userA); !strings.Contains(got, "rt-new-session") {
			t.Fatalf("a sign-in after the sign-out was not stored: %q", got)
		}
		// And the client that saw the sign-out serves the new session.
		if err := p.Replace(ctx, f, noReplace); err != nil || !strings.Contains(f.get(), "rt-new-session") {
			t.Fatalf("after a new sign-in the old client holds %q (%v)", f.get(), err)
		}
	})
}

// roundTripFunc is an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestMSALRefreshRacingSignOut is TestRefreshRacingSignOut with MSAL Go and
// the dev tenant: the user signs out while the silent call's refresh is at
// the token endpoint.
func TestMSALRefreshRacingSignOut(t *testing.T) {
	e := startTenant(t)
	ctx := context.Background()
	store := tokencache.NewMemoryStore(tokencache.MemoryOptions{})
	c := newCache(store)
	acct, _ := e.signIn(t, e.replica(t, c), "AdeleV")

	var signOut atomic.Bool
	racing := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") && signOut.CompareAndSwap(true, false) {
			if err := c.Remove(r.Context(), acct.HomeAccountID); err != nil {
				t.Error(err)
			}
		}
		return e.client.Transport.RoundTrip(r)
	})}
	clients := tokencache.NewClients(c, 0, func(a cache.ExportReplace) (confidential.Client, error) {
		return entra.NewConfidentialClient(e.cfg, entra.ClientOptions{HTTPClient: racing, Cache: a})
	})
	client, err := clients.Get(acct.HomeAccountID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.AcquireTokenSilent(ctx, []string{"User.Read"}, confidential.WithSilentAccount(acct)); err != nil {
		t.Fatal(err)
	}
	// A scope not in the cache: MSAL redeems the refresh token, and the
	// user signs out meanwhile.
	signOut.Store(true)
	if _, err := client.AcquireTokenSilent(ctx, []string{"https://graph.microsoft.com/User.Read"}, confidential.WithSilentAccount(acct)); err != nil {
		t.Fatal(err)
	}
	if signOut.Load() {
		t.Fatal("the silent call made no token request")
	}
	if got := storedState(t, c, acct.HomeAccountID); strings.Contains(got, "RefreshToken") && !strings.Contains(got, `"RefreshToken":{}`) {
		t.Fatalf("the partition came back after sign-out with a refresh token: %.200s", got)
	}
	if _, err := client.AcquireTokenSilent(ctx, []string{"User.Read"}, confidential.WithSilentAccount(acct)); err == nil {
		t.Fatal("the client that raced the sign-out still serves tokens")
	}
}

// wantSignedOut fails t if key holds tokens: after a sign-out the store
// holds nothing, or a tombstone that opens as no tokens.
func wantSignedOut(t testing.TB, store tokencache.Store, ring *tokencache.KeyRing, key string) {
	t.Helper()
	blob, _, err := store.Get(context.Background(), key)
	if errors.Is(err, tokencache.ErrNotFound) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ring.Open(key, blob); err == nil || len(blob) > 64 {
		t.Fatalf("after sign-out %q holds a %d-byte blob (open: %v), want a tombstone", key, len(blob), err)
	}
}

// TestSignOutTombstone: the tombstone carries the sign-out time (logged
// when a write is dropped) and expires with the cache's TTL.
func TestSignOutTombstone(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	store := tokencache.NewMemoryStore(tokencache.MemoryOptions{Now: clock.Now})
	logs := &testlog.Buffer{}
	c := tcCache(store, sealRing(t, 1))
	c.Now, c.TTL, c.Logger = clock.Now, time.Hour, slog.New(slog.NewTextHandler(logs, nil))
	export(t, c.Partition(userA), `{"RefreshToken":{"rt":{"secret":"rt-1"}}}`)
	p, f := c.Partition(userA), newFakeMSAL("")
	if err := p.Replace(ctx, f, noReplace); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, userA); err != nil {
		t.Fatal(err)
	}
	wantSignedOut(t, store, c.Keys, userA)
	clock.Advance(3 * time.Second)
	f.addEntry(t, "RefreshToken", "rt", `{"secret":"rt-2"}`)
	if err := p.Export(ctx, f, noExport); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "signed_out_ago=3s") || strings.Contains(out, userA) || strings.Contains(out, "rt-") {
		t.Fatalf("the dropped write is not logged with the sign-out's age, or the log leaks:\n%s", out)
	}
	if s := c.Metrics.Snapshot(); s.DroppedWrites != 1 {
		t.Fatalf("DroppedWrites = %d, want 1", s.DroppedWrites)
	}
	if store.Len() != 1 {
		t.Fatalf("store holds %d entries, want the tombstone", store.Len())
	}
	clock.Advance(time.Hour)
	if _, _, err := store.Get(ctx, userA); !errors.Is(err, tokencache.ErrNotFound) || store.Len() != 0 {
		t.Fatalf("the tombstone outlived the TTL: %v, %d entries", err, store.Len())
	}
}

// TestSignOutDropsStaleWrites: the ways a client holding tokens from before
// a sign-out can try to write them back, and a new client after it.
func TestSignOutDropsStaleWrites(t *testing.T) {
	const before = `{"RefreshToken":{"rt":{"secret":"rt-before"}}}`
	for _, tc := range []struct {
		name string
		race func(t *testing.T, c *tokencache.Cache, store *flakyStore, p *tokencache.Partition, f *fakeMSAL)
	}{
		{"export after MSAL's re-read", func(t *testing.T, c *tokencache.Cache, _ *flakyStore, p *tokencache.Partition, f *fakeMSAL) {
			signOut(t, c)
			if err := p.Replace(context.Background(), f, noReplace); err != nil || f.get() != "{}" {
				t.Fatalf("the re-read after sign-out left %q (%v)", f.get(), err)
			}
			f.addEntry(t, "RefreshToken", "rt", `{"secret":"rt-refreshed"}`)
			export(t, p, f.get())
		}},
		{"pending write from a store outage", func(t *testing.T, c *tokencache.Cache, store *flakyStore, p *tokencache.Partition, f *fakeMSAL) {
			store.down.Store(true)
			f.addEntry(t, "RefreshToken", "rt", `{"secret":"rt-pending"}`)
			export(t, p, f.get())
			store.down.Store(false)
			signOut(t, c)
			if err := p.Replace(context.Background(), f, noReplace); err != nil || f.get() != "{}" {
				t.Fatalf("after sign-out the client holds %q (%v)", f.get(), err)
			}
			export(t, p, f.get())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &flakyStore{Store: tokencache.NewMemoryStore(tokencache.MemoryOptions{})}
			c := tcCache(store, sealRing(t, 1))
			export(t, c.Partition(userA), before)
			p, f := c.Partition(userA), newFakeMSAL("")
			if err := p.Replace(context.Background(), f, noReplace); err != nil || f.get() != before {
				t.Fatalf("load: %q %v", f.get(), err)
			}
			tc.race(t, c, store, p, f)
			if got := storedState(t, c, userA); strings.Contains(got, "rt-") {
				t.Fatalf("the partition came back after sign-out: %q", got)
			}
			// The racing client forgets; a client built after the sign-out
			// (a new sign-in through it) writes.
			if err := p.Replace(context.Background(), f, noReplace); err != nil || strings.Contains(f.get(), "rt-") {
				t.Fatalf("the racing client still holds %q (%v)", f.get(), err)
			}
			fresh, ff := c.Partition(userA), newFakeMSAL("")
			if err := fresh.Replace(context.Background(), ff, noReplace); err != nil {
				t.Fatal(err)
			}
			ff.addEntry(t, "RefreshToken", "rt", `{"secret":"rt-new-session"}`)
			export(t, fresh, ff.get())
			if got := storedState(t, c, userA); !strings.Contains(got, "rt-new-session") {
				t.Fatalf("a sign-in after the sign-out was not stored: %q", got)
			}
		})
	}
}

func signOut(t *testing.T, c *tokencache.Cache) {
	t.Helper()
	if err := c.Remove(context.Background(), userA); err != nil {
		t.Fatal(err)
	}
}

// TestSignOutSharedStoreDown: a sign-out that only reaches Layered's L1
// is an error, as the Delete it replaces was: other replicas still serve
// the tokens.
func TestSignOutSharedStoreDown(t *testing.T) {
	srv := testredis.Start(t)
	l := tokencache.NewLayered(redisStore(t, srv), 10)
	l.OnL2Error = func(string, error) {}
	c := tcCache(l, sealRing(t, 1))
	export(t, c.Partition(userA), string(sealPlain))
	srv.Stop()
	if err := c.Remove(context.Background(), userA); err == nil {
		t.Fatal("a sign-out that did not reach the shared store returned nil")
	}
	if got := storedState(t, c, userA); strings.Contains(got, "rt-") || strings.Contains(got, "at-") {
		t.Fatalf("this replica still serves %q after a sign-out", got)
	}
}

// FuzzStoredBlob puts arbitrary bytes where a partition's blob (or its
// tombstone) belongs: loading and writing over it never panics nor fails.
func FuzzStoredBlob(f *testing.F) {
	ctx := context.Background()
	ring := sealRing(f, 1)
	c := tcCache(tokencache.NewMemoryStore(tokencache.MemoryOptions{}), ring)
	if err := c.Remove(ctx, userA); err != nil {
		f.Fatal(err)
	}
	stone, _, err := c.Store.Get(ctx, userA)
	if err != nil {
		f.Fatal(err)
	}
	for n := 0; n <= len(stone); n++ {
		f.Add(stone[:n])
	}
	f.Add(append(append([]byte(nil), stone...), 0))
	f.Add(ring.Seal(userA, sealPlain))
	f.Fuzz(func(t *testing.T, data []byte) {
		store := tokencache.NewMemoryStore(tokencache.MemoryOptions{})
		c := tcCache(store, ring)
		if _, err := store.Put(ctx, userA, data, 0, 0); err != nil {
			t.Skip()
		}
		p, fm := c.Partition(userA), newFakeMSAL("")
		if err := p.Replace(ctx, fm, noReplace); err != nil {
			t.Fatal(err)
		}
		fm.addEntry(t, "RefreshToken", "rt", `{"secret":"rt-x"}`)
		if err := p.Export(ctx, fm, noExport); err != nil {
			t.Fatal(err)
		}
	})
}
