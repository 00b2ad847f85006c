package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/agent/agenttest"
	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/testutil"
)

// waitRun polls a run until cond holds or the deadline passes.
func waitRun(t *testing.T, c *client.Client, id string, timeout time.Duration, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := obj(expect(t, c, "GET", "/api/automation/runs/"+id, "", 200, "", ""), "run")
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s did not reach the expected state: %v", id, r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func terminal(r map[string]any) bool {
	switch r["status"] {
	case "completed", "failed", "canceled", "delegated":
		return true
	}
	return false
}

func status(s string) func(map[string]any) bool {
	return func(r map[string]any) bool { return r["status"] == s }
}

func trigger(t *testing.T, c *client.Client, jobID string) map[string]any {
	t.Helper()
	return obj(expect(t, c, "POST", "/api/automation/jobs/"+jobID+"/trigger", "", 200, "", ""), "run")
}

func agentCfg(name string, cmd ...string) string {
	q := make([]string, len(cmd))
	for i, c := range cmd {
		q[i] = fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("\n[agents.%s]\ndriver = \"exec\"\ncommand = [%s]\n", name, strings.Join(q, ", "))
}

func jobFor(agent, name string, extra ...string) string {
	parts := append([]string{`"name":"` + name + `"`, `"scope":"global"`, `"agent_name":"` + agent + `"`, `"prompt":"do it"`,
		`"schedule":{"mode":"cron","expr":"0 3 * * *"}`, `"fire_limit":{"max":100,"window":"1h"}`}, extra...)
	return "{" + strings.Join(parts, ",") + "}"
}

func TestExecRunCompletesWithTranscriptAndEnvironment(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{
		Config: agentCfg("env", "sh", "-c", `cat; echo; echo "run=$AGH_RUN_ID attempt=$AGH_ATTEMPT depth=$AGH_DEPTH job=$AGH_JOB_ID session=$AGH_SESSION_ID token=${AGH_API_TOKEN:-none} dir=$(pwd)"; echo warn >&2`),
		Env:    map[string]string{"AGH_API_TOKEN": ""},
	})
	c := d.Client
	j := createJob(t, c, jobFor("env", "envjob"))
	r := trigger(t, c, j["id"].(string))
	if r["status"] != "scheduled" {
		t.Fatalf("trigger answered %v", r)
	}
	r = waitRun(t, c, r["id"].(string), 10*time.Second, terminal)
	if r["status"] != "completed" || r["stop_reason"] != "end_turn" || !strings.HasPrefix(fmt.Sprint(r["session_id"]), "ses_") ||
		r["dispatched_at"] == nil || r["ended_at"] == nil || r["node_id"] == nil {
		t.Fatalf("run %v", r)
	}
	tr := obj(expect(t, c, "GET", "/api/automation/runs/"+r["id"].(string)+"/transcript", "", 200, "", ""), "transcript")
	entries := list(tr, "entries")
	if tr["driver"] != "exec" || tr["session_id"] != r["session_id"] || len(entries) < 4 {
		t.Fatalf("transcript %v", tr)
	}
	first := entries[0].(map[string]any)
	last := entries[len(entries)-1].(map[string]any)
	if first["type"] != "prompt" || first["text"] != "do it" || last["type"] != "stop" || last["stop_reason"] != "end_turn" {
		t.Fatalf("transcript ends %v %v", first, last)
	}
	all := fmt.Sprint(entries)
	global := filepath.Join(d.DataDir, "global")
	want := fmt.Sprintf("run=%s attempt=1 depth=1 job=%s session=%s token=none dir=%s", r["id"], j["id"], r["session_id"], global)
	if !strings.Contains(all, want) || !strings.Contains(all, "do it") || !strings.Contains(all, "stderr") {
		t.Fatalf("transcript %s\nwant %s", all, want)
	}
}

