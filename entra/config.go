package entra

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// Config is the one description of an Entra application that every entrakit
// binary uses. The zero value is not valid: ClientID and TenantID are required.
type Config struct {
	// Cloud selects the authority host and Graph endpoint; zero means AzurePublic.
	// A custom AuthorityHost (the dev tenant, a proxy) turns MSAL's instance
	// discovery off.
	Cloud Cloud
	// TenantID is a tenant id (GUID), a verified domain (contoso.com), or
	// "common" / "organizations" for a multi-tenant app.
	TenantID string
	// ClientID is the application (client) id, a GUID.
	ClientID string
	// Credential authenticates a confidential client. Zero means a public client.
	Credential Credential
	// RedirectURI is where Entra sends the authorization response. It must be
	// registered on the app exactly, byte for byte. Empty for daemons.
	RedirectURI string
	// AllowedTenants are the tenants whose users may sign in to a
	// multi-tenant app (TenantID "common" or "organizations"): tenant ids,
	// or the single entry "*" for any work or school tenant. Required for
	// a multi-tenant app: an empty list would admit every tenant without
	// anyone having chosen it.
	AllowedTenants []string
}

// Credential is how a confidential client proves its identity. Set at most one
// kind. Prefer a certificate, a federated assertion or a managed identity over a
// secret (RFC 9700 §2.5).
type Credential struct {
	// ClientSecret is a client secret. Never logged.
	ClientSecret string
	// CertificatePath is a PEM or PFX/PKCS#12 file holding the certificate and
	// its private key, used for private_key_jwt client assertions.
	CertificatePath string
	// CertificatePassword decrypts a PFX file. Never logged.
	CertificatePassword string
	// ClientAssertionFile is a file holding a signed JWT from a trusted issuer
	// (workload identity federation, e.g. AZURE_FEDERATED_TOKEN_FILE). It is
	// re-read on every use because the issuer rotates it.
	ClientAssertionFile string
	// ManagedIdentity uses the Azure managed identity of the host. What it
	// authenticates depends on the token asked for, and so on the
	// constructor: NewConfidentialClient (sign-in, delegated tokens: the web
	// app) uses it as the federated credential of the app registration
	// ClientID; NewAppTokenCredential (app-only tokens: the daemon) gets
	// the managed identity's own tokens, so its service principal needs
	// the permissions and ClientID is not used.
	ManagedIdentity *ManagedIdentity
}

// ManagedIdentity selects a managed identity. A zero ClientID means the
// system-assigned identity.
type ManagedIdentity struct {
	ClientID string
}

// Kind names the credential that is set: "secret", "certificate",
// "assertion", "managed-identity", or "none".
func (c Credential) Kind() string {
	switch {
	case c.ClientSecret != "":
		return "secret"
	case c.CertificatePath != "":
		return "certificate"
	case c.ClientAssertionFile != "":
		return "assertion"
	case c.ManagedIdentity != nil:
		return "managed-identity"
	}
	return "none"
}

// String never prints secrets.
func (c Credential) String() string { return "entra.Credential{" + c.Kind() + "}" }

// GoString never prints secrets, even with %#v.
func (c Credential) GoString() string { return c.String() }

