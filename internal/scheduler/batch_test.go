package scheduler_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/scheduler"
	"github.com/agh-dev/agh/internal/service"
)

func TestReconcileJobsBatch(t *testing.T) {
	testReconcileJobsBatch(t, newHarness(t, at(day+"09:30:00Z")))
}

func TestReconcileJobsBatchPostgres(t *testing.T) {
	testReconcileJobsBatch(t, newPGHarness(t, at(day+"09:30:00Z")))
}

// testReconcileJobsBatch: one ReconcileJobs call claims the due slots of many jobs in one
// transaction, exactly as one ReconcileJob per job would; a job that fails (a task-backed job
// while task delegation is not wired) gets its error and its failure counted without undoing
// or blocking the others; a missing job has no cursor; and batches racing on the same jobs from
// two services (two nodes) never fire a slot twice.
func testReconcileJobsBatch(t *testing.T, h *harness) {
	var ids []string
	for i := 0; i < 40; i++ {
		body := hourly(fmt.Sprint("h", i), "run_all")
		if i%4 == 1 {
			body = hourly(fmt.Sprint("h", i), "skip_missed")
		}
		ids = append(ids, h.create(body))
	}
	// Five failing jobs: the first ones are set aside one batch attempt each, then (past
	// maxBatchRetries) the rest of the batch is reconciled one transaction per job.
	isBad := map[string]bool{}
	var batch []string
	for i := 0; i < 5; i++ {
		bad := h.create(jobJSON(fmt.Sprint("task", i), `{"mode":"cron","expr":"0 * * * *"}`, `"task":{"title":"t"}`))
		isBad[bad] = true
		batch = append(batch, bad)
		batch = append(batch, ids[i*8:i*8+8]...)
		if i == 2 {
			batch = append(batch, "job_missing")
		}
	}
	batch = append(batch, ids[3]) // listed twice: reconciled once, both get the result

	h.clk.Set(at(day + "10:00:00Z"))
	res := h.svc.ReconcileJobs(h.ctx, batch, time.Time{})
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d jobs", len(res), len(batch))
	}
	for i, id := range batch {
		r := res[i]
		switch {
		case isBad[id]:
			if r.Err == nil || r.Cursor != nil {
				t.Fatalf("task job: %+v", r)
			}
			if c := h.cursor(id); c.ConsecutiveResumeFailures != 1 || !c.AccountedUntil.Equal(at(day+"09:30:00Z")) {
				t.Fatalf("task job cursor after its failure %+v", c)
			}
		case id == "job_missing":
			if r.Err != nil || r.Cursor != nil || r.Busy {
				t.Fatalf("missing job: %+v", r)
			}
		default:
			if r.Err != nil || r.Busy || r.Cursor == nil || !r.Cursor.NextRunAt.Equal(at(day+"11:00:00Z")) {
				t.Fatalf("job %s: %+v", id, r)
			}
			h.expectRuns(id, at(day+"10:00:00Z"), "10:00")
			h.expectLedger(id, "fired 10:00 #1")
		}
	}

	// Two services (as two nodes) claim the same batch at 13:00 concurrently, twice over; jobs
	// one found busy are claimed again afterwards (as the loop does after BusyDelay).
	svc2 := service.New(h.st, h.clk, h.svc.Config())
	h.clk.Set(at(day + "13:00:30Z"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var busy []string
	for _, svc := range []*service.Service{h.svc, svc2, h.svc, svc2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := svc.ReconcileJobs(h.ctx, ids, time.Time{})
			mu.Lock()
			defer mu.Unlock()
			for i, r := range res {
				if r.Err != nil {
					t.Errorf("job %s: %v", ids[i], r.Err)
				}
				if r.Busy {
					busy = append(busy, ids[i])
				}
			}
		}()
	}
	wg.Wait()
	for _, r := range h.svc.ReconcileJobs(h.ctx, busy, time.Time{}) {
		if r.Err != nil || r.Busy {
			t.Fatalf("retry of busy jobs: %+v", r)
		}
	}
	for i, id := range ids {
		if i%4 == 1 {
			h.expectRuns(id, time.Time{}, "10:00", "13:00")
			h.expectLedger(id, "fired 10:00 #1", "skipped/misfire 11:00-12:00 x2", "fired 13:00 #2")
		} else {
			h.expectRuns(id, time.Time{}, "10:00", "11:00", "12:00", "13:00")
			h.expectLedger(id, "fired 10:00 #1", "fired 11:00 #2", "fired 12:00 #3", "fired 13:00 #4")
		}
		if c := h.cursor(id); !c.AccountedUntil.Equal(at(day+"13:00:30Z")) || !c.NextRunAt.Equal(at(day+"14:00:00Z")) {
			t.Fatalf("cursor %+v", c)
		}
	}
	t.Logf("%d of %d jobs found busy by one of the racing batches", len(busy), 4*len(ids))
}

