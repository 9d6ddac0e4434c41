package graphapi_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/internal/benchemu"
)

func TestMain(m *testing.M) { benchemu.Main(m) }

// BenchmarkEnumerateUsers lists the whole directory through graphapi (999 a
// page, default properties) from a dev tenant in another process. Peak heap
// should not grow with the directory: one page at a time is held.
func BenchmarkEnumerateUsers(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			info := benchemu.Start(b, n)
			hc := &http.Client{Transport: info.Transport(b)}
			cred := daemonCredentialAt(b, info, hc)
			c, err := graphapi.New(cred, graphapi.Options{BaseURL: info.GraphURL(), Scopes: []string{graphDefault}, HTTPClient: hc})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			enumerate := func() int {
				count := 0
				for u, err := range c.Users(ctx, graphapi.ListOptions{Top: 999}) {
					if err != nil {
						b.Fatal(err)
					}
					if u.GetId() != nil {
						count++
					}
				}
				return count
			}
			if got := enumerate(); got != info.Users() { // warms the token and connections
				b.Fatalf("enumerated %d users of %d", got, info.Users())
			}
			runtime.GC()
			b.ResetTimer()
			stop := benchemu.PeakHeap()
			start := time.Now()
			total := 0
			for b.Loop() {
				total += enumerate()
			}
			elapsed := time.Since(start)
			peak := stop()
			b.ReportMetric(float64(total)/elapsed.Seconds(), "users/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}
