package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
	"github.com/entrakit/entrakit/entra/devtenant/fault"
	"github.com/entrakit/entrakit/entra/devtenant/identity"
)

// graphHost is Graph's public host: tokens name it in aud, responses in
// @odata.context.
const graphHost = "https://graph.microsoft.com"

// Config is what the Graph emulator needs from the dev tenant.
type Config struct {
	// Directory is the home tenant; Tenants the others on the server. A
	// request reads the directory of its token's tenant (tid), as Graph
	// serves every tenant.
	Directory *directory.Directory
	Tenants   []*directory.Directory
	// Identity verifies bearer tokens: Graph accepts what the tenant issued.
	Identity *identity.Provider
	Faults   *fault.Set
	// Now is the tenant's clock.
	Now func() time.Time
	// URL is the emulator's root (https://localhost:PORT): nextLinks and
	// Location headers name it; "" before it listens. It is called with the
	// directory locked.
	URL func() string
	// Budget is each app's request budget per BudgetWindow (429 with
	// Retry-After beyond it).
	Budget       int
	BudgetWindow time.Duration
}

// Server is the Microsoft Graph emulator: the v1.0 slice entrakit uses.
type Server struct {
	cfg  Config
	dirs map[string]*directory.Directory // by tenant id: the home tenant and cfg.Tenants
	idp  *identity.Provider

	handler http.Handler

	mu      sync.Mutex
	budgets map[string]*graphBudget
}

type graphBudget struct {
	start time.Time
	used  int
}

// spend counts one request against app's budget; over reports the budget
// spent, retry when the window ends.
func (s *Server) spend(app string, now time.Time) (over bool, retry time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.budgets[app]
	if b == nil || now.Sub(b.start) >= s.cfg.BudgetWindow {
		b = &graphBudget{start: now}
		s.budgets[app] = b
	}
	b.used++
	return b.used > s.cfg.Budget, b.start.Add(s.cfg.BudgetWindow).Sub(now)
}

// New makes the Graph emulator over cfg.Directory.
func New(cfg Config) *Server {
	if cfg.URL == nil {
		cfg.URL = func() string { return "" }
	}
	s := &Server{cfg: cfg, dirs: map[string]*directory.Directory{}, idp: cfg.Identity, budgets: map[string]*graphBudget{}}
	for _, d := range append([]*directory.Directory{cfg.Directory}, cfg.Tenants...) {
		s.dirs[d.TenantID()] = d
	}
	s.handler = s.routes()
	return s
}

func (s *Server) baseURL() string { return s.cfg.URL() }

// dirOf is the directory of the tenant r's token names (set by graphAuth).
func dirOf(r *http.Request) *directory.Directory {
	return r.Context().Value(graphCallerKey{}).(*graphCaller).dir
}

// graphCaller is who a request's token says is calling.
type graphCaller struct {
	dir       *directory.Directory // the token's tenant
	appID     string
	userID    string // "" for app-only
	scopes    map[string]bool
	roles     map[string]bool
	cp1       bool
	issuedAt  time.Time
	requestID string
}

// can reports whether the caller holds one of the delegated permissions
// (user tokens) or one of the application permissions (app-only tokens).
func (c *graphCaller) can(delegated, application []string) bool {
	list, have := delegated, c.scopes
	if c.userID == "" {
		list, have = application, c.roles
	}
	for _, p := range list {
		if have[strings.ToLower(p)] {
			return true
		}
	}
	return false
}

type graphHandler func(w http.ResponseWriter, r *http.Request, c *graphCaller)

// permission opens a route to callers holding one of its delegated
// permissions (user tokens) or one of its application permissions (app-only
// tokens). Routes whose rule depends on the target (a user reading
// themselves) check in the handler instead.
type permission struct{ delegated, application []string }

// guard answers Graph's 403 to a caller without p, before f sees the request.
func (p permission) guard(f graphHandler) graphHandler {
	return func(w http.ResponseWriter, r *http.Request, c *graphCaller) {
		if !c.can(p.delegated, p.application) {
			forbidden(w, r)
			return
		}
		f(w, r, c)
	}
}