func TestRetriesWithBackoffOnFakeClock(t *testing.T) {
	clk := clock.NewFake(time.Now())
	d := testutil.StartDaemon(t, testutil.Options{Config: agentCfg("fail", "sh", "-c", "echo boom >&2; exit 3"), Clock: clk})
	c := d.Client
	j := createJob(t, c, jobFor("fail", "flaky", `"retry":{"strategy":"backoff","max_retries":2,"base_delay":"30s","max_delay":"45s"}`))
	r1 := trigger(t, c, j["id"].(string))
	r1 = waitRun(t, c, r1["id"].(string), 10*time.Second, terminal)
	if r1["status"] != "failed" || r1["error"] != "exit status 3: boom" || r1["error_code"] != "agent_error" {
		t.Fatalf("attempt 1 %v", r1)
	}
	attempt := func(n int) map[string]any {
		runs := list(expect(t, c, "GET", "/api/automation/runs?fire_id="+r1["fire_id"].(string), "", 200, "", ""), "runs")
		for _, x := range runs {
			if m := x.(map[string]any); m["attempt"] == float64(n) {
				return m
			}
		}
		return nil
	}
	ended1, _ := time.Parse(time.RFC3339Nano, r1["ended_at"].(string))
	r2 := attempt(2)
	if r2 == nil || r2["status"] != "scheduled" || r2["retry_of"] != r1["id"] || r2["origin"] != "manual" {
		t.Fatalf("attempt 2 %v", r2)
	}
	if sa, _ := time.Parse(time.RFC3339Nano, r2["scheduled_at"].(string)); !sa.Equal(ended1.Add(30 * time.Second)) {
		t.Fatalf("attempt 2 scheduled at %v, want %v", sa, ended1.Add(30*time.Second))
	}
	// Nothing starts before the delay.
	clk.Advance(29 * time.Second)
	time.Sleep(200 * time.Millisecond)
	if r := attempt(2); r["status"] != "scheduled" {
		t.Fatalf("attempt 2 started early: %v", r)
	}
	clk.Advance(2 * time.Second)
	r2 = waitRun(t, c, r2["id"].(string), 10*time.Second, terminal)
	ended2, _ := time.Parse(time.RFC3339Nano, r2["ended_at"].(string))
	r3 := attempt(3)
	if sa, _ := time.Parse(time.RFC3339Nano, r3["scheduled_at"].(string)); !sa.Equal(ended2.Add(45 * time.Second)) {
		t.Fatalf("attempt 3 delay capped at max_delay: %v vs %v", sa, ended2)
	}
	clk.Advance(46 * time.Second)
	r3 = waitRun(t, c, r3["id"].(string), 10*time.Second, terminal)
	if r3["status"] != "failed" || attempt(4) != nil {
		t.Fatalf("attempt 3 %v / attempt 4 %v", r3, attempt(4))
	}
}

func TestConcurrencyCapQueuesFIFO(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: "[automation]\nmax_concurrent_runs = 2\n" + agentCfg("slow", "sleep", "1")})
	c := d.Client
	j := createJob(t, c, jobFor("slow", "slow"))
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, trigger(t, c, j["id"].(string))["id"].(string))
	}
	var runs map[string]any
	waitFor(t, "two running runs", 10*time.Second, func() bool {
		runs = obj(obj(expect(t, c, "GET", "/api/status", "", 200, "", ""), "automation"), "runs")
		return runs["running"] == float64(2)
	})
	if runs["scheduled"] != float64(3) {
		t.Fatalf("status runs %v", runs)
	}
	var dispatched []time.Time
	for _, id := range ids {
		r := waitRun(t, c, id, 15*time.Second, terminal)
		if r["status"] != "completed" {
			t.Fatalf("run %v", r)
		}
		ts, _ := time.Parse(time.RFC3339Nano, r["dispatched_at"].(string))
		dispatched = append(dispatched, ts)
	}
	for i := 1; i < len(dispatched); i++ {
		if dispatched[i].Before(dispatched[i-1]) {
			t.Fatalf("runs did not start in FIFO order: %v", dispatched)
		}
	}
}

