// Package benchemu runs a dev tenant with a synthetic directory in a child
// process for benchmarks, so that the heap a benchmark measures is the
// client's alone, and samples the peak heap.
//
// A benchmark package calls Main from its TestMain: in the child (started
// by Start, which re-executes the test binary) it serves the dev tenant
// until its stdin closes; in the parent it runs the tests.
package benchemu

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/internal/devmode"
)

// usersEnv, set to N, makes the test binary a dev tenant with N users.
const usersEnv = "ENTRAKIT_BENCH_EMULATOR_USERS"

// Info is the child's dev tenant as its parent sees it; it satisfies
// devmode.Tenant, so devmode wires it as it does an in-process one.
type Info struct{ wire wireInfo }

// wireInfo is what the child writes to its parent (JSON, one line).
type wireInfo struct {
	URL, GraphURL, TenantID string
	Secrets                 map[string]string // app id -> client secret
	CAPEM                   []byte
	Users                   int // users in the directory, personas included
}

var _ devmode.Tenant = Info{}

// URL is the dev tenant's authority host (no trailing slash).
func (i Info) URL() string { return i.wire.URL }

// GraphURL is the root of its Graph emulator.
func (i Info) GraphURL() string { return i.wire.GraphURL }

// TenantID is the tenant's id.
func (i Info) TenantID() string { return i.wire.TenantID }

// ClientSecret is the secret the tenant generated for appID.
func (i Info) ClientSecret(appID string) string { return i.wire.Secrets[appID] }

// Users is the number of users in the directory, personas included.
func (i Info) Users() int { return i.wire.Users }

// Main is TestMain's body: it serves the emulator in a child process and
// runs m otherwise.
func Main(m *testing.M) {
	if n := os.Getenv(usersEnv); n != "" {
		os.Exit(serve(n))
	}
	os.Exit(m.Run())
}

func serve(n string) int {
	users, err := strconv.Atoi(n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	srv, err := devmode.Start(devtenant.Options{GraphBudget: 1 << 30})
	if err == nil {
		defer srv.Close()
		err = srv.GenerateDirectory(users)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	info := wireInfo{URL: srv.URL(), GraphURL: srv.GraphURL(), TenantID: srv.TenantID(), Secrets: map[string]string{},
		CAPEM: srv.CACertPEM(), Users: len(srv.Users())}
	for _, a := range srv.Applications() {
		if s := srv.ClientSecret(a.AppID); s != "" {
			info.Secrets[a.AppID] = s
		}
	}
	json.NewEncoder(os.Stdout).Encode(info)
	io.Copy(io.Discard, os.Stdin) // until the parent is done
	return 0
}

// Start runs this test binary as a dev tenant with users synthetic users,
// stopped when b ends.
func Start(b testing.TB, users int) Info {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), usersEnv+"="+strconv.Itoa(users))
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
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		b.Fatalf("emulator process: %v", err)
	}
	var info Info
	if err := json.Unmarshal(line, &info.wire); err != nil {
		b.Fatal(err)
	}
	return info
}

// Transport trusts the child's CA (HTTP/2, as clients use Graph).
func (i Info) Transport(b testing.TB) *http.Transport {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(i.wire.CAPEM) {
		b.Fatal("benchemu: bad CA PEM")
	}
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 4}
}

// PeakHeap samples the bytes of heap objects (live and not yet swept) until
// stop is called, and returns the highest value seen.
func PeakHeap() (stop func() uint64) {
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
