package infracheck

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
)

// TestDaemonReadsTheAPIUsage: the daemon's api-usage job calls the web
// app's API with an app-only token from its own registration (the
// manifest grants it Reports.Read.All on the API) and keeps the report;
// with a registration that lacks the role the API answers 403 and the run
// fails as forbidden.
func TestDaemonReadsTheAPIUsage(t *testing.T) {
	srv := devtenanttest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	keys, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	hs := httptest.NewUnstartedServer(newWebApp(t, srv, base).Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)

	job, err := daemon.NewJob(daemon.JobConfig{Name: "api-usage", Settings: []byte(
		`{"url":"` + base + `","scope":"api://` + infra.Apps().WebApp + `/.default","output_dir":"` + t.TempDir() + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	run := func(cfgApp string) (daemon.Result, error) {
		cfg := devmode.DaemonConfig(srv)
		if cfgApp != "" {
			cfg = devmode.WebAppConfig(srv, base+"/auth/callback")
			cfg.RedirectURI = ""
		}
		cache := &tokencache.Cache{Store: tokencache.NewMemoryStore(tokencache.MemoryOptions{}), Keys: keys}
		cred, err := daemon.NewCredential(cfg, daemon.CredentialOptions{HTTPClient: devmode.HTTPClient(srv, nil, 30*time.Second), Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		return job.Run(context.Background(), &daemon.RunEnv{Credential: cred})
	}

	res, err := run("")
	if err != nil {
		t.Fatalf("api-usage: %v", err)
	}
	if !strings.Contains(res.Summary, "API requests since") {
		t.Errorf("summary %q", res.Summary)
	}
	out := job.(*daemon.APIUsage).OutputDir
	files, _ := filepath.Glob(filepath.Join(out, "api-usage-*.json"))
	if len(files) != 1 {
		t.Fatalf("report files %v", files)
	}
	if b, _ := os.ReadFile(files[0]); !strings.Contains(string(b), `"caller": "`+infra.Apps().Daemon+`"`) {
		t.Errorf("the report does not name the daemon as its caller:\n%s", b)
	}

	// The web app's own registration has no Reports.Read.All role.
	if _, err := run("webapp"); !errors.Is(err, daemon.ErrForbidden) {
		t.Errorf("without the role: %v, want ErrForbidden", err)
	}
	// No credential at all.
	if _, err := job.Run(context.Background(), &daemon.RunEnv{}); !errors.Is(err, daemon.ErrAuth) {
		t.Errorf("without a credential: %v, want ErrAuth", err)
	}
	for _, bad := range []string{
		`{"scope":"api://x/.default"}`,
		`{"url":"http://app.example.com","scope":"api://x/.default"}`,
		`{"url":"https://app.example.com","scope":"api://x/access_as_user"}`,
		`{"url":"https://app.example.com","scope":"api://x/.default","extra":1}`,
	} {
		if _, err := daemon.NewJob(daemon.JobConfig{Name: "api-usage", Settings: []byte(bad)}); err == nil {
			t.Errorf("settings %s accepted", bad)
		}
	}
}
