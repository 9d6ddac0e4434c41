package identity

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

// issue describes one token issuance.
type issue struct {
	client   *directory.App
	user     *directory.User // nil: app-only (client credentials)
	sr       *scopeRequest
	nonce    string
	authTime time.Time
	sid      string
	xmsCC    bool   // the client declared capability CP1 (CAE)
	azpacr   string // "0" public client, "1" secret, "2" certificate or assertion
	// clientInfo: the request asked for client_info=1.
	clientInfo bool
	// refresh is the refresh token to return (already stored), "" for none.
	refresh string
	// noIDToken: on-behalf-of answers carry no ID token.
	noIDToken bool
	// lifetime overrides the access token lifetime (managed identities).
	lifetime time.Duration
	// mirid is a managed identity's Azure resource id (xms_mirid).
	mirid string
}

// minted is a token response whose tokens are built but not yet signed, so
// the caller can sign them without holding the server's lock.
type minted struct {
	resp      tokenResponse
	key       *rsa.PrivateKey
	atHeader  string
	atPayload []byte
	idHeader  string
	idPayload []byte
}

func (m *minted) sign() (tokenResponse, error) {
	var err error
	if m.resp.AccessToken, err = sign(m.key, m.atHeader, m.atPayload); err != nil {
		return tokenResponse{}, err
	}
	if m.idPayload != nil {
		if m.resp.IDToken, err = sign(m.key, m.idHeader, m.idPayload); err != nil {
			return tokenResponse{}, err
		}
	}
	return m.resp, nil
}

// tokenResponse is the token endpoint's success body, fields as MSAL reads them.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	RefreshIn    int    `json:"refresh_in,omitempty"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

const (
	accessTokenLifetime = 3599 * time.Second
	// CAE-capable clients get long-lived Graph tokens (Entra: up to 28 h);
	// refresh_in tells MSAL to renew at half-life.
	caeTokenLifetime = 86399 * time.Second
	groupsOverage    = 200 // JWT groups claim limit
)

// aioFor makes the aio claim, which Entra documents as opaque internal data:
// the dev tenant keeps the issue time in nanoseconds there, so the Graph
// emulator can tell a token issued just before a revocation from one issued
// just after it in the same second (iat has second precision).
func aioFor(now time.Time, random string) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(now.UnixNano()))
	return base64.RawURLEncoding.EncodeToString(b[:]) + random
}

// IssuedAtFromAIO reads aioFor's time; ok is false for any other aio.
func IssuedAtFromAIO(aio string) (time.Time, bool) {
	if len(aio) < 11 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(aio[:11])
	if err != nil || len(b) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))), true
}

