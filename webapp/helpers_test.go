package webapp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant"
	"github.com/entrakit/entrakit/entra/devtenant/devtenanttest"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/devmode"
	"github.com/entrakit/entrakit/internal/testlog"
	"github.com/entrakit/entrakit/webapp"
)

var webAppID = infra.Apps().WebApp

// tenant is a dev tenant started for one test.
type tenant struct {
	srv *devtenant.Server
	log *testlog.Buffer
}

// startTenant starts a dev tenant whose request log a test can read.
func startTenant(t testing.TB) *tenant {
	t.Helper()
	log := &testlog.Buffer{}
	srv := devtenanttest.Start(t, func(o *devtenant.Options) { o.Logger = slog.New(slog.NewJSONHandler(log, nil)) })
	return &tenant{srv: srv, log: log}
}

// appOptions vary an app instance in tests.
type appOptions struct {
	ResponseMode string
	SessionStore tokencache.Store
	TokenStore   tokencache.Store
	Keys         *tokencache.KeyRing
	Now          func() time.Time
	Idle         time.Duration
	Absolute     time.Duration
	NoDevTenant  bool
	Proxies      []string
	// APIOrigins are the extra origins allowed to call /api/ (CORS).
	APIOrigins []string
	// ReportClients is Config.APIReportClients.
	ReportClients []string
	// Logger replaces the captured log (benchmarks discard it).
	Logger *slog.Logger
	// DevMode is Config.DevMode: what cmd/webapp sets in dev mode.
	DevMode *webapp.DevModeInfo
	// Transport, given the dev tenant's transport, returns the app's.
	Transport func(http.RoundTripper) http.RoundTripper
}

// app is one web app instance served on a loopback port.
type app struct {
	*webapp.App
	t      *tenant
	URL    string // http://localhost:<port>
	server *httptest.Server
	log    *testlog.Buffer
	cache  *tokencache.Cache
}

// startApp serves a web app against tt on http://localhost:<free port>
// (the port of a loopback redirect URI is ignored, as Entra does).
func startApp(t testing.TB, tt *tenant, o appOptions) *app {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	if o.Keys == nil {
		o.Keys, _ = tokencache.ParseKeyRing(tokencache.GenerateKey())
	}
	if o.TokenStore == nil {
		o.TokenStore = tokencache.NewMemoryStore(tokencache.MemoryOptions{})
	}
	log := &testlog.Buffer{}
	logger := slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.Logger != nil {
		logger = o.Logger
	}
	tc := &tokencache.Cache{Store: o.TokenStore, Keys: o.Keys, Logger: logger, Metrics: &tokencache.Metrics{}}
	hc := devmode.HTTPClient(tt.srv, nil, 30*time.Second)
	if o.Transport != nil {
		hc.Transport = o.Transport(hc.Transport)
	}
	cfg := webapp.Config{
		Entra:             devmode.WebAppConfig(tt.srv, base+"/auth/callback"),
		GraphURL:          tt.srv.GraphURL(),
		HTTPClient:        hc,
		TokenCache:        tc,
		SessionStore:      o.SessionStore,
		Keys:              o.Keys,
		ResponseMode:      o.ResponseMode,
		IdleTimeout:       o.Idle,
		AbsoluteTimeout:   o.Absolute,
		TrustedProxies:    o.Proxies,
		APIAllowedOrigins: o.APIOrigins,
		APIReportClients:  o.ReportClients,
		SPAClientID:       infra.Apps().SPA,
		Logger:            logger,
		Now:               o.Now,
		DevMode:           o.DevMode,
	}
	if !o.NoDevTenant {
		cfg.DevTenant = tt.srv
	}
	a, err := webapp.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(a.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return &app{App: a, t: tt, URL: base, server: hs, log: log, cache: tc}
}

// signedIn starts a dev tenant and an app with the default options, and
// signs alias in there, returning to returnTo: the start of most tests of
// a signed-in page.
func signedIn(t testing.TB, alias, returnTo string) (*tenant, *app, *user) {
	t.Helper()
	tt := startTenant(t)
	a := startApp(t, tt, appOptions{})
	u := newUser(t, tt, alias)
	u.signIn(a, returnTo)
	return tt, a, u
}

// user is a browser: a cookie jar for the app, and the dev tenant's
// Browser (its own jar) for the sign-in pages.
type user struct {
	t       testing.TB
	persona devtenant.Persona
	client  *http.Client // to the app; redirects are not followed
	browser *devtenant.Browser
}

func newUser(t testing.TB, tt *tenant, alias string) *user {
	t.Helper()
	p := devtenanttest.Persona(t, tt.srv, alias)
	jar, _ := cookiejar.New(nil)
	return &user{
		t: t, persona: p,
		client: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
		browser: tt.srv.NewBrowser(p.Username, p.Password),
	}
}

// page is a response read whole.
type page struct {
	Status   int
	Header   http.Header
	Body     string
	Location string
}

func (u *user) do(req *http.Request) page {
	u.t.Helper()
	resp, err := u.client.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(b), Location: resp.Header.Get("Location")}
}

