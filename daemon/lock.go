package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/redis/go-redis/v9"
)

// RedisLocker makes one replica run each tick of a job: at a tick every
// replica tries SET NX on the job's key; the winner runs, the others skip.
// The lock outlives the run by at least MinHold (half the job's interval),
// so a replica whose clock or scheduler fires a little later in the same
// tick still finds it taken. A crashed holder's lock expires after its TTL.
type RedisLocker struct {
	Client redis.UniversalClient
	// Prefix of the keys; default "entrakit:daemon:lock:".
	Prefix string
	// Hold returns how long a job's lock lives at least, and at most while
	// it runs (its timeout plus a margin): see Scheduler.
	Hold func(job string) (min, ttl time.Duration)
}

var _ gocron.Locker = (*RedisLocker)(nil)

// ErrLocked: another replica holds the job's lock (this tick is theirs).
var ErrLocked = errors.New("daemon: another replica runs this job")

// Lock implements gocron.Locker.
func (l *RedisLocker) Lock(ctx context.Context, job string) (gocron.Lock, error) {
	minHold, ttl := 30*time.Second, 35*time.Minute
	if l.Hold != nil {
		minHold, ttl = l.Hold(job)
	}
	token := rand.Text() // this holder's mark: only it may release the key
	key := l.prefix() + job
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ok, err := l.Client.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrLocked
	}
	return &redisLock{l: l, key: key, token: token, until: time.Now().Add(minHold)}, nil
}

func (l *RedisLocker) prefix() string {
	if l.Prefix == "" {
		return "entrakit:daemon:lock:"
	}
	return l.Prefix
}

type redisLock struct {
	l     *RedisLocker
	key   string
	token string
	until time.Time // keep the key at least until then
}

// unlock shortens the lock to its minimum hold, if it is still ours.
var unlock = redis.NewScript(`
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
local ms = tonumber(ARGV[2])
if ms <= 0 then return redis.call("DEL", KEYS[1]) end
return redis.call("PEXPIRE", KEYS[1], ms)
`)

// Unlock implements gocron.Lock.
func (k *redisLock) Unlock(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ms := time.Until(k.until).Milliseconds()
	return unlock.Run(ctx, k.l.Client, []string{k.key}, k.token, ms).Err()
}
