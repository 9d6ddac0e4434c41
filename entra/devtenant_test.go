package entra_test

import (
	"context"
	"net/http"
	"os"
	"testing"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
)

const (
	webAppID    = "3f6c7b1a-9e2d-4c8f-a5b3-7d1e0f2c4a6b"
	spaAppID    = "b8d2e4f6-1a3c-4e5f-8a9b-0c1d2e3f4a5b"
	daemonAppID = "c4e6a8b0-2d4f-4a6c-8e0a-1b3c5d7e9f0a"
	webRedirect = "http://localhost:8080/auth/callback"
)

// tenant is a dev tenant plus the entra pieces a test needs against it.
type tenant struct {
	srv    *devtenant.Server
	cfg    entra.Config
	client *http.Client
	keys   *entra.RemoteKeySet
}

func startTenant(t testing.TB) *tenant {
	t.Helper()
	manifest, err := os.ReadFile("../infra/app-registration.json")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := devtenant.New(devtenant.Options{Manifest: manifest})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg := entra.Config{
		Cloud:       entra.Cloud{Name: "dev", AuthorityHost: srv.URL() + "/", GraphEndpoint: "https://graph.microsoft.com"},
		TenantID:    srv.TenantID(),
		ClientID:    webAppID,
		Credential:  entra.Credential{ClientSecret: srv.ClientSecret(webAppID)},
		RedirectURI: webRedirect,
	}
	client := srv.Client()
	md, err := entra.Discover(context.Background(), client, cfg.Authority())
	if err != nil {
		t.Fatal(err)
	}
	return &tenant{srv: srv, cfg: cfg, client: client, keys: &entra.RemoteKeySet{JWKSURL: md.JWKSURI, HTTPClient: client}}
}

func (tt *tenant) signIn(t testing.TB) *entra.SignIn {
	t.Helper()
	app, err := entra.NewConfidentialClient(tt.cfg, entra.ClientOptions{HTTPClient: tt.client})
	if err != nil {
		t.Fatal(err)
	}
	return &entra.SignIn{Client: app, Config: tt.cfg, Validator: entra.NewValidator(tt.cfg, tt.keys)}
}

func (tt *tenant) persona(t testing.TB, alias string) devtenant.Persona {
	t.Helper()
	p, ok := tt.srv.Persona(alias)
	if !ok {
		t.Fatalf("no persona %s", alias)
	}
	return p
}

func TestSignInEndToEnd(t *testing.T) {
	tt := startTenant(t)
	ctx := context.Background()
	si := tt.signIn(t)
	authURL, txn, err := si.Begin(ctx, entra.BeginOptions{Scopes: []string{"User.Read"}, ReturnTo: "/me"})
	if err != nil {
		t.Fatal(err)
	}
	adele := tt.persona(t, "AdeleV")
	resp, err := tt.srv.NewBrowser(adele.Username, adele.Password).Authorize(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	res, err := si.Complete(ctx, txn, resp.Params)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Identity
	if id.ObjectID != adele.OID || id.TenantID != tt.srv.TenantID() || id.Username != adele.Username || id.Name != "Adele Vance" {
		t.Errorf("identity = %+v", id)
	}
	if len(id.Roles) != 1 || id.Roles[0] != "Reader" || len(id.Groups) == 0 {
		t.Errorf("roles %v groups %v", id.Roles, id.Groups)
	}
	if res.ReturnTo != "/me" || res.Account.LocalAccountID != adele.OID {
		t.Errorf("returnTo %q account %+v", res.ReturnTo, res.Account)
	}
	// The transaction is single use.
	if _, err := si.Complete(ctx, txn, resp.Params); err != entra.ErrTransactionUsed {
		t.Errorf("second Complete: %v, want ErrTransactionUsed", err)
	}
}
