package entra

import (
	"context"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Validator checks Entra ID tokens and access tokens: signature against the
// issuer's JWKS (RS256 only), issuer, audience, lifetime, tenant and version.
// It is safe for concurrent use.
type Validator struct {
	// Keys is the issuer's key set (a *RemoteKeySet in production).
	Keys KeySet
	// Issuer is the v2.0 issuer: exact for a single tenant
	// (https://login.microsoftonline.com/<tid>/v2.0), or with "{tenantid}"
	// for a multi-tenant app, where the token's tid fills it in.
	Issuer string
	// V1Issuer accepts v1.0 access tokens (ver "1.0") from this issuer, e.g.
	// https://sts.windows.net/{tenantid}/. Empty: v1 tokens are refused.
	V1Issuer string
	// Audiences are the accepted aud values: the client id for ID tokens; the
	// API's client id and App ID URI for access tokens.
	Audiences []string
	// TenantAllowed decides, for templated issuers, whether tid may sign in
	// (Config.TenantAllowed). Nil accepts any tenant.
	TenantAllowed func(tid string) bool
	// Skew is the clock skew allowed on exp, nbf and iat; default 2 minutes,
	// at most 5.
	Skew time.Duration
	// MaxTokenBytes bounds the token size; default DefaultMaxTokenBytes.
	MaxTokenBytes int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// NewValidator builds the validator for cfg's ID tokens (aud = client id)
// over keys. For a web API, set Audiences (and V1Issuer) on the result.
// Tokens name their tenant by id, so a TenantID given as a domain cannot
// give the issuer nor the tenant: use DiscoverValidator (NewValidator then
// refuses every token, v1 ones included, rather than guess).
func NewValidator(cfg Config, keys KeySet) *Validator {
	iss := ""
	switch {
	case cfg.MultiTenant():
		iss = cfg.Cloud.Authority("{tenantid}") + "/v2.0"
	case IsGUID(cfg.TenantID):
		iss = cfg.Cloud.Authority(strings.ToLower(cfg.TenantID)) + "/v2.0"
	}
	return &Validator{Keys: keys, Issuer: iss, Audiences: []string{cfg.ClientID}, TenantAllowed: cfg.TenantAllowed}
}

// DiscoverValidator reads the authority's discovery document (Discover) and
// returns a validator for cfg's ID tokens with the issuer it names and a
// RemoteKeySet over its JWKS, fetched with client. A single tenant given
// as a domain is resolved to the tenant id in that issuer, so the tenant
// check (of a templated V1Issuer) allows that tenant and no other.
func DiscoverValidator(ctx context.Context, cfg Config, client *http.Client) (*Validator, *Metadata, error) {
	md, err := Discover(ctx, client, cfg.Authority())
	if err != nil {
		return nil, nil, err
	}
	if !cfg.MultiTenant() {
		// Discover checked that the issuer is {host}/{tenant id}/v2.0; a
		// tid that is not a GUID here allows no tenant (Config.TenantAllowed).
		host := strings.TrimSuffix(cfg.Cloud.orDefault().AuthorityHost, "/")
		cfg.TenantID = strings.TrimSuffix(strings.TrimPrefix(md.Issuer, host+"/"), "/v2.0")
	}
	v := NewValidator(cfg, &RemoteKeySet{JWKSURL: md.JWKSURI, HTTPClient: client})
	v.Issuer = md.Issuer
	return v, md, nil
}

// AccessPolicy is what a web API requires of an access token on top of
// Validator's checks.
type AccessPolicy struct {
	// Scopes: a delegated token must carry at least one of them in scp.
	Scopes []string
	// Roles: an app-only token must carry at least one of them in roles.
	Roles []string
	// AllowAppOnly accepts app-only tokens (idtyp "app", no scp); they must
	// then carry one of Roles. False: only delegated (user) tokens.
	AllowAppOnly bool
	// AppOnlyRequired refuses delegated tokens: an endpoint for daemons
	// (implies AllowAppOnly).
	AppOnlyRequired bool
	// AllowedClients limits the calling applications (azp / appid). Empty: any.
	AllowedClients []string
	// Version, "1.0" or "2.0", accepts only that token version. Empty: both
	// (v1 only when Validator.V1Issuer is set).
	Version string
}

// Validate runs the checks every token gets — signature (RS256, a key of
// the issuer's set), issuer, audience, lifetime, tenant — and nothing
// specific to ID or access tokens. Apps use ValidateIDToken or
// ValidateAccessToken; Validate is for tools that inspect any token
// (entractl jwt verify).
func (v *Validator) Validate(ctx context.Context, raw string) (*Claims, error) {
	return v.validate(ctx, raw)
}

// ValidateIDToken checks an ID token and that its nonce is the one sent
// with the authorization request (compared in constant time).
func (v *Validator) ValidateIDToken(ctx context.Context, raw, nonce string) (*Claims, error) {
	c, err := v.validate(ctx, raw)
	if err != nil {
		return nil, err
	}
	if c.Version != "2.0" {
		return nil, refuse(ErrWrongTokenVersion, "ID tokens must be v2.0, got %q", c.Version)
	}
	if c.present&hasNonce == 0 || nonce == "" {
		return nil, refuse(ErrNonceMismatch, "no nonce")
	}
	if subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1 {
		return nil, refuse(ErrNonceMismatch, "")
	}
	if c.present&hasSub == 0 || c.ObjectID == "" || c.TenantID == "" {
		return nil, refuse(ErrMissingClaim, "sub, oid or tid")
	}
	return c, nil
}

// ValidateAccessToken checks an access token for a web API and applies p.
// It refuses ID tokens (a nonce, no scp or roles) and tokens for other
// audiences, such as Microsoft Graph's.
func (v *Validator) ValidateAccessToken(ctx context.Context, raw string, p AccessPolicy) (*Claims, error) {
	c, err := v.validate(ctx, raw)
	if err != nil {
		return nil, err
	}
	if p.Version != "" && c.Version != p.Version {
		return nil, refuse(ErrWrongTokenVersion, "want %s, got %q", p.Version, c.Version)
	}
	if c.present&hasNonce != 0 {
		return nil, refuse(ErrWrongTokenType, "an ID token is not an access token")
	}
	if c.present&hasAzp == 0 {
		return nil, refuse(ErrMissingClaim, "azp/appid")
	}
	if len(p.AllowedClients) > 0 && !containsFold(p.AllowedClients, c.AuthorizedParty) {
		return nil, refuse(ErrClientNotAllowed, "client %s", c.AuthorizedParty)
	}
	appOnly := c.present&hasScp == 0
	if !appOnly && p.AppOnlyRequired {
		return nil, refuse(ErrWrongTokenType, "a user token where an app-only token is required")
	}
	if appOnly {
		if !p.AllowAppOnly && !p.AppOnlyRequired {
			return nil, refuse(ErrWrongTokenType, "app-only token where a user is required")
		}
		if c.IDType != "" && c.IDType != "app" {
			return nil, refuse(ErrWrongTokenType, "no scp in a %q token", c.IDType)
		}
		// Without idtyp, an app-only token is told by its subject: the
		// app's service principal, so sub equals oid (a user's sub is
		// pairwise, never the oid).
		if c.IDType == "" && (c.Subject == "" || c.Subject != c.ObjectID) {
			return nil, refuse(ErrWrongTokenType, "no scp, no idtyp, and sub is not oid: not an app-only token")
		}
		if len(p.Roles) > 0 && !anyIn(p.Roles, c.Roles) {
			return nil, refuse(ErrInsufficientScope, "none of the roles %v", p.Roles)
		}
		if len(p.Roles) == 0 {
			return nil, refuse(ErrInsufficientScope, "app-only tokens need AccessPolicy.Roles")
		}
		return c, nil
	}
	if c.IDType == "app" {
		return nil, refuse(ErrWrongTokenType, "app token with scp")
	}
	if len(p.Scopes) == 0 {
		// As for roles: a policy must name what a user token needs.
		return nil, refuse(ErrInsufficientScope, "delegated tokens need AccessPolicy.Scopes")
	}
	if !anyField(p.Scopes, c.Scopes) {
		return nil, refuse(ErrInsufficientScope, "none of the scopes %v", p.Scopes)
	}
	return c, nil
}

// validate runs the checks common to every token, failing closed: any
// failure is the answer, whatever else is also wrong (golang-jwt
// CVE-2024-51744).
func (v *Validator) validate(ctx context.Context, raw string) (*Claims, error) {
	if v.Keys == nil {
		return nil, errNoKeyForValidation
	}
	max := v.MaxTokenBytes
	if max == 0 {
		max = DefaultMaxTokenBytes
	}
	t, err := parseJWS(raw, max)
	if err != nil {
		return nil, err
	}
	keys, err := v.Keys.VerificationKeys(ctx, t.kid)
	if err != nil {
		return nil, err // technical: not ErrInvalidToken
	}
	if len(keys) == 0 {
		return nil, refuse(ErrUnknownKey, "kid %q", t.kid)
	}
	verified := false
	for _, k := range keys {
		if t.verify(k) {
			verified = true
			break
		}
	}
	if !verified {
		return nil, refuse(ErrInvalidSignature, "kid %q", t.kid)
	}
	rememberHeader(t.newHeader, t.jwsHeader)
	c, err := parseClaims(t.payload)
	if err != nil {
		return nil, refuse(ErrMalformedToken, "%v", err)
	}
	if err := v.checkIssuer(c); err != nil {
		return nil, err
	}
	if c.present&hasAud == 0 || !anyIn(v.Audiences, c.Audience) {
		return nil, refuse(ErrInvalidAudience, "aud %v", c.Audience)
	}
	if len(c.Audience) > 1 {
		// An extra, untrusted audience: accept only if azp names us.
		if c.present&hasAzp == 0 || !containsFold(v.Audiences, c.AuthorizedParty) {
			return nil, refuse(ErrInvalidAudience, "several audiences and azp is not this client")
		}
	}
	return c, v.checkTime(c)
}

func (v *Validator) checkIssuer(c *Claims) error {
	if c.present&hasIss == 0 {
		return refuse(ErrMissingClaim, "iss")
	}
	want := v.Issuer
	switch c.Version {
	case "2.0":
	case "1.0":
		if v.V1Issuer == "" {
			return refuse(ErrWrongTokenVersion, "v1.0 tokens are not accepted")
		}
		want = v.V1Issuer
	default:
		return refuse(ErrWrongTokenVersion, "ver %q", c.Version)
	}
	if want == "" { // e.g. NewValidator of a domain: no issuer is known
		return refuse(ErrInvalidIssuer, "no issuer configured")
	}
	templated := strings.Contains(want, "{tenantid}")
	if templated {
		if !IsGUID(c.TenantID) {
			return refuse(ErrMissingClaim, "tid")
		}
		want = strings.Replace(want, "{tenantid}", c.TenantID, 1)
	}
	if c.Issuer != want {
		return refuse(ErrInvalidIssuer, "iss %q", c.Issuer)
	}
	if templated && v.TenantAllowed != nil && !v.TenantAllowed(c.TenantID) {
		return refuse(ErrTenantNotAllowed, "tid %s", c.TenantID)
	}
	return nil
}

func (v *Validator) checkTime(c *Claims) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.Skew
	switch {
	case skew <= 0:
		skew = 2 * time.Minute
	case skew > maxSkew:
		skew = maxSkew // bounded leeway: a typo must not accept week-old tokens
	}
	t := now().Unix()
	s := int64(skew / time.Second)
	switch {
	case c.present&hasExp == 0:
		return refuse(ErrMissingClaim, "exp")
	case c.present&hasIat == 0:
		return refuse(ErrMissingClaim, "iat")
	case t > c.Expiry+s:
		return refuse(ErrTokenExpired, "expired at %d", c.Expiry)
	case c.present&hasNbf != 0 && t+s < c.NotBefore:
		return refuse(ErrTokenNotYetValid, "valid from %d", c.NotBefore)
	case t+s < c.IssuedAt:
		return refuse(ErrTokenNotYetValid, "issued in the future (%d)", c.IssuedAt)
	}
	return nil
}

const maxSkew = 5 * time.Minute

func anyIn(want, have []string) bool {
	for _, h := range have {
		if containsFold(want, h) {
			return true
		}
	}
	return false
}

// anyField is anyIn over the space-separated words of have, without
// splitting them into a slice.
func anyField(want []string, have string) bool {
	for h := range strings.FieldsSeq(have) {
		if containsFold(want, h) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}
