package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/testutil"
	"github.com/agh-dev/agh/internal/webhook"
)

const issueBody = `{"action":"opened","issue":{"number":42,"title":"Crash on start"}}`

// recorderConfig is an exec agent that appends every prompt it receives to a file.
func recorderConfig(t *testing.T) (string, string) {
	dir := t.TempDir()
	out := filepath.Join(dir, "prompts")
	return fmt.Sprintf("\n[agents.rec]\ndriver = \"exec\"\ncommand = [\"sh\", \"-c\", \"cat >> %s; echo >> %s\"]\n", out, out), out
}

func send(t *testing.T, c *client.Client, path, scheme, secret, body, deliveryID string, ts time.Time, extra http.Header) (int, map[string]any) {
	t.Helper()
	h := webhook.Sign(scheme, []byte(secret), []byte(body), ts, deliveryID)
	for k, v := range extra {
		h[k] = v
	}
	resp, err := c.Raw(context.Background(), "POST", path, []byte(body), h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = jsonUnmarshal(resp.Body, &m)
	return resp.Status, m
}

func createWebhookTrigger(t *testing.T, c *client.Client, name, extra string) map[string]any {
	t.Helper()
	body := `{"name":"` + name + `","scope":"global","agent_name":"rec","event":"webhook","endpoint_slug":"issues",` +
		`"webhook_secret_value":"example-webhook-secret","fire_limit":{"max":100,"window":"1h"},` +
		`"prompt":"Issue #{{ .Data.issue.number }} was {{ .Data.action }} ({{ .Data.delivery_id }})."` + extra + `}`
	return obj(expect(t, c, "POST", "/api/automation/triggers", body, 201, "", ""), "trigger")
}

func TestWebhookTriggerEndToEnd(t *testing.T) {
	cfg, prompts := recorderConfig(t)
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg})
	c := d.Client
	tr := createWebhookTrigger(t, c, "gh", "")
	if !strings.HasPrefix(tr["webhook_id"].(string), "wbh_") || tr["webhook_secret_present"] != true ||
		!strings.HasPrefix(tr["webhook_secret_hash"].(string), "fp:") || tr["signature_scheme"] != "agh" {
		t.Fatalf("trigger %v", tr)
	}
	if _, ok := tr["webhook_secret_value"]; ok {
		t.Fatal("secret echoed")
	}
	path := tr["webhook_path"].(string)
	if path != "/api/webhooks/global/issues--"+tr["webhook_id"].(string) {
		t.Fatalf("path %s", path)
	}
	now := time.Now()
	code, m := send(t, c, path, "agh", "example-webhook-secret", issueBody, "dlv-1", now, nil)
	if code != 200 {
		t.Fatalf("delivery %d %v", code, m)
	}
	res := obj(m, "result")
	runs := list(res, "runs")
	if res["matched"] != float64(1) || len(runs) != 1 || res["delivery_id"] != "dlv-1" {
		t.Fatalf("result %v", res)
	}
	run := runs[0].(map[string]any)
	if run["status"] != "scheduled" || run["origin"] != "webhook" || run["depth"] != float64(1) || run["delivery_id"] != "dlv-1" {
		t.Fatalf("run %v", run)
	}
	waitRun(t, c, run["id"].(string), 10*time.Second, status("completed"))
	b, _ := os.ReadFile(prompts)
	if strings.TrimSpace(string(b)) != "Issue #42 was opened (dlv-1)." {
		t.Fatalf("rendered prompt %q", b)
	}
	// Replay: same delivery id, new signature → 409 with the original runs, also after restart.
	code, m = send(t, c, path, "agh", "example-webhook-secret", issueBody, "dlv-1", now, nil)
	if code != 409 || m["code"] != "replay" || fmt.Sprint(m["run_ids"]) != "["+run["id"].(string)+"]" {
		t.Fatalf("replay %d %v", code, m)
	}
	d.Restart()
	c = d.Client
	if code, m = send(t, c, path, "agh", "example-webhook-secret", issueBody, "dlv-1", time.Now(), nil); code != 409 || m["code"] != "replay" {
		t.Fatalf("replay after restart %d %v", code, m)
	}
	// Rejections.
	check := func(code int, m map[string]any, wantCode int, wantErr string) {
		t.Helper()
		if code != wantCode || m["error"] != wantErr {
			t.Fatalf("got %d %v, want %d %q", code, m, wantCode, wantErr)
		}
	}
	code, m = send(t, c, path, "agh", "wrong-secret", issueBody, "dlv-2", time.Now(), nil)
	check(code, m, 401, "automation: webhook signature invalid")
	code, m = send(t, c, path, "agh", "example-webhook-secret", issueBody, "dlv-3", time.Now().Add(-301*time.Second), nil)
	check(code, m, 401, "automation: webhook timestamp outside freshness window")
	code, m = send(t, c, path, "agh", "example-webhook-secret", issueBody, "dlv-4", time.Now(), http.Header{"X-Agh-Webhook-Delivery-Id": nil})
	check(code, m, 400, "automation validation error: webhook delivery id header is required")
	big := `{"x":"` + strings.Repeat("a", 1<<20) + `"}`
	code, m = send(t, c, path, "agh", "example-webhook-secret", big, "dlv-5", time.Now(), nil)
	check(code, m, 413, "request body too large")
	code, m = send(t, c, "/api/webhooks/global/issues--wbh_unknown", "agh", "x", "{}", "d", time.Now(), nil)
	check(code, m, 404, "automation: webhook trigger not registered")
	code, m = send(t, c, "/api/webhooks/global/other--"+tr["webhook_id"].(string), "agh", "example-webhook-secret", "{}", "d6", time.Now(), nil)
	check(code, m, 404, "automation: webhook trigger not registered")
	code, m = send(t, c, "/api/webhooks/global/nodashes", "agh", "x", "{}", "d", time.Now(), nil)
	check(code, m, 400, "automation validation error: invalid webhook endpoint: expected <slug>--<webhook_id>")
	// Delivery log records every attempt with its reason, newest first.
	ds := list(expect(t, c, "GET", "/api/automation/triggers/"+tr["id"].(string)+"/deliveries", "", 200, "", ""), "deliveries")
	var reasons []string
	for _, x := range ds {
		dd := x.(map[string]any)
		reasons = append(reasons, fmt.Sprintf("%v/%v", dd["outcome"], dd["reason"]))
	}
	want := "rejected/endpoint_mismatch rejected/payload_too_large rejected/missing_header rejected/timestamp_out_of_window rejected/signature_invalid rejected/replay rejected/replay accepted/<nil>"
	if strings.Join(reasons, " ") != want {
		t.Fatalf("delivery log\n got  %v\n want %v", strings.Join(reasons, " "), want)
	}
	if n := len(list(expect(t, c, "GET", "/api/automation/triggers/"+tr["id"].(string)+"/deliveries?outcome=accepted", "", 200, "", ""), "deliveries")); n != 1 {
		t.Fatalf("outcome filter: %d", n)
	}
	// Filter mismatch: matched 0, no run.
	expect(t, c, "PATCH", "/api/automation/triggers/"+tr["id"].(string), `{"filter":{"data.action":"closed"}}`, 200, "", "")
	code, m = send(t, c, path, "agh", "example-webhook-secret", issueBody, "dlv-7", time.Now(), nil)
	if code != 200 || obj(m, "result")["matched"] != float64(0) {
		t.Fatalf("filtered %d %v", code, m)
	}
	// Disabled: 404.
	expect(t, c, "PATCH", "/api/automation/triggers/"+tr["id"].(string), `{"enabled":false}`, 200, "", "")
	code, m = send(t, c, path, "agh", "example-webhook-secret", issueBody, "dlv-8", time.Now(), nil)
	check(code, m, 404, "automation: webhook trigger not registered")
	// Secrets never appear in logs or responses.
	if strings.Contains(d.Logs(), "example-webhook-secret") {
		t.Fatal("secret found in the daemon log")
	}
}

