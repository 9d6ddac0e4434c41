package tokencache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Clients keeps one MSAL client per partition, each built over its own
// Partition accessor, in a bounded LRU. One client per partition is what
// makes a partitioned cache correct under concurrency: MSAL holds its lock
// only while loading the blob, so one client shared by goroutines can read
// another user's cache that a concurrent call swapped in.
type Clients[T any] struct {
	cache *Cache
	build func(cache.ExportReplace) (T, error)
	lru   *lru.Cache[string, T]
	mu    sync.Mutex
}

// NewClients makes a pool of at most size clients (default 10,000) built by
// build, e.g. func(a cache.ExportReplace) (confidential.Client, error) {
// return entra.NewConfidentialClient(cfg, entra.ClientOptions{Cache: a}) }.
func NewClients[T any](c *Cache, size int, build func(cache.ExportReplace) (T, error)) *Clients[T] {
	if size <= 0 {
		size = 10_000
	}
	l, _ := lru.New[string, T](size)
	return &Clients[T]{cache: c, build: build, lru: l}
}

// Get returns the client of partition key, building it on first use. An
// evicted client is rebuilt and decodes its partition once.
func (p *Clients[T]) Get(key string) (T, error) {
	if c, ok := p.lru.Get(key); ok {
		return c, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.lru.Get(key); ok {
		return c, nil
	}
	c, err := p.build(p.cache.Partition(key))
	if err != nil {
		var zero T
		return zero, err
	}
	p.lru.Add(key, c)
	return c, nil
}

// Remove forgets the partition's client and signs the partition out
// (Cache.Remove).
func (p *Clients[T]) Remove(ctx context.Context, key string) error {
	p.lru.Remove(key)
	return p.cache.Remove(ctx, key)
}

// Len is the number of clients held.
func (p *Clients[T]) Len() int { return p.lru.Len() }

// hashKey is how partition keys appear in logs.
func hashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:6])
}
