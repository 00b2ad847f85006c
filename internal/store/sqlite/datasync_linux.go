package sqlite

import (
	"os"
	"syscall"
)

// datasync makes f's data durable. fdatasync skips the inode timestamps, which a WAL frame
// write rewinding an existing WAL file does not need.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
