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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// adminRoutes serves the same operations over HTTP under /admin/, guarded by
// Authorization: Bearer <AdminKey>.
func adminRoutes(s *Server, mux *http.ServeMux) {
	h := func(pattern string, f func(w http.ResponseWriter, r *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.adminKey)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="devtenant-admin"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin key required"})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
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
	identityAdminRoutes(s, h)
}

// identityAdminRoutes serves managed identities, federated credentials and
// workload tokens on the admin API (h checks the admin key).
func identityAdminRoutes(s *Server, h func(pattern string, f func(w http.ResponseWriter, r *http.Request) error)) {
	h("POST /admin/managed-identities", func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		mi, err := s.AddUserAssignedIdentity(in.Name)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, map[string]string{"name": mi.Name, "clientId": mi.ClientID, "objectId": mi.ObjectID, "resourceId": mi.ResourceID})
		return nil
	})
	h("POST /admin/applications/{appId}/federatedIdentityCredentials", func(w http.ResponseWriter, r *http.Request) error {
		var in FederatedCredential
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		if err := s.AddFederatedCredential(r.PathValue("appId"), in); err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, map[string]bool{"ok": true})
		return nil
	})
	h("POST /admin/workload-tokens", func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Subject         string `json:"subject"`
			Audience        string `json:"audience"`
			LifetimeSeconds int    `json:"lifetimeSeconds"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return fmt.Errorf("body: %w", err)
		}
		tok, err := s.IssueWorkloadToken(in.Subject, in.Audience, time.Duration(in.LifetimeSeconds)*time.Second)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]string{"token": tok, "issuer": s.WorkloadIssuer()})
		return nil
	})
}
