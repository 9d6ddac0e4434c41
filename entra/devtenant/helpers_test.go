package devtenant_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
)

var (
	webAppID    = devtenanttest.Apps().WebApp
	spaAppID    = devtenanttest.Apps().SPA
	daemonAppID = devtenanttest.Apps().Daemon
	cliAppID    = devtenanttest.Apps().CLI
)

const webRedirect = "http://localhost:8080/auth/callback"

// startTenant and persona are devtenanttest's, under the names these tests
// have always used.
var (
	startTenant = devtenanttest.Start
	persona     = devtenanttest.Persona
)

// claimsOf decodes a JWT's payload without verifying it (the tests that
// verify use go-oidc).
func claimsOf(t testing.TB, jwt string) map[string]any {
	t.Helper()
	return jwtPart(t, jwt, 1)
}

// headerOf decodes a JWT's header without verifying it.
func headerOf(t testing.TB, jwt string) map[string]any {
	t.Helper()
	return jwtPart(t, jwt, 0)
}

// jwtPart decodes part i (0 header, 1 payload) of a compact JWT as JSON.
func jwtPart(t testing.TB, jwt string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// send sends req with hc and returns the answer and its whole body (read
// and closed); a transport or read error fails t.
func send(t testing.TB, hc *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, b
}

// azClientOptions points an azidentity credential at srv: its authority
// host, over a client trusting its CA.
func azClientOptions(srv *devtenant.Server) azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport: srv.Client(),
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.URL() + "/"},
	}
}

// confidentialApp is an MSAL confidential client of srv for appID with
// cred, as the web app and the daemon configure one.
func confidentialApp(t testing.TB, srv *devtenant.Server, appID string, cred confidential.Credential) confidential.Client {
	t.Helper()
	app, err := confidential.New(srv.Authority(), appID, cred,
		confidential.WithHTTPClient(srv.Client()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// secretApp is confidentialApp with appID's client secret.
func secretApp(t testing.TB, srv *devtenant.Server, appID string) confidential.Client {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(srv.ClientSecret(appID))
	if err != nil {
		t.Fatal(err)
	}
	return confidentialApp(t, srv, appID, cred)
}
