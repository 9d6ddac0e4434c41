package tokencache_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/entra/tokencache/storetest"
	"github.com/entrakit/entrakit/internal/testlog"
	"github.com/entrakit/entrakit/internal/testredis"
	"github.com/redis/go-redis/v9"
)

// ---------------------------------------------------------------------------
// Fakes and helpers

// fakeMSAL stands in for MSAL's in-memory cache: Marshal returns its state,
// Unmarshal replaces it, and every Unmarshal is recorded.
type fakeMSAL struct {
	mu         sync.Mutex
	state      []byte
	unmarshals []string
}

var (
	_ cache.Marshaler   = (*fakeMSAL)(nil)
	_ cache.Unmarshaler = (*fakeMSAL)(nil)
)

func newFakeMSAL(state string) *fakeMSAL { return &fakeMSAL{state: []byte(state)} }

func (f *fakeMSAL) Marshal() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]byte(nil), f.state...), nil
}

func (f *fakeMSAL) Unmarshal(b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !json.Valid(b) {
		return errors.New("fakeMSAL: not JSON")
	}
	f.unmarshals = append(f.unmarshals, string(b))
	f.state = append([]byte(nil), b...)
	return nil
}

func (f *fakeMSAL) set(state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = []byte(state)
}

func (f *fakeMSAL) get() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.state)
}

func (f *fakeMSAL) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.unmarshals...)
}

// addEntry adds section/key to the state, as MSAL does after a token
// request.
func (f *fakeMSAL) addEntry(t testing.TB, section, key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]map[string]json.RawMessage{}
	if len(f.state) > 0 {
		if err := json.Unmarshal(f.state, &m); err != nil {
			t.Errorf("fakeMSAL state %q: %v", f.state, err)
			return
		}
	}
	if m[section] == nil {
		m[section] = map[string]json.RawMessage{}
	}
	m[section][key] = json.RawMessage(value)
	f.state, _ = json.Marshal(m)
}

func tcCache(store tokencache.Store, ring *tokencache.KeyRing) *tokencache.Cache {
	return &tokencache.Cache{Store: store, Keys: ring, Metrics: &tokencache.Metrics{}, Logger: slog.New(slog.DiscardHandler)}
}

func tcMemCache(t testing.TB) (*tokencache.Cache, *tokencache.MemoryStore) {
	s := tokencache.NewMemoryStore(tokencache.MemoryOptions{})
	return tcCache(s, sealRing(t, 1)), s
}

type cacheSections map[string]map[string]json.RawMessage

// export hands p a state of MSAL's cache, as MSAL does after a token call.
func export(t testing.TB, p cache.ExportReplace, state string) {
	t.Helper()
	if err := p.Export(context.Background(), newFakeMSAL(state), noExport); err != nil {
		t.Fatal(err)
	}
}

// fileStore opens a FileStore on dir.
func fileStore(t testing.TB, dir string) *tokencache.FileStore {
	t.Helper()
	s, err := tokencache.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openStored reads key from store and opens it with ring.
func openStored(t testing.TB, store tokencache.Store, ring *tokencache.KeyRing, key string) cacheSections {
	t.Helper()
	blob, _, err := store.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	pt, _, err := ring.Open(key, blob)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	var m cacheSections
	if err := json.Unmarshal(pt, &m); err != nil {
		t.Fatalf("stored plaintext %q: %v", pt, err)
	}
	return m
}

func (m cacheSections) String() string { b, _ := json.Marshal(m); return string(b) }

func (m cacheSections) has(section, key string) bool { _, ok := m[section][key]; return ok }

func wantGone(t testing.TB, store tokencache.Store, key string) {
	t.Helper()
	if _, _, err := store.Get(context.Background(), key); !errors.Is(err, tokencache.ErrNotFound) {
		t.Fatalf("entry %q still stored (Get err=%v); a blob that does not open must be removed", key, err)
	}
}

// failingStore fails every call, like a store that is down.
type failingStore struct{ calls atomic.Int64 }

var errStoreDown = errors.New("store down (test)")

func (s *failingStore) Get(context.Context, string) ([]byte, uint64, error) {
	s.calls.Add(1)
	return nil, 0, errStoreDown
}

func (s *failingStore) Put(context.Context, string, []byte, uint64, time.Duration) (uint64, error) {
	s.calls.Add(1)
	return 0, errStoreDown
}

func (s *failingStore) Delete(context.Context, string) error {
	s.calls.Add(1)
	return errStoreDown
}

// flakyStore is a store behind a link that can be cut: while down, every
// call fails and the data behind it is kept (a network partition, or a
// Redis that stops answering without losing data).
type flakyStore struct {
	tokencache.Store
	down atomic.Bool
}

func (s *flakyStore) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	if s.down.Load() {
		return nil, 0, errStoreDown
	}
	return s.Store.Get(ctx, key)
}

func (s *flakyStore) Put(ctx context.Context, key string, blob []byte, expected uint64, ttl time.Duration) (uint64, error) {
	if s.down.Load() {
		return 0, errStoreDown
	}
	return s.Store.Put(ctx, key, blob, expected, ttl)
}

func (s *flakyStore) Delete(ctx context.Context, key string) error {
	if s.down.Load() {
		return errStoreDown
	}
	return s.Store.Delete(ctx, key)
}

// l2Errors records Layered.OnL2Error calls.
type l2Errors struct {
	mu  sync.Mutex
	ops []string
}

func (e *l2Errors) record(op string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ops = append(e.ops, op)
}

func (e *l2Errors) count(op string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, o := range e.ops {
		if o == op {
			n++
		}
	}
	return n
}

const (
	userA = "uid-a.tid-1"
	userB = "uid-b.tid-1"
)

var noReplace cache.ReplaceHints
var noExport cache.ExportHints

// ---------------------------------------------------------------------------
// Partition

func TestPartitionReplaceMissing(t *testing.T) {
	c, _ := tcMemCache(t)
	f := newFakeMSAL(`{"untouched":{}}`)
	if err := c.Partition(userA).Replace(context.Background(), f, noReplace); err != nil {
		t.Fatal(err)
	}
	if calls := f.calls(); len(calls) != 0 || f.get() != `{"untouched":{}}` {
		t.Fatalf("a miss touched the client cache: unmarshals=%q state=%q", calls, f.get())
	}
	if s := c.Metrics.Snapshot(); s.Misses != 1 || s.Hits != 0 || s.Decodes != 0 {
		t.Fatalf("metrics %+v, want one miss", s)
	}
}

