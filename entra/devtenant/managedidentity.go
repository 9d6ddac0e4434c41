package devtenant

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Managed identities, App Service style: a plain-HTTP loopback endpoint
// (IDENTITY_ENDPOINT) guarded by a secret header (IDENTITY_HEADER), as App
// Service, Azure Functions and Container Apps serve it to the code they run
// (http://localhost:8081/msi/token, http://127.0.0.1:41741/MSI/token/). MSAL
// Go picks this source when both variables are set and IDENTITY_SERVER_THUMBPRINT
// is not (apps/managedidentity GetSource), then sends
//
//	GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=<resource>[&client_id=|&object_id=|&mi_res_id=]
//	X-IDENTITY-HEADER: $IDENTITY_HEADER
//
// and reads access_token, expires_on (a string of Unix seconds), resource,
// token_type and client_id. azidentity.ManagedIdentityCredential is a thin
// wrapper over it (it strips "/.default" from the scope).

const (
	msiPath       = "/msi/token"
	msiAPIVersion = "2019-08-01"
	// miTokenLifetime: managed identity tokens live about a day; MSAL then
	// refreshes them at half-life.
	miTokenLifetime = 86399 * time.Second
	// devSubscriptionID is the (fictitious) Azure subscription the dev
	// tenant's managed identities belong to.
	devSubscriptionID = "0b8e6f2a-4c1d-4e9f-a7b3-5d2c8e1f0a64"
	devResourceGroup  = "entrakit-dev"
	// systemIdentityHost is the App Service app that owns the
	// system-assigned identity: its name is the identity's display name.
	systemIdentityHost = "entrakit-dev-app"
)

// miDefaultGraphRoles are the Graph application permissions every managed
// identity of the dev tenant is granted, like the daemon app.
var miDefaultGraphRoles = []string{"User.Read.All", "GroupMember.Read.All", "Application.Read.All"}

// ManagedIdentityInfo describes a managed identity of the dev tenant and how
// to reach its token endpoint.
type ManagedIdentityInfo struct {
	// Name is the identity's display name: the App Service app for the
	// system-assigned identity, the resource name for a user-assigned one.
	Name string
	// ClientID is the appId of the identity's service principal (client_id,
	// azidentity.ClientID, appid in its tokens).
	ClientID string
	// ObjectID is the service principal's object id (object_id,
	// azidentity.ObjectID, oid in its tokens).
	ObjectID string
	// ResourceID is the identity's Azure resource id (mi_res_id,
	// azidentity.ResourceID, xms_mirid in its tokens).
	ResourceID     string
	SystemAssigned bool
	// Endpoint is IDENTITY_ENDPOINT: http://127.0.0.1:PORT/msi/token, set by
	// Start. Plain HTTP on loopback, as App Service serves it.
	Endpoint string
	// Header is IDENTITY_HEADER, the secret every request must carry in
	// X-IDENTITY-HEADER; random per start. String() hides it.
	Header string
}

// String describes the identity without its header secret.
func (i ManagedIdentityInfo) String() string {
	return fmt.Sprintf("managed identity %s (client id %s, object id %s, endpoint %s)", i.Name, i.ClientID, i.ObjectID, i.Endpoint)
}

// managedIdentity is a managed identity's service principal. Its app holds
// AppID = client id, DisplayName and spID = object id, so tokens are minted
// for it exactly as for an app's service principal.
type managedIdentity struct {
	app        *app
	resourceID string
	system     bool
}

// miState is the managed identities and their endpoint. Fields other than
// header, ln and srv are guarded by Server.mu.
type miState struct {
	header string
	list   []*managedIdentity // [0] is the system-assigned identity
	url    string
	ln     net.Listener
	srv    *http.Server
}

func newManagedIdentity(name, resourceID string, system bool) *managedIdentity {
	key := "mi:" + strings.ToLower(resourceID)
	return &managedIdentity{
		app:        &app{Application: Application{AppID: deterministicID(key + ":appid"), DisplayName: name}, spID: deterministicID(key + ":sp")},
		resourceID: resourceID, system: system,
	}
}

