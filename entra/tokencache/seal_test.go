package tokencache_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/entrakit/entrakit/entra/tokencache"
)

// sealSecret is a fixed 32-byte secret (seed..seed+31), so test rings are
// reproducible (the fuzz corpus depends on it).
func sealSecret(seed byte) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

func sealKey(t testing.TB, seed byte) *tokencache.Key {
	t.Helper()
	k, err := tokencache.NewKey(sealSecret(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sealRing(t testing.TB, seed byte) *tokencache.KeyRing {
	t.Helper()
	return tokencache.NewKeyRing(sealKey(t, seed))
}

// parseRing is ParseKeyRing(config) of a config the test knows is good.
func parseRing(t testing.TB, config string) *tokencache.KeyRing {
	t.Helper()
	r, err := tokencache.ParseKeyRing(config)
	if err != nil {
		t.Fatalf("ParseKeyRing: %v", err)
	}
	return r
}

// sealPlain is a plausible MSAL cache blob.
var sealPlain = []byte(`{"AccessToken":{"k":{"secret":"at-123","expires_on":"1800000000"}},"RefreshToken":{"r":{"secret":"rt-456"}}}`)

// openNoPanic opens blob and turns a panic into a test failure.
func openNoPanic(t *testing.T, r *tokencache.KeyRing, partition string, blob []byte) (pt []byte, kid string, err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Open(%d bytes) panicked: %v", len(blob), p)
		}
	}()
	return r.Open(partition, blob)
}

func TestSealRoundTrip(t *testing.T) {
	r := sealRing(t, 1)
	for _, pt := range [][]byte{sealPlain, {}, {0}, bytes.Repeat([]byte{0xff}, 70_000)} {
		blob := r.Seal("user-a", pt)
		got, kid, err := r.Open("user-a", blob)
		if err != nil {
			t.Fatalf("Open(%d-byte plaintext): %v", len(pt), err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("round trip of %d bytes gave %d bytes", len(pt), len(got))
		}
		if kid != r.PrimaryID() {
			t.Fatalf("key id %q, want the primary %q", kid, r.PrimaryID())
		}
		// format, key id length, key id, 96-bit nonce, ciphertext, 128-bit tag
		if blob[0] != 1 || int(blob[1]) != len(kid) || string(blob[2:2+len(kid)]) != kid || len(blob) != 2+len(kid)+12+len(pt)+16 {
			t.Fatalf("envelope of %d bytes for %d-byte plaintext does not match the documented layout", len(blob), len(pt))
		}
		if len(pt) > 8 && bytes.Contains(blob, pt[:8]) {
			t.Fatal("the sealed blob contains the plaintext")
		}
	}
}

func TestSealDoesNotAliasInput(t *testing.T) {
	r := sealRing(t, 1)
	pt := append([]byte(nil), sealPlain...)
	blob := r.Seal("a", pt)
	if !bytes.Equal(pt, sealPlain) {
		t.Fatal("Seal modified its plaintext argument")
	}
	keep := append([]byte(nil), blob...)
	got, _, err := r.Open("a", blob)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blob, keep) {
		t.Fatal("Open modified the sealed blob")
	}
	got[0] ^= 1
	if again, _, _ := r.Open("a", blob); !bytes.Equal(again, sealPlain) {
		t.Fatal("the plaintext returned by Open aliases the blob")
	}
}

func TestSealPartitionBinding(t *testing.T) {
	r := sealRing(t, 1)
	blob := r.Seal("user-a", sealPlain)
	for _, other := range []string{"user-b", "", "user-a ", "user-", "USER-A", "user-a\x00"} {
		pt, _, err := r.Open(other, blob)
		if !errors.Is(err, tokencache.ErrCorrupt) {
			t.Errorf("blob for user-a opened for %q: err=%v", other, err)
		}
		if pt != nil {
			t.Errorf("Open(%q) returned plaintext with an error", other)
		}
	}
}

func TestSealEveryBitFlip(t *testing.T) {
	r := sealRing(t, 1)
	blob := r.Seal("user-a", sealPlain)
	for i := range blob {
		for bit := 0; bit < 8; bit++ {
			bad := append([]byte(nil), blob...)
			bad[i] ^= 1 << bit
			pt, _, err := openNoPanic(t, r, "user-a", bad)
			if err == nil {
				t.Fatalf("flipping bit %d of byte %d: the blob still opens", bit, i)
			}
			if pt != nil {
				t.Fatalf("flipping bit %d of byte %d: plaintext returned with %v", bit, i, err)
			}
			if !errors.Is(err, tokencache.ErrCorrupt) && !errors.Is(err, tokencache.ErrUnknownKey) && !errors.Is(err, tokencache.ErrUnknownFormat) {
				t.Fatalf("flipping bit %d of byte %d: unexpected error %v", bit, i, err)
			}
			if i == 0 && !errors.Is(err, tokencache.ErrUnknownFormat) {
				t.Fatalf("flipping bit %d of the format byte: %v, want ErrUnknownFormat", bit, err)
			}
		}
	}
}

func TestSealTruncation(t *testing.T) {
	r := sealRing(t, 1)
	blob := r.Seal("user-a", sealPlain)
	for n := 0; n < len(blob); n++ {
		pt, _, err := openNoPanic(t, r, "user-a", blob[:n])
		if err == nil || pt != nil {
			t.Fatalf("blob truncated to %d of %d bytes opened (pt=%d bytes, err=%v)", n, len(blob), len(pt), err)
		}
		// A copy with no spare capacity, so no implementation can peek
		// past the end.
		cp := append([]byte(nil), blob[:n]...)
		if _, _, err := openNoPanic(t, r, "user-a", cp[:n:n]); err == nil {
			t.Fatalf("copy truncated to %d bytes opened", n)
		}
	}
	// Extended by a byte: the tag no longer matches.
	if _, _, err := r.Open("user-a", append(append([]byte(nil), blob...), 0)); err == nil {
		t.Fatal("blob with a trailing byte opened")
	}
}

func TestSealEmptyAndNil(t *testing.T) {
	r := sealRing(t, 1)
	for _, blob := range [][]byte{nil, {}, {1}, {1, 12}} {
		pt, _, err := openNoPanic(t, r, "user-a", blob)
		if !errors.Is(err, tokencache.ErrCorrupt) || pt != nil {
			t.Errorf("Open(%v) = %q, %v; want ErrCorrupt", blob, pt, err)
		}
	}
}

func TestSealUnknownFormat(t *testing.T) {
	r := sealRing(t, 1)
	blob := r.Seal("user-a", sealPlain)
	for _, v := range []byte{0, 2, 3, '{', 0xff} {
		bad := append([]byte(nil), blob...)
		bad[0] = v
		if _, _, err := r.Open("user-a", bad); !errors.Is(err, tokencache.ErrUnknownFormat) {
			t.Errorf("format byte %d: %v, want ErrUnknownFormat", v, err)
		}
	}
	// Plaintext JSON is not an envelope: never accepted as a blob.
	if pt, _, err := r.Open("user-a", sealPlain); err == nil || pt != nil {
		t.Fatal("plaintext JSON accepted as a sealed blob")
	}
}

func TestSealUnknownKey(t *testing.T) {
	r1, r2 := sealRing(t, 1), sealRing(t, 2)
	blob := r1.Seal("user-a", sealPlain)
	pt, kid, err := r2.Open("user-a", blob)
	if !errors.Is(err, tokencache.ErrUnknownKey) {
		t.Fatalf("Open with a ring lacking the key: %v, want ErrUnknownKey", err)
	}
	if pt != nil {
		t.Fatal("plaintext returned with ErrUnknownKey")
	}
	if kid != r1.PrimaryID() {
		t.Fatalf("reported key id %q, want the sealing key's id %q (for the log)", kid, r1.PrimaryID())
	}
}

func TestSealRelabelledKeyID(t *testing.T) {
	// A blob sealed by k1, relabelled with k2's id, in a ring holding both:
	// the key id is additional data, so it does not open with either key.
	k1, k2 := sealKey(t, 1), sealKey(t, 2)
	ring := tokencache.NewKeyRing(k1, k2)
	blob := ring.Seal("user-a", sealPlain)
	if len(k1.ID()) != len(k2.ID()) {
		t.Fatalf("key ids of different lengths: %q %q", k1.ID(), k2.ID())
	}
	n := int(blob[1])
	if string(blob[2:2+n]) != k1.ID() {
		t.Fatalf("header key id %q, want %q", blob[2:2+n], k1.ID())
	}
	bad := append([]byte(nil), blob...)
	copy(bad[2:2+n], k2.ID())
	if _, _, err := ring.Open("user-a", bad); !errors.Is(err, tokencache.ErrCorrupt) {
		t.Fatalf("relabelled blob: %v, want ErrCorrupt", err)
	}
}

func TestSealKeyRotation(t *testing.T) {
	k1, k2 := sealKey(t, 1), sealKey(t, 2)
	ring1 := tokencache.NewKeyRing(k1)
	ring2 := tokencache.NewKeyRing(k2, k1)
	if ring2.PrimaryID() != k2.ID() {
		t.Fatalf("ring2 primary %q, want k2 %q", ring2.PrimaryID(), k2.ID())
	}

	old := ring1.Seal("user-a", sealPlain)
	pt, kid, err := ring2.Open("user-a", old)
	if err != nil || !bytes.Equal(pt, sealPlain) {
		t.Fatalf("ring2 cannot open ring1's blob: %v", err)
	}
	if kid != k1.ID() {
		t.Fatalf("ring2 opened ring1's blob with key %q, want k1 %q", kid, k1.ID())
	}

	fresh := ring2.Seal("user-a", sealPlain)
	if _, kid, err := ring2.Open("user-a", fresh); err != nil || kid != k2.ID() {
		t.Fatalf("ring2 seals with %q (err %v), want k2 %q", kid, err, k2.ID())
	}
	if _, _, err := tokencache.NewKeyRing(k2).Open("user-a", fresh); err != nil {
		t.Fatalf("a ring of k2 alone cannot open ring2's blob: %v", err)
	}
	if _, _, err := ring1.Open("user-a", fresh); !errors.Is(err, tokencache.ErrUnknownKey) {
		t.Fatalf("ring1 opened ring2's blob: %v, want ErrUnknownKey", err)
	}
	// Revoking k1 (a ring of k2 only) makes k1's blobs misses, not panics.
	if _, _, err := tokencache.NewKeyRing(k2).Open("user-a", old); !errors.Is(err, tokencache.ErrUnknownKey) {
		t.Fatalf("revoked key: %v, want ErrUnknownKey", err)
	}
}

func TestSealRandomNonce(t *testing.T) {
	r := sealRing(t, 1)
	a, b := r.Seal("user-a", sealPlain), r.Seal("user-a", sealPlain)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical: nonce reuse")
	}
	n := int(a[1])
	nonceA, nonceB := a[2+n:2+n+12], b[2+n:2+n+12]
	if bytes.Equal(nonceA, nonceB) {
		t.Fatal("two seals share a nonce")
	}
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		blob := r.Seal("user-a", nil)
		nonce := string(blob[2+n : 2+n+12])
		if seen[nonce] {
			t.Fatalf("nonce repeated after %d seals", i)
		}
		seen[nonce] = true
	}
}