func TestPartitionDecodesOnlyChangedBlobs(t *testing.T) {
	ctx := context.Background()
	c, _ := tcMemCache(t)
	state := `{"AccessToken":{"x":{"secret":"at-x","expires_on":"100"}}}`
	writer := c.Partition(userA)
	export(t, writer, state)
	if s := c.Metrics.Snapshot(); s.Writes != 1 || s.BytesWritten == 0 {
		t.Fatalf("metrics after Export %+v", s)
	}
	// The writer's own blob is not decoded again.
	wf := newFakeMSAL(state)
	if err := writer.Replace(ctx, wf, noReplace); err != nil {
		t.Fatal(err)
	}
	if len(wf.calls()) != 0 {
		t.Fatal("the writer decoded the blob it had just written")
	}

	// A second client of the partition decodes once.
	reader := c.Partition(userA)
	f := newFakeMSAL("")
	for i := 0; i < 3; i++ {
		if err := reader.Replace(ctx, f, noReplace); err != nil {
			t.Fatal(err)
		}
	}
	if calls := f.calls(); len(calls) != 1 || calls[0] != state {
		t.Fatalf("unmarshals %q, want the stored state once", calls)
	}
	s := c.Metrics.Snapshot()
	if s.Decodes != 1 || s.Hits != 4 || s.Misses != 0 {
		t.Fatalf("metrics %+v, want 1 decode and 4 hits", s)
	}

	// A new blob is decoded again.
	state2 := `{"AccessToken":{"y":{"secret":"at-y","expires_on":"200"}}}`
	export(t, writer, state2)
	if err := reader.Replace(ctx, f, noReplace); err != nil {
		t.Fatal(err)
	}
	if f.get() != state2 || c.Metrics.Decodes.Load() != 2 {
		t.Fatalf("after a new write: state %q, decodes %d", f.get(), c.Metrics.Decodes.Load())
	}
}

// TestPartitionBadBlobs: whatever is stored under the key, a blob that does
// not open is a miss, is counted and is removed; the client is never given
// its bytes (in particular, plaintext is never accepted).
func TestPartitionBadBlobs(t *testing.T) {
	ring := sealRing(t, 1)
	good := ring.Seal(userA, sealPlain)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x10
	notJSON := ring.Seal(userA, []byte("not json at all"))
	for _, tc := range []struct {
		name string
		blob []byte
		// notJSON opens but the client cannot decode it: counted as an open
		// failure too.
	}{
		{"garbage", []byte("garbage garbage garbage garbage garbage garbage")},
		{"empty", []byte{}},
		{"truncated", good[:len(good)-1]},
		{"header only", good[:2+int(good[1])+12]},
		{"bit flip", flipped},
		{"plaintext json", sealPlain},
		{"other key", sealRing(t, 9).Seal(userA, sealPlain)},
		{"format 2", append([]byte{2}, good[1:]...)},
		{"sealed non-json", notJSON},
	} {
		for _, loadedFirst := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/loaded=%v", tc.name, loadedFirst), func(t *testing.T) {
				ctx := context.Background()
				store := tokencache.NewMemoryStore(tokencache.MemoryOptions{})
				c := tcCache(store, ring)
				p := c.Partition(userA)
				f := newFakeMSAL("")
				var v uint64
				if loadedFirst {
					// The client holds a good blob; then the stored one goes bad.
					export(t, c.Partition(userA), string(sealPlain))
					if err := p.Replace(ctx, f, noReplace); err != nil || f.get() != string(sealPlain) {
						t.Fatalf("load: %v, state %q", err, f.get())
					}
					_, v, _ = store.Get(ctx, userA)
				}
				if _, err := store.Put(ctx, userA, tc.blob, v, 0); err != nil {
					t.Fatal(err)
				}
				before := len(f.calls())
				if err := p.Replace(ctx, f, noReplace); err != nil {
					t.Fatalf("Replace = %v, want nil (a miss)", err)
				}
				for _, u := range f.calls()[before:] {
					if u != "{}" {
						t.Fatalf("the client was given %q, want nothing or {}", u)
					}
				}
				if loadedFirst && f.get() != "{}" {
					t.Fatalf("client state %q after its blob went bad, want {}", f.get())
				}
				if !loadedFirst && f.get() != "" && f.get() != "{}" {
					t.Fatalf("client state %q, want empty", f.get())
				}
				if n := c.Metrics.OpenFailures.Load(); n != 1 {
					t.Fatalf("OpenFailures = %d, want 1", n)
				}
				if tc.name == "other key" {
					// Sealed with a key this ring lacks: kept, since during a
					// rolling key rotation another replica may hold the key.
					if _, _, err := store.Get(ctx, userA); err != nil {
						t.Fatalf("a blob sealed with an unknown key was removed: %v", err)
					}
					return
				}
				wantGone(t, store, userA)
			})
		}
	}
}

func TestPartitionBlobMovedToAnotherUser(t *testing.T) {
	ctx := context.Background()
	c, store := tcMemCache(t)
	tokensA := `{"RefreshToken":{"ra":{"secret":"rt-of-user-a"}}}`
	export(t, c.Partition(userA), tokensA)
	blob, _, err := store.Get(ctx, userA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, userB, append([]byte(nil), blob...), 0, 0); err != nil {
		t.Fatal(err)
	}

	fB := newFakeMSAL("")
	if err := c.Partition(userB).Replace(ctx, fB, noReplace); err != nil {
		t.Fatal(err)
	}
	if len(fB.calls()) != 0 || strings.Contains(fB.get(), "rt-of-user-a") {
		t.Fatalf("user B was given user A's blob: %q", fB.calls())
	}
	if s := c.Metrics.Snapshot(); s.OpenFailures != 1 || s.Misses != 1 {
		t.Fatalf("metrics %+v, want 1 open failure and 1 miss", s)
	}
	wantGone(t, store, userB)

	// The router, too, does not give B's caller A's blob.
	if _, err := store.Put(ctx, userB, blob, 0, 0); err != nil {
		t.Fatal(err)
	}
	fR := newFakeMSAL("")
	if err := c.Router().Replace(ctx, fR, cache.ReplaceHints{PartitionKey: userB}); err != nil {
		t.Fatal(err)
	}
	if fR.get() != "{}" {
		t.Fatalf("router gave %q for B, want {}", fR.get())
	}
	wantGone(t, store, userB)
	// A's own entry is unharmed.
	if m := openStored(t, store, c.Keys, userA); !m.has("RefreshToken", "ra") {
		t.Fatalf("A's entry damaged: %v", m)
	}
}

