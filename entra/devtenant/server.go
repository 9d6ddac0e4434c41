package devtenant

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
	"github.com/entrakit/entrakit/entra/devtenant/fault"
	"github.com/entrakit/entrakit/entra/devtenant/graph"
	"github.com/entrakit/entrakit/entra/devtenant/identity"
	"github.com/entrakit/entrakit/entra/devtenant/workload"
)

// Options configure a dev tenant. The zero value is usable except for
// Manifest, which is required (infra.AppRegistration() in entrakit's binaries).
type Options struct {
	// Manifest is the app-registration manifest (infra/app-registration.json).
	Manifest []byte
	// Addr is the listen address; default "127.0.0.1:0" (a free loopback port).
	Addr string
	// GraphAddr is the Microsoft Graph emulator's listen address; default
	// "127.0.0.1:0".
	GraphAddr string
	// GraphBudget is each app's Graph request budget per GraphBudgetWindow
	// (429 with Retry-After beyond it); default 10,000 per 10 s.
	GraphBudget       int
	GraphBudgetWindow time.Duration
	// StateDir keeps the CA across starts, so a browser trusts it once.
	// Empty: a fresh CA per start.
	StateDir string
	// TenantID and Domain default to DefaultTenantID and DefaultDomain.
	TenantID string
	Domain   string
	// Logger receives the request log (no secrets in it); default: discard.
	Logger *slog.Logger
	// Now is the clock; default time.Now. SetClock shifts it further.
	Now func() time.Time
	// KeyGrace is how long a retired signing key stays in the JWKS; default 24h.
	KeyGrace time.Duration
	// AccessTokenLifetime, when set, is the lifetime of every access token
	// (as a token lifetime policy would set it; Entra allows 10 min to 1 day,
	// the emulator anything, so tests can make tokens expire during a run).
	AccessTokenLifetime time.Duration
	// MSIAddr is the listen address of the managed identity endpoint (plain
	// HTTP, as App Service's; see [Server.ManagedIdentity]); default
	// "127.0.0.1:0".
	MSIAddr string
	// OIDCClient fetches external OIDC issuers' discovery documents and keys
	// for federated identity credentials; default: a client trusting the
	// system roots and the dev tenant's CA.
	OIDCClient *http.Client
	// PersonaPicker lists the personas on the sign-in page, one button each,
	// which signs that persona in without a password: one-click sign-in for
	// a developer (internal/devmode and cmd/devtenant turn it on). Whoever
	// reaches the page can then sign in as anyone, so New logs a warning.
	// Off, the page is Entra's username and password form alone, as tests
	// expect.
	PersonaPicker bool
	// SigningKeyFile, when set, keeps the token signing key across starts
	// (PEM, created 0600 at the first), so tokens an earlier start issued
	// still validate: for clients whose token cache outlives the process,
	// like cmd/daemon's in dev mode. Empty: new keys on every start.
	SigningKeyFile string
}

// Server is a running (or ready to run) dev tenant: the tenant model (the
// embedded [directory.Directory]: users, groups, apps, consent), the
// identity endpoints ([identity.Provider]) and the Graph emulator
// ([graph.Server]), each on its own listener, with the tenant's CA.
type Server struct {
	*directory.Directory
	// guestHome is Fabrikam, the second tenant on the same server: the
	// guest's home, for multi-tenant apps and B2B.
	guestHome *directory.Directory

	opts        Options
	log         *slog.Logger
	ca          *certAuthority
	adminKey    string
	idp         *identity.Provider
	graph       *graph.Server
	workload    *workload.Issuer
	faults      fault.Set
	clockOffset atomic.Int64 // nanoseconds added to Options.Now (AdvanceClock)
	handler     http.Handler

	// mu guards the listen URLs and the servers. Nothing is called while
	// it is held: identity and Graph read the URLs under their own locks.
	mu       sync.Mutex
	url      string
	graphURL string
	servers  []*http.Server
}

