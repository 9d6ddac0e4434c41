package devtenant

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
}

// Server is a running (or ready to run) dev tenant.
type Server struct {
	opts     Options
	log      *slog.Logger
	tenantID string
	domain   string
	ca       *certAuthority
	adminKey string
	handler  http.Handler

	ln           net.Listener
	httpSrv      *http.Server
	url          string
	graphSrv     *http.Server
	graphURL     string
	graphHandler http.Handler
	graph        *graphState // guarded by mu

	clockOffset atomic.Int64 // nanoseconds added to Options.Now (AdvanceClock)
	lastSweep   time.Time    // guarded by mu

	mu            sync.Mutex
	keys          keyRing
	users         map[string]*User
	upn           map[string]string // lower-case UPN -> user id
	groups        map[string]*Group
	apps          map[string]*app // by lower-case appId
	grants        map[grantKey]map[string]bool
	appRoleGrants map[[2]string]map[string]bool // {client, resource} -> role values
	codes         map[string]*authCode
	refreshTokens map[string]*refreshGrant
	sessions      map[string]*ssoSession
	pending       map[string]*authRequest
	assertionJTIs map[string]time.Time
	faults        []*Fault
	secrets       map[string]string // appId -> the secret generated at start (for env files)
	// roleApp is the app whose user roles User.AppRoles holds: the first in
	// the manifest that defines roles for users (entrakit's web app).
	roleApp string
	mi      *miState        // managed identities (managedidentity.go)
	fed     *federation     // federated identity credentials (federation.go)
	wl      *workloadIssuer // the workload OIDC issuer (workload.go)
}

// New builds a dev tenant from opts: CA, signing keys, directory, apps with a
// fresh client secret each, and the admin consent the manifest asks for.
func New(opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.GraphAddr == "" {
		opts.GraphAddr = "127.0.0.1:0"
	}
	if opts.GraphBudget == 0 {
		opts.GraphBudget = 10_000
	}
	if opts.GraphBudgetWindow == 0 {
		opts.GraphBudgetWindow = 10 * time.Second
	}
	if opts.TenantID == "" {
		opts.TenantID = DefaultTenantID
	}
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if opts.KeyGrace == 0 {
		opts.KeyGrace = 24 * time.Hour
	}
	if opts.MSIAddr == "" {
		opts.MSIAddr = "127.0.0.1:0"
	}
	if !isGUID(opts.TenantID) {
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
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		opts:          opts,
		log:           log,
		tenantID:      strings.ToLower(opts.TenantID),
		domain:        strings.ToLower(opts.Domain),
		adminKey:      randomString(32),
		apps:          map[string]*app{},
		grants:        map[grantKey]map[string]bool{},
		appRoleGrants: map[[2]string]map[string]bool{},
		codes:         map[string]*authCode{},
		refreshTokens: map[string]*refreshGrant{},
		sessions:      map[string]*ssoSession{},
		pending:       map[string]*authRequest{},
		assertionJTIs: map[string]time.Time{},
		secrets:       map[string]string{},
	}
	now := opts.Now()
	if s.ca, err = loadOrCreateCA(opts.StateDir, now); err != nil {
		return nil, fmt.Errorf("devtenant: CA: %w", err)
	}
	cur, err := newSigningKey(now)
	if err != nil {
		return nil, err
	}
	next, err := newSigningKey(now)
	if err != nil {
		return nil, err
	}
	s.keys = keyRing{current: cur, next: next, grace: opts.KeyGrace}
	s.users, s.groups = newDirectory(s.domain, func() string { return randomPassword() })
	s.upn = map[string]string{}
	for id, u := range s.users {
		s.upn[strings.ToLower(u.UserPrincipalName)] = id
	}
	for _, a := range m.Applications {
		s.addApp(a)
		for _, r := range a.AppRoles {
			if s.roleApp == "" && slices.Contains(r.AllowedMemberTypes, "User") {
				s.roleApp = strings.ToLower(a.AppID)
			}
		}
	}
	s.grantManifestConsent(m)
	s.initManagedIdentities()
	s.fed = newFederation(opts.OIDCClient, s.ca.cert)
	s.wl = newWorkloadIssuer()
	s.graph = newGraphState(s, now)
	s.handler = s.routes()
	s.graphHandler = s.graphRoutes()
	return s, nil
}