func TestPartitionSignedOutElsewhere(t *testing.T) {
	ctx := context.Background()
	c, store := tcMemCache(t)
	export(t, c.Partition(userA), string(sealPlain))
	p := c.Partition(userA)
	f := newFakeMSAL("")
	if err := p.Replace(ctx, f, noReplace); err != nil || f.get() != string(sealPlain) {
		t.Fatalf("load: %v %q", err, f.get())
	}
	if err := c.Remove(ctx, userA); err != nil {
		t.Fatal(err)
	}
	wantSignedOut(t, store, c.Keys, userA)
	if err := p.Replace(ctx, f, noReplace); err != nil {
		t.Fatal(err)
	}
	if f.get() != "{}" {
		t.Fatalf("after sign-out elsewhere the client still holds %q, want {}", f.get())
	}
	// And only once: the next Replace is a plain miss.
	n := len(f.calls())
	if err := p.Replace(ctx, f, noReplace); err != nil || len(f.calls()) != n {
		t.Fatalf("a second miss touched the client again (%v)", err)
	}
	if s := c.Metrics.Snapshot(); s.Misses != 2 {
		t.Fatalf("Misses = %d, want 2", s.Misses)
	}
}

func TestCacheStoreDown(t *testing.T) {
	ctx := context.Background()
	store := &failingStore{}
	logs := &testlog.Buffer{}
	c := tcCache(store, sealRing(t, 1))
	c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	p := c.Partition(userA)
	f := newFakeMSAL(string(sealPlain))

	if err := p.Replace(ctx, f, noReplace); err != nil {
		t.Fatalf("Replace with the store down = %v, want nil", err)
	}
	if f.get() != string(sealPlain) || len(f.calls()) != 0 {
		t.Fatal("Replace with the store down changed what the client holds")
	}
	if err := p.Export(ctx, f, noExport); err != nil {
		t.Fatalf("Export with the store down = %v, want nil", err)
	}
	s := c.Metrics.Snapshot()
	if s.StoreErrors != 2 {
		t.Fatalf("StoreErrors = %d, want 2", s.StoreErrors)
	}
	if s.Writes != 0 || s.OpenFailures != 0 {
		t.Fatalf("metrics %+v", s)
	}

	// Router: a sign-in with the store down still completes.
	r := c.Router()
	rf := newFakeMSAL("")
	if err := r.Replace(ctx, rf, cache.ReplaceHints{PartitionKey: userA}); err != nil || rf.get() != "{}" {
		t.Fatalf("router Replace: %v, state %q", err, rf.get())
	}
	if err := r.Export(ctx, newFakeMSAL(string(sealPlain)), cache.ExportHints{PartitionKey: userA}); err != nil {
		t.Fatalf("router Export: %v", err)
	}
	if n := c.Metrics.StoreErrors.Load(); n != 4 {
		t.Fatalf("StoreErrors = %d, want 4", n)
	}
	if err := c.Remove(ctx, userA); err == nil {
		t.Fatal("Remove with the store down returned nil")
	}
	if n := c.Metrics.StoreErrors.Load(); n != 5 {
		t.Fatalf("StoreErrors = %d after Remove, want 5", n)
	}
	out := logs.String()
	if !strings.Contains(out, "store read failed") || !strings.Contains(out, "store write failed") {
		t.Fatalf("store failures not logged:\n%s", out)
	}
	if strings.Contains(out, userA) || strings.Contains(out, "rt-456") || strings.Contains(out, "at-123") {
		t.Fatalf("logs contain a partition key or a token:\n%s", out)
	}
}

func TestPartitionConflictMerges(t *testing.T) {
	ctx := context.Background()
	c, store := tcMemCache(t)
	initial := `{"Account":{"acct":{"home_account_id":"uid-a.tid-1"}}}`
	export(t, c.Partition(userA), initial)
	_, v, _ := store.Get(ctx, userA)

	a1, a2 := c.Partition(userA), c.Partition(userA)
	f1, f2 := newFakeMSAL(""), newFakeMSAL("")
	for _, x := range []struct {
		p *tokencache.Partition
		f *fakeMSAL
	}{{a1, f1}, {a2, f2}} {
		if err := x.p.Replace(ctx, x.f, noReplace); err != nil || x.f.get() != initial {
			t.Fatalf("load: %v %q", err, x.f.get())
		}
	}

	f1.set(`{"AccessToken":{"x":{"expires_on":"100"}}}`)
	if err := a1.Export(ctx, f1, noExport); err != nil {
		t.Fatal(err)
	}
	if _, v1, _ := store.Get(ctx, userA); v1 == v {
		t.Fatal("A1's export did not write")
	}
	f2.set(`{"AccessToken":{"y":{"expires_on":"200"}},"RefreshToken":{"r":{}}}`)
	if err := a2.Export(ctx, f2, noExport); err != nil {
		t.Fatal(err)
	}

	m := openStored(t, store, c.Keys, userA)
	for _, want := range [][2]string{{"AccessToken", "x"}, {"AccessToken", "y"}, {"RefreshToken", "r"}} {
		if !m.has(want[0], want[1]) {
			t.Errorf("merged blob lacks %s/%s: %v", want[0], want[1], m)
		}
	}
	s := c.Metrics.Snapshot()
	if s.Conflicts != 1 || s.Writes != 3 || s.DroppedWrites != 0 {
		t.Fatalf("metrics %+v, want 1 conflict, 3 writes", s)
	}

	// Both clients then decode the merged blob, so neither lacks the
	// other's tokens.
	for _, x := range []struct {
		p *tokencache.Partition
		f *fakeMSAL
	}{{a1, f1}, {a2, f2}} {
		if err := x.p.Replace(ctx, x.f, noReplace); err != nil {
			t.Fatal(err)
		}
		if got := x.f.get(); !strings.Contains(got, `"x"`) || !strings.Contains(got, `"y"`) || !strings.Contains(got, `"r"`) {
			t.Fatalf("a client did not reload the merged blob: %q", got)
		}
	}
}

func TestMergeKeepsLaterAccessToken(t *testing.T) {
	c, store := tcMemCache(t)
	a1, a2 := c.Partition(userA), c.Partition(userA)
	// Both start from nothing; A1 writes a later-expiring token for the same
	// key, A2 an earlier one, which conflicts: the later one stays.
	export(t, a1, `{"AccessToken":{"k":{"secret":"late","expires_on":"2000"}}}`)
	export(t, a2, `{"AccessToken":{"k":{"secret":"early","expires_on":"1000"}}}`)
	m := openStored(t, store, c.Keys, userA)
	if !strings.Contains(string(m["AccessToken"]["k"]), "late") {
		t.Fatalf("merge kept %s, want the later-expiring token", m["AccessToken"]["k"])
	}
	if c.Metrics.Conflicts.Load() != 1 {
		t.Fatalf("Conflicts = %d", c.Metrics.Conflicts.Load())
	}
}

// ---------------------------------------------------------------------------
// Router

