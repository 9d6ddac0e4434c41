// Package workload is a tiny OIDC issuer served by the dev tenant itself,
// standing in for a Kubernetes cluster's service-account issuer (AKS's
// oidcIssuerProfile), GitHub Actions or any other workload identity provider:
// tests and tools get federated tokens with nothing else running.
//
// Register its issuer URL on a federated identity credential of an app,
// issue a token for a subject, and present it as the app's client assertion
// (azidentity's WorkloadIdentityCredential reads it from
// AZURE_FEDERATED_TOKEN_FILE); the identity endpoints fetch this issuer's
// discovery document and keys over HTTPS, as Entra fetches a cluster's. It
// has its own signing key, separate from the tenant's: Entra refuses its own
// tokens as federated assertions.
package workload

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

const (
	workloadPath            = "/workload"
	defaultWorkloadLifetime = time.Hour
)

type workloadKey struct {
	key    *rsa.PrivateKey
	kid    string
	header string // base64url {"alg":"RS256","kid":...,"typ":"JWT"}
}

// Issuer is the workload identity provider. It generates its key on first use: most dev tenants never
// issue a workload token, and RSA key generation is slow under -race.
type Issuer struct {
	url func() string
	now func() time.Time
	key func() (*workloadKey, error)
}

// New makes the issuer of the dev tenant whose URL (https://localhost:PORT,
// "" before it listens) url returns; now is the tenant's clock.
func New(url func() string, now func() time.Time) *Issuer {
	return &Issuer{url: url, now: now, key: sync.OnceValues(func() (*workloadKey, error) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(der) // Kubernetes' kid: base64url(SHA-256(PKIX public key))
		kid := base64.RawURLEncoding.EncodeToString(sum[:])
		h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
		return &workloadKey{key: k, kid: kid, header: base64.RawURLEncoding.EncodeToString(h)}, nil
	})}
}

// URL is the issuer URL of the dev tenant's workload identity
// provider (https://localhost:PORT/workload, set by Start): register it as
// the issuer of a federated identity credential (AddFederatedCredential of the directory)
// and present tokens from IssueToken. Its discovery document
// is at URL()+"/.well-known/openid-configuration".
func (wi *Issuer) URL() string {
	u := wi.url()
	if u == "" {
		return ""
	}
	return u + workloadPath
}

// IssueToken returns a token of the workload issuer for subject (e.g.
// "system:serviceaccount:NAMESPACE:NAME"), like a Kubernetes projected
// service-account token: RS256, iss WorkloadIssuer(), aud [audience]
// (directory.DefaultFederatedAudience when empty), sub, iat, nbf, exp = now + lifetime
// (one hour when zero), jti. Write it to the file AZURE_FEDERATED_TOKEN_FILE
// names for azidentity.WorkloadIdentityCredential. The tenant's clock
// (AdvanceClock) applies.
func (wi *Issuer) IssueToken(subject, audience string, lifetime time.Duration) (string, error) {
	iss := wi.URL()
	switch {
	case iss == "":
		return "", errors.New("devtenant: IssueWorkloadToken: the server is not started")
	case subject == "" || len(subject) > 600:
		return "", errors.New("devtenant: IssueWorkloadToken: subject must have 1 to 600 characters")
	case lifetime < 0:
		return "", errors.New("devtenant: IssueWorkloadToken: negative lifetime")
	}
	if audience == "" {
		audience = directory.DefaultFederatedAudience
	}
	if lifetime == 0 {
		lifetime = defaultWorkloadLifetime
	}
	k, err := wi.key()
	if err != nil {
		return "", err
	}
	now := wi.now()
	payload, _ := json.Marshal(map[string]any{
		"aud": []string{audience}, "exp": now.Add(lifetime).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"iss": iss, "jti": directory.NewObjectID(), "sub": subject,
	})
	signing := k.header + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, k.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// Routes serves the issuer's discovery document and JWKS under /workload.
func (wi *Issuer) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+workloadPath+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := wi.URL()
		w.Header().Set("Cache-Control", "max-age=3600, public")
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer": iss, "jwks_uri": iss + "/openid/v1/jwks",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET "+workloadPath+"/openid/v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		k, err := wi.key()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "no key"})
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600, public")
		writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
			"use": "sig", "kty": "RSA", "kid": k.kid, "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
		}}})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
