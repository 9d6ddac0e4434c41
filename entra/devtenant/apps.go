package devtenant

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"net/url"
	"sort"
	"strings"
)

// app is a registered application at run time.
type app struct {
	Application
	spID    string              // its service principal's object id
	secrets [][32]byte          // SHA-256 of each valid client secret
	certs   []*x509.Certificate // certificates accepted for client assertions
}

func (a *app) checkSecret(secret string) bool {
	h := sha256.Sum256([]byte(secret))
	ok := 0
	for _, s := range a.secrets {
		ok |= subtle.ConstantTimeCompare(h[:], s[:])
	}
	return ok == 1
}

// platform of a redirect URI: "web", "spa", "public", or "" if unregistered.
// Comparison is exact, byte for byte (fosite CVE-2020-15234 was a
// case-insensitive compare), except that the port of an http loopback URI
// is ignored, whatever the platform: Entra documents that it "ignores the
// port component of localhost redirect URIs" and warns not to register URIs
// differing only by port, because it then picks one of them, web, SPA or
// native, arbitrarily (learn.microsoft.com, "Redirect URI (reply URL)
// restrictions", localhost exceptions). RFC 8252 §7.3 asks the same for
// native apps.
func (a *app) platform(redirectURI string) string {
	for _, p := range []struct {
		name string
		uris []string
	}{{"web", a.Web.RedirectURIs}, {"spa", a.SPA.RedirectURIs}, {"public", a.PublicClient.RedirectURIs}} {
		for _, u := range p.uris {
			if u == redirectURI || loopbackMatch(u, redirectURI) {
				return p.name
			}
		}
	}
	return ""
}

