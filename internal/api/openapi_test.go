package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/wire"
)

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPIDocument())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is invalid: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if _, err := gorillamux.NewRouter(doc); err != nil {
		t.Errorf("router: %v", err)
	}
}

// openAPIOperations is every operation of SPEC §4 with its documented statuses.
var openAPIOperations = []struct {
	method, path string
	statuses     string
}{
	// core (17)
	{"GET", "/api/automation/jobs", "200 400 401 403 500 503"},
	{"POST", "/api/automation/jobs", "201 400 401 403 409 413 500 503"},
	{"GET", "/api/automation/jobs/{id}", "200 401 403 404 500 503"},
	{"PATCH", "/api/automation/jobs/{id}", "200 400 401 403 404 409 413 500 503"},
	{"DELETE", "/api/automation/jobs/{id}", "204 400 401 403 404 500 503"},
	{"GET", "/api/automation/jobs/{id}/runs", "200 400 401 403 404 500 503"},
	{"POST", "/api/automation/jobs/{id}/trigger", "200 400 401 403 404 409 413 500 503"},
	{"GET", "/api/automation/runs", "200 400 401 403 500 503"},
	{"GET", "/api/automation/runs/{id}", "200 401 403 404 500 503"},
	{"GET", "/api/automation/triggers", "200 400 401 403 500 503"},
	{"POST", "/api/automation/triggers", "201 400 401 403 409 413 500 503"},
	{"GET", "/api/automation/triggers/{id}", "200 401 403 404 500 503"},
	{"PATCH", "/api/automation/triggers/{id}", "200 400 401 403 404 409 413 500 503"},
	{"DELETE", "/api/automation/triggers/{id}", "204 400 401 403 404 500 503"},
	{"GET", "/api/automation/triggers/{id}/runs", "200 400 401 403 404 500 503"},
	{"POST", "/api/webhooks/global/{endpoint}", "200 400 401 404 409 413 429 500 503"},
	{"POST", "/api/webhooks/workspaces/{workspace_id}/{endpoint}", "200 400 401 404 409 413 429 500 503"},
	// extensions
	{"GET", "/api/automation/jobs/{id}/slots", "200 400 401 403 404 500 503"},
	{"GET", "/api/automation/jobs/{id}/preview", "200 400 401 403 404 500 503"},
	{"GET", "/api/automation/triggers/{id}/deliveries", "200 400 401 403 404 500 503"},
	{"POST", "/api/automation/runs/{id}/cancel", "200 400 401 403 404 409 413 500 503"},
	{"GET", "/api/automation/runs/{id}/transcript", "200 401 403 404 500 503"},
	{"GET", "/api/automation/stream", "200 401 403 500 503"},
	{"POST", "/api/events", "200 400 401 403 413 500 503"},
	{"GET", "/api/agents", "200 401 403 500 503"},
	{"GET", "/api/workspaces", "200 400 401 403 500 503"},
	{"POST", "/api/workspaces", "201 400 401 403 409 413 500 503"},
	{"GET", "/api/workspaces/{id}", "200 401 403 404 500 503"},
	{"DELETE", "/api/workspaces/{id}", "204 400 401 403 404 409 500 503"},
	{"GET", "/api/tasks", "200 400 401 403 500 503"},
	{"GET", "/api/tasks/{id}", "200 401 403 404 500 503"},
	{"POST", "/api/tasks/{id}/complete", "200 400 401 403 404 409 413 500 503"},
	{"POST", "/api/tasks/{id}/cancel", "200 400 401 403 404 409 413 500 503"},
	{"GET", "/api/status", "200 401 403 500 503"},
	{"GET", "/api/openapi.json", "200 401 403 500 503"},
	{"GET", "/metrics", "200 401 403 500 503"},
}

func TestOpenAPIOperations(t *testing.T) {
	doc := loadOpenAPI(t)
	want := map[string]bool{}
	for _, o := range openAPIOperations {
		want[o.method+" "+o.path] = true
		item := doc.Paths.Value(o.path)
		if item == nil {
			t.Errorf("%s %s: path not documented", o.method, o.path)
			continue
		}
		op := item.GetOperation(o.method)
		if op == nil {
			t.Errorf("%s %s: method not documented", o.method, o.path)
			continue
		}
		var got []string
		for code := range op.Responses.Map() {
			got = append(got, code)
		}
		sort.Strings(got)
		if g := strings.Join(got, " "); g != o.statuses {
			t.Errorf("%s %s: statuses %q, want %q", o.method, o.path, g, o.statuses)
		}
		for _, code := range got {
			r := op.Responses.Value(code).Value
			if r.Headers["X-Request-ID"] == nil {
				t.Errorf("%s %s %s: no X-Request-ID header", o.method, o.path, code)
			}
			switch {
			case code == "204":
				if len(r.Content) != 0 {
					t.Errorf("%s %s 204 has content", o.method, o.path)
				}
			case code == "201":
				if strings.HasPrefix(o.path, "/api/automation/") && (r.Headers["Location"] == nil || !r.Headers["Location"].Value.Required) {
					t.Errorf("%s %s 201: no required Location header", o.method, o.path)
				}
			case code[0] == '4' || code[0] == '5':
				mt := r.Content.Get("application/json")
				if mt == nil || mt.Schema == nil {
					t.Errorf("%s %s %s: no JSON error schema", o.method, o.path, code)
				}
			default:
				if len(r.Content) == 0 {
					t.Errorf("%s %s %s: no content", o.method, o.path, code)
				}
			}
		}
		for _, p := range op.Parameters {
			if p.Value.In == "path" && !strings.Contains(o.path, "{"+p.Value.Name+"}") {
				t.Errorf("%s %s: path parameter %q not in path", o.method, o.path, p.Value.Name)
			}
		}
		if strings.HasPrefix(o.path, "/api/webhooks/") {
			if op.Security == nil || len(*op.Security) != 0 {
				t.Errorf("%s %s: webhook routes must not require a token", o.method, o.path)
			}
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !want[method+" "+path] {
				t.Errorf("%s %s: documented but not in the operation table", method, path)
			}
		}
	}
	if n := len(openAPIOperations); n != 36 {
		t.Errorf("operation table has %d entries, want 36", n)
	}
}

