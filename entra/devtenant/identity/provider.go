package identity

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
	"github.com/entrakit/entrakit/entra/devtenant/fault"
)

// graphHost is Graph's public host: tokens for Graph name it in aud.
const graphHost = "https://graph.microsoft.com"

// Config is what a Provider needs from the dev tenant that hosts it.
type Config struct {
	// Directory is the home tenant (Contoso): the manifest's apps, the
	// managed identities. Tenants are the others hosted on the same server
	// (Fabrikam), reachable by their id or domain.
	Directory *directory.Directory
	Tenants   []*directory.Directory
	Faults    *fault.Set
	Logger    *slog.Logger
	// Now is the tenant's clock (with AdvanceClock's offset).
	Now func() time.Time
	// URL is the authority host (https://localhost:PORT): issuers and
	// endpoints name it; "" before the tenant listens. It is called under
	// the provider's lock.
	URL func() string
	// GraphURL is the Graph emulator's root, for discovery's
	// userinfo_endpoint and msgraph_host; "" before it listens.
	GraphURL func() string
	// KeyGrace is how long a retired signing key stays in the JWKS.
	KeyGrace time.Duration
	// AccessTokenLifetime, when set, is the lifetime of every access token.
	AccessTokenLifetime time.Duration
	// MSIAddr is the managed identity endpoint's listen address.
	MSIAddr string
	// OIDCClient fetches external issuers' keys for federated credentials;
	// nil: a client trusting the system roots and CA.
	OIDCClient *http.Client
	CA         *x509.Certificate
	// PersonaPicker lists the personas on the sign-in page, each a button
	// that signs them in without a password (dev mode).
	PersonaPicker bool
	// SigningKeyFile, when set, keeps the first signing key across starts
	// (see loadOrCreateSigningKey); "": fresh keys per start.
	SigningKeyFile string
}

// Provider is the identity side of the dev tenant: Entra ID's v2.0
// endpoints, the managed identity endpoint and the workload issuer.
type Provider struct {
	cfg    Config
	dir    *directory.Directory
	log    *slog.Logger
	faults *fault.Set
	fed    *federation

	mu sync.Mutex
	// tenants are the directories, locked while mu is held by lock: the
	// endpoints read the model and change their own state in one critical
	// section. Its tx (p.tx) is the tenant the request is for.
	tenants
	keys keyRing
	mi   *MSIEndpoint
	flows
}

// flows is the state of sign-ins and grants in progress: authorize requests
// waiting for the user, codes, SSO sessions, refresh tokens and device
// authorizations (by device code and by user code). Guarded by Provider.mu.
type flows struct {
	codes         map[string]*authCode
	refreshTokens map[string]*refreshGrant
	sessions      map[string]*ssoSession
	pending       map[string]*authRequest
	deviceCodes   map[string]*deviceAuth
	userCodes     map[string]*deviceAuth
	lastSweep     time.Time
}