// Start listens on Options.Addr and serves HTTPS until Close.
func (s *Server) Start() error {
	leaf, err := s.ca.leaf(s.opts.Now())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("devtenant: listen: %w", err)
	}
	s.ln = ln
	port := ln.Addr().(*net.TCPAddr).Port
	s.mu.Lock()
	s.url = fmt.Sprintf("https://localhost:%d", port)
	s.mu.Unlock()
	s.httpSrv = &http.Server{
		Handler:           s.handler,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() { _ = s.httpSrv.ServeTLS(ln, "", "") }()

	gln, err := net.Listen("tcp", s.opts.GraphAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("devtenant: graph listen: %w", err)
	}
	s.mu.Lock()
	s.graphURL = fmt.Sprintf("https://localhost:%d", gln.Addr().(*net.TCPAddr).Port)
	s.mu.Unlock()
	s.graphSrv = &http.Server{
		Handler:           s.logRequests(s.graphHandler),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() { _ = s.graphSrv.ServeTLS(gln, "", "") }()
	if err := s.startMSI(); err != nil {
		ln.Close()
		gln.Close()
		return err
	}
	return nil
}

// GraphURL is the Microsoft Graph emulator's root, e.g.
// https://localhost:41235; the API is under /v1.0. Set by Start.
func (s *Server) GraphURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.graphURL
}

// GraphHandler is the Graph emulator's handler (in-process use, benchmarks).
func (s *Server) GraphHandler() http.Handler { return s.graphHandler }

// Close stops the server.
func (s *Server) Close() error {
	if s.httpSrv == nil {
		return nil
	}
	// An emulator has nothing to drain: close at once rather than wait for
	// clients' idle keep-alive connections.
	if s.graphSrv != nil {
		_ = s.graphSrv.Close()
	}
	if s.mi.srv != nil {
		_ = s.mi.srv.Close()
	}
	return s.httpSrv.Close()
}

// URL is the authority host, e.g. https://localhost:41234 (no trailing slash).
// Set by Start.
func (s *Server) URL() string { return s.baseURL() }

func (s *Server) baseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// TenantID is the tenant's id.
func (s *Server) TenantID() string { return s.tenantID }

// Domain is the tenant's verified domain.
func (s *Server) Domain() string { return s.domain }

// Authority is URL()/TenantID(), what MSAL and azidentity are given.
func (s *Server) Authority() string { return s.URL() + "/" + s.tenantID }

// Issuer is the v2.0 issuer of this tenant's tokens.
func (s *Server) Issuer() string { return s.URL() + "/" + s.tenantID + "/v2.0" }

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

// Handler is the server's HTTP handler (for in-process use and benchmarks).
func (s *Server) Handler() http.Handler { return s.handler }

// AdminKey guards the admin HTTP API (Authorization: Bearer <key>).
func (s *Server) AdminKey() string { return s.adminKey }

// ClientSecret returns the secret generated at start for appID ("" if the app
// has no password credential).
func (s *Server) ClientSecret(appID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.secrets[strings.ToLower(appID)]
}

// Applications lists the registered apps.
func (s *Server) Applications() []Application {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Application
	for _, a := range s.apps {
		out = append(out, a.Application)
	}
	return out
}

func (s *Server) now() time.Time {
	return s.opts.Now().Add(time.Duration(s.clockOffset.Load()))
}

// sweep drops expired authorize requests, codes, sessions and refresh
// tokens, at most once a minute, so state cannot grow without bound (the
// authorize endpoint takes anonymous requests). Caller holds s.mu.
func (s *Server) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < time.Minute && now.After(s.lastSweep) {
		return
	}
	s.lastSweep = now
	for k, p := range s.pending {
		if now.After(p.expires) {
			delete(s.pending, k)
		}
	}
	for k, c := range s.codes {
		if now.After(c.expires.Add(codeLifetime)) { // kept a while to detect replays
			delete(s.codes, k)
		}
	}
	for k, sess := range s.sessions {
		if now.After(sess.expires) {
			delete(s.sessions, k)
		}
	}
	for k, g := range s.refreshTokens {
		if now.After(g.expires) {
			delete(s.refreshTokens, k)
		}
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.handleDiscovery)
	mux.HandleFunc("GET /discovery/v2.0/keys", s.handleJWKS)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.handleJWKS)
	mux.HandleFunc("GET /common/discovery/instance", s.handleInstanceDiscovery)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /{tenant}/login", s.handleLogin)
	mux.HandleFunc("POST /{tenant}/consent", s.handleConsent)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.handleToken)
	mux.HandleFunc("OPTIONS /{tenant}/oauth2/v2.0/token", s.handleCORSPreflight)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/logout", s.handleLogout)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/logout", s.handleLogout)
	mux.HandleFunc("GET /error", s.handleErrorInfo)
	s.workloadRoutes(mux)
	s.adminRoutes(mux)
	return s.logRequests(mux)
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
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if s.log.Enabled(r.Context(), slog.LevelInfo) {
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)),
				slog.String("client_request_id", r.Header.Get("client-request-id")))
		}
	})
}

func (s *Server) logErr(r *http.Request, e *aadError) {
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "aadsts error",
		slog.String("path", r.URL.Path), slog.Int("aadsts", e.code), slog.String("error", e.err))
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomPassword is easy to type: four groups of letters and digits.
func randomPassword() string {
	return "Dev-" + rand.Text()[:16]
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