// loopbackMatch: http://localhost[:port]/path registered matches
// http://localhost:<any port>/path (likewise 127.0.0.1); scheme, host and
// path must be equal, byte for byte.
func loopbackMatch(registered, got string) bool {
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

func (s *Server) addApp(a Application) {
	rt := &app{Application: a, spID: deterministicID("sp:" + strings.ToLower(a.AppID))}
	if len(a.PasswordCredentials) > 0 {
		secret := randomSecret()
		rt.secrets = append(rt.secrets, sha256.Sum256([]byte(secret)))
		s.secrets[strings.ToLower(a.AppID)] = secret
	}
	s.apps[strings.ToLower(a.AppID)] = rt
}

// randomSecret looks like an Entra client secret: 40 characters with a "~".
func randomSecret() string {
	r := randomString(30)
	return r[:3] + "8Q~" + r[3:37-3]
}

func (s *Server) app(clientID string) *app { return s.apps[strings.ToLower(clientID)] }

// resource is something tokens are issued for: Microsoft Graph or an app that
// exposes an API.
type resource struct {
	appID   string
	name    string
	uris    []string // identifier URIs, lower case, no trailing slash
	scopes  map[string]scopeDef
	roles   map[string]string // lower value -> value
	version int               // access token version: 1 or 2
	graph   bool
}

type scopeDef struct {
	value string
	admin bool
}

var graphResource = func() *resource {
	r := &resource{appID: GraphAppID, name: "Microsoft Graph", graph: true, version: 1,
		uris:   []string{"https://graph.microsoft.com", GraphAppID},
		scopes: map[string]scopeDef{}, roles: map[string]string{}}
	for _, p := range graphPermissions {
		if p.Delegated {
			r.scopes[strings.ToLower(p.Value)] = scopeDef{p.Value, p.AdminConsent}
		} else {
			r.roles[strings.ToLower(p.Value)] = p.Value
		}
	}
	return r
}()

func (s *Server) resourceByAppID(id string) *resource {
	if strings.EqualFold(id, GraphAppID) {
		return graphResource
	}
	a := s.app(id)
	if a == nil {
		return nil
	}
	r := &resource{appID: strings.ToLower(a.AppID), name: a.DisplayName, version: 1,
		uris:   []string{strings.ToLower(a.AppID)},
		scopes: map[string]scopeDef{}, roles: map[string]string{}}
	if v := a.API.RequestedAccessTokenVersion; v != nil && *v == 2 {
		r.version = 2
	}
	for _, u := range a.IdentifierURIs {
		r.uris = append(r.uris, strings.TrimSuffix(strings.ToLower(u), "/"))
	}
	for _, sc := range a.API.OAuth2PermissionScopes {
		if sc.IsEnabled {
			r.scopes[strings.ToLower(sc.Value)] = scopeDef{sc.Value, sc.Type == "Admin"}
		}
	}
	for _, role := range a.AppRoles {
		if role.IsEnabled {
			r.roles[strings.ToLower(role.Value)] = role.Value
		}
	}
	return r
}

// resourceByURI finds a resource by identifier URI or app id.
func (s *Server) resourceByURI(uri string) *resource {
	uri = strings.TrimSuffix(strings.ToLower(uri), "/")
	if uri == "" {
		return graphResource
	}
	for _, u := range graphResource.uris {
		if u == uri {
			return graphResource
		}
	}
	for _, a := range s.apps {
		if r := s.resourceByAppID(a.AppID); r != nil {
			for _, u := range r.uris {
				if u == uri {
					return r
				}
			}
		}
	}
	return nil
}

var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// scopeRequest is a parsed scope parameter.
type scopeRequest struct {
	raw      []string // as sent, minus duplicates
	oidc     map[string]bool
	res      *resource
	aud      string   // the identifier the resource was named by (v1 tokens' aud)
	values   []string // permission values on res, canonical case
	dotDeflt bool     // <resource>/.default
}

// parseScopes splits scope into OIDC scopes and the permissions of one
// resource, as Entra does: at most one resource per request, a bare scope
// means Microsoft Graph, and an unknown permission is invalid_scope.
func (s *Server) parseScopes(scope string) (*scopeRequest, *aadError) {
	sr := &scopeRequest{oidc: map[string]bool{}}
	seen := map[string]bool{}
	for _, sc := range strings.Fields(scope) {
		if seen[strings.ToLower(sc)] {
			continue
		}
		seen[strings.ToLower(sc)] = true
		sr.raw = append(sr.raw, sc)
		if oidcScopes[strings.ToLower(sc)] {
			sr.oidc[strings.ToLower(sc)] = true
			continue
		}
		prefix, value := "", sc
		if i := strings.LastIndex(sc, "/"); i >= 0 {
			prefix, value = sc[:i], sc[i+1:]
		}
		r := s.resourceByURI(prefix)
		if r == nil {
			return nil, newAADError(400, "invalid_resource", 500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", prefix, s.tenantID)
		}
		if sr.res != nil && sr.res.appID != r.appID {
			return nil, invalidScope(28000, "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", scope)
		}
		if sr.res == nil {
			sr.res, sr.aud = r, prefix
		}
		if value == ".default" {
			sr.dotDeflt = true
			continue
		}
		def, ok := r.scopes[strings.ToLower(value)]
		if !ok {
			return nil, invalidScope(70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", sc)
		}
		sr.values = append(sr.values, def.value)
	}
	if sr.dotDeflt && len(sr.values) > 0 {
		return nil, invalidScope(70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid. static scope limit exceeded.", scope)
	}
	if sr.res == nil {
		sr.res = graphResource
	}
	if sr.aud == "" {
		sr.aud = "https://graph.microsoft.com"
		if !sr.res.graph {
			sr.aud = sr.res.appID
		}
	}
	return sr, nil
}

// grantKey identifies a delegated permission grant: principal "" is the
// tenant-wide admin consent (consentType AllPrincipals).
type grantKey struct{ client, resource, principal string }

func (s *Server) grantManifestConsent(m *Manifest) {
	for _, a := range m.Applications {
		for _, rra := range a.RequiredResourceAccess {
			res := s.resourceByAppID(rra.ResourceAppID)
			if res == nil {
				continue
			}
			for _, ra := range rra.ResourceAccess {
				if v := s.permissionValue(res, ra.ID, ra.Type); v != "" {
					if ra.Type == "Role" {
						s.addAppRole(a.AppID, res.appID, v)
					} else {
						s.addGrant(grantKey{strings.ToLower(a.AppID), res.appID, ""}, v)
					}
				}
			}
		}
	}
}

// permissionValue maps a permission id to its value on res.
func (s *Server) permissionValue(res *resource, id, typ string) string {
	if res.graph {
		for _, p := range graphPermissions {
			if strings.EqualFold(p.ID, id) && p.Delegated == (typ == "Scope") {
				return p.Value
			}
		}
		return ""
	}
	a := s.app(res.appID)
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

func (s *Server) addGrant(k grantKey, values ...string) {
	k.client, k.resource, k.principal = strings.ToLower(k.client), strings.ToLower(k.resource), strings.ToLower(k.principal)
	set := s.grants[k]
	if set == nil {
		set = map[string]bool{}
		s.grants[k] = set
	}
	for _, v := range values {
		set[strings.ToLower(v)] = true
	}
}

func (s *Server) addAppRole(client, res, role string) {
	k := [2]string{strings.ToLower(client), strings.ToLower(res)}
	if s.appRoleGrants[k] == nil {
		s.appRoleGrants[k] = map[string]bool{}
	}
	s.appRoleGrants[k][role] = true
}

// granted returns the delegated permissions user has consented to (or an
// admin for everyone) for client on res, canonical case, sorted.
func (s *Server) granted(client, userID string, res *resource) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range []string{"", strings.ToLower(userID)} {
		for v := range s.grants[grantKey{strings.ToLower(client), res.appID, p}] {
			if seen[v] {
				continue
			}
			seen[v] = true
			if def, ok := res.scopes[v]; ok {
				out = append(out, def.value)
			}
		}
	}
	sort.Strings(out)
	return out
}

// missingConsent lists the permissions of sr (including the OIDC scopes, which
// are Graph permissions) that user has not consented to for client.
func (s *Server) missingConsent(client, userID string, sr *scopeRequest) (missing []scopeDef) {
	have := func(res *resource) map[string]bool {
		m := map[string]bool{}
		for _, v := range s.granted(client, userID, res) {
			m[strings.ToLower(v)] = true
		}
		return m
	}
	graphHave := have(graphResource)
	for sc := range sr.oidc {
		if !graphHave[sc] {
			missing = append(missing, graphResource.scopes[sc])
		}
	}
	resHave := graphHave
	if !sr.res.graph {
		resHave = have(sr.res)
	}
	for _, v := range sr.values {
		if !resHave[strings.ToLower(v)] {
			missing = append(missing, sr.res.scopes[strings.ToLower(v)])
		}
	}
	if sr.dotDeflt && len(resHave) == 0 && !sr.res.graph {
		// .default with nothing granted on a custom API: nothing to consent
		// to statically; Entra asks for the app's required permissions.
		return missing
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].value < missing[j].value })
	return missing
}

// appRoles lists the application permissions granted to client on res.
func (s *Server) appRoles(client string, res *resource) []string {
	var out []string
	for v := range s.appRoleGrants[[2]string{strings.ToLower(client), res.appID}] {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
