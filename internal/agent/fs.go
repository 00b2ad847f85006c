package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxReadBytes is the largest file fs/read_text_file serves (SPEC §10.3).
const maxReadBytes = 10 << 20

// maxLinkHops bounds symlink resolution of dangling links.
const maxLinkHops = 40

// resolveRoot returns dir with symlinks resolved (dir itself when that fails).
func resolveRoot(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return r
	}
	return filepath.Clean(dir)
}

// confine resolves an agent-supplied path and reports whether it lies inside
// root (already resolved). The path must be absolute; symlinks are resolved,
// for a path that does not exist yet through its deepest existing ancestor
// (a dangling symlink is followed to where it points). The returned path is
// the resolved one, so that the file operation does not follow links again.
func confine(root, path string) (string, bool) {
	if path == "" || !filepath.IsAbs(path) {
		return "", false
	}
	resolved, err := resolvePath(filepath.Clean(path), 0)
	if err != nil {
		return "", false
	}
	if !within(root, resolved) {
		return "", false
	}
	return resolved, true
}

func within(root, p string) bool {
	if root == "/" {
		return true
	}
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

// resolvePath resolves all symlinks of the absolute, clean path p, allowing
// its trailing components not to exist.
func resolvePath(p string, hops int) (string, error) {
	if hops > maxLinkHops {
		return "", errors.New("too many levels of symbolic links")
	}
	r, err := filepath.EvalSymlinks(p)
	if err == nil {
		return r, nil
	}
	if !isNotExist(err) {
		return "", err
	}
	if fi, lerr := os.Lstat(p); lerr == nil {
		if fi.Mode()&os.ModeSymlink == 0 {
			return "", err // exists but cannot be resolved: refuse
		}
		// A dangling symlink: follow it to where it points.
		target, rerr := os.Readlink(p)
		if rerr != nil {
			return "", rerr
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		return resolvePath(filepath.Clean(target), hops+1)
	}
	parent := filepath.Dir(p)
	if parent == p {
		return p, nil
	}
	rp, err := resolvePath(parent, hops)
	if err != nil {
		return "", err
	}
	return filepath.Join(rp, filepath.Base(p)), nil
}

// readText reads a text file for fs/read_text_file (display is the path as
// the agent gave it, for messages): from 1-based line (nil
// or < 1: the first) at most limit lines (nil or < 0: all). On failure it
// returns the JSON-RPC error code to answer with.
func readText(path, display string, line, limit *int) (string, int, error) {
	f, err := os.Open(path)
	if err != nil {
		if isNotExist(err) {
			return "", codeNotFound, fmt.Errorf("resource not found: %s", display)
		}
		return "", codeInternalError, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", codeInternalError, err
	}
	if fi.IsDir() {
		return "", codeInternalError, fmt.Errorf("%s is a directory", display)
	}
	if fi.Size() > maxReadBytes {
		return "", codeInternalError, fmt.Errorf("file is larger than %d bytes", maxReadBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxReadBytes+1))
	if err != nil {
		return "", codeInternalError, err
	}
	if len(data) > maxReadBytes {
		return "", codeInternalError, fmt.Errorf("file is larger than %d bytes", maxReadBytes)
	}
	text := string(data)
	if line == nil && limit == nil {
		return text, 0, nil
	}
	lines := strings.SplitAfter(text, "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	from := 0
	if line != nil && *line > 1 {
		from = *line - 1
	}
	if from >= len(lines) {
		return "", 0, nil
	}
	to := len(lines)
	if limit != nil && *limit >= 0 && from+*limit < to {
		to = from + *limit
	}
	return strings.Join(lines[from:to], ""), 0, nil
}

// writeText writes content for fs/write_text_file, creating missing parent
// directories.
func writeText(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
