package tokencache

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// Cache is entrakit's token cache: MSAL's cache serialized, sealed with a
// KeyRing and kept in a Store, one blob per partition (a user's home account
// id, a tenant+client app key, or the hash of an OBO assertion).
//
// Every failure degrades to a cache miss: a blob that does not open is
// removed and counted, a store that does not answer is logged and counted,
// and the request carries on (a token refresh, or a new sign-in).
type Cache struct {
	Store Store
	Keys  *KeyRing
	// TTL of a partition in the store; default 90 days (Entra's refresh
	// token inactivity limit).
	TTL time.Duration
	// Logger: open failures and store errors (partition keys are hashed in
	// logs; never tokens). Default slog.Default().
	Logger *slog.Logger
	// Metrics receives the counts; nil: the Cache makes its own on first use.
	Metrics *Metrics
	// Now is the clock of sign-out tombstones; default time.Now.
	Now func() time.Time

	metricsOnce sync.Once
}

var emptyCache = []byte("{}")

func (c *Cache) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Cache) metrics() *Metrics {
	c.metricsOnce.Do(func() {
		if c.Metrics == nil {
			c.Metrics = &Metrics{}
		}
	})
	return c.Metrics
}

func (c *Cache) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return 90 * 24 * time.Hour
}

// Partition returns the cache accessor for one partition: give it to an MSAL
// client that serves only that partition (see Clients). Its Replace decodes
// only when the stored blob changed since this client last loaded it.
func (c *Cache) Partition(key string) *Partition {
	c.metrics()
	return &Partition{c: c, key: key}
}

// Router returns an accessor for one MSAL client shared by all partitions,
// for the calls that create a partition: redeeming an authorization code.
// Every read starts from an empty cache (MSAL holds its write lock from that
// read to the write), so one user's tokens can never be written into
// another's partition; the write goes to the partition MSAL names
// (ExportHints.PartitionKey), merged with what is stored there. A call
// without a partition key is never stored: it is counted as dropped.
// Do not use a Router client for silent acquisition: use Clients.
func (c *Cache) Router() cache.ExportReplace {
	c.metrics()
	return router{c}
}

// stored is what load found in a partition.
type stored int

const (
	absent    stored = iota // nothing, a blob that does not open, or a store failure
	tokens                  // a sealed blob
	signedOut               // a tombstone (see Remove)
)

// load reads and opens a partition. On a miss (absent) version is 0; this
// includes a blob that does not open (removed) and a store failure (logged,
// with onStoreError: what the caller does about it). A tombstone (signedOut)
// comes with its version, and plain is the tombstone. A blob at version
// loaded (non-zero: the one the caller holds) is not opened again: plain is
// nil.
func (c *Cache) load(ctx context.Context, key string, loaded uint64, onStoreError string) (plain []byte, version uint64, what stored, storeErr error) {
	m := c.metrics()
	start := time.Now()
	blob, v, err := c.Store.Get(ctx, key)
	m.observe(start)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, 0, absent, nil
	case err != nil:
		m.StoreErrors.Add(1)
		c.log().WarnContext(ctx, "tokencache: store read failed; "+onStoreError, "partition", hashKey(key), "err", err)
		return nil, 0, absent, err
	case len(blob) > 0 && blob[0] == tombstonePrefix[0]:
		if _, ok := parseTombstone(blob); ok {
			return blob, v, signedOut, nil
		}
	case loaded != 0 && v == loaded:
		return nil, v, tokens, nil
	}
	pt, kid, err := c.Keys.Open(key, blob)
	if err != nil {
		c.unopenable(ctx, key, kid, err)
		return nil, 0, absent, nil
	}
	return pt, v, tokens, nil
}

// unopenable handles a blob that does not open: counted and logged; removed
// when it is corrupt or of an unknown format, kept when sealed with a key
// this process does not hold (during a rolling key rotation another replica
// may hold it).
func (c *Cache) unopenable(ctx context.Context, key, kid string, err error) {
	c.metrics().OpenFailures.Add(1)
	if errors.Is(err, ErrUnknownKey) {
		c.log().WarnContext(ctx, "tokencache: blob sealed with a key not in this key ring; treating as a miss", "partition", hashKey(key), "key_id", kid, "err", err)
		return
	}
	c.log().WarnContext(ctx, "tokencache: blob does not open; removing it", "partition", hashKey(key), "key_id", kid, "err", err)
	_ = c.Store.Delete(ctx, key)
}

