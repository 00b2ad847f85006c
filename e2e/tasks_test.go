package e2e

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlite"
	"github.com/agh-dev/agh/internal/testutil"
)

// taskJob is a disabled task-backed job (manual triggers still fire it).
func taskJob(name, task string, extra ...string) string {
	parts := append([]string{`"name":"` + name + `"`, `"scope":"global"`, `"prompt":"` + name + ` prompt"`, `"enabled":false`,
		`"schedule":{"mode":"cron","expr":"0 3 * * *"}`, `"fire_limit":{"max":100,"window":"1h"}`, `"task":` + task}, extra...)
	return "{" + strings.Join(parts, ",") + "}"
}

func getTask(t *testing.T, c *client.Client, id string) map[string]any {
	t.Helper()
	return obj(expect(t, c, "GET", "/api/tasks/"+id, "", 200, "", ""), "task")
}

// waitTask polls a task until cond holds.
func waitTask(t *testing.T, c *client.Client, id string, timeout time.Duration, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tk := getTask(t, c, id)
		if cond(tk) {
			return tk
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s did not reach the expected state: %v", id, tk)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func taskStatus(s string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["status"] == s }
}

func taskRun0(tk map[string]any) map[string]any {
	runs := list(tk, "runs")
	if len(runs) != 1 {
		return nil
	}
	return runs[0].(map[string]any)
}

// delegate triggers a task-backed job and checks the delegated run (SPEC §11.1).
func delegate(t *testing.T, c *client.Client, jobID string) map[string]any {
	t.Helper()
	r := trigger(t, c, jobID)
	if r["status"] != "delegated" || !strings.HasPrefix(fmt.Sprint(r["task_id"]), "task_") ||
		!strings.HasPrefix(fmt.Sprint(r["task_run_id"]), "trun_") || r["ended_at"] != r["started_at"] || r["origin"] != "manual" {
		t.Fatalf("delegated run %v", r)
	}
	return r
}

func TestHumanTaskLifecycle(t *testing.T) {
	d := start(t, "")
	c := d.Client
	j := createJob(t, c, taskJob("review", `{"title":"Review the release","owner":{"kind":"human","ref":"alice"}}`))
	other := createJob(t, c, taskJob("triage", `{}`))

	r1 := delegate(t, c, j["id"].(string))
	tk := getTask(t, c, r1["task_id"].(string))
	tr := taskRun0(tk)
	if tk["status"] != "open" || tk["title"] != "Review the release" || tk["description"] != "review prompt" ||
		tk["job_id"] != j["id"] || tk["run_id"] != r1["id"] || tk["scope"] != "global" || tk["closed_at"] != nil ||
		fmt.Sprint(tk["owner"]) != "map[kind:human ref:alice]" || tr == nil || tr["id"] != r1["task_run_id"] ||
		tr["status"] != "queued" || tr["agent_name"] != nil {
		t.Fatalf("task %v", tk)
	}
	r2 := delegate(t, c, j["id"].(string))
	r3 := delegate(t, c, other["id"].(string))
	t3 := getTask(t, c, r3["task_id"].(string))
	if t3["title"] != "triage" || t3["description"] != "triage prompt" || fmt.Sprint(t3["owner"]) != "map[kind:human ref:]" {
		t.Fatalf("defaults %v", t3)
	}

	// Listing: newest first, filters, pagination.
	ids := func(path string) []string {
		var out []string
		for _, x := range list(expect(t, c, "GET", path, "", 200, "", ""), "tasks") {
			m := x.(map[string]any)
			if m["runs"] != nil {
				t.Fatalf("list includes runs: %v", m)
			}
			out = append(out, m["id"].(string))
		}
		return out
	}
	all := ids("/api/tasks")
	if fmt.Sprint(all) != fmt.Sprint([]any{r3["task_id"], r2["task_id"], r1["task_id"]}) {
		t.Fatalf("tasks %v", all)
	}
	if got := ids("/api/tasks?job_id=" + j["id"].(string)); fmt.Sprint(got) != fmt.Sprint([]any{r2["task_id"], r1["task_id"]}) {
		t.Fatalf("job filter %v", got)
	}
	if got := ids("/api/tasks?owner_kind=agent"); len(got) != 0 {
		t.Fatalf("owner filter %v", got)
	}
	if got := ids("/api/tasks?owner_kind=human&status=open"); len(got) != 3 {
		t.Fatalf("owner+status filter %v", got)
	}
	page := expect(t, c, "GET", "/api/tasks?limit=2", "", 200, "", "")
	cur, _ := page["next_cursor"].(string)
	if len(list(page, "tasks")) != 2 || cur == "" {
		t.Fatalf("page 1 %v", page)
	}
	if got := ids("/api/tasks?limit=2&cursor=" + cur); fmt.Sprint(got) != fmt.Sprint([]any{r1["task_id"]}) {
		t.Fatalf("page 2 %v", got)
	}
	expect(t, c, "GET", "/api/tasks?limit=2&status=open&cursor="+cur, "", 400, "validation_failed", "validation error: cursor is invalid")
	expect(t, c, "GET", "/api/tasks?status=closed", "", 400, "validation_failed",
		`validation error: status must be one of "open", "running", "done", "failed", or "canceled": "closed"`)
	expect(t, c, "GET", "/api/tasks?owner_kind=robot", "", 400, "validation_failed",
		`validation error: owner_kind must be one of "human" or "agent": "robot"`)
	expect(t, c, "GET", "/api/tasks/task_01kk63xsc4k7m1q2w3e4r5t6y7", "", 404, "not_found", "task not found")

	// Complete with a result; then it is closed.
	id1 := r1["task_id"].(string)
	expect(t, c, "POST", "/api/tasks/task_01kk63xsc4k7m1q2w3e4r5t6y7/complete", `{"bogus":1}`, 404, "not_found", "task not found")
	expect(t, c, "POST", "/api/tasks/"+id1+"/complete", `{"bogus":1}`, 400, "validation_failed", `validation error: task: unknown field "bogus"`)
	expect(t, c, "POST", "/api/tasks/"+id1+"/complete", `{"result":5}`, 400, "validation_failed", `validation error: task.result must be a string`)
	expect(t, c, "POST", "/api/tasks/"+id1+"/complete", `{"result":"`+strings.Repeat("x", 65537)+`"}`, 400, "validation_failed",
		`validation error: task.result must be at most 65536 bytes`)
	done := obj(expect(t, c, "POST", "/api/tasks/"+id1+"/complete", `{"result":"shipped"}`, 200, "", ""), "task")
	tr = taskRun0(done)
	if done["status"] != "done" || done["result"] != "shipped" || done["closed_at"] == nil || tr["status"] != "completed" || tr["ended_at"] == nil {
		t.Fatalf("completed %v", done)
	}
	if got := getTask(t, c, id1); fmt.Sprint(got) != fmt.Sprint(done) {
		t.Fatalf("stored %v\nanswered %v", got, done)
	}
	expect(t, c, "POST", "/api/tasks/"+id1+"/complete", "", 409, "conflict", `task is not open: "done"`)
	expect(t, c, "POST", "/api/tasks/"+id1+"/cancel", "", 409, "conflict", `task is already closed: "done"`)

	// Cancel, with an empty body or {}.
	id2 := r2["task_id"].(string)
	expect(t, c, "POST", "/api/tasks/"+id2+"/cancel", `{"why":"x"}`, 400, "validation_failed", `validation error: task: unknown field "why"`)
	canceled := obj(expect(t, c, "POST", "/api/tasks/"+id2+"/cancel", `{}`, 200, "", ""), "task")
	if canceled["status"] != "canceled" || canceled["error"] != "canceled by request" || canceled["closed_at"] == nil ||
		taskRun0(canceled)["status"] != "canceled" {
		t.Fatalf("canceled %v", canceled)
	}
	expect(t, c, "POST", "/api/tasks/"+id2+"/complete", "", 409, "conflict", `task is not open: "canceled"`)
	expect(t, c, "POST", "/api/tasks/"+id2+"/cancel", "", 409, "conflict", `task is already closed: "canceled"`)
	obj(expect(t, c, "POST", "/api/tasks/"+r3["task_id"].(string)+"/complete", "", 200, "", ""), "task")

	if got := ids("/api/tasks?status=done"); len(got) != 2 {
		t.Fatalf("done tasks %v", got)
	}
	// The delegated runs never change; they count as fires and are never active.
	for _, r := range []map[string]any{r1, r2, r3} {
		if got := obj(expect(t, c, "GET", "/api/automation/runs/"+r["id"].(string), "", 200, "", ""), "run"); fmt.Sprint(got) != fmt.Sprint(r) {
			t.Fatalf("delegated run changed:\n%v\n%v", got, r)
		}
	}
	if st := obj(obj(expect(t, c, "GET", "/api/status", "", 200, "", ""), "automation"), "runs"); st["running"] != float64(0) || st["scheduled"] != float64(0) {
		t.Fatalf("status %v", st)
	}
	// A human task has no transcript: its delegated run shows an empty one.
	tx := obj(expect(t, c, "GET", "/api/automation/runs/"+r1["id"].(string)+"/transcript", "", 200, "", ""), "transcript")
	if tx["run_id"] != r1["id"] || len(list(tx, "entries")) != 0 || tx["agent_name"] != nil {
		t.Fatalf("transcript %v", tx)
	}
	// Tasks survive a restart.
	d.Restart()
	if got := getTask(t, d.Client, id1); got["status"] != "done" || got["result"] != "shipped" {
		t.Fatalf("after restart %v", got)
	}
}

func TestAgentTaskCompletesAndFails(t *testing.T) {
	cfg, prompts := recorderConfig(t)
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg +
		agentCfg("ok", "sh", "-c", `cat; echo; echo "task=$AGH_TASK_ID trun=$AGH_TASK_RUN_ID run=$AGH_RUN_ID job=$AGH_JOB_ID attempt=$AGH_ATTEMPT"`) +
		agentCfg("bad", "sh", "-c", "echo nope >&2; exit 1")})
	c := d.Client
	// Session events of task runs carry the task fields; task runs publish no automation.run.*.
	stopped := obj(expect(t, c, "POST", "/api/automation/triggers", `{"name":"stopped","scope":"global","agent_name":"rec","event":"session.stopped",`+
		`"filter":{"data.agent_name":"ok"},"prompt":"stopped {{ .Data.task_id }} {{ .Data.task_run_id }} {{ .Data.run_id }} {{ .Data.status }} {{ .Data.stop_reason }} {{ .Data.attempt }}"}`, 201, "", ""), "trigger")
	created := obj(expect(t, c, "POST", "/api/automation/triggers", `{"name":"created","scope":"global","agent_name":"rec","event":"session.created",`+
		`"filter":{"data.agent_name":"bad"},"prompt":"created {{ .Data.task_id }} {{ .Data.session_id }}"}`, 201, "", ""), "trigger")
	runEvents := obj(expect(t, c, "POST", "/api/automation/triggers", `{"name":"runs","scope":"global","agent_name":"rec","event":"automation.run.completed","prompt":"x"}`, 201, "", ""), "trigger")

	okJob := createJob(t, c, taskJob("work", `{"description":"do the work","owner":{"kind":"agent","ref":"ok"}}`))
	r := delegate(t, c, okJob["id"].(string))
	tk := waitTask(t, c, r["task_id"].(string), 15*time.Second, func(m map[string]any) bool { return m["status"] == "done" })
	tr := taskRun0(tk)
	if tk["closed_at"] == nil || tk["error"] != nil || fmt.Sprint(tk["owner"]) != "map[kind:agent ref:ok]" ||
		tr["status"] != "completed" || tr["agent_name"] != "ok" || !strings.HasPrefix(fmt.Sprint(tr["session_id"]), "ses_") ||
		tr["started_at"] == nil || tr["ended_at"] == nil || tr["stop_reason"] != "end_turn" {
		t.Fatalf("agent task %v", tk)
	}
	tx := obj(expect(t, c, "GET", "/api/automation/runs/"+r["id"].(string)+"/transcript", "", 200, "", ""), "transcript")
	want := fmt.Sprintf("task=%s trun=%s run=%s job=%s attempt=1", tk["id"], tr["id"], r["id"], okJob["id"])
	if tx["run_id"] != r["id"] || tx["session_id"] != tr["session_id"] || tx["agent_name"] != "ok" ||
		!strings.Contains(fmt.Sprint(tx["entries"]), want) || !strings.Contains(fmt.Sprint(tx["entries"]), "do the work") {
		t.Fatalf("transcript %v\nwant %s", tx, want)
	}

	badJob := createJob(t, c, taskJob("broken", `{"owner":{"kind":"agent","ref":"bad"}}`))
	rb := delegate(t, c, badJob["id"].(string))
	tb := waitTask(t, c, rb["task_id"].(string), 15*time.Second, func(m map[string]any) bool { return m["status"] == "failed" })
	if tb["error"] != "exit status 1: nope" || taskRun0(tb)["status"] != "failed" || taskRun0(tb)["error"] != "exit status 1: nope" || tb["closed_at"] == nil {
		t.Fatalf("failed task %v", tb)
	}
	tx = obj(expect(t, c, "GET", "/api/automation/runs/"+rb["id"].(string)+"/transcript", "", 200, "", ""), "transcript")
	if !strings.Contains(fmt.Sprint(tx["entries"]), "broken prompt") {
		t.Fatalf("description defaults to the job prompt: %v", tx)
	}
	// A running or done agent task cannot be completed.
	expect(t, c, "POST", "/api/tasks/"+rb["task_id"].(string)+"/complete", "", 409, "conflict", `task is not open: "failed"`)

	wantStopped := fmt.Sprintf("stopped %s %s %s completed end_turn 1", tk["id"], tr["id"], r["id"])
	wantCreated := fmt.Sprintf("created %s %s", tb["id"], taskRun0(tb)["session_id"])
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(prompts)
		if strings.Contains(string(b), wantStopped) && strings.Contains(string(b), wantCreated) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session events: prompts %q, want %q and %q", b, wantStopped, wantCreated)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tid := range []any{stopped["id"], created["id"]} {
		if n := len(list(expect(t, c, "GET", "/api/automation/triggers/"+tid.(string)+"/runs", "", 200, "", ""), "runs")); n != 1 {
			t.Fatalf("trigger %v fired %d times", tid, n)
		}
	}
	// The only automation.run.completed events are those of the recorder runs themselves.
	for _, x := range list(expect(t, c, "GET", "/api/automation/triggers/"+runEvents["id"].(string)+"/runs", "", 200, "", ""), "runs") {
		if m := x.(map[string]any); m["depth"] == float64(2) {
			t.Fatalf("automation.run.completed published for a task run: %v", m)
		}
	}
	if fmt.Sprint(getTask(t, c, r["task_id"].(string))) != fmt.Sprint(tk) {
		t.Fatal("finished task changed")
	}
}