// New builds a dev tenant from opts: CA, signing keys, directory, apps with a
// fresh client secret each, and the admin consent the manifest asks for.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if !directory.IsGUID(opts.TenantID) {
		return nil, fmt.Errorf("devtenant: TenantID is not a GUID: %q", opts.TenantID)
	}
	if len(opts.Manifest) == 0 {
		return nil, errors.New("devtenant: Options.Manifest is required (infra/app-registration.json)")
	}
	m, err := ParseManifest(opts.Manifest)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log, adminKey: rand.Text() + rand.Text()}
	if s.ca, err = loadOrCreateCA(opts.StateDir, opts.Now()); err != nil {
		return nil, fmt.Errorf("devtenant: CA: %w", err)
	}
	s.Directory, err = directory.New(directory.Config{Manifest: m, TenantID: strings.ToLower(opts.TenantID),
		Domain: strings.ToLower(opts.Domain), Now: s.now})
	if err != nil {
		return nil, err
	}
	s.guestHome, err = directory.New(directory.Config{Manifest: &directory.Manifest{}, TenantID: directory.GuestHomeTenantID,
		Domain: GuestHomeDomain, Now: s.now, GuestHome: true})
	if err != nil {
		return nil, err
	}
	s.idp, err = identity.New(identity.Config{Directory: s.Directory, Tenants: []*directory.Directory{s.guestHome}, Faults: &s.faults, Logger: log, Now: s.now,
		URL: s.URL, GraphURL: s.GraphURL, KeyGrace: opts.KeyGrace, AccessTokenLifetime: opts.AccessTokenLifetime,
		OIDCClient: opts.OIDCClient, CA: s.ca.cert, PersonaPicker: opts.PersonaPicker,
		SigningKeyFile: opts.SigningKeyFile})
	if err != nil {
		return nil, err
	}
	if opts.PersonaPicker {
		log.Warn("devtenant: persona picker on: the sign-in page signs any persona in with one click, no password (development only)")
	}
	s.graph = graph.New(graph.Config{Directory: s.Directory, Tenants: []*directory.Directory{s.guestHome}, Identity: s.idp, Faults: &s.faults, Now: s.now, URL: s.GraphURL,
		Budget: opts.GraphBudget, BudgetWindow: opts.GraphBudgetWindow})
	s.workload = workload.New(s.URL, s.now)
	mux := http.NewServeMux()
	s.idp.Routes(mux)
	s.workload.Routes(mux)
	adminRoutes(s, mux)
	s.handler = logRequests(log, mux)
	return s, nil
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.GraphAddr == "" {
		o.GraphAddr = "127.0.0.1:0"
	}
	if o.MSIAddr == "" {
		o.MSIAddr = "127.0.0.1:0"
	}
	if o.GraphBudget == 0 {
		o.GraphBudget = 10_000
	}
	if o.GraphBudgetWindow == 0 {
		o.GraphBudgetWindow = 10 * time.Second
	}
	if o.TenantID == "" {
		o.TenantID = DefaultTenantID
	}
	if o.Domain == "" {
		o.Domain = DefaultDomain
	}
	if o.KeyGrace == 0 {
		o.KeyGrace = 24 * time.Hour
	}
}

// Start listens on Options.Addr (identity, HTTPS), Options.GraphAddr
// (Graph, HTTPS) and Options.MSIAddr (managed identity, plain HTTP as App
// Service's) and serves until Close.
func (s *Server) Start() error {
	leaf, err := s.ca.leaf(s.opts.Now())
	if err != nil {
		return err
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	var lns []net.Listener
	listen := func(addr, what string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("devtenant: %slisten: %w", what, err)
		}
		lns = append(lns, ln)
		return ln, nil
	}
	ln, err := listen(s.opts.Addr, "")
	if err != nil {
		return err
	}
	gln, err := listen(s.opts.GraphAddr, "graph ")
	if err != nil {
		return err
	}
	mln, err := listen(s.opts.MSIAddr, "managed identity ")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.url = fmt.Sprintf("https://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	s.graphURL = fmt.Sprintf("https://localhost:%d", gln.Addr().(*net.TCPAddr).Port)
	s.mu.Unlock()
	addr := mln.Addr().(*net.TCPAddr)
	host := "127.0.0.1"
	if !addr.IP.IsUnspecified() {
		host = addr.IP.String()
	}
	s.idp.ManagedIdentity().SetURL("http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port)))
	s.serve(ln, s.handler, tlsConfig, 60*time.Second)
	s.serve(gln, logRequests(s.log, s.graph.Handler()), tlsConfig, 120*time.Second)
	s.serve(mln, logRequests(s.log, s.idp.ManagedIdentity().Handler()), nil, 60*time.Second)
	return nil
}

// serve runs one server on ln (TLS when tlsConfig is set) until Close.
func (s *Server) serve(ln net.Listener, h http.Handler, tlsConfig *tls.Config, writeTimeout time.Duration) {
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig.Clone(), // each server adds its own NextProtos
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	if tlsConfig != nil {
		go func() { _ = srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { _ = srv.Serve(ln) }()
	}
}

// Close stops the servers. An emulator has nothing to drain: it closes at
// once rather than wait for clients' idle keep-alive connections.
func (s *Server) Close() error {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Close())
	}
	return errors.Join(errs...)
}

// URL is the authority host, e.g. https://localhost:41234 (no trailing slash).
// Set by Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// GraphURL is the Microsoft Graph emulator's root, e.g.
// https://localhost:41235; the API is under /v1.0. Set by Start.
func (s *Server) GraphURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.graphURL
}

