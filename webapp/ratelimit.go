package webapp

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// windowLimiter allows n events per client per window (a fixed window per
// client, in a bounded LRU: a flood of addresses forgets the oldest, it
// never grows memory).
type windowLimiter struct {
	n      int
	window time.Duration
	now    func() time.Time
	mu     sync.Mutex
	seen   *lru.Cache[string, *clientWindow]
}

type clientWindow struct {
	start time.Time
	count int
}

func newWindowLimiter(n int, window time.Duration, now func() time.Time) *windowLimiter {
	l, _ := lru.New[string, *clientWindow](50_000)
	return &windowLimiter{n: n, window: window, now: now, seen: l}
}

// allow counts one event of client and reports whether it is within the
// limit, and if not, how long until the window ends.
func (l *windowLimiter) allow(client string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.seen.Get(client)
	if !ok || now.Sub(w.start) >= l.window {
		l.seen.Add(client, &clientWindow{start: now, count: 1})
		return true, 0
	}
	w.count++
	if w.count > l.n {
		return false, l.window - now.Sub(w.start)
	}
	return true, 0
}
