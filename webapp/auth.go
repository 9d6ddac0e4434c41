package webapp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/gin-gonic/gin"
)

// signInPage starts a sign-in: GET /signin?returnTo=/local/path.
func (a *App) signInPage(c *gin.Context) {
	a.beginSignIn(c, entra.BeginOptions{ReturnTo: c.Query("returnTo"), Prompt: promptParam(c.Query("prompt"))}, "sign-in")
}

// promptParam lets a link ask for the account picker or a fresh password;
// anything else is ignored.
func promptParam(p string) string {
	if p == "select_account" || p == "login" {
		return p
	}
	return ""
}

// beginSignIn seals a transaction into a cookie of this browser and sends
// it to the authorize endpoint. Pages call it too, with the scopes, claims or
// prompt a token request said were missing (incremental consent, claims
// challenges).
func (a *App) beginSignIn(c *gin.Context, o entra.BeginOptions, reason string) {
	// A sign-in stores nothing until its callback, but each callback may
	// cost a token request and a tombstone: a client starting sign-ins in
	// a loop is stopped here. 30 a minute is far above a person's need.
	if ok, wait := a.signInLimit.allow(rateLimitKey(c.ClientIP())); !ok {
		a.metrics.signIns.WithLabelValues("rate_limited").Inc()
		c.Header("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		a.fail(c, http.StatusTooManyRequests, "Too many sign-ins", "This browser started too many sign-ins in a short time. Wait a minute and try again.", nil)
		return
	}
	sess := sessionOf(c)
	if o.LoginHint == "" && sess != nil && sess.User != nil {
		o.LoginHint = sess.User.Username
	}
	o.Scopes = append(a.graphScopes(signInScopes), o.Scopes...)
	o.FormPost = a.formPost
	u, txn, err := a.signIn.Begin(c.Request.Context(), o)
	if err != nil {
		a.fail(c, http.StatusInternalServerError, "Cannot start the sign-in", "The app could not build the sign-in request.", err)
		return
	}
	p := &pendingSignIn{Txn: txn, Reason: reason}
	if sess != nil && sess.version != 0 {
		p.PriorSession = sess.ID
	}
	sealed, err := a.sessions.SealSignIn(p)
	if err != nil {
		a.fail(c, http.StatusBadRequest, "Cannot start the sign-in", "The sign-in request is too large. Start again from the home page.", err)
		return
	}
	// SameSite=None when Entra posts the response back (form_post is a
	// cross-site POST); Lax is enough for a redirect with the query.
	same := http.SameSiteLaxMode
	if a.formPost {
		same = http.SameSiteNoneMode
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: signInCookieName(txn.State), Value: sealed, Path: "/",
		MaxAge: int(txn.Expires.Sub(a.now()).Seconds()) + 60, Secure: true, HttpOnly: true, SameSite: same,
	})
	a.metrics.signIns.WithLabelValues("started").Inc()
	a.flows.began(u, txn)
	c.Redirect(http.StatusFound, u)
}

func signInCookieName(state string) string {
	h := sha256.Sum256([]byte(state))
	return signInCookiePrefix + base64.RawURLEncoding.EncodeToString(h[:9])
}

