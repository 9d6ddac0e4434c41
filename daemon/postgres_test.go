package daemon_test

// What only PostgreSQL does, or does differently: two replicas of the
// daemon on one database (SQLite is embedded: one daemon per file),
// concurrent migrations, and the report jobs' SQL. What a single sync does
// on every store is runSyncSuite's (sync_test.go).

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/internal/testpg"
)

// openPG opens (and migrates) the PostgreSQL database at dsn, closed when
// t ends.
func openPG(t testing.TB, dsn string) *daemon.DB {
	t.Helper()
	db, err := daemon.OpenDB(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if db.Dialect != "postgres" {
		t.Fatalf("OpenDB(%s): dialect %q, want postgres", dsn, db.Dialect)
	}
	return db
}

// TestDirectorySyncPostgresTwoReplicas starts two syncs at the same moment
// on two connections pools to one database, as two replicas would without
// the Redis lock (or with an expired one, or with `daemon run` next to the
// scheduler). The upserts are idempotent and the cursor is one row, so the
// end state must still equal the directory, with no duplicates.
func TestDirectorySyncPostgresTwoReplicas(t *testing.T) {
	pg := testpg.Start(t)
	srv := startTenant(t, syncUsers)
	dsn := pg.CreateDatabase(t, "entrakit")
	dbs := []*daemon.DB{openPG(t, dsn), openPG(t, dsn)}
	envs := make([]*daemon.RunEnv, 2)
	for i := range envs {
		envs[i] = &daemon.RunEnv{Graph: newGraph(t, srv, nil, nil), DB: dbs[i], Log: discardLogger()}
	}
	both := func(round string) {
		t.Helper()
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range envs {
			wg.Go(func() {
				<-start
				_, errs[i] = (&daemon.DirectorySync{Groups: true}).Run(context.Background(), envs[i])
			})
		}
		close(start)
		wg.Wait()
		// A replica may stop when it finds the other one syncing; not
		// both.
		t.Logf("%s: replica errors: %v", round, errs)
		if errs[0] != nil && errs[1] != nil {
			t.Errorf("%s: both replicas failed: %v", round, errs)
		}
		checkMirror(t, srv, dbs[0], true)
	}
	both("full round")

	if _, err := srv.AddUser(devtenant.User{UserPrincipalName: "replica.person@" + srv.Domain(), DisplayName: "Replica Person",
		JobTitle: "Analyst", Department: "Finance", AccountEnabled: true}, "Unused-Pass-1"); err != nil {
		t.Fatal(err)
	}
	users := srv.Users()
	if err := srv.SetUserEnabled(users[11].ID, false); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteUser(users[13].ID); err != nil {
		t.Fatal(err)
	}
	both("incremental round")
}

// waitFor waits for ch to close, or gives up after a while: a fix that
// serializes the replicas (a lock) must not hang a test, only change the
// interleaving it plans.
func waitFor(t testing.TB, ch <-chan struct{}, what string) {
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Logf("gave up waiting for %s: the replicas do not interleave as planned", what)
	}
}

// gatedTransport lets a test hold a replica's Graph requests.
type gatedTransport struct {
	base          http.RoundTripper
	before, after func(*http.Request)
}

func (g *gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if g.before != nil {
		g.before(r)
	}
	resp, err := g.base.RoundTrip(r)
	if err == nil && g.after != nil {
		g.after(r)
	}
	return resp, err
}