// store writes plain to key if the stored version is still expected; on a
// conflict it merges with the stored blob and retries. It returns the
// version written and whether the result differs from plain (merged).
func (c *Cache) store(ctx context.Context, key string, plain []byte, expected uint64) (version uint64, merged bool, err error) {
	m := c.metrics()
	for attempt := 0; attempt < 8; attempt++ {
		if attempt > 1 {
			// Writers that keep colliding take turns: a random pause of up
			// to (attempt-1) ms breaks the tie.
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(attempt-1) * int64(time.Millisecond)))):
			case <-ctx.Done():
				return 0, merged, ctx.Err()
			}
		}
		sealed := c.Keys.Seal(key, plain)
		start := time.Now()
		v, err := c.Store.Put(ctx, key, sealed, expected, c.ttl())
		m.observe(start)
		switch {
		case err == nil:
			m.Writes.Add(1)
			m.BytesWritten.Add(int64(len(sealed)))
			return v, merged, nil
		case !errors.Is(err, ErrConflict):
			m.StoreErrors.Add(1)
			c.log().WarnContext(ctx, "tokencache: store write failed; the token is used but not cached", "partition", hashKey(key), "err", err)
			return 0, merged, err
		}
		m.Conflicts.Add(1)
		blob, tv, gerr := c.Store.Get(ctx, key)
		switch {
		case errors.Is(gerr, ErrNotFound):
			expected = 0
		case gerr != nil:
			m.StoreErrors.Add(1)
			return 0, merged, gerr
		default:
			if at, ok := parseTombstone(blob); ok {
				return 0, merged, c.droppedBySignOut(ctx, key, at)
			}
			expected = tv
			theirs, kid, oerr := c.Keys.Open(key, blob)
			if oerr != nil {
				// Unreadable here: ours replaces it (a replica holding that
				// key also holds ours during a rotation).
				c.unopenable(ctx, key, kid, oerr)
				if !errors.Is(oerr, ErrUnknownKey) {
					expected = 0 // unopenable() removed it
				}
				continue
			}
			if plain, err = mergeBlobs(theirs, plain); err != nil {
				return 0, merged, err
			}
			merged = true
		}
	}
	m.DroppedWrites.Add(1)
	return 0, merged, ErrConflict
}

// Partition is the accessor of one partition (cache.ExportReplace).
type Partition struct {
	c   *Cache
	key string

	mu     sync.Mutex
	loaded uint64 // version of the blob the MSAL client holds; 0: empty
	// pending is what the client holds that could not be stored (store
	// down, or conflicts past the retries): Replace merges it into whatever
	// it loads, and stores the merge, so an unsaved refresh token is never
	// replaced by an older blob.
	pending []byte
	// forget: a write found the partition signed out; the client's tokens
	// predate it, and the next Replace empties it whatever it finds.
	forget bool
	// dropNext (the sign-out time; zero: no) is set by a Replace that found
	// the partition signed out while the client held tokens from before.
	// MSAL reads the cache again just before it writes a token response, so
	// a refresh that was in flight during the sign-out is exported right
	// after that Replace: that Export is dropped. Any other Replace clears it.
	dropNext time.Time
}

var _ cache.ExportReplace = (*Partition)(nil)

