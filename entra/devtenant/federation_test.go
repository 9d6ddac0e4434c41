package devtenant_test

// Federated identity credentials (workload identity federation), driven by
// azidentity's WorkloadIdentityCredential with tokens of the dev tenant's
// own workload issuer, and by raw requests for Entra's exact errors.

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/entrakit/entrakit/entra/devtenant"
)

const daemonSubject = "system:serviceaccount:entrakit:daemon"

// newWorkloadCredential writes token to a file and returns a
// WorkloadIdentityCredential for the daemon app reading it, as the Azure
// workload identity webhook configures one.
func newWorkloadCredential(t *testing.T, srv *devtenant.Server, token string) *azidentity.WorkloadIdentityCredential {
	t.Helper()
	file := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientID: daemonAppID, TenantID: srv.TenantID(), TokenFilePath: file, DisableInstanceDiscovery: true,
		ClientOptions: azClientOptions(srv),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// signJWT signs claims with key (RS256), kid in the header.
func signJWT(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	p, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func workloadClaims(iss, sub, aud string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": iss, "sub": sub, "aud": []string{aud}, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "jti": wireGUID()}
}

func issueWorkload(t *testing.T, srv *devtenant.Server, sub, aud string, lifetime time.Duration) string {
	t.Helper()
	tok, err := srv.IssueWorkloadToken(sub, aud, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestWorkloadIdentityAzidentity(t *testing.T) {
	srv := startTenant(t)
	if err := srv.AddFederatedCredential(daemonAppID, devtenant.FederatedCredential{Name: "aks-daemon", Issuer: srv.WorkloadIssuer(), Subject: daemonSubject}); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	tok := issueWorkload(t, srv, daemonSubject, "", 0)
	wc := claimsOf(t, tok)
	if wc["iss"] != srv.WorkloadIssuer() || wc["sub"] != daemonSubject || !hasString(wc["aud"], devtenant.DefaultFederatedAudience) {
		t.Fatalf("workload token claims = %v", wc)
	}
	cred := newWorkloadCredential(t, srv, tok)
	at, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphDefault}})
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(t, at.Token)
	if c["appid"] != daemonAppID || c["idtyp"] != "app" || c["appidacr"] != "2" || !hasString(c["roles"], "User.Read.All") ||
		c["aud"] != "https://graph.microsoft.com" {
		t.Errorf("access token claims = %v", c)
	}
	if page := newGraphAPI(srv).get(t, at.Token, "/users?$top=3").ok(t); len(values(t, page)) != 3 {
		t.Errorf("/users: %v", page)
	}
	// The same assertion again (azidentity rereads the file every ten
	// minutes, Kubernetes rotates it at 80% of its life): no jti replay rule.
	if _, err := newWorkloadCredential(t, srv, tok).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{graphDefault}}); err != nil {
		t.Errorf("the same federated assertion a second time: %v", err)
	}
}