// newGatedGraph is newGraph with before called ahead of every Graph
// request (not the token requests), after once its response is in.
func newGatedGraph(t testing.TB, srv *devtenant.Server, before, after func(*http.Request)) *graphapi.Client {
	t.Helper()
	ring, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	cache := &tokencache.Cache{Store: tokencache.NewMemoryStore(tokencache.MemoryOptions{}), Keys: ring}
	cred, err := daemon.NewCredential(appConfig(srv), daemon.CredentialOptions{HTTPClient: srv.Client(), Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	hc := srv.Client()
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	gated := *hc
	gated.Transport = &gatedTransport{base: base, before: before, after: after}
	g, err := graphapi.New(cred, graphapi.Options{BaseURL: srv.GraphURL(), HTTPClient: &gated,
		Scopes: []string{devmode.GraphScope}, MaxRetryWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestDirectorySyncPostgresReplicasOvertake pins down one interleaving of
// two replicas' full rounds that the race above hits only sometimes: both
// read the empty cursor, so each runs its own full round with its own
// mark; B (the later mark) gets ahead and stops before its last page; A
// rewrites the first pages (with its earlier mark); B finishes, and its
// sweep ("synced_at < B's mark") deletes what A rewrote; A finishes, never
// coming back to those pages. Whatever a fix does (one replica aborting,
// a lock, a compare-and-set cursor), the end state must equal the
// directory.
func TestDirectorySyncPostgresReplicasOvertake(t *testing.T) {
	pg := testpg.Start(t)
	srv := startTenant(t, syncUsers)
	dsn := pg.CreateDatabase(t, "entrakit")
	dbA, dbB := openPG(t, dsn), openPG(t, dsn)
	total := len(srv.Users())
	const pageSize = 999 // the delta page size graphapi asks for

	var (
		aFirstRequest = make(chan struct{}) // A read the (empty) cursor
		bNearEnd      = make(chan struct{}) // B committed all but its last page
		aRewrote      = make(chan struct{}) // A committed its first pages
		aDone         = make(chan struct{}) // A's run is over
		bDone         = make(chan struct{}) // B's run is over
		onceA, onceB  sync.Once
		onceBEnd      sync.Once
		onceARewrote  sync.Once
	)
	isDelta := func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/users/delta") }
	graphA := newGatedGraph(t, srv, func(r *http.Request) {
		if isDelta(r) {
			onceA.Do(func() {
				close(aFirstRequest)
				waitFor(t, bNearEnd, "B to near the end of its round")
			})
		}
	}, nil)
	graphB := newGatedGraph(t, srv, func(r *http.Request) {
		if isDelta(r) {
			onceB.Do(func() { waitFor(t, aFirstRequest, "A to start its round") })
		}
	}, nil)
	base := time.Now()
	jobA := &daemon.DirectorySync{Now: func() time.Time { return base }}
	jobB := &daemon.DirectorySync{Now: func() time.Time { return base.Add(time.Second) }}
	envA := &daemon.RunEnv{Graph: graphA, DB: dbA, Log: discardLogger(), Progress: func(done int) {
		if done >= 2*pageSize {
			onceARewrote.Do(func() {
				close(aRewrote)
				waitFor(t, bDone, "B to finish")
			})
		}
	}}
	envB := &daemon.RunEnv{Graph: graphB, DB: dbB, Log: discardLogger(), Progress: func(done int) {
		if done < total && total-done <= pageSize {
			onceBEnd.Do(func() {
				close(bNearEnd)
				select {
				case <-aRewrote:
				case <-aDone: // A stopped (a fix) before rewriting anything
				case <-time.After(20 * time.Second):
					t.Logf("gave up waiting for A to rewrite its first pages")
				}
			})
		}
	}}

	var errA, errB error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(aDone)
		_, errA = jobA.Run(context.Background(), envA)
	})
	wg.Go(func() {
		defer close(bDone)
		_, errB = jobB.Run(context.Background(), envB)
	})
	wg.Wait()
	t.Logf("replica A: %v; replica B: %v", errA, errB)
	if errA != nil && errB != nil {
		t.Errorf("both replicas failed: A: %v; B: %v", errA, errB)
	}
	got := dbUsers(t, dbA)
	sameUsers(t, directoryUsers(srv), got)
	if len(got) < total {
		t.Errorf("%d of %d users lost: the later replica's full-round sweep deleted the rows the earlier one rewrote", total-len(got), total)
	}
}

// TestDirectorySyncPostgresReplicasStaleOverwrite pins down the same lack
// of a single writer in incremental rounds: replica A fetches a page
// (user U disabled) and is slow to commit it; U is enabled again and a
// thousand other users change; replica B's round (two pages) commits its
// first page (U enabled); A commits its stale page (U disabled, and its
// delta link); B commits its last page and its delta link, which is past
// U's change. U stays disabled in the database for good: no later round
// sends U again until U changes.
func TestDirectorySyncPostgresReplicasStaleOverwrite(t *testing.T) {
	pg := testpg.Start(t)
	srv := startTenant(t, syncUsers)
	dsn := pg.CreateDatabase(t, "entrakit")
	dbA, dbB := openPG(t, dsn), openPG(t, dsn)
	ctx := context.Background()
	job := &daemon.DirectorySync{}
	if _, err := job.Run(ctx, &daemon.RunEnv{Graph: newGraph(t, srv, nil, nil), DB: dbA, Log: discardLogger()}); err != nil {
		t.Fatal(err)
	}
	users := srv.Users()
	u := users[0]
	if !u.AccountEnabled {
		u = users[1]
	}
	if err := srv.SetUserEnabled(u.ID, false); err != nil {
		t.Fatal(err)
	}

	var (
		aFetched = make(chan struct{}) // A has its page (U disabled)
		bPage1   = make(chan struct{}) // B committed its first page
		aDone    = make(chan struct{}) // A's run is over
		onceA    sync.Once
		onceB    sync.Once
	)
	graphA := newGatedGraph(t, srv, nil, func(r *http.Request) {
		if strings.Contains(r.URL.Path, "/users/delta") {
			onceA.Do(func() {
				close(aFetched)
				waitFor(t, bPage1, "B's first page")
			})
		}
	})
	var errA, errB error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(aDone)
		_, errA = job.Run(ctx, &daemon.RunEnv{Graph: graphA, DB: dbA, Log: discardLogger()})
	})
	waitFor(t, aFetched, "A's page")
	// U enabled again, and enough other changes for B's round to take two
	// pages; U's first change comes first, so U is in B's first page.
	if err := srv.SetUserEnabled(u.ID, true); err != nil {
		t.Fatal(err)
	}
	toggled := 0
	for _, o := range users {
		if o.ID == u.ID {
			continue
		}
		if err := srv.SetUserEnabled(o.ID, !o.AccountEnabled); err != nil {
			t.Fatal(err)
		}
		if toggled++; toggled == 1200 {
			break
		}
	}
	envB := &daemon.RunEnv{Graph: newGraph(t, srv, nil, nil), DB: dbB, Log: discardLogger(), Progress: func(int) {
		onceB.Do(func() {
			close(bPage1)
			waitFor(t, aDone, "A to commit its stale page")
		})
	}}
	wg.Go(func() { _, errB = job.Run(ctx, envB) })
	wg.Wait()
	t.Logf("replica A: %v; replica B: %v", errA, errB)
	if errA != nil && errB != nil {
		t.Errorf("both replicas failed: A: %v; B: %v", errA, errB)
	}
	// One more run, on its own: whatever the two left, the database must
	// equal the directory afterwards.
	if _, err := job.Run(ctx, &daemon.RunEnv{Graph: newGraph(t, srv, nil, nil), DB: dbA, Log: discardLogger()}); err != nil {
		t.Fatal(err)
	}
	sameUsers(t, directoryUsers(srv), dbUsers(t, dbA))
	var enabled string
	if err := dbA.QueryRow(dbA.Rebind(`SELECT account_enabled FROM directory_users WHERE id = ?`), u.ID).Scan(&enabled); err != nil {
		t.Fatal(err)
	}
	if enabled != "true" {
		t.Errorf("user %s is enabled in the directory, %q in the database: a replica's stale page overwrote a newer one and the cursor moved past the change", u.ID, enabled)
	}
}

// TestExpiringCredentialsPostgres runs the credential report into
// PostgreSQL: one set of rows per run, as the Graph client sees them, and
// the JSON and CSV files.
func TestExpiringCredentialsPostgres(t *testing.T) {
	pg := testpg.Start(t)
	srv := startTenant(t, 0)
	db := openPG(t, pg.CreateDatabase(t, "entrakit"))
	g := newGraph(t, srv, nil, nil)
	ctx := context.Background()
	within := 3650 * 24 * time.Hour // every credential of the manifest
	want, err := g.ExpiringCredentials(ctx, within)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("the dev tenant reports no credentials within ten years: nothing to test")
	}
	out := t.TempDir()
	job := &daemon.ExpiringCredentials{Within: within, OutputDir: out}
	env := &daemon.RunEnv{Graph: g, DB: db, Log: discardLogger()}
	var runs []string
	for range 2 {
		res, err := job.Run(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		if res.Items != len(want) {
			t.Errorf("run reported %d credentials, Graph lists %d", res.Items, len(want))
		}
		f := strings.Fields(res.Summary)
		runID := f[len(f)-1]
		runs = append(runs, runID)
		if n := rowCount(t, db, `SELECT COUNT(*) FROM credential_reports WHERE run_id = ?`, runID); n != len(want) {
			t.Errorf("run %s: %d rows, want %d", runID, n, len(want))
		}
		for _, ext := range []string{".json", ".csv"} {
			if _, err := os.Stat(filepath.Join(out, runID+ext)); err != nil {
				t.Errorf("report file: %v", err)
			}
		}
	}
	if runs[0] == runs[1] {
		t.Errorf("two runs share the id %s", runs[0])
	}
	if n := rowCount(t, db, `SELECT COUNT(*) FROM credential_reports`); n != 2*len(want) {
		t.Errorf("%d rows over two runs, want %d", n, 2*len(want))
	}
	// The rows are what Graph says, key by key.
	rows, err := db.Query(db.Rebind(`SELECT object_id, key_id, credential_type, end_date_time, expired FROM credential_reports WHERE run_id = ? ORDER BY object_id, key_id`), runs[1])
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var obj, key, kind, end string
		var expired int
		if err := rows.Scan(&obj, &key, &kind, &end, &expired); err != nil {
			t.Fatal(err)
		}
		got[obj+"/"+key] = kind + " " + end[:10] + " " + map[int]string{0: "valid", 1: "expired"}[expired]
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range want {
		w := c.Kind + " " + c.EndDateTime.UTC().Format("2006-01-02") + " " + map[bool]string{false: "valid", true: "expired"}[c.Expired]
		if g := got[c.ObjectID+"/"+c.KeyID]; g != w {
			t.Errorf("credential %s/%s: stored %q, want %q", c.ObjectID, c.KeyID, g, w)
		}
	}
}

// TestGroupSnapshotPostgres snapshots groups into PostgreSQL twice: the
// first snapshot records members and no changes, the second only what
// changed in between.
func TestGroupSnapshotPostgres(t *testing.T) {
	pg := testpg.Start(t)
	srv := startTenant(t, 2000)
	db := openPG(t, pg.CreateDatabase(t, "entrakit"))
	ctx := context.Background()

	var big devtenant.Group
	for _, g := range srv.Groups() {
		if len(g.Members) > len(big.Members) {
			big = g
		}
	}
	if len(big.Members) < 100 {
		t.Fatalf("largest group has %d members", len(big.Members))
	}
	job := &daemon.GroupSnapshot{Groups: []string{big.ID}}
	env := &daemon.RunEnv{Graph: newGraph(t, srv, nil, nil), DB: db, Log: discardLogger()}
	members := func() []string {
		var ids string
		if err := db.QueryRow(`SELECT COALESCE(string_agg(member_id, ',' ORDER BY member_id), '') FROM group_snapshots WHERE group_id = $1`, big.ID).Scan(&ids); err != nil {
			t.Fatal(err)
		}
		if ids == "" {
			return nil
		}
		return strings.Split(ids, ",")
	}
	wantMembers := func() []string {
		for _, g := range srv.Groups() {
			if g.ID == big.ID {
				m := append([]string(nil), g.Members...)
				sort.Strings(m)
				return m
			}
		}
		t.Fatal("group gone")
		return nil
	}

	res, err := job.Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items != len(big.Members) {
		t.Errorf("first snapshot read %d members, the group has %d", res.Items, len(big.Members))
	}
	if got, want := members(), wantMembers(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("first snapshot: %d members stored, want %d", len(got), len(want))
	}
	if n := rowCount(t, db, `SELECT COUNT(*) FROM group_snapshot_changes`); n != 0 {
		t.Errorf("the first snapshot recorded %d changes", n)
	}

	removed := big.Members[5]
	if err := srv.DeleteUser(removed); err != nil {
		t.Fatal(err)
	}
	res, err = job.Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Summary, "0 added and 1 removed") {
		t.Errorf("second snapshot: %s", res.Summary)
	}
	if got, want := members(), wantMembers(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("second snapshot: %d members stored, want %d", len(got), len(want))
	}
	if n := rowCount(t, db, `SELECT COUNT(*) FROM group_snapshot_changes WHERE group_id = ? AND member_id = ? AND change = ?`, big.ID, removed, "removed"); n != 1 {
		t.Errorf("removal recorded %d times", n)
	}
	if n := rowCount(t, db, `SELECT COUNT(*) FROM group_snapshot_changes`); n != 1 {
		t.Errorf("%d changes recorded, want 1", n)
	}
	// Nothing changed: a third snapshot records nothing.
	if res, err = job.Run(ctx, env); err != nil || !strings.Contains(res.Summary, "0 added and 0 removed") {
		t.Errorf("idle snapshot: %s, %v", res.Summary, err)
	}
}

