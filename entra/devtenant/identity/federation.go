package identity

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

// Federated identity credentials (workload identity federation): an app
// trusts tokens that an external OIDC issuer gives a workload, and accepts
// one as its client assertion instead of a secret or a certificate.

const (
	ficDocsURL = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
	// fedCacheTTL is how long an issuer's discovery document and keys are
	// cached; a token signed with an unknown kid refetches them, at most
	// every fedRefetchMin.
	fedCacheTTL   = 5 * time.Minute
	fedRefetchMin = 10 * time.Second
	fedSkew       = 5 * time.Minute
	maxOIDCBody   = 1 << 20
)

// federation fetches and caches external issuers' signing keys.
type federation struct {
	client func() *http.Client
	mu     sync.Mutex
	cache  map[string]*issuerKeys // by issuer
}

type issuerKeys struct {
	keys    map[string]*rsa.PublicKey // by kid
	fetched time.Time
}

func newFederation(client *http.Client, ca *x509.Certificate) *federation {
	f := &federation{cache: map[string]*issuerKeys{}}
	f.client = sync.OnceValue(func() *http.Client {
		if client != nil {
			return client
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pool.AddCert(ca)
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute,
		}}
	})
	return f
}

// federatedAuth is a federated client assertion verified before the token
// endpoint takes the server's lock (verifying it may need the network).
type federatedAuth struct{ appID, assertion string }

type federatedKey struct{}

func federatedErr(code int, format string, args ...any) *aadError {
	return invalidClient(code, format, args...)
}

// verifyFederated checks a client assertion issued by someone other than the
// client itself against the client's federated identity credentials:
// issuer, the issuer's signature (discovery and JWKS fetched over HTTPS),
// lifetime, subject, audience. It returns nil, nil when the request carries
// no such assertion (the token endpoint's usual client authentication then
// decides). Caller must not hold p.mu.
func (p *Provider) verifyFederated(r *http.Request, form url.Values) (*federatedAuth, *aadError) {
	assertion, clientID := form.Get("client_assertion"), form.Get("client_id")
	if assertion == "" || clientID == "" || form.Get("client_assertion_type") != jwtBearer || form.Get("client_secret") != "" {
		return nil, nil
	}
	if _, _, ok := r.BasicAuth(); ok {
		return nil, nil
	}
	hb, pb, sig, err := splitJWT(assertion)
	if err != nil {
		return nil, nil
	}
	var h jwsHeader
	var c assertionClaims
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(pb, &c) != nil || c.Iss == "" || strings.EqualFold(c.Iss, clientID) {
		return nil, nil // not federated: a certificate assertion (or malformed, which that path reports)
	}
	p.lock()
	a := p.tx.App(clientID)
	var appID string
	var fics []directory.FederatedCredential
	if a != nil {
		appID, fics = a.AppID, slices.Clone(a.FederatedIdentityCredentials)
	}
	p.unlock()
	if a == nil {
		return nil, nil // AADSTS700016, from the usual path
	}
	if p.isTenantIssuer(c.Iss) {
		return nil, federatedErr(700236, "Entra ID tokens issued by issuer '%s' may not be used for federated identity credential flows for applications or managed identities registered in this tenant.", c.Iss)
	}
	var byIssuer []directory.FederatedCredential
	for _, f := range fics {
		if f.Issuer == c.Iss {
			byIssuer = append(byIssuer, f)
		}
	}
	if len(byIssuer) == 0 {
		return nil, federatedErr(700211, "No matching federated identity record found for presented assertion issuer '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. %s", c.Iss, ficDocsURL)
	}
	if h.Alg != "RS256" && h.Alg != "PS256" {
		return nil, federatedErr(5002738, "Invalid JWT token. '%s' is not a supported signature algorithm. Supported signing algorithms are: 'RS256,PS256'.", h.Alg)
	}
	now := p.cfg.Now()
	key, aerr := p.fed.key(r.Context(), p.log, c.Iss, h.Kid, now)
	if aerr != nil {
		return nil, aerr
	}
	if !verifyRSA(key, h.Alg, assertion, sig) {
		return nil, federatedErr(700027, "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value., Issuer: '%s']", c.Iss)
	}
	if c.Exp == nil || now.After(time.Unix(*c.Exp, 0).Add(fedSkew)) || (c.Nbf != nil && now.Add(fedSkew).Before(time.Unix(*c.Nbf, 0))) {
		const f = "2006-01-02T15:04:05.0000000Z"
		from, until := time.Unix(0, 0).UTC().Format(f), "(none)"
		if c.Nbf != nil {
			from = time.Unix(*c.Nbf, 0).UTC().Format(f)
		}
		if c.Exp != nil {
			until = time.Unix(*c.Exp, 0).UTC().Format(f)
		}
		return nil, federatedErr(700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
			now.UTC().Format(f), from, until)
	}
	var match *directory.FederatedCredential
	caseOnly := false
	for i, f := range byIssuer {
		if f.Subject == c.Sub {
			match = &byIssuer[i]
			break
		}
		caseOnly = caseOnly || strings.EqualFold(f.Subject, c.Sub)
	}
	switch {
	case match == nil && caseOnly:
		return nil, federatedErr(7002138, "No matching federated identity record found for presented assertion subject '%s'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. See documentation at: %s.", c.Sub, ficDocsURL)
	case match == nil:
		return nil, federatedErr(700213, "No matching federated identity record found for presented assertion subject '%s'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. %s", c.Sub, ficDocsURL)
	}
	audOK := false
	for _, got := range c.Aud {
		audOK = audOK || slices.Contains(match.Audiences, got)
	}
	if !audOK {
		return nil, federatedErr(700212, "No matching federated identity record found for presented assertion audience '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. %s", strings.Join(c.Aud, " "), ficDocsURL)
	}
	return &federatedAuth{appID: appID, assertion: assertion}, nil
}

