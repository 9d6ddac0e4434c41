package webapp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// oboTokens gets the API's Graph tokens on behalf of its callers (the OAuth
// 2.0 on-behalf-of grant, through MSAL Go), cached by a hash of the
// caller's token: a token for Graph is only ever handed out for the very
// token it was exchanged from, which the bearer middleware has validated on
// this request. Three layers, fastest first:
//
//   - memo: this process's LRU of access tokens, reused until five minutes
//     before they expire (MSAL's margin);
//   - the shared sealed cache (the token cache's Store and KeyRing): one
//     sealed entry per (caller's token, scopes), so another replica of the
//     API does not exchange the same token again;
//   - MSAL: one confidential client per caller's token in a bounded LRU,
//     which sends the OBO request to Entra.
//
// Why not MSAL's own cache persistence: MSAL Go (v1.10.1) keeps OBO tokens
// in a separate partitioned cache but exports its main cache to the
// accessor after an OBO exchange (base.Client.AuthResultFromToken), so an
// external cache never receives OBO tokens. The sealed entries above do
// what that export should.
type oboTokens struct {
	store    tokencache.Store
	keys     *tokencache.KeyRing
	clients  *lru.Cache[string, confidential.Client]
	build    func() (confidential.Client, error)
	memo     *lru.Cache[string, memoToken]
	acquired *prometheus.CounterVec // by source: memo, cache, entra, failed
	now      func() time.Time
}

func newOBOTokens(tc *tokencache.Cache, build func() (confidential.Client, error), acquired *prometheus.CounterVec, now func() time.Time) *oboTokens {
	o := &oboTokens{store: tc.Store, keys: tc.Keys, build: build, acquired: acquired, now: now}
	o.clients, _ = lru.New[string, confidential.Client](10_000)
	o.memo, _ = lru.New[string, memoToken](10_000)
	return o
}

// assertionHash is the partition of a caller's token: base64url SHA-256,
// as MSAL names OBO partitions (AuthParams.AssertionHash).
func assertionHash(assertion string) string {
	sum := sha256.Sum256([]byte(assertion))
	return base64.URLEncoding.EncodeToString(sum[:])
}

// sealedKey names the shared cache entry of a caller's token and scopes.
func sealedKey(partition string, scopes []string) string {
	sum := sha256.Sum256([]byte(strings.Join(scopes, " ")))
	return "obo:" + partition + ":" + base64.RawURLEncoding.EncodeToString(sum[:9])
}

type sealedOBO struct {
	AccessToken string `json:"at"`
	ExpiresOn   int64  `json:"exp"`
}

// fresh reports whether a token expiring at exp may still be handed out.
func (o *oboTokens) fresh(exp time.Time) bool { return o.now().Before(exp.Add(-5 * time.Minute)) }

// get returns a Graph token for scopes on behalf of the caller whose token
// is assertion. With claims (a claims challenge from Graph), it skips every
// cache and asks Entra for a token satisfying them.
//
// The caches keep a token no longer than the caller's token lives
// (callerExp): it is only ever served for that token.
func (o *oboTokens) get(ctx context.Context, assertion, tenantID string, callerExp time.Time, scopes []string, claims string) (azcore.AccessToken, error) {
	part := assertionHash(assertion)
	mkey := part + "\x00" + strings.Join(scopes, " ")
	skey := sealedKey(part, scopes)
	if claims == "" {
		if m, ok := o.memo.Get(mkey); ok && o.fresh(m.exp) {
			o.acquired.WithLabelValues("memo").Inc()
			return azcore.AccessToken{Token: m.token, ExpiresOn: m.exp}, nil
		}
		if tok, ok := o.sealed(ctx, skey); ok {
			o.acquired.WithLabelValues("cache").Inc()
			o.memo.Add(mkey, memoToken{tok.Token, tok.ExpiresOn})
			return tok, nil
		}
	} else {
		o.drop(ctx, assertion, scopes)
	}
	client, ok := o.clients.Get(part)
	if !ok {
		var err error
		if client, err = o.build(); err != nil {
			return azcore.AccessToken{}, err
		}
		o.clients.Add(part, client)
	}
	var opts []confidential.AcquireOnBehalfOfOption
	if claims != "" {
		opts = append(opts, confidential.WithClaims(claims))
	}
	if tenantID != "" {
		opts = append(opts, confidential.WithTenantID(tenantID))
	}
	res, err := client.AcquireTokenOnBehalfOf(ctx, assertion, scopes, opts...)
	if err != nil {
		o.acquired.WithLabelValues("failed").Inc()
		return azcore.AccessToken{}, oboFailed(entra.FromMSAL(err), claims)
	}
	o.acquired.WithLabelValues("entra").Inc()
	keep := res.ExpiresOn
	if !callerExp.IsZero() && callerExp.Before(keep) {
		keep = callerExp
	}
	o.memo.Add(mkey, memoToken{res.AccessToken, keep})
	o.seal(ctx, skey, res.AccessToken, keep)
	return azcore.AccessToken{Token: res.AccessToken, ExpiresOn: res.ExpiresOn}, nil
}

