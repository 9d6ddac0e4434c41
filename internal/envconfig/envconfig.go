package envconfig

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
)

// Variable documents one environment variable. Variables is the list the README
// table is checked against.
type Variable struct {
	Name    string
	Default string
	Doc     string
}

// Variables lists every variable Load reads.
var Variables = []Variable{
	{"AZURE_TENANT_ID", "", "Tenant id (GUID), verified domain, `common` or `organizations`."},
	{"AZURE_CLIENT_ID", "", "Application (client) id. Unset, with no other production setting: start the in-process dev tenant (dev mode)."},
	{"AZURE_CLIENT_SECRET", "", "Client secret (prefer a certificate)."},
	{"AZURE_CLIENT_CERTIFICATE_PATH", "", "PEM or PFX file with the certificate and private key."},
	{"AZURE_CLIENT_CERTIFICATE_PASSWORD", "", "Password of the PFX file."},
	{"AZURE_FEDERATED_TOKEN_FILE", "", "Federated client assertion file (workload identity), re-read on every use."},
	{"AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/", "Authority host; overrides ENTRAKIT_CLOUD's. A non-Microsoft host turns instance discovery off."},
	{"ENTRAKIT_CLOUD", "public", "National cloud: `public`, `usgov` or `china`."},
	{"ENTRAKIT_GRAPH_URL", "the cloud's Graph endpoint", "Microsoft Graph base URL, e.g. https://graph.microsoft.com."},
	{"ENTRAKIT_MANAGED_IDENTITY", "", "`system` or a user-assigned identity's client id: authenticate with the host's managed identity."},
	{"ENTRAKIT_REDIRECT_URI", "http://localhost:8080/auth/callback", "Redirect URI registered on the app (web apps)."},
	{"ENTRAKIT_ALLOWED_TENANTS", "", "Comma-separated tenant ids allowed to sign in to a multi-tenant app, or `*` for any work or school tenant; required when AZURE_TENANT_ID is `common` or `organizations`."},
	{"ENTRAKIT_CA_FILE", "", "Extra PEM CA certificates to trust (the dev tenant's CA)."},
	{"ENTRAKIT_LISTEN", "localhost:8080", "Address the web app listens on."},
	{"ENTRAKIT_METRICS_LISTEN", "127.0.0.1:9464", "Address of the web app's Prometheus /metrics: its own listener, loopback unless you choose otherwise."},
	{"ENTRAKIT_SPA_CLIENT_ID", "", "The single-page app's application (client) id (a registration with the SPA redirect URI <origin>/spa/): the web app serves it at /spa/. Unset: no /spa/ (dev mode: the dev tenant's)."},
	{"ENTRAKIT_API_IDENTIFIER_URI", "api://<AZURE_CLIENT_ID>", "The API's App ID URI: access tokens for /api/ may name it or the client id as their audience."},
	{"ENTRAKIT_API_REPORT_CLIENTS", "", "Comma-separated client ids of the daemons that may read /api/reports/usage (with the Reports.Read.All role). Required for a multi-tenant app, where another tenant could grant its own app the role."},
	{"ENTRAKIT_API_ALLOWED_ORIGINS", "", "Comma-separated browser origins (https://host[:port]) besides the web app's own that may call /api/ (CORS)."},
	{"ENTRAKIT_DEV_TENANT", "auto", "`auto`: start the dev tenant when AZURE_CLIENT_ID and every other production setting (credentials, stores, keys, TLS) are unset; `off`: never (production)."},
	{"ENTRAKIT_TOKEN_CACHE_URL", "memory:", "Token cache store: `memory:`, `file:///dir` or `redis://host:6379/0` (several instances need Redis)."},
	{"ENTRAKIT_REDIS_URL", "", "Redis for web app sessions (and the token cache when ENTRAKIT_TOKEN_CACHE_URL is unset): `redis://host:6379/0`. Needed for several instances."},
	{"ENTRAKIT_TRUSTED_PROXIES", "", "Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For / -Proto / X-Request-Id are believed."},
	{"ENTRAKIT_TLS_CERT_FILE", "", "PEM certificate chain: serve HTTPS (with HSTS) instead of HTTP."},
	{"ENTRAKIT_TLS_KEY_FILE", "", "PEM private key of ENTRAKIT_TLS_CERT_FILE."},
	{"ENTRAKIT_DEV_TENANT_LISTEN", "127.0.0.1:9443", "Where the in-process dev tenant listens (dev mode)."},
	{"ENTRAKIT_DATABASE_URL", "sqlite://.entrakit/daemon.db (dev mode: .entrakit/devtenant/daemon.db)", "Daemon database: `sqlite:///path.db` (embedded, one replica) or `postgres://user@host/db` (several replicas)."},
	{"ENTRAKIT_DAEMON_CONFIG", "built-in", "Daemon job file (JSON: jobs with name, every or cron, timeout, settings); unset: the built-in default."},
	{"ENTRAKIT_DAEMON_LISTEN", "localhost:9090", "Address of the daemon's /healthz and /metrics."},
	{"ENTRAKIT_TOKEN_CACHE_KEYS", "", "Comma-separated base64 keys (>= 32 random bytes each) sealing the token cache; the first seals, all open. Required outside dev mode."},
}

