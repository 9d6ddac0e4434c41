package graphapi_test

// Error mapping against small Graph-shaped httptest servers: the status,
// headers and body Graph sends, through the real SDK and kiota middleware.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/entrakit/entrakit/graphapi"
)

// fakeToken is a credential returning a fixed token and recording what it
// was asked for.
type fakeToken struct {
	token string
	mu    sync.Mutex
	asked []policy.TokenRequestOptions
}

func (f *fakeToken) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, o)
	return azcore.AccessToken{Token: f.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (f *fakeToken) requests() []policy.TokenRequestOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]policy.TokenRequestOptions(nil), f.asked...)
}

const fakeAccessToken = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"

// graphErrorBody is Graph's error JSON.
func graphErrorBody(code, msg, requestID string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"innerError": map[string]string{"date": "2025-02-13T10:17:05", "request-id": requestID, "client-request-id": "c-" + requestID},
	}})
	return string(b)
}

// fakeGraph serves handler over TLS and returns a client for it.
func fakeGraph(t *testing.T, o graphapi.Options, handler http.HandlerFunc) (*graphapi.Client, *fakeToken) {
	t.Helper()
	srv := httptest.NewTLSServer(handler)
	t.Cleanup(srv.Close)
	cred := &fakeToken{token: fakeAccessToken}
	o.BaseURL = srv.URL
	o.HTTPClient = srv.Client()
	c, err := graphapi.New(cred, o)
	if err != nil {
		t.Fatal(err)
	}
	return c, cred
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(body))
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	challenge := `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="` +
		base64.StdEncoding.EncodeToString([]byte(claims)) + `"`
	tests := []struct {
		name    string
		opts    graphapi.Options
		status  int
		headers map[string]string
		body    string // "" = no body
		check   func(t *testing.T, err error)
		calls   int32 // requests the server should see
	}{
		{
			name: "404 not found", status: 404, calls: 1,
			body: graphErrorBody("Request_ResourceNotFound", "Resource 'x' does not exist or one of its queried reference-property objects are not present.", "rid-404"),
			check: func(t *testing.T, err error) {
				if !errors.Is(err, graphapi.ErrNotFound) || errors.Is(err, graphapi.ErrForbidden) {
					t.Errorf("errors.Is: %v", err)
				}
				var ge *graphapi.Error
				if !errors.As(err, &ge) || ge.Status != 404 || ge.Code != "Request_ResourceNotFound" ||
					ge.RequestID != "rid-404" || ge.ClientRequestID != "c-rid-404" || !strings.HasPrefix(ge.Message, "Resource 'x'") {
					t.Errorf("error = %#v", ge)
				}
				var odata *odataerrors.ODataError
				if !errors.As(err, &odata) {
					t.Error("the SDK's ODataError is not reachable with errors.As")
				}
			},
		},
		{
			name: "404 without a body", status: 404, calls: 1,
			headers: map[string]string{"request-id": "hdr-rid"},
			check: func(t *testing.T, err error) {
				var ge *graphapi.Error
				if !errors.Is(err, graphapi.ErrNotFound) || !errors.As(err, &ge) || ge.RequestID != "hdr-rid" {
					t.Errorf("err = %v (%#v)", err, ge)
				}
			},
		},
		{
			name: "403 forbidden", status: 403, calls: 1,
			body: graphErrorBody("Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "rid-403"),
			check: func(t *testing.T, err error) {
				var ge *graphapi.Error
				if !errors.Is(err, graphapi.ErrForbidden) || !errors.As(err, &ge) || ge.Code != "Authorization_RequestDenied" {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			name: "429 without retries keeps Retry-After", status: 429, calls: 1,
			opts:    graphapi.Options{MaxRetries: -1},
			headers: map[string]string{"Retry-After": "7"},
			body:    graphErrorBody("TooManyRequests", "Too many requests.", "rid-429"),
			check: func(t *testing.T, err error) {
				var te *graphapi.ThrottledError
				if !errors.As(err, &te) || te.RetryAfter != 7*time.Second || te.Err.Status != 429 || te.Err.RequestID != "rid-429" {
					t.Errorf("err = %v (%#v)", err, te)
				}
				var ge *graphapi.Error
				if !errors.As(err, &ge) {
					t.Error("*Error not reachable from *ThrottledError")
				}
			},
		},
		{
			name: "429 after kiota's retries", status: 429, calls: 3,
			opts:    graphapi.Options{MaxRetries: 2},
			headers: map[string]string{"Retry-After": "0"},
			body:    graphErrorBody("TooManyRequests", "Too many requests.", "rid-429"),
			check: func(t *testing.T, err error) {
				var te *graphapi.ThrottledError
				if !errors.As(err, &te) {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			name: "503 after retries is a plain Error", status: 503, calls: 2,
			opts:    graphapi.Options{MaxRetries: 1},
			headers: map[string]string{"Retry-After": "0"},
			body:    graphErrorBody("ServiceUnavailable", "Service unavailable.", "rid-503"),
			check: func(t *testing.T, err error) {
				var ge *graphapi.Error
				if !errors.As(err, &ge) || ge.Status != 503 || ge.Code != "ServiceUnavailable" {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			// kiota retries once with the claims; the second 401 is the
			// caller's to handle.
			name: "401 claims challenge", status: 401, calls: 2,
			headers: map[string]string{"WWW-Authenticate": challenge},
			body:    graphErrorBody("InvalidAuthenticationToken", "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp", "rid-401"),
			check: func(t *testing.T, err error) {
				var ce *graphapi.ClaimsChallengeError
				if !errors.As(err, &ce) || ce.Claims != claims || ce.Err.Status != 401 {
					t.Errorf("err = %v (%#v)", err, ce)
				}
			},
		},
		{
			name: "401 without claims", status: 401, calls: 1,
			headers: map[string]string{"WWW-Authenticate": `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`},
			body:    graphErrorBody("InvalidAuthenticationToken", "Access token is empty.", "rid-401"),
			check: func(t *testing.T, err error) {
				var ce *graphapi.ClaimsChallengeError
				var ge *graphapi.Error
				if errors.As(err, &ce) || !errors.As(err, &ge) || ge.Status != 401 || ge.Code != "InvalidAuthenticationToken" {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			// The SDK's ODataError.Error() panics without a message; the
			// mapping must not call it.
			name: "404 error without a message", status: 404, calls: 1,
			body: `{"error":{"code":"Request_ResourceNotFound"}}`,
			check: func(t *testing.T, err error) {
				var ge *graphapi.Error
				if !errors.Is(err, graphapi.ErrNotFound) || !errors.As(err, &ge) || ge.Code != "Request_ResourceNotFound" || ge.Message != "" {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			name: "400 bad request", status: 400, calls: 1,
			body: graphErrorBody("Request_UnsupportedQuery", "Unsupported Query.", "rid-400"),
			check: func(t *testing.T, err error) {
				var ge *graphapi.Error
				if !errors.As(err, &ge) || ge.Status != 400 || errors.Is(err, graphapi.ErrNotFound) {
					t.Errorf("err = %v", err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			c, cred := fakeGraph(t, tc.opts, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				for k, v := range tc.headers {
					w.Header().Set(k, v)
				}
				if tc.body == "" {
					w.WriteHeader(tc.status)
					return
				}
				writeJSON(w, tc.status, tc.body)
			})
			_, err := c.Me(t.Context())
			if err == nil {
				t.Fatal("no error")
			}
			tc.check(t, err)
			if got := calls.Load(); got != tc.calls {
				t.Errorf("server saw %d requests, want %d", got, tc.calls)
			}
			if strings.Contains(err.Error(), fakeAccessToken) {
				t.Error("the error message carries the access token")
			}
			if !strings.HasPrefix(err.Error(), "graphapi: ") {
				t.Errorf("message %q lacks the package prefix", err)
			}
			if tc.name == "401 claims challenge" {
				asked := cred.requests()
				if len(asked) != 2 || asked[1].Claims != claims {
					t.Errorf("token requests = %+v; want a second one with the challenge's claims", asked)
				}
			}
		})
	}
}

func TestMapErrorPassesOtherErrorsThrough(t *testing.T) {
	t.Parallel()
	c, _ := fakeGraph(t, graphapi.Options{}, func(w http.ResponseWriter, r *http.Request) {})
	for _, err := range []error{nil, context.Canceled, errors.New("dial tcp: refused")} {
		if got := c.MapError(err); got != err {
			t.Errorf("MapError(%v) = %v", err, got)
		}
	}
	// An ApiError that never saw a response (status 0) stays as it is.
	api := &abs.ApiError{Message: "x"}
	if got := c.MapError(api); got != error(api) {
		t.Errorf("MapError(status 0) = %v", got)
	}
}

func TestThrottledThenSucceeds(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c, _ := fakeGraph(t, graphapi.Options{}, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			writeJSON(w, 429, graphErrorBody("TooManyRequests", "Too many requests.", "r"))
			return
		}
		if r.Header.Get("Retry-Attempt") != "1" {
			t.Errorf("Retry-Attempt = %q", r.Header.Get("Retry-Attempt"))
		}
		writeJSON(w, 200, `{"id":"u1","displayName":"Adele Vance"}`)
	})
	u, err := c.Me(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if u.DisplayName != "Adele Vance" || calls.Load() != 2 {
		t.Errorf("user %q after %d calls", u.DisplayName, calls.Load())
	}
}

func TestRetryAfterDate(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 2, 13, 10, 0, 0, 0, time.UTC)
	c, _ := fakeGraph(t, graphapi.Options{MaxRetries: -1, Now: func() time.Time { return now }}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat))
		writeJSON(w, 429, graphErrorBody("TooManyRequests", "Too many requests.", "r"))
	})
	_, err := c.Me(t.Context())
	var te *graphapi.ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != 90*time.Second {
		t.Errorf("err = %v", err)
	}
}

// TestRetriedResponsesClosed: kiota's retry handler drops each throttled
// response without closing it; graphapi closes them, so the connection is
// reused instead of leaked.
func TestRetriedResponsesClosed(t *testing.T) {
	t.Parallel()
	var calls, conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			w.Header().Set("Retry-After", "0")
			writeJSON(w, 429, graphErrorBody("TooManyRequests", "Too many requests.", "r"))
			return
		}
		writeJSON(w, 200, `{"id":"u1"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := graphapi.New(&fakeToken{token: fakeAccessToken}, graphapi.Options{BaseURL: srv.URL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 4 || conns.Load() != 1 {
		t.Errorf("%d requests over %d connections, want 4 over 1", calls.Load(), conns.Load())
	}
}

// FuzzErrorResponse feeds arbitrary error responses through the SDK and
// the mapping: no panic, always an error, never the token in its text.
func FuzzErrorResponse(f *testing.F) {
	f.Add(404, "", "", graphErrorBody("Request_ResourceNotFound", "x", "r"))
	f.Add(429, "7", "", graphErrorBody("TooManyRequests", "x", "r"))
	f.Add(429, "Wed, 21 Oct 2015 07:28:00 GMT", "", "")
	f.Add(401, "", `Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="`, "{}")
	f.Add(401, "", `Bearer error="insufficient_claims", claims="!!notbase64"`, `{"error":{}}`)
	f.Add(403, "-1", `Bearer realm="`, `{"error":{"code":1,"message":["x"]}}`)
	f.Add(500, "99999999999999999999", "Basic", "not json")
	var (
		mu   sync.Mutex
		resp struct {
			status            int
			retry, auth, body string
		}
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if resp.retry != "" {
			w.Header().Set("Retry-After", resp.retry)
		}
		if resp.auth != "" {
			w.Header().Set("WWW-Authenticate", resp.auth)
		}
		writeJSON(w, resp.status, resp.body)
	}))
	f.Cleanup(srv.Close)
	c, err := graphapi.New(&fakeToken{token: fakeAccessToken}, graphapi.Options{BaseURL: srv.URL, HTTPClient: srv.Client(), MaxRetries: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, retry, auth, body string) {
		if status < 400 || status > 599 || strings.ContainsAny(retry+auth, "\r\n\x00") || !utf8.ValidString(retry+auth) {
			t.Skip()
		}
		mu.Lock()
		resp.status, resp.retry, resp.auth, resp.body = status, retry, auth, body
		mu.Unlock()
		_, err := c.Me(t.Context())
		if err == nil {
			t.Fatal("no error")
		}
		if strings.Contains(err.Error(), fakeAccessToken) {
			t.Fatal("token in the error")
		}
		var te *graphapi.ThrottledError
		if errors.As(err, &te) && te.RetryAfter < 0 {
			t.Fatalf("negative RetryAfter %v", te.RetryAfter)
		}
	})
}
