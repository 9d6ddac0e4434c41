package graphapi_test

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
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/infra"
)

// emulatorEnv, when set to N, turns the test binary into a dev tenant with N
// synthetic users (see TestMain): the benchmark runs the emulator in another
// process so that the heap it measures is the client's alone.
const emulatorEnv = "GRAPHAPI_BENCH_EMULATOR_USERS"

func TestMain(m *testing.M) {
	if n := os.Getenv(emulatorEnv); n != "" {
		os.Exit(serveEmulator(n))
	}
	os.Exit(m.Run())
}

// emulatorInfo is what the child tells its parent.
type emulatorInfo struct {
	URL, GraphURL, TenantID, Secret string
	CAPEM                           []byte
	Users                           int
}

// serveEmulator runs a dev tenant until stdin closes (the parent exits or
// is done).
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
	json.NewEncoder(os.Stdout).Encode(emulatorInfo{
		URL: srv.URL(), GraphURL: srv.GraphURL(), TenantID: srv.TenantID(), Secret: srv.ClientSecret(daemonAppID),
		CAPEM: srv.CACertPEM(), Users: len(srv.Users()),
	})
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// startEmulatorProcess starts this test binary as a dev tenant with n users.
func startEmulatorProcess(b *testing.B, n int) emulatorInfo {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), emulatorEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // the child exits when its stdin closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	var info emulatorInfo
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		b.Fatalf("emulator process: %v", err)
	}
	if err := json.Unmarshal(line, &info); err != nil {
		b.Fatal(err)
	}
	return info
}

// peakHeap samples the bytes of heap objects (live and not yet swept) until
// stop is called, and returns the highest value seen.
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

// BenchmarkEnumerateUsers lists the whole directory through graphapi (999 a
// page, default properties) from a dev tenant in another process. Peak heap
// should not grow with the directory: one page at a time is held.
func BenchmarkEnumerateUsers(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			info := startEmulatorProcess(b, n)
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(info.CAPEM) {
				b.Fatal("bad CA PEM")
			}
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
			cred, err := azidentity.NewClientSecretCredential(info.TenantID, daemonAppID, info.Secret, &azidentity.ClientSecretCredentialOptions{
				ClientOptions:            policy.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: info.URL + "/"}, Transport: hc},
				DisableInstanceDiscovery: true,
			})
			if err != nil {
				b.Fatal(err)
			}
			c, err := graphapi.New(cred, graphapi.Options{BaseURL: info.GraphURL, Scopes: []string{graphDefault}, HTTPClient: hc})
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
			if got := enumerate(); got != info.Users { // warms the token and connections
				b.Fatalf("enumerated %d users of %d", got, info.Users)
			}
			runtime.GC()
			b.ResetTimer()
			stop := peakHeap()
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