// initManagedIdentities creates the system-assigned identity and grants it
// its Graph roles. Called by New.
func (s *Server) initManagedIdentities() {
	rid := "/subscriptions/" + devSubscriptionID + "/resourceGroups/" + devResourceGroup + "/providers/Microsoft.Web/sites/" + systemIdentityHost
	mi := newManagedIdentity(systemIdentityHost, rid, true)
	s.mi = &miState{header: randomString(32), list: []*managedIdentity{mi}}
	s.grantMIDefaults(mi)
}

func (s *Server) grantMIDefaults(mi *managedIdentity) {
	for _, r := range miDefaultGraphRoles {
		s.addAppRole(mi.app.AppID, GraphAppID, graphResource.roles[strings.ToLower(r)])
	}
}

func (s *Server) miInfo(mi *managedIdentity) ManagedIdentityInfo {
	return ManagedIdentityInfo{Name: mi.app.DisplayName, ClientID: mi.app.AppID, ObjectID: mi.app.spID, ResourceID: mi.resourceID,
		SystemAssigned: mi.system, Endpoint: s.mi.url, Header: s.mi.header}
}

// ManagedIdentity returns the tenant's system-assigned managed identity and
// its endpoint. To make azidentity.NewManagedIdentityCredential (or MSAL Go's
// managedidentity client) use it, set IDENTITY_ENDPOINT to Endpoint and
// IDENTITY_HEADER to Header. Its tokens are app-only, with the Graph
// application permissions User.Read.All, GroupMember.Read.All and
// Application.Read.All (add more with [Server.GrantAppRole]).
func (s *Server) ManagedIdentity() ManagedIdentityInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.miInfo(s.mi.list[0])
}

// AddUserAssignedIdentity adds a user-assigned managed identity named name
// (an Azure resource name: letters, digits, '-' and '_', 3 to 128
// characters), with the same Graph application permissions as the
// system-assigned one. Its ids derive from the name: the same on every start.
// Request its tokens with client_id, object_id or mi_res_id (azidentity:
// ManagedIdentityCredentialOptions.ID).
func (s *Server) AddUserAssignedIdentity(name string) (ManagedIdentityInfo, error) {
	if len(name) < 3 || len(name) > 128 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" ||
		strings.IndexAny(name[:1], "-_") == 0 {
		return ManagedIdentityInfo{}, fmt.Errorf("devtenant: AddUserAssignedIdentity: %q is not a valid resource name", name)
	}
	rid := "/subscriptions/" + devSubscriptionID + "/resourceGroups/" + devResourceGroup + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, mi := range s.mi.list {
		if strings.EqualFold(mi.resourceID, rid) {
			return ManagedIdentityInfo{}, fmt.Errorf("devtenant: AddUserAssignedIdentity: %s already exists", name)
		}
	}
	mi := newManagedIdentity(name, rid, false)
	s.mi.list = append(s.mi.list, mi)
	s.grantMIDefaults(mi)
	return s.miInfo(mi), nil
}

// managedIdentityByClientID finds a managed identity by client id. Caller
// holds s.mu.
func (s *Server) managedIdentityByClientID(id string) *managedIdentity {
	for _, mi := range s.mi.list {
		if strings.EqualFold(mi.app.AppID, id) {
			return mi
		}
	}
	return nil
}

// startMSI serves the managed identity endpoint on its own plain-HTTP
// listener. Called by Start.
func (s *Server) startMSI() error {
	ln, err := net.Listen("tcp", s.opts.MSIAddr)
	if err != nil {
		return fmt.Errorf("devtenant: managed identity listen: %w", err)
	}
	s.mi.ln = ln
	addr := ln.Addr().(*net.TCPAddr)
	host := "127.0.0.1"
	if !addr.IP.IsUnspecified() {
		host = addr.IP.String()
	}
	s.mu.Lock()
	s.mi.url = "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port)) + msiPath
	s.mu.Unlock()
	mux := http.NewServeMux()
	mux.HandleFunc(msiPath, s.handleMSIToken)
	s.mi.srv = &http.Server{
		Handler:           s.logRequests(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() { _ = s.mi.srv.Serve(ln) }()
	return nil
}

// msiError is the App Service identity endpoint's error body:
// {"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"..."}.
func (s *Server) msiError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	corr := newGUID()
	w.Header().Set("X-CORRELATION-ID", corr)
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": corr})
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "managed identity error", slog.Int("status", status), slog.String("message", msg))
}

