package webapp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/graphapi"
)

// Config is what the web app needs. Zero values are safe defaults, except
// for Entra, TokenCache and Keys.
type Config struct {
	// Entra is the app registration (client id, credential, redirect URI).
	Entra entra.Config
	// GraphURL is Microsoft Graph's base URL; default the cloud's.
	GraphURL string
	// GraphResource is the audience Graph tokens are issued for; scopes are
	// qualified with it. Default https://graph.microsoft.com (the dev
	// tenant issues its Graph tokens for that audience too).
	GraphResource string
	// HTTPClient talks to Entra and Graph (TLS roots, proxy); default a
	// client with a 30 s timeout.
	HTTPClient *http.Client
	// TokenCache holds the users' tokens (MSAL's cache, sealed).
	TokenCache *tokencache.Cache
	// SessionStore holds sessions and sign-in transactions; default an
	// in-memory store. Several instances need a shared one (Redis).
	SessionStore tokencache.Store
	// Keys seal sessions; usually the token cache's key ring.
	Keys *tokencache.KeyRing
	// IdleTimeout ends a session unused this long; default 30 minutes.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends any session this long after sign-in; default 8 h.
	AbsoluteTimeout time.Duration
	// ResponseMode of the authorize request: "form_post" (default: the code
	// never appears in a URL or in browser history) or "query".
	ResponseMode string
	// TrustedProxies are the CIDRs (or addresses) of reverse proxies whose
	// X-Forwarded-For and X-Forwarded-Proto are believed. None by default.
	TrustedProxies []string
	// APIIdentifierURI is the API's App ID URI, accepted as the audience of
	// access tokens besides the client id; default api://<client id>.
	APIIdentifierURI string
	// APIAllowedOrigins are the browser origins (scheme://host[:port])
	// besides the app's own that may call /api/ (CORS), e.g. a SPA hosted
	// elsewhere. Bearer tokens only: no cookies cross origins.
	APIAllowedOrigins []string
	// APIReportClients are the client ids (azp/appid) of the daemons that
	// may read /api/reports/usage, besides holding the Reports.Read.All
	// role. Empty: any client with the role — except for a multi-tenant
	// app, where another tenant's admin could grant their own app the role
	// in their tenant: there the report needs this list.
	APIReportClients []string
	// SPAClientID is the single-page app's registration (a SPA platform
	// redirect URI <origin>/spa/); /spa/ is served only when it is set.
	SPAClientID string
	// DevTenant, when set, enables the dev-only demonstrations (revoking
	// the signed-in user to show a claims challenge) and the dev banner.
	DevTenant DevTenant
	// DevMode, when set, puts a dev-mode section on the home page: whom to
	// sign in as for what, and how to trust the dev tenant's CA. Only dev
	// mode sets it; without it the home page says nothing of the kind.
	DevMode *DevModeInfo
	// Logger receives JSON logs; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DevTenant is what the web app uses of an in-process dev tenant
// (*devtenant.Server satisfies it).
type DevTenant interface {
	RevokeUser(id string) error
}

// DevModeInfo is what the home page tells a developer in dev mode.
type DevModeInfo struct {
	// Personas are the dev tenant's people (never their passwords).
	Personas []DevPersona
	// CAFile is the path of the dev tenant's CA certificate on this
	// machine ("" when it is kept nowhere); CAPEM is the certificate, which
	// the page offers for download.
	CAFile string
	CAPEM  []byte
}

// DevPersona is a person of the dev tenant, as the home page's hints name
// them.
type DevPersona struct {
	Name     string
	Username string   // what they sign in with (a guest: the home account)
	Roles    []string // app roles on the web app
	Admin    bool     // a tenant administrator: may consent for the organization
	Guest    bool     // a B2B guest from another tenant
	Disabled bool
}

// ErrInvalidConfig is matched (errors.Is) by every error Validate returns.
var ErrInvalidConfig = errors.New("webapp: invalid config")

// Validate reports every problem at once, each an *entra.FieldError named
// by its path in Config (the app registration's under "Entra.").
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &entra.FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrInvalidConfig})
	}
	if err := c.Entra.Validate(); err != nil {
		list := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			list = j.Unwrap()
		}
		for _, e := range list {
			var fe *entra.FieldError
			if errors.As(e, &fe) {
				bad("Entra."+fe.Field, "%s", fe.Msg)
			} else {
				errs = append(errs, e)
			}
		}
	}
	if c.Entra.RedirectURI == "" {
		bad("Entra.RedirectURI", "required for a web app")
	} else if u, err := url.Parse(c.Entra.RedirectURI); err == nil && !strings.HasSuffix(u.Path, "/auth/callback") {
		bad("Entra.RedirectURI", "must end in /auth/callback, where the app receives the response: %q", c.Entra.RedirectURI)
	}
	if c.Entra.Credential.Kind() == "none" {
		bad("Entra.Credential", "a web app is a confidential client: set a certificate, secret, assertion file or managed identity")
	}
	if c.TokenCache == nil {
		bad("TokenCache", "required")
	}
	if c.Keys == nil {
		bad("Keys", "required (seals sessions)")
	}
	if c.GraphURL != "" {
		if u, err := url.Parse(c.GraphURL); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("GraphURL", "want an https URL, got %q", c.GraphURL)
		}
	}
	switch c.ResponseMode {
	case "", "form_post", "query":
	default:
		bad("ResponseMode", "want form_post or query, got %q", c.ResponseMode)
	}
	if c.IdleTimeout < 0 || c.AbsoluteTimeout < 0 {
		bad("IdleTimeout", "timeouts must not be negative")
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			bad("TrustedProxies", "not an address or CIDR: %q", p)
		}
	}
	for _, o := range c.APIAllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || o != u.Scheme+"://"+u.Host {
			bad("APIAllowedOrigins", "want an origin such as https://app.example.com (no path, no trailing slash), got %q", o)
		}
	}
	for _, id := range c.APIReportClients {
		if !entra.IsGUID(id) {
			bad("APIReportClients", "want client ids (GUIDs), got %q", id)
		}
	}
	if c.SPAClientID != "" && !entra.IsGUID(c.SPAClientID) {
		bad("SPAClientID", "want the SPA registration's application (client) id, a GUID, got %q", c.SPAClientID)
	}
	return errors.Join(errs...)
}

// withDefaults fills in what Config leaves zero, and returns the store for
// sign-in transactions when the sessions' is the default (nil: the same).
func (c Config) withDefaults() (Config, tokencache.Store) {
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.GraphURL == "" {
		c.GraphURL = c.Entra.Cloud.GraphEndpoint
		if c.GraphURL == "" {
			c.GraphURL = graphapi.DefaultBaseURL
		}
	}
	if c.GraphResource == "" {
		c.GraphResource = graphapi.DefaultBaseURL
	}
	if c.APIIdentifierURI == "" {
		c.APIIdentifierURI = "api://" + c.Entra.ClientID
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.AbsoluteTimeout == 0 {
		c.AbsoluteTimeout = 8 * time.Hour
	}
	var signIns tokencache.Store
	if c.SessionStore == nil {
		c.SessionStore = tokencache.NewMemoryStore(tokencache.MemoryOptions{MaxEntries: 100_000, MaxBytes: 512 << 20})
		// Used sign-in transactions leave their tombstones in a store of
		// their own: they must never push signed-in sessions out.
		signIns = tokencache.NewMemoryStore(tokencache.MemoryOptions{MaxEntries: 20_000, MaxBytes: 64 << 20})
	}
	if c.TokenCache.Metrics == nil {
		c.TokenCache.Metrics = &tokencache.Metrics{}
	}
	return c, signIns
}
