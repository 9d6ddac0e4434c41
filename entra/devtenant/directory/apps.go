package directory

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// App is a registered application at run time.
type App struct {
	Application
	SPID    string              // its service principal's object id
	secrets [][32]byte          // SHA-256 of each valid client secret
	certs   []*x509.Certificate // certificates accepted for client assertions
	// home is the registration when this is a multi-tenant app's service
	// principal in another tenant: credentials are the registration's.
	home *App
	// owner is the tenant the app is registered in.
	owner string
}

// OwnerTenantID is the tenant the app is registered in (Graph's
// appOwnerOrganizationId).
func (a *App) OwnerTenantID() string { return a.Registration().owner }

// Certificates are the certificates accepted for the app's client
// assertions. Read only.
func (a *App) Certificates() []*x509.Certificate { return a.Registration().certs }

// RoleApp is the app id whose user roles User.AppRoles holds.
func (tx Tx) RoleApp() string { return tx.d.roleApp }

// Apps lists the registered apps, by app id.
func (tx Tx) Apps() []*App {
	return sortedBy(tx.d.apps, func(a *App) string { return a.AppID })
}

// CheckSecret reports, in constant time, whether secret is one of the app's.
func (a *App) CheckSecret(secret string) bool {
	h := sha256.Sum256([]byte(secret))
	ok := 0
	for _, s := range a.Registration().secrets {
		ok |= subtle.ConstantTimeCompare(h[:], s[:])
	}
	return ok == 1
}

// Platform of a redirect URI: "web", "spa", "public", or "" if unregistered.
// Comparison is exact, byte for byte (fosite CVE-2020-15234 was a
// case-insensitive compare), except that the port of an http loopback URI
// is ignored, whatever the platform: Entra documents that it "ignores the
// port component of localhost redirect URIs" and warns not to register URIs
// differing only by port, because it then picks one of them, web, SPA or
// native, arbitrarily (learn.microsoft.com, "Redirect URI (reply URL)
// restrictions", localhost exceptions). RFC 8252 §7.3 asks the same for
// native apps.
func (a *App) Platform(redirectURI string) string {
	for _, p := range []struct {
		Name string
		URIs []string
	}{{"web", a.Web.RedirectURIs}, {"spa", a.SPA.RedirectURIs}, {"public", a.PublicClient.RedirectURIs}} {
		for _, u := range p.URIs {
			if u == redirectURI || LoopbackMatch(u, redirectURI) {
				return p.Name
			}
		}
	}
	return ""
}

// LoopbackMatch: http://localhost[:port]/path registered matches
// http://localhost:<any port>/path (likewise 127.0.0.1); scheme, host and
// path must be equal, byte for byte.
func LoopbackMatch(registered, got string) bool {
	r, err1 := url.Parse(registered)
	g, err2 := url.Parse(got)
	if err1 != nil || err2 != nil || r.Scheme != "http" || g.Scheme != "http" {
		return false
	}
	if h := r.Hostname(); h != g.Hostname() || (h != "localhost" && h != "127.0.0.1") {
		return false
	}
	if r.User != nil || g.User != nil || r.RawQuery != g.RawQuery || r.Fragment != "" || g.Fragment != "" || g.Opaque != "" {
		return false
	}
	if p := g.Port(); p != "" && strings.Trim(p, "0123456789") != "" {
		return false
	}
	rp, gp := r.EscapedPath(), g.EscapedPath()
	return rp == gp || (rp == "" && gp == "/") || (rp == "/" && gp == "")
}

func (d *Directory) addApp(a Application) {
	rt := &App{Application: a, SPID: DeterministicID("sp:" + strings.ToLower(a.AppID)), owner: d.tenantID}
	if len(a.PasswordCredentials) > 0 {
		secret := randomSecret()
		rt.secrets = append(rt.secrets, sha256.Sum256([]byte(secret)))
		d.secrets[strings.ToLower(a.AppID)] = secret
	}
	d.apps[strings.ToLower(a.AppID)] = rt
}

// randomSecret looks like an Entra client secret: 40 characters with a "~".
func randomSecret() string {
	r := rand.Text() + rand.Text()
	return r[:3] + "8Q~" + r[3:37]
}

// App finds an app by its client id (appId), any case.
func (tx Tx) App(clientID string) *App { return tx.d.apps[strings.ToLower(clientID)] }

// Resource is something tokens are issued for: Microsoft Graph or an app that
// exposes an API.
type Resource struct {
	AppID   string
	Name    string
	URIs    []string // identifier URIs, lower case, no trailing slash
	Scopes  map[string]ScopeDef
	Roles   map[string]string // lower value -> value
	Version int               // access token version: 1 or 2
	Graph   bool
}

// ScopeDef is a delegated permission: its value and whether only an
// administrator may consent to it.
type ScopeDef struct {
	Value string
	Admin bool
}

// GraphResource is Microsoft Graph as a resource, with the permissions the
// emulator knows.
var GraphResource = func() *Resource {
	r := &Resource{AppID: GraphAppID, Name: "Microsoft Graph", Graph: true, Version: 1,
		URIs:   []string{"https://graph.microsoft.com", GraphAppID},
		Scopes: map[string]ScopeDef{}, Roles: map[string]string{}}
	for _, p := range graphPermissions {
		if p.Delegated {
			r.Scopes[strings.ToLower(p.Value)] = ScopeDef{p.Value, p.AdminConsent}
		} else {
			r.Roles[strings.ToLower(p.Value)] = p.Value
		}
	}
	return r
}()

