package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleKey is the key of the fingerprint example of SPEC §9.8: 0x00…0x1f.
func exampleKey(t testing.TB) Key {
	t.Helper()
	k, err := ParseKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	if err != nil {
		t.Fatal(err)
	}
	for i := range k {
		if k[i] != byte(i) {
			t.Fatalf("key byte %d = %#x", i, k[i])
		}
	}
	return k
}

func TestParseKey(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i)
	}
	hexKey := hex.EncodeToString(raw)
	b64Key := base64.StdEncoding.EncodeToString(raw)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"hex lowercase", hexKey, true},
		{"hex uppercase", strings.ToUpper(hexKey), true},
		{"base64", b64Key, true},
		{"surrounding white space", " " + hexKey + "\n", true},
		{"empty", "", false},
		{"hex 62", hexKey[:62], false},
		{"hex 66", hexKey + "00", false},
		{"hex non-hex digit", "g" + hexKey[1:], false},
		{"base64 of 31 bytes", base64.StdEncoding.EncodeToString(raw[:31]), false},
		{"base64 of 33 bytes", base64.StdEncoding.EncodeToString(append(raw, 0)), false},
		{"base64 unpadded", base64.RawStdEncoding.EncodeToString(raw), false},
		{"base64 url alphabet", base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), false},
		{"base64 with inner newline", b64Key[:20] + "\n" + b64Key[20:], false},
		{"passphrase", "correct horse battery staple", false},
	}
	for _, tt := range tests {
		k, err := ParseKey(tt.in)
		if tt.ok {
			if err != nil || !bytes.Equal(k[:], raw) {
				t.Errorf("%s: ParseKey = %x, %v", tt.name, k[:], err)
			}
			continue
		}
		if err == nil || err.Error() != "AGH_SECRET_KEY must encode exactly 32 bytes" || !errors.Is(err, ErrKeyEncoding) {
			t.Errorf("%s: ParseKey error = %v", tt.name, err)
		}
	}
}

func TestFingerprintExample(t *testing.T) {
	k := exampleKey(t)
	tests := []struct{ secret, want string }{
		{"example-webhook-secret", "fp:0d347dd3ec5dc390"},
		{"rotated-webhook-secret", "fp:37e7b8c574918ae7"},
	}
	for _, tt := range tests {
		if got := k.Fingerprint([]byte(tt.secret)); got != tt.want {
			t.Errorf("Fingerprint(%q) = %s, want %s", tt.secret, got, tt.want)
		}
	}
	var other Key
	other[0] = 1
	if other.Fingerprint([]byte("example-webhook-secret")) == "fp:0d347dd3ec5dc390" {
		t.Error("fingerprint does not depend on the key")
	}
}