// DaemonDevDir is where cmd/daemon keeps its dev-mode state across runs:
// the dev tenant's CA and signing key, the token cache and the key sealing
// it, the database and the reports. Apart from a deployment's .entrakit
// files, so a dev run never meets them.
const DaemonDevDir = ".entrakit/devtenant"

// Settings is what the binaries read from the environment.
type Settings struct {
	Entra entra.Config
	// DevTenant is true when ENTRAKIT_DEV_TENANT is not "off" and neither
	// AZURE_CLIENT_ID nor any other production setting is set: the binary
	// must start the dev tenant and say so loudly.
	DevTenant bool
	// Listen is the web app's listen address.
	Listen string
	// MetricsListen is where the web app serves /metrics (not on Listen).
	MetricsListen string
	// RootCAs is the system pool plus ENTRAKIT_CA_FILE; nil when that is unset.
	RootCAs *x509.CertPool
	// CAFile is ENTRAKIT_CA_FILE as given.
	CAFile string
	// TokenCacheURL names the token cache store (tokencache.OpenStore).
	TokenCacheURL string
	// RedisURL is the shared Redis (sessions, and the token cache unless
	// TokenCacheURL names another store).
	RedisURL string
	// TrustedProxies are reverse proxies whose X-Forwarded-* are believed.
	TrustedProxies []string
	// TLSCertFile and TLSKeyFile, when set, make the web app serve HTTPS.
	TLSCertFile, TLSKeyFile string
	// DatabaseURL, DaemonConfig and DaemonListen configure cmd/daemon.
	DatabaseURL, DaemonConfig, DaemonListen string
	// SPAClientID, APIIdentifierURI and APIAllowedOrigins configure /spa/
	// and /api/ (webapp.Config's fields of the same names).
	SPAClientID, APIIdentifierURI       string
	APIAllowedOrigins, APIReportClients []string
	// DevTenantListen is the in-process dev tenant's address.
	DevTenantListen string
	// TokenCacheKeys is the key ring (validated). Empty only in dev mode,
	// where a per-process key is generated. Never logged.
	TokenCacheKeys string
}

// FromOS loads the settings from the process environment.
func FromOS() (Settings, error) { return Load(os.LookupEnv) }

// Load reads the settings through lookup (os.LookupEnv in production, a map in
// tests). Every problem is reported at once, named by its variable.
func Load(lookup func(string) (string, bool)) (Settings, error) {
	e := &reader{lookup: lookup}
	s := Settings{Listen: "localhost:8080"}
	if v := e.get("ENTRAKIT_LISTEN"); v != "" {
		s.Listen = v
	}
	switch mode := strings.ToLower(e.get("ENTRAKIT_DEV_TENANT")); mode {
	case "", "auto":
		// Dev mode only when nothing says production: a deployment that
		// lost its AZURE_CLIENT_ID must stop, not run the emulator against
		// its real database, Redis or stores.
		if e.get("AZURE_CLIENT_ID") == "" {
			if prod := e.productionSettings(); len(prod) > 0 {
				e.bad("AZURE_CLIENT_ID", "required: %s set, so this is a production configuration and the built-in dev tenant does not start (set AZURE_CLIENT_ID, or unset them for dev mode)",
					strings.Join(prod, ", ")+map[bool]string{true: " is", false: " are"}[len(prod) == 1])
			} else {
				s.DevTenant = true
			}
		}
	case "off", "false", "0":
		if e.get("AZURE_CLIENT_ID") == "" {
			e.bad("AZURE_CLIENT_ID", "required: ENTRAKIT_DEV_TENANT=off forbids the built-in dev tenant")
		}
	default:
		e.bad("ENTRAKIT_DEV_TENANT", "want auto or off, got %q", mode)
	}
	s.Entra = e.entraConfig()
	e.stores(&s)
	e.server(&s)
	// In dev mode the dev tenant fills in the Entra settings later; checking
	// them now would only complain about what is about to be generated.
	if !s.DevTenant {
		e.entraErrors(s.Entra)
	}
	return s, errors.Join(e.errs...)
}

