package identity

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

const (
	codeLifetime    = 10 * time.Minute
	pendingLifetime = 15 * time.Minute
	ssoLifetime     = 24 * time.Hour
	ssoCookie       = "ESTSAUTH"
	maxFormBytes    = 64 << 10
)

// authRequest is an authorize request waiting for the user (sign-in form,
// consent page). Its id travels in the forms' ctx field.
type authRequest struct {
	id string
	// sso is the sign-in session the request was answered in.
	sso    *ssoSession
	tenant tenantRef
	// tenantID is the tenant the token is for: the request's, or on
	// common and organizations the signed-in user's ("" until known).
	tenantID     string
	client       *directory.App
	redirectURI  string
	platform     string
	responseMode string
	state        string
	nonce        string
	challenge    string
	method       string
	prompt       string
	loginHint    string
	claims       string
	freshAuth    bool // the claims ask for more than capabilities: sign in again
	xmsCC        bool
	sr           *scopeRequest
	userID       string
	authTime     time.Time
	sid          string
	expires      time.Time
	// device: a device code sign-in (devicecode.go), which has no
	// redirect URI; nil for /authorize.
	device *deviceSignIn
}

// authCode is an issued authorization code, bound to its client, redirect
// URI, PKCE challenge, nonce and user.
type authCode struct {
	tenantID string
	clientID string
	// scope is the authorize request's scope (its first resource): what a
	// redemption without a scope parameter gets.
	scope       string
	redirectURI string
	platform    string
	challenge   string
	method      string
	nonce       string
	userID      string
	authTime    time.Time
	sid         string
	xmsCC       bool
	expires     time.Time
	redeemed    bool
}

type ssoSession struct {
	id       string
	tenantID string // the account's home tenant
	userID   string // the account, in tenantID
	sid      string
	authTime time.Time
	expires  time.Time
	// clients are the apps this session has signed in to (lower-case app
	// ids): a logout naming no client may return to any of their
	// redirect URIs, as Entra does for msal-browser's logoutRedirect.
	clients map[string]bool
}