// Handler serves Graph's /v1.0 and the OIDC userinfo endpoint.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f graphHandler) { mux.Handle(pattern, s.graphAuth(f)) }
	// Routes whose handler decides who may call: a user may read their own
	// profile, photo and groups; userinfo wants the openid scope; $batch
	// runs each of its requests through the routes here.
	h("GET /v1.0/me", s.graphMe)
	h("GET /v1.0/me/photo", s.graphPhotoMeta)
	h("GET /v1.0/me/photo/$value", s.graphPhotoValue)
	h("GET /v1.0/users/{id}", s.graphGetUser)
	h("GET /v1.0/users/{id}/photo", s.graphPhotoMeta)
	h("GET /v1.0/users/{id}/photo/$value", s.graphPhotoValue)
	for _, base := range []string{"/v1.0/me", "/v1.0/users/{id}"} {
		h("GET "+base+"/memberOf", s.graphMemberOfList)
		h("GET "+base+"/transitiveMemberOf", s.graphMemberOfList)
		h("GET "+base+"/manager", s.graphManager)
		h("GET "+base+"/directReports", s.graphDirectReports)
		h("POST "+base+"/getMemberObjects", s.graphGetMemberObjects)
	}
	h("POST /v1.0/$batch", s.graphBatch)
	h("GET /oidc/userinfo", s.graphUserInfo)
	h("POST /oidc/userinfo", s.graphUserInfo)
	// Routes that one permission opens (delta() is how msgraph-sdk-go
	// spells delta).
	h("GET /v1.0/users", readUsers.guard(s.graphListUsers))
	h("GET /v1.0/users/$count", readUsers.guard(s.graphCountUsers))
	h("GET /v1.0/users/delta", readUsers.guard(s.graphUsersDelta))
	h("GET /v1.0/users/delta()", readUsers.guard(s.graphUsersDelta))
	h("POST /v1.0/users", writeUsers.guard(s.graphCreateUser))
	h("PATCH /v1.0/users/{id}", writeUsers.guard(s.graphUpdateUser))
	h("DELETE /v1.0/users/{id}", writeUsers.guard(s.graphDeleteUser))
	h("GET /v1.0/groups", readGroups.guard(s.graphListGroups))
	h("GET /v1.0/groups/delta", readGroups.guard(s.graphGroupsDelta))
	h("GET /v1.0/groups/delta()", readGroups.guard(s.graphGroupsDelta))
	h("GET /v1.0/groups/{id}", readGroups.guard(s.graphGetGroup))
	h("GET /v1.0/groups/{id}/members", readGroups.guard(s.graphMembers))
	h("GET /v1.0/groups/{id}/transitiveMembers", readGroups.guard(s.graphMembers))
	h("POST /v1.0/groups/{id}/getMemberObjects", s.graphGetMemberObjects)
	h("GET /v1.0/directory/deletedItems/microsoft.graph.user", readDeletedUsers.guard(s.graphDeletedUsers))
	h("GET /v1.0/directory/deletedItems/{id}", readDeletedUsers.guard(s.graphDeletedItem))
	h("DELETE /v1.0/directory/deletedItems/{id}", purgeUsers.guard(s.graphPurgeDeletedItem))
	h("GET /v1.0/applications", readApps.guard(s.graphApplications))
	h("GET /v1.0/servicePrincipals", readApps.guard(s.graphServicePrincipals))
	h("GET /v1.0/organization", readOrganization.guard(s.graphOrganization))
	mux.Handle("/", s.graphAuth(func(w http.ResponseWriter, r *http.Request, _ *graphCaller) {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+lastSegment(r.URL.Path)+"'.")
	}))
	return mux
}

