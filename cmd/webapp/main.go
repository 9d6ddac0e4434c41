// Command webapp runs entrakit's web app: sign-in with work accounts and
// Microsoft Graph on the user's behalf.
//
// With no AZURE_CLIENT_ID it starts the dev tenant (a local Entra ID and
// Graph emulator) in the same process, and says so loudly:
//
//	go run ./cmd/webapp
//
// With the AZURE_* settings (see the README) it runs against a real tenant
// and never starts the emulator.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/envconfig"
	"github.com/entrakit/entrakit/webapp"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.LookupEnv, os.Stdout, logger); err != nil {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

// webAppID is the web app of infra/app-registration.json, which the dev
// tenant registers.
const webAppID = "3f6c7b1a-9e2d-4c8f-a5b3-7d1e0f2c4a6b"

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, lookup func(string) (string, bool), stdout io.Writer, logger *slog.Logger) error {
	s, err := envconfig.Load(lookup)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	scheme := "http"
	if s.TLSCertFile != "" {
		scheme = "https"
	}

	cfg := webapp.Config{Entra: s.Entra, GraphURL: s.Entra.Cloud.GraphEndpoint, TrustedProxies: s.TrustedProxies, Logger: logger}
	httpClient := &http.Client{Timeout: 30 * time.Second}
	if s.RootCAs != nil {
		httpClient.Transport = transportWith(s.RootCAs)
	}
	var dev *devtenant.Server
	if s.DevTenant {
		dev, err = devtenant.New(devtenant.Options{Manifest: infra.AppRegistration(), Addr: s.DevTenantListen, StateDir: ".devtenant",
			Logger: slog.New(minLevel{logger.Handler(), slog.LevelWarn}).With("component", "devtenant")})
		if err != nil {
			return fmt.Errorf("dev tenant: %w", err)
		}
		if err := dev.Start(); err != nil {
			return fmt.Errorf("dev tenant on %s (set ENTRAKIT_DEV_TENANT_LISTEN): %w", s.DevTenantListen, err)
		}
		defer dev.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		cfg.Entra = entra.Config{
			Cloud:       entra.Cloud{Name: "dev", AuthorityHost: dev.URL() + "/", GraphEndpoint: dev.GraphURL()},
			TenantID:    dev.TenantID(),
			ClientID:    webAppID,
			Credential:  entra.Credential{ClientSecret: dev.ClientSecret(webAppID)},
			RedirectURI: fmt.Sprintf("%s://localhost:%d/auth/callback", scheme, port),
		}
		cfg.GraphURL = dev.GraphURL()
		cfg.DevTenant = dev
		httpClient = dev.Client()
		httpClient.Timeout = 30 * time.Second
		logger.Warn("DEV MODE: no AZURE_CLIENT_ID, so the web app runs against the in-process dev tenant, not Microsoft Entra ID. Set the AZURE_* variables (see README) for a real tenant; ENTRAKIT_DEV_TENANT=off forbids this.")
	}
	cfg.HTTPClient = httpClient

	keys, err := tokencache.KeyRingFromConfig(s.TokenCacheKeys, s.DevTenant, logger)
	if err != nil {
		return fmt.Errorf("ENTRAKIT_TOKEN_CACHE_KEYS: %w", err)
	}
	store, closeStore, err := tokencache.OpenStore(s.TokenCacheURL, logger)
	if err != nil {
		return fmt.Errorf("ENTRAKIT_TOKEN_CACHE_URL: %w", err)
	}
	defer closeStore()
	cfg.TokenCache = &tokencache.Cache{Store: store, Keys: keys, Logger: logger, Metrics: &tokencache.Metrics{}}
	cfg.Keys = keys
	if s.RedisURL != "" {
		ss, closeSessions, err := webapp.RedisSessionStore(s.RedisURL)
		if err != nil {
			return fmt.Errorf("ENTRAKIT_REDIS_URL: %w", err)
		}
		defer closeSessions()
		cfg.SessionStore = ss
	}

	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	app, err := webapp.New(startCtx, cfg)
	cancel()
	if err != nil {
		return err
	}
	srv := app.Server(s.Listen)
	errc := make(chan error, 1)
	go func() {
		if s.TLSCertFile != "" {
			errc <- srv.ServeTLS(ln, s.TLSCertFile, s.TLSKeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	url := fmt.Sprintf("%s://localhost:%d/", scheme, ln.Addr().(*net.TCPAddr).Port)
	if dev != nil {
		printDevBanner(stdout, url, dev)
	} else {
		fmt.Fprintf(stdout, "entrakit web app on %s (tenant %s, client %s)\n", url, s.Entra.TenantID, s.Entra.ClientID)
	}
	logger.Info("listening", "url", url)

	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

func transportWith(roots *x509.CertPool) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return t
}

func printDevBanner(w io.Writer, url string, dev *devtenant.Server) {
	fmt.Fprintf(w, `
  ┌────────────────────────────────────────────────────────────────────┐
  │ DEV MODE: signing in against the in-process dev tenant, NOT Entra. │
  └────────────────────────────────────────────────────────────────────┘
  Open %s
  The dev tenant (%s) serves HTTPS with its own CA (.devtenant/ca.pem):
  trust it in your browser, or accept the warning once.

  Sign in as (passwords change on every start):
`, url, dev.URL())
	_ = dev.WritePersonas(w, "    ")
	fmt.Fprintln(w)
}

// minLevel drops records below a level (the dev tenant logs every request at
// Info, which would drown the app's own log).
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }
