package devtenant_test

// Real client libraries against the dev tenant over TLS: MSAL Go (public and
// confidential), azidentity and go-oidc must not tell it from Entra.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/entrakit/entrakit/entra/devtenant"
)

const graphDefault = "https://graph.microsoft.com/.default"

// testContext bounds a test's client calls, so a flow that never completes
// (MSAL waiting for its redirect) fails instead of hanging.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMSALPublicInteractive(t *testing.T) {
	srv := startTenant(t)
	adele := persona(t, srv, "AdeleV")
	scopes := []string{"User.Read"}

	tests := []struct {
		name     string
		password string
		wantCode int // AADSTS shown by the sign-in page; 0 = success
	}{
		{name: "signs in", password: adele.Password},
		{name: "wrong password", password: "not-" + adele.Password, wantCode: 50126},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			app, err := public.New(cliAppID, public.WithAuthority(srv.Authority()),
				public.WithHTTPClient(srv.Client()), public.WithInstanceDiscovery(false))
			if err != nil {
				t.Fatal(err)
			}
			var authURL string
			openURL := func(u string) error {
				authURL = u
				resp, err := srv.NewBrowser(adele.Username, tc.password).Authorize(ctx, u)
				if err != nil {
					return err
				}
				if resp.Mode != "form_post" || !strings.HasPrefix(resp.RedirectURI, "http://localhost:") {
					return errors.New("unexpected authorization response " + resp.Mode + " to " + resp.RedirectURI)
				}
				// MSAL's listener answers at once and hands the code over a
				// buffered channel, so delivering here, before openURL
				// returns, cannot deadlock.
				hr, err := resp.Deliver(ctx, http.DefaultClient)
				if err != nil {
					return err
				}
				body, _ := io.ReadAll(hr.Body)
				hr.Body.Close()
				if hr.StatusCode != http.StatusOK || !strings.Contains(string(body), "Authentication complete") {
					return errors.New("MSAL's listener refused the response: " + hr.Status + ": " + string(body))
				}
				return nil
			}
			res, err := app.AcquireTokenInteractive(ctx, scopes, public.WithOpenURL(openURL))
			if tc.wantCode != 0 {
				var pe *devtenant.PageError
				if !errors.As(err, &pe) || pe.Code != tc.wantCode {
					t.Fatalf("err = %v, want a page error AADSTS%d", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			q := mustQuery(t, authURL)
			for k, want := range map[string]string{
				"response_mode": "form_post", "code_challenge_method": "S256", "prompt": "select_account", "client_id": cliAppID,
			} {
				if got := q.Get(k); got != want {
					t.Errorf("authorize %s = %q, want %q", k, got, want)
				}
			}
			if res.Account.PreferredUsername != adele.Username || res.IDToken.Oid != adele.OID ||
				res.Account.LocalAccountID != adele.OID || res.Account.HomeAccountID != adele.OID+"."+srv.TenantID() {
				t.Errorf("account %+v, id token oid %q; want %s %s", res.Account, res.IDToken.Oid, adele.Username, adele.OID)
			}
			at := claimsOf(t, res.AccessToken)
			if at["aud"] != "https://graph.microsoft.com" || at["appid"] != cliAppID || at["appidacr"] != "0" ||
				!strings.Contains(str(at["scp"]), "User.Read") || at["oid"] != adele.OID {
				t.Errorf("access token claims = %v", at)
			}

			silent, err := app.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(res.Account))
			if err != nil {
				t.Fatal(err)
			}
			if silent.AccessToken == "" || silent.AccessToken != res.AccessToken {
				t.Error("silent call did not return the cached token")
			}
			// Another scope string of the same resource: a refresh token
			// redemption by a public client (no credential).
			refreshed, err := app.AcquireTokenSilent(ctx, []string{"https://graph.microsoft.com/User.Read"}, public.WithSilentAccount(res.Account))
			if err != nil {
				t.Fatal(err)
			}
			if refreshed.AccessToken == "" || refreshed.AccessToken == res.AccessToken {
				t.Error("refresh did not return a new access token")
			}
			accounts, err := app.Accounts(ctx)
			if err != nil || len(accounts) != 1 || accounts[0].PreferredUsername != adele.Username {
				t.Errorf("accounts = %+v, %v", accounts, err)
			}
		})
	}
}

// clientCert is a self-signed certificate with its RSA key.
type clientCert struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

