package webapp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/gin-gonic/gin"
)

const (
	sessionCookie = "__Host-entrakit"
	// signInCookiePrefix + a hash of the state names the cookie that binds
	// one sign-in transaction to the browser that started it. One cookie
	// per transaction lets two tabs sign in at once.
	signInCookiePrefix = "__Host-entrakit-signin."
	maxFormBytes       = 64 << 10
	ctxSession         = "entrakit.session"
	ctxRequestID       = "entrakit.request_id"
)

func (a *App) routes() http.Handler {
	ginReleaseMode()
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	_ = r.SetTrustedProxies(a.cfg.TrustedProxies) // validated in Config.Validate
	r.Use(a.requestID, a.accessLog, a.recoverPanics, a.securityHeaders)
	r.NoRoute(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, "/api/") {
			a.api.error(c, http.StatusNotFound, "not_found", "no such API endpoint", nil)
			return
		}
		a.fail(c, http.StatusNotFound, "Page not found", "There is no page at this address.", nil)
	})
	r.NoMethod(func(c *gin.Context) {
		a.fail(c, http.StatusMethodNotAllowed, "Method not allowed", "This page does not accept that method.", nil)
	})

	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	r.GET("/readyz", a.readyz)
	r.GET("/static/*file", a.static)
	r.GET("/favicon.ico", func(c *gin.Context) {
		c.Params = append(c.Params, gin.Param{Key: "file", Value: "/favicon.svg"})
		a.static(c)
	})

	a.api.register(r)
	if a.spa != nil {
		a.spa.register(r)
	}

	web := r.Group("/", a.session, a.csrf)
	web.GET("/", a.home)
	web.GET("/signin", a.signInPage)
	web.GET("/auth/callback", a.callback)
	web.POST("/auth/callback", a.callback)
	web.POST("/signout", a.signOut)
	web.GET("/signedout", a.signedOut)
	web.GET("/me", a.requireUser, a.me)
	web.GET("/me/photo", a.requireUser, a.photo)
	web.GET("/claims", a.requireUser, a.claims)
	web.GET("/directory", a.requireUser, a.directory)
	web.GET("/challenge", a.requireUser, a.challenge)
	web.POST("/challenge/revoke", a.requireUser, a.challengeRevoke)
	if a.flows != nil { // dev mode only: elsewhere /dev/flow is a 404
		web.GET("/dev/flow", a.requireUser, a.flows.page)
	}
	return r
}

// requestID takes a well-formed X-Request-Id from a trusted proxy, or makes
// one, and echoes it; error pages show it as the correlation id. It is the
// first middleware, so it also notices a proxy nobody said to trust.
func (a *App) requestID(c *gin.Context) {
	a.forwarding.check(c.Request, len(a.proxies) > 0)
	id := c.GetHeader("X-Request-Id")
	if !a.fromTrustedProxy(c.Request) || !wellFormedID(id) {
		id = rand.Text()
	}
	c.Set(ctxRequestID, id)
	c.Header("X-Request-Id", id)
	c.Next()
}

func wellFormedID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return false
		}
	}
	return true
}

func requestIDOf(c *gin.Context) string { return c.GetString(ctxRequestID) }

// accessLog logs one line per request: route, status, duration, request
// id, and the user's oid/tid — never the query (codes, states), cookies or
// headers.
func (a *App) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	d := time.Since(start)
	a.metrics.observeRequest(c.Request.Method, route, c.Writer.Status(), d)
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method), slog.String("route", route),
		slog.Int("status", c.Writer.Status()), slog.Duration("duration", d),
		slog.String("request_id", requestIDOf(c)), slog.String("client_ip", c.ClientIP()),
	}
	if s := sessionOf(c); s != nil && s.User != nil {
		attrs = append(attrs, slog.String("oid", s.User.ObjectID), slog.String("tid", s.User.TenantID))
	}
	level := slog.LevelInfo
	if c.Writer.Status() >= 500 {
		level = slog.LevelError
	}
	a.log.LogAttrs(c.Request.Context(), level, "request", attrs...)
}

func (a *App) recoverPanics(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			a.log.Error("panic serving request", "route", c.FullPath(), "request_id", requestIDOf(c), "panic", v)
			a.fail(c, http.StatusInternalServerError, "Something went wrong", "The app hit an unexpected error.", nil)
			c.Abort()
		}
	}()
	c.Next()
}

