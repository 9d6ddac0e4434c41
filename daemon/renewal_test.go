package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra/devtenant"
)

// TestTokenExpiringMidRunIsRenewed: the tenant issues app tokens that MSAL
// considers usable for about two seconds (MSAL renews a token five minutes
// before it expires), and Graph is slowed so that one sync outlasts that.
// The run must succeed, renewing its token on the way.
func TestTokenExpiringMidRunIsRenewed(t *testing.T) {
	t.Parallel()
	srv := startTenant(t, 3000, func(o *devtenant.Options) { o.AccessTokenLifetime = 5*time.Minute + 2*time.Second })
	stats := &daemon.TokenStats{}
	db := openSQLite(t)
	env := &daemon.RunEnv{Graph: newGraph(t, srv, nil, stats), DB: db, Log: discardLogger()}
	// Six pages of 1.2 s each: the run lasts > 5 s.
	srv.InjectFault(devtenant.Fault{Endpoint: "graph", Latency: 1200 * time.Millisecond, Count: 6})
	if _, err := (&daemon.DirectorySync{Groups: true}).Run(context.Background(), env); err != nil {
		t.Fatalf("the run failed when its token expired: %v", err)
	}
	if got := stats.EndpointCalls.Load(); got < 2 {
		t.Errorf("token endpoint called %d times during a run longer than the token's usable life", got)
	}
	sameUsers(t, directoryUsers(srv), dbUsers(t, db))
}