func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if !p.parseForm(w, r) {
		return
	}
	q := r.Form
	for k, v := range q {
		if len(v) > 1 {
			p.errorPage(w, r, http.StatusBadRequest, invalidRequest(9000411, "The request is not properly formatted. The parameter '%s' is duplicated.", k))
			return
		}
	}
	t, aerr := p.resolveTenant(r.PathValue("tenant"))
	if aerr != nil {
		p.errorPage(w, r, http.StatusBadRequest, aerr)
		return
	}
	now := p.cfg.Now()
	p.lock()
	defer p.unlock()

	clientID := q.Get("client_id")
	if clientID == "" {
		p.errorPage(w, r, http.StatusBadRequest, invalidRequest(900144, "The request body must contain the following parameter: 'client_id'."))
		return
	}
	client, aerr := p.authorizeClient(t, clientID)
	if aerr != nil {
		p.errorPage(w, r, http.StatusBadRequest, aerr)
		return
	}
	redirectURI := q.Get("redirect_uri")
	platform := client.Platform(redirectURI)
	if platform == "" {
		// Never redirect to an unregistered URI: Entra shows its own page.
		p.errorPage(w, r, http.StatusBadRequest, invalidRequest(50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.", redirectURI, client.AppID))
		return
	}
	req, ok := p.newAuthRequest(w, r, q, t, client, redirectURI, platform, now)
	if !ok {
		return
	}
	p.sweep(now)
	p.pending[req.id] = req

	sess := p.sessionFromCookie(r, now)
	var u *directory.User
	if sess != nil {
		u = p.sessionIn(req, sess)
	}
	needForm := u == nil || req.prompt == "login" || req.prompt == "select_account" || req.prompt == "create" || req.freshAuth
	if sess != nil && req.loginHint != "" && !strings.EqualFold(p.sessionUser(sess).UserPrincipalName, req.loginHint) {
		needForm = true
	}
	if needForm {
		if req.prompt == "none" {
			code := 50058
			msg := "A silent sign-in request was sent but no user is signed in."
			oauthErr := "login_required"
			if sess != nil {
				code, oauthErr, msg = 50076, "interaction_required", "Due to a configuration change made by your administrator, or because you moved to a new location, you must sign in again."
			}
			p.redirectError(w, r, req, newAADError(400, oauthErr, code, "%s", msg))
			return
		}
		p.renderLogin(w, req, sess, "", 0)
		return
	}
	req.userID, req.authTime, req.sid, req.sso = u.ID, sess.authTime, sess.sid, sess
	p.afterSignIn(w, r, req, now)
}

// newAuthRequest checks an authorize request's parameters once its client
// and redirect URI are known good: errors now go to the redirect URI.
// Caller holds the lock.
func (p *Provider) newAuthRequest(w http.ResponseWriter, r *http.Request, q url.Values, t tenantRef, client *directory.App, redirectURI, platform string, now time.Time) (*authRequest, bool) {
	req := &authRequest{
		id: randomString(24), tenant: t, tenantID: t.id, client: client, redirectURI: redirectURI, platform: platform,
		state: q.Get("state"), nonce: q.Get("nonce"), prompt: q.Get("prompt"), loginHint: q.Get("login_hint"),
		claims: q.Get("claims"), expires: now.Add(pendingLifetime),
		challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"),
	}
	switch req.responseMode = q.Get("response_mode"); req.responseMode {
	case "", "query", "fragment", "form_post":
	default:
		req.responseMode = ""
		p.redirectError(w, r, req, invalidRequest(900144, "The provided value for the input parameter 'response_mode' is not valid. Expected 'query', 'fragment' or 'form_post'."))
		return nil, false
	}
	switch rt := q.Get("response_type"); rt {
	case "code":
	case "":
		p.redirectError(w, r, req, invalidRequest(900144, "The request body must contain the following parameter: 'response_type'."))
		return nil, false
	default:
		if req.responseMode == "" {
			req.responseMode = "fragment" // the implicit flow's default, errors included
		}
		if strings.Contains(rt, "id_token") && !client.Web.ImplicitGrantSettings.EnableIDTokenIssuance {
			p.redirectError(w, r, req, newAADError(400, "unsupported_response_type", 700054, "Response_type 'id_token' is not enabled for the application."))
			return nil, false
		}
		if strings.Contains(rt, "token") && !client.Web.ImplicitGrantSettings.EnableAccessTokenIssuance {
			p.redirectError(w, r, req, newAADError(400, "unsupported_response_type", 700051, "response_type 'token' is not enabled for the application."))
			return nil, false
		}
		// Enabled on the registration, but the dev tenant implements only
		// the code flow (the implicit flow is deprecated: docs/learn/06).
		p.redirectError(w, r, req, newAADError(400, "unsupported_response_type", 700051, "response_type '%s' is not supported by the dev tenant (only 'code').", rt))
		return nil, false
	}
	if q.Get("scope") == "" {
		p.redirectError(w, r, req, invalidRequest(900144, "The request body must contain the following parameter: 'scope'."))
		return nil, false
	}
	sr, aerr := parseAuthorizeScopes(p.tx, q.Get("scope"))
	if aerr != nil {
		p.redirectError(w, r, req, aerr)
		return nil, false
	}
	req.sr = sr
	if aerr := checkPKCEParams(req); aerr != nil {
		p.redirectError(w, r, req, aerr)
		return nil, false
	}
	switch req.prompt {
	case "", "login", "none", "consent", "select_account", "create":
	default:
		p.redirectError(w, r, req, invalidRequest(90023, "Invalid prompt value '%s'. Supported values: login, none, consent, select_account.", req.prompt))
		return nil, false
	}
	if req.claims != "" {
		cc, fresh, ok := parseClaimsRequest(req.claims)
		if !ok {
			p.redirectError(w, r, req, invalidRequest(90014, "The claims parameter is not valid JSON."))
			return nil, false
		}
		req.xmsCC, req.freshAuth = cc, fresh
	}
	return req, true
}

// checkPKCEParams: S256 or plain (RFC 7636 §4.2-4.3); a SPA must use PKCE.
func checkPKCEParams(req *authRequest) *aadError {
	if req.challenge == "" {
		if req.method != "" {
			return invalidRequest(501491, "The code_challenge parameter is missing while code_challenge_method is present.")
		}
		if req.platform == "spa" {
			return invalidRequest(9002325, "Proof Key for Code Exchange is required for cross-origin authorization code redemption.")
		}
		return nil
	}
	switch req.method {
	case "":
		req.method = "plain"
	case "S256", "plain":
	default:
		return invalidRequest(501491, "Invalid code_challenge_method '%s'. Supported: S256, plain.", req.method)
	}
	if n := len(req.challenge); n < 43 || n > 128 || !isUnreserved(req.challenge) {
		return invalidRequest(501491, "Invalid size of code_challenge parameter or invalid characters.")
	}
	return nil
}

// isUnreserved: RFC 7636 §4.1: [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
func isUnreserved(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// verifyPKCE checks verifier against the challenge (RFC 7636 §4.6).
func verifyPKCE(method, challenge, verifier string) bool {
	if n := len(verifier); n < 43 || n > 128 || !isUnreserved(verifier) {
		return false
	}
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		verifier = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(verifier), []byte(challenge)) == 1
}

// stepUpClaims are the access-token claims whose essential request is a
// claims challenge: CAE's nbf, an authentication context (acrs), a
// Conditional Access policy (capolids).
var stepUpClaims = map[string]bool{"nbf": true, "acrs": true, "capolids": true}

// parseClaimsRequest reads an OIDC claims request (OIDC Core §5.5). It
// reports whether the client declared CP1 and whether the request is a
// claims challenge (fresh: the user must sign in again). Any other claim is
// a request for an optional claim, which the tenant may honour or ignore:
// msal-common sends id_token signin_state, login_hint, ... with essential
// false on every request.
func parseClaimsRequest(raw string) (cp1, fresh, ok bool) {
	var req map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &req); err != nil {
		return false, false, false
	}
	for name, spec := range req["access_token"] {
		var v struct {
			Essential bool
			Values    []string
		}
		_ = json.Unmarshal(spec, &v) // null is "default manner": optional
		switch {
		case name == "xms_cc":
			for _, c := range v.Values {
				if strings.EqualFold(c, "cp1") {
					cp1 = true
				}
			}
		case stepUpClaims[name] && v.Essential:
			fresh = true
		}
	}
	return cp1, fresh, true
}

