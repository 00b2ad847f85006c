package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBadInputCorpus sends malformed bodies, wrong types, deep nesting, huge strings and
// invalid UTF-8 to every endpoint that takes input. Every answer must be a documented 4xx
// (the harness validates each response against openapi.json), nothing may be written, and the
// daemon must keep serving.
func TestBadInputCorpus(t *testing.T) {
	cfg, _ := recorderConfig(t)
	d := start(t, cfg)
	c := d.Client
	job := createJob(t, c, jobFor("rec", "keep"))
	trg := createWebhookTrigger(t, c, "keep", "")
	run := trigger(t, c, job["id"].(string))
	waitRun(t, c, run["id"].(string), 10*time.Second, terminal)

	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	deepObj := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	huge := `{"name":"` + strings.Repeat("n", 900_000) + `"}`
	corpus := []string{
		`{`, `{"name":}`, `nul`, `[]`, `"str"`, `42`, `true`, `null`, `{"name":"a"} {"x":1}`,
		deep, deepObj, huge,
		"{\"name\":\"\xff\xfe\"}", "\xef\xbb\xbf{}",
		`{"name":["a"]}`, `{"name":{"x":1}}`, `{"name":1e400}`, `{"enabled":"true"}`, `{"enabled":1}`,
		`{"misfire_grace_seconds":9999999999999999999}`, `{"schedule":{"mode":5}}`, `{"retry":[]}`,
		`{"fire_limit":{"max":"1","window":"1h"}}`, `{"filter":{"data.a":1}}`, `{"filter":"x"}`,
		`{"data":"x","kind":"ext.a","scope":"global"}`, `{"path":5}`, `{"result":5}`, `{"id":null}`,
		`{"__proto__":{"admin":true}}`, `{"name":"a","name":"b","scope":"team"}`,
	}
	targets := []struct{ method, path string }{
		{"POST", "/api/automation/jobs"},
		{"PATCH", "/api/automation/jobs/" + job["id"].(string)},
		{"POST", "/api/automation/jobs/" + job["id"].(string) + "/trigger"},
		{"POST", "/api/automation/triggers"},
		{"PATCH", "/api/automation/triggers/" + trg["id"].(string)},
		{"POST", "/api/automation/runs/" + run["id"].(string) + "/cancel"},
		{"POST", "/api/events"},
		{"POST", "/api/workspaces"},
	}
	for _, tg := range targets {
		for _, body := range corpus {
			code, m, _ := do(t, c, tg.method, tg.path, body)
			if code < 400 || code >= 500 {
				t.Errorf("%s %s %.60q: status %d %v", tg.method, tg.path, body, code, m)
			}
		}
	}
	// Webhooks: malformed, duplicated and oversized headers.
	path := trg["webhook_path"].(string)
	for _, h := range []http.Header{
		{},
		{"X-Agh-Webhook-Timestamp": {"1", "2"}, "X-Agh-Webhook-Signature": {"sha256=" + strings.Repeat("0", 64)}, "X-Agh-Webhook-Delivery-Id": {"d"}},
		{"X-Agh-Webhook-Timestamp": {"-5"}, "X-Agh-Webhook-Signature": {"sha256=zz"}, "X-Agh-Webhook-Delivery-Id": {"d"}},
		{"X-Agh-Webhook-Timestamp": {"99999999999999"}, "X-Agh-Webhook-Signature": {"md5=00"}, "X-Agh-Webhook-Delivery-Id": {strings.Repeat("x", 300)}},
		{"X-Agh-Webhook-Timestamp": {"1767225600"}, "X-Agh-Webhook-Signature": {"sha256=" + strings.Repeat("0", 64), "sha256=" + strings.Repeat("1", 64)}, "X-Agh-Webhook-Delivery-Id": {"d"}},
	} {
		resp, err := c.Raw(context.Background(), "POST", path, []byte(`{"a":1}`), h)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 400 && resp.Status != 401 {
			t.Errorf("webhook headers %v: %d %s", h, resp.Status, resp.Body)
		}
	}
	// A header block over 64 KiB gets Go's plain 431.
	req, _ := http.NewRequest("GET", d.URL()+"/api/status", nil)
	req.Header.Set("X-Big", strings.Repeat("b", 80<<10))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 431 {
		t.Errorf("oversized headers: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	// Nothing was written and the daemon still serves.
	if n := len(list(expect(t, c, "GET", "/api/automation/jobs", "", 200, "", ""), "jobs")); n != 1 {
		t.Errorf("%d jobs after the corpus", n)
	}
	if n := len(list(expect(t, c, "GET", "/api/automation/triggers", "", 200, "", ""), "triggers")); n != 1 {
		t.Errorf("%d triggers after the corpus", n)
	}
	if n := len(list(expect(t, c, "GET", "/api/automation/runs", "", 200, "", ""), "runs")); n != 1 {
		t.Errorf("%d runs after the corpus", n)
	}
	if n := len(list(expect(t, c, "GET", "/api/workspaces", "", 200, "", ""), "workspaces")); n != 0 {
		t.Errorf("%d workspaces after the corpus", n)
	}
	j := obj(expect(t, c, "GET", "/api/automation/jobs/"+job["id"].(string), "", 200, "", ""), "job")
	if j["name"] != "keep" || j["prompt"] != "do it" {
		t.Errorf("job changed: %v", j)
	}
	// Query parameters too.
	for _, q := range []string{"limit=-1", "limit=1e3", "status=%ff", "since=%00", "cursor=%ff%fe", "scope=%ff", "count=0"} {
		for _, p := range []string{"/api/automation/jobs", "/api/automation/runs", "/api/automation/jobs/" + job["id"].(string) + "/preview"} {
			if code, m, _ := do(t, c, "GET", p+"?"+q, ""); code != 200 && code != 400 {
				t.Errorf("GET %s?%s: %d %v", p, q, code, m)
			}
		}
	}
	expect(t, c, "GET", "/api/status", "", 200, "", "")
}
