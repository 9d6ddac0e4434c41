// Package storetest is the conformance suite every tokencache.Store runs:
// memory, file, Redis and layered (dex's storage/conformance pattern).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/tokencache"
)

// Options describe what the store under test can do.
type Options struct {
	// Advance moves the store's clock forward, for TTL tests; nil skips them.
	Advance func(time.Duration)
}

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) tokencache.Store, o Options) {
	for _, c := range []struct {
		name  string
		check func(*testing.T, tokencache.Store)
	}{
		{"missing", checkMissing},
		{"put get round trip", checkPutGetRoundTrip},
		{"compare and set", checkCompareAndSet},
		{"versions never repeat after delete", checkVersionsNeverRepeatAfterDelete},
		{"partitions are separate", checkPartitionsAreSeparate},
		{"concurrent writers lose nothing", checkConcurrentWritersLoseNothing},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, newStore(t)) })
	}
	if o.Advance != nil {
		t.Run("ttl", func(t *testing.T) { checkTTL(t, newStore(t), o.Advance) })
	}
}

func checkMissing(t *testing.T, s tokencache.Store) {
	ctx := t.Context()
	if _, _, err := s.Get(ctx, "nobody"); !errors.Is(err, tokencache.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "nobody"); err != nil {
		t.Fatalf("Delete(missing) = %v", err)
	}
}

func checkPutGetRoundTrip(t *testing.T, s tokencache.Store) {
	ctx := t.Context()
	for _, blob := range [][]byte{[]byte("x"), {0, 1, 2, 0, 255}, bytes.Repeat([]byte("abc"), 400_000)} {
		key := fmt.Sprintf("user-%d.tid|with odd:chars/é", len(blob))
		v, err := s.Put(ctx, key, blob, 0, 0)
		if err != nil || v == 0 {
			t.Fatalf("Put: v=%d err=%v", v, err)
		}
		got, gv, err := s.Get(ctx, key)
		if err != nil || gv != v || !bytes.Equal(got, blob) {
			t.Fatalf("Get: v=%d (want %d) err=%v equal=%v", gv, v, err, bytes.Equal(got, blob))
		}
	}
}

func checkCompareAndSet(t *testing.T, s tokencache.Store) {
	ctx := t.Context()
	v1, err := s.Put(ctx, "k", []byte("one"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "k", []byte("stale"), 0, 0); !errors.Is(err, tokencache.ErrConflict) {
		t.Fatalf("Put(expected 0) over an entry = %v, want ErrConflict", err)
	}
	if _, err := s.Put(ctx, "k", []byte("stale"), v1+12345, 0); !errors.Is(err, tokencache.ErrConflict) {
		t.Fatalf("Put(wrong version) = %v, want ErrConflict", err)
	}
	if got, _, _ := s.Get(ctx, "k"); string(got) != "one" {
		t.Fatalf("a refused Put changed the value to %q", got)
	}
	v2, err := s.Put(ctx, "k", []byte("two"), v1, 0)
	if err != nil || v2 == v1 {
		t.Fatalf("Put(current) v=%d err=%v", v2, err)
	}
	if _, err := s.Put(ctx, "k", []byte("late"), v1, 0); !errors.Is(err, tokencache.ErrConflict) {
		t.Fatalf("Put(old version) = %v, want ErrConflict", err)
	}
}

func checkVersionsNeverRepeatAfterDelete(t *testing.T, s tokencache.Store) {
	ctx := t.Context()
	seen := map[uint64]bool{}
	for i := 0; i < 5; i++ {
		v, err := s.Put(ctx, "k", []byte{byte(i)}, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if seen[v] {
			t.Fatalf("version %d handed out twice", v)
		}
		seen[v] = true
		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Get(ctx, "k"); !errors.Is(err, tokencache.ErrNotFound) {
			t.Fatalf("Get after Delete = %v", err)
		}
	}
}

func checkPartitionsAreSeparate(t *testing.T, s tokencache.Store) {
	ctx := t.Context()
	s.Put(ctx, "a", []byte("A"), 0, 0)
	s.Put(ctx, "b", []byte("B"), 0, 0)
	s.Delete(ctx, "a")
	if got, _, err := s.Get(ctx, "b"); err != nil || string(got) != "B" {
		t.Fatalf("b = %q, %v", got, err)
	}
}

func checkConcurrentWritersLoseNothing(t *testing.T, s tokencache.Store) {
	CheckConcurrentAppends(t, []tokencache.Store{s}, 6, 15)
}

// Append appends b to the value at key by compare-and-set, retrying when
// another writer got there first: an increment that must never be lost.
func Append(ctx context.Context, s tokencache.Store, key string, b byte) error {
	for {
		cur, v, err := s.Get(ctx, key)
		if errors.Is(err, tokencache.ErrNotFound) {
			cur, v = nil, 0
		} else if err != nil {
			return err
		}
		next := append(append([]byte(nil), cur...), b)
		if _, err := s.Put(ctx, key, next, v, 0); err == nil {
			return nil
		} else if !errors.Is(err, tokencache.ErrConflict) {
			return err
		}
	}
}

// CheckConcurrentAppends runs writers goroutines on each of stores (one
// store, or several handles on one backend), each appending each times to
// one key the letter of its store ('a' for the first), and fails t if an
// append was lost or the stores read different values.
func CheckConcurrentAppends(t *testing.T, stores []tokencache.Store, writers, each int) {
	t.Helper()
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*writers)
	for i, s := range stores {
		for range writers {
			wg.Go(func() {
				for range each {
					if err := Append(ctx, s, "counter", byte('a'+i)); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, _, err := stores[0].Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	total := len(stores) * writers * each
	for i, s := range stores {
		if n := bytes.Count(got, []byte{byte('a' + i)}); len(got) != total || n != writers*each {
			t.Fatalf("after %d increments the value has %d (%d of %d from store %d): updates were lost", total, len(got), n, writers*each, i)
		}
		if other, _, _ := s.Get(ctx, "counter"); !bytes.Equal(other, got) {
			t.Fatalf("store %d reads another value than store 0", i)
		}
	}
}

func checkTTL(t *testing.T, s tokencache.Store, advance func(time.Duration)) {
	ctx := t.Context()
	v, _ := s.Put(ctx, "k", []byte("v"), 0, time.Hour)
	if _, _, err := s.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	advance(2 * time.Hour)
	if _, _, err := s.Get(ctx, "k"); !errors.Is(err, tokencache.ErrNotFound) {
		t.Fatalf("Get after TTL = %v, want ErrNotFound", err)
	}
	if _, err := s.Put(ctx, "k", []byte("new"), 0, 0); err != nil {
		t.Fatalf("Put(expected 0) after expiry: %v (old version %d)", err, v)
	}
}
