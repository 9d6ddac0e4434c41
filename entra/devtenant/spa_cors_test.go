package devtenant_test

// CORS as Entra answers browser apps: the token endpoint lets a single-page
// app's origin read its answers and nobody else's; the discovery document,
// the keys and instance discovery are for any origin.

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
)

// corsOf is the CORS part of an answer: Access-Control-Allow-Origin ("" when
// absent) and whether Vary names Origin.
func corsOf(h http.Header) (allowOrigin string, varyOrigin bool) {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Origin") {
				varyOrigin = true
			}
		}
	}
	return h.Get("Access-Control-Allow-Origin"), varyOrigin
}

func TestTokenCORSOnlyForSPAOrigins(t *testing.T) {
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	const scope = "openid profile offline_access User.Read"
	// A refresh token of the SPA: refreshed from each origin below.
	spa := spaTokens(t, srv, "AdeleV", scope)
	if got, vary := corsOf(spa.Header); got != oboSPAOrigin || !vary {
		t.Fatalf("SPA code redeemed from its origin: Access-Control-Allow-Origin %q, Vary Origin %v", got, vary)
	}
	spaRefresh := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "client_id": {spaAppID}, "refresh_token": {rt}, "scope": {scope}}
	}
	rt := spa.s("refresh_token")

	tests := []struct {
		name   string
		origin string
		form   func() url.Values
		status int
		allow  bool // Access-Control-Allow-Origin is the origin
		code   int  // the AADSTS error, 0 for any
	}{
		{"SPA from its other registered origin", "https://localhost:8443", func() url.Values { return spaRefresh(rt) }, 200, true, 0},
		// Entra ignores the port of localhost redirect URIs: a dev server on
		// another port signs in, and must then read its tokens.
		{"SPA from another localhost port", "http://localhost:5173", func() url.Values { return spaRefresh(rt) }, 200, true, 0},
		{"SPA from another origin", "https://app.example", func() url.Values { return spaRefresh(rt) }, 200, false, 0},
		{"SPA from an origin differing by scheme", "https://localhost:8080", func() url.Values { return spaRefresh(rt) }, 200, false, 0},
		{"SPA from the opaque origin", "null", func() url.Values { return spaRefresh(rt) }, 200, false, 0},
		// The SPA must see its errors, from its origin.
		{"SPA error from its origin", oboSPAOrigin, func() url.Values { return spaRefresh("1.Anot-a-refresh-token") }, 400, true, 0},
		{
			// AADSTS9002326: a web app's code redeemed cross-origin. The
			// browser sees no body, only a CORS failure.
			name: "web app code redeemed cross-origin", origin: oboSPAOrigin,
			form: func() url.Values {
				code, verifier := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
				return w.redeemForm(code, verifier)
			},
			status: 400, code: 9002326,
		},
		// Entra refuses a client credential sent with an Origin: secrets
		// are not for browsers.
		{"daemon's client credentials from a browser", oboSPAOrigin, func() url.Values {
			return w.daemonForm(srv.ClientSecret(daemonAppID), "https://graph.microsoft.com/.default")
		}, 400, false, 9002326},
		{"no client", oboSPAOrigin, func() url.Values { return url.Values{"grant_type": {"none"}} }, 400, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := w.token(t, tc.form(), http.Header{"Origin": {tc.origin}})
			if r.Status != tc.status {
				t.Errorf("status %d, want %d: %s", r.Status, tc.status, r.Raw)
			}
			if codes, _ := r.Body["error_codes"].([]any); tc.code != 0 && (len(codes) == 0 || codes[0] != float64(tc.code)) {
				t.Errorf("error_codes = %v, want [%d]", r.Body["error_codes"], tc.code)
			}
			got, vary := corsOf(r.Header)
			switch {
			case tc.allow && got != tc.origin:
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tc.origin)
			case !tc.allow && got != "":
				t.Errorf("Access-Control-Allow-Origin = %q, want none", got)
			}
			if !vary {
				t.Error("no Vary: Origin on an answer that depends on the Origin")
			}
			for k := range r.Header {
				if strings.HasPrefix(k, "Access-Control-") && !tc.allow {
					t.Errorf("CORS header %s on an answer the origin may not read", k)
				}
			}
		})
	}

	// Last: a fault applies to whichever request comes next. A throttled
	// SPA must read the 429 and its Retry-After (msal-common's
	// ThrottlingUtils does); nobody else may.
	t.Run("throttled", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			form  url.Values
			allow bool
		}{
			{"SPA", spaRefresh(rt), true},
			{"web app", w.refreshForm("1.Ax"), false},
		} {
			srv.InjectFault(devtenant.Fault{Endpoint: "token", Status: http.StatusTooManyRequests, RetryAfter: 3 * time.Second, Count: 1})
			r := w.token(t, tc.form, http.Header{"Origin": {oboSPAOrigin}})
			got, _ := corsOf(r.Header)
			if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "3" {
				t.Errorf("%s: status %d, Retry-After %q", tc.name, r.Status, r.Header.Get("Retry-After"))
			}
			exposed := strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Expose-Headers")), "retry-after")
			if tc.allow && (got != oboSPAOrigin || !exposed) {
				t.Errorf("%s: Access-Control-Allow-Origin %q, Retry-After exposed %v", tc.name, got, exposed)
			}
			if !tc.allow && got != "" {
				t.Errorf("%s: Access-Control-Allow-Origin %q, want none", tc.name, got)
			}
		}
	})

	t.Run("same-origin request gets no CORS header", func(t *testing.T) {
		r := w.token(t, w.daemonForm(srv.ClientSecret(daemonAppID), "https://graph.microsoft.com/.default"), nil)
		if got, _ := corsOf(r.Header); r.Status != 200 || got != "" {
			t.Errorf("status %d, Access-Control-Allow-Origin %q", r.Status, got)
		}
	})
}