// TestOpenDBPostgresTwice opens (and so migrates) one database twice, and
// a third time while the first two are open: the migrations are
// idempotent and keep the data.
func TestOpenDBPostgresTwice(t *testing.T) {
	pg := testpg.Start(t)
	dsn := pg.CreateDatabase(t, "entrakit")
	ctx := context.Background()
	db1, err := daemon.OpenDB(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db1.Exec(db1.Rebind(`INSERT INTO sync_cursors (stream, link, round_complete, updated_at) VALUES (?, ?, ?, ?)`),
		"users", "https://graph.example/delta?token=x", 1, "delta:2026-01-01T00:00:00.000000000Z"); err != nil {
		t.Fatal(err)
	}
	db1.Close()
	db2 := openPG(t, dsn)
	db3 := openPG(t, dsn)
	for _, db := range []*daemon.DB{db2, db3} {
		if n := rowCount(t, db, `SELECT COUNT(*) FROM sync_cursors WHERE stream = ?`, "users"); n != 1 {
			t.Errorf("after reopening: %d cursor rows, want 1", n)
		}
	}
}

// TestOpenDBPostgresConcurrentFirstOpen opens a new database from four
// goroutines at once, as replicas deployed together do on their first
// start: every open must succeed (CREATE TABLE IF NOT EXISTS alone is not
// safe against a concurrent CREATE in PostgreSQL).
func TestOpenDBPostgresConcurrentFirstOpen(t *testing.T) {
	pg := testpg.Start(t)
	ctx := context.Background()
	dsn2 := pg.CreateDatabase(t, "entrakit_fresh")
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			db, err := daemon.OpenDB(ctx, dsn2)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent first open %d: %v", i, err)
		}
	}
}
