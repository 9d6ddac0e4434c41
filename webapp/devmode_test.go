package webapp_test

import (
	"context"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/webapp"
)

// devModeInfo is what cmd/webapp passes in dev mode.
func devModeInfo(srv *devtenant.Server, caFile string) *webapp.DevModeInfo {
	info := &webapp.DevModeInfo{CAFile: caFile, CAPEM: srv.CACertPEM()}
	for _, p := range srv.Personas() {
		info.Personas = append(info.Personas, webapp.DevPersona{Name: p.DisplayName, Username: p.Username, Roles: p.Roles,
			Admin: p.Admin, Guest: p.Guest, Disabled: !p.Enabled})
	}
	return info
}

// homePage serves GET / of an app configured with devTenant and devMode.
func homePage(t *testing.T, srv *devtenant.Server, devTenant webapp.DevTenant, devMode *webapp.DevModeInfo) string {
	t.Helper()
	keys, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	a, err := webapp.New(context.Background(), webapp.Config{
		Entra:      devmode.WebAppConfig(srv, "http://localhost:8080/auth/callback"),
		GraphURL:   srv.GraphURL(),
		HTTPClient: devmode.HTTPClient(srv, nil, 30*time.Second),
		TokenCache: &tokencache.Cache{Store: tokencache.NewMemoryStore(tokencache.MemoryOptions{}), Keys: keys},
		Keys:       keys,
		DevTenant:  devTenant,
		DevMode:    devMode,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://localhost:8080/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: %d", rec.Code)
	}
	return rec.Body.String()
}

// TestDevModeHome: in dev mode the home page says whom to sign in as for
// what (from the personas: administrator, app roles, the disabled one, the
// guest) and how to trust the dev tenant's CA, with a download link; in
// production, or with a dev tenant but no DevMode, it says none of it.
func TestDevModeHome(t *testing.T) {
	srv := devtenanttest.Start(t)
	const caFile = "/home/dev/entrakit/.devtenant/ca.pem"
	hints := []string{`id="devmode"`, "Dev mode: whom to sign in as", "one click", "MOD Administrator", "admin@contoso.onmicrosoft.com",
		"Consent on behalf of your organization", "Adele Vance", "AdeleV@contoso.onmicrosoft.com", "the Reader app role",
		"Megan Bowen", "Patti Fernandez", "the Admin app role", "Lynne Robbins", "AADSTS50057", "pat@fabrikam.com", "B2B guest",
		`id="ca-file"`, caFile, `id="ca-download"`, "Firefox", "Trust this CA to identify websites"}
	tests := []struct {
		name      string
		devTenant webapp.DevTenant
		devMode   *webapp.DevModeInfo
		want      bool
	}{
		{"dev mode", srv, devModeInfo(srv, caFile), true},
		{"production", nil, nil, false},
		{"a dev tenant without DevMode", srv, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := homePage(t, srv, tt.devTenant, tt.devMode)
			text := html.UnescapeString(body)
			for _, h := range hints {
				if strings.Contains(text, h) != tt.want {
					t.Errorf("%q on the page: %v, want %v", h, !tt.want, tt.want)
				}
			}
			for _, p := range srv.Personas() {
				if strings.Contains(body, p.Password) {
					t.Errorf("%s's password is on the page", p.Username)
				}
			}
			if tt.devTenant == nil {
				for _, never := range []string{"ca.pem", "data:application/x-pem-file", "persona"} {
					if strings.Contains(text, never) {
						t.Errorf("production home page mentions %q", never)
					}
				}
			}
			if !tt.want {
				return
			}
			// The download link is the CA itself.
			m := regexp.MustCompile(`id="ca-download" href="data:application/x-pem-file;base64,([A-Za-z0-9+/=]+)" download="entrakit-devtenant-ca.pem"`).FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no CA download link:\n%s", body)
			}
			if pem, err := base64.StdEncoding.DecodeString(m[1]); err != nil || string(pem) != string(srv.CACertPEM()) {
				t.Errorf("the download link holds %d bytes (%v), not the CA", len(pem), err)
			}
		})
	}
}

// TestDevModePersonaPickerSignIn: through the web app, a tenant with the
// persona picker signs a persona in with one click (no password).
func TestDevModePersonaPickerSignIn(t *testing.T) {
	tt := &tenant{srv: devtenanttest.Start(t, func(o *devtenant.Options) { o.PersonaPicker = true })}
	a := startApp(t, tt, appOptions{})
	u := newUser(t, tt, "MeganB")
	u.browser.Username, u.browser.Password, u.browser.Persona = "", "", u.persona.OID
	u.signIn(a, "/")
	mustContain(t, u.get(a.URL+"/").Body, "You are signed in as <strong>Megan Bowen</strong>", "App roles: Admin.")
}
