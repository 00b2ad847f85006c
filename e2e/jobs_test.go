package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
)

const prefix = "automation validation error: "

func TestJobCreateDefaultsAndRoundTrip(t *testing.T) {
	d := start(t, "")
	c := d.Client
	code, m, h := do(t, c, "POST", "/api/automation/jobs", jobBody("nightly", `"enabled":true`))
	if code != 201 {
		t.Fatalf("status %d: %v", code, m)
	}
	job := obj(m, "job")
	id := job["id"].(string)
	if !strings.HasPrefix(id, "job_") || len(id) != 30 {
		t.Fatalf("id %q", id)
	}
	if h.Get("Location") != "/api/automation/jobs/"+id {
		t.Fatalf("Location %q", h.Get("Location"))
	}
	want := map[string]any{"name": "nightly", "scope": "global", "agent_name": "echo", "prompt": "hi", "enabled": true,
		"overlap_policy": "allow", "catch_up_policy": "skip_missed", "misfire_grace_seconds": float64(60),
		"catch_up_window": "24h", "source": "dynamic"}
	for k, v := range want {
		if job[k] != v {
			t.Errorf("%s = %v, want %v", k, job[k], v)
		}
	}
	if r := obj(job, "retry"); r["strategy"] != "none" || r["max_retries"] != float64(0) || r["base_delay"] != "" {
		t.Errorf("retry %v", r)
	}
	if f := obj(job, "fire_limit"); f["max"] != float64(12) || f["window"] != "1h" {
		t.Errorf("fire_limit %v", f)
	}
	s := obj(job, "scheduler")
	if s["registered"] != true || s["job_id"] != id || s["timezone"] != "UTC" || s["next_run_at"] != job["next_run"] {
		t.Errorf("scheduler %v next_run %v", s, job["next_run"])
	}
	next, err := time.Parse(time.RFC3339, job["next_run"].(string))
	if err != nil || next.Hour() != 3 || next.Minute() != 0 || !next.After(time.Now()) {
		t.Errorf("next_run %v", job["next_run"])
	}
	got := obj(expect(t, c, "GET", "/api/automation/jobs/"+id, "", 200, "", ""), "job")
	if fmt.Sprint(got) != fmt.Sprint(job) {
		t.Errorf("GET differs from create:\n%v\n%v", got, job)
	}
	// The Unix socket serves the same API.
	expect(t, d.Socket, "GET", "/api/automation/jobs/"+id, "", 200, "", "")
}