// TestWebhookFilterOnRawBody checks filters that the webhook path evaluates on the raw body
// (webhook.Lookup) instead of the normalized data: nested numbers, metadata keys written over
// body keys, duplicate keys (the last one counts), escapes in keys, a body that is not an
// object, and a body that is not valid UTF-8 (stored normalized, rendered with U+FFFD).
func TestWebhookFilterOnRawBody(t *testing.T) {
	cfg, prompts := recorderConfig(t)
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg})
	c := d.Client
	tr := createWebhookTrigger(t, c, "raw", `,"filter":{"data.issue.number":"42","data. action ":"opened","data.endpoint_slug":"issues"}`)
	path := tr["webhook_path"].(string)
	cases := []struct {
		body    string
		matched float64
	}{
		{issueBody, 1},
		{`{"action":"opened","issue":{"number":42.0},"endpoint_slug":"other"}`, 1}, // 42.0 is "42"; metadata wins
		{`{"action":"opened","issue":{"number":43}}`, 0},
		{`{"action":"closed","issue":{"number":42},"action":"opened"}`, 1}, // the last duplicate counts
		{`{"action":"opened","issue":{"number":42},"issue":{"number":7}}`, 0},
		{`{"\u0061ction":"opened","issue":{"n\u0075mber":42}}`, 1},
		{`{"action":"opened","issue":{"number":"42"}} trailing`, 0}, // not JSON: only payload and metadata
		{`[{"action":"opened"}]`, 0},
		{"{\"action\":\"opened\",\"issue\":{\"number\":42},\"bad\":\"\xff\"}", 1},
	}
	for i, tc := range cases {
		code, m := send(t, c, path, "agh", "example-webhook-secret", tc.body, fmt.Sprintf("raw-%d", i), time.Now(), nil)
		if code != 200 || obj(m, "result")["matched"] != tc.matched {
			t.Fatalf("body %q: %d %v, want matched %v", tc.body, code, m, tc.matched)
		}
		if tc.matched == 1 {
			waitRun(t, c, list(obj(m, "result"), "runs")[0].(map[string]any)["id"].(string), 10*time.Second, status("completed"))
		}
	}
	b, _ := os.ReadFile(prompts)
	got := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{"Issue #42 was opened (raw-0).", "Issue #42.0 was opened (raw-1).", "Issue #42 was opened (raw-3).",
		"Issue #42 was opened (raw-5).", "Issue #42 was opened (raw-8)."}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("prompts\n got  %q\n want %q", got, want)
	}
}

