package webapp

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/gin-gonic/gin"
)

// The web API under /api/: what a single-page app (or any client holding a
// token for this app's access_as_user scope) calls with a bearer token,
// and what the API calls Graph with on the caller's behalf (OBO).
const (
	// apiScope is the delegated permission the API exposes
	// (api://<client id>/access_as_user in the manifest).
	apiScope = "access_as_user"
	// reportsRole is the application permission (app role) of daemons
	// reading the API's usage report.
	reportsRole = "Reports.Read.All"
	// ctxAPIToken and ctxAPIClaims hold the caller's validated token.
	ctxAPIToken  = "entrakit.api.token"
	ctxAPIClaims = "entrakit.api.claims"
)

// oboScopes are the delegated Graph permissions the API exchanges callers'
// tokens for: one token serves /api/me, /api/me/photo and /api/users.
var oboScopes = []string{"User.Read", "User.ReadBasic.All"}

// api serves /api/. It has its own type: the App's methods are the web
// app's pages.
type api struct {
	a *App
	// user accepts delegated tokens with access_as_user; daemon accepts
	// app-only tokens with the Reports.Read.All role.
	user, daemon *entra.Bearer
	obo          *oboTokens
	scopes       []string // oboScopes, qualified with the Graph resource
	// origins may call the API from a browser (CORS), by exact origin.
	origins map[string]bool
	started time.Time
}

func newAPI(a *App, obo *oboTokens) *api {
	v := *a.validator
	v.Audiences = []string{a.cfg.Entra.ClientID, a.cfg.APIIdentifierURI}
	v.Now = a.now
	x := &api{a: a, obo: obo, scopes: a.graphScopes(oboScopes), origins: map[string]bool{a.origin: true}, started: a.now()}
	x.user = &entra.Bearer{Validator: &v, Policy: entra.AccessPolicy{Scopes: []string{apiScope}}, Logger: a.log}
	x.daemon = &entra.Bearer{Validator: &v, Policy: entra.AccessPolicy{AppOnlyRequired: true, Roles: []string{reportsRole},
		AllowedClients: a.cfg.APIReportClients}, Logger: a.log}
	if len(a.cfg.APIReportClients) == 0 && a.cfg.Entra.MultiTenant() {
		// Any tenant's admin can grant their own app the role in their
		// tenant: without a list of the daemons, no client may read.
		x.daemon.Policy.AllowedClients = []string{"no client: set Config.APIReportClients"}
	}
	for _, o := range a.cfg.APIAllowedOrigins {
		x.origins[o] = true
	}
	return x
}

// register adds the API's routes to r.
func (x *api) register(r *gin.Engine) {
	g := r.Group("/api", x.cors)
	for _, rt := range []struct {
		path   string
		bearer *entra.Bearer
		h      gin.HandlerFunc
	}{
		{"/me", x.user, x.me},
		{"/me/photo", x.user, x.photo},
		{"/users", x.user, x.users},
		{"/reports/usage", x.daemon, x.usage},
	} {
		g.GET(rt.path, x.authenticate(rt.bearer), rt.h)
		g.OPTIONS(rt.path, x.preflight)
	}
}

// cors lets the allowed origins read the API's answers (no cookies are
// involved: the API authenticates with bearer tokens only). A preflight
// from any other origin is refused; a simple request from one gets no
// CORS headers, so the browser keeps the answer from the page.
func (x *api) cors(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Writer.Header().Add("Vary", "Origin")
	if origin := c.GetHeader("Origin"); origin != "" && x.origins[origin] {
		c.Header("Access-Control-Allow-Origin", origin)
		c.Header("Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After, X-Request-Id")
	}
	c.Next()
}

// preflight answers CORS preflights: GET with an Authorization header.
func (x *api) preflight(c *gin.Context) {
	if c.Writer.Header().Get("Access-Control-Allow-Origin") == "" {
		x.error(c, http.StatusForbidden, "origin_not_allowed", "this origin may not call the API from a browser", nil)
		return
	}
	c.Header("Access-Control-Allow-Methods", "GET")
	c.Header("Access-Control-Allow-Headers", "Authorization")
	c.Header("Access-Control-Max-Age", "600")
	c.Status(http.StatusNoContent)
}