func TestJobValidation(t *testing.T) {
	d := start(t, "")
	c := d.Client
	long := strings.Repeat("x", 129)
	cases := []struct{ body, msg string }{
		{``, "request body is required"},
		{`{"name":`, ""},
		{`[1]`, ""},
		{`{"name":5}`, "job.name must be a string"},
		{`{"name":"a","enabled":"yes"}`, "job.enabled must be a boolean"},
		{`{"name":"a","misfire_grace_seconds":5.0}`, "job.misfire_grace_seconds must be an integer"},
		{`{"name":"a","misfire_grace_seconds":"5"}`, "job.misfire_grace_seconds must be an integer"},
		{`{"name":"a","schedule":"daily"}`, "job.schedule must be an object"},
		{`{"name":"a","seconds":5}`, `job: unknown field "seconds"`},
		{`{"name":"a","schedule":{"mode":"cron","seconds":1}}`, `job.schedule: unknown field "seconds"`},
		{`{"name":"a","id":"job_x"}`, "job.id is read-only"},
		{`{"name":"a","scheduler":{}}`, "job.scheduler is read-only"},
		{`{"name":null}`, "job.name must not be null"},
		{`{"scope":"global"}`, "job.name is required"},
		{`{"name":"` + long + `"}`, "job.name must be at most 128 characters"},
		{`{"name":"a\u0007b"}`, "job.name must not contain control characters"},
		{`{"name":"a","scope":"team"}`, `job.scope must be one of "global" or "workspace": "team"`},
		{`{"name":"a","scope":" global ","workspace_id":"w"}`, `job.workspace_id must be empty when job.scope is "global"`},
		{`{"name":"a","scope":"workspace"}`, `job.workspace_id is required when job.scope is "workspace"`},
		{`{"name":"a","scope":"workspace","workspace_id":"web2"}`, `job.workspace_id is invalid: unknown workspace "web2"`},
		{`{"name":"a","scope":"global"}`, "job.agent_name is required"},
		{`{"name":"a","scope":"global","agent_name":"claud"}`, `job.agent_name is invalid: unknown agent "claud"`},
		{`{"name":"a","scope":"global","agent_name":"echo","prompt":"  "}`, "job.prompt is required"},
		{`{"name":"a","scope":"global","agent_name":"echo","prompt":"` + strings.Repeat("p", 65537) + `"}`, "job.prompt must be at most 65536 bytes"},
		{`{"name":"a","scope":"global","agent_name":"echo","prompt":"p"}`, "job.schedule is required"},
		{sched(`{"mode":"daily"}`), `job.schedule.mode must be one of "cron", "every", or "at": "daily"`},
		{sched(`{"mode":"cron"}`), `job.schedule.expr is required when schedule.mode is "cron"`},
		{sched(`{"mode":"cron","expr":"* * * * *","interval":"1m"}`), `job.schedule.interval must be empty when schedule.mode is "cron"`},
		{sched(`{"mode":"cron","expr":"* * * * *","time":"2026-01-01T00:00:00Z"}`), `job.schedule.time must be empty when schedule.mode is "cron"`},
		{sched(`{"mode":"cron","expr":"0 0 30 2 *"}`), `job.schedule.expr is invalid: expression never fires`},
		{sched(`{"mode":"every"}`), `job.schedule.interval is required when schedule.mode is "every"`},
		{sched(`{"mode":"every","interval":"500ms"}`), `job.schedule.interval must be at least 1s: 500ms`},
		{sched(`{"mode":"every","interval":"1m","expr":"x"}`), `job.schedule.expr must be empty when schedule.mode is "every"`},
		{sched(`{"mode":"every","interval":"1m","timezone":"UTC"}`), `job.schedule.timezone must be empty when schedule.mode is "every"`},
		{sched(`{"mode":"every","interval":"1m","time":"2026-01-01T00:00:00Z"}`), `job.schedule.time is not allowed when schedule.mode is "every"`},
		{sched(`{"mode":"at"}`), `job.schedule.time is required when schedule.mode is "at"`},
		{sched(`{"mode":"at","time":"2026-01-01T00:00:00Z","timezone":"UTC"}`), `job.schedule.timezone must be empty when schedule.mode is "at"`},
		{sched(`{"mode":"at","time":"2026-01-01T00:00:00Z","interval":"1m"}`), `job.schedule.interval is not allowed when schedule.mode is "at"`},
		{sched(`{"mode":"cron","expr":"0 3 * * *","timezone":"Mars/Base"}`), `job.schedule.timezone is invalid: unknown time zone "Mars/Base"`},
		{sched(`{"mode":"cron","expr":"0 3 * * *","timezone":"Local"}`), `job.schedule.timezone is invalid: unknown time zone "Local"`},
		{full(`"retry":{}`), `job.retry.strategy must be one of "none" or "backoff": ""`},
		{full(`"retry":{"strategy":"none","max_retries":3}`), `job.retry.max_retries must be zero when retry.strategy is "none": 3`},
		{full(`"retry":{"strategy":"none","base_delay":"5s"}`), `job.retry.base_delay must be empty when retry.strategy is "none": "5s"`},
		{full(`"retry":{"strategy":"backoff","max_retries":0}`), `job.retry.max_retries must be between 1 and 20 when retry.strategy is "backoff": 0`},
		{full(`"retry":{"strategy":"backoff","max_retries":2}`), `job.retry.base_delay is required when retry.strategy is "backoff"`},
		{full(`"retry":{"strategy":"backoff","max_retries":2,"base_delay":"0s"}`), `job.retry.base_delay must be positive: 0s`},
		{full(`"retry":{"strategy":"backoff","max_retries":2,"base_delay":"48h"}`), `job.retry.base_delay must be at most 24h: 48h`},
		{full(`"retry":{"strategy":"backoff","max_retries":2,"base_delay":"5s","max_delay":"1s"}`), `job.retry.max_delay must be at least job.retry.base_delay: 1s`},
		{full(`"fire_limit":{"max":0,"window":"1h"}`), `job.fire_limit.max must be positive: 0`},
		{full(`"fire_limit":{"max":5}`), `job.fire_limit.window is required`},
		{full(`"fire_limit":{"max":5,"window":"0s"}`), `job.fire_limit.window must be between 1s and 720h: 0s`},
		{full(`"overlap_policy":"serial"`), `job.overlap_policy must be one of "allow", "skip", "queue", or "cancel_previous": "serial"`},
		{full(`"catch_up_policy":"all"`), `job.catch_up_policy must be one of "skip_missed", "run_once", or "run_all": "all"`},
		{full(`"misfire_grace_seconds":-1`), `job.misfire_grace_seconds must be between 0 and 86400: -1`},
		{full(`"catch_up_window":"30s"`), `job.catch_up_window must be between 1m and 720h: 30s`},
		{full(`"task":{"owner":{"kind":"pool"}}`), `job.task.owner.kind must be one of "human" or "agent": "pool"`},
		{full(`"task":{"owner":{"kind":"agent","ref":"bot"}}`), `job.task.owner.ref is invalid: unknown agent "bot"`},
		{full(`"task":{"network_channel":"opz"}`), `job.task.network_channel is invalid: unknown channel "opz"`},
	}
	for _, tc := range cases {
		m := expect(t, c, "POST", "/api/automation/jobs", tc.body, 400, "validation_failed", "")
		if tc.msg != "" && m["error"] != prefix+tc.msg {
			t.Errorf("body %.80s:\n got  %q\n want %q", tc.body, m["error"], prefix+tc.msg)
		}
		if tc.msg == "" && !strings.HasPrefix(m["error"].(string), prefix+"invalid JSON body: ") {
			t.Errorf("body %q: %v", tc.body, m["error"])
		}
		if m["request_id"] == "" {
			t.Errorf("no request_id")
		}
	}
	// Nothing was written.
	if n := len(list(expect(t, c, "GET", "/api/automation/jobs", "", 200, "", ""), "jobs")); n != 0 {
		t.Fatalf("%d jobs exist after rejected creates", n)
	}
	// Oversized body.
	big := `{"name":"a","prompt":"` + strings.Repeat("x", 1<<20) + `"}`
	expect(t, c, "POST", "/api/automation/jobs", big, 413, "payload_too_large", "request body too large")
}

