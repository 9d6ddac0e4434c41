package devtenant

import (
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// Fault is an injected failure of one endpoint: "token" (the token
// endpoint) or "graph" (every Graph request).
type Fault struct {
	Endpoint   string        `json:"endpoint"`
	Status     int           `json:"status,omitempty"`     // e.g. 429 or 503; 0 = latency only
	RetryAfter time.Duration `json:"retryAfter,omitempty"` // sent as Retry-After seconds
	Latency    time.Duration `json:"latency,omitempty"`
	Count      int           `json:"count,omitempty"` // requests it applies to; 0 = until cleared
}

// InjectFault adds f; faults apply in the order they were added.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) takeFault(endpoint string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Endpoint != endpoint {
			continue
		}
		out := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return &out
	}
	return nil
}

// Personas lists the directory's users with the passwords set at start.
func (s *Server) Personas() []Persona {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Persona
	for _, u := range s.users {
		if u.password == "" {
			continue
		}
		out = append(out, Persona{Username: u.UserPrincipalName, Password: u.password, OID: u.ID, DisplayName: u.DisplayName,
			Department: u.Department, Roles: append([]string{}, u.AppRoles...), Enabled: u.AccountEnabled,
			Admin: u.Admin, Guest: u.UserType == "Guest"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}

// Persona returns the persona whose user name starts with alias + "@"
// (e.g. "AdeleV"), for tests.
func (s *Server) Persona(alias string) (Persona, bool) {
	for _, p := range s.Personas() {
		if strings.EqualFold(strings.SplitN(p.Username, "@", 2)[0], alias) {
			return p, true
		}
	}
	return Persona{}, false
}

// Users returns a copy of every directory user.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UserPrincipalName < out[j].UserPrincipalName })
	return out
}

// Groups returns a copy of every group.
func (s *Server) Groups() []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Group, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DisplayName < out[j].DisplayName })
	return out
}

// AddUser adds a member user who signs in with password. A zero ID gets a
// deterministic one from the UPN.
func (s *Server) AddUser(u User, password string) (User, error) {
	if !strings.Contains(u.UserPrincipalName, "@") {
		return User{}, fmt.Errorf("devtenant: AddUser: userPrincipalName %q has no @domain", u.UserPrincipalName)
	}
	if password == "" {
		return User{}, errors.New("devtenant: AddUser: a password is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.userByUPN(u.UserPrincipalName) != nil {
		return User{}, fmt.Errorf("devtenant: AddUser: %s already exists", u.UserPrincipalName)
	}
	if u.ID == "" {
		u.ID = deterministicID("user:" + strings.ToLower(u.UserPrincipalName))
	}
	if u.UserType == "" {
		u.UserType = "Member"
	}
	u.password = password
	nu := u
	s.users[u.ID] = &nu
	s.upn[strings.ToLower(u.UserPrincipalName)] = u.ID
	if s.graph != nil {
		s.graph.userOrder = append(s.graph.userOrder, u.ID)
		s.graph.created[u.ID] = s.now()
		s.graph.changed('u', u.ID)
	}
	return u, nil
}

// SetUserEnabled enables or disables a user; a disabled user cannot sign in
// or redeem tokens (AADSTS50057).
func (s *Server) SetUserEnabled(id string, enabled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(id)]
	if u == nil {
		return fmt.Errorf("devtenant: no user %s", id)
	}
	u.AccountEnabled = enabled
	s.graph.changed('u', u.ID)
	return nil
}

// RevokeUser revokes the user's refresh tokens and SSO sessions, as
// revokeSignInSessions does: the next refresh fails with AADSTS50173, and
// Graph challenges the access tokens of CAE-capable (CP1) clients at once
// (401 insufficient_claims) instead of waiting for them to expire.
func (s *Server) RevokeUser(id string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	id = strings.ToLower(id)
	if s.users[id] == nil {
		return fmt.Errorf("devtenant: no user %s", id)
	}
	for _, g := range s.refreshTokens {
		if g.userID == id {
			g.revoked = true
		}
	}
	for k, sess := range s.sessions {
		if sess.userID == id {
			delete(s.sessions, k)
		}
	}
	if s.graph != nil {
		s.graph.revokedAt[id] = now
	}
	return nil
}

// GrantConsent records delegated consent of userID ("" = admin consent for
// the whole tenant) for client to the given scopes of resource (an app id,
// GraphAppID for Microsoft Graph).
func (s *Server) GrantConsent(client, resourceAppID, userID string, scopes ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.app(client) == nil {
		return fmt.Errorf("devtenant: no app %s", client)
	}
	res := s.resourceByAppID(resourceAppID)
	if res == nil {
		return fmt.Errorf("devtenant: no resource %s", resourceAppID)
	}
	for _, sc := range scopes {
		if _, ok := res.scopes[strings.ToLower(sc)]; !ok {
			return fmt.Errorf("devtenant: %s has no delegated permission %q", res.name, sc)
		}
	}
	s.addGrant(grantKey{client, res.appID, userID}, scopes...)
	return nil
}

// GrantAppRole grants an application permission (app role) of resource (an
// app id, GraphAppID for Microsoft Graph) to client, as admin consent does.
// client may also be a managed identity's client id.
func (s *Server) GrantAppRole(client, resourceAppID, role string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.app(client) == nil && s.managedIdentityByClientID(client) == nil {
		return fmt.Errorf("devtenant: no app %s", client)
	}
	res := s.resourceByAppID(resourceAppID)
	if res == nil {
		return fmt.Errorf("devtenant: no resource %s", resourceAppID)
	}
	v, ok := res.roles[strings.ToLower(role)]
	if !ok {
		return fmt.Errorf("devtenant: %s has no application permission %q", res.name, role)
	}
	s.addAppRole(client, res.appID, v)
	return nil
}