// authenticate runs b's checks on the bearer token; the handler finds the
// token and its claims in the context.
func (x *api) authenticate(b *entra.Bearer) gin.HandlerFunc {
	return func(c *gin.Context) {
		raw, err := entra.BearerToken(c.Request.Header)
		var claims *entra.Claims
		if err == nil && raw != "" {
			claims, err = b.Validator.ValidateAccessToken(c.Request.Context(), raw, b.Policy)
		}
		if err != nil || raw == "" {
			ref := b.Refuse(c.Request.Context(), err)
			if ref.Status == http.StatusServiceUnavailable {
				c.Header("Retry-After", "5")
			}
			if ref.WWWAuthenticate != "" {
				c.Header("WWW-Authenticate", ref.WWWAuthenticate)
			}
			c.AbortWithStatusJSON(ref.Status, apiError{Error: orDefault(ref.Error, "unauthorized"), Description: ref.Description, RequestID: requestIDOf(c)})
			return
		}
		c.Set(ctxAPIToken, raw)
		c.Set(ctxAPIClaims, claims)
		c.Next()
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// apiError is the JSON body of every error the API answers.
type apiError struct {
	Error         string `json:"error"`
	Description   string `json:"error_description,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	RequestID     string `json:"request_id,omitempty"`
}

// error answers status with a JSON error; 401 and 403 carry an RFC 6750
// challenge. cause is logged, never sent.
func (x *api) error(c *gin.Context, status int, code, desc string, cause error) {
	if cause != nil {
		x.a.log.Warn("api: "+code, "status", status, "request_id", requestIDOf(c), "route", c.FullPath(), "err", cause)
	}
	switch status {
	case http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+quotable(desc)+`"`)
	case http.StatusForbidden:
		c.Header("WWW-Authenticate", `Bearer error="insufficient_scope", error_description="`+quotable(desc)+`"`)
	}
	c.AbortWithStatusJSON(status, apiError{Error: code, Description: desc, RequestID: requestIDOf(c)})
}

// quotable keeps s inside an RFC 7230 quoted-string.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '\''
		}
		return r
	}, s)
}

// graph runs f against Graph on the caller's behalf. Like graphCall for
// pages: a 401 without a claims challenge drops the Graph token and runs f
// once more; a claims challenge kiota could not satisfy goes back to the
// caller (401 insufficient_claims) for its client to re-authenticate.
func (x *api) graph(c *gin.Context, f func(ctx context.Context, g *graphapi.Client) error) bool {
	raw := c.GetString(ctxAPIToken)
	claims := c.MustGet(ctxAPIClaims).(*entra.Claims)
	cred := &oboCredential{tokens: x.obo, assertion: raw, scopes: x.scopes, callerExp: time.Unix(claims.Expiry, 0)}
	if x.a.cfg.Entra.MultiTenant() {
		cred.tenantID = claims.TenantID
	}
	ctx := c.Request.Context()
	g := x.a.graph.WithCredential(cred)
	err := f(ctx, g)
	var ge *graphapi.Error
	var cc *graphapi.ClaimsChallengeError
	if errors.As(err, &ge) && ge.Status == http.StatusUnauthorized {
		x.obo.drop(ctx, raw, x.scopes)
		if !errors.As(err, &cc) {
			err = f(ctx, g)
		}
	}
	if err == nil {
		return true
	}
	x.graphFailed(c, err)
	return false
}

// graphFailed answers a failed exchange or Graph call.
func (x *api) graphFailed(c *gin.Context, err error) {
	var need *errOBONeedsUser
	var cc *graphapi.ClaimsChallengeError
	var thr *graphapi.ThrottledError
	var ae *entra.AADSTSError
	switch {
	case errors.As(err, &need) && need.Consent:
		x.error(c, http.StatusForbidden, "consent_required",
			"Microsoft Entra ID has no consent for this API to call Microsoft Graph for the user; an administrator must grant it", err)
	case errors.As(err, &need) && need.Claims != "":
		x.claimsChallenge(c, need.Claims, err)
	case errors.As(err, &cc):
		x.claimsChallenge(c, cc.Claims, err)
	case errors.As(err, &need):
		x.error(c, http.StatusUnauthorized, "invalid_token", "Microsoft Entra ID no longer accepts this token on the user's behalf; sign in again", err)
	case errors.Is(err, errEntraUnreachable):
		c.Header("Retry-After", "30")
		x.error(c, http.StatusServiceUnavailable, "temporarily_unavailable", "Microsoft Entra ID did not answer the token exchange", err)
	case errors.As(err, &thr):
		c.Header("Retry-After", fmt.Sprint(int(thr.RetryAfter.Seconds())+1))
		x.error(c, http.StatusServiceUnavailable, "temporarily_unavailable", "Microsoft Graph asked us to slow down", err)
	case errors.Is(err, graphapi.ErrForbidden):
		x.error(c, http.StatusForbidden, "forbidden", "Microsoft Graph refused: the user lacks the permission", err)
	case errors.Is(err, graphapi.ErrNotFound):
		x.error(c, http.StatusNotFound, "not_found", "Microsoft Graph has no such object", nil)
	case errors.As(err, &ae):
		x.a.log.Warn("api: token exchange refused", "request_id", requestIDOf(c), "code", ae.Code, "err", err)
		c.AbortWithStatusJSON(http.StatusBadGateway, apiError{Error: "token_exchange_failed", Description: firstLine(ae.Description),
			CorrelationID: ae.CorrelationID, RequestID: requestIDOf(c)})
	case errors.Is(err, context.Canceled):
		c.AbortWithStatus(499)
	default:
		x.error(c, http.StatusBadGateway, "upstream_error", "the call to Microsoft Graph failed", err)
	}
}

