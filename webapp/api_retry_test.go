package webapp_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/entrakit/entrakit/entra/devtenant"
)

// graphSpy counts OBO exchanges at Entra and records the Authorization
// header of each Graph call.
type graphSpy struct {
	base   http.RoundTripper
	mu     sync.Mutex
	obo    int
	graphs []string
}

func (s *graphSpy) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") && r.GetBody != nil {
		rc, _ := r.GetBody()
		b, _ := io.ReadAll(rc)
		if bytes.Contains(b, []byte("jwt-bearer")) {
			s.mu.Lock()
			s.obo++
			s.mu.Unlock()
		}
	}
	if strings.Contains(r.URL.Path, "/v1.0/") {
		s.mu.Lock()
		s.graphs = append(s.graphs, r.Header.Get("Authorization"))
		s.mu.Unlock()
	}
	return s.base.RoundTrip(r)
}

// TestAPIRetryAfterGraph401ExchangesAgain: when Graph refuses the OBO
// token without a claims challenge (401), the API drops it everywhere —
// memo, sealed store and MSAL's client — and the retry carries a token
// from a new exchange, not the refused one again.
func TestAPIRetryAfterGraph401ExchangesAgain(t *testing.T) {
	tt := startTenant(t)
	spy := &graphSpy{}
	a := startApp(t, tt, appOptions{Transport: func(b http.RoundTripper) http.RoundTripper { spy.base = b; return spy }})
	res := userTokens(t, tt, "AdeleV", apiScope)
	if r := callAPI(t, a, "/api/me", res.AccessToken); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	spy.mu.Lock()
	obo0, g0 := spy.obo, len(spy.graphs)
	spy.mu.Unlock()
	tt.srv.InjectFault(devtenant.Fault{Endpoint: "graph", Status: 401, Count: 1})
	r := callAPI(t, a, "/api/me", res.AccessToken)
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if r.status != http.StatusOK {
		t.Fatalf("after one 401 from Graph: %d %s", r.status, r.body)
	}
	calls := spy.graphs[g0:]
	if len(calls) >= 2 && calls[0] == calls[len(calls)-1] {
		t.Errorf("the retry sent the Graph token Graph had refused")
	}
	if spy.obo == obo0 {
		t.Errorf("no new OBO exchange after drop()")
	}
}