func lastSegment(p string) string {
	if i := strings.LastIndexByte(strings.TrimSuffix(p, "/"), '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

type graphCallerKey struct{}

// graphAuth validates the bearer token as Graph does (signature by this
// tenant, aud Graph, lifetime), then applies faults, the app's request
// budget and CAE revocation, then calls f.
func (s *Server) graphAuth(f graphHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := directory.NewObjectID()
		w.Header().Set("request-id", reqID)
		if cid := r.Header.Get("client-request-id"); cid != "" {
			w.Header().Set("client-request-id", cid)
		} else {
			w.Header().Set("client-request-id", reqID)
		}
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		w.Header().Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"devtenant","Slice":"E","Ring":"1","ScaleUnit":"000","RoleInstance":"devtenant"}}`)
		if c, ok := r.Context().Value(graphCallerKey{}).(*graphCaller); ok { // a $batch sub-request
			f(w, r, c)
			return
		}
		if f := s.cfg.Faults.Take(fault.Graph); f != nil {
			if !f.Wait(r.Context()) {
				return
			}
			if f.Status != 0 {
				f.SetRetryAfter(w.Header())
				code := map[int]string{429: "TooManyRequests", 503: "ServiceUnavailable", 504: "GatewayTimeout"}[f.Status]
				if code == "" {
					code = "UnknownError"
				}
				graphError(w, r, f.Status, code, "Fault injected by the dev tenant.")
				return
			}
		}
		c, status, code, msg := s.graphAuthenticate(r)
		if c == nil {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
			}
			graphError(w, r, status, code, msg)
			return
		}
		// A $batch is not counted itself: each of its requests is.
		over, retry := false, time.Duration(0)
		if r.URL.Path != "/v1.0/$batch" {
			over, retry = s.spend(c.appID, s.cfg.Now())
		}
		tx := c.dir.Lock()
		revoked, wasRevoked := tx.RevokedAt(c.userID)
		// CAE's critical events include a disabled or deleted account
		// (https://learn.microsoft.com/entra/identity/conditional-access/concept-continuous-access-evaluation).
		enabled := true
		if u := tx.User(c.userID); u != nil {
			enabled = u.AccountEnabled
		} else if c.userID != "" && tx.DeletedUser(c.userID) != nil {
			enabled = false
		}
		tx.Unlock()
		if over {
			tooManyRequests(w, r, retry)
			return
		}
		if c.userID != "" && c.cp1 && ((wasRevoked && c.issuedAt.Before(revoked)) || !enabled) {
			// Continuous access evaluation: a CAE-capable client learns at
			// once that its token no longer stands.
			claims := `{"access_token":{"nbf":{"essential":true,"value":"` + strconv.FormatInt(max(revoked.Unix(), c.issuedAt.Unix()+1), 10) + `"}}}`
			w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="`+base64.StdEncoding.EncodeToString([]byte(claims))+`"`)
			graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp")
			return
		}
		c.requestID = reqID
		f(w, r.WithContext(context.WithValue(r.Context(), graphCallerKey{}, c)), c)
	})
}

func (s *Server) graphAuthenticate(r *http.Request) (*graphCaller, int, string, string) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return nil, 401, "InvalidAuthenticationToken", "Access token is empty."
	}
	claims, err := s.idp.VerifyToken(raw, s.cfg.Now())
	if err != nil {
		if errors.Is(err, identity.ErrTokenExpired) {
			return nil, 401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
		}
		return nil, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid signature or malformed token."
	}
	aud, _ := claims["aud"].(string)
	if aud != graphHost && aud != graphHost+"/" && aud != directory.GraphAppID {
		return nil, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
	}
	tid, _ := claims["tid"].(string)
	dir := s.dirs[tid]
	if dir == nil {
		return nil, 401, "InvalidAuthenticationToken", "Access token validation failure. Invalid tenant."
	}
	c := &graphCaller{dir: dir, scopes: map[string]bool{}, roles: map[string]bool{}}
	c.appID, _ = claims["appid"].(string)
	if iat, ok := claims["iat"].(float64); ok {
		c.issuedAt = time.Unix(int64(iat), 0)
	}
	if aio, _ := claims["aio"].(string); aio != "" {
		if t, ok := identity.IssuedAtFromAIO(aio); ok && t.Unix() == c.issuedAt.Unix() {
			c.issuedAt = t // the precise time, when the tenant recorded one
		}
	}
	if scp, _ := claims["scp"].(string); scp != "" {
		c.userID, _ = claims["oid"].(string)
		for _, sc := range strings.Fields(scp) {
			c.scopes[strings.ToLower(sc)] = true
		}
	}
	if roles, ok := claims["roles"].([]any); ok && c.userID == "" {
		for _, r := range roles {
			if v, ok := r.(string); ok {
				c.roles[strings.ToLower(v)] = true
			}
		}
	}
	if cc, ok := claims["xms_cc"].([]any); ok {
		for _, v := range cc {
			if s, _ := v.(string); strings.EqualFold(s, "cp1") {
				c.cp1 = true
			}
		}
	}
	return c, 0, "", ""
}

// graphError writes Graph's error JSON. message is always set: the SDK
// panics on an error without one.
func graphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	body := map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"innerError": map[string]string{
			"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        w.Header().Get("request-id"),
			"client-request-id": w.Header().Get("client-request-id"),
		},
	}}
	graphJSON(w, status, body)
}

const graphContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

func graphJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", graphContentType)
	w.Header().Set("OData-Version", "4.0")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// tooManyRequests is Graph's 429, with Retry-After in whole seconds.
func tooManyRequests(w http.ResponseWriter, r *http.Request, retry time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((retry+time.Second-1)/time.Second))))
	graphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Too many requests are being made for this application. Please retry after the time in the Retry-After header.")
}

func forbidden(w http.ResponseWriter, r *http.Request) {
	graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}