func TestCancelRunningAgentTaskSharesCap(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	d := testutil.StartDaemon(t, testutil.Options{Config: "[automation]\nmax_concurrent_runs = 1\n" +
		agentCfg("hang", "sh", "-c", "echo $$ > "+pidFile+"; sleep 30 & sleep 30") + agentCfg("ok", "true")})
	c := d.Client
	j := createJob(t, c, taskJob("hang", `{"owner":{"kind":"agent","ref":"hang"}}`))
	r := delegate(t, c, j["id"].(string))
	tk := waitTask(t, c, r["task_id"].(string), 10*time.Second, taskStatus("running"))
	if tr := taskRun0(tk); tr["status"] != "running" || tr["started_at"] == nil || tk["closed_at"] != nil {
		t.Fatalf("running task %v", tk)
	}
	waitFile(t, pidFile)
	// The running task run holds the only slot: a job run and another agent task wait
	// (SPEC §7.2, invariant 7).
	plain := createJob(t, c, jobFor("ok", "plain"))
	pr := trigger(t, c, plain["id"].(string))
	later := createJob(t, c, taskJob("later", `{"owner":{"kind":"agent","ref":"ok"}}`))
	lr := delegate(t, c, later["id"].(string))
	time.Sleep(300 * time.Millisecond)
	if got := obj(expect(t, c, "GET", "/api/automation/runs/"+pr["id"].(string), "", 200, "", ""), "run"); got["status"] != "scheduled" {
		t.Fatalf("run started beside a running task run under cap 1: %v", got)
	}
	if got := getTask(t, c, lr["task_id"].(string)); got["status"] != "open" || taskRun0(got)["status"] != "queued" {
		t.Fatalf("agent task started beside a running task run under cap 1: %v", got)
	}
	// An agent task that has not started yet is completed without running (SPEC §11.4).
	lt := obj(expect(t, c, "POST", "/api/tasks/"+lr["task_id"].(string)+"/complete", `{"result":"not needed"}`, 200, "", ""), "task")
	if lt["status"] != "done" || taskRun0(lt)["status"] != "completed" || taskRun0(lt)["started_at"] != nil || taskRun0(lt)["session_id"] != nil {
		t.Fatalf("completed queued agent task %v", lt)
	}
	expect(t, c, "POST", "/api/tasks/"+r["task_id"].(string)+"/complete", "", 409, "conflict", `task is not open: "running"`)
	ct := obj(expect(t, c, "POST", "/api/tasks/"+r["task_id"].(string)+"/cancel", "", 200, "", ""), "task")
	if ct["status"] != "canceled" || ct["error"] != "canceled by request" || taskRun0(ct)["status"] != "canceled" || taskRun0(ct)["ended_at"] == nil {
		t.Fatalf("cancel %v", ct)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !groupGone(t, pidFile) {
		if time.Now().After(deadline) {
			t.Fatal("process group still alive after task cancel")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitRun(t, c, pr["id"].(string), 10*time.Second, status("completed"))
	got := getTask(t, c, r["task_id"].(string))
	if got["status"] != "canceled" || taskRun0(got)["status"] != "canceled" || taskRun0(got)["session_id"] == nil {
		t.Fatalf("canceled task changed: %v", got)
	}
	if lt2 := getTask(t, c, lr["task_id"].(string)); fmt.Sprint(lt2) != fmt.Sprint(lt) {
		t.Fatalf("completed queued task changed: %v", lt2)
	}
}

// receiver is a channel endpoint that records attempts and answers by a policy.
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	fail   func(n int) bool // n = 1-based index of the attempt over all deliveries
	calls  []attempt
	srv    *httptest.Server
}

type attempt struct {
	id, typ, ts, body, ua string
	ok, signed            bool
}

func newReceiver(t *testing.T, secret string, fail func(n int) bool) *receiver {
	rc := &receiver{t: t, secret: secret, fail: fail}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("X-AGH-Webhook-Timestamp")
	m := hmac.New(sha256.New, []byte(rc.secret))
	m.Write([]byte(ts + "." + string(body)))
	var doc struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	_ = json.Unmarshal(body, &doc)
	a := attempt{id: r.Header.Get("X-AGH-Webhook-Delivery-ID"), typ: doc.Type, ts: ts, body: string(body),
		ua: r.Header.Get("User-Agent"), signed: r.Header.Get("X-AGH-Webhook-Signature") == "sha256="+hex.EncodeToString(m.Sum(nil)) && doc.ID == r.Header.Get("X-AGH-Webhook-Delivery-ID")}
	rc.mu.Lock()
	a.ok = !rc.fail(len(rc.calls) + 1)
	rc.calls = append(rc.calls, a)
	rc.mu.Unlock()
	if !a.ok {
		w.WriteHeader(503)
		return
	}
	w.WriteHeader(204)
}

func (rc *receiver) attempts() []attempt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]attempt(nil), rc.calls...)
}

