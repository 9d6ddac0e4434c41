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
	setPublicCORS(w)
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
	// Kerberos endpoint, only response_type code, no front-channel
	// logout, no Azure AD Graph or PAS; claims_supported lists the claims
	// its ID tokens carry.
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
		"device_authorization_endpoint":         ep + "/oauth2/v2.0/devicecode",
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
	setPublicCORS(w)
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
	writeJSON(w, http.StatusOK, out)
}

// handleInstanceDiscovery answers MSAL's instance discovery with this host as
// its own only alias, for clients that do not turn discovery off.
func (p *Provider) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	setPublicCORS(w)
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

// CORS, as Entra answers browser apps.
//
// The discovery document, the JWKS and instance discovery are public: any
// origin may read them (Access-Control-Allow-Origin: *). msal-browser fetches
// the first and the last cross-origin. That Entra serves them to any origin
// this way was not verified against a live tenant.
//
// The token endpoint allows cross-origin requests only for single-page apps:
// an app registered with a "spa" redirect URI whose origin is the request's
// (Entra docs, "Redirect URIs for single-page apps": without it "you will
// see this error in the console: ... No 'Access-Control-Allow-Origin'
// header is present on the requested resource"). For any other client, or
// another origin, the answer carries no CORS header, errors included: the
// browser reports a network error and the app never sees the body.

// setPublicCORS lets any origin read a public document.
func setPublicCORS(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
}

// setTokenCORS allows the request's Origin to read the token endpoint's
// answer when clientID is a single-page app registered for that origin.
func setTokenCORS(p *Provider, w http.ResponseWriter, r *http.Request, clientID string) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	w.Header().Add("Vary", "Origin") // the answer depends on it, allowed or not
	if clientID == "" {
		return
	}
	p.lock()
	reg := p.registration(clientID)
	allowed := reg != nil && spaOriginAllowed(reg.SPA.RedirectURIs, origin)
	p.unlock()
	if allowed {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		// The response headers msal-common reads (HeaderNames.RETRY_AFTER
		// for its throttling, X_MS_REQUEST_ID, X_MS_HTTP_VERSION for
		// telemetry) are not CORS-safelisted: without this a browser hides
		// them. Whether Entra exposes them is not verified.
		h.Set("Access-Control-Expose-Headers", "Retry-After, x-ms-request-id, x-ms-httpver")
	}
}

// spaOriginAllowed: origin (an Origin header) is the origin of one of the
// SPA redirect URIs. An http loopback origin matches whatever its port, as
// redirect URIs do (directory.LoopbackMatch: Entra ignores the port of
// localhost redirect URIs, so a dev server on any port completes the
// sign-in and then redeems its code from that port; that Entra's CORS check
// is as lenient is not verified).
func spaOriginAllowed(redirectURIs []string, origin string) bool {
	got, ok := serializeOrigin(origin)
	if !ok || got != origin { // browsers send the origin serialized
		return false
	}
	for _, u := range redirectURIs {
		want, ok := serializeOrigin(u)
		if !ok {
			continue
		}
		if want == got || loopbackOrigin(want, got) {
			return true
		}
	}
	return false
}

// serializeOrigin is the origin of an http(s) URL as browsers serialize it
// (RFC 6454 §6.1): lowercase scheme and host, the port only when it is not
// the scheme's default, IPv6 literals in brackets.
func serializeOrigin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

// loopbackOrigin: two serialized http origins on the same loopback host,
// ports aside.
func loopbackOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil || ua.Scheme != "http" || ub.Scheme != "http" {
		return false
	}
	h := ua.Hostname()
	return h == ub.Hostname() && (h == "localhost" || h == "127.0.0.1")
}

// corsRequestHeaders are the request headers msal-browser 5 (msal-common 16)
// sends to the token endpoint, lowercase. msal-common's
// createTokenRequestHeaders (protocol/Token.mjs) sets Content-Type
// (HeaderNames.CONTENT_TYPE, URL_FORM_CONTENT_TYPE) and, unless
// preventCorsPreflight, X-AnchorMailbox (HeaderNames.CCS_HEADER);
// addDpopTokenProofHeader sets DPoP (HeaderNames.DPOP) for the DPoP scheme.
// Everything else (client-request-id, x-client-SKU/VER/OS/CPU,
// x-client-current-telemetry, x-client-last-telemetry, x-ms-lib-capability,
// x-app-name, x-app-ver) msal-common sends as query or body parameters
// (RequestParameterBuilder.mjs), precisely to avoid a preflight.
var corsRequestHeaders = map[string]bool{"content-type": true, "x-anchormailbox": true, "dpop": true}

// handleCORSPreflight answers a preflight of the token endpoint. It has no
// body, hence no client_id: it allows the origin, POST and msal's headers,
// and the POST that follows is checked against the client.
func handleCORSPreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Add("Vary", "Access-Control-Request-Headers")
	origin := r.Header.Get("Origin")
	if origin == "" {
		w.WriteHeader(http.StatusNoContent) // not a CORS preflight
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "POST")
	asked := r.Header.Values("Access-Control-Request-Headers")
	if list := strings.Join(asked, ", "); strings.TrimSpace(list) != "" && allowedRequestHeaders(asked) {
		// Reflected only when every header asked is one msal sends: the
		// browser then blocks a request with any other header.
		h.Set("Access-Control-Allow-Headers", list)
	}
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// allowedRequestHeaders: every header named in the Access-Control-Request-Headers
// values is in corsRequestHeaders.
func allowedRequestHeaders(values []string) bool {
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" && !corsRequestHeaders[name] {
				return false
			}
		}
	}
	return true
}
