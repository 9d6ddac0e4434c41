package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/internal/envconfig"
)

// Dev mode's state, under envconfig.DaemonDevDir: kept across runs so
// that a second run reuses the first one's app token.
const (
	devSigningKeyFile = "signing-key.pem" // the dev tenant's token signing key
	devCacheKeyFile   = "cache.key"       // seals the token cache
	devTokenCacheDir  = "tokencache"
	devReportsDir     = "reports"
)

// devJobs is dev mode's job file when none is given: daemon.DefaultConfig's
// jobs, with the reports in the dev folder, and an hourly snapshot of the
// dev tenant's demo group, so that list and run show every job there is.
func devJobs() (*daemon.FileConfig, error) {
	var f struct {
		Jobs []map[string]any `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(daemon.DefaultConfig), &f); err != nil {
		return nil, err
	}
	for _, j := range f.Jobs {
		if settings, ok := j["settings"].(map[string]any); ok && j["name"] == "expiring-credentials" {
			settings["output_dir"] = filepath.Join(envconfig.DaemonDevDir, devReportsDir)
		}
	}
	f.Jobs = append(f.Jobs, map[string]any{"name": "group-snapshot", "every": "1h", "timeout": "5m",
		"settings": map[string]any{"groups": []string{devmode.DaemonDemoGroupID()}}})
	b, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	return daemon.ParseConfig(b)
}

// devTenant is the in-process dev tenant of dev mode and the token cache
// settings that go with it.
type devTenant struct {
	srv *devtenant.Server
	// cacheKeys seal the token cache: the key kept in the dev folder.
	cacheKeys string
	// cacheDir is the token cache's file store.
	cacheDir string
}

// startDevTenant starts the dev tenant with its state in the dev folder:
// its CA and its signing key are kept, so tokens cached by an earlier run
// still validate; it registers the daemon's soon-expiring demo secret. When
// the signing key or the cache key is new, what is cached is of no use and
// is dropped.
func startDevTenant(listen string, logger *slog.Logger) (*devTenant, error) {
	dir := envconfig.DaemonDevDir
	keyFile := filepath.Join(dir, devSigningKeyFile)
	_, err := os.Stat(keyFile)
	newSigningKey := errors.Is(err, fs.ErrNotExist)
	srv, err := devmode.Start(devtenant.Options{Addr: listen, StateDir: dir, SigningKeyFile: keyFile,
		Logger: slog.New(debugOnly{logger.Handler()}).With("component", "devtenant")})
	if err != nil {
		return nil, err
	}
	if err := devmode.AddExpiringSecret(srv); err != nil {
		srv.Close()
		return nil, err
	}
	keys, newCacheKey, err := devmode.CacheKey(filepath.Join(dir, devCacheKeyFile))
	if err != nil {
		srv.Close()
		return nil, err
	}
	cacheDir, err := filepath.Abs(filepath.Join(dir, devTokenCacheDir))
	if err != nil {
		srv.Close()
		return nil, err
	}
	if newSigningKey || newCacheKey {
		// Tokens signed by a key the tenant no longer has, or sealed by
		// one the cache no longer has: start the cache clean.
		if err := os.RemoveAll(cacheDir); err != nil {
			srv.Close()
			return nil, fmt.Errorf("dev token cache: %w", err)
		}
	}
	return &devTenant{srv: srv, cacheKeys: keys, cacheDir: cacheDir}, nil
}

// debugOnly hands the dev tenant's records below warning level to the
// daemon's log at debug level: its request log (a line per token or Graph
// request) is there for whoever turns debug on, not in the daemon's log.
type debugOnly struct{ h slog.Handler }

func (d debugOnly) Enabled(ctx context.Context, l slog.Level) bool {
	if l >= slog.LevelWarn {
		return d.h.Enabled(ctx, l)
	}
	return d.h.Enabled(ctx, slog.LevelDebug)
}

func (d debugOnly) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		r.Level = slog.LevelDebug
	}
	return d.h.Handle(ctx, r)
}

func (d debugOnly) WithAttrs(as []slog.Attr) slog.Handler { return debugOnly{d.h.WithAttrs(as)} }
func (d debugOnly) WithGroup(name string) slog.Handler    { return debugOnly{d.h.WithGroup(name)} }