func TestWebhookSchemesAndRotation(t *testing.T) {
	cfg, _ := recorderConfig(t)
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg, Env: map[string]string{"AGH_SECRET_KEY": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}})
	c := d.Client
	tr := createWebhookTrigger(t, c, "rot", "")
	if tr["webhook_secret_hash"] != "fp:0d347dd3ec5dc390" {
		t.Fatalf("fingerprint %v", tr["webhook_secret_hash"])
	}
	id := tr["id"].(string)
	path := tr["webhook_path"].(string)
	r := obj(expect(t, c, "PATCH", "/api/automation/triggers/"+id, `{"webhook_secret_value":"rotated-webhook-secret","webhook_secret_previous_ttl":"1h"}`, 200, "", ""), "trigger")
	if r["webhook_secret_hash"] != "fp:37e7b8c574918ae7" || r["webhook_secret_previous_hash"] != "fp:0d347dd3ec5dc390" || r["webhook_secret_previous_expires_at"] == nil {
		t.Fatalf("rotated %v", r)
	}
	if code, m := send(t, c, path, "agh", "example-webhook-secret", issueBody, "old-1", time.Now(), nil); code != 200 {
		t.Fatalf("previous secret refused: %d %v", code, m)
	}
	if code, m := send(t, c, path, "agh", "rotated-webhook-secret", issueBody, "new-1", time.Now(), nil); code != 200 {
		t.Fatalf("new secret refused: %d %v", code, m)
	}
	ds := list(expect(t, c, "GET", "/api/automation/triggers/"+id+"/deliveries?outcome=accepted", "", 200, "", ""), "deliveries")
	if len(ds) != 2 || ds[0].(map[string]any)["secret"] != "current" || ds[1].(map[string]any)["secret"] != "previous" {
		t.Fatalf("secret used %v", ds)
	}
	// Rotation without ttl discards the previous secret.
	expect(t, c, "PATCH", "/api/automation/triggers/"+id, `{"webhook_secret_value":"third-secret"}`, 200, "", "")
	if code, _ := send(t, c, path, "agh", "rotated-webhook-secret", issueBody, "new-2", time.Now(), nil); code != 401 {
		t.Fatalf("discarded previous secret accepted: %d", code)
	}
	// GitHub and standard-webhooks schemes.
	gh := obj(expect(t, c, "POST", "/api/automation/triggers", `{"name":"gh","scope":"global","agent_name":"rec","event":"webhook","endpoint_slug":"gh","signature_scheme":"github","webhook_secret_value":"example-webhook-secret","prompt":"{{ .Data.github_event }}"}`, 201, "", ""), "trigger")
	code, m := send(t, c, gh["webhook_path"].(string), "github", "example-webhook-secret", issueBody, "72d3162e", time.Now(), http.Header{"X-Github-Event": {"issues"}})
	if code != 200 || len(list(obj(m, "result"), "runs")) != 1 {
		t.Fatalf("github delivery %d %v", code, m)
	}
	expect(t, c, "POST", "/api/automation/triggers", `{"name":"sw","scope":"global","agent_name":"rec","event":"webhook","endpoint_slug":"sw","signature_scheme":"standard-webhooks","webhook_secret_value":"plain","prompt":"x"}`,
		400, "validation_failed", `automation validation error: trigger.webhook_secret_value must be "whsec_" followed by base64 of 24 to 64 bytes when signature_scheme is "standard-webhooks"`)
	sw := obj(expect(t, c, "POST", "/api/automation/triggers", `{"name":"sw","scope":"global","agent_name":"rec","event":"webhook","endpoint_slug":"sw","signature_scheme":"standard-webhooks","webhook_secret_value":"whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY","prompt":"x"}`, 201, "", ""), "trigger")
	if code, m := send(t, c, sw["webhook_path"].(string), "standard-webhooks", "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY", issueBody, "msg_1", time.Now(), nil); code != 200 {
		t.Fatalf("standard-webhooks delivery %d %v", code, m)
	}
	// Changing event away from webhook clears the endpoint and secrets.
	r = obj(expect(t, c, "PATCH", "/api/automation/triggers/"+sw["id"].(string), `{"event":"ext.deploy"}`, 200, "", ""), "trigger")
	if r["webhook_id"] != nil || r["webhook_secret_present"] != false || r["signature_scheme"] != nil {
		t.Fatalf("cleared trigger %v", r)
	}
	if strings.Contains(d.Logs(), "rotated-webhook-secret") || strings.Contains(d.Logs(), "whsec_AQID") {
		t.Fatal("secret in logs")
	}
}

