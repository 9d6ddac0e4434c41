package tokencache_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/entra/tokencache/storetest"
	"github.com/entrakit/entrakit/internal/testredis"
	"github.com/redis/go-redis/v9"
)

// fakeClock is an injectable clock for TTL tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMemoryStoreConformance(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	storetest.Run(t, func(t *testing.T) tokencache.Store {
		return tokencache.NewMemoryStore(tokencache.MemoryOptions{Now: clock.Now})
	}, storetest.Options{Advance: clock.Advance})
}

func TestFileStoreConformance(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	storetest.Run(t, func(t *testing.T) tokencache.Store {
		s := fileStore(t, filepath.Join(t.TempDir(), "cache"))
		s.Now = clock.Now
		return s
	}, storetest.Options{Advance: clock.Advance})
}

func redisStore(t *testing.T, srv *testredis.Server) *tokencache.RedisStore {
	opts, err := tokencache.RedisOptions(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	return tokencache.NewRedisStore(client, "test:"+t.Name()+":")
}

func TestRedisStoreConformance(t *testing.T) {
	srv := testredis.Start(t)
	storetest.Run(t, func(t *testing.T) tokencache.Store { return redisStore(t, srv) }, storetest.Options{})
}

func TestLayeredStoreConformance(t *testing.T) {
	srv := testredis.Start(t)
	storetest.Run(t, func(t *testing.T) tokencache.Store {
		l := tokencache.NewLayered(redisStore(t, srv), 100)
		l.Fresh = time.Nanosecond // read through, so other writers are seen
		return l
	}, storetest.Options{})
}

func TestRedisTTL(t *testing.T) {
	srv := testredis.Start(t)
	s := redisStore(t, srv)
	ctx := context.Background()
	if _, err := s.Put(ctx, "k", []byte("v"), 0, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, err := s.Get(ctx, "k")
		if errors.Is(err, tokencache.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry still there after its TTL: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFileStorePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	os.MkdirAll(dir, 0o755)
	s := fileStore(t, dir)
	if _, err := s.Put(context.Background(), "user", []byte("sealed"), 0, 0); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
		if e.Name() == "user" {
			t.Error("partition key appears as a file name")
		}
	}
}

func TestMemoryStoreBounds(t *testing.T) {
	ctx := context.Background()
	s := tokencache.NewMemoryStore(tokencache.MemoryOptions{MaxEntries: 3, MaxBytes: 1000})
	for i, k := range []string{"a", "b", "c", "d"} {
		if _, err := s.Put(ctx, k, make([]byte, 100), 0, 0); err != nil {
			t.Fatal(i, err)
		}
	}
	if s.Len() != 3 {
		t.Errorf("Len = %d, want 3 (entry bound)", s.Len())
	}
	if _, _, err := s.Get(ctx, "a"); !errors.Is(err, tokencache.ErrNotFound) {
		t.Errorf("oldest entry not evicted: %v", err)
	}
	s.Put(ctx, "big", make([]byte, 900), 0, 0)
	if s.Bytes() > 1000 {
		t.Errorf("Bytes = %d, over the 1000 bound", s.Bytes())
	}
}
