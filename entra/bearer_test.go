package entra_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra"
)

func TestBearerMiddleware(t *testing.T) {
	tt := startTenant(t)
	token := apiToken(t, tt)
	adele := tt.persona(t, "AdeleV")

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	newValidator := func(keys entra.KeySet) *entra.Validator {
		v := entra.NewValidator(tt.cfg, keys)
		v.Audiences = []string{webAppID, "api://" + webAppID}
		return v
	}
	mw := &entra.Bearer{Validator: newValidator(tt.keys), Policy: entra.AccessPolicy{Scopes: []string{"access_as_user"}}, Logger: logger}

	// The key set of an issuer that cannot be reached.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	unreachable := &entra.Bearer{Validator: newValidator(&entra.RemoteKeySet{JWKSURL: gone.URL + "/discovery/v2.0/keys"}),
		Policy: mw.Policy, Logger: logger}
	otherScope := &entra.Bearer{Validator: mw.Validator, Policy: entra.AccessPolicy{Scopes: []string{"other"}}, Logger: logger}

	dot := strings.LastIndexByte(token, '.')
	sig := token[dot+1:]
	tampered := token[:dot+1] + strings.Repeat("A", len(sig))

	var responses []*httptest.ResponseRecorder
	serve := func(t *testing.T, b *entra.Bearer, authorization ...string) (*httptest.ResponseRecorder, *entra.Claims) {
		t.Helper()
		var seen *entra.Claims
		h := b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := entra.ClaimsFromContext(r.Context())
			if !ok {
				t.Error("next handler called without claims in the context")
			}
			seen = c
			w.WriteHeader(http.StatusNoContent)
		}))
		req := httptest.NewRequest(http.MethodGet, "/api/me", nil)
		for _, a := range authorization {
			req.Header.Add("Authorization", a)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		responses = append(responses, w)
		if w.Code != http.StatusNoContent && seen != nil {
			t.Errorf("status %d but the next handler ran", w.Code)
		}
		return w, seen
	}
	// challenge checks a refusal's status and WWW-Authenticate parameters
	// ("" = must be absent).
	challenge := func(t *testing.T, w *httptest.ResponseRecorder, status int, params map[string]string) {
		t.Helper()
		if w.Code != status {
			t.Fatalf("status %d, want %d (WWW-Authenticate %q, body %q)", w.Code, status, w.Header().Get("WWW-Authenticate"), w.Body)
		}
		cs, err := entra.ParseWWWAuthenticate(w.Header())
		if err != nil || len(cs) != 1 || cs[0].Scheme != "Bearer" {
			t.Fatalf("WWW-Authenticate %q: %+v %v", w.Header().Values("WWW-Authenticate"), cs, err)
		}
		for k, want := range params {
			got, has := cs[0].Params[k]
			if want == "" && has {
				t.Errorf("%s=%q present in %q", k, got, w.Header().Get("WWW-Authenticate"))
			}
			if want != "" && got != want {
				t.Errorf("%s=%q, want %q", k, got, want)
			}
		}
		if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("Cache-Control %q", cc)
		}
	}

	t.Run("valid token", func(t *testing.T) {
		w, c := serve(t, mw, "Bearer "+token)
		if w.Code != http.StatusNoContent || c == nil {
			t.Fatalf("status %d, WWW-Authenticate %q", w.Code, w.Header().Get("WWW-Authenticate"))
		}
		if c.ObjectID != adele.OID || c.TenantID != tt.srv.TenantID() || c.Name != "Adele Vance" {
			t.Errorf("claims oid %s tid %s name %s", c.ObjectID, c.TenantID, c.Name)
		}
	})
	t.Run("no Authorization header", func(t *testing.T) {
		w, _ := serve(t, mw)
		challenge(t, w, http.StatusUnauthorized, map[string]string{"error": "", "error_description": ""})
		if got := w.Header().Get("WWW-Authenticate"); got != "Bearer" {
			t.Errorf("WWW-Authenticate %q, want a bare Bearer", got)
		}
	})
	t.Run("another scheme", func(t *testing.T) {
		w, _ := serve(t, mw, "Basic xyz")
		challenge(t, w, http.StatusUnauthorized, map[string]string{"error": ""})
	})
	t.Run("realm", func(t *testing.T) {
		withRealm := &entra.Bearer{Validator: mw.Validator, Policy: mw.Policy, Logger: logger, Realm: "entrakit"}
		w, _ := serve(t, withRealm)
		challenge(t, w, http.StatusUnauthorized, map[string]string{"realm": "entrakit", "error": ""})
	})
	for _, tc := range []struct{ name, authorization string }{
		{"garbage three-part token", "Bearer aaa.bbb.ccc"},
		{"garbage token", "Bearer not-a-jwt"},
		{"five-part token (JWE)", "Bearer a.b.c.d.e"},
		{"tampered signature", "Bearer " + tampered},
		{"40 KB header", "Bearer " + strings.Repeat("a", 40<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := serve(t, mw, tc.authorization)
			challenge(t, w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		})
	}
	t.Run("two Authorization headers", func(t *testing.T) {
		w, _ := serve(t, mw, "Bearer "+token, "Bearer "+token)
		challenge(t, w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
	})
	t.Run("two tokens in one header", func(t *testing.T) {
		w, _ := serve(t, mw, "Bearer a b")
		challenge(t, w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
	})
	t.Run("missing scope", func(t *testing.T) {
		w, _ := serve(t, otherScope, "Bearer "+token)
		challenge(t, w, http.StatusForbidden, map[string]string{"error": "insufficient_scope", "scope": "other"})
	})
	t.Run("key set unreachable", func(t *testing.T) {
		// Twice: the second request, inside the key set's refresh interval,
		// must not turn the outage into a refusal of a valid token.
		for i := 1; i <= 2; i++ {
			w, _ := serve(t, unreachable, "Bearer "+token)
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
				t.Errorf("request %d: status %d, Retry-After %q, WWW-Authenticate %q; want 503 with Retry-After",
					i, w.Code, w.Header().Get("Retry-After"), w.Header().Get("WWW-Authenticate"))
			}
		}
	})

	t.Run("the token is never echoed", func(t *testing.T) {
		for _, secret := range []string{token, sig, tampered} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a log line contains the token:\n%s", logs.String())
			}
			for i, w := range responses {
				if strings.Contains(w.Body.String(), secret) {
					t.Errorf("response %d body contains the token", i)
				}
				for k, vs := range w.Header() {
					if strings.Contains(strings.Join(vs, " "), secret) {
						t.Errorf("response %d header %s contains the token", i, k)
					}
				}
			}
		}
		if !strings.Contains(logs.String(), "token refused") {
			t.Errorf("refusals were not logged:\n%s", logs.String())
		}
	})
}

