package directory

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Federated identity credentials (workload identity federation): an app
// trusts tokens that an external OIDC issuer gives a workload, and accepts
// one as its client assertion instead of a secret or a certificate. The
// identity endpoints verify such assertions; the directory keeps the
// credentials.

const (
	maxFICsPerApp = 20
	// DefaultFederatedAudience is the audience Entra expects in federated
	// assertions unless a federated identity credential names another.
	DefaultFederatedAudience = "api://AzureADTokenExchange"
)

// FederatedCredential is a federated identity credential of an app, in the
// shape of Microsoft Graph's federatedIdentityCredential resource: the app
// accepts, as its client assertion, a token whose iss is Issuer, whose sub
// is Subject (both compared case-sensitively, byte for byte) and whose aud
// holds an element of Audiences.
type FederatedCredential struct {
	// Name identifies the credential in its app (at most 120 URL-friendly
	// characters); AddFederatedCredential derives one when empty.
	Name string `json:"name"`
	// Issuer is the external issuer's URL (https); the dev tenant fetches
	// Issuer+"/.well-known/openid-configuration" and the jwks_uri it names.
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	// Audiences holds one value; default DefaultFederatedAudience.
	Audiences   []string `json:"audiences"`
	Description string   `json:"description,omitempty"`
}

// normalize applies defaults and Graph's constraints.
func (f *FederatedCredential) normalize() error {
	if len(f.Audiences) == 0 {
		f.Audiences = []string{DefaultFederatedAudience}
	}
	u, err := url.Parse(f.Issuer)
	switch {
	case f.Issuer == "" || len(f.Issuer) > 600 || err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("issuer %q is not an https URL of at most 600 characters", f.Issuer)
	case f.Subject == "" || len(f.Subject) > 600:
		return errors.New("subject must have 1 to 600 characters")
	case len(f.Audiences) != 1 || f.Audiences[0] == "" || len(f.Audiences[0]) > 600:
		return errors.New("audiences must hold exactly one value of at most 600 characters")
	case len(f.Description) > 600:
		return errors.New("description is longer than 600 characters")
	}
	if f.Name == "" {
		sum := sha256.Sum256([]byte(f.Issuer + "\x00" + f.Subject))
		f.Name = "fic-" + base64.RawURLEncoding.EncodeToString(sum[:9])
	}
	if len(f.Name) > 120 || strings.Trim(f.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~") != "" {
		return fmt.Errorf("name %q is not at most 120 URL-friendly characters", f.Name)
	}
	return nil
}

// checkFICs normalizes an app's federated identity credentials and checks
// that names and issuer+subject pairs are unique, and their number.
func checkFICs(fics []FederatedCredential) error {
	if len(fics) > maxFICsPerApp {
		return fmt.Errorf("%d federated identity credentials; an app may have %d", len(fics), maxFICsPerApp)
	}
	for i := range fics {
		if err := fics[i].normalize(); err != nil {
			return fmt.Errorf("federatedIdentityCredentials[%d]: %w", i, err)
		}
		for _, g := range fics[:i] {
			if strings.EqualFold(g.Name, fics[i].Name) {
				return fmt.Errorf("federatedIdentityCredentials[%d]: duplicate name %q", i, fics[i].Name)
			}
			if g.Issuer == fics[i].Issuer && g.Subject == fics[i].Subject {
				return fmt.Errorf("federatedIdentityCredentials[%d]: issuer and subject already used by %q", i, g.Name)
			}
		}
	}
	return nil
}

// AddFederatedCredential adds a federated identity credential to the app
// appID, as POST /applications/{id}/federatedIdentityCredentials does. The
// app may then authenticate at the token endpoint with a client assertion
// (client_assertion_type urn:ietf:params:oauth:client-assertion-type:jwt-bearer)
// that the issuer signed for the subject and audience: azidentity's
// WorkloadIdentityCredential and ClientAssertionCredential send one.
func (d *Directory) AddFederatedCredential(appID string, fic FederatedCredential) error {
	return d.withApp(appID, func(a *App) error {
		list := append(slices.Clone(a.FederatedIdentityCredentials), fic)
		if err := checkFICs(list); err != nil {
			return fmt.Errorf("devtenant: AddFederatedCredential: %w", err)
		}
		a.FederatedIdentityCredentials = list
		return nil
	})
}