// pump advances a fake clock in small steps until stop is closed, so that timers of the
// outbox sender fire quickly.
func pump(t *testing.T, clk *clock.Fake) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				clk.Advance(250 * time.Millisecond)
			}
		}
	}()
	var once sync.Once
	f := func() { once.Do(func() { close(stop); <-done }) }
	t.Cleanup(f)
	return f
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func channelCfg(name, url, secret string) string {
	return fmt.Sprintf("\n[channels.%s]\nkind = \"webhook\"\nurl = %q\nsecret = %q\n", name, url, secret)
}

func TestChannelNotifiesSecondDaemonWebhookTrigger(t *testing.T) {
	cfg, prompts := recorderConfig(t)
	b := testutil.StartDaemon(t, testutil.Options{Config: cfg})
	tr := obj(expect(t, b.Client, "POST", "/api/automation/triggers", `{"name":"peer","scope":"global","agent_name":"rec","event":"webhook","endpoint_slug":"tasks",`+
		`"webhook_secret_value":"shared-channel-secret","prompt":"{{ .Data.type }} {{ .Data.task.id }} {{ .Data.task.status }} {{ .Data.channel }} {{ .Data.delivery_id }}"}`, 201, "", ""), "trigger")
	a := testutil.StartDaemon(t, testutil.Options{Config: baseConfig + channelCfg("peer", b.URL()+tr["webhook_path"].(string), "shared-channel-secret")})
	c := a.Client
	j := createJob(t, c, taskJob("notify", `{"network_channel":"peer"}`))
	r := delegate(t, c, j["id"].(string))
	tk := getTask(t, c, r["task_id"].(string))
	if tk["network_channel"] != "peer" {
		t.Fatalf("task %v", tk)
	}
	deliveries := func() []any {
		return list(expect(t, b.Client, "GET", "/api/automation/triggers/"+tr["id"].(string)+"/deliveries?outcome=accepted", "", 200, "", ""), "deliveries")
	}
	waitFor(t, "task.created at the peer", 10*time.Second, func() bool { return len(deliveries()) == 1 })
	expect(t, c, "POST", "/api/tasks/"+tk["id"].(string)+"/complete", `{"result":"ok"}`, 200, "", "")
	waitFor(t, "task.ended at the peer", 10*time.Second, func() bool { return len(deliveries()) == 2 })
	ds := deliveries()
	created, ended := ds[1].(map[string]any), ds[0].(map[string]any)
	for _, dl := range ds {
		m := dl.(map[string]any)
		if m["signature_scheme"] != "agh" || !strings.HasPrefix(fmt.Sprint(m["delivery_id"]), "evt_") || len(list(m, "run_ids")) != 1 {
			t.Fatalf("delivery %v", m)
		}
	}
	if created["delivery_id"] == ended["delivery_id"] {
		t.Fatal("notifications share a delivery id")
	}
	runs := list(expect(t, b.Client, "GET", "/api/automation/triggers/"+tr["id"].(string)+"/runs", "", 200, "", ""), "runs")
	for _, x := range runs {
		waitRun(t, b.Client, x.(map[string]any)["id"].(string), 10*time.Second, status("completed"))
	}
	got, _ := os.ReadFile(prompts)
	for _, want := range []string{
		fmt.Sprintf("task.created %s open peer %s", tk["id"], created["delivery_id"]),
		fmt.Sprintf("task.ended %s done peer %s", tk["id"], ended["delivery_id"]),
	} {
		if !strings.Contains(string(got), want) {
			t.Fatalf("peer prompts %q, want %q", got, want)
		}
	}
	if rr := obj(expect(t, c, "GET", "/api/automation/runs/"+r["id"].(string), "", 200, "", ""), "run"); rr["delivery_error"] != nil {
		t.Fatalf("delivery error %v", rr)
	}
	if text := metricsText(t, a); !strings.Contains(text, `agh_channel_notifications_total{result="delivered"} 2`) {
		t.Fatalf("metrics lack the deliveries:\n%s", text)
	}
	if strings.Contains(a.Logs(), "shared-channel-secret") {
		t.Fatal("channel secret in the log")
	}
}

