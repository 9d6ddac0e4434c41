package identity

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"time"
)

// signingKey is one RSA-2048 token signing key with its self-signed
// certificate, published in the JWKS as Entra does (kid = x5t, x5c present).
type signingKey struct {
	key       *rsa.PrivateKey
	certDER   []byte
	kid       string
	header    string // base64url JWT header {"typ":"JWT","alg":"RS256","kid":...}
	retiredAt time.Time
}

func newSigningKey(now time.Time) (*signingKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net (entrakit dev tenant)"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(der) // x5t is the SHA-1 thumbprint (RFC 7517 §4.8); not a security use
	kid := base64.RawURLEncoding.EncodeToString(sum[:])
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": kid})
	return &signingKey{key: key, certDER: der, kid: kid, header: base64.RawURLEncoding.EncodeToString(hdr)}, nil
}

// keyRing holds the signing keys: the current one signs; the next one is
// published before it is used (so relying parties that cache the JWKS already
// know it when it becomes current); retired ones stay published for a grace
// period so tokens they signed still validate.
type keyRing struct {
	current *signingKey
	next    *signingKey
	retired []*signingKey
	grace   time.Duration
}

// rotate promotes next to current, retires current, and makes a new next.
func (r *keyRing) rotate(now time.Time) error {
	nk, err := newSigningKey(now)
	if err != nil {
		return err
	}
	r.current.retiredAt = now
	r.retired = append(r.retired, r.current)
	r.current, r.next = r.next, nk
	r.prune(now)
	return nil
}

func (r *keyRing) prune(now time.Time) {
	kept := r.retired[:0]
	for _, k := range r.retired {
		if now.Sub(k.retiredAt) < r.grace {
			kept = append(kept, k)
		}
	}
	r.retired = kept
}

// published lists the keys in the JWKS: current, next, then retired ones.
func (r *keyRing) published(now time.Time) []*signingKey {
	keys := []*signingKey{r.current, r.next}
	for _, k := range r.retired {
		if now.Sub(k.retiredAt) < r.grace {
			keys = append(keys, k)
		}
	}
	return keys
}

type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer,omitempty"`
}

func (k *signingKey) jwk(issuer string) jwk {
	return jwk{
		Kty: "RSA", Use: "sig", Kid: k.kid, X5t: k.kid,
		N:      base64.RawURLEncoding.EncodeToString(k.key.N.Bytes()),
		E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.key.E)).Bytes()),
		X5c:    []string{base64.StdEncoding.EncodeToString(k.certDER)},
		Issuer: issuer,
	}
}

// sign returns a compact JWS of payload (already JSON) with the given
// base64url header.
func sign(key *rsa.PrivateKey, header string, payload []byte) (string, error) {
	n := len(header) + 1 + base64.RawURLEncoding.EncodedLen(len(payload))
	buf := make([]byte, 0, n+1+342)
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, sig)
	return string(buf), nil
}
