package tokencache

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Envelope format, version 1:
//
//	byte 0      format version (1)
//	byte 1      key id length n (1..32)
//	bytes 2..   key id (n bytes), nonce (12 bytes), AES-256-GCM ciphertext+tag
//
// The additional data binds the ciphertext to the format version, the key id
// and the partition key, so a blob copied under another user's partition,
// or relabelled with another key id, does not open.
const (
	formatV1   = 1
	nonceSize  = 12
	tagSize    = 16
	minKeySize = 32
	aadPrefix  = "entrakit/tokencache/v1\x00"
)

// Errors of opening a sealed blob. All mean "treat as a cache miss".
var (
	ErrCorrupt       = errors.New("tokencache: sealed blob is corrupt or was tampered with")
	ErrUnknownKey    = errors.New("tokencache: sealed with a key that is not in the key ring")
	ErrUnknownFormat = errors.New("tokencache: unknown envelope format version")
)

// Key is one AES-256 key with its id. The id is derived from the key, so it
// identifies it without revealing it.
type Key struct {
	id   string
	aead cipher.AEAD
}

// ID is the key's public identifier (safe to log).
func (k *Key) ID() string { return k.id }

// NewKey derives an AES-256-GCM key from secret (>= 32 bytes of entropy)
// with HKDF-SHA256.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) < minKeySize {
		return nil, fmt.Errorf("tokencache: key is %d bytes; need at least %d random bytes", len(secret), minKeySize)
	}
	aesKey, err := hkdf.Key(sha256.New, secret, nil, "entrakit tokencache aes-256-gcm", 32)
	if err != nil {
		return nil, err
	}
	idBytes, err := hkdf.Key(sha256.New, secret, nil, "entrakit tokencache key id", 9)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Key{id: base64.RawURLEncoding.EncodeToString(idBytes), aead: aead}, nil
}

// KeyRing seals with its primary key and opens with any of its keys, so keys
// rotate without losing sessions: add the new key as primary, keep the old
// one until its blobs have been rewritten or expired.
type KeyRing struct {
	primary *Key
	byID    map[string]*Key
}

// NewKeyRing makes a ring; the first key is the primary.
func NewKeyRing(primary *Key, older ...*Key) *KeyRing {
	r := &KeyRing{primary: primary, byID: map[string]*Key{primary.id: primary}}
	for _, k := range older {
		r.byID[k.id] = k
	}
	return r
}

// ParseKeyRing reads keys from configuration: base64 (standard or URL, padded
// or not) secrets of at least 32 bytes, separated by commas; the first is the
// primary. Errors name the position, never the key.
func ParseKeyRing(config string) (*KeyRing, error) {
	var keys []*Key
	for i, part := range strings.Split(config, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		secret, err := decodeBase64(part)
		if err != nil {
			return nil, fmt.Errorf("tokencache: key %d: not base64", i+1)
		}
		k, err := NewKey(secret)
		if err != nil {
			return nil, fmt.Errorf("tokencache: key %d: %v", i+1, strings.TrimPrefix(err.Error(), "tokencache: "))
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("tokencache: no key configured (base64, at least 32 random bytes; generate one with `entractl keys new` or `openssl rand -base64 32`)")
	}
	return NewKeyRing(keys[0], keys[1:]...), nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// GenerateKey returns a new random secret, base64-encoded, for configuration.
func GenerateKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return base64.StdEncoding.EncodeToString(b)
}

// PrimaryID is the id of the key that seals.
func (r *KeyRing) PrimaryID() string { return r.primary.id }

func aad(partition, kid string) []byte {
	b := make([]byte, 0, len(aadPrefix)+len(kid)+len(partition)+3)
	b = append(b, aadPrefix...)
	b = append(b, formatV1)
	b = append(b, kid...)
	b = append(b, 0)
	b = append(b, partition...)
	return b
}

// Seal encrypts plaintext for partition with the primary key and a random
// 96-bit nonce.
func (r *KeyRing) Seal(partition string, plaintext []byte) []byte {
	k := r.primary
	out := make([]byte, 0, 2+len(k.id)+nonceSize+len(plaintext)+tagSize)
	out = append(out, formatV1, byte(len(k.id)))
	out = append(out, k.id...)
	nonce := out[len(out) : len(out)+nonceSize]
	_, _ = rand.Read(nonce)
	out = out[:len(out)+nonceSize]
	return k.aead.Seal(out, nonce, plaintext, aad(partition, k.id))
}

// Open decrypts a blob sealed for partition. It never panics: a short,
// truncated, relabelled or tampered blob is ErrCorrupt (or ErrUnknownKey,
// ErrUnknownFormat), and nothing of it is returned.
func (r *KeyRing) Open(partition string, blob []byte) (plaintext []byte, keyID string, err error) {
	if len(blob) < 2 {
		return nil, "", ErrCorrupt
	}
	if blob[0] != formatV1 {
		return nil, "", ErrUnknownFormat
	}
	n := int(blob[1])
	if n == 0 || n > 32 || len(blob) < 2+n+nonceSize+tagSize {
		return nil, "", ErrCorrupt
	}
	kid := string(blob[2 : 2+n])
	k := r.byID[kid]
	if k == nil {
		return nil, kid, ErrUnknownKey
	}
	nonce := blob[2+n : 2+n+nonceSize]
	pt, err := k.aead.Open(nil, nonce, blob[2+n+nonceSize:], aad(partition, kid))
	if err != nil {
		return nil, kid, ErrCorrupt
	}
	return pt, kid, nil
}
