package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlite"
	"github.com/agh-dev/agh/internal/testutil"
)

// Crash tests run the compiled binary and kill it with SIGKILL at awkward moments.

// getJSON GETs path and decodes the object body, failing the test on any non-200 answer.
func getJSON(t *testing.T, c *client.Client, path string) map[string]any {
	t.Helper()
	return expect(t, c, "GET", path, "", 200, "", "")
}

// allJobs pages through GET /api/automation/jobs.
func allJobs(t *testing.T, c *client.Client) []map[string]any {
	t.Helper()
	return allPages(t, c, "/api/automation/jobs", "jobs")
}

// jobRuns returns every run of a job (newest first).
func jobRuns(t *testing.T, c *client.Client, jobID string) []map[string]any {
	t.Helper()
	return allPages(t, c, "/api/automation/jobs/"+jobID+"/runs", "runs")
}

// jobSlots returns a job's whole slot ledger, oldest first.
func jobSlots(t *testing.T, c *client.Client, jobID string) []map[string]any {
	t.Helper()
	out := allPages(t, c, "/api/automation/jobs/"+jobID+"/slots", "slots")
	slices.Reverse(out)
	return out
}

func mustTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("not a time: %v", v)
	}
	return ts
}

// integrityCheck opens the stopped daemon's database and runs PRAGMA integrity_check.
func integrityCheck(t *testing.T, dataDir string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "agh.db"), sqlite.Options{ReadConns: 1})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer st.Close()
	if err := st.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCrashDuringJobCreation kills the daemon with SIGKILL in the middle of a burst of job
// creations: every acknowledged (201) create survives, and the database is intact.
func TestCrashDuringJobCreation(t *testing.T) {
	p := testutil.StartProcess(t, testutil.ProcOptions{Config: agentCfg("ok", "true")})
	c := p.Client
	getJSON(t, c, "/api/status") // warm up the connection pool and the response validator

	const workers = 8
	var (
		mu    sync.Mutex
		acked = map[string]map[string]any{} // id → job as answered by the create
		tried int
	)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				body := fmt.Sprintf(`{"name":"burst-%d-%d","scope":"global","agent_name":"ok","prompt":"p %d",`+
					`"schedule":{"mode":"cron","expr":"0 3 1 1 *"},"overlap_policy":"skip","catch_up_policy":"run_once",`+
					`"retry":{"strategy":"backoff","max_retries":2,"base_delay":"1s"}}`, w, i, i)
				mu.Lock()
				tried++
				mu.Unlock()
				resp, err := c.Raw(context.Background(), "POST", "/api/automation/jobs", []byte(body), nil)
				if err != nil {
					return // the daemon is gone
				}
				if resp.Status != 201 {
					t.Errorf("create answered %d: %s", resp.Status, resp.Body)
					return
				}
				var m map[string]any
				if err := json.Unmarshal(resp.Body, &m); err != nil {
					t.Errorf("create body: %v", err)
					return
				}
				j := obj(m, "job")
				mu.Lock()
				acked[j["id"].(string)] = j
				mu.Unlock()
			}
		}(w)
	}
	time.Sleep(300 * time.Millisecond)
	p.Kill()
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(acked) == 0 {
		t.Fatal("no create was acknowledged within 300 ms")
	}
	t.Logf("%d creates acknowledged, %d attempted before SIGKILL", len(acked), tried)

	p.Restart()
	for id, want := range acked {
		got := obj(getJSON(t, c, "/api/automation/jobs/"+id), "job")
		for k, v := range want {
			if k == "scheduler" {
				continue // accounted_until moves at boot (SPEC §6.11)
			}
			if fmt.Sprint(got[k]) != fmt.Sprint(v) {
				t.Errorf("job %s field %s = %v after restart, acknowledged %v", id, k, got[k], v)
			}
		}
		gs, ws := obj(got, "scheduler"), obj(want, "scheduler")
		if gs["registered"] != true || gs["next_run_at"] != ws["next_run_at"] || gs["job_id"] != id {
			t.Errorf("job %s scheduler after restart %v, acknowledged %v", id, gs, ws)
		}
	}
	// At most one create per worker was in flight when the daemon died.
	if n := len(allJobs(t, c)); n < len(acked) || n > len(acked)+workers {
		t.Errorf("%d jobs after restart, %d acknowledged (+ at most %d in flight)", n, len(acked), workers)
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("daemon exited %d after SIGTERM", code)
	}
	integrityCheck(t, p.DataDir)
}