// TestOpenAPIQueryParameters checks the query parameters of SPEC §3.6 and §4.
func TestOpenAPIQueryParameters(t *testing.T) {
	doc := loadOpenAPI(t)
	runQ := "status since until limit cursor fire_id"
	cases := []struct{ method, path, params string }{
		{"GET", "/api/automation/jobs", "scope workspace_id source limit cursor"},
		{"GET", "/api/automation/jobs/{id}/runs", runQ},
		{"GET", "/api/automation/runs", "job_id trigger_id " + runQ},
		{"GET", "/api/automation/triggers", "scope workspace_id source event limit cursor"},
		{"GET", "/api/automation/triggers/{id}/runs", runQ},
		{"GET", "/api/automation/jobs/{id}/slots", "limit cursor"},
		{"GET", "/api/automation/jobs/{id}/preview", "count"},
		{"GET", "/api/automation/triggers/{id}/deliveries", "limit cursor outcome"},
		{"GET", "/api/workspaces", "limit cursor"},
		{"GET", "/api/tasks", "status job_id owner_kind workspace_id limit cursor"},
	}
	for _, c := range cases {
		op := doc.Paths.Value(c.path).GetOperation(c.method)
		var got []string
		for _, p := range op.Parameters {
			if p.Value.In == "query" {
				got = append(got, p.Value.Name)
			}
		}
		want := strings.Fields(c.params)
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s %s: query parameters %v, want %v", c.method, c.path, got, want)
		}
	}
}

func schemaOf(t *testing.T, doc *openapi3.T, name string) *openapi3.Schema {
	t.Helper()
	s := doc.Components.Schemas[name]
	if s == nil || s.Value == nil {
		t.Fatalf("schema %s not found", name)
	}
	return s.Value
}

func visit(s *openapi3.Schema, doc string) error {
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		panic(err)
	}
	return s.VisitJSON(v, openapi3.VisitAsResponse())
}

const (
	exJob = `{
    "id": "job_01kc0m9x6q8v3r2t5y7w9z1a4b", "name": "nightly-triage", "scope": "workspace", "workspace_id": "web",
    "agent_name": "claude", "prompt": "Triage the issues opened since yesterday and label them.",
    "schedule": {"mode": "cron", "expr": "30 2 * * *", "timezone": "America/New_York"},
    "enabled": true,
    "retry": {"strategy": "backoff", "max_retries": 2, "base_delay": "1m", "max_delay": "10m"},
    "fire_limit": {"max": 12, "window": "1h"},
    "overlap_policy": "skip", "catch_up_policy": "run_once", "misfire_grace_seconds": 60, "catch_up_window": "24h",
    "source": "dynamic", "created_at": "2026-03-01T10:00:00Z", "updated_at": "2026-03-01T10:00:00Z",
    "next_run": "2026-03-02T07:30:00Z",
    "scheduler": {"job_id": "job_01kc0m9x6q8v3r2t5y7w9z1a4b", "registered": true, "next_run_at": "2026-03-02T07:30:00Z",
      "catch_up_policy": "run_once", "misfire_grace_seconds": 60, "consecutive_resume_failures": 0, "misfire_count": 0,
      "updated_at": "2026-03-01T10:00:00Z", "timezone": "America/New_York", "accounted_until": "2026-03-01T10:00:00Z"}}`
	exRun = `{"id": "run_01kk63xsc4k7m1q2w3e4r5t6y7", "job_id": "job_01kc0m9x6q8v3r2t5y7w9z1a4b",
    "status": "scheduled", "attempt": 1, "fire_id": "fire_01kk63xsc0acekjez1yxs1z5t9",
    "scheduled_at": "2026-03-08T07:00:00Z", "started_at": "2026-03-08T07:00:00.012Z",
    "origin": "schedule", "agent_name": "claude", "scope": "workspace", "workspace_id": "web", "depth": 1}`
	exTrigger = `{"id": "trg_0000000000d07b20s49angesb7", "name": "github-issues", "scope": "global", "agent_name": "claude",
    "prompt": "Issue #{{ .Data.issue.number }}", "event": "webhook", "filter": {"data.action": "opened"}, "enabled": true,
    "retry": {"strategy": "none", "max_retries": 0, "base_delay": ""}, "fire_limit": {"max": 12, "window": "1h"},
    "overlap_policy": "allow", "endpoint_slug": "issues", "webhook_id": "wbh_00000000008n8epzr7v3khhsk2",
    "signature_scheme": "github", "webhook_secret_present": true, "webhook_secret_hash": "fp:0d347dd3ec5dc390",
    "webhook_path": "/api/webhooks/global/issues--wbh_00000000008n8epzr7v3khhsk2", "source": "config",
    "created_at": "2026-03-01T10:00:00Z", "updated_at": "2026-03-01T10:00:00Z"}`
	exStatus = `{"version": "1.0.0", "node_id": "worker-a", "store": "sqlite", "started_at": "2026-03-01T09:59:58Z",
    "last_reload_error": "config: automation.jobs[1].agent_name is invalid: unknown agent \"claud\"",
    "automation": {"enabled": true, "paused": false, "scheduler_running": true, "jobs": {"total": 3, "enabled": 3},
      "triggers": {"total": 3, "enabled": 2}, "runs": {"scheduled": 2, "running": 1}, "max_concurrent_runs": 5,
      "next_fire": "2026-03-02T07:30:00Z"}}`
	exTask = `{"id": "task_01kk63xsc4k7m1q2w3e4r5t6y7", "job_id": "job_01kc0m9x6q8v3r2t5y7w9z1a4b",
    "run_id": "run_01kk63xsc4k7m1q2w3e4r5t6y7", "scope": "global", "title": "Review", "owner": {"kind": "human", "ref": ""},
    "status": "open", "created_at": "2026-03-08T07:00:00Z", "updated_at": "2026-03-08T07:00:00Z",
    "runs": [{"id": "trun_01kk63xsc4k7m1q2w3e4r5t6y7", "task_id": "task_01kk63xsc4k7m1q2w3e4r5t6y7", "status": "queued"}]}`
)

