package identity

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
	"github.com/entrakit/entrakit/entra/devtenant/fault"
)

const (
	refreshLifetime    = 90 * 24 * time.Hour
	spaRefreshLifetime = 24 * time.Hour // Entra's fixed SPA limit (AADSTS700084)
	jwtBearer          = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// refreshGrant is the server-side state behind an opaque refresh token.
// Entra does not invalidate a refresh token when it issues a new one; it
// expires, or is revoked with the user's sessions.
type refreshGrant struct {
	tenantID string // the tenant its tokens are issued in
	clientID string
	// scope is what a refresh without a scope parameter gets: the scope of
	// the request that produced the grant.
	scope    string
	userID   string
	platform string
	sid      string
	authTime time.Time
	xmsCC    bool
	created  time.Time
	expires  time.Time
	revoked  bool
}

// tokenCall is one token request being answered, under the provider's
// lock: the grants and client authentication are its methods.
type tokenCall struct {
	p    *Provider
	r    *http.Request
	t    tenantRef
	form url.Values
	now  time.Time
}

// clientAuth is how the client authenticated at the token endpoint.
type clientAuth struct {
	client *directory.App
	acr    string // azpacr / appidacr: "0" none, "1" secret, "2" certificate
}

func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	// The form is read first for its client_id: CORS depends on the client,
	// and a single-page app must see every answer, throttling included.
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	form, formErr := parseTokenForm(r)
	setTokenCORS(p, w, r, form.Get("client_id"))
	if f := p.faults.Take(fault.Token); f != nil {
		if !f.Wait(r.Context()) {
			return
		}
		if f.Status != 0 {
			f.SetRetryAfter(w.Header())
			e := newAADError(f.Status, "temporarily_unavailable", 90000+f.Status, "The service is temporarily unavailable (fault injected by the dev tenant).")
			if f.Status == http.StatusTooManyRequests {
				e = newAADError(f.Status, "temporarily_unavailable", 50196, "The server terminated an operation because it encountered a client request loop (throttled by the dev tenant).")
			}
			p.writeTokenError(w, r, e)
			return
		}
	}
	t, aerr := p.resolveTenant(r.PathValue("tenant"))
	if aerr != nil {
		p.writeTokenError(w, r, aerr)
		return
	}
	if formErr != nil {
		p.writeTokenError(w, r, formErr)
		return
	}
	// A federated client assertion is verified before taking the lock: it
	// may need the issuer's keys from the network.
	fed, aerr := p.verifyFederated(r, form)
	if aerr != nil {
		p.writeTokenError(w, r, aerr)
		return
	}
	if fed != nil {
		r = r.WithContext(context.WithValue(r.Context(), federatedKey{}, fed))
	}
	now := p.cfg.Now()
	p.lock()
	m, aerr := (&tokenCall{p: p, r: r, t: t, form: form, now: now}).grant()
	p.unlock()
	if aerr != nil {
		p.writeTokenError(w, r, aerr)
		return
	}
	// Sign outside the lock: RSA is the expensive part and needs no state.
	resp, err := m.sign()
	if err != nil {
		p.writeTokenError(w, r, newAADError(500, "server_error", 90000, "Token signing failed."))
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("client-request-id", r.Header.Get("client-request-id"))
	writeJSON(w, http.StatusOK, resp)
}

// parseTokenForm reads the form body only (never the query: secrets and
// codes must not travel in URLs).
func parseTokenForm(r *http.Request) (url.Values, *aadError) {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return nil, invalidRequest(900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	if err := r.ParseForm(); err != nil {
		return nil, invalidRequest(900144, "The request body could not be parsed.")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, invalidRequest(9000411, "The request is not properly formatted. The parameter '%s' is duplicated.", k)
		}
	}
	return r.PostForm, nil
}

// token runs one grant. Caller holds p.mu.
func (c *tokenCall) grant() (*minted, *aadError) {
	form := c.form
	grant := form.Get("grant_type")
	if grant == "" {
		return nil, invalidRequest(900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	switch grant {
	case "authorization_code":
		return c.authCode()
	case "refresh_token":
		return c.refresh()
	case "client_credentials":
		return c.clientCredentials()
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		return c.onBehalfOf()
	case grantDeviceCode, grantDeviceCodeRFC:
		return c.deviceCode()
	}
	return nil, newAADError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", grant)
}

// authenticate identifies the client and checks its credential. public
// clients must not present one (AADSTS700025); confidential ones must
// (AADSTS7000218).
func (c *tokenCall) authenticate(public bool) (clientAuth, *aadError) {
	p, r, form, now := c.p, c.r, c.form, c.now
	clientID := form.Get("client_id")
	secret := form.Get("client_secret")
	if user, pass, ok := r.BasicAuth(); ok {
		u, _ := url.QueryUnescape(user)
		p, _ := url.QueryUnescape(pass)
		if clientID != "" && !strings.EqualFold(clientID, u) {
			return clientAuth{}, invalidClient(700021, "The client_id in the Authorization header does not match the client_id parameter.")
		}
		clientID, secret = u, p
	}
	assertion, assertionType := form.Get("client_assertion"), form.Get("client_assertion_type")
	if clientID == "" && assertion != "" {
		clientID = assertionSubject(assertion)
	}
	if clientID == "" {
		return clientAuth{}, invalidRequest(900144, "The request body must contain the following parameter: 'client_id'.")
	}
	a := p.tx.App(clientID)
	if a == nil {
		return clientAuth{}, appNotFound(clientID, p.tx.Domain())
	}
	if public {
		if secret != "" || assertion != "" {
			return clientAuth{}, invalidClient(700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
		}
		return clientAuth{client: a, acr: "0"}, nil
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		// Entra "prevents the use of client credentials in all flows in the
		// presence of an Origin header, to ensure that secrets aren't used
		// from within the browser" (auth code flow docs, SPA redirect URIs).
		// That it answers with AADSTS9002326 outside the code grant is not
		// verified.
		return clientAuth{}, invalidRequest(9002326, "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: '%s'.", origin)
	}
	switch {
	case secret != "" && assertion != "":
		return clientAuth{}, invalidRequest(9002313, "Invalid request. Request is malformed or invalid. Only one client credential may be presented: 'client_secret' or 'client_assertion'.")
	case secret != "":
		if !a.CheckSecret(secret) {
			return clientAuth{}, invalidClient(7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", a.AppID)
		}
		return clientAuth{client: a, acr: "1"}, nil
	case assertion != "":
		if assertionType != jwtBearer {
			return clientAuth{}, invalidRequest(9002313, "Invalid request. Request is malformed or invalid. client_assertion_type must be '%s'.", jwtBearer)
		}
		if ca, aerr, ok := federatedClient(r, a, assertion); ok {
			return ca, aerr
		}
		if aerr := p.verifyClientAssertion(a, assertion, c.audiences(), now); aerr != nil {
			return clientAuth{}, aerr
		}
		return clientAuth{client: a, acr: "2"}, nil
	}
	return clientAuth{}, invalidClient(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
}

// tokenAudiences are the aud values a client assertion may carry: the token
// endpoint of the tenant as requested, by id, and the v1 form.
func (c *tokenCall) audiences() []string {
	p, t := c.p, c.t
	base := p.baseURL()
	out := []string{}
	for _, seg := range []string{t.segment, p.tx.TenantID(), p.tx.Domain()} {
		out = append(out, base+"/"+seg+"/oauth2/v2.0/token", base+"/"+seg+"/oauth2/token")
	}
	return append(out, base+"/"+p.tx.TenantID()+"/v2.0")
}

func (c *tokenCall) authCode() (*minted, *aadError) {
	p, form, now := c.p, c.form, c.now
	_, code, ca, aerr := presented(c, p.codes, "code", "The provided authorization code")
	if aerr != nil {
		return nil, aerr
	}
	if code.redeemed {
		// Entra refuses the replay and leaves what the first redemption
		// produced valid: its own text says to use an existing refresh token.
		return nil, invalidGrant(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	}
	if now.After(code.expires) {
		return nil, invalidGrant(70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	}
	if form.Get("redirect_uri") != code.redirectURI {
		return nil, invalidGrant(50011, "The redirect URI '%s' specified in the request does not match the redirect URI used to obtain the authorization code.", form.Get("redirect_uri"))
	}
	if code.challenge != "" {
		if !verifyPKCE(code.method, code.challenge, form.Get("code_verifier")) {
			return nil, invalidGrant(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		}
	}
	code.redeemed = true
	u := p.tx.User(code.userID)
	if u == nil || !u.AccountEnabled {
		return nil, invalidGrant(50057, "The user account is disabled.")
	}
	sr, scope, aerr := c.consentedScopes(ca.client, u, code.scope)
	if aerr != nil {
		return nil, aerr
	}
	g := &refreshGrant{tenantID: code.tenantID, scope: scope, clientID: code.clientID, userID: u.ID, platform: code.platform, sid: code.sid,
		authTime: code.authTime, xmsCC: code.xmsCC || claimsCP1(form.Get("claims"))}
	is := issue{client: ca.client, user: u, sr: sr, nonce: code.nonce, authTime: code.authTime, sid: code.sid,
		xmsCC: g.xmsCC, azpacr: ca.acr, clientInfo: form.Get("client_info") == "1"}
	if sr.oidc["offline_access"] {
		is.refresh = p.storeRefresh(g, now)
	}
	return p.mint(now, is), nil
}

// heldGrant is an authorization code or a refresh grant: issued in a
// tenant to a client (clientID) registered on a platform.
type heldGrant interface {
	heldBy() (tenantID, platform, clientID string)
}

func (a *authCode) heldBy() (string, string, string)     { return a.tenantID, a.platform, a.clientID }
func (g *refreshGrant) heldBy() (string, string, string) { return g.tenantID, g.platform, g.clientID }

// presented finds the code or refresh token that form[param] holds in
// grants (what names it in errors) and authenticates the client presenting
// it: the origin rule of its platform, the client authentication of its
// type, and that it is the client it was issued to.
func presented[G heldGrant](c *tokenCall, grants map[string]G, param, what string) (string, G, clientAuth, *aadError) {
	var none G
	value, aerr := required(c.form, param)
	if aerr != nil {
		return "", none, clientAuth{}, aerr
	}
	g, ok := grants[value]
	if !ok {
		return "", none, clientAuth{}, invalidGrant(9002313, "Invalid request. Request is malformed or invalid. %s is not valid.", what)
	}
	tenant, platform, clientID := g.heldBy()
	if aerr := c.enterGrantTenant(tenant, clientID, what); aerr != nil {
		return "", none, clientAuth{}, aerr
	}
	if aerr := checkOrigin(c.r, platform); aerr != nil {
		return "", none, clientAuth{}, aerr
	}
	ca, aerr := c.authenticate(platform != "web")
	if aerr != nil {
		return "", none, clientAuth{}, aerr
	}
	if !strings.EqualFold(ca.client.AppID, clientID) {
		return "", none, clientAuth{}, invalidGrant(70000, "%s was issued to a different client.", what)
	}
	return value, g, ca, nil
}

// enterGrantTenant enters the tenant a code or refresh token was issued in:
// it must be the endpoint's (AADSTS700005), or the endpoint is common or
// organizations and the app multi-tenant (AADSTS50194).
func (c *tokenCall) enterGrantTenant(tenant, clientID, what string) *aadError {
	switch {
	case c.t.consumers:
		if reg := c.p.registration(clientID); reg != nil {
			return onlyOrganizations(reg)
		}
		return appNotFound(clientID, c.t.segment)
	case c.t.multi:
		if reg := c.p.registration(clientID); reg != nil && !reg.MultiTenant() {
			return notMultiTenant(reg)
		}
	case c.t.id != tenant:
		return invalidGrant(700005, "%s is intended to use against other tenant, thus rejected.", what)
	}
	c.p.enter(tenant)
	return nil
}

// consentedScopes parses the request's scope for client acting for u, and
// requires their consent (AADSTS65001). A request without a scope (x/oauth2's
// Exchange, oauth2-proxy) gets granted: the scopes of the authorize request
// or of the grant being refreshed. scope is the one used.
func (c *tokenCall) consentedScopes(client *directory.App, u *directory.User, granted string) (sr *scopeRequest, scope string, aerr *aadError) {
	scope = c.form.Get("scope")
	if strings.TrimSpace(scope) == "" {
		scope = granted
	}
	if sr, aerr = parseScopes(c.p.tx, scope); aerr != nil {
		return nil, "", aerr
	}
	if len(missingConsent(c.p.tx, client.AppID, u.ID, sr)) > 0 {
		return nil, "", consentRequired(client)
	}
	return sr, scope, nil
}

// checkOrigin: SPA codes may only be redeemed cross-origin, and only SPA
// codes may be (AADSTS9002327 / 9002326).
func checkOrigin(r *http.Request, platform string) *aadError {
	origin := r.Header.Get("Origin")
	if platform == "spa" && origin == "" {
		return invalidRequest(9002327, "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.")
	}
	if platform != "spa" && origin != "" {
		return invalidRequest(9002326, "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: '%s'.", origin)
	}
	return nil
}

func (p *Provider) storeRefresh(g *refreshGrant, now time.Time) string {
	g.created = now
	g.expires = now.Add(refreshLifetime)
	if g.platform == "spa" {
		g.expires = now.Add(spaRefreshLifetime)
	}
	rt := "1.A" + randomString(96)
	p.refreshTokens[rt] = g
	return rt
}

func claimsCP1(raw string) bool {
	if raw == "" {
		return false
	}
	cp1, _, _ := parseClaimsRequest(raw)
	return cp1
}

func (c *tokenCall) refresh() (*minted, *aadError) {
	p, form, now := c.p, c.form, c.now
	_, g, ca, aerr := presented(c, p.refreshTokens, "refresh_token", "The refresh token")
	if aerr != nil {
		return nil, aerr
	}
	switch {
	case g.revoked:
		return nil, invalidGrant(50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
	case now.After(g.expires) && g.platform == "spa":
		return nil, invalidGrant(700084, "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime of 1.00:00:00, which cannot be extended. It is now expired and a new sign in request must be sent by the SPA to the sign in page.")
	case now.After(g.expires):
		return nil, invalidGrant(700082, "The refresh token has expired due to inactivity. The token was issued on %s and was inactive for 90.00:00:00.", g.created.UTC().Format(time.RFC3339))
	}
	u := p.tx.User(g.userID)
	if u == nil || !u.AccountEnabled {
		return nil, invalidGrant(50057, "The user account is disabled.")
	}
	if claims := form.Get("claims"); claims != "" {
		// Optional claims (msal-common asks for id_token claims with
		// essential false on every request) are not a challenge; a step-up
		// or CAE request (access_token nbf, acrs, capolids) is.
		if _, fresh, ok := parseClaimsRequest(claims); !ok || fresh {
			e := newAADError(400, "interaction_required", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", ca.client.AppID)
			e.suberror = "basic_action"
			e.claims = claims
			return nil, e
		}
	}
	sr, scope, aerr := c.consentedScopes(ca.client, u, g.scope)
	if aerr != nil {
		return nil, aerr
	}
	ng := *g
	ng.scope = scope
	ng.xmsCC = g.xmsCC || claimsCP1(form.Get("claims"))
	is := issue{client: ca.client, user: u, sr: sr, authTime: g.authTime, sid: g.sid, xmsCC: ng.xmsCC,
		azpacr: ca.acr, clientInfo: form.Get("client_info") == "1"}
	is.refresh = p.storeRefresh(&ng, now)
	if g.platform == "spa" {
		p.refreshTokens[is.refresh].expires = g.expires // the SPA limit does not slide
	}
	return p.mint(now, is), nil
}

func (c *tokenCall) clientCredentials() (*minted, *aadError) {
	p, form, now := c.p, c.form, c.now
	if aerr := c.enterAppTenant(); aerr != nil {
		return nil, aerr
	}
	ca, aerr := c.authenticate(false)
	if aerr != nil {
		return nil, aerr
	}
	var resourceScopes []string
	for _, sc := range strings.Fields(form.Get("scope")) {
		if !oidcScopes[strings.ToLower(sc)] { // MSAL appends openid offline_access profile
			resourceScopes = append(resourceScopes, sc)
		}
	}
	if len(resourceScopes) != 1 || !strings.HasSuffix(resourceScopes[0], "/.default") {
		return nil, invalidScope(1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", form.Get("scope"))
	}
	sr, aerr := parseScopes(p.tx, resourceScopes[0])
	if aerr != nil {
		return nil, aerr
	}
	return p.mint(now, issue{client: ca.client, sr: sr, azpacr: ca.acr, xmsCC: claimsCP1(form.Get("claims"))}), nil
}

// enterAppTenant enters the endpoint's tenant for a grant that names no
// user (client credentials): common and organizations cannot say which
// tenant the app token is for.
func (c *tokenCall) enterAppTenant() *aadError {
	clientID := c.form.Get("client_id")
	if clientID == "" {
		clientID = assertionSubject(c.form.Get("client_assertion"))
	}
	switch reg := c.p.registration(clientID); {
	case c.t.id != "":
		c.p.enter(c.t.id)
	case reg == nil:
		return appNotFound(clientID, c.t.segment)
	case c.t.consumers:
		return onlyOrganizations(reg)
	case !reg.MultiTenant():
		return notMultiTenant(reg)
	default:
		return invalidRequest(50059, "No tenant-identifying information found in either the request or implied by any provided credentials.")
	}
	return nil
}

// onBehalfOf is the on-behalf-of flow: a web API exchanges the access token
// it received (aud = the API) for a token to a downstream resource, for the
// same user, with its own consent to that resource. The answer has no ID
// token; a refresh token when offline_access is asked (MSAL always asks).
// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-on-behalf-of-flow
func (c *tokenCall) onBehalfOf() (*minted, *aadError) {
	p, form, now := c.p, c.form, c.now
	if form.Get("requested_token_use") != "on_behalf_of" {
		return nil, invalidRequest(900144, "The request body must contain the following parameter: 'requested_token_use'.")
	}
	assertion, aerr := required(form, "assertion")
	if aerr != nil {
		return nil, aerr
	}
	claims, aerr := p.verifyOwnToken(assertion, now)
	if aerr != nil {
		if aerr.code == 500133 {
			return nil, expiredAssertion(assertion, now)
		}
		return nil, aerr
	}
	if c.t.multi { // the user's tenant, as the assertion names it
		if tid, _ := claims["tid"].(string); !p.enter(tid) {
			return nil, invalidGrant(50013, "The assertion's tenant is not hosted here.")
		}
	} else if aerr := c.enterAppTenant(); aerr != nil {
		return nil, aerr
	}
	ca, aerr := c.authenticate(false)
	if aerr != nil {
		return nil, aerr
	}
	if isIDToken(claims) {
		return nil, invalidGrant(240002, "Input id_token cannot be used as '%s' grant.", form.Get("grant_type"))
	}
	aud, _ := claims["aud"].(string)
	if res := p.tx.ResourceByURI(aud); res == nil || res.AppID != strings.ToLower(ca.client.AppID) {
		return nil, invalidGrant(50013, "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '%s' and the expected audience is '%s' or one of the Application Id URIs of this application with App ID '%s'(%s). The downstream client must request a token for the expected audience (the application that made the OBO request) and this application should use that token as the assertion.",
			aud, strings.ToLower(ca.client.AppID), strings.ToLower(ca.client.AppID), ca.client.DisplayName)
	}
	if isAppOnly(claims) {
		// Not verified: the code and text Entra answers an app-only
		// assertion with.
		return nil, invalidGrant(7000114, "Application '%s'(%s) is not allowed to make application on-behalf-of calls.", strings.ToLower(ca.client.AppID), ca.client.DisplayName)
	}
	oid, _ := claims["oid"].(string)
	u := p.tx.User(oid)
	if aerr := c.assertionUserStands(u, claims); aerr != nil {
		return nil, aerr
	}
	if _, aerr := required(form, "scope"); aerr != nil {
		return nil, aerr
	}
	sr, scope, aerr := c.consentedScopes(ca.client, u, "")
	if aerr != nil {
		return nil, aerr
	}
	sid, _ := claims["sid"].(string)
	// xms_cc is the capability of the client asking, the API: its claims
	// parameter, not the assertion's (that was its own client's).
	cp1 := claimsCP1(form.Get("claims"))
	g := &refreshGrant{tenantID: p.tx.TenantID(), scope: scope, clientID: strings.ToLower(ca.client.AppID), userID: u.ID, platform: "web", sid: sid, xmsCC: cp1}
	is := issue{client: ca.client, user: u, sr: sr, sid: sid, xmsCC: cp1, azpacr: ca.acr, clientInfo: form.Get("client_info") == "1"}
	if sr.oidc["offline_access"] {
		is.refresh = p.storeRefresh(g, now)
	}
	is.noIDToken = true
	return p.mint(now, is), nil
}

// assertionUserStands refuses an OBO assertion whose user is gone, disabled,
// or whose sessions were revoked after it was issued.
func (c *tokenCall) assertionUserStands(u *directory.User, claims map[string]any) *aadError {
	if u == nil {
		// Deleted (or never here). Not verified: Entra's code for an
		// assertion of a deleted user; this is its sign-in answer.
		return invalidGrant(50034, "The user account {EUII Hidden} does not exist in the '%s' directory. To sign into this application, the account must be added to the directory.", c.p.tx.Domain())
	}
	if !u.AccountEnabled {
		return invalidGrant(50057, "The user account is disabled.")
	}
	// revokeSignInSessions invalidates refresh tokens and session cookies
	// (documented), and CAE-aware resources refuse access tokens issued
	// before it. That Entra refuses such an OBO assertion, and with the
	// refresh grant's AADSTS50173, is not verified.
	if revoked, ok := c.p.tx.RevokedAt(strings.ToLower(u.ID)); ok && tokenIssuedAt(claims).Before(revoked) {
		return invalidGrant(50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
	}
	return nil
}

// tokenIssuedAt is when a token of this tenant was issued: iat, to the
// nanosecond when its aio records the time (aioFor), so a token issued in
// the same second as a revocation is ordered right.
func tokenIssuedAt(claims map[string]any) time.Time {
	iat, _ := claims["iat"].(float64)
	at := time.Unix(int64(iat), 0)
	if aio, _ := claims["aio"].(string); aio != "" {
		if t, ok := IssuedAtFromAIO(aio); ok && t.Unix() == at.Unix() {
			return t
		}
	}
	return at
}

// isIDToken: an ID token carries a nonce (from /authorize) or names no
// client; every access token this tenant issues names its client in azp
// (v2) or appid (v1).
func isIDToken(claims map[string]any) bool {
	_, nonce := claims["nonce"]
	return nonce || (claims["azp"] == nil && claims["appid"] == nil)
}

// isAppOnly: a client credentials token (idtyp app when the resource asks
// for it; always no scp, and the app's service principal as oid and sub).
func isAppOnly(claims map[string]any) bool {
	scp, _ := claims["scp"].(string)
	return claims["idtyp"] == "app" || (scp == "" && claims["oid"] == claims["sub"])
}

// expiredAssertion is AADSTS500133 with Entra's text and times (the
// assertion's signature was checked: its exp is the one it was issued with).
func expiredAssertion(jwt string, now time.Time) *aadError {
	var exp time.Time
	if _, payload, _, err := splitJWT(jwt); err == nil {
		var c struct {
			Exp float64 `json:"exp"`
		}
		if json.Unmarshal(payload, &c) == nil {
			exp = time.Unix(int64(c.Exp), 0)
		}
	}
	const layout = "2006-01-02T15:04:05.0000000Z07:00"
	return invalidGrant(500133, "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: %s, expiry time of assertion %s.",
		now.UTC().Format(layout), exp.UTC().Format(layout))
}

func assertionSubject(jwt string) string {
	_, payload, _, err := splitJWT(jwt)
	if err != nil {
		return ""
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Sub
}

// required is form's parameter name, or AADSTS900144 when it is missing.
func required(form url.Values, name string) (string, *aadError) {
	if v := form.Get(name); v != "" {
		return v, nil
	}
	return "", invalidRequest(900144, "The request body must contain the following parameter: '%s'.", name)
}