// msiTokenResponse is what App Service answers (api-version 2019-08-01).
type msiTokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   string `json:"expires_on"`
	Resource    string `json:"resource"`
	TokenType   string `json:"token_type"`
	ClientID    string `json:"client_id"`
}

func (s *Server) handleMSIToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.msiError(w, r, http.StatusMethodNotAllowed, "The requested resource does not support http method '"+r.Method+"'.")
		return
	}
	got := r.Header.Get("X-IDENTITY-HEADER")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.mi.header)) != 1 {
		s.msiError(w, r, http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != msiAPIVersion {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "UnsupportedApiVersion",
			"message": fmt.Sprintf("The HTTP resource that matches the request URI does not support the API version '%s'. Use '%s'.", v, msiAPIVersion), "innerError": nil}})
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		s.msiError(w, r, http.StatusBadRequest, "The 'resource' query parameter is required.")
		return
	}
	mi, msg := s.selectManagedIdentity(q)
	if mi == nil {
		s.msiError(w, r, http.StatusBadRequest, msg)
		return
	}
	now := s.now()
	s.mu.Lock()
	res := s.resourceByURI(resource)
	if res == nil {
		s.mu.Unlock()
		s.msiError(w, r, http.StatusBadRequest, fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, s.tenantID))
		return
	}
	sr := &scopeRequest{oidc: map[string]bool{}, res: res, aud: resource, dotDeflt: true}
	m := s.mint(now, issue{client: mi.app, sr: sr, azpacr: "2", lifetime: miTokenLifetime, mirid: mi.resourceID})
	s.mu.Unlock()
	resp, serr := m.sign()
	if serr != nil {
		s.msiError(w, r, http.StatusInternalServerError, "Token signing failed.")
		return
	}
	writeJSON(w, http.StatusOK, msiTokenResponse{AccessToken: resp.AccessToken, ExpiresOn: strconv.FormatInt(now.Unix()+int64(resp.ExpiresIn), 10),
		Resource: resource, TokenType: "Bearer", ClientID: mi.app.AppID})
}

// selectManagedIdentity picks the identity a request names: none for the
// system-assigned one, else client_id, object_id (principal_id in App
// Service's documentation) or mi_res_id (msi_res_id, IMDS's spelling). It
// returns nil and the error message when there is no such identity.
func (s *Server) selectManagedIdentity(q url.Values) (*managedIdentity, string) {
	var key, val string
	for _, k := range []string{"client_id", "object_id", "principal_id", "mi_res_id", "msi_res_id"} {
		if v := q[k]; len(v) > 0 {
			if key != "" || len(v) > 1 {
				return nil, "Only one of client_id, object_id, principal_id and mi_res_id may be given."
			}
			key, val = k, v[0]
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if key == "" {
		return s.mi.list[0], ""
	}
	for _, mi := range s.mi.list {
		var have string
		switch key {
		case "client_id":
			have = mi.app.AppID
		case "object_id", "principal_id":
			have = mi.app.spID
		default:
			have = mi.resourceID
		}
		if strings.EqualFold(have, val) {
			return mi, ""
		}
	}
	// App Service's answer for an identity it does not hold.
	return nil, "Unable to load the proper Managed Identity."
}

// managedIdentitySPs are the managed identities' service principals as Graph
// lists them. Caller holds s.mu.
func (s *Server) managedIdentitySPs() []map[string]any {
	var out []map[string]any
	for _, mi := range s.mi.list {
		explicit := "isExplicit=False"
		if !mi.system {
			explicit = "isExplicit=True"
		}
		out = append(out, map[string]any{"id": mi.app.spID, "appId": mi.app.AppID, "displayName": mi.app.DisplayName,
			"servicePrincipalType": "ManagedIdentity", "alternativeNames": []string{explicit, mi.resourceID},
			"passwordCredentials": []map[string]any{}, "keyCredentials": []map[string]any{}, "createdDateTime": "2025-11-25T00:00:00Z"})
	}
	return out
}
