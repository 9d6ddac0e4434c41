package devtenant_test

// Issue 15: where real clients and production differ from what an emulator
// might find convenient, the dev tenant behaves as Entra does. Each test
// names the row of docs/devtenant.md ("Fidelity") it proves.

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/entrakit/entrakit/entra/devtenant"
)

// TestTokenRequestWithoutScope: x/oauth2's Exchange and Refresh send no
// scope (nor do oauth2-proxy or go-oidc's examples); Entra answers with the
// scopes granted at authorize: an ID token for openid, a refresh token for
// offline_access.
func TestTokenRequestWithoutScope(t *testing.T) {
	srv := startTenant(t)
	ctx := oidc.ClientContext(t.Context(), srv.Client())
	provider, err := oidc.NewProvider(ctx, srv.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		scopes      []string
		wantID      bool
		wantRefresh bool
	}{
		{"openid offline_access profile User.Read", []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess, "profile", "User.Read"}, true, true},
		{"openid only", []string{oidc.ScopeOpenID}, true, false},
		{"User.Read offline_access, no openid", []string{"User.Read", oidc.ScopeOfflineAccess}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := &oauth2.Config{
				ClientID: webAppID, ClientSecret: srv.ClientSecret(webAppID),
				Endpoint: provider.Endpoint(), RedirectURL: webRedirect, Scopes: tc.scopes,
			}
			verifier := oauth2.GenerateVerifier()
			authURL := conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n0nce"))
			adele := persona(t, srv, "AdeleV")
			resp, err := srv.NewBrowser(adele.Username, adele.Password).Authorize(ctx, authURL)
			if err != nil || resp.Params.Get("code") == "" {
				t.Fatalf("authorize: %v %+v", err, resp)
			}
			tok, err := conf.Exchange(ctx, resp.Params.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("Exchange without scope: %v", err)
			}
			rawID, _ := tok.Extra("id_token").(string)
			if (rawID != "") != tc.wantID || (tok.RefreshToken != "") != tc.wantRefresh {
				t.Fatalf("id_token %v refresh_token %v, want %v %v", rawID != "", tok.RefreshToken != "", tc.wantID, tc.wantRefresh)
			}
			if rawID != "" {
				idt, err := provider.Verifier(&oidc.Config{ClientID: webAppID}).Verify(ctx, rawID)
				if err != nil || idt.Nonce != "n0nce" {
					t.Fatalf("ID token: %v, nonce %q", err, idt.Nonce)
				}
			}
			if aud := claimsOf(t, tok.AccessToken)["aud"]; aud != "https://graph.microsoft.com" {
				t.Errorf("access token aud = %v, want Graph (the authorize request's resource)", aud)
			}
			if !tc.wantRefresh {
				return
			}
			// Refresh without scope: x/oauth2's TokenSource sends none.
			expired := &oauth2.Token{RefreshToken: tok.RefreshToken}
			next, err := conf.TokenSource(ctx, expired).Token()
			if err != nil {
				t.Fatalf("refresh without scope: %v", err)
			}
			if next.AccessToken == "" || next.RefreshToken == "" || (next.Extra("id_token") != nil) != tc.wantID {
				t.Errorf("refresh answer: access %v refresh %v id_token %v", next.AccessToken != "", next.RefreshToken != "", next.Extra("id_token") != nil)
			}
			if scp := claimsOf(t, next.AccessToken)["scp"]; !strings.Contains(scp.(string), "User.Read") {
				t.Errorf("refreshed scp = %v", scp)
			}
		})
	}
}