func TestTriggerValidation(t *testing.T) {
	cfg, _ := recorderConfig(t)
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg})
	c := d.Client
	base := `"name":"t","scope":"global","agent_name":"rec","prompt":"p"`
	cases := []struct{ body, msg string }{
		{`{` + base + `}`, `trigger.event is required`},
		{`{` + base + `,"event":"session.stoped"}`, `trigger.event is invalid: unknown event kind "session.stoped"`},
		{`{"name":"t","scope":"global","agent_name":"rec","event":"ext.x"}`, `trigger.prompt is required`},
		{`{"name":"t","scope":"global","agent_name":"x","event":"ext.x","prompt":"p"}`, `trigger.agent_name is invalid: unknown agent "x"`},
		{`{"name":"t","scope":"global","agent_name":"rec","event":"ext.x","prompt":"{{ .Payload }}"}`, `trigger.prompt is invalid: unknown activation envelope field ".Payload"`},
		{`{"name":"t","scope":"global","agent_name":"rec","event":"ext.x","prompt":"{{ .Scope.Name }}"}`, `trigger.prompt is invalid: activation envelope field "Scope" does not have child field "Name"`},
		{`{` + base + `,"event":"session.stopped","endpoint_slug":"x"}`, `trigger.endpoint_slug must be empty when event is "session.stopped"`},
		{`{` + base + `,"event":"webhook"}`, `trigger.endpoint_slug is required when event is "webhook"`},
		{`{` + base + `,"event":"webhook","endpoint_slug":"my slug"}`, `trigger.endpoint_slug is invalid: "my slug"`},
		{`{` + base + `,"event":"webhook","endpoint_slug":"s","webhook_id":"hook_1"}`, `trigger.webhook_id must start with "wbh_": "hook_1"`},
		{`{` + base + `,"event":"webhook","endpoint_slug":"s","webhook_id":"wbh_a--b"}`, `trigger.webhook_id is invalid: "wbh_a--b"`},
		{`{` + base + `,"event":"webhook","endpoint_slug":"s","signature_scheme":"hmac"}`, `trigger.signature_scheme must be one of "agh", "standard-webhooks", "github", or "stripe": "hmac"`},
		{`{` + base + `,"event":"webhook","endpoint_slug":"s"}`, `trigger.webhook_secret_value is required when event is "webhook"`},
		{`{` + base + `,"event":"webhook","endpoint_slug":"s","webhook_secret_value":"  "}`, `trigger.webhook_secret_value must not be empty`},
		{`{` + base + `,"event":"webhook","endpoint_slug":"s","webhook_secret_value":"x","webhook_secret_previous_ttl":"1h"}`, `trigger.webhook_secret_previous_ttl is only accepted on update`},
		{`{` + base + `,"event":"ext.x","filter":{"x.y":"1"}}`, `trigger.filter["x.y"]: unsupported filter path "x.y"`},
		{`{` + base + `,"event":"ext.x","filter":{"data.a":""}}`, `trigger.filter["data.a"] must not be empty`},
		{`{` + base + `,"event":"ext.x","webhook_secret_hash":"fp:1"}`, `trigger.webhook_secret_hash is read-only`},
	}
	for _, tc := range cases {
		expect(t, c, "POST", "/api/automation/triggers", tc.body, 400, "validation_failed", prefix+tc.msg)
	}
	tr := createWebhookTrigger(t, c, "a", `,"webhook_id":"wbh_custom_1"`)
	expect(t, c, "POST", "/api/automation/triggers", `{`+base+`,"name":"a","event":"ext.x"}`, 409, "conflict", "automation: trigger name already exists in scope")
	createWebhookTrigger(t, c, "b", `,"webhook_id":"wbh_other"`)
	expect(t, c, "PATCH", "/api/automation/triggers/"+tr["id"].(string), `{"webhook_id":"wbh_other"}`, 409, "conflict", "automation: trigger webhook id already exists")
	expect(t, c, "PATCH", "/api/automation/triggers/"+tr["id"].(string), `{"webhook_secret_previous_ttl":"1h"}`, 400, "validation_failed", prefix+"trigger.webhook_secret_previous_ttl requires trigger.webhook_secret_value")
	expect(t, c, "PATCH", "/api/automation/triggers/"+tr["id"].(string), `{}`, 400, "validation_failed", prefix+"automation trigger update must include at least one field")
	expect(t, c, "GET", "/api/automation/triggers?event=webhook", "", 200, "", "")
	expect(t, c, "DELETE", "/api/automation/triggers/"+tr["id"].(string), "", 204, "", "")
	expect(t, c, "GET", "/api/automation/triggers/"+tr["id"].(string)+"/runs", "", 404, "not_found", "automation: trigger not found")
}