// EntraConfig reads only the app registration and its credential (the
// AZURE_* variables, ENTRAKIT_CLOUD, ENTRAKIT_GRAPH_URL,
// ENTRAKIT_MANAGED_IDENTITY), for a tool that needs an app's identity and
// nothing else of the services' settings (entractl token --app). Every
// problem is reported at once, named by its variable.
func EntraConfig(lookup func(string) (string, bool)) (entra.Config, error) {
	e := &reader{lookup: lookup}
	c := e.entraConfig()
	e.entraErrors(c)
	return c, errors.Join(e.errs...)
}

// productionVariables are the settings only a real deployment has: Entra
// credentials and authorities (azidentity's names), the stores and keys
// whose data must never meet the dev tenant's, TLS, and the managed
// identity endpoints Azure hosts set.
var productionVariables = []string{
	"AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
	"AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "AZURE_USERNAME", "AZURE_PASSWORD",
	"ENTRAKIT_CLOUD", "ENTRAKIT_GRAPH_URL", "ENTRAKIT_ALLOWED_TENANTS", "ENTRAKIT_MANAGED_IDENTITY",
	"ENTRAKIT_TOKEN_CACHE_KEYS", "ENTRAKIT_TOKEN_CACHE_URL", "ENTRAKIT_REDIS_URL", "ENTRAKIT_DATABASE_URL",
	"ENTRAKIT_TLS_CERT_FILE", "ENTRAKIT_TLS_KEY_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT",
}

// productionSettings names the production variables that are set.
func (e *reader) productionSettings() []string {
	var set []string
	for _, name := range productionVariables {
		if v, ok := e.lookup(name); ok && v != "" {
			set = append(set, name)
		}
	}
	return set
}

// reader reads variables and collects every problem, each named by its variable.
type reader struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (e *reader) get(name string) string {
	v, _ := e.lookup(name)
	return strings.TrimSpace(v)
}

func (e *reader) bad(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
}

// entraConfig reads the cloud, the app and its credential.
func (e *reader) entraConfig() entra.Config {
	cloud, err := entra.CloudByName(e.get("ENTRAKIT_CLOUD"))
	if err != nil {
		e.bad("ENTRAKIT_CLOUD", "%v", err)
	}
	if v := e.get("AZURE_AUTHORITY_HOST"); v != "" {
		cloud.AuthorityHost = v
		cloud.Name = "custom"
	}
	if v := e.get("ENTRAKIT_GRAPH_URL"); v != "" {
		// Another URL for Graph (a proxy, the dev tenant's emulator): its
		// tokens are still for the cloud's Graph.
		if cloud.GraphResource == "" {
			cloud.GraphResource = cloud.GraphEndpoint
		}
		cloud.GraphEndpoint = strings.TrimSuffix(v, "/")
	}
	c := entra.Config{
		Cloud:       cloud,
		TenantID:    e.get("AZURE_TENANT_ID"),
		ClientID:    e.get("AZURE_CLIENT_ID"),
		RedirectURI: e.get("ENTRAKIT_REDIRECT_URI"),
		Credential: entra.Credential{
			// Secrets are taken as given: Validate flags stray white space.
			ClientSecret:        must(e.lookup("AZURE_CLIENT_SECRET")),
			CertificatePath:     e.get("AZURE_CLIENT_CERTIFICATE_PATH"),
			CertificatePassword: must(e.lookup("AZURE_CLIENT_CERTIFICATE_PASSWORD")),
			ClientAssertionFile: e.get("AZURE_FEDERATED_TOKEN_FILE"),
		},
	}
	if c.RedirectURI == "" {
		c.RedirectURI = "http://localhost:8080/auth/callback"
	}
	switch mi := e.get("ENTRAKIT_MANAGED_IDENTITY"); {
	case mi == "":
	case strings.EqualFold(mi, "system"):
		c.Credential.ManagedIdentity = &entra.ManagedIdentity{}
	default:
		c.Credential.ManagedIdentity = &entra.ManagedIdentity{ClientID: mi}
	}
	for _, t := range strings.Split(e.get("ENTRAKIT_ALLOWED_TENANTS"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.AllowedTenants = append(c.AllowedTenants, t)
		}
	}
	return c
}

