package graphapi_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/graphapi"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    graphapi.Options
		bad  []string // fields reported
	}{
		{name: "zero value", o: graphapi.Options{}},
		{name: "sovereign cloud", o: graphapi.Options{BaseURL: "https://graph.microsoft.us", Scopes: []string{"https://graph.microsoft.us/.default"}, MaxRetries: 10}},
		{name: "loopback http", o: graphapi.Options{BaseURL: "http://127.0.0.1:8080"}},
		{name: "trailing slash", o: graphapi.Options{BaseURL: "https://graph.microsoft.com/"}},
		{name: "with version", o: graphapi.Options{BaseURL: "https://graph.microsoft.com/v1.0"}, bad: []string{"BaseURL"}},
		{name: "plain http", o: graphapi.Options{BaseURL: "http://graph.example.com"}, bad: []string{"BaseURL"}},
		{name: "query", o: graphapi.Options{BaseURL: "https://graph.microsoft.com?x=1"}, bad: []string{"BaseURL"}},
		{name: "everything wrong at once",
			o:   graphapi.Options{BaseURL: "ftp://x", Scopes: []string{"a b", ""}, MaxRetries: 11, UserAgent: "x\r\ny"},
			bad: []string{"BaseURL", "Scopes[0]", "Scopes[1]", "MaxRetries", "UserAgent"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			var got []string
			for _, e := range unjoin(err) {
				var fe *entra.FieldError
				if !errors.As(e, &fe) || !errors.Is(e, graphapi.ErrInvalidOptions) {
					t.Fatalf("%v is not a *FieldError", e)
				}
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.bad, ",") {
				t.Errorf("fields = %v, want %v (%v)", got, tc.bad, err)
			}
			if _, nerr := graphapi.New(&fakeToken{}, tc.o); (nerr != nil) != (len(tc.bad) > 0) {
				t.Errorf("New: %v", nerr)
			}
		})
	}
	if _, err := graphapi.New(nil, graphapi.Options{}); err == nil {
		t.Error("New accepted a nil credential")
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// TestDefaultScopeAndBase checks what a client built from the zero Options
// and a BaseURL alone asks for and where it goes.
func TestDefaultScopeAndBase(t *testing.T) {
	t.Parallel()
	var path, auth, ua string
	c, cred := fakeGraph(t, graphapi.Options{UserAgent: "entrakit-daemon/1.2"}, func(w http.ResponseWriter, r *http.Request) {
		path, auth, ua = r.URL.Path+"?"+r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("User-Agent")
		writeJSON(w, 200, `{"id":"u1"}`)
	})
	if _, err := c.Me(t.Context(), "id", "displayName"); err != nil {
		t.Fatal(err)
	}
	if path != "/v1.0/me?$select=id,displayName" {
		t.Errorf("path = %q", path)
	}
	if auth != "Bearer "+fakeAccessToken {
		t.Errorf("Authorization = %q", auth)
	}
	if !strings.HasPrefix(ua, "entrakit-daemon/1.2 kiota-go/") {
		t.Errorf("User-Agent = %q", ua)
	}
	asked := cred.requests()
	if len(asked) != 1 || len(asked[0].Scopes) != 1 || !strings.HasPrefix(asked[0].Scopes[0], "https://127.0.0.1:") ||
		!strings.HasSuffix(asked[0].Scopes[0], "/.default") || !asked[0].EnableCAE {
		t.Errorf("token requests = %+v", asked)
	}
}

// TestSdkVersionFollowsGoMod: the SdkVersion header names the version of
// msgraph-sdk-go whose models graphapi parses (go.mod's), as the SDK's own
// client does.
func TestSdkVersionFollowsGoMod(t *testing.T) {
	t.Parallel()
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var version string
	for line := range strings.Lines(string(mod)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/microsoftgraph/msgraph-sdk-go" {
			version = strings.TrimPrefix(f[1], "v")
		}
	}
	if version == "" {
		t.Fatal("go.mod does not require github.com/microsoftgraph/msgraph-sdk-go")
	}
	var sdk, rid string
	c, _ := fakeGraph(t, graphapi.Options{}, func(w http.ResponseWriter, r *http.Request) {
		sdk, rid = r.Header.Get("SdkVersion"), r.Header.Get("client-request-id")
		writeJSON(w, 200, `{"id":"u1"}`)
	})
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sdk, "graph-go/"+version+", graph-go-core/") || rid == "" {
		t.Errorf("SdkVersion = %q, client-request-id = %q; want graph-go/%s first", sdk, rid, version)
	}
}

