package tokencache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps each partition in a Redis hash {v: version, b: blob}
// under prefix + a hash of the partition key (user ids never appear in key
// names). Put is a Lua compare-and-set, so two replicas writing one
// partition cannot silently lose a refresh token.
type RedisStore struct {
	client redis.UniversalClient
	prefix string
}

// NewRedisStore uses client (bounded timeouts are the caller's: see
// RedisOptions) and prefix (default "entrakit:tc:").
func NewRedisStore(client redis.UniversalClient, prefix string) *RedisStore {
	if prefix == "" {
		prefix = "entrakit:tc:"
	}
	return &RedisStore{client: client, prefix: prefix}
}

// RedisOptions parses a redis:// URL and sets short timeouts: a slow Redis
// must degrade to a cache miss quickly, not hold requests.
func RedisOptions(url string) (*redis.Options, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("tokencache: redis URL: %w", err)
	}
	if o.DialTimeout == 0 || o.DialTimeout > 500*time.Millisecond {
		o.DialTimeout = 500 * time.Millisecond
	}
	o.DialerRetries = 1 // go-redis would otherwise dial 5 times per attempt
	if o.PoolTimeout == 0 || o.PoolTimeout > time.Second {
		o.PoolTimeout = time.Second
	}
	o.ContextTimeoutEnabled = true
	if o.ReadTimeout <= 0 || o.ReadTimeout > 500*time.Millisecond {
		o.ReadTimeout = 500 * time.Millisecond
	}
	if o.WriteTimeout <= 0 || o.WriteTimeout > 500*time.Millisecond {
		o.WriteTimeout = 500 * time.Millisecond
	}
	o.MaxRetries = 1
	return o, nil
}

func (s *RedisStore) key(partition string) string {
	h := sha256.Sum256([]byte(partition))
	return s.prefix + hex.EncodeToString(h[:16])
}

// casScript: set {v: ARGV[4], b: ARGV[2]} if the stored version is ARGV[1]
// ("0": absent). Versions are random (newVersion), compared as strings.
var casScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'v')
if not cur then cur = '0' end
if cur ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'v', ARGV[4], 'b', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) else redis.call('PERSIST', KEYS[1]) end
return 1
`)

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, partition string) ([]byte, uint64, error) {
	vals, err := s.client.HMGet(ctx, s.key(partition), "v", "b").Result()
	if err != nil {
		return nil, 0, fmt.Errorf("tokencache: redis: %w", err)
	}
	vs, ok1 := vals[0].(string)
	b, ok2 := vals[1].(string)
	if !ok1 || !ok2 {
		return nil, 0, ErrNotFound
	}
	v, err := strconv.ParseUint(vs, 10, 64)
	if err != nil {
		return nil, 0, ErrNotFound
	}
	return []byte(b), v, nil
}

// Put implements Store.
func (s *RedisStore) Put(ctx context.Context, partition string, blob []byte, expected uint64, ttl time.Duration) (uint64, error) {
	v := newVersion()
	res, err := casScript.Run(ctx, s.client, []string{s.key(partition)},
		strconv.FormatUint(expected, 10), blob, ttl.Milliseconds(), strconv.FormatUint(v, 10)).Int64()
	switch {
	case err != nil:
		return 0, fmt.Errorf("tokencache: redis: %w", err)
	case res == -1:
		return 0, ErrConflict
	case res != 1:
		return 0, errors.New("tokencache: redis: unexpected compare-and-set reply")
	}
	return v, nil
}

// Delete implements Store.
func (s *RedisStore) Delete(ctx context.Context, partition string) error {
	if err := s.client.Del(ctx, s.key(partition)).Err(); err != nil {
		return fmt.Errorf("tokencache: redis: %w", err)
	}
	return nil
}

// Ping checks the connection (readiness probes).
func (s *RedisStore) Ping(ctx context.Context) error { return s.client.Ping(ctx).Err() }
