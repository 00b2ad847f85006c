package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/agent/agenttest"
	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/testutil"
	"github.com/agh-dev/agh/internal/webhook"
)

// The CLI tests run the compiled agh binary against an in-process daemon, over the Unix
// socket (--data-dir) and over TCP (--addr). Its stdout is a pipe, so the default output is json.

var (
	cliBuild   sync.Once
	cliBinPath string
	cliErr     error
)

// cliBinary builds cmd/agh once per test binary. It goes next to the fixture agent, whose
// directory agenttest.Main (our TestMain) removes.
func cliBinary(t *testing.T) string {
	t.Helper()
	dir := filepath.Dir(agenttest.Fixture(t))
	cliBuild.Do(func() {
		cliBinPath = filepath.Join(dir, "agh")
		out, err := exec.Command("go", "build", "-o", cliBinPath, "github.com/agh-dev/agh/cmd/agh").CombinedOutput()
		if err != nil {
			cliErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatalf("build agh: %v", cliErr)
	}
	return cliBinPath
}

const cliConfig = `
[agents.ok]
driver = "exec"
command = ["true"]

[agents.fail]
driver = "exec"
command = ["false"]

[agents.chatty]
driver = "exec"
command = ["sh", "-c", "echo one; sleep 1; echo two"]

[agents.sleeper]
driver = "exec"
command = ["sleep", "30"]
`

type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs agh with connection arguments appended to every command line.
type cli struct {
	t    *testing.T
	bin  string
	conn []string
	env  []string
}

func cliSocket(t *testing.T, d *testutil.Daemon) *cli {
	return &cli{t: t, bin: cliBinary(t), conn: []string{"--data-dir", d.DataDir}}
}

func cliTCP(t *testing.T, d *testutil.Daemon) *cli {
	return &cli{t: t, bin: cliBinary(t), conn: []string{"--addr", d.URL()}}
}

func (c *cli) run(args ...string) cliResult {
	c.t.Helper()
	return c.runIn("", args...)
}

func (c *cli) runIn(stdin string, args ...string) cliResult {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append(args, c.conn...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AGH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, c.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("agh %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{stdout: out.String(), stderr: errb.String(), code: code}
}

// ok runs a command that must succeed and decodes its JSON object output.
func (c *cli) ok(args ...string) map[string]any {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("agh %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	if strings.TrimSpace(r.stdout) == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		c.t.Fatalf("agh %s: output is not a JSON object: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
	return m
}

// fails runs a command that must exit with code; when msg != "" stderr must be "agh: <msg>".
func (c *cli) fails(code int, msg string, args ...string) cliResult {
	c.t.Helper()
	r := c.run(args...)
	if r.code != code {
		c.t.Fatalf("agh %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	if msg != "" && strings.TrimSpace(r.stderr) != "agh: "+msg {
		c.t.Fatalf("agh %s: stderr %q, want %q", strings.Join(args, " "), r.stderr, "agh: "+msg)
	}
	return r
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("jsonl line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func str(m map[string]any, path ...string) string {
	for _, k := range path[:len(path)-1] {
		m = obj(m, k)
	}
	s, _ := m[path[len(path)-1]].(string)
	return s
}

// cliRequireRoute skips the test when the daemon answers 404 "not found" (no such route) for
// method path, i.e. the server does not implement the endpoint yet.
func cliRequireRoute(t *testing.T, d *testutil.Daemon, method, path string) {
	t.Helper()
	resp, err := client.NewSocket(d.D.SocketPath).Raw(context.Background(), method, path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Error string `json:"error"`
	}
	if resp.Status == http.StatusNotFound && json.Unmarshal(resp.Body, &e) == nil && e.Error == "not found" {
		t.Skipf("server does not implement %s %s yet", method, path)
	}
}

func TestCLIJobs(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: cliConfig})
	c := cliSocket(t, d)

	wsDir := t.TempDir()
	ws := obj(c.ok("workspaces", "add", wsDir, "--id", "web"), "workspace")
	if ws["id"] != "web" || ws["source"] != "dynamic" {
		t.Fatalf("workspace %v", ws)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(wsDir, link); err != nil {
		t.Fatal(err)
	}

	cron := obj(c.ok("automation", "jobs", "create", "--name", "nightly", "--scope", "global", "--agent", "ok", "--prompt", "hi",
		"--schedule", "30 2 * * *", "--timezone", "America/New_York", "--retry", "backoff", "--fire-limit", "5/1h", "--overlap", "skip"), "job")
	if sc := obj(cron, "schedule"); sc["mode"] != "cron" || sc["expr"] != "30 2 * * *" || sc["timezone"] != "America/New_York" {
		t.Fatalf("cron schedule %v", sc)
	}
	if r := obj(cron, "retry"); r["strategy"] != "backoff" || r["max_retries"] != float64(3) || r["base_delay"] != "2s" {
		t.Fatalf("retry %v", r)
	}
	if f := obj(cron, "fire_limit"); f["max"] != float64(5) || f["window"] != "1h" || cron["overlap_policy"] != "skip" || cron["enabled"] != true {
		t.Fatalf("job %v", cron)
	}
	every := obj(c.ok("automation", "jobs", "create", "--name", "often", "--scope", "global", "--agent", "ok", "--prompt", "hi",
		"--schedule", "every:15m", "--disabled", "--retry", "backoff:2:1m"), "job")
	if sc := obj(every, "schedule"); sc["mode"] != "every" || sc["interval"] != "15m" || every["enabled"] != false ||
		obj(every, "retry")["max_retries"] != float64(2) || obj(every, "retry")["base_delay"] != "1m" {
		t.Fatalf("every job %v", every)
	}
	at := obj(c.ok("automation", "jobs", "create", "--name", "once", "--scope", "global", "--agent", "ok", "--prompt", "hi",
		"--schedule", "at:2030-07-01T09:30", "--timezone", "Europe/Paris"), "job")
	if sc := obj(at, "schedule"); sc["mode"] != "at" || sc["time"] != "2030-07-01T09:30:00+02:00" || sc["timezone"] != nil {
		t.Fatalf("at schedule (local form) %v", sc)
	}
	utc := obj(c.ok("automation", "jobs", "create", "--name", "once-utc", "--scope", "global", "--agent", "ok", "--prompt", "hi",
		"--schedule", "at:2030-01-01T00:00:30"), "job")
	if str(utc, "schedule", "time") != "2030-01-01T00:00:30Z" {
		t.Fatalf("at schedule in default zone %v", obj(utc, "schedule"))
	}
	past := obj(c.ok("automation", "jobs", "create", "--name", "past", "--scope", "global", "--agent", "ok", "--prompt", "hi",
		"--schedule", "at:2020-01-01T00:00:00+01:00"), "job")
	wsJob := obj(c.ok("automation", "jobs", "create", "--name", "in-web", "--scope", "workspace", "--workspace", link,
		"--agent", "ok", "--prompt", "hi", "--schedule", "@daily"), "job")
	if wsJob["workspace_id"] != "web" {
		t.Fatalf("--workspace by (symlinked) path: %v", wsJob)
	}

	// list in json, jsonl and table
	all := list(c.ok("automation", "jobs", "list"), "jobs")
	if len(all) != 6 {
		t.Fatalf("jobs list: %d jobs", len(all))
	}
	r := c.run("automation", "jobs", "list", "-o", "jsonl")
	lines := jsonLines(t, r.stdout)
	if r.code != 0 || len(lines) != 6 || lines[0]["name"] != "in-web" || lines[1]["name"] != "nightly" {
		t.Fatalf("jsonl: %d %s", r.code, r.stdout)
	}
	r = c.run("automation", "jobs", "list", "-o", "table")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ID ") || !strings.Contains(r.stdout, "NEXT RUN") ||
		!strings.Contains(r.stdout, "every:15m") || !strings.Contains(r.stdout, "30 2 * * * (America/New_York)") ||
		!strings.Contains(r.stdout, "workspace:web") || strings.Count(r.stdout, "\n") != 7 {
		t.Fatalf("table:\n%s", r.stdout)
	}
	if got := list(c.ok("automation", "jobs", "list", "--workspace", wsDir), "jobs"); len(got) != 1 || obj(c.ok("automation", "jobs", "get", wsJob["id"].(string)), "job")["name"] != "in-web" {
		t.Fatalf("list --workspace PATH: %v", got)
	}
	if got := list(c.ok("automation", "jobs", "list", "--scope", "global", "--last", "2"), "jobs"); len(got) != 2 {
		t.Fatalf("list --last 2: %v", got)
	}
	if r := c.run("automation", "jobs", "get", cron["id"].(string), "-o", "table"); r.code != 0 ||
		!strings.Contains(r.stdout, "backoff:3:2s") || !strings.Contains(r.stdout, "5/1h") || !strings.Contains(r.stdout, "America/New_York") {
		t.Fatalf("get table:\n%s", r.stdout)
	}

	// update sends only the flags given
	id := cron["id"].(string)
	up := obj(c.ok("automation", "jobs", "update", id, "--prompt", "changed"), "job")
	if up["prompt"] != "changed" || up["overlap_policy"] != "skip" || obj(up, "retry")["strategy"] != "backoff" ||
		str(up, "schedule", "timezone") != "America/New_York" || up["enabled"] != true {
		t.Fatalf("update --prompt changed other fields: %v", up)
	}
	up = obj(c.ok("automation", "jobs", "update", id, "--schedule", "every:2h", "--retry", "none"), "job")
	if str(up, "schedule", "interval") != "2h" || obj(up, "retry")["strategy"] != "none" || up["prompt"] != "changed" {
		t.Fatalf("update --schedule: %v", up)
	}
	if j := obj(c.ok("automation", "jobs", "disable", id), "job"); j["enabled"] != false {
		t.Fatalf("disable: %v", j)
	}
	if j := obj(c.ok("automation", "jobs", "enable", id), "job"); j["enabled"] != true {
		t.Fatalf("enable: %v", j)
	}
	if j := obj(c.ok("automation", "jobs", "update", every["id"].(string), "--disabled=false"), "job"); j["enabled"] != true {
		t.Fatalf("--disabled=false: %v", j)
	}

	// preview and slots
	pv := obj(c.ok("automation", "jobs", "preview", id, "--count", "3"), "preview")
	if len(list(pv, "fires")) != 3 || pv["job_id"] != id {
		t.Fatalf("preview %v", pv)
	}
	if lines := jsonLines(t, c.run("automation", "jobs", "preview", id, "--count", "4", "-o", "jsonl").stdout); len(lines) != 4 || lines[0]["at"] == nil {
		t.Fatalf("preview jsonl %v", lines)
	}
	slots := list(c.ok("automation", "jobs", "slots", past["id"].(string)), "slots")
	if len(slots) != 1 || slots[0].(map[string]any)["outcome"] != "skipped" {
		t.Fatalf("slots %v", slots)
	}
	if r := c.run("automation", "jobs", "slots", past["id"].(string), "-o", "table"); !strings.Contains(r.stdout, "skipped") || !strings.Contains(r.stdout, "misfire") {
		t.Fatalf("slots table:\n%s", r.stdout)
	}
	if h := list(c.ok("automation", "jobs", "history", id), "runs"); len(h) != 0 {
		t.Fatalf("history %v", h)
	}

	// delete
	if r := c.run("automation", "jobs", "delete", id); r.code != 0 || r.stdout != "" {
		t.Fatalf("delete: %+v", r)
	}
	c.fails(1, "automation: job not found", "automation", "jobs", "get", id)
	if r := c.run("automation", "jobs", "delete", at["id"].(string), "-o", "table"); r.stdout != "deleted job "+at["id"].(string)+"\n" {
		t.Fatalf("delete table: %+v", r)
	}
}

func TestCLIRuns(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: cliConfig})
	c := cliTCP(t, d)
	mk := func(name, agent string) string {
		j := obj(c.ok("automation", "jobs", "create", "--name", name, "--scope", "global", "--agent", agent, "--prompt", "go",
			"--schedule", "0 3 * * *", "--fire-limit", "100/1h"), "job")
		return j["id"].(string)
	}
	okJob, failJob, chattyJob, sleepJob := mk("good", "ok"), mk("bad", "fail"), mk("chatty", "chatty"), mk("sleepy", "sleeper")

	// trigger --wait: completed → 0; failed → 1 with the run printed
	run := obj(c.ok("automation", "jobs", "trigger", okJob, "--wait"), "run")
	if run["status"] != "completed" || run["origin"] != "manual" {
		t.Fatalf("trigger --wait: %v", run)
	}
	r := c.fails(1, "", "automation", "jobs", "trigger", failJob, "--wait")
	var failed map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &failed); err != nil || obj(failed, "run")["status"] != "failed" ||
		!strings.HasPrefix(r.stderr, "agh: run "+str(failed, "run", "id")+" failed: ") {
		t.Fatalf("trigger --wait of a failing job: %+v", r)
	}
	if h := list(c.ok("automation", "jobs", "history", failJob, "--status", "failed"), "runs"); len(h) != 1 {
		t.Fatalf("history --status failed: %v", h)
	}

	// runs list, with and without the list subcommand, time windows
	if got := list(c.ok("automation", "runs", "--job", okJob), "runs"); len(got) != 1 {
		t.Fatalf("runs --job: %v", got)
	}
	if got := list(c.ok("automation", "runs", "list", "--status", "completed", "--since", "1h", "--last", "5"), "runs"); len(got) != 1 {
		t.Fatalf("runs list --status --since: %v", got)
	}
	if got := list(c.ok("automation", "runs", "list", "--until", "1h"), "runs"); len(got) != 0 {
		t.Fatalf("runs list --until 1h: %v", got)
	}
	if lines := jsonLines(t, c.run("automation", "runs", "-o", "jsonl").stdout); len(lines) != 2 {
		t.Fatalf("runs jsonl: %v", lines)
	}
	if r := c.run("automation", "runs", "-o", "table"); !strings.Contains(r.stdout, "STATUS") || !strings.Contains(r.stdout, "completed") || !strings.Contains(r.stdout, "failed") {
		t.Fatalf("runs table:\n%s", r.stdout)
	}

	// runs get prints exactly the API payload
	id := run["id"].(string)
	api, err := d.Client.Raw(context.Background(), "GET", "/api/automation/runs/"+id, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.run("automation", "runs", "get", id).stdout; got != string(bytes.TrimSpace(api.Body))+"\n" {
		t.Fatalf("runs get json:\n%s\nAPI:\n%s", got, api.Body)
	}

	// transcript, plain and --follow
	tr := obj(c.ok("automation", "runs", "transcript", id), "transcript")
	if tr["run_id"] != id || len(list(tr, "entries")) == 0 {
		t.Fatalf("transcript %v", tr)
	}
	chatty := obj(c.ok("automation", "jobs", "trigger", chattyJob), "run")
	r = c.run("automation", "runs", "transcript", chatty["id"].(string), "--follow")
	lines := jsonLines(t, r.stdout)
	if r.code != 0 || len(lines) < 4 || lines[0]["type"] != "prompt" || lines[len(lines)-1]["type"] != "stop" ||
		!strings.Contains(r.stdout, `"one"`) || !strings.Contains(r.stdout, `"two"`) {
		t.Fatalf("transcript --follow: %+v", r)
	}
	for i, l := range lines {
		if l["seq"] != float64(i+1) {
			t.Fatalf("transcript --follow repeats or skips entries: %s", r.stdout)
		}
	}
	r = c.run("automation", "runs", "transcript", chatty["id"].(string), "--follow", "-o", "table")
	if r.code != 0 || !strings.Contains(r.stdout, "stdout") || !strings.Contains(r.stdout, "two") || !strings.Contains(r.stdout, "end_turn") {
		t.Fatalf("transcript --follow table:\n%s", r.stdout)
	}

	// cancel
	sleeping := obj(c.ok("automation", "jobs", "trigger", sleepJob), "run")
	canceled := obj(c.ok("automation", "runs", "cancel", sleeping["id"].(string)), "run")
	if canceled["status"] != "canceled" || canceled["error"] != "canceled by request" {
		t.Fatalf("cancel: %v", canceled)
	}
	c.fails(1, `automation: run is not cancelable in status "canceled"`, "automation", "runs", "cancel", sleeping["id"].(string))
	c.fails(1, "automation: run not found", "automation", "runs", "get", "run_nope")
}

func TestCLIWorkspacesAgentsStatus(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: cliConfig})
	for _, c := range []*cli{cliSocket(t, d), cliTCP(t, d)} {
		dir := t.TempDir()
		w := obj(c.ok("workspaces", "add", dir), "workspace")
		if !strings.HasPrefix(str(w, "id"), "ws_") {
			t.Fatalf("workspaces add: %v", w)
		}
		if got := list(c.ok("workspaces", "list"), "workspaces"); len(got) != 1 || got[0].(map[string]any)["id"] != w["id"] {
			t.Fatalf("workspaces list: %v", got)
		}
		if r := c.run("workspaces", "list", "-o", "table"); !strings.Contains(r.stdout, str(w, "path")) {
			t.Fatalf("workspaces table:\n%s", r.stdout)
		}
		if r := c.run("workspaces", "remove", dir); r.code != 0 || r.stdout != "" {
			t.Fatalf("workspaces remove by path: %+v", r)
		}
		c.fails(1, "workspace not found", "workspaces", "remove", str(w, "id"))
		c.fails(1, "no workspace is registered at "+dir, "workspaces", "remove", dir)

		agents := list(c.ok("agents", "list"), "agents")
		if len(agents) != 4 || agents[0].(map[string]any)["name"] != "chatty" {
			t.Fatalf("agents: %v", agents)
		}
		if r := c.run("agents", "list", "-o", "table"); !strings.Contains(r.stdout, "DRIVER") || !strings.Contains(r.stdout, "sleep 30") {
			t.Fatalf("agents table:\n%s", r.stdout)
		}
		st := c.ok("status")
		if st["version"] == nil || obj(st, "automation")["enabled"] != true {
			t.Fatalf("status %v", st)
		}
		if r := c.run("status", "-o", "table"); !strings.Contains(r.stdout, "scheduler running yes") {
			t.Fatalf("status table:\n%s", r.stdout)
		}
	}

	// The environment: AGH_HOME selects the socket, AGH_ADDR the TCP listener.
	bin := cliBinary(t)
	home := &cli{t: t, bin: bin, env: []string{"AGH_HOME=" + d.DataDir}}
	home.ok("status")
	addr := &cli{t: t, bin: bin, env: []string{"AGH_ADDR=" + d.D.Addr, "AGH_HOME=" + t.TempDir()}}
	addr.ok("status")
	none := &cli{t: t, bin: bin, env: []string{"AGH_HOME=" + t.TempDir()}}
	if r := none.run("status"); r.code != 1 || !strings.Contains(r.stderr, "cannot reach the agh daemon") {
		t.Fatalf("no daemon: %+v", r)
	}
}

func TestCLIExitCodes(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: cliConfig})
	c := cliSocket(t, d)
	job := []string{"automation", "jobs", "create", "--name", "x", "--scope", "global", "--agent", "ok", "--prompt", "p"}
	withJob := func(extra ...string) []string { return append(append([]string{}, job...), extra...) }

	// API errors: exit 1 with the API's error
	c.fails(1, "automation: job not found", "automation", "jobs", "get", "job_nope")
	c.fails(1, `automation validation error: job.agent_name is invalid: unknown agent "nope"`,
		"automation", "jobs", "create", "--name", "x", "--scope", "global", "--agent", "nope", "--prompt", "p", "--schedule", "@daily")
	if r := c.fails(1, "", withJob("--schedule", "not cron")...); !strings.HasPrefix(r.stderr, "agh: automation validation error: job.schedule.expr is invalid: ") {
		t.Fatalf("invalid cron: %+v", r)
	}

	// usage errors: exit 2
	for _, args := range [][]string{
		{"automation", "jobs", "list", "--bogus"},
		{"automation", "jobs", "get"},
		{"automation", "jobs", "get", "a", "b"},
		{"automation", "jobz"},
		{"automation"},
		{"automation", "runs", "bogus"},
		{"automation", "jobs", "list", "-o", "yaml"},
		{"automation", "jobs", "list", "--last", "0"},
		{"automation", "jobs", "list", "--last", "many"},
		{"automation", "runs", "list", "--since", "yesterday"},
		{"automation", "jobs", "update", "job_x"},
		{"automation", "jobs", "create", "--scope", "global", "--schedule", "@daily"},
		withJob(),
		withJob("--schedule", "@daily", "--retry", "forever"),
		withJob("--schedule", "@daily", "--retry", "backoff:x:2s"),
		withJob("--schedule", "@daily", "--fire-limit", "5"),
		withJob("--schedule", "every:often"),
		withJob("--schedule", "every:1h", "--timezone", "UTC"),
		withJob("--schedule", "at:tomorrow"),
		withJob("--schedule", "at:2030-01-01T00:00", "--timezone", "Mars/Base"),
		withJob("--timezone", "UTC"),
		{"automation", "triggers", "create", "--name", "t", "--scope", "global", "--agent", "ok", "--prompt", "p", "--event", "webhook", "--filter", "novalue"},
		{"automation", "triggers", "create", "--name", "t", "--scope", "global", "--agent", "ok", "--prompt", "p", "--event", "webhook",
			"--webhook-secret", "s", "--webhook-secret-file", "/dev/null"},
		{"events", "publish", "ext.x", "--data", "{not json"},
		{"webhook", "send", "http://127.0.0.1:1/x"},
		{"workspaces", "add"},
	} {
		r := c.run(args...)
		if r.code != 2 || !strings.Contains(r.stderr, "agh: ") || r.stdout != "" {
			t.Errorf("agh %s: exit %d, want 2\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if got := list(c.ok("automation", "jobs", "list"), "jobs"); len(got) != 0 {
		t.Fatalf("a usage error created a job: %v", got)
	}
	if r := c.run("automation", "jobs", "--help"); r.code != 0 || !strings.Contains(r.stdout, "preview") {
		t.Fatalf("--help: %+v", r)
	}
}

func TestCLIWebhookSend(t *testing.T) {
	const secret = "example-webhook-secret"
	type got struct {
		body       string
		deliveryID string
		skew       time.Duration
	}
	seen := make(chan got, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		h, rej := webhook.ParseHeaders(webhook.SchemeAGH, r.Header)
		if rej != nil {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":%q}`, rej.Message)
			return
		}
		if _, ok := h.Verify(body, [][]byte{[]byte(secret)}); !ok {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":"webhook signature mismatch"}`)
			return
		}
		seen <- got{string(body), h.DeliveryID, time.Since(time.Unix(h.Timestamp, 0))}
		fmt.Fprint(w, `{"result":{"matched":0}}`)
	}))
	defer srv.Close()
	c := &cli{t: t, bin: cliBinary(t)}

	r := c.run("webhook", "send", srv.URL+"/hook", "--secret", secret, "--data", `{"action":"opened"}`, "--delivery-id", "d-1")
	if r.code != 0 || r.stdout != `{"result":{"matched":0}}`+"\n" {
		t.Fatalf("send: %+v", r)
	}
	if g := <-seen; g.body != `{"action":"opened"}` || g.deliveryID != "d-1" || g.skew < -time.Second || g.skew > 5*time.Second {
		t.Fatalf("server saw %+v", g)
	}
	file := filepath.Join(t.TempDir(), "payload.json")
	if err := os.WriteFile(file, []byte(`{"from":"file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c.ok("webhook", "send", srv.URL, "--secret", secret, "--data-file", file)
	if g := <-seen; g.body != `{"from":"file"}` || !strings.HasPrefix(g.deliveryID, "cli-") {
		t.Fatalf("server saw %+v", g)
	}
	if r := c.runIn(`{"from":"stdin"}`, "webhook", "send", srv.URL, "--secret", secret, "--data-file", "-"); r.code != 0 {
		t.Fatalf("send from stdin: %+v", r)
	}
	if g := <-seen; g.body != `{"from":"stdin"}` {
		t.Fatalf("server saw %+v", g)
	}
	c.ok("webhook", "send", srv.URL, "--secret", secret)
	if g := <-seen; g.body != `{}` {
		t.Fatalf("default body: %+v", g)
	}

	r = c.fails(1, "webhook answered 401: webhook signature mismatch", "webhook", "send", srv.URL, "--secret", "wrong", "--data", `{}`)
	if r.stdout != `{"error":"webhook signature mismatch"}`+"\n" {
		t.Fatalf("non-2xx body: %q", r.stdout)
	}
	c.fails(2, "", "webhook", "send", srv.URL, "--data", `{}`)
	c.fails(2, "", "webhook", "send", "--secret", "s")
}

// cliWebhookTrigger creates a webhook trigger whose secret is read from a file.
func cliWebhookTrigger(t *testing.T, c *cli, extra ...string) map[string]any {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"automation", "triggers", "create", "--name", "gh", "--scope", "global", "--agent", "ok",
		"--prompt", "handle {{.Kind}}", "--event", "webhook", "--endpoint-slug", "gh", "--webhook-secret-file", secretFile}, extra...)
	return obj(c.ok(args...), "trigger")
}

func TestCLITriggers(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: cliConfig})
	cliRequireRoute(t, d, "GET", "/api/automation/triggers")
	c := cliSocket(t, d)
	tr := cliWebhookTrigger(t, c, "--filter", "data.action=opened", "--retry", "backoff", "--fire-limit", "50/1h")
	id := str(tr, "id")
	if tr["webhook_secret_present"] != true || str(tr, "webhook_path") == "" || obj(tr, "filter")["data.action"] != "opened" ||
		tr["signature_scheme"] != "agh" || obj(tr, "retry")["max_retries"] != float64(3) || tr["webhook_secret_value"] != nil {
		t.Fatalf("trigger %v", tr)
	}
	ev := obj(c.ok("automation", "triggers", "create", "--name", "on-fail", "--scope", "global", "--agent", "ok",
		"--prompt", "look at {{.Data}}", "--event", "automation.run.failed", "--disabled"), "trigger")
	if ev["enabled"] != false || ev["webhook_path"] != nil {
		t.Fatalf("event trigger %v", ev)
	}
	if got := list(c.ok("automation", "triggers", "list", "--event", "webhook"), "triggers"); len(got) != 1 {
		t.Fatalf("triggers list --event: %v", got)
	}
	if lines := jsonLines(t, c.run("automation", "triggers", "list", "-o", "jsonl").stdout); len(lines) != 2 || lines[0]["name"] != "gh" {
		t.Fatalf("triggers jsonl: %v", lines)
	}
	if r := c.run("automation", "triggers", "list", "-o", "table"); !strings.Contains(r.stdout, "EVENT") || !strings.Contains(r.stdout, "automation.run.failed") {
		t.Fatalf("triggers table:\n%s", r.stdout)
	}
	if r := c.run("automation", "triggers", "get", id, "-o", "table"); !strings.Contains(r.stdout, str(tr, "webhook_path")) || !strings.Contains(r.stdout, "data.action=opened") {
		t.Fatalf("trigger table:\n%s", r.stdout)
	}
	up := obj(c.ok("automation", "triggers", "update", id, "--prompt", "new {{.Kind}}"), "trigger")
	if up["prompt"] != "new {{.Kind}}" || obj(up, "filter")["data.action"] != "opened" || obj(up, "retry")["strategy"] != "backoff" {
		t.Fatalf("update --prompt changed other fields: %v", up)
	}
	up = obj(c.ok("automation", "triggers", "update", id, "--filter", ""), "trigger")
	if len(obj(up, "filter")) != 0 {
		t.Fatalf("--filter '' should clear the filter: %v", up)
	}
	if got := obj(c.ok("automation", "triggers", "disable", id), "trigger"); got["enabled"] != false {
		t.Fatalf("disable %v", got)
	}
	if got := obj(c.ok("automation", "triggers", "enable", id), "trigger"); got["enabled"] != true {
		t.Fatalf("enable %v", got)
	}
	c.fails(1, "automation validation error: trigger.endpoint_slug is required when event is \"webhook\"",
		"automation", "triggers", "create", "--name", "x", "--scope", "global", "--agent", "ok", "--prompt", "p", "--event", "webhook",
		"--webhook-secret", "s")
	if r := c.run("automation", "triggers", "delete", id); r.code != 0 || r.stdout != "" {
		t.Fatalf("delete %+v", r)
	}
	c.fails(1, "automation: trigger not found", "automation", "triggers", "get", id)
}

func TestCLIWebhookDelivery(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: cliConfig})
	cliRequireRoute(t, d, "GET", "/api/automation/triggers")
	cliRequireRoute(t, d, "POST", "/api/webhooks/global/probe--wbh_probe")
	cliRequireRoute(t, d, "GET", "/api/automation/triggers/trg_probe/runs")
	cliRequireRoute(t, d, "GET", "/api/automation/triggers/trg_probe/deliveries")
	c := cliSocket(t, d)
	tr := cliWebhookTrigger(t, c, "--filter", "data.action=opened")
	id, path := str(tr, "id"), str(tr, "webhook_path")

	// deliver through the daemon over TCP (absolute URL) and over the socket (a path)
	res := obj(c.ok("webhook", "send", d.URL()+path, "--secret", "s3cret-value", "--data", `{"action":"opened"}`), "result")
	if res["matched"] != float64(1) || len(list(res, "runs")) != 1 {
		t.Fatalf("webhook result %v", res)
	}
	res = obj(c.ok("webhook", "send", path, "--secret", "s3cret-value", "--data", `{"action":"closed"}`, "--delivery-id", "d-2"), "result")
	if res["matched"] != float64(0) || res["delivery_id"] != "d-2" {
		t.Fatalf("filtered webhook result %v", res)
	}
	c.fails(1, "webhook answered 401: automation: webhook signature invalid", "webhook", "send", path, "--secret", "wrong", "--data", `{"action":"opened"}`)

	if h := list(c.ok("automation", "triggers", "history", id), "runs"); len(h) != 1 {
		t.Fatalf("history %v", h)
	}
	if dl := list(c.ok("automation", "triggers", "deliveries", id), "deliveries"); len(dl) != 3 {
		t.Fatalf("deliveries %v", dl)
	}
	if got := list(c.ok("automation", "triggers", "deliveries", id, "--outcome", "filtered"), "deliveries"); len(got) != 1 || got[0].(map[string]any)["delivery_id"] != "d-2" {
		t.Fatalf("deliveries --outcome filtered: %v", got)
	}
	if r := c.run("automation", "triggers", "deliveries", id, "-o", "table"); !strings.Contains(r.stdout, "OUTCOME") || !strings.Contains(r.stdout, "signature_invalid") {
		t.Fatalf("deliveries table:\n%s", r.stdout)
	}
}

func TestCLIEvents(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: cliConfig})
	cliRequireRoute(t, d, "GET", "/api/automation/triggers")
	cliRequireRoute(t, d, "POST", "/api/events")
	c := cliSocket(t, d)
	dir := t.TempDir()
	c.ok("workspaces", "add", dir, "--id", "web")
	tr := obj(c.ok("automation", "triggers", "create", "--name", "deploys", "--scope", "workspace", "--workspace", dir,
		"--agent", "ok", "--prompt", "deployed {{.Data.env}}", "--event", "ext.deploy", "--filter", "data.env=prod"), "trigger")
	if tr["workspace_id"] != "web" {
		t.Fatalf("trigger %v", tr)
	}
	res := obj(c.ok("events", "publish", "ext.deploy", "--scope", "workspace", "--workspace", "web", "--data", `{"env":"prod"}`), "result")
	if res["matched"] != float64(1) || len(list(res, "runs")) != 1 || !strings.HasPrefix(str(res, "event_id"), "evt_") {
		t.Fatalf("publish %v", res)
	}
	res = obj(c.ok("events", "publish", "ext.deploy", "--scope", "workspace", "--workspace", dir, "--data", `{"env":"dev"}`), "result")
	if res["matched"] != float64(0) {
		t.Fatalf("filtered publish %v", res)
	}
	if r := c.run("events", "publish", "ext.deploy", "--scope", "global", "-o", "table"); r.code != 0 || !strings.Contains(r.stdout, "MATCHED") {
		t.Fatalf("publish table %+v", r)
	}
	c.fails(1, `automation validation error: event.kind must match "ext.<name>": "deploy"`, "events", "publish", "deploy", "--scope", "global")
}

func TestCLITasks(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: cliConfig})
	cliRequireRoute(t, d, "GET", "/api/tasks")
	c := cliSocket(t, d)
	j := obj(c.ok("automation", "jobs", "create", "--name", "review", "--scope", "global", "--prompt", "review the PRs",
		"--schedule", "@daily", "--task-title", "Review", "--task-owner", "human:alice"), "job")
	if task := obj(j, "task"); task["title"] != "Review" || obj(task, "owner")["ref"] != "alice" {
		t.Fatalf("task-backed job %v", j)
	}
	run1 := obj(c.ok("automation", "jobs", "trigger", str(j, "id"), "--wait"), "run")
	run2 := obj(c.ok("automation", "jobs", "trigger", str(j, "id")), "run")
	if run1["status"] != "delegated" || str(run1, "task_id") == "" || run2["status"] != "delegated" {
		t.Fatalf("delegated runs %v %v", run1, run2)
	}
	tasks := list(c.ok("tasks", "list", "--job", str(j, "id"), "--status", "open"), "tasks")
	if len(tasks) != 2 {
		t.Fatalf("tasks list %v", tasks)
	}
	if r := c.run("tasks", "list", "-o", "table"); !strings.Contains(r.stdout, "human:alice") || !strings.Contains(r.stdout, "open") {
		t.Fatalf("tasks table:\n%s", r.stdout)
	}
	task := obj(c.ok("tasks", "get", str(run1, "task_id")), "task")
	if task["title"] != "Review" || task["description"] != "review the PRs" || len(list(task, "runs")) != 1 {
		t.Fatalf("task %v", task)
	}
	done := obj(c.ok("tasks", "complete", str(run1, "task_id"), "--result", "all good"), "task")
	if done["status"] != "done" || done["result"] != "all good" {
		t.Fatalf("complete %v", done)
	}
	c.fails(1, `task is not open: "done"`, "tasks", "complete", str(run1, "task_id"))
	if got := obj(c.ok("tasks", "cancel", str(run2, "task_id")), "task"); got["status"] != "canceled" {
		t.Fatalf("cancel %v", got)
	}
	c.fails(1, "task not found", "tasks", "get", "task_nope")
	if j := obj(c.ok("automation", "jobs", "update", str(j, "id"), "--no-task", "--agent", "ok"), "job"); j["task"] != nil {
		t.Fatalf("--no-task %v", j)
	}
}

func TestCLIAPIToken(t *testing.T) {
	const token = "cli-test-token-0123456789"
	d := testutil.StartDaemon(t, testutil.Options{Config: cliConfig, Env: map[string]string{"AGH_API_TOKEN": token}})
	resp, err := client.NewTCP(d.URL(), "").Raw(context.Background(), "GET", "/api/status", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status == http.StatusOK {
		t.Skip("server does not check API tokens yet")
	}
	c := cliTCP(t, d)
	c.fails(1, "missing or invalid API token", "status")
	c.env = []string{"AGH_API_TOKEN=" + token}
	c.ok("status")
	cliSocket(t, d).ok("status") // the socket needs no token
}