// edit returns doc with f applied to its decoded form.
func edit(doc string, f func(m map[string]any)) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		panic(err)
	}
	f(m)
	b, _ := json.Marshal(m)
	return string(b)
}

func wrap(key, doc string) string { return `{"` + key + `": ` + doc + `}` }

func webhookRun(m map[string]any) {
	delete(m, "job_id")
	m["trigger_id"], m["origin"] = "trg_01kk63xsc4k7m1q2w3e4r5t6y7", "webhook"
	m["event_id"], m["delivery_id"] = "evt_01kk63xsc4k7m1q2w3e4r5t6y7", "7f3c2a9e-0001"
}

// TestOpenAPISchemas checks that the component schemas accept the SPEC examples and reject drift.
func TestOpenAPISchemas(t *testing.T) {
	doc := loadOpenAPI(t)
	cases := []struct {
		name   string
		schema string
		doc    string
		valid  bool
	}{
		{"job example", "JobResponse", wrap("job", exJob), true},
		{"job unknown field", "Job", edit(exJob, func(m map[string]any) { m["color"] = "red" }), false},
		{"job missing scheduler", "Job", edit(exJob, func(m map[string]any) { delete(m, "scheduler") }), false},
		{"job next_run while unregistered", "Job", edit(exJob, func(m map[string]any) {
			s := m["scheduler"].(map[string]any)
			s["registered"] = false
			delete(s, "next_run_at")
		}), false},
		{"job unregistered", "Job", edit(exJob, func(m map[string]any) {
			s := m["scheduler"].(map[string]any)
			s["registered"] = false
			delete(s, "next_run_at")
			delete(m, "next_run")
		}), true},
		{"job global with workspace", "Job", edit(exJob, func(m map[string]any) { m["scope"] = "global" }), false},
		{"job bad id", "Job", edit(exJob, func(m map[string]any) { m["id"] = "job_123" }), false},
		{"job time with offset", "Job", edit(exJob, func(m map[string]any) { m["created_at"] = "2026-03-01T10:00:00+00:00" }), false},
		{"job time trailing zero", "Job", edit(exJob, func(m map[string]any) { m["created_at"] = "2026-03-01T10:00:00.500Z" }), false},
		{"job time empty", "Job", edit(exJob, func(m map[string]any) { m["created_at"] = "" }), false},
		{"job time fraction", "Job", edit(exJob, func(m map[string]any) { m["created_at"] = "2026-03-01T10:00:00.25Z" }), true},
		{"job bad overlap policy", "Job", edit(exJob, func(m map[string]any) { m["overlap_policy"] = "serial" }), false},
		{"job bad duration", "Job", edit(exJob, func(m map[string]any) { m["catch_up_window"] = "1d" }), false},
		{"job every schedule with expr", "Job", edit(exJob, func(m map[string]any) {
			m["schedule"] = map[string]any{"mode": "every", "interval": "90s", "expr": "* * * * *"}
		}), false},
		{"job every schedule", "Job", edit(exJob, func(m map[string]any) {
			m["schedule"] = map[string]any{"mode": "every", "interval": "1h30m"}
		}), true},
		{"job at schedule", "Job", edit(exJob, func(m map[string]any) {
			m["schedule"] = map[string]any{"mode": "at", "time": "2026-03-08T02:30:00-05:00"}
		}), true},
		{"job retry none with delay", "Job", edit(exJob, func(m map[string]any) {
			m["retry"] = map[string]any{"strategy": "none", "max_retries": 0, "base_delay": "1s"}
		}), false},
		{"job retry backoff without retries", "Job", edit(exJob, func(m map[string]any) {
			m["retry"] = map[string]any{"strategy": "backoff", "max_retries": 0, "base_delay": "1s"}
		}), false},
		{"job task without agent", "Job", edit(exJob, func(m map[string]any) {
			delete(m, "agent_name")
			delete(m, "prompt")
			m["task"] = map[string]any{"title": "Review", "owner": map[string]any{"kind": "human", "ref": ""}}
		}), true},
		{"job neither task nor agent", "Job", edit(exJob, func(m map[string]any) { delete(m, "agent_name") }), false},

		{"run example", "RunResponse", wrap("run", exRun), true},
		{"run list", "RunList", `{"runs": [` + exRun + `]}`, true},
		{"run attempt 0", "Run", edit(exRun, func(m map[string]any) { m["attempt"] = 0 }), false},
		{"run bad status", "Run", edit(exRun, func(m map[string]any) { m["status"] = "done" }), false},
		{"run job and trigger", "Run", edit(exRun, func(m map[string]any) { m["trigger_id"] = "trg_01kk63xsc4k7m1q2w3e4r5t6y7" }), false},
		{"run bad fire id", "Run", edit(exRun, func(m map[string]any) { m["fire_id"] = "fire_1" }), false},
		{"run scheduled with ended_at", "Run", edit(exRun, func(m map[string]any) { m["ended_at"] = "2026-03-08T07:01:00Z" }), false},
		{"run failed", "Run", edit(exRun, func(m map[string]any) {
			m["status"], m["dispatched_at"], m["ended_at"] = "failed", "2026-03-08T07:00:01Z", "2026-03-08T07:00:09Z"
			m["error"], m["error_code"], m["session_id"], m["node_id"] = "timeout", "timeout", "ses_x", "n1"
		}), true},
		{"run failed with cancel code", "Run", edit(exRun, func(m map[string]any) {
			m["status"], m["ended_at"], m["error"], m["error_code"] = "failed", "2026-03-08T07:00:09Z", "x", "superseded"
		}), false},
		{"run retry without retry_of", "Run", edit(exRun, func(m map[string]any) { m["attempt"] = 2 }), false},
		{"run retry", "Run", edit(exRun, func(m map[string]any) {
			m["attempt"], m["retry_of"] = 2, "run_01kk63xsc4k7m1q2w3e4r5t6y8"
		}), true},
		{"run delegated", "ManualRunResponse", wrap("run", edit(exRun, func(m map[string]any) {
			m["status"], m["origin"], m["ended_at"] = "delegated", "manual", "2026-03-08T07:00:00.012Z"
			m["task_id"], m["task_run_id"] = "task_01kk63xsc4k7m1q2w3e4r5t6y7", "trun_01kk63xsc4k7m1q2w3e4r5t6y7"
		})), true},
		{"manual run with schedule origin", "ManualRunResponse", wrap("run", exRun), false},
		{"canceled run", "CanceledRunResponse", wrap("run", edit(exRun, func(m map[string]any) {
			m["status"], m["ended_at"], m["error"], m["error_code"] = "canceled", "2026-03-08T07:00:09Z", "canceled by request", "canceled"
		})), true},
		{"webhook run", "Run", edit(exRun, webhookRun), true},
		{"webhook run without delivery id", "Run", edit(exRun, func(m map[string]any) {
			webhookRun(m)
			delete(m, "delivery_id")
		}), false},
		{"run depth 4", "Run", edit(exRun, func(m map[string]any) { m["depth"] = 4 }), false},

		{"trigger webhook", "TriggerResponse", wrap("trigger", exTrigger), true},
		{"trigger list", "TriggerList", `{"triggers": [` + exTrigger + `], "next_cursor": "x"}`, true},
		{"trigger leaks secret", "Trigger", edit(exTrigger, func(m map[string]any) { m["webhook_secret_value"] = "s" }), false},
		{"trigger webhook without path", "Trigger", edit(exTrigger, func(m map[string]any) { delete(m, "webhook_path") }), false},
		{"trigger event with webhook fields", "Trigger", edit(exTrigger, func(m map[string]any) { m["event"] = "session.stopped" }), false},
		{"trigger event", "Trigger", edit(exTrigger, func(m map[string]any) {
			m["event"], m["webhook_secret_present"] = "ext.deploy", false
			for _, k := range []string{"endpoint_slug", "webhook_id", "signature_scheme", "webhook_secret_hash", "webhook_path", "filter"} {
				delete(m, k)
			}
		}), true},
		{"trigger empty filter", "Trigger", edit(exTrigger, func(m map[string]any) { m["filter"] = map[string]any{} }), false},
		{"trigger bad event", "Trigger", edit(exTrigger, func(m map[string]any) { m["event"] = "session.stoped" }), false},
		{"trigger half previous secret", "Trigger", edit(exTrigger, func(m map[string]any) {
			m["webhook_secret_previous_hash"] = "fp:37e7b8c574918ae7"
		}), false},
		{"trigger rotated secret", "Trigger", edit(exTrigger, func(m map[string]any) {
			m["webhook_secret_previous_hash"], m["webhook_secret_previous_expires_at"] = "fp:37e7b8c574918ae7", "2026-04-01T00:00:00Z"
		}), true},

		{"status example", "Status", exStatus, true},
		{"status runs extra", "Status", edit(exStatus, func(m map[string]any) {
			m["automation"].(map[string]any)["runs"].(map[string]any)["failed"] = 1
		}), false},
		{"status runs missing", "Status", edit(exStatus, func(m map[string]any) {
			delete(m["automation"].(map[string]any)["runs"].(map[string]any), "running")
		}), false},
		{"status bad store", "Status", edit(exStatus, func(m map[string]any) { m["store"] = "postgres://x" }), false},

		{"error example", "ErrorNotFound", `{"error": "automation: job not found", "code": "not_found", "request_id": "01kk6a2b3c4d5e6f7g8h9j0k1m"}`, true},
		{"error bad code", "Error", `{"error": "x", "code": "nope", "request_id": "r"}`, false},
		{"error missing request id", "Error", `{"error": "x", "code": "internal"}`, false},
		{"error extra field", "Error", `{"error": "x", "code": "internal", "request_id": "r", "detail": "y"}`, false},
		{"error wrong code for status", "ErrorNotFound", `{"error": "x", "code": "conflict", "request_id": "r"}`, false},
		{"error internal details", "ErrorInternal", `{"error": "sql: no rows", "code": "internal", "request_id": "r"}`, false},
		{"error overlap", "ErrorOverlap", `{"error": "x", "code": "overlap", "request_id": "r", "run_ids": ["run_01kk63xsc4k7m1q2w3e4r5t6y7"]}`, true},
		{"error overlap without run ids", "ErrorOverlap", `{"error": "x", "code": "overlap", "request_id": "r"}`, false},
		{"error fire limited", "ErrorFireLimited", `{"error": "x", "code": "fire_limited", "request_id": "r", "retry_at": "2026-03-08T08:00:00Z"}`, true},
		{"error conflict with run ids", "ErrorConflict", `{"error": "x", "code": "conflict", "request_id": "r", "run_ids": ["run_01kk63xsc4k7m1q2w3e4r5t6y7"]}`, false},

		{"ledger fired", "LedgerList", `{"slots": [{"job_id": "job_01kc0m9x6q8v3r2t5y7w9z1a4b", "slot_at": "2026-03-08T07:00:00Z", "count": 1,
		  "outcome": "fired", "run_id": "run_01kk63xsc4k7m1q2w3e4r5t6y7", "fire_id": "fire_01kk63xsc0acekjez1yxs1z5t9",
		  "local": "2026-03-08T03:00:00-04:00", "dst": "gap_shifted", "recorded_at": "2026-03-08T07:00:00.012Z"}]}`, true},
		{"ledger skipped range", "LedgerEntry", `{"job_id": "job_01kc0m9x6q8v3r2t5y7w9z1a4b", "slot_at": "2026-03-08T10:00:00Z",
		  "last_slot_at": "2026-03-08T14:00:00Z", "count": 5, "outcome": "skipped", "reason": "misfire", "local": "2026-03-08T10:00:00Z",
		  "recorded_at": "2026-03-08T14:20:00Z"}`, true},
		{"ledger coalesced", "LedgerEntry", `{"job_id": "job_01kc0m9x6q8v3r2t5y7w9z1a4b", "slot_at": "2026-03-08T10:00:00Z",
		  "last_slot_at": "2026-03-08T13:00:00Z", "count": 4, "outcome": "coalesced", "run_id": "run_01kk63xsc4k7m1q2w3e4r5t6y7",
		  "local": "2026-03-08T10:00:00Z", "recorded_at": "2026-03-08T14:20:00Z"}`, true},
		{"ledger skipped without reason", "LedgerEntry", `{"job_id": "job_01kc0m9x6q8v3r2t5y7w9z1a4b", "slot_at": "2026-03-08T10:00:00Z",
		  "count": 1, "outcome": "skipped", "local": "2026-03-08T10:00:00Z", "recorded_at": "2026-03-08T14:20:00Z"}`, false},
		{"ledger count without last slot", "LedgerEntry", `{"job_id": "job_01kc0m9x6q8v3r2t5y7w9z1a4b", "slot_at": "2026-03-08T10:00:00Z",
		  "count": 2, "outcome": "skipped", "reason": "paused", "local": "2026-03-08T10:00:00Z", "recorded_at": "2026-03-08T14:20:00Z"}`, false},

		{"preview", "PreviewResponse", `{"preview": {"job_id": "job_01kc0m9x6q8v3r2t5y7w9z1a4b", "timezone": "America/New_York", "enabled": true,
		  "fires": [{"at": "2026-03-08T07:00:00Z", "local": "2026-03-08T03:00:00-04:00", "nominal_local": "2026-03-08T02:30:00", "dst": "gap_shifted"},
		            {"at": "2026-11-01T05:30:00Z", "local": "2026-11-01T01:30:00-04:00", "dst": "fold_first"}]}}`, true},
		{"preview empty", "PreviewResponse", `{"preview": {"job_id": "job_01kc0m9x6q8v3r2t5y7w9z1a4b", "timezone": "UTC", "enabled": false, "fires": []}}`, true},
		{"preview nominal on fold", "PreviewItem", `{"at": "2026-11-01T05:30:00Z", "local": "2026-11-01T01:30:00-04:00",
		  "nominal_local": "2026-11-01T01:30:00", "dst": "fold_first"}`, false},

		{"transcript", "TranscriptResponse", `{"transcript": {"run_id": "run_01kk63xsc4k7m1q2w3e4r5t6y7", "session_id": "s1", "driver": "acp",
		  "agent_name": "claude", "stop_reason": "end_turn", "truncated": false, "entries": [
		    {"seq": 1, "at": "2026-03-08T07:00:01Z", "type": "prompt", "text": "hi"},
		    {"seq": 2, "at": "2026-03-08T07:00:02Z", "type": "tool_call", "tool_call_id": "t1", "title": "Read", "kind": "read",
		     "status": "pending", "data": {"a": [1, null]}},
		    {"seq": 3, "at": "2026-03-08T07:00:02Z", "type": "plan", "data": null},
		    {"seq": 4, "at": "2026-03-08T07:00:02Z", "type": "plan", "data": [1, "x"]},
		    {"seq": 5, "at": "2026-03-08T07:00:03Z", "type": "fs", "op": "read", "path": "/w/a", "allowed": false},
		    {"seq": 6, "at": "2026-03-08T07:00:04Z", "type": "stop", "stop_reason": "end_turn"}]}}`, true},
		{"transcript never started", "TranscriptResponse", `{"transcript": {"run_id": "run_01kk63xsc4k7m1q2w3e4r5t6y7", "truncated": false, "entries": []}}`, true},
		{"transcript bad entry type", "TranscriptEntry", `{"seq": 1, "at": "2026-03-08T07:00:01Z", "type": "chat"}`, false},
		{"transcript entry without seq", "TranscriptEntry", `{"at": "2026-03-08T07:00:01Z", "type": "stop"}`, false},

		{"webhook result", "WebhookResult", wrap("result", `{"matched": 1, "event_id": "evt_01kk63xsc4k7m1q2w3e4r5t6y7",
		  "delivery_id": "7f3c2a9e-0001", "runs": [`+edit(exRun, webhookRun)+`]}`), true},
		{"webhook result running", "WebhookResult", wrap("result", `{"matched": 1, "event_id": "evt_01kk63xsc4k7m1q2w3e4r5t6y7",
		  "delivery_id": "7f3c2a9e-0001", "runs": [`+edit(exRun, func(m map[string]any) {
			webhookRun(m)
			m["status"], m["dispatched_at"] = "running", "2026-03-08T07:00:01Z"
		})+`]}`), false},
		{"webhook result filtered", "WebhookResult", `{"result": {"matched": 0, "event_id": "evt_01kk63xsc4k7m1q2w3e4r5t6y7", "delivery_id": "d"}}`, true},
		{"webhook result without delivery id", "WebhookResult", `{"result": {"matched": 0, "event_id": "evt_01kk63xsc4k7m1q2w3e4r5t6y7"}}`, false},
		{"event result skipped", "EventResult", `{"result": {"matched": 2, "event_id": "evt_01kk63xsc4k7m1q2w3e4r5t6y7",
		  "skipped": [{"trigger_id": "trg_01kk63xsc4k7m1q2w3e4r5t6y7", "reason": "fire_limit", "retry_at": "2026-03-08T08:00:00Z"}]}}`, true},
		{"event result empty runs", "EventResult", `{"result": {"matched": 0, "event_id": "evt_01kk63xsc4k7m1q2w3e4r5t6y7", "runs": []}}`, false},

		{"delivery", "DeliveryList", `{"deliveries": [{"id": "dlv_01kk63xsc4k7m1q2w3e4r5t6y7", "trigger_id": "trg_01kk63xsc4k7m1q2w3e4r5t6y7",
		  "received_at": "2026-03-08T07:00:00Z", "source": "webhook", "delivery_id": "d1", "signature_scheme": "agh", "status_code": 401,
		  "outcome": "rejected", "reason": "signature_invalid", "body_bytes": 66, "remote_addr": "127.0.0.1:5555"}], "next_cursor": "abc"}`, true},
		{"delivery rejected without reason", "Delivery", `{"id": "dlv_01kk63xsc4k7m1q2w3e4r5t6y7", "trigger_id": "trg_01kk63xsc4k7m1q2w3e4r5t6y7",
		  "received_at": "2026-03-08T07:00:00Z", "source": "webhook", "outcome": "rejected"}`, false},

		{"task", "TaskResponse", wrap("task", exTask), true},
		{"task list", "TaskList", `{"tasks": [` + exTask + `]}`, true},
		{"completed task must be done", "CompletedTaskResponse", wrap("task", exTask), false},
		{"completed task", "CompletedTaskResponse", wrap("task", edit(exTask, func(m map[string]any) {
			m["status"], m["result"], m["closed_at"] = "done", "ok", "2026-03-08T08:00:00Z"
		})), true},
		{"closed task without closed_at", "Task", edit(exTask, func(m map[string]any) { m["status"] = "canceled" }), false},

		{"workspace", "WorkspaceList", `{"workspaces": [{"id": "web", "path": "/srv/web", "source": "config",
		  "created_at": "2026-03-08T07:00:00Z", "updated_at": "2026-03-08T07:00:00Z"}]}`, true},
		{"workspace relative path", "Workspace", `{"id": "web", "path": "srv/web", "source": "config",
		  "created_at": "2026-03-08T07:00:00Z", "updated_at": "2026-03-08T07:00:00Z"}`, false},

		{"agents", "AgentList", `{"agents": [{"name": "claude", "driver": "acp", "preset": "claude-code",
		  "command": ["npx", "-y", "@zed-industries/claude-code-acp"], "env_keys": ["ANTHROPIC_API_KEY"], "permissions": "allow",
		  "timeout": "45m", "max_output_bytes": 1048576},
		  {"name": "lint", "driver": "exec", "command": ["ai-lint", "{prompt}"], "timeout": "5m", "max_output_bytes": 262144}]}`, true},
		{"agent env values", "Agent", `{"name": "lint", "driver": "exec", "command": ["x"], "env": {"A": "b"}, "timeout": "5m",
		  "max_output_bytes": 262144}`, false},
		{"agent acp without permissions", "Agent", `{"name": "c", "driver": "acp", "command": ["x"], "timeout": "5m", "max_output_bytes": 262144}`, false},
		{"agents paged", "AgentList", `{"agents": [], "next_cursor": "x"}`, false},
	}
	for _, c := range cases {
		err := visit(schemaOf(t, doc, c.schema), c.doc)
		if c.valid && err != nil {
			t.Errorf("%s: want valid against %s, got %v", c.name, c.schema, err)
		}
		if !c.valid {
			if err == nil {
				t.Errorf("%s: want invalid against %s, got valid", c.name, c.schema)
			} else {
				t.Logf("%s: rejected as expected: %.300s", c.name, strings.ReplaceAll(err.Error(), "\n", " "))
			}
		}
	}
}

