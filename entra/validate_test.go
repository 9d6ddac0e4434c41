package entra_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entrakit/entrakit/entra"
	"github.com/entrakit/entrakit/infra"
	"github.com/entrakit/entrakit/internal/signintest"
)

// The forging kit (prefix fk): an RSA key of our own, its JWKS on an
// httptest server, and a signer, so that any token an attacker or a broken
// issuer could produce can be built byte for byte.

// fkKey is the issuer's signing key; fkAttacker signs what the issuer never
// would. Generated once per package: RSA keygen is slow under -race.
var (
	fkKey      = sync.OnceValue(func() *rsa.PrivateKey { return fkGenerate(2048) })
	fkAttacker = sync.OnceValue(func() *rsa.PrivateKey { return fkGenerate(2048) })
)

func fkGenerate(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

const (
	fkKid    = "fk-signing-key"
	fkHost   = "https://login.fk.test"
	fkTID    = "72f988bf-86f1-41af-91ab-2d7cd011db47" // the app's tenant
	fkOther  = "f8cdef31-a31e-4b4a-93e4-5f571e91255a" // an allowed foreign tenant
	fkThird  = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" // a tenant nobody allowed
	fkClient = "6731de76-14a6-49ae-97bc-6eba6914391e" // the web app, also the API
	fkCaller = "1950a258-227b-4e31-a9cf-717495945fc2" // a client calling the API
	fkDaemon = "9a5b1c3d-7e2f-4b6a-8c0d-2e4f6a8b0c1d" // an app-only caller
	fkOID    = "00000000-0000-0000-66f3-3332eca7ea81"
	fkNonce  = "n-0S6_WzA2Mj-2f9c"
	fkGraph  = "00000003-0000-0000-c000-000000000000"
)

var (
	fkNow      = time.Unix(1_767_225_600, 0) // the validators' clock
	fkV1Issuer = "https://sts.windows.net/" + fkTID + "/"
)

func fkIssuer(tid string) string { return fkHost + "/" + tid + "/v2.0" }

func fkB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// fkJSON marshals v; a []byte is taken as already-encoded JSON (or not JSON
// at all, on purpose).
func fkJSON(v any) []byte {
	if b, ok := v.([]byte); ok {
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// fkSign returns header.payload.signature signed RS256 (PKCS#1 v1.5,
// SHA-256) with key, whatever the header claims.
func fkSign(key *rsa.PrivateKey, header, payload any) string {
	in := fkB64(fkJSON(header)) + "." + fkB64(fkJSON(payload))
	d := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:])
	if err != nil {
		panic(err)
	}
	return in + "." + fkB64(sig)
}

// fkHMAC signs header.payload with HMAC-SHA256 and secret (HS256).
func fkHMAC(secret []byte, header, payload any) string {
	in := fkB64(fkJSON(header)) + "." + fkB64(fkJSON(payload))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + fkB64(m.Sum(nil))
}

func fkHeader(kid string) map[string]any {
	h := map[string]any{"typ": "JWT", "alg": "RS256"}
	if kid != "" {
		h["kid"] = kid
	}
	return h
}

// fkSegments splits a compact token; fkReplace swaps segment i.
func fkSegments(tok string) []string { return strings.Split(tok, ".") }

func fkReplace(tok string, i int, seg string) string {
	s := fkSegments(tok)
	s[i] = seg
	return strings.Join(s, ".")
}

func fkRSAJWK(kid string, pub *rsa.PublicKey) map[string]any {
	m := map[string]any{"kty": "RSA", "use": "sig", "n": fkB64(pub.N.Bytes()), "e": fkB64(big.NewInt(int64(pub.E)).Bytes())}
	if kid != "" {
		m["kid"] = kid
	}
	return m
}

// fkDecoy is an RSA-2048 public key that no one holds the private key of
// (an odd pseudo-random modulus): it verifies nothing.
func fkDecoy(seed string) *rsa.PublicKey {
	var n []byte
	for i := 0; len(n) < 256; i++ {
		s := sha256.Sum256([]byte(seed + string(rune('a'+i))))
		n = append(n, s[:]...)
	}
	n = n[:256]
	n[0] |= 0x80
	n[255] |= 1
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
}

var fkEC = sync.OnceValue(func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

func fkECJWK(kid string) map[string]any {
	pub, err := fkEC().PublicKey.ECDH()
	if err != nil {
		panic(err)
	}
	b := pub.Bytes() // 0x04 || X || Y
	return map[string]any{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid, "x": fkB64(b[1:33]), "y": fkB64(b[33:])}
}

// fkES256 signs with the EC key, as ES256 (r || s).
func fkES256(header, payload any) string {
	in := fkB64(fkJSON(header)) + "." + fkB64(fkJSON(payload))
	d := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, fkEC(), d[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + fkB64(sig)
}

// fkJWKS is a JWKS endpoint that counts its requests and can be switched to
// another document, an error status, or made to wait.
type fkJWKS struct {
	*httptest.Server
	hits atomic.Int32

	mu     sync.Mutex
	status int
	body   []byte
	gate   chan struct{} // when non-nil, requests wait until it is closed
}

func fkServeJWKS(t testing.TB, keys ...map[string]any) *fkJWKS {
	t.Helper()
	s := &fkJWKS{}
	s.setKeys(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body, gate := s.status, s.body, s.gate
		s.mu.Unlock()
		if gate != nil {
			<-gate
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *fkJWKS) setKeys(keys ...map[string]any) {
	if keys == nil {
		keys = []map[string]any{}
	}
	s.set(http.StatusOK, fkJSON(map[string]any{"keys": keys}))
}

func (s *fkJWKS) set(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *fkJWKS) keySet() *entra.RemoteKeySet {
	return &entra.RemoteKeySet{JWKSURL: s.URL + "/discovery/v2.0/keys", HTTPClient: s.Client()}
}

// Claims as Entra issues them, valid at fkNow.

func fkIDClaims() map[string]any {
	now := fkNow.Unix()
	return map[string]any{
		"aud": fkClient, "iss": fkIssuer(fkTID), "iat": now - 300, "nbf": now - 300, "exp": now + 3300,
		"name": "Adele Vance", "nonce": fkNonce, "oid": fkOID, "preferred_username": "AdeleV@contoso.test",
		"rh": "0.AXEA", "sid": "00ac8a86-0f2f-4f3b-a0b7-6a26a1e0b1b6", "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
		"tid": fkTID, "uti": "AbCdEf123456", "ver": "2.0",
	}
}

func fkAccessClaims() map[string]any {
	now := fkNow.Unix()
	return map[string]any{
		"aud": fkClient, "iss": fkIssuer(fkTID), "iat": now - 300, "nbf": now - 300, "exp": now + 3300,
		"aio": "E2RgYJg", "azp": fkCaller, "azpacr": "0", "name": "Adele Vance", "oid": fkOID,
		"preferred_username": "AdeleV@contoso.test", "rh": "0.AXEA", "roles": []string{"Reader"},
		"scp": "access_as_user", "sub": "6f1e9c6a-sub", "tid": fkTID, "uti": "XyZ987", "ver": "2.0",
	}
}

func fkV1Claims() map[string]any {
	c := fkAccessClaims()
	delete(c, "azp")
	delete(c, "azpacr")
	delete(c, "preferred_username")
	c["iss"] = fkV1Issuer
	c["aud"] = "api://" + fkClient
	c["ver"] = "1.0"
	c["appid"] = fkCaller
	c["appidacr"] = "0"
	c["upn"] = "AdeleV@contoso.test"
	return c
}

func fkAppClaims() map[string]any {
	now := fkNow.Unix()
	sp := "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	return map[string]any{
		"aud": fkClient, "iss": fkIssuer(fkTID), "iat": now - 300, "nbf": now - 300, "exp": now + 3300,
		"azp": fkDaemon, "azpacr": "1", "idtyp": "app", "oid": sp, "roles": []string{"Reports.Read.All"},
		"sub": sp, "tid": fkTID, "uti": "app-uti", "ver": "2.0",
	}
}

// fkValidator validates fkIssuer(fkTID) tokens at fkNow; access selects the
// API's audiences (client id and App ID URI) over the app's (client id).
func fkValidator(keys entra.KeySet, access bool) *entra.Validator {
	v := &entra.Validator{Keys: keys, Issuer: fkIssuer(fkTID), Audiences: []string{fkClient}, Now: func() time.Time { return fkNow }}
	if access {
		v.Audiences = []string{fkClient, "api://" + fkClient}
	}
	return v
}

// fkCheck asserts the outcome of a validation: accepted when want is nil,
// else refused with want, which must also be an ErrInvalidToken, without
// claims and without the token in the message.
func fkCheck(t *testing.T, raw string, c *entra.Claims, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		if c == nil || c.Subject == "" {
			t.Fatalf("accepted without claims: %+v", c)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted (iss %q aud %v), want %v", c.Issuer, c.Audience, want)
	}
	if c != nil {
		t.Errorf("claims returned along with error %v", err)
	}
	if !errors.Is(err, want) {
		t.Errorf("err = %v, want %v", err, want)
	}
	if !errors.Is(err, entra.ErrInvalidToken) {
		t.Errorf("err %v does not match ErrInvalidToken", err)
	}
	if errors.Is(err, entra.ErrKeySetUnavailable) {
		t.Errorf("err %v is a key set failure", err)
	}
	if len(raw) > 20 && strings.Contains(err.Error(), raw) {
		t.Errorf("the error message contains the token")
	}
}

var (
	fkDelegated = &entra.AccessPolicy{Scopes: []string{"access_as_user"}}
	fkAppOnly   = &entra.AccessPolicy{AllowAppOnly: true, Roles: []string{"Reports.Read.All"}}
)

type fkCase struct {
	name   string
	base   func() map[string]any // default: fkIDClaims, or fkAccessClaims with access
	claims func(c map[string]any)
	header func(h map[string]any)
	// token builds the token from the (edited) claims and header; default
	// fkSign with fkKey.
	token func(c, h map[string]any) string
	// jwks is the published key set; default fkKey's public key as fkKid.
	jwks   []map[string]any
	setup  func(v *entra.Validator)
	access *entra.AccessPolicy // validate as an access token with this policy
	want   error               // nil: accepted
	not    error               // the error must not match this
}

func fkSet(kv ...any) func(map[string]any) {
	return func(m map[string]any) {
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
	}
}

func fkDel(keys ...string) func(map[string]any) {
	return func(m map[string]any) {
		for _, k := range keys {
			delete(m, k)
		}
	}
}

// rawPayload builds the token from a hand-written payload, signed properly.
func fkRawPayload(f func(good []byte) []byte) func(c, h map[string]any) string {
	return func(c, h map[string]any) string { return fkSign(fkKey(), h, f(fkJSON(c))) }
}

// prepend inserts members at the start of a JSON object.
func fkPrepend(members string) func([]byte) []byte {
	return func(b []byte) []byte { return append([]byte("{"+members+","), b[1:]...) }
}

func fkMultiTenant(v *entra.Validator) {
	v.Issuer = fkHost + "/{tenantid}/v2.0"
	v.TenantAllowed = func(tid string) bool { return strings.EqualFold(tid, fkTID) || strings.EqualFold(tid, fkOther) }
}

func fkWithV1(v *entra.Validator) { v.V1Issuer = fkV1Issuer }

func fkHostileCases() []fkCase {
	now := fkNow.Unix()
	pub := &fkKey().PublicKey
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	nested := func(depth int) []byte {
		return []byte(`"x":` + strings.Repeat("[", depth) + strings.Repeat("]", depth))
	}
	return []fkCase{
		{name: "valid v2 ID token", want: nil},

		// Signature and algorithm.
		{name: "tampered payload", want: entra.ErrInvalidSignature, token: func(c, h map[string]any) string {
			tok := fkSign(fkKey(), h, c)
			c["sub"] = "attacker"
			return fkReplace(tok, 1, fkB64(fkJSON(c)))
		}},
		{name: "tampered payload, one bit of the signature", want: entra.ErrInvalidSignature, token: func(c, h map[string]any) string {
			tok := fkSign(fkKey(), h, c)
			sig, _ := base64.RawURLEncoding.DecodeString(fkSegments(tok)[2])
			sig[len(sig)-1] ^= 1
			return fkReplace(tok, 2, fkB64(sig))
		}},
		{name: "truncated signature", want: entra.ErrInvalidSignature, token: func(c, h map[string]any) string {
			tok := fkSign(fkKey(), h, c)
			return tok[:len(tok)-10]
		}},
		{name: "RS256 with an empty signature", want: entra.ErrInvalidSignature, token: func(c, h map[string]any) string {
			return fkReplace(fkSign(fkKey(), h, c), 2, "")
		}},
		{name: "signed by another key under the published kid", want: entra.ErrInvalidSignature, token: func(c, h map[string]any) string {
			return fkSign(fkAttacker(), h, c)
		}},
		{name: "expired and badly signed: the signature is the answer (CVE-2024-51744)", want: entra.ErrInvalidSignature, not: entra.ErrTokenExpired,
			claims: fkSet("exp", now-7200), token: func(c, h map[string]any) string { return fkSign(fkAttacker(), h, c) }},
		{name: "alg none with an empty signature", want: entra.ErrUnsupportedAlg, token: func(c, h map[string]any) string {
			return fkB64(fkJSON(map[string]any{"alg": "none", "typ": "JWT"})) + "." + fkB64(fkJSON(c)) + "."
		}},
		{name: "alg None keeping a valid RS256 signature", want: entra.ErrUnsupportedAlg, header: fkSet("alg", "None")},
		{name: "alg nOnE", want: entra.ErrUnsupportedAlg, token: func(c, h map[string]any) string {
			h["alg"] = "nOnE"
			return fkB64(fkJSON(h)) + "." + fkB64(fkJSON(c)) + "."
		}},
		{name: "HS256 with the PEM public key as HMAC secret", want: entra.ErrUnsupportedAlg, token: func(c, h map[string]any) string {
			h["alg"] = "HS256"
			return fkHMAC(pubPEM, h, c)
		}},
		{name: "HS256 with the JWKS modulus as HMAC secret", want: entra.ErrUnsupportedAlg, token: func(c, h map[string]any) string {
			h["alg"] = "HS256"
			return fkHMAC(pub.N.Bytes(), h, c)
		}},
		{name: "HS256 with the JWK JSON as HMAC secret", want: entra.ErrUnsupportedAlg, token: func(c, h map[string]any) string {
			h["alg"] = "HS256"
			return fkHMAC(fkJSON(fkRSAJWK(fkKid, pub)), h, c)
		}},
		{name: "HS256 with an oct key published in the JWKS", want: entra.ErrUnsupportedAlg,
			jwks: []map[string]any{fkRSAJWK(fkKid, pub), {"kty": "oct", "kid": "hs", "k": fkB64([]byte("shared-secret"))}},
			token: func(c, h map[string]any) string {
				h["alg"], h["kid"] = "HS256", "hs"
				return fkHMAC([]byte("shared-secret"), h, c)
			}},
		{name: "RS256 with an unknown kid", want: entra.ErrUnknownKey, header: fkSet("kid", "rotated-away")},
		{name: "attacker key under an unknown kid", want: entra.ErrUnknownKey, token: func(c, h map[string]any) string {
			h["kid"] = "attacker"
			return fkSign(fkAttacker(), h, c)
		}},
		{name: "ES256 with an EC key published", want: entra.ErrUnsupportedAlg,
			jwks: []map[string]any{fkRSAJWK(fkKid, pub), fkECJWK("ec1")},
			token: func(c, h map[string]any) string {
				h["alg"], h["kid"] = "ES256", "ec1"
				return fkES256(h, c)
			}},
		{name: "ES256 header over the RSA kid", want: entra.ErrUnsupportedAlg, token: func(c, h map[string]any) string {
			h["alg"] = "ES256"
			return fkES256(h, c)
		}},
		{name: "RS256 naming an EC key's kid", want: entra.ErrUnknownKey,
			jwks: []map[string]any{fkRSAJWK(fkKid, pub), fkECJWK("ec1")}, header: fkSet("kid", "ec1")},
		{name: "alg PS256", want: entra.ErrUnsupportedAlg, header: fkSet("alg", "PS256")},
		{name: "alg RS512", want: entra.ErrUnsupportedAlg, header: fkSet("alg", "RS512")},
		{name: "alg rs256 (case)", want: entra.ErrUnsupportedAlg, header: fkSet("alg", "rs256")},
		{name: "alg with a trailing space", want: entra.ErrUnsupportedAlg, header: fkSet("alg", "RS256 ")},
		{name: "no alg", want: entra.ErrUnsupportedAlg, header: fkDel("alg")},
		{name: "alg is not a string", want: entra.ErrMalformedToken, header: fkSet("alg", 256)},
		{name: "duplicate alg header (RS256 then none)", want: entra.ErrMalformedToken, token: func(c, h map[string]any) string {
			return fkSign(fkKey(), []byte(`{"alg":"RS256","kid":"`+fkKid+`","alg":"none"}`), c)
		}},
		{name: "crit header", want: entra.ErrMalformedToken, header: fkSet("crit", []string{"exp"}, "exp", 1)},
		{name: "zip header", want: entra.ErrMalformedToken, header: fkSet("zip", "DEF")},
		{name: "enc header", want: entra.ErrMalformedToken, header: fkSet("enc", "A256GCM")},
		{name: "jku, x5u and embedded jwk of the attacker are ignored", want: entra.ErrUnknownKey, token: func(c, h map[string]any) string {
			h["kid"] = "attacker"
			h["jku"] = "https://evil.test/keys"
			h["x5u"] = "https://evil.test/cert.pem"
			h["jwk"] = fkRSAJWK("attacker", &fkAttacker().PublicKey)
			return fkSign(fkAttacker(), h, c)
		}},
		{name: "embedded jwk with the real kid, signed by the attacker", want: entra.ErrInvalidSignature, token: func(c, h map[string]any) string {
			h["jwk"] = fkRSAJWK(fkKid, &fkAttacker().PublicKey)
			return fkSign(fkAttacker(), h, c)
		}},

		// Key selection.
		{name: "no kid, one key in the JWKS", header: fkDel("kid"), want: nil},
		{name: "no kid, one kid-less key in the JWKS", header: fkDel("kid"), want: nil, jwks: []map[string]any{fkRSAJWK("", pub)}},
		{name: "no kid, several keys, one verifies", header: fkDel("kid"), want: nil, jwks: []map[string]any{
			fkRSAJWK("decoy-1", fkDecoy("1")), fkRSAJWK("", fkDecoy("2")), fkRSAJWK("", pub), fkRSAJWK("decoy-3", fkDecoy("3")),
		}},
		{name: "no kid, several keys, none verifies", header: fkDel("kid"), want: entra.ErrInvalidSignature, jwks: []map[string]any{
			fkRSAJWK("decoy-1", fkDecoy("1")), fkRSAJWK("", fkDecoy("2")),
		}},
		{name: "JWKS with EC, oct and encryption keys: they are ignored", want: nil, jwks: []map[string]any{
			fkECJWK("ec1"),
			{"kty": "oct", "kid": "hs", "k": fkB64([]byte("secret"))},
			{"kty": "RSA", "use": "enc", "kid": "enc1", "n": fkB64(fkDecoy("e").N.Bytes()), "e": "AQAB"},
			{"kty": "RSA", "alg": "RSA-OAEP", "kid": "enc2", "n": fkB64(fkDecoy("f").N.Bytes()), "e": "AQAB"},
			{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": fkB64(make([]byte, 32))},
			fkRSAJWK(fkKid, pub),
		}},
		{name: "kid of an encryption key", want: entra.ErrUnknownKey, header: fkSet("kid", "enc1"), jwks: []map[string]any{
			{"kty": "RSA", "use": "enc", "kid": "enc1", "n": fkB64(pub.N.Bytes()), "e": "AQAB"},
			fkRSAJWK(fkKid, fkDecoy("x")),
		}},

		// Lifetime (default skew 2 minutes).
		{name: "expired beyond the skew", claims: fkSet("exp", now-121), want: entra.ErrTokenExpired},
		{name: "expired within the skew", claims: fkSet("exp", now-60), want: nil},
		{name: "nbf in the future", claims: fkSet("nbf", now+600), want: entra.ErrTokenNotYetValid},
		{name: "nbf within the skew", claims: fkSet("nbf", now+60), want: nil},
		{name: "iat in the future", claims: fkSet("iat", now+600, "nbf", now-300), want: entra.ErrTokenNotYetValid},
		{name: "no exp", claims: fkDel("exp"), want: entra.ErrMissingClaim},
		{name: "exp null", claims: fkSet("exp", nil), want: entra.ErrMissingClaim},
		{name: "exp is a string", claims: fkSet("exp", "99999999999"), want: entra.ErrMalformedToken},
		{name: "no iat", claims: fkDel("iat"), want: entra.ErrMissingClaim},
		{name: "no nbf (optional)", claims: fkDel("nbf"), want: nil},

		// Audience.
		{name: "wrong aud", claims: fkSet("aud", "a2b4c6d8-0000-4000-8000-000000000000"), want: entra.ErrInvalidAudience},
		{name: "no aud", claims: fkDel("aud"), want: entra.ErrInvalidAudience},
		{name: "aud empty array", claims: fkSet("aud", []string{}), want: entra.ErrInvalidAudience},
		{name: "aud array with an untrusted extra audience, no azp", claims: fkSet("aud", []string{fkClient, "https://evil.test"}), want: entra.ErrInvalidAudience},
		{name: "aud array with an untrusted extra audience, azp is us", claims: fkSet("aud", []string{fkClient, "https://evil.test"}, "azp", fkClient), want: nil},
		{name: "aud array with an untrusted extra audience, azp is them", claims: fkSet("aud", []string{fkClient, "https://evil.test"}, "azp", "https://evil.test"), want: entra.ErrInvalidAudience},
		{name: "aud array without us", claims: fkSet("aud", []string{"https://evil.test"}), want: entra.ErrInvalidAudience},

		// Issuer and subject.
		{name: "wrong iss (another tenant)", claims: fkSet("iss", fkIssuer(fkOther)), want: entra.ErrInvalidIssuer},
		{name: "wrong iss (another host)", claims: fkSet("iss", "https://login.evil.test/"+fkTID+"/v2.0"), want: entra.ErrInvalidIssuer},
		{name: "iss with a trailing slash", claims: fkSet("iss", fkIssuer(fkTID)+"/"), want: entra.ErrInvalidIssuer},
		{name: "iss is the template itself", claims: fkSet("iss", fkHost+"/{tenantid}/v2.0"), want: entra.ErrInvalidIssuer},
		{name: "no iss", claims: fkDel("iss"), want: entra.ErrMissingClaim},
		{name: "no sub", claims: fkDel("sub"), want: entra.ErrMissingClaim},
		{name: "no oid", claims: fkDel("oid"), want: entra.ErrMissingClaim},
		{name: "single tenant: no tid", claims: fkDel("tid"), want: entra.ErrMissingClaim},

		// Multi-tenant: https://host/{tenantid}/v2.0 and an allow list.
		{name: "multi-tenant: allowed tenant", setup: fkMultiTenant, claims: fkSet("iss", fkIssuer(fkOther), "tid", fkOther), want: nil},
		{name: "multi-tenant: tenant not allowed", setup: fkMultiTenant, claims: fkSet("iss", fkIssuer(fkThird), "tid", fkThird), want: entra.ErrTenantNotAllowed},
		{name: "multi-tenant: tid does not match iss", setup: fkMultiTenant, claims: fkSet("iss", fkIssuer(fkThird), "tid", fkOther), want: entra.ErrInvalidIssuer},
		{name: "multi-tenant: no tid", setup: fkMultiTenant, claims: fkDel("tid"), want: entra.ErrMissingClaim},
		{name: "multi-tenant: tid common", setup: fkMultiTenant, claims: fkSet("iss", fkIssuer("common"), "tid", "common"), want: entra.ErrMissingClaim},

		// Nonce.
		{name: "no nonce", claims: fkDel("nonce"), want: entra.ErrNonceMismatch},
		{name: "nonce null", claims: fkSet("nonce", nil), want: entra.ErrNonceMismatch},
		{name: "another nonce", claims: fkSet("nonce", "n-attacker"), want: entra.ErrNonceMismatch},
		{name: "nonce prefix", claims: fkSet("nonce", fkNonce[:5]), want: entra.ErrNonceMismatch},

		// Version of ID tokens.
		{name: "ID token ver 1.0", claims: fkSet("ver", "1.0"), want: entra.ErrWrongTokenVersion},
		{name: "ID token ver 1.0 from the v1 issuer, V1Issuer set", setup: fkWithV1, claims: fkSet("ver", "1.0", "iss", fkV1Issuer), want: entra.ErrWrongTokenVersion},
		{name: "no ver", claims: fkDel("ver"), want: entra.ErrWrongTokenVersion},
		{name: "ver 2", claims: fkSet("ver", "2"), want: entra.ErrWrongTokenVersion},

		// Access tokens for the API.
		{name: "access: v2 delegated", access: fkDelegated, want: nil},
		{name: "access: App ID URI audience", access: fkDelegated, claims: fkSet("aud", "api://"+fkClient), want: nil},
		{name: "access: v1 token refused without V1Issuer", access: fkDelegated, base: fkV1Claims, want: entra.ErrWrongTokenVersion},
		{name: "access: v1 token accepted with V1Issuer", access: fkDelegated, base: fkV1Claims, setup: fkWithV1, want: nil},
		{name: "access: v1 token, templated V1Issuer, allowed tenant", access: fkDelegated, base: fkV1Claims, want: nil,
			setup: func(v *entra.Validator) { fkMultiTenant(v); v.V1Issuer = "https://sts.windows.net/{tenantid}/" }},
		{name: "access: v1 token, templated V1Issuer, tenant not allowed", access: fkDelegated, base: fkV1Claims, want: entra.ErrTenantNotAllowed,
			claims: fkSet("iss", "https://sts.windows.net/"+fkThird+"/", "tid", fkThird),
			setup:  func(v *entra.Validator) { fkMultiTenant(v); v.V1Issuer = "https://sts.windows.net/{tenantid}/" }},
		{name: "access: ver 1.0 with the v2 issuer", access: fkDelegated, base: fkV1Claims, setup: fkWithV1, claims: fkSet("iss", fkIssuer(fkTID)), want: entra.ErrInvalidIssuer},
		{name: "access: ver 2.0 with the v1 issuer", access: fkDelegated, setup: fkWithV1, claims: fkSet("iss", fkV1Issuer), want: entra.ErrInvalidIssuer},
		{name: "access: policy 2.0 refuses v1", access: &entra.AccessPolicy{Scopes: []string{"access_as_user"}, Version: "2.0"}, base: fkV1Claims, setup: fkWithV1, want: entra.ErrWrongTokenVersion},
		{name: "access: policy 1.0 refuses v2", access: &entra.AccessPolicy{Scopes: []string{"access_as_user"}, Version: "1.0"}, setup: fkWithV1, want: entra.ErrWrongTokenVersion},
		{name: "access: policy 1.0 accepts v1", access: &entra.AccessPolicy{Scopes: []string{"access_as_user"}, Version: "1.0"}, base: fkV1Claims, setup: fkWithV1, want: nil},
		{name: "access: an ID token (nonce)", access: fkDelegated, base: fkIDClaims, want: entra.ErrWrongTokenType},
		{name: "access: an ID token without nonce (refreshed)", access: fkDelegated, base: fkIDClaims, claims: fkDel("nonce"), want: entra.ErrMissingClaim},
		{name: "access: Graph audience (v1)", access: fkDelegated, base: fkV1Claims, setup: fkWithV1, claims: fkSet("aud", "https://graph.microsoft.com"), want: entra.ErrInvalidAudience},
		{name: "access: Graph audience (v2, app id)", access: fkDelegated, claims: fkSet("aud", fkGraph), want: entra.ErrInvalidAudience},
		{name: "access: Graph audience with scp User.Read", access: fkDelegated, claims: fkSet("aud", "https://graph.microsoft.com", "scp", "User.Read"), want: entra.ErrInvalidAudience},
		{name: "access: delegated without the scope", access: fkDelegated, claims: fkSet("scp", "User.Read openid"), want: entra.ErrInsufficientScope},
		{name: "access: delegated with a look-alike scope", access: fkDelegated, claims: fkSet("scp", "access_as_user2 access_as_use"), want: entra.ErrInsufficientScope},
		{name: "access: delegated with an empty scp", access: fkDelegated, claims: fkSet("scp", ""), want: entra.ErrInsufficientScope},
		{name: "access: delegated with the scope among others", access: fkDelegated, claims: fkSet("scp", "User.Read access_as_user"), want: nil},
		{name: "access: app-only refused when AllowAppOnly is false", access: fkDelegated, base: fkAppClaims, want: entra.ErrWrongTokenType},
		{name: "access: app-only with the right role", access: fkAppOnly, base: fkAppClaims, want: nil},
		{name: "access: app-only with a wrong role", access: fkAppOnly, base: fkAppClaims, claims: fkSet("roles", []string{"Reports.Write.All"}), want: entra.ErrInsufficientScope},
		{name: "access: app-only without roles", access: fkAppOnly, base: fkAppClaims, claims: fkDel("roles"), want: entra.ErrInsufficientScope},
		{name: "access: app-only with a policy naming no role", access: &entra.AccessPolicy{AllowAppOnly: true}, base: fkAppClaims, want: entra.ErrInsufficientScope},
		{name: "access: a policy naming no scope refuses user tokens", access: &entra.AccessPolicy{AllowAppOnly: true, Roles: []string{"Reports.Read.All"}}, want: entra.ErrInsufficientScope},
		{name: "access: no scp, no idtyp, sub is not oid (a user token with roles)", access: fkAppOnly, base: fkAppClaims, claims: func(c map[string]any) {
			delete(c, "idtyp")
			c["sub"] = "pairwise-subject-of-a-user"
		}, want: entra.ErrWrongTokenType},
		{name: "access: no scp, no idtyp, sub equals oid (app-only)", access: fkAppOnly, base: fkAppClaims, claims: func(c map[string]any) {
			delete(c, "idtyp")
			c["sub"] = c["oid"]
		}, want: nil},
		{name: "access: AppOnlyRequired, app-only with the role", access: &entra.AccessPolicy{AppOnlyRequired: true, Roles: []string{"Reports.Read.All"}}, base: fkAppClaims, want: nil},
		{name: "access: AppOnlyRequired refuses a user token", access: &entra.AccessPolicy{AppOnlyRequired: true, Roles: []string{"Reports.Read.All"}, Scopes: []string{"access_as_user"}}, want: entra.ErrWrongTokenType},
		{name: "access: AppOnlyRequired, app-only without the role", access: &entra.AccessPolicy{AppOnlyRequired: true, Roles: []string{"Reports.Read.All"}}, base: fkAppClaims, claims: fkDel("roles"), want: entra.ErrInsufficientScope},
		{name: "access: app token carrying scp", access: fkAppOnly, base: fkAppClaims, claims: fkSet("scp", "access_as_user"), want: entra.ErrWrongTokenType},
		{name: "access: user token (idtyp user) without scp", access: fkAppOnly, claims: func(c map[string]any) {
			delete(c, "scp")
			c["idtyp"] = "user"
			c["roles"] = []string{"Reports.Read.All"}
		}, want: entra.ErrWrongTokenType},
		{name: "access: azp not in AllowedClients", access: &entra.AccessPolicy{Scopes: []string{"access_as_user"}, AllowedClients: []string{fkDaemon}}, want: entra.ErrClientNotAllowed},
		{name: "access: azp in AllowedClients", access: &entra.AccessPolicy{Scopes: []string{"access_as_user"}, AllowedClients: []string{fkCaller}}, want: nil},
		{name: "access: v1 appid not in AllowedClients", access: &entra.AccessPolicy{Scopes: []string{"access_as_user"}, AllowedClients: []string{fkDaemon}}, base: fkV1Claims, setup: fkWithV1, want: entra.ErrClientNotAllowed},
		{name: "access: no azp", access: fkDelegated, claims: fkDel("azp"), want: entra.ErrMissingClaim},
		{name: "access: azp and appid both", access: fkDelegated, claims: fkSet("appid", fkDaemon), want: entra.ErrMalformedToken},

		// Size and shape.
		{name: "larger than DefaultMaxTokenBytes", claims: fkSet("filler", strings.Repeat("a", entra.DefaultMaxTokenBytes)), want: entra.ErrTokenTooLarge},
		{name: "larger than MaxTokenBytes", setup: func(v *entra.Validator) { v.MaxTokenBytes = 512 }, want: entra.ErrTokenTooLarge},
		{name: "five parts (JWE)", want: entra.ErrMalformedToken, token: func(c, h map[string]any) string {
			return fkB64([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM","kid":"`+fkKid+`"}`)) + "." + fkB64(make([]byte, 256)) + "." + fkB64(make([]byte, 12)) + "." + fkB64(fkJSON(c)) + "." + fkB64(make([]byte, 16))
		}},
		{name: "four parts", want: entra.ErrMalformedToken, token: func(c, h map[string]any) string { return fkSign(fkKey(), h, c) + ".x" }},
		{name: "two parts", want: entra.ErrMalformedToken, token: func(c, h map[string]any) string {
			tok := fkSign(fkKey(), h, c)
			return tok[:strings.LastIndexByte(tok, '.')]
		}},
		{name: "empty", want: entra.ErrMalformedToken, token: func(c, h map[string]any) string { return "" }},
		{name: "dots only", want: entra.ErrMalformedToken, token: func(c, h map[string]any) string { return ".." }},
		{name: "padded base64", want: entra.ErrMalformedToken, token: func(c, h map[string]any) string {
			s := fkSegments(fkSign(fkKey(), h, c))
			return base64.URLEncoding.EncodeToString(fkJSON(h)) + "=." + s[1] + "." + s[2]
		}},
		{name: "standard base64 alphabet", want: entra.ErrMalformedToken, token: func(c, h map[string]any) string {
			s := fkSegments(fkSign(fkKey(), h, c))
			return s[0] + "." + s[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s[2]) + "+/"
		}},
		{name: "header not JSON", want: entra.ErrMalformedToken, token: func(c, h map[string]any) string {
			return fkSign(fkKey(), []byte(`alg=RS256`), c)
		}},
		{name: "duplicate exp (parser differential)", want: entra.ErrMalformedToken, claims: fkSet("exp", now-86400), token: fkRawPayload(fkPrepend(`"exp":99999999999`))},
		{name: "duplicate exp, later one expired", want: entra.ErrMalformedToken, token: fkRawPayload(func(b []byte) []byte {
			return append(b[:len(b)-1], []byte(`,"exp":1}`)...)
		})},
		{name: "duplicate exp spelled with an escape", want: entra.ErrMalformedToken, token: fkRawPayload(fkPrepend(`"\u0065xp":99999999999`))},
		{name: "duplicate aud", want: entra.ErrMalformedToken, claims: fkSet("aud", "https://evil.test"), token: fkRawPayload(fkPrepend(`"aud":"` + fkClient + `"`))},
		{name: "duplicate iss", want: entra.ErrMalformedToken, token: fkRawPayload(fkPrepend(`"iss":"` + fkIssuer(fkOther) + `"`))},
		{name: "duplicate tid", want: entra.ErrMalformedToken, token: fkRawPayload(fkPrepend(`"tid":"` + fkOther + `"`))},
		{name: "duplicate nonce", want: entra.ErrMalformedToken, token: fkRawPayload(fkPrepend(`"nonce":"other"`))},
		{name: "duplicate ver", want: entra.ErrMalformedToken, token: fkRawPayload(fkPrepend(`"ver":"1.0"`))},
		{name: "claims not JSON", want: entra.ErrMalformedToken, token: func(c, h map[string]any) string { return fkSign(fkKey(), h, []byte("iss=me&aud=you")) }},
		{name: "claims a JSON array", want: entra.ErrMalformedToken, token: func(c, h map[string]any) string { return fkSign(fkKey(), h, []byte(`[{"iss":"x"}]`)) }},
		{name: "claims with trailing data", want: entra.ErrMalformedToken, token: fkRawPayload(func(b []byte) []byte { return append(b, `{"exp":1}`...) })},
		{name: "claims truncated", want: entra.ErrMalformedToken, token: fkRawPayload(func(b []byte) []byte { return b[:len(b)-1] })},
		{name: "claims with invalid UTF-8", want: entra.ErrMalformedToken, claims: fkSet("name", "x"), token: fkRawPayload(func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"name":"x"`, "\"name\":\"\xff\xfe\"", 1))
		})},
		{name: "claims nested too deep", want: entra.ErrMalformedToken, token: fkRawPayload(func(b []byte) []byte { return fkPrepend(string(nested(10000)))(b) })},
		{name: "claims nested 16 deep (allowed)", want: nil, token: fkRawPayload(func(b []byte) []byte { return fkPrepend(string(nested(16)))(b) })},
	}
}

func TestValidateHostileTokens(t *testing.T) {
	ctx := context.Background()
	pub := &fkKey().PublicKey
	covered := map[error]bool{}
	for _, tc := range fkHostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			jwks := tc.jwks
			if jwks == nil {
				jwks = []map[string]any{fkRSAJWK(fkKid, pub)}
			}
			v := fkValidator(fkServeJWKS(t, jwks...).keySet(), tc.access != nil)
			if tc.setup != nil {
				tc.setup(v)
			}
			base := tc.base
			if base == nil {
				base = fkIDClaims
				if tc.access != nil {
					base = fkAccessClaims
				}
			}
			c, h := base(), fkHeader(fkKid)
			if tc.claims != nil {
				tc.claims(c)
			}
			if tc.header != nil {
				tc.header(h)
			}
			var raw string
			if tc.token != nil {
				raw = tc.token(c, h)
			} else {
				raw = fkSign(fkKey(), h, c)
			}
			var got *entra.Claims
			var err error
			if tc.access != nil {
				got, err = v.ValidateAccessToken(ctx, raw, *tc.access)
			} else {
				got, err = v.ValidateIDToken(ctx, raw, fkNonce)
			}
			fkCheck(t, raw, got, err, tc.want)
			if tc.not != nil && errors.Is(err, tc.not) {
				t.Errorf("err %v also matches %v", err, tc.not)
			}
		})
		covered[tc.want] = true
	}
	for _, s := range fkSentinels {
		if !covered[s] {
			t.Errorf("no case is refused with %v", s)
		}
	}
}

var fkSentinels = []error{
	entra.ErrInvalidSignature, entra.ErrUnsupportedAlg, entra.ErrUnknownKey, entra.ErrTokenExpired,
	entra.ErrTokenNotYetValid, entra.ErrInvalidAudience, entra.ErrInvalidIssuer, entra.ErrTenantNotAllowed,
	entra.ErrNonceMismatch, entra.ErrMissingClaim, entra.ErrWrongTokenVersion, entra.ErrClientNotAllowed,
	entra.ErrWrongTokenType, entra.ErrInsufficientScope, entra.ErrTokenTooLarge, entra.ErrMalformedToken,
}

func TestSentinelsAreInvalidToken(t *testing.T) {
	for _, s := range fkSentinels {
		if !errors.Is(s, entra.ErrInvalidToken) {
			t.Errorf("%v does not match ErrInvalidToken", s)
		}
		for _, other := range fkSentinels {
			if other != s && errors.Is(s, other) {
				t.Errorf("%v matches %v", s, other)
			}
		}
	}
	for _, s := range []error{entra.ErrKeySetUnavailable, entra.ErrDiscoveryMismatch} {
		if errors.Is(s, entra.ErrInvalidToken) {
			t.Errorf("%v matches ErrInvalidToken: a technical failure would answer 401", s)
		}
	}
}

// TestValidateLargestToken: a token of exactly DefaultMaxTokenBytes passes.
func TestValidateLargestToken(t *testing.T) {
	v := fkValidator(fkServeJWKS(t, fkRSAJWK(fkKid, &fkKey().PublicKey)).keySet(), false)
	c := fkIDClaims()
	c["filler"] = ""
	n := len(fkSign(fkKey(), fkHeader(fkKid), c))
	pad := (entra.DefaultMaxTokenBytes - n) * 3 / 4
	var raw string
	for ; pad > 0; pad-- {
		c["filler"] = strings.Repeat("a", pad)
		if raw = fkSign(fkKey(), fkHeader(fkKid), c); len(raw) <= entra.DefaultMaxTokenBytes {
			break
		}
	}
	if len(raw) < entra.DefaultMaxTokenBytes-3 {
		t.Fatalf("token of %d bytes, want about %d", len(raw), entra.DefaultMaxTokenBytes)
	}
	got, err := v.ValidateIDToken(context.Background(), raw, fkNonce)
	fkCheck(t, raw, got, err, nil)
}

func TestIDTokenEmptyNonce(t *testing.T) {
	v := fkValidator(fkServeJWKS(t, fkRSAJWK(fkKid, &fkKey().PublicKey)).keySet(), false)
	c := fkIDClaims()
	c["nonce"] = ""
	raw := fkSign(fkKey(), fkHeader(fkKid), c)
	got, err := v.ValidateIDToken(context.Background(), raw, "")
	fkCheck(t, raw, got, err, entra.ErrNonceMismatch)
	// A real nonce in the token, and the caller lost its own.
	raw = fkSign(fkKey(), fkHeader(fkKid), fkIDClaims())
	got, err = v.ValidateIDToken(context.Background(), raw, "")
	fkCheck(t, raw, got, err, entra.ErrNonceMismatch)
}

func TestValidatorClockBoundaries(t *testing.T) {
	ctx := context.Background()
	keys := fkServeJWKS(t, fkRSAJWK(fkKid, &fkKey().PublicKey)).keySet()
	exp := fkNow
	nbf := exp.Add(-time.Hour)
	c := fkIDClaims()
	c["exp"], c["nbf"], c["iat"] = exp.Unix(), nbf.Unix(), nbf.Unix()
	withNbf := fkSign(fkKey(), fkHeader(fkKid), c)
	delete(c, "nbf")
	onlyIat := fkSign(fkKey(), fkHeader(fkKid), c)
	sec := time.Second
	tests := []struct {
		name string
		tok  string
		skew time.Duration
		now  time.Time
		want error
	}{
		{"exactly exp", withNbf, 0, exp, nil},
		{"exp + skew", withNbf, 0, exp.Add(2 * time.Minute), nil},
		{"exp + skew + 1s", withNbf, 0, exp.Add(2*time.Minute + sec), entra.ErrTokenExpired},
		{"exp + 1 day", withNbf, 0, exp.Add(24 * time.Hour), entra.ErrTokenExpired},
		{"skew 30s: exp + 30s", withNbf, 30 * sec, exp.Add(30 * sec), nil},
		{"skew 30s: exp + 31s", withNbf, 30 * sec, exp.Add(31 * sec), entra.ErrTokenExpired},
		{"nbf - skew", withNbf, 0, nbf.Add(-2 * time.Minute), nil},
		{"nbf - skew - 1s", withNbf, 0, nbf.Add(-2*time.Minute - sec), entra.ErrTokenNotYetValid},
		{"skew 30s: nbf - 31s", withNbf, 30 * sec, nbf.Add(-31 * sec), entra.ErrTokenNotYetValid},
		{"iat - skew (no nbf)", onlyIat, 0, nbf.Add(-2 * time.Minute), nil},
		{"iat - skew - 1s (no nbf)", onlyIat, 0, nbf.Add(-2*time.Minute - sec), entra.ErrTokenNotYetValid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := fkValidator(keys, false)
			v.Skew = tc.skew
			v.Now = func() time.Time { return tc.now }
			got, err := v.ValidateIDToken(ctx, tc.tok, fkNonce)
			fkCheck(t, tc.tok, got, err, tc.want)
		})
	}
}

// TestValidatorFailsClosedWithoutKeys: no key set is an error, never a pass.
func TestValidatorFailsClosedWithoutKeys(t *testing.T) {
	v := &entra.Validator{Issuer: fkIssuer(fkTID), Audiences: []string{fkClient}, Now: func() time.Time { return fkNow }}
	if c, err := v.ValidateIDToken(context.Background(), fkSign(fkKey(), fkHeader(fkKid), fkIDClaims()), fkNonce); err == nil || c != nil {
		t.Fatalf("validated without a key set: %v %v", c, err)
	}
}

// --- Against the dev tenant ---

// fkSignIn signs AdeleV in to the web app through tt.signIn's SignIn, which
// validates the ID token with si.Validator, and returns it with its nonce.
func fkSignIn(t *testing.T, tt *tenant, si *entra.SignIn) (string, string) {
	t.Helper()
	res, txn, err := signintest.SignIn(context.Background(), si, tt.browser(t, "AdeleV"), entra.BeginOptions{Scopes: []string{"User.Read"}})
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	return res.IDToken, txn.Nonce
}

// fkCountJWKS counts the requests for one URL.
type fkCountJWKS struct {
	next http.RoundTripper
	url  string
	n    atomic.Int32
}

func (c *fkCountJWKS) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() == c.url {
		c.n.Add(1)
	}
	return c.next.RoundTrip(r)
}

// TestKeyRotationDuringOperation: the dev tenant publishes the next key
// before using it, so a rotation needs no refetch; once old keys leave the
// JWKS, a refresh (caused by a new kid) drops them and their tokens fail.
func TestKeyRotationDuringOperation(t *testing.T) {
	tt := startTenant(t)
	ctx := context.Background()
	var offset atomic.Int64 // our clocks follow the tenant's
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	counter := &fkCountJWKS{next: tt.client.Transport, url: tt.keys.JWKSURL}
	keys := &entra.RemoteKeySet{JWKSURL: tt.keys.JWKSURL, HTTPClient: &http.Client{Transport: counter}, Now: clock}
	tt.keys = keys
	si := tt.signIn(t)
	si.Validator.Now = clock
	v := si.Validator

	tok1, nonce1 := fkSignIn(t, tt, si)
	if _, err := v.ValidateIDToken(ctx, tok1, nonce1); err != nil {
		t.Fatal(err)
	}
	if n := counter.n.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches for the first token, want 1", n)
	}

	if err := tt.srv.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	tok2, nonce2 := fkSignIn(t, tt, si)
	if kidOf(t, tok2) == kidOf(t, tok1) {
		t.Fatal("the rotation did not change the signing key")
	}
	if _, err := v.ValidateIDToken(ctx, tok2, nonce2); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if _, err := v.ValidateIDToken(ctx, tok1, nonce1); err != nil {
		t.Fatalf("token of the retired key, still published: %v", err)
	}
	if n := counter.n.Load(); n != 1 {
		t.Errorf("%d JWKS fetches after a rotation to a pre-published key, want 1", n)
	}

	// Two more rotations, and the grace period of the retired keys ends.
	for range 2 {
		if err := tt.srv.RotateKeys(); err != nil {
			t.Fatal(err)
		}
	}
	const later = 25 * time.Hour
	tt.srv.AdvanceClock(later)
	offset.Add(int64(later))
	tok4, nonce4 := fkSignIn(t, tt, si) // an unknown kid: one refetch
	if _, err := v.ValidateIDToken(ctx, tok4, nonce4); err != nil {
		t.Fatalf("token of the newest key: %v", err)
	}
	if n := counter.n.Load(); n != 2 {
		t.Errorf("%d JWKS fetches, want 2", n)
	}
	for i, old := range []struct{ tok, nonce string }{{tok1, nonce1}, {tok2, nonce2}} {
		_, err := v.ValidateIDToken(ctx, old.tok, old.nonce)
		if !errors.Is(err, entra.ErrUnknownKey) || !errors.Is(err, entra.ErrInvalidToken) {
			t.Errorf("token %d of an unpublished key: err = %v, want ErrUnknownKey", i+1, err)
		}
		if got, err := keys.VerificationKeys(ctx, kidOf(t, old.tok)); err != nil || len(got) != 0 {
			t.Errorf("key %d still served: %d keys, %v", i+1, len(got), err)
		}
	}
}

// TestDevTenantTokens runs validator checks against tokens the dev tenant
// really issues.
func TestDevTenantTokens(t *testing.T) {
	tt := startTenant(t)
	t.Run("another client", func(t *testing.T) { fkAnotherClient(t, tt) })
	t.Run("tenant spelled differently", func(t *testing.T) { fkDomainTenant(t, tt) })
	t.Run("multi-tenant configs", func(t *testing.T) { fkMultiTenantConfigs(t, tt) })
}

// fkAnotherClient: tokens the dev tenant issued to the CLI app are not the
// web app's ID tokens.
func fkAnotherClient(t *testing.T, tt *tenant) {
	ctx := context.Background()
	cliAppID := infra.Apps().CLI
	res := tt.interactive(t, cliAppID, "AdeleV", []string{"api://" + webAppID + "/access_as_user"})
	web := entra.NewValidator(tt.cfg, tt.keys)

	idTok := res.IDToken.RawToken
	if idTok == "" {
		t.Fatal("no ID token")
	}
	nonce, _ := res.IDToken.AdditionalFields["nonce"].(string)
	_, err := web.ValidateIDToken(ctx, idTok, nonce)
	if !errors.Is(err, entra.ErrInvalidAudience) || !errors.Is(err, entra.ErrInvalidToken) {
		t.Errorf("the CLI's ID token at the web app: err = %v, want ErrInvalidAudience", err)
	}
	// Control: the same token is fine for its own audience up to the nonce.
	cli := entra.NewValidator(tt.cfg, tt.keys)
	cli.Audiences = []string{cliAppID}
	if _, err := cli.ValidateIDToken(ctx, idTok, nonce); err != nil && !errors.Is(err, entra.ErrNonceMismatch) {
		t.Errorf("the CLI's ID token at the CLI: %v", err)
	}

	// The API's access token is not an ID token of the web app.
	if _, err := web.ValidateIDToken(ctx, res.AccessToken, "any"); !errors.Is(err, entra.ErrInvalidToken) {
		t.Errorf("access token as ID token: err = %v, want an ErrInvalidToken", err)
	}
	api := entra.NewValidator(tt.cfg, tt.keys)
	api.Audiences = []string{webAppID, "api://" + webAppID}
	if _, err := api.ValidateAccessToken(ctx, res.AccessToken, entra.AccessPolicy{Scopes: []string{"access_as_user"}}); err != nil {
		t.Fatalf("the API refuses its own access token: %v", err)
	}
	_, err = api.ValidateAccessToken(ctx, res.AccessToken, entra.AccessPolicy{Scopes: []string{"access_as_user"}, AllowedClients: []string{spaAppID}})
	if !errors.Is(err, entra.ErrClientNotAllowed) {
		t.Errorf("caller not allowed: err = %v, want ErrClientNotAllowed", err)
	}
	// The ID token is not an access token of the API either.
	if _, err := api.ValidateAccessToken(ctx, idTok, entra.AccessPolicy{Scopes: []string{"access_as_user"}}); !errors.Is(err, entra.ErrInvalidAudience) {
		t.Errorf("the CLI's ID token at the API: err = %v, want ErrInvalidAudience", err)
	}
}

// fkDomainTenant: Config accepts a verified domain, or a tenant id in upper
// case, as TenantID; tokens of that tenant carry its lower-case GUID in iss.
// NewValidator accepts them for the upper-case id; for a domain it cannot
// know the issuer and must fail closed, and DiscoverValidator accepts them.
func fkDomainTenant(t *testing.T, tt *tenant) {
	ctx := context.Background()
	idTok, nonce := fkSignIn(t, tt, tt.signIn(t))
	upper := tt.cfg
	upper.TenantID = strings.ToUpper(tt.srv.TenantID())
	domain := tt.cfg
	domain.TenantID = tt.srv.Domain()
	for _, cfg := range []entra.Config{upper, domain} {
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	v := entra.NewValidator(upper, tt.keys)
	if _, err := v.ValidateIDToken(ctx, idTok, nonce); err != nil {
		t.Errorf("NewValidator(Config{TenantID: %q}) (Issuer %q): %v", upper.TenantID, v.Issuer, err)
	}
	v = entra.NewValidator(domain, tt.keys)
	if c, err := v.ValidateIDToken(ctx, idTok, nonce); err == nil || c != nil {
		t.Errorf("NewValidator(Config{TenantID: %q}) guessed issuer %q and accepted", domain.TenantID, v.Issuer)
	}
	for _, cfg := range []entra.Config{domain, upper, tt.cfg} {
		v, md, err := entra.DiscoverValidator(ctx, cfg, tt.client)
		if err != nil {
			t.Fatalf("DiscoverValidator(%s): %v", cfg.TenantID, err)
		}
		if md.Issuer != tt.srv.Issuer() {
			t.Errorf("DiscoverValidator(%s): issuer %q", cfg.TenantID, md.Issuer)
		}
		if _, err := v.ValidateIDToken(ctx, idTok, nonce); err != nil {
			t.Errorf("DiscoverValidator(Config{TenantID: %q}) (Issuer %q): %v", cfg.TenantID, v.Issuer, err)
		}
		// Another client's validator for the same tenant: still the audience.
		v.Audiences = []string{spaAppID}
		if _, err := v.ValidateIDToken(ctx, idTok, nonce); !errors.Is(err, entra.ErrInvalidAudience) {
			t.Errorf("DiscoverValidator(%s) for another client: err = %v, want ErrInvalidAudience", cfg.TenantID, err)
		}
	}
}

// fkMultiTenantConfigs: validators of multi-tenant configs accept the dev
// tenant's ID token when its tenant is allowed, and only then.
func fkMultiTenantConfigs(t *testing.T, tt *tenant) {
	ctx := context.Background()
	idTok, nonce := fkSignIn(t, tt, tt.signIn(t))
	for _, tc := range []struct {
		tenant  string
		allowed []string
		want    error
	}{
		{"common", []string{"*"}, nil},
		{"organizations", []string{tt.srv.TenantID()}, nil},
		{"common", []string{strings.ToUpper(tt.srv.TenantID())}, nil},
		{"organizations", []string{fkOther}, entra.ErrTenantNotAllowed},
	} {
		cfg := tt.cfg
		cfg.TenantID, cfg.AllowedTenants = tc.tenant, tc.allowed
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		v := entra.NewValidator(cfg, tt.keys)
		c, err := v.ValidateIDToken(ctx, idTok, nonce)
		if tc.want == nil && err != nil {
			t.Errorf("%s %v: %v", tc.tenant, tc.allowed, err)
		}
		if tc.want != nil && (c != nil || !errors.Is(err, tc.want)) {
			t.Errorf("%s %v: err = %v, want %v", tc.tenant, tc.allowed, err, tc.want)
		}
	}
}

// TestDomainTenantV1Tokens: with TenantID a domain and the templated v1
// issuer a web API uses, only the domain's own tenant may call. NewValidator
// cannot know which tenant that is and refuses every tenant; DiscoverValidator
// resolves the domain through the discovery document's issuer and accepts
// that tenant alone.
func TestDomainTenantV1Tokens(t *testing.T) {
	ctx := context.Background()
	jwks := fkServeJWKS(t, fkRSAJWK(fkKid, &fkKey().PublicKey))
	var host string
	disco := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/keys" { // the keys on the authority's host, as Entra's
			resp, err := http.Get(jwks.URL + "/keys")
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			io.Copy(w, resp.Body)
			return
		}
		if r.URL.Path != "/contoso.example.com/v2.0/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		w.Write(fkJSON(map[string]any{
			"issuer": host + "/" + fkTID + "/v2.0", "jwks_uri": host + "/keys",
			"authorization_endpoint": host + "/" + fkTID + "/oauth2/v2.0/authorize",
			"token_endpoint":         host + "/" + fkTID + "/oauth2/v2.0/token",
		}))
	}))
	defer disco.Close()
	host = disco.URL
	cfg := entra.Config{Cloud: entra.Cloud{AuthorityHost: host, GraphEndpoint: "https://graph.fk.test"}, TenantID: "contoso.example.com", ClientID: fkClient}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	api := func(v *entra.Validator) *entra.Validator {
		v.V1Issuer = "https://sts.windows.net/{tenantid}/"
		v.Audiences = []string{fkClient, "api://" + fkClient}
		v.Now = func() time.Time { return fkNow }
		return v
	}
	v1 := func(tid string) string {
		c := fkV1Claims()
		c["tid"], c["iss"] = tid, "https://sts.windows.net/"+tid+"/"
		return fkSign(fkKey(), fkHeader(fkKid), c)
	}
	newV := api(entra.NewValidator(cfg, jwks.keySet()))
	for _, tid := range []string{fkThird, fkOther, fkTID} {
		raw := v1(tid)
		c, err := newV.ValidateAccessToken(ctx, raw, *fkDelegated)
		t.Run("NewValidator/"+tid, func(t *testing.T) { fkCheck(t, raw, c, err, entra.ErrTenantNotAllowed) })
	}
	discovered, _, err := entra.DiscoverValidator(ctx, cfg, disco.Client())
	if err != nil {
		t.Fatal(err)
	}
	discovered = api(discovered)
	for _, tc := range []struct {
		tid  string
		want error
	}{{fkThird, entra.ErrTenantNotAllowed}, {fkOther, entra.ErrTenantNotAllowed}, {fkTID, nil}} {
		raw := v1(tc.tid)
		c, err := discovered.ValidateAccessToken(ctx, raw, *fkDelegated)
		t.Run("DiscoverValidator/"+tc.tid, func(t *testing.T) { fkCheck(t, raw, c, err, tc.want) })
	}
	// The tenant's v2 tokens carry the discovered issuer.
	claims := fkAccessClaims()
	claims["iss"] = host + "/" + fkTID + "/v2.0"
	raw := fkSign(fkKey(), fkHeader(fkKid), claims)
	c, err := discovered.ValidateAccessToken(ctx, raw, *fkDelegated)
	fkCheck(t, raw, c, err, nil)
}
