package webapp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra"
	"github.com/gin-gonic/gin"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/oauth2"
)

// flowInspector (dev mode only: Config.DevMode) records each sign-in's
// authorization code flow where the app runs it, and shows a session the
// steps of the sign-in that started it at /dev/flow:
//
//  1. the authorize request, when beginSignIn builds it (began);
//  2. the callback, and 5. the ID token checks, when the callback has
//     signed the user in (signedIn);
//  3. the token request and 4. its response, at the HTTP layer
//     (tokenRecorder): MSAL Go makes that request itself. The callback finds
//     them by the code, which both carry.
//
// Everything stays in this process's memory, in bounded LRUs, keyed by
// hashes (of the state, the code, the session id): never in a cookie, never
// in a log. What could be replayed is not kept whole: the code and the
// tokens are truncated when captured, the client's secret or assertion is
// never read. The PKCE verifier is kept: it is single-use and already spent.
//
// Outside dev mode the App's field is nil: every method is then a no-op,
// the HTTP client is not wrapped and /dev/flow is not routed.
type flowInspector struct {
	app *App
	// authorizes are the authorize steps of sign-ins in progress.
	authorizes *lru.Cache[string, *authorizeStep]
	// exchanges are the captured token requests, until their callback.
	exchanges *lru.Cache[string, *tokenExchange]
	// records are each session's last sign-in.
	records *lru.Cache[string, *flowRecord]
}

// flowInspectorEntries bounds each of the inspector's LRUs.
const flowInspectorEntries = 1000

func newFlowInspector(a *App) *flowInspector {
	if a.cfg.DevMode == nil {
		return nil
	}
	f := &flowInspector{app: a}
	f.authorizes, _ = lru.New[string, *authorizeStep](flowInspectorEntries)
	f.exchanges, _ = lru.New[string, *tokenExchange](flowInspectorEntries)
	f.records, _ = lru.New[string, *flowRecord](flowInspectorEntries)
	a.log.Warn("DEV MODE: the flow inspector records every sign-in's protocol steps in memory and shows them at /dev/flow")
	return f
}

func flowKey(kind, v string) string { return storeKey("flow-"+kind, v) }

// forget drops the record of a session that ended (sign-out).
func (f *flowInspector) forget(sessionID string) {
	if f != nil {
		f.records.Remove(flowKey("session", sessionID))
	}
}

// flowRecord is one sign-in, step by step, as /dev/flow shows it.
type flowRecord struct {
	At        string
	Authorize *authorizeStep // nil: started on another instance, or forgotten
	Callback  callbackStep
	Exchange  *tokenExchange // nil: not captured
	Header    []flowField    // the ID token's JOSE header
	Claims    []flowField
	Checks    []flowCheck
}

// flowField is one parameter, field or claim, with what it is for.
type flowField struct{ Name, Value, Meaning string }

// flowCheck is one check, with the values it compared.
type flowCheck struct{ Name, Compared, Result, Meaning string }

type authorizeStep struct {
	Endpoint  string // scheme://host/path, no query
	Params    []flowField
	challenge string
}

type callbackStep struct {
	Mode   string
	How    string
	Params []flowField
	State  flowCheck
}

// tokenExchange is the code's redemption as it went over the wire.
type tokenExchange struct {
	Endpoint   string
	Params     []flowField
	ClientAuth string
	PKCE       *flowCheck // set at the callback, which knows the challenge
	Status     int
	Response   []flowField
	verifier   string // as sent, for the PKCE check
}

// httpClient returns c, or in dev mode a copy whose transport records the
// authorization code redemptions (the sign-in's MSAL client uses it).
func (f *flowInspector) httpClient(c *http.Client) *http.Client {
	if f == nil {
		return c
	}
	wrapped := *c
	wrapped.Transport = &tokenRecorder{base: transportOf(c), flows: f}
	return &wrapped
}

