package devmode

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/directory"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/infra"
)

// DaemonDemoGroup is the dev tenant's group whose members cmd/daemon's dev
// mode snapshots: five people, one of them a B2B guest.
const DaemonDemoGroup = "Sales and Marketing"

// DaemonDemoGroupID is DaemonDemoGroup's object id. The dev tenant derives
// its ids from names, so it is known before a tenant starts (daemon list).
func DaemonDemoGroupID() string { return directory.DeterministicID("group:" + DaemonDemoGroup) }

// ExpiringSecretLifetime is how long the demo secret of
// [AddExpiringSecret] has left when the dev tenant starts: within the
// credential report's default 30 days.
const ExpiringSecretLifetime = 14 * 24 * time.Hour

// ExpiringSecretName is the display name of that secret.
const ExpiringSecretName = "dev mode: a secret about to expire"

// AddExpiringSecret gives the daemon's app a client secret that expires
// ExpiringSecretLifetime from now on the tenant's clock, so the
// expiring-credentials report of dev mode has a row. infra's manifest keeps
// the dates a real registration has; this one exists only in the dev
// tenant.
func AddExpiringSecret(srv *devtenant.Server) error {
	_, err := srv.AddPassword(infra.Apps().Daemon, ExpiringSecretName, ExpiringSecretLifetime)
	return err
}

// CacheKey is the token cache key kept in path for dev mode, made (0600)
// when the file is absent: the daemon's dev-mode cache outlives its
// process, so the next run opens what this one sealed. created says that
// this call made it (nothing sealed before can be opened). Production keys
// come from ENTRAKIT_TOKEN_CACHE_KEYS, never from a file written here.
func CacheKey(path string) (key string, created bool, err error) {
	if key, err := readCacheKey(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key = tokencache.GenerateKey()
	won, err := createOnce(path, []byte(key+"\n"))
	if err != nil {
		return "", false, fmt.Errorf("dev token cache key %s: %w", path, err)
	}
	if !won {
		// Another run made it first: use theirs.
		key, err = readCacheKey(path)
		return key, false, err
	}
	return key, true, nil
}

func readCacheKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	key := strings.TrimSpace(string(b))
	if _, err := tokencache.ParseKeyRing(key); err != nil {
		return "", fmt.Errorf("dev token cache key %s: %w (delete it for a new key)", path, err)
	}
	return key, nil
}

// createOnce writes data to path (0600) unless a file is there already,
// whole or not at all: a temporary file, hard-linked to path (a link never
// replaces). It reports whether it wrote path.
func createOnce(path string, data []byte) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*") // 0600
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	err = os.Link(tmp.Name(), path)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	return err == nil, err
}