func sched(s string) string {
	return `{"name":"a","scope":"global","agent_name":"echo","prompt":"p","schedule":` + s + `}`
}

func full(extra string) string {
	return `{"name":"a","scope":"global","agent_name":"echo","prompt":"p","schedule":{"mode":"every","interval":"1h"},` + extra + `}`
}

func TestJobPatchDeleteAndConflicts(t *testing.T) {
	d := start(t, "")
	c := d.Client
	a := createJob(t, c, jobBody("a"))
	createJob(t, c, jobBody("b"))
	expect(t, c, "POST", "/api/automation/jobs", jobBody("a"), 409, "conflict", "automation: job name already exists in scope")
	id := a["id"].(string)
	path := "/api/automation/jobs/" + id
	// 404 is checked before the body.
	expect(t, c, "PATCH", "/api/automation/jobs/job_00000000000000000000000000", `{`, 404, "not_found", "automation: job not found")
	expect(t, c, "PATCH", path, `{}`, 400, "validation_failed", prefix+"automation job update must include at least one field")
	expect(t, c, "PATCH", path, `{"scope":"global"}`, 400, "validation_failed", prefix+"job.scope cannot be changed")
	expect(t, c, "PATCH", path, `{"name":"b"}`, 409, "conflict", "automation: job name already exists in scope")
	expect(t, c, "PATCH", path, `{"workspace_id":"x"}`, 400, "validation_failed", prefix+`job.workspace_id must be empty when job.scope is "global"`)
	time.Sleep(5 * time.Millisecond)
	j := obj(expect(t, c, "PATCH", path, `{"prompt":"new","overlap_policy":"skip"}`, 200, "", ""), "job")
	if j["prompt"] != "new" || j["overlap_policy"] != "skip" || j["updated_at"] == a["updated_at"] || j["created_at"] != a["created_at"] {
		t.Fatalf("patch result %v", j)
	}
	if obj(j, "scheduler")["accounted_until"] != obj(a, "scheduler")["accounted_until"] {
		t.Fatal("a non-schedule PATCH moved the cursor")
	}
	// Disable unregisters; enable registers again.
	j = obj(expect(t, c, "PATCH", path, `{"enabled":false}`, 200, "", ""), "job")
	if _, ok := j["next_run"]; ok || obj(j, "scheduler")["registered"] != false {
		t.Fatalf("disabled job still registered: %v", j)
	}
	j = obj(expect(t, c, "PATCH", path, `{"enabled":true}`, 200, "", ""), "job")
	if j["next_run"] == nil || obj(j, "scheduler")["registered"] != true {
		t.Fatalf("enabled job not registered: %v", j)
	}
	// A schedule change resets the cursor.
	j = obj(expect(t, c, "PATCH", path, `{"schedule":{"mode":"every","interval":"1h"}}`, 200, "", ""), "job")
	s := obj(j, "scheduler")
	if s["anchor_at"] == nil || s["accounted_until"] != s["anchor_at"] {
		t.Fatalf("schedule change: %v", s)
	}
	expect(t, c, "DELETE", path, "", 204, "", "")
	expect(t, c, "GET", path, "", 404, "not_found", "automation: job not found")
	expect(t, c, "GET", path+"/runs", "", 404, "not_found", "automation: job not found")
	expect(t, c, "DELETE", path, "", 404, "not_found", "")
}

