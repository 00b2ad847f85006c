// Package console is the embedded web console (SPEC §16.5): hand-written HTML, CSS and
// JavaScript modules compiled into the binary with embed. It talks to the API of the same
// origin, follows the change stream and needs no build step.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
)

//go:embed static
var static embed.FS

// Prefix is the URL path under which the assets are served; the page itself is served at "/".
const Prefix = "/console/"

func files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}

// Paths lists the URL paths the console serves: "/" and one per asset.
func Paths() []string {
	paths := []string{"/"}
	_ = fs.WalkDir(files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && p != "index.html" {
			paths = append(paths, Prefix+p)
		}
		return nil
	})
	sort.Strings(paths)
	return paths
}

// Handler serves index.html at "/" and the assets under Prefix. Callers route only the paths
// of Paths to it.
func Handler() http.Handler {
	fsys := files()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "index.html"
		if r.URL.Path != "/" {
			name = strings.TrimPrefix(path.Clean(r.URL.Path), Prefix)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentType(name))
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(b)
	})
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}