// TestOpenAPIResponseValidation runs whole responses (status, headers, body) through
// openapi3filter the way the black-box test transport does.
func TestOpenAPIResponseValidation(t *testing.T) {
	doc := loadOpenAPI(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	check := func(method, path string, status int, header http.Header, body string) error {
		req := httptest.NewRequest(method, "http://localhost"+path, nil)
		route, params, err := router.FindRoute(req)
		if err != nil {
			return err
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{ExcludeRequestBody: true, ExcludeRequestQueryParams: true,
				AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		out.SetBodyBytes([]byte(body))
		return openapi3filter.ValidateResponse(context.Background(), out)
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("X-Request-ID", "01kk6a2b3c4d5e6f7g8h9j0k1m")
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	noRID := hdr()
	noRID.Del("X-Request-ID")
	errBody := func(code, msg string) string {
		return `{"error": "` + msg + `", "code": "` + code + `", "request_id": "01kk6a2b3c4d5e6f7g8h9j0k1m"}`
	}
	const runID = "run_01kk63xsc4k7m1q2w3e4r5t6y7"
	cases := []struct {
		name         string
		method, path string
		status       int
		header       http.Header
		body         string
		valid        bool
	}{
		{"create job", "POST", "/api/automation/jobs", 201, hdr("Location", "/api/automation/jobs/job_01kc0m9x6q8v3r2t5y7w9z1a4b"), wrap("job", exJob), true},
		{"create job without Location", "POST", "/api/automation/jobs", 201, hdr(), wrap("job", exJob), false},
		{"get job without X-Request-ID", "GET", "/api/automation/jobs/job_01kc0m9x6q8v3r2t5y7w9z1a4b", 200, noRID, wrap("job", exJob), false},
		{"get job", "GET", "/api/automation/jobs/job_01kc0m9x6q8v3r2t5y7w9z1a4b", 200, hdr(), wrap("job", exJob), true},
		{"list jobs", "GET", "/api/automation/jobs", 200, hdr(), `{"jobs": [` + exJob + `], "next_cursor": "c"}`, true},
		{"list jobs wrapper extra", "GET", "/api/automation/jobs", 200, hdr(), `{"jobs": [], "total": 1}`, false},
		{"delete job", "DELETE", "/api/automation/jobs/job_x", 204, hdr(), ``, true},
		{"undocumented status", "GET", "/api/automation/jobs", 404, hdr(), errBody("not_found", "not found"), false},
		{"not found", "GET", "/api/automation/runs/run_x", 404, hdr(), errBody("not_found", "automation: run not found"), true},
		{"unavailable", "GET", "/api/status", 503, hdr(), errBody("unavailable", "shutting down"), true},
		{"unauthorized", "GET", "/api/agents", 401, hdr("WWW-Authenticate", "Bearer"), errBody("unauthorized", "missing or invalid API token"), true},
		{"overlap", "POST", "/api/automation/jobs/job_x/trigger", 409, hdr(),
			`{"error": "x", "code": "overlap", "request_id": "r", "run_ids": ["` + runID + `"]}`, true},
		{"fire limited", "POST", "/api/webhooks/global/issues--wbh_1", 409, hdr("Retry-After", "30"),
			`{"error": "x", "code": "fire_limited", "request_id": "r", "retry_at": "2026-03-08T08:00:00Z"}`, true},
		{"replay on trigger", "POST", "/api/automation/jobs/job_x/trigger", 409, hdr(),
			`{"error": "automation: webhook delivery already processed", "code": "replay", "request_id": "r", "run_ids": ["` + runID + `"]}`, false},
		{"replay on webhook", "POST", "/api/webhooks/workspaces/web/issues--wbh_1", 409, hdr(),
			`{"error": "automation: webhook delivery already processed", "code": "replay", "request_id": "r", "run_ids": ["` + runID + `"]}`, true},
		{"webhook 403", "POST", "/api/webhooks/workspaces/web/issues--wbh_1", 403, hdr(), errBody("forbidden", "cross-origin request rejected"), false},
		{"metrics", "GET", "/metrics", 200, hdr("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), "agh_build_info 1\n", true},
		{"openapi", "GET", "/api/openapi.json", 200, hdr(), string(OpenAPIDocument()), true},
		{"status", "GET", "/api/status", 200, hdr(), exStatus, true},
	}
	for _, c := range cases {
		err := check(c.method, c.path, c.status, c.header, c.body)
		if c.valid && err != nil {
			t.Errorf("%s: want valid, got %v", c.name, err)
		}
		if !c.valid {
			if err == nil {
				t.Errorf("%s: want invalid, got valid", c.name)
			} else {
				t.Logf("%s: rejected as expected: %.300s", c.name, strings.ReplaceAll(err.Error(), "\n", " "))
			}
		}
	}
}

// TestOpenAPIServed checks that the server hands out the embedded document unchanged.
func TestOpenAPIServed(t *testing.T) {
	s := &Server{OpenAPI: OpenAPIDocument()}
	rec := httptest.NewRecorder()
	s.getOpenAPI(rec, httptest.NewRequest("GET", "/api/openapi.json", nil))
	b, _ := io.ReadAll(rec.Result().Body)
	if !bytes.Equal(b, OpenAPIDocument()) {
		t.Error("served document differs from the embedded one")
	}
	if ct := rec.Result().Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestOpenAPIWireShapes encodes the Go wire structs the server uses and checks them against
// the schemas, so that wire.go and openapi.json cannot drift apart.
func TestOpenAPIWireShapes(t *testing.T) {
	doc := loadOpenAPI(t)
	now := time.Date(2026, 3, 8, 7, 0, 0, 12_000_000, time.UTC)
	slot := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)
	jobID := automation.NewID(automation.PrefixJob, now)
	job := &automation.Job{ID: jobID, Name: "nightly", Scope: automation.ScopeWorkspace, WorkspaceID: "web",
		AgentName: "claude", Prompt: "p", Schedule: automation.Schedule{Mode: automation.ModeCron, Expr: "0 * * * *"},
		Enabled: true, Retry: automation.Retry{Strategy: automation.RetryNone},
		FireLimit: automation.FireLimit{Max: 12, Window: "1h"}, OverlapPolicy: automation.OverlapAllow,
		CatchUpPolicy: automation.CatchUpSkipMissed, MisfireGraceSeconds: 60, CatchUpWindow: "24h",
		Source: automation.SourceDynamic, CreatedAt: now, UpdatedAt: now}
	cur := &automation.Cursor{JobID: jobID, AccountedUntil: now, NextRunAt: slot.Add(time.Hour), UpdatedAt: now,
		Timezone: "UTC", LastRunAt: now, LastScheduledAt: slot, LastFireID: automation.FireID(jobID, slot)}
	taskJob := job.Clone()
	taskJob.AgentName, taskJob.Prompt, taskJob.Enabled = "", "", false
	taskJob.Task = &automation.TaskConfig{Title: "Review", Owner: &automation.TaskOwner{Kind: "human"}}
	every := job.Clone()
	every.Schedule = automation.Schedule{Mode: automation.ModeEvery, Interval: "90s"}
	every.Retry = automation.Retry{Strategy: automation.RetryBackoff, MaxRetries: 2, BaseDelay: "1s", MaxDelay: "1m"}
	everyCur := *cur
	everyCur.AnchorAt = now

	run := automation.Run{ID: automation.NewID(automation.PrefixRun, now), JobID: jobID, Status: automation.RunScheduled,
		Attempt: 1, FireID: automation.FireID(jobID, slot), ScheduledAt: slot, StartedAt: now,
		Origin: automation.OriginSchedule, AgentName: "claude", Scope: automation.ScopeWorkspace, WorkspaceID: "web", Depth: 1}
	running := run
	running.Status, running.DispatchedAt, running.SessionID, running.NodeID = automation.RunRunning, now, "ses_1", "node-a"
	failed := running
	failed.Status, failed.EndedAt, failed.Error, failed.ErrorCode, failed.StopReason =
		automation.RunFailed, now.Add(time.Second), "timeout", automation.CodeTimeout, "timeout"
	retry := run
	retry.ID, retry.Attempt, retry.RetryOf = automation.NewID(automation.PrefixRun, now.Add(time.Second)), 2, failed.ID
	delegated := run
	delegated.Status, delegated.Origin, delegated.EndedAt = automation.RunDelegated, automation.OriginManual, now
	delegated.TaskID, delegated.TaskRunID = automation.NewID(automation.PrefixTask, now), automation.NewID(automation.PrefixTaskRun, now)
	delegated.DeliveryError, delegated.DeliveryErrorAt = `channel "ops": HTTP 503`, now
	canceled := run
	canceled.Status, canceled.EndedAt, canceled.Error, canceled.ErrorCode =
		automation.RunCanceled, now, "canceled by request", automation.CodeCanceled
	event := run
	event.JobID, event.TriggerID, event.Origin, event.EventID, event.Depth, event.Scope, event.WorkspaceID =
		"", automation.NewID(automation.PrefixTrigger, now), automation.OriginEvent, automation.NewID(automation.PrefixEvent, now), 2, automation.ScopeGlobal, ""

	fired := automation.LedgerEntry{JobID: jobID, SlotAt: slot, LastSlotAt: slot, Count: 1, Outcome: automation.OutcomeFired,
		RunID: run.ID, FireID: run.FireID, Local: "2026-03-08T03:00:00-04:00", DST: "gap_shifted", RecordedAt: now}
	skipped := automation.LedgerEntry{JobID: jobID, SlotAt: slot, LastSlotAt: slot.Add(2 * time.Hour), Count: 3,
		Outcome: automation.OutcomeSkipped, Reason: automation.ReasonMisfire, Local: "2026-03-08T07:00:00Z", RecordedAt: now}

	status := wire.Status{Version: "0.1.0", NodeID: "node-a", Store: "sqlite", StartedAt: wire.Time(now),
		Automation: wire.AutomationStatus{Enabled: true, SchedulerRunning: true, Jobs: wire.Counts{Total: 1, Enabled: 1},
			Runs: map[string]int{"scheduled": 0, "running": 0}, MaxConcurrentRuns: 5, NextFire: wire.Time(slot)}}

	cases := []struct {
		name, schema string
		v            any
	}{
		{"registered job", "Job", wire.FromJob(job, cur, true)},
		{"automation disabled", "Job", wire.FromJob(job, cur, false)},
		{"task job", "Job", wire.FromJob(taskJob, cur, true)},
		{"every job", "Job", wire.FromJob(every, &everyCur, true)},
		{"scheduled run", "Run", wire.FromRun(&run)},
		{"running run", "Run", wire.FromRun(&running)},
		{"failed run", "Run", wire.FromRun(&failed)},
		{"retry run", "Run", wire.FromRun(&retry)},
		{"delegated run", "ManualRunResponse", map[string]any{"run": wire.FromRun(&delegated)}},
		{"canceled run", "CanceledRunResponse", map[string]any{"run": wire.FromRun(&canceled)}},
		{"event run", "Run", wire.FromRun(&event)},
		{"fired slot", "LedgerEntry", wire.FromLedger(&fired)},
		{"skipped slots", "LedgerEntry", wire.FromLedger(&skipped)},
		{"preview", "Preview", wire.Preview{JobID: jobID, Timezone: "UTC", Enabled: true, Fires: []wire.PreviewItem{
			{At: wire.Time(slot), Local: "2026-03-08T03:00:00-04:00", NominalLocal: "2026-03-08T02:30:00", DST: "gap_shifted"}}}},
		{"workspace", "Workspace", wire.Workspace{ID: "web", Path: "/srv/web", Source: "config", CreatedAt: wire.Time(now), UpdatedAt: wire.Time(now)}},
		{"status", "Status", status},
		{"error", "ErrorNotFound", wire.Error{Error: "automation: job not found", Code: "not_found", RequestID: automation.NewULID(now)}},
		{"overlap error", "ErrorOverlap", wire.Error{Error: "x", Code: "overlap", RequestID: "r", RunIDs: []string{run.ID}}},
		{"fire limit error", "ErrorFireLimited", wire.Error{Error: "x", Code: "fire_limited", RequestID: "r", RetryAt: wire.Time(now)}},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if err := visit(schemaOf(t, doc, c.schema), string(b)); err != nil {
			t.Errorf("%s: %s does not match %s: %v", c.name, b, c.schema, err)
		}
	}
}
