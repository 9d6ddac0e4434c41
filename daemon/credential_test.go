package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/internal/devmode"
)

var graphScope = policy.TokenRequestOptions{Scopes: []string{devmode.GraphScope}}

// tokenClaims decodes an access token's payload (not verified: the dev
// tenant signed it and Graph checked it).
func tokenClaims(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// getToken asks cred for a Graph token.
func getToken(t testing.TB, cred azcore.TokenCredential) string {
	t.Helper()
	tok, err := cred.GetToken(context.Background(), graphScope)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// appOf is the client a token was issued to (appid in v1 tokens, azp in v2).
func appOf(c map[string]any) string {
	if a, ok := c["appid"].(string); ok {
		return a
	}
	a, _ := c["azp"].(string)
	return a
}

// runJob runs name n times and fails on the first error.
func runJob(t testing.TB, sch *daemon.Scheduler, name string, n int) {
	t.Helper()
	for i := range n {
		if _, err := sch.RunOnce(context.Background(), name, nil); err != nil {
			t.Fatalf("%s run %d: %v", name, i+1, err)
		}
	}
}

// TestAppTokenOnceAcrossRunsAndRestart: the app token is requested once,
// kept in the sealed file cache, and reused by a new process (a new
// credential over the same directory and keys).
func TestAppTokenOnceAcrossRunsAndRestart(t *testing.T) {
	t.Parallel()
	srv := startTenant(t, 50)
	dir := t.TempDir()
	ring, err := tokencache.ParseKeyRing(tokencache.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	fileCache := func(t testing.TB, ring *tokencache.KeyRing) *tokencache.Cache {
		store, err := tokencache.NewFileStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		return &tokencache.Cache{Store: store, Keys: ring, Logger: discardLogger()}
	}
	db := openSQLite(t)
	cfg := mustConfig(t, `{"jobs":[{"name":"directory-sync","every":"15m","settings":{"groups":true}}]}`)

	first := &daemon.TokenStats{}
	sch := &daemon.Scheduler{Config: cfg, Graph: newGraph(t, srv, fileCache(t, ring), first), DB: db, Tokens: first, Logger: discardLogger()}
	runJob(t, sch, "directory-sync", 5)
	if n := first.EndpointCalls.Load(); n != 1 {
		t.Errorf("token endpoint called %d times over 5 runs, want 1", n)
	}
	if calls, hits := first.Calls.Load(), first.CacheHits.Load(); calls < 5 || hits != calls-1 {
		t.Errorf("%d token requests, %d from the cache: want all but the first", calls, hits)
	}
	if n := metric(t, sch.Handler(), "entrakit_daemon_token_endpoint_requests_total"); n != 1 {
		t.Errorf("metric token_endpoint_requests_total = %v", n)
	}

	// The file on disk is sealed: the token is not in it.
	tok := getToken(t, secretCredential(t, srv, fileCache(t, ring), nil))
	var files int
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte(strings.Split(tok, ".")[1])) {
			t.Errorf("%s holds the access token in clear", path)
		}
		return nil
	})
	if files == 0 {
		t.Fatal("the file store holds no file")
	}

	restarts := []struct {
		name  string
		cache func(t testing.TB) *tokencache.Cache
	}{
		{"NewFileStore", func(t testing.TB) *tokencache.Cache { return fileCache(t, ring) }},
		{"OpenStore file URL", func(t testing.TB) *tokencache.Cache {
			store, closeStore, err := tokencache.OpenStore("file://"+dir, discardLogger())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closeStore() })
			return &tokencache.Cache{Store: store, Keys: ring, Logger: discardLogger()}
		}},
	}
	for _, rs := range restarts {
		t.Run("restart/"+rs.name, func(t *testing.T) {
			stats := &daemon.TokenStats{}
			sch := &daemon.Scheduler{Config: cfg, Graph: newGraph(t, srv, rs.cache(t), stats), DB: db, Tokens: stats, Logger: discardLogger()}
			runJob(t, sch, "directory-sync", 3)
			if n := stats.EndpointCalls.Load(); n != 0 {
				t.Errorf("after a restart the token endpoint was called %d times, want 0 (cached token)", n)
			}
			if calls, hits := stats.Calls.Load(), stats.CacheHits.Load(); calls < 3 || hits != calls {
				t.Errorf("%d token requests, %d from the cache", calls, hits)
			}
		})
	}
	sameUsers(t, directoryUsers(srv), dbUsers(t, db))

	// Another partition never gets that token.
	otherTenant := devtenanttest.Start(t, func(o *devtenant.Options) { o.TenantID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" })
	webapp := appConfig(srv)
	webapp.ClientID, webapp.Credential.ClientSecret = webappAppID, srv.ClientSecret(webappAppID)
	for _, tc := range []struct {
		name       string
		cfg        entra.Config
		client     *devtenant.Server
		wantApp    string
		wantTenant string
	}{
		{"another client of the tenant", webapp, srv, webappAppID, srv.TenantID()},
		{"the same client in another tenant", appConfig(otherTenant), otherTenant, daemonAppID, otherTenant.TenantID()},
	} {
		t.Run("isolation/"+tc.name, func(t *testing.T) {
			stats := &daemon.TokenStats{}
			cred, err := daemon.NewCredential(tc.cfg, daemon.CredentialOptions{HTTPClient: tc.client.Client(), Cache: fileCache(t, ring), Stats: stats})
			if err != nil {
				t.Fatal(err)
			}
			other := getToken(t, cred)
			if n := stats.EndpointCalls.Load(); n != 1 {
				t.Errorf("token endpoint called %d times, want 1: the cached token of another partition was served", n)
			}
			if other == tok {
				t.Fatal("got the daemon's token")
			}
			c := tokenClaims(t, other)
			if appOf(c) != tc.wantApp || c["tid"] != tc.wantTenant {
				t.Errorf("token for app %v tenant %v, want %s %s", appOf(c), c["tid"], tc.wantApp, tc.wantTenant)
			}
		})
	}
	// The daemon's own partition is still there, untouched.
	stats := &daemon.TokenStats{}
	if got := getToken(t, secretCredential(t, srv, fileCache(t, ring), stats)); got != tok || stats.EndpointCalls.Load() != 0 {
		t.Errorf("the daemon's cached token was lost (endpoint calls %d)", stats.EndpointCalls.Load())
	}
	// Other keys cannot open the sealed cache: a miss, not an error.
	otherRing, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	stats = &daemon.TokenStats{}
	if got := getToken(t, secretCredential(t, srv, fileCache(t, otherRing), stats)); got == tok || stats.EndpointCalls.Load() != 1 {
		t.Errorf("with other keys: same token %v, endpoint calls %d (want a new token)", got == tok, stats.EndpointCalls.Load())
	}
}

// TestTokenCallsPer1000GraphRequests reports token endpoint calls per 1,000
// Graph requests over many runs of every job: one token for its lifetime.
func TestTokenCallsPer1000GraphRequests(t *testing.T) {
	t.Parallel()
	srv := startTenant(t, 50)
	stats := &daemon.TokenStats{}
	g, traffic := graphVia(t, srv, secretCredential(t, srv, nil, stats), 0)
	var groups []string
	for _, grp := range srv.Groups() {
		groups = append(groups, `"`+grp.ID+`"`)
	}
	sch := &daemon.Scheduler{Config: mustConfig(t, `{"jobs":[
		{"name":"directory-sync","every":"15m"},
		{"name":"expiring-credentials","cron":"0 6 * * *","settings":{"within_days":3650}},
		{"name":"group-snapshot","every":"1h","settings":{"groups":[`+strings.Join(groups, ",")+`]}}]}`),
		Graph: g, DB: openSQLite(t), Tokens: stats, Logger: discardLogger()}
	for range 8 {
		for _, job := range []string{"directory-sync", "expiring-credentials", "group-snapshot"} {
			runJob(t, sch, job, 1)
		}
	}
	requests, calls := traffic.requests.Load(), stats.EndpointCalls.Load()
	t.Logf("%d Graph requests, %d token requests (%d from the cache), %d token endpoint calls: %.2f per 1,000 Graph requests",
		requests, stats.Calls.Load(), stats.CacheHits.Load(), calls, float64(calls)*1000/float64(requests))
	if calls != 1 {
		t.Errorf("%d token endpoint calls, want 1 for the token's lifetime", calls)
	}
	if requests < 100 {
		t.Errorf("only %d Graph requests", requests)
	}
}

// selfSignedPEM makes a certificate and its key, as a PEM file's content.
func selfSignedPEM(t testing.TB) (*x509.Certificate, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "entrakit-daemon-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return cert, append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...)
}

// miTenants counts the dev tenants whose managed identities this process
// used (see TestCredentialKinds).
var miTenants atomic.Int32

// TestCredentialKinds runs jobs with every credential NewCredential makes
// besides the client secret: managed identity (system- and user-assigned,
// App Service style), workload identity (a federated assertion file) and a
// certificate. MSAL Go caches managed identity tokens process-wide by
// identity and resource, not by endpoint (docs/devtenant.md): a second dev
// tenant in this process (go test -count=2) would be served the first one's
// token, so the system-assigned case runs once per process and each run
// uses a user-assigned identity of its own.
func TestCredentialKinds(t *testing.T) {
	srv := startTenant(t, 50)
	tenantNo := miTenants.Add(1)
	mi := srv.ManagedIdentity()
	t.Setenv("IDENTITY_ENDPOINT", mi.Endpoint)
	t.Setenv("IDENTITY_HEADER", mi.Header)
	t.Setenv("IDENTITY_SERVER_THUMBPRINT", "")
	os.Unsetenv("IDENTITY_SERVER_THUMBPRINT")
	ua, err := srv.AddUserAssignedIdentity(fmt.Sprintf("entrakit-daemon-test-%d", tenantNo))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const subject = "system:serviceaccount:entrakit:daemon"
	if err := srv.AddFederatedCredential(daemonAppID, devtenant.FederatedCredential{Name: "daemon-test", Issuer: srv.WorkloadIssuer(),
		Subject: subject, Audiences: []string{devtenant.DefaultFederatedAudience}}); err != nil {
		t.Fatal(err)
	}
	wt, err := srv.IssueWorkloadToken(subject, devtenant.DefaultFederatedAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	assertion := filepath.Join(dir, "federated-token")
	if err := os.WriteFile(assertion, []byte(wt+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, certPEM := selfSignedPEM(t)
	if err := srv.AddClientCertificate(daemonAppID, cert); err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(dir, "daemon.pem")
	if err := os.WriteFile(certPath, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	withCred := func(c entra.Credential) entra.Config { cfg := appConfig(srv); cfg.Credential = c; return cfg }

	for _, tc := range []struct {
		name    string
		cfg     entra.Config
		wantApp string
	}{
		{"system-assigned managed identity", withCred(entra.Credential{ManagedIdentity: &entra.ManagedIdentity{}}), mi.ClientID},
		{"user-assigned managed identity", withCred(entra.Credential{ManagedIdentity: &entra.ManagedIdentity{ClientID: ua.ClientID}}), ua.ClientID},
		{"workload identity", withCred(entra.Credential{ClientAssertionFile: assertion}), daemonAppID},
		{"certificate", withCred(entra.Credential{CertificatePath: certPath}), daemonAppID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Credential.ManagedIdentity != nil && tc.cfg.Credential.ManagedIdentity.ClientID == "" && tenantNo > 1 {
				t.Skip("MSAL Go's process-wide managed identity cache holds an earlier dev tenant's system-assigned token")
			}
			stats := &daemon.TokenStats{}
			cred, err := daemon.NewCredential(tc.cfg, daemon.CredentialOptions{HTTPClient: srv.Client(), Stats: stats, Cache: memoryCache(t)})
			if err != nil {
				t.Fatal(err)
			}
			g, _ := graphVia(t, srv, cred, 0)
			db := openSQLite(t)
			sch := &daemon.Scheduler{Config: mustConfig(t, `{"jobs":[]}`), Graph: g, DB: db, Tokens: stats, Logger: discardLogger()}
			runJob(t, sch, "directory-sync", 2)
			runJob(t, sch, "expiring-credentials", 1)
			sameUsers(t, directoryUsers(srv), dbUsers(t, db))
			if n := stats.EndpointCalls.Load(); n != 1 || stats.EndpointErrors.Load() != 0 {
				t.Errorf("token endpoint called %d times (%d errors) over 3 runs, want 1", n, stats.EndpointErrors.Load())
			}
			if calls, hits := stats.Calls.Load(), stats.CacheHits.Load(); calls < 3 || hits != calls-1 {
				t.Errorf("%d token requests, %d from the cache", calls, hits)
			}
			if app := appOf(tokenClaims(t, getToken(t, cred))); app != tc.wantApp {
				t.Errorf("token issued to %s, want %s", app, tc.wantApp)
			}
		})
	}

	t.Run("a certificate credential without a cache is refused", func(t *testing.T) {
		if _, err := daemon.NewCredential(withCred(entra.Credential{CertificatePath: certPath}), daemon.CredentialOptions{HTTPClient: srv.Client()}); err == nil {
			t.Error("NewCredential accepted a certificate credential with no token cache")
		}
	})
}
