package daemon_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/infra"
)

// emulatorEnv, when set to N, turns the test binary into a dev tenant with N
// synthetic users: the benchmark runs the emulator in another process so
// that the heap it measures is the daemon's alone.
const emulatorEnv = "DAEMON_BENCH_EMULATOR_USERS"

func TestMain(m *testing.M) {
	if n := os.Getenv(emulatorEnv); n != "" {
		os.Exit(serveEmulator(n))
	}
	os.Exit(m.Run())
}

type emulatorInfo struct {
	URL, GraphURL, TenantID, Secret string
	CAPEM                           []byte
	Users                           int
}

// serveEmulator runs a dev tenant until stdin closes.
func serveEmulator(n string) int {
	users, err := strconv.Atoi(n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	srv, err := devtenant.New(devtenant.Options{Manifest: infra.AppRegistration(), GraphBudget: 1 << 30})
	if err == nil {
		err = srv.GenerateDirectory(users)
	}
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	json.NewEncoder(os.Stdout).Encode(emulatorInfo{URL: srv.URL(), GraphURL: srv.GraphURL(), TenantID: srv.TenantID(),
		Secret: srv.ClientSecret(daemonAppID), CAPEM: srv.CACertPEM(), Users: len(srv.Users())})
	io.Copy(io.Discard, os.Stdin)
	return 0
}

func startEmulatorProcess(b *testing.B, n int) emulatorInfo {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), emulatorEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		b.Fatalf("emulator process: %v", err)
	}
	var info emulatorInfo
	if err := json.Unmarshal(line, &info); err != nil {
		b.Fatal(err)
	}
	return info
}

// peakHeap samples the bytes of heap objects until stop is called and
// returns the highest value seen.
func peakHeap() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var (
		peak uint64
		wg   sync.WaitGroup
		quit = make(chan struct{})
	)
	read := func() {
		metrics.Read(sample)
		peak = max(peak, sample[0].Value.Uint64())
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() uint64 {
		close(quit)
		wg.Wait()
		return peak
	}
}

// BenchmarkDirectorySync runs a full directory sync (users, delta pages of
// up to 999, each committed with its link) into a fresh SQLite database,
// from a dev tenant in another process. It reports users/s, the peak heap
// (which must not grow with the directory: one page is held at a time),
// and the token endpoint calls per 1,000 Graph requests.
func BenchmarkDirectorySync(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			info := startEmulatorProcess(b, n)
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(info.CAPEM)
			var graphCalls atomic.Int64
			base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4}
			hc := &http.Client{Transport: countGraph(base, info.GraphURL, &graphCalls)}
			cfg := entra.Config{
				Cloud:      entra.Cloud{Name: "dev", AuthorityHost: info.URL + "/", GraphEndpoint: info.GraphURL},
				TenantID:   info.TenantID,
				ClientID:   daemonAppID,
				Credential: entra.Credential{ClientSecret: info.Secret},
			}
			ring, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
			stats := &daemon.TokenStats{}
			cred, err := daemon.NewCredential(cfg, daemon.CredentialOptions{HTTPClient: hc, Stats: stats,
				Cache: &tokencache.Cache{Store: tokencache.NewMemoryStore(tokencache.MemoryOptions{}), Keys: ring}})
			if err != nil {
				b.Fatal(err)
			}
			g, err := graphapi.New(cred, graphapi.Options{BaseURL: info.GraphURL, HTTPClient: hc,
				Scopes: []string{"https://graph.microsoft.com/.default"}})
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
				stop := peakHeap()
				res, err := job.Run(context.Background(), &daemon.RunEnv{Graph: g, DB: db, Log: discardLogger()})
				peak = max(peak, stop())
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				var got int
				db.QueryRow(`SELECT COUNT(*) FROM directory_users`).Scan(&got)
				db.Close()
				if got != info.Users || res.Items != info.Users {
					b.Fatalf("synced %d users (%d changes), the directory has %d", got, res.Items, info.Users)
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
	return rt(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == host {
			n.Add(1)
		}
		return next.RoundTrip(r)
	})
}

type rt func(*http.Request) (*http.Response, error)

func (f rt) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
