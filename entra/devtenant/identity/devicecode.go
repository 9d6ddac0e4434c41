package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

// The device authorization grant (RFC 8628) as Entra serves it
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code):
//
//  1. POST /{tenant}/oauth2/v2.0/devicecode (client_id, scope): a device
//     code for the client to poll with, a user code for the person.
//  2. /devicelogin: the person enters the user code; the request becomes an
//     authRequest and goes through the authorize pages: sign-in (an SSO
//     session is offered as "continue", Entra's "Pick an account"), "Are you
//     trying to sign in to <app>?", consent; then "You may now close this
//     window". Cancel, or declining consent, declines the device.
//  3. POST /{tenant}/oauth2/v2.0/token, grant_type device_code: pending
//     until then; once approved, the code grant's tokens, once.

const (
	deviceCodeLifetime = 15 * time.Minute // Entra's expires_in: 900
	deviceCodeInterval = 5 * time.Second  // Entra's interval
	// deviceCodeRetention is how long an expired device code is kept, so
	// that a late poll reads expired_token, not bad_verification_code.
	deviceCodeRetention = 15 * time.Minute
	// grantDeviceCode is the grant_type MSAL Go and msal-common send;
	// grantDeviceCodeRFC is RFC 8628 §3.4's, which Entra's docs show.
	grantDeviceCode    = "device_code"
	grantDeviceCodeRFC = "urn:ietf:params:oauth:grant-type:device_code"
	// deviceFlowCookie carries the code form's CSRF token (double submit):
	// the form comes before any authorize request whose id could be its ctx.
	deviceFlowCookie = "devicelogin"
)

type deviceState int

const (
	devicePending deviceState = iota
	deviceApproved
	deviceDeclined
)

// deviceAuth is one device authorization: issued by the device code
// endpoint, approved or declined on the pages, redeemed once.
type deviceAuth struct {
	deviceCode string
	userCode   string
	tenant     tenantRef // the endpoint's: polls must use the same
	client     *directory.App
	sr         *scopeRequest
	xmsCC      bool
	expires    time.Time
	lastPoll   time.Time
	state      deviceState
	// Set on approval: the tenant the tokens are for, the user there and
	// their sign-in.
	tenantID string
	userID   string
	sid      string
	authTime time.Time
}

// deviceSignIn marks an authRequest started on the verification page.
type deviceSignIn struct {
	auth *deviceAuth
	// confirmed: the user answered Continue to "Are you trying to sign in
	// to <app>?".
	confirmed bool
}

