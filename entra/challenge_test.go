package entra_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra"
)

// caeHeader is Microsoft Graph's CAE challenge, as in
// shared/reference/entra-protocol-facts.md §5, with the claims of caeClaims.
const caeHeader = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzAwMDAwMDAwIn19fQ=="`

func wwwAuthenticate(values ...string) http.Header {
	h := http.Header{}
	for _, v := range values {
		h.Add("WWW-Authenticate", v)
	}
	return h
}

func TestParseWWWAuthenticate(t *testing.T) {
	type ch = entra.Challenge
	type p = map[string]string
	for _, tc := range []struct {
		name   string
		values []string
		want   []entra.Challenge
	}{
		{"no header", nil, nil},
		{"empty value", []string{""}, nil},
		{"bare scheme", []string{"Bearer"}, []ch{{Scheme: "Bearer", Params: p{}}}},
		{"one challenge", []string{`Bearer realm="api", error="invalid_token", error_description="The token expired"`},
			[]ch{{Scheme: "Bearer", Params: p{"realm": "api", "error": "invalid_token", "error_description": "The token expired"}}}},
		{"several challenges in one header", []string{`Basic realm="files", Bearer realm="api", error="insufficient_claims"`},
			[]ch{{Scheme: "Basic", Params: p{"realm": "files"}}, {Scheme: "Bearer", Params: p{"realm": "api", "error": "insufficient_claims"}}}},
		{"bare schemes in a list", []string{`Negotiate, NTLM, Bearer realm="api"`},
			[]ch{{Scheme: "Negotiate", Params: p{}}, {Scheme: "NTLM", Params: p{}}, {Scheme: "Bearer", Params: p{"realm": "api"}}}},
		{"several headers", []string{`Basic realm="a"`, `Bearer error="invalid_token"`},
			[]ch{{Scheme: "Basic", Params: p{"realm": "a"}}, {Scheme: "Bearer", Params: p{"error": "invalid_token"}}}},
		{"escaped quotes and commas", []string{`Bearer realm="a \"quoted\", value, with commas", error="x"`},
			[]ch{{Scheme: "Bearer", Params: p{"realm": `a "quoted", value, with commas`, "error": "x"}}}},
		{"escaped backslash", []string{`Bearer realm="back\\slash"`}, []ch{{Scheme: "Bearer", Params: p{"realm": `back\slash`}}}},
		{"empty quoted string", []string{`Bearer realm=""`}, []ch{{Scheme: "Bearer", Params: p{"realm": ""}}}},
		{"token values", []string{`Bearer error=invalid_token, scope=read`}, []ch{{Scheme: "Bearer", Params: p{"error": "invalid_token", "scope": "read"}}}},
		{"names are case-insensitive", []string{`Bearer Realm="x", ERROR="y"`}, []ch{{Scheme: "Bearer", Params: p{"realm": "x", "error": "y"}}}},
		{"whitespace around =", []string{"Bearer  realm = \"x\" ,\terror=\"y\""}, []ch{{Scheme: "Bearer", Params: p{"realm": "x", "error": "y"}}}},
		{"leading and trailing commas", []string{`, Bearer realm="x",`}, []ch{{Scheme: "Bearer", Params: p{"realm": "x"}}}},
		{"base64 in a quoted value", []string{`Bearer claims="eyJhIjoxfQ=="`}, []ch{{Scheme: "Bearer", Params: p{"claims": "eyJhIjoxfQ=="}}}},
		// RFC 9110 §11.6.1: challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ].
		{"token68 with padding", []string{`Negotiate YIIB9gYJKoZIhvcSAQICAQBuggHl==, Bearer realm="api"`},
			[]ch{{Scheme: "Negotiate", Token68: "YIIB9gYJKoZIhvcSAQICAQBuggHl==", Params: p{}}, {Scheme: "Bearer", Params: p{"realm": "api"}}}},
		{"token68 without padding", []string{`Negotiate oYG3MIG0oAMKAQ, Bearer realm="api"`},
			[]ch{{Scheme: "Negotiate", Token68: "oYG3MIG0oAMKAQ", Params: p{}}, {Scheme: "Bearer", Params: p{"realm": "api"}}}},
		// RFC 9110 §5.6.1.2: empty list elements must be accepted.
		{"empty list element between parameters", []string{`Bearer realm="api", , error="invalid_token"`},
			[]ch{{Scheme: "Bearer", Params: p{"realm": "api", "error": "invalid_token"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := entra.ParseWWWAuthenticate(wwwAuthenticate(tc.values...))
			if err != nil {
				t.Fatalf("ParseWWWAuthenticate(%q): %v", tc.values, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseWWWAuthenticate(%q) =\n %+v\nwant\n %+v", tc.values, got, tc.want)
			}
		})
	}

	for _, bad := range []string{
		`Bearer realm="unterminated`,
		`Bearer realm="ends in a backslash\`,
		`Bearer realm="x" "junk"`,
		`Bearer realm=@`,
		`=`,
		`="x"`,
		`"Bearer"`,
		`Bearer realm="x"; error="y"`,
		`Bearer realm="` + strings.Repeat("a", 17<<10) + `"`,
	} {
		got, err := entra.ParseWWWAuthenticate(wwwAuthenticate(bad))
		if err == nil {
			t.Errorf("ParseWWWAuthenticate(%.60q) = %+v, want an error", bad, got)
		}
	}
}

func TestClaimsChallenge(t *testing.T) {
	if want := base64.StdEncoding.EncodeToString([]byte(caeClaims)); !strings.Contains(caeHeader, `claims="`+want+`"`) {
		t.Fatalf("caeHeader does not carry %s", want)
	}
	claims, ok, err := entra.ClaimsChallenge(wwwAuthenticate(caeHeader))
	if err != nil || !ok || claims != caeClaims {
		t.Fatalf("ClaimsChallenge(CAE) = %q, %v, %v; want %s", claims, ok, err, caeClaims)
	}

	for _, tc := range []struct {
		name   string
		values []string
		want   string // "" with ok false
		err    bool
	}{
		{name: "no header"},
		{name: "no claims challenge", values: []string{`Bearer realm="api", error="invalid_token"`}},
		{name: "another scheme", values: []string{`Basic realm="x", error="insufficient_claims", claims="e30="`}},
		{name: "lower-case scheme", values: []string{strings.Replace(caeHeader, "Bearer", "bearer", 1)}, want: caeClaims},
		{name: "after another challenge", values: []string{`Basic realm="x"`, caeHeader}, want: caeClaims},
		{name: "after a token68 challenge", values: []string{`Negotiate YIIB9gYJKoZIhvcSAQICAQBuggHl==, ` + caeHeader}, want: caeClaims},
		{name: "base64url without padding", values: []string{`Bearer error="insufficient_claims", claims="` + base64.RawURLEncoding.EncodeToString([]byte(caeClaims)) + `"`}, want: caeClaims},
		{name: "bad base64", values: []string{`Bearer error="insufficient_claims", claims="!!not base64!!"`}, err: true},
		{name: "claims missing", values: []string{`Bearer error="insufficient_claims"`}, err: true},
		{name: "not JSON", values: []string{`Bearer error="insufficient_claims", claims="` + base64.StdEncoding.EncodeToString([]byte("hello")) + `"`}, err: true},
		{name: "JSON but not an object", values: []string{`Bearer error="insufficient_claims", claims="` + base64.StdEncoding.EncodeToString([]byte(`["a"]`)) + `"`}, err: true},
		{name: "only padding", values: []string{`Bearer error="insufficient_claims", claims="===="`}, err: true},
		{name: "malformed header", values: []string{`Bearer error="insufficient_claims", claims="e30=`}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := entra.ClaimsChallenge(wwwAuthenticate(tc.values...))
			switch {
			case tc.err:
				if err == nil || ok {
					t.Errorf("= %q, %v, %v; want an error", got, ok, err)
				}
			case err != nil:
				t.Errorf("error %v", err)
			case ok != (tc.want != "") || got != tc.want:
				t.Errorf("= %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func sameJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestMergeClaims(t *testing.T) {
	got, err := entra.MergeClaims(caeClaims, []string{"cp1"})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, got, `{"access_token":{"nbf":{"essential":true,"value":"1700000000"},"xms_cc":{"values":["cp1"]}}}`)

	got, err = entra.MergeClaims("", []string{"cp1"})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, got, `{"access_token":{"xms_cc":{"values":["cp1"]}}}`)

	got, err = entra.MergeClaims(`{"id_token":{"auth_time":{"essential":true}}}`, []string{"cp1"})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, got, `{"id_token":{"auth_time":{"essential":true}},"access_token":{"xms_cc":{"values":["cp1"]}}}`)

	got, err = entra.MergeClaims(caeClaims, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, got, caeClaims)

	if got, err := entra.MergeClaims("", nil); got != "" || err != nil {
		t.Errorf("MergeClaims(\"\", nil) = %q, %v", got, err)
	}
	for _, bad := range []string{"not json", `["a"]`, `{"access_token":5}`} {
		if got, err := entra.MergeClaims(bad, []string{"cp1"}); err == nil {
			t.Errorf("MergeClaims(%q) = %q, want an error", bad, got)
		}
	}
}

func FuzzWWWAuthenticate(f *testing.F) {
	for _, seed := range []string{
		caeHeader,
		`Bearer realm="api", error="invalid_token", error_description="expired"`,
		`Basic realm="x", Bearer realm="y"`,
		`Bearer realm="a \"b\", c"`,
		`Negotiate YIIB9gYJKoZIhvcSAQICAQBuggHl==, Bearer`,
		`Bearer realm="unterminated`,
		`Bearer realm="x\`,
		`Bearer error="insufficient_claims", claims="===="`,
		`Bearer error="insufficient_claims", claims="e30"`,
		`, ,`, `=`, ``, `"`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		h := wwwAuthenticate(v)
		cs, err := entra.ParseWWWAuthenticate(h)
		if err == nil {
			for _, c := range cs {
				if c.Scheme == "" || c.Params == nil {
					t.Fatalf("%q: challenge %+v", v, c)
				}
				for k := range c.Params {
					if k == "" || k != strings.ToLower(k) {
						t.Fatalf("%q: parameter name %q", v, k)
					}
				}
			}
		}
		claims, ok, err := entra.ClaimsChallenge(h)
		if ok && (err != nil || !json.Valid([]byte(claims)) || claims[0] != '{') {
			t.Fatalf("%q: claims %q ok with %v", v, claims, err)
		}
		if !ok && claims != "" {
			t.Fatalf("%q: claims %q without ok", v, claims)
		}
		if merged, err := entra.MergeClaims(claims, []string{"cp1"}); ok && (err != nil || !json.Valid([]byte(merged))) {
			t.Fatalf("%q: MergeClaims: %q, %v", v, merged, err)
		}
	})
}

// FuzzCallbackQuery feeds arbitrary callback queries to what reads them
// without a network: the authorize error parser and the return path check.
func FuzzCallbackQuery(f *testing.F) {
	for _, seed := range []string{
		"code=abc&state=xyz&session_state=1",
		"error=access_denied&error_subcode=cancel&error_description=AADSTS65004%3A+User+declined.%0D%0ATrace+ID%3A+0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e%0D%0ACorrelation+ID%3A+9f8e7d6c-5b4a-4392-8180-7f6e5d4c3b2a",
		"error=login_required&error_description=AADSTS50058",
		"error=interaction_required&claims=%7B%7D",
		"error=&error_description=AADSTS999999999999999999999",
		"state=%ZZ&code=%",
		"//evil", "/\\evil", "/%09/evil", "%0a", "/%0a/evil", "/%2f%2fevil", "/ok/path?x=1", "/", "",
		"/\tevil", "javascript:alert(1)", "https://evil.example",
	} {
		f.Add(seed)
	}
	check := func(t *testing.T, in string) {
		out := entra.SafeReturnPath(in)
		if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.HasPrefix(out, "/\\") {
			t.Fatalf("SafeReturnPath(%q) = %q", in, out)
		}
		if out != "/" && out != in {
			t.Fatalf("SafeReturnPath(%q) = %q: neither the input nor /", in, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] == 0x7f || out[i] == '\\' {
				t.Fatalf("SafeReturnPath(%q) = %q keeps byte %#x", in, out, out[i])
			}
		}
		if u, err := url.Parse(out); err != nil || u.Scheme != "" || u.Host != "" {
			t.Fatalf("SafeReturnPath(%q) = %q leaves the site (%v)", in, out, err)
		}
		if again := entra.SafeReturnPath(out); again != out {
			t.Fatalf("SafeReturnPath not idempotent: %q -> %q -> %q", in, out, again)
		}
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		err := entra.AuthorizeError(q)
		if err == nil {
			t.Fatalf("%q: AuthorizeError returned nil", raw)
		}
		_ = err.Error()
		var ae *entra.AADSTSError
		if isAADSTS := errors.As(err, &ae); isAADSTS != (q.Get("error") != "") {
			t.Fatalf("%q: AADSTSError %v with error=%q", raw, isAADSTS, q.Get("error"))
		} else if isAADSTS && (ae.Err != q.Get("error") || ae.Code < 0) {
			t.Fatalf("%q: parsed %+v", raw, ae)
		}
		check(t, raw)
		for _, vs := range q {
			for _, v := range vs {
				check(t, v)
			}
		}
	})
}
