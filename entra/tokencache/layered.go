package tokencache

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Layered is a bounded in-memory L1 over a shared L2 (Redis or file). Reads
// within Fresh of the last L2 read are served from L1; when L2 fails, L1
// keeps serving (even stale) and writes are kept in L1 until L2 answers
// again. Versions stay L2's, so compare-and-set still protects the shared
// copy: a write made while L2 was down can never overwrite a newer refresh
// token written meanwhile — it conflicts and is merged.
type Layered struct {
	L2 Store
	// Fresh is how long an L1 copy is trusted without asking L2; default 30s.
	// It bounds how stale another replica's write can look here.
	Fresh time.Duration
	// OnL2Error is told about every L2 failure (log it, count it).
	OnL2Error func(op string, err error)
	// Now is the clock; default time.Now.
	Now func() time.Time

	once sync.Once
	mu   sync.Mutex
	l1   *simplelru.LRU[string, l1Entry]
	fake uint64
}

type l1Entry struct {
	blob    []byte
	version uint64
	fetched time.Time
}

// localVersion marks versions made up while L2 was down: they never equal
// a version L2 hands out.
const localVersion = 1 << 63

// NewLayered makes a Layered store with an L1 of at most maxEntries.
func NewLayered(l2 Store, maxEntries int) *Layered {
	l := &Layered{L2: l2}
	l.init(maxEntries)
	return l
}

func (l *Layered) init(n int) {
	l.once.Do(func() {
		if n <= 0 {
			n = 10_000
		}
		l.l1, _ = simplelru.NewLRU[string, l1Entry](n, nil)
	})
}

func (l *Layered) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Layered) fresh() time.Duration {
	if l.Fresh > 0 {
		return l.Fresh
	}
	return 30 * time.Second
}

func (l *Layered) report(op string, err error) {
	if l.OnL2Error != nil {
		l.OnL2Error(op, err)
	}
}

// Get implements Store.
func (l *Layered) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	l.init(0)
	now := l.now()
	l.mu.Lock()
	e, ok := l.l1.Get(key)
	l.mu.Unlock()
	// A copy written while L2 was down is newer than anything L2 holds for
	// this writer: serve it until the next Put merges it into L2.
	if ok && (now.Sub(e.fetched) < l.fresh() || e.version&localVersion != 0) {
		return e.blob, e.version, nil
	}
	blob, v, err := l.L2.Get(ctx, key)
	switch {
	case err == nil:
		l.mu.Lock()
		l.l1.Add(key, l1Entry{blob: blob, version: v, fetched: now})
		l.mu.Unlock()
		return blob, v, nil
	case errors.Is(err, ErrNotFound):
		l.mu.Lock()
		l.l1.Remove(key)
		l.mu.Unlock()
		return nil, 0, ErrNotFound
	}
	l.report("get", err)
	if ok {
		return e.blob, e.version, nil // L2 is down: serve what we have
	}
	return nil, 0, err
}

// Put implements Store.
func (l *Layered) Put(ctx context.Context, key string, blob []byte, expected uint64, ttl time.Duration) (uint64, error) {
	l.init(0)
	now := l.now()
	if expected&localVersion != 0 {
		// Our copy was written while L2 was down: compare against L2's
		// current version is impossible, so make the caller merge.
		if _, v, err := l.L2.Get(ctx, key); err == nil || errors.Is(err, ErrNotFound) {
			l.mu.Lock()
			l.l1.Remove(key)
			l.mu.Unlock()
			if v != 0 || err == nil {
				return 0, ErrConflict
			}
			expected = 0
		}
	}
	v, err := l.L2.Put(ctx, key, blob, expected, ttl)
	switch {
	case err == nil:
		l.mu.Lock()
		l.l1.Add(key, l1Entry{blob: append([]byte(nil), blob...), version: v, fetched: now})
		l.mu.Unlock()
		return v, nil
	case errors.Is(err, ErrConflict):
		l.mu.Lock()
		l.l1.Remove(key) // the next Get reads L2's newer copy
		l.mu.Unlock()
		return 0, ErrConflict
	}
	l.report("put", err)
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.l1.Get(key); ok && e.version != expected {
		return 0, ErrConflict
	}
	l.fake++
	v = localVersion | l.fake
	l.l1.Add(key, l1Entry{blob: append([]byte(nil), blob...), version: v, fetched: now})
	return v, nil
}

// Delete implements Store. L1 forgets the key even when L2 fails.
func (l *Layered) Delete(ctx context.Context, key string) error {
	l.init(0)
	l.mu.Lock()
	l.l1.Remove(key)
	l.mu.Unlock()
	if err := l.L2.Delete(ctx, key); err != nil {
		l.report("delete", err)
		return err
	}
	return nil
}