// TestTokenPreflight: a preflight has no body, so no client: it allows the
// origin, POST and the headers msal-browser sends (msal-common 16's
// createTokenRequestHeaders and addDpopTokenProofHeader), and no other.
func TestTokenPreflight(t *testing.T) {
	srv := startTenant(t)
	for _, tc := range []struct {
		name, headers string
		allowHeaders  string // "" none
	}{
		{"no request headers", "", ""},
		{"msal's CCS header", "content-type,x-anchormailbox", "content-type,x-anchormailbox"},
		{"any case", "X-AnchorMailbox, DPoP", "X-AnchorMailbox, DPoP"},
		{"a header msal does not send", "x-anchormailbox,x-custom", ""},
		// msal-common 16 sends these as query or body parameters, not headers.
		{"telemetry as a header", "x-client-current-telemetry", ""},
		{"client-request-id as a header", "client-request-id", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := mustRequest(t, http.MethodOptions, srv.Authority()+"/oauth2/v2.0/token")
			req.Header.Set("Origin", "http://localhost:8080")
			req.Header.Set("Access-Control-Request-Method", "POST")
			if tc.headers != "" {
				req.Header.Set("Access-Control-Request-Headers", tc.headers)
			}
			resp, _ := send(t, srv.Client(), req)
			h := resp.Header
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("status %d, want 204", resp.StatusCode)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != "http://localhost:8080" {
				t.Errorf("Access-Control-Allow-Origin = %q", got)
			}
			if got := h.Get("Access-Control-Allow-Methods"); !slices.Contains(strings.Split(strings.ReplaceAll(got, " ", ""), ","), "POST") {
				t.Errorf("Access-Control-Allow-Methods = %q, want POST", got)
			}
			if got := h.Get("Access-Control-Allow-Headers"); got != tc.allowHeaders {
				t.Errorf("Access-Control-Allow-Headers = %q, want %q", got, tc.allowHeaders)
			}
			if got := h.Get("Access-Control-Max-Age"); got != "86400" {
				t.Errorf("Access-Control-Max-Age = %q", got)
			}
			if _, vary := corsOf(h); !vary {
				t.Error("no Vary: Origin")
			}
		})
	}
}

// TestPublicDocumentsCORS: discovery, the keys and instance discovery answer
// any origin with *.
func TestPublicDocumentsCORS(t *testing.T) {
	srv := startTenant(t)
	for _, path := range []string{
		"/" + srv.TenantID() + "/v2.0/.well-known/openid-configuration",
		"/common/v2.0/.well-known/openid-configuration",
		"/discovery/v2.0/keys",
		"/" + srv.TenantID() + "/discovery/v2.0/keys",
		"/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape(srv.Authority()+"/oauth2/v2.0/authorize"),
	} {
		t.Run(path, func(t *testing.T) {
			req := mustRequest(t, http.MethodGet, srv.URL()+path)
			req.Header.Set("Origin", "https://app.example")
			resp, body := send(t, srv.Client(), req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
			}
		})
	}
}
