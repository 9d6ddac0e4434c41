package webapp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/graphapi"
	"github.com/gin-gonic/gin"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// userCredential is the token source of one request's Graph calls: the
// session's signed-in user and the scopes the page needs. graphCall makes it
// where the session is known and hands it to graphapi with WithCredential;
// no user travels in a context. Its tokens come from the memo, else from
// the user's partition of the token cache through MSAL
// (entra.TokenCredential), refreshed at Entra when due.
type userCredential struct {
	tokens *userTokens
	user   *SessionUser
	scopes []string // qualified with the Graph resource
}

// GetToken implements azcore.TokenCredential. The scopes graphapi asks for
// are ignored: the page's are the ones the user consented to.
func (uc *userCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return uc.tokens.silent(ctx, uc.user, uc.scopes, opts.Claims)
}

// signedInOnly is the credential the web app's Graph client is built with:
// none. Every call goes through a view with the session's userCredential
// (graphCall); a call without one fails here instead of going out with
// someone's token.
type signedInOnly struct{}

func (signedInOnly) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("webapp: Graph call without a signed-in user")
}

// errNeedsInteraction is returned when no token can be had without the
// user: the page sends the browser back through sign-in.
type errNeedsInteraction struct {
	Claims string
	cause  error
}

func (e *errNeedsInteraction) Error() string {
	return "webapp: the user must sign in again: " + e.cause.Error()
}
func (e *errNeedsInteraction) Unwrap() error { return e.cause }

var (
	errIdentityChanged  = errors.New("webapp: a refreshed ID token names another user")
	errEntraUnreachable = errors.New("webapp: Microsoft Entra ID did not answer")
)

// userTokens gets the signed-in users' delegated tokens: one MSAL client per
// account over the sealed token cache, and a memo of the access tokens.
type userTokens struct {
	clients *tokencache.Clients[confidential.Client]
	memo    *lru.Cache[string, memoToken]
	// forgotten are the accounts whose tokens were dropped, and when.
	forgotten *lru.Cache[string, time.Time]
	acquired  *prometheus.CounterVec // by source: cache, refreshed, failed
}

func newUserTokens(clients *tokencache.Clients[confidential.Client], acquired *prometheus.CounterVec) *userTokens {
	t := &userTokens{clients: clients, acquired: acquired}
	t.memo, _ = lru.New[string, memoToken](10_000)
	t.forgotten, _ = lru.New[string, time.Time](10_000)
	return t
}

// memoToken is an access token this process got from MSAL for an account
// and a set of scopes, reused until five minutes before it expires (MSAL's
// own margin) — what azcore's bearer policy does per client. It spares the
// per-request MSAL lookup; a claims request, a sign-out, and any 401 from
// Graph drop it.
type memoToken struct {
	token string
	exp   time.Time
}

func memoKey(u *SessionUser, scopes []string) string {
	return u.Account.HomeAccountID + "\x00" + strings.Join(scopes, " ")
}

// refused drops a token Graph refused: it is never handed out again.
func (t *userTokens) refused(u *SessionUser, scopes []string) { t.memo.Remove(memoKey(u, scopes)) }

// forget drops the account's memoized tokens, and remembers when, so that
// a request in flight does not memoize one again.
func (t *userTokens) forget(homeAccountID string) {
	t.forgotten.Add(homeAccountID, time.Now())
	for _, k := range t.memo.Keys() {
		if strings.HasPrefix(k, homeAccountID+"\x00") {
			t.memo.Remove(k)
		}
	}
}

// remove drops every token of the account: the memo and its partition of
// the token cache.
func (t *userTokens) remove(ctx context.Context, homeAccountID string) error {
	t.forget(homeAccountID)
	return t.clients.Remove(ctx, homeAccountID)
}

