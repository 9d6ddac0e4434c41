package entra

import (
	"context"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// TokenCredential is the adapter from an MSAL confidential client to
// azcore.TokenCredential, the interface graphapi (through kiota) and the
// Azure SDKs ask for tokens with. It is a value made where the token's owner
// is known: in the web app, by the per-request credential of the session's
// user; in the daemon, once, for the app itself.
//
//   - Account nil: the client's own app-only token (the client credentials
//     grant: AcquireTokenByCredential, which looks in the cache first).
//   - Account set: that account's delegated token (AcquireTokenSilent: the
//     cached access token, else its refresh token at the token endpoint).
//
// Errors are those of [FromMSAL]: an [*AADSTSError] when Entra answered.
type TokenCredential struct {
	Client  confidential.Client
	Account *confidential.Account
	// Scopes, when set, replace the scopes the caller asks for: a page's
	// delegated permissions instead of the resource's /.default.
	Scopes []string
}

var _ azcore.TokenCredential = (*TokenCredential)(nil)

// GetToken implements azcore.TokenCredential. Claims (a claims challenge)
// and TenantID are passed on to MSAL. With claims, an app-only call skips
// MSAL's cached token; an account's call fails (MSAL's silent call refuses
// claims): the user signs in again, with them.
func (c *TokenCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	res, err := c.Acquire(ctx, opts)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return AccessToken(res), nil
}

// Acquire is GetToken with MSAL's whole result: where the token came from
// ([FromCache]) and, after a refresh, the new ID token.
func (c *TokenCredential) Acquire(ctx context.Context, opts policy.TokenRequestOptions) (confidential.AuthResult, error) {
	scopes := opts.Scopes
	if len(c.Scopes) > 0 {
		scopes = c.Scopes
	}
	var res confidential.AuthResult
	var err error
	if c.Account != nil {
		o := []confidential.AcquireSilentOption{confidential.WithSilentAccount(*c.Account)}
		if opts.Claims != "" {
			o = append(o, confidential.WithClaims(opts.Claims))
		}
		if opts.TenantID != "" {
			o = append(o, confidential.WithTenantID(opts.TenantID))
		}
		res, err = c.Client.AcquireTokenSilent(ctx, scopes, o...)
	} else {
		var o []confidential.AcquireByCredentialOption
		if opts.Claims != "" {
			o = append(o, confidential.WithClaims(opts.Claims))
		}
		if opts.TenantID != "" {
			o = append(o, confidential.WithTenantID(opts.TenantID))
		}
		res, err = c.Client.AcquireTokenByCredential(ctx, scopes, o...)
	}
	if err != nil {
		return confidential.AuthResult{}, FromMSAL(err)
	}
	return res, nil
}

// AccessToken is MSAL's result as azcore's access token. RefreshOn is
// MSAL's refresh_in hint: azcore's bearer policy renews from then on.
func AccessToken(res confidential.AuthResult) azcore.AccessToken {
	return azcore.AccessToken{Token: res.AccessToken, ExpiresOn: res.ExpiresOn, RefreshOn: res.Metadata.RefreshOn}
}

// FromCache reports whether MSAL served res from its token cache rather
// than from the token endpoint.
func FromCache(res confidential.AuthResult) bool {
	return res.Metadata.TokenSource == confidential.TokenSourceCache
}

// AppTokenOptions are what NewAppTokenCredential needs besides Config.
type AppTokenOptions struct {
	// HTTPClient for every call to Entra or the managed identity endpoint;
	// default http.DefaultClient.
	HTTPClient *http.Client
	// Cache persists MSAL's cache of a secret or certificate credential
	// (entra/tokencache, one partition per tenant + client); nil: MSAL's
	// in-memory cache.
	Cache cache.ExportReplace
}

// NewAppTokenCredential returns the credential for app-only tokens of the
// identity cfg names:
//
//   - a secret or a certificate: a [*TokenCredential] over an MSAL
//     confidential client for cfg.ClientID;
//   - a client assertion file (workload identity): azidentity's
//     WorkloadIdentityCredential for cfg.ClientID, re-reading the file for
//     each token;
//   - a managed identity: azidentity's ManagedIdentityCredential. The tokens
//     are the managed identity's own: its service principal holds the
//     permissions, and cfg.ClientID is not used. (NewConfidentialClient, for
//     sign-in and delegated tokens, needs an app registration instead and
//     uses the managed identity as that app's federated credential.)
func NewAppTokenCredential(cfg Config, o AppTokenOptions) (azcore.TokenCredential, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch c := cfg.Credential; {
	case c.ManagedIdentity != nil:
		return newManagedIdentity(c.ManagedIdentity, o.HTTPClient)
	case c.ClientAssertionFile != "":
		opts := &azidentity.WorkloadIdentityCredentialOptions{
			ClientID: cfg.ClientID, TenantID: cfg.TenantID, TokenFilePath: c.ClientAssertionFile,
			DisableInstanceDiscovery: !cfg.Cloud.IsMicrosoftHost(),
		}
		opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.Cloud.orDefault().AuthorityHost}
		if o.HTTPClient != nil {
			opts.Transport = o.HTTPClient
		}
		cred, err := azidentity.NewWorkloadIdentityCredential(opts)
		if err != nil {
			return nil, fmt.Errorf("entra: workload identity: %w", err)
		}
		return cred, nil
	}
	client, err := NewConfidentialClient(cfg, ClientOptions{HTTPClient: o.HTTPClient, Cache: o.Cache})
	if err != nil {
		return nil, err
	}
	return &TokenCredential{Client: client}, nil
}

// newManagedIdentity is azidentity's credential for the host's managed
// identity (App Service IDENTITY_ENDPOINT / IDENTITY_HEADER, IMDS, ...).
func newManagedIdentity(mi *ManagedIdentity, httpClient *http.Client) (*azidentity.ManagedIdentityCredential, error) {
	opts := &azidentity.ManagedIdentityCredentialOptions{}
	if httpClient != nil {
		opts.Transport = httpClient
	}
	if mi.ClientID != "" {
		opts.ID = azidentity.ClientID(mi.ClientID)
	}
	cred, err := azidentity.NewManagedIdentityCredential(opts)
	if err != nil {
		return nil, fmt.Errorf("entra: managed identity: %w", err)
	}
	return cred, nil
}
