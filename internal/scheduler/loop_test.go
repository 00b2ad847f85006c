package scheduler_test

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/service"
)

// TestLoopWakesAtDueInstant: the loop sleeps on the clock until the earliest next_run_at and
// reconciles at exactly that instant.
func TestLoopWakesAtDueInstant(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	id := h.create(hourly("h", "skip_missed"))
	once := h.create(jobJSON("once", `{"mode":"at","time":"2026-03-02T10:30:00Z"}`))
	rl := startLoop(t, h, h.svc)
	rl.waitArmed(t, at(day+"10:00:00Z"))
	// Nothing is due at boot: jobs whose next slot is in the future only enter the heap.
	if calls, _ := rl.rec.snapshot(); len(calls) != 0 {
		t.Fatalf("boot reconciled %v", calls)
	}
	rl.rec.reset()

	h.clk.Set(at(day + "09:59:59.999Z"))
	rl.waitArmed(t, at(day+"10:00:00Z"))
	if calls, _ := rl.rec.snapshot(); len(calls) != 0 || len(h.runs(id)) != 0 {
		t.Fatalf("woke early: %v", calls)
	}

	h.clk.Set(at(day + "10:00:00Z"))
	rl.waitArmed(t, at(day+"10:30:00Z"))
	h.expectRuns(id, at(day+"10:00:00Z"), "10:00") // started_at is the slot instant itself
	h.expectLedger(id, "fired 10:00 #1")
	if calls, _ := rl.rec.snapshot(); fmt.Sprint(calls) != fmt.Sprint(map[string]int{id: 1}) {
		t.Fatalf("reconciled %v", calls)
	}

	// The at job fires at its instant and leaves the heap.
	h.clk.Set(at(day + "10:30:00Z"))
	rl.waitArmed(t, at(day+"11:00:00Z"))
	h.expectRuns(once, at(day+"10:30:00Z"), "10:30")
	if rl.loop.Len() != 1 {
		t.Fatalf("%d jobs in the heap", rl.loop.Len())
	}

	// A big jump: one wake reconciles the whole downtime.
	rl.rec.reset()
	h.clk.Set(at(day + "15:20:00Z"))
	rl.waitArmed(t, at(day+"16:00:00Z"))
	h.expectLedger(id, "fired 10:00 #1", "skipped/misfire 11:00-15:00 x5")
	if calls, _ := rl.rec.snapshot(); calls[id] != 1 || calls[once] != 0 {
		t.Fatalf("reconciled %v", calls)
	}
}

// TestLoopBootCatchUp: Boot reconciles every enabled job once, applying catch-up (SPEC §6.11).
func TestLoopBootCatchUp(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	once := h.create(hourly("once", "run_once"))
	all := h.create(hourly("all", "run_all"))
	off := h.create(hourly("off", "run_all", `"enabled":false`))
	h.clk.Set(at(day + "14:20:00Z"))
	rl := startLoop(t, h, h.svc)
	rl.waitArmed(t, at(day+"15:00:00Z"))
	h.expectLedger(once, "coalesced 10:00-13:00 x4 #1", "fired 14:00 #1")
	h.expectLedger(all, "fired 10:00 #1", "fired 11:00 #2", "fired 12:00 #3", "fired 13:00 #4", "fired 14:00 #5")
	h.expectLedger(off)
	if calls, _ := rl.rec.snapshot(); calls[off] != 0 || rl.loop.Len() != 2 {
		t.Fatalf("boot reconciled %v, heap %d", calls, rl.loop.Len())
	}
}

