package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/internal/testpg"
)

// syncUsers is the size of the synthetic directory of the sync tests:
// several delta pages (999 each), small enough for -race. The 100,000-user
// run is TestScaleDirectorySync100k.
const syncUsers = 5000

// TestDirectorySyncSQLite runs the sync suite against the embedded store.
func TestDirectorySyncSQLite(t *testing.T) {
	t.Parallel()
	runSyncSuite(t, func(t *testing.T) *daemon.DB { return openSQLite(t) })
}

// TestDirectorySyncPostgres runs the sync suite against a real PostgreSQL
// server, a new database for each case.
func TestDirectorySyncPostgres(t *testing.T) {
	t.Parallel()
	pg := testpg.Start(t)
	databases := 0
	runSyncSuite(t, func(t *testing.T) *daemon.DB {
		databases++
		return openPG(t, pg.CreateDatabase(t, fmt.Sprintf("entrakit_sync_%d", databases)))
	})
}

// runSyncSuite is the sync's contract with a store (as storetest is for
// token-cache stores): a full sync equals the directory, an incremental
// sync after adds, updates and deletes equals it again, and runs cancelled
// between pages or at any moment, run again, still end equal to it,
// duplicating nothing. newDB returns an empty, migrated database for each
// case; the cases share one dev tenant, each comparing with the directory
// as it is when the case runs.
func runSyncSuite(t *testing.T, newDB func(t *testing.T) *daemon.DB) {
	srv := startTenant(t, syncUsers)
	ctx := context.Background()

	t.Run("full then incremental", func(t *testing.T) {
		db := newDB(t)
		stats := &daemon.TokenStats{}
		env := &daemon.RunEnv{Graph: newGraph(t, srv, nil, stats), DB: db, Log: discardLogger()}
		job := &daemon.DirectorySync{Groups: true}

		t0 := time.Now()
		res, err := job.Run(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("full sync of %d users into %s: %v (%s)", len(srv.Users()), db.Dialect, time.Since(t0), res.Summary)
		if res.Items < len(srv.Users()) {
			t.Errorf("first run applied %d changes for %d users", res.Items, len(srv.Users()))
		}
		checkMirror(t, srv, db, true)

		added, err := srv.AddUser(devtenant.User{UserPrincipalName: "new.person@" + srv.Domain(), DisplayName: "New Person",
			JobTitle: "Analyst", Department: "Finance", AccountEnabled: true}, "Unused-Pass-1")
		if err != nil {
			t.Fatal(err)
		}
		users := srv.Users()
		disabled, deleted := users[3].ID, users[7].ID
		if err := srv.SetUserEnabled(disabled, false); err != nil {
			t.Fatal(err)
		}
		if err := srv.DeleteUser(deleted); err != nil {
			t.Fatal(err)
		}
		res, err = job.Run(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		if res.Items > 100 {
			t.Errorf("the incremental run applied %d changes for 3 edits: it should not list the directory again", res.Items)
		}
		checkMirror(t, srv, db, true)
		if n := rowCount(t, db, `SELECT COUNT(*) FROM directory_users WHERE id = ?`, added.ID); n != 1 {
			t.Errorf("added user stored %d times", n)
		}
		if n := rowCount(t, db, `SELECT COUNT(*) FROM directory_users WHERE id = ? AND account_enabled = ?`, disabled, "false"); n != 1 {
			t.Errorf("disabled user: %d rows with account_enabled false", n)
		}
		if n := rowCount(t, db, `SELECT COUNT(*) FROM directory_users WHERE id = ?`, deleted); n != 0 {
			t.Errorf("deleted user still stored")
		}
		if n := rowCount(t, db, `SELECT COUNT(*) FROM directory_group_members WHERE member_id = ?`, deleted); n != 0 {
			t.Errorf("deleted user still a member of %d groups", n)
		}

		// A third run with nothing changed applies nothing.
		if res, err = job.Run(ctx, env); err != nil || res.Items != 0 {
			t.Errorf("idle run: %d changes, %v", res.Items, err)
		}
		checkMirror(t, srv, db, true)
		// One app token for all the runs (client credentials, cached).
		if got := stats.EndpointCalls.Load(); got != 1 {
			t.Errorf("token endpoint called %d times over three runs, want 1", got)
		}
	})

	// Cancelled between pages, as the Progress callback sees them (as
	// SIGTERM would; its count starts at 0 on every run; pages hold 999
	// users): after the first page, after the second of the next run, after
	// the first of the third; the fourth run finishes the round. Each page
	// and its link are committed together. With and without the groups
	// stream, whose cursor is a second row.
	for _, c := range []struct {
		name   string
		groups bool
	}{{"users only", false}, {"with groups", true}} {
		t.Run("cancel between pages, "+c.name, func(t *testing.T) {
			db := newDB(t)
			job := &daemon.DirectorySync{Groups: c.groups}
			for _, stopAt := range []int{1, 1500, 1} {
				rctx, cancel := context.WithCancel(ctx)
				env := syncEnv(t, srv, db)
				env.Progress = func(done int) {
					if done >= stopAt {
						cancel()
					}
				}
				_, err := job.Run(rctx, env)
				cancel()
				if err == nil {
					t.Fatalf("stop at %d: the run was not cancelled", stopAt)
				}
				if !errors.Is(err, context.Canceled) {
					t.Logf("stop at %d: %v", stopAt, err)
				}
				checkConsistent(t, srv, db, job, fmt.Sprintf("stop at %d", stopAt))
			}
			checkCompletes(t, srv, db, job)
		})
	}

	// Cancelled at arbitrary moments (a deadline): in a Graph request, in
	// a page's transaction, between pages, in the groups round. Each run
	// gets longer, so the round ends.
	t.Run("cancel anywhere", func(t *testing.T) {
		db := newDB(t)
		job := &daemon.DirectorySync{Groups: true}
		cancelled := 0
		// Doubling deadlines: cancellations early, mid-page and late
		// in the run, at twice the cost of one full sync in all.
		for d := 40 * time.Millisecond; ; d *= 2 {
			rctx, cancel := context.WithTimeout(ctx, d)
			_, err := job.Run(rctx, syncEnv(t, srv, db))
			cancel()
			if err == nil {
				break
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("deadline %v: %v", d, err)
			}
			cancelled++
			checkConsistent(t, srv, db, job, fmt.Sprintf("deadline %v", d))
			if d > time.Minute {
				t.Fatalf("the sync never completes: %v", err)
			}
		}
		t.Logf("%d runs cancelled before one completed", cancelled)
		if cancelled == 0 {
			t.Errorf("no run was cancelled: the deadlines are too long")
		}
		checkMirror(t, srv, db, true)
		checkCompletes(t, srv, db, job)
	})

	// Last: it deletes users and moves the tenant's clock 30 days on.
	t.Run("soft and permanent deletions, membership changes", func(t *testing.T) {
		syncDeletionsAndMemberships(t, srv, newDB(t))
	})
}

// syncDeletionsAndMemberships runs the sync over rounds of directory
// changes as Entra makes them — users soft-deleted (delta: @removed
// "changed"), permanently deleted by hand or 30 days later ("deleted"),
// members joining and leaving groups (members@delta holds only those),
// a group nested in another — and checks after each run that the database
// equals the directory and that the run read only the changes.
func syncDeletionsAndMemberships(t *testing.T, srv *devtenant.Server, db *daemon.DB) {
	ctx := context.Background()
	job := &daemon.DirectorySync{Groups: true}
	env := syncEnv(t, srv, db)
	if _, err := job.Run(ctx, env); err != nil {
		t.Fatal(err)
	}
	checkMirror(t, srv, db, true)

	group := map[string]devtenant.Group{}
	for _, g := range srv.Groups() {
		group[g.DisplayName] = g
	}
	users := srv.Users()
	memberOf := func(name string, i int) string { return group[name].Members[i] }
	// Users who are in groups: the first members of two synthetic groups,
	// and personas (in All Company and their team).
	alex, _ := srv.Persona("AlexW")
	lidia, _ := srv.Persona("LidiaH")
	soft := []string{memberOf("Synthetic Sales", 0), memberOf("Synthetic Finance", 1), alex.OID, lidia.OID}
	var added devtenant.User
	rounds := []struct {
		name   string
		change func() error
	}{
		{"four users soft-deleted, memberships added and removed", func() error {
			errs := []error{
				srv.AddGroupMember(group["Retail"].ID, users[100].ID),
				srv.AddGroupMember(group["Engineering"].ID, users[101].ID),
				srv.RemoveGroupMember(group["Synthetic Sales"].ID, memberOf("Synthetic Sales", 3)),
			}
			for _, id := range soft {
				errs = append(errs, srv.DeleteUser(id))
			}
			return errors.Join(errs...)
		}},
		{"two permanently deleted, a group nested, a member leaves and rejoins", func() error {
			return errors.Join(
				srv.PermanentlyDeleteUser(soft[0]),
				srv.PermanentlyDeleteUser(alex.OID),
				srv.AddGroupMember(group["All Company"].ID, group["Retail"].ID),
				srv.RemoveGroupMember(group["Retail"].ID, users[100].ID),
				srv.AddGroupMember(group["Retail"].ID, users[100].ID),
				srv.DeleteUser(users[102].ID),
			)
		}},
		{"30 days later: the rest purged; a new user joins, the nesting ends", func() error {
			srv.AdvanceClock(30*24*time.Hour + time.Minute)
			env = syncEnv(t, srv, db) // the old token expired with the clock
			u, err := srv.AddUser(devtenant.User{UserPrincipalName: "joiner@" + srv.Domain(), DisplayName: "Joiner", AccountEnabled: true}, "Unused-Pass-1")
			added = u
			return errors.Join(err,
				srv.AddGroupMember(group["Engineering"].ID, u.ID),
				srv.RemoveGroupMember(group["All Company"].ID, group["Retail"].ID),
			)
		}},
		{"the new user deleted, a group emptied", func() error {
			errs := []error{srv.DeleteUser(added.ID)}
			for _, g := range srv.Groups() {
				if g.ID == group["Retail"].ID {
					for _, m := range g.Members {
						errs = append(errs, srv.RemoveGroupMember(g.ID, m))
					}
				}
			}
			return errors.Join(errs...)
		}},
		{"nothing", func() error { return nil }},
	}
	for _, rd := range rounds {
		if err := rd.change(); err != nil {
			t.Fatalf("%s: %v", rd.name, err)
		}
		res, err := job.Run(ctx, env)
		if err != nil {
			t.Fatalf("%s: %v", rd.name, err)
		}
		if res.Items > 100 {
			t.Errorf("%s: the run applied %d changes: it read more than the changes", rd.name, res.Items)
		}
		checkMirror(t, srv, db, true)
		if n := len(srv.DeletedUsers()); rd.name == rounds[2].name && n != 0 {
			t.Errorf("%s: %d users still in the deleted items", rd.name, n)
		}
	}
}

// syncEnv is a run's environment: a new Graph client (so a new app token
// cache) on db.
func syncEnv(t testing.TB, srv *devtenant.Server, db *daemon.DB) *daemon.RunEnv {
	return &daemon.RunEnv{Graph: newGraph(t, srv, nil, nil), DB: db, Log: discardLogger()}
}

// rowCount is a COUNT(*) query, its ? placeholders rebound for the dialect.
func rowCount(t testing.TB, db *daemon.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(db.Rebind(q), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// checkMirror checks that the database mirrors the directory: users (no
// duplicates), groups and their members when the sync includes them (no
// groups stream otherwise), and one complete cursor row per stream, at the
// end of a round.
func checkMirror(t testing.TB, srv *devtenant.Server, db *daemon.DB, groups bool) {
	t.Helper()
	sameUsers(t, directoryUsers(srv), dbUsers(t, db))
	if n, d := rowCount(t, db, `SELECT COUNT(*) FROM directory_users`), rowCount(t, db, `SELECT COUNT(DISTINCT id) FROM directory_users`); n != d {
		t.Errorf("directory_users: %d rows for %d ids", n, d)
	}
	streams := []string{"users"}
	if groups {
		streams = append(streams, "groups")
		wantGroups, wantMembers := 0, 0
		for _, g := range srv.Groups() {
			wantGroups++
			wantMembers += len(g.Members)
		}
		gotGroups := rowCount(t, db, `SELECT COUNT(*) FROM directory_groups`)
		gotMembers := rowCount(t, db, `SELECT COUNT(*) FROM directory_group_members`)
		if gotGroups != wantGroups || gotMembers != wantMembers {
			t.Errorf("groups %d (want %d), members %d (want %d)", gotGroups, wantGroups, gotMembers, wantMembers)
		}
		sameMemberships(t, srv, db)
	} else if n := rowCount(t, db, `SELECT COUNT(*) FROM sync_cursors WHERE stream = ?`, "groups"); n != 0 {
		t.Errorf("a sync without groups wrote %d groups cursor rows", n)
	}
	for _, s := range streams {
		if n := rowCount(t, db, `SELECT COUNT(*) FROM sync_cursors WHERE stream = ?`, s); n != 1 {
			t.Errorf("sync_cursors holds %d rows for stream %s, want 1", n, s)
		}
		if n := rowCount(t, db, `SELECT COUNT(*) FROM sync_cursors WHERE stream = ? AND round_complete = 1`, s); n != 1 {
			t.Errorf("stream %s: the round is not complete after a successful run", s)
		}
	}
}

// sameMemberships checks that the database holds exactly the directory's
// group memberships, each with its member's type.
func sameMemberships(t testing.TB, srv *devtenant.Server, db *daemon.DB) {
	t.Helper()
	isGroup := map[string]bool{}
	for _, g := range srv.Groups() {
		isGroup[g.ID] = true
	}
	var want []string
	for _, g := range srv.Groups() {
		for _, m := range g.Members {
			typ := "user"
			if isGroup[m] {
				typ = "group"
			}
			want = append(want, g.ID+" "+m+" "+typ)
		}
	}
	rows, err := db.Query(`SELECT group_id, member_id, COALESCE(member_type, '') FROM directory_group_members`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var g, m, typ string
		if err := rows.Scan(&g, &m, &typ); err != nil {
			t.Fatal(err)
		}
		got = append(got, g+" "+m+" "+typ)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		var missing, extra []string
		for _, w := range want {
			if _, found := slices.BinarySearch(got, w); !found {
				missing = append(missing, w)
			}
		}
		for _, g := range got {
			if _, found := slices.BinarySearch(want, g); !found {
				extra = append(extra, g)
			}
		}
		t.Errorf("memberships differ from the directory: %d missing %q, %d extra %q", len(missing), missing[:min(len(missing), 5)], len(extra), extra[:min(len(extra), 5)])
	}
}

// checkConsistent checks what a cancelled run of job left: no duplicates
// (the primary key), never more users than the directory has, at most one
// cursor row per stream.
func checkConsistent(t testing.TB, srv *devtenant.Server, db *daemon.DB, job *daemon.DirectorySync, label string) {
	t.Helper()
	if n, total := rowCount(t, db, `SELECT COUNT(*) FROM directory_users`), len(srv.Users()); n > total {
		t.Errorf("%s: %d users stored, the directory has %d", label, n, total)
	}
	streams := 1
	if job.Groups {
		streams = 2
	}
	if n := rowCount(t, db, `SELECT COUNT(*) FROM sync_cursors`); n > streams {
		t.Errorf("%s: %d cursor rows for %d streams", label, n, streams)
	}
}

// checkCompletes runs the sync to the end, then checks that the database
// equals the directory and that the round completed (the next run is
// incremental).
func checkCompletes(t testing.TB, srv *devtenant.Server, db *daemon.DB, job *daemon.DirectorySync) {
	t.Helper()
	env := syncEnv(t, srv, db)
	if _, err := job.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	checkMirror(t, srv, db, job.Groups)
	res, err := job.Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items > 100 {
		t.Errorf("after the resumed round, a run applied %d changes: the round did not complete", res.Items)
	}
}
