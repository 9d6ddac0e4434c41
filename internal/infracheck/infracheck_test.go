package infracheck

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/daemon"
	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/webapp"
)

// manifest is what these checks read of infra/app-registration.json.
type manifest struct {
	Applications []struct {
		UniqueName string `json:"uniqueName"`
		AppID      string `json:"appId"`
		Web        struct {
			RedirectURIs []string `json:"redirectUris"`
		} `json:"web"`
		SPA struct {
			RedirectURIs []string `json:"redirectUris"`
		} `json:"spa"`
		API struct {
			Scopes []struct{ ID, Value string } `json:"oauth2PermissionScopes"`
		} `json:"api"`
		AppRoles               []struct{ ID, Value string } `json:"appRoles"`
		RequiredResourceAccess []struct {
			ResourceAppID  string                      `json:"resourceAppId"`
			ResourceAccess []struct{ ID, Type string } `json:"resourceAccess"`
		} `json:"requiredResourceAccess"`
	} `json:"applications"`
	GraphPermissions map[string]json.RawMessage `json:"graphPermissions"`
}

func parse(t *testing.T, data []byte) manifest {
	t.Helper()
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// graphDeclared is an app's declared Graph permissions, delegated or
// application.
func (m manifest) graphDeclared(app, kind string) []string {
	var set map[string][]string
	_ = json.Unmarshal(m.GraphPermissions[app], &set)
	return set[kind]
}

// apiDeclared is what app declares on the web app's API: scope and role
// values.
func (m manifest) apiDeclared(app string) []string {
	var api = m.Applications[0]
	for _, a := range m.Applications {
		if a.UniqueName == "entrakit-webapp" {
			api = a
		}
	}
	var out []string
	for _, a := range m.Applications {
		if a.UniqueName != app {
			continue
		}
		for _, rra := range a.RequiredResourceAccess {
			if !strings.EqualFold(rra.ResourceAppID, api.AppID) {
				continue
			}
			for _, ra := range rra.ResourceAccess {
				for _, s := range api.API.Scopes {
					if ra.Type == "Scope" && strings.EqualFold(s.ID, ra.ID) {
						out = append(out, s.Value)
					}
				}
				for _, r := range api.AppRoles {
					if ra.Type == "Role" && strings.EqualFold(r.ID, ra.ID) {
						out = append(out, r.Value)
					}
				}
			}
		}
	}
	return out
}

// requested is every permission the code asks for, by app and kind, with
// who asks.
type request struct{ app, kind, value, by string }

func requested() []request {
	var out []request
	for by, values := range webapp.GraphPermissions() {
		for _, v := range values {
			out = append(out, request{"entrakit-webapp", "delegated", v, "webapp " + by})
		}
	}
	for job, values := range daemon.GraphPermissions() {
		for _, v := range values {
			out = append(out, request{"entrakit-daemon", "application", v, "daemon job " + job})
		}
	}
	// entractl's default scope (cmd/entractl: login and token), and the
	// SPA's and the daemon's permissions on the web app's API.
	out = append(out,
		request{"entrakit-cli", "delegated", "User.Read", "entractl login"},
		request{"entrakit-spa", "api", "access_as_user", "the SPA (webapp /spa/config.json)"},
		request{"entrakit-daemon", "api", "Reports.Read.All", "daemons reading /api/reports/usage"})
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// undeclared lists what the code asks for that m does not declare.
func undeclared(m manifest) []string {
	var out []string
	for _, r := range requested() {
		have := m.graphDeclared(r.app, r.kind)
		if r.kind == "api" {
			have = m.apiDeclared(r.app)
		}
		if !slices.Contains(have, r.value) {
			out = append(out, fmt.Sprintf("%s asks for %s %q, which %s does not declare", r.by, r.kind, r.value, r.app))
		}
	}
	return out
}

// TestCodePermissionsAreDeclared: every permission the code asks for is in
// the manifest, so what Bicep deploys is what the code needs.
func TestCodePermissionsAreDeclared(t *testing.T) {
	m := parse(t, infra.AppRegistration())
	for _, p := range undeclared(m) {
		t.Error(p)
	}
	if len(requested()) < 10 {
		t.Errorf("only %d requests found: the tables the code exports are empty?", len(requested()))
	}

	// The check fails when a permission goes missing.
	for _, tc := range []struct{ app, kind, drop string }{
		{"entrakit-webapp", "delegated", "User.ReadBasic.All"},
		{"entrakit-daemon", "application", "Application.Read.All"},
		{"entrakit-webapp", "delegated", "User.Read.All"},
	} {
		broken := parse(t, infra.AppRegistration())
		var set map[string][]string
		_ = json.Unmarshal(broken.GraphPermissions[tc.app], &set)
		set[tc.kind] = slices.DeleteFunc(set[tc.kind], func(v string) bool { return v == tc.drop })
		broken.GraphPermissions[tc.app], _ = json.Marshal(set)
		if got := undeclared(broken); len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), tc.drop) {
			t.Errorf("dropping %s from %s: undeclared = %v", tc.drop, tc.app, got)
		}
	}
	broken := parse(t, infra.AppRegistration())
	for i := range broken.Applications {
		if broken.Applications[i].UniqueName == "entrakit-spa" {
			broken.Applications[i].RequiredResourceAccess = nil
		}
	}
	if got := undeclared(broken); !strings.Contains(strings.Join(got, "\n"), "access_as_user") {
		t.Errorf("the SPA without access_as_user: undeclared = %v", got)
	}
}

