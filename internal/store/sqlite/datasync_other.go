//go:build !linux

package sqlite

import "os"

// datasync makes f's data durable (fsync; fdatasync is Linux-only in package syscall).
func datasync(f *os.File) error { return f.Sync() }