func (p *Provider) sessionFromCookie(r *http.Request, now time.Time) *ssoSession {
	c, err := r.Cookie(ssoCookie)
	if err != nil {
		return nil
	}
	sess := p.sessions[c.Value]
	if sess == nil || now.After(sess.expires) {
		return nil
	}
	if u := p.sessionUser(sess); u == nil || !u.AccountEnabled {
		return nil
	}
	return sess
}

// pageForm serves a form posted by the sign-in or consent page: it parses
// the form, takes the lock and hands next the authorization request that
// the form's ctx names. One gone or expired, or (withUser) not signed in
// yet, is AADSTS9002313.
func (p *Provider) pageForm(withUser bool, next func(w http.ResponseWriter, r *http.Request, req *authRequest, now time.Time)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !p.parseForm(w, r) {
			return
		}
		now := p.cfg.Now()
		p.lock()
		defer p.unlock()
		req := p.pendingRequest(r.PostForm.Get("ctx"), now)
		if req == nil || withUser && req.userID == "" {
			p.errorPage(w, r, http.StatusBadRequest, invalidRequest(9002313, "Invalid request. Request is malformed or invalid. The sign-in session expired or is not valid. Go back to the application and sign in again."))
			return
		}
		if req.tenantID != "" {
			p.enter(req.tenantID)
		}
		next(w, r, req, now)
	}
}