// silent gets the user's token for scopes without the user: from the memo,
// else through MSAL (cache, else refresh token); with claims, always a
// refresh asking for them.
func (t *userTokens) silent(ctx context.Context, u *SessionUser, scopes []string, claims string) (azcore.AccessToken, error) {
	started := time.Now()
	key := memoKey(u, scopes)
	if claims == "" {
		if m, ok := t.memo.Get(key); ok && time.Now().Before(m.exp.Add(-5*time.Minute)) {
			t.acquired.WithLabelValues("cache").Inc()
			return azcore.AccessToken{Token: m.token, ExpiresOn: m.exp}, nil
		}
	} else {
		t.memo.Remove(key)
	}
	client, err := t.clients.Get(u.Account.HomeAccountID)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	msal := entra.TokenCredential{Client: client, Account: &u.Account, Scopes: scopes}
	res, err := msal.Acquire(ctx, policy.TokenRequestOptions{Claims: claims})
	if err != nil {
		t.acquired.WithLabelValues("failed").Inc()
		if e, ok := notTheUsers(err); ok {
			return azcore.AccessToken{}, e
		}
		// No cached token that fits, or Entra wants the user: consent,
		// MFA, a revoked refresh token, a claims challenge.
		if ae := (*entra.AADSTSError)(nil); errors.As(err, &ae) && ae.Claims != "" {
			claims = ae.Claims
		}
		return azcore.AccessToken{}, &errNeedsInteraction{Claims: claims, cause: err}
	}
	if entra.FromCache(res) {
		t.acquired.WithLabelValues("cache").Inc()
	} else {
		t.acquired.WithLabelValues("refreshed").Inc()
		// A refreshed ID token must name the same user (OIDC Core §12.2).
		if it := res.IDToken; it.Subject != "" && (it.Subject != u.Subject || it.Issuer != u.Issuer) {
			return azcore.AccessToken{}, errIdentityChanged
		}
	}
	// A sign-out while this request was in flight cleared the memo: do not
	// put the account's token back in it.
	if at, ok := t.forgotten.Get(u.Account.HomeAccountID); !ok || at.Before(started) {
		t.memo.Add(key, memoToken{res.AccessToken, res.ExpiresOn})
	}
	return entra.AccessToken(res), nil
}

// notTheUsers sorts out the failed token requests a user cannot fix by
// signing in: Entra busy or refusing the app's own credential (err as is),
// or Entra unreachable / the request given up (errEntraUnreachable); ok is
// false for the rest (consent, MFA, revocation, claims: the user's).
func notTheUsers(err error) (error, bool) {
	var ae *entra.AADSTSError
	if errors.As(err, &ae) {
		return err, errors.Is(ae, entra.ErrTemporarilyUnavailable) || errors.Is(ae, entra.ErrInvalidClient)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", errEntraUnreachable, err), true
	}
	return err, false
}

