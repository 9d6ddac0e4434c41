package entra_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
)

// caeClaims is the claims request of a CAE challenge (nbf essential).
const caeClaims = `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`

// signInFlow begins a sign-in with o and lets browser answer the dev
// tenant's pages; it returns the transaction and the authorization response
// meant for the app.
func signInFlow(t *testing.T, si *entra.SignIn, browser *devtenant.Browser, o entra.BeginOptions) (*entra.Transaction, *devtenant.AuthResponse) {
	t.Helper()
	ctx := context.Background()
	authURL, txn, err := si.Begin(ctx, o)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	resp, err := browser.Authorize(ctx, authURL)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	return txn, resp
}

// cloneValues copies a callback so a test can tamper with it.
func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// decodedBits returns the entropy of a base64url random value, in bits.
func decodedBits(t *testing.T, name, v string) int {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		t.Fatalf("%s %q is not base64url: %v", name, v, err)
	}
	return 8 * len(b)
}

func wantAADSTS(t *testing.T, err error, code int) *entra.AADSTSError {
	t.Helper()
	var ae *entra.AADSTSError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *entra.AADSTSError", err, err)
	}
	if ae.Code != code {
		t.Fatalf("AADSTS code = %d, want %d (%v)", ae.Code, code, err)
	}
	return ae
}

