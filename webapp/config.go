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
	// DevTenant, when set, enables the dev-only demonstrations (revoking
	// the signed-in user to show a claims challenge) and the dev banner.
	DevTenant DevTenant
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

// FieldError is one problem Validate found.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "webapp: " + e.Field + ": " + e.Msg }

// ErrInvalidConfig is matched (errors.Is) by every error Validate returns.
var ErrInvalidConfig = errors.New("webapp: invalid config")

func (e *FieldError) Is(target error) bool { return target == ErrInvalidConfig }

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{field, fmt.Sprintf(format, args...)})
	}
	if err := c.Entra.Validate(); err != nil {
		errs = append(errs, err)
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
	return errors.Join(errs...)
}
