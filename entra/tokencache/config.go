package tokencache

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// OpenStore opens the store a URL names:
//
//	memory:               in-process only (one instance; lost on restart)
//	file:///var/lib/app   one sealed file per partition, with a memory L1
//	redis://host:6379/0   Redis (rediss:// for TLS), with a memory L1
//
// The returned close function releases connections.
func OpenStore(rawURL string, logger *slog.Logger) (Store, func() error, error) {
	if logger == nil {
		logger = slog.Default()
	}
	nop := func() error { return nil }
	if rawURL == "" || rawURL == "memory:" || rawURL == "memory" {
		return NewMemoryStore(MemoryOptions{}), nop, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("tokencache: store URL: %w", err)
	}
	onErr := func(op string, err error) {
		logger.Warn("tokencache: shared store failed; serving from memory", "op", op, "err", err)
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" || u.Host != "" {
			return nil, nil, fmt.Errorf("tokencache: store URL %q: want file:///absolute/dir", rawURL)
		}
		fs, err := NewFileStore(u.Path)
		if err != nil {
			return nil, nil, err
		}
		l := NewLayered(fs, 0)
		l.OnL2Error = onErr
		return l, nop, nil
	case "redis", "rediss":
		opts, err := RedisOptions(rawURL)
		if err != nil {
			return nil, nil, err
		}
		client := redis.NewClient(opts)
		l := NewLayered(NewRedisStore(client, ""), 0)
		l.OnL2Error = onErr
		return l, client.Close, nil
	}
	return nil, nil, fmt.Errorf("tokencache: store URL %q: the scheme must be memory, file or redis", redactURL(rawURL))
}

// KeyRingFromConfig parses configured keys (ParseKeyRing). With none
// configured, dev mode generates a key for this process and warns loudly
// (tokens do not survive a restart); otherwise it is an error.
func KeyRingFromConfig(config string, dev bool, logger *slog.Logger) (*KeyRing, error) {
	if strings.TrimSpace(config) == "" && dev {
		if logger == nil {
			logger = slog.Default()
		}
		logger.Warn("tokencache: DEV MODE: no ENTRAKIT_TOKEN_CACHE_KEYS; sealing tokens with a key generated for this process only. Never run like this in production.")
		return ParseKeyRing(GenerateKey())
	}
	return ParseKeyRing(config)
}

// redactURL drops a password from a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
