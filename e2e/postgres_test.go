package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/testutil"
	"github.com/agh-dev/agh/internal/testutil/pgtest"
)

// TestPostgresStoreRoundTrip runs the daemon on a PostgreSQL store: a job is created, triggered
// and its run completes; /api/status names the store kind and never its URL; everything is
// still there after a restart.
func TestPostgresStoreRoundTrip(t *testing.T) {
	dbURL := pgtest.Start(t)
	d := testutil.StartDaemon(t, testutil.Options{Config: baseConfig + fmt.Sprintf("\n[store]\nurl = %q\n", dbURL)})
	c := d.Client

	resp, err := c.Raw(context.Background(), "GET", "/api/status", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	body := string(resp.Body)
	if resp.Status != 200 || !strings.Contains(body, `"store":"postgres"`) {
		t.Fatalf("GET /api/status = %d %s, want store \"postgres\"", resp.Status, body)
	}
	for _, secret := range []string{"postgres://", u.Host, strings.TrimPrefix(u.Path, "/")} {
		if strings.Contains(body, secret) {
			t.Fatalf("GET /api/status reveals the store URL (%q): %s", secret, body)
		}
	}

	j := createJob(t, c, jobFor("echo", "pgjob"))
	id := j["id"].(string)
	r := trigger(t, c, id)
	if r["status"] != "scheduled" {
		t.Fatalf("trigger answered %v", r)
	}
	r = waitRun(t, c, r["id"].(string), 15*time.Second, terminal)
	if r["status"] != "completed" || r["dispatched_at"] == nil || r["ended_at"] == nil {
		t.Fatalf("run %v", r)
	}
	runs := list(expect(t, c, "GET", "/api/automation/jobs/"+id+"/runs", "", 200, "", ""), "runs")
	if len(runs) != 1 || runs[0].(map[string]any)["id"] != r["id"] {
		t.Fatalf("runs of the job: %v", runs)
	}
	st := obj(expect(t, c, "GET", "/api/status", "", 200, "", ""), "automation")
	if jobs := obj(st, "jobs"); jobs["total"] != float64(1) || obj(st, "runs")["running"] != float64(0) {
		t.Fatalf("status %v", st)
	}

	// The state lives in PostgreSQL: a restarted daemon finds the job and its run.
	d.Restart()
	c = d.Client
	got := obj(expect(t, c, "GET", "/api/automation/jobs/"+id, "", 200, "", ""), "job")
	if got["name"] != "pgjob" {
		t.Fatalf("job after restart %v", got)
	}
	after := obj(expect(t, c, "GET", "/api/automation/runs/"+r["id"].(string), "", 200, "", ""), "run")
	if after["status"] != "completed" || after["ended_at"] != r["ended_at"] {
		t.Fatalf("run after restart %v, before %v", after, r)
	}
}