func TestRouterEmptyPartitionKey(t *testing.T) {
	ctx := context.Background()
	c, store := tcMemCache(t)
	r := c.Router()
	if err := r.Export(ctx, newFakeMSAL(string(sealPlain)), cache.ExportHints{}); err != nil {
		t.Fatal(err)
	}
	if store.Len() != 0 {
		t.Fatalf("a write without a partition key was stored (%d entries)", store.Len())
	}
	if s := c.Metrics.Snapshot(); s.DroppedWrites != 1 || s.Writes != 0 {
		t.Fatalf("metrics %+v, want 1 dropped write", s)
	}
	// Another user's data exists; an unkeyed read still starts empty.
	export(t, c.Partition(userA), string(sealPlain))
	f := newFakeMSAL(`{"stale":{}}`)
	if err := r.Replace(ctx, f, cache.ReplaceHints{}); err != nil {
		t.Fatal(err)
	}
	if f.get() != "{}" {
		t.Fatalf("Router.Replace without a key gave %q, want {}", f.get())
	}
}

func TestRouterMergesIntoPartition(t *testing.T) {
	ctx := context.Background()
	c, store := tcMemCache(t)
	export(t, c.Partition(userA), `{"RefreshToken":{"old":{}}}`)
	r := c.Router()
	// A sign-in on the shared client: the read starts empty for a new
	// partition, and loads the partition it names.
	fb := newFakeMSAL(`{"left-over":{}}`)
	if err := r.Replace(ctx, fb, cache.ReplaceHints{PartitionKey: userB}); err != nil || fb.get() != "{}" {
		t.Fatalf("Router.Replace(new partition): %v %q", err, fb.get())
	}
	fa := newFakeMSAL("")
	if err := r.Replace(ctx, fa, cache.ReplaceHints{PartitionKey: userA}); err != nil || !strings.Contains(fa.get(), "old") {
		t.Fatalf("Router.Replace(A): %v %q", err, fa.get())
	}
	// The write is merged with what is stored, not a replacement.
	if err := r.Export(ctx, newFakeMSAL(`{"RefreshToken":{"new":{}}}`), cache.ExportHints{PartitionKey: userA}); err != nil {
		t.Fatal(err)
	}
	m := openStored(t, store, c.Keys, userA)
	if !m.has("RefreshToken", "old") || !m.has("RefreshToken", "new") {
		t.Fatalf("router write lost data: %v", m)
	}
	if _, _, err := store.Get(ctx, userB); !errors.Is(err, tokencache.ErrNotFound) {
		t.Fatal("a read of B created a partition")
	}
}

// ---------------------------------------------------------------------------
// Checklist: tenant isolation, key rotation, unknown key, eviction, TTL

func TestTenantIsolation(t *testing.T) {
	ctx := context.Background()
	c, store := tcMemCache(t)
	keyA, keyB := "app:client-1|tenant-a", "app:client-1|tenant-b"
	appTokenA := `{"AccessToken":{"app":{"secret":"app-token-tenant-a","realm":"tenant-a"}}}`
	export(t, c.Partition(keyA), appTokenA)
	fB := newFakeMSAL("")
	if err := c.Partition(keyB).Replace(ctx, fB, noReplace); err != nil {
		t.Fatal(err)
	}
	fR := newFakeMSAL("")
	if err := c.Router().Replace(ctx, fR, cache.ReplaceHints{PartitionKey: keyB}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*fakeMSAL{fB, fR} {
		if strings.Contains(f.get(), "tenant-a") {
			t.Fatalf("tenant B was served tenant A's token: %q", f.get())
		}
	}
	// Copying tenant A's blob under B does not help either.
	blob, _, _ := store.Get(ctx, keyA)
	store.Put(ctx, keyB, blob, 0, 0)
	if err := c.Partition(keyB).Replace(ctx, fB, noReplace); err != nil || strings.Contains(fB.get(), "tenant-a") {
		t.Fatalf("tenant A's blob under B's key: %v %q", err, fB.get())
	}
}

func TestCacheKeyRotation(t *testing.T) {
	ctx := context.Background()
	k1, k2 := sealKey(t, 1), sealKey(t, 2)
	store := tokencache.NewMemoryStore(tokencache.MemoryOptions{})
	before := tcCache(store, tokencache.NewKeyRing(k1))
	export(t, before.Partition(userA), string(sealPlain))

	// Rotated: k2 primary, k1 still accepted. Old sessions survive.
	after := tcCache(store, tokencache.NewKeyRing(k2, k1))
	p := after.Partition(userA)
	f := newFakeMSAL("")
	if err := p.Replace(ctx, f, noReplace); err != nil || f.get() != string(sealPlain) {
		t.Fatalf("the rotated ring lost the session: %v %q", err, f.get())
	}
	if s := after.Metrics.Snapshot(); s.OpenFailures != 0 || s.Decodes != 1 {
		t.Fatalf("metrics %+v", s)
	}
	// Lazy re-encryption: the next write seals with k2.
	f.addEntry(t, "AccessToken", "new", `{"expires_on":"9"}`)
	if err := p.Export(ctx, f, noExport); err != nil {
		t.Fatal(err)
	}
	blob, _, _ := store.Get(ctx, userA)
	if _, kid, err := tokencache.NewKeyRing(k2).Open(userA, blob); err != nil || kid != k2.ID() {
		t.Fatalf("after a write the blob is not sealed with the new key: %q %v", kid, err)
	}

	// Revoking k1 while a blob sealed with it is stored: a miss, not a failure.
	other := "uid-c.tid-1"
	export(t, before.Partition(other), string(sealPlain))
	revoked := tcCache(store, tokencache.NewKeyRing(k2))
	fc := newFakeMSAL("")
	if err := revoked.Partition(other).Replace(ctx, fc, noReplace); err != nil {
		t.Fatalf("a revoked key gave an error: %v", err)
	}
	if fc.get() != "" {
		t.Fatalf("a revoked key's blob was decoded: %q", fc.get())
	}
	if s := revoked.Metrics.Snapshot(); s.Misses != 1 || s.OpenFailures != 1 {
		t.Fatalf("metrics %+v, want a miss and an open failure", s)
	}
}

func TestUnknownKeyIsLoggedClearly(t *testing.T) {
	ctx := context.Background()
	k1 := sealKey(t, 1)
	store := tokencache.NewMemoryStore(tokencache.MemoryOptions{})
	export(t, tcCache(store, tokencache.NewKeyRing(k1)).Partition(userA), string(sealPlain))
	logs := &testlog.Buffer{}
	c := tcCache(store, sealRing(t, 2))
	c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	f := newFakeMSAL("")
	if err := c.Partition(userA).Replace(ctx, f, noReplace); err != nil || f.get() != "" {
		t.Fatalf("unknown key: %v %q", err, f.get())
	}
	out := logs.String()
	if !strings.Contains(out, k1.ID()) {
		t.Errorf("the log does not name the unknown key id %s:\n%s", k1.ID(), out)
	}
	if !strings.Contains(out, tokencache.ErrUnknownKey.Error()) {
		t.Errorf("the log does not say the key is unknown:\n%s", out)
	}
	if strings.Contains(out, userA) || strings.Contains(out, "rt-456") {
		t.Errorf("the log contains a partition key or a token:\n%s", out)
	}
}

func TestEvictedPartitionIsCleanMiss(t *testing.T) {
	ctx := context.Background()
	store := tokencache.NewMemoryStore(tokencache.MemoryOptions{MaxEntries: 1})
	c := tcCache(store, sealRing(t, 1))
	pA := c.Partition(userA)
	fA := newFakeMSAL(string(sealPlain))
	if err := pA.Export(ctx, fA, noExport); err != nil {
		t.Fatal(err)
	}
	export(t, c.Partition(userB), string(sealPlain))
	if _, _, err := store.Get(ctx, userA); !errors.Is(err, tokencache.ErrNotFound) {
		t.Fatal("A was not evicted")
	}
	if err := pA.Replace(ctx, fA, noReplace); err != nil {
		t.Fatal(err)
	}
	if fA.get() != "{}" {
		t.Fatalf("after eviction the client holds %q, want {} (a new sign-in)", fA.get())
	}
	if s := c.Metrics.Snapshot(); s.Misses != 1 || s.OpenFailures != 0 || s.StoreErrors != 0 {
		t.Fatalf("metrics %+v", s)
	}
}

func TestPartitionTTL(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	store := tokencache.NewMemoryStore(tokencache.MemoryOptions{Now: clock.Now})
	c := tcCache(store, sealRing(t, 1))
	c.TTL = time.Hour
	p := c.Partition(userA)
	f := newFakeMSAL(string(sealPlain))
	if err := p.Export(ctx, f, noExport); err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Minute)
	if err := p.Replace(ctx, f, noReplace); err != nil || f.get() != string(sealPlain) {
		t.Fatalf("before the TTL: %v %q", err, f.get())
	}
	clock.Advance(2 * time.Minute)
	if err := p.Replace(ctx, f, noReplace); err != nil || f.get() != "{}" {
		t.Fatalf("after the TTL: %v %q, want {}", err, f.get())
	}
}

