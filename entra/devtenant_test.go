package entra_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
)

var (
	webAppID = infra.Apps().WebApp
	spaAppID = infra.Apps().SPA
)

const webRedirect = "http://localhost:8080/auth/callback"

// tenant is a dev tenant plus the entra pieces a test needs against it.
type tenant struct {
	srv    *devtenant.Server
	cfg    entra.Config
	client *http.Client
	keys   *entra.RemoteKeySet
}

func startTenant(t testing.TB) *tenant {
	t.Helper()
	tt, err := tenantOf(devtenanttest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// tenantOf configures the web app against srv and discovers its keys.
func tenantOf(srv *devtenant.Server) (*tenant, error) {
	cfg := devmode.WebAppConfig(srv, webRedirect)
	client := srv.Client()
	md, err := entra.Discover(context.Background(), client, cfg.Authority())
	if err != nil {
		return nil, err
	}
	return &tenant{srv: srv, cfg: cfg, client: client, keys: &entra.RemoteKeySet{JWKSURL: md.JWKSURI, HTTPClient: client}}, nil
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
	return devtenanttest.Persona(t, tt.srv, alias)
}

// browser is a fresh browser (no session yet) of alias.
func (tt *tenant) browser(t testing.TB, alias string) *devtenant.Browser {
	t.Helper()
	p := tt.persona(t, alias)
	return tt.srv.NewBrowser(p.Username, p.Password)
}

func TestSignInEndToEnd(t *testing.T) {
	tt := startTenant(t)
	ctx := context.Background()
	si := tt.signIn(t)
	adele := tt.persona(t, "AdeleV")
	txn, resp := signInFlow(t, si, tt.srv.NewBrowser(adele.Username, adele.Password), entra.BeginOptions{Scopes: []string{"User.Read"}, ReturnTo: "/me"})
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