// handleLogin takes the sign-in form: ctx, username, password; ctx and
// sso=continue to keep the signed-in account (select_account); or, with
// Config.PersonaPicker, ctx and persona, the OID on a picker's button. The
// form and the picker differ only in how the account is found: what
// follows (tenant membership, disabled accounts, the SSO session, consent,
// the code) is the same.
func (p *Provider) handleLogin(w http.ResponseWriter, r *http.Request, req *authRequest, now time.Time) {
	if r.PostForm.Get("sso") == "continue" {
		sess := p.sessionFromCookie(r, now)
		if sess == nil || req.freshAuth || req.prompt == "login" {
			p.renderLogin(w, req, nil, "", 0)
			return
		}
		u := p.sessionIn(req, sess)
		if u == nil {
			p.renderLogin(w, req, nil, "", 0)
			return
		}
		req.userID, req.authTime, req.sid, req.sso = u.ID, sess.authTime, sess.sid, sess
		p.afterSignIn(w, r, req, now)
		return
	}
	var home *directory.User
	var homeTenant, username string
	if r.PostForm.Has("persona") {
		if !p.cfg.PersonaPicker {
			p.errorPage(w, r, http.StatusBadRequest, invalidRequest(900144, "The request body must contain the following parameter: 'password'. (This dev tenant's persona picker is off.)"))
			return
		}
		if b, ok := p.pickedPersona(req, r.PostForm.Get("persona")); ok {
			home, homeTenant, username = b.home, b.homeTenant, b.Username
		}
	} else {
		username = strings.TrimSpace(r.PostForm.Get("username"))
		home, homeTenant = p.homeAccount(username)
		if home != nil && !home.CheckPassword(r.PostForm.Get("password")) {
			logAADError(p.log, r, newAADError(400, "invalid_grant", 50126, "wrong password"))
			p.renderLogin(w, req, nil, "AADSTS50126: Error validating credentials due to invalid username or password.", 50126)
			return
		}
	}
	if home == nil {
		logAADError(p.log, r, newAADError(400, "invalid_grant", 50034, "unknown user"))
		p.renderLogin(w, req, nil, "AADSTS50034: The user account does not exist in the "+p.tx.Domain()+" directory. To sign into this application, the account must be added to the directory.", 50034)
		return
	}
	tenant := req.tenantID
	if tenant == "" {
		tenant = homeTenant // common, organizations: the user's own tenant
	}
	u := p.userIn(tenant, homeTenant, home)
	switch {
	case u == nil:
		logAADError(p.log, r, newAADError(400, "invalid_grant", 50020, "not a member or guest of the tenant"))
		p.renderLogin(w, req, nil, notInTenant(username, homeTenant, p.txs[tenant], req.client), 50020)
		return
	case !home.AccountEnabled || !u.AccountEnabled:
		logAADError(p.log, r, newAADError(400, "invalid_grant", 50057, "user disabled"))
		p.renderLogin(w, req, nil, "AADSTS50057: The user account is disabled. The account has been disabled by an administrator.", 50057)
		return
	}
	p.enter(tenant)
	req.tenantID = tenant
	sess := &ssoSession{id: randomString(32), tenantID: homeTenant, userID: home.ID, sid: directory.NewObjectID(), authTime: now, expires: now.Add(ssoLifetime)}
	p.sessions[sess.id] = sess
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: sess.id, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode})
	req.userID, req.authTime, req.sid, req.sso = u.ID, now, sess.sid, sess
	p.afterSignIn(w, r, req, now)
}

func (f *flows) pendingRequest(id string, now time.Time) *authRequest {
	req := f.pending[id]
	if req == nil || now.After(req.expires) {
		delete(f.pending, id)
		return nil
	}
	return req
}

