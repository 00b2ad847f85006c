package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

type request struct {
	Method, Path, Query string
	Body                any // decoded JSON, nil for an empty body
}

// fakeAPI records requests and answers {} (204 for DELETE); GET /api/workspaces lists one
// workspace "web" at wsDir.
func fakeAPI(t *testing.T, wsDir string) (string, func() []request) {
	var mu sync.Mutex
	var reqs []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rq := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &rq.Body); err != nil {
				t.Errorf("%s %s: body is not JSON: %s", r.Method, r.URL.Path, b)
			}
		}
		mu.Lock()
		reqs = append(reqs, rq)
		mu.Unlock()
		switch {
		case r.Method == "DELETE":
			w.WriteHeader(204)
		case r.URL.Path == "/api/workspaces":
			json.NewEncoder(w).Encode(map[string]any{"workspaces": []any{map[string]any{"id": "web", "path": wsDir}}})
		default:
			io.WriteString(w, "{}")
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []request {
		mu.Lock()
		defer mu.Unlock()
		out := reqs
		reqs = nil
		return out
	}
}

func jsonValue(t *testing.T, s string) any {
	t.Helper()
	if s == "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

// TestRequests checks how commands map to API requests (the e2e tests cover them against the
// real daemon; this also covers endpoints the server may not implement yet).
func TestRequests(t *testing.T) {
	wsDir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, requests := fakeAPI(t, wsDir)
	wsList := request{"GET", "/api/workspaces", "limit=500", nil}
	for _, c := range []struct {
		args  string
		stdin string
		want  []request
		body  string // JSON of the last request's body
	}{
		{args: "automation triggers create --name gh --scope global --agent ok --prompt p --event webhook --endpoint-slug gh " +
			"--webhook-secret-file " + secret + " --filter a=1,b=2 --filter data.c=x=y --signature-scheme github --webhook-id wbh_x " +
			"--overlap skip --fire-limit 5/1m --retry none --disabled",
			want: []request{{"POST", "/api/automation/triggers", "", nil}},
			body: `{"name":"gh","scope":"global","agent_name":"ok","prompt":"p","event":"webhook","endpoint_slug":"gh",
				"webhook_secret_value":"from-file","filter":{"a":"1","b":"2","data.c":"x=y"},"signature_scheme":"github",
				"webhook_id":"wbh_x","overlap_policy":"skip","fire_limit":{"max":5,"window":"1m"},
				"retry":{"strategy":"none","max_retries":0,"base_delay":""},"enabled":false}`},
		{args: "automation triggers create --name t --scope workspace --workspace " + wsDir + " --agent ok --prompt p --event ext.x --webhook-secret-file -",
			stdin: "s\r\n",
			want:  []request{wsList, {"POST", "/api/automation/triggers", "", nil}},
			body:  `{"name":"t","scope":"workspace","workspace_id":"web","agent_name":"ok","prompt":"p","event":"ext.x","webhook_secret_value":"s"}`},
		{args: "automation triggers update trg_1 --webhook-secret new --webhook-secret-previous-ttl 1h",
			want: []request{{"PATCH", "/api/automation/triggers/trg_1", "", nil}},
			body: `{"webhook_secret_value":"new","webhook_secret_previous_ttl":"1h"}`},
		{args: "automation triggers update trg_1 --filter=",
			want: []request{{"PATCH", "/api/automation/triggers/trg_1", "", nil}}, body: `{"filter":{}}`},
		{args: "automation triggers enable trg_1", want: []request{{"PATCH", "/api/automation/triggers/trg_1", "", nil}}, body: `{"enabled":true}`},
		{args: "automation triggers disable trg_1", want: []request{{"PATCH", "/api/automation/triggers/trg_1", "", nil}}, body: `{"enabled":false}`},
		{args: "automation triggers delete trg_1", want: []request{{"DELETE", "/api/automation/triggers/trg_1", "", nil}}},
		{args: "automation triggers get trg_1", want: []request{{"GET", "/api/automation/triggers/trg_1", "", nil}}},
		{args: "automation triggers deliveries trg_1 --outcome rejected --last 5",
			want: []request{{"GET", "/api/automation/triggers/trg_1/deliveries", "limit=5&outcome=rejected", nil}}},
		{args: "automation triggers history trg_1 --status failed --since 2026-01-01T00:00:00Z",
			want: []request{{"GET", "/api/automation/triggers/trg_1/runs", "since=2026-01-01T00%3A00%3A00Z&status=failed", nil}}},
		{args: "automation triggers list --event ext.x --workspace " + wsDir + " --source dynamic",
			want: []request{wsList, {"GET", "/api/automation/triggers", "event=ext.x&source=dynamic&workspace_id=web", nil}}},
		{args: "events publish ext.deploy --scope workspace --workspace web --data {\"env\":\"prod\"}",
			want: []request{{"POST", "/api/events", "", nil}},
			body: `{"kind":"ext.deploy","scope":"workspace","workspace_id":"web","data":{"env":"prod"}}`},
		{args: "events publish ext.x --scope global", want: []request{{"POST", "/api/events", "", nil}}, body: `{"kind":"ext.x","scope":"global"}`},
		{args: "tasks list --status open --owner-kind human --job job_1 --workspace web",
			want: []request{{"GET", "/api/tasks", "job_id=job_1&owner_kind=human&status=open&workspace_id=web", nil}}},
		{args: "tasks get task_1", want: []request{{"GET", "/api/tasks/task_1", "", nil}}},
		{args: "tasks complete task_1 --result ok", want: []request{{"POST", "/api/tasks/task_1/complete", "", nil}}, body: `{"result":"ok"}`},
		{args: "tasks complete task_1", want: []request{{"POST", "/api/tasks/task_1/complete", "", nil}}},
		{args: "tasks cancel task_1", want: []request{{"POST", "/api/tasks/task_1/cancel", "", nil}}},
		{args: "automation jobs create --name j --scope global --schedule @daily --task-title T --task-owner agent:claude --task-channel ops",
			want: []request{{"POST", "/api/automation/jobs", "", nil}},
			body: `{"name":"j","scope":"global","schedule":{"mode":"cron","expr":"@daily"},
				"task":{"title":"T","owner":{"kind":"agent","ref":"claude"},"network_channel":"ops"}}`},
		{args: "automation jobs update job_1 --no-task --misfire-grace-seconds 0 --catch-up run_all --catch-up-window 2h",
			want: []request{{"PATCH", "/api/automation/jobs/job_1", "", nil}},
			body: `{"task":null,"misfire_grace_seconds":0,"catch_up_policy":"run_all","catch_up_window":"2h"}`},
		{args: "automation jobs preview job_1 --count 3", want: []request{{"GET", "/api/automation/jobs/job_1/preview", "count=3", nil}}},
		{args: "automation jobs trigger job_1", want: []request{{"POST", "/api/automation/jobs/job_1/trigger", "", nil}}},
		{args: "automation runs cancel run_1", want: []request{{"POST", "/api/automation/runs/run_1/cancel", "", nil}}},
		{args: "workspaces add " + wsDir + " --id web", want: []request{{"POST", "/api/workspaces", "", nil}},
			body: `{"path":"` + wsDir + `","id":"web"}`},
		{args: "workspaces remove " + wsDir, want: []request{wsList, {"DELETE", "/api/workspaces/web", "", nil}}},
	} {
		var out, errb bytes.Buffer
		args := append(strings.Fields(c.args), "--addr", base)
		if code := Main(args, strings.NewReader(c.stdin), &out, &errb); code != 0 {
			t.Errorf("agh %s: exit %d: %s", c.args, code, errb.String())
			continue
		}
		want := c.want
		if c.body != "" {
			want[len(want)-1].Body = jsonValue(t, c.body)
		}
		if got := requests(); !reflect.DeepEqual(got, want) {
			t.Errorf("agh %s:\n sent %s\n want %s", c.args, show(got), show(want))
		}
	}
}

func show(rs []request) string {
	b, _ := json.Marshal(rs)
	return string(b)
}

func TestSinceDuration(t *testing.T) {
	base, requests := fakeAPI(t, "/")
	var out, errb bytes.Buffer
	if code := Main([]string{"automation", "runs", "--since", "2h", "--until", "30m", "--addr", base}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	r := requests()[0]
	q, _ := url.ParseQuery(r.Query)
	for k, ago := range map[string]time.Duration{"since": 2 * time.Hour, "until": 30 * time.Minute} {
		tm, err := time.Parse(time.RFC3339, q.Get(k))
		if err != nil || !strings.HasSuffix(q.Get(k), "Z") || time.Since(tm)-ago > 5*time.Second || time.Since(tm) < ago {
			t.Errorf("%s = %q, want now-%s in RFC 3339 UTC", k, q.Get(k), ago)
		}
	}
}