// stores reads the token cache, Redis, the database and the cache keys.
func (e *reader) stores(s *Settings) {
	s.TokenCacheURL = e.get("ENTRAKIT_TOKEN_CACHE_URL")
	switch u := s.TokenCacheURL; {
	case u == "", u == "memory:", strings.HasPrefix(u, "file:///"), strings.HasPrefix(u, "redis://"), strings.HasPrefix(u, "rediss://"):
	default:
		e.bad("ENTRAKIT_TOKEN_CACHE_URL", "want memory:, file:///absolute/dir or redis://host:port/db")
	}
	if s.RedisURL = e.get("ENTRAKIT_REDIS_URL"); s.RedisURL != "" {
		if _, err := tokencache.RedisOptions(s.RedisURL); err != nil {
			e.bad("ENTRAKIT_REDIS_URL", "want redis://host:port/db or rediss://...")
		}
		if s.TokenCacheURL == "" {
			s.TokenCacheURL = s.RedisURL
		}
	}
	s.DatabaseURL = e.get("ENTRAKIT_DATABASE_URL")
	switch {
	case s.DatabaseURL == "" && s.DevTenant:
		// Dev state lives apart: a dev run in a deployment's folder never
		// opens its database.
		s.DatabaseURL = "sqlite://" + DaemonDevDir + "/daemon.db"
	case s.DatabaseURL == "":
		s.DatabaseURL = "sqlite://.entrakit/daemon.db"
	case !strings.HasPrefix(s.DatabaseURL, "sqlite:") && !strings.HasPrefix(s.DatabaseURL, "postgres://") && !strings.HasPrefix(s.DatabaseURL, "postgresql://"):
		e.bad("ENTRAKIT_DATABASE_URL", "want sqlite:///path.db or postgres://user@host:5432/db")
	}
	s.TokenCacheKeys = e.get("ENTRAKIT_TOKEN_CACHE_KEYS")
	if s.TokenCacheKeys != "" {
		if _, err := tokencache.ParseKeyRing(s.TokenCacheKeys); err != nil {
			e.bad("ENTRAKIT_TOKEN_CACHE_KEYS", "%s", strings.TrimPrefix(err.Error(), "tokencache: "))
		}
	} else if !s.DevTenant {
		e.bad("ENTRAKIT_TOKEN_CACHE_KEYS", "required outside dev mode (generate one: openssl rand -base64 32)")
	}
}

// server reads listen addresses, proxies, TLS files and extra CAs.
func (e *reader) server(s *Settings) {
	for _, p := range strings.Split(e.get("ENTRAKIT_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			e.bad("ENTRAKIT_TRUSTED_PROXIES", "not an address or CIDR: %q", p)
		}
		s.TrustedProxies = append(s.TrustedProxies, p)
	}
	s.TLSCertFile, s.TLSKeyFile = e.get("ENTRAKIT_TLS_CERT_FILE"), e.get("ENTRAKIT_TLS_KEY_FILE")
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		e.bad("ENTRAKIT_TLS_KEY_FILE", "set both ENTRAKIT_TLS_CERT_FILE and ENTRAKIT_TLS_KEY_FILE, or neither")
	}
	if s.MetricsListen = e.get("ENTRAKIT_METRICS_LISTEN"); s.MetricsListen == "" {
		s.MetricsListen = "127.0.0.1:9464"
	}
	if s.SPAClientID = e.get("ENTRAKIT_SPA_CLIENT_ID"); s.SPAClientID != "" && !entra.IsGUID(s.SPAClientID) {
		e.bad("ENTRAKIT_SPA_CLIENT_ID", "want the SPA registration's application (client) id, a GUID, got %q", s.SPAClientID)
	}
	s.APIIdentifierURI = e.get("ENTRAKIT_API_IDENTIFIER_URI")
	for _, o := range strings.Split(e.get("ENTRAKIT_API_ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || o != u.Scheme+"://"+u.Host || u.Host == "" {
			e.bad("ENTRAKIT_API_ALLOWED_ORIGINS", "want origins such as https://app.example.com (no path, no trailing slash), got %q", o)
		}
		s.APIAllowedOrigins = append(s.APIAllowedOrigins, o)
	}
	for _, id := range strings.Split(e.get("ENTRAKIT_API_REPORT_CLIENTS"), ",") {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		if !entra.IsGUID(id) {
			e.bad("ENTRAKIT_API_REPORT_CLIENTS", "want client ids (GUIDs), got %q", id)
		}
		s.APIReportClients = append(s.APIReportClients, id)
	}
	s.DaemonConfig = e.get("ENTRAKIT_DAEMON_CONFIG")
	if s.DaemonListen = e.get("ENTRAKIT_DAEMON_LISTEN"); s.DaemonListen == "" {
		s.DaemonListen = "localhost:9090"
	}
	if s.DevTenantListen = e.get("ENTRAKIT_DEV_TENANT_LISTEN"); s.DevTenantListen == "" {
		s.DevTenantListen = "127.0.0.1:9443"
	}
	if s.CAFile = e.get("ENTRAKIT_CA_FILE"); s.CAFile != "" {
		pool, err := loadCAFile(s.CAFile)
		if err != nil {
			e.bad("ENTRAKIT_CA_FILE", "%v", err)
		}
		s.RootCAs = pool
	}
}