type deviceCodeResponse struct {
	UserCode        string `json:"user_code"`
	DeviceCode      string `json:"device_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int    `json:"expires_in"`
	Interval        int    `json:"interval"`
	Message         string `json:"message"`
}

// deviceFlow is the device authorization grant's part of the Provider: its
// endpoint, its pages, and how a device sign-in ends.
type deviceFlow struct{ *Provider }

// handleDeviceCode is the device authorization endpoint (RFC 8628 §3.1).
// Its errors are in the token endpoint's shape.
func (p deviceFlow) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	t, aerr := p.resolveTenant(r.PathValue("tenant"))
	if aerr != nil {
		p.writeTokenError(w, r, aerr)
		return
	}
	if err := r.ParseForm(); err != nil {
		p.writeTokenError(w, r, invalidRequest(900144, "The request body could not be parsed."))
		return
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			p.writeTokenError(w, r, invalidRequest(9000411, "The request is not properly formatted. The parameter '%s' is duplicated.", k))
			return
		}
	}
	now := p.cfg.Now()
	p.lock()
	d, aerr := p.newDeviceAuth(t, r.PostForm, now)
	p.unlock()
	if aerr != nil {
		p.writeTokenError(w, r, aerr)
		return
	}
	// Entra's verification_uri is https://microsoft.com/devicelogin; the
	// dev tenant's page is its own.
	uri := p.baseURL() + "/devicelogin"
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, deviceCodeResponse{
		UserCode: d.userCode, DeviceCode: d.deviceCode, VerificationURI: uri,
		ExpiresIn: int(deviceCodeLifetime.Seconds()), Interval: int(deviceCodeInterval.Seconds()),
		Message: "To sign in, use a web browser to open the page " + uri + " and enter the code " + d.userCode + " to authenticate.",
	})
}

// newDeviceAuth checks a device authorization request as /authorize checks
// its client and scopes, and stores it. Any registered client gets a code:
// a confidential one is refused when it polls (AADSTS7000218), as a user
// report of Entra shows (MicrosoftDocs/azure-docs#31986). Caller holds the
// lock.
func (p deviceFlow) newDeviceAuth(t tenantRef, form url.Values, now time.Time) (*deviceAuth, *aadError) {
	clientID, aerr := required(form, "client_id")
	if aerr != nil {
		return nil, aerr
	}
	client, aerr := p.authorizeClient(t, clientID)
	if aerr != nil {
		return nil, aerr
	}
	scope, aerr := required(form, "scope")
	if aerr != nil {
		return nil, aerr
	}
	sr, aerr := parseAuthorizeScopes(p.tx, scope)
	if aerr != nil {
		return nil, aerr
	}
	cp1 := false
	if claims := form.Get("claims"); claims != "" {
		var ok bool
		if cp1, _, ok = parseClaimsRequest(claims); !ok {
			return nil, invalidRequest(90014, "The claims parameter is not valid JSON.")
		}
	}
	p.sweep(now)
	d := &deviceAuth{
		deviceCode: "DAQABAAEAAAD" + randomString(96), userCode: p.newUserCode(),
		tenant: t, client: client, sr: sr, xmsCC: cp1, expires: now.Add(deviceCodeLifetime),
	}
	p.deviceCodes[d.deviceCode] = d
	p.userCodes[d.userCode] = d
	return d, nil
}

// newUserCode is 9 upper-case letters and digits, as Entra's user codes:
// crypto/rand.Text's base32 alphabet (A-Z, 2-7), 45 bits, unique among the
// codes held.
func (f *flows) newUserCode() string {
	for {
		if c := rand.Text()[:9]; f.userCodes[c] == nil {
			return c
		}
	}
}

// normalizeUserCode accepts what a person types: any case, spaces and
// dashes.
func normalizeUserCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, strings.ToUpper(s))
}

// handleDeviceLogin is the verification page: GET shows the code form,
// POST takes the code and starts the sign-in.
func (p deviceFlow) handleDeviceLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		renderDeviceCodeForm(w, "", 0)
		return
	}
	if !p.parseForm(w, r) {
		return
	}
	c, err := r.Cookie(deviceFlowCookie)
	token := r.PostForm.Get("flowtoken")
	if err != nil || token == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(token)) != 1 {
		p.errorPage(w, r, http.StatusBadRequest, invalidRequest(9002313, "Invalid request. Request is malformed or invalid. The code form expired or was not sent from this browser: open the page again."))
		return
	}
	now := p.cfg.Now()
	p.lock()
	defer p.unlock()
	d := p.userCodes[normalizeUserCode(r.PostForm.Get("user_code"))]
	switch {
	case d == nil || d.state != devicePending:
		logAADError(p.log, r, invalidRequest(70018, "unknown or used user code"))
		// The text of Entra's page (AzureAD/azure-activedirectory-library-for-dotnet#1327).
		renderDeviceCodeForm(w, "AADSTS70018: We don't recognize this code, please enter the code again.", 70018)
		return
	case now.After(d.expires):
		logAADError(p.log, r, invalidRequest(70019, "expired user code"))
		renderDeviceCodeForm(w, "AADSTS70019: The code you entered has expired. Get a new code from the device you're trying to sign in to and try again.", 70019)
		return
	}
	req := &authRequest{
		id: randomString(24), tenant: d.tenant, tenantID: d.tenant.id, client: d.client, platform: "public",
		prompt: "select_account", sr: d.sr, xmsCC: d.xmsCC, expires: d.expires, device: &deviceSignIn{auth: d},
	}
	p.sweep(now)
	p.pending[req.id] = req
	p.renderLogin(w, req, p.sessionFromCookie(r, now), "", 0)
}

// handleDeviceConfirm takes "Are you trying to sign in to <app>?": ctx and
// decision=continue, or anything else to cancel.
func (p deviceFlow) handleDeviceConfirm(w http.ResponseWriter, r *http.Request, req *authRequest, now time.Time) {
	if req.device == nil {
		p.errorPage(w, r, http.StatusBadRequest, invalidRequest(9002313, "Invalid request. Request is malformed or invalid. The sign-in session is not a device code sign-in."))
		return
	}
	if r.PostForm.Get("decision") != "continue" {
		p.declineDevice(w, r, req, deviceDeclinedError("The user cancelled the device sign-in."))
		return
	}
	req.device.confirmed = true
	p.afterSignIn(w, r, req, now)
}

// approveDevice ends a device sign-in that went through (issueCode's
// device branch): the next poll gets the tokens. Caller holds the lock.
func (p deviceFlow) approveDevice(w http.ResponseWriter, r *http.Request, req *authRequest, now time.Time) {
	d := req.device.auth
	switch {
	case now.After(d.expires):
		p.errorPage(w, r, http.StatusBadRequest, expiredDeviceCode())
		return
	case d.state != devicePending: // approved or declined in another window
		p.errorPage(w, r, http.StatusBadRequest, badVerificationCode("The code was already used."))
		return
	}
	d.state = deviceApproved
	// consent may have provisioned the app's service principal here
	d.client = req.client
	d.tenantID, d.userID, d.sid, d.authTime = req.tenantID, req.userID, req.sid, req.authTime
	renderDeviceDone(w, req.client.DisplayName)
}

// declineDevice ends a device sign-in the user cancelled or whose consent
// they declined (redirectError's device branch: there is no redirect URI):
// the next poll answers authorization_declined. Caller holds the lock.
func (p deviceFlow) declineDevice(w http.ResponseWriter, r *http.Request, req *authRequest, e *aadError) {
	logAADError(p.log, r, e)
	delete(p.pending, req.id)
	if d := req.device.auth; d.state == devicePending {
		d.state = deviceDeclined
	}
	renderDeviceDeclined(w, req.client.DisplayName, e.code)
}

// deviceCode is the device code grant (RFC 8628 §3.4-3.5). The client is
// identified and authenticated first, as at the other grants (a
// confidential client without a credential: AADSTS7000218), then the
// authorization's state decides: expired, declined, pending (slow_down when
// polled too fast) or approved, when the tokens are those of the
// authorization code grant and the device code is spent.
func (c *tokenCall) deviceCode() (*minted, *aadError) {
	p, form, now := c.p, c.form, c.now
	code, aerr := required(form, "device_code")
	if aerr != nil {
		return nil, aerr
	}
	d := p.deviceCodes[code]
	if d == nil || d.tenant.segment != c.t.segment {
		return nil, badVerificationCode("The provided value for the input parameter 'device_code' is not valid.")
	}
	tenant := d.tenantID
	if d.state != deviceApproved {
		tenant = d.client.Registration().OwnerTenantID() // where the app is, before anyone signs in
	}
	p.enter(tenant)
	ca, aerr := c.authenticate(d.client.Registration().IsFallbackPublicClient)
	if aerr != nil {
		return nil, aerr
	}
	if !strings.EqualFold(ca.client.AppID, d.client.AppID) {
		return nil, invalidGrant(70000, "The provided device code was issued to a different client.")
	}
	if aerr := d.poll(now); aerr != nil {
		return nil, aerr
	}
	u := p.tx.User(d.userID)
	if u == nil || !u.AccountEnabled {
		return nil, invalidGrant(50057, "The user account is disabled.")
	}
	sr, scope, aerr := c.consentedScopes(ca.client, u, d.sr.scope())
	if aerr != nil {
		return nil, aerr
	}
	// Spent: a second poll does not find it (bad_verification_code).
	delete(p.deviceCodes, d.deviceCode)
	delete(p.userCodes, d.userCode)
	platform := "public"
	if ca.acr != "0" {
		platform = "web"
	}
	g := &refreshGrant{tenantID: d.tenantID, scope: scope, clientID: strings.ToLower(ca.client.AppID), userID: u.ID, platform: platform,
		sid: d.sid, authTime: d.authTime, xmsCC: d.xmsCC || claimsCP1(form.Get("claims"))}
	is := issue{client: ca.client, user: u, sr: sr, authTime: d.authTime, sid: d.sid, xmsCC: g.xmsCC,
		azpacr: ca.acr, clientInfo: form.Get("client_info") == "1"}
	if sr.oidc["offline_access"] {
		is.refresh = p.storeRefresh(g, now)
	}
	return p.mint(now, is), nil
}

// poll records a poll and says why it gets no tokens yet; nil once approved.
//
// slow_down (RFC 8628 §3.5) is not in Entra's documented errors, and MSAL
// Go polls after 50 ms, 150 ms, 450 ms, 1.35 s, 4.05 s, then every 5 s,
// whatever the interval: the dev tenant answers it only while pending, to a
// poll less than 4/5 of the interval after the previous one, and never
// raises the interval (MSAL Go could then never poll slowly enough), so it
// never delays the tokens. msal-node waits the interval after each answer
// and treats slow_down as fatal: the slack keeps a timer that fires a
// little early from ever seeing it.
func (d *deviceAuth) poll(now time.Time) *aadError {
	last := d.lastPoll
	d.lastPoll = now
	switch {
	case now.After(d.expires):
		return expiredDeviceCode()
	case d.state == deviceDeclined:
		return deviceDeclinedError("The user declined the sign-in request.")
	case d.state == deviceApproved:
		return nil
	case !last.IsZero() && now.Sub(last) < deviceCodeInterval*4/5:
		return newAADError(http.StatusBadRequest, "slow_down", 70016, "OAuth 2.0 device flow error. The client is polling too fast: wait at least the interval (%d seconds) between requests.", int(deviceCodeInterval.Seconds()))
	}
	return newAADError(http.StatusBadRequest, "authorization_pending", 70016, "The provided request has not yet been authorized by the user. The user must input their code.")
}