// federatedClient is authenticate's hook for a client assertion: handled is
// false when the assertion is the client's own (iss = client id, a
// certificate assertion); otherwise it must have been verified by
// verifyFederated for this request.
func federatedClient(r *http.Request, a *directory.App, assertion string) (ca clientAuth, aerr *aadError, handled bool) {
	_, pb, _, err := splitJWT(assertion)
	var c struct {
		Iss string `json:"iss"`
	}
	if err != nil || json.Unmarshal(pb, &c) != nil || c.Iss == "" || strings.EqualFold(c.Iss, a.AppID) {
		return clientAuth{}, nil, false
	}
	if fa, _ := r.Context().Value(federatedKey{}).(*federatedAuth); fa != nil && fa.assertion == assertion && strings.EqualFold(fa.appID, a.AppID) {
		return clientAuth{client: a, acr: "2"}, nil, true
	}
	return clientAuth{}, federatedErr(700211, "No matching federated identity record found for presented assertion issuer '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. %s", c.Iss, ficDocsURL), true
}

// key returns the issuer's public key kid (the only key when kid is empty),
// from the cache or fetched.
func (f *federation) key(ctx context.Context, log *slog.Logger, issuer, kid string, now time.Time) (*rsa.PublicKey, *aadError) {
	f.mu.Lock()
	e := f.cache[issuer]
	f.mu.Unlock()
	lookup := func(e *issuerKeys) *rsa.PublicKey {
		if k := e.keys[kid]; k != nil || kid != "" || len(e.keys) != 1 {
			return k
		}
		for _, k := range e.keys {
			return k
		}
		return nil
	}
	if e == nil || now.Sub(e.fetched) > fedCacheTTL || now.Before(e.fetched) || (lookup(e) == nil && now.Sub(e.fetched) > fedRefetchMin) {
		ne, err := f.fetch(ctx, issuer)
		if err != nil {
			log.LogAttrs(ctx, slog.LevelInfo, "external OIDC endpoint failed", slog.String("issuer", issuer), slog.String("error", err.Error()))
			return nil, newAADError(http.StatusBadRequest, "invalid_request", 50166, "Request to External OIDC endpoint failed.")
		}
		ne.fetched = now
		f.mu.Lock()
		f.cache[issuer] = ne
		f.mu.Unlock()
		e = ne
	}
	if k := lookup(e); k != nil {
		return k, nil
	}
	return nil, federatedErr(7000272, "The certificate with identifier %s used to sign the federated credential could not be found in the metadata of identity provider %s. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token.", kid, issuer)
}

// fetch reads issuer's OIDC discovery document (whose issuer must be issuer
// exactly) and the RSA keys of its https jwks_uri.
func (f *federation) fetch(ctx context.Context, issuer string) (*issuerKeys, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := f.getJSON(ctx, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
		return nil, err
	}
	if doc.Issuer != issuer {
		return nil, fmt.Errorf("discovery document names issuer %q", doc.Issuer)
	}
	if u, err := url.Parse(doc.JWKSURI); err != nil || u.Scheme != "https" {
		return nil, fmt.Errorf("jwks_uri %q is not https", doc.JWKSURI)
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := f.getJSON(ctx, doc.JWKSURI, &set); err != nil {
		return nil, err
	}
	out := &issuerKeys{keys: map[string]*rsa.PublicKey{}}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		nb, err1 := base64.RawURLEncoding.DecodeString(k.N)
		eb, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(eb) == 0 || len(eb) > 4 {
			continue
		}
		n, e := new(big.Int).SetBytes(nb), int(new(big.Int).SetBytes(eb).Int64())
		if n.BitLen() < 2048 || e < 3 {
			continue
		}
		out.keys[k.Kid] = &rsa.PublicKey{N: n, E: e}
	}
	if len(out.keys) == 0 {
		return nil, errors.New("no usable RSA signing key in the JWKS")
	}
	return out, nil
}

func (f *federation) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", req.URL.Redacted(), resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxOIDCBody)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
	}
	return nil
}

// isTenantIssuer reports whether iss is one of this tenant's own token
// issuers (v2 or v1), which Entra refuses as federated assertions.
func (p *Provider) isTenantIssuer(iss string) bool {
	iss = strings.TrimSuffix(iss, "/")
	return iss == strings.TrimSuffix(p.Issuer(), "/") || iss == "https://sts.windows.net/"+p.dir.TenantID()
}