// entraErrors adds c's problems, each renamed to the variable that sets it.
func (e *reader) entraErrors(c entra.Config) {
	err := c.Validate()
	if err == nil {
		return
	}
	for _, ve := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *entra.FieldError
		if errors.As(ve, &fe) {
			e.errs = append(e.errs, fmt.Errorf("%s: %s", envName(fe.Field), envMessage(fe.Msg)))
		} else {
			e.errs = append(e.errs, ve)
		}
	}
}

func must(v string, _ bool) string { return v }

// fieldVars maps entra.Config field paths to the variables that set them.
var fieldVars = []struct{ field, env string }{
	{"Credential.ManagedIdentity.ClientID", "ENTRAKIT_MANAGED_IDENTITY"},
	{"Credential.ClientSecret", "AZURE_CLIENT_SECRET"},
	{"Credential.CertificatePath", "AZURE_CLIENT_CERTIFICATE_PATH"},
	{"Credential.CertificatePassword", "AZURE_CLIENT_CERTIFICATE_PASSWORD"},
	{"Credential.ClientAssertionFile", "AZURE_FEDERATED_TOKEN_FILE"},
	{"Cloud.AuthorityHost", "AZURE_AUTHORITY_HOST"},
	{"Cloud.GraphEndpoint", "ENTRAKIT_GRAPH_URL"},
	{"TenantID", "AZURE_TENANT_ID"},
	{"ClientID", "AZURE_CLIENT_ID"},
	{"RedirectURI", "ENTRAKIT_REDIRECT_URI"},
	{"AllowedTenants", "ENTRAKIT_ALLOWED_TENANTS"},
}

func envName(field string) string {
	if field == "Credential" {
		return "credential"
	}
	for _, fv := range fieldVars {
		if field == fv.field || strings.HasPrefix(field, fv.field+"[") {
			return fv.env
		}
	}
	return field
}

// envMessage rewrites Go field names inside a message into variable names.
func envMessage(msg string) string {
	for _, r := range []struct{ from, to string }{
		{"Credential.CertificatePath", "AZURE_CLIENT_CERTIFICATE_PATH"},
		{"ClientSecret", "AZURE_CLIENT_SECRET"},
		{"CertificatePath", "AZURE_CLIENT_CERTIFICATE_PATH"},
		{"ClientAssertionFile", "AZURE_FEDERATED_TOKEN_FILE"},
		{"ManagedIdentity", "ENTRAKIT_MANAGED_IDENTITY"},
		{"TenantID", "AZURE_TENANT_ID"},
	} {
		msg = strings.ReplaceAll(msg, r.from, r.to)
	}
	return msg
}

func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// Warnings lists settings Load accepts that a production deployment should
// not keep, for the binaries to log at start: a plaintext redis:// to a
// remote host (tokens and sessions cross the network in clear; use
// rediss://), and a PostgreSQL URL to a remote host whose sslmode does not
// verify the server (use sslmode=verify-full).
func Warnings(s Settings) []string {
	var out []string
	for _, r := range []struct{ name, url string }{{"ENTRAKIT_REDIS_URL", s.RedisURL}, {"ENTRAKIT_TOKEN_CACHE_URL", s.TokenCacheURL}} {
		u, err := url.Parse(r.url)
		if err != nil || u.Scheme != "redis" || isLocal(u.Hostname()) {
			continue
		}
		out = append(out, fmt.Sprintf("%s: plaintext redis:// to %s: sessions and tokens cross the network unencrypted; use rediss://", r.name, u.Hostname()))
	}
	if u, err := url.Parse(s.DatabaseURL); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") && !isLocal(u.Hostname()) {
		switch mode := u.Query().Get("sslmode"); mode {
		case "verify-full", "verify-ca":
		default:
			if mode == "" {
				mode = "unset (prefer)"
			}
			out = append(out, fmt.Sprintf("ENTRAKIT_DATABASE_URL: sslmode %s to %s does not verify the server; use sslmode=verify-full", mode, u.Hostname()))
		}
	}
	return out
}

// isLocal: loopback, or no host (a Unix socket).
func isLocal(host string) bool {
	if host == "" || strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
