package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAssetsAreServed(t *testing.T) {
	h := Handler()
	paths := Paths()
	if len(paths) < 5 || paths[0] != "/" {
		t.Fatalf("paths %v", paths)
	}
	for _, p := range paths {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != 200 || rec.Body.Len() == 0 || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %v", p, rec.Code, rec.Header())
		}
		ct := rec.Header().Get("Content-Type")
		switch {
		case p == "/":
			if !strings.HasPrefix(ct, "text/html") {
				t.Errorf("/: %s", ct)
			}
		case strings.HasSuffix(p, ".js"):
			if !strings.HasPrefix(ct, "text/javascript") {
				t.Errorf("%s: %s", p, ct)
			}
		}
	}
}

// The console renders untrusted API data: no HTML parsing sinks, no code from strings, and
// nothing loaded from elsewhere (CSP default-src 'self').
func TestAssetsAvoidUnsafePatterns(t *testing.T) {
	banned := []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
		"EventSource", "localStorage", "src=\"http", "href=\"http", "url(http", "@import"}
	err := fs.WalkDir(files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files(), p)
		if err != nil {
			return err
		}
		for _, s := range banned {
			if strings.Contains(string(b), s) {
				t.Errorf("%s contains %q", p, s)
			}
		}
		if strings.HasSuffix(p, ".html") && (strings.Contains(string(b), "<script>") || strings.Contains(string(b), "style=")) {
			t.Errorf("%s has inline script or style, which the CSP forbids", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