func TestEventsChainsAndLoopGuard(t *testing.T) {
	cfg, prompts := recorderConfig(t)
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg})
	c := d.Client
	expect(t, c, "POST", "/api/automation/triggers", `{"name":"deploy","scope":"global","agent_name":"rec","event":"ext.deploy.finished","filter":{"data.env":"staging"},"prompt":"deploy {{ .Data.version }} depth {{ .Kind }}"}`, 201, "", "")
	expect(t, c, "POST", "/api/events", `{"kind":"deploy","scope":"global"}`, 400, "validation_failed", prefix+`event.kind must match "ext.<name>": "deploy"`)
	expect(t, c, "POST", "/api/events", `{"kind":"ext.deploy.finished","scope":"global","data":[1]}`, 400, "validation_failed", prefix+"event.data must be an object")
	res := obj(expect(t, c, "POST", "/api/events", `{"kind":"ext.deploy.finished","scope":"global","data":{"env":"prod"}}`, 200, "", ""), "result")
	if res["matched"] != float64(0) || res["runs"] != nil {
		t.Fatalf("filtered event %v", res)
	}
	res = obj(expect(t, c, "POST", "/api/events", `{"kind":"ext.deploy.finished","scope":"global","data":{"env":"staging","version":"1.2.3"}}`, 200, "", ""), "result")
	runs := list(res, "runs")
	if res["matched"] != float64(1) || len(runs) != 1 {
		t.Fatalf("event result %v", res)
	}
	r := runs[0].(map[string]any)
	if r["origin"] != "event" || r["depth"] != float64(1) || r["event_id"] != res["event_id"] {
		t.Fatalf("event run %v", r)
	}
	waitRun(t, c, r["id"].(string), 10*time.Second, status("completed"))
	if b, _ := os.ReadFile(prompts); !strings.Contains(string(b), "deploy 1.2.3 depth ext.deploy.finished") {
		t.Fatalf("prompt %q", b)
	}
	// A session.stopped trigger without filter chains: manual run (depth 1) → trigger run (2) →
	// trigger run (3) → loop guard.
	st := obj(expect(t, c, "POST", "/api/automation/triggers", `{"name":"chain","scope":"global","agent_name":"rec","event":"session.stopped","prompt":"stopped {{ .Data.run_id }}","fire_limit":{"max":50,"window":"1h"}}`, 201, "", ""), "trigger")
	j := createJob(t, c, jobFor("rec", "seed"))
	trigger(t, c, j["id"].(string))
	deadline := time.Now().Add(15 * time.Second)
	var got []any
	for time.Now().Before(deadline) {
		got = list(expect(t, c, "GET", "/api/automation/triggers/"+st["id"].(string)+"/deliveries", "", 200, "", ""), "deliveries")
		if len(got) >= 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) < 3 {
		t.Fatalf("deliveries %v", got)
	}
	newest := got[0].(map[string]any)
	if newest["outcome"] != "skipped" || newest["reason"] != "loop_guard" || newest["depth"] != float64(3) {
		t.Fatalf("loop guard record %v", newest)
	}
	runs = list(expect(t, c, "GET", "/api/automation/triggers/"+st["id"].(string)+"/runs", "", 200, "", ""), "runs")
	maxDepth := 0.0
	for _, x := range runs {
		if dd := x.(map[string]any)["depth"].(float64); dd > maxDepth {
			maxDepth = dd
		}
	}
	if len(runs) != 2 || maxDepth != 3 {
		t.Fatalf("chained runs %d max depth %v", len(runs), maxDepth)
	}
}