func TestSealOpen(t *testing.T) {
	k := exampleKey(t)
	for _, pt := range [][]byte{nil, []byte("x"), []byte("example-webhook-secret"), bytes.Repeat([]byte{0}, 4096)} {
		aad := AAD("trg_1", SlotCurrent)
		s, err := k.Seal(pt, aad)
		if err != nil {
			t.Fatal(err)
		}
		if s[0] != 0x01 || len(s) != 1+12+len(pt)+16 || len(s) != Overhead+len(pt) {
			t.Fatalf("sealed form: version %#x, %d bytes for %d", s[0], len(s), len(pt))
		}
		if len(pt) >= 8 && bytes.Contains(s, pt) {
			t.Fatal("plaintext visible in sealed form")
		}
		got, err := k.Open(s, aad)
		if err != nil || !bytes.Equal(got, pt) || got == nil {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	a, _ := k.Seal([]byte("same"), "a")
	b, _ := k.Seal([]byte("same"), "a")
	if bytes.Equal(a[1:13], b[1:13]) || bytes.Equal(a, b) {
		t.Error("nonce reused")
	}
}

func TestAAD(t *testing.T) {
	if got := AAD("trg_01", SlotCurrent); got != "trg_01|current" {
		t.Errorf("AAD = %q", got)
	}
	if got := AAD("trg_01", SlotPrevious); got != "trg_01|previous" {
		t.Errorf("AAD = %q", got)
	}
}

func TestOpenRejects(t *testing.T) {
	k := exampleKey(t)
	sealed, err := k.Seal([]byte("example-webhook-secret"), AAD("trg_A", SlotCurrent))
	if err != nil {
		t.Fatal(err)
	}
	var other Key
	other[31] = 0xff
	tests := []struct {
		name   string
		key    Key
		sealed []byte
		aad    string
	}{
		{"other trigger", k, sealed, AAD("trg_B", SlotCurrent)},
		{"other slot", k, sealed, AAD("trg_A", SlotPrevious)},
		{"no aad", k, sealed, ""},
		{"other key", other, sealed, AAD("trg_A", SlotCurrent)},
		{"empty", k, nil, AAD("trg_A", SlotCurrent)},
		{"truncated to overhead-1", k, sealed[:Overhead-1], AAD("trg_A", SlotCurrent)},
		{"truncated tag", k, sealed[:len(sealed)-1], AAD("trg_A", SlotCurrent)},
		{"appended byte", k, append(bytes.Clone(sealed), 0), AAD("trg_A", SlotCurrent)},
	}
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x01
		tests = append(tests, struct {
			name   string
			key    Key
			sealed []byte
			aad    string
		}{fmt.Sprintf("bit flip at %d", i), k, tampered, AAD("trg_A", SlotCurrent)})
	}
	for _, tt := range tests {
		pt, err := tt.key.Open(tt.sealed, tt.aad)
		if !errors.Is(err, ErrOpen) || pt != nil {
			t.Errorf("%s: Open = %q, %v; want ErrOpen", tt.name, pt, err)
		}
	}
}

func TestCanary(t *testing.T) {
	k := exampleKey(t)
	c, err := k.Canary()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.CheckCanary(c); err != nil {
		t.Fatalf("CheckCanary with the same key: %v", err)
	}
	other, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	// A value sealed with the right key but not a canary.
	notCanary, _ := k.Seal([]byte("x"), canaryAAD)
	for name, tc := range map[string]struct {
		k Key
		c []byte
	}{"other key": {other, c}, "garbage": {k, []byte("garbage")}, "empty": {k, nil}, "not a canary": {k, notCanary}} {
		err := tc.k.CheckCanary(tc.c)
		if !errors.Is(err, ErrKeyMismatch) || err.Error() != "secret key does not match this database" {
			t.Errorf("%s: CheckCanary = %v", name, err)
		}
	}
}

func TestKeyRedacted(t *testing.T) {
	k := exampleKey(t)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %s %+v %#v", k, k, k, k)} {
		if strings.Contains(s, "1f") || strings.Contains(s, "31") {
			t.Errorf("key printed: %s", s)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.key")
	k1, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Errorf("created file: mode %v, size %d", st.Mode(), st.Size())
	}
	if k1 == (Key{}) {
		t.Error("zero key")
	}
	k2, err := LoadOrCreateKeyFile(path)
	if err != nil || k2 != k1 {
		t.Errorf("reload: %v (same key %v)", err, k2 == k1)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	data, _ := os.ReadFile(path)
	if !bytes.Equal(data, k1[:]) {
		t.Error("file does not hold the raw key")
	}
}

func TestLoadKeyFileRefusesGroupOrOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	if _, err := LoadOrCreateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o620, 0o602, 0o660, 0o644, 0o666, 0o610, 0o601} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreateKeyFile(path)
		want := "secret key file " + path + " must not be accessible by group or others"
		if err == nil || err.Error() != want {
			t.Errorf("mode %v: err = %v, want %q", mode, err, want)
		}
	}
	for _, mode := range []os.FileMode{0o400, 0o600, 0o700} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKeyFile(path); err != nil {
			t.Errorf("mode %v: %v", mode, err)
		}
	}
}

func TestLoadKeyFileContents(t *testing.T) {
	dir := t.TempDir()
	want := exampleKey(t)
	tests := []struct {
		name    string
		content string
		ok      bool
	}{
		{"raw", string(want[:]), true},
		{"hex with newline", hex.EncodeToString(want[:]) + "\n", true},
		{"base64", base64.StdEncoding.EncodeToString(want[:]), true},
		{"empty", "", false},
		{"short", "abc", false},
		{"33 raw bytes", string(want[:]) + "x", false},
		{"large", strings.Repeat("a", 5000), false},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, fmt.Sprintf("k%d", i))
		if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := LoadOrCreateKeyFile(path)
		if tt.ok {
			if err != nil || k != want {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || err.Error() != "secret key file "+path+" must contain exactly 32 bytes" {
			t.Errorf("%s: err = %v", tt.name, err)
		}
		if got, _ := os.ReadFile(path); string(got) != tt.content {
			t.Errorf("%s: existing file overwritten", tt.name)
		}
	}
}

func TestLoadKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateKeyFile(filepath.Join(dir, "missing", "secret.key")); err == nil {
		t.Error("missing directory accepted")
	}
	if _, err := LoadOrCreateKeyFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") && !strings.Contains(err.Error(), "must not be accessible") {
		t.Errorf("directory as key file: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	k := exampleKey(f)
	// A deterministic sealed value (fixed nonce), identical in every fuzz worker.
	g, err := k.aead()
	if err != nil {
		f.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{7}, nonceSize)
	s := g.Seal(append([]byte{Version}, nonce...), nonce, []byte("example-webhook-secret"), []byte("trg_A|current"))
	if pt, err := k.Open(s, "trg_A|current"); err != nil || string(pt) != "example-webhook-secret" {
		f.Fatalf("fixed sealed value: %q, %v", pt, err)
	}
	f.Add(s, "trg_A|current")
	f.Add([]byte{1}, "")
	f.Add([]byte{}, "x")
	f.Fuzz(func(t *testing.T, sealed []byte, aad string) {
		pt, err := k.Open(sealed, aad)
		if err == nil && (!bytes.Equal(sealed, s) || aad != "trg_A|current" || string(pt) != "example-webhook-secret") {
			t.Fatalf("forged value opened: %x %q → %q", sealed, aad, pt)
		}
		_ = k.CheckCanary(sealed)
		_, _ = ParseKey(aad)
	})
}