// TestOptionalClaimsRequestIsNotAChallenge: msal-common 16 (msal-node 7,
// msal-browser 5) asks on every token request for optional ID-token claims
// with essential false. That is no challenge; an essential access-token nbf,
// acrs or capolids is.
func TestOptionalClaimsRequestIsNotAChallenge(t *testing.T) {
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	const msalCommon = `{"id_token":{"signin_state":{"essential":false},"login_hint":{"essential":false},"xms_cc":{"essential":false}},"access_token":{"xms_cc":{"values":["CP1"]}}}`
	for _, tc := range []struct {
		name, claims string
		challenge    bool
	}{
		{"msal-common optional id_token claims", msalCommon, false},
		{"optional claim with null spec", `{"id_token":{"auth_time":null}}`, false},
		{"essential id_token claim is still only a request", `{"id_token":{"email":{"essential":true}}}`, false},
		{"access_token nbf not essential", `{"access_token":{"nbf":{"essential":false,"value":"1"}}}`, false},
		{"CAE nbf essential", `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`, true},
		{"authentication context acrs", `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`, true},
		{"Conditional Access capolids", `{"access_token":{"capolids":{"essential":true,"values":["p1"]}}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, verifier := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
			f := w.redeemForm(code, verifier)
			f.Set("claims", tc.claims)
			r := w.token(t, f, nil)
			if r.Status != http.StatusOK {
				t.Fatalf("redeem with claims: %d %s", r.Status, r.Raw)
			}
			f = w.refreshForm(r.s("refresh_token"))
			f.Set("claims", tc.claims)
			r = w.token(t, f, nil)
			if tc.challenge {
				checkEntraError(t, r, 400, "interaction_required", 50076, "basic_action", "")
				return
			}
			if r.Status != http.StatusOK || r.s("access_token") == "" {
				t.Fatalf("refresh with optional claims: %d %s", r.Status, r.Raw)
			}
		})
	}
	t.Run("authorize: optional claims keep the SSO session", func(t *testing.T) {
		adele := persona(t, srv, "AdeleV")
		b := srv.NewBrowser(adele.Username, adele.Password)
		v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
		if _, err := b.Authorize(t.Context(), w.authorizeURL(v)); err != nil {
			t.Fatal(err)
		}
		v.Set("claims", msalCommon)
		v.Set("prompt", "none")
		resp, err := b.Authorize(t.Context(), w.authorizeURL(v))
		if err != nil || resp.Params.Get("code") == "" {
			t.Fatalf("prompt=none with optional claims: %v %+v", err, resp)
		}
		v.Set("claims", `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`)
		resp, err = b.Authorize(t.Context(), w.authorizeURL(v))
		if err != nil || resp.Params.Get("error") != "interaction_required" {
			t.Fatalf("prompt=none with a step-up: %v %+v", err, resp)
		}
	})
}

// TestCodeReplayKeepsFirstTokens: AADSTS54005 for the replay; what the first
// redemption produced stays valid (Entra: "retry with a new valid code or
// use an existing refresh token").
func TestCodeReplayKeepsFirstTokens(t *testing.T) {
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	code, verifier := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
	first := w.token(t, w.redeemForm(code, verifier), nil)
	if first.Status != http.StatusOK {
		t.Fatalf("first redemption: %d %s", first.Status, first.Raw)
	}
	refreshed := w.token(t, w.refreshForm(first.s("refresh_token")), nil)
	if refreshed.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", refreshed.Status, refreshed.Raw)
	}
	checkEntraError(t, w.token(t, w.redeemForm(code, verifier), nil), 400, "invalid_grant", 54005, "", "")
	for name, rt := range map[string]string{"first": first.s("refresh_token"), "refreshed": refreshed.s("refresh_token")} {
		if r := w.token(t, w.refreshForm(rt), nil); r.Status != http.StatusOK {
			t.Errorf("the %s refresh token stopped working after a replay: %d %s", name, r.Status, r.Raw)
		}
	}
}

// TestLogoutRedirectMustBeARedirectURI: post_logout_redirect_uri must be one
// of the app's registered redirect URIs; anything else (the front-channel
// logoutUrl included) leaves the user on the tenant's signed-out page.
func TestLogoutRedirectMustBeARedirectURI(t *testing.T) {
	srv := startTenant(t, func(o *devtenant.Options) {
		o.Manifest = withWebApp(t, o.Manifest, func(a map[string]any) {
			a["web"].(map[string]any)["logoutUrl"] = "https://app.example/frontchannel-logout"
		})
	})
	hc := srv.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tc := range []struct {
		name, target string
		redirected   bool
	}{
		{"a registered web redirect URI", "http://localhost:8080/signedout", true},
		{"the sign-in redirect URI", webRedirect, true},
		{"registered, another loopback port", "http://localhost:9999/signedout", true},
		{"the front-channel logoutUrl", "https://app.example/frontchannel-logout", false},
		{"unregistered", "https://evil.example/signedout", false},
		{"registered but different case", "http://localhost:8080/SignedOut", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"post_logout_redirect_uri": {tc.target}, "client_id": {webAppID}, "state": {"s1"}}
			resp, body := send(t, hc, mustRequest(t, http.MethodGet, srv.Authority()+"/oauth2/v2.0/logout?"+q.Encode()))
			if tc.redirected {
				if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != tc.target+"?state=s1" {
					t.Fatalf("status %d Location %q, want a redirect to %s", resp.StatusCode, resp.Header.Get("Location"), tc.target)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "signed out") {
				t.Fatalf("status %d Location %q: want the tenant's own signed-out page", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// TestClientAssertionReuse: Entra accepts a client assertion again within
// its lifetime (msal-node reuses one for up to 10 minutes); expiry,
// audience and signature are still checked.
func TestClientAssertionReuse(t *testing.T) {
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	reg, _ := certs(t)
	if err := srv.AddClientCertificate(daemonAppID, reg.cert); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	assertion := signAssertion(t, reg, map[string]any{
		"aud": w.tokenURL(), "iss": daemonAppID, "sub": daemonAppID, "jti": "jti-reused-1",
		"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {daemonAppID}, "scope": {"https://graph.microsoft.com/.default"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
	}
	for i := range 3 {
		if r := w.token(t, form, nil); r.Status != http.StatusOK {
			t.Fatalf("use %d of the same assertion: %d %s", i+1, r.Status, r.Raw)
		}
	}
	srv.AdvanceClock(16 * time.Minute) // past exp and the 5-minute skew
	checkEntraError(t, w.token(t, form, nil), 401, "invalid_client", 700024, "", "")
}

// TestConsentUpFront: an authorize request may name several resources; the
// user consents to all at once, the code's token is for the first, and the
// others need no further consent. The token endpoint keeps one resource.
func TestConsentUpFront(t *testing.T) {
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	apiScope := "api://" + webAppID + "/access_as_user"
	scope := "openid offline_access User.ReadBasic.All " + apiScope
	megan := persona(t, srv, "MeganB")
	v, verifier := wireAuthParams(webAppID, webRedirect, scope)
	b := srv.NewBrowser(megan.Username, megan.Password)
	resp, err := b.Authorize(t.Context(), w.authorizeURL(v))
	if err != nil || resp.Params.Get("code") == "" {
		t.Fatalf("authorize with two resources: %v %+v", err, resp)
	}
	f := w.redeemForm(resp.Params.Get("code"), verifier)
	f.Del("scope")
	r := w.token(t, f, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("redeem: %d %s", r.Status, r.Raw)
	}
	if c := claimsOf(t, r.s("access_token")); c["aud"] != "https://graph.microsoft.com" || !strings.Contains(c["scp"].(string), "User.ReadBasic.All") {
		t.Errorf("the code's token: aud %v scp %v, want Graph with User.ReadBasic.All", c["aud"], c["scp"])
	}
	f = w.refreshForm(r.s("refresh_token"))
	f.Set("scope", apiScope+" offline_access")
	api := w.token(t, f, nil)
	if api.Status != http.StatusOK || claimsOf(t, api.s("access_token"))["aud"] != webAppID {
		t.Fatalf("the second resource, consented up front: %d %s", api.Status, api.Raw)
	}
	f.Set("scope", "User.ReadBasic.All "+apiScope)
	checkEntraError(t, w.token(t, f, nil), 400, "invalid_scope", 28000, "", "")
}

// signAssertion signs claims as a client assertion with c (PS256 and
// x5t#S256, as MSAL does).
func signAssertion(t testing.TB, c clientCert, claims map[string]any) string {
	t.Helper()
	sum := sha256.Sum256(c.cert.Raw)
	h, _ := json.Marshal(map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:])})
	b, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(b)
	d := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPSS(rand.Reader, c.key, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// withWebApp returns manifest with the web app's entry changed by edit.
func withWebApp(t testing.TB, manifest []byte, edit func(app map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	for _, a := range m["applications"].([]any) {
		if app := a.(map[string]any); strings.EqualFold(app["appId"].(string), webAppID) {
			edit(app)
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustRequest(t testing.TB, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(context.WithoutCancel(t.Context()), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestAccessTokenClaimsOwnedByTheResource: the API's registration decides
// what its access tokens carry: idtyp only as an optional claim (user tokens
// with include_user_token), its optional claims, groups per its
// groupMembershipClaims. Graph's tokens always carry idtyp.
func TestAccessTokenClaimsOwnedByTheResource(t *testing.T) {
	apiScope := "api://" + webAppID + "/access_as_user"
	for _, tc := range []struct {
		name        string
		accessToken []any
		appIDTyp    any // idtyp in an app-only token for the API
		userIDTyp   any // idtyp in a delegated token for the API
		email       any
		acct        any
	}{
		{"no optional claims", []any{}, nil, nil, nil, nil},
		{"idtyp", []any{map[string]any{"name": "idtyp"}}, "app", nil, nil, nil},
		{"idtyp with include_user_token", []any{map[string]any{"name": "idtyp", "additionalProperties": []any{"include_user_token"}}}, "app", "user", nil, nil},
		{"email and acct", []any{map[string]any{"name": "email"}, map[string]any{"name": "acct"}}, nil, nil, "AdeleV@contoso.onmicrosoft.com", float64(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startTenant(t, func(o *devtenant.Options) {
				o.Manifest = withWebApp(t, o.Manifest, func(a map[string]any) {
					a["optionalClaims"].(map[string]any)["accessToken"] = tc.accessToken
				})
			})
			w := wire{srv: srv, hc: srv.Client()}
			app := w.token(t, w.daemonForm(srv.ClientSecret(daemonAppID), "api://"+webAppID+"/.default"), nil)
			if app.Status != http.StatusOK {
				t.Fatalf("app-only token for the API: %d %s", app.Status, app.Raw)
			}
			if got := claimsOf(t, app.s("access_token"))["idtyp"]; got != tc.appIDTyp {
				t.Errorf("app-only idtyp = %v, want %v", got, tc.appIDTyp)
			}
			adele := persona(t, srv, "AdeleV")
			if err := srv.GrantConsent(webAppID, webAppID, adele.OID, "access_as_user"); err != nil {
				t.Fatal(err)
			}
			f := w.refreshForm(w.refreshToken(t, "AdeleV"))
			f.Set("scope", apiScope+" openid profile offline_access")
			user := w.token(t, f, nil)
			if user.Status != http.StatusOK {
				t.Fatalf("delegated token for the API: %d %s", user.Status, user.Raw)
			}
			c := claimsOf(t, user.s("access_token"))
			if c["idtyp"] != tc.userIDTyp || c["email"] != tc.email || c["acct"] != tc.acct {
				t.Errorf("delegated: idtyp %v email %v acct %v, want %v %v %v", c["idtyp"], c["email"], c["acct"], tc.userIDTyp, tc.email, tc.acct)
			}
			// The web app's groupMembershipClaims is SecurityGroup: its API's
			// tokens carry the user's groups; Graph's never do.
			if groups, _ := c["groups"].([]any); len(groups) != 2 { // Retail, All Company
				t.Errorf("API token groups = %v, want Adele's two", c["groups"])
			}
			// The scope echoed for a custom API leaves the OIDC scopes out.
			if got := user.s("scope"); got != apiScope {
				t.Errorf("scope = %q, want %q", got, apiScope)
			}
			g := w.token(t, w.refreshForm(user.s("refresh_token")), nil)
			gc := claimsOf(t, g.s("access_token"))
			if gc["idtyp"] != "user" || gc["groups"] != nil {
				t.Errorf("Graph token: idtyp %v groups %v", gc["idtyp"], gc["groups"])
			}
			if got := g.s("scope"); got != "openid profile User.Read" {
				t.Errorf("Graph scope = %q, want the OIDC scopes echoed too", got)
			}
		})
	}
}

// TestRefreshedIDToken: an ID token from a refresh is the same user for the
// same app (iss, sub, aud, oid, tid, sid) and carries no nonce.
func TestRefreshedIDToken(t *testing.T) {
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	code, verifier := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
	first := w.token(t, w.redeemForm(code, verifier), nil)
	again := w.token(t, w.refreshForm(first.s("refresh_token")), nil)
	a, b := claimsOf(t, first.s("id_token")), claimsOf(t, again.s("id_token"))
	if a["nonce"] != "n0nce" || b["nonce"] != nil {
		t.Errorf("nonce: at sign-in %v, refreshed %v; want n0nce and none", a["nonce"], b["nonce"])
	}
	for _, k := range []string{"iss", "sub", "aud", "oid", "tid", "sid", "preferred_username"} {
		if a[k] != b[k] {
			t.Errorf("%s: %v at sign-in, %v refreshed", k, a[k], b[k])
		}
	}
}

// TestDiscoveryAdvertisesOnlyWhatIsServed: every endpoint the document names
// answers (not 404 or 405), every response type it lists is accepted, and
// it names no endpoint the dev tenant does not serve.
func TestDiscoveryAdvertisesOnlyWhatIsServed(t *testing.T) {
	srv := startTenant(t)
	hc := srv.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, seg := range []string{srv.TenantID(), "organizations", srv.GuestHome().TenantID()} {
		t.Run(seg, func(t *testing.T) {
			_, raw := send(t, hc, mustRequest(t, http.MethodGet, srv.URL()+"/"+seg+"/v2.0/.well-known/openid-configuration"))
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"kerberos_endpoint", "rbac_url", "cloud_graph_host_name"} {
				if doc[k] != nil {
					t.Errorf("%s = %v: not served", k, doc[k])
				}
			}
			for k, method := range map[string]string{"authorization_endpoint": http.MethodGet, "token_endpoint": http.MethodPost,
				"jwks_uri": http.MethodGet, "end_session_endpoint": http.MethodGet, "userinfo_endpoint": http.MethodGet,
				"device_authorization_endpoint": http.MethodPost} {
				u, _ := doc[k].(string)
				resp, _ := send(t, hc, mustRequest(t, method, u))
				if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
					t.Errorf("%s %s (%s): %d", method, u, k, resp.StatusCode)
				}
			}
			types, _ := doc["response_types_supported"].([]any)
			if len(types) != 1 || types[0] != "code" {
				t.Errorf("response_types_supported = %v, want [code]: the only one served", types)
			}
		})
	}
}

// TestErrorCodesAsEntraLists: the codes of Entra's reference and captures
// for a duplicated parameter (9000411, token and authorize) and a client
// assertion signed by an unregistered key or with a bad signature (700027).
func TestErrorCodesAsEntraLists(t *testing.T) {
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	body := "grant_type=client_credentials&client_id=" + daemonAppID + "&client_secret=" + url.QueryEscape(srv.ClientSecret(daemonAppID)) +
		"&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, w.tokenURL(), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, raw := send(t, w.hc, req)
	var got map[string]any
	_ = json.Unmarshal(raw, &got)
	checkEntraError(t, wireResp{Status: resp.StatusCode, Header: resp.Header, Body: got, Raw: string(raw)}, 400, "invalid_request", 9000411, "", "")
	if !strings.Contains(got["error_description"].(string), "The parameter 'scope' is duplicated.") {
		t.Errorf("description = %v", got["error_description"])
	}

	v, _ := wireAuthParams(webAppID, webRedirect, wireWebScope)
	adele := persona(t, srv, "AdeleV")
	_, err := srv.NewBrowser(adele.Username, adele.Password).Authorize(t.Context(), w.authorizeURL(v)+"&prompt=login&prompt=none")
	if pe, ok := err.(*devtenant.PageError); !ok || pe.Code != 9000411 {
		t.Errorf("authorize with prompt twice: %v, want the AADSTS9000411 page", err)
	}

	reg, unreg := certs(t)
	if err := srv.AddClientCertificate(daemonAppID, reg.cert); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := map[string]any{"aud": w.tokenURL(), "iss": daemonAppID, "sub": daemonAppID, "jti": "j1", "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	good := signAssertion(t, reg, claims)
	badSig := good[:strings.LastIndexByte(good, '.')+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 256))
	for name, assertion := range map[string]string{"unregistered key": signAssertion(t, unreg, claims), "bad signature": badSig} {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {daemonAppID}, "scope": {"https://graph.microsoft.com/.default"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
		t.Run(name, func(t *testing.T) {
			checkEntraError(t, w.token(t, form, nil), 401, "invalid_client", 700027, "", "")
		})
	}
}

// TestGroupsOverage: past 200 groups the ID and API tokens carry the
// overage claim instead of groups, pointing at this tenant's Graph, where
// the app reads the groups.
func TestGroupsOverage(t *testing.T) {
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	adele := persona(t, srv, "AdeleV")
	for i := range 200 { // Adele is in two already
		g, err := srv.AddGroup(fmt.Sprintf("Overage %03d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.AddGroupMember(g.ID, adele.OID); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.GrantConsent(webAppID, webAppID, adele.OID, "access_as_user"); err != nil {
		t.Fatal(err)
	}
	code, verifier := w.code(t, "AdeleV", webAppID, webRedirect, wireWebScope)
	r := w.token(t, w.redeemForm(code, verifier), nil)
	f := w.refreshForm(r.s("refresh_token"))
	f.Set("scope", "api://"+webAppID+"/access_as_user")
	api := w.token(t, f, nil)
	endpoint := srv.GraphURL() + "/v1.0/users/" + adele.OID + "/getMemberObjects"
	for name, c := range map[string]map[string]any{"ID token": claimsOf(t, r.s("id_token")), "API token": claimsOf(t, api.s("access_token"))} {
		names, _ := c["_claim_names"].(map[string]any)
		sources, _ := c["_claim_sources"].(map[string]any)
		src, _ := sources["src1"].(map[string]any)
		if c["groups"] != nil || names["groups"] != "src1" || src["endpoint"] != endpoint {
			t.Errorf("%s: groups %v, _claim_names %v, _claim_sources %v; want the overage claim to %s", name, c["groups"], names, sources, endpoint)
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(`{"securityEnabledOnly":true}`))
	req.Header.Set("Authorization", "Bearer "+r.s("access_token"))
	req.Header.Set("Content-Type", "application/json")
	resp, body := send(t, srv.Client(), req)
	var out struct{ Value []string }
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK || len(out.Value) != 202 {
		t.Fatalf("the overage endpoint: %d, %d groups: %.300s", resp.StatusCode, len(out.Value), body)
	}
}

// TestCorrelationIDFromQuery: msal-node and msal-browser send
// client-request-id in the token request's URL, not as a header; Entra
// echoes it as the error's correlation_id either way.
func TestCorrelationIDFromQuery(t *testing.T) {
	srv := startTenant(t)
	w := wire{srv: srv, hc: srv.Client()}
	corr := wireGUID()
	r := w.post(t, w.tokenURL()+"?client-request-id="+corr, w.daemonForm("abc8Q~wrong-secret-value", "https://graph.microsoft.com/.default"), nil)
	checkEntraError(t, r, 401, "invalid_client", 7000215, "", corr)
}

// TestLogoutWithoutClientReturnsToTheSessionsApps: msal-browser's
// logoutRedirect sends post_logout_redirect_uri with neither client_id nor
// id_token_hint; Entra returns there when the URI is registered on an app
// the user has an active session with (msal-browser's logout docs). The
// same request without that session, or to another app's URI, stays on
// the tenant's page.
func TestLogoutWithoutClientReturnsToTheSessionsApps(t *testing.T) {
	srv := startTenant(t)
	adele := persona(t, srv, "AdeleV")
	logout := func(t *testing.T, b *devtenant.Browser, target string) *http.Response {
		t.Helper()
		hc := *b.Client
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		q := url.Values{"post_logout_redirect_uri": {target}, "state": {"s1"}}
		resp, _ := send(t, &hc, mustRequest(t, http.MethodGet, srv.Authority()+"/oauth2/v2.0/logout?"+q.Encode()))
		return resp
	}
	signedIn := func(t *testing.T) *devtenant.Browser {
		t.Helper()
		b := srv.NewBrowser(adele.Username, adele.Password)
		v, _ := wireAuthParams(webAppID, webRedirect, "openid profile")
		if _, err := b.Authorize(t.Context(), srv.Authority()+"/oauth2/v2.0/authorize?"+v.Encode()); err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Run("the session's app", func(t *testing.T) {
		resp := logout(t, signedIn(t), "http://localhost:8080/signedout")
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://localhost:8080/signedout?state=s1" {
			t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("an app the session did not sign in to", func(t *testing.T) {
		if resp := logout(t, signedIn(t), "http://localhost:8080/spa/"); resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
			t.Fatalf("status %d Location %q: want the tenant's page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("no session", func(t *testing.T) {
		b := srv.NewBrowser(adele.Username, adele.Password)
		if resp := logout(t, b, "http://localhost:8080/signedout"); resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
			t.Fatalf("status %d Location %q: want the tenant's page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}