func TestConfigTriggers(t *testing.T) {
	cfg, prompts := recorderConfig(t)
	cfg += `
[[automation.triggers]]
name = "github-issues"
scope = "global"
agent = "rec"
event = "webhook"
endpoint_slug = "github-issues"
signature_scheme = "github"
webhook_secret = "env:GH_SECRET"
filter = { "data.github_event" = "issues", "data.action" = "opened" }
prompt = "Issue #{{ .Data.issue.number }} was {{ .Data.action }} ({{ .Data.github_event }})."
`
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg, Env: map[string]string{"GH_SECRET": "example-webhook-secret"}})
	c := d.Client
	id := "trg_0000000000d07b20s49angesb7"
	tr := obj(expect(t, c, "GET", "/api/automation/triggers/"+id, "", 200, "", ""), "trigger")
	if tr["source"] != "config" || tr["webhook_id"] != "wbh_00000000008n8epzr7v3khhsk2" || tr["webhook_secret_present"] != true {
		t.Fatalf("config trigger %v", tr)
	}
	expect(t, c, "PATCH", "/api/automation/triggers/"+id, `{"prompt":"x"}`, 400, "read_only", prefix+"config-backed automation triggers only accept enabled updates")
	expect(t, c, "DELETE", "/api/automation/triggers/"+id, "", 400, "read_only", prefix+"config-backed automation triggers cannot be deleted")
	code, m := send(t, c, tr["webhook_path"].(string), "github", "example-webhook-secret", issueBody, "gh-1", time.Now(), http.Header{"X-Github-Event": {"issues"}})
	if code != 200 {
		t.Fatalf("delivery %d %v", code, m)
	}
	run := list(obj(m, "result"), "runs")[0].(map[string]any)
	waitRun(t, c, run["id"].(string), 10*time.Second, status("completed"))
	if b, _ := os.ReadFile(prompts); strings.TrimSpace(string(b)) != "Issue #42 was opened (issues)." {
		t.Fatalf("prompt %q", b)
	}
	if strings.Contains(d.Logs(), "example-webhook-secret") {
		t.Fatal("secret in logs")
	}
}

