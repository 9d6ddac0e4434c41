package entra

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func fzB64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// fzToken is header.payload.signature with a 256-byte signature that
// verifies under no key.
func fzToken(header, payload string) string {
	return fzB64(header) + "." + fzB64(payload) + "." + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 256))
}

// fzKey is an RSA-2048 public key with an odd pseudo-random modulus: verify
// runs the whole computation and (all but certainly) fails.
func fzKey() *rsa.PublicKey {
	var n []byte
	for i := byte(0); len(n) < 256; i++ {
		s := sha256.Sum256([]byte{'f', 'z', i})
		n = append(n, s[:]...)
	}
	n[0] |= 0x80
	n[255] |= 1
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n[:256]), E: 65537}
}

// Realistic payloads, as Entra issues them.
const (
	fzIDPayload     = `{"aud":"3f6c7b1a-9e2d-4c8f-a5b3-7d1e0f2c4a6b","iss":"https://login.microsoftonline.com/6f1a3c2e-8d4b-4e7a-9c1f-2b5d8e0a4c7f/v2.0","iat":1767225300,"nbf":1767225300,"exp":1767229200,"name":"Adele Vance","nonce":"oEhlX-SjCjxhWcl2YZZPQJ4vgQt9HJKcahxdDz6imRw","oid":"00000000-0000-0000-66f3-3332eca7ea81","preferred_username":"AdeleV@contoso.onmicrosoft.com","rh":"0.AXEA","roles":["Reader"],"groups":["a1b2c3d4-0000-4000-8000-000000000001"],"sid":"00ac8a86-0f2f-4f3b-a0b7-6a26a1e0b1b6","sub":"AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ","tid":"6f1a3c2e-8d4b-4e7a-9c1f-2b5d8e0a4c7f","uti":"AbCdEf123456","ver":"2.0"}`
	fzAccessPayload = `{"aud":"3f6c7b1a-9e2d-4c8f-a5b3-7d1e0f2c4a6b","iss":"https://login.microsoftonline.com/6f1a3c2e-8d4b-4e7a-9c1f-2b5d8e0a4c7f/v2.0","iat":1767225300,"nbf":1767225300,"exp":1767229200,"aio":"E2RgYJg=","azp":"d1f3b5c7-9e0a-4b2d-8f4a-6c8e0a2b4d6f","azpacr":"0","name":"Adele Vance","oid":"00000000-0000-0000-66f3-3332eca7ea81","preferred_username":"AdeleV@contoso.onmicrosoft.com","rh":"0.AXEA","scp":"access_as_user User.Read","sub":"6f1e9c6a","tid":"6f1a3c2e-8d4b-4e7a-9c1f-2b5d8e0a4c7f","uti":"XyZ987","ver":"2.0","xms_cc":["CP1"]}`
	fzV1Payload     = `{"aud":"api://3f6c7b1a-9e2d-4c8f-a5b3-7d1e0f2c4a6b","iss":"https://sts.windows.net/6f1a3c2e-8d4b-4e7a-9c1f-2b5d8e0a4c7f/","iat":1767225300,"nbf":1767225300,"exp":1767229200,"acr":"1","amr":["pwd","mfa"],"appid":"d1f3b5c7-9e0a-4b2d-8f4a-6c8e0a2b4d6f","appidacr":"0","idtyp":"user","ipaddr":"203.0.113.7","scp":"access_as_user","upn":"AdeleV@contoso.onmicrosoft.com","oid":"00000000-0000-0000-66f3-3332eca7ea81","sub":"x","tid":"6f1a3c2e-8d4b-4e7a-9c1f-2b5d8e0a4c7f","ver":"1.0","_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}}`
	fzAppPayload    = `{"aud":"api://3f6c7b1a-9e2d-4c8f-a5b3-7d1e0f2c4a6b","iss":"https://login.microsoftonline.com/6f1a3c2e-8d4b-4e7a-9c1f-2b5d8e0a4c7f/v2.0","iat":1767225300,"nbf":1767225300,"exp":1767229200,"azp":"c4e6a8b0-2d4f-4a6c-8e0a-1b3c5d7e9f0a","azpacr":"1","idtyp":"app","oid":"8c1d2e3f","roles":["Reports.Read.All"],"sub":"8c1d2e3f","tid":"6f1a3c2e-8d4b-4e7a-9c1f-2b5d8e0a4c7f","ver":"2.0"}`
)