// TestNextLinkElsewhereRefused: a nextLink to another host would be sent
// without a token; the iterator stops with an error instead.
func TestNextLinkElsewhereRefused(t *testing.T) {
	t.Parallel()
	c, _ := fakeGraph(t, graphapi.Options{}, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"value":[{"id":"u1"}],"@odata.nextLink":"https://graph.evil.example/v1.0/users?$skiptoken=x"}`)
	})
	var ids []string
	var err error
	for u, e := range c.Users(t.Context(), graphapi.ListOptions{}) {
		if e != nil {
			err = e
			break
		}
		ids = append(ids, *u.GetId())
	}
	if len(ids) != 1 || err == nil || !strings.Contains(err.Error(), "graph.evil.example") {
		t.Errorf("ids %v, err %v", ids, err)
	}
}

// TestConcurrentClients builds clients while others' requests are in
// flight: the SDK's NewGraphServiceClient would race on a global there
// (go test -race); New writes none.
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"value":[{"id":"u1"},{"id":"u2"}]}`)
	}))
	t.Cleanup(srv.Close)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				c, err := graphapi.New(&fakeToken{token: fakeAccessToken}, graphapi.Options{BaseURL: srv.URL, HTTPClient: srv.Client()})
				if err != nil {
					t.Error(err)
					return
				}
				for _, err := range c.Users(t.Context(), graphapi.ListOptions{}) {
					if err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestWithCredential: a view's requests, every page and kiota's resend for
// a claims challenge included, carry the view's token; the client's own
// requests keep the credential given to New.
func TestWithCredential(t *testing.T) {
	t.Parallel()
	const claims = `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	var mu sync.Mutex
	var seen []string // "path Authorization"
	c, own := fakeGraph(t, graphapi.Options{}, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		switch {
		case r.URL.Path == "/v1.0/users" && r.URL.Query().Get("$skiptoken") == "":
			writeJSON(w, 200, `{"value":[{"id":"u1"}],"@odata.nextLink":"https://`+r.Host+`/v1.0/users?$skiptoken=p2"}`)
		case r.URL.Path == "/v1.0/users":
			writeJSON(w, 200, `{"value":[{"id":"u2"}]}`)
		case r.Header.Get("Authorization") == "Bearer challenged":
			w.Header().Set("WWW-Authenticate", `Bearer realm="", error="insufficient_claims", claims="`+
				base64.StdEncoding.EncodeToString([]byte(claims))+`"`)
			writeJSON(w, 401, graphErrorBody("InvalidAuthenticationToken", "Continuous access evaluation resulted in challenge.", "r"))
		default:
			writeJSON(w, 200, `{"id":"u1","displayName":"Adele Vance"}`)
		}
	})
	user := &fakeToken{token: "user-token"}
	view := c.WithCredential(user)
	if _, err := view.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for u, err := range view.Users(t.Context(), graphapi.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *u.GetId())
	}
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := []string{"/v1.0/me Bearer user-token", "/v1.0/users Bearer user-token", "/v1.0/users Bearer user-token",
		"/v1.0/me Bearer " + fakeAccessToken}
	if strings.Join(seen, "|") != strings.Join(want, "|") || len(ids) != 2 {
		t.Errorf("requests %q (users %v), want %q", seen, ids, want)
	}
	if n := len(own.requests()); n != 1 {
		t.Errorf("the client's own credential was asked %d times, want 1", n)
	}

	// kiota resends a challenged request once, asking the same credential
	// with the challenge's claims.
	challenged := &challengedToken{}
	if _, err := c.WithCredential(challenged).Me(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := challenged.claims(); len(got) != 2 || got[0] != "" || got[1] != claims {
		t.Errorf("claims asked for = %q, want none then the challenge's", got)
	}

	if _, err := c.WithCredential(nil).Me(t.Context()); err == nil || !strings.Contains(err.Error(), "no credential") {
		t.Errorf("a view without a credential: err = %v", err)
	}
}

// challengedToken hands out a token Graph challenges, then, asked with
// claims, one it accepts.
type challengedToken struct {
	mu    sync.Mutex
	asked []string
}

func (c *challengedToken) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = append(c.asked, o.Claims)
	tok := "challenged"
	if o.Claims != "" {
		tok = "renewed"
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (c *challengedToken) claims() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.asked...)
}
