// Package learn_test is the OAuth 2.0 / OpenID Connect course of
// docs/learn made runnable: one Example per topic, each doing the real
// thing against a dev tenant started in this process.
package learn_test

import (
	"context"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/internal/signintest"
)

var (
	// apps are the client ids of infra's registrations: WebApp (the web
	// app and its API), SPA, Daemon and CLI (entractl).
	apps = infra.Apps()
	// apiScope is the web API's delegated permission.
	apiScope = "api://" + apps.WebApp + "/access_as_user"
)

// webRedirect is the web app's registered redirect URI (make run).
const webRedirect = "http://localhost:8080/auth/callback"

// tenant is the course's dev tenant and what every example reads of it.
type tenant struct {
	srv    *devtenant.Server
	client *http.Client // trusts the dev tenant's CA
	keys   *entra.RemoteKeySet
}

// shared is the one dev tenant of the package: Examples take no
// *testing.T, so the first one to call dev starts it and TestMain closes it.
var shared struct {
	once sync.Once
	t    *tenant
	err  error
}

// dev returns the shared dev tenant, starting it on first use.
func dev() *tenant {
	shared.once.Do(func() { shared.t, shared.err = startTenant() })
	must(shared.err)
	return shared.t
}

func startTenant() (*tenant, error) {
	srv, err := devtenant.New(devtenant.Options{Manifest: infra.AppRegistration()})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	client := srv.Client()
	md, err := entra.Discover(context.Background(), client, srv.Authority())
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &tenant{srv: srv, client: client, keys: &entra.RemoteKeySet{JWKSURL: md.JWKSURI, HTTPClient: client}}, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.t != nil {
		shared.t.srv.Close()
	}
	os.Exit(code)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// persona is a person of the tenant by alias ("AdeleV").
func (d *tenant) persona(alias string) devtenant.Persona {
	p, ok := d.srv.Persona(alias)
	if !ok {
		panic("no persona " + alias)
	}
	return p
}

// browser is a fresh browser (no session at the dev tenant yet) in which
// alias signs in with their password.
func (d *tenant) browser(alias string) *devtenant.Browser {
	p := d.persona(alias)
	return d.srv.NewBrowser(p.Username, p.Password)
}

// webApp is the web app's configuration (client secret, redirect URI).
func (d *tenant) webApp() entra.Config { return devmode.WebAppConfig(d.srv, webRedirect) }

// apiValidator checks access tokens as the web API does: audience its
// client id or App ID URI.
func (d *tenant) apiValidator() *entra.Validator {
	v := entra.NewValidator(d.webApp(), d.keys)
	v.Audiences = []string{apps.WebApp, "api://" + apps.WebApp}
	return v
}

// webSignIn signs alias in to the web app with entra.SignIn (topic 03),
// asking for scopes; MSAL's cache in the returned client holds the tokens.
func (d *tenant) webSignIn(alias string, scopes ...string) (confidential.Client, *entra.SignInResult, *entra.Transaction) {
	cfg := d.webApp()
	app, err := entra.NewConfidentialClient(cfg, entra.ClientOptions{HTTPClient: d.client})
	must(err)
	si := &entra.SignIn{Client: app, Config: cfg, Validator: entra.NewValidator(cfg, d.keys)}
	res, txn, err := signintest.SignIn(context.Background(), si, d.browser(alias), entra.BeginOptions{Scopes: scopes})
	must(err)
	return app, res, txn
}

// publicClient is MSAL's public client for entractl's registration, with
// its own in-memory cache unless opts say otherwise.
func (d *tenant) publicClient(opts ...public.Option) public.Client {
	opts = append([]public.Option{public.WithAuthority(d.srv.Authority()), public.WithHTTPClient(d.client),
		public.WithInstanceDiscovery(false)}, opts...)
	app, err := public.New(apps.CLI, opts...)
	must(err)
	return app
}

// cliSignIn is `entractl login`: MSAL's interactive flow (authorization
// code + PKCE on a loopback redirect) with alias at the browser.
func (d *tenant) cliSignIn(alias string, scopes ...string) (public.Client, public.AuthResult) {
	app := d.publicClient()
	res, err := signintest.Interactive(context.Background(), app, d.browser(alias), scopes)
	must(err)
	return app, res
}