var fzHeaders = []string{
	`{"typ":"JWT","alg":"RS256","kid":"nOo3ZDrODXEK1jKWhXslHR_KXEg"}`,
	`{"typ":"JWT","alg":"RS256","x5t":"nOo3ZDrODXEK1jKWhXslHR_KXEg","kid":"nOo3ZDrODXEK1jKWhXslHR_KXEg"}`,
	`{"alg":"RS256"}`,
	`{"alg":"none","typ":"JWT"}`,
	`{"alg":"HS256","typ":"JWT","kid":"k"}`,
	`{"alg":"ES256","kid":"ec1"}`,
	`{"alg":"RS256","alg":"none"}`,
	`{"alg":"RS256","\u0061lg":"none"}`,
	`{"alg":"RS256","crit":["b64"],"b64":false}`,
	`{"alg":"RS256","zip":"DEF"}`,
	`{"alg":"RSA-OAEP","enc":"A256GCM"}`,
	`{"alg":"RS256","jku":"https://evil.test/keys","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"},"x5c":["MIIB"]}`,
	`{"alg":"RS256","kid":{"nested":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}}`,
	`{"alg":"RS256","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
	`{"alg":256}`,
	`{"alg":null}`,
	`{}`,
	`[]`,
	`{"alg":"RS256"}garbage`,
	"{\"alg\":\"RS256\",\"kid\":\"\xff\"}",
	`{"alg":"RS256","kid":"a\u0000b"}`,
	` {"alg" : "RS256" } `,
}

func FuzzParseJWT(f *testing.F) {
	for _, h := range fzHeaders {
		for _, p := range []string{fzIDPayload, fzAccessPayload, `{}`, `not json`} {
			f.Add(fzToken(h, p))
		}
	}
	good := fzToken(fzHeaders[0], fzIDPayload)
	for _, s := range []string{
		"", ".", "..", "...", "a.b.c", "a.b.c.d.e", good + ".x", good[:strings.LastIndexByte(good, '.')],
		fzB64(fzHeaders[3]) + "." + fzB64(fzIDPayload) + ".",
		fzB64(fzHeaders[0]) + "=." + fzB64(fzIDPayload) + ".AAAA",
		strings.Replace(good, "-", "+", -1),
		"eyJhbGciOiJSUzI1NiJ9.e30." + strings.Repeat("A", 342),
		"eyJhbGciOiJSUzI1NiJ9.e30.\x00\xff",
		strings.Repeat(".", 1000),
		fzToken(fzHeaders[0], strings.Repeat("a", DefaultMaxTokenBytes)),
		"Bearer " + good,
		" " + good,
	} {
		f.Add(s)
	}
	key := fzKey()
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := parseJWS(raw, DefaultMaxTokenBytes)
		if err != nil {
			if tok.signingInput != "" || tok.payload != nil || tok.sig != nil {
				t.Fatal("a token along with an error")
			}
			var te *TokenError
			if !errors.Is(err, ErrInvalidToken) || !errors.As(err, &te) {
				t.Fatalf("error %v is not a *TokenError matching ErrInvalidToken", err)
			}
			if !errors.Is(err, ErrMalformedToken) && !errors.Is(err, ErrUnsupportedAlg) && !errors.Is(err, ErrTokenTooLarge) {
				t.Fatalf("unexpected reason: %v", err)
			}
			return
		}
		if tok.alg != "RS256" {
			t.Fatalf("alg %q accepted", tok.alg)
		}
		if len(raw) > DefaultMaxTokenBytes {
			t.Fatalf("%d bytes accepted", len(raw))
		}
		parts := strings.Split(raw, ".")
		if len(parts) != 3 {
			t.Fatalf("%d parts accepted", len(parts))
		}
		if tok.signingInput != parts[0]+"."+parts[1] {
			t.Fatalf("signing input %q", tok.signingInput)
		}
		for i, want := range [][]byte{tok.payload, tok.sig} {
			got, err := base64.RawURLEncoding.DecodeString(parts[i+1])
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("part %d decodes differently", i+1)
			}
		}
		// Differential: when encoding/json reads the header as an object,
		// it must agree on alg and kid.
		hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
		var m map[string]any
		if json.Unmarshal(hdr, &m) == nil {
			if m["alg"] != "RS256" {
				t.Fatalf("encoding/json reads alg %v, parseJWS RS256", m["alg"])
			}
			if kid, ok := m["kid"].(string); ok && kid != tok.kid || !ok && m["kid"] != nil {
				t.Fatalf("encoding/json reads kid %v, parseJWS %q", m["kid"], tok.kid)
			}
			for _, h := range []string{"crit", "zip", "enc"} {
				if _, ok := m[h]; ok {
					t.Fatalf("header %q accepted", h)
				}
			}
		}
		if tok.verify(nil) {
			t.Fatal("verified without a key")
		}
		if tok.verify(key) {
			t.Fatal("verified under a key nobody holds")
		}
	})
}

// fzStrings reads a JSON value as encoding/json decoded it into a list of
// strings the way parseClaims does (a single string is a one-element list).
func fzStrings(v any) ([]string, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case string:
		return []string{v}, true
	case []any:
		out := []string{}
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// fzInt reads a JSON number as parseClaims does.
func fzInt(v any) (int64, bool) {
	switch v := v.(type) {
	case nil:
		return 0, true
	case json.Number:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return n, true
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || f > 1<<62 || f < -(1<<62) {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

func FuzzParseClaims(f *testing.F) {
	for _, s := range []string{
		fzIDPayload, fzAccessPayload, fzV1Payload, fzAppPayload,
		`{}`, ` { } `, `{"aud":[]}`, `{"aud":"x"}`, `{"aud":["a","b"],"azp":"a"}`, `{"roles":"Admin"}`,
		`{"exp":1767229200,"exp":1}`, `{"exp":1,"\u0065xp":2}`, `{"azp":"a","appid":"b"}`, `{"x":1,"x":2}`,
		`{"nonce":null}`, `{"nonce":null,"nonce":"x"}`, `{"iss":"a\"b\\c\/d\u00e9\ud83d\ude00"}`, `{"iss":"\ud800"}`,
		`{"exp":1.5}`, `{"exp":1e3}`, `{"exp":-0}`, `{"exp":+1}`, `{"exp":01}`, `{"exp":.5}`, `{"exp":1.}`,
		`{"exp":9223372036854775807}`, `{"exp":9223372036854775808}`, `{"exp":1e400}`, `{"exp":"1"}`, `{"exp":true}`,
		`{"_claim_names":{"groups":"src1"}}`, `{"_claim_names":{"groups":"src1",}}`, `{"_claim_names":{}}`, `{"_claim_names":null}`,
		`{"x":` + strings.Repeat("[", 16) + strings.Repeat("]", 16) + `}`,
		`{"x":` + strings.Repeat("[", 17) + strings.Repeat("]", 17) + `}`,
		`{"x":` + strings.Repeat(`{"a":`, 20) + `1` + strings.Repeat("}", 20) + `}`,
		`{"iss":"a"}x`, `{"iss":"a"}{}`, `{"iss":"a",}`, `{"iss":"a" "sub":"b"}`, `{"iss":}`, `{"iss"}`, `{"iss":"`, `{"iss":"\`,
		"{\"iss\":\"\xff\"}", "{\"iss\":\"\\u00e9\xff\"}", "{\"iss\":\"a\x01\"}", "{\"iss\":\"a\\\x01\"}", "\xef\xbb\xbf{}",
		`[]`, `null`, `"x"`, `1`, ``, `{`, `}`, "{\"x\":nul}", `{"x":tru}`, `{"x":[1,]}`, `{"x":{"a":1,}}`,
		`{"scp":"a b","roles":["r"],"groups":["g"],"xms_cc":["cp1"],"idtyp":"app","uti":"u","sid":"s"}`,
		`{"ISS":"a","Iss":"b","iss":"c"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseClaims(b)
		if err != nil {
			return // (callers ignore c on error; it may be partly filled)
		}
		if c == nil || !bytes.Equal(c.Raw, b) {
			t.Fatal("no claims, or Raw is not the input")
		}
		if !json.Valid(b) {
			return // not JSON for encoding/json: nothing to compare
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var m map[string]any
		if d.Decode(&m) != nil || m == nil {
			return // not an object
		}
		str := map[string]string{
			"iss": c.Issuer, "sub": c.Subject, "oid": c.ObjectID, "tid": c.TenantID, "nonce": c.Nonce, "scp": c.Scopes,
			"ver": c.Version, "name": c.Name, "preferred_username": c.PreferredUsername, "upn": c.UPN, "email": c.Email,
			"idtyp": c.IDType, "sid": c.SessionID, "uti": c.TokenID,
		}
		for k, got := range str {
			switch v := m[k].(type) {
			case nil:
				if got != "" {
					t.Fatalf("%s: parseClaims %q, encoding/json absent or null", k, got)
				}
			case string:
				if got != v {
					t.Fatalf("%s: parseClaims %q, encoding/json %q", k, got, v)
				}
			default:
				t.Fatalf("%s: parseClaims accepted a %T", k, v)
			}
		}
		azp := m["azp"]
		if azp == nil {
			azp = m["appid"]
		}
		if s, ok := azp.(string); ok && s != c.AuthorizedParty || azp == nil && c.AuthorizedParty != "" {
			t.Fatalf("azp: parseClaims %q, encoding/json %v", c.AuthorizedParty, azp)
		}
		lists := map[string][]string{"aud": c.Audience, "roles": c.Roles, "groups": c.Groups, "xms_cc": c.ClientCapability}
		for k, got := range lists {
			want, ok := fzStrings(m[k])
			if !ok {
				t.Fatalf("%s: parseClaims accepted %v", k, m[k])
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: parseClaims %q, encoding/json %q", k, got, want)
			}
		}
		ints := map[string]int64{"exp": c.Expiry, "nbf": c.NotBefore, "iat": c.IssuedAt}
		for k, got := range ints {
			want, ok := fzInt(m[k])
			if !ok {
				t.Fatalf("%s: parseClaims accepted %v", k, m[k])
			}
			if got != want {
				t.Fatalf("%s: parseClaims %d, encoding/json %v", k, got, m[k])
			}
		}
		names, _ := m["_claim_names"].(map[string]any)
		if _, groups := names["groups"]; groups != c.GroupsOverage {
			t.Fatalf("groups overage: parseClaims %v, encoding/json %v", c.GroupsOverage, m["_claim_names"])
		}
		bits := map[string]uint32{"iss": hasIss, "sub": hasSub, "aud": hasAud, "exp": hasExp, "nbf": hasNbf, "iat": hasIat, "nonce": hasNonce, "scp": hasScp, "roles": hasRoles}
		for k, bit := range bits {
			if present := m[k] != nil; present != (c.present&bit != 0) {
				t.Fatalf("%s: present in JSON %v, in parseClaims %v", k, present, c.present&bit != 0)
			}
		}
		if present := m["azp"] != nil || m["appid"] != nil; present != (c.present&hasAzp != 0) {
			t.Fatalf("azp/appid: present in JSON %v, in parseClaims %v", present, c.present&hasAzp != 0)
		}
	})
}

// TestParseClaimsOnlyJSON: the scanner must not accept what encoding/json
// (and so Claims.Map, and every other reader of the payload) refuses.
func TestParseClaimsOnlyJSON(t *testing.T) {
	for _, s := range []string{
		`{"exp":+1767229200}`, `{"exp":01767229200}`, `{"exp":.5}`, `{"exp":1.}`, `{"exp":-}`, `{"exp":1e}`,
		`{"x":+1}`, `{"x":01}`, `{"x":[.5]}`, `{"_claim_names":{"groups":"src1",}}`, `{"x":{"a":1,}}`, `{"x":[1,]}`,
		`{"iss":"a",}`, `{"iss":"a"}x`, "{\"iss\":\"a\x01\"}", `{"x":nul}`,
	} {
		if json.Valid([]byte(s)) {
			t.Fatalf("seed %s is valid JSON", s)
		}
		if _, err := parseClaims([]byte(s)); err == nil {
			t.Errorf("parseClaims accepts %s, which is not JSON", s)
		}
	}
	for _, h := range []string{`{"alg":"RS256","x":+1}`, `{"alg":"RS256","x":01}`, `{"alg":"RS256","x":{"a":1,}}`} {
		if _, err := parseJWS(fzToken(h, `{}`), DefaultMaxTokenBytes); err == nil {
			t.Errorf("parseJWS accepts the header %s, which is not JSON", h)
		}
	}
}
