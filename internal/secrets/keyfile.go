package secrets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFileMode is the mode of a created key file.
const KeyFileMode = 0o600

// maxKeyFileSize bounds what is read from a key file (raw, hex or base64
// forms with a trailing newline all fit).
const maxKeyFileSize = 1024

// LoadOrCreateKeyFile returns the master key stored in path (normally
// <data_dir>/secret.key).
//
// A missing file is created atomically with 32 random bytes and mode 0600:
// the key is written and synced to a temporary file in the same directory,
// which is then hard-linked to path (never replacing a file another process
// created meanwhile; that file wins). The directory must exist.
//
// An existing file must be a regular file not accessible by group or others
// (no permission bits in 0o077), else the error is "secret key file <path>
// must not be accessible by group or others". Its content is the 32 raw key
// bytes, or, for keys supplied by an operator, text accepted by ParseKey.
func LoadOrCreateKeyFile(path string) (Key, error) {
	k, err := readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := createKeyFile(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return Key{}, err
	}
	return readKeyFile(path)
}

func readKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Key{}, err
	}
	if !st.Mode().IsRegular() {
		return Key{}, fmt.Errorf("secret key file %s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Errorf("secret key file %s must not be accessible by group or others", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return Key{}, fmt.Errorf("read secret key file %s: %w", path, err)
	}
	var k Key
	if len(data) == KeySize {
		copy(k[:], data)
		return k, nil
	}
	if len(data) <= maxKeyFileSize {
		if k, err := ParseKey(string(data)); err == nil {
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("secret key file %s must contain exactly 32 bytes", path)
}

// createKeyFile writes a new random key to path without ever exposing a
// partially written file there. It returns an error wrapping fs.ErrExist when
// path appeared meanwhile.
func createKeyFile(path string) (err error) {
	k, err := NewKey()
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".secret.key.tmp-*")
	if err != nil {
		return fmt.Errorf("create secret key file %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(KeyFileMode); err != nil {
		tmp.Close()
		return fmt.Errorf("create secret key file %s: %w", path, err)
	}
	if _, err := tmp.Write(k[:]); err != nil {
		tmp.Close()
		return fmt.Errorf("write secret key file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync secret key file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write secret key file %s: %w", path, err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("create secret key file %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: make the new name durable
		d.Close()
	}
	return nil
}