// TestFullCapSkipsDispatchPasses: while this node's running runs fill max_concurrent_runs,
// an admission does not make the dispatcher open a write transaction that could start nothing
// (a backlog of webhook deliveries used to cost the writer one such transaction each), and the
// queued runs still start as soon as the slot frees.
func TestFullCapSkipsDispatchPasses(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: "[automation]\nmax_concurrent_runs = 1\n" + agentCfg("slow", "sleep", "2")})
	c := d.Client
	j := createJob(t, c, jobFor("slow", "slow"))
	first := trigger(t, c, j["id"].(string))["id"].(string)
	waitRun(t, c, first, 10*time.Second, status("running"))
	writes := func() float64 {
		t.Helper()
		for line := range strings.SplitSeq(metricsText(t, d), "\n") {
			if v, ok := strings.CutPrefix(line, `agh_store_write_duration_seconds_count{store="sqlite"} `); ok {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
		}
		t.Fatal("no store write count in /metrics")
		return 0
	}
	const queued = 40
	before := writes()
	var ids []string
	for range queued {
		ids = append(ids, trigger(t, c, j["id"].(string))["id"].(string))
	}
	// One write per admission; a dispatch pass per admission nearly doubled it (about 80 for 40
	// here). A few writes of other components (the running run's session, say) fall between.
	if n := writes() - before; n > queued+queued/2 {
		t.Fatalf("%v store writes for %d admissions with the cap full", n, queued)
	}
	if r := waitRun(t, c, first, 10*time.Second, terminal); r["status"] != "completed" {
		t.Fatalf("first run %v", r)
	}
	if r := waitRun(t, c, ids[0], 10*time.Second, func(r map[string]any) bool { return r["status"] != "scheduled" }); r["status"] != "running" {
		t.Fatalf("the next queued run did not start: %v", r)
	}
}

func TestTimeoutCancelAndProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	d := testutil.StartDaemon(t, testutil.Options{Config: `
[agents.hang]
driver = "exec"
command = ["sh", "-c", "echo $$ > ` + pidFile + `; sleep 30 & sleep 30"]
timeout = "1s"

[agents.hang2]
driver = "exec"
command = ["sh", "-c", "echo $$ > ` + pidFile + `2; sleep 30 & sleep 30"]
`})
	c := d.Client
	j := createJob(t, c, jobFor("hang", "hang"))
	r := trigger(t, c, j["id"].(string))
	r = waitRun(t, c, r["id"].(string), 15*time.Second, terminal)
	if r["status"] != "failed" || r["error"] != "timeout" || r["error_code"] != "timeout" || r["stop_reason"] != "timeout" {
		t.Fatalf("timeout run %v", r)
	}
	assertGroupGone(t, pidFile)

	j2 := createJob(t, c, jobFor("hang2", "hang2"))
	r = trigger(t, c, j2["id"].(string))
	waitRun(t, c, r["id"].(string), 10*time.Second, status("running"))
	waitFile(t, pidFile+"2")
	cr := obj(expect(t, c, "POST", "/api/automation/runs/"+r["id"].(string)+"/cancel", "", 200, "", ""), "run")
	if cr["status"] != "canceled" || cr["error_code"] != "canceled" {
		t.Fatalf("cancel %v", cr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !groupGone(t, pidFile+"2") {
		if time.Now().After(deadline) {
			t.Fatal("process group still alive after cancel")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := obj(expect(t, c, "GET", "/api/automation/runs/"+r["id"].(string), "", 200, "", ""), "run"); r["status"] != "canceled" {
		t.Fatalf("canceled run changed status: %v", r)
	}
}

func waitFile(t *testing.T, p string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never written", p)
}

func groupGone(t *testing.T, pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(strings.TrimSpace(string(b)), &pid)
	return liveGroupMembers(pid) == 0
}

// liveGroupMembers counts the non-zombie processes of process group pgid (zombies of
// reparented children may linger when PID 1 does not reap them).
func liveGroupMembers(pgid int) int {
	if syscall.Kill(-pgid, 0) == syscall.ESRCH {
		return 0
	}
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 3 && f[0] != "Z" && f[2] == fmt.Sprint(pgid) {
			n++
		}
	}
	return n
}

func assertGroupGone(t *testing.T, pidFile string) {
	t.Helper()
	if !groupGone(t, pidFile) {
		t.Fatal("process group still alive")
	}
}

func TestOverlapPolicies(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: agentCfg("slow", "sleep", "1.5")})
	c := d.Client
	skip := createJob(t, c, jobFor("slow", "skip", `"overlap_policy":"skip"`))
	r := trigger(t, c, skip["id"].(string))
	m := expect(t, c, "POST", "/api/automation/jobs/"+skip["id"].(string)+"/trigger", "", 409, "overlap",
		`automation: overlap policy "skip": run `+r["id"].(string)+` is still active`)
	if fmt.Sprint(m["run_ids"]) != "["+r["id"].(string)+"]" {
		t.Fatalf("run_ids %v", m["run_ids"])
	}
	waitRun(t, c, r["id"].(string), 10*time.Second, terminal)
	trigger(t, c, skip["id"].(string))

	q := createJob(t, c, jobFor("slow", "queue", `"overlap_policy":"queue"`))
	a, b := trigger(t, c, q["id"].(string)), trigger(t, c, q["id"].(string))
	a = waitRun(t, c, a["id"].(string), 10*time.Second, terminal)
	b = waitRun(t, c, b["id"].(string), 10*time.Second, terminal)
	if b["dispatched_at"].(string) < a["ended_at"].(string) {
		t.Fatalf("queued runs overlapped: %v / %v", a, b)
	}

	cp := createJob(t, c, jobFor("slow", "cancelprev", `"overlap_policy":"cancel_previous"`))
	first := trigger(t, c, cp["id"].(string))
	second := trigger(t, c, cp["id"].(string))
	first = obj(expect(t, c, "GET", "/api/automation/runs/"+first["id"].(string), "", 200, "", ""), "run")
	if first["status"] != "canceled" || first["error"] != "superseded by "+second["id"].(string) || first["error_code"] != "superseded" {
		t.Fatalf("superseded run %v", first)
	}
	if r := waitRun(t, c, second["id"].(string), 10*time.Second, terminal); r["status"] != "completed" {
		t.Fatalf("second %v", r)
	}
}

