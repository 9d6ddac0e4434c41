package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/internal/benchemu"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/internal/roundtrip"
)

func TestMain(m *testing.M) { benchemu.Main(m) }

// BenchmarkDirectorySync runs a full directory sync (users, delta pages of
// up to 999, each committed with its link) into a fresh SQLite database,
// from a dev tenant in another process. It reports users/s, the peak heap
// (which must not grow with the directory: one page is held at a time),
// and the token endpoint calls per 1,000 Graph requests.
func BenchmarkDirectorySync(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			info := benchemu.Start(b, n)
			var graphCalls atomic.Int64
			hc := &http.Client{Transport: countGraph(info.Transport(b), info.GraphURL(), &graphCalls)}
			cfg := devmode.DaemonConfig(info)
			stats := &daemon.TokenStats{}
			cred, err := daemon.NewCredential(cfg, daemon.CredentialOptions{HTTPClient: hc, Stats: stats, Cache: memoryCache(b)})
			if err != nil {
				b.Fatal(err)
			}
			g, err := graphapi.New(cred, graphapi.Options{BaseURL: info.GraphURL(), HTTPClient: hc,
				Scopes: []string{devmode.GraphScope}})
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			job := &daemon.DirectorySync{}
			var peak uint64
			users := 0
			i := 0
			for b.Loop() {
				i++
				b.StopTimer()
				db, err := daemon.OpenDB(context.Background(), "sqlite://"+filepath.Join(dir, fmt.Sprintf("sync-%d.db", i)))
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				b.StartTimer()
				stop := benchemu.PeakHeap()
				res, err := job.Run(context.Background(), &daemon.RunEnv{Graph: g, DB: db, Log: discardLogger()})
				peak = max(peak, stop())
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				var got int
				db.QueryRow(`SELECT COUNT(*) FROM directory_users`).Scan(&got)
				db.Close()
				if got != info.Users() || res.Items != info.Users() {
					b.Fatalf("synced %d users (%d changes), the directory has %d", got, res.Items, info.Users())
				}
				users += got
				b.StartTimer()
			}
			b.ReportMetric(float64(users)/b.Elapsed().Seconds(), "users/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(stats.EndpointCalls.Load()), "token-calls")
			if calls := graphCalls.Load(); calls > 0 {
				b.ReportMetric(float64(stats.EndpointCalls.Load())*1000/float64(calls), "token-calls/1k-graph")
			}
		})
	}
}

// countGraph counts the requests to the Graph host.
func countGraph(next http.RoundTripper, graphURL string, n *atomic.Int64) http.RoundTripper {
	host := strings.TrimPrefix(graphURL, "https://")
	return roundtrip.Func(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == host {
			n.Add(1)
		}
		return next.RoundTrip(r)
	})
}