func TestNewKeyShortSecret(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31} {
		if _, err := tokencache.NewKey(make([]byte, n)); err == nil {
			t.Errorf("NewKey(%d bytes) accepted", n)
		}
	}
	if _, err := tokencache.NewKey(make([]byte, 64)); err != nil {
		t.Errorf("NewKey(64 bytes): %v", err)
	}
}

func TestParseKeyRing(t *testing.T) {
	t.Run("generated key", func(t *testing.T) {
		secret := tokencache.GenerateKey()
		raw, err := base64.StdEncoding.DecodeString(secret)
		if err != nil || len(raw) != 32 {
			t.Fatalf("GenerateKey() = %q: %d bytes, %v", secret, len(raw), err)
		}
		if tokencache.GenerateKey() == secret {
			t.Fatal("GenerateKey returned the same key twice")
		}
		r := parseRing(t, secret)
		blob := r.Seal("p", sealPlain)
		if pt, _, err := r.Open("p", blob); err != nil || !bytes.Equal(pt, sealPlain) {
			t.Fatalf("round trip with a parsed ring: %v", err)
		}
	})

	t.Run("encodings agree", func(t *testing.T) {
		secret := sealSecret(200) // bytes >= 0xc8: '+' and '/' in standard base64
		want := tokencache.NewKeyRing(sealKey(t, 200)).PrimaryID()
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			s := enc.EncodeToString(secret)
			r, err := tokencache.ParseKeyRing("  " + s + "  ")
			if err != nil {
				t.Fatalf("ParseKeyRing(%s-encoded): %v", encName(enc), err)
			}
			if r.PrimaryID() != want {
				t.Fatalf("%s encoding gave another key", encName(enc))
			}
		}
	})

	t.Run("several keys, first is primary", func(t *testing.T) {
		k1, k2, k3 := tokencache.GenerateKey(), tokencache.GenerateKey(), tokencache.GenerateKey()
		older, oldest := parseRing(t, k2), parseRing(t, k3)
		ring := parseRing(t, k1+", "+k2+",,"+k3+",")
		alone := parseRing(t, k1)
		if ring.PrimaryID() != alone.PrimaryID() {
			t.Fatal("the first key is not the primary")
		}
		for _, r := range []*tokencache.KeyRing{older, oldest} {
			if _, _, err := ring.Open("p", r.Seal("p", sealPlain)); err != nil {
				t.Fatalf("an older key of the ring does not open: %v", err)
			}
		}
		if _, _, err := alone.Open("p", ring.Seal("p", sealPlain)); err != nil {
			t.Fatalf("the ring does not seal with its first key: %v", err)
		}
	})

	short := base64.StdEncoding.EncodeToString(sealSecret(100)[:16])
	good := tokencache.GenerateKey()
	for _, tc := range []struct {
		name, config, want string
	}{
		{"16-byte key", short, "at least 32"},
		{"16-byte second key", good + "," + short, "at least 32"},
		{"not base64", "this is not base64!", "base64"},
		{"not base64 second", good + ",%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%", "base64"},
		{"empty", "", ""},
		{"blank", "   ", ""},
		{"commas only", " , ,", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tokencache.ParseKeyRing(tc.config)
			if err == nil {
				t.Fatalf("ParseKeyRing(%q) = ring %q, want an error", tc.config, r.PrimaryID())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			for _, part := range strings.Split(tc.config, ",") {
				part = strings.TrimSpace(part)
				if len(part) >= 4 && strings.Contains(err.Error(), part) {
					t.Errorf("error %q contains key material %q", err, part)
				}
			}
			if strings.Contains(err.Error(), good) || strings.Contains(err.Error(), good[:8]) {
				t.Errorf("error %q contains the good key", err)
			}
		})
	}
}