func (u *user) get(rawURL string) page {
	u.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	return u.do(req)
}

func (u *user) post(rawURL string, form url.Values) page {
	u.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return u.do(req)
}

// authorize follows an app redirect to the dev tenant, signs in there (or
// uses its SSO session), and delivers the response to the app. It returns
// the app's answer to the callback.
func (u *user) authorize(a *app, authorizeURL string) page {
	u.t.Helper()
	if !strings.HasPrefix(authorizeURL, a.t.srv.URL()) {
		u.t.Fatalf("expected a redirect to the dev tenant, got %q", authorizeURL)
	}
	ctx := context.Background()
	resp, err := u.browser.Authorize(ctx, authorizeURL)
	if err != nil {
		u.t.Fatalf("authorize: %v", err)
	}
	hr, err := resp.Deliver(ctx, u.client)
	if err != nil {
		u.t.Fatal(err)
	}
	defer hr.Body.Close()
	b, _ := io.ReadAll(hr.Body)
	return page{Status: hr.StatusCode, Header: hr.Header, Body: string(b), Location: hr.Header.Get("Location")}
}

// signIn runs the whole sign-in from GET /signin?returnTo=... and returns
// where the app sent the browser after the callback.
func (u *user) signIn(a *app, returnTo string) page {
	u.t.Helper()
	p := u.get(a.URL + "/signin?returnTo=" + url.QueryEscape(returnTo))
	if p.Status != http.StatusFound {
		u.t.Fatalf("GET /signin: %d %s", p.Status, p.Body)
	}
	cb := u.authorize(a, p.Location)
	if cb.Status != http.StatusSeeOther {
		u.t.Fatalf("callback: %d %s", cb.Status, cb.Body)
	}
	return cb
}

// cookie returns the value of the app's cookie name ("" if none).
func (u *user) cookie(a *app, name string) string {
	base, _ := url.Parse(a.URL)
	for _, c := range u.client.Jar.Cookies(base) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// csrf reads the CSRF token from a page's forms.
func csrfOf(t testing.TB, body string) string {
	t.Helper()
	const marker = `name="csrf" value="`
	i := strings.Index(body, marker)
	if i < 0 {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	rest := body[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

func mustContain(t testing.TB, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q:\n%s", w, body)
		}
	}
}

// metricsText is the app's Prometheus exposition, read in process: the app
// serves no /metrics on its public listener.
func metricsText(t testing.TB, a *app) string {
	t.Helper()
	rec := httptest.NewRecorder()
	a.Metrics().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

// redisStores opens sessions and tokens on the Redis server at redisURL, as
// every instance behind a load balancer does, closed when t ends.
func redisStores(t testing.TB, redisURL string) appOptions {
	t.Helper()
	ss, closeS, err := webapp.RedisSessionStore(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	ts, closeT, err := tokencache.OpenStore(redisURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeS(); closeT() })
	return appOptions{SessionStore: ss, TokenStore: ts}
}