func TestFederatedCredentialErrors(t *testing.T) {
	srv := startTenant(t)
	other, _ := certs(t)
	for _, f := range []devtenant.FederatedCredential{
		{Issuer: srv.WorkloadIssuer(), Subject: daemonSubject},
		// Registered, but nothing answers there.
		{Issuer: "https://127.0.0.1:1/oidc", Subject: daemonSubject},
		// The tenant's own issuer: Entra refuses its own tokens.
		{Issuer: srv.Issuer(), Subject: daemonSubject},
	} {
		if err := srv.AddFederatedCredential(daemonAppID, f); err != nil {
			t.Fatal(err)
		}
	}
	valid := issueWorkload(t, srv, daemonSubject, "", time.Hour)
	parts := strings.Split(valid, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[10] ^= 0xff
	badSig := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	// An assertion that expired an hour ago: issued with the clock set back.
	srv.AdvanceClock(-2 * time.Hour)
	expired := issueWorkload(t, srv, daemonSubject, "", time.Hour)
	srv.AdvanceClock(2 * time.Hour)

	tests := []struct {
		name      string
		assertion string
		status    int
		oauthErr  string
		code      int
		msg       string
	}{
		{"wrong subject", issueWorkload(t, srv, "system:serviceaccount:entrakit:other", "", 0), 401, "invalid_client", 700213,
			"No matching federated identity record found for presented assertion subject 'system:serviceaccount:entrakit:other'"},
		{"subject differs in case only", issueWorkload(t, srv, strings.ToUpper(daemonSubject), "", 0), 401, "invalid_client", 7002138,
			"case-insensitive comparison"},
		{"wrong audience", issueWorkload(t, srv, daemonSubject, "api://wrong", 0), 401, "invalid_client", 700212,
			"presented assertion audience 'api://wrong'"},
		{"unknown issuer", signJWT(t, other.key, "k1", workloadClaims("https://issuer.example.test", daemonSubject, devtenant.DefaultFederatedAudience)),
			401, "invalid_client", 700211, "presented assertion issuer 'https://issuer.example.test'"},
		{"expired", expired, 401, "invalid_client", 700024, "Client assertion is not within its valid time range. Current time: "},
		{"bad signature", badSig, 401, "invalid_client", 700027, "signature validation"},
		{"key not in the issuer's JWKS", signJWT(t, other.key, "not-a-published-kid", workloadClaims(srv.WorkloadIssuer(), daemonSubject, devtenant.DefaultFederatedAudience)),
			401, "invalid_client", 7000272, "could not be found in the metadata of identity provider"},
		{"issuer unreachable", signJWT(t, other.key, "k1", workloadClaims("https://127.0.0.1:1/oidc", daemonSubject, devtenant.DefaultFederatedAudience)),
			400, "invalid_request", 50166, "Request to External OIDC endpoint failed."},
		{"the tenant's own tokens", signJWT(t, other.key, "k1", workloadClaims(srv.Issuer(), daemonSubject, devtenant.DefaultFederatedAudience)),
			401, "invalid_client", 700236, "may not be used for federated identity credential flows"},
	}
	w := wire{srv: srv, hc: srv.Client()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			corr := wireGUID()
			r := w.token(t, url.Values{
				"grant_type": {"client_credentials"}, "client_id": {daemonAppID}, "scope": {graphDefault},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {tc.assertion},
			}, http.Header{"client-request-id": {corr}})
			checkEntraError(t, r, tc.status, tc.oauthErr, tc.code, "", corr)
			if !strings.Contains(r.s("error_description"), tc.msg) {
				t.Errorf("error_description = %q, want %q in it", r.s("error_description"), tc.msg)
			}
			// The same through azidentity.
			_, err := newWorkloadCredential(t, srv, tc.assertion).GetToken(testContext(t), policy.TokenRequestOptions{Scopes: []string{graphDefault}})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("AADSTS%d:", tc.code)) {
				t.Errorf("azidentity: err = %v, want AADSTS%d", err, tc.code)
			}
		})
	}
	t.Run("app without federated credentials", func(t *testing.T) {
		r := w.token(t, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {webAppID}, "scope": {graphDefault},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {valid},
		}, nil)
		checkEntraError(t, r, 401, "invalid_client", 700211, "", "")
	})
}

// oidcIssuer is an external OIDC issuer on httptest's TLS server.
type oidcIssuer struct {
	ts             *httptest.Server
	keys           map[string]*rsa.PublicKey
	discovery, set atomic.Int32
	wrongIssuer    atomic.Bool
}

