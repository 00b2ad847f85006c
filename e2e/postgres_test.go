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

// TestPostgresStoreRoundTrip runs two daemons (nodes) on one PostgreSQL store: a job created
// on one node is triggered on the other and its run completes; /api/status names the store
// kind and never its URL; the state outlives a node.
func TestPostgresStoreRoundTrip(t *testing.T) {
	dbURL := pgtest.Start(t)
	node := func(id string) *testutil.Daemon {
		return testutil.StartDaemon(t, testutil.Options{
			Config: fmt.Sprintf("node_id = %q\n", id) + baseConfig + fmt.Sprintf("\n[store]\nurl = %q\n", dbURL),
			// Nodes share the secret key through the environment (SPEC §15.1).
			Env: map[string]string{"AGH_SECRET_KEY": strings.Repeat("5a", 32)},
		})
	}
	a, b := node("node-a"), node("node-b")

	resp, err := a.Client.Raw(context.Background(), "GET", "/api/status", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	body := string(resp.Body)
	if resp.Status != 200 || !strings.Contains(body, `"store":"postgres"`) || !strings.Contains(body, `"node_id":"node-a"`) {
		t.Fatalf("GET /api/status = %d %s, want store \"postgres\"", resp.Status, body)
	}
	for _, secret := range []string{"postgres://", u.Host, strings.TrimPrefix(u.Path, "/")} {
		if strings.Contains(body, secret) {
			t.Fatalf("GET /api/status reveals the store URL (%q): %s", secret, body)
		}
	}

	j := createJob(t, a.Client, jobFor("echo", "pgjob"))
	id := j["id"].(string)
	if got := obj(expect(t, b.Client, "GET", "/api/automation/jobs/"+id, "", 200, "", ""), "job"); got["name"] != "pgjob" {
		t.Fatalf("job on the other node %v", got)
	}
	r := trigger(t, b.Client, id)
	if r["status"] != "scheduled" {
		t.Fatalf("trigger answered %v", r)
	}
	r = waitRun(t, a.Client, r["id"].(string), 15*time.Second, terminal)
	if r["status"] != "completed" || r["dispatched_at"] == nil || r["ended_at"] == nil ||
		(r["node_id"] != "node-a" && r["node_id"] != "node-b") {
		t.Fatalf("run %v", r)
	}
	runs := list(expect(t, b.Client, "GET", "/api/automation/jobs/"+id+"/runs", "", 200, "", ""), "runs")
	if len(runs) != 1 || runs[0].(map[string]any)["id"] != r["id"] {
		t.Fatalf("runs of the job: %v", runs)
	}
	st := obj(expect(t, b.Client, "GET", "/api/status", "", 200, "", ""), "automation")
	if jobs := obj(st, "jobs"); jobs["total"] != float64(1) || obj(st, "runs")["running"] != float64(0) {
		t.Fatalf("status %v", st)
	}

	// The state lives in PostgreSQL: it outlives the node that created it.
	a.Stop()
	after := obj(expect(t, b.Client, "GET", "/api/automation/runs/"+r["id"].(string), "", 200, "", ""), "run")
	if after["status"] != "completed" || after["ended_at"] != r["ended_at"] {
		t.Fatalf("run after node-a stopped %v, before %v", after, r)
	}
}

// TestPostgresNodeIDClaim: a second live node with the same node_id refuses to start; a node
// that stopped cleanly can start again at once.
func TestPostgresNodeIDClaim(t *testing.T) {
	dbURL := pgtest.Start(t)
	cfg := "node_id = \"solo\"\n" + baseConfig + fmt.Sprintf("\n[store]\nurl = %q\n", dbURL)
	env := map[string]string{"AGH_SECRET_KEY": strings.Repeat("5a", 32)}
	a := testutil.StartDaemon(t, testutil.Options{Config: cfg, Env: env})
	dir := t.TempDir()
	if err := writeFile(dir, "config.toml", cfg); err != nil {
		t.Fatal(err)
	}
	code, msg := exitCode(t, runDaemon(dir, "127.0.0.1:0", env))
	if code != 1 || msg != `node_id "solo" is already in use` {
		t.Fatalf("duplicate node: %d %s", code, msg)
	}
	a.Restart() // a clean stop releases the id
	expect(t, a.Client, "GET", "/api/status", "", 200, "", "")
}
