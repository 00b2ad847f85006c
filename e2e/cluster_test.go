package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/testutil"
	"github.com/agh-dev/agh/internal/testutil/pgtest"
	"github.com/agh-dev/agh/internal/webhook"
)

// Cluster test sizes (issue 7): 200 `every 1s` jobs for 30 s on 3 nodes, 300 webhook
// deliveries each sent to 2 or 3 nodes.
const (
	clusterNodes      = 3
	clusterJobs       = 200
	clusterSoak       = 30 * time.Second
	clusterDeliveries = 300
	clusterTriggers   = 6
	// The lease of a dead node's run expires at most LeaseTTL (30 s) after the kill, and a
	// survivor's sweeper (every 10 s) notices it at most 10 s later (SPEC §15.3); the slack
	// covers scheduling delays on a loaded machine.
	clusterLeaseBound = 40*time.Second + 5*time.Second
)

// clusterNode is one `agh daemon` process of the cluster.
type clusterNode struct {
	id string
	p  *testutil.Proc
	c  *client.Client
}

// TestCluster runs 3 real `agh daemon` processes (the binary) on one PostgreSQL database
// (SPEC §15), exec agent `true`, and checks, in this order:
//
//  1. 200 `every 1s` jobs, created through the 3 nodes' APIs, fire for 30 s;
//  2. meanwhile, 300 webhook deliveries, each sent to 2 or 3 nodes at once with the same
//     delivery id, admit exactly one run each; the other sends get 409 replay with that run's
//     id (§9.7, §15.2);
//  3. meanwhile, the node running a `sleep 20` run (retry backoff 1 × 1 s) is killed with
//     SIGKILL;
//  4. at the end of the 30 s the jobs are disabled; for every job no fire_id has two attempt-1
//     runs, the slot ledger accounts for every slot in (anchor_at, accounted_until] exactly once,
//     and its fired entries are the job's schedule runs one-to-one (§6.5, §6.7); runs were
//     admitted and dispatched by several nodes;
//  5. while the dead node's lease runs out, a cancel made on one survivor stops the agent
//     running on the other within 10 s (§15.4);
//  6. within the lease time (30 s TTL + 10 s sweep) a survivor fails the dead node's running
//     runs `node lost` (error_code node_lost), and the retry runs on a survivor (§15.3).
//
// The jobs use overlap_policy "skip": on PostgreSQL this machine dispatches far fewer than 200
// runs/s (see bench/CLUSTER.md), and with "allow" thousands of runs would queue ahead of the
// manual runs of steps 3 and 5 (dispatch is FIFO by scheduled_at). With "skip" every slot is
// still reconciled by exactly one node, in a transaction that also checks the job's active runs
// across nodes; slots that find a run still active are skipped(overlap).
func TestCluster(t *testing.T) {
	began := time.Now()
	dbURL := pgtest.Start(t)
	pidDir := t.TempDir()
	cfg := func(id string) string {
		return fmt.Sprintf("node_id = %q\n", id) + `
[automation]
max_concurrent_runs = 1000
shutdown_grace = "1s"

[automation.webhooks]
rate_limit = 0
` + agentCfg("ok", "true") + agentCfg("sleepy", "sleep", "20") +
			agentCfg("hang", "sh", "-c", `echo $$ > `+pidDir+`/$AGH_RUN_ID; sleep 30 & sleep 30`) +
			fmt.Sprintf("\n[store]\nurl = %q\n", dbURL)
	}
	env := []string{"AGH_SECRET_KEY=" + strings.Repeat("c1", 32)} // shared by all nodes (§15.1)
	nodes := make([]*clusterNode, clusterNodes)
	for i := range nodes {
		id := fmt.Sprintf("node-%d", i+1)
		p := testutil.StartProcess(t, testutil.ProcOptions{Config: cfg(id), Env: env})
		nodes[i] = &clusterNode{id: id, p: p, c: p.Client}
	}
	byID := map[string]*clusterNode{}
	for _, n := range nodes {
		byID[n.id] = n
		getJSON(t, n.c, "/api/status") // warm up the connection pool and the response validator
	}
	// The agents of a killed daemon outlive it: end whatever is left of this test's runs.
	var runIDsMu sync.Mutex
	var longRuns []string
	t.Cleanup(func() {
		runIDsMu.Lock()
		defer runIDsMu.Unlock()
		for _, rid := range longRuns {
			for _, pid := range agentPids(rid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	remember := func(rid string) {
		runIDsMu.Lock()
		longRuns = append(longRuns, rid)
		runIDsMu.Unlock()
	}
	t.Logf("3 nodes up after %v", time.Since(began).Round(time.Millisecond))

	// ---- 1. 200 `every 1s` jobs, created through the 3 nodes' APIs concurrently.
	createdAt := time.Now()
	jobIDs := make([]string, clusterJobs)
	parallel(t, clusterJobs, 3*clusterNodes, func(i int) error {
		body := fmt.Sprintf(`{"name":"tick-%03d","scope":"global","agent_name":"ok","prompt":"tick",`+
			`"schedule":{"mode":"every","interval":"1s"},"overlap_policy":"skip","fire_limit":{"max":100000,"window":"1h"}}`, i)
		code, m, err := rawJSON(nodes[i%clusterNodes].c, "POST", "/api/automation/jobs", body, nil)
		if err != nil || code != 201 {
			return fmt.Errorf("create job %d on %s: %d %v %v", i, nodes[i%clusterNodes].id, code, m, err)
		}
		jobIDs[i] = obj(m, "job")["id"].(string)
		return nil
	})
	soakEnd := time.Now().Add(clusterSoak)
	t.Logf("%d jobs created in %v; soak until %s", clusterJobs, time.Since(createdAt).Round(time.Millisecond), soakEnd.Format("15:04:05"))

	// ---- 2. Webhook deliveries with duplicated delivery ids spread over the 3 nodes.
	clusterWebhooks(t, nodes)

	// ---- 3. Kill -9 the node that runs a `sleep 20` run with retries. The run is triggered on
	// node-3, but any node may dispatch it: the victim is the node whose node_id it carries.
	sleepy := createJob(t, nodes[0].c, jobFor("sleepy", "sleepy", `"retry":{"strategy":"backoff","max_retries":1,"base_delay":"1s"}`))
	lost := trigger(t, nodes[2].c, sleepy["id"].(string))
	remember(lost["id"].(string))
	lost = waitRun(t, nodes[2].c, lost["id"].(string), 15*time.Second, status("running"))
	victim := byID[fmt.Sprint(lost["node_id"])]
	if victim == nil {
		t.Fatalf("running run on an unknown node: %v", lost)
	}
	var survivors []*clusterNode
	for _, n := range nodes {
		if n != victim {
			survivors = append(survivors, n)
		}
	}
	s0 := survivors[0]
	// Wait until the agent process exists, so the run is really mid-run when the node dies.
	for i := 0; len(agentPids(lost["id"].(string))) == 0; i++ {
		if i == 400 {
			t.Fatalf("no agent process for run %s", lost["id"])
		}
		time.Sleep(25 * time.Millisecond)
	}
	killedAt := time.Now()
	victim.p.Kill()
	// The victim's other running runs (schedule runs of `true`), read right after the kill:
	// nothing but a sweeper can change them any more.
	var victimRunning []string
	for _, r := range allPages(t, s0.c, "/api/automation/runs?status=running", "runs") {
		if r["node_id"] == victim.id {
			victimRunning = append(victimRunning, r["id"].(string))
		}
	}
	t.Logf("killed %s at %s (soak +%v) with %d running runs", victim.id, killedAt.Format("15:04:05.000"),
		killedAt.Sub(soakEnd.Add(-clusterSoak)).Round(time.Millisecond), len(victimRunning))

	// ---- 4. End of the soak: disable every job (due slots are reconciled first, §6.10), then
	// check the ledgers and runs.
	if d := time.Until(soakEnd); d > 0 {
		time.Sleep(d)
	}
	parallel(t, len(jobIDs), 4*len(survivors), func(i int) error {
		c := survivors[i%len(survivors)].c
		code, m, err := rawJSON(c, "PATCH", "/api/automation/jobs/"+jobIDs[i], `{"enabled":false}`, nil)
		if err != nil || code != 200 {
			return fmt.Errorf("disable job %s: %d %v %v", jobIDs[i], code, m, err)
		}
		return nil
	})
	clusterLedgers(t, survivors, jobIDs)
	admitted := admissionsByNode(nodes)
	t.Logf("schedule runs admitted (slots fired) by node, from the nodes' logs: %v", admitted)
	if len(admitted) < 2 {
		t.Errorf("slots were fired by %d node(s): %v", len(admitted), admitted)
	}

	// ---- 5. While the lease of the lost run runs out: a cancel made on one survivor stops the
	// agent running on the other (or on itself) within 10 s.
	clusterCancel(t, survivors, pidDir, remember)

	// ---- 6. A survivor fails the lost run within the lease time; the retry runs on a
	// survivor.
	deadline := killedAt.Add(clusterLeaseBound)
	r := waitRun(t, s0.c, lost["id"].(string), time.Until(deadline), terminal)
	ended := mustTime(t, r["ended_at"])
	if r["status"] != "failed" || r["error"] != "node lost" || r["error_code"] != "node_lost" {
		t.Fatalf("run of the killed node %v", r)
	}
	// The lease was renewed at most 10 s before the kill, so it cannot have expired earlier
	// than 20 s after it.
	if ended.Before(killedAt.Add(dispatchLeaseTTL - dispatchLeaseRenew - time.Second)) {
		t.Errorf("run %s failed %v after the kill, before its lease can have expired", r["id"], ended.Sub(killedAt))
	}
	var retry map[string]any
	for _, x := range allPages(t, s0.c, "/api/automation/runs?fire_id="+url.QueryEscape(r["fire_id"].(string)), "runs") {
		if x["attempt"] == float64(2) {
			retry = x
		}
	}
	if retry == nil || retry["retry_of"] != r["id"] {
		t.Fatalf("no retry of the lost run %v: %v", r["id"], retry)
	}
	remember(retry["id"].(string))
	retry = waitRun(t, s0.c, retry["id"].(string), 15*time.Second, func(m map[string]any) bool { return m["status"] != "scheduled" })
	if retry["status"] != "running" && retry["status"] != "completed" || retry["node_id"] == victim.id || byID[fmt.Sprint(retry["node_id"])] == nil {
		t.Fatalf("retry of the lost run %v", retry)
	}
	t.Logf("lost run failed by a survivor %v after the kill; retry %s runs on %s", ended.Sub(killedAt).Round(time.Millisecond),
		retry["id"], retry["node_id"])
	// Every run the victim had running is failed `node lost` too (the sweepers fail at most
	// 100 runs per pass, hence the extra time).
	for _, id := range victimRunning {
		x := waitRun(t, s0.c, id, time.Until(deadline.Add(10*time.Second)), terminal)
		if x["status"] != "failed" || x["error_code"] != "node_lost" {
			t.Errorf("run %s of the killed node: %v", id, x)
		}
	}
	expect(t, s0.c, "POST", "/api/automation/runs/"+retry["id"].(string)+"/cancel", "", 200, "", "")

	for _, n := range survivors {
		if code := n.p.Stop(); code != 0 {
			t.Errorf("%s exited %d on SIGTERM", n.id, code)
		}
	}
	t.Logf("TestCluster took %v", time.Since(began).Round(time.Millisecond))
}

// Lease timing of SPEC §15.3 (internal/dispatch: LeaseTTL, LeaseRenewEvery).
const (
	dispatchLeaseTTL   = 30 * time.Second
	dispatchLeaseRenew = 10 * time.Second
)

// clusterWebhooks sends 300 deliveries, each to 2 or 3 nodes at once with the same delivery id:
// exactly one send admits a run, every other one is answered 409 replay with that run's id,
// and each trigger has exactly one run per delivery id. The deliveries are spread over
// clusterTriggers webhook triggers that reuse the same delivery ids (unrelated across
// triggers, §9.7): admissions of one trigger serialize on its row lock (§15.2), so several
// triggers keep the phase short.
func clusterWebhooks(t *testing.T, nodes []*clusterNode) {
	t.Helper()
	const secret = "cluster-webhook-secret"
	body := []byte(`{"action":"opened","issue":{"number":7}}`)
	var trigIDs, paths []string
	for k := 0; k < clusterTriggers; k++ {
		tr := obj(expect(t, nodes[k%len(nodes)].c, "POST", "/api/automation/triggers",
			fmt.Sprintf(`{"name":"hook-%d","scope":"global","agent_name":"ok","event":"webhook","endpoint_slug":"hook",`+
				`"webhook_secret_value":"`+secret+`","fire_limit":{"max":100000,"window":"1h"},`+
				`"prompt":"delivery {{ .Data.delivery_id }}"}`, k), 201, "", ""), "trigger")
		trigIDs = append(trigIDs, tr["id"].(string))
		paths = append(paths, tr["webhook_path"].(string))
	}

	// The triggers reach the other nodes' registries through the change feed: a badly signed
	// delivery is 401 (not 404) once a node knows the trigger.
	start := time.Now()
	for _, path := range paths {
		for _, n := range nodes {
			for {
				h := webhook.Sign("agh", []byte("wrong"), body, time.Now(), "probe")
				code, m, err := rawJSON(n.c, "POST", path, string(body), h)
				if err != nil {
					t.Fatal(err)
				}
				if code == 401 {
					break
				}
				if code != 404 || time.Since(start) > 35*time.Second {
					t.Fatalf("probe on %s: %d %v", n.id, code, m)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	t.Logf("%d webhook triggers known to all nodes %v after their creation", clusterTriggers, time.Since(start).Round(time.Millisecond))

	type answer struct {
		node  string
		code  int
		runID string // 200: the admitted run; 409: run_ids[0]
		m     map[string]any
	}
	perTrigger := clusterDeliveries / clusterTriggers
	dlvID := func(i int) string { return fmt.Sprintf("dlv-%04d", i%perTrigger) }
	answers := make([][]answer, clusterDeliveries)
	start = time.Now()
	parallel(t, clusterDeliveries, 4*clusterTriggers, func(i int) error {
		// Delivery i goes to trigger i/perTrigger, to 3 nodes when i is even, else to 2 of them
		// (rotating).
		path := paths[i/perTrigger]
		targets := []*clusterNode{nodes[i%3], nodes[(i+1)%3], nodes[(i+2)%3]}
		if i%2 == 1 {
			targets = targets[:2]
		}
		res := make([]answer, len(targets))
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for k, n := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := webhook.Sign("agh", []byte(secret), body, time.Now(), dlvID(i))
				<-gate
				code, m, err := rawJSON(n.c, "POST", path, string(body), h)
				res[k] = answer{node: n.id, code: code, m: m}
				if err != nil {
					res[k].code = -1
					res[k].m = map[string]any{"transport error": err.Error()}
				}
			}()
		}
		close(gate)
		wg.Wait()
		for k := range res {
			switch res[k].code {
			case 200:
				if runs := list(obj(res[k].m, "result"), "runs"); len(runs) == 1 {
					res[k].runID, _ = runs[0].(map[string]any)["id"].(string)
				}
			case 409:
				if ids := list(res[k].m, "run_ids"); len(ids) == 1 {
					res[k].runID, _ = ids[0].(string)
				}
			}
		}
		answers[i] = res
		return nil
	})
	elapsed := time.Since(start)
	sends := 0
	admittedBy := map[string]int{}
	want := make([]map[string]string, clusterTriggers) // per trigger: delivery id → run id
	for k := range want {
		want[k] = map[string]string{}
	}
	for i, res := range answers {
		sends += len(res)
		ok, run := 0, ""
		for _, a := range res {
			if a.code == 200 {
				ok++
				run = a.runID
				admittedBy[a.node]++
			}
		}
		bad := ok != 1 || run == ""
		for _, a := range res {
			if a.code == 409 && (a.m["code"] != "replay" || a.runID != run) || a.code != 200 && a.code != 409 {
				bad = true
			}
		}
		if bad {
			t.Errorf("trigger %d delivery %s: want one 200 with a run and 409 replay with the same run id, got %+v", i/perTrigger, dlvID(i), res)
			continue
		}
		want[i/perTrigger][dlvID(i)] = run
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d webhook sends of %d deliveries in %v (%.0f/s); runs admitted by %v", sends, clusterDeliveries,
		elapsed.Round(time.Millisecond), float64(sends)/elapsed.Seconds(), admittedBy)

	for k, id := range trigIDs {
		runs := allPages(t, nodes[(k+1)%len(nodes)].c, "/api/automation/triggers/"+id+"/runs", "runs")
		got := map[string]string{}
		for _, r := range runs {
			d, _ := r["delivery_id"].(string)
			if prev, dup := got[d]; dup {
				t.Errorf("trigger %s: delivery %s has two runs: %s and %s", id, d, prev, r["id"])
			}
			got[d] = r["id"].(string)
		}
		if len(runs) != perTrigger || fmt.Sprint(got) != fmt.Sprint(want[k]) {
			t.Fatalf("trigger %s: %d runs, want one per delivery id (%d)", id, len(runs), perTrigger)
		}
	}
}

// clusterCancel cancels, through another node, a run whose agent runs on one node: the
// agent's process group is gone within 10 s (SPEC §15.4).
func clusterCancel(t *testing.T, nodes []*clusterNode, pidDir string, remember func(string)) {
	t.Helper()
	j := createJob(t, nodes[0].c, jobFor("hang", "hang"))
	r := trigger(t, nodes[0].c, j["id"].(string))
	remember(r["id"].(string))
	r = waitRun(t, nodes[0].c, r["id"].(string), 15*time.Second, status("running"))
	var other *clusterNode
	for _, n := range nodes {
		if n.id != r["node_id"] {
			other = n
			break
		}
	}
	pidFile := filepath.Join(pidDir, r["id"].(string))
	waitFile(t, pidFile)
	if groupGone(t, pidFile) {
		t.Fatalf("agent of run %s is not running", r["id"])
	}
	at := time.Now()
	cr := obj(expect(t, other.c, "POST", "/api/automation/runs/"+r["id"].(string)+"/cancel", "", 200, "", ""), "run")
	if cr["status"] != "canceled" || cr["error_code"] != "canceled" {
		t.Fatalf("cancel on %s: %v", other.id, cr)
	}
	for !groupGone(t, pidFile) {
		if time.Since(at) > 10*time.Second {
			t.Fatalf("run %s canceled on %s: its agent on %s is still alive after 10 s", r["id"], other.id, r["node_id"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("cancel on %s stopped the agent on %s in %v", other.id, r["node_id"], time.Since(at).Round(time.Millisecond))
	if x := obj(getJSON(t, nodes[len(nodes)-1].c, "/api/automation/runs/"+r["id"].(string)), "run"); x["status"] != "canceled" {
		t.Fatalf("canceled run changed: %v", x)
	}
}

// admissionsByNode counts the schedule runs each node admitted (the node that reconciled the
// slot), from the "run admitted" lines of the nodes' logs.
func admissionsByNode(nodes []*clusterNode) map[string]int {
	out := map[string]int{}
	for _, n := range nodes {
		for _, line := range strings.Split(n.p.Logs(), "\n") {
			if !strings.Contains(line, `"run admitted"`) || !strings.Contains(line, `"origin":"schedule"`) {
				continue
			}
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil {
				out[fmt.Sprint(m["node_id"])]++
			}
		}
	}
	return out
}

// clusterLedgers checks every job's ledger and schedule runs after the soak.
func clusterLedgers(t *testing.T, nodes []*clusterNode, jobIDs []string) {
	t.Helper()
	c := nodes[0].c
	// Every run, once: no fire has two attempt-1 runs.
	all := allPages(t, c, "/api/automation/runs", "runs")
	byJob := map[string][]map[string]any{}
	firstAttempt := map[string]string{}
	dispatchedBy := map[string]int{}
	for _, r := range all {
		if r["origin"] != "schedule" {
			continue
		}
		byJob[fmt.Sprint(r["job_id"])] = append(byJob[fmt.Sprint(r["job_id"])], r)
		if r["attempt"] == float64(1) {
			if prev, dup := firstAttempt[r["fire_id"].(string)]; dup {
				t.Errorf("fire %v has two attempt-1 runs: %s and %s", r["fire_id"], prev, r["id"])
			}
			firstAttempt[r["fire_id"].(string)] = r["id"].(string)
		}
		node, _ := r["node_id"].(string)
		if node == "" {
			node = fmt.Sprint(r["status"]) // not dispatched (yet)
		}
		dispatchedBy[node]++
	}

	results := make([]ledgerStats, len(jobIDs))
	parallel(t, len(jobIDs), 4*len(nodes), func(i int) error {
		id := jobIDs[i]
		nc := nodes[i%len(nodes)].c
		var job map[string]any
		var slots []map[string]any
		for try := 0; ; try++ { // a consistent view: the cursor did not move while the ledger was read
			var err error
			if job, err = getObj(nc, "/api/automation/jobs/"+id, "job"); err != nil {
				return err
			}
			if slots, err = pagesOf(nc, "/api/automation/jobs/"+id+"/slots", "slots"); err != nil {
				return err
			}
			again, err := getObj(nc, "/api/automation/jobs/"+id, "job")
			if err != nil {
				return err
			}
			if fmt.Sprint(again["scheduler"]) == fmt.Sprint(job["scheduler"]) {
				break
			}
			if try == 5 {
				return fmt.Errorf("job %s: the cursor keeps moving after the job was disabled", id)
			}
		}
		sort.Slice(slots, func(a, b int) bool { return fmt.Sprint(slots[a]["slot_at"]) < fmt.Sprint(slots[b]["slot_at"]) })
		res, err := checkLedger(id, obj(job, "scheduler"), slots, byJob[id])
		results[i] = res
		return err
	})
	total := ledgerStats{skipped: map[string]int{}}
	for i, r := range results {
		if r.fired == 0 {
			t.Errorf("job %s never fired", jobIDs[i])
		}
		total.slots += r.slots
		total.fired += r.fired
		for k, v := range r.skipped {
			total.skipped[k] += v
		}
	}
	t.Logf("%d jobs: %d slots accounted, %d fired, skipped %v; %d schedule runs by dispatching node: %v",
		len(jobIDs), total.slots, total.fired, total.skipped, len(firstAttempt), dispatchedBy)
	nodesSeen := 0
	for k := range dispatchedBy {
		if strings.HasPrefix(k, "node-") {
			nodesSeen++
		}
	}
	if nodesSeen < 2 {
		t.Errorf("schedule runs were dispatched by %d node(s): %v", nodesSeen, dispatchedBy)
	}
	// 30 s of 1 s slots per job, minus what the creation spread ate.
	if min := len(jobIDs) * int(clusterSoak/time.Second) * 9 / 10; total.slots < min {
		t.Errorf("only %d slots accounted, want at least %d", total.slots, min)
	}
}

// ledgerStats counts the slots of checked ledgers.
type ledgerStats struct {
	slots, fired int
	skipped      map[string]int // by reason
}

// checkLedger verifies one `every 1s` job: its ledger entries tile the 1 s grid of
// (anchor_at, accounted_until] exactly, and its fired entries are its attempt-1 schedule runs.
func checkLedger(id string, sched map[string]any, slots, runs []map[string]any) (res ledgerStats, err error) {
	res.skipped = map[string]int{}
	ts := func(v any) (time.Time, error) {
		s, _ := v.(string)
		return time.Parse(time.RFC3339Nano, s)
	}
	anchor, err1 := ts(sched["anchor_at"])
	accounted, err2 := ts(sched["accounted_until"])
	if err1 != nil || err2 != nil || sched["registered"] != false {
		return res, fmt.Errorf("job %s scheduler %v", id, sched)
	}
	grid := int(accounted.Sub(anchor) / time.Second)
	next := anchor.Add(time.Second)
	sum := 0
	fired := map[string]map[string]any{} // fire id → entry
	for _, e := range slots {
		first, err := ts(e["slot_at"])
		if err != nil {
			return res, fmt.Errorf("job %s: entry %v", id, e)
		}
		n := int(e["count"].(float64))
		last := first
		if n > 1 {
			if last, err = ts(e["last_slot_at"]); err != nil {
				return res, fmt.Errorf("job %s: entry %v", id, e)
			}
		}
		if !first.Equal(next) || !last.Equal(first.Add(time.Duration(n-1)*time.Second)) {
			return res, fmt.Errorf("job %s: ledger entry %v does not continue the grid at %v (anchor %v)", id, e, next, anchor)
		}
		next = last.Add(time.Second)
		sum += n
		switch e["outcome"] {
		case "fired":
			fid := fmt.Sprint(e["fire_id"])
			if fired[fid] != nil || n != 1 {
				return res, fmt.Errorf("job %s: fired entry %v repeated or merged", id, e)
			}
			fired[fid] = e
		case "skipped":
			res.skipped[fmt.Sprint(e["reason"])] += n
		default:
			return res, fmt.Errorf("job %s: unexpected entry %v", id, e)
		}
	}
	if sum != grid {
		return res, fmt.Errorf("job %s: the ledger accounts for %d slots, the grid has %d in (%v, %v]", id, sum, grid, anchor, accounted)
	}
	res.slots, res.fired = sum, len(fired)
	matched := 0
	for _, r := range runs {
		if r["attempt"] != float64(1) {
			continue
		}
		at, err := ts(r["scheduled_at"])
		if err != nil {
			return res, fmt.Errorf("job %s: run %v", id, r)
		}
		if r["fire_id"] != automation.FireID(id, at) {
			return res, fmt.Errorf("job %s: run %s fire_id %v, want %s", id, r["id"], r["fire_id"], automation.FireID(id, at))
		}
		e := fired[r["fire_id"].(string)]
		if e == nil || e["run_id"] != r["id"] || !mustParse(e["slot_at"]).Equal(at) {
			return res, fmt.Errorf("job %s: run %v has no fired ledger entry (%v)", id, r, e)
		}
		matched++
	}
	if matched != len(fired) {
		return res, fmt.Errorf("job %s: %d fired entries, %d attempt-1 schedule runs", id, len(fired), matched)
	}
	return res, nil
}

func mustParse(v any) time.Time {
	s, _ := v.(string)
	ts, _ := time.Parse(time.RFC3339Nano, s)
	return ts
}

// parallel calls fn(0..n-1) from conc goroutines and fails the test with the errors.
func parallel(t *testing.T, n, conc int, fn func(i int) error) {
	t.Helper()
	var mu sync.Mutex
	var errs []error
	idx := make(chan int)
	var wg sync.WaitGroup
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		idx <- i
	}
	close(idx)
	wg.Wait()
	for i, err := range errs {
		if i == 10 {
			t.Errorf("… and %d more errors", len(errs)-10)
			break
		}
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
}

// rawJSON sends a request (safe from any goroutine) and decodes the object body.
func rawJSON(c *client.Client, method, path, body string, h http.Header) (int, map[string]any, error) {
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	resp, err := c.Raw(context.Background(), method, path, b, h)
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	if len(resp.Body) > 0 {
		if err := json.Unmarshal(resp.Body, &m); err != nil {
			return resp.Status, nil, fmt.Errorf("%s %s: body is not a JSON object: %v", method, path, err)
		}
	}
	return resp.Status, m, nil
}

// getObj GETs path (200 expected) and returns the object under key.
func getObj(c *client.Client, path, key string) (map[string]any, error) {
	code, m, err := rawJSON(c, "GET", path, "", nil)
	if err != nil || code != 200 {
		return nil, fmt.Errorf("GET %s: %d %v %v", path, code, m, err)
	}
	return obj(m, key), nil
}

// pagesOf pages through a list endpoint (limit 500) and returns every item under key.
func pagesOf(c *client.Client, path, key string) ([]map[string]any, error) {
	var out []map[string]any
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	cursor := ""
	for {
		p := path + sep + "limit=500"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		code, m, err := rawJSON(c, "GET", p, "", nil)
		if err != nil || code != 200 {
			return nil, fmt.Errorf("GET %s: %d %v %v", p, code, m, err)
		}
		for _, x := range list(m, key) {
			out = append(out, x.(map[string]any))
		}
		next, _ := m["next_cursor"].(string)
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// allPages is pagesOf for the test goroutine.
func allPages(t *testing.T, c *client.Client, path, key string) []map[string]any {
	t.Helper()
	out, err := pagesOf(c, path, key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