// callback receives the authorization response (GET with the query, or
// form_post), checks it belongs to a transaction this browser started,
// redeems the code and starts a new session.
func (a *App) callback(c *gin.Context) {
	ctx := c.Request.Context()
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBytes)
	if err := c.Request.ParseForm(); err != nil {
		a.fail(c, http.StatusBadRequest, "Bad sign-in response", "The response could not be read.", nil)
		return
	}
	params := c.Request.Form
	if c.Request.Method == http.MethodPost {
		params = c.Request.PostForm
	}
	state := params.Get("state")
	ck, err := c.Request.Cookie(signInCookieName(state))
	if state == "" || err != nil {
		a.metrics.signIns.WithLabelValues("stale_state").Inc()
		a.staleSignIn(c, "This sign-in response does not belong to a sign-in started in this browser, or it has already been used.")
		return
	}
	// The cookie holds the transaction sealed under its state: one that
	// does not open for this state was not started in this browser.
	p, err := a.sessions.TakeSignIn(ctx, state, ck.Value)
	if errors.Is(err, tokencache.ErrUnknownKey) {
		// Started on a replica with a key this one lacks (a rolling key
		// rotation): the transaction and its cookie stay, so the same
		// response completes where the key is; a reload may land there.
		c.Header("Retry-After", "5")
		a.fail(c, http.StatusServiceUnavailable, "Temporarily unavailable", "This server cannot finish your sign-in yet. Reload the page in a moment.", err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: ck.Name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true})
	if err != nil {
		if !errors.Is(err, errNoSession) && !errors.Is(err, entra.ErrTransactionUsed) {
			a.fail(c, http.StatusServiceUnavailable, "Temporarily unavailable", "The session store does not answer. Try again in a moment.", err)
			return
		}
		a.metrics.signIns.WithLabelValues("stale_state").Inc()
		a.staleSignIn(c, "This sign-in has expired or has already been completed.")
		return
	}
	res, err := a.signIn.Complete(ctx, p.Txn, params)
	if err != nil {
		a.signInFailed(c, err, p.Reason)
		return
	}

	// A new session id at sign-in (fixation): the old session, if any, ends.
	old := sessionOf(c)
	if old != nil && old.version != 0 {
		_ = a.sessions.Delete(ctx, old.ID)
	}
	if p.PriorSession != "" {
		_ = a.sessions.Delete(ctx, p.PriorSession)
	}
	sess := a.sessions.New()
	if old != nil && old.Reauth != nil {
		sess.Reauth = old.Reauth
	}
	sess.User = sessionUser(res, a.now())
	if p.Reason != "sign-in" {
		sess.Reauth = &Reauth{Path: res.ReturnTo, Reason: p.Reason, At: a.now()}
	}
	c.Set(ctxSession, sess)
	// Saved here, not after the handler: a session the store refused must
	// not be announced with a cookie and a redirect.
	sess.dirty = true
	if err := a.sessions.Save(context.WithoutCancel(ctx), sess); err != nil {
		sess.ID, sess.dirty = "", false
		a.metrics.signIns.WithLabelValues("error").Inc()
		a.fail(c, http.StatusServiceUnavailable, "Temporarily unavailable", "You signed in, but the app could not store your session. Try again in a moment.", err)
		return
	}
	a.touch(c, sess)
	sess.dirty = false
	a.metrics.signIns.WithLabelValues("completed").Inc()
	a.flows.signedIn(c.Request, sess.ID, p.Txn, params, res)
	a.log.Info("signed in", "oid", sess.User.ObjectID, "tid", sess.User.TenantID, "reason", p.Reason, "request_id", requestIDOf(c))
	c.Redirect(http.StatusSeeOther, res.ReturnTo)
}

func sessionUser(res *entra.SignInResult, now time.Time) *SessionUser {
	id := res.Identity
	u := &SessionUser{
		ObjectID: id.ObjectID, TenantID: id.TenantID, Name: id.Name, Username: id.Username,
		Roles: id.Roles, Account: res.Account, SignedIn: now,
	}
	if id.Claims != nil {
		u.Issuer, u.Subject = id.Claims.Issuer, id.Claims.Subject
		u.Claims = json.RawMessage(id.Claims.Raw)
	}
	return u
}