func TestJobListFiltersAndPagination(t *testing.T) {
	d := start(t, "")
	c := d.Client
	ws := t.TempDir()
	expect(t, c, "POST", "/api/workspaces", `{"id":"web","path":"`+ws+`"}`, 201, "", "")
	names := []string{"delta", "alpha", "Charlie", "bravo", "echo"}
	for _, n := range names {
		createJob(t, c, jobBody(n))
	}
	createJob(t, c, `{"name":"alpha","scope":"workspace","workspace_id":"web","agent_name":"echo","prompt":"p","schedule":{"mode":"every","interval":"1h"}}`)
	all := list(expect(t, c, "GET", "/api/automation/jobs", "", 200, "", ""), "jobs")
	var got []string
	for _, j := range all {
		got = append(got, j.(map[string]any)["name"].(string))
	}
	if strings.Join(got, ",") != "Charlie,alpha,alpha,bravo,delta,echo" {
		t.Fatalf("order %v", got)
	}
	if n := len(list(expect(t, c, "GET", "/api/automation/jobs?scope=workspace", "", 200, "", ""), "jobs")); n != 1 {
		t.Fatalf("scope filter: %d", n)
	}
	if n := len(list(expect(t, c, "GET", "/api/automation/jobs?scope=global&workspace_id=web", "", 200, "", ""), "jobs")); n != 0 {
		t.Fatalf("AND filters: %d", n)
	}
	if n := len(list(expect(t, c, "GET", "/api/automation/jobs?source=config", "", 200, "", ""), "jobs")); n != 0 {
		t.Fatalf("source filter: %d", n)
	}
	expect(t, c, "GET", "/api/automation/jobs?scope=x", "", 400, "validation_failed", prefix+`scope must be one of "global" or "workspace": "x"`)
	expect(t, c, "GET", "/api/automation/jobs?source=package", "", 400, "validation_failed", prefix+`source must be one of "config" or "dynamic": "package"`)
	expect(t, c, "GET", "/api/automation/jobs?limit=0", "", 400, "validation_failed", prefix+`limit must be a positive integer: "0"`)
	expect(t, c, "GET", "/api/automation/jobs?limit=abc", "", 400, "validation_failed", prefix+`limit must be a positive integer: "abc"`)
	expect(t, c, "GET", "/api/automation/jobs?cursor=zzz", "", 400, "validation_failed", prefix+"cursor is invalid")
	if n := len(list(expect(t, c, "GET", "/api/automation/jobs?limit=100000", "", 200, "", ""), "jobs")); n != 6 {
		t.Fatalf("clamped limit: %d", n)
	}
	// Pages of 2 never repeat and cover everything.
	var paged []string
	q := "/api/automation/jobs?limit=2"
	for i := 0; i < 10; i++ {
		m := expect(t, c, "GET", q, "", 200, "", "")
		for _, j := range list(m, "jobs") {
			paged = append(paged, j.(map[string]any)["id"].(string))
		}
		cur, ok := m["next_cursor"].(string)
		if !ok {
			break
		}
		q = "/api/automation/jobs?limit=2&cursor=" + cur
	}
	if len(paged) != 6 {
		t.Fatalf("paged %d items: %v", len(paged), paged)
	}
	seen := map[string]bool{}
	for _, id := range paged {
		if seen[id] {
			t.Fatalf("page repeated %s", id)
		}
		seen[id] = true
	}
	// A cursor is bound to its filters.
	m := expect(t, c, "GET", "/api/automation/jobs?limit=1", "", 200, "", "")
	expect(t, c, "GET", "/api/automation/jobs?limit=1&scope=global&cursor="+m["next_cursor"].(string), "", 400, "validation_failed", prefix+"cursor is invalid")
}