// TestLoopClaimsCoincidentJobsTogether: jobs due at the same instant are handed to the
// reconciler in one batch (one transaction), not one call per job. 30 jobs are a group worth
// claiming ahead (30 × DefaultClaimCost ≥ MinLead): the loop wakes that much before the
// instant, admits their runs at once with scheduled_at the slot, and claims the next group
// ahead of 11:00 likewise.
func TestLoopClaimsCoincidentJobsTogether(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	var ids []string
	for i := 0; i < 30; i++ {
		ids = append(ids, h.create(hourly(fmt.Sprint("h", i), "run_all")))
	}
	lead := scheduler.PlannedLead(30, scheduler.DefaultClaimCost)
	rl := startLoop(t, h, h.svc)
	rl.approachGroup(t, h, at(day+"10:00:00Z"), lead)
	h.clk.Set(at(day + "10:00:00Z").Add(-lead))
	rl.waitArmedAhead(t, at(day+"11:00:00Z"), scheduler.MaxLead) // the next group: plan it 1 s before
	rl.rec.mu.Lock()
	batches := rl.rec.batches
	rl.rec.mu.Unlock()
	if len(batches) != 1 || len(batches[0]) != len(ids) {
		t.Fatalf("batches %v", batches)
	}
	for _, id := range ids {
		h.expectRuns(id, at(day+"10:00:00Z").Add(-lead), "10:00")
		h.expectLedger(id, "fired 10:00 #1")
		if c := h.cursor(id); !c.AccountedUntil.Equal(at(day+"10:00:00Z")) || !c.NextRunAt.Equal(at(day+"11:00:00Z")) {
			t.Fatalf("cursor %+v", c)
		}
	}
}

// TestLoopClaimsAheadOnlyWhatMayBe: in a group claimed ahead, jobs whose admission depends on
// the instant (overlap skip or cancel_previous) are left in the heap and claimed at the slot;
// jobs claimed ahead are not claimed again; a small group is claimed when due.
func TestLoopClaimsAheadOnlyWhatMayBe(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	var ahead, onTime []string
	for i := 0; i < 40; i++ {
		ahead = append(ahead, h.create(hourly(fmt.Sprint("a", i), "skip_missed")))
	}
	for i, p := range []string{"skip", "cancel_previous", "skip"} {
		onTime = append(onTime, h.create(hourly(fmt.Sprint("o", i), "skip_missed", `"overlap_policy":"`+p+`"`)))
	}
	// A small group at 10:30: claimed at its instant.
	small := h.create(jobJSON("small", `{"mode":"at","time":"2026-03-02T10:30:00Z"}`))
	// The loop learns which jobs cannot be claimed ahead only by asking: the first estimate
	// counts them all.
	lead := scheduler.PlannedLead(43, scheduler.DefaultClaimCost)
	rl := startLoop(t, h, h.svc)
	rl.approachGroup(t, h, at(day+"10:00:00Z"), lead)
	h.clk.Set(at(day + "10:00:00Z").Add(-lead))
	// The claimed jobs are back in the heap for 11:00; the others wait for 10:00.
	rl.waitArmed(t, at(day+"10:00:00Z"))
	for _, id := range ahead {
		h.expectRuns(id, at(day+"10:00:00Z").Add(-lead), "10:00")
	}
	for _, id := range onTime {
		h.expectRuns(id, time.Time{})
		h.expectLedger(id)
	}
	calls, _ := rl.rec.snapshot()
	h.clk.Set(at(day + "10:00:00Z"))
	rl.waitArmed(t, at(day+"10:30:00Z"))
	for _, id := range onTime {
		h.expectRuns(id, at(day+"10:00:00Z"), "10:00")
		h.expectLedger(id, "fired 10:00 #1")
	}
	after, _ := rl.rec.snapshot()
	for _, id := range ahead {
		if after[id] != calls[id] {
			t.Fatalf("job %s claimed again at its instant: %d then %d calls", id, calls[id], after[id])
		}
		h.expectRuns(id, time.Time{}, "10:00")
	}
	h.clk.Set(at(day + "10:30:00Z"))
	rl.waitArmedAhead(t, at(day+"11:00:00Z"), scheduler.MaxLead)
	h.expectRuns(small, at(day+"10:30:00Z"), "10:30")
}

