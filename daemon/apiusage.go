package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/entrakit/entrakit/internal/atomicfile"
)

// APIUsage reads the web API's usage report (GET /api/reports/usage) with
// an app-only token for the API — the Reports.Read.All app role, which an
// administrator grants the daemon — and keeps it as a JSON file in
// OutputDir. It is how a daemon calls an API of its own organization with
// client credentials (or its managed identity), next to the Graph jobs.
type APIUsage struct {
	// URL is the web app's base URL, e.g. https://app.contoso.com.
	URL string
	// Scope is the API's .default scope: api://<app id or App ID URI>/.default.
	Scope     string
	OutputDir string
	// HTTPClient reaches the API; default one with a 30 s timeout.
	HTTPClient *http.Client
	Now        func() time.Time
}

// Name implements Job.
func (j *APIUsage) Name() string { return "api-usage" }

// usageReport is what the job reads of the API's report.
type usageReport struct {
	GeneratedAt time.Time `json:"generatedAt"`
	Since       time.Time `json:"since"`
	Caller      string    `json:"caller"`
	APIRequests []struct {
		Route string `json:"route"`
		Code  string `json:"code"`
		Count int64  `json:"count"`
	} `json:"apiRequests"`
	SignIns         map[string]int64 `json:"signIns"`
	OBOAcquisitions map[string]int64 `json:"oboAcquisitions"`
}

// Run implements Job.
func (j *APIUsage) Run(ctx context.Context, env *RunEnv) (Result, error) {
	if env.Credential == nil {
		return Result{}, fmt.Errorf("%w: api-usage needs the app's credential (RunEnv.Credential)", ErrAuth)
	}
	tok, err := env.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{j.Scope}})
	if err != nil {
		return Result{}, fmt.Errorf("%w: a token for %s: %w", ErrAuth, j.Scope, err)
	}
	body, err := j.get(ctx, tok)
	if err != nil {
		return Result{}, err
	}
	var rep usageReport
	if err := json.Unmarshal(body, &rep); err != nil || rep.GeneratedAt.IsZero() {
		return Result{}, fmt.Errorf("daemon: api-usage: the answer is not a usage report (%v)", err)
	}
	runID := newRunID(clock(j.Now)())
	if j.OutputDir != "" {
		var pretty json.RawMessage = body
		out, _ := json.MarshalIndent(pretty, "", "  ")
		if err := atomicfile.Write(filepath.Join(j.OutputDir, "api-usage-"+runID+".json"), append(out, '\n'), 0o644); err != nil {
			return Result{}, err
		}
	}
	var total int64
	details := []string{}
	sort.Slice(rep.APIRequests, func(a, b int) bool { return rep.APIRequests[a].Count > rep.APIRequests[b].Count })
	for _, r := range rep.APIRequests {
		total += r.Count
		details = append(details, fmt.Sprintf("%-22s %s  %d", r.Route, r.Code, r.Count))
	}
	return Result{Items: len(rep.APIRequests), Details: details,
		Summary: fmt.Sprintf("%d API requests since %s (sign-ins completed: %d, OBO exchanges at Entra: %d); report %s",
			total, rep.Since.UTC().Format(time.RFC3339), rep.SignIns["completed"], rep.OBOAcquisitions["entra"], runID)}, nil
}

// maxReport bounds the report read.
const maxReport = 4 << 20

func (j *APIUsage) get(ctx context.Context, tok azcore.AccessToken) ([]byte, error) {
	hc := j.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	// The token goes to this URL only: no redirect is followed (Go keeps
	// Authorization on a same-host redirect, https to http included).
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc = &noRedirect
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(j.URL, "/")+"/api/reports/usage", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReport))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("%w: the API refused the token: %s", ErrAuth, resp.Header.Get("WWW-Authenticate"))
	case resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: the API wants the Reports.Read.All role: %s", ErrForbidden, resp.Header.Get("WWW-Authenticate"))
	}
	return nil, fmt.Errorf("daemon: api-usage: the API answered %s", resp.Status)
}

type apiUsageSettings struct {
	URL       string `json:"url"`
	Scope     string `json:"scope"`
	OutputDir string `json:"output_dir"`
}

func parseAPIUsageSettings(r json.RawMessage) (apiUsageSettings, error) {
	var s apiUsageSettings
	if err := strictJSON(r, &s); err != nil {
		return s, err
	}
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		return s, errors.New("url: the web app's base URL is required (https://app.example.com)")
	case err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) || u.Host == "":
		return s, fmt.Errorf("url: want https (or http on localhost), got %q", s.URL)
	case !strings.HasSuffix(s.Scope, "/.default"):
		return s, fmt.Errorf("scope: want the API's .default scope (api://<app id>/.default), got %q", s.Scope)
	}
	return s, nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