// Replace implements cache.ExportReplace.
func (p *Partition) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.c.Metrics
	plain, v, what, err := p.c.load(ctx, p.key, p.loaded, "serving what is in memory")
	if err != nil {
		return nil // store down: keep serving what the client holds
	}
	forget := p.forget
	p.forget, p.dropNext = false, time.Time{}
	switch what {
	case signedOut:
		m.Misses.Add(1)
		if v == p.loaded {
			return nil // this client already forgot
		}
		// Signed out since this client loaded. If it held tokens, what it
		// exports next comes from them: drop it (see dropNext). A client
		// that held none (a new one, or one that already forgot) writes
		// over the tombstone with its version: a new sign-in.
		if p.loaded != 0 || p.pending != nil || forget {
			p.dropNext, _ = parseTombstone(plain)
		}
		p.pending, p.loaded = nil, v
		return u.Unmarshal(emptyCache)
	case absent:
		m.Misses.Add(1)
		if p.pending != nil {
			return nil // ours is the only copy: keep it, store it next time
		}
		if p.loaded != 0 || forget {
			p.loaded = 0
			return u.Unmarshal(emptyCache) // expired, evicted or removed: forget
		}
		return nil
	}
	m.Hits.Add(1)
	if v == p.loaded {
		return nil
	}
	if p.pending != nil {
		merged, err := mergeBlobs(plain, p.pending)
		if err != nil {
			return nil
		}
		nv, _, serr := p.c.store(ctx, p.key, merged, v)
		switch {
		case serr == nil:
			p.pending, v = nil, nv
		case errors.Is(serr, errSignedOut):
			p.pending, p.loaded = nil, 0 // the next Replace loads the tombstone
			return u.Unmarshal(emptyCache)
		default:
			p.pending, v = merged, 0
		}
		plain = merged
	}
	if err := u.Unmarshal(plain); err != nil {
		m.OpenFailures.Add(1)
		p.loaded = 0
		_ = p.c.Store.Delete(ctx, p.key)
		return u.Unmarshal(emptyCache)
	}
	m.Decodes.Add(1)
	p.loaded = v
	return nil
}

// Export implements cache.ExportReplace.
func (p *Partition) Export(ctx context.Context, mr cache.Marshaler, _ cache.ExportHints) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	plain, err := mr.Marshal()
	if err != nil {
		return err
	}
	var v uint64
	var merged bool
	if at := p.dropNext; !at.IsZero() {
		p.dropNext = time.Time{}
		err = p.c.droppedBySignOut(ctx, p.key, at)
	} else {
		if p.pending != nil {
			if plain, err = mergeBlobs(p.pending, plain); err != nil {
				return err
			}
		}
		v, merged, err = p.c.store(ctx, p.key, plain, p.loaded)
	}
	if errors.Is(err, errSignedOut) {
		// Signed out while this call ran: its tokens are dropped (the
		// caller still gets this call's token), and the next Replace
		// empties the client.
		p.pending, p.loaded, p.forget = nil, 0, true
		return nil
	}
	if err != nil {
		// The token is returned to the caller; keep what could not be
		// stored so no later Replace loses it.
		p.pending = plain
		return nil
	}
	p.pending = nil
	if merged {
		p.loaded = 0 // the client lacks the other writer's entries: decode next time
	} else {
		p.loaded = v
	}
	return nil
}

type router struct{ c *Cache }

func (r router) Replace(ctx context.Context, u cache.Unmarshaler, hints cache.ReplaceHints) error {
	if hints.PartitionKey == "" {
		return u.Unmarshal(emptyCache)
	}
	plain, _, what, _ := r.c.load(ctx, hints.PartitionKey, 0, "treating as a miss")
	if what != tokens {
		return u.Unmarshal(emptyCache)
	}
	if err := u.Unmarshal(plain); err != nil {
		return u.Unmarshal(emptyCache)
	}
	return nil
}

func (r router) Export(ctx context.Context, mr cache.Marshaler, hints cache.ExportHints) error {
	if hints.PartitionKey == "" {
		r.c.Metrics.DroppedWrites.Add(1)
		return nil
	}
	plain, err := mr.Marshal()
	if err != nil {
		return err
	}
	// A tombstone is replaced (v is its version): a redeemed authorization
	// code is a sign-in after the sign-out.
	theirs, v, what, lerr := r.c.load(ctx, hints.PartitionKey, 0, "treating as a miss")
	if lerr != nil {
		return nil
	}
	if what == tokens {
		if plain, err = mergeBlobs(theirs, plain); err != nil {
			return err
		}
	}
	_, _, _ = r.c.store(ctx, hints.PartitionKey, plain, v)
	return nil
}