// TestLoopClaimsAheadJobsDueCloseTogether: jobs due a little apart (every jobs created one
// after the other) are a group too: claimed one after the other from the first instant, the
// later ones would be committed late, so the loop starts early enough for the last one and
// claims them together, each up to the last one's instant.
func TestLoopClaimsAheadJobsDueCloseTogether(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	first := at(day + "10:00:00Z")
	const n, step = 40, 50 * time.Microsecond
	var ids []string
	for i := 0; i < n; i++ {
		ids = append(ids, h.create(jobJSON(fmt.Sprint("at", i), fmt.Sprintf(`{"mode":"at","time":%q}`,
			first.Add(time.Duration(i)*step).Format(time.RFC3339Nano)))))
	}
	// The last job's claim must start n claims before its instant, the earliest start of all.
	last := first.Add((n - 1) * step)
	start := last.Add(-scheduler.PlannedLead(n, scheduler.DefaultClaimCost))
	rl := startLoop(t, h, h.svc)
	rl.approachGroup(t, h, first, first.Sub(start))
	h.clk.Set(start)
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls, inflight := rl.rec.snapshot()
		if rl.loop.Len() == 0 && inflight == 0 && len(calls) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs left in the heap, %d claimed", rl.loop.Len(), len(calls))
		}
		time.Sleep(time.Millisecond)
	}
	for i, id := range ids {
		h.expectRuns(id, start, first.Add(time.Duration(i)*step).Format("15:04"))
	}
	rl.rec.mu.Lock()
	defer rl.rec.mu.Unlock()
	if len(rl.rec.batches) != 1 {
		t.Fatalf("%d batches", len(rl.rec.batches))
	}
}

// TestLoopLearnsClaimTime: the lead of a group follows the claim time measured on the groups
// before it.
func TestLoopLearnsClaimTime(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	var ids []string
	for i := 0; i < 100; i++ {
		ids = append(ids, h.create(hourly(fmt.Sprint("h", i), "skip_missed")))
	}
	rl := startLoop(t, h, h.svc)
	lead := scheduler.PlannedLead(100, scheduler.DefaultClaimCost)
	rl.approachGroup(t, h, at(day+"10:00:00Z"), lead)
	// Each claim takes 300 µs of the (fake) clock: the group takes 30 ms.
	rl.rec.mu.Lock()
	rl.rec.after = func(string) { h.clk.Advance(300 * time.Microsecond) }
	rl.rec.mu.Unlock()
	h.clk.Set(at(day + "10:00:00Z").Add(-lead))
	// The estimate moves a quarter of the way: (3 × 100 µs + 300 µs) / 4.
	rl.approachGroup(t, h, at(day+"11:00:00Z"), scheduler.PlannedLead(100, 150*time.Microsecond))
	for _, id := range ids {
		h.expectRuns(id, time.Time{}, "10:00")
	}
}