func TestSignInFlows(t *testing.T) {
	tt := startTenant(t)
	ctx := context.Background()
	si := tt.signIn(t)
	adele := tt.persona(t, "AdeleV")
	// One signed-in browser serves every flow that needs no fresh session:
	// after its first sign-in the dev tenant answers by single sign-on.
	browser := tt.srv.NewBrowser(adele.Username, adele.Password)
	basic := entra.BeginOptions{Scopes: []string{"User.Read"}}

	t.Run("begin", func(t *testing.T) {
		o := entra.BeginOptions{
			Scopes:     []string{"User.Read"},
			ReturnTo:   "/reports?id=7",
			Prompt:     "login",
			LoginHint:  adele.Username,
			DomainHint: tt.srv.Domain(),
			Claims:     caeClaims,
			FormPost:   true,
		}
		before := time.Now()
		authURL, txn, err := si.Begin(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(authURL)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := u.Scheme+"://"+u.Host+u.Path, tt.srv.Authority()+"/oauth2/v2.0/authorize"; got != want {
			t.Errorf("authorize endpoint = %s, want %s", got, want)
		}
		q := u.Query()
		for k, want := range map[string]string{
			"client_id":             webAppID,
			"redirect_uri":          webRedirect,
			"response_type":         "code",
			"state":                 txn.State,
			"nonce":                 txn.Nonce,
			"code_challenge_method": "S256",
			"prompt":                "login",
			"login_hint":            adele.Username,
			"domain_hint":           tt.srv.Domain(),
			"response_mode":         "form_post",
		} {
			if len(q[k]) != 1 || q.Get(k) != want {
				t.Errorf("%s = %q, want exactly %q", k, q[k], want)
			}
		}
		if bits := decodedBits(t, "state", txn.State); bits < 128 {
			t.Errorf("state has %d bits, want >= 128", bits)
		}
		if bits := decodedBits(t, "nonce", txn.Nonce); bits < 128 {
			t.Errorf("nonce has %d bits, want >= 128", bits)
		}
		if txn.State == txn.Nonce {
			t.Error("state and nonce are the same value")
		}
		ch := q.Get("code_challenge")
		sum := sha256.Sum256([]byte(txn.CodeVerifier))
		if len(ch) != 43 || ch != base64.RawURLEncoding.EncodeToString(sum[:]) {
			t.Errorf("code_challenge %q (%d chars) is not the 43-char S256 of the verifier", ch, len(ch))
		}
		if n := len(txn.CodeVerifier); n < 43 || n > 128 {
			t.Errorf("code verifier of %d chars", n)
		}
		if strings.Contains(authURL, txn.CodeVerifier) {
			t.Error("the code verifier is in the authorize URL")
		}
		var gotClaims, wantClaims any
		if err := json.Unmarshal([]byte(q.Get("claims")), &gotClaims); err != nil {
			t.Errorf("claims %q: %v", q.Get("claims"), err)
		}
		_ = json.Unmarshal([]byte(caeClaims), &wantClaims)
		if !reflect.DeepEqual(gotClaims, wantClaims) {
			t.Errorf("claims = %s, want %s", q.Get("claims"), caeClaims)
		}
		if !slices.Contains(strings.Fields(q.Get("scope")), "User.Read") {
			t.Errorf("scope %q lacks User.Read", q.Get("scope"))
		}
		if txn.ReturnTo != "/reports?id=7" || txn.RedirectURI != webRedirect || txn.Issuer != tt.srv.Issuer() || txn.Claims != caeClaims {
			t.Errorf("transaction = %+v", txn)
		}
		if lo, hi := before.Add(10*time.Minute), time.Now().Add(10*time.Minute); txn.Expires.Before(lo) || txn.Expires.After(hi) {
			t.Errorf("expires %v, want 10 minutes from now", txn.Expires)
		}

		// Nothing optional is sent unless asked for; every call is fresh.
		authURL2, txn2, err := si.Begin(ctx, entra.BeginOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u2, _ := url.Parse(authURL2)
		q2 := u2.Query()
		for _, k := range []string{"prompt", "login_hint", "domain_hint", "claims", "response_mode"} {
			if q2.Has(k) {
				t.Errorf("%s=%q sent without being asked for", k, q2.Get(k))
			}
		}
		if txn2.State == txn.State || txn2.Nonce == txn.Nonce || txn2.CodeVerifier == txn.CodeVerifier || q2.Get("code_challenge") == ch {
			t.Error("state, nonce or PKCE verifier reused across Begin calls")
		}
		if txn2.ReturnTo != "/" {
			t.Errorf("empty ReturnTo became %q, want /", txn2.ReturnTo)
		}

		if _, _, err := si.Begin(ctx, entra.BeginOptions{Prompt: "bogus"}); err == nil {
			t.Error("Begin accepted prompt=bogus")
		}
	})

	t.Run("begin requests the openid scopes", func(t *testing.T) {
		// The nonce and the ID token belong to an OpenID Connect request,
		// and OIDC Core §3.1.2.1 requires scope to contain openid; the doc of
		// BeginOptions.Scopes promises openid, profile and offline_access.
		authURL, _, err := si.Begin(ctx, basic)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(authURL)
		scopes := strings.Fields(u.Query().Get("scope"))
		for _, want := range []string{"openid", "profile", "offline_access", "User.Read"} {
			if !slices.Contains(scopes, want) {
				t.Errorf("authorize scope %q lacks %s", u.Query().Get("scope"), want)
			}
		}
	})

	t.Run("begin keeps only safe return paths", func(t *testing.T) {
		for in, want := range map[string]string{
			"/reports?id=7":        "/reports?id=7",
			"//evil.example/x":     "/",
			"https://evil.example": "/",
			"/\\evil.example":      "/",
			"/%0d%0aSet-Cookie:x":  "/",
		} {
			_, txn, err := si.Begin(ctx, entra.BeginOptions{ReturnTo: in})
			if err != nil {
				t.Fatal(err)
			}
			if txn.ReturnTo != want || txn.ReturnTo != entra.SafeReturnPath(in) {
				t.Errorf("ReturnTo %q stored as %q, want %q", in, txn.ReturnTo, want)
			}
		}
	})

	t.Run("end to end", func(t *testing.T) {
		txn, resp := signInFlow(t, si, browser, entra.BeginOptions{Scopes: []string{"User.Read"}, ReturnTo: "/me"})
		if resp.Mode != "query" {
			t.Errorf("response mode %q, want query", resp.Mode)
		}
		res, err := si.Complete(ctx, txn, resp.Params)
		if err != nil {
			t.Fatal(err)
		}
		if res.Identity.ObjectID != adele.OID || res.Identity.Name != "Adele Vance" || res.ReturnTo != "/me" {
			t.Errorf("result = %+v", res)
		}
	})

	// Hostile callbacks: each must be refused with the right error.
	hostile := []struct {
		name string
		run  func(t *testing.T) error
		want error // errors.Is target
		code int   // AADSTS code expected via errors.As, if not 0
	}{
		{name: "nil transaction", want: entra.ErrStateMismatch, run: func(t *testing.T) error {
			_, err := si.Complete(ctx, nil, url.Values{"state": {"x"}, "code": {"y"}})
			return err
		}},
		{name: "state missing", want: entra.ErrStateMismatch, run: func(t *testing.T) error {
			txn, resp := signInFlow(t, si, browser, basic)
			cb := cloneValues(resp.Params)
			cb.Del("state")
			return completeErr(si, txn, cb)
		}},
		{name: "state empty", want: entra.ErrStateMismatch, run: func(t *testing.T) error {
			txn, resp := signInFlow(t, si, browser, basic)
			cb := cloneValues(resp.Params)
			cb.Set("state", "")
			return completeErr(si, txn, cb)
		}},
		{name: "state mismatch", want: entra.ErrStateMismatch, run: func(t *testing.T) error {
			txn, resp := signInFlow(t, si, browser, basic)
			cb := cloneValues(resp.Params)
			cb.Set("state", txn.State[:len(txn.State)-1]+"A")
			if cb.Get("state") == txn.State {
				cb.Set("state", txn.State[:len(txn.State)-1]+"B")
			}
			return completeErr(si, txn, cb)
		}},
		{name: "state of another transaction", want: entra.ErrStateMismatch, run: func(t *testing.T) error {
			txnA, _ := signInFlow(t, si, browser, basic)
			_, respB := signInFlow(t, si, browser, basic)
			return completeErr(si, txnA, respB.Params)
		}},
		{name: "state replayed", want: entra.ErrTransactionUsed, run: func(t *testing.T) error {
			txn, resp := signInFlow(t, si, browser, basic)
			if err := completeErr(si, txn, resp.Params); err != nil {
				t.Fatalf("first Complete: %v", err)
			}
			// The caller's store hands the transaction out again (a JSON
			// copy): the replay is still refused.
			b, _ := json.Marshal(txn)
			var again entra.Transaction
			if err := json.Unmarshal(b, &again); err != nil {
				t.Fatal(err)
			}
			if err := completeErr(si, &again, resp.Params); !errors.Is(err, entra.ErrTransactionUsed) {
				t.Errorf("replay with a copy of the transaction: %v", err)
			}
			return completeErr(si, txn, resp.Params)
		}},
		{name: "transaction expired", want: entra.ErrTransactionExpired, run: func(t *testing.T) error {
			clock := time.Now()
			late := &entra.SignIn{Client: si.Client, Config: si.Config, Validator: si.Validator, Now: func() time.Time { return clock }}
			txn, resp := signInFlow(t, late, browser, basic)
			clock = clock.Add(10*time.Minute + time.Second)
			return completeErr(late, txn, resp.Params)
		}},
		{name: "callback without code", want: entra.ErrNoCode, run: func(t *testing.T) error {
			txn, resp := signInFlow(t, si, browser, basic)
			cb := cloneValues(resp.Params)
			cb.Del("code")
			return completeErr(si, txn, cb)
		}},
		{name: "code from another transaction", want: entra.ErrInvalidGrant, code: 501481, run: func(t *testing.T) error {
			_, respA := signInFlow(t, si, browser, basic)
			txnB, respB := signInFlow(t, si, browser, basic)
			cb := cloneValues(respB.Params)
			cb.Set("code", respA.Params.Get("code"))
			return completeErr(si, txnB, cb) // B's verifier does not match A's challenge
		}},
		{name: "error callback with a foreign state", want: entra.ErrStateMismatch, run: func(t *testing.T) error {
			_, txn, err := si.Begin(ctx, basic)
			if err != nil {
				t.Fatal(err)
			}
			return completeErr(si, txn, url.Values{"state": {"forged"}, "error": {"access_denied"}, "error_subcode": {"cancel"}})
		}},
		{name: "user cancelled", want: entra.ErrUserCancelled, code: 65004, run: func(t *testing.T) error {
			_, txn, err := si.Begin(ctx, basic)
			if err != nil {
				t.Fatal(err)
			}
			return completeErr(si, txn, url.Values{
				"state":             {txn.State},
				"error":             {"access_denied"},
				"error_subcode":     {"cancel"},
				"error_description": {"AADSTS65004: User declined to consent to access the app.\r\nTrace ID: 5c9a2b1e-7f3d-4e6a-9b8c-0d1e2f3a4b5c\r\nCorrelation ID: 1f2e3d4c-5b6a-4789-8a0b-c1d2e3f4a5b6\r\nTimestamp: 2025-01-01 00:00:00Z"},
			})
		}},
		{name: "login required (prompt=none, no session)", want: entra.ErrInteractionRequired, code: 50058, run: func(t *testing.T) error {
			fresh := tt.srv.NewBrowser(adele.Username, adele.Password)
			txn, resp := signInFlow(t, si, fresh, entra.BeginOptions{Scopes: []string{"User.Read"}, Prompt: "none"})
			if resp.Params.Get("error") != "login_required" {
				t.Errorf("dev tenant answered %v, want error=login_required", resp.Params)
			}
			return completeErr(si, txn, resp.Params)
		}},
		{name: "nonce mismatch", want: entra.ErrNonceMismatch, run: func(t *testing.T) error {
			txn, resp := signInFlow(t, si, browser, basic)
			forged := *txn
			forged.Nonce = "bm90LXRoZS1ub25jZS1zZW50LXdpdGgtdGhlLXJlcXVlc3Q"
			return completeErr(si, &forged, resp.Params)
		}},
		{name: "issuer of another authority (mix-up)", want: entra.ErrInvalidIssuer, run: func(t *testing.T) error {
			txn, resp := signInFlow(t, si, browser, basic)
			forged := *txn
			forged.Issuer = "https://login.microsoftonline.com/" + tt.srv.TenantID() + "/v2.0"
			return completeErr(si, &forged, resp.Params)
		}},
	}
	for _, tc := range hostile {
		t.Run("hostile/"+tc.name, func(t *testing.T) {
			err := tc.run(t)
			if err == nil {
				t.Fatalf("accepted; want %v", tc.want)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v, want errors.Is %v", err, tc.want)
			}
			if tc.code != 0 {
				wantAADSTS(t, err, tc.code)
			}
		})
	}

	t.Run("form_post", func(t *testing.T) {
		txn, resp := signInFlow(t, si, browser, entra.BeginOptions{Scopes: []string{"User.Read"}, FormPost: true, ReturnTo: "/after"})
		if resp.Mode != "form_post" || resp.RedirectURI != webRedirect {
			t.Fatalf("response %s to %s, want form_post to %s", resp.Mode, resp.RedirectURI, webRedirect)
		}
		if resp.Params.Get("code") == "" || resp.Params.Get("state") != txn.State {
			t.Fatalf("form_post params %v", resp.Params)
		}
		res, err := si.Complete(ctx, txn, resp.Params)
		if err != nil {
			t.Fatal(err)
		}
		if res.Identity.ObjectID != adele.OID || res.ReturnTo != "/after" {
			t.Errorf("result %+v", res)
		}
	})

	t.Run("claims challenge", func(t *testing.T) {
		// A claims request asks for a fresh sign-in: the signed-in browser
		// is shown the form again (it fills it in) and the flow completes.
		txn, resp := signInFlow(t, si, browser, entra.BeginOptions{Scopes: []string{"User.Read"}, Claims: caeClaims})
		res, err := si.Complete(ctx, txn, resp.Params)
		if err != nil {
			t.Fatal(err)
		}
		if res.Identity.ObjectID != adele.OID {
			t.Errorf("identity %+v", res.Identity)
		}
	})

	// Consent: Mail.Read is user-consentable and not granted to
	// the web app. Declining first, then granting it incrementally: order
	// matters, so these run in sequence.
	newScope := entra.BeginOptions{Scopes: []string{"Mail.Read"}}
	t.Run("consent declined", func(t *testing.T) {
		declining := tt.srv.NewBrowser(adele.Username, adele.Password)
		declining.Consent = "decline"
		txn, resp := signInFlow(t, si, declining, newScope)
		if resp.Params.Get("error") != "access_denied" {
			t.Fatalf("dev tenant answered %v, want error=access_denied", resp.Params)
		}
		_, err := si.Complete(ctx, txn, resp.Params)
		if !errors.Is(err, entra.ErrUserCancelled) {
			t.Fatalf("error %v, want ErrUserCancelled", err)
		}
		ae := wantAADSTS(t, err, 65004)
		if ae.Err != "access_denied" || ae.Suberror != "cancel" || !entra.IsGUID(ae.CorrelationID) || !entra.IsGUID(ae.TraceID) {
			t.Errorf("AADSTSError %+v", ae)
		}
	})

	t.Run("incremental consent", func(t *testing.T) {
		silent := newScope
		silent.Prompt = "none"
		// Make sure the browser has a session (the subtest may run alone).
		txn0, resp0 := signInFlow(t, si, browser, basic)
		if err := completeErr(si, txn0, resp0.Params); err != nil {
			t.Fatal(err)
		}
		// Not consented yet: a silent request says so.
		txn, resp := signInFlow(t, si, browser, silent)
		_, err := si.Complete(ctx, txn, resp.Params)
		if !errors.Is(err, entra.ErrConsentRequired) {
			t.Fatalf("silent request before consent: %v, want ErrConsentRequired", err)
		}
		wantAADSTS(t, err, 65001)

		// The signed-in user accepts the consent page.
		txn, resp = signInFlow(t, si, browser, newScope)
		res, err := si.Complete(ctx, txn, resp.Params)
		if err != nil {
			t.Fatalf("after consent: %v", err)
		}
		if res.Identity.ObjectID != adele.OID {
			t.Errorf("identity %+v", res.Identity)
		}
		// Granted now: the silent request succeeds.
		txn, resp = signInFlow(t, si, browser, silent)
		if _, err := si.Complete(ctx, txn, resp.Params); err != nil {
			t.Errorf("silent request after consent: %v", err)
		}
	})

	t.Run("groups overage", func(t *testing.T) {
		groups := make([]string, 201)
		for i := range groups {
			groups[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		}
		const upn = "many.groups@" + devtenant.DefaultDomain
		u, err := tt.srv.AddUser(devtenant.User{UserPrincipalName: upn, DisplayName: "Many Groups", AccountEnabled: true, Groups: groups}, "Pa55-word-for-tests")
		if err != nil {
			t.Fatal(err)
		}
		txn, resp := signInFlow(t, si, tt.srv.NewBrowser(upn, "Pa55-word-for-tests"), basic)
		res, err := si.Complete(ctx, txn, resp.Params)
		if err != nil {
			t.Fatal(err)
		}
		if res.Identity.ObjectID != u.ID || !res.Identity.GroupsOverage || len(res.Identity.Groups) != 0 {
			t.Errorf("identity: oid %s overage %v groups %d", res.Identity.ObjectID, res.Identity.GroupsOverage, len(res.Identity.Groups))
		}
	})
}

func completeErr(si *entra.SignIn, txn *entra.Transaction, cb url.Values) error {
	_, err := si.Complete(context.Background(), txn, cb)
	return err
}

func TestSafeReturnPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"//evil", "/"},
		{"/\\evil", "/"},
		{"/%09/evil", "/"},
		{"%0a", "/"},
		{"/%0a/evil", "/"},
		{"/%0A/evil", "/"},
		{"/%0d", "/"},
		{"/%0b", "/"},
		{"/%00", "/"},
		{"javascript:alert(1)", "/"},
		{"JaVaScRiPt:alert(1)", "/"},
		{"https://evil.example", "/"},
		{"https:/evil.example", "/"},
		{"/ok/path?x=1", "/ok/path?x=1"},
		{"/", "/"},
		{"", "/"},
		{"/%2f%2fevil", "/"},
		{"/%2F%2Fevil", "/"},
		{"/%5cevil", "/"},
		{"/%5Cevil", "/"},
		{"\\\\evil", "/"},
		{"/\tevil", "/"},
		{"/\nevil", "/"},
		{"/\r\nSet-Cookie: a=b", "/"},
		{"/\x7fevil", "/"},
		{"///evil", "/"},
		{"/ok\\..\\evil", "/"},
		{"evil.example", "/"},
		{" /ok", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
		{"/.evil.example", "/.evil.example"}, // a look-alike is still a local path
		{"/a/b/#frag", "/a/b/#frag"},
		{"/a//b", "/a//b"},
	} {
		if got := entra.SafeReturnPath(tc.in); got != tc.want {
			t.Errorf("SafeReturnPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
