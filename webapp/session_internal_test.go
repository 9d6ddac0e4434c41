package webapp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
)

// TestSessionSaveMergesConcurrentWrites: two requests of one browser load
// the same session; one marks a re-authentication handled, the other
// moves LastSeen. Both changes survive, whichever saves last.
func TestSessionSaveMergesConcurrentWrites(t *testing.T) {
	ring, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s := &sessions{store: tokencache.NewMemoryStore(tokencache.MemoryOptions{}), keys: ring,
		idle: time.Hour, absolute: 8 * time.Hour, now: func() time.Time { return now }}
	ctx := context.Background()
	sess := s.New()
	sess.Reauth = &Reauth{Path: "/directory", Reason: "consent", At: now}
	if err := s.Save(ctx, sess); err != nil {
		t.Fatal(err)
	}
	a, err := s.Load(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Load(ctx, sess.ID)

	a.Reauth.Handled, a.dirty = true, true
	if err := s.Save(ctx, a); err != nil {
		t.Fatal(err)
	}
	later := now.Add(3 * time.Minute)
	b.LastSeen, b.dirty = later, true
	if err := s.Save(ctx, b); err != nil {
		t.Fatal(err)
	}

	now = now.Add(4 * time.Minute)
	got, err := s.Load(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reauth == nil || !got.Reauth.Handled {
		t.Error("the handled re-authentication was lost to a concurrent save")
	}
	if !got.LastSeen.Equal(later) {
		t.Errorf("LastSeen = %v, want %v", got.LastSeen, later)
	}
}

// TestUnopenableBlobs: a session or sign-in transaction sealed with a key
// this replica lacks (a rolling key rotation) is a miss that stays in the
// store, untouched, for the replicas that hold the key; one that fails
// authentication under a key this replica holds can open nowhere, and goes
// (a session is deleted). A sign-in transaction lives in its cookie: one
// that does not open is not consumed either way.
func TestUnopenableBlobs(t *testing.T) {
	mine, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	theirs, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	flip := func(b []byte) []byte { b[len(b)-1] ^= 1; return b }
	cases := []struct {
		name string
		seal func(key string, plain []byte) []byte
		kept bool
	}{
		{"sealed with an unknown key", theirs.Seal, true},
		{"tampered, known key", func(key string, plain []byte) []byte { return flip(mine.Seal(key, plain)) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store := tokencache.NewMemoryStore(tokencache.MemoryOptions{})
			s := &sessions{store: store, keys: mine, idle: time.Hour, absolute: 8 * time.Hour,
				now: func() time.Time { return now }}

			id := newID()
			key := storeKey("session", id)
			plain, _ := json.Marshal(&Session{CSRF: newID(), Created: now, LastSeen: now})
			blob := tc.seal(key, plain)
			v, _ := store.Put(ctx, key, blob, 0, time.Hour)
			if _, err := s.Load(ctx, id); !errors.Is(err, errNoSession) {
				t.Fatalf("Load: %v, want errNoSession", err)
			}
			got, gv, err := store.Get(ctx, key)
			switch {
			case tc.kept && (err != nil || gv != v || !bytes.Equal(got, blob)):
				t.Errorf("session: the blob was not kept as it was (err %v)", err)
			case !tc.kept && !errors.Is(err, tokencache.ErrNotFound):
				t.Errorf("session: the blob is still in the store (err %v)", err)
			}

			// A transaction lives in its cookie: one that does not open is
			// not consumed (no tombstone), and only an unknown key says so.
			txn := &pendingSignIn{Txn: &entra.Transaction{State: newID(), Expires: now.Add(10 * time.Minute)}}
			key = storeKey("signin", txn.Txn.State)
			plain, _ = json.Marshal(txn)
			sealed := base64.RawURLEncoding.EncodeToString(tc.seal(key, plain))
			_, err = s.TakeSignIn(ctx, txn.Txn.State, sealed)
			if err == nil {
				t.Fatal("TakeSignIn opened a blob it cannot open")
			}
			if got := errors.Is(err, tokencache.ErrUnknownKey); got != tc.kept {
				t.Errorf("sign-in: %v, want ErrUnknownKey %v", err, tc.kept)
			}
			if _, _, err := store.Get(ctx, key); !errors.Is(err, tokencache.ErrNotFound) {
				t.Errorf("sign-in: a transaction that did not open was consumed (err %v)", err)
			}
		})
	}
}

// FuzzSignInCookie: the sign-in cookie is untrusted input; whatever it
// holds, TakeSignIn answers without panicking, and only the value sealed
// for the state opens.
func FuzzSignInCookie(f *testing.F) {
	keys, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	state := newID()
	s := &sessions{store: tokencache.NewMemoryStore(tokencache.MemoryOptions{}), keys: keys, now: func() time.Time { return now }}
	valid, err := s.SealSignIn(&pendingSignIn{Txn: &entra.Transaction{State: state, Expires: now.Add(10 * time.Minute)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(valid[:len(valid)-1])
	f.Add("")
	f.Add(state)
	f.Add("!!not base64!!")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte{1, 2, 3}))
	f.Fuzz(func(t *testing.T, sealed string) {
		s.store = tokencache.NewMemoryStore(tokencache.MemoryOptions{})
		p, err := s.TakeSignIn(context.Background(), state, sealed)
		if err == nil && (sealed != valid || p.Txn.State != state) {
			t.Errorf("a cookie value that was not sealed for the state opened: %q", sealed)
		}
	})
}