// TestMemoryStoreHardByteCap: the memory layer has a hard cap (checklist 8).
func TestMemoryStoreHardByteCap(t *testing.T) {
	ctx := context.Background()
	s := tokencache.NewMemoryStore(tokencache.MemoryOptions{MaxBytes: 1000})
	if _, err := s.Put(ctx, "small", make([]byte, 100), 0, 0); err != nil {
		t.Fatal(err)
	}
	_, err := s.Put(ctx, "huge", make([]byte, 5000), 0, 0)
	if err == nil && s.Bytes() > 1000 {
		t.Fatalf("Bytes = %d with MaxBytes 1000: one blob larger than the cap is kept, so the cap is not hard", s.Bytes())
	}
}

// TestCacheNoPlaintextAtRest: a token written through the cache to files is
// never on disk in clear, nor is the partition key, and files are 0600.
func TestCacheNoPlaintextAtRest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tc")
	fs := fileStore(t, dir)
	c := tcCache(fs, sealRing(t, 1))
	const secret = "rt-VERY-SECRET-REFRESH-TOKEN-0123456789"
	state := `{"RefreshToken":{"r":{"secret":"` + secret + `"}}}`
	export(t, c.Partition(userA), state)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("nothing written")
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte("RefreshToken")) {
			t.Fatalf("%s holds plaintext", e.Name())
		}
		if strings.Contains(e.Name(), userA) || bytes.Contains(b, []byte(userA)) {
			t.Fatalf("%s reveals the partition key", e.Name())
		}
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, want 0700", fi.Mode().Perm())
	}
}

// TestCacheConcurrentFirstUse: a Cache built without Metrics (the field is
// optional) used from several goroutines at once, as a server does from its
// first requests. Run with -race.
func TestCacheConcurrentFirstUse(t *testing.T) {
	ctx := context.Background()
	c := &tokencache.Cache{
		Store:  tokencache.NewMemoryStore(tokencache.MemoryOptions{}),
		Keys:   sealRing(t, 1),
		Logger: slog.New(slog.DiscardHandler),
	}
	const n = 8
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			key := fmt.Sprintf("user-%d", i)
			_ = c.Partition(key).Replace(ctx, newFakeMSAL(""), noReplace)
		}()
	}
	close(start)
	wg.Wait()
	if c.Metrics == nil {
		t.Fatal("Metrics not set")
	}
	if got := c.Metrics.Misses.Load(); got != n {
		t.Fatalf("Misses = %d after %d misses: counts went to Metrics values that were replaced", got, n)
	}
}

func TestClientsOnePerPartition(t *testing.T) {
	ctx := context.Background()
	c, store := tcMemCache(t)
	var builds atomic.Int64
	pool := tokencache.NewClients(c, 2, func(a cache.ExportReplace) (cache.ExportReplace, error) {
		builds.Add(1)
		return a, nil
	})
	var wg sync.WaitGroup
	got := make([]cache.ExportReplace, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = pool.Get(userA)
		}()
	}
	wg.Wait()
	if builds.Load() != 1 {
		t.Fatalf("%d clients built for one partition", builds.Load())
	}
	for _, g := range got {
		if g != got[0] {
			t.Fatal("two clients for one partition")
		}
	}
	pool.Get(userB)
	pool.Get("uid-c.tid-1") // evicts A
	if pool.Len() != 2 {
		t.Fatalf("Len = %d, want 2", pool.Len())
	}
	export(t, got[0], string(sealPlain))
	if err := pool.Remove(ctx, userA); err != nil {
		t.Fatal(err)
	}
	wantSignedOut(t, store, c.Keys, userA)
	if a, err := pool.Get(userA); err != nil || a == got[0] {
		t.Fatalf("after Remove: %v (same client: %v)", err, a == got[0])
	}
	failing := tokencache.NewClients(c, 0, func(cache.ExportReplace) (int, error) { return 0, errors.New("build failed") })
	if _, err := failing.Get(userA); err == nil || failing.Len() != 0 {
		t.Fatal("a failed build was kept")
	}
}

// ---------------------------------------------------------------------------
// Concurrent replicas over Redis: no lost update

