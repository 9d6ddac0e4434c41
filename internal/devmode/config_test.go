package devmode_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
)

// TestDaemonConfig gets an app-only token with the daemon's configuration
// and calls the tenant's Graph with it, as the daemon does.
func TestDaemonConfig(t *testing.T) {
	srv := devtenanttest.Start(t)
	cfg := devmode.DaemonConfig(srv)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.ClientID != infra.Apps().Daemon || cfg.Cloud.Name != "dev" || cfg.Cloud.GraphEndpoint != srv.GraphURL() || cfg.Authority() != srv.Authority() {
		t.Errorf("config: client %s, cloud %+v, authority %s", cfg.ClientID, cfg.Cloud, cfg.Authority())
	}
	client := devmode.HTTPClient(srv, nil, time.Minute)
	app, err := entra.NewConfidentialClient(cfg, entra.ClientOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, err := app.AcquireTokenByCredential(ctx, []string{devmode.GraphScope})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Cloud.GraphEndpoint+"/v1.0/users?$top=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Graph with the daemon's token: %s", resp.Status)
	}
}

// TestWebAppConfig discovers the tenant with the web app's configuration
// and redeems its secret.
func TestWebAppConfig(t *testing.T) {
	srv := devtenanttest.Start(t)
	const redirect = "http://localhost:8080/auth/callback"
	cfg := devmode.WebAppConfig(srv, redirect)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.ClientID != infra.Apps().WebApp || cfg.RedirectURI != redirect || cfg.Cloud != devmode.Cloud(srv) {
		t.Errorf("config: client %s, redirect %s, cloud %+v", cfg.ClientID, cfg.RedirectURI, cfg.Cloud)
	}
	ctx := context.Background()
	client := srv.Client()
	if _, md, err := entra.DiscoverValidator(ctx, cfg, client); err != nil || md.Issuer != srv.Issuer() {
		t.Fatalf("discovery: %v", err)
	}
	app, err := entra.NewConfidentialClient(cfg, entra.ClientOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.AcquireTokenByCredential(ctx, []string{devmode.GraphScope}); err != nil {
		t.Errorf("the web app's secret: %v", err)
	}
}

func TestHTTPClient(t *testing.T) {
	srv := devtenanttest.Start(t)
	discovery := srv.Issuer() + "/.well-known/openid-configuration"
	tests := []struct {
		name   string
		client *http.Client
		trusts bool // the dev tenant's certificate
	}{
		{"dev tenant", devmode.HTTPClient(srv, x509.NewCertPool(), 42*time.Second), true},
		{"roots holding the dev CA", devmode.HTTPClient(nil, srv.CertPool(), 42*time.Second), true},
		{"other roots", devmode.HTTPClient(nil, x509.NewCertPool(), 42*time.Second), false},
		{"default roots", devmode.HTTPClient(nil, nil, 42*time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.client.Timeout != 42*time.Second {
				t.Errorf("timeout %v", tt.client.Timeout)
			}
			if tr, ok := tt.client.Transport.(*http.Transport); ok && tr.TLSClientConfig.MinVersion < tls.VersionTLS12 {
				t.Errorf("TLS min version %x", tr.TLSClientConfig.MinVersion)
			}
			resp, err := tt.client.Get(discovery)
			if err == nil {
				resp.Body.Close()
			}
			var unknownCA x509.UnknownAuthorityError
			switch {
			case tt.trusts && err != nil:
				t.Errorf("GET %s: %v", discovery, err)
			case !tt.trusts && !errors.As(err, &unknownCA):
				t.Errorf("GET %s: %v, want an unknown authority", discovery, err)
			}
		})
	}
}