// New makes a Provider with fresh signing keys (the current one kept in
// cfg.SigningKeyFile when set).
func New(cfg Config) (*Provider, error) {
	if cfg.Directory == nil || cfg.Now == nil || cfg.Faults == nil {
		return nil, errors.New("devtenant: identity: Directory, Faults and Now are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	notListening := func() string { return "" }
	if cfg.URL == nil {
		cfg.URL = notListening
	}
	if cfg.GraphURL == nil {
		cfg.GraphURL = notListening
	}
	p := &Provider{
		cfg: cfg, dir: cfg.Directory, log: cfg.Logger, faults: cfg.Faults,
		tenants: tenants{dirs: append([]*directory.Directory{cfg.Directory}, cfg.Tenants...), txs: map[string]directory.Tx{}},
		flows: flows{
			codes:         map[string]*authCode{},
			refreshTokens: map[string]*refreshGrant{},
			sessions:      map[string]*ssoSession{},
			pending:       map[string]*authRequest{},
			deviceCodes:   map[string]*deviceAuth{},
			userCodes:     map[string]*deviceAuth{},
		},
	}
	now := cfg.Now()
	cur, err := loadOrCreateSigningKey(cfg.SigningKeyFile, now)
	if err != nil {
		return nil, err
	}
	next, err := newSigningKey(now)
	if err != nil {
		return nil, err
	}
	p.keys = keyRing{current: cur, next: next, grace: cfg.KeyGrace}
	p.fed = newFederation(cfg.OIDCClient, cfg.CA)
	p.mi = &MSIEndpoint{p: p, header: randomString(32)}
	return p, nil
}

// lock takes the provider's lock, then each tenant's directory lock, home
// first (always in this order), and returns the home tenant's Tx, also kept
// in p.tx.
func (p *Provider) lock() directory.Tx {
	p.mu.Lock()
	return p.lockAll()
}

func (p *Provider) unlock() {
	p.unlockAll()
	p.mu.Unlock()
}

func (p *Provider) baseURL() string { return p.cfg.URL() }

// Issuer is the v2.0 issuer of the tenant's tokens.
func (p *Provider) Issuer() string { return p.baseURL() + "/" + p.dir.TenantID() + "/v2.0" }

// Routes registers the identity endpoints on mux.
func (p *Provider) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", p.handleDiscovery)
	mux.HandleFunc("GET /discovery/v2.0/keys", p.handleJWKS)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", p.handleJWKS)
	mux.HandleFunc("GET /common/discovery/instance", p.handleInstanceDiscovery)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", p.handleAuthorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/authorize", p.handleAuthorize)
	mux.HandleFunc("POST /{tenant}/login", p.pageForm(false, p.handleLogin))
	mux.HandleFunc("POST /{tenant}/consent", p.pageForm(true, p.handleConsent))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", p.handleToken)
	device := deviceFlow{p}
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", device.handleDeviceCode)
	mux.HandleFunc("GET /devicelogin", device.handleDeviceLogin)
	mux.HandleFunc("POST /devicelogin", device.handleDeviceLogin)
	mux.HandleFunc("POST /devicelogin/confirm", p.pageForm(true, device.handleDeviceConfirm))
	mux.HandleFunc("OPTIONS /{tenant}/oauth2/v2.0/token", handleCORSPreflight)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/logout", p.handleLogout)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/logout", p.handleLogout)
	mux.HandleFunc("GET /error", handleErrorInfo)
}

// RotateKeys rotates the signing keys now: the published next key starts
// signing, the current one is retired (still published for KeyGrace).
func (p *Provider) RotateKeys() error {
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys.rotate(now)
}

// SigningKeyID is the kid of the key that signs now.
func (p *Provider) SigningKeyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys.current.kid
}

// RevokeUser revokes the user's refresh tokens and ends their SSO sessions
// (the directory records the revocation time for Graph).
func (p *Provider) RevokeUser(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.refreshTokens {
		if g.userID == id {
			g.revoked = true
		}
	}
	for k, sess := range p.sessions {
		if sess.userID == id {
			delete(p.sessions, k)
		}
	}
}

// ForgetUser drops a deleted user's refresh tokens and SSO sessions.
func (p *Provider) ForgetUser(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, g := range p.refreshTokens {
		if g.userID == id {
			delete(p.refreshTokens, k)
		}
	}
	for k, sess := range p.sessions {
		if sess.userID == id {
			delete(p.sessions, k)
		}
	}
}

// sweep drops expired authorize requests, codes, sessions and refresh
// tokens, at most once a minute, so state cannot grow without bound (the
// authorize endpoint takes anonymous requests).
func (f *flows) sweep(now time.Time) {
	if now.Sub(f.lastSweep) < time.Minute && now.After(f.lastSweep) {
		return
	}
	f.lastSweep = now
	for k, r := range f.pending {
		if now.After(r.expires) {
			delete(f.pending, k)
		}
	}
	for k, c := range f.codes {
		if now.After(c.expires.Add(codeLifetime)) { // kept a while to detect replays
			delete(f.codes, k)
		}
	}
	for k, sess := range f.sessions {
		if now.After(sess.expires) {
			delete(f.sessions, k)
		}
	}
	for k, g := range f.refreshTokens {
		if now.After(g.expires) {
			delete(f.refreshTokens, k)
		}
	}
	for k, d := range f.deviceCodes {
		if now.After(d.expires.Add(deviceCodeRetention)) {
			delete(f.deviceCodes, k)
			delete(f.userCodes, d.userCode)
		}
	}
}

func logAADError(log *slog.Logger, r *http.Request, e *aadError) {
	log.LogAttrs(r.Context(), slog.LevelInfo, "aadsts error",
		slog.String("path", r.URL.Path), slog.Int("aadsts", e.code), slog.String("error", e.err))
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
