package webapp_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/internal/testlog"
)

// BenchmarkAPIMe measures GET /api/me with a warm OBO cache — bearer
// validation of the caller's token, the Graph token from the memo, the
// Graph call to the emulator, the JSON answer, through the app's whole
// middleware chain (api-obo) — against baseline: the same bearer
// validation and the same Graph call with a fixed Graph token, JSON
// encoded. api-obo reports rate-vs-baseline, its rate as a fraction of
// baseline's (goal >= 0.85), from the median of the baseline runs, and
// rate-vs-baseline-interleaved from alternating rounds of both (the
// machine's speed drifts). Both are served in-process: no loopback hop on
// either side.
func BenchmarkAPIMe(b *testing.B) {
	srv := devtenanttest.Start(b, func(o *devtenant.Options) { o.GraphBudget = 1 << 30 })
	tt := &tenant{srv: srv, log: &testlog.Buffer{}}
	a := startApp(b, tt, appOptions{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	caller := userTokens(b, tt, "AdeleV", apiScope).AccessToken
	h := a.Handler()
	serve := func(w http.ResponseWriter) {
		req := httptest.NewRequest(http.MethodGet, a.URL+"/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+caller)
		h.ServeHTTP(w, req)
	}
	first := httptest.NewRecorder()
	serve(first)
	if first.Code != http.StatusOK {
		b.Fatalf("GET /api/me: %d %s", first.Code, first.Body)
	}

	// baseline: the API's validator (discovered the same way, same
	// audiences) and the Graph token an OBO exchange gives, fixed.
	ctx := context.Background()
	cfg := devmode.WebAppConfig(srv, a.URL+"/auth/callback")
	v, _, err := entra.DiscoverValidator(ctx, cfg, srv.Client())
	if err != nil {
		b.Fatal(err)
	}
	v.Audiences = []string{cfg.ClientID, "api://" + cfg.ClientID}
	policy := entra.AccessPolicy{Scopes: []string{"access_as_user"}}
	cred, _ := confidential.NewCredFromSecret(cfg.Credential.ClientSecret)
	cc, err := confidential.New(srv.Authority(), infra.Apps().WebApp, cred, confidential.WithHTTPClient(srv.Client()),
		confidential.WithInstanceDiscovery(false), confidential.WithClientCapabilities([]string{"cp1"}))
	if err != nil {
		b.Fatal(err)
	}
	obo, err := cc.AcquireTokenOnBehalfOf(ctx, caller, []string{"https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/User.ReadBasic.All"})
	if err != nil {
		b.Fatal(err)
	}
	g, err := graphapi.New(fixedToken(obo.AccessToken), graphapi.Options{BaseURL: srv.GraphURL(), HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	props := []string{"id", "displayName", "userPrincipalName", "mail", "jobTitle", "department", "officeLocation"}
	direct := func(w http.ResponseWriter) {
		raw, err := entra.BearerToken(http.Header{"Authorization": {"Bearer " + caller}})
		if err == nil {
			_, err = v.ValidateAccessToken(ctx, raw, policy)
		}
		if err != nil {
			b.Fatal(err)
		}
		p, err := g.Me(ctx, props...)
		if err != nil {
			b.Fatal(err)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(map[string]string{"id": p.ID, "displayName": p.DisplayName,
			"userPrincipalName": p.UserPrincipalName, "mail": p.Mail, "jobTitle": p.JobTitle,
			"department": p.Department, "officeLocation": p.OfficeLocation})
	}

	var baseSum, apiSum time.Duration
	for round := 0; round < 10; round++ {
		start := time.Now()
		for i := 0; i < 200; i++ {
			direct(&countingWriter{header: http.Header{}})
		}
		baseSum += time.Since(start)
		start = time.Now()
		for i := 0; i < 200; i++ {
			if w := (&countingWriter{header: http.Header{}}); serveCode(serve, w) != http.StatusOK {
				b.Fatalf("GET /api/me: %d", w.code)
			}
		}
		apiSum += time.Since(start)
	}
	interleaved := float64(baseSum) / float64(apiSum)

	var baseRuns []float64
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			direct(&countingWriter{header: http.Header{}})
		}
		baseRuns = append(baseRuns, float64(b.Elapsed().Nanoseconds())/float64(b.N))
	})
	b.Run("api-obo", func(b *testing.B) {
		exchanges := metricsText(b, a)
		for b.Loop() {
			w := &countingWriter{header: http.Header{}}
			if serveCode(serve, w) != http.StatusOK || w.n < first.Body.Len()/2 {
				b.Fatalf("GET /api/me: %d, %d bytes", w.code, w.n)
			}
		}
		ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if len(baseRuns) > 0 {
			sorted := append([]float64(nil), baseRuns...)
			sort.Float64s(sorted)
			b.ReportMetric(sorted[len(sorted)/2]/ns, "rate-vs-baseline")
		}
		b.ReportMetric(interleaved, "rate-vs-baseline-interleaved")
		if grepLines(metricsText(b, a), `source="entra"`) != grepLines(exchanges, `source="entra"`) {
			b.Error("the warm path exchanged the caller's token again")
		}
	})
}

func serveCode(serve func(http.ResponseWriter), w *countingWriter) int {
	serve(w)
	return w.code
}
