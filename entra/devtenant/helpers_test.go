package devtenant_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra/devtenant"
)

const (
	webAppID    = "3f6c7b1a-9e2d-4c8f-a5b3-7d1e0f2c4a6b"
	spaAppID    = "b8d2e4f6-1a3c-4e5f-8a9b-0c1d2e3f4a5b"
	daemonAppID = "c4e6a8b0-2d4f-4a6c-8e0a-1b3c5d7e9f0a"
	cliAppID    = "d1f3b5c7-9e0a-4b2d-8f4a-6c8e0a2b4d6f"
	webRedirect = "http://localhost:8080/auth/callback"
)

// startTenant starts a dev tenant on a free loopback port for one test.
func startTenant(t testing.TB, mutate ...func(*devtenant.Options)) *devtenant.Server {
	t.Helper()
	manifest, err := os.ReadFile("../../infra/app-registration.json")
	if err != nil {
		t.Fatal(err)
	}
	opts := devtenant.Options{Manifest: manifest}
	for _, m := range mutate {
		m(&opts)
	}
	srv, err := devtenant.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func persona(t testing.TB, srv *devtenant.Server, alias string) devtenant.Persona {
	t.Helper()
	p, ok := srv.Persona(alias)
	if !ok {
		t.Fatalf("no persona %s", alias)
	}
	return p
}

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