// TestLoopUpdateMovesOnlyThatJob: the loop does not poll; a definition change updates the one
// job's heap entry (one read of that job, no reconciliation).
func TestLoopUpdateMovesOnlyThatJob(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	a := h.create(hourly("a", "run_all"))
	b := h.create(jobJSON("b", `{"mode":"cron","expr":"0 12 * * *"}`))
	var others []string
	for i := 0; i < 5; i++ {
		others = append(others, h.create(jobJSON(fmt.Sprint("o", i), `{"mode":"cron","expr":"0 13 * * *"}`)))
	}
	rl := startLoop(t, h, h.svc)
	rl.waitArmed(t, at(day+"10:00:00Z"))
	rl.rec.reset()
	rl.reader.reset()

	h.clk.Set(at(day + "09:31:00Z"))
	h.patch(b, `{"schedule":{"mode":"cron","expr":"45 9 * * *"}}`)
	rl.waitArmed(t, at(day+"09:45:00Z"))
	gets, alls := rl.reader.reads()
	if calls, _ := rl.rec.snapshot(); len(calls) != 0 || alls != 0 || strings.Join(gets, ",") != b {
		t.Fatalf("update of one job: reconciled %v, GetJob %v, AllJobs %d", calls, gets, alls)
	}
	if rl.loop.Len() != 7 {
		t.Fatalf("heap %d", rl.loop.Len())
	}

	h.clk.Set(at(day + "09:45:00Z"))
	rl.waitArmed(t, at(day+"10:00:00Z"))
	if calls, _ := rl.rec.snapshot(); fmt.Sprint(calls) != fmt.Sprint(map[string]int{b: 1}) {
		t.Fatalf("at 09:45 reconciled %v", calls)
	}
	h.expectLedger(b, "fired 09:45 #1")

	h.clk.Set(at(day + "10:00:00Z"))
	rl.waitArmed(t, at(day+"11:00:00Z"))
	if calls, _ := rl.rec.snapshot(); fmt.Sprint(calls) != fmt.Sprint(map[string]int{a: 1, b: 1}) {
		t.Fatalf("at 10:00 reconciled %v", calls)
	}

	// Disabling a removes it; the others are untouched.
	rl.reader.reset()
	h.clk.Set(at(day + "10:10:00Z"))
	h.patch(a, `{"enabled":false}`)
	rl.waitArmed(t, at(day+"13:00:00Z"))
	if gets, alls := rl.reader.reads(); strings.Join(gets, ",") != a || alls != 0 || rl.loop.Len() != 6 {
		t.Fatalf("disable: GetJob %v AllJobs %d heap %d", gets, alls, rl.loop.Len())
	}
	// Deleting one of the others removes it.
	if err := h.svc.DeleteJob(h.ctx, others[0], false); err != nil {
		t.Fatal(err)
	}
	rl.waitArmed(t, at(day+"13:00:00Z"))
	if rl.loop.Len() != 5 {
		t.Fatalf("heap %d after delete", rl.loop.Len())
	}
	rl.rec.reset()
	h.clk.Set(at(day + "13:00:00Z"))
	rl.waitArmed(t, at("2026-03-03T09:45:00Z"))
	calls, _ := rl.rec.snapshot()
	if len(calls) != 4 || calls[a] != 0 || calls[b] != 0 || calls[others[0]] != 0 {
		t.Fatalf("at 13:00 reconciled %v", calls)
	}
}

// TestLoopUpdateReadError: a store error while refreshing a job after a definition change must
// not drop the job from the scheduler; a reconciliation retries after RetryDelay.
func TestLoopUpdateReadError(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	id := h.create(hourly("h", "run_all"))
	rl := startLoop(t, h, h.svc)
	rl.log.mu.Lock()
	rl.log.expected = "read job failed"
	rl.log.mu.Unlock()
	rl.waitArmed(t, at(day+"10:00:00Z"))
	rl.reader.mu.Lock()
	rl.reader.failGet = 1
	rl.reader.mu.Unlock()
	h.clk.Set(at(day + "09:40:00Z"))
	h.patch(id, `{"schedule":{"mode":"cron","expr":"50 * * * *"}}`)
	rl.waitArmed(t, at(day+"09:40:01Z"))
	h.clk.Set(at(day + "09:40:01Z"))
	rl.waitArmed(t, at(day+"09:50:00Z"))
	h.clk.Set(at(day + "09:50:00Z"))
	rl.waitArmed(t, at(day+"10:50:00Z"))
	h.expectLedger(id, "fired 09:50 #1")
}

