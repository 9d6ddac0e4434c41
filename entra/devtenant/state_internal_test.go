package devtenant

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"
	"time"
)

// An authorize request that the user abandons (the sign-in page is never
// posted) must not stay in memory forever: the dev tenant runs for days under
// test suites and browsers, and /authorize needs no credential, so unpruned
// state is an unbounded leak (fuzzing the endpoint slows down as it grows).
func TestExpiredAuthorizeRequestsAreDropped(t *testing.T) {
	manifest, err := os.ReadFile("../../infra/app-registration.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Manifest: manifest})
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{
		"client_id":     {"3f6c7b1a-9e2d-4c8f-a5b3-7d1e0f2c4a6b"},
		"response_type": {"code"},
		"redirect_uri":  {"http://localhost:8080/auth/callback"},
		"scope":         {"openid profile"},
	}.Encode()
	open := func() {
		t.Helper()
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+s.TenantID()+"/oauth2/v2.0/authorize?"+q, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("authorize = %d", rec.Code)
		}
	}
	for range 50 {
		open()
	}
	s.AdvanceClock(pendingLifetime + time.Minute)
	open()
	s.mu.Lock()
	n := len(s.pending)
	s.mu.Unlock()
	if n > 1 {
		t.Errorf("%d pending authorize requests kept, 50 of them expired %s ago", n, time.Minute)
	}
}
