package identity

import (
	"sort"
	"strings"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// scopeRequest is a parsed scope parameter.
type scopeRequest struct {
	raw      []string // as sent, minus duplicates
	oidc     map[string]bool
	res      *directory.Resource
	aud      string   // the identifier the resource was named by (v1 tokens' aud)
	values   []string // permission values on res, canonical case
	dotDeflt bool     // <resource>/.default
}

// parseScopes splits scope into OIDC scopes and the permissions of one
// resource, as Entra does: at most one resource per request, a bare scope
// means Microsoft Graph, and an unknown permission is invalid_scope.
func parseScopes(tx directory.Tx, scope string) (*scopeRequest, *aadError) {
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
		r := tx.ResourceByURI(prefix)
		if r == nil {
			return nil, newAADError(400, "invalid_resource", 500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", prefix, tx.TenantID())
		}
		if sr.res != nil && sr.res.AppID != r.AppID {
			return nil, invalidScope(28000, "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", scope)
		}
		if sr.res == nil {
			sr.res, sr.aud = r, prefix
		}
		if value == ".default" {
			sr.dotDeflt = true
			continue
		}
		def, ok := r.Scopes[strings.ToLower(value)]
		if !ok {
			return nil, invalidScope(70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", sc)
		}
		sr.values = append(sr.values, def.Value)
	}
	if sr.dotDeflt && len(sr.values) > 0 {
		return nil, invalidScope(70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid. static scope limit exceeded.", scope)
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
	resHave := graphHave
	if !sr.res.Graph {
		resHave = have(sr.res)
	}
	for _, v := range sr.values {
		if !resHave[strings.ToLower(v)] {
			missing = append(missing, sr.res.Scopes[strings.ToLower(v)])
		}
	}
	if sr.dotDeflt && len(resHave) == 0 && !sr.res.Graph {
		// .default with nothing granted on a custom API: nothing to consent
		// to statically; Entra asks for the app's required permissions.
		return missing
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].Value < missing[j].Value })
	return missing
}
