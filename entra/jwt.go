package entra

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// DefaultMaxTokenBytes bounds the size of a token before any parsing (DoS).
// Entra tokens with many groups reach ~10 KB; beyond 200 groups Entra sends
// the overage marker instead.
const DefaultMaxTokenBytes = 32 << 10

// jws is a parsed compact JWS (RFC 7515 §7.1), not yet verified.
type jws struct {
	alg, kid, typ string
	signingInput  string
	payload       []byte
	sig           []byte
}

// parseJWS splits and decodes a compact JWS. It refuses JWE (five parts),
// any "crit" or "zip" header, and anything over max bytes; it never panics.
func parseJWS(raw string, max int) (*jws, error) {
	if len(raw) > max {
		return nil, refuse(ErrTokenTooLarge, "%d bytes, limit %d", len(raw), max)
	}
	d1 := strings.IndexByte(raw, '.')
	if d1 < 0 {
		return nil, refuse(ErrMalformedToken, "not a compact JWS")
	}
	d2 := strings.IndexByte(raw[d1+1:], '.')
	if d2 < 0 {
		return nil, refuse(ErrMalformedToken, "not a compact JWS")
	}
	d2 += d1 + 1
	if strings.IndexByte(raw[d2+1:], '.') >= 0 {
		return nil, refuse(ErrMalformedToken, "more than three parts (JWE is not accepted)")
	}
	header, err := base64.RawURLEncoding.DecodeString(raw[:d1])
	if err != nil {
		return nil, refuse(ErrMalformedToken, "header is not base64url")
	}
	payload, err := base64.RawURLEncoding.DecodeString(raw[d1+1 : d2])
	if err != nil {
		return nil, refuse(ErrMalformedToken, "payload is not base64url")
	}
	sig, err := base64.RawURLEncoding.DecodeString(raw[d2+1:])
	if err != nil {
		return nil, refuse(ErrMalformedToken, "signature is not base64url")
	}
	t := &jws{signingInput: raw[:d2], payload: payload, sig: sig}
	if err := t.parseHeader(header); err != nil {
		return nil, err
	}
	return t, nil
}

// parseHeader reads alg, kid and typ. jku, x5u, jwk and x5c are ignored on
// purpose: keys come only from the issuer's JWKS.
func (t *jws) parseHeader(h []byte) error {
	s := scanner{b: h}
	s.ws()
	if !s.eat('{') {
		return refuse(ErrMalformedToken, "header is not a JSON object")
	}
	seen := map[string]bool{}
	for {
		s.ws()
		if s.eat('}') && len(seen) == 0 {
			break
		}
		key, ok := s.str()
		if !ok {
			return refuse(ErrMalformedToken, "bad header")
		}
		if seen[key] {
			return refuse(ErrMalformedToken, "duplicate header %q", key)
		}
		seen[key] = true
		s.ws()
		if !s.eat(':') {
			return refuse(ErrMalformedToken, "bad header")
		}
		s.ws()
		var dst *string
		switch key {
		case "alg":
			dst = &t.alg
		case "kid":
			dst = &t.kid
		case "typ":
			dst = &t.typ
		case "crit", "zip", "enc":
			return refuse(ErrMalformedToken, "header %q is not supported", key)
		}
		if dst != nil {
			v, ok := s.str()
			if !ok {
				return refuse(ErrMalformedToken, "header %q is not a string", key)
			}
			*dst = v
		} else if !s.skip() {
			return refuse(ErrMalformedToken, "bad header")
		}
		s.ws()
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			break
		}
		return refuse(ErrMalformedToken, "bad header")
	}
	if s.end() != nil {
		return refuse(ErrMalformedToken, "bad header")
	}
	// The allowlist is one algorithm: RS256. Never "none", never HS256 (an
	// RSA public key used as an HMAC secret), never a key-type mismatch.
	if t.alg != "RS256" {
		return refuse(ErrUnsupportedAlg, "%q", t.alg)
	}
	return nil
}

// verify checks the RS256 signature with pub.
func (t *jws) verify(pub *rsa.PublicKey) bool {
	if pub == nil || len(t.sig) != pub.Size() {
		return false
	}
	digest := sha256.Sum256([]byte(t.signingInput))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], t.sig) == nil
}
