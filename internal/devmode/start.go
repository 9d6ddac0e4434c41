package devmode

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/infra"
)

// Start starts a command's in-process dev tenant with opts; Manifest
// defaults to infra's. Its sign-in page has the persona picker (one click
// signs a persona in: Options.PersonaPicker). Close it when the command
// ends.
func Start(opts devtenant.Options) (*devtenant.Server, error) {
	if opts.Manifest == nil {
		opts.Manifest = infra.AppRegistration()
	}
	opts.PersonaPicker = true
	srv, err := devtenant.New(opts)
	if err != nil {
		return nil, fmt.Errorf("dev tenant: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("dev tenant on %s (set ENTRAKIT_DEV_TENANT_LISTEN): %w", opts.Addr, err)
	}
	return srv, nil
}

// CAFile is the absolute path of the CA certificate (PEM) that a dev tenant
// started with Options.StateDir stateDir keeps there across starts: the
// file to trust in a browser or the system. "" without a state directory
// (the CA is then new on every start and kept nowhere).
func CAFile(stateDir string) string {
	if stateDir == "" {
		return ""
	}
	p := filepath.Join(stateDir, "ca.pem")
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// TokenCache is the sealed token cache a command runs with.
type TokenCache struct {
	// Keys are ENTRAKIT_TOKEN_CACHE_KEYS. Empty is an error, except in dev
	// mode, where a key generated for this process seals (and a warning
	// says so).
	Keys string
	Dev  bool
	// StoreURL is ENTRAKIT_TOKEN_CACHE_URL (memory:, file:///dir,
	// redis://...); empty means memory.
	StoreURL string
	// Logger receives the cache's warnings; default slog.Default().
	Logger *slog.Logger
}

// Open opens the store and returns the cache over it, with metrics, and
// the function closing the store. Errors name the variable at fault.
func (c TokenCache) Open() (*tokencache.Cache, func() error, error) {
	keys, err := tokencache.KeyRingFromConfig(c.Keys, c.Dev, c.Logger)
	if err != nil {
		return nil, nil, fmt.Errorf("ENTRAKIT_TOKEN_CACHE_KEYS: %w", err)
	}
	store, closeStore, err := tokencache.OpenStore(c.StoreURL, c.Logger)
	if err != nil {
		return nil, nil, fmt.Errorf("ENTRAKIT_TOKEN_CACHE_URL: %w", err)
	}
	return &tokencache.Cache{Store: store, Keys: keys, Logger: c.Logger, Metrics: &tokencache.Metrics{}}, closeStore, nil
}