// TestLoopUpdateDuringReconcile: a definition change committed while the loop is reconciling
// the same job must not be overwritten by the reconciliation's (older) cursor.
func TestLoopUpdateDuringReconcile(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	id := h.create(hourly("h", "run_all"))
	rl := startLoop(t, h, h.svc)
	rl.waitArmed(t, at(day+"10:00:00Z"))
	rl.rec.reset()
	patched := false
	rl.rec.mu.Lock()
	rl.rec.after = func(job string) {
		if job == id && !patched {
			patched = true
			// Committed after the reconciliation, before the loop records its result.
			h.patch(id, `{"schedule":{"mode":"cron","expr":"*/5 * * * *"}}`)
		}
	}
	rl.rec.mu.Unlock()
	h.clk.Set(at(day + "10:00:00Z"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls, inflight := rl.rec.snapshot()
		nd, _ := rl.loop.NextDue()
		if calls[id] == 1 && inflight == 0 && nd.After(at(day+"10:00:00Z")) && rl.clk.Armed().Equal(nd) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loop did not settle: calls %v inflight %d next due %v armed %v", calls, inflight, nd, rl.clk.Armed())
		}
		time.Sleep(time.Millisecond)
	}
	if c := h.cursor(id); !c.NextRunAt.Equal(at(day + "10:05:00Z")) {
		t.Fatalf("stored cursor %+v", c)
	}
	if nd, _ := rl.loop.NextDue(); !nd.Equal(at(day + "10:05:00Z")) {
		t.Fatalf("the loop sleeps until %v, the job is due at 10:05", nd)
	}
	h.clk.Set(at(day + "10:05:00Z"))
	rl.waitArmed(t, at(day+"10:10:00Z"))
	h.expectLedger(id, "fired 10:00 #1", "fired 10:05 #2")
}

// TestTwoLoopsRace: two loops (two services, as two nodes would) over one store and one clock
// reconcile the same jobs concurrently: no slot fires twice and every ledger is complete.
func TestTwoLoopsRace(t *testing.T) {
	start := at(day + "09:59:40Z")
	testTwoLoopsRace(t, newHarness(t, start), start)
}

// TestTwoLoopsRacePostgres is TestTwoLoopsRace on PostgreSQL, where the two loops' batches
// really run concurrently and skip each other's locked jobs (store.Tx.LockJobs).
func TestTwoLoopsRacePostgres(t *testing.T) {
	start := at(day + "09:59:40Z")
	testTwoLoopsRace(t, newPGHarness(t, start), start)
}