// DeleteUser removes a user from the directory (Graph delta reports it
// removed).
func (s *Server) DeleteUser(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[strings.ToLower(id)] == nil {
		return fmt.Errorf("devtenant: no user %s", id)
	}
	s.deleteUserLocked(strings.ToLower(id))
	return nil
}

// RevokeConsent removes the consent of userID ("" = tenant-wide) for client
// on resource.
func (s *Server) RevokeConsent(client, resourceAppID, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.grants, grantKey{strings.ToLower(client), strings.ToLower(resourceAppID), strings.ToLower(userID)})
}

// RotateKeys rotates the signing keys now: the published next key starts
// signing, the current one is retired (still published for KeyGrace).
func (s *Server) RotateKeys() error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys.rotate(now)
}

// SigningKeyID is the kid of the key that signs now.
func (s *Server) SigningKeyID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys.current.kid
}

// AdvanceClock moves the tenant's clock forward by d (or back, if negative).
func (s *Server) AdvanceClock(d time.Duration) {
	s.clockOffset.Add(int64(d))
}

// AddClientCertificate registers cert for private_key_jwt client assertions.
func (s *Server) AddClientCertificate(appID string, cert *x509.Certificate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.app(appID)
	if a == nil {
		return fmt.Errorf("devtenant: no app %s", appID)
	}
	a.certs = append(a.certs, cert)
	return nil
}

// adminRoutes serves the same operations over HTTP under /admin/, guarded by
// Authorization: Bearer <AdminKey>.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	h := func(pattern string, f func(w http.ResponseWriter, r *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.adminKey)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="devtenant-admin"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin key required"})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := f(w, r); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			}
		})
	}
	ok := func(w http.ResponseWriter) error {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return nil
	}
	h("GET /admin/personas", func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, s.Personas())
		return nil
	})
	h("POST /admin/users", func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			UserPrincipalName, DisplayName, Password, Department string
			Admin                                                bool
			Roles                                                []string
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		u, err := s.AddUser(User{UserPrincipalName: in.UserPrincipalName, DisplayName: in.DisplayName, Department: in.Department,
			Admin: in.Admin, AppRoles: in.Roles, AccountEnabled: true, Mail: in.UserPrincipalName}, in.Password)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, map[string]string{"id": u.ID, "userPrincipalName": u.UserPrincipalName})
		return nil
	})
	h("POST /admin/users/{id}/{action}", func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		var err error
		switch r.PathValue("action") {
		case "disable":
			err = s.SetUserEnabled(id, false)
		case "enable":
			err = s.SetUserEnabled(id, true)
		case "revoke":
			err = s.RevokeUser(id)
		default:
			err = fmt.Errorf("unknown action %q (disable, enable, revoke)", r.PathValue("action"))
		}
		if err != nil {
			return err
		}
		return ok(w)
	})
	type consentBody struct {
		ClientID string   `json:"clientId"`
		Resource string   `json:"resource"`
		User     string   `json:"user"`
		Scopes   []string `json:"scopes"`
	}
	h("POST /admin/consent", func(w http.ResponseWriter, r *http.Request) error {
		var in consentBody
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		if err := s.GrantConsent(in.ClientID, in.Resource, in.User, in.Scopes...); err != nil {
			return err
		}
		return ok(w)
	})
	h("DELETE /admin/consent", func(w http.ResponseWriter, r *http.Request) error {
		var in consentBody
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		s.RevokeConsent(in.ClientID, in.Resource, in.User)
		return ok(w)
	})
	h("POST /admin/keys/rotate", func(w http.ResponseWriter, r *http.Request) error {
		if err := s.RotateKeys(); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]string{"kid": s.SigningKeyID()})
		return nil
	})
	h("POST /admin/clock", func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Advance string `json:"advance"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		d, err := time.ParseDuration(in.Advance)
		if err != nil {
			return fmt.Errorf("advance: %w", err)
		}
		s.AdvanceClock(d)
		writeJSON(w, http.StatusOK, map[string]string{"now": s.now().UTC().Format(time.RFC3339)})
		return nil
	})
	h("POST /admin/faults", func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Endpoint          string `json:"endpoint"`
			Status            int    `json:"status"`
			RetryAfterSeconds int    `json:"retryAfterSeconds"`
			LatencyMS         int    `json:"latencyMs"`
			Count             int    `json:"count"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		if in.Endpoint != "token" && in.Endpoint != "graph" {
			return fmt.Errorf("endpoint: want \"token\" or \"graph\", got %q", in.Endpoint)
		}
		if in.Status != 0 && (in.Status < 400 || in.Status > 599) {
			return fmt.Errorf("status: want 4xx or 5xx, got %d", in.Status)
		}
		s.InjectFault(Fault{Endpoint: in.Endpoint, Status: in.Status, Count: in.Count,
			RetryAfter: time.Duration(in.RetryAfterSeconds) * time.Second, Latency: time.Duration(in.LatencyMS) * time.Millisecond})
		return ok(w)
	})
	h("POST /admin/directory", func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Users int `json:"users"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		if err := s.GenerateDirectory(in.Users); err != nil {
			return err
		}
		return ok(w)
	})
	h("DELETE /admin/faults", func(w http.ResponseWriter, r *http.Request) error {
		s.ClearFaults()
		return ok(w)
	})
	s.identityAdminRoutes(h)
}
