// Package secrets protects secrets at rest (SPEC §14.4): the master key K,
// AES-256-GCM sealing of stored secrets bound to their trigger and slot,
// keyed fingerprints of webhook secrets, and the key canary that detects a
// key that does not match the database.
//
// Derived keys:
//
//	encryption key  = HMAC-SHA256(K, "agh/secret-encryption/v1")
//	fingerprint key = HMAC-SHA256(K, "agh/webhook-secret-fingerprint/v1")
//
// Sealed form: version byte 0x01 ‖ 96-bit random nonce ‖ ciphertext ‖ 128-bit tag.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// KeySize is the size of the master key in bytes.
const KeySize = 32

// Key is the master key K. Its String method never reveals the key.
type Key [KeySize]byte

// String redacts the key so that it cannot end up in logs by accident.
func (Key) String() string { return "secrets.Key(redacted)" }

// GoString redacts the key for %#v.
func (k Key) GoString() string { return k.String() }

// Errors of this package. Their texts are the exit messages of SPEC §14.4.
var (
	// ErrKeyEncoding: AGH_SECRET_KEY is neither 64 hex characters nor
	// standard base64 of 32 bytes.
	ErrKeyEncoding = errors.New("AGH_SECRET_KEY must encode exactly 32 bytes")
	// ErrKeyMismatch: the canary stored in the database does not open with
	// this key.
	ErrKeyMismatch = errors.New("secret key does not match this database")
	// ErrOpen: a sealed value is malformed, tampered with, sealed under
	// another key or bound to other additional data.
	ErrOpen = errors.New("secret decryption failed")
)

// Labels of the derived keys and of the canary.
const (
	encryptionLabel  = "agh/secret-encryption/v1"
	fingerprintLabel = "agh/webhook-secret-fingerprint/v1"
	canaryPlaintext  = "agh/secret-key-canary/v1"
	canaryAAD        = "agh|canary"
)

// Sealed-form layout.
const (
	Version   = 0x01
	nonceSize = 12
	tagSize   = 16
	// Overhead is the number of bytes Seal adds to the plaintext.
	Overhead = 1 + nonceSize + tagSize
)

// Slots of a trigger's webhook secrets, used in the additional data.
const (
	SlotCurrent  = "current"
	SlotPrevious = "previous"
)

// ParseKey decodes AGH_SECRET_KEY: 64 hexadecimal characters (either case)
// or standard padded base64 of exactly 32 bytes. Surrounding white space is
// ignored. Anything else yields ErrKeyEncoding.
func ParseKey(s string) (Key, error) {
	var k Key
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if _, err := hex.Decode(k[:], []byte(s)); err == nil {
			return k, nil
		}
	}
	// The base64 decoder skips CR and LF; a value containing them is rejected.
	if !strings.ContainsAny(s, "\r\n") {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == KeySize {
			copy(k[:], b)
			return k, nil
		}
	}
	return Key{}, ErrKeyEncoding
}

// NewKey returns a key of 32 random bytes.
func NewKey() (Key, error) {
	var k Key
	_, err := rand.Read(k[:])
	return k, err
}

// derive returns HMAC-SHA256(K, label).
func (k Key) derive(label string) []byte {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte(label))
	return m.Sum(nil)
}

func (k Key) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.derive(encryptionLabel))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// AAD is the additional data that binds a sealed webhook secret to its
// trigger and slot: "<trigger id>|current" or "<trigger id>|previous".
func AAD(triggerID, slot string) string { return triggerID + "|" + slot }

// Seal encrypts plaintext with AES-256-GCM under the derived encryption key
// and a fresh random 96-bit nonce, authenticating aad. The result is
// 0x01 ‖ nonce ‖ ciphertext ‖ tag.
func (k Key) Seal(plaintext []byte, aad string) ([]byte, error) {
	g, err := k.aead()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+nonceSize, Overhead+len(plaintext))
	out[0] = Version
	if _, err := rand.Read(out[1 : 1+nonceSize]); err != nil {
		return nil, err
	}
	return g.Seal(out, out[1:1+nonceSize], plaintext, []byte(aad)), nil
}

// Open decrypts a value produced by Seal with the same key and aad. Any
// failure (unknown version, truncation, tampering, other key, other aad)
// returns ErrOpen and no plaintext.
func (k Key) Open(sealed []byte, aad string) ([]byte, error) {
	if len(sealed) < Overhead || sealed[0] != Version {
		return nil, ErrOpen
	}
	g, err := k.aead()
	if err != nil {
		return nil, err
	}
	nonce, ct := sealed[1:1+nonceSize], sealed[1+nonceSize:]
	pt, err := g.Open(nil, nonce, ct, []byte(aad))
	if err != nil {
		return nil, ErrOpen
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// Fingerprint is webhook_secret_hash: "fp:" followed by the first 16
// lowercase hex characters of HMAC-SHA256(F, secret), where F is the derived
// fingerprint key. It cannot be checked offline without K.
func (k Key) Fingerprint(secret []byte) string {
	m := hmac.New(sha256.New, k.derive(fingerprintLabel))
	m.Write(secret)
	return "fp:" + hex.EncodeToString(m.Sum(nil)[:8])
}

// Canary returns a freshly sealed canary to store on first start.
func (k Key) Canary() ([]byte, error) {
	return k.Seal([]byte(canaryPlaintext), canaryAAD)
}

// CheckCanary verifies a stored canary; on any mismatch it returns
// ErrKeyMismatch ("secret key does not match this database").
func (k Key) CheckCanary(sealed []byte) error {
	pt, err := k.Open(sealed, canaryAAD)
	if err != nil || !hmac.Equal(pt, []byte(canaryPlaintext)) {
		return ErrKeyMismatch
	}
	return nil
}