func TestRunsListingAndManualTrigger(t *testing.T) {
	d := start(t, "[automation]\nmax_concurrent_runs = 1\nshutdown_grace = \"0s\"\n"+agentCfg("slow", "sleep", "30"))
	c := d.Client
	// One slow run holds the only slot, so the manual runs stay scheduled.
	blocker := createJob(t, c, jobFor("slow", "blocker"))
	trigger(t, c, blocker["id"].(string))
	j := createJob(t, c, jobBody("manual", `"fire_limit":{"max":3,"window":"1h"}`))
	id := j["id"].(string)
	var runIDs []string
	for i := 0; i < 3; i++ {
		r := obj(expect(t, c, "POST", "/api/automation/jobs/"+id+"/trigger", "", 200, "", ""), "run")
		if r["origin"] != "manual" || r["attempt"] != float64(1) || r["depth"] != float64(1) || r["scheduled_at"] != r["started_at"] {
			t.Fatalf("run %v", r)
		}
		runIDs = append(runIDs, r["id"].(string))
	}
	m := expect(t, c, "POST", "/api/automation/jobs/"+id+"/trigger", "{}", 409, "fire_limited", "")
	if !strings.HasPrefix(m["error"].(string), "automation: fire limit reached: fires=3 limit=3 window=1h0m0s retry_at=") || m["retry_at"] == nil {
		t.Fatalf("fire limit body %v", m)
	}
	expect(t, c, "POST", "/api/automation/jobs/"+id+"/trigger", `{"x":1}`, 400, "validation_failed", "")
	// An unknown job is a 404 whether or not the body is also wrong.
	expect(t, c, "POST", "/api/automation/jobs/job_nope/trigger", "", 404, "not_found", "")
	expect(t, c, "POST", "/api/automation/jobs/job_nope/trigger", `{"x":1}`, 404, "not_found", "")
	runs := list(expect(t, c, "GET", "/api/automation/jobs/"+id+"/runs", "", 200, "", ""), "runs")
	if len(runs) != 3 || runs[0].(map[string]any)["id"] != runIDs[2] {
		t.Fatalf("runs newest first: %v", runs)
	}
	expect(t, c, "GET", "/api/automation/runs?status=done", "", 400, "validation_failed",
		prefix+`status must be one of "scheduled", "running", "delegated", "completed", "failed", or "canceled": "done"`)
	expect(t, c, "GET", "/api/automation/runs?since=yesterday", "", 400, "validation_failed", prefix+`since is invalid: "yesterday"`)
	expect(t, c, "GET", "/api/automation/runs?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "", 400, "validation_failed", prefix+"until must not be earlier than since")
	r0 := runs[2].(map[string]any)
	if n := len(list(expect(t, c, "GET", "/api/automation/runs?fire_id="+r0["fire_id"].(string), "", 200, "", ""), "runs")); n != 1 {
		t.Fatalf("fire filter %d", n)
	}
	if n := len(list(expect(t, c, "GET", "/api/automation/runs?job_id="+id+"&since="+r0["started_at"].(string), "", 200, "", ""), "runs")); n != 3 {
		t.Fatalf("since inclusive: %d", n)
	}
	if n := len(list(expect(t, c, "GET", "/api/automation/runs?job_id="+id+"&until="+r0["started_at"].(string), "", 200, "", ""), "runs")); n != 0 {
		t.Fatalf("until exclusive: %d", n)
	}
	expect(t, c, "GET", "/api/automation/runs/"+runIDs[0], "", 200, "", "")
	expect(t, c, "GET", "/api/automation/runs/run_00000000000000000000000000", "", 404, "not_found", "automation: run not found")
	// Cancel frees the budget immediately.
	cr := obj(expect(t, c, "POST", "/api/automation/runs/"+runIDs[0]+"/cancel", "", 200, "", ""), "run")
	if cr["status"] != "canceled" || cr["error"] != "canceled by request" || cr["error_code"] != "canceled" || cr["ended_at"] == nil {
		t.Fatalf("canceled run %v", cr)
	}
	expect(t, c, "POST", "/api/automation/runs/"+runIDs[0]+"/cancel", "", 409, "conflict", `automation: run is not cancelable in status "canceled"`)
	expect(t, c, "POST", "/api/automation/jobs/"+id+"/trigger", "", 200, "", "")
	// Deleting the job cancels its active runs and keeps them readable.
	expect(t, c, "DELETE", "/api/automation/jobs/"+id, "", 204, "", "")
	r := obj(expect(t, c, "GET", "/api/automation/runs/"+runIDs[1], "", 200, "", ""), "run")
	if r["status"] != "canceled" || r["error"] != "definition deleted" || r["error_code"] != "definition_deleted" {
		t.Fatalf("run after delete %v", r)
	}
	if n := len(list(expect(t, c, "GET", "/api/automation/runs?job_id="+id, "", 200, "", ""), "runs")); n != 4 {
		t.Fatalf("runs of deleted job: %d", n)
	}
}

func TestRoutingAndRequestIDs(t *testing.T) {
	d := start(t, "")
	c := d.Client
	expect(t, c, "GET", "/api/nope", "", 404, "not_found", "not found")
	expect(t, c, "GET", "/api/automation/jobs/", "", 404, "not_found", "")
	code, m, h := do(t, c, "PUT", "/api/automation/jobs", "")
	if code != 405 || m["code"] != "method_not_allowed" || h.Get("Allow") != "GET, POST" {
		t.Fatalf("405: %d %v %v", code, m, h.Get("Allow"))
	}
	resp, err := c.Raw(t.Context(), "GET", "/api/nope", nil, http.Header{"X-Request-ID": {"my-req_1"}})
	if err != nil || resp.Header.Get("X-Request-ID") != "my-req_1" || !strings.Contains(string(resp.Body), `"request_id":"my-req_1"`) {
		t.Fatalf("request id echo: %v %v %s", err, resp.Header, resp.Body)
	}
	resp, _ = c.Raw(t.Context(), "GET", "/api/status", nil, http.Header{"X-Request-ID": {"bad id!"}})
	if rid := resp.Header.Get("X-Request-ID"); len(rid) != 26 {
		t.Fatalf("generated request id %q", rid)
	}
	st := expect(t, c, "GET", "/api/status", "", 200, "", "")
	if st["store"] != "sqlite" || obj(st, "automation")["scheduler_running"] != true {
		t.Fatalf("status %v", st)
	}
}

func TestAtJobInThePastIsAMisfire(t *testing.T) {
	d := start(t, "")
	c := d.Client
	j := createJob(t, c, sched(`{"mode":"at","time":"2020-01-01T00:00:00+01:00"}`))
	s := obj(j, "scheduler")
	if s["registered"] != false || s["misfire_count"] != float64(1) || s["last_misfire_at"] == nil || j["next_run"] != nil {
		t.Fatalf("past at job: %v", j)
	}
	slots := list(expect(t, c, "GET", "/api/automation/jobs/"+j["id"].(string)+"/slots", "", 200, "", ""), "slots")
	if len(slots) != 1 {
		t.Fatalf("slots %v", slots)
	}
	e := slots[0].(map[string]any)
	if e["outcome"] != "skipped" || e["reason"] != "misfire" || e["slot_at"] != "2019-12-31T23:00:00Z" || e["count"] != float64(1) {
		t.Fatalf("ledger entry %v", e)
	}
	// A manual trigger still works on such jobs.
	expect(t, c, "POST", "/api/automation/jobs/"+j["id"].(string)+"/trigger", "", 200, "", "")
	if p := list(obj(expect(t, c, "GET", "/api/automation/jobs/"+j["id"].(string)+"/preview", "", 200, "", ""), "preview"), "fires"); len(p) != 0 {
		t.Fatalf("preview of a past at job: %v", p)
	}
}

func TestConfigJobs(t *testing.T) {
	cfg := `
[[automation.jobs]]
name = "nightly"
scope = "global"
agent = "echo"
prompt = "from config"
schedule = { mode = "cron", expr = "0 4 * * *" }
`
	d := start(t, cfg)
	c := d.Client
	id := automation.DefinitionID(automation.PrefixJob, "job", "global", "", "nightly")
	j := obj(expect(t, c, "GET", "/api/automation/jobs/"+id, "", 200, "", ""), "job")
	if j["source"] != "config" || j["agent_name"] != "echo" || j["enabled"] != true {
		t.Fatalf("config job %v", j)
	}
	path := "/api/automation/jobs/" + id
	expect(t, c, "PATCH", path, `{"prompt":"x"}`, 400, "read_only", prefix+"config-backed automation jobs only accept enabled updates")
	expect(t, c, "PATCH", path, `{"enabled":false,"prompt":"x"}`, 400, "read_only", "")
	expect(t, c, "DELETE", path, "", 400, "read_only", prefix+"config-backed automation jobs cannot be deleted")
	expect(t, c, "POST", "/api/automation/jobs", jobBody("nightly"), 409, "conflict", "")
	expect(t, c, "PATCH", path, `{"enabled":false}`, 200, "", "")
	// The override survives a restart.
	d.Restart()
	c = d.Client
	j = obj(expect(t, c, "GET", path, "", 200, "", ""), "job")
	if j["enabled"] != false {
		t.Fatalf("override lost over restart: %v", j)
	}
	// A reload that changes the definition keeps the override; removing it deletes the job.
	writeConfig(t, d, strings.Replace(cfg, "from config", "changed", 1))
	d.D.Reload(t.Context())
	j = obj(expect(t, c, "GET", path, "", 200, "", ""), "job")
	if j["prompt"] != "changed\n" && j["prompt"] != "changed" || j["enabled"] != false {
		t.Fatalf("after reload %v", j)
	}
	writeConfig(t, d, "[automation]\nmax_jobs = 3\n")
	d.D.Reload(t.Context())
	st := expect(t, c, "GET", "/api/status", "", 200, "", "")
	if !strings.Contains(fmt.Sprint(st["last_reload_error"]), `unknown key "automation.max_jobs"`) {
		t.Fatalf("reload error not reported: %v", st)
	}
	expect(t, c, "GET", path, "", 200, "", "")
	writeConfig(t, d, "")
	d.D.Reload(t.Context())
	expect(t, c, "GET", path, "", 404, "", "")
	if st := expect(t, c, "GET", "/api/status", "", 200, "", ""); st["last_reload_error"] != nil {
		t.Fatalf("reload error not cleared: %v", st)
	}
}
