//go:build !race

package daemon_test

import (
	"context"
	"testing"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra/devtenant"
)

// TestScaleDirectorySync100k is the scale scenario against a
// 100,000-user synthetic directory: full sync equals the directory; after
// adds, updates and deletes an incremental sync equals it again; a run
// cancelled in the middle and run again equals it too, with no duplicates.
// It is built without the race detector (make test runs it in its own
// step, ~30 s): under -race the same code runs in sync_test.go's suite, at
// syncUsers (5,000) users, on SQLite and on PostgreSQL.
func TestScaleDirectorySync100k(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test: skipped with -short")
	}
	srv := startTenant(t, 100_000)
	ctx := context.Background()
	job := &daemon.DirectorySync{Groups: true}

	db := openSQLite(t)
	env := &daemon.RunEnv{Graph: newGraph(t, srv, nil, nil), DB: db, Log: discardLogger()}
	if _, err := job.Run(ctx, env); err != nil {
		t.Fatal(err)
	}
	sameUsers(t, directoryUsers(srv), dbUsers(t, db))

	users := srv.Users()
	for i := 0; i < 50; i++ {
		if _, err := srv.AddUser(devtenant.User{UserPrincipalName: "scale.added" + itoa(i) + "@" + srv.Domain(),
			DisplayName: "Scale Added " + itoa(i), AccountEnabled: true}, "Unused-Pass-1"); err != nil {
			t.Fatal(err)
		}
		if err := srv.SetUserEnabled(users[1000+i].ID, false); err != nil {
			t.Fatal(err)
		}
		if err := srv.DeleteUser(users[5000+i].ID); err != nil {
			t.Fatal(err)
		}
	}
	res, err := job.Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items > 1000 {
		t.Errorf("incremental run applied %d changes for 150 edits", res.Items)
	}
	sameUsers(t, directoryUsers(srv), dbUsers(t, db))

	// A fresh database, a run cancelled halfway through the directory, then
	// a run to the end.
	db2 := openSQLite(t)
	cctx, cancel := context.WithCancel(ctx)
	env2 := &daemon.RunEnv{Graph: newGraph(t, srv, nil, nil), DB: db2, Log: discardLogger(),
		Progress: func(done int) {
			if done >= 50_000 {
				cancel()
			}
		}}
	if _, err := job.Run(cctx, env2); err == nil {
		t.Fatal("the run was not cancelled")
	}
	cancel()
	env2.Progress = nil
	if _, err := job.Run(ctx, env2); err != nil {
		t.Fatal(err)
	}
	sameUsers(t, directoryUsers(srv), dbUsers(t, db2))
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
