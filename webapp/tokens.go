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
	"github.com/entrakit/entrakit/graphapi"
	"github.com/gin-gonic/gin"
)

type userKey struct{}

type callUser struct {
	user   *SessionUser
	scopes []string
}

// withUser puts the signed-in user, and the scopes the page needs, in the
// context of a Graph call, for userCredential.
func withUser(ctx context.Context, u *SessionUser, scopes []string) context.Context {
	return context.WithValue(ctx, userKey{}, callUser{u, scopes})
}

// userCredential is the azcore.TokenCredential graphapi calls: a silent
// token for the user in the call's context, from that user's partition of
// the shared cache (refreshed through Entra when needed).
type userCredential struct{ a *App }

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

func (uc userCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	cu, _ := ctx.Value(userKey{}).(callUser)
	if cu.user == nil {
		return azcore.AccessToken{}, errors.New("webapp: Graph call without a signed-in user")
	}
	scopes := opts.Scopes
	if len(cu.scopes) > 0 {
		scopes = cu.scopes
	}
	return uc.a.silentToken(ctx, cu.user, scopes, opts.Claims)
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

func (a *App) forgetTokens(homeAccountID string) {
	a.forgotten.Add(homeAccountID, time.Now())
	for _, k := range a.memo.Keys() {
		if strings.HasPrefix(k, homeAccountID+"\x00") {
			a.memo.Remove(k)
		}
	}
}

func (a *App) silentToken(ctx context.Context, u *SessionUser, scopes []string, claims string) (azcore.AccessToken, error) {
	started := time.Now()
	key := memoKey(u, scopes)
	if claims == "" {
		if m, ok := a.memo.Get(key); ok && time.Now().Before(m.exp.Add(-5*time.Minute)) {
			a.metrics.tokens.WithLabelValues("cache").Inc()
			return azcore.AccessToken{Token: m.token, ExpiresOn: m.exp}, nil
		}
	} else {
		a.memo.Remove(key)
	}
	client, err := a.clients.Get(u.Account.HomeAccountID)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	var opts []confidential.AcquireSilentOption
	opts = append(opts, confidential.WithSilentAccount(u.Account))
	if claims != "" {
		opts = append(opts, confidential.WithClaims(claims))
	}
	res, err := client.AcquireTokenSilent(ctx, scopes, opts...)
	if err != nil {
		a.metrics.tokens.WithLabelValues("failed").Inc()
		err = entra.FromMSAL(err)
		var ae *entra.AADSTSError
		if errors.As(err, &ae) && errors.Is(ae, entra.ErrTemporarilyUnavailable) {
			return azcore.AccessToken{}, err
		}
		if errors.As(err, &ae) && errors.Is(ae, entra.ErrInvalidClient) {
			return azcore.AccessToken{}, err
		}
		// Entra not reachable, or the request gave up: not the user's
		// business, and sign-in would fail the same way.
		var ne net.Error
		if ae == nil && (errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return azcore.AccessToken{}, fmt.Errorf("%w: %w", errEntraUnreachable, err)
		}
		// No cached token that fits, or Entra wants the user: consent,
		// MFA, a revoked refresh token, a claims challenge.
		if ae != nil && ae.Claims != "" {
			claims = ae.Claims
		}
		return azcore.AccessToken{}, &errNeedsInteraction{Claims: claims, cause: err}
	}
	if res.Metadata.TokenSource == 1 { // base.TokenSourceCache
		a.metrics.tokens.WithLabelValues("cache").Inc()
	} else {
		a.metrics.tokens.WithLabelValues("refreshed").Inc()
		// A refreshed ID token must name the same user (OIDC Core §12.2).
		if it := res.IDToken; it.Subject != "" && (it.Subject != u.Subject || it.Issuer != u.Issuer) {
			return azcore.AccessToken{}, errIdentityChanged
		}
	}
	// A sign-out while this request was in flight cleared the memo: do not
	// put the account's token back in it.
	if at, ok := a.forgotten.Get(u.Account.HomeAccountID); !ok || at.Before(started) {
		a.memo.Add(key, memoToken{res.AccessToken, res.ExpiresOn})
	}
	return azcore.AccessToken{Token: res.AccessToken, ExpiresOn: res.ExpiresOn}, nil
}

// graphCall runs f with the user's context and turns what needs the user
// into a trip through sign-in. It returns false when it has answered.
func (a *App) graphCall(c *gin.Context, extraScopes []string, f func(ctx context.Context, g *graphapi.Client) error) bool {
	sess := sessionOf(c)
	scopes, ok := a.scopeSets[strings.Join(extraScopes, " ")]
	if !ok {
		scopes = a.graphScopes(append(append([]string(nil), signInScopes...), extraScopes...))
	}
	ctx := withUser(c.Request.Context(), sess.User, scopes)
	err := f(ctx, a.graph)
	if err == nil {
		if sess.Reauth != nil && sess.Reauth.Path == c.Request.URL.RequestURI() && !sess.Reauth.Handled {
			sess.Reauth.Handled = true
			sess.dirty = true
		}
		return true
	}
	var cc *graphapi.ClaimsChallengeError
	var ge *graphapi.Error
	if errors.As(err, &cc) || errors.As(err, &ge) && ge.Status == http.StatusUnauthorized {
		// Graph refused the token: never hand it out again.
		a.memo.Remove(memoKey(sess.User, scopes))
		if cc == nil {
			// Not a claims challenge (expired at Graph, clock skew): once
			// more with what MSAL now holds, which it renews if due.
			if err = f(ctx, a.graph); err == nil {
				return true
			}
		}
	}
	if errors.As(err, &cc) {
		// Graph refused the token (CAE: the user was revoked, the location
		// changed): try the refresh token with the claims first; if that is
		// refused too, the user signs in again with them.
		if _, serr := a.silentToken(ctx, sess.User, scopes, cc.Claims); serr == nil {
			if err = f(ctx, a.graph); err == nil {
				return true
			}
		} else {
			err = &errNeedsInteraction{Claims: cc.Claims, cause: err}
		}
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
		a.forgetTokens(sess.User.Account.HomeAccountID)
		_ = a.clients.Remove(context.WithoutCancel(c.Request.Context()), sess.User.Account.HomeAccountID)
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
