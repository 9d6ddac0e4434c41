package devmode_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
)

// The demo group's id, known without a tenant, is the id of a group of that
// name with members in a started one.
func TestDaemonDemoGroup(t *testing.T) {
	srv := devtenanttest.Start(t)
	for _, g := range srv.Groups() {
		if g.ID == devmode.DaemonDemoGroupID() {
			if g.DisplayName != devmode.DaemonDemoGroup || len(g.Members) == 0 {
				t.Errorf("group %s: %q with %d members", g.ID, g.DisplayName, len(g.Members))
			}
			return
		}
	}
	t.Fatalf("the dev tenant has no group %s (%q)", devmode.DaemonDemoGroupID(), devmode.DaemonDemoGroup)
}

// The expiring secret is the dev tenant's, on the daemon's app, dated from
// the tenant's clock; infra's manifest is unchanged.
func TestAddExpiringSecret(t *testing.T) {
	srv := devtenanttest.Start(t)
	srv.AdvanceClock(72 * time.Hour)
	before := time.Now().Add(72 * time.Hour)
	if err := devmode.AddExpiringSecret(srv); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range srv.Applications() {
		for _, p := range a.PasswordCredentials {
			if p.DisplayName != devmode.ExpiringSecretName {
				continue
			}
			found = true
			end, err := time.Parse(time.RFC3339, p.EndDateTime)
			if a.AppID != infra.Apps().Daemon || err != nil || end.Before(before.Add(devmode.ExpiringSecretLifetime-time.Minute)) ||
				end.After(time.Now().Add(72*time.Hour+devmode.ExpiringSecretLifetime+time.Minute)) {
				t.Errorf("app %s: secret ends %q (%v), want %v after the tenant's now", a.AppID, p.EndDateTime, err, devmode.ExpiringSecretLifetime)
			}
		}
	}
	if !found {
		t.Fatal("no expiring secret registered")
	}
	if strings.Contains(string(infra.AppRegistration()), devmode.ExpiringSecretName) {
		t.Error("infra's manifest names the dev-mode secret")
	}
}

func TestCacheKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev", "cache.key")
	key, created, err := devmode.CacheKey(path)
	if err != nil || !created {
		t.Fatalf("first: created %v, %v", created, err)
	}
	if _, err := tokencache.ParseKeyRing(key); err != nil {
		t.Fatalf("the key does not open a key ring: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", fi.Mode(), err)
	}
	again, created, err := devmode.CacheKey(path)
	if err != nil || created || again != key {
		t.Fatalf("second: created %v, same key %v, %v", created, again == key, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("%d files beside the key, want none", len(entries)-1)
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := devmode.CacheKey(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a damaged key file: %v, want an error naming it", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not a key" {
		t.Errorf("the damaged key file was replaced")
	}
}
