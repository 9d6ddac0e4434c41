package entra

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// ClientOptions are what an MSAL client is built with besides Config.
type ClientOptions struct {
	// HTTPClient for every call MSAL makes; default http.DefaultClient.
	HTTPClient *http.Client
	// Cache persists MSAL's token cache (entra/tokencache); nil: MSAL's
	// in-memory cache.
	Cache cache.ExportReplace
	// Capabilities the client declares, e.g. "cp1" for continuous access
	// evaluation (CAE): Entra then sends claims challenges instead of
	// waiting for tokens to expire.
	Capabilities []string
	// Credential, when set, is the app's credential made once with
	// NewClientCredential and shared by many clients (one per user or per
	// caller's token): a certificate parsed once, one managed identity
	// credential with its token cache. Nil: made from cfg for this client.
	Credential *confidential.Credential
}

// NewClientCredential is how the app registration proves itself (see
// NewConfidentialClient), made once to share through ClientOptions.
func NewClientCredential(cfg Config, httpClient *http.Client) (confidential.Credential, error) {
	if err := cfg.Validate(); err != nil {
		return confidential.Credential{}, err
	}
	return clientCredential(cfg, httpClient)
}

// NewConfidentialClient builds an MSAL confidential client for the app
// registration cfg.ClientID, which proves itself with cfg.Credential (a
// managed identity as the app's federated credential). Sign-in, on-behalf-of
// and delegated tokens need it; [TokenCredential] turns it into an
// azcore.TokenCredential. Instance discovery is off for hosts outside
// Microsoft's clouds (the dev tenant, a proxy): MSAL would otherwise ask
// login.microsoftonline.com about them.
func NewConfidentialClient(cfg Config, o ClientOptions) (confidential.Client, error) {
	if err := cfg.Validate(); err != nil {
		return confidential.Client{}, err
	}
	var cred confidential.Credential
	var err error
	if o.Credential != nil {
		cred = *o.Credential
	} else if cred, err = clientCredential(cfg, o.HTTPClient); err != nil {
		return confidential.Client{}, err
	}
	opts := append([]confidential.Option{confidential.WithInstanceDiscovery(cfg.Cloud.IsMicrosoftHost())},
		msalOptions(o, confidential.WithHTTPClient, confidential.WithCache, confidential.WithClientCapabilities)...)
	return confidential.New(cfg.Authority(), cfg.ClientID, cred, opts...)
}

// msalOptions are o as options of MSAL's confidential or public package,
// which each have their own Option type and With functions. H is inferred
// as MSAL's internal HTTP client interface, which *http.Client implements.
func msalOptions[O, H any](o ClientOptions, withHTTPClient func(H) O, withCache func(cache.ExportReplace) O, withCapabilities func([]string) O) []O {
	var opts []O
	if o.HTTPClient != nil {
		opts = append(opts, withHTTPClient(any(o.HTTPClient).(H)))
	}
	if o.Cache != nil {
		opts = append(opts, withCache(o.Cache))
	}
	if len(o.Capabilities) > 0 {
		opts = append(opts, withCapabilities(o.Capabilities))
	}
	return opts
}

// clientCredential is how the app registration cfg.ClientID proves itself
// to MSAL: a secret; a certificate (PEM or PFX) for private_key_jwt; a
// client assertion read from a file on every use (workload identity
// federation); or the host's managed identity used as the app's federated
// credential (its token for api://AzureADTokenExchange is the client
// assertion). For the managed identity's own tokens, see
// NewAppTokenCredential.
func clientCredential(cfg Config, httpClient *http.Client) (confidential.Credential, error) {
	c := cfg.Credential
	switch {
	case c.ClientSecret != "":
		return confidential.NewCredFromSecret(c.ClientSecret)
	case c.CertificatePath != "":
		certs, key, err := LoadCertificate(c.CertificatePath, c.CertificatePassword)
		if err != nil {
			return confidential.Credential{}, err
		}
		return confidential.NewCredFromCert(certs, key)
	case c.ClientAssertionFile != "":
		path := c.ClientAssertionFile
		return confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("entra: client assertion file: %w", err)
			}
			return strings.TrimSpace(string(b)), nil
		}), nil
	case c.ManagedIdentity != nil:
		mi, err := newManagedIdentity(c.ManagedIdentity, httpClient)
		if err != nil {
			return confidential.Credential{}, err
		}
		return confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
			tok, err := mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{tokenExchangeScope(cfg.Cloud)}})
			if err != nil {
				return "", fmt.Errorf("entra: managed identity assertion: %w", err)
			}
			return tok.Token, nil
		}), nil
	}
	return confidential.Credential{}, errors.New("entra: Config.Credential: a confidential client needs a secret, a certificate, a client assertion file or a managed identity")
}

// tokenExchangeScope is the audience Entra expects for a managed identity
// used as a federated credential.
// https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity
func tokenExchangeScope(c Cloud) string {
	switch c.orDefault().Name {
	case "usgov":
		return "api://AzureADTokenExchangeUSGov/.default"
	case "china":
		return "api://AzureADTokenExchangeChina/.default"
	}
	return "api://AzureADTokenExchange/.default"
}

// LoadCertificate reads a certificate chain and its private key from a PEM
// or PFX (PKCS#12) file.
func LoadCertificate(path, password string) ([]*x509.Certificate, crypto.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("entra: certificate: %w", err)
	}
	var pw []byte
	if password != "" {
		pw = []byte(password)
	}
	certs, key, err := azidentity.ParseCertificates(data, pw)
	if err != nil {
		return nil, nil, fmt.Errorf("entra: certificate %s: %w", path, err)
	}
	if len(certs) == 0 || key == nil {
		return nil, nil, fmt.Errorf("entra: certificate %s: needs a certificate and its private key", path)
	}
	return certs, key, nil
}

// randomToken is 32 bytes from crypto/rand, base64url: state and nonce
// (>= 128 bits, RFC 9700 §4.7.1).
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