// Runs held by overlap "queue" ahead of an eligible run do not keep it from a free slot, however
// many of them there are: the dispatcher reads further than its first few candidates.
func TestQueuedRunsDoNotHoldOtherDefinitions(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: "[automation]\nmax_concurrent_runs = 2\nshutdown_grace = \"0s\"\n" + agentCfg("slow", "sleep", "60") + agentCfg("ok", "true")})
	c := d.Client
	q := createJob(t, c, jobFor("slow", "queue", `"overlap_policy":"queue"`))
	first := trigger(t, c, q["id"].(string))
	waitRun(t, c, first["id"].(string), 10*time.Second, status("running"))
	for i := 0; i < 12; i++ {
		trigger(t, c, q["id"].(string)) // held: the queue job's first run is still running
	}
	other := createJob(t, c, jobFor("ok", "other"))
	r := waitRun(t, c, trigger(t, c, other["id"].(string))["id"].(string), 10*time.Second, terminal)
	held := obj(expect(t, c, "GET", "/api/automation/runs/"+first["id"].(string), "", 200, "", ""), "run")
	if r["status"] != "completed" || held["status"] != "running" {
		t.Fatalf("the other job's run waited for the queue: %v (queue's first run %v)", r, held)
	}
	expect(t, c, "POST", "/api/automation/runs/"+first["id"].(string)+"/cancel", "", 200, "", "")
}

func TestValidationFailureAtStart(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: agentCfg("ok", "true")})
	c := d.Client
	ws := t.TempDir()
	expect(t, c, "POST", "/api/workspaces", `{"id":"gone","path":"`+ws+`"}`, 201, "", "")
	j := createJob(t, c, `{"name":"w","scope":"workspace","workspace_id":"gone","agent_name":"ok","prompt":"p","schedule":{"mode":"every","interval":"1h"}}`)
	if err := os.RemoveAll(ws); err != nil {
		t.Fatal(err)
	}
	r := trigger(t, c, j["id"].(string))
	r = waitRun(t, c, r["id"].(string), 10*time.Second, terminal)
	if r["status"] != "failed" || r["error_code"] != "validation" || r["error"] != "workspace path not found: "+ws || r["dispatched_at"] != nil {
		t.Fatalf("run %v", r)
	}
}

func TestACPFixtureRun(t *testing.T) {
	bin := agenttest.Fixture(t)
	script := agenttest.Script(t, "handshake", "message hello from acp", "stop end_turn")
	d := testutil.StartDaemon(t, testutil.Options{Config: fmt.Sprintf("[agents.fx]\ndriver = \"acp\"\ncommand = [%q, %q]\npermissions = \"allow\"\n", bin, script)})
	c := d.Client
	j := createJob(t, c, jobFor("fx", "acp"))
	r := waitRun(t, c, trigger(t, c, j["id"].(string))["id"].(string), 15*time.Second, terminal)
	if r["status"] != "completed" || r["stop_reason"] != "end_turn" || r["session_id"] == nil {
		t.Fatalf("acp run %v", r)
	}
	tr := obj(expect(t, c, "GET", "/api/automation/runs/"+r["id"].(string)+"/transcript", "", 200, "", ""), "transcript")
	if tr["driver"] != "acp" || !strings.Contains(fmt.Sprint(tr["entries"]), "hello from acp") {
		t.Fatalf("transcript %v", tr)
	}
}