// afterSignIn checks consent, then issues the code. Caller holds p.mu.
func (p *Provider) afterSignIn(w http.ResponseWriter, r *http.Request, req *authRequest, now time.Time) {
	u := p.tx.User(req.userID)
	if req.device != nil && !req.device.confirmed {
		renderDeviceConfirm(w, req, u)
		return
	}
	missing := missingConsent(p.tx, req.client.AppID, u.ID, req.sr)
	if len(missing) > 0 || req.prompt == "consent" {
		if req.prompt == "none" {
			e := newAADError(400, "consent_required", 65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", req.client.AppID, req.client.DisplayName)
			p.redirectError(w, r, req, e)
			return
		}
		renderConsent(w, req, u, missing)
		return
	}
	p.issueCode(w, r, req, now)
}

// handleConsent takes the consent form: ctx, decision=accept|decline, and
// consent_for_org=on (admins only).
func (p *Provider) handleConsent(w http.ResponseWriter, r *http.Request, req *authRequest, now time.Time) {
	u := p.tx.User(req.userID)
	if r.PostForm.Get("decision") != "accept" {
		e := newAADError(400, "access_denied", 65004, "User declined to consent to access the app.")
		p.redirectError(w, r, req, e, "error_subcode", "cancel")
		return
	}
	missing := missingConsent(p.tx, req.client.AppID, u.ID, req.sr)
	forOrg := r.PostForm.Get("consent_for_org") == "on"
	for _, m := range missing {
		if m.Admin && !u.Admin {
			p.errorPage(w, r, http.StatusForbidden, newAADError(403, "access_denied", 90094, "Admin consent is required for the permissions requested by this application. An admin consent request may be sent to the admin."))
			return
		}
	}
	if forOrg && !u.Admin {
		p.errorPage(w, r, http.StatusForbidden, newAADError(403, "access_denied", 90094, "Only an administrator can consent on behalf of the organization."))
		return
	}
	principal := u.ID
	if forOrg {
		principal = ""
	}
	// The first consent in a tenant other than the app's home creates its
	// service principal there.
	req.client = p.tx.Provision(req.client)
	var oidc []string
	for sc := range req.sr.oidc {
		oidc = append(oidc, sc)
	}
	p.tx.AddGrant(req.client.AppID, directory.GraphAppID, principal, oidc...)
	for _, part := range append([]*scopeRequest{req.sr}, req.sr.more...) {
		p.tx.AddGrant(req.client.AppID, part.res.AppID, principal, part.values...)
	}
	p.issueCode(w, r, req, now)
}

func (p *Provider) issueCode(w http.ResponseWriter, r *http.Request, req *authRequest, now time.Time) {
	delete(p.pending, req.id)
	if req.sso != nil {
		if req.sso.clients == nil {
			req.sso.clients = map[string]bool{}
		}
		req.sso.clients[strings.ToLower(req.client.AppID)] = true
	}
	if req.device != nil {
		deviceFlow{p}.approveDevice(w, r, req, now)
		return
	}
	code := "1.A" + randomString(48)
	p.codes[code] = &authCode{
		tenantID: req.tenantID, clientID: strings.ToLower(req.client.AppID), scope: req.sr.scope(), redirectURI: req.redirectURI, platform: req.platform,
		challenge: req.challenge, method: req.method, nonce: req.nonce, userID: req.userID,
		authTime: req.authTime, sid: req.sid, xmsCC: req.xmsCC, expires: now.Add(codeLifetime),
	}
	p.respond(w, req, url.Values{"code": {code}, "state": optional(req.state), "session_state": {req.sid}})
}

func optional(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

// redirectError sends an OAuth error to the (already verified) redirect URI.
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, req *authRequest, e *aadError, extra ...string) {
	if req.device != nil {
		deviceFlow{p}.declineDevice(w, r, req, deviceDeclinedError(e.msg))
		return
	}
	logAADError(p.log, r, e)
	v := url.Values{
		"error":             {e.err},
		"error_description": {e.Error() + "\r\nTrace ID: " + directory.NewObjectID() + "\r\nCorrelation ID: " + correlationID(r) + "\r\nTimestamp: " + p.cfg.Now().UTC().Format("2006-01-02 15:04:05Z")},
		"state":             optional(req.state),
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	delete(p.pending, req.id)
	p.respond(w, req, v)
}

// respond delivers params per the response mode: query, fragment or form_post.
func (p *Provider) respond(w http.ResponseWriter, req *authRequest, params url.Values) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	switch req.responseMode {
	case "form_post":
		renderFormPost(w, req.redirectURI, params)
	case "fragment":
		http.Redirect(w, &http.Request{}, req.redirectURI+"#"+params.Encode(), http.StatusFound)
	default:
		u, _ := url.Parse(req.redirectURI)
		q := u.Query()
		for k, v := range params {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusFound)
	}
}

// handleLogout ends the SSO session and returns to post_logout_redirect_uri
// when it is one of the app's registered redirect URIs (any platform), or
// shows the signed-out page and stays there, as Entra does.
func (p *Provider) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	_ = r.ParseForm()
	if _, aerr := p.resolveTenant(r.PathValue("tenant")); aerr != nil {
		p.errorPage(w, r, http.StatusBadRequest, aerr)
		return
	}
	p.lock()
	var sess *ssoSession
	if c, err := r.Cookie(ssoCookie); err == nil {
		sess = p.sessions[c.Value]
		delete(p.sessions, c.Value)
	}
	clientID := r.Form.Get("client_id")
	if clientID == "" {
		clientID = audOf(r.Form.Get("id_token_hint"))
	}
	target := r.Form.Get("post_logout_redirect_uri")
	ok := false
	// Entra: it "must match one of the redirect URIs registered" for the
	// app; the front-channel logoutUrl does not count. With no client_id
	// and no id_token_hint (msal-browser sends neither), the apps the
	// session signed in to (msal-browser's docs: the URI is registered
	// and "the user has an active session").
	candidates := []string{clientID}
	if clientID == "" && sess != nil {
		candidates = slices.Sorted(maps.Keys(sess.clients))
	}
	for _, id := range candidates {
		if a := p.registration(id); a != nil && target != "" && a.Platform(target) != "" {
			ok = true
			break
		}
	}
	p.unlock()
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode})
	if ok {
		u, _ := url.Parse(target)
		if st := r.Form.Get("state"); st != "" {
			q := u.Query()
			q.Set("state", st)
			u.RawQuery = q.Encode()
		}
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusFound)
		return
	}
	renderSignedOut(w)
}

// audOf reads the aud of a JWT without verifying it: logout only uses it to
// pick which app's registered URIs to compare against.
func audOf(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || len(jwt) > 16<<10 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Aud string `json:"aud"`
	}
	_ = json.Unmarshal(raw, &c)
	return c.Aud
}

// parseForm reads a page's form (at most maxFormBytes); on error it shows
// the error page and returns false.
func (p *Provider) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, invalidRequest(900144, "The request could not be parsed."))
		return false
	}
	return true
}