// TestPreviousSecretExpires: after webhook_secret_previous_ttl the previous secret is refused,
// no longer shown, and pruned; replay claims older than the retention are pruned too.
func TestPreviousSecretExpires(t *testing.T) {
	cfg, _ := recorderConfig(t)
	clk := clock.NewFake(time.Now())
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg, Clock: clk})
	c := d.Client
	tr := createWebhookTrigger(t, c, "exp", "")
	id, path := tr["id"].(string), tr["webhook_path"].(string)
	expect(t, c, "PATCH", "/api/automation/triggers/"+id, `{"webhook_secret_value":"new-secret","webhook_secret_previous_ttl":"1h"}`, 200, "", "")
	clk.Advance(2 * time.Hour)
	if code, _ := send(t, c, path, "agh", "example-webhook-secret", issueBody, "late", clk.Now(), nil); code != 401 {
		t.Fatalf("expired previous secret: %d", code)
	}
	got := obj(expect(t, c, "GET", "/api/automation/triggers/"+id, "", 200, "", ""), "trigger")
	if got["webhook_secret_previous_hash"] != nil {
		t.Fatalf("expired previous secret shown: %v", got)
	}
	clk.Advance(11 * time.Minute) // housekeeping
	waitFor(t, "the previous secret to be pruned", 5*time.Second, func() bool {
		tr, err := d.D.Store.GetTrigger(t.Context(), id)
		return err == nil && len(tr.PreviousSealed) == 0
	})
}

func TestWebhookRateLimit(t *testing.T) {
	cfg, _ := recorderConfig(t)
	d := testutil.StartDaemon(t, testutil.Options{Config: cfg + "\n[automation.webhooks]\nrate_limit = 1\n"})
	c := d.Client
	tr := createWebhookTrigger(t, c, "rl", "")
	codes := map[int]int{}
	var retryAfter string
	for i := 0; i < 4; i++ {
		h := webhook.Sign("agh", []byte("example-webhook-secret"), []byte(issueBody), time.Now(), fmt.Sprintf("rl-%d", i))
		resp, err := c.Raw(context.Background(), "POST", tr["webhook_path"].(string), []byte(issueBody), h)
		if err != nil {
			t.Fatal(err)
		}
		codes[resp.Status]++
		if resp.Status == 429 {
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	if codes[200] != 2 || codes[429] != 2 || retryAfter != "1" {
		t.Fatalf("statuses %v, Retry-After %q", codes, retryAfter)
	}
	// The Unix socket is not limited.
	h := webhook.Sign("agh", []byte("example-webhook-secret"), []byte(issueBody), time.Now(), "rl-sock")
	if resp, err := d.Socket.Raw(context.Background(), "POST", tr["webhook_path"].(string), []byte(issueBody), h); err != nil || resp.Status != 200 {
		t.Fatalf("socket delivery %v %v", err, resp)
	}
}