// unserved lists the redirect URIs of m whose path the web app does not
// serve for that platform.
func unserved(m manifest) []string {
	webPaths, spaPaths := webapp.RedirectPaths()
	var out []string
	for _, a := range m.Applications {
		for _, list := range []struct {
			uris, paths []string
			platform    string
		}{{a.Web.RedirectURIs, webPaths, "web"}, {a.SPA.RedirectURIs, spaPaths, "spa"}} {
			for _, raw := range list.uris {
				u, err := url.Parse(raw)
				if err != nil || !slices.Contains(list.paths, u.Path) {
					out = append(out, fmt.Sprintf("%s: %s redirect URI %s is not a path the web app serves (%v)", a.UniqueName, list.platform, raw, list.paths))
				}
			}
		}
	}
	return out
}

// TestRedirectURIsAreServed: the manifest's web and SPA redirect URIs are
// the paths the web app answers — checked on a running web app — and a
// manifest with a path it does not serve is refused.
func TestRedirectURIsAreServed(t *testing.T) {
	m := parse(t, infra.AppRegistration())
	for _, p := range unserved(m) {
		t.Error(p)
	}
	broken := parse(t, infra.AppRegistration())
	broken.Applications[0].Web.RedirectURIs = append(broken.Applications[0].Web.RedirectURIs, "https://localhost:8443/auth/callbak")
	if got := unserved(broken); len(got) != 1 || !strings.Contains(got[0], "callbak") {
		t.Errorf("a misspelled redirect URI: %v", got)
	}

	// The paths answer on a running web app (with the SPA).
	a := newWebApp(t, devtenanttest.Start(t), "http://localhost:8080")
	webPaths, spaPaths := webapp.RedirectPaths()
	for _, p := range append(webPaths, spaPaths...) {
		w := httptest.NewRecorder()
		a.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://localhost:8080"+p, nil))
		if w.Code == http.StatusNotFound || w.Code == http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d", p, w.Code)
		}
	}
}

// newWebApp is the web app (with the SPA) at base against srv, in memory.
func newWebApp(t *testing.T, srv *devtenant.Server, base string) *webapp.App {
	t.Helper()
	keys, _ := tokencache.ParseKeyRing(tokencache.GenerateKey())
	a, err := webapp.New(context.Background(), webapp.Config{
		Entra: devmode.WebAppConfig(srv, base+"/auth/callback"), GraphURL: srv.GraphURL(),
		HTTPClient: devmode.HTTPClient(srv, nil, 30*time.Second), Keys: keys, SPAClientID: devmode.SPAClientID(),
		TokenCache: &tokencache.Cache{Store: tokencache.NewMemoryStore(tokencache.MemoryOptions{}), Keys: keys},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}
