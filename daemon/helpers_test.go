package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
)

// The ids of the apps the daemon's tests get tokens for (infra's manifest).
var (
	daemonAppID = infra.Apps().Daemon
	webappAppID = infra.Apps().WebApp
)

// startTenant starts a dev tenant with users synthetic users on top of the
// personas, and a Graph budget a test cannot exhaust unless it asks to;
// mutate adjusts the other options.
func startTenant(t testing.TB, users int, mutate ...func(*devtenant.Options)) *devtenant.Server {
	t.Helper()
	unlimited := func(o *devtenant.Options) { o.GraphBudget = 1 << 30 }
	srv := devtenanttest.Start(t, append([]func(*devtenant.Options){unlimited}, mutate...)...)
	if err := srv.GenerateDirectory(users); err != nil {
		t.Fatal(err)
	}
	return srv
}

// appConfig is the daemon app's client-secret configuration.
func appConfig(srv *devtenant.Server) entra.Config { return devmode.DaemonConfig(srv) }

// memoryCache is a token cache in a fresh memory store, sealed with a new
// key.
func memoryCache(t testing.TB) *tokencache.Cache {
	t.Helper()
	ring, err := tokencache.ParseKeyRing(tokencache.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return &tokencache.Cache{Store: tokencache.NewMemoryStore(tokencache.MemoryOptions{}), Keys: ring}
}

// secretCredential is the daemon app's client-secret credential over cache
// (memoryCache when nil).
func secretCredential(t testing.TB, srv *devtenant.Server, cache *tokencache.Cache, stats *daemon.TokenStats) azcore.TokenCredential {
	t.Helper()
	if cache == nil {
		cache = memoryCache(t)
	}
	cred, err := daemon.NewCredential(appConfig(srv), daemon.CredentialOptions{HTTPClient: srv.Client(), Cache: cache, Stats: stats})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// newGraph builds the daemon's Graph client with a client-secret
// credential over cache (memoryCache when nil).
func newGraph(t testing.TB, srv *devtenant.Server, cache *tokencache.Cache, stats *daemon.TokenStats) *graphapi.Client {
	t.Helper()
	g, _ := graphVia(t, srv, secretCredential(t, srv, cache, stats), 0)
	return g
}

// graphVia builds a Graph client over cred whose requests are counted.
// maxRetries is graphapi.Options.MaxRetries (0: kiota's 3; -1: none).
func graphVia(t testing.TB, srv *devtenant.Server, cred azcore.TokenCredential, maxRetries int) (*graphapi.Client, *graphTraffic) {
	t.Helper()
	hc := srv.Client()
	tr := &graphTraffic{next: hc.Transport, started: make(chan int64, 256)}
	hc.Transport = tr
	g, err := graphapi.New(cred, graphapi.Options{BaseURL: srv.GraphURL(), HTTPClient: hc,
		Scopes: []string{devmode.GraphScope}, MaxRetries: maxRetries, MaxRetryWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return g, tr
}

// graphTraffic counts the Graph requests of one client: total, 429s, and
// how many were in flight at once.
type graphTraffic struct {
	next      http.RoundTripper
	requests  atomic.Int64
	throttled atomic.Int64
	inFlight  atomic.Int64
	maxFlight atomic.Int64
	started   chan int64 // the ordinal of each request as it starts (dropped when full)
}

func (g *graphTraffic) RoundTrip(r *http.Request) (*http.Response, error) {
	n := g.requests.Add(1)
	cur := g.inFlight.Add(1)
	for m := g.maxFlight.Load(); cur > m && !g.maxFlight.CompareAndSwap(m, cur); m = g.maxFlight.Load() {
	}
	select {
	case g.started <- n:
	default:
	}
	resp, err := g.next.RoundTrip(r)
	g.inFlight.Add(-1)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		g.throttled.Add(1)
	}
	return resp, err
}

func openSQLite(t testing.TB) *daemon.DB {
	t.Helper()
	db, err := daemon.OpenDB(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "daemon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// userRow is what the sync stores of a user.
type userRow struct {
	ID, DisplayName, UPN, JobTitle, Department, Enabled string
}

// directoryUsers is the tenant's truth.
func directoryUsers(srv *devtenant.Server) []userRow {
	var out []userRow
	for _, u := range srv.Users() {
		enabled := "false"
		if u.AccountEnabled {
			enabled = "true"
		}
		out = append(out, userRow{u.ID, u.DisplayName, u.UserPrincipalName, u.JobTitle, u.Department, enabled})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// dbUsers is what the database holds.
func dbUsers(t testing.TB, db *daemon.DB) []userRow {
	t.Helper()
	rows, err := db.Query(`SELECT id, COALESCE(display_name, ''), COALESCE(user_principal_name, ''), COALESCE(job_title, ''),
		COALESCE(department, ''), COALESCE(account_enabled, '') FROM directory_users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []userRow
	for rows.Next() {
		var r userRow
		if err := rows.Scan(&r.ID, &r.DisplayName, &r.UPN, &r.JobTitle, &r.Department, &r.Enabled); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// sameUsers reports the first differences between the directory and the
// database.
func sameUsers(t testing.TB, want, got []userRow) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("database has %d users, the directory %d", len(got), len(want))
	}
	w := map[string]userRow{}
	for _, r := range want {
		w[r.ID] = r
	}
	var diffs []string
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.ID] {
			diffs = append(diffs, "duplicate "+r.ID)
		}
		seen[r.ID] = true
		if wr, ok := w[r.ID]; !ok {
			diffs = append(diffs, "extra "+r.ID)
		} else if wr != r {
			diffs = append(diffs, "differs: want "+strings.Join([]string{wr.DisplayName, wr.UPN, wr.JobTitle, wr.Department, wr.Enabled}, "|")+
				" got "+strings.Join([]string{r.DisplayName, r.UPN, r.JobTitle, r.Department, r.Enabled}, "|"))
		}
	}
	for id := range w {
		if !seen[id] {
			diffs = append(diffs, "missing "+id)
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 10 {
			diffs = append(diffs[:10], "...")
		}
		t.Errorf("database differs from the directory (%d differences):\n%s", len(diffs), strings.Join(diffs, "\n"))
	}
}