func encName(e *base64.Encoding) string {
	switch e {
	case base64.StdEncoding:
		return "std"
	case base64.RawStdEncoding:
		return "raw std"
	case base64.URLEncoding:
		return "url"
	}
	return "raw url"
}

func TestKeyRingPrimaryID(t *testing.T) {
	secret := tokencache.GenerateKey()
	r1, r2 := parseRing(t, secret), parseRing(t, secret)
	if r1.PrimaryID() == "" || r1.PrimaryID() != r2.PrimaryID() {
		t.Fatalf("PrimaryID not stable: %q vs %q", r1.PrimaryID(), r2.PrimaryID())
	}
	other := parseRing(t, tokencache.GenerateKey())
	if other.PrimaryID() == r1.PrimaryID() {
		t.Fatal("two keys share an id")
	}
	id := r1.PrimaryID()
	raw, _ := base64.StdEncoding.DecodeString(secret)
	for _, leak := range []string{secret, strings.TrimRight(secret, "="), base64.RawURLEncoding.EncodeToString(raw), string(raw)} {
		if strings.Contains(id, leak) || strings.Contains(leak, id) {
			t.Fatalf("key id %q reveals the secret", id)
		}
	}
	if bytes.Contains(raw, []byte(id)) {
		t.Fatalf("key id %q is a piece of the secret", id)
	}
	k := sealKey(t, 7)
	if tokencache.NewKeyRing(k).PrimaryID() != k.ID() || sealKey(t, 7).ID() != k.ID() {
		t.Fatal("Key.ID is not stable")
	}
}

func BenchmarkSeal(b *testing.B) {
	r := sealRing(b, 1)
	plain := bytes.Repeat([]byte(`{"AccessToken":{"x":"y"}}`), 6656/25+1)[:6656] // 6.5 KB
	b.Run("seal", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		b.ReportAllocs()
		for b.Loop() {
			_ = r.Seal("user-a", plain)
		}
	})
	b.Run("open", func(b *testing.B) {
		blob := r.Seal("user-a", plain)
		b.SetBytes(int64(len(plain)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := r.Open("user-a", blob); err != nil {
				b.Fatal(err)
			}
		}
	})
}
