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
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
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
	return signingKeyOf(key, der), nil
}

// signingKeyOf names key by its certificate: the kid is the certificate's
// thumbprint, so a kept key must keep its certificate too.
func signingKeyOf(key *rsa.PrivateKey, certDER []byte) *signingKey {
	sum := sha1.Sum(certDER) // x5t is the SHA-1 thumbprint (RFC 7517 §4.8); not a security use
	kid := base64.RawURLEncoding.EncodeToString(sum[:])
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": kid})
	return &signingKey{key: key, certDER: certDER, kid: kid, header: base64.RawURLEncoding.EncodeToString(hdr)}
}

// loadOrCreateSigningKey is the key that signs first: a new one when path
// is "", else the one kept in path (PEM: its certificate and PKCS #8 key),
// created there (0600) when the file is absent or its certificate has less
// than a day left. Tokens it signed validate after a restart: a client's
// token cache may outlive the tenant's process (cmd/daemon's dev mode).
// A file that is there but unreadable is an error, not replaced.
func loadOrCreateSigningKey(path string, now time.Time) (*signingKey, error) {
	if path == "" {
		return newSigningKey(now)
	}
	k, err := loadSigningKey(path)
	switch {
	case err == nil && now.Before(k.notAfter.Add(-24*time.Hour)):
		return k.signingKey, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("devtenant: signing key file %s: %w (delete it for a new key)", path, err)
	}
	expiring := err == nil
	nk, err := newSigningKey(now)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(nk.key)
	if err != nil {
		return nil, err
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: nk.certDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	won, err := writeKeyFile(path, data, expiring)
	if err != nil {
		return nil, fmt.Errorf("devtenant: signing key file %s: %w", path, err)
	}
	if !won {
		// Another start created it first: sign with its key, so that both
		// starts' tokens stay valid on the next.
		return loadOrCreateSigningKey(path, now)
	}
	return nk, nil
}

// keptKey is a signing key read from its file, with its certificate's end.
type keptKey struct {
	*signingKey
	notAfter time.Time
}

func loadSigningKey(path string) (keptKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return keptKey{}, err
	}
	var certDER, keyDER []byte
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			certDER = b.Bytes
		case "PRIVATE KEY":
			keyDER = b.Bytes
		}
	}
	if certDER == nil || keyDER == nil {
		return keptKey{}, errors.New("want a PEM CERTIFICATE and PRIVATE KEY")
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return keptKey{}, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return keptKey{}, err
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok || key.N.BitLen() < 2048 || !key.PublicKey.Equal(cert.PublicKey) {
		return keptKey{}, errors.New("the key is not an RSA key of 2048 bits or more matching the certificate")
	}
	return keptKey{signingKeyOf(key, certDER), cert.NotAfter}, nil
}

// writeKeyFile writes data to path with 0600, replacing an expired file
// (replace) or, when there was none, only if no other process wrote one
// meanwhile: it reports false then, and leaves theirs.
func writeKeyFile(path string, data []byte, replace bool) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signing-key-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if replace {
		return true, os.Rename(tmp.Name(), path)
	}
	// A hard link never replaces: of two first starts, one wins.
	err = os.Link(tmp.Name(), path)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	return err == nil, err
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
