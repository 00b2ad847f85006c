// Package e2e holds black-box tests: they start the real daemon (in-process through the same
// wiring as `agh daemon`, or the compiled binary) on a temp data directory and drive it over
// HTTP. Every response is validated against openapi.json.
package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/testutil"
)

const baseConfig = `
[agents.echo]
driver = "exec"
command = ["true"]

[agents.acp]
driver = "acp"
command = ["/bin/false"]
permissions = "allow"
`

func start(t *testing.T, extra string) *testutil.Daemon {
	t.Helper()
	return testutil.StartDaemon(t, testutil.Options{Config: baseConfig + extra})
}

// do sends a raw JSON body and returns status and decoded object body.
func do(t *testing.T, c *client.Client, method, path, body string) (int, map[string]any, http.Header) {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	resp, err := c.Raw(context.Background(), method, path, b, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	var m map[string]any
	if len(resp.Body) > 0 {
		if err := json.Unmarshal(resp.Body, &m); err != nil {
			t.Fatalf("%s %s: response is not a JSON object: %v: %s", method, path, err, resp.Body)
		}
	}
	return resp.Status, m, resp.Header
}

// expect asserts status (and, when msg != "", the error message and code).
func expect(t *testing.T, c *client.Client, method, path, body string, status int, code, msg string) map[string]any {
	t.Helper()
	got, m, _ := do(t, c, method, path, body)
	if got != status {
		t.Fatalf("%s %s %s: status %d, want %d: %v", method, path, body, got, status, m)
	}
	if code != "" && m["code"] != code {
		t.Fatalf("%s %s: code %v, want %s (%v)", method, path, m["code"], code, m)
	}
	if msg != "" && m["error"] != msg {
		t.Fatalf("%s %s %s:\n error %q\n want  %q", method, path, body, m["error"], msg)
	}
	return m
}

func obj(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

func list(m map[string]any, key string) []any {
	v, _ := m[key].([]any)
	return v
}

func createJob(t *testing.T, c *client.Client, body string) map[string]any {
	t.Helper()
	return obj(expect(t, c, "POST", "/api/automation/jobs", body, 201, "", ""), "job")
}

func jobBody(name string, extra ...string) string {
	parts := append([]string{`"name":"` + name + `"`, `"scope":"global"`, `"agent_name":"echo"`, `"prompt":"hi"`,
		`"schedule":{"mode":"cron","expr":"0 3 * * *"}`}, extra...)
	return "{" + strings.Join(parts, ",") + "}"
}

func writeConfig(t *testing.T, d *testutil.Daemon, extra string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(d.DataDir, "config.toml"), []byte(baseConfig+extra), 0o600); err != nil {
		t.Fatal(err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func writeFile(dir, name, content string) error {
	return os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)
}
