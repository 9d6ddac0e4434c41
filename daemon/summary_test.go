package daemon_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
)

// A foreground directory sync says what the database holds and which kind
// of round it was.
func TestRunOnceSyncDetails(t *testing.T) {
	t.Parallel()
	srv := devtenanttest.Start(t)
	sch := &daemon.Scheduler{Config: mustConfig(t, `{"jobs":[{"name":"directory-sync","every":"15m"}]}`),
		Graph: newGraph(t, srv, nil, nil), DB: openSQLite(t), Logger: discardLogger()}
	for _, round := range []string{`this round listed everything \(full round\)`, `this round read the changes since the last \(delta\)`} {
		res, err := sch.RunOnce(context.Background(), "directory-sync", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := regexp.MustCompile(`^database: ` + strconv.Itoa(len(srv.Users())) + ` users, ` + strconv.Itoa(len(srv.Groups())) + ` groups, [1-9]\d* group memberships; ` + round + `$`)
		if len(res.Details) != 1 || !want.MatchString(res.Details[0]) {
			t.Errorf("details %q, want %s", res.Details, want)
		}
	}
}