func testTwoLoopsRace(t *testing.T, h *harness, start time.Time) {
	bodies := []string{
		hourly("hourly", "run_all"),
		jobJSON("minute-all", `{"mode":"cron","expr":"* * * * *"}`, `"catch_up_policy":"run_all"`, `"misfire_grace_seconds":0`),
		jobJSON("minute-once", `{"mode":"cron","expr":"* * * * *"}`, `"catch_up_policy":"run_once"`, `"misfire_grace_seconds":0`),
		jobJSON("minute-skip", `{"mode":"cron","expr":"* * * * *"}`, `"misfire_grace_seconds":0`),
		jobJSON("two", `{"mode":"cron","expr":"*/2 * * * *"}`, `"catch_up_policy":"run_all"`, `"overlap_policy":"skip"`),
		jobJSON("every45", `{"mode":"every","interval":"45s"}`, `"catch_up_policy":"run_all"`),
		jobJSON("every90", `{"mode":"every","interval":"90s"}`, `"catch_up_policy":"run_once"`, `"misfire_grace_seconds":10`),
		jobJSON("every7", `{"mode":"every","interval":"7s"}`, `"catch_up_policy":"run_all"`, `"fire_limit":{"max":20,"window":"5m"}`),
		jobJSON("at", `{"mode":"at","time":"2026-03-02T10:07:30Z"}`),
		jobJSON("ny", `{"mode":"cron","expr":"*/3 * * * *","timezone":"America/New_York"}`, `"catch_up_policy":"run_once"`),
	}
	var ids []string
	for _, b := range bodies {
		ids = append(ids, h.create(b))
	}
	svc2 := service.New(h.st, h.clk, h.svc.Config())
	l1 := startLoop(t, h, h.svc)
	l2 := startLoop(t, h, svc2)

	settle := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ok := true
			for _, rl := range []*runningLoop{l1, l2} {
				_, inflight := rl.rec.snapshot()
				nd, has := rl.loop.NextDue()
				if inflight != 0 || !has || !nd.After(h.clk.Now()) || !rl.clk.Armed().Equal(nd) {
					ok = false
				}
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				var state []string
				for i, rl := range []*runningLoop{l1, l2} {
					_, inflight := rl.rec.snapshot()
					nd, has := rl.loop.NextDue()
					state = append(state, fmt.Sprintf("loop %d: next due %v (%v), armed %v, %d in flight, %d claiming", i+1, nd, has, rl.clk.Armed(), inflight, rl.loop.Claiming()))
				}
				t.Fatalf("loops did not settle at %v: %s", h.clk.Now(), strings.Join(state, "; "))
			}
			time.Sleep(time.Millisecond)
		}
	}
	settle()
	rng := rand.New(rand.NewSource(1))
	now := start
	for step := 0; step < 60; step++ {
		switch r := rng.Intn(10); {
		case r == 0: // a downtime
			now = now.Add(time.Duration(2+rng.Intn(4)) * time.Minute)
		case r == 1: // the wall clock moves back
			now = now.Add(-time.Duration(1+rng.Intn(90)) * time.Second)
		default: // to the next due instant of either loop
			nd, _ := l1.loop.NextDue()
			if nd2, _ := l2.loop.NextDue(); nd2.Before(nd) {
				nd = nd2
			}
			if nd.Before(now) {
				nd = now.Add(time.Second)
			}
			now = nd
		}
		h.clk.Set(now)
		settle()
	}
	calls1, _ := l1.rec.snapshot()
	calls2, _ := l2.rec.snapshot()
	total1, total2 := 0, 0
	for _, id := range ids {
		total1 += calls1[id]
		total2 += calls2[id]
	}
	if total1 == 0 || total2 == 0 {
		t.Fatalf("one loop did nothing: %d / %d reconciliations", total1, total2)
	}

	fired := 0
	for i, id := range ids {
		runs := h.runs(id)
		seen := map[string]bool{}
		for _, r := range runs {
			if seen[r.FireID] {
				t.Errorf("%s: fire %s admitted twice", bodies[i], r.FireID)
			}
			seen[r.FireID] = true
			if r.FireID != automation.FireID(id, r.ScheduledAt) {
				t.Errorf("%s: run %+v", bodies[i], r)
			}
		}
		firedEntries := 0
		for _, e := range h.ledger(id) {
			if e.Outcome == automation.OutcomeFired {
				firedEntries++
				if !seen[e.FireID] {
					t.Errorf("%s: fired entry %+v has no run", bodies[i], e)
				}
			}
		}
		if firedEntries != len(runs) {
			t.Errorf("%s: %d fired entries, %d runs", bodies[i], firedEntries, len(runs))
		}
		fired += len(runs)
		h.ledgerComplete(id, start)
	}
	outcomes := map[string]int{}
	for _, id := range ids {
		for _, e := range h.ledger(id) {
			outcomes[e.Outcome+"/"+e.Reason] += e.Count
		}
	}
	t.Logf("final clock %v; %d runs; reconciliations %d + %d; slot outcomes %v", now, fired, total1, total2, outcomes)
}

// TestLoopRefresh: Refresh re-reads every job's next due instant with one query, so changes the
// loop was not told about (made by another node) reach the heap: a moved schedule, a disabled
// job and a deleted job.
func TestLoopRefresh(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	a := h.create(hourly("a", "run_all"))
	b := h.create(hourly("b", "run_all"))
	c := h.create(hourly("c", "run_all"))
	rl := startLoop(t, h, h.svc)
	rl.waitArmed(t, at(day+"10:00:00Z"))
	// Another node's service: its changes are not notified to this loop.
	other := *h
	other.svc = service.New(h.st, h.clk, h.svc.Config())
	h.clk.Set(at(day + "09:31:00Z"))
	other.patch(b, `{"schedule":{"mode":"cron","expr":"45 9 * * *"}}`)
	other.patch(c, `{"enabled":false}`)
	if err := other.svc.DeleteJob(h.ctx, a, false); err != nil {
		t.Fatal(err)
	}
	if nd, _ := rl.loop.NextDue(); rl.loop.Len() != 3 || !nd.Equal(at(day+"10:00:00Z")) {
		t.Fatalf("the loop changed without being told: heap %d, next %v", rl.loop.Len(), nd)
	}
	if err := rl.loop.Refresh(h.ctx); err != nil {
		t.Fatal(err)
	}
	rl.waitArmed(t, at(day+"09:45:00Z"))
	if rl.loop.Len() != 1 {
		t.Fatalf("heap %d after refresh", rl.loop.Len())
	}
	h.clk.Set(at(day + "09:45:00Z"))
	rl.waitArmed(t, at("2026-03-03T09:45:00Z"))
	h.expectLedger(b, "fired 09:45 #1")
	h.expectLedger(c)
}
