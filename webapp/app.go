package webapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/gin-gonic/gin"
	lru "github.com/hashicorp/golang-lru/v2"
)

// App is the web app: build it with New, serve Handler (or Server).
type App struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	signIn    *entra.SignIn
	validator *entra.Validator
	keys      entra.KeySet
	metadata  *entra.Metadata
	tokens    *userTokens
	// signInLimit bounds the sign-ins one client address may start.
	signInLimit *windowLimiter
	buffers     sync.Pool // *bytes.Buffer for rendering
	sessions    *sessions
	graph       *graphapi.Client
	api         *api
	spa         *spa // nil without Config.SPAClientID
	metrics     *metrics
	pages       *pages
	handler     http.Handler
	proxies     []*net.IPNet
	// forwarding warns once of X-Forwarded-For with no trusted proxy.
	forwarding *forwardingWarning

	origin       string // scheme://host[:port] of the redirect URI
	signedOutURL string
	formPost     bool
	csp          string
	// scopeSets are the qualified scopes of a page's Graph call, by its
	// extra permission names, made once.
	scopeSets map[string][]string
	// flows records sign-ins for /dev/flow: nil outside dev mode
	// (Config.DevMode).
	flows *flowInspector
}

// Delegated Graph permissions the pages use. Sign-in asks for signInScopes;
// /directory asks for directoryScopes when it is first visited (incremental
// consent: User.Read.All needs an administrator's consent).
var (
	signInScopes    = []string{"User.Read"}
	directoryScopes = []string{"User.Read.All"}
)

var ginReleaseMode = sync.OnceFunc(func() { gin.SetMode(gin.ReleaseMode) })

// New builds the app: it reads the authority's discovery document (so the
// issuer and keys are Entra's, not guessed), and makes the MSAL clients.
func New(ctx context.Context, cfg Config) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg, signInStore := cfg.withDefaults()
	a := &App{cfg: cfg, log: cfg.Logger, now: cfg.Now, formPost: cfg.ResponseMode != "query"}
	ru, _ := url.Parse(cfg.Entra.RedirectURI)
	a.origin = ru.Scheme + "://" + ru.Host
	a.signedOutURL = a.origin + strings.TrimSuffix(ru.Path, "/auth/callback") + "/signedout"
	a.proxies = parseProxies(cfg.TrustedProxies)
	a.forwarding = &forwardingWarning{log: cfg.Logger}
	a.flows = newFlowInspector(a)

	v, md, err := entra.DiscoverValidator(ctx, cfg.Entra, cfg.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("webapp: %w", err)
	}
	a.validator, a.metadata, a.keys = v, md, v.Keys

	// One credential for every MSAL client (one per user, one per API
	// caller's token): a certificate parsed once, one managed identity
	// credential with its token cache.
	cred, err := entra.NewClientCredential(cfg.Entra, cfg.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("webapp: %w", err)
	}
	buildWith := func(hc *http.Client, acc cache.ExportReplace) (confidential.Client, error) {
		return entra.NewConfidentialClient(cfg.Entra, entra.ClientOptions{
			HTTPClient: hc, Cache: acc, Credential: &cred,
			// cp1: this app handles claims challenges, so Entra may issue
			// long-lived CAE tokens and revoke them at once when needed.
			Capabilities: []string{"cp1"},
		})
	}
	build := func(acc cache.ExportReplace) (confidential.Client, error) { return buildWith(cfg.HTTPClient, acc) }
	// The sign-in's client redeems the codes: in dev mode through the flow
	// inspector's recording transport.
	router, err := buildWith(a.flows.httpClient(cfg.HTTPClient), cfg.TokenCache.Router())
	if err != nil {
		return nil, fmt.Errorf("webapp: %w", err)
	}
	a.metrics = newMetrics(cfg.TokenCache.Metrics)
	a.tokens = newUserTokens(tokencache.NewClients(cfg.TokenCache, 0, build), a.metrics.tokens)
	// The API's on-behalf-of clients keep MSAL's cache in memory (one per
	// caller's token, bounded); oboTokens shares the tokens sealed.
	obo := newOBOTokens(cfg.TokenCache, func() (confidential.Client, error) { return build(nil) }, a.metrics.obo, cfg.Now)
	a.signInLimit = newWindowLimiter(30, time.Minute, cfg.Now)
	a.signIn = &entra.SignIn{Client: router, Config: cfg.Entra, Validator: v, Now: cfg.Now}
	decoded, _ := lru.New[string, decodedSession](10_000)
	a.sessions = &sessions{store: cfg.SessionStore, keys: cfg.Keys, idle: cfg.IdleTimeout, absolute: cfg.AbsoluteTimeout, now: cfg.Now, decoded: decoded, signIns: signInStore}

	graphHTTP := &http.Client{Transport: a.metrics.graphTransport(transportOf(cfg.HTTPClient)), Timeout: cfg.HTTPClient.Timeout}
	// No credential of its own: graphCall makes a view per request with
	// the session user's (userCredential).
	a.graph, err = graphapi.New(signedInOnly{}, graphapi.Options{
		BaseURL: cfg.GraphURL, HTTPClient: graphHTTP, UserAgent: "entrakit-webapp",
		Scopes: a.graphScopes(signInScopes), Now: cfg.Now,
		// A person is waiting: retry briefly, then answer 503 with
		// Graph's Retry-After rather than hold the request.
		MaxRetryWait: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("webapp: %w", err)
	}
	if a.pages, err = parsePages(); err != nil {
		return nil, err
	}
	// form-action must allow the authority: the sign-out form's answer
	// redirects there, and browsers apply form-action to redirects.
	a.csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self' " + a.authorityOrigin() +
		"; frame-ancestors 'none'; base-uri 'none'"
	a.scopeSets = map[string][]string{}
	for _, extra := range [][]string{nil, directoryScopes} {
		a.scopeSets[strings.Join(extra, " ")] = a.graphScopes(append(append([]string(nil), signInScopes...), extra...))
	}
	a.api = newAPI(a, obo)
	a.spa = newSPA(a)
	a.handler = a.routes()
	return a, nil
}

