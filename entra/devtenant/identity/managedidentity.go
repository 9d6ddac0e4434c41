package identity

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
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
)

// MSIEndpoint is the managed identity endpoint: its URL (set by Start,
// guarded by the provider's lock) and the IDENTITY_HEADER secret.
type MSIEndpoint struct {
	p      *Provider
	header string
	url    string
}

// ManagedIdentity is the tenant's managed identity endpoint.
func (p *Provider) ManagedIdentity() *MSIEndpoint { return p.mi }

// Endpoint is IDENTITY_ENDPOINT (http://127.0.0.1:PORT/msi/token,
// set by Start) and IDENTITY_HEADER, the secret every request must carry in
// X-IDENTITY-HEADER (random per start).
func (e *MSIEndpoint) Endpoint() (endpoint, header string) {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return e.url, e.header
}

// Handler serves the managed identity endpoint (at
// /msi/token); the dev tenant listens for it on plain HTTP, as App Service.
func (e *MSIEndpoint) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(msiPath, e.handleToken)
	return mux
}

// SetURL records where the endpoint listens
// (http://127.0.0.1:PORT); IDENTITY_ENDPOINT is that and /msi/token.
func (e *MSIEndpoint) SetURL(base string) {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	e.url = base + msiPath
}

// msiError is the App Service identity endpoint's error body:
// {"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"..."}.
func (e *MSIEndpoint) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	corr := directory.NewObjectID()
	w.Header().Set("X-CORRELATION-ID", corr)
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": corr})
	e.p.log.LogAttrs(r.Context(), slog.LevelInfo, "managed identity error", slog.Int("status", status), slog.String("message", msg))
}

// msiTokenResponse is what App Service answers (api-version 2019-08-01).
type msiTokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   string `json:"expires_on"`
	Resource    string `json:"resource"`
	TokenType   string `json:"token_type"`
	ClientID    string `json:"client_id"`
}

func (e *MSIEndpoint) handleToken(w http.ResponseWriter, r *http.Request) {
	p := e.p
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		e.fail(w, r, http.StatusMethodNotAllowed, "The requested resource does not support http method '"+r.Method+"'.")
		return
	}
	got := r.Header.Get("X-IDENTITY-HEADER")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(e.header)) != 1 {
		e.fail(w, r, http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
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
		e.fail(w, r, http.StatusBadRequest, "The 'resource' query parameter is required.")
		return
	}
	mi, msg := e.selectIdentity(q)
	if mi == nil {
		e.fail(w, r, http.StatusBadRequest, msg)
		return
	}
	now := p.cfg.Now()
	p.lock()
	res := p.tx.ResourceByURI(resource)
	if res == nil {
		p.unlock()
		e.fail(w, r, http.StatusBadRequest, fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, p.dir.TenantID()))
		return
	}
	sr := &scopeRequest{oidc: map[string]bool{}, res: res, aud: resource, dotDeflt: true}
	m := p.mint(now, issue{client: mi.App, sr: sr, azpacr: "2", lifetime: miTokenLifetime, mirid: mi.ResourceID})
	p.unlock()
	resp, serr := m.sign()
	if serr != nil {
		e.fail(w, r, http.StatusInternalServerError, "Token signing failed.")
		return
	}
	writeJSON(w, http.StatusOK, msiTokenResponse{AccessToken: resp.AccessToken, ExpiresOn: strconv.FormatInt(now.Unix()+int64(resp.ExpiresIn), 10),
		Resource: resource, TokenType: "Bearer", ClientID: mi.App.AppID})
}

// selectManagedIdentity picks the identity a request names: none for the
// system-assigned one, else client_id, object_id (principal_id in App
// Service's documentation) or mi_res_id (msi_res_id, IMDS's spelling). It
// returns nil and the error message when there is no such identity.
func (e *MSIEndpoint) selectIdentity(q url.Values) (*directory.ManagedIdentity, string) {
	var key, val string
	for _, k := range []string{"client_id", "object_id", "principal_id", "mi_res_id", "msi_res_id"} {
		if v := q[k]; len(v) > 0 {
			if key != "" || len(v) > 1 {
				return nil, "Only one of client_id, object_id, principal_id and mi_res_id may be given."
			}
			key, val = k, v[0]
		}
	}
	tx := e.p.dir.Lock()
	defer tx.Unlock()
	list := tx.ManagedIdentities()
	if key == "" {
		return list[0], ""
	}
	for _, mi := range list {
		var have string
		switch key {
		case "client_id":
			have = mi.App.AppID
		case "object_id", "principal_id":
			have = mi.App.SPID
		default:
			have = mi.ResourceID
		}
		if strings.EqualFold(have, val) {
			return mi, ""
		}
	}
	// App Service's answer for an identity it does not hold.
	return nil, "Unable to load the proper Managed Identity."
}