func TestReplicasOverRedisLoseNothing(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	ring := sealRing(t, 1)
	const replicas, each = 2, 15
	var wg sync.WaitGroup
	caches := make([]*tokencache.Cache, replicas)
	for i := range caches {
		caches[i] = tcCache(redisStore(t, srv), ring)
	}
	for i := 0; i < replicas; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := caches[i].Partition(userA)
			f := newFakeMSAL("")
			for j := 0; j < each; j++ {
				if err := p.Replace(ctx, f, noReplace); err != nil {
					t.Error(err)
					return
				}
				f.addEntry(t, "AccessToken", fmt.Sprintf("r%d-%d", i, j), `{"expires_on":"1"}`)
				if err := p.Export(ctx, f, noExport); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	m := openStored(t, caches[0].Store, ring, userA)
	var lost []string
	for i := 0; i < replicas; i++ {
		for j := 0; j < each; j++ {
			if !m.has("AccessToken", fmt.Sprintf("r%d-%d", i, j)) {
				lost = append(lost, fmt.Sprintf("r%d-%d", i, j))
			}
		}
	}
	var dropped, conflicts int64
	for _, c := range caches {
		dropped += c.Metrics.DroppedWrites.Load()
		conflicts += c.Metrics.Conflicts.Load()
	}
	if len(lost) > 0 {
		t.Fatalf("lost %d updates %v (conflicts %d, dropped %d)", len(lost), lost, conflicts, dropped)
	}
	t.Logf("%d conflicts merged", conflicts)
}

// interferingStore lets another writer write just before each of the next
// n Puts, so those Puts conflict: a deterministic "the other replica keeps
// winning the race".
type interferingStore struct {
	tokencache.Store
	n         atomic.Int64
	interfere func()
}

func (s *interferingStore) Put(ctx context.Context, key string, blob []byte, expected uint64, ttl time.Duration) (uint64, error) {
	if s.n.Add(-1) >= 0 {
		s.interfere()
	}
	return s.Store.Put(ctx, key, blob, expected, ttl)
}

// TestRepeatedConflictsLoseNoToken: replica A gets a new refresh token
// while replica B writes the same partition four times in a row, so A's
// compare-and-set loop gives up (DroppedWrites). A's client still holds the
// token; the next request on A (Replace, then Export) must not lose it.
func TestRepeatedConflictsLoseNoToken(t *testing.T) {
	ctx := context.Background()
	ring := sealRing(t, 1)
	mem := tokencache.NewMemoryStore(tokencache.MemoryOptions{})
	cb := tcCache(mem, ring) // replica B writes straight to the store
	pb, fb := cb.Partition(userA), newFakeMSAL("")
	writesByB := 0
	store := &interferingStore{Store: mem, interfere: func() {
		writesByB++
		if err := pb.Replace(ctx, fb, noReplace); err != nil {
			t.Error(err)
		}
		fb.addEntry(t, "AccessToken", fmt.Sprintf("b-%d", writesByB), `{"expires_on":"1"}`)
		if err := pb.Export(ctx, fb, noExport); err != nil {
			t.Error(err)
		}
	}}
	ca := tcCache(store, ring)
	pa, fa := ca.Partition(userA), newFakeMSAL("")
	export(t, pa, `{"Account":{"acct":{}}}`)
	if err := pa.Replace(ctx, fa, noReplace); err != nil {
		t.Fatal(err)
	}

	fa.addEntry(t, "RefreshToken", "rt-a", `{"secret":"refreshed-on-A"}`)
	store.n.Store(4)
	if err := pa.Export(ctx, fa, noExport); err != nil {
		t.Fatal(err)
	}
	t.Logf("conflicts %d, dropped writes %d", ca.Metrics.Conflicts.Load(), ca.Metrics.DroppedWrites.Load())

	// The next request on replica A.
	if err := pa.Replace(ctx, fa, noReplace); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fa.get(), "refreshed-on-A") {
		t.Errorf("after a dropped write, Replace overwrote the client's unsaved refresh token: client holds %s", fa.get())
	}
	if err := pa.Export(ctx, fa, noExport); err != nil {
		t.Fatal(err)
	}
	m := openStored(t, mem, ring, userA)
	if !m.has("RefreshToken", "rt-a") {
		t.Errorf("the refresh token obtained on A was lost (stored: %v)", m)
	}
	for i := 1; i <= writesByB; i++ {
		if !m.has("AccessToken", fmt.Sprintf("b-%d", i)) {
			t.Errorf("B's write b-%d was lost", i)
		}
	}
}

// ---------------------------------------------------------------------------
// Layered over Redis: outage, recovery, and no stale overwrite