// clientCerts makes two client certificates once for the whole package: RSA
// key generation is slow under -race.
var clientCerts = sync.OnceValues(func() ([2]clientCert, error) {
	var out [2]clientCert
	now := time.Now()
	for i := range out {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return out, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 1)),
			Subject:      pkix.Name{CommonName: "entrakit-daemon"},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return out, err
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return out, err
		}
		out[i] = clientCert{cert: cert, key: key}
	}
	return out, nil
})

func certs(t *testing.T) (registered, unregistered clientCert) {
	t.Helper()
	c, err := clientCerts()
	if err != nil {
		t.Fatal(err)
	}
	return c[0], c[1]
}

// TestMSALClientCredentials: the daemon with its secret or a certificate
// (private_key_jwt); MSAL's cache serves the second call.
func TestMSALClientCredentials(t *testing.T) {
	srv := startTenant(t)
	registered, unregistered := certs(t)
	if err := srv.AddClientCertificate(daemonAppID, registered.cert); err != nil {
		t.Fatal(err)
	}
	secret, err := confidential.NewCredFromSecret(srv.ClientSecret(daemonAppID))
	if err != nil {
		t.Fatal(err)
	}
	certCred := func(c clientCert) confidential.Credential {
		cred, err := confidential.NewCredFromCert([]*x509.Certificate{c.cert}, c.key)
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}
	tests := []struct {
		name    string
		cred    confidential.Credential
		acr     string
		wantErr string
	}{
		{name: "secret", cred: secret, acr: "1"},
		{name: "registered certificate", cred: certCred(registered), acr: "2"},
		{name: "unregistered certificate", cred: certCred(unregistered), wantErr: "AADSTS700027"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			app := confidentialApp(t, srv, daemonAppID, tc.cred)
			res, err := app.AcquireTokenByCredential(ctx, []string{graphDefault})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := claimsOf(t, res.AccessToken)
			if !hasString(c["roles"], "User.Read.All") || c["appidacr"] != tc.acr || c["idtyp"] != "app" ||
				c["aud"] != "https://graph.microsoft.com" || c["appid"] != daemonAppID {
				t.Errorf("access token claims = %v", c)
			}
			if _, ok := c["scp"]; ok {
				t.Errorf("app-only token carries scp: %v", c["scp"])
			}
			again, err := app.AcquireTokenByCredential(ctx, []string{graphDefault})
			if err != nil || again.AccessToken != res.AccessToken {
				t.Errorf("second call not from cache: %v", err)
			}
		})
	}
}

func TestAzidentity(t *testing.T) {
	srv := startTenant(t)
	registered, _ := certs(t)
	if err := srv.AddClientCertificate(daemonAppID, registered.cert); err != nil {
		t.Fatal(err)
	}
	clientOpts := azClientOptions(srv)
	tests := []struct {
		name    string
		acr     string
		newCred func() (azcore.TokenCredential, error)
	}{
		{name: "ClientSecretCredential", acr: "1", newCred: func() (azcore.TokenCredential, error) {
			return azidentity.NewClientSecretCredential(srv.TenantID(), daemonAppID, srv.ClientSecret(daemonAppID),
				&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOpts, DisableInstanceDiscovery: true})
		}},
		{name: "ClientCertificateCredential", acr: "2", newCred: func() (azcore.TokenCredential, error) {
			return azidentity.NewClientCertificateCredential(srv.TenantID(), daemonAppID,
				[]*x509.Certificate{registered.cert}, registered.key,
				&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOpts, DisableInstanceDiscovery: true})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			cred, err := tc.newCred()
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphDefault}})
			if err != nil {
				t.Fatal(err)
			}
			if tok.Token == "" || !tok.ExpiresOn.After(time.Now()) {
				t.Fatalf("token %.10q expires %v", tok.Token, tok.ExpiresOn)
			}
			c := claimsOf(t, tok.Token)
			if !hasString(c["roles"], "User.Read.All") || c["appidacr"] != tc.acr || c["aud"] != "https://graph.microsoft.com" {
				t.Errorf("access token claims = %v", c)
			}
			if _, ok := c["xms_cc"]; ok {
				t.Errorf("xms_cc without a CAE request: %v", c["xms_cc"])
			}

			cae, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphDefault}, EnableCAE: true})
			if err != nil {
				t.Fatal(err)
			}
			cc := claimsOf(t, cae.Token)
			if !hasString(cc["xms_cc"], "CP1") || !hasString(cc["roles"], "User.Read.All") {
				t.Errorf("CAE token claims = %v", cc)
			}
		})
	}
}