// parseProxies reads TrustedProxies (validated): CIDRs, or addresses as
// one-address networks.
func parseProxies(list []string) []*net.IPNet {
	var out []*net.IPNet
	for _, p := range list {
		if !strings.Contains(p, "/") {
			if strings.Contains(p, ":") {
				p += "/128"
			} else {
				p += "/32"
			}
		}
		_, n, _ := net.ParseCIDR(p)
		out = append(out, n)
	}
	return out
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// graphScopes qualifies Graph permission names with the Graph resource.
func (a *App) graphScopes(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = a.cfg.GraphResource + "/" + n
	}
	return out
}

// Handler serves the app.
func (a *App) Handler() http.Handler { return a.handler }

// Server is an http.Server for the app with bounded sizes and timeouts.
func (a *App) Server(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // a Graph retry may wait
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// Ready reports whether the app can serve sign-ins: the issuer's keys are
// loaded (or loadable) and the token cache and session stores answer.
func (a *App) Ready(ctx context.Context) error {
	var errs []error
	if _, err := a.keys.VerificationKeys(ctx, ""); err != nil {
		errs = append(errs, fmt.Errorf("signing keys: %w", err))
	}
	if err := a.sessions.Ping(ctx); err != nil {
		errs = append(errs, fmt.Errorf("session store: %w", err))
	}
	if _, _, err := a.cfg.TokenCache.Store.Get(ctx, "readyz"); err != nil && !errors.Is(err, tokencache.ErrNotFound) {
		errs = append(errs, fmt.Errorf("token cache store: %w", err))
	}
	return errors.Join(errs...)
}

// Metrics is the app's Prometheus handler. The web app does not serve it on
// its own listener (metrics tell sign-in outcomes and process details):
// cmd/webapp serves it on ENTRAKIT_METRICS_LISTEN, loopback by default.
func (a *App) Metrics() http.Handler { return a.metrics.handler() }

// secureRequest: TLS here, or https at a trusted proxy in front.
func (a *App) secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return a.fromTrustedProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (a *App) fromTrustedProxy(r *http.Request) bool {
	if len(a.proxies) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	for _, n := range a.proxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
