package tokencache

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"time"
)

// Store keeps one sealed blob per partition key, with a version for
// compare-and-set, so two writers of one partition (two goroutines, two
// processes, two replicas) never silently lose each other's refresh token.
// Implementations: MemoryStore, FileStore, RedisStore, and Layered (an L1
// over an L2). They all pass storetest.Run.
type Store interface {
	// Get returns the blob stored for key and its version, or ErrNotFound.
	Get(ctx context.Context, key string) (blob []byte, version uint64, err error)
	// Put stores blob for key if the stored version is still expected (0:
	// nothing stored) and returns the new version; otherwise ErrConflict and
	// nothing changes. ttl > 0 lets the store forget the entry after it.
	Put(ctx context.Context, key string, blob []byte, expected uint64, ttl time.Duration) (version uint64, err error)
	// Delete removes key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
}

// Store errors.
var (
	ErrNotFound = errors.New("tokencache: not found")
	ErrConflict = errors.New("tokencache: version conflict")
)

// newVersion is a random non-zero 63-bit version. Versions are compared for
// equality only, and must never repeat, even after a delete: a client that
// loaded an old version must never mistake a new blob for it.
func newVersion() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return binary.BigEndian.Uint64(b[:])>>1 | 1
}