// securityHeaders: a CSP with no inline script and no framing, no MIME
// sniffing, no referrer leaking paths to other sites, HSTS on TLS, and
// no-store on everything (pages depend on the session and its tokens).
func (a *App) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	// form-action must allow the authority: the sign-out form's answer
	// redirects there, and browsers apply form-action to redirects.
	h.Set("Content-Security-Policy", a.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if a.secureRequest(c.Request) {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	if !strings.HasPrefix(c.Request.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
	}
	c.Next()
}

func (a *App) authorityOrigin() string {
	host := a.cfg.Entra.Cloud.AuthorityHost
	if host == "" {
		host = "https://login.microsoftonline.com/"
	}
	return strings.TrimSuffix(host, "/")
}

// session loads the browser's session (or starts an anonymous one, stored
// only when something is put in it) and saves it after the handler.
func (a *App) session(c *gin.Context) {
	ctx := c.Request.Context()
	var sess *Session
	if ck, err := c.Request.Cookie(sessionCookie); err == nil {
		s, err := a.sessions.Load(ctx, ck.Value)
		switch {
		case err == nil:
			sess = s
		case errors.Is(err, tokencache.ErrUnknownKey):
			// Sealed by a replica with a newer key: anonymous here, kept in
			// the store for the replicas that have the key.
			a.log.Warn("session sealed with a key this replica lacks", "request_id", requestIDOf(c), "err", err)
		case !errors.Is(err, errNoSession):
			a.log.Error("session store unavailable", "request_id", requestIDOf(c), "err", err)
			a.fail(c, http.StatusServiceUnavailable, "Temporarily unavailable", "The session store does not answer. Try again in a moment.", nil)
			c.Abort()
			return
		}
	}
	if sess == nil {
		sess = a.sessions.New()
		sess.dirty = false // nothing worth storing yet
	}
	c.Set(ctxSession, sess)
	// The session is saved before the first byte of the response leaves,
	// so the browser's next request finds it. The handler may have replaced
	// it (sign-in rotates it): save the current one.
	w := &savingWriter{ResponseWriter: c.Writer, save: func() { a.saveSession(c, sessionOf(c)) }}
	c.Writer = w
	c.Next()
	w.before()
}

// savingWriter runs save once, before the response is written.
type savingWriter struct {
	gin.ResponseWriter
	save  func()
	saved bool
}

func (w *savingWriter) before() {
	if !w.saved {
		w.saved = true
		w.save()
	}
}

func (w *savingWriter) WriteHeaderNow() { w.before(); w.ResponseWriter.WriteHeaderNow() }
func (w *savingWriter) Write(b []byte) (int, error) {
	w.before()
	return w.ResponseWriter.Write(b)
}
func (w *savingWriter) WriteString(s string) (int, error) {
	w.before()
	return w.ResponseWriter.WriteString(s)
}
func (w *savingWriter) Flush() { w.before(); w.ResponseWriter.Flush() }

func (a *App) saveSession(c *gin.Context, sess *Session) {
	if sess.ID == "" || !sess.dirty {
		return
	}
	if err := a.sessions.Save(context.WithoutCancel(c.Request.Context()), sess); err != nil {
		a.log.Error("saving the session", "request_id", requestIDOf(c), "err", err)
	}
}

// touch marks a session as worth storing and sets its cookie.
func (a *App) touch(c *gin.Context, sess *Session) {
	sess.dirty = true
	a.setSessionCookie(c, sess.ID, int(a.cfg.AbsoluteTimeout.Seconds()))
}

func (a *App) setSessionCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

func sessionOf(c *gin.Context) *Session {
	v, ok := c.Get(ctxSession)
	if !ok {
		return nil
	}
	s, _ := v.(*Session)
	return s
}

// csrf refuses a POST without the session's token in the form, and any
// POST a browser marks as cross-site. The callback is exempt: Entra posts it
// (form_post) and the state binds it.
func (a *App) csrf(c *gin.Context) {
	if c.Request.Method != http.MethodPost || c.FullPath() == "/auth/callback" {
		c.Next()
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBytes)
	sess := sessionOf(c)
	sent := c.PostForm("csrf")
	crossSite := c.GetHeader("Sec-Fetch-Site") == "cross-site"
	if crossSite || sess == nil || sess.User == nil && sess.version == 0 || sent == "" ||
		subtle.ConstantTimeCompare([]byte(sent), []byte(sess.CSRF)) != 1 {
		a.fail(c, http.StatusForbidden, "Request refused",
			"This form was not sent from a page of this app (missing or wrong CSRF token). Go back, reload the page and try again.", nil)
		c.Abort()
		return
	}
	c.Next()
}

// requireUser sends anonymous browsers to sign in, and back here after.
func (a *App) requireUser(c *gin.Context) {
	if s := sessionOf(c); s != nil && s.User != nil {
		c.Next()
		return
	}
	if c.Request.Method != http.MethodGet {
		a.fail(c, http.StatusUnauthorized, "Sign in first", "Your session has ended.", nil)
		c.Abort()
		return
	}
	c.Redirect(http.StatusFound, "/signin?returnTo="+urlQueryEscape(c.Request.URL.RequestURI()))
	c.Abort()
}

func (a *App) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
	defer cancel()
	if err := a.Ready(ctx); err != nil {
		a.log.Warn("not ready", "request_id", requestIDOf(c), "err", err)
		c.String(http.StatusServiceUnavailable, "not ready (see the log, request id "+requestIDOf(c)+")\n")
		return
	}
	c.String(http.StatusOK, "ready\n")
}
