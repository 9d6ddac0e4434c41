package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
)

var daemonAppID = infra.Apps().Daemon

// startTenant starts a dev tenant with users synthetic users on top of the
// personas, and a Graph budget a test cannot exhaust unless it asks to.
func startTenant(t testing.TB, users int) *devtenant.Server {
	t.Helper()
	srv := devtenanttest.Start(t, func(o *devtenant.Options) { o.GraphBudget = 1 << 30 })
	if err := srv.GenerateDirectory(users); err != nil {
		t.Fatal(err)
	}
	return srv
}

// appConfig is the daemon app's client-secret configuration.
func appConfig(srv *devtenant.Server) entra.Config { return devmode.DaemonConfig(srv) }

// newGraph builds the daemon's Graph client with a client-secret
// credential over cache (a memory store when nil).
func newGraph(t testing.TB, srv *devtenant.Server, cache *tokencache.Cache, stats *daemon.TokenStats) *graphapi.Client {
	t.Helper()
	if cache == nil {
		ring, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
		cache = &tokencache.Cache{Store: tokencache.NewMemoryStore(tokencache.MemoryOptions{}), Keys: ring}
	}
	cred, err := daemon.NewCredential(appConfig(srv), daemon.CredentialOptions{HTTPClient: srv.Client(), Cache: cache, Stats: stats})
	if err != nil {
		t.Fatal(err)
	}
	g, err := graphapi.New(cred, graphapi.Options{BaseURL: srv.GraphURL(), HTTPClient: srv.Client(),
		Scopes: []string{devmode.GraphScope}, MaxRetryWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return g
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
