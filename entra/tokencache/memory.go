package tokencache

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// MemoryStore is an in-process store bounded by entries and bytes, with
// per-entry expiry. The least recently used entries go first.
type MemoryStore struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[string, memEntry]
	bytes    int
	maxBytes int
	now      func() time.Time
	versions uint64 // last version handed out (versions are unique per store)
}

type memEntry struct {
	blob    []byte
	version uint64
	expires time.Time // zero: never
}

// MemoryOptions bound a MemoryStore. Zero values mean 10,000 entries and 256 MiB.
type MemoryOptions struct {
	MaxEntries int
	MaxBytes   int
	Now        func() time.Time
}

// NewMemoryStore returns an empty store.
func NewMemoryStore(o MemoryOptions) *MemoryStore {
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10_000
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &MemoryStore{maxBytes: o.MaxBytes, now: o.Now}
	s.lru, _ = simplelru.NewLRU(o.MaxEntries, func(_ string, e memEntry) { s.bytes -= len(e.blob) })
	return s
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, key string) ([]byte, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lru.Get(key)
	if !ok {
		return nil, 0, ErrNotFound
	}
	if !e.expires.IsZero() && s.now().After(e.expires) {
		s.lru.Remove(key)
		return nil, 0, ErrNotFound
	}
	return e.blob, e.version, nil
}

// Put implements Store.
func (s *MemoryStore) Put(_ context.Context, key string, blob []byte, expected uint64, ttl time.Duration) (uint64, error) {
	if len(blob) > s.maxBytes {
		return 0, fmt.Errorf("tokencache: memory store: a %d-byte blob exceeds the %d-byte bound", len(blob), s.maxBytes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.lru.Peek(key)
	if ok && !cur.expires.IsZero() && s.now().After(cur.expires) {
		s.lru.Remove(key)
		ok = false
	}
	var have uint64
	if ok {
		have = cur.version
	}
	if have != expected {
		return 0, ErrConflict
	}
	s.versions++
	e := memEntry{blob: append([]byte(nil), blob...), version: s.versions}
	if ttl > 0 {
		e.expires = s.now().Add(ttl)
	}
	if ok {
		s.lru.Remove(key)
	}
	s.lru.Add(key, e)
	s.bytes += len(e.blob)
	for s.bytes > s.maxBytes && s.lru.Len() > 1 {
		s.lru.RemoveOldest()
	}
	return e.version, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lru.Remove(key)
	return nil
}

// Len is the number of entries (expired ones included until touched).
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// Bytes is the size of the stored blobs.
func (s *MemoryStore) Bytes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}