// TestClaimAheadThenScheduleChange: a slot claimed ahead stays claimed when the schedule
// changes before its instant: the new schedule starts after it, so no slot fires twice.
func TestClaimAheadThenScheduleChange(t *testing.T) {
	h := newHarness(t, at(day+"09:59:59.900Z"))
	id := h.create(hourly("h", "skip_missed"))
	if r := h.svc.ReconcileJobs(h.ctx, []string{id}, at(day+"10:00:00Z")); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	h.expectRuns(id, at(day+"09:59:59.900Z"), "10:00")
	h.clk.Set(at(day + "09:59:59.950Z"))
	h.patch(id, `{"schedule":{"mode":"cron","expr":"*/30 * * * *"}}`)
	if c := h.cursor(id); !c.AccountedUntil.Equal(at(day+"10:00:00Z")) || !c.NextRunAt.Equal(at(day+"10:30:00Z")) {
		t.Fatalf("cursor %+v", c)
	}
	h.clk.Set(at(day + "10:30:00Z"))
	h.reconcileAt(id, at(day+"10:30:00Z"))
	h.expectRuns(id, time.Time{}, "10:00", "10:30")
	h.expectLedger(id, "fired 10:00 #1", "fired 10:30 #2")
}

// TestReconcileJobsPrunesLedger: batch claims prune every job's ledger to slots_per_job, in
// one statement at the end of the batch.
func TestReconcileJobsPrunesLedger(t *testing.T) {
	h := newHarness(t, at(day+"09:59:30Z"), func(c *config.Config) { c.Automation.SlotsPerJob = 3 })
	p := h.create(jobJSON("p", `{"mode":"cron","expr":"* * * * *"}`, `"catch_up_policy":"run_all"`))
	q := h.create(jobJSON("q", `{"mode":"cron","expr":"* * * * *"}`, `"catch_up_policy":"run_all"`))
	for i := 0; i < 5; i++ {
		h.clk.Set(at(day + "10:00:00Z").Add(time.Duration(i) * time.Minute))
		ids := []string{p}
		if i < 2 {
			ids = append(ids, q)
		}
		for _, r := range h.svc.ReconcileJobs(h.ctx, ids, time.Time{}) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	h.expectLedger(p, "fired 10:02 #3", "fired 10:03 #4", "fired 10:04 #5")
	h.expectLedger(q, "fired 10:00 #1", "fired 10:01 #2")
	h.clk.Set(at(day + "10:08:30Z"))
	h.svc.ReconcileJobs(h.ctx, []string{p, q}, time.Time{})
	h.expectLedger(p, "fired 10:06 #7", "fired 10:07 #8", "fired 10:08 #9")
	h.expectLedger(q, "fired 10:06 #7", "fired 10:07 #8", "fired 10:08 #9")
}

// BenchmarkReconcileJobs: claims of 1,000 every-1s jobs, all due at each tick, in batches of
// scheduler.BatchSize (SQLite, synchronous=FULL). Reports the time per claimed slot.
func BenchmarkReconcileJobs(b *testing.B) {
	h := newHarness(b, at(day+"09:30:00Z"))
	var ids []string
	for i := 0; i < 1000; i++ {
		ids = append(ids, h.create(jobJSON(fmt.Sprint("e", i), `{"mode":"every","interval":"1s"}`, `"fire_limit":{"max":100000,"window":"1h"}`)))
	}
	now := at(day + "09:30:00Z")
	b.ResetTimer()
	for range b.N {
		now = now.Add(time.Second)
		h.clk.Set(now)
		for k := 0; k < len(ids); k += scheduler.BatchSize {
			for _, r := range h.svc.ReconcileJobs(h.ctx, ids[k:min(k+scheduler.BatchSize, len(ids))], time.Time{}) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(ids)), "µs/claim")
}
