package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/testutil"
)

func TestChangeStream(t *testing.T) {
	d := start(t, "")
	req, _ := http.NewRequest("GET", d.URL()+"/api/automation/stream", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", resp.Header)
	}
	events := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				events <- name + " " + v
			}
		}
		close(events)
	}()
	next := func(want string) string {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("stream closed waiting for %s", want)
				}
				if strings.HasPrefix(ev, want+" ") {
					return ev
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %s event", want)
			}
		}
	}
	if ev := next("hello"); !strings.Contains(ev, `"node_id"`) {
		t.Fatalf("hello %s", ev)
	}
	j := createJob(t, d.Client, jobBody("streamed"))
	if ev := next("job.created"); !strings.Contains(ev, j["id"].(string)) {
		t.Fatalf("job.created %s", ev)
	}
	r := trigger(t, d.Client, j["id"].(string))
	if ev := next("run.created"); !strings.Contains(ev, r["id"].(string)) {
		t.Fatalf("run.created %s", ev)
	}
	next("run.updated")
	expect(t, d.Client, "DELETE", "/api/automation/jobs/"+j["id"].(string), "", 204, "", "")
	if ev := next("job.deleted"); !strings.Contains(ev, j["id"].(string)) {
		t.Fatalf("job.deleted %s", ev)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	d := start(t, "")
	j := createJob(t, d.Client, jobBody("m"))
	waitRun(t, d.Client, trigger(t, d.Client, j["id"].(string))["id"].(string), 10*time.Second, terminal)
	resp, err := http.Get(d.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(b)
	for _, want := range []string{
		`agh_build_info{store="sqlite",version=`,
		`agh_automation_runs_total{origin="manual",status="completed"} 1`,
		`agh_automation_runs{status="scheduled"}`,
		`agh_automation_dispatch_lag_seconds_count{origin="manual"} 1`,
		`agh_http_requests_total{code="201",method="POST",route="/api/automation/jobs"} 1`,
		`agh_store_write_duration_seconds_count{store="sqlite"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, j["id"].(string)) {
		t.Error("a metric label carries a job id")
	}
}

func TestManagementAuth(t *testing.T) {
	token := "s3cret-token-0123456789"
	d := testutil.StartDaemon(t, testutil.Options{Config: baseConfig, Env: map[string]string{"AGH_API_TOKEN": token}})
	c := d.Client
	code, m, h := do(t, c, "GET", "/api/automation/jobs", "")
	if code != 401 || m["code"] != "unauthorized" || m["error"] != "missing or invalid API token" || h.Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("no token: %d %v %v", code, m, h)
	}
	c.Token = "wrong-token-0123456789"
	expect(t, c, "GET", "/api/automation/jobs", "", 401, "unauthorized", "")
	c.Token = token
	expect(t, c, "GET", "/api/automation/jobs", "", 200, "", "")
	resp, err := c.Raw(context.Background(), "GET", "/api/automation/jobs", nil, http.Header{"Origin": {"http://evil.example"}})
	if err != nil || resp.Status != 403 || !strings.Contains(string(resp.Body), "cross-origin request rejected") {
		t.Fatalf("cross origin: %v %d %s", err, resp.Status, resp.Body)
	}
	// The Unix socket needs no token; webhooks never need one.
	expect(t, d.Socket, "GET", "/api/automation/jobs", "", 200, "", "")
	c.Token = ""
	expect(t, c, "POST", "/api/webhooks/global/x--wbh_none", "{}", 404, "not_found", "")
	if strings.Contains(d.Logs(), token) {
		t.Fatal("token in logs")
	}
}

func TestHostCheckWithoutTokens(t *testing.T) {
	d := start(t, "")
	req, _ := http.NewRequest("GET", d.URL()+"/api/status", nil)
	req.Host = "evil.example:2123"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "non-loopback Host header rejected") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
