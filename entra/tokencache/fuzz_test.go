package tokencache_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/entrakit/entrakit/entra/tokencache"
)

// FuzzUnseal feeds arbitrary bytes to KeyRing.Open with a fixed ring. Open
// must never panic, must fail with one of its three errors, and must return
// no plaintext with an error. The only blobs that may open are ones Seal
// made: the seed blob (sealed by this process) — fuzzing workers run this
// function again, so a worker may receive a seal of another process; both
// seal sealPlain for "user-a" with the same fixed key, which is what is
// checked. Forging a blob that opens means breaking AES-GCM.
func FuzzUnseal(f *testing.F) {
	k1, k2 := sealKey(f, 1), sealKey(f, 2)
	ring := tokencache.NewKeyRing(k1, k2)
	const partition = "user-a"

	blob := ring.Seal(partition, sealPlain)
	f.Add(blob)
	for n := 0; n < len(blob); n++ {
		f.Add(blob[:n])
	}
	f.Add([]byte{})
	for _, v := range []byte{0, 2, 0xff} {
		bad := append([]byte(nil), blob...)
		bad[0] = v
		f.Add(bad)
	}
	flipped := append([]byte(nil), blob...)
	flipped[len(flipped)-1] ^= 1 // the tag
	f.Add(flipped)
	f.Add(tokencache.NewKeyRing(k2).Seal(partition, sealPlain)) // an older key of the ring
	f.Add(tokencache.NewKeyRing(sealKey(f, 3)).Seal(partition, sealPlain))
	f.Add(ring.Seal("user-b", sealPlain))
	f.Add(sealPlain) // plaintext JSON

	f.Fuzz(func(t *testing.T, data []byte) {
		in := append([]byte(nil), data...)
		pt, kid, err := ring.Open(partition, data)
		if !bytes.Equal(in, data) {
			t.Fatal("Open modified its input")
		}
		if err != nil {
			if pt != nil {
				t.Fatalf("plaintext returned with error %v", err)
			}
			if !errors.Is(err, tokencache.ErrCorrupt) && !errors.Is(err, tokencache.ErrUnknownKey) && !errors.Is(err, tokencache.ErrUnknownFormat) {
				t.Fatalf("unexpected error %v", err)
			}
		} else {
			// Opened: it must be a well-formed v1 envelope made by Seal for
			// this partition with a key of the ring, of sealPlain.
			if !bytes.Equal(pt, sealPlain) {
				t.Fatalf("a blob not made by Seal opened: %x -> %q", data, pt)
			}
			if kid != k1.ID() && kid != k2.ID() {
				t.Fatalf("opened with key %q, not in the ring", kid)
			}
			if len(data) < 2 || data[0] != 1 || int(data[1]) != len(kid) || len(data) != 2+len(kid)+12+len(sealPlain)+16 {
				t.Fatalf("a malformed envelope opened: %x", data)
			}
		}
		// Nothing was ever sealed for user-c: no input opens for it.
		if pt, _, err := ring.Open("user-c", data); err == nil || pt != nil {
			t.Fatalf("a blob opened for a partition nothing was sealed for: %x", data)
		}
	})
}
