package devtenant_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

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
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}