func TestBearerToken(t *testing.T) {
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	anyErr := errors.New("any error")
	for _, tc := range []struct {
		name    string
		headers []string
		want    string
		err     error // nil, ErrBadAuthorizationHeader, ErrInvalidToken or anyErr
	}{
		{name: "no header"},
		{name: "bearer", headers: []string{"Bearer " + jwt}, want: jwt},
		{name: "scheme is case-insensitive", headers: []string{"bearer " + jwt}, want: jwt},
		{name: "BEARER", headers: []string{"BEARER " + jwt}, want: jwt},
		{name: "extra spaces before the token", headers: []string{"Bearer   " + jwt}, want: jwt},
		{name: "base64 padding and token68 characters", headers: []string{"Bearer a-b_c~d.e+f/g.h=="}, want: "a-b_c~d.e+f/g.h=="},
		{name: "another scheme", headers: []string{"Basic dXNlcjpwYXNz"}},
		{name: "Negotiate", headers: []string{"Negotiate YIIB9gYJKoZIhvcSAQICAQBuggHl"}},
		{name: "two headers", headers: []string{"Bearer " + jwt, "Bearer " + jwt}, err: entra.ErrBadAuthorizationHeader},
		{name: "two headers, one not bearer", headers: []string{"Basic x", "Bearer " + jwt}, err: entra.ErrBadAuthorizationHeader},
		{name: "two tokens", headers: []string{"Bearer a b"}, err: entra.ErrBadAuthorizationHeader},
		{name: "empty token", headers: []string{"Bearer "}, err: entra.ErrBadAuthorizationHeader},
		{name: "trailing junk", headers: []string{"Bearer " + jwt + " x"}, err: entra.ErrBadAuthorizationHeader},
		{name: "control character", headers: []string{"Bearer " + jwt + "\x00"}, err: entra.ErrBadAuthorizationHeader},
		{name: "quote", headers: []string{`Bearer "` + jwt + `"`}, err: entra.ErrBadAuthorizationHeader},
		{name: "percent", headers: []string{"Bearer a%2e.b.c"}, err: entra.ErrBadAuthorizationHeader},
		{name: "non-ASCII", headers: []string{"Bearer a.b.cé"}, err: entra.ErrBadAuthorizationHeader},
		{name: "two parts", headers: []string{"Bearer a.b"}, err: anyErr},
		{name: "no dots", headers: []string{"Bearer abc"}, err: anyErr},
		{name: "five parts", headers: []string{"Bearer a.b.c.d.e"}, err: anyErr},
		{name: "oversize", headers: []string{"Bearer " + strings.Repeat("a", entra.DefaultMaxTokenBytes+1)}, err: entra.ErrInvalidToken},
		{name: "40 KB", headers: []string{"Bearer " + strings.Repeat("a.", 20<<10)}, err: entra.ErrTokenTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.headers {
				h.Add("Authorization", v)
			}
			got, err := entra.BearerToken(h)
			switch {
			case tc.err == nil && err != nil:
				t.Errorf("error %v", err)
			case tc.err == anyErr && err == nil:
				t.Errorf("accepted %q", got)
			case tc.err != nil && tc.err != anyErr && !errors.Is(err, tc.err):
				t.Errorf("error %v, want %v", err, tc.err)
			case got != tc.want:
				t.Errorf("token %q, want %q", got, tc.want)
			}
			if err != nil && got != "" {
				t.Errorf("token %q returned with error %v", got, err)
			}
		})
	}
}