func TestChannelRetriesUntilSuccess(t *testing.T) {
	rc := newReceiver(t, "s3cret", func(n int) bool { return n <= 5 })
	clk := clock.NewFake(time.Now())
	d := testutil.StartDaemon(t, testutil.Options{Clock: clk, Config: baseConfig + channelCfg("hook", rc.srv.URL+"/in", "s3cret")})
	c := d.Client
	j := createJob(t, c, taskJob("retry", `{"network_channel":"hook"}`))
	r := delegate(t, c, j["id"].(string))
	waitFor(t, "the first attempt", 10*time.Second, func() bool { return len(rc.attempts()) == 1 })
	stop := pump(t, clk)
	waitFor(t, "six attempts", 20*time.Second, func() bool { return len(rc.attempts()) == 6 })
	// No further attempt after the success.
	time.Sleep(300 * time.Millisecond)
	stop()
	at := rc.attempts()
	if len(at) != 6 || !at[5].ok {
		t.Fatalf("attempts %+v", at)
	}
	var prev time.Time
	for i, a := range at {
		sec, _ := time.Parse(time.RFC3339, "1970-01-01T00:00:00Z")
		var n int64
		fmt.Sscan(a.ts, &n)
		ts := sec.Add(time.Duration(n) * time.Second)
		if a.id != at[0].id || !strings.HasPrefix(a.id, "evt_") || a.body != at[0].body || !a.signed || a.typ != "task.created" || !strings.HasPrefix(a.ua, "agh/") {
			t.Fatalf("attempt %d %+v (first %+v)", i+1, a, at[0])
		}
		// Re-signed with a fresh timestamp, after 1, 2, 4, 8, 16 s.
		if i > 0 {
			if gap := ts.Sub(prev); gap < time.Duration(1<<(i-1))*time.Second || gap > time.Duration(1<<(i-1))*time.Second+2*time.Second {
				t.Fatalf("attempt %d came %v after the previous one", i+1, gap)
			}
		}
		prev = ts
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(at[0].body), &body); err != nil {
		t.Fatal(err)
	}
	task := obj(body, "task")
	if body["type"] != "task.created" || body["id"] != at[0].id || body["channel"] != "hook" || body["occurred_at"] == nil ||
		task["id"] != r["task_id"] || task["status"] != "open" || task["runs"] != nil || task["run_id"] != r["id"] {
		t.Fatalf("notification body %v", body)
	}
	if rr := obj(expect(t, c, "GET", "/api/automation/runs/"+r["id"].(string), "", 200, "", ""), "run"); rr["delivery_error"] != nil {
		t.Fatalf("delivery error after success: %v", rr)
	}
}

