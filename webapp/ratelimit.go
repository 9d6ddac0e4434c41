package webapp

import (
	"log/slog"
	"net/http"
	"net/netip"
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

// rateLimitKey is the client a limit counts for the address ip: an IPv4
// address itself (an IPv4-mapped IPv6 one too), an IPv6 address's /64 —
// RFC 6177 / RFC 7421: a /64 is one link, often one customer, who may use
// any of its 2^64 addresses.
func rateLimitKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}

// forwardingWarning logs once that requests carry X-Forwarded-For while no
// proxy is trusted: then every client behind the proxy shares the proxy's
// address, its rate limit and its log lines.
type forwardingWarning struct {
	once sync.Once
	log  *slog.Logger
}

func (w *forwardingWarning) check(r *http.Request, proxiesTrusted bool) {
	if proxiesTrusted || r.Header.Get("X-Forwarded-For") == "" {
		return
	}
	w.once.Do(func() {
		w.log.Warn("requests carry X-Forwarded-For but no trusted proxy is configured: "+
			"clients are identified by the proxy's address (one rate limit for all of them); set TrustedProxies (ENTRAKIT_TRUSTED_PROXIES)",
			"remote_addr", r.RemoteAddr)
	})
}