// graphCall runs f against Graph as the session's user, through a view of
// the app's Graph client bound to the user's credential, and turns what
// needs the user into a trip through sign-in. It returns false when it has
// answered.
//
// Its retries are the web app's whole policy (a person is waiting):
//   - 429, 503, 504: kiota's retry handler in graphapi, at most 3 times and
//     5 s of waiting in all (Options.MaxRetryWait); then a 503 page with
//     Graph's Retry-After.
//   - 401 with a claims challenge (CAE): kiota resends once with a token for
//     the claims (userCredential skips the memo; MSAL refreshes); refused
//     again, the user signs in with the claims.
//   - 401 without one (the token expired at Graph, clock skew): the memoized
//     token is dropped and f runs once more with what MSAL holds, renewed
//     if due.
//
// Nothing else is retried.
func (a *App) graphCall(c *gin.Context, extraScopes []string, f func(ctx context.Context, g *graphapi.Client) error) bool {
	sess := sessionOf(c)
	scopes, ok := a.scopeSets[strings.Join(extraScopes, " ")]
	if !ok {
		scopes = a.graphScopes(append(append([]string(nil), signInScopes...), extraScopes...))
	}
	ctx := c.Request.Context()
	g := a.graph.WithCredential(&userCredential{tokens: a.tokens, user: sess.User, scopes: scopes})
	err := f(ctx, g)
	var ge *graphapi.Error
	var cc *graphapi.ClaimsChallengeError
	if errors.As(err, &ge) && ge.Status == http.StatusUnauthorized {
		a.tokens.refused(sess.User, scopes)
		if !errors.As(err, &cc) {
			err = f(ctx, g)
		}
	}
	if err == nil {
		if sess.Reauth != nil && sess.Reauth.Path == c.Request.URL.RequestURI() && !sess.Reauth.Handled {
			sess.Reauth.Handled = true
			sess.dirty = true
		}
		return true
	}
	if errors.As(err, &cc) {
		// Graph refused the token kiota renewed with the claims (CAE: the
		// user was revoked, the location changed): the user signs in.
		err = &errNeedsInteraction{Claims: cc.Claims, cause: err}
	}
	var ni *errNeedsInteraction
	if errors.As(err, &ni) {
		reason := "interaction"
		switch {
		case ni.Claims != "":
			reason = "claims-challenge"
		case errors.Is(err, entra.ErrConsentRequired):
			reason = "consent"
		}
		return a.reauthenticate(c, extraScopes, ni.Claims, reason, err)
	}
	if errors.Is(err, errIdentityChanged) {
		a.log.Error("refreshed ID token names another user; ending the session", "oid", sess.User.ObjectID)
		// The partition now holds tokens of someone else: drop them all.
		_ = a.tokens.remove(context.WithoutCancel(c.Request.Context()), sess.User.Account.HomeAccountID)
		_ = a.sessions.Delete(c.Request.Context(), sess.ID)
		sess.ID, sess.dirty = "", false
		a.setSessionCookie(c, "", -1)
		a.fail(c, http.StatusUnauthorized, "Signed out", "Your sign-in changed unexpectedly; sign in again.", err)
		return false
	}
	a.graphFailed(c, err)
	return false
}

// reauthenticate sends the browser through sign-in with what was missing,
// then back to this page; twice in a row for one page is a loop: show it.
func (a *App) reauthenticate(c *gin.Context, scopes []string, claims, reason string, cause error) bool {
	sess := sessionOf(c)
	path := c.Request.URL.RequestURI()
	if r := sess.Reauth; r != nil && r.Path == path && !r.Handled && a.now().Sub(r.At) < 2*time.Minute {
		a.fail(c, http.StatusBadGateway, "Still no access",
			"The app sent you through sign-in for this page, but Microsoft Entra ID still does not issue a token for it.", cause)
		return false
	}
	a.log.Info("sending the user through sign-in", "reason", reason, "oid", sess.User.ObjectID, "request_id", requestIDOf(c), "cause", cause)
	a.metrics.reauth.WithLabelValues(reason).Inc()
	a.beginSignIn(c, entra.BeginOptions{Scopes: a.graphScopes(scopes), Claims: claims, ReturnTo: path}, reason)
	return false
}

// graphFailed shows a Graph error.
func (a *App) graphFailed(c *gin.Context, err error) {
	var thr *graphapi.ThrottledError
	var ae *entra.AADSTSError
	switch {
	case errors.Is(err, errEntraUnreachable):
		c.Header("Retry-After", "30")
		a.fail(c, http.StatusServiceUnavailable, "Temporarily unavailable", "Microsoft Entra ID did not answer the token request. Try again in a moment.", err)
	case errors.As(err, &thr):
		c.Header("Retry-After", fmt.Sprint(int(thr.RetryAfter.Seconds())+1))
		a.fail(c, http.StatusServiceUnavailable, "Microsoft Graph is busy", "Graph asked us to slow down. Try again in a moment.", err)
	case errors.Is(err, graphapi.ErrForbidden):
		a.fail(c, http.StatusForbidden, "Not allowed", "Microsoft Graph refused: your account lacks the permission this page needs.", err)
	case errors.As(err, &ae):
		a.render(c, http.StatusBadGateway, "error", pageData{"Title": "Microsoft Entra ID refused", "Message": firstLine(ae.Description),
			"Code": ae.Code, "CorrelationID": ae.CorrelationID})
	case errors.Is(err, context.Canceled):
		c.Status(499)
	default:
		a.fail(c, http.StatusBadGateway, "Microsoft Graph did not answer", "The call to Microsoft Graph failed.", err)
	}
}
