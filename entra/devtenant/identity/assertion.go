package identity

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/entrakit/entrakit/entra/devtenant/directory"
)

const maxJWTSize = 16 << 10

var errMalformedJWT = errors.New("malformed JWT")

// splitJWT decodes a compact JWS into header, payload and signature. It
// never panics on hostile input.
func splitJWT(jwt string) (header, payload, sig []byte, err error) {
	if len(jwt) > maxJWTSize || strings.Count(jwt, ".") != 2 {
		return nil, nil, nil, errMalformedJWT
	}
	parts := strings.SplitN(jwt, ".", 3)
	if header, err = base64.RawURLEncoding.DecodeString(parts[0]); err != nil {
		return nil, nil, nil, errMalformedJWT
	}
	if payload, err = base64.RawURLEncoding.DecodeString(parts[1]); err != nil {
		return nil, nil, nil, errMalformedJWT
	}
	if sig, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, nil, nil, errMalformedJWT
	}
	return header, payload, sig, nil
}

type jwsHeader struct {
	Alg     string `json:"alg"`
	Kid     string `json:"kid"`
	X5t     string `json:"x5t"`
	X5tS256 string `json:"x5t#S256"`
}

// verifyRSA checks an RS256 or PS256 signature over the signing input.
func verifyRSA(pub *rsa.PublicKey, alg, jwt string, sig []byte) bool {
	input := jwt[:strings.LastIndexByte(jwt, '.')]
	digest := sha256.Sum256([]byte(input))
	switch alg {
	case "RS256":
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	case "PS256":
		return rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	}
	return false
}

type assertionClaims struct {
	Aud audience `json:"aud"`
	Iss string   `json:"iss"`
	Sub string   `json:"sub"`
	Jti string   `json:"jti"`
	Exp *int64   `json:"exp"`
	Nbf *int64   `json:"nbf"`
}

// audience accepts a string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// verifyClientAssertion checks a private_key_jwt client assertion (RFC 7523):
// signed by a certificate registered on the app (RS256 or PS256, chosen by
// x5t or x5t#S256), iss = sub = client id, aud = the token endpoint, a
// bounded lifetime and a jti.
func (p *Provider) verifyClientAssertion(a *directory.App, jwt string, audiences []string, now time.Time) *aadError {
	hb, pb, sig, err := splitJWT(jwt)
	if err != nil {
		return invalidClient(50027, "JWT token is invalid or malformed.")
	}
	var h jwsHeader
	var c assertionClaims
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(pb, &c) != nil {
		return invalidClient(50027, "JWT token is invalid or malformed.")
	}
	if h.Alg != "RS256" && h.Alg != "PS256" {
		return invalidClient(5002738, "Invalid JWT token. '%s' is not a supported signature algorithm. Supported signing algorithms are: 'RS256,PS256'.", h.Alg)
	}
	// MSAL Go sends x5t#S256 in padded standard base64, others in base64url:
	// Entra accepts both, so compare decoded bytes.
	x5t, x5tS256 := decodeThumbprint(h.X5t), decodeThumbprint(h.X5tS256)
	var cert *x509.Certificate
	for _, crt := range a.Certificates() {
		s1 := sha1.Sum(crt.Raw) // x5t is defined as a SHA-1 thumbprint (RFC 7515 §4.1.7)
		s256 := sha256.Sum256(crt.Raw)
		if (x5t != nil && subtle.ConstantTimeCompare(x5t, s1[:]) == 1) || (x5tS256 != nil && subtle.ConstantTimeCompare(x5tS256, s256[:]) == 1) {
			cert = crt
			break
		}
	}
	if cert == nil {
		return invalidClient(700027, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s']", h.X5t+h.X5tS256)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !verifyRSA(pub, h.Alg, jwt, sig) {
		return invalidClient(700027, "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]")
	}
	if !strings.EqualFold(c.Iss, a.AppID) || !strings.EqualFold(c.Sub, a.AppID) {
		return invalidClient(700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
	}
	audOK := false
	for _, got := range c.Aud {
		for _, want := range audiences {
			if subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(strings.ToLower(want))) == 1 {
				audOK = true
			}
		}
	}
	if !audOK {
		return invalidClient(700212, "No matching federated identity record found for presented assertion audience '%s'.", strings.Join(c.Aud, " "))
	}
	skew := 5 * time.Minute
	if c.Exp == nil || now.After(time.Unix(*c.Exp, 0).Add(skew)) || (c.Nbf != nil && now.Add(skew).Before(time.Unix(*c.Nbf, 0))) {
		return invalidClient(700024, "Client assertion is not within its valid time range.")
	}
	if time.Unix(*c.Exp, 0).Sub(now) > 24*time.Hour {
		return invalidClient(700024, "Client assertion contains an invalid lifetime: more than a day.")
	}
	if c.Jti == "" {
		return invalidClient(50027, "JWT token is invalid or malformed: no jti.")
	}
	// No jti replay rule: Entra accepts an assertion again within its
	// lifetime, and msal-node reuses its signed assertion for 10 minutes.
	return nil
}

// verifyOwnToken checks a token this tenant signed (OBO assertions): RS256
// with one of the published keys, not expired.
func (p *Provider) verifyOwnToken(jwt string, now time.Time) (map[string]any, *aadError) {
	hb, pb, sig, err := splitJWT(jwt)
	if err != nil {
		return nil, invalidGrant(50013, "Assertion failed signature validation: malformed.")
	}
	var h jwsHeader
	if json.Unmarshal(hb, &h) != nil || h.Alg != "RS256" {
		return nil, invalidGrant(50013, "Assertion failed signature validation.")
	}
	var key *signingKey
	for _, k := range p.keys.published(now) {
		if k.kid == h.Kid {
			key = k
		}
	}
	if key == nil || !verifyRSA(&key.key.PublicKey, "RS256", jwt, sig) {
		return nil, invalidGrant(50013, "Assertion failed signature validation. [Reason - The key was not found.]")
	}
	var claims map[string]any
	if json.Unmarshal(pb, &claims) != nil {
		return nil, invalidGrant(50013, "Assertion is not valid JSON.")
	}
	exp, _ := claims["exp"].(float64)
	if now.After(time.Unix(int64(exp), 0)) {
		return nil, invalidGrant(500133, "Assertion is not within its valid time range.")
	}
	return claims, nil
}

// decodeThumbprint reads a certificate thumbprint in base64url or standard
// base64, padded or not; nil when it is neither.
func decodeThumbprint(v string) []byte {
	v = strings.TrimRight(v, "=")
	if v == "" {
		return nil
	}
	if b, err := base64.RawURLEncoding.DecodeString(v); err == nil {
		return b
	}
	if b, err := base64.RawStdEncoding.DecodeString(v); err == nil {
		return b
	}
	return nil
}

// ErrTokenExpired is VerifyToken's answer to a token past its exp.
var ErrTokenExpired = errors.New("devtenant: token expired")

// VerifyToken checks a token this tenant issued (signature by a published
// key, exp) and returns its claims; errors.Is(err, ErrTokenExpired) for an
// expired one. Graph uses it for its bearer tokens.
func (p *Provider) VerifyToken(jwt string, now time.Time) (map[string]any, error) {
	p.mu.Lock()
	claims, aerr := p.verifyOwnToken(jwt, now)
	p.mu.Unlock()
	switch {
	case aerr == nil:
		return claims, nil
	case aerr.code == 500133:
		return nil, ErrTokenExpired
	}
	return nil, aerr
}
