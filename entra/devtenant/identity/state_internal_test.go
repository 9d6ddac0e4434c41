package identity

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
	"github.com/entrakit/entrakit/entra/devtenant/fault"
)

// An authorize request that the user abandons (the sign-in page is never
// posted) must not stay in memory forever: the dev tenant runs for days under
// test suites and browsers, and /authorize needs no credential, so unpruned
// state is an unbounded leak (fuzzing the endpoint slows down as it grows).
func TestExpiredAuthorizeRequestsAreDropped(t *testing.T) {
	now := time.Now()
	p := newTestProvider(t, func() time.Time { return now })
	mux := http.NewServeMux()
	p.Routes(mux)
	q := url.Values{
		"client_id":     {"3f6c7b1a-9e2d-4c8f-a5b3-7d1e0f2c4a6b"},
		"response_type": {"code"},
		"redirect_uri":  {"http://localhost:8080/auth/callback"},
		"scope":         {"openid profile"},
	}.Encode()
	open := func() {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+p.dir.TenantID()+"/oauth2/v2.0/authorize?"+q, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("authorize = %d", rec.Code)
		}
	}
	for range 50 {
		open()
	}
	now = now.Add(pendingLifetime + time.Minute)
	open()
	p.mu.Lock()
	n := len(p.pending)
	p.mu.Unlock()
	if n > 1 {
		t.Errorf("%d pending authorize requests kept, 50 of them expired %s ago", n, time.Minute)
	}
}

// newTestProvider is a Provider over a directory built from infra's manifest.
func newTestProvider(t *testing.T, now func() time.Time) *Provider {
	t.Helper()
	raw, err := os.ReadFile("../../../infra/app-registration.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := directory.ParseManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := directory.New(directory.Config{Manifest: m, TenantID: directory.DefaultTenantID, Domain: directory.DefaultDomain, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Directory: dir, Faults: new(fault.Set), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