// TestCrashSchedulerCatchUp kills the daemon while three `every 2s` jobs fire (one per
// catch-up policy), keeps it down for ~5 s and restarts it: no slot fires twice, every slot
// of the grid has exactly one ledger outcome, and the downtime slots got their policy's
// outcome (SPEC §6.5–§6.7, §6.11).
func TestCrashSchedulerCatchUp(t *testing.T) {
	p := testutil.StartProcess(t, testutil.ProcOptions{Config: agentCfg("ok", "true")})
	c := p.Client
	policies := []string{"skip_missed", "run_once", "run_all"}
	ids := map[string]string{}
	for _, pol := range policies {
		j := createJob(t, c, fmt.Sprintf(`{"name":"tick-%s","scope":"global","agent_name":"ok","prompt":"tick",`+
			`"schedule":{"mode":"every","interval":"2s"},"catch_up_policy":%q,"misfire_grace_seconds":0,`+
			`"fire_limit":{"max":1000,"window":"1h"}}`, pol, pol))
		ids[pol] = j["id"].(string)
	}
	anchors := map[string]time.Time{}
	for pol, id := range ids {
		anchors[pol] = mustTime(t, obj(getJSON(t, c, "/api/automation/jobs/"+id), "job")["scheduler"].(map[string]any)["anchor_at"])
	}

	// The scheduler fires on the real daemon: wait for a scheduled run of each job.
	deadline := time.Now().Add(15 * time.Second)
	for _, pol := range policies {
		for {
			runs := jobRuns(t, c, ids[pol])
			if len(runs) >= 1 {
				checkScheduleRuns(t, ids[pol], anchors[pol], runs)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: only %d runs after 15 s", pol, len(runs))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	killedAt := time.Now()
	p.Kill()
	time.Sleep(5500 * time.Millisecond)
	restartAt := time.Now()
	p.Restart()
	time.Sleep(1500 * time.Millisecond) // let one post-restart slot fire

	for _, pol := range policies {
		id, anchor := ids[pol], anchors[pol]
		// A consistent view: the cursor did not move while the ledger was read.
		var job map[string]any
		var slots []map[string]any
		for try := 0; ; try++ {
			job = obj(getJSON(t, c, "/api/automation/jobs/"+id), "job")
			slots = jobSlots(t, c, id)
			again := obj(getJSON(t, c, "/api/automation/jobs/"+id), "job")
			if fmt.Sprint(again["scheduler"]) == fmt.Sprint(job["scheduler"]) {
				break
			}
			if try == 5 {
				t.Fatalf("%s: the cursor keeps moving", pol)
			}
		}
		runs := jobRuns(t, c, id)
		checkScheduleRuns(t, id, anchor, runs)
		sched := obj(job, "scheduler")
		accounted := mustTime(t, sched["accounted_until"])
		if !accounted.After(restartAt) {
			t.Fatalf("%s: accounted_until %v is not after the restart (%v)", pol, accounted, restartAt)
		}

		// Exactly one outcome per slot of the grid in (anchor, accounted_until].
		grid := int(accounted.Sub(anchor) / (2 * time.Second))
		sum := 0
		next := anchor.Add(2 * time.Second)
		outcome := map[time.Time]map[string]any{} // slot → its entry
		for _, e := range slots {
			first := mustTime(t, e["slot_at"])
			n := int(e["count"].(float64))
			last := first
			if n > 1 {
				last = mustTime(t, e["last_slot_at"])
			}
			if !first.Equal(next) || !last.Equal(first.Add(time.Duration(n-1)*2*time.Second)) {
				t.Fatalf("%s: ledger entry %v does not continue the grid at %v\nledger %v", pol, e, next, slots)
			}
			for k := 0; k < n; k++ {
				outcome[first.Add(time.Duration(k)*2*time.Second)] = e
			}
			next = last.Add(2 * time.Second)
			sum += n
		}
		if sum != grid {
			t.Fatalf("%s: ledger accounts for %d slots, the grid has %d in (%v, %v]\nledger %v", pol, sum, grid, anchor, accounted, slots)
		}

		// Fired entries and attempt-1 schedule runs are the same set.
		byFire := map[string]map[string]any{}
		for _, r := range runs {
			if r["attempt"] == float64(1) {
				byFire[r["fire_id"].(string)] = r
			}
		}
		fired := 0
		for _, e := range slots {
			switch e["outcome"] {
			case "fired":
				fired++
				r := byFire[fmt.Sprint(e["fire_id"])]
				if r == nil || r["id"] != e["run_id"] || r["scheduled_at"] != e["slot_at"] {
					t.Errorf("%s: fired entry %v has no matching run (%v)", pol, e, r)
				}
			case "coalesced":
				found := false
				for _, r := range runs {
					found = found || r["id"] == e["run_id"]
				}
				if !found {
					t.Errorf("%s: coalesced entry %v points at no run", pol, e)
				}
			}
		}
		if fired != len(byFire) {
			t.Errorf("%s: %d fired entries, %d fires", pol, fired, len(byFire))
		}

		// Downtime slots: late by more than the grace (1 s) at boot whatever the boot instant.
		var missed []time.Time
		for s := anchor.Add(2 * time.Second); !s.After(accounted); s = s.Add(2 * time.Second) {
			if s.After(killedAt) && s.Before(restartAt.Add(-time.Second)) {
				missed = append(missed, s)
			}
		}
		if len(missed) < 2 {
			t.Fatalf("%s: only %d certainly-missed slots (killed %v, restarted %v)", pol, len(missed), killedAt, restartAt)
		}
		switch pol {
		case "skip_missed":
			for _, s := range missed {
				if e := outcome[s]; e["outcome"] != "skipped" || e["reason"] != "misfire" {
					t.Errorf("skip_missed: downtime slot %v → %v", s, e)
				}
			}
			if n := sched["misfire_count"].(float64); int(n) < len(missed) {
				t.Errorf("skip_missed: misfire_count %v < %d", n, len(missed))
			}
		case "run_once":
			// All downtime slots but the newest missed one are coalesced into its run.
			var rep map[string]any
			for i, s := range missed {
				e := outcome[s]
				switch {
				case e["outcome"] == "coalesced":
					if rep == nil {
						rep = e
					} else if e["run_id"] != rep["run_id"] {
						t.Errorf("run_once: downtime slots coalesced into different runs: %v / %v", e, rep)
					}
				case e["outcome"] == "fired" && i == len(missed)-1:
				default:
					t.Errorf("run_once: downtime slot %v → %v", s, e)
				}
			}
			if rep == nil {
				t.Fatalf("run_once: no coalesced entry among the downtime slots %v\nledger %v", missed, slots)
			}
			repLast := mustTime(t, rep["slot_at"])
			if rep["last_slot_at"] != nil {
				repLast = mustTime(t, rep["last_slot_at"])
			}
			target := outcome[repLast.Add(2*time.Second)]
			if target["outcome"] != "fired" || target["run_id"] != rep["run_id"] || target["recorded_at"] != rep["recorded_at"] {
				t.Errorf("run_once: coalesced %v does not point at the next slot's run %v", rep, target)
			}
		case "run_all":
			for _, s := range missed {
				if e := outcome[s]; e["outcome"] != "fired" {
					t.Errorf("run_all: downtime slot %v → %v", s, e)
				}
			}
		}
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("daemon exited %d after SIGTERM", code)
	}
	integrityCheck(t, p.DataDir)
}

// checkScheduleRuns checks the scheduled runs of an `every 2s` job: origin schedule,
// deterministic fire ids, scheduled_at on the grid, no fire twice among attempt-1 runs.
func checkScheduleRuns(t *testing.T, jobID string, anchor time.Time, runs []map[string]any) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range runs {
		at := mustTime(t, r["scheduled_at"])
		if r["origin"] != "schedule" || r["job_id"] != jobID {
			t.Errorf("run %v", r)
		}
		if d := at.Sub(anchor); d <= 0 || d%(2*time.Second) != 0 {
			t.Errorf("run %s scheduled_at %v is off the 2 s grid from %v", r["id"], at, anchor)
		}
		if r["fire_id"] != automation.FireID(jobID, at) {
			t.Errorf("run %s fire_id %v, want %s", r["id"], r["fire_id"], automation.FireID(jobID, at))
		}
		if r["attempt"] == float64(1) {
			if seen[r["fire_id"].(string)] {
				t.Errorf("fire %v has two attempt-1 runs", r["fire_id"])
			}
			seen[r["fire_id"].(string)] = true
		}
	}
}

// agentPids returns the live (non-zombie) processes whose environment carries
// AGH_RUN_ID=<runID>: the agent processes of that run.
func agentPids(runID string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !strings.Contains("\x00"+string(env), "\x00AGH_RUN_ID="+runID+"\x00") {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 0 && f[0] == "Z" {
				continue
			}
		}
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}

// TestCrashWhileRunsRunning kills the daemon while agents run: after restart the runs are
// failed/interrupted with ended_at, and their retries (attempt 2) are inserted and run
// (SPEC §7.10, §7.5).
func TestCrashWhileRunsRunning(t *testing.T) {
	p := testutil.StartProcess(t, testutil.ProcOptions{Config: "[automation]\nshutdown_grace = \"1s\"\n" + agentCfg("sleepy", "sleep", "30")})
	c := p.Client
	j := createJob(t, c, jobFor("sleepy", "sleepy", `"retry":{"strategy":"backoff","max_retries":1,"base_delay":"1s"}`))
	id := j["id"].(string)
	first := []map[string]any{trigger(t, c, id), trigger(t, c, id)}
	orphans := map[string][]int{}
	for _, r := range first {
		waitRun(t, c, r["id"].(string), 10*time.Second, status("running"))
		rid := r["id"].(string)
		for i := 0; len(orphans[rid]) == 0; i++ {
			if i == 200 {
				t.Fatalf("no agent process for run %s", rid)
			}
			time.Sleep(25 * time.Millisecond)
			orphans[rid] = agentPids(rid)
		}
	}
	t.Cleanup(func() {
		// The killed daemon's agents are ours: end them by pid (if still that run's agent).
		for rid := range orphans {
			for _, pid := range agentPids(rid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	p.Kill()
	bootFloor := time.Now()
	aliveAfterKill := 0
	for rid := range orphans {
		aliveAfterKill += len(agentPids(rid))
	}
	p.Restart()

	for _, r := range first {
		rid := r["id"].(string)
		got := obj(getJSON(t, c, "/api/automation/runs/"+rid), "run")
		if got["status"] != "failed" || got["error"] != "interrupted" || got["error_code"] != "interrupted" || got["ended_at"] == nil {
			t.Fatalf("run after restart %v", got)
		}
		if ended := mustTime(t, got["ended_at"]); ended.Before(bootFloor) {
			t.Errorf("ended_at %v is before the restart (%v)", ended, bootFloor)
		}
		var retry map[string]any
		for _, x := range list(getJSON(t, c, "/api/automation/runs?fire_id="+got["fire_id"].(string)), "runs") {
			if m := x.(map[string]any); m["attempt"] == float64(2) {
				retry = m
			}
		}
		if retry == nil || retry["retry_of"] != rid || retry["origin"] != "manual" {
			t.Fatalf("no retry row for %s: %v", rid, retry)
		}
		if sa := mustTime(t, retry["scheduled_at"]); !sa.Equal(mustTime(t, got["ended_at"]).Add(time.Second)) {
			t.Errorf("retry scheduled_at %v, want ended_at + 1s", sa)
		}
		retry = waitRun(t, c, retry["id"].(string), 10*time.Second, status("running"))
		if retry["dispatched_at"] == nil {
			t.Errorf("retry %v", retry)
		}
	}

	// The agents of the killed daemon live in their own process groups; boot recovery kills
	// the groups it remembered for the interrupted runs.
	alive := 0
	for i := 0; i < 100; i++ {
		alive = 0
		for rid := range orphans {
			alive += len(agentPids(rid))
		}
		if alive == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if aliveAfterKill == 0 || alive != 0 {
		t.Fatalf("agent processes of the killed daemon: %d alive right after SIGKILL, %d still alive after the restart", aliveAfterKill, alive)
	}

	// Cancel the retries so that the graceful stop does not wait for `sleep 30`.
	for _, r := range list(getJSON(t, c, "/api/automation/runs?status=running"), "runs") {
		expect(t, c, "POST", "/api/automation/runs/"+r.(map[string]any)["id"].(string)+"/cancel", "", 200, "", "")
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("daemon exited %d after SIGTERM", code)
	}
	integrityCheck(t, p.DataDir)
}

// TestAgentOrphanedBeforeItsGroupWasRecorded: the daemon records an agent's process group in a
// commit after the agent has started, so a daemon killed in between leaves an agent with no
// record. Boot recovery must kill it all the same: it finds agents by the run id in their
// environment. The test opens that window by deleting the record while the daemon is down
// (before the fix, such an agent outlived the restart).
func TestAgentOrphanedBeforeItsGroupWasRecorded(t *testing.T) {
	for _, delegated := range []bool{false, true} {
		name := map[bool]string{false: "run", true: "task run"}[delegated]
		t.Run(name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			p := testutil.StartProcess(t, testutil.ProcOptions{Config: baseConfig + agentCfg("hang", "sh", "-c", "echo $$ > "+pidFile+"; sleep 30 & sleep 30")})
			c := p.Client
			var id string
			if delegated {
				j := createJob(t, c, taskJob("hang", `{"owner":{"kind":"agent","ref":"hang"}}`))
				r := delegate(t, c, j["id"].(string))
				tk := waitTask(t, c, r["task_id"].(string), 10*time.Second, taskStatus("running"))
				id = taskRun0(tk)["id"].(string)
			} else {
				j := createJob(t, c, jobFor("hang", "hang"))
				r := trigger(t, c, j["id"].(string))
				id = r["id"].(string)
				waitRun(t, c, id, 10*time.Second, status("running"))
			}
			waitFile(t, pidFile)
			t.Cleanup(func() {
				var pid int
				if b, err := os.ReadFile(pidFile); err == nil {
					fmt.Sscan(strings.TrimSpace(string(b)), &pid)
				}
				if pid > 1 {
					_ = syscall.Kill(-pid, syscall.SIGKILL)
				}
			})
			p.Kill()
			if groupGone(t, pidFile) {
				t.Fatal("the agent died with the daemon; nothing to recover")
			}

			ctx := context.Background()
			st, err := sqlite.Open(ctx, filepath.Join(p.DataDir, "agh.db"), sqlite.Options{ReadConns: 1})
			if err != nil {
				t.Fatalf("open store: %v", err)
			}
			if err := st.Write(ctx, func(tx store.Tx) error { return tx.DeleteMeta("agent_pid:" + id) }); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}

			p.Restart()
			waitFor(t, "the orphaned agent to be killed", 10*time.Second, func() bool { return groupGone(t, pidFile) })
			if delegated {
				return
			}
			got := obj(getJSON(t, c, "/api/automation/runs/"+id), "run")
			if got["status"] != "failed" || got["error"] != "interrupted" {
				t.Fatalf("run after the restart %v", got)
			}
		})
	}
}
