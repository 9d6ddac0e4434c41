package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
	"github.com/entrakit/entrakit/internal/roundtrip"
)

// TokenStats counts app token requests: GetToken calls, the ones served
// from a cache, and HTTP requests that reached a token endpoint.
type TokenStats struct {
	Calls          atomic.Int64
	CacheHits      atomic.Int64
	EndpointCalls  atomic.Int64
	EndpointErrors atomic.Int64
	// LastExpiry is when the last token served expires (Unix seconds; 0
	// before the first), for `daemon run` to say.
	LastExpiry atomic.Int64
}

// CredentialOptions are what NewCredential needs besides the config.
type CredentialOptions struct {
	// HTTPClient reaches Entra (or the managed identity endpoint).
	HTTPClient *http.Client
	// Cache holds the app token of a secret or certificate credential (a
	// file store by default in cmd/daemon, so a restart reuses the token).
	Cache *tokencache.Cache
	// Stats is filled in when set.
	Stats *TokenStats
}

// NewCredential returns the daemon's app credential, as the
// azcore.TokenCredential graphapi takes: entra.NewAppTokenCredential for the
// identity cfg names (a secret or certificate through MSAL, workload or
// managed identity through azidentity: see there what a managed identity
// means for app-only tokens), counted in o.Stats and with its failures
// wrapped in ErrAuth. A secret or certificate needs o.Cache: its token is
// kept in the partition of tenant+client (tokens of one tenant are never
// served for another), so one token serves every run until it expires,
// restarts included.
func NewCredential(cfg entra.Config, o CredentialOptions) (azcore.TokenCredential, error) {
	stats := o.Stats
	if stats == nil {
		stats = &TokenStats{}
	}
	opts := entra.AppTokenOptions{HTTPClient: countingClient(o.HTTPClient, stats)}
	switch cfg.Credential.Kind() {
	case "secret", "certificate", "none":
		if o.Cache == nil {
			return nil, errors.New("daemon: a secret or certificate credential needs a token cache")
		}
		opts.Cache = o.Cache.Partition("app:" + strings.ToLower(cfg.TenantID) + ":" + strings.ToLower(cfg.ClientID))
	}
	cred, err := entra.NewAppTokenCredential(cfg, opts)
	if err != nil {
		return nil, err
	}
	if msal, ok := cred.(*entra.TokenCredential); ok {
		return &msalCredential{cred: msal, stats: stats}, nil
	}
	return &countingCredential{cred: cred, stats: stats}, nil
}

// msalCredential counts the app tokens of an MSAL credential, which says
// whether it found the token in its cache.
type msalCredential struct {
	cred  *entra.TokenCredential
	stats *TokenStats
}

func (m *msalCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	m.stats.Calls.Add(1)
	res, err := m.cred.Acquire(ctx, opts)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("%w: %w", ErrAuth, err)
	}
	if entra.FromCache(res) {
		m.stats.CacheHits.Add(1)
	}
	m.stats.LastExpiry.Store(res.ExpiresOn.Unix())
	return entra.AccessToken(res), nil
}

// countingCredential counts the calls of an azidentity credential (which
// caches its tokens in memory): a call that reached no token endpoint was a
// cache hit.
type countingCredential struct {
	cred  azcore.TokenCredential
	stats *TokenStats
}

func (c *countingCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.stats.Calls.Add(1)
	before := c.stats.EndpointCalls.Load()
	tok, err := c.cred.GetToken(ctx, opts)
	if err != nil {
		return tok, fmt.Errorf("%w: %w", ErrAuth, err)
	}
	if c.stats.EndpointCalls.Load() == before {
		c.stats.CacheHits.Add(1)
	}
	c.stats.LastExpiry.Store(tok.ExpiresOn.Unix())
	return tok, nil
}

// countingClient counts the requests that reach Entra.
func countingClient(hc *http.Client, stats *TokenStats) *http.Client {
	if hc == nil {
		hc = &http.Client{}
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	out := *hc
	out.Transport = roundtrip.Func(func(r *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if isTokenRequest(r) {
			stats.EndpointCalls.Add(1)
			if err != nil || resp.StatusCode >= 400 {
				stats.EndpointErrors.Add(1)
			}
		}
		return resp, err
	})
	return &out
}

func isTokenRequest(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasSuffix(p, "/oauth2/v2.0/token") || strings.HasSuffix(p, "/oauth2/token") ||
		strings.Contains(p, "/msi/") || strings.Contains(p, "/metadata/identity/oauth2/token")
}

// azcore.TokenCredential is what graphapi takes.
var (
	_ azcore.TokenCredential = (*msalCredential)(nil)
	_ azcore.TokenCredential = (*countingCredential)(nil)
)
