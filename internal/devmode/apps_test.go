package devmode_test

import (
	"testing"

	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/infra"
)

// TestApps checks infra's app ids against what the dev tenant
// registers from it.
func TestApps(t *testing.T) {
	ids := infra.Apps()
	srv := devtenanttest.Start(t)
	registered := map[string]bool{}
	for _, a := range srv.Applications() {
		registered[a.AppID] = true
	}
	seen := map[string]bool{}
	for name, id := range map[string]string{"web app": ids.WebApp, "SPA": ids.SPA, "daemon": ids.Daemon, "CLI": ids.CLI} {
		if id == "" || seen[id] || !registered[id] {
			t.Errorf("%s app id %q: empty, repeated, or not registered by the dev tenant", name, id)
		}
		seen[id] = true
	}
	// The confidential clients get a secret at start.
	if srv.ClientSecret(ids.WebApp) == "" || srv.ClientSecret(ids.Daemon) == "" {
		t.Errorf("the web app or the daemon has no client secret")
	}
}
