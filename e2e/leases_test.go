package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/testutil"
)

// TestExpiredLeaseIsFailedAsNodeLost plants a run held by a node that died (its lease expired)
// and checks that the sweeper fails it with "node lost" and retries it per policy.
func TestExpiredLeaseIsFailedAsNodeLost(t *testing.T) {
	clk := clock.NewFake(time.Now())
	d := testutil.StartDaemon(t, testutil.Options{Config: agentCfg("ok", "true"), Clock: clk})
	c := d.Client
	j := createJob(t, c, jobFor("ok", "leased", `"retry":{"strategy":"backoff","max_retries":1,"base_delay":"1s"}`))
	now := clk.Now().UTC()
	ghost := &automation.Run{ID: automation.NewID(automation.PrefixRun, now), JobID: j["id"].(string), Status: automation.RunRunning,
		Attempt: 1, FireID: automation.NewID(automation.PrefixFire, now), ScheduledAt: now, StartedAt: now, DispatchedAt: now,
		Origin: automation.OriginManual, AgentName: "ok", Scope: "global", Depth: 1, Prompt: "p", NodeID: "ghost",
		LeaseOwner: "ghost", LeaseExpiresAt: now.Add(15 * time.Second)}
	if err := d.D.Store.Write(context.Background(), func(tx store.Tx) error { return tx.InsertRun(ghost) }); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second) // renewal tick: the lease is still valid
	time.Sleep(100 * time.Millisecond)
	if r := obj(expect(t, c, "GET", "/api/automation/runs/"+ghost.ID, "", 200, "", ""), "run"); r["status"] != "running" {
		t.Fatalf("run swept before its lease expired: %v", r)
	}
	clk.Advance(10 * time.Second)
	r := waitRun(t, c, ghost.ID, 10*time.Second, terminal)
	if r["status"] != "failed" || r["error"] != "node lost" || r["error_code"] != "node_lost" {
		t.Fatalf("swept run %v", r)
	}
	runs := list(expect(t, c, "GET", "/api/automation/runs?fire_id="+ghost.FireID, "", 200, "", ""), "runs")
	if len(runs) != 2 || runs[0].(map[string]any)["retry_of"] != ghost.ID {
		t.Fatalf("retry of the lost run: %v", runs)
	}
}