// GraphHandler is the Graph emulator's handler (in-process use, benchmarks).
func (s *Server) GraphHandler() http.Handler { return s.graph.Handler() }

// Handler is the identity endpoints' handler, with the admin API (in-process
// use and benchmarks).
func (s *Server) Handler() http.Handler { return s.handler }

// Authority is URL()/TenantID(), what MSAL and azidentity are given.
func (s *Server) Authority() string { return s.URL() + "/" + s.TenantID() }

// Issuer is the v2.0 issuer of this tenant's tokens.
func (s *Server) Issuer() string { return s.idp.Issuer() }

// CACertPEM is the CA certificate in PEM, to write where clients look for it.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.ca.certPEM...) }

// CertPool holds the dev tenant's CA and nothing else.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.ca.cert)
	return p
}

// Client returns an HTTP client that trusts the dev tenant's CA.
func (s *Server) Client() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 16,
			ForceAttemptHTTP2:   true,
		},
	}
}

// AdminKey guards the admin HTTP API (Authorization: Bearer <key>).
func (s *Server) AdminKey() string { return s.adminKey }

// now is the tenant's clock: Options.Now plus AdvanceClock's offset.
func (s *Server) now() time.Time {
	return s.opts.Now().Add(time.Duration(s.clockOffset.Load()))
}

// AdvanceClock moves the tenant's clock forward by d (or back, if negative).
func (s *Server) AdvanceClock(d time.Duration) { s.clockOffset.Add(int64(d)) }

// RevokeUser revokes the user's refresh tokens and SSO sessions, as
// revokeSignInSessions does: the next refresh fails with AADSTS50173, and
// Graph challenges the access tokens of CAE-capable (CP1) clients at once
// (401 insufficient_claims) instead of waiting for them to expire.
func (s *Server) RevokeUser(id string) error {
	if err := s.Directory.RevokeSessions(id); err != nil {
		return err
	}
	s.idp.RevokeUser(strings.ToLower(id))
	return nil
}

// DeleteUser deletes a user as Entra does, softly: they move to the deleted
// items for 30 days of the tenant's clock (Graph delta reports them
// @removed "changed"; PermanentlyDeleteUser ends it early), and lose their
// refresh tokens and sessions.
func (s *Server) DeleteUser(id string) error {
	if err := s.Directory.DeleteUser(id); err != nil {
		return err
	}
	s.idp.ForgetUser(strings.ToLower(id))
	return nil
}

// RotateKeys rotates the signing keys now: the published next key starts
// signing, the current one is retired (still published for KeyGrace).
func (s *Server) RotateKeys() error { return s.idp.RotateKeys() }

// SigningKeyID is the kid of the key that signs now.
func (s *Server) SigningKeyID() string { return s.idp.SigningKeyID() }

// InjectFault adds f; faults apply in the order they were added.
func (s *Server) InjectFault(f Fault) { s.faults.Add(f) }

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() { s.faults.Clear() }

// WorkloadIssuer is the issuer URL of the dev tenant's workload identity
// provider (https://localhost:PORT/workload, set by Start): register it as
// the issuer of a federated identity credential (AddFederatedCredential)
// and present tokens from [Server.IssueWorkloadToken]. Its discovery
// document is at WorkloadIssuer()+"/.well-known/openid-configuration".
func (s *Server) WorkloadIssuer() string { return s.workload.URL() }

// IssueWorkloadToken signs a token of the workload issuer for subject and
// audience (default api://AzureADTokenExchange), valid for lifetime
// (default 1 h), like a Kubernetes projected service-account token.
func (s *Server) IssueWorkloadToken(subject, audience string, lifetime time.Duration) (string, error) {
	return s.workload.IssueToken(subject, audience, lifetime)
}

// statusRecorder captures the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// logRequests logs method, path (never the query: it carries codes and
// state), status and duration.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if log.Enabled(r.Context(), slog.LevelInfo) {
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)),
				slog.String("client_request_id", identity.ClientRequestID(r)))
		}
	})
}
