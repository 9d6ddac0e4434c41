package daemon_test

import (
	"context"
	"errors"
	"testing"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra/devtenant"
)

// syncUsers is the size of the synthetic directory of the sync tests.
const syncUsers = 20_000

func TestDirectorySyncFullThenIncremental(t *testing.T) {
	srv := startTenant(t, syncUsers)
	db := openSQLite(t)
	stats := &daemon.TokenStats{}
	env := &daemon.RunEnv{Graph: newGraph(t, srv, nil, stats), DB: db, Log: discardLogger()}
	job := &daemon.DirectorySync{Groups: true}
	ctx := context.Background()

	res, err := job.Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	want := directoryUsers(srv)
	if res.Items < len(want) {
		t.Errorf("first run applied %d changes for %d users", res.Items, len(want))
	}
	sameUsers(t, want, dbUsers(t, db))

	// Adds, updates, deletes; then an incremental run.
	added, err := srv.AddUser(devtenant.User{UserPrincipalName: "new.person@" + srv.Domain(), DisplayName: "New Person",
		JobTitle: "Analyst", Department: "Finance", AccountEnabled: true}, "Unused-Pass-1")
	if err != nil {
		t.Fatal(err)
	}
	users := srv.Users()
	if err := srv.SetUserEnabled(users[3].ID, false); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteUser(users[7].ID); err != nil {
		t.Fatal(err)
	}
	res, err = job.Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items > 100 {
		t.Errorf("the incremental run applied %d changes for 3 edits: it should not list the directory again", res.Items)
	}
	want = directoryUsers(srv)
	sameUsers(t, want, dbUsers(t, db))
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM directory_users WHERE id = ?`, added.ID).Scan(&n)
	if n != 1 {
		t.Errorf("added user stored %d times", n)
	}

	// A third run with nothing changed applies nothing.
	if res, err = job.Run(ctx, env); err != nil || res.Items != 0 {
		t.Errorf("idle run: %d changes, %v", res.Items, err)
	}
	// One app token for all the runs (client credentials, cached).
	if got := stats.EndpointCalls.Load(); got != 1 {
		t.Errorf("token endpoint called %d times over three runs, want 1", got)
	}

	// Groups and members mirror the directory.
	var groups, members int
	db.QueryRow(`SELECT COUNT(*) FROM directory_groups`).Scan(&groups)
	db.QueryRow(`SELECT COUNT(*) FROM directory_group_members`).Scan(&members)
	wantGroups, wantMembers := 0, 0
	for _, g := range srv.Groups() {
		wantGroups++
		wantMembers += len(g.Members)
	}
	if groups != wantGroups || members != wantMembers {
		t.Errorf("groups %d (want %d), members %d (want %d)", groups, wantGroups, members, wantMembers)
	}
}

// TestDirectorySyncCancelMidPage cancels the first run in the middle of the
// directory (as SIGTERM would), runs again, and still ends equal: each page
// and its link are committed together.
func TestDirectorySyncCancelMidPage(t *testing.T) {
	srv := startTenant(t, syncUsers)
	db := openSQLite(t)
	job := &daemon.DirectorySync{}
	for _, stopAt := range []int{1, 2500, 7000} {
		ctx, cancel := context.WithCancel(context.Background())
		env := &daemon.RunEnv{Graph: newGraph(t, srv, nil, nil), DB: db, Log: discardLogger(),
			Progress: func(done int) {
				if done >= stopAt {
					cancel()
				}
			}}
		_, err := job.Run(ctx, env)
		cancel()
		if err == nil {
			t.Fatalf("stop at %d: the run was not cancelled", stopAt)
		}
		if !errors.Is(err, context.Canceled) {
			t.Logf("stop at %d: %v", stopAt, err)
		}
	}
	env := &daemon.RunEnv{Graph: newGraph(t, srv, nil, nil), DB: db, Log: discardLogger()}
	if _, err := job.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	sameUsers(t, directoryUsers(srv), dbUsers(t, db))
}
