package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfine(t *testing.T) {
	base := t.TempDir()
	ws := filepath.Join(base, "ws")
	out := filepath.Join(base, "out")
	os.MkdirAll(filepath.Join(ws, "sub"), 0o755)
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(ws, "sub", "f.txt"), nil, 0o644)
	os.Symlink(out, filepath.Join(ws, "to-out"))
	os.Symlink("sub", filepath.Join(ws, "to-sub"))
	os.Symlink(filepath.Join(ws, "sub", "f.txt"), filepath.Join(ws, "abs-link"))
	os.Symlink(filepath.Join(out, "x"), filepath.Join(ws, "dangling-out"))
	os.Symlink("sub/new.txt", filepath.Join(ws, "dangling-in"))
	os.Symlink("loop", filepath.Join(ws, "loop"))
	// The workspace itself reached through a symlink.
	os.Symlink(ws, filepath.Join(base, "ws-link"))
	os.Symlink(filepath.Join(base, "ws-link", "to-out"), filepath.Join(out, "back"))

	root := resolveRoot(filepath.Join(base, "ws-link"))
	rws := resolveRoot(ws)
	cases := []struct {
		path string
		ok   bool
		want string
	}{
		{ws, true, rws},
		{ws + "/sub/f.txt", true, rws + "/sub/f.txt"},
		{base + "/ws-link/sub/f.txt", true, rws + "/sub/f.txt"},
		{ws + "/sub/../sub/f.txt", true, rws + "/sub/f.txt"},
		{ws + "/new/deep/file.txt", true, rws + "/new/deep/file.txt"},
		{ws + "/to-sub/f.txt", true, rws + "/sub/f.txt"},
		{ws + "/to-sub/new/x", true, rws + "/sub/new/x"},
		{ws + "/abs-link", true, rws + "/sub/f.txt"},
		{ws + "/dangling-in", true, rws + "/sub/new.txt"},
		{ws + "/to-out", false, ""},
		{ws + "/to-out/new.txt", false, ""},
		{ws + "/dangling-out", false, ""},
		{ws + "/../out/x", false, ""},
		{ws + "x/file", false, ""}, // a sibling sharing the prefix
		{out + "/back", false, ""},
		{ws + "/loop", false, ""},
		{"sub/f.txt", false, ""},
		{"", false, ""},
		{"/etc/passwd", false, ""},
	}
	for _, tc := range cases {
		got, ok := confine(root, tc.path)
		if ok != tc.ok || got != tc.want {
			t.Errorf("confine(%q) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestReadTextLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("1\n2\n3\n4"), 0o644)
	n := func(i int) *int { return &i }
	for _, tc := range []struct {
		line, limit *int
		want        string
	}{
		{nil, nil, "1\n2\n3\n4"},
		{n(2), nil, "2\n3\n4"},
		{n(2), n(2), "2\n3\n"},
		{nil, n(1), "1\n"},
		{n(0), n(1), "1\n"},
		{n(4), n(9), "4"},
		{n(5), nil, ""},
		{n(1), n(0), ""},
	} {
		got, _, err := readText(p, p, tc.line, tc.limit)
		if err != nil || got != tc.want {
			t.Errorf("readText(line %v, limit %v) = %q, %v; want %q", tc.line, tc.limit, got, err, tc.want)
		}
	}
	if _, code, err := readText(filepath.Dir(p), "d", nil, nil); err == nil || code != codeInternalError {
		t.Errorf("directory: %v %d", err, code)
	}
}

func TestWriteTextCreatesParents(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b", "c.txt")
	if err := writeText(p, "x"); err != nil {
		t.Fatal(err)
	}
	if readFile(t, p) != "x" {
		t.Fatal("content")
	}
}

func TestPresetCommand(t *testing.T) {
	want := map[string][]string{
		"claude-code": {"npx", "-y", "@zed-industries/claude-code-acp"},
		"codex":       {"npx", "-y", "@zed-industries/codex-acp"},
		"gemini":      {"gemini", "--experimental-acp"},
		"opencode":    {"opencode", "acp"},
	}
	for name, cmd := range want {
		got, ok := PresetCommand(name)
		if !ok || !reflect.DeepEqual(got, cmd) {
			t.Errorf("PresetCommand(%q) = %v, %v", name, got, ok)
		}
		got[0] = "mutated"
	}
	if got, _ := PresetCommand("gemini"); got[0] != "gemini" {
		t.Error("PresetCommand returns shared slices")
	}
	if _, ok := PresetCommand("nope"); ok {
		t.Error("unknown preset")
	}
	if !reflect.DeepEqual(Presets(), []string{"claude-code", "codex", "gemini", "opencode"}) {
		t.Error(Presets())
	}
}

func TestEnviron(t *testing.T) {
	got := Environ(
		[]string{"PATH=/bin", "AGH_SECRET_KEY=s", "HOME=/h", "TOKEN=t", "PATH=/dup"},
		[]string{"AGH_SECRET_KEY", "TOKEN"},
		map[string]string{"HOME": "/w", "B": "2", "A": "1"},
	)
	want := []string{"PATH=/dup", "HOME=/w", "A=1", "B=2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestCauseOutcome(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  Outcome
	}{
		{ErrTimeout, Outcome{Status: StatusFailed, Error: "timeout", ErrorCode: CodeTimeout, StopReason: "timeout"}},
		{context.DeadlineExceeded, Outcome{Status: StatusFailed, Error: "timeout", ErrorCode: CodeTimeout, StopReason: "timeout"}},
		{ErrCanceled, Outcome{Status: StatusCanceled, Error: "canceled by request", ErrorCode: CodeCanceled, StopReason: "cancelled"}},
		{&Canceled{Code: "definition_deleted", Message: "definition deleted"},
			Outcome{Status: StatusCanceled, Error: "definition deleted", ErrorCode: "definition_deleted", StopReason: "cancelled"}},
		{ErrShutdown, Outcome{Status: StatusFailed, Error: "interrupted", ErrorCode: CodeInterrupted}},
		{errors.New("something else"), Outcome{Status: StatusFailed, Error: "interrupted", ErrorCode: CodeInterrupted}},
	} {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(tc.cause)
		if got := causeOutcome(ctx); got != tc.want {
			t.Errorf("cause %v: %+v, want %+v", tc.cause, got, tc.want)
		}
	}
	if !errors.Is(&Canceled{}, ErrCanceled) {
		t.Error("Canceled is not ErrCanceled")
	}
}

func TestReadLinesSplitsLongLines(t *testing.T) {
	long := "x" + strings.Repeat("é", maxLineBytes/2+10) // 2-byte runes straddling the limit
	var got []string
	readLines(strings.NewReader("a\r\n\nb\n"+long+"\nend"), func(s string) { got = append(got, s) })
	if len(got) != 6 || got[0] != "a" || got[1] != "" || got[2] != "b" || got[5] != "end" {
		t.Fatalf("lines %d: %q", len(got), got[:3])
	}
	if got[3]+got[4] != long || len(got[3]) > maxLineBytes || !strings.HasPrefix(long, got[3]) {
		t.Fatalf("split %d + %d", len(got[3]), len(got[4]))
	}
}
