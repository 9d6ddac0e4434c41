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

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/internal/devmode"
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

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, lookup func(string) (string, bool), stdout io.Writer, logger *slog.Logger) error {
	s, err := envconfig.Load(lookup)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	for _, w := range envconfig.Warnings(s) {
		logger.Warn("configuration: " + w)
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

	cfg := webapp.Config{Entra: s.Entra, TrustedProxies: s.TrustedProxies, Logger: logger,
		SPAClientID: s.SPAClientID, APIIdentifierURI: s.APIIdentifierURI, APIAllowedOrigins: s.APIAllowedOrigins,
		APIReportClients: s.APIReportClients}
	var dev *devtenant.Server
	if s.DevTenant {
		dev, err = devmode.Start(devtenant.Options{Addr: s.DevTenantListen, StateDir: devStateDir,
			Logger: slog.New(minLevel{logger.Handler(), slog.LevelWarn}).With("component", "devtenant")})
		if err != nil {
			return err
		}
		defer dev.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		cfg.Entra = devmode.WebAppConfig(dev, fmt.Sprintf("%s://localhost:%d/auth/callback", scheme, port))
		cfg.DevTenant = dev
		cfg.SPAClientID = devmode.SPAClientID()
		cfg.DevMode = devModeInfo(dev, devmode.CAFile(devStateDir))
		logger.Warn("DEV MODE: no AZURE_CLIENT_ID and no production setting, so the web app runs against the in-process dev tenant, not Microsoft Entra ID. Set the AZURE_* variables (see README) for a real tenant; ENTRAKIT_DEV_TENANT=off forbids this.")
	}
	cfg.GraphURL = cfg.Entra.Cloud.GraphEndpoint
	cfg.HTTPClient = devmode.HTTPClient(dev, s.RootCAs, 30*time.Second)

	tc, closeStore, err := devmode.TokenCache{Keys: s.TokenCacheKeys, Dev: s.DevTenant, StoreURL: s.TokenCacheURL, Logger: logger}.Open()
	if err != nil {
		return err
	}
	defer closeStore()
	cfg.TokenCache = tc
	cfg.Keys = tc.Keys
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
	metricsURL, stopMetrics, err := serveMetrics(s.MetricsListen, app.Metrics())
	if err != nil {
		return err
	}
	defer stopMetrics()
	url := fmt.Sprintf("%s://localhost:%d/", scheme, ln.Addr().(*net.TCPAddr).Port)
	if dev != nil {
		printDevBanner(stdout, url, dev)
	} else {
		fmt.Fprintf(stdout, "entrakit web app on %s (tenant %s, client %s)\n", url, s.Entra.TenantID, s.Entra.ClientID)
	}
	fmt.Fprintf(stdout, "metrics on %s (ENTRAKIT_METRICS_LISTEN)\n", metricsURL)
	logger.Info("listening", "url", url, "metrics", metricsURL)

	return serveUntilDone(ctx, srv, ln, s.TLSCertFile, s.TLSKeyFile, logger)
}

// serveUntilDone serves srv on ln (TLS when certFile is set) until ctx ends,
// then shuts it down gracefully.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, certFile, keyFile string, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
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

func printDevBanner(w io.Writer, url string, dev *devtenant.Server) {
	fmt.Fprintf(w, `
  ┌────────────────────────────────────────────────────────────────────┐
  │ DEV MODE: signing in against the in-process dev tenant, NOT Entra. │
  └────────────────────────────────────────────────────────────────────┘
  Open %s
  The dev tenant (%s) serves HTTPS with its own CA (%s):
  trust it in your browser (the home page says how), or accept the warning once.

  Its sign-in page signs a persona in with one click; or sign in with a
  password (they change on every start):
`, url, dev.URL(), devmode.CAFile(devStateDir))
	_ = dev.WritePersonas(w, "    ")
	fmt.Fprintln(w)
}

// devStateDir keeps the dev tenant's CA across runs, so a browser trusts it
// once.
const devStateDir = ".devtenant"

// devModeInfo is what the home page tells a developer: the personas (not
// their passwords) and the CA to trust.
func devModeInfo(dev *devtenant.Server, caFile string) *webapp.DevModeInfo {
	info := &webapp.DevModeInfo{CAFile: caFile, CAPEM: dev.CACertPEM()}
	for _, p := range dev.Personas() {
		info.Personas = append(info.Personas, webapp.DevPersona{Name: p.DisplayName, Username: p.Username, Roles: p.Roles,
			Admin: p.Admin, Guest: p.Guest, Disabled: !p.Enabled})
	}
	return info
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

// serveMetrics serves the Prometheus handler h at /metrics on its own
// listener: metrics tell sign-in outcomes and process details, nothing for
// the public listener (loopback by default).
func serveMetrics(addr string, h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("ENTRAKIT_METRICS_LISTEN: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/metrics", func() { _ = srv.Close() }, nil
}
