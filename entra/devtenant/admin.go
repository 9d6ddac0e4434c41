package devtenant

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// maxAdminBody bounds an admin request's body.
const maxAdminBody = 64 << 10

// adminAPI serves the Server's operations over HTTP under /admin/, guarded
// by Authorization: Bearer <AdminKey>. A handler returns an error for a bad
// request (400 with {"error": ...}).
type adminAPI struct{ s *Server }

type adminHandler func(w http.ResponseWriter, r *http.Request) error

func adminRoutes(s *Server, mux *http.ServeMux) {
	a := adminAPI{s}
	for pattern, f := range map[string]adminHandler{
		"GET /admin/personas":             a.personas,
		"POST /admin/users":               withBody(a.addUser),
		"POST /admin/users/{id}/{action}": a.userAction,
		"POST /admin/consent":             withBody(a.grantConsent),
		"DELETE /admin/consent":           withBody(a.revokeConsent),
		"POST /admin/keys/rotate":         a.rotateKeys,
		"POST /admin/clock":               withBody(a.advanceClock),
		"POST /admin/faults":              withBody(a.injectFault),
		"DELETE /admin/faults":            a.clearFaults,
		"POST /admin/directory":           withBody(a.generateDirectory),
		"POST /admin/managed-identities":  withBody(a.addManagedIdentity),
		"POST /admin/workload-tokens":     withBody(a.issueWorkloadToken),
		"POST /admin/applications/{appId}/federatedIdentityCredentials": withBody(a.addFederatedCredential),
	} {
		mux.HandleFunc(pattern, a.guard(f))
	}
}

// guard checks the admin key (in constant time) and bounds the body.
func (a adminAPI) guard(f adminHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.s.adminKey)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="devtenant-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin key required"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
		if err := f(w, r); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		}
	}
}

// withBody decodes the request's JSON body into a T for f.
func withBody[T any](f func(w http.ResponseWriter, r *http.Request, in T) error) adminHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in T
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		return f(w, r, in)
	}
}

func writeOK(w http.ResponseWriter) error {
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a adminAPI) personas(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, a.s.Personas())
	return nil
}

type addUserBody struct {
	UserPrincipalName, DisplayName, Password, Department string
	Admin                                                bool
	Roles                                                []string
}

func (a adminAPI) addUser(w http.ResponseWriter, r *http.Request, in addUserBody) error {
	u, err := a.s.AddUser(User{UserPrincipalName: in.UserPrincipalName, DisplayName: in.DisplayName, Department: in.Department,
		Admin: in.Admin, AppRoles: in.Roles, AccountEnabled: true, Mail: in.UserPrincipalName}, in.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": u.ID, "userPrincipalName": u.UserPrincipalName})
	return nil
}

func (a adminAPI) userAction(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var err error
	switch r.PathValue("action") {
	case "disable":
		err = a.s.SetUserEnabled(id, false)
	case "enable":
		err = a.s.SetUserEnabled(id, true)
	case "revoke":
		err = a.s.RevokeUser(id)
	default:
		err = fmt.Errorf("unknown action %q (disable, enable, revoke)", r.PathValue("action"))
	}
	if err != nil {
		return err
	}
	return writeOK(w)
}

type consentBody struct {
	ClientID string   `json:"clientId"`
	Resource string   `json:"resource"`
	User     string   `json:"user"`
	Scopes   []string `json:"scopes"`
}

func (a adminAPI) grantConsent(w http.ResponseWriter, r *http.Request, in consentBody) error {
	if err := a.s.GrantConsent(in.ClientID, in.Resource, in.User, in.Scopes...); err != nil {
		return err
	}
	return writeOK(w)
}

func (a adminAPI) revokeConsent(w http.ResponseWriter, r *http.Request, in consentBody) error {
	a.s.RevokeConsent(in.ClientID, in.Resource, in.User)
	return writeOK(w)
}

func (a adminAPI) rotateKeys(w http.ResponseWriter, r *http.Request) error {
	if err := a.s.RotateKeys(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"kid": a.s.SigningKeyID()})
	return nil
}

type clockBody struct {
	Advance string `json:"advance"`
}

func (a adminAPI) advanceClock(w http.ResponseWriter, r *http.Request, in clockBody) error {
	d, err := time.ParseDuration(in.Advance)
	if err != nil {
		return fmt.Errorf("advance: %w", err)
	}
	a.s.AdvanceClock(d)
	writeJSON(w, http.StatusOK, map[string]string{"now": a.s.now().UTC().Format(time.RFC3339)})
	return nil
}

type faultBody struct {
	Endpoint          string `json:"endpoint"`
	Status            int    `json:"status"`
	RetryAfterSeconds int    `json:"retryAfterSeconds"`
	LatencyMS         int    `json:"latencyMs"`
	Count             int    `json:"count"`
}

func (a adminAPI) injectFault(w http.ResponseWriter, r *http.Request, in faultBody) error {
	if in.Endpoint != "token" && in.Endpoint != "graph" {
		return fmt.Errorf("endpoint: want \"token\" or \"graph\", got %q", in.Endpoint)
	}
	if in.Status != 0 && (in.Status < 400 || in.Status > 599) {
		return fmt.Errorf("status: want 4xx or 5xx, got %d", in.Status)
	}
	a.s.InjectFault(Fault{Endpoint: in.Endpoint, Status: in.Status, Count: in.Count,
		RetryAfter: time.Duration(in.RetryAfterSeconds) * time.Second, Latency: time.Duration(in.LatencyMS) * time.Millisecond})
	return writeOK(w)
}

func (a adminAPI) clearFaults(w http.ResponseWriter, r *http.Request) error {
	a.s.ClearFaults()
	return writeOK(w)
}

type directoryBody struct {
	Users int `json:"users"`
}

func (a adminAPI) generateDirectory(w http.ResponseWriter, r *http.Request, in directoryBody) error {
	if err := a.s.GenerateDirectory(in.Users); err != nil {
		return err
	}
	return writeOK(w)
}

type managedIdentityBody struct {
	Name string `json:"name"`
}

func (a adminAPI) addManagedIdentity(w http.ResponseWriter, r *http.Request, in managedIdentityBody) error {
	mi, err := a.s.AddUserAssignedIdentity(in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": mi.Name, "clientId": mi.ClientID, "objectId": mi.ObjectID, "resourceId": mi.ResourceID})
	return nil
}

func (a adminAPI) addFederatedCredential(w http.ResponseWriter, r *http.Request, in FederatedCredential) error {
	if err := a.s.AddFederatedCredential(r.PathValue("appId"), in); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]bool{"ok": true})
	return nil
}

type workloadTokenBody struct {
	Subject         string `json:"subject"`
	Audience        string `json:"audience"`
	LifetimeSeconds int    `json:"lifetimeSeconds"`
}

func (a adminAPI) issueWorkloadToken(w http.ResponseWriter, r *http.Request, in workloadTokenBody) error {
	tok, err := a.s.IssueWorkloadToken(in.Subject, in.Audience, time.Duration(in.LifetimeSeconds)*time.Second)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"token": tok, "issuer": a.s.WorkloadIssuer()})
	return nil
}