func TestChannelAbandoned(t *testing.T) {
	never := newReceiver(t, "x", func(int) bool { return true })
	flaky := newReceiver(t, "y", func(int) bool { return true })
	clk := clock.NewFake(time.Now())
	channels := channelCfg("never", never.srv.URL, "x") + channelCfg("gone", flaky.srv.URL, "y")
	d := testutil.StartDaemon(t, testutil.Options{Clock: clk, Config: baseConfig + channels})
	c := d.Client
	j := createJob(t, c, taskJob("never", `{"network_channel":"never"}`))
	r := delegate(t, c, j["id"].(string))
	stop := pump(t, clk)
	rr := waitRun(t, c, r["id"].(string), 20*time.Second, func(m map[string]any) bool { return m["delivery_error"] != nil })
	if rr["delivery_error"] != `channel "never": HTTP 503` || rr["delivery_error_at"] == nil || rr["status"] != "delegated" || rr["error"] != nil {
		t.Fatalf("abandoned %v", rr)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(never.attempts()); n != 6 {
		t.Fatalf("%d attempts, want 6", n)
	}
	// The abandoned task.created no longer holds back task.ended.
	expect(t, c, "POST", "/api/tasks/"+r["task_id"].(string)+"/cancel", "", 200, "", "")
	waitFor(t, "task.ended attempts", 10*time.Second, func() bool { return len(never.attempts()) > 6 })
	if a := never.attempts()[6]; a.typ != "task.ended" || a.id == never.attempts()[0].id {
		t.Fatalf("task.ended attempt %+v", a)
	}
	stop()

	// A channel removed from the configuration abandons its pending notifications at once.
	j2 := createJob(t, c, taskJob("gone", `{"network_channel":"gone"}`))
	r2 := delegate(t, c, j2["id"].(string))
	waitFor(t, "first attempt", 10*time.Second, func() bool { return len(flaky.attempts()) == 1 })
	writeConfig(t, d, channelCfg("never", never.srv.URL, "x"))
	d.D.Reload(context.Background())
	if e := d.D.LastReloadError(); e != "" {
		t.Fatalf("reload: %s", e)
	}
	pump(t, clk)
	rr = waitRun(t, c, r2["id"].(string), 10*time.Second, func(m map[string]any) bool { return m["delivery_error"] != nil })
	if rr["delivery_error"] != `channel "gone" is not configured` || len(flaky.attempts()) != 1 {
		t.Fatalf("unconfigured channel: %v after %d attempts", rr, len(flaky.attempts()))
	}
	// The task.ended of the first task is abandoned after its six attempts too.
	waitFor(t, "three abandoned notifications", 20*time.Second, func() bool {
		return strings.Contains(metricsText(t, d), `agh_channel_notifications_total{result="abandoned"} 3`)
	})
	if n := len(never.attempts()); n != 12 {
		t.Fatalf("%d attempts at the failing endpoint, want 12", n)
	}
}

// TestPendingNotificationSurvivesRestart stops the daemon while the endpoint fails and
// restarts it on the same data directory (in-process restart: the compiled-binary harness for
// kill -9 is not on main yet).
func TestPendingNotificationSurvivesRestart(t *testing.T) {
	var failing sync.Map
	failing.Store("on", true)
	rc := newReceiver(t, "s", func(int) bool { v, _ := failing.Load("on"); return v.(bool) })
	clk := clock.NewFake(time.Now())
	d := testutil.StartDaemon(t, testutil.Options{Clock: clk, Config: baseConfig + channelCfg("hook", rc.srv.URL, "s")})
	c := d.Client
	j := createJob(t, c, taskJob("durable", `{"network_channel":"hook"}`))
	r := delegate(t, c, j["id"].(string))
	stop := pump(t, clk)
	waitFor(t, "two failed attempts", 10*time.Second, func() bool { return len(rc.attempts()) >= 2 })
	stop()
	// task.ended is queued behind the pending task.created.
	expect(t, c, "POST", "/api/tasks/"+r["task_id"].(string)+"/complete", "", 200, "", "")
	d.Stop()
	before := rc.attempts()
	for _, a := range before {
		if a.typ != "task.created" {
			t.Fatalf("task.ended attempted before task.created was delivered: %+v", before)
		}
	}
	failing.Store("on", false)
	d.Restart()
	c = d.Client
	pump(t, clk)
	waitFor(t, "both notifications delivered", 20*time.Second, func() bool {
		n := 0
		for _, a := range rc.attempts() {
			if a.ok {
				n++
			}
		}
		return n >= 2
	})
	time.Sleep(500 * time.Millisecond)
	at := rc.attempts()
	okByID := map[string]int{}
	var order []string
	for _, a := range at {
		if a.ok {
			okByID[a.id]++
			order = append(order, a.typ)
		}
		if !a.signed {
			t.Fatalf("unsigned attempt %+v", a)
		}
	}
	if len(okByID) != 2 || fmt.Sprint(order) != "[task.created task.ended]" {
		t.Fatalf("deliveries %v order %v", okByID, order)
	}
	for id, n := range okByID {
		if n != 1 {
			t.Fatalf("delivery %s succeeded %d times", id, n)
		}
	}
	if at[0].id != at[len(before)].id {
		t.Fatalf("task.created changed delivery id across the restart: %s vs %s", at[0].id, at[len(before)].id)
	}
	if rr := obj(expect(t, c, "GET", "/api/automation/runs/"+r["id"].(string), "", 200, "", ""), "run"); rr["delivery_error"] != nil {
		t.Fatalf("delivery error %v", rr)
	}
}

func TestScheduledFireDelegates(t *testing.T) {
	clk := clock.NewFake(time.Now())
	d := testutil.StartDaemon(t, testutil.Options{Clock: clk, Config: baseConfig})
	c := d.Client
	j := createJob(t, c, `{"name":"hourly","scope":"global","schedule":{"mode":"every","interval":"1h"},"task":{"title":"Check the dashboards"}}`)
	clk.Advance(time.Hour + time.Second)
	var runs []any
	waitFor(t, "the scheduled fire", 10*time.Second, func() bool {
		runs = list(expect(t, c, "GET", "/api/automation/jobs/"+j["id"].(string)+"/runs", "", 200, "", ""), "runs")
		return len(runs) == 1
	})
	r := runs[0].(map[string]any)
	if r["status"] != "delegated" || r["origin"] != "schedule" || r["ended_at"] != r["started_at"] || r["task_id"] == nil {
		t.Fatalf("scheduled run %v", r)
	}
	ts := list(expect(t, c, "GET", "/api/tasks?job_id="+j["id"].(string), "", 200, "", ""), "tasks")
	if len(ts) != 1 || ts[0].(map[string]any)["id"] != r["task_id"] || ts[0].(map[string]any)["title"] != "Check the dashboards" ||
		ts[0].(map[string]any)["description"] != nil {
		t.Fatalf("tasks %v", ts)
	}
	slots := list(expect(t, c, "GET", "/api/automation/jobs/"+j["id"].(string)+"/slots", "", 200, "", ""), "slots")
	if len(slots) != 1 || slots[0].(map[string]any)["outcome"] != "fired" || slots[0].(map[string]any)["run_id"] != r["id"] {
		t.Fatalf("slots %v", slots)
	}
}

// TestRecoveryFailsInterruptedTaskRuns leaves a task run running in the store of a stopped
// daemon (as a crash would) and restarts it (SPEC §7.10).
func TestRecoveryFailsInterruptedTaskRuns(t *testing.T) {
	rc := newReceiver(t, "s", func(int) bool { return false })
	d := testutil.StartDaemon(t, testutil.Options{Config: baseConfig + channelCfg("hook", rc.srv.URL, "s")})
	c := d.Client
	j := createJob(t, c, taskJob("crashy", `{"owner":{"kind":"human","ref":"bob"},"network_channel":"hook"}`))
	r := delegate(t, c, j["id"].(string))
	waitFor(t, "task.created", 10*time.Second, func() bool { return len(rc.attempts()) == 1 })
	d.Stop()
	st, err := sqlite.Open(context.Background(), filepath.Join(d.DataDir, "agh.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Write(context.Background(), func(tx store.Tx) error {
		tk, err := tx.GetTask(context.Background(), r["task_id"].(string))
		if err != nil {
			return err
		}
		tr := *tk.Runs[0]
		tr.Status, tr.StartedAt, tr.AgentName = "running", time.Now(), "echo"
		if _, err := tx.UpdateTaskRun(&tr, "queued"); err != nil {
			return err
		}
		c := *tk
		c.Status = "running"
		_, err = tx.UpdateTask(&c, "open")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	d.Restart()
	tk := getTask(t, d.Client, r["task_id"].(string))
	if tk["status"] != "failed" || tk["error"] != "interrupted" || tk["closed_at"] == nil ||
		taskRun0(tk)["status"] != "failed" || taskRun0(tk)["error"] != "interrupted" || taskRun0(tk)["ended_at"] == nil {
		t.Fatalf("recovered task %v", tk)
	}
	// (task.created may be sent again if the stop cut its answer short: at least once.)
	waitFor(t, "task.ended", 10*time.Second, func() bool {
		at := rc.attempts()
		return at[len(at)-1].typ == "task.ended"
	})
	at := rc.attempts()
	if a := at[len(at)-1]; !strings.Contains(a.body, `"status":"failed"`) || !strings.Contains(a.body, `"error":"interrupted"`) {
		t.Fatalf("task.ended %+v", a)
	}
}

// openStream connects to the change stream and returns a function that waits for the next
// event of a name (skipping others) and returns its data.
func openStream(t *testing.T, d *testutil.Daemon) func(name string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", d.URL()+"/api/automation/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	events := make(chan [2]string, 256)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var name string
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- [2]string{name, v}
			}
		}
	}()
	return func(want string) string {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("stream closed waiting for %s", want)
				}
				if ev[0] == want {
					return ev[1]
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %s event", want)
			}
		}
	}
}

