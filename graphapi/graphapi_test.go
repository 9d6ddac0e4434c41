package graphapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

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
				var fe *graphapi.FieldError
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
// flight: msgraphsdk.NewGraphServiceClient would race on a global there
// (go test -race).
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