// began records the authorize request of a sign-in, until its callback.
func (f *flowInspector) began(authURL string, txn *entra.Transaction) {
	if f == nil {
		return
	}
	u, err := url.Parse(authURL)
	if err != nil {
		return
	}
	q := u.Query()
	step := &authorizeStep{Endpoint: u.Scheme + "://" + u.Host + u.Path, challenge: q.Get("code_challenge")}
	for _, name := range orderedKeys(q, authorizeParamOrder) {
		step.Params = append(step.Params, flowField{name, q.Get(name), paramMeaning(authorizeParamMeanings, name)})
	}
	f.authorizes.Add(flowKey("state", txn.State), step)
}

// signedIn assembles the record of a sign-in that has just completed and
// keeps it as the new session's last sign-in.
func (f *flowInspector) signedIn(r *http.Request, sessionID string, txn *entra.Transaction, callback url.Values, res *entra.SignInResult) {
	if f == nil || res.Identity.Claims == nil {
		return
	}
	now := time.Now
	if v := f.app.validator; v.Now != nil {
		now = v.Now
	}
	rec := &flowRecord{At: f.app.now().UTC().Format(time.RFC3339)}
	rec.Authorize, _ = f.authorizes.Peek(flowKey("state", txn.State))
	f.authorizes.Remove(flowKey("state", txn.State))
	code := callback.Get("code")
	rec.Exchange, _ = f.exchanges.Peek(flowKey("code", code))
	f.exchanges.Remove(flowKey("code", code))

	rec.Callback = callbackStep{Mode: "query", How: "a GET of the redirect URI, the parameters in its query string (response_mode=query)"}
	if r.Method == http.MethodPost {
		rec.Callback = callbackStep{Mode: "form_post", How: "a POST of an auto-submitted form from Entra's page to the redirect URI (response_mode=form_post): the code is never in a URL"}
	}
	for _, name := range orderedKeys(callback, callbackParamOrder) {
		v := callback.Get(name)
		if name == "code" {
			v = truncated(v)
		}
		rec.Callback.Params = append(rec.Callback.Params, flowField{name, v, paramMeaning(callbackParamMeanings, name)})
	}
	rec.Callback.State = flowCheck{
		Name:     "state",
		Compared: fmt.Sprintf("response state %q = the state of the transaction sealed in this browser's cookie %s", callback.Get("state"), signInCookieName(txn.State)),
		Result:   passed(callback.Get("state") == txn.State),
		Meaning:  "The response answers a sign-in this browser started (CSRF); the transaction is then marked used, so a replay is refused.",
	}
	if rec.Exchange != nil && rec.Authorize != nil {
		got := oauth2.S256ChallengeFromVerifier(rec.Exchange.verifier)
		rec.Exchange.PKCE = &flowCheck{ // taken out of exchanges: this record's alone
			Name:     "PKCE (checked by Entra)",
			Compared: fmt.Sprintf("BASE64URL(SHA-256(code_verifier)) = %q, the code_challenge of step 1 = %q", got, rec.Authorize.challenge),
			Result:   passed(got == rec.Authorize.challenge),
			Meaning:  "Only the party that made the authorize request knows the verifier: a stolen code alone cannot be redeemed.",
		}
	}
	rec.Header = jwtHeaderFields(res.IDToken)
	rec.Claims = claimFields(res.Identity.Claims.Raw)
	rec.Checks = f.idTokenChecks(rec.Header, res, txn, now(), f.signatureVerified(r.Context(), res.IDToken, headerValue(rec.Header, "kid")))
	f.records.Add(flowKey("session", sessionID), rec)
}

// page serves GET /dev/flow: the session's last sign-in.
func (f *flowInspector) page(c *gin.Context) {
	rec, _ := f.records.Get(flowKey("session", sessionOf(c).ID))
	f.app.render(c, http.StatusOK, "flow", pageData{"Title": "Your last sign-in, step by step", "Flow": rec})
}

// truncated shows the first 12 characters of a code or token: enough to
// recognize it, far too little to use it.
func truncated(s string) string {
	if len(s) <= 12 {
		return strings.Repeat("•", len(s))
	}
	return s[:12] + "…"
}

