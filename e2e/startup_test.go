package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agh-dev/agh/internal/daemon"
)

func runDaemon(dir, addr string, env map[string]string) error {
	return daemon.Run(context.Background(), daemon.Options{DataDir: dir, Addr: addr, Stderr: ioDiscard{},
		Getenv: func(k string) string { return env[k] }})
}

type ioDiscard struct{}

func (ioDiscard) Write(p []byte) (int, error) { return len(p), nil }

func exitCode(t *testing.T, err error) (int, string) {
	t.Helper()
	var ee *daemon.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("expected an exit error, got %v", err)
	}
	return ee.Code, ee.Error()
}

func TestStartupRefusals(t *testing.T) {
	dir := t.TempDir()
	code, msg := exitCode(t, runDaemon(dir, "0.0.0.0:0", nil))
	if code != 2 || msg != `http.addr "0.0.0.0:0" is not a loopback address; configure api.tokens or AGH_API_TOKEN` {
		t.Fatalf("non-loopback: %d %s", code, msg)
	}
	code, msg = exitCode(t, runDaemon(dir, "127.0.0.1:0", map[string]string{"AGH_SECRET_KEY": "short"}))
	if code != 2 || msg != "AGH_SECRET_KEY must encode exactly 32 bytes" {
		t.Fatalf("bad key: %d %s", code, msg)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte("[automation]\nmax_jobs = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, msg = exitCode(t, runDaemon(dir, "127.0.0.1:0", nil))
	if code != 2 || msg != `config: unknown key "automation.max_jobs"` {
		t.Fatalf("bad config: %d %s", code, msg)
	}
	os.Remove(filepath.Join(dir, "config.toml"))
	// Two daemons cannot share a data directory.
	d := start(t, "")
	code, msg = exitCode(t, runDaemon(d.DataDir, "127.0.0.1:0", nil))
	if code != 1 || msg != "data directory is in use by another process" {
		t.Fatalf("second daemon: %d %s", code, msg)
	}
	// A different key than the one that sealed the database is refused.
	d.Stop()
	code, msg = exitCode(t, runDaemon(d.DataDir, "127.0.0.1:0", map[string]string{"AGH_SECRET_KEY": strings.Repeat("ab", 32)}))
	if code != 2 || msg != "secret key does not match this database" {
		t.Fatalf("wrong key: %d %s", code, msg)
	}
	for _, f := range []string{"agh.db", "secret.key", "agh.lock"} {
		st, err := os.Stat(filepath.Join(d.DataDir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v %v", f, st.Mode(), err)
		}
	}
}

func TestLogFileAndFormat(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "agh.log")
	d := start(t, "\n[log]\nformat = \"text\"\nfile = \""+logPath+"\"\n")
	createJob(t, d.Client, jobBody("logged"))
	d.Stop()
	b, err := os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(b), "msg=\"agh daemon started\"") || !strings.Contains(string(b), "node_id=") {
		t.Fatalf("log file: %v\n%s", err, b)
	}
	if st, _ := os.Stat(logPath); st.Mode().Perm() != 0o600 {
		t.Fatalf("log file mode %v", st.Mode())
	}
}
