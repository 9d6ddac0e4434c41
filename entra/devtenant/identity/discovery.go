package identity

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

// tenantRef is the tenant segment of a request path, resolved.
type tenantRef struct {
	segment string // as in the path: a tenant id, "common", "organizations" or "consumers"
	// id is the hosted tenant the segment names ("" for the others).
	id    string
	multi bool // common or organizations: the user's tenant decides
	// consumers: personal Microsoft accounts only, which no app of the dev
	// tenant accepts.
	consumers bool
}

// consumersTenantID is the tenant of personal Microsoft accounts, the
// issuer of /consumers.
const consumersTenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"

// resolveTenant accepts a hosted tenant's id or domain, "common",
// "organizations" and "consumers". Anything else is AADSTS90002, as Entra
// answers.
func (p *Provider) resolveTenant(seg string) (tenantRef, *aadError) {
	l := strings.ToLower(seg)
	switch l {
	case "common", "organizations":
		return tenantRef{segment: l, multi: true}, nil
	case "consumers":
		return tenantRef{segment: l, consumers: true}, nil
	}
	for _, d := range p.dirs {
		if l == d.TenantID() || l == d.Domain() {
			return tenantRef{segment: d.TenantID(), id: d.TenantID()}, nil
		}
	}
	return tenantRef{}, invalidRequest(90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", seg)
}

// onlyOrganizations is Entra's answer to an app of the dev tenant (all are
// for work and school accounts) asked for on /consumers.
func onlyOrganizations(client *directory.App) *aadError {
	return invalidRequest(9002332, "Application '%s'(%s) is configured for use by Microsoft Entra users only. Please do not use the /consumers endpoint to serve this request.", client.AppID, client.DisplayName)
}

// notMultiTenant is AADSTS50194: a single-tenant app on common or
// organizations.
func notMultiTenant(client *directory.App) *aadError {
	return invalidRequest(50194, "Application '%s'(%s) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.", client.AppID, client.DisplayName)
}

func (p *Provider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	t, aerr := p.resolveTenant(r.PathValue("tenant"))
	if aerr != nil {
		p.writeTokenError(w, r, aerr)
		return
	}
	base := p.baseURL()
	ep := base + "/" + t.segment
	issuer := base + "/" + t.id + "/v2.0"
	switch {
	case t.multi:
		issuer = base + "/{tenantid}/v2.0"
	case t.consumers:
		issuer = base + "/" + consumersTenantID + "/v2.0"
	}
	u, _ := url.Parse(base)
	graphBase := p.cfg.GraphURL()
	graphHostName := strings.TrimPrefix(graphBase, "https://")
	if graphBase == "" {
		graphBase, graphHostName = graphHost, "graph.microsoft.com"
	}
	// Entra's document, less what the dev tenant does not serve: no
	// device code or Kerberos endpoint, only response_type code, no
	// front-channel logout, no Azure AD Graph or PAS; claims_supported
	// lists the claims its ID tokens carry.
	doc := map[string]any{
		"token_endpoint":                        ep + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              ep + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                issuer,
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     graphBase + "/oidc/userinfo",
		"authorization_endpoint":                ep + "/oauth2/v2.0/authorize",
		"http_logout_supported":                 false,
		"frontchannel_logout_supported":         false,
		"end_session_endpoint":                  ep + "/oauth2/v2.0/logout",
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "preferred_username", "name",
			"tid", "ver", "email", "oid", "sid", "idp", "roles", "groups"},
		"tenant_region_scope": "NA",
		"cloud_instance_name": u.Host,
		"msgraph_host":        graphHostName,
	}
	if t.multi || t.consumers {
		doc["tenant_region_scope"] = nil
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, http.StatusOK, doc)
}

func (p *Provider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if seg := r.PathValue("tenant"); seg != "" {
		if _, aerr := p.resolveTenant(seg); aerr != nil {
			p.writeTokenError(w, r, aerr)
			return
		}
	}
	issuer := p.baseURL() + "/{tenantid}/v2.0"
	now := p.cfg.Now()
	p.lock()
	keys := p.keys.published(now)
	p.unlock()
	out := struct {
		Keys []jwk `json:"keys"`
	}{}
	for _, k := range keys {
		out.Keys = append(out.Keys, k.jwk(issuer))
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	setCORS(w, r)
	writeJSON(w, http.StatusOK, out)
}

// handleInstanceDiscovery answers MSAL's instance discovery with this host as
// its own only alias, for clients that do not turn discovery off.
func (p *Provider) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := strings.TrimPrefix(p.baseURL(), "https://")
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": p.baseURL() + "/common/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host, "preferred_cache": host, "aliases": []string{host},
		}},
	})
}

func handleErrorInfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("AADSTS" + r.URL.Query().Get("code") + ": see https://learn.microsoft.com/entra/identity-platform/reference-error-codes\n"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// setCORS allows browser apps (msal-browser) to call the endpoint cross-origin.
func setCORS(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "" {
		w.Header().Set("Access-Control-Allow-Origin", "*")
	}
}

func handleCORSPreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "content-type, client-request-id, x-client-sku, x-client-ver, x-client-os, x-client-cpu, x-ms-lib-capability, x-client-current-telemetry, x-client-last-telemetry, x-app-name, x-app-ver")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}