// accessClaims are an access token's claims, v1 or v2, in the order Entra
// sends them. A struct, not a map: encoding it is several times cheaper.
type accessClaims struct {
	Aud               string   `json:"aud"`
	Iss               string   `json:"iss"`
	Iat               int64    `json:"iat"`
	Nbf               int64    `json:"nbf"`
	Exp               int64    `json:"exp"`
	Acct              *int     `json:"acct,omitempty"`
	Acr               string   `json:"acr,omitempty"`
	Aio               string   `json:"aio"`
	Amr               []string `json:"amr,omitempty"`
	AppDisplayName    string   `json:"app_displayname,omitempty"`
	AppID             string   `json:"appid,omitempty"`
	AppIDAcr          string   `json:"appidacr,omitempty"`
	Azp               string   `json:"azp,omitempty"`
	Azpacr            string   `json:"azpacr,omitempty"`
	Email             string   `json:"email,omitempty"`
	FamilyName        string   `json:"family_name,omitempty"`
	GivenName         string   `json:"given_name,omitempty"`
	Groups            []string `json:"groups,omitempty"`
	Idp               string   `json:"idp,omitempty"`
	Idtyp             string   `json:"idtyp,omitempty"`
	Name              string   `json:"name,omitempty"`
	Oid               string   `json:"oid"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Rh                string   `json:"rh"`
	Roles             []string `json:"roles,omitempty"`
	Scp               string   `json:"scp,omitempty"`
	Sid               string   `json:"sid,omitempty"`
	Sub               string   `json:"sub"`
	Tid               string   `json:"tid"`
	UniqueName        string   `json:"unique_name,omitempty"`
	Upn               string   `json:"upn,omitempty"`
	Uti               string   `json:"uti"`
	Ver               string   `json:"ver"`
	Wids              []string `json:"wids,omitempty"`
	ClaimNames        any      `json:"_claim_names,omitempty"`
	ClaimSources      any      `json:"_claim_sources,omitempty"`
	XmsCC             []string `json:"xms_cc,omitempty"`
	XmsMirid          string   `json:"xms_mirid,omitempty"`
}

// PairwiseSub is Entra's sub: stable per user and app, different across apps.
func PairwiseSub(oid, appID string) string {
	h := sha256.Sum256([]byte(strings.ToLower(oid) + "|" + strings.ToLower(appID)))
	return base64.RawURLEncoding.EncodeToString(h[:])[:43]
}

// mint builds the tokens of one response, to be signed. The caller holds p.mu.
func (p *Provider) mint(now time.Time, is issue) *minted {
	key, kid := p.keys.current.key, p.keys.current.kid
	res := is.sr.res
	lifetime := accessTokenLifetime
	resp := tokenResponse{TokenType: "Bearer"}
	if is.xmsCC && res.Graph && is.user != nil {
		lifetime = caeTokenLifetime
		resp.RefreshIn = int(lifetime.Seconds()) / 2
	}
	if is.lifetime > 0 {
		lifetime = is.lifetime
	}
	if p.cfg.AccessTokenLifetime > 0 {
		lifetime = p.cfg.AccessTokenLifetime
		resp.RefreshIn = 0
	}
	resp.ExpiresIn = int(lifetime.Seconds())
	resp.ExtExpiresIn = resp.ExpiresIn
	exp := now.Add(lifetime).Unix()
	tid := p.tx.TenantID() // the tenant entered for this request
	v1Issuer := "https://sts.windows.net/" + tid + "/"
	v2Issuer := p.baseURL() + "/" + tid + "/v2.0"

	rnd := randomString(48) // one read for aio, rh and uti
	at := accessClaims{
		Iat: now.Unix(), Nbf: now.Unix(), Exp: exp,
		Aio: aioFor(now, rnd[:12]), Rh: "0." + rnd[24:48] + ".", Tid: tid, Uti: rnd[48:],
	}
	if is.xmsCC {
		at.XmsCC = []string{"CP1"}
	}
	at.XmsMirid = is.mirid
	if res.Version == 2 {
		at.Aud, at.Iss, at.Ver = res.AppID, v2Issuer, "2.0"
		at.Azp, at.Azpacr = strings.ToLower(is.client.AppID), is.azpacr
	} else {
		at.Aud, at.Iss, at.Ver = is.sr.aud, v1Issuer, "1.0"
		at.AppID, at.AppIDAcr = strings.ToLower(is.client.AppID), is.azpacr
		at.AppDisplayName = is.client.DisplayName
		at.Idp = v1Issuer
	}
	subjectClaims(p.tx, &at, is)
	p.resourceClaims(&at, is)
	header := ""
	if res.Graph {
		// Graph's tokens carry a nonce in the header, which is why apps
		// cannot validate them; relying parties must not try.
		h := `{"typ":"JWT","nonce":"` + randomString(32) + `","alg":"RS256","x5t":"` + kid + `","kid":"` + kid + `"}`
		header = base64.RawURLEncoding.EncodeToString([]byte(h))
	} else {
		header = p.keys.current.header
	}
	payload, _ := json.Marshal(at)
	m := &minted{key: key, atHeader: header, atPayload: payload}
	if is.user == nil {
		m.resp = resp
		return m
	}

	resp.Scope = echoScopes(p.tx, is)
	resp.RefreshToken = is.refresh
	if is.clientInfo {
		// client_info names the home account: a guest's is at home.
		uid, utid := is.user.ID, tid
		if isGuest(is.user) {
			if h, ht := p.homeAccount(is.user.Mail); h != nil {
				uid, utid = h.ID, ht
			}
		}
		ci, _ := json.Marshal(map[string]string{"uid": uid, "utid": utid})
		resp.ClientInfo = base64.RawURLEncoding.EncodeToString(ci)
	}
	if is.sr.oidc["openid"] && !is.noIDToken {
		m.idHeader = p.keys.current.header
		m.idPayload, _ = json.Marshal(p.idTokenClaims(now, is))
	}
	m.resp = resp
	return m
}

// subjectClaims sets who the access token is for: the app's service
// principal with its app roles, or the user with the delegated permissions
// granted. A B2B guest has no upn; unique_name (v1) and preferred_username
// (v2) are the address they sign in with at home, and idp names their home
// tenant.
func subjectClaims(tx directory.Tx, at *accessClaims, is issue) {
	res := is.sr.res
	if is.user == nil {
		at.Idtyp, at.Oid, at.Sub = "app", is.client.SPID, is.client.SPID
		at.Roles = tx.AppRoles(is.client.AppID, res)
		return
	}
	u := is.user
	at.Oid, at.Sub, at.Name, at.Sid = u.ID, PairwiseSub(u.ID, res.AppID), u.DisplayName, is.sid
	at.Scp = strings.Join(tx.Granted(is.client.AppID, u.ID, res), " ")
	if res.Version == 2 {
		at.PreferredUsername = u.UserPrincipalName
		if isGuest(u) {
			at.PreferredUsername, at.Idp = u.Mail, homeIssuer(u)
		}
	} else {
		at.Idtyp, at.Upn, at.UniqueName, at.Idp = "user", u.UserPrincipalName, u.UserPrincipalName, ""
		if isGuest(u) {
			at.Upn, at.UniqueName, at.Email, at.Idp = "", u.Mail, u.Mail, homeIssuer(u)
		}
		at.GivenName, at.FamilyName = u.GivenName, u.Surname
		at.Amr, at.Acr = []string{"pwd"}, "1"
	}
	if !res.Graph && len(u.AppRoles) > 0 && res.AppID == tx.RoleApp() {
		at.Roles = u.AppRoles
	}
	if u.Admin {
		at.Wids = []string{directory.GlobalAdminRoleID}
	}
}

// resourceClaims applies what the resource's own registration asks of the
// access tokens issued for it (Entra: "resources own the access token"):
// idtyp only as an optional claim (app-only tokens; user tokens too with
// include_user_token), the optional claims email, upn, acct, given_name and
// family_name, and groups per its groupMembershipClaims (an overage claim
// past 200). Graph's tokens are Microsoft's, with idtyp always.
func (p *Provider) resourceClaims(at *accessClaims, is issue) {
	res := is.sr.res
	if res.Graph {
		return
	}
	api := p.tx.App(res.AppID)
	if api == nil { // a managed identity's or unknown resource: nothing asked
		at.Idtyp = ""
		return
	}
	oc := api.OptionalClaims
	props, ok := oc.AccessTokenClaim("idtyp")
	switch {
	case !ok:
		at.Idtyp = ""
	case is.user != nil && slices.Contains(props, "include_user_token"):
		at.Idtyp = "user"
	case is.user != nil:
		at.Idtyp = ""
	}
	u := is.user
	if u == nil {
		return
	}
	if _, ok := oc.AccessTokenClaim("email"); ok || isGuest(u) && res.Version == 1 {
		at.Email = u.Mail
	}
	if _, ok := oc.AccessTokenClaim("upn"); ok && !isGuest(u) {
		at.Upn = u.UserPrincipalName
	}
	if _, ok := oc.AccessTokenClaim("acct"); ok {
		acct := 0
		if isGuest(u) {
			acct = 1
		}
		at.Acct = &acct
	}
	if _, ok := oc.AccessTokenClaim("given_name"); ok {
		at.GivenName = u.GivenName
	}
	if _, ok := oc.AccessTokenClaim("family_name"); ok {
		at.FamilyName = u.Surname
	}
	if groupsClaim(api.GroupMembershipClaims) {
		at.Groups, at.ClaimNames, at.ClaimSources = p.groups(u)
	}
}

func groupsClaim(setting string) bool {
	return strings.EqualFold(setting, "SecurityGroup") || strings.EqualFold(setting, "All")
}

// groups is u's groups claim, or past the JWT limit the overage claim
// pointing at this tenant's Graph (Entra points at Azure AD Graph,
// graph.windows.net, which is retired; apps should call Microsoft Graph).
func (p *Provider) groups(u *directory.User) (groups []string, names, sources any) {
	if len(u.Groups) <= groupsOverage {
		return u.Groups, nil, nil
	}
	graph := p.cfg.GraphURL()
	if graph == "" {
		graph = graphHost
	}
	return nil, map[string]string{"groups": "src1"}, map[string]any{"src1": map[string]string{
		"endpoint": graph + "/v1.0/users/" + u.ID + "/getMemberObjects"}}
}

// echoScopes is a delegated response's scope: the requested scopes verbatim
// (MSAL compares them), never offline_access; for <resource>/.default, what
// is granted on the resource.
func echoScopes(tx directory.Tx, is issue) string {
	var echo []string
	for _, sc := range is.sr.raw {
		oidc := oidcScopes[strings.ToLower(sc)]
		// Entra leaves out offline_access always, and the OIDC scopes for
		// a resource other than Graph.
		if !strings.EqualFold(sc, "offline_access") && !(oidc && !is.sr.res.Graph) {
			echo = append(echo, sc)
		}
	}
	if is.sr.dotDeflt {
		echo = echo[:0]
		for _, sc := range is.sr.raw {
			oidc := oidcScopes[strings.ToLower(sc)]
			if !strings.EqualFold(sc, "offline_access") && !strings.HasSuffix(sc, "/.default") && !(oidc && !is.sr.res.Graph) {
				echo = append(echo, sc)
			}
		}
		for _, v := range tx.Granted(is.client.AppID, is.user.ID, is.sr.res) {
			if !oidcScopes[strings.ToLower(v)] {
				echo = append(echo, scopePrefix(is.sr)+v)
			}
		}
	}
	return strings.Join(echo, " ")
}

// scopePrefix is how the request named its resource, for echoing .default.
func scopePrefix(sr *scopeRequest) string {
	if sr.res.Graph && strings.EqualFold(sr.aud, "https://graph.microsoft.com") {
		return "https://graph.microsoft.com/"
	}
	return sr.aud + "/"
}

// idTokenClaims are the ID token's claims. A guest's preferred_username and
// email are their home address, idp their home tenant. From a refresh the
// token carries no nonce (there is no authorize request to echo; OIDC Core
// §12.2), the rest as at sign-in.
func (p *Provider) idTokenClaims(now time.Time, is issue) map[string]any {
	u, client := is.user, is.client
	tid := p.tx.TenantID()
	c := map[string]any{
		"aud": strings.ToLower(client.AppID), "iss": p.baseURL() + "/" + tid + "/v2.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"aio": randomString(24), "oid": u.ID, "rh": "0." + randomString(24) + ".",
		"sub": PairwiseSub(u.ID, client.AppID), "tid": tid, "uti": randomString(16), "ver": "2.0",
		"sid": is.sid,
	}
	if is.nonce != "" {
		c["nonce"] = is.nonce
	}
	if is.sr.oidc["profile"] {
		c["name"], c["preferred_username"] = u.DisplayName, u.UserPrincipalName
		if isGuest(u) {
			c["preferred_username"] = u.Mail
		}
	}
	if (is.sr.oidc["email"] || isGuest(u)) && u.Mail != "" {
		c["email"] = u.Mail // a guest's by default, as Entra's
	}
	if client.OptionalClaims.HasIDTokenClaim("login_hint") {
		// Entra's login_hint is opaque: an encoded reference to the
		// account, for login_hint and logout_hint.
		c["login_hint"] = base64.RawURLEncoding.EncodeToString([]byte(`{"oid":"` + u.ID + `","tid":"` + tid + `"}`))
	}
	if isGuest(u) {
		c["idp"] = homeIssuer(u)
	}
	if len(u.AppRoles) > 0 && strings.EqualFold(client.AppID, p.tx.RoleApp()) {
		c["roles"] = u.AppRoles
	}
	if groupsClaim(client.GroupMembershipClaims) {
		groups, names, sources := p.groups(u)
		if names != nil {
			c["_claim_names"], c["_claim_sources"] = names, sources
		} else if len(groups) > 0 {
			c["groups"] = groups
		}
	}
	return c
}