// ResourceByAppID is the resource an app id names: Graph, an app, or nil.
func (tx Tx) ResourceByAppID(id string) *Resource {
	if strings.EqualFold(id, GraphAppID) {
		return GraphResource
	}
	a := tx.App(id)
	if a == nil {
		return nil
	}
	r := &Resource{AppID: strings.ToLower(a.AppID), Name: a.DisplayName, Version: 1,
		URIs:   []string{strings.ToLower(a.AppID)},
		Scopes: map[string]ScopeDef{}, Roles: map[string]string{}}
	if v := a.API.RequestedAccessTokenVersion; v != nil && *v == 2 {
		r.Version = 2
	}
	for _, u := range a.IdentifierURIs {
		r.URIs = append(r.URIs, strings.TrimSuffix(strings.ToLower(u), "/"))
	}
	for _, sc := range a.API.OAuth2PermissionScopes {
		if sc.IsEnabled {
			r.Scopes[strings.ToLower(sc.Value)] = ScopeDef{sc.Value, sc.Type == "Admin"}
		}
	}
	for _, role := range a.AppRoles {
		if role.IsEnabled {
			r.Roles[strings.ToLower(role.Value)] = role.Value
		}
	}
	return r
}

// ResourceByURI finds a resource by identifier URI or app id.
func (tx Tx) ResourceByURI(uri string) *Resource {
	uri = strings.TrimSuffix(strings.ToLower(uri), "/")
	if uri == "" {
		return GraphResource
	}
	for _, u := range GraphResource.URIs {
		if u == uri {
			return GraphResource
		}
	}
	for _, a := range tx.d.apps {
		if r := tx.ResourceByAppID(a.AppID); r != nil {
			for _, u := range r.URIs {
				if u == uri {
					return r
				}
			}
		}
	}
	return nil
}

// grantKey identifies a delegated permission grant: principal "" is the
// tenant-wide admin consent (consentType AllPrincipals).
type grantKey struct{ client, resource, principal string }

// grantManifestConsent grants at start what infra/main.bicep grants with
// grantAdminConsent: the apps' permissions on entrakit's API, and their
// Graph permissions listed as adminConsent (the others stay for
// incremental consent).
func (d *Directory) grantManifestConsent(m *Manifest) {
	tx := Tx{d} // called by New, before the directory is shared
	for _, a := range m.Applications {
		for _, rra := range a.RequiredResourceAccess {
			res := tx.ResourceByAppID(rra.ResourceAppID)
			if res == nil {
				continue
			}
			for _, ra := range rra.ResourceAccess {
				v := tx.permissionValue(res, ra.ID, ra.Type)
				if res.Graph && !slices.Contains(m.GraphPermissions[a.UniqueName].AdminConsent, v) {
					continue
				}
				if v != "" {
					if ra.Type == "Role" {
						tx.addAppRole(a.AppID, res.AppID, v)
					} else {
						tx.AddGrant(a.AppID, res.AppID, "", v)
					}
				}
			}
		}
	}
}

// permissionValue maps a permission id to its value on res.
func (tx Tx) permissionValue(res *Resource, id, typ string) string {
	if res.Graph {
		for _, p := range graphPermissions {
			if strings.EqualFold(p.ID, id) && p.Delegated == (typ == "Scope") {
				return p.Value
			}
		}
		return ""
	}
	a := tx.App(res.AppID)
	if typ == "Role" {
		for _, r := range a.AppRoles {
			if strings.EqualFold(r.ID, id) {
				return r.Value
			}
		}
		return ""
	}
	for _, sc := range a.API.OAuth2PermissionScopes {
		if strings.EqualFold(sc.ID, id) {
			return sc.Value
		}
	}
	return ""
}

// AddGrant records delegated consent of principal ("" = admin consent for
// the whole tenant) for client to values, permissions of resource (an app id).
func (tx Tx) AddGrant(client, resource, principal string, values ...string) {
	k := grantKey{strings.ToLower(client), strings.ToLower(resource), strings.ToLower(principal)}
	set := tx.d.grants[k]
	if set == nil {
		set = map[string]bool{}
		tx.d.grants[k] = set
	}
	for _, v := range values {
		set[strings.ToLower(v)] = true
	}
}

func (tx Tx) addAppRole(client, res, role string) {
	k := [2]string{strings.ToLower(client), strings.ToLower(res)}
	if tx.d.appRoleGrants[k] == nil {
		tx.d.appRoleGrants[k] = map[string]bool{}
	}
	tx.d.appRoleGrants[k][role] = true
}

// Granted returns the delegated permissions user has consented to (or an
// admin for everyone) for client on res, canonical case, sorted.
func (tx Tx) Granted(client, userID string, res *Resource) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range []string{"", strings.ToLower(userID)} {
		for v := range tx.d.grants[grantKey{strings.ToLower(client), res.AppID, p}] {
			if seen[v] {
				continue
			}
			seen[v] = true
			if def, ok := res.Scopes[v]; ok {
				out = append(out, def.Value)
			}
		}
	}
	sort.Strings(out)
	return out
}

// AppRoles lists the application permissions granted to client on res.
func (tx Tx) AppRoles(client string, res *Resource) []string {
	var out []string
	for v := range tx.d.appRoleGrants[[2]string{strings.ToLower(client), res.AppID}] {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
