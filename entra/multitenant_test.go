package entra_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

// multiTenantManifest is infra's manifest with the web app registered for
// any organization (AzureADMultipleOrgs).
func multiTenantManifest(t testing.TB) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(devtenanttest.Manifest(), &m); err != nil {
		t.Fatal(err)
	}
	for _, a := range m["applications"].([]any) {
		if app := a.(map[string]any); strings.EqualFold(app["appId"].(string), webAppID) {
			app["signInAudience"] = "AzureADMultipleOrgs"
		}
	}
	out, _ := json.Marshal(m)
	return out
}

// TestMultiTenantSignIn: a multi-tenant web app on organizations, end to end
// through entra.SignIn: the issuer template accepts each tenant's tokens,
// and the allow-list decides which tenants may sign in.
func TestMultiTenantSignIn(t *testing.T) {
	srv := devtenanttest.Start(t, func(o *devtenant.Options) { o.Manifest = multiTenantManifest(t) })
	contoso, fabrikam := srv.TenantID(), directory.GuestHomeTenantID
	kai := fabrikamPersona(t, srv, "kai")
	adele := devtenanttest.Persona(t, srv, "AdeleV")
	for _, tc := range []struct {
		name    string
		allowed []string
		who     devtenant.Persona
		tid     string
		wantErr error
	}{
		{"Fabrikam allowed", []string{contoso, fabrikam}, kai, fabrikam, nil},
		{"any tenant", []string{"*"}, kai, fabrikam, nil},
		{"Contoso only refuses Fabrikam", []string{contoso}, kai, "", entra.ErrTenantNotAllowed},
		{"Contoso only admits Contoso", []string{contoso}, adele, contoso, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tt, err := tenantOf(srv)
			if err != nil {
				t.Fatal(err)
			}
			tt.cfg.TenantID, tt.cfg.AllowedTenants = "organizations", tc.allowed
			md, err := entra.Discover(context.Background(), tt.client, tt.cfg.Authority())
			if err != nil {
				t.Fatal(err)
			}
			if md.Issuer != srv.URL()+"/{tenantid}/v2.0" {
				t.Fatalf("organizations issuer = %q, want the template", md.Issuer)
			}
			tt.keys = &entra.RemoteKeySet{JWKSURL: md.JWKSURI, HTTPClient: tt.client}
			si := tt.signIn(t)
			txn, resp := signInFlow(t, si, srv.NewBrowser(tc.who.Username, tc.who.Password), entra.BeginOptions{Scopes: []string{"User.Read"}})
			res, err := si.Complete(context.Background(), txn, resp.Params)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Complete: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Identity.TenantID != tc.tid {
				t.Errorf("tid = %s, want %s", res.Identity.TenantID, tc.tid)
			}
		})
	}

	t.Run("a single-tenant configuration refuses the other tenant's token", func(t *testing.T) {
		// Same keys for every tenant (as Entra's): only iss stops it.
		tt, err := tenantOf(srv)
		if err != nil {
			t.Fatal(err)
		}
		organizations := tt.cfg
		organizations.TenantID, organizations.AllowedTenants = "organizations", []string{"*"}
		app, err := entra.NewConfidentialClient(organizations, entra.ClientOptions{HTTPClient: tt.client})
		if err != nil {
			t.Fatal(err)
		}
		si := &entra.SignIn{Client: app, Config: organizations, Validator: entra.NewValidator(tt.cfg, tt.keys)}
		txn, resp := signInFlow(t, si, srv.NewBrowser(kai.Username, kai.Password), entra.BeginOptions{Scopes: []string{"User.Read"}})
		if _, err := si.Complete(context.Background(), txn, resp.Params); !errors.Is(err, entra.ErrInvalidIssuer) {
			t.Fatalf("Fabrikam's ID token against Contoso's issuer: %v, want %v", err, entra.ErrInvalidIssuer)
		}
	})
}

// TestGuestSignIn: a B2B guest signs in to Contoso's single-tenant app with
// their Fabrikam account; the identity is Contoso's guest object.
func TestGuestSignIn(t *testing.T) {
	tt := startTenant(t)
	pat := tt.persona(t, "pat")
	si := tt.signIn(t)
	txn, resp := signInFlow(t, si, tt.srv.NewBrowser(pat.Username, pat.Password), entra.BeginOptions{Scopes: []string{"User.Read"}})
	res, err := si.Complete(context.Background(), txn, resp.Params)
	if err != nil {
		t.Fatal(err)
	}
	if res.Identity.TenantID != tt.srv.TenantID() || res.Identity.ObjectID != pat.OID || res.Identity.Username != "pat@fabrikam.com" {
		t.Errorf("guest identity = %+v", res.Identity)
	}
}

// fabrikamPersona is one of the guest home tenant's people.
var fabrikamPersona = devtenanttest.GuestHomePersona