func newOIDCIssuer(t *testing.T) *oidcIssuer {
	o := &oidcIssuer{keys: map[string]*rsa.PublicKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		o.discovery.Add(1)
		iss := o.ts.URL
		if o.wrongIssuer.Load() {
			iss += "/other"
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": o.ts.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		o.set.Add(1)
		var keys []map[string]string
		for kid, k := range o.keys {
			keys = append(keys, map[string]string{"kty": "RSA", "use": "sig", "kid": kid,
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	o.ts = httptest.NewTLSServer(mux)
	t.Cleanup(o.ts.Close)
	return o
}

func TestFederatedCredentialExternalIssuer(t *testing.T) {
	keys, err := clientCerts()
	if err != nil {
		t.Fatal(err)
	}
	iss := newOIDCIssuer(t)
	iss.keys["k1"] = &keys[0].key.PublicKey
	srv := startTenant(t, func(o *devtenant.Options) { o.OIDCClient = iss.ts.Client() })
	const sub = "repo:entrakit/entrakit:ref:refs/heads/main"
	if err := srv.AddFederatedCredential(daemonAppID, devtenant.FederatedCredential{Issuer: iss.ts.URL, Subject: sub, Audiences: []string{"api://AzureADTokenExchange"}}); err != nil {
		t.Fatal(err)
	}
	w := wire{srv: srv, hc: srv.Client()}
	redeem := func(t *testing.T, assertion string) wireResp {
		t.Helper()
		return w.token(t, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {daemonAppID}, "scope": {graphDefault},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion},
		}, nil)
	}
	claims := func() map[string]any { return workloadClaims(iss.ts.URL, sub, devtenant.DefaultFederatedAudience) }
	for range 2 {
		if r := redeem(t, signJWT(t, keys[0].key, "k1", claims())); r.Status != 200 || r.s("access_token") == "" {
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
	}
	if d, s := iss.discovery.Load(), iss.set.Load(); d != 1 || s != 1 {
		t.Errorf("discovery fetched %d times, JWKS %d times; want once each (cached)", d, s)
	}
	// The issuer rotates to a new key: a token with an unknown kid refetches
	// the keys (not more often than every few seconds).
	iss.keys["k2"] = &keys[1].key.PublicKey
	rotated := signJWT(t, keys[1].key, "k2", claims())
	if r := redeem(t, rotated); r.Status != 401 || !strings.Contains(r.s("error_description"), "AADSTS7000272") {
		t.Errorf("new kid right after a fetch: status %d %s", r.Status, r.s("error_description"))
	}
	srv.AdvanceClock(time.Minute)
	if r := redeem(t, rotated); r.Status != 200 {
		t.Errorf("new kid after a minute: status %d %s", r.Status, r.s("error_description"))
	}
	if s := iss.set.Load(); s != 2 {
		t.Errorf("JWKS fetched %d times, want 2", s)
	}
	// Past the cache lifetime, a discovery document naming another issuer
	// is refused.
	iss.wrongIssuer.Store(true)
	srv.AdvanceClock(10 * time.Minute)
	if r := redeem(t, signJWT(t, keys[0].key, "k1", claims())); r.Status != 400 || !strings.Contains(r.s("error_description"), "AADSTS50166") {
		t.Errorf("discovery with a different issuer: status %d %s", r.Status, r.s("error_description"))
	}
}

func TestFederatedCredentialModel(t *testing.T) {
	srv := startTenant(t)
	good := devtenant.FederatedCredential{Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:entrakit/entrakit:environment:prod"}
	if err := srv.AddFederatedCredential(daemonAppID, good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		appID string
		fic   devtenant.FederatedCredential
	}{
		{"unknown app", "00000000-1111-4222-8333-444444444444", good},
		{"same issuer and subject", daemonAppID, good},
		{"http issuer", daemonAppID, devtenant.FederatedCredential{Issuer: "http://issuer.example", Subject: "x"}},
		{"no subject", daemonAppID, devtenant.FederatedCredential{Issuer: "https://issuer.example"}},
		{"two audiences", daemonAppID, devtenant.FederatedCredential{Issuer: "https://issuer.example", Subject: "x", Audiences: []string{"a", "b"}}},
		{"name not URL friendly", daemonAppID, devtenant.FederatedCredential{Name: "a b", Issuer: "https://issuer.example", Subject: "x"}},
	} {
		if err := srv.AddFederatedCredential(tc.appID, tc.fic); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	for _, a := range srv.Applications() {
		if a.AppID != daemonAppID {
			continue
		}
		f := a.FederatedIdentityCredentials
		if len(f) != 1 || f[0].Name == "" || len(f[0].Audiences) != 1 || f[0].Audiences[0] != devtenant.DefaultFederatedAudience {
			t.Errorf("daemon's federated credentials = %+v", f)
		}
	}

	manifest := func(fics string) []byte {
		return []byte(`{"applications":[{"uniqueName":"job","appId":"` + daemonAppID + `","displayName":"job","federatedIdentityCredentials":` + fics + `}]}`)
	}
	m, err := devtenant.ParseManifest(manifest(`[{"name":"aks","issuer":"https://oidc.prod-aks.azure.com/x/","subject":"system:serviceaccount:a:b"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if f := m.Applications[0].FederatedIdentityCredentials; len(f) != 1 || f[0].Audiences[0] != devtenant.DefaultFederatedAudience {
		t.Errorf("parsed %+v", f)
	}
	if _, err := devtenant.ParseManifest(manifest(`[{"name":"a","issuer":"https://i.example","subject":"s"},{"name":"b","issuer":"https://i.example","subject":"s"}]`)); err == nil {
		t.Error("a manifest with a duplicate issuer and subject was accepted")
	}
}

func TestIdentityAdminAPI(t *testing.T) {
	srv := startTenant(t)
	a := adminAPI{srv: srv, hc: srv.Client()}
	var mi map[string]string
	a.ok(t, "POST", "/admin/managed-identities", `{"name":"reports-job"}`, http.StatusCreated, &mi)
	if !guidRE.MatchString(mi["clientId"]) || !strings.HasSuffix(mi["resourceId"], "/reports-job") {
		t.Errorf("managed identity = %v", mi)
	}
	a.ok(t, "POST", "/admin/applications/"+daemonAppID+"/federatedIdentityCredentials",
		`{"name":"ci","issuer":"`+srv.WorkloadIssuer()+`","subject":"ci-runner","audiences":["api://AzureADTokenExchange"]}`, http.StatusCreated, nil)
	var wt map[string]string
	a.ok(t, "POST", "/admin/workload-tokens", `{"subject":"ci-runner","lifetimeSeconds":600}`, http.StatusOK, &wt)
	if wt["issuer"] != srv.WorkloadIssuer() || claimsOf(t, wt["token"])["sub"] != "ci-runner" {
		t.Errorf("workload token answer = %v", wt)
	}
	if _, err := newWorkloadCredential(t, srv, wt["token"]).GetToken(testContext(t), policy.TokenRequestOptions{Scopes: []string{graphDefault}}); err != nil {
		t.Errorf("token from the admin API: %v", err)
	}
	if status, _, _ := a.call(t, "POST", "/admin/workload-tokens", "", `{"subject":"x"}`); status != http.StatusUnauthorized {
		t.Errorf("without the admin key: %d", status)
	}
}