// sealed reads the shared cache; any failure is a miss.
func (o *oboTokens) sealed(ctx context.Context, key string) (azcore.AccessToken, bool) {
	blob, _, err := o.store.Get(ctx, key)
	if err != nil {
		return azcore.AccessToken{}, false
	}
	plain, _, err := o.keys.Open(key, blob)
	if err != nil {
		return azcore.AccessToken{}, false
	}
	var s sealedOBO
	if json.Unmarshal(plain, &s) != nil || s.AccessToken == "" {
		return azcore.AccessToken{}, false
	}
	exp := time.Unix(s.ExpiresOn, 0)
	if !o.fresh(exp) {
		return azcore.AccessToken{}, false
	}
	return azcore.AccessToken{Token: s.AccessToken, ExpiresOn: exp}, true
}

// seal writes the shared cache entry, forgotten by the store when the
// token expires. A failure only costs another replica an exchange.
func (o *oboTokens) seal(ctx context.Context, key, token string, exp time.Time) {
	ttl := exp.Sub(o.now())
	if ttl <= 5*time.Minute {
		return
	}
	plain, _ := json.Marshal(sealedOBO{AccessToken: token, ExpiresOn: exp.Unix()})
	blob := o.keys.Seal(key, plain)
	if _, err := o.store.Put(ctx, key, blob, 0, ttl); errors.Is(err, tokencache.ErrConflict) {
		// Another request stored one first: replace it with ours, which
		// is at least as fresh.
		if _, v, gerr := o.store.Get(ctx, key); gerr == nil {
			_, _ = o.store.Put(ctx, key, blob, v, ttl)
		}
	}
}

// drop forgets the Graph token of a caller's token, in this process and in
// the shared cache: Graph refused it.
func (o *oboTokens) drop(ctx context.Context, assertion string, scopes []string) {
	part := assertionHash(assertion)
	o.memo.Remove(part + "\x00" + strings.Join(scopes, " "))
	_ = o.store.Delete(ctx, sealedKey(part, scopes))
	// MSAL's client for this caller's token caches the refused token too:
	// without it, the next exchange goes to Entra.
	o.clients.Remove(part)
}

// errOBONeedsUser is an exchange Entra refused until the user does
// something in a browser: consent (Consent), satisfy a claims challenge
// (Claims), or sign in again (the token was revoked).
type errOBONeedsUser struct {
	Claims  string
	Consent bool
	cause   error
}

func (e *errOBONeedsUser) Error() string {
	return "webapp: on-behalf-of exchange needs the user: " + e.cause.Error()
}
func (e *errOBONeedsUser) Unwrap() error { return e.cause }

// oboFailed sorts a failed exchange: what the user must fix (through the
// SPA), what is Entra's or the network's fault (503), and the rest.
func oboFailed(err error, claims string) error {
	if e, ok := notTheUsers(err); ok {
		return e
	}
	var ae *entra.AADSTSError
	switch {
	case !errors.As(err, &ae):
	case errors.Is(ae, entra.ErrConsentRequired):
		return &errOBONeedsUser{Consent: true, cause: err}
	case errors.Is(ae, entra.ErrInteractionRequired) || errors.Is(ae, entra.ErrInvalidGrant):
		if ae.Claims != "" {
			claims = ae.Claims
		}
		return &errOBONeedsUser{Claims: claims, cause: err}
	}
	return err
}

// oboCredential is the token source of one API request's Graph calls: the
// caller's token, exchanged on their behalf for the API's Graph scopes.
type oboCredential struct {
	tokens    *oboTokens
	assertion string
	// tenantID is the caller's tenant, for an app whose authority names
	// none (organizations, common); "" otherwise.
	tenantID string
	// callerExp is when the caller's token expires.
	callerExp time.Time
	scopes    []string
}

// GetToken implements azcore.TokenCredential. graphapi's scopes are
// ignored: the API's are the ones consented to; a claims challenge (kiota
// retrying a CAE 401) goes to Entra.
func (c *oboCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.tokens.get(ctx, c.assertion, c.tenantID, c.callerExp, c.scopes, opts.Claims)
}