func metricsText(t *testing.T, d *testutil.Daemon) string {
	t.Helper()
	resp, err := http.Get(d.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestTaskChangeStreamAndMetrics(t *testing.T) {
	d := testutil.StartDaemon(t, testutil.Options{Config: baseConfig + agentCfg("ok", "true")})
	c := d.Client
	next := openStream(t, d)
	next("hello")
	j := createJob(t, c, taskJob("streamed", `{}`))
	r := delegate(t, c, j["id"].(string))
	if ev := next("task.created"); !strings.Contains(ev, `"id":"`+r["task_id"].(string)+`"`) || !strings.Contains(ev, `"status":"open"`) {
		t.Fatalf("task.created %s", ev)
	}
	expect(t, c, "POST", "/api/tasks/"+r["task_id"].(string)+"/complete", "", 200, "", "")
	if ev := next("task.updated"); !strings.Contains(ev, `"status":"done"`) {
		t.Fatalf("task.updated %s", ev)
	}
	aj := createJob(t, c, taskJob("agentic", `{"owner":{"kind":"agent","ref":"ok"}}`))
	ar := delegate(t, c, aj["id"].(string))
	next("task.created")
	for {
		ev := next("task.updated")
		if !strings.Contains(ev, ar["task_id"].(string)) {
			t.Fatalf("task.updated of another task: %s", ev)
		}
		if strings.Contains(ev, `"status":"done"`) {
			break
		}
	}
	text := metricsText(t, d)
	if !strings.Contains(text, `agh_tasks_total{status="done"} 2`) {
		t.Fatalf("metrics lack the done tasks:\n%s", text)
	}
}

// TestPendingNotificationSurvivesKill is the crash variant: the compiled daemon is killed with
// SIGKILL while the endpoint fails, then started again once the endpoint works (real clock:
// the first retries come after 1 s and 2 s).
func TestPendingNotificationSurvivesKill(t *testing.T) {
	var failing sync.Map
	failing.Store("on", true)
	rc := newReceiver(t, "s", func(int) bool { v, _ := failing.Load("on"); return v.(bool) })
	p := testutil.StartProcess(t, testutil.ProcOptions{Config: baseConfig + channelCfg("hook", rc.srv.URL, "s")})
	c := p.Client
	j := createJob(t, c, taskJob("durable", `{"network_channel":"hook"}`))
	r := delegate(t, c, j["id"].(string))
	waitFor(t, "two failed attempts", 10*time.Second, func() bool { return len(rc.attempts()) >= 2 })
	expect(t, c, "POST", "/api/tasks/"+r["task_id"].(string)+"/complete", `{"result":"ok"}`, 200, "", "")
	p.Kill()
	before := rc.attempts()
	for _, a := range before {
		if a.typ != "task.created" || a.ok {
			t.Fatalf("attempts before the kill: %+v", before)
		}
	}
	failing.Store("on", false)
	p.Restart()
	waitFor(t, "both notifications delivered", 30*time.Second, func() bool {
		n := 0
		for _, a := range rc.attempts() {
			if a.ok {
				n++
			}
		}
		return n >= 2
	})
	time.Sleep(time.Second)
	okByID := map[string]int{}
	var order []string
	for _, a := range rc.attempts() {
		if !a.signed || a.id != (map[bool]string{true: before[0].id, false: a.id})[a.typ == "task.created"] {
			t.Fatalf("attempt %+v", a)
		}
		if a.ok {
			okByID[a.id]++
			order = append(order, a.typ)
		}
	}
	if len(okByID) != 2 || fmt.Sprint(order) != "[task.created task.ended]" {
		t.Fatalf("deliveries %v order %v", okByID, order)
	}
	for id, n := range okByID {
		if n != 1 {
			t.Fatalf("delivery %s succeeded %d times", id, n)
		}
	}
	tk := getTask(t, c, r["task_id"].(string))
	if tk["status"] != "done" || tk["result"] != "ok" {
		t.Fatalf("task after the crash %v", tk)
	}
}

// TestRunningAgentTaskAfterKill kills the compiled daemon while an agent task runs: the next
// boot kills the agent's process group and fails the task run and its task (SPEC §7.10).
func TestRunningAgentTaskAfterKill(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	p := testutil.StartProcess(t, testutil.ProcOptions{Config: baseConfig + agentCfg("hang", "sh", "-c", "echo $$ > "+pidFile+"; sleep 30 & sleep 30")})
	c := p.Client
	j := createJob(t, c, taskJob("hang", `{"owner":{"kind":"agent","ref":"hang"}}`))
	r := delegate(t, c, j["id"].(string))
	waitTask(t, c, r["task_id"].(string), 10*time.Second, taskStatus("running"))
	waitFile(t, pidFile)
	p.Kill()
	if groupGone(t, pidFile) {
		t.Fatal("the agent died with the daemon; nothing to recover")
	}
	p.Restart()
	tk := getTask(t, c, r["task_id"].(string))
	if tk["status"] != "failed" || tk["error"] != "interrupted" || taskRun0(tk)["status"] != "failed" || taskRun0(tk)["error"] != "interrupted" {
		t.Fatalf("task after the crash %v", tk)
	}
	waitFor(t, "the orphaned agent to be killed", 10*time.Second, func() bool { return groupGone(t, pidFile) })
}
