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
