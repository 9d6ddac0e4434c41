package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/entra/tokencache"
)

// TokenStats counts app token requests: GetToken calls, the ones served
// from a cache, and HTTP requests that reached a token endpoint.
type TokenStats struct {
	Calls          atomic.Int64
	CacheHits      atomic.Int64
	EndpointCalls  atomic.Int64
	EndpointErrors atomic.Int64
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

// NewCredential returns the app credential cfg names, as an
// azcore.TokenCredential for graphapi:
//
//   - client secret or certificate: an MSAL confidential client whose app
//     token cache is entrakit's sealed tokencache (partition tenant+client:
//     tokens of one tenant are never served for another);
//   - managed identity: azidentity's ManagedIdentityCredential (App Service
//     IDENTITY_ENDPOINT / IDENTITY_HEADER, IMDS, ...);
//   - a federated assertion file (workload identity): azidentity's
//     WorkloadIdentityCredential, re-reading the file for each token.
func NewCredential(cfg entra.Config, o CredentialOptions) (azcore.TokenCredential, error) {
	stats := o.Stats
	if stats == nil {
		stats = &TokenStats{}
	}
	hc := countingClient(o.HTTPClient, stats)
	c := cfg.Credential
	switch {
	case c.ManagedIdentity != nil:
		opts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: hc}}
		if c.ManagedIdentity.ClientID != "" {
			opts.ID = azidentity.ClientID(c.ManagedIdentity.ClientID)
		}
		cred, err := azidentity.NewManagedIdentityCredential(opts)
		if err != nil {
			return nil, fmt.Errorf("daemon: managed identity: %w", err)
		}
		return &countingCredential{cred: cred, stats: stats}, nil
	case c.ClientAssertionFile != "" && c.ClientSecret == "" && c.CertificatePath == "":
		cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientID: cfg.ClientID, TenantID: cfg.TenantID, TokenFilePath: c.ClientAssertionFile,
			DisableInstanceDiscovery: !cfg.Cloud.IsMicrosoftHost(),
			ClientOptions: azcore.ClientOptions{
				Transport: hc,
				Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: authorityHost(cfg)},
			},
		})
		if err != nil {
			return nil, fmt.Errorf("daemon: workload identity: %w", err)
		}
		return &countingCredential{cred: cred, stats: stats}, nil
	}
	if o.Cache == nil {
		return nil, errors.New("daemon: a secret or certificate credential needs a token cache")
	}
	client, err := entra.NewConfidentialClient(cfg, entra.ClientOptions{
		HTTPClient: hc,
		Cache:      o.Cache.Partition("app:" + strings.ToLower(cfg.TenantID) + ":" + strings.ToLower(cfg.ClientID)),
	})
	if err != nil {
		return nil, err
	}
	return &msalCredential{client: client, stats: stats}, nil
}

func authorityHost(cfg entra.Config) string {
	if h := cfg.Cloud.AuthorityHost; h != "" {
		return h
	}
	return entra.AzurePublic.AuthorityHost
}

// msalCredential gets app tokens with client credentials, from MSAL's cache
// first (AcquireTokenByCredential looks there before calling Entra).
type msalCredential struct {
	client confidential.Client
	stats  *TokenStats
}

func (m *msalCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	m.stats.Calls.Add(1)
	var o []confidential.AcquireByCredentialOption
	if opts.Claims != "" {
		o = append(o, confidential.WithClaims(opts.Claims))
	}
	if opts.TenantID != "" {
		o = append(o, confidential.WithTenantID(opts.TenantID))
	}
	res, err := m.client.AcquireTokenByCredential(ctx, opts.Scopes, o...)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("%w: %w", ErrAuth, entra.FromMSAL(err))
	}
	if res.Metadata.TokenSource == 1 { // base.TokenSourceCache
		m.stats.CacheHits.Add(1)
	}
	return azcore.AccessToken{Token: res.AccessToken, ExpiresOn: res.ExpiresOn, RefreshOn: res.Metadata.RefreshOn}, nil
}

// countingCredential counts the calls of an azidentity credential (which
// caches its tokens in memory).
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
	out.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
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

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// azcore.TokenCredential is what graphapi takes.
var (
	_ azcore.TokenCredential = (*msalCredential)(nil)
	_ azcore.TokenCredential = (*countingCredential)(nil)
)
