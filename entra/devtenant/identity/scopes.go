package identity

import (
	"sort"
	"strings"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// scopeRequest is a parsed scope parameter.
type scopeRequest struct {
	raw      []string // as sent (OIDC scopes and res's), minus duplicates
	oidc     map[string]bool
	res      *directory.Resource
	aud      string   // the identifier the resource was named by (v1 tokens' aud)
	values   []string // permission values on res, canonical case
	dotDeflt bool     // <resource>/.default
	// more are the further resources of an authorize request, which asks
	// consent for several up front; a token is for res only.
	more []*scopeRequest
}

// scope is the scope a token request without one gets: the OIDC scopes and
// the first resource's, as sent.
func (sr *scopeRequest) scope() string { return strings.Join(sr.raw, " ") }

// parseScopes splits scope into OIDC scopes and the permissions of one
// resource, as Entra's token endpoint does: at most one resource per request
// (AADSTS28000), a bare scope means Microsoft Graph, and an unknown
// permission is invalid_scope.
func parseScopes(tx directory.Tx, scope string) (*scopeRequest, *aadError) {
	return parseScopeList(tx, scope, false)
}

// parseAuthorizeScopes is parseScopes for /authorize, where several
// resources may be named: the user consents to all of them at once, and the
// code is for the first.
func parseAuthorizeScopes(tx directory.Tx, scope string) (*scopeRequest, *aadError) {
	return parseScopeList(tx, scope, true)
}

func parseScopeList(tx directory.Tx, scope string, several bool) (*scopeRequest, *aadError) {
	sr := &scopeRequest{oidc: map[string]bool{}}
	seen := map[string]bool{}
	for _, sc := range strings.Fields(scope) {
		if seen[strings.ToLower(sc)] {
			continue
		}
		seen[strings.ToLower(sc)] = true
		if oidcScopes[strings.ToLower(sc)] {
			sr.raw = append(sr.raw, sc)
			sr.oidc[strings.ToLower(sc)] = true
			continue
		}
		prefix, value := "", sc
		if i := strings.LastIndex(sc, "/"); i >= 0 {
			prefix, value = sc[:i], sc[i+1:]
		}
		r := tx.ResourceByURI(prefix)
		if r == nil {
			return nil, newAADError(400, "invalid_resource", 500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", prefix, tx.TenantID())
		}
		target := sr.forResource(r, prefix, several)
		if target == nil {
			return nil, invalidScope(28000, "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", scope)
		}
		target.raw = append(target.raw, sc)
		if value == ".default" {
			target.dotDeflt = true
			continue
		}
		def, ok := r.Scopes[strings.ToLower(value)]
		if !ok {
			return nil, invalidScope(70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", sc)
		}
		target.values = append(target.values, def.Value)
	}
	for _, t := range append([]*scopeRequest{sr}, sr.more...) {
		if t.dotDeflt && len(t.values) > 0 {
			return nil, invalidScope(70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid. static scope limit exceeded.", scope)
		}
	}
	if sr.res == nil {
		sr.res = directory.GraphResource
	}
	if sr.aud == "" {
		sr.aud = "https://graph.microsoft.com"
		if !sr.res.Graph {
			sr.aud = sr.res.AppID
		}
	}
	return sr, nil
}

// forResource is the part of sr that holds r's permissions: sr itself for
// the first resource named, one of sr.more for others (several), or nil
// when a second resource is not allowed.
func (sr *scopeRequest) forResource(r *directory.Resource, prefix string, several bool) *scopeRequest {
	if sr.res == nil {
		sr.res, sr.aud = r, prefix
		return sr
	}
	if sr.res.AppID == r.AppID {
		return sr
	}
	if !several {
		return nil
	}
	for _, m := range sr.more {
		if m.res.AppID == r.AppID {
			return m
		}
	}
	m := &scopeRequest{res: r, aud: prefix, oidc: map[string]bool{}}
	sr.more = append(sr.more, m)
	return m
}

// missingConsent lists the permissions of sr (including the OIDC scopes, which
// are Graph permissions) that user has not consented to for client.
func missingConsent(tx directory.Tx, client, userID string, sr *scopeRequest) (missing []directory.ScopeDef) {
	have := func(res *directory.Resource) map[string]bool {
		m := map[string]bool{}
		for _, v := range tx.Granted(client, userID, res) {
			m[strings.ToLower(v)] = true
		}
		return m
	}
	graphHave := have(directory.GraphResource)
	for sc := range sr.oidc {
		if !graphHave[sc] {
			missing = append(missing, directory.GraphResource.Scopes[sc])
		}
	}
	for _, part := range append([]*scopeRequest{sr}, sr.more...) {
		resHave := graphHave
		if !part.res.Graph {
			resHave = have(part.res)
		}
		for _, v := range part.values {
			if !resHave[strings.ToLower(v)] {
				missing = append(missing, part.res.Scopes[strings.ToLower(v)])
			}
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].Value < missing[j].Value })
	return missing
}