// claimsChallenge answers 401 with the claims the caller's client must ask
// Entra for (CAE, MFA), as Graph and Microsoft.Identity.Web do: msal-browser
// passes them to acquireToken*(..., claims) and calls again.
func (x *api) claimsChallenge(c *gin.Context, claims string, cause error) {
	x.a.log.Info("api: claims challenge to the caller", "request_id", requestIDOf(c), "cause", cause)
	x.a.metrics.reauth.WithLabelValues("api-claims-challenge").Inc()
	c.Header("WWW-Authenticate", `Bearer realm="", authorization_uri="`+x.a.metadata.AuthorizationEndpoint+`", client_id="`+
		x.a.cfg.Entra.ClientID+`", error="insufficient_claims", claims="`+base64.StdEncoding.EncodeToString([]byte(claims))+`"`)
	c.AbortWithStatusJSON(http.StatusUnauthorized, apiError{Error: "insufficient_claims",
		Description: "Microsoft Graph requires a new sign-in satisfying the claims in WWW-Authenticate", RequestID: requestIDOf(c)})
}

// apiProfile is /api/me's answer.
type apiProfile struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail,omitempty"`
	JobTitle          string `json:"jobTitle,omitempty"`
	Department        string `json:"department,omitempty"`
	OfficeLocation    string `json:"officeLocation,omitempty"`
}

func profileJSON(p graphapi.Profile) apiProfile {
	return apiProfile{ID: p.ID, DisplayName: p.DisplayName, UserPrincipalName: p.UserPrincipalName, Mail: p.Mail,
		JobTitle: p.JobTitle, Department: p.Department, OfficeLocation: p.OfficeLocation}
}

var apiMeProps = []string{"id", "displayName", "userPrincipalName", "mail", "jobTitle", "department", "officeLocation"}

func (x *api) me(c *gin.Context) {
	var p graphapi.Profile
	if !x.graph(c, func(ctx context.Context, g *graphapi.Client) (err error) {
		p, err = g.Me(ctx, apiMeProps...)
		return err
	}) {
		return
	}
	c.JSON(http.StatusOK, profileJSON(p))
}

// photo passes the caller's photo through, raster formats only (an SVG
// could carry script); 404 when they have none.
func (x *api) photo(c *gin.Context) {
	var data []byte
	var ctype string
	if !x.graph(c, func(ctx context.Context, g *graphapi.Client) (err error) {
		data, ctype, err = g.Photo(ctx, "me")
		return err
	}) {
		return
	}
	mt, _, _ := mime.ParseMediaType(ctype)
	if mt != "image/jpeg" && mt != "image/png" && mt != "image/gif" {
		x.error(c, http.StatusNotFound, "not_found", "no photo in a format the API passes on", nil)
		return
	}
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, mt, data)
}

// maxSearch bounds /api/users?search=, in characters.
const maxSearch = 64

// users searches the directory by display name or mail (Graph's $search),
// first 25 matches.
func (x *api) users(c *gin.Context) {
	q, ok := c.GetQuery("search")
	q = strings.TrimSpace(q)
	switch {
	case !ok || q == "":
		x.error(c, http.StatusBadRequest, "invalid_request", "search is required", nil)
		return
	case !utf8.ValidString(q) || utf8.RuneCountInString(q) > maxSearch:
		x.error(c, http.StatusBadRequest, "invalid_request", fmt.Sprintf("search must be at most %d characters of UTF-8", maxSearch), nil)
		return
	case strings.IndexFunc(q, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		x.error(c, http.StatusBadRequest, "invalid_request", "search must be printable text", nil)
		return
	}
	// Inside $search's double quotes, \ and " are escaped with \.
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(q)
	var page graphapi.UserPage
	if !x.graph(c, func(ctx context.Context, g *graphapi.Client) (err error) {
		page, err = g.UsersPage(ctx, graphapi.ListOptions{
			Search: `"displayName:` + esc + `" OR "mail:` + esc + `"`, Top: 25,
			Select: []string{"id", "displayName", "userPrincipalName", "jobTitle", "department"},
		}, "")
		return err
	}) {
		return
	}
	out := struct {
		Value []apiProfile `json:"value"`
	}{Value: make([]apiProfile, 0, len(page.Users))}
	for _, u := range page.Users {
		out.Value = append(out.Value, profileJSON(u))
	}
	c.JSON(http.StatusOK, out)
}