// signInWeb signs persona p in to the web app through MSAL confidential:
// auth code + PKCE, User.Read, with nonce.
func signInWeb(t *testing.T, ctx context.Context, srv *devtenant.Server, app confidential.Client, p devtenant.Persona, nonce string) confidential.AuthResult {
	t.Helper()
	scopes := []string{"User.Read"}
	authURL, err := app.AuthCodeURL(ctx, webAppID, webRedirect, scopes)
	if err != nil {
		t.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	authURL += "&state=st4te&nonce=" + url.QueryEscape(nonce) + "&code_challenge_method=S256&code_challenge=" + oauth2.S256ChallengeFromVerifier(verifier)
	resp, err := srv.NewBrowser(p.Username, p.Password).Authorize(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Params.Get("code") == "" || resp.Params.Get("state") != "st4te" || resp.RedirectURI != webRedirect {
		t.Fatalf("authorization response = %+v", resp)
	}
	res, err := app.AcquireTokenByAuthCode(ctx, resp.Params.Get("code"), webRedirect, scopes, confidential.WithChallenge(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if res.IDToken.RawToken == "" {
		t.Fatal("no ID token")
	}
	return res
}

func TestMSALConfidentialAuthCode(t *testing.T) {
	srv := startTenant(t)
	ctx := testContext(t)
	app := secretApp(t, srv, webAppID)
	adele := persona(t, srv, "AdeleV")
	res := signInWeb(t, ctx, srv, app, adele, "n0nce")
	if claimsOf(t, res.IDToken.RawToken)["nonce"] != "n0nce" || res.IDToken.Oid != adele.OID || res.Account.PreferredUsername != adele.Username {
		t.Errorf("id token = %+v account %+v", res.IDToken, res.Account)
	}
	scopes := []string{"User.Read"}
	silent, err := app.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(res.Account))
	if err != nil {
		t.Fatal(err)
	}
	if silent.AccessToken != res.AccessToken {
		t.Error("silent call did not return the cached token")
	}
	// A different scope of the same resource forces a refresh-token call.
	refreshed, err := app.AcquireTokenSilent(ctx, []string{"https://graph.microsoft.com/User.Read"}, confidential.WithSilentAccount(res.Account))
	if err != nil {
		t.Fatal(err)
	}
	if refreshed.AccessToken == res.AccessToken || !strings.Contains(strings.Join(refreshed.GrantedScopes, " "), "User.Read") {
		t.Errorf("refresh: %+v", refreshed.GrantedScopes)
	}
}

// jwksCounter counts a relying party's JWKS fetches.
type jwksCounter struct {
	base    http.RoundTripper
	fetches atomic.Int32
}

func (c *jwksCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/discovery/v2.0/keys") {
		c.fetches.Add(1)
	}
	return c.base.RoundTrip(r)
}

func TestGoOIDCVerifiesAcrossKeyRotation(t *testing.T) {
	srv := startTenant(t)
	ctx := testContext(t)
	adele := persona(t, srv, "AdeleV")
	counter := &jwksCounter{base: srv.Client().Transport}
	rpCtx := oidc.ClientContext(ctx, &http.Client{Transport: counter, Timeout: 30 * time.Second})
	provider, err := oidc.NewProvider(rpCtx, srv.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	config := &oidc.Config{ClientID: webAppID}
	verifier := provider.Verifier(config)
	app := secretApp(t, srv, webAppID)
	check := func(t *testing.T, v *oidc.IDTokenVerifier, raw, kid, nonce string) {
		t.Helper()
		if got := headerOf(t, raw)["kid"]; got != kid {
			t.Errorf("header kid = %v, want %s", got, kid)
		}
		tok, err := v.Verify(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Nonce != nonce || tok.Issuer != srv.Issuer() || !slices.Contains(tok.Audience, webAppID) {
			t.Errorf("verified token: nonce %q issuer %q audience %v", tok.Nonce, tok.Issuer, tok.Audience)
		}
		var c struct {
			OID               string `json:"oid"`
			PreferredUsername string `json:"preferred_username"`
			TID               string `json:"tid"`
		}
		if err := tok.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if c.OID != adele.OID || c.PreferredUsername != adele.Username || c.TID != srv.TenantID() {
			t.Errorf("claims = %+v", c)
		}
	}

	oldKid := srv.SigningKeyID()
	before := signInWeb(t, ctx, srv, app, adele, "n0nce-before").IDToken.RawToken
	t.Run("before rotation", func(t *testing.T) { check(t, verifier, before, oldKid, "n0nce-before") })
	fetched := counter.fetches.Load()
	if fetched != 1 {
		t.Errorf("JWKS fetched %d times for the first token, want 1", fetched)
	}

	if err := srv.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	newKid := srv.SigningKeyID()
	if newKid == oldKid {
		t.Fatal("RotateKeys did not change the signing key")
	}
	after := signInWeb(t, ctx, srv, app, adele, "n0nce-after").IDToken.RawToken
	t.Run("after rotation, same verifier", func(t *testing.T) {
		check(t, verifier, after, newKid, "n0nce-after")
		// The new signing key was published as "next" before it signed:
		// the cached JWKS already holds it.
		if n := counter.fetches.Load(); n != fetched {
			t.Errorf("the verifier refetched the JWKS (%d fetches, want %d): the new key was not pre-published", n, fetched)
		}
	})
	t.Run("before rotation, same verifier", func(t *testing.T) { check(t, verifier, before, oldKid, "n0nce-before") })
	t.Run("before rotation, fresh key set", func(t *testing.T) {
		// A relying party that fetches the JWKS only now still finds the
		// retired key (grace period).
		fresh := provider.VerifierContext(rpCtx, config)
		check(t, fresh, before, oldKid, "n0nce-before")
		check(t, fresh, after, newKid, "n0nce-after")
		if n := counter.fetches.Load(); n != fetched+1 {
			t.Errorf("JWKS fetches = %d, want %d", n, fetched+1)
		}
	})
	t.Run("tampered token fails", func(t *testing.T) {
		parts := strings.Split(after, ".")
		parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"` + srv.Issuer() + `","aud":"` + webAppID + `","exp":4102444800,"oid":"x"}`))
		if _, err := verifier.Verify(ctx, strings.Join(parts, ".")); err == nil {
			t.Error("a token with a forged payload verified")
		}
	})
}

type jwksKey struct {
	Kty string   `json:"kty"`
	Use string   `json:"use"`
	Kid string   `json:"kid"`
	X5t string   `json:"x5t"`
	N   string   `json:"n"`
	E   string   `json:"e"`
	X5c []string `json:"x5c"`
}

func TestJWKS(t *testing.T) {
	srv := startTenant(t)
	ctx := testContext(t)
	client := srv.Client()
	paths := []string{
		"/discovery/v2.0/keys",
		"/" + srv.TenantID() + "/discovery/v2.0/keys",
		"/" + srv.Domain() + "/discovery/v2.0/keys",
		"/common/discovery/v2.0/keys",
	}
	// check fetches every JWKS path and returns the kids (the same on every path).
	check := func(t *testing.T, wantKeys int) []string {
		t.Helper()
		var kids []string
		for _, p := range paths {
			var doc struct{ Keys []jwksKey }
			status, h := getJSON(t, ctx, client, srv.URL()+p, &doc)
			if status != http.StatusOK || h.Get("Cache-Control") != "max-age=86400, private" {
				t.Errorf("%s: status %d, Cache-Control %q", p, status, h.Get("Cache-Control"))
			}
			if len(doc.Keys) != wantKeys {
				t.Errorf("%s: %d keys, want %d", p, len(doc.Keys), wantKeys)
			}
			var got []string
			for _, k := range doc.Keys {
				checkJWK(t, p, k)
				got = append(got, k.Kid)
			}
			slices.Sort(got)
			if kids != nil && !slices.Equal(got, kids) {
				t.Errorf("%s: kids %v differ from %v", p, got, kids)
			}
			kids = got
		}
		if !slices.Contains(kids, srv.SigningKeyID()) {
			t.Errorf("signing key %s not published in %v", srv.SigningKeyID(), kids)
		}
		return kids
	}

	first := check(t, 2)
	signing := srv.SigningKeyID()
	var next string
	for _, k := range first {
		if k != signing {
			next = k
		}
	}
	if err := srv.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	if srv.SigningKeyID() != next {
		t.Errorf("after rotation the signing key is %s, want the published next key %s", srv.SigningKeyID(), next)
	}
	second := check(t, 3)
	if !slices.Contains(second, signing) {
		t.Errorf("retired key %s dropped from the JWKS during the grace period", signing)
	}
	// Past the grace period the retired key leaves the JWKS.
	srv.AdvanceClock(25 * time.Hour)
	third := check(t, 2)
	if slices.Contains(third, signing) {
		t.Errorf("retired key %s still published after the grace period", signing)
	}

	var unknown map[string]any
	status, _ := getJSON(t, ctx, client, srv.URL()+"/nosuchtenant.example/discovery/v2.0/keys", &unknown)
	if status != http.StatusBadRequest || !hasNumber(unknown["error_codes"], 90002) {
		t.Errorf("unknown tenant JWKS: %d %v", status, unknown)
	}
}

// checkJWK: kid = x5t = base64url(SHA-1(x5c[0])), and the certificate holds
// the published RSA key.
func checkJWK(t *testing.T, path string, k jwksKey) {
	t.Helper()
	if k.Kty != "RSA" || k.Use != "sig" || k.Kid == "" || k.Kid != k.X5t || len(k.X5c) == 0 || k.X5c[0] == "" {
		t.Errorf("%s: key %+v", path, k)
		return
	}
	der, err := base64.StdEncoding.DecodeString(k.X5c[0])
	if err != nil {
		t.Errorf("%s: x5c: %v", path, err)
		return
	}
	sum := sha1.Sum(der)
	if x5t := base64.RawURLEncoding.EncodeToString(sum[:]); x5t != k.X5t {
		t.Errorf("%s: x5t %s is not the certificate's thumbprint %s", path, k.X5t, x5t)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Errorf("%s: x5c: %v", path, err)
		return
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || base64.RawURLEncoding.EncodeToString(pub.N.Bytes()) != k.N || k.E != "AQAB" {
		t.Errorf("%s: key %s: n/e do not match the certificate", path, k.Kid)
	}
}

func TestDiscoveryMultiTenant(t *testing.T) {
	srv := startTenant(t)
	ctx := testContext(t)
	client := srv.Client()
	base := srv.URL()
	tests := []struct {
		name       string
		segment    string // in the path
		endpoints  string // tenant segment of the endpoints
		wantIssuer string
	}{
		{"common", "common", "common", base + "/{tenantid}/v2.0"},
		{"organizations", "organizations", "organizations", base + "/{tenantid}/v2.0"},
		{"tenant id", srv.TenantID(), srv.TenantID(), srv.Issuer()},
		{"domain", srv.Domain(), srv.TenantID(), srv.Issuer()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var doc map[string]any
			status, h := getJSON(t, ctx, client, base+"/"+tc.segment+"/v2.0/.well-known/openid-configuration", &doc)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, doc)
			}
			if cc := h.Get("Cache-Control"); cc != "max-age=86400, private" {
				t.Errorf("Cache-Control = %q", cc)
			}
			if doc["issuer"] != tc.wantIssuer {
				t.Errorf("issuer = %v, want %s", doc["issuer"], tc.wantIssuer)
			}
			ep := base + "/" + tc.endpoints
			for k, want := range map[string]string{
				"authorization_endpoint": ep + "/oauth2/v2.0/authorize",
				"token_endpoint":         ep + "/oauth2/v2.0/token",
				"jwks_uri":               ep + "/discovery/v2.0/keys",
				"end_session_endpoint":   ep + "/oauth2/v2.0/logout",
			} {
				if doc[k] != want {
					t.Errorf("%s = %v, want %s", k, doc[k], want)
				}
			}
			if !hasString(doc["id_token_signing_alg_values_supported"], "RS256") || !hasString(doc["response_modes_supported"], "form_post") {
				t.Errorf("document = %v", doc)
			}
		})
	}
	for _, seg := range []string{"00000000-0000-0000-0000-000000000000", "northwind.onmicrosoft.com"} {
		t.Run("unknown tenant "+seg, func(t *testing.T) {
			var body map[string]any
			status, h := getJSON(t, ctx, client, base+"/"+seg+"/v2.0/.well-known/openid-configuration", &body)
			if status != http.StatusBadRequest || body["error"] != "invalid_request" || !hasNumber(body["error_codes"], 90002) ||
				!strings.HasPrefix(str(body["error_description"]), "AADSTS90002:") {
				t.Errorf("status %d, body %v", status, body)
			}
			if cc := h.Get("Cache-Control"); strings.Contains(cc, "max-age") {
				t.Errorf("an error is cacheable: Cache-Control %q", cc)
			}
		})
	}
}

// getJSON GETs u and decodes the JSON body into v.
func getJSON(t *testing.T, ctx context.Context, client *http.Client, u string, v any) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q", u, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return resp.StatusCode, resp.Header
}

func mustQuery(t *testing.T, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query()
}

// hasString reports whether a decoded JSON value (a string or an array)
// holds want.
func hasString(v any, want string) bool {
	switch v := v.(type) {
	case string:
		return v == want
	case []any:
		for _, e := range v {
			if e == want {
				return true
			}
		}
	}
	return false
}

func hasNumber(v any, want float64) bool {
	arr, _ := v.([]any)
	return slices.Contains(arr, any(want))
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