// FieldError is one problem with one setting, the one style of
// configuration error in entrakit: entra's Config.Validate, webapp's
// Config.Validate, graphapi's Options.Validate and daemon's ParseConfig each
// return one *FieldError per problem, joined with errors.Join.
//
// Its message is "Field: Msg", with no package prefix: each line of the
// joined error names one setting, and whoever reports them names the
// configuration (cmd/webapp prefixes "webapp:", internal/envconfig puts the
// environment variable in place of Field).
type FieldError struct {
	// Field is the setting's path in its configuration: a Go field path
	// ("ClientID", "Credential.CertificatePath", "Entra.RedirectURI") or,
	// in a file, a JSON path ("jobs[1].every").
	Field string
	Msg   string
	// Err is the sentinel of the configuration the setting belongs to,
	// matched with errors.Is: ErrInvalidConfig when nil;
	// webapp.ErrInvalidConfig, graphapi.ErrInvalidOptions or
	// daemon.ErrInvalidConfig for theirs.
	Err error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns the configuration's sentinel (Err, or ErrInvalidConfig).
func (e *FieldError) Unwrap() error {
	if e.Err == nil {
		return ErrInvalidConfig
	}
	return e.Err
}

// ErrInvalidConfig is matched (errors.Is) by every error Validate returns.
var ErrInvalidConfig = errors.New("entra: invalid configuration")

// Validate reports every problem at once, each as a *FieldError joined with
// errors.Join; nil when the configuration is usable.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	cloud := c.Cloud.orDefault()
	if msg := checkEndpoint(cloud.AuthorityHost); msg != "" {
		add("Cloud.AuthorityHost", "%s", msg)
	}
	if msg := checkEndpoint(cloud.GraphEndpoint); msg != "" {
		add("Cloud.GraphEndpoint", "%s", msg)
	}

	switch t := c.TenantID; {
	case t == "":
		add("TenantID", "required: a tenant id (GUID), a domain such as contoso.onmicrosoft.com, common or organizations")
	case strings.EqualFold(t, "consumers"):
		add("TenantID", "consumers (personal Microsoft accounts only) is not supported: entrakit signs in work and school accounts")
	case IsGUID(t), isMultiTenant(t), isDomain(t):
	default:
		add("TenantID", "not a GUID, a domain name, common or organizations: %q", t)
	}

	switch {
	case c.ClientID == "":
		add("ClientID", "required: the application (client) id from the app registration")
	case !IsGUID(c.ClientID):
		add("ClientID", "not a GUID: %q", c.ClientID)
	}

	cr := c.Credential
	var kinds []string
	for _, k := range []struct {
		set  bool
		name string
	}{
		{cr.ClientSecret != "", "ClientSecret"},
		{cr.CertificatePath != "", "CertificatePath"},
		{cr.ClientAssertionFile != "", "ClientAssertionFile"},
		{cr.ManagedIdentity != nil, "ManagedIdentity"},
	} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	if len(kinds) > 1 {
		add("Credential", "set only one of %s", strings.Join(kinds, ", "))
	}
	if cr.CertificatePassword != "" && cr.CertificatePath == "" {
		add("Credential.CertificatePassword", "set without Credential.CertificatePath")
	}
	if cr.ClientSecret != "" && strings.TrimSpace(cr.ClientSecret) != cr.ClientSecret {
		add("Credential.ClientSecret", "has leading or trailing white space (a copy-and-paste accident?)")
	}
	if mi := cr.ManagedIdentity; mi != nil && mi.ClientID != "" && !IsGUID(mi.ClientID) {
		add("Credential.ManagedIdentity.ClientID", "not a GUID: %q", mi.ClientID)
	}

	if c.RedirectURI != "" {
		if msg := checkRedirectURI(c.RedirectURI); msg != "" {
			add("RedirectURI", "%s", msg)
		}
	}

	if len(c.AllowedTenants) > 0 && c.TenantID != "" && !isMultiTenant(c.TenantID) {
		add("AllowedTenants", "only applies to a multi-tenant app (TenantID common or organizations), not to %q", c.TenantID)
	}
	switch {
	case isMultiTenant(c.TenantID) && len(c.AllowedTenants) == 0:
		add("AllowedTenants", "required for a multi-tenant app: the tenant ids that may sign in, or * for any work or school tenant")
	case len(c.AllowedTenants) > 1 && slices.Contains(c.AllowedTenants, "*"):
		add("AllowedTenants", "* (any tenant) stands alone, not in a list of tenant ids")
	case len(c.AllowedTenants) == 1 && c.AllowedTenants[0] == "*":
	default:
		for i, t := range c.AllowedTenants {
			if !IsGUID(t) {
				add(fmt.Sprintf("AllowedTenants[%d]", i), "not a tenant id (GUID): %q", t)
			}
		}
	}
	return errors.Join(errs...)
}

// Authority returns the authority URL MSAL is built with.
func (c Config) Authority() string { return c.Cloud.Authority(c.TenantID) }

// MultiTenant reports whether the app signs in users from any tenant
// (TenantID "common" or "organizations").
func (c Config) MultiTenant() bool { return isMultiTenant(c.TenantID) }

// TenantAllowed reports whether tid may sign in: for a single-tenant app the
// token's tid must be the configured tenant id; for a multi-tenant app it
// must be in AllowedTenants (or AllowedTenants is ["*"]: any work or school
// tenant); an empty list allows none. A TenantID given as a domain
// allows no tenant: which tenant id it names is only known from the
// discovery document (DiscoverValidator resolves it), and guessing "any"
// would let other tenants' tokens in through a templated issuer.
func (c Config) TenantAllowed(tid string) bool {
	if !c.MultiTenant() {
		return IsGUID(c.TenantID) && strings.EqualFold(c.TenantID, tid)
	}
	if len(c.AllowedTenants) == 1 && c.AllowedTenants[0] == "*" {
		// Any work or school tenant; personal Microsoft accounts sign in
		// through their own tenant, which entrakit does not serve.
		return IsGUID(tid) && !strings.EqualFold(tid, consumersTenantID)
	}
	for _, t := range c.AllowedTenants {
		if strings.EqualFold(t, tid) {
			return true
		}
	}
	return false
}

// consumersTenantID is the tenant of personal Microsoft accounts.
const consumersTenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"

func isMultiTenant(t string) bool {
	return strings.EqualFold(t, "common") || strings.EqualFold(t, "organizations")
}

// IsGUID reports whether s is a GUID in its 8-4-4-4-12 hexadecimal form.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// isDomain accepts a DNS name with at least two labels (RFC 1123 labels).
func isDomain(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func checkEndpoint(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("not a URL: %q", raw)
	case u.Scheme != "https":
		return fmt.Sprintf("must be an https URL (MSAL and azidentity refuse anything else): %q", raw)
	case u.Host == "":
		return fmt.Sprintf("has no host: %q", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Sprintf("must not carry user info, a query or a fragment: %q", raw)
	}
	return ""
}

// checkRedirectURI applies Entra's rules for redirect URIs: absolute, https
// except for loopback addresses, no fragment, at most 256 characters.
// https://learn.microsoft.com/entra/identity-platform/reply-url
func checkRedirectURI(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("not a URL: %q", raw)
	case len(raw) > 256:
		return "longer than Entra's 256 characters"
	case !u.IsAbs() || u.Host == "":
		return fmt.Sprintf("must be an absolute URL: %q", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Sprintf("must not contain a fragment: %q", raw)
	case u.User != nil:
		return fmt.Sprintf("must not carry user info: %q", raw)
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		return ""
	case u.Scheme == "http":
		return fmt.Sprintf("http is only allowed for localhost, 127.0.0.1 or [::1]: %q", raw)
	}
	return fmt.Sprintf("scheme must be https: %q", raw)
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
