package entra

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"testing"
)

// oneKey is a KeySet of one key, whatever the kid.
type oneKey struct{ k *rsa.PublicKey }

func (o oneKey) VerificationKeys(context.Context, string) ([]*rsa.PublicKey, error) {
	return []*rsa.PublicKey{o.k}, nil
}

// TestHeaderParserRejectsMalformedJSON: a '}' in the middle of a header is
// not the end of it.
func TestHeaderParserRejectsMalformedJSON(t *testing.T) {
	for _, h := range []string{`{"alg":"RS256",}"kid":"x"}`, `{"alg":"RS256",}`, `{,}`} {
		var j jws
		if err := j.parseHeader([]byte(h)); err == nil {
			t.Errorf("header %s accepted", h)
		}
	}
}

// TestUnsignedHeadersAreNotRemembered: tokens whose signature does not
// verify leave nothing in knownHeaders, so unsigned junk cannot fill it.
func TestUnsignedHeadersAreNotRemembered(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	v := &Validator{Keys: oneKey{&key.PublicKey}, Issuer: "https://login.example/t/v2.0", Audiences: []string{"a"}}
	before := knownHeadersCount.Load()
	enc := base64.RawURLEncoding.EncodeToString
	for i := 0; i < 50; i++ {
		h := enc([]byte(`{"alg":"RS256","kid":"junk-` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `"}`))
		raw := h + "." + enc([]byte(`{"iss":"x"}`)) + "." + enc(make([]byte, 256))
		if _, err := v.validate(context.Background(), raw); err == nil {
			t.Fatal("junk token accepted")
		}
	}
	if got := knownHeadersCount.Load(); got != before {
		t.Errorf("knownHeaders grew by %d on unsigned tokens", got-before)
	}
}