func passed(ok bool) string {
	if ok {
		return "passed"
	}
	return "failed"
}

// orderedKeys are v's keys: those of order first, in that order, then the
// others sorted.
func orderedKeys[V any](v map[string]V, order []string) []string {
	var out, rest []string
	for _, k := range order {
		if _, ok := v[k]; ok {
			out = append(out, k)
		}
	}
	for k := range v {
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func paramMeaning(m map[string]string, name string) string {
	if s, ok := m[name]; ok {
		return s
	}
	if strings.HasPrefix(strings.ToLower(name), "x-client-") {
		return "Telemetry MSAL Go adds: the library, its version, the platform."
	}
	return "Not described here."
}

var authorizeParamOrder = []string{"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "login_hint", "domain_hint", "claims"}

// authorizeParamMeanings: OIDC Core §3.1.2.1, RFC 7636 §4.3, and
// learn.microsoft.com "Microsoft identity platform and OAuth 2.0
// authorization code flow".
var authorizeParamMeanings = map[string]string{
	"client_id":             "The app registration (application id) asking for the sign-in.",
	"redirect_uri":          "Where Entra sends the response; it must exactly match a redirect URI registered for the app.",
	"response_type":         "code: the authorization code flow. The browser only carries a short-lived code; the tokens come over the back channel (step 3).",
	"response_mode":         "form_post: Entra POSTs the response to the redirect URI, so the code never appears in a URL or in the browser's history. Absent: query.",
	"scope":                 "The permissions asked for: openid (an ID token), profile, offline_access (a refresh token), and the Graph permissions the app uses.",
	"state":                 "CSRF protection: a random value bound to this browser (its sign-in cookie). The response must bring it back unchanged.",
	"nonce":                 "Binds the ID token to this request: Entra copies it into the token and the app compares it (no token replay).",
	"code_challenge":        "PKCE (RFC 7636): the S256 hash of a random verifier the app keeps. Redeeming the code needs the verifier itself.",
	"code_challenge_method": "S256: the challenge is BASE64URL(SHA-256(code_verifier)); the verifier itself (plain) is never sent here.",
	"prompt":                "Forces an interaction: login (credentials again), select_account (the account picker), consent, or none.",
	"login_hint":            "Pre-fills the account: the one already signed in to this app, when there is one.",
	"domain_hint":           "Skips home realm discovery: the user's organization is known.",
	"claims":                "A claims request: MSAL puts the app's client capabilities here (xms_cc cp1: it handles claims challenges, so Entra may issue CAE tokens), merged with a claims challenge's claims, if any.",
	"client_info":           "client_info=1 (MSAL): the token response carries the account's uid.utid, MSAL's home account id.",
}

var callbackParamOrder = []string{"code", "state", "session_state"}

var callbackParamMeanings = map[string]string{
	"code":          "The authorization code: single use, short-lived (minutes), useless without the PKCE verifier and the app's credential. Truncated here.",
	"state":         "The state of step 1, back: it must be the state of the transaction this browser's sign-in cookie holds.",
	"session_state": "Entra's id of the browser's session there (OIDC session management); the app does not use it.",
	"client_info":   "The account's uid.utid (MSAL).",
}

var tokenParamOrder = []string{"grant_type", "code", "redirect_uri", "code_verifier", "client_id", "scope", "claims", "client_info"}

// tokenParamMeanings are the parameters of the code redemption shown; any
// other is listed by name only, and the client's secret or assertion is
// reduced to its kind (clientAuth).
var tokenParamMeanings = map[string]string{
	"grant_type":    "authorization_code: redeem the code of step 2.",
	"code":          "The code from the callback. Truncated here.",
	"redirect_uri":  "Must be the redirect_uri of step 1: Entra checks that they match.",
	"code_verifier": "PKCE: the secret whose S256 hash was the code_challenge of step 1. Shown because it is single-use and already spent.",
	"client_id":     "The app redeeming the code: it must be the app the code was issued to.",
	"scope":         "The scopes again; MSAL adds openid, profile and offline_access.",
	"claims":        "The claims request of step 1, again.",
	"client_info":   "client_info=1: return the account's uid.utid (MSAL's home account id).",
}

var responseFieldOrder = []string{"token_type", "scope", "expires_in", "ext_expires_in", "refresh_in", "access_token", "refresh_token", "id_token", "client_info"}

// responseFieldMeanings are the token response's fields shown; tokens
// are truncated, and any other field is listed by name only.
var responseFieldMeanings = map[string]string{
	"token_type":     "Bearer: whoever holds the access token may use it (Authorization: Bearer).",
	"scope":          "The permissions the access token carries (possibly fewer than asked).",
	"expires_in":     "Seconds until the access token expires.",
	"ext_expires_in": "Extended lifetime: how long the access token may still be used while Entra is unreachable.",
	"refresh_in":     "When to refresh the access token, before it expires.",
	"access_token":   "For Microsoft Graph (its aud), not for this app: the app only sends it. Kept in the sealed token cache. Truncated here.",
	"refresh_token":  "Gets new access tokens without the user. Kept in the sealed token cache, never sent to the browser. Truncated here.",
	"id_token":       "Who signed in, for this app (aud = its client id): decoded below, then checked (step 5). Truncated here.",
	"client_info":    "base64url JSON of the account's uid and utid: MSAL's home account id. Truncated here.",
}

var tokenFields = map[string]bool{"access_token": true, "refresh_token": true, "id_token": true, "client_info": true}

// tokenRecorder captures the authorization code redemptions going through
// it (grant_type=authorization_code): the form without the client's
// credential, and the response with its tokens truncated. Every other
// request passes through untouched.
type tokenRecorder struct {
	base  http.RoundTripper
	flows *flowInspector
}

func (t *tokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	form, req, err := authCodeForm(req)
	if err != nil {
		return nil, err
	}
	if form == nil {
		return t.base.RoundTrip(req)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	x := &tokenExchange{Endpoint: req.URL.Scheme + "://" + req.URL.Host + req.URL.Path, Status: resp.StatusCode,
		ClientAuth: clientAuth(req, form, t.flows.app.cfg.Entra.Credential.Kind()), verifier: form.Get("code_verifier")}
	for _, name := range orderedKeys(form, tokenParamOrder) {
		switch name {
		case "client_secret", "client_assertion", "client_assertion_type":
			continue // in ClientAuth, as a kind
		}
		meaning, known := tokenParamMeanings[name]
		v := form.Get(name)
		switch {
		case name == "code":
			v = truncated(v)
		case !known:
			v, meaning = "[not shown]", "Not described here, so not shown."
		}
		x.Params = append(x.Params, flowField{name, v, meaning})
	}
	x.Response = responseFields(body)
	t.flows.exchanges.Add(flowKey("code", form.Get("code")), x)
	return resp, nil
}

// authCodeForm returns the form of a code redemption (nil for any other
// request), and the request to send: req itself, or a copy with the body
// restored when it had to be read.
func authCodeForm(req *http.Request) (url.Values, *http.Request, error) {
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if req.Method != http.MethodPost || req.Body == nil || mt != "application/x-www-form-urlencoded" {
		return nil, req, nil
	}
	var body []byte
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, req, nil
		}
		body, err = io.ReadAll(io.LimitReader(rc, maxFormBytes+1))
		rc.Close()
		if err != nil {
			return nil, req, nil
		}
	} else {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, nil, err
		}
		body = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	if len(body) > maxFormBytes {
		return nil, req, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("grant_type") != "authorization_code" || form.Get("code") == "" {
		return nil, req, nil
	}
	return form, req, nil
}

// clientAuth names how the app proved its identity, never with what.
func clientAuth(req *http.Request, form url.Values, credentialKind string) string {
	switch {
	case form.Has("client_secret"):
		return "client_secret: [redacted]"
	case form.Has("client_assertion") && credentialKind == "certificate":
		return "client_assertion (private_key_jwt): [redacted]"
	case form.Has("client_assertion"):
		return "client_assertion (federated credential): [redacted]"
	case req.Header.Get("Authorization") != "":
		return "HTTP Basic (client_secret_basic): [redacted]"
	}
	return "none"
}

func responseFields(body []byte) []flowField {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return []flowField{{"(body)", "[not JSON: not shown]", ""}}
	}
	var out []flowField
	for _, name := range orderedKeys(m, responseFieldOrder) {
		meaning, known := responseFieldMeanings[name]
		var v string
		switch {
		case !known:
			v, meaning = "[not shown]", "Not described here, so not shown."
		case tokenFields[name]:
			var s string
			_ = json.Unmarshal(m[name], &s)
			v = truncated(s)
		default:
			v = claimValue(name, m[name])
		}
		out = append(out, flowField{name, v, meaning})
	}
	return out
}

var headerMeanings = map[string]string{
	"alg": "The signature algorithm: RS256 (RSA with SHA-256), the only one the app accepts.",
	"kid": "Which of the issuer's signing keys (its JWKS) signed the token.",
	"typ": "The token's media type: JWT.",
	"x5t": "Thumbprint of the signing key's certificate (Entra: the same as kid).",
}

// jwtHeaderFields decodes a compact JWS's header (nothing, if malformed).
func jwtHeaderFields(raw string) []flowField {
	enc, _, ok := strings.Cut(raw, ".")
	if !ok || len(enc) > 4096 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	var out []flowField
	for _, name := range orderedKeys(m, []string{"typ", "alg", "kid", "x5t"}) {
		meaning, ok := headerMeanings[name]
		if !ok {
			meaning = "A header parameter the app does not use (keys come only from the issuer's JWKS)."
		}
		out = append(out, flowField{name, claimValue(name, m[name]), meaning})
	}
	return out
}

// signatureVerified verifies the RS256 signature of a token again, with
// the issuer's keys for kid (entra.Validator did before the sign-in).
func (f *flowInspector) signatureVerified(ctx context.Context, raw, kid string) bool {
	i := strings.LastIndexByte(raw, '.')
	if i < 0 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(raw[i+1:])
	if err != nil {
		return false
	}
	keys, err := f.app.keys.VerificationKeys(ctx, kid)
	if err != nil {
		return false
	}
	digest := sha256.Sum256([]byte(raw[:i]))
	return slices.ContainsFunc(keys, func(k *rsa.PublicKey) bool {
		return k != nil && len(sig) == k.Size() && rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) == nil
	})
}

func headerValue(fields []flowField, name string) string {
	for _, f := range fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

var claimOrder = []string{"iss", "aud", "sub", "oid", "tid", "nonce", "iat", "nbf", "exp", "name", "preferred_username", "sid", "ver"}

func claimFields(payload []byte) []flowField {
	var m map[string]json.RawMessage
	if json.Unmarshal(payload, &m) != nil {
		return nil
	}
	out := make([]flowField, 0, len(m))
	for _, name := range orderedKeys(m, claimOrder) {
		out = append(out, flowField{name, claimValue(name, m[name]), entra.ClaimMeaning(name)})
	}
	return out
}

// idTokenChecks are the checks entra.SignIn.Complete ran on the ID token
// (entra.Validator.ValidateIDToken, then the account match), each with the
// values it compared, redone here on the values the sign-in used.
func (f *flowInspector) idTokenChecks(header []flowField, res *entra.SignInResult, txn *entra.Transaction, at time.Time, verified bool) []flowCheck {
	c, cfg, v := res.Identity.Claims, f.app.cfg.Entra, f.app.validator
	skew := v.Skew
	switch {
	case skew <= 0:
		skew = 2 * time.Minute
	case skew > 5*time.Minute:
		skew = 5 * time.Minute
	}
	s := int64(skew / time.Second)
	ts := func(u int64) string { return time.Unix(u, 0).UTC().Format(time.RFC3339) }
	now := at.Unix()
	alg, kid := headerValue(header, "alg"), headerValue(header, "kid")
	wantIss := strings.Replace(txn.Issuer, "{tenantid}", c.TenantID, 1)
	templated := ""
	if strings.Contains(txn.Issuer, "{tenantid}") {
		templated = ", {tenantid} = the token's tid"
	}
	aud := slices.ContainsFunc(c.Audience, func(a string) bool { return strings.EqualFold(a, cfg.ClientID) })
	checks := []flowCheck{
		{"signature", fmt.Sprintf("alg %q (only RS256 is accepted); the RS256 signature verifies with the key %q of the issuer's JWKS %s", alg, kid, f.app.metadata.JWKSURI),
			passed(alg == "RS256" && verified), "The token was signed by the issuer's key and not altered since. Keys come only from the JWKS the discovery document names, never from the token."},
		{"issuer", fmt.Sprintf("iss %q = expected %q (the discovery document's issuer%s)", c.Issuer, wantIss, templated),
			passed(c.Issuer == wantIss), "The token comes from the tenant the app trusts, the one the sign-in started with (mix-up defence)."},
		{"audience", fmt.Sprintf("aud %v contains the client id %q", c.Audience, cfg.ClientID),
			// Several audiences: only when azp names this app (entra.Validator).
			passed(aud && (len(c.Audience) == 1 || strings.EqualFold(c.AuthorizedParty, cfg.ClientID))),
			"The token was issued for this app, not for another one that could replay it here."},
		{"expiry", fmt.Sprintf("now %s ≤ exp %s + %s skew", ts(now), ts(c.Expiry), skew),
			passed(c.Expiry != 0 && now <= c.Expiry+s), "The token is still valid, with a bounded allowance for clock differences."},
		{"not before", fmt.Sprintf("now %s + %s skew ≥ nbf %s and iat %s", ts(now), skew, ts(c.NotBefore), ts(c.IssuedAt)),
			passed(now+s >= c.NotBefore && now+s >= c.IssuedAt), "The token is already valid, and was not issued in the future."},
		{"nonce", fmt.Sprintf("nonce %q = the nonce of step 1 %q", c.Nonce, txn.Nonce),
			passed(c.Nonce != "" && c.Nonce == txn.Nonce), "The token answers this very sign-in request: a token from another one cannot be injected."},
		tenantCheck(cfg, c.TenantID, v.Issuer),
		{"required claims", fmt.Sprintf("ver %q = 2.0; sub, oid and tid present (sub %q, oid %q, tid %q)", c.Version, c.Subject, c.ObjectID, c.TenantID),
			passed(c.Version == "2.0" && c.Subject != "" && c.ObjectID != "" && c.TenantID != ""), "A v2.0 ID token that names the user: the app keys users by tid + oid."},
		{"account", fmt.Sprintf("oid %q = MSAL's account %q; tid %q = its realm %q", c.ObjectID, res.Account.LocalAccountID, c.TenantID, res.Account.Realm),
			passed(strings.EqualFold(c.ObjectID, res.Account.LocalAccountID) && (!entra.IsGUID(res.Account.Realm) || strings.EqualFold(c.TenantID, res.Account.Realm))),
			"The ID token and the tokens MSAL cached (under its home account id) are the same user's."},
	}
	return checks
}

// tenantCheck: a multi-tenant app allows the tenants of its configuration
// (Config.TenantAllowed); a single-tenant app's issuer names its tenant,
// so the issuer check pins it.
func tenantCheck(cfg entra.Config, tid, issuer string) flowCheck {
	const meaning = "Only the tenants the app is configured for may sign in."
	if cfg.MultiTenant() {
		return flowCheck{"tenant allowed", fmt.Sprintf("tid %q is in the allowed tenants %v (authority %q)", tid, cfg.AllowedTenants, cfg.TenantID),
			passed(cfg.TenantAllowed(tid)), meaning}
	}
	return flowCheck{"tenant allowed", fmt.Sprintf("tid %q = the tenant of the issuer %q (configured: %q)", tid, issuer, cfg.TenantID),
		passed(entra.IsGUID(tid) && strings.Contains(strings.ToLower(issuer), "/"+strings.ToLower(tid)+"/")), meaning}
}
