// Command daemon runs entrakit's scheduled Microsoft Graph jobs with the
// app's own identity (client credentials, managed identity or workload
// identity):
//
//	go run ./cmd/daemon               # schedule the jobs; /healthz and /metrics
//	go run ./cmd/daemon list          # the jobs and when they run next
//	go run ./cmd/daemon run JOB       # run one job now, in the foreground
//
// With no AZURE_CLIENT_ID it runs against the in-process dev tenant (and
// says so), with all three jobs, and keeps its state under
// .entrakit/devtenant so that the next run reuses the app token; with the
// AZURE_* settings, against a real tenant.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/internal/envconfig"
	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, logger); err != nil {
		fmt.Fprintln(os.Stderr, "daemon:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(stdout)
	configPath := fs.String("config", "", "job `file` (JSON); default $ENTRAKIT_DAEMON_CONFIG or the built-in jobs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cmd, rest := "serve", fs.Args()
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	s, err := envconfig.Load(lookup)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	for _, w := range envconfig.Warnings(s) {
		logger.Warn("configuration: " + w)
	}
	if *configPath == "" {
		*configPath = s.DaemonConfig
	}
	var cfg *daemon.FileConfig
	if *configPath == "" && s.DevTenant {
		cfg, err = devJobs()
	} else {
		cfg, err = daemon.LoadConfig(*configPath)
	}
	if err != nil {
		return fmt.Errorf("job file: %w", err)
	}
	switch cmd {
	case "list":
		for _, line := range daemon.NextRuns(cfg, time.Now()) {
			fmt.Fprintln(stdout, line)
		}
		return nil
	case "run":
		if len(rest) != 1 {
			return errors.New("usage: daemon run JOB (see daemon list)")
		}
		if !daemon.KnownJob(rest[0]) {
			return fmt.Errorf("%w: %q (see daemon list)", daemon.ErrUnknownJob, rest[0])
		}
	case "serve":
	default:
		return fmt.Errorf("unknown command %q: want serve, list or run JOB", cmd)
	}

	env, err := setUp(ctx, s, logger)
	if err != nil {
		return err
	}
	defer env.close()
	sch := &daemon.Scheduler{Config: cfg, Graph: env.graph, Credential: env.cred, DB: env.db, Logger: logger, Tokens: env.tokens}

	if cmd == "run" {
		return runOnce(ctx, sch, env, rest[0], stdout, lookup, logger)
	}
	return serve(ctx, sch, s, cfg, logger)
}

// runOnce runs one job now: a progress bar on a terminal, then a summary and
// where the app token came from.
func runOnce(ctx context.Context, sch *daemon.Scheduler, env *environment, job string, stdout io.Writer, lookup func(string) (string, bool), logger *slog.Logger) error {
	bar := newProgressBar(stdout, job, isTerminal(stdout, lookup), time.Now, barTick)
	sch.Logger = slog.New(bar.logHandler(logger.Handler()))
	start := time.Now()
	res, err := sch.RunOnce(ctx, job, bar.progress)
	bar.done()
	if err != nil {
		return err
	}
	writeSummary(stdout, job, res, time.Since(start))
	if line := tokenSource(env.tokens, env.tokenFrom, env.sealedCache, time.Now()); line != "" {
		fmt.Fprintln(stdout, line)
	}
	return nil
}

// serve runs the scheduler until ctx ends, with /healthz and /metrics and,
// with Redis, a lock shared by the replicas.
func serve(ctx context.Context, sch *daemon.Scheduler, s envconfig.Settings, cfg *daemon.FileConfig, logger *slog.Logger) error {
	if s.RedisURL != "" {
		opts, err := tokencache.RedisOptions(s.RedisURL)
		if err != nil {
			return err
		}
		rc := redis.NewClient(opts)
		defer rc.Close()
		sch.Locker = &daemon.RedisLocker{Client: rc}
	}
	ln, err := net.Listen("tcp", s.DaemonListen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sch.Handler(), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	if err := sch.Start(); err != nil {
		return err
	}
	logger.Info("daemon started", "jobs", len(cfg.Jobs), "metrics", "http://"+ln.Addr().String()+"/metrics", "replicas_locked", sch.Locker != nil)
	<-ctx.Done()
	logger.Info("shutting down: running jobs checkpoint and stop")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return sch.Shutdown(shutdownCtx)
}

type environment struct {
	graph  *graphapi.Client
	cred   azcore.TokenCredential
	db     *daemon.DB
	tokens *daemon.TokenStats
	// tokenFrom names who issues the app tokens; sealedCache: they are kept
	// in the encrypted token cache (a secret or a certificate).
	tokenFrom   string
	sealedCache bool
	closes      []func()
}

func (e *environment) close() {
	for i := len(e.closes) - 1; i >= 0; i-- {
		e.closes[i]()
	}
}

// setUp builds the credential, the Graph client and the database, starting
// the dev tenant first in dev mode.
func setUp(ctx context.Context, s envconfig.Settings, logger *slog.Logger) (*environment, error) {
	env := &environment{tokens: &daemon.TokenStats{}, tokenFrom: "Microsoft Entra ID"}
	cfg := s.Entra
	cacheURL := s.TokenCacheURL
	cacheKeys := s.TokenCacheKeys
	var dev *devtenant.Server
	if s.DevTenant {
		d, err := startDevTenant(s.DevTenantListen, logger)
		if err != nil {
			return nil, err
		}
		dev = d.srv
		env.closes = append(env.closes, func() { dev.Close() })
		cfg = devmode.DaemonConfig(dev)
		env.tokenFrom = "the dev tenant"
		// Production settings are refused in dev mode (envconfig), so
		// these are the dev folder's own.
		cacheURL, cacheKeys = "file://"+d.cacheDir, d.cacheKeys
		logger.Warn("DEV MODE: no AZURE_CLIENT_ID and no production setting, so the daemon runs against the in-process dev tenant at " + dev.URL() +
			", not Microsoft Entra ID. Its state, the token cache and the key sealing it included, is kept in " + envconfig.DaemonDevDir + ".")
	}
	if cacheURL == "" {
		abs, err := filepath.Abs(filepath.Join(".entrakit", "tokencache"))
		if err != nil {
			return nil, err
		}
		cacheURL = "file://" + abs
	}
	cache, closeStore, err := devmode.TokenCache{Keys: cacheKeys, Dev: s.DevTenant, StoreURL: cacheURL, Logger: logger}.Open()
	if err != nil {
		return nil, err
	}
	env.closes = append(env.closes, func() { closeStore() })
	httpClient := devmode.HTTPClient(dev, s.RootCAs, 60*time.Second)
	cred, err := daemon.NewCredential(cfg, daemon.CredentialOptions{HTTPClient: httpClient, Stats: env.tokens, Cache: cache})
	if err != nil {
		return nil, err
	}
	switch cfg.Credential.Kind() {
	case "secret", "certificate", "none": // MSAL, with the cache (NewCredential)
		env.sealedCache = true
	case "managed-identity":
		env.tokenFrom = "the managed identity endpoint"
	}
	graphURL := cfg.Cloud.GraphEndpoint
	if graphURL == "" {
		graphURL = graphapi.DefaultBaseURL
	}
	scope := cfg.Cloud.GraphScope()
	env.cred = cred
	env.graph, err = graphapi.New(cred, graphapi.Options{BaseURL: graphURL, HTTPClient: httpClient, Scopes: []string{scope},
		UserAgent: "entrakit-daemon", MaxRetries: 10})
	if err != nil {
		return nil, err
	}
	env.db, err = daemon.OpenDB(ctx, s.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("ENTRAKIT_DATABASE_URL: %w", err)
	}
	env.closes = append(env.closes, func() { env.db.Close() })
	if s.DevTenant {
		// A new dev tenant: the delta links of the last one mean nothing
		// to it. The next sync is a full round (which sweeps correctly).
		if _, err := env.db.ExecContext(ctx, `DELETE FROM sync_cursors`); err != nil {
			return nil, err
		}
	}
	return env, nil
}
