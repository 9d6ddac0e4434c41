package entra

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// KeySet gives the RSA keys that may have signed a token. With a kid it
// returns that key (refreshing its cache at most once per interval when the
// kid is unknown); with an empty kid it returns every key.
type KeySet interface {
	// VerificationKeys returns the keys that may have signed a token with
	// kid; callers must not modify the slice.
	VerificationKeys(ctx context.Context, kid string) ([]*rsa.PublicKey, error)
}

// RemoteKeySet fetches and caches an issuer's JWKS. It is safe for
// concurrent use. Keys of other types than RSA are ignored; when the JWKS
// endpoint is down, the cached keys keep serving.
type RemoteKeySet struct {
	// JWKSURL is the jwks_uri of the issuer's discovery document.
	JWKSURL string
	// HTTPClient fetches the JWKS; default http.DefaultClient.
	HTTPClient *http.Client
	// MinRefreshInterval limits refetches caused by unknown kids; default 5m.
	MinRefreshInterval time.Duration
	// MaxAge refetches keys older than this, so a key the issuer withdrew
	// stops being trusted; default 24h. A failed refetch keeps the old keys.
	MaxAge time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu   sync.RWMutex
	keys map[string]*rsa.PublicKey
	// byKid holds each key as the one-element slice VerificationKeys
	// returns (capacity 1: an append by a caller cannot write into it), so
	// the hot path allocates nothing.
	byKid     map[string][]*rsa.PublicKey
	fetched   time.Time
	inflight  *fetchCall
	lastError error
}

type fetchCall struct {
	done chan struct{}
	err  error
}

// VerificationKeys implements KeySet.
func (k *RemoteKeySet) VerificationKeys(ctx context.Context, kid string) ([]*rsa.PublicKey, error) {
	maxAge := k.MaxAge
	if maxAge <= 0 {
		maxAge = 24 * time.Hour
	}
	k.mu.RLock()
	stale := len(k.keys) > 0 && k.now().Sub(k.fetched) > maxAge
	k.mu.RUnlock()
	if stale {
		_ = k.refresh(ctx) // on failure the cached keys keep serving
	}
	k.mu.RLock()
	if kid != "" {
		if keys := k.byKid[kid]; keys != nil {
			k.mu.RUnlock()
			return keys, nil
		}
	} else if len(k.keys) > 0 {
		out := make([]*rsa.PublicKey, 0, len(k.keys))
		for _, key := range k.keys {
			out = append(out, key)
		}
		k.mu.RUnlock()
		return out, nil
	}
	k.mu.RUnlock()

	if err := k.refresh(ctx); err != nil {
		return nil, err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if kid == "" {
		out := make([]*rsa.PublicKey, 0, len(k.keys))
		for _, key := range k.keys {
			out = append(out, key)
		}
		return out, nil
	}
	if keys := k.byKid[kid]; keys != nil {
		return keys, nil
	}
	return nil, nil
}

// refresh fetches the JWKS once for all concurrent callers, and not more
// often than MinRefreshInterval. The fetch runs on its own, detached from
// the callers' contexts: a caller that hangs up stops waiting, not the fetch,
// so its attempt is recorded and counts against the rate limit (otherwise a
// flood of requests that disconnect would refetch on each unknown kid).
func (k *RemoteKeySet) refresh(ctx context.Context) error {
	k.mu.Lock()
	call := k.inflight
	if call == nil {
		now := k.now()
		interval := k.MinRefreshInterval
		if interval == 0 {
			interval = 5 * time.Minute
		}
		if !k.fetched.IsZero() && now.Sub(k.fetched) < interval {
			err := k.lastError // rate limited: answer from the cache, or with the
			k.mu.Unlock()      // last failure when there is nothing cached
			return err
		}
		k.fetched = now // the attempt counts from its start, whatever happens next
		call = &fetchCall{done: make(chan struct{})}
		k.inflight = call
		go k.fetchFor(context.WithoutCancel(ctx), call)
	}
	k.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// jwksFetchTimeout bounds a fetch no caller can cancel.
const jwksFetchTimeout = 30 * time.Second

// fetchFor runs call: it fetches the JWKS and stores the keys, or keeps the
// cached ones when the fetch fails.
func (k *RemoteKeySet) fetchFor(ctx context.Context, call *fetchCall) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	keys, err := k.fetch(ctx)
	k.mu.Lock()
	if err == nil {
		k.keys = keys
		k.byKid = make(map[string][]*rsa.PublicKey, len(keys))
		for kid, key := range keys {
			k.byKid[kid] = []*rsa.PublicKey{key}[:1:1]
		}
	} else if len(k.keys) > 0 {
		err = nil // keep serving the cached keys
	}
	k.lastError = err
	k.inflight = nil
	call.err = err
	k.mu.Unlock()
	close(call.done)
}

func (k *RemoteKeySet) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k *RemoteKeySet) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	client := k.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	body, err := getJSON(ctx, client, k.JWKSURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeySetUnavailable, err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeySetUnavailable, err)
	}
	return keys, nil
}

