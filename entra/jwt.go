package entra

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultMaxTokenBytes bounds the size of a token before any parsing (DoS).
// Entra tokens with many groups reach ~10 KB; beyond 200 groups Entra sends
// the overage marker instead.
const DefaultMaxTokenBytes = 32 << 10

// jws is a parsed compact JWS (RFC 7515 §7.1), not yet verified.
type jws struct {
	jwsHeader
	// newHeader is the encoded header when it was parsed, not found in
	// knownHeaders: validate remembers it once the signature verified.
	newHeader    string
	signingInput string
	payload      []byte
	sig          []byte
}

// jwsHeader is what parseHeader reads of a JOSE header.
type jwsHeader struct{ alg, kid, typ string }

// parseJWS splits and decodes a compact JWS. It refuses JWE (five parts),
// any "crit" or "zip" header, and anything over max bytes; it never panics.
func parseJWS(raw string, max int) (jws, error) {
	if len(raw) > max {
		return jws{}, refuse(ErrTokenTooLarge, "%d bytes, limit %d", len(raw), max)
	}
	d1 := strings.IndexByte(raw, '.')
	if d1 < 0 {
		return jws{}, refuse(ErrMalformedToken, "not a compact JWS")
	}
	d2 := strings.IndexByte(raw[d1+1:], '.')
	if d2 < 0 {
		return jws{}, refuse(ErrMalformedToken, "not a compact JWS")
	}
	d2 += d1 + 1
	if strings.IndexByte(raw[d2+1:], '.') >= 0 {
		return jws{}, refuse(ErrMalformedToken, "more than three parts (JWE is not accepted)")
	}
	t := jws{signingInput: raw[:d2]}
	if h, ok := knownHeaders.Load(raw[:d1]); ok {
		t.jwsHeader = h.(jwsHeader)
	} else {
		header, err := base64.RawURLEncoding.DecodeString(raw[:d1])
		if err != nil {
			return jws{}, refuse(ErrMalformedToken, "header is not base64url")
		}
		if err := t.parseHeader(header); err != nil {
			return jws{}, err
		}
		t.newHeader = raw[:d1]
	}
	payload, err := base64.RawURLEncoding.DecodeString(raw[d1+1 : d2])
	if err != nil {
		return jws{}, refuse(ErrMalformedToken, "payload is not base64url")
	}
	sig, err := base64.RawURLEncoding.DecodeString(raw[d2+1:])
	if err != nil {
		return jws{}, refuse(ErrMalformedToken, "signature is not base64url")
	}
	t.payload, t.sig = payload, sig
	return t, nil
}

// knownHeaders maps the encoded headers of well-formed tokens to what
// parseHeader read from them: an issuer signs every token of one key with
// the same header, so the header of a busy API's tokens is decoded and
// parsed once. It is a pure function of the header, shared by all
// validators, and bounded: past maxKnownHeaders, new headers are parsed
// every time.
var (
	knownHeaders      sync.Map // string -> jwsHeader
	knownHeadersCount atomic.Int32
)

const (
	maxKnownHeaders = 256
	// maxKnownHeaderBytes bounds a remembered header (Entra's are ~100).
	maxKnownHeaderBytes = 512
)

// rememberHeader keeps a header of a token whose signature verified, so
// unsigned junk cannot fill the cache.
func rememberHeader(encoded string, h jwsHeader) {
	if encoded == "" || len(encoded) > maxKnownHeaderBytes || knownHeadersCount.Load() >= maxKnownHeaders {
		return
	}
	// A copy: the key must not keep the token it came from in memory.
	if _, loaded := knownHeaders.LoadOrStore(strings.Clone(encoded), h); !loaded {
		knownHeadersCount.Add(1)
	}
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
		if len(seen) == 0 && s.eat('}') {
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
