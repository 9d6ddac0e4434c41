package benchemu_test

import (
	"net/http"
	"testing"

	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/benchemu"
	"github.com/entrakit/entrakit/internal/devmode"
)

func TestMain(m *testing.M) { benchemu.Main(m) }

// TestStart checks what the child process reports to its parent.
func TestStart(t *testing.T) {
	info := benchemu.Start(t, 25)
	if info.Users() < 25 {
		t.Errorf("%d users, want the 25 synthetic ones and the personas", info.Users())
	}
	if info.TenantID() == "" || info.GraphURL() == "" || info.ClientSecret(infra.Apps().Daemon) == "" {
		t.Errorf("tenant %q, Graph %q, daemon secret set: %v", info.TenantID(), info.GraphURL(), info.ClientSecret(infra.Apps().Daemon) != "")
	}
	client := &http.Client{Transport: info.Transport(t)}
	resp, err := client.Get(devmode.DaemonConfig(info).Authority() + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("discovery over the child's CA: %s", resp.Status)
	}
}