func TestLayeredRedisOutage(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	rsA, rsB := redisStore(t, srv), redisStore(t, srv) // two clients, one prefix
	errsA, errsB := &l2Errors{}, &l2Errors{}
	la := tokencache.NewLayered(rsA, 100)
	la.Now, la.OnL2Error = clock.Now, errsA.record
	lb := tokencache.NewLayered(rsB, 100)
	lb.Now, lb.OnL2Error = clock.Now, errsB.record
	const k = "uid-a.tid-1"

	// Write through.
	v1, err := la.Put(ctx, k, []byte("one"), 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, v, err := rsB.Get(ctx, k); err != nil || string(got) != "one" || v != v1 {
		t.Fatalf("not written through: %q v=%d (want %d) %v", got, v, v1, err)
	}

	// Redis down: reads answer from L1, even past Fresh; writes stay local.
	srv.Stop()
	clock.Advance(time.Minute)
	start := time.Now()
	got, v, err := la.Get(ctx, k)
	if err != nil || string(got) != "one" || v != v1 {
		t.Fatalf("Get with Redis down: %q v=%d %v, want the L1 copy", got, v, err)
	}
	if errsA.count("get") != 1 {
		t.Fatalf("OnL2Error(get) called %d times, want 1", errsA.count("get"))
	}
	local, err := la.Put(ctx, k, []byte("written while down"), v1, time.Hour)
	if err != nil || local == 0 || local == v1 {
		t.Fatalf("Put with Redis down: v=%d %v, want a local version", local, err)
	}
	if errsA.count("put") != 1 {
		t.Fatalf("OnL2Error(put) called %d times, want 1", errsA.count("put"))
	}
	if got, v, err := la.Get(ctx, k); err != nil || string(got) != "written while down" || v != local {
		t.Fatalf("Get after a local write: %q v=%d %v", got, v, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("calls with Redis down took %v: timeouts are not bounded", d)
	}
	// A reader with nothing in L1 gets an error (a miss for the cache), fast.
	if _, _, err := lb.Get(ctx, k); err == nil || errors.Is(err, tokencache.ErrNotFound) {
		t.Fatalf("Get with Redis down and an empty L1 = %v, want the store error", err)
	}

	// Redis back (empty: no persistence), and another replica writes first.
	srv.Restart(t)
	waitRedis(t, rsA, rsB)
	vB, err := lb.Put(ctx, k, []byte("newer from B"), 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// A's next write, based on its local version, must not overwrite B's.
	if _, err := la.Put(ctx, k, []byte("A's second write"), local, time.Hour); !errors.Is(err, tokencache.ErrConflict) {
		t.Fatalf("a write based on a version made while down = %v, want ErrConflict", err)
	}
	if got, v, err := rsA.Get(ctx, k); err != nil || string(got) != "newer from B" || v != vB {
		t.Fatalf("B's newer value was overwritten: %q %v", got, err)
	}
	// The caller merges: it reads B's value and writes on top of it.
	got, v, err = la.Get(ctx, k)
	if err != nil || string(got) != "newer from B" || v != vB {
		t.Fatalf("Get after the conflict: %q v=%d %v, want B's value", got, v, err)
	}
	if _, err := la.Put(ctx, k, []byte("merged"), vB, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := rsB.Get(ctx, k); string(got) != "merged" {
		t.Fatalf("Redis holds %q, want merged", got)
	}
}

func TestLayeredLocalWriteFlushedWhenNobodyWrote(t *testing.T) {
	srv := testredis.Start(t)
	ctx := context.Background()
	rs := redisStore(t, srv)
	l := tokencache.NewLayered(rs, 10)
	l.OnL2Error = func(string, error) {}
	v1, err := l.Put(ctx, "k", []byte("one"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	local, err := l.Put(ctx, "k", []byte("two"), v1, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	waitRedis(t, rs)
	// Redis came back empty and nobody wrote: the next write goes through.
	v3, err := l.Put(ctx, "k", []byte("three"), local, 0)
	if err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	if got, v, err := rs.Get(ctx, "k"); err != nil || string(got) != "three" || v != v3 {
		t.Fatalf("Redis holds %q v=%d %v", got, v, err)
	}
}

func waitRedis(t *testing.T, stores ...*tokencache.RedisStore) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range stores {
		for s.Ping(context.Background()) != nil {
			if time.Now().After(deadline) {
				t.Fatal("Redis did not come back")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestLayeredRecoveryKeepsNewerWrite: L2 stops answering but keeps its data
// (a network partition, a Redis too slow to answer); a token refreshed
// meanwhile is written to L1 only. When L2 answers again with its older
// blob, that older blob must not replace the newer refresh token
// (checklist 7: "after recovery an older L2 value must not overwrite a newer
// refresh token").
func TestLayeredRecoveryKeepsNewerWrite(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l2 := &flakyStore{Store: tokencache.NewMemoryStore(tokencache.MemoryOptions{Now: clock.Now})}
	errs := &l2Errors{}
	l := tokencache.NewLayered(l2, 100)
	l.Now, l.OnL2Error = clock.Now, errs.record
	ring := sealRing(t, 1)
	c := tcCache(l, ring)
	p := c.Partition(userA)

	oldState := `{"RefreshToken":{"r":{"secret":"rt-old"}}}`
	newState := `{"RefreshToken":{"r":{"secret":"rt-new"}}}`
	f := newFakeMSAL(oldState)
	if err := p.Export(ctx, f, noExport); err != nil {
		t.Fatal(err)
	}

	l2.down.Store(true)
	f.set(newState) // MSAL refreshed the token
	if err := p.Export(ctx, f, noExport); err != nil {
		t.Fatal(err)
	}
	if errs.count("put") != 1 {
		t.Fatalf("OnL2Error(put) = %d, want 1", errs.count("put"))
	}
	if err := p.Replace(ctx, f, noReplace); err != nil || f.get() != newState {
		t.Fatalf("while L2 is down the client lost its token: %v %q", err, f.get())
	}

	l2.down.Store(false)
	clock.Advance(time.Minute) // past Layered.Fresh: L1 asks L2 again
	if err := p.Replace(ctx, f, noReplace); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.get(), "rt-old") {
		t.Errorf("after recovery the older L2 blob replaced the client's newer refresh token: client holds %q", f.get())
	}
	// The next write must leave the newer token in L2.
	if err := p.Export(ctx, f, noExport); err != nil {
		t.Fatal(err)
	}
	m := openStored(t, l2.Store, ring, userA)
	if !strings.Contains(string(m["RefreshToken"]["r"]), "rt-new") {
		t.Errorf("L2 holds %s after recovery, want the refresh token written while it was down (rt-new)", m["RefreshToken"]["r"])
	}
}

// TestRedisSlowIsBounded: a Redis that accepts connections and never
// answers costs a bounded time per call, and Layered keeps serving L1.
func TestRedisSlowIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	opts, err := tokencache.RedisOptions("redis://" + ln.Addr().String() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.DialTimeout > time.Second || opts.ReadTimeout > 500*time.Millisecond || opts.WriteTimeout > 500*time.Millisecond || opts.ReadTimeout <= 0 {
		t.Fatalf("RedisOptions timeouts not bounded: %+v", opts)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	l := tokencache.NewLayered(tokencache.NewRedisStore(client, "slow:"), 10)
	l.Fresh = time.Nanosecond
	errs := &l2Errors{}
	l.OnL2Error = errs.record

	ctx := context.Background()
	start := time.Now()
	v, err := l.Put(ctx, "k", []byte("kept in L1"), 0, 0)
	if err != nil {
		t.Fatalf("Put with Redis hanging: %v, want a local write", err)
	}
	got, gv, err := l.Get(ctx, "k")
	if err != nil || string(got) != "kept in L1" || gv != v {
		t.Fatalf("Get with Redis hanging: %q %v, want the L1 copy", got, err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("two calls to a hanging Redis took %v", d)
	}
	// The copy written while L2 was down is served from L1 without asking
	// L2 again (it is newer than anything L2 holds for this writer).
	if errs.count("put") != 1 || errs.count("get") != 0 {
		t.Fatalf("OnL2Error calls %v", errs.ops)
	}
}

// TestRedisUnreachableIsBounded: a Redis whose host does not answer at all
// (connection attempts hang: a network partition, a dead node) must also
// cost a bounded, short time per call. RedisOptions promises a 1s dial
// timeout and one retry, so a call should take about 2s at most; the test
// allows 3s.
func TestRedisUnreachableIsBounded(t *testing.T) {
	// A listening socket with a backlog of 0, its queue filled and never
	// accepted: further SYNs are dropped, as by an unreachable host.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	hangs := false
	for i := 0; i < 4 && !hangs; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			hangs = true
		} else {
			t.Cleanup(func() { c.Close() })
		}
	}
	if !hangs {
		t.Skip("cannot simulate an unreachable host here (connections to a full backlog succeed)")
	}

	opts, err := tokencache.RedisOptions("redis://" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	s := tokencache.NewRedisStore(client, "unreachable:")
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, _, err := s.Get(context.Background(), "k")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Get from an unreachable Redis succeeded")
		}
		t.Logf("Get failed after %v: %v", time.Since(start), err)
	case <-time.After(3 * time.Second):
		t.Fatalf("Get from an unreachable Redis still blocked after 3s (RedisOptions: dial timeout %v, MaxRetries %d, DialerRetries %d): every cache read and write would hold a request this long",
			opts.DialTimeout, opts.MaxRetries, opts.DialerRetries)
	}
}

// ---------------------------------------------------------------------------
// FileStore: several writers, several processes, crashes

func TestFileStoreTwoValuesLoseNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tc")
	storetest.CheckConcurrentAppends(t, []tokencache.Store{fileStore(t, dir), fileStore(t, dir)}, 3, 12)
}

// The helper process for the cross-process tests: it runs only when the
// parent test sets TOKENCACHE_TEST_HELPER.
func TestFileStoreHelperProcess(t *testing.T) {
	switch os.Getenv("TOKENCACHE_TEST_HELPER") {
	case "":
		return
	case "append":
		dir, key := os.Getenv("TOKENCACHE_TEST_DIR"), "counter"
		n, _ := strconv.Atoi(os.Getenv("TOKENCACHE_TEST_N"))
		s, err := tokencache.NewFileStore(dir)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		for i := 0; i < n; i++ {
			if err := storetest.Append(context.Background(), s, key, 'p'); err != nil {
				fmt.Println("error:", err)
				os.Exit(2)
			}
		}
		os.Exit(0)
	case "lock":
		f, err := os.OpenFile(os.Getenv("TOKENCACHE_TEST_LOCK"), os.O_RDWR, 0)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute) // killed by the parent: a crashed holder
		os.Exit(3)
	}
}

func helperCmd(env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

func TestFileStoreAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "tc")
	s := fileStore(t, dir)
	const procs, each, local = 2, 15, 15
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := 0; i < procs; i++ {
		cmd := helperCmd("TOKENCACHE_TEST_HELPER=append", "TOKENCACHE_TEST_DIR="+dir, "TOKENCACHE_TEST_N="+strconv.Itoa(each))
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	for i := 0; i < local; i++ {
		if err := storetest.Append(ctx, s, "counter", 'l'); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper process: %v\n%s", err, outs[i])
		}
	}
	got, _, err := s.Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != procs*each+local || bytes.Count(got, []byte("p")) != procs*each {
		t.Fatalf("%d increments from %d processes left %d (%d from helpers): updates were lost", procs*each+local, procs+1, len(got), bytes.Count(got, []byte("p")))
	}
}

// fileStoreHolding is a FileStore in a new directory, dir, holding value
// at "k" in version v.
func fileStoreHolding(t *testing.T, value string) (s *tokencache.FileStore, dir string, v uint64) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "tc")
	s = fileStore(t, dir)
	v, err := s.Put(context.Background(), "k", []byte(value), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir, v
}

// TestFileStoreStaleLock: a process holding a partition's lock dies; the
// kernel releases its flock, and writers go on.
func TestFileStoreStaleLock(t *testing.T) {
	ctx := context.Background()
	s, dir, v1 := fileStoreHolding(t, "one")
	locks, _ := filepath.Glob(filepath.Join(dir, "*.lock"))
	if len(locks) != 1 {
		t.Fatalf("lock files %v, want one", locks)
	}
	cmd := helperCmd("TOKENCACHE_TEST_HELPER=lock", "TOKENCACHE_TEST_LOCK="+locks[0])
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper: %q %v", line, err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, "k", []byte("two"), v1, 0)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Put did not wait for another process's lock (err=%v)", err)
	case <-time.After(150 * time.Millisecond):
	}
	// Reads do not need the lock.
	if got, _, err := s.Get(ctx, "k"); err != nil || string(got) != "one" {
		t.Fatalf("Get while locked: %q %v", got, err)
	}
	cmd.Process.Kill() // the holder crashes
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Put after the holder died: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lock held by a dead process was never released")
	}
	if got, _, _ := s.Get(ctx, "k"); string(got) != "two" {
		t.Fatalf("value %q, want two", got)
	}
}

// TestFileStoreCrashLeftovers: a crash mid-write leaves a temporary file;
// it changes nothing for readers or writers of the real entry.
func TestFileStoreCrashLeftovers(t *testing.T) {
	ctx := context.Background()
	s, dir, v1 := fileStoreHolding(t, "the whole old value")
	entries, _ := os.ReadDir(dir)
	var entry string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".lock") && !strings.HasPrefix(e.Name(), ".tmp-") {
			entry = e.Name()
		}
	}
	if entry == "" {
		t.Fatal("entry file not found")
	}
	// Half of a new file for the same entry, and an empty one, as a crash
	// between create and rename leaves them.
	full, _ := os.ReadFile(filepath.Join(dir, entry))
	os.WriteFile(filepath.Join(dir, ".tmp-123456"), full[:len(full)/2], 0o600)
	os.WriteFile(filepath.Join(dir, ".tmp-999"), nil, 0o600)

	got, v, err := s.Get(ctx, "k")
	if err != nil || string(got) != "the whole old value" || v != v1 {
		t.Fatalf("Get with leftovers: %q v=%d %v", got, v, err)
	}
	if _, err := s.Put(ctx, "k", []byte("new"), v1, 0); err != nil {
		t.Fatalf("Put with leftovers: %v", err)
	}
	if got, _, _ := s.Get(ctx, "k"); string(got) != "new" {
		t.Fatalf("Get = %q", got)
	}
	if _, _, err := s.Get(ctx, ".tmp-123456"); !errors.Is(err, tokencache.ErrNotFound) {
		t.Fatalf("a temp file is visible as an entry: %v", err)
	}
}

// TestFileStoreReadersSeeWholeValues: while a writer replaces a large
// value, readers see the whole old or the whole new value, never a mix or
// a part.
func TestFileStoreReadersSeeWholeValues(t *testing.T) {
	ctx := context.Background()
	s := fileStore(t, filepath.Join(t.TempDir(), "tc"))
	const size = 256 << 10
	v, err := s.Put(ctx, "k", bytes.Repeat([]byte{'a'}, size), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, _, err := s.Get(ctx, "k")
				if err != nil {
					t.Errorf("Get during writes: %v", err)
					return
				}
				if len(got) != size || bytes.Count(got, got[:1]) != size {
					t.Errorf("a reader saw a partial or mixed value (%d bytes)", len(got))
					return
				}
				reads.Add(1)
			}
		}()
	}
	for i := 0; i < 20; i++ {
		b := byte('a' + i%2)
		if v, err = s.Put(ctx, "k", bytes.Repeat([]byte{b}, size), v, 0); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("no reads happened")
	}
}