// signInFailed shows why a sign-in did not complete. reason is why the
// sign-in was started ("sign-in", "consent", "claims-challenge", ...).
func (a *App) signInFailed(c *gin.Context, err error, reason string) {
	var ae *entra.AADSTSError
	isAAD := errors.As(err, &ae)
	switch {
	case errors.Is(err, entra.ErrNoCode):
		a.metrics.signIns.WithLabelValues("error").Inc()
		a.render(c, http.StatusBadRequest, "error", pageData{"Title": "Bad sign-in response",
			"Message": "The response carries neither an authorization code nor an error.", "Restart": true})
	case errors.Is(err, entra.ErrStateMismatch), errors.Is(err, entra.ErrTransactionExpired), errors.Is(err, entra.ErrTransactionUsed):
		a.metrics.signIns.WithLabelValues("stale_state").Inc()
		a.staleSignIn(c, "This sign-in has expired or has already been completed.")
	case errors.Is(err, entra.ErrUserCancelled) || isAAD && ae.Err == "access_denied" && ae.StatusCode == 0:
		a.metrics.signIns.WithLabelValues("cancelled").Inc()
		msg := "You cancelled the sign-in, or declined the permissions the app asked for. Nothing was changed."
		// A user who may not consent sees "Need admin approval" at Entra,
		// and the app then gets access_denied (65004, cancel) — not a
		// choice the user made: say what is needed.
		if isAAD && ae.Code == 90094 || reason == "consent" {
			msg = "This page needs permissions that only an administrator can grant. Ask an administrator to open it once and approve them for the organization."
		}
		a.render(c, http.StatusForbidden, "cancelled", pageData{"Title": "Sign-in cancelled", "Message": msg, "CorrelationID": correlationOf(ae)})
	case errors.As(err, &ae):
		a.metrics.signIns.WithLabelValues("error").Inc()
		status := http.StatusBadGateway
		if ae.StatusCode == 0 {
			status = http.StatusBadRequest // the authorize endpoint refused the request
		}
		if errors.Is(ae, entra.ErrTemporarilyUnavailable) {
			status = http.StatusServiceUnavailable
		}
		a.log.Warn("sign-in refused by Entra", "code", ae.Code, "error", ae.Err, "suberror", ae.Suberror,
			"correlation_id", ae.CorrelationID, "request_id", requestIDOf(c))
		a.render(c, status, "error", pageData{
			"Title":         "Sign-in failed",
			"Message":       "Microsoft Entra ID refused the sign-in: " + firstLine(ae.Description),
			"Code":          ae.Code,
			"CorrelationID": correlationOf(ae),
			"Restart":       true,
		})
	default:
		a.metrics.signIns.WithLabelValues("error").Inc()
		a.fail(c, http.StatusBadGateway, "Sign-in failed", "The sign-in response could not be verified, so you were not signed in.", err)
	}
}

func correlationOf(ae *entra.AADSTSError) string {
	if ae == nil {
		return ""
	}
	return ae.CorrelationID
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func (a *App) staleSignIn(c *gin.Context, msg string) {
	a.render(c, http.StatusBadRequest, "error", pageData{
		"Title": "This sign-in cannot continue", "Message": msg, "Restart": true,
	})
}

// signOut ends the server session, removes the account's tokens, and sends
// the browser to Entra's logout (RP-initiated logout) which comes back to
// /signedout.
func (a *App) signOut(c *gin.Context) {
	sess := sessionOf(c)
	ctx := context.WithoutCancel(c.Request.Context())
	var hint string
	if sess.User != nil {
		hint = loginHintClaim(sess.User.Claims)
		if err := a.tokens.remove(ctx, sess.User.Account.HomeAccountID); err != nil {
			a.log.Error("removing the token cache partition", "oid", sess.User.ObjectID, "err", err)
		}
		a.log.Info("signed out", "oid", sess.User.ObjectID, "tid", sess.User.TenantID, "request_id", requestIDOf(c))
	}
	if err := a.sessions.Delete(ctx, sess.ID); err != nil {
		a.log.Error("deleting the session", "err", err)
	}
	a.flows.forget(sess.ID)
	sess.ID, sess.dirty = "", false // nothing to save after the handler
	a.setSessionCookie(c, "", -1)
	if a.metadata.EndSessionEndpoint == "" {
		c.Redirect(http.StatusSeeOther, "/signedout")
		return
	}
	u, err := url.Parse(a.metadata.EndSessionEndpoint)
	if err != nil {
		c.Redirect(http.StatusSeeOther, "/signedout")
		return
	}
	q := u.Query()
	q.Set("post_logout_redirect_uri", a.signedOutURL)
	q.Set("client_id", a.cfg.Entra.ClientID)
	q.Set("state", newID())
	// logout_hint (Entra's login_hint optional claim) picks the account
	// to sign out without a picker. id_token_hint would put the ID token
	// in a URL, which tokens never go in.
	if hint != "" {
		q.Set("logout_hint", hint)
	}
	u.RawQuery = q.Encode()
	c.Redirect(http.StatusSeeOther, u.String())
}

func (a *App) signedOut(c *gin.Context) {
	a.render(c, http.StatusOK, "signedout", pageData{"Title": "Signed out"})
}

func loginHintClaim(raw json.RawMessage) string {
	var c struct {
		LoginHint string `json:"login_hint"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	return c.LoginHint
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