// parseJWKS keeps the RSA signing keys of a JWKS, by kid. Keys of other
// types, or for encryption, are skipped, not errors.
func parseJWKS(body []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty, Use, Kid, N, E, Alg string
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks: %v", err)
	}
	keys := map[string]*rsa.PublicKey{}
	for i, j := range set.Keys {
		if j.Kty != "RSA" || (j.Use != "" && j.Use != "sig") || (j.Alg != "" && j.Alg != "RS256") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(j.N, "="))
		e, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(j.E, "="))
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			continue
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 || pub.E < 3 || pub.E%2 == 0 {
			continue // too weak to trust
		}
		kid := j.Kid
		if kid == "" {
			kid = fmt.Sprintf("#%d", i) // no kid: still usable by a token without one
		}
		keys[kid] = pub
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks: no usable RSA signing key")
	}
	return keys, nil
}

// Metadata is the part of an OpenID Provider's discovery document entrakit uses.
type Metadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	EndSessionEndpoint    string `json:"end_session_endpoint"`
}

// Discover reads {authority}/v2.0/.well-known/openid-configuration and
// checks that its issuer belongs to the authority: the same scheme and host,
// and the same tenant (or the {tenantid} template for common and
// organizations). A mismatch is ErrDiscoveryMismatch: stop, do not guess.
func Discover(ctx context.Context, client *http.Client, authority string) (*Metadata, error) {
	if client == nil {
		client = http.DefaultClient
	}
	authority = strings.TrimSuffix(authority, "/")
	body, err := getJSON(ctx, client, authority+"/v2.0/.well-known/openid-configuration")
	if err != nil {
		return nil, fmt.Errorf("entra: discovery: %w", err)
	}
	var m Metadata
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("entra: discovery: %v", err)
	}
	if m.Issuer == "" || m.JWKSURI == "" || m.TokenEndpoint == "" {
		return nil, fmt.Errorf("entra: discovery: document lacks issuer, jwks_uri or token_endpoint")
	}
	i := strings.LastIndexByte(authority, '/')
	host, tenant := authority[:i], authority[i+1:]
	got, ok := strings.CutPrefix(m.Issuer, host+"/")
	if ok {
		got, ok = strings.CutSuffix(got, "/v2.0")
	}
	switch {
	case !ok:
	case isMultiTenant(tenant):
		ok = got == "{tenantid}"
	case IsGUID(tenant):
		ok = strings.EqualFold(got, tenant)
	default: // a domain: the issuer names the tenant by id
		ok = IsGUID(got)
	}
	if !ok {
		return nil, fmt.Errorf("%w: issuer %q for authority %q", ErrDiscoveryMismatch, m.Issuer, authority)
	}
	// The keys come from the authority's own host (and scheme: https for
	// any real authority), as Entra serves them: a document naming keys
	// elsewhere is not Entra's.
	if ju, err := url.Parse(m.JWKSURI); err != nil || ju.Scheme+"://"+ju.Host != host {
		return nil, fmt.Errorf("%w: jwks_uri %q is not on %s", ErrDiscoveryMismatch, m.JWKSURI, host)
	}
	return &m, nil
}

func getJSON(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return body, nil
}
