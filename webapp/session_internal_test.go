package webapp

import (
	"context"
	"testing"
	"time"

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
