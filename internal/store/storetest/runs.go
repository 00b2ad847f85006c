package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

func testRunRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	full := fullRun("run_full")
	minimal := run("run_min", "job_1", at(0)) // zero EndedAt, DispatchedAt, …; nil envelope
	emptyEnv := run("run_env", "trg_1", at(1))
	emptyEnv.Envelope = []byte{}
	write(t, s, func(tx store.Tx) error {
		for _, r := range []*automation.Run{full, minimal, emptyEnv} {
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	for _, want := range []*automation.Run{full, minimal, emptyEnv} {
		got, err := s.GetRun(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, want.ID, got, want)
	}
	got, err := s.GetRun(ctx, "run_min")
	if err != nil {
		t.Fatal(err)
	}
	for name, tm := range map[string]time.Time{"ended_at": got.EndedAt, "dispatched_at": got.DispatchedAt,
		"delivery_error_at": got.DeliveryErrorAt, "lease_expires_at": got.LeaseExpiresAt} {
		if !tm.IsZero() {
			t.Errorf("unset %s came back as %v", name, tm)
		}
	}
	if got.TriggerID != "" || got.JobID != "job_1" {
		t.Errorf("job_id/trigger_id = %q/%q", got.JobID, got.TriggerID)
	}
	if _, err := s.GetRun(ctx, "run_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRun(missing) = %v, want ErrNotFound", err)
	}
}

func testRunFireAttemptConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := run("run_1", "job_1", at(0))
	first.FireID = "fire_x"
	write(t, s, func(tx store.Tx) error { return tx.InsertRun(first) })

	dup := run("run_2", "job_1", at(1))
	dup.FireID = "fire_x"
	err := writeErr(s, func(tx store.Tx) error { return tx.InsertRun(dup) })
	if !store.IsConflict(err, store.UniqueFireAttempt) {
		t.Fatalf("duplicate (fire_id, attempt) = %v, want conflict %s", err, store.UniqueFireAttempt)
	}
	if _, err := s.GetRun(ctx, "run_2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("conflicting run was stored (GetRun = %v)", err)
	}

	// Attempt 2 of the same fire is a different row.
	retry := run("run_3", "job_1", at(2))
	retry.FireID, retry.Attempt, retry.RetryOf = "fire_x", 2, "run_1"
	write(t, s, func(tx store.Tx) error { return tx.InsertRun(retry) })
	runs, err := s.ListRuns(ctx, store.RunQuery{FireID: "fire_x"})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "attempts of fire_x", runIDs(runs), []string{"run_3", "run_1"})
}

func testUpdateRunCAS(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := run("run_1", "job_1", at(0))
	write(t, s, func(tx store.Tx) error { return tx.InsertRun(r) })

	running := *r
	running.Status = automation.RunRunning
	running.DispatchedAt = at(time.Second)
	running.NodeID, running.SessionID = "node-a", "ses_1"
	running.LeaseOwner, running.LeaseExpiresAt = "node-a", at(31*time.Second)

	var ok bool
	write(t, s, func(tx store.Tx) error {
		var err error
		ok, err = tx.UpdateRun(&running, automation.RunRunning) // stored status is scheduled
		return err
	})
	if ok {
		t.Fatal("UpdateRun with the wrong fromStatus reported an update")
	}
	got, err := s.GetRun(ctx, "run_1")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "run after refused update", got, r)

	write(t, s, func(tx store.Tx) error {
		var err error
		ok, err = tx.UpdateRun(&running, automation.RunScheduled)
		return err
	})
	if !ok {
		t.Fatal("UpdateRun with the right fromStatus reported no update")
	}
	got, err = s.GetRun(ctx, "run_1")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "updated run", got, &running)

	// A terminal update clears the lease and sets every remaining field.
	done := fullRun("run_1")
	write(t, s, func(tx store.Tx) error {
		var err error
		ok, err = tx.UpdateRun(done, automation.RunRunning)
		return err
	})
	got, err = s.GetRun(ctx, "run_1")
	if err != nil || !ok {
		t.Fatalf("UpdateRun to terminal = %v, %v", ok, err)
	}
	mustEqual(t, "terminal run", got, done)

	var missingErr error
	write(t, s, func(tx store.Tx) error {
		ok, missingErr = tx.UpdateRun(run("run_missing", "job_1", at(0)), automation.RunScheduled)
		return nil
	})
	if ok || !errors.Is(missingErr, store.ErrNotFound) {
		t.Fatalf("UpdateRun(missing) = %v, %v; want false, ErrNotFound", ok, missingErr)
	}
}

func testActiveRuns(t *testing.T, s store.Store) {
	mk := func(id, def, status string, scheduled time.Duration) *automation.Run {
		r := run(id, def, at(0))
		r.Status, r.ScheduledAt = status, at(scheduled)
		if automation.Terminal(status) {
			r.EndedAt = at(time.Hour)
		}
		return r
	}
	const sch, rng = automation.RunScheduled, automation.RunRunning
	runs := []*automation.Run{
		mk("run_a1", "job_a", sch, 3*time.Minute),
		mk("run_a2", "job_a", rng, time.Minute),
		mk("run_a3", "job_a", automation.RunCompleted, 0),
		mk("run_a0", "job_a", sch, time.Minute), // same scheduled_at as run_a2: id breaks the tie
		mk("run_a4", "job_a", automation.RunCanceled, 2*time.Minute),
		mk("run_a5", "job_a", automation.RunFailed, 2*time.Minute),
		mk("run_a6", "job_a", automation.RunDelegated, 2*time.Minute),
		mk("run_b1", "job_b", rng, 0),
		mk("run_t2", "trg_t", sch, 2*time.Minute),
		mk("run_t1", "trg_t", rng, 5*time.Minute),
		mk("run_t0", "trg_t", automation.RunFailed, 0),
	}
	got := map[string][]string{}
	write(t, s, func(tx store.Tx) error {
		for _, r := range runs {
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		for _, def := range []string{"job_a", "job_b", "trg_t", "job_none"} {
			rs, err := tx.ActiveRuns(def)
			if err != nil {
				return err
			}
			got[def] = runIDs(rs)
		}
		return nil
	})
	mustEqual(t, "active runs", got, map[string][]string{
		"job_a":    {"run_a0", "run_a2", "run_a1"},
		"job_b":    {"run_b1"},
		"trg_t":    {"run_t2", "run_t1"},
		"job_none": {},
	})
}

func testCountFires(t *testing.T, s store.Store) {
	mk := func(id, def string, started time.Duration, status string) *automation.Run {
		r := run(id, def, at(started))
		r.Status = status
		return r
	}
	const m = time.Minute
	runs := []*automation.Run{
		mk("run_1", "job_a", 0, automation.RunCompleted),
		mk("run_2", "job_a", 10*m, automation.RunFailed),
		mk("run_3", "job_a", 20*m, automation.RunCanceled), // never counted
		mk("run_4", "job_a", 30*m, automation.RunScheduled),
		mk("run_5", "job_a", 60*m, automation.RunDelegated),
		mk("run_6", "job_b", 15*m, automation.RunRunning),
		mk("run_7", "trg_t", 15*m, automation.RunScheduled),
		mk("run_8", "trg_t", 16*m, automation.RunCanceled),
	}
	type result struct {
		n        int
		earliest time.Time
	}
	tests := []struct {
		def          string
		since, until time.Duration
		want         result
	}{
		{"job_a", 0, 30 * m, result{2, at(10 * m)}},                 // since exclusive, until inclusive
		{"job_a", -time.Nanosecond, 60 * m, result{4, at(0)}},       // everything but the canceled run
		{"job_a", 0, 30*m - time.Nanosecond, result{1, at(10 * m)}}, // until excludes run_4 now
		{"job_a", 20 * m, 29 * m, result{}},                         // only the canceled run
		{"job_a", 60 * m, 2 * 60 * m, result{}},
		{"job_b", 0, 60 * m, result{1, at(15 * m)}},
		{"trg_t", 0, 60 * m, result{1, at(15 * m)}},
		{"job_none", 0, 60 * m, result{}},
	}
	got := make([]result, len(tests))
	write(t, s, func(tx store.Tx) error {
		for _, r := range runs {
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		for i, tc := range tests {
			n, earliest, err := tx.CountFires(tc.def, at(tc.since), at(tc.until))
			if err != nil {
				return err
			}
			got[i] = result{n, earliest}
		}
		return nil
	})
	for i, tc := range tests {
		if got[i].n != tc.want.n || !got[i].earliest.Equal(tc.want.earliest) {
			t.Errorf("CountFires(%s, +%v, +%v) = %d, %s; want %d, %s", tc.def, tc.since, tc.until,
				got[i].n, fmtTime(got[i].earliest), tc.want.n, fmtTime(tc.want.earliest))
		}
	}
}

func testListRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	defs := []string{"job_a", "job_b", "trg_t"}
	statuses := automation.RunStatuses
	var runs []*automation.Run
	for i := range 40 {
		// Pairs share started_at so that id breaks ties; ids are not in time order.
		id := fmt.Sprintf("run_%02d", (i*7)%40)
		r := run(id, defs[i%3], at(time.Duration(i/2)*time.Minute))
		r.Status = statuses[i%len(statuses)]
		r.FireID = fmt.Sprintf("fire_%d", i/4)
		r.Attempt = i%4 + 1
		runs = append(runs, r)
	}
	write(t, s, func(tx store.Tx) error {
		for _, r := range runs {
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b *automation.Run) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID))
	})
	filter := func(keep func(*automation.Run) bool) []string {
		out := []string{}
		for _, r := range sorted {
			if keep(r) {
				out = append(out, r.ID)
			}
		}
		if len(out) == 0 {
			t.Fatal("fixture: a filter that should select runs selects none")
		}
		return out
	}
	all := func(*automation.Run) bool { return true }
	since, until := at(5*time.Minute), at(15*time.Minute)
	tests := []struct {
		name string
		q    store.RunQuery
		want []string // empty only when the query must select nothing
	}{
		{"all", store.RunQuery{}, filter(all)},
		{"job", store.RunQuery{JobID: "job_a"}, filter(func(r *automation.Run) bool { return r.JobID == "job_a" })},
		{"trigger", store.RunQuery{TriggerID: "trg_t"}, filter(func(r *automation.Run) bool { return r.TriggerID == "trg_t" })},
		{"job and trigger", store.RunQuery{JobID: "job_a", TriggerID: "trg_t"}, []string{}},
		{"trigger id as job id", store.RunQuery{JobID: "trg_t"}, []string{}},
		{"status", store.RunQuery{Status: automation.RunFailed},
			filter(func(r *automation.Run) bool { return r.Status == automation.RunFailed })},
		{"fire", store.RunQuery{FireID: "fire_3"}, filter(func(r *automation.Run) bool { return r.FireID == "fire_3" })},
		{"since inclusive", store.RunQuery{Since: since}, filter(func(r *automation.Run) bool { return !r.StartedAt.Before(since) })},
		{"until exclusive", store.RunQuery{Until: until}, filter(func(r *automation.Run) bool { return r.StartedAt.Before(until) })},
		{"window", store.RunQuery{Since: since, Until: until},
			filter(func(r *automation.Run) bool { return !r.StartedAt.Before(since) && r.StartedAt.Before(until) })},
		{"job, status and window", store.RunQuery{JobID: "job_b", Status: automation.RunRunning, Since: at(0), Until: until},
			filter(func(r *automation.Run) bool {
				return r.JobID == "job_b" && r.Status == automation.RunRunning && r.StartedAt.Before(until)
			})},
		{"job and active status", store.RunQuery{JobID: "job_a", Status: automation.RunScheduled},
			filter(func(r *automation.Run) bool { return r.JobID == "job_a" && r.Status == automation.RunScheduled })},
		{"job and running", store.RunQuery{JobID: "job_b", Status: automation.RunRunning},
			filter(func(r *automation.Run) bool { return r.JobID == "job_b" && r.Status == automation.RunRunning })},
		{"trigger and active status", store.RunQuery{TriggerID: "trg_t", Status: automation.RunRunning}, []string{}},
		{"trigger and status", store.RunQuery{TriggerID: "trg_t", Status: automation.RunDelegated},
			filter(func(r *automation.Run) bool { return r.TriggerID == "trg_t" && r.Status == automation.RunDelegated })},
		{"empty window", store.RunQuery{Since: until, Until: since}, []string{}},
		{"unknown status", store.RunQuery{Status: "nope"}, []string{}},
	}
	for _, tc := range tests {
		got, err := s.ListRuns(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		mustEqual(t, tc.name, runIDs(got), tc.want)

		for _, size := range []int{1, 3, 7} {
			paged := []string{}
			q := tc.q
			q.Limit = size
			for range len(runs) + 2 {
				page, err := s.ListRuns(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > size {
					t.Fatalf("%s: page of %d with limit %d", tc.name, len(page), size)
				}
				paged = append(paged, runIDs(page)...)
				if len(page) < size {
					break
				}
				last := page[len(page)-1]
				q.BeforeStartedAt, q.BeforeID = last.StartedAt, last.ID
			}
			assertUnique(t, paged)
			mustEqual(t, fmt.Sprintf("%s paged by %d", tc.name, size), paged, tc.want)
		}
	}

	// A keyset position between two runs with the same started_at.
	got, err := s.ListRuns(ctx, store.RunQuery{BeforeStartedAt: sorted[4].StartedAt, BeforeID: sorted[4].ID, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "before the 5th run", runIDs(got), runIDs(sorted[5:8]))
	if !sorted[4].StartedAt.Equal(sorted[5].StartedAt) && !sorted[4].StartedAt.Equal(sorted[3].StartedAt) {
		t.Fatal("fixture: the 5th run shares its started_at with no neighbour")
	}
}

func testCountRunsByStatus(t *testing.T, s store.Store) {
	ctx := context.Background()
	counts, err := s.CountRunsByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 0 {
		t.Fatalf("counts of an empty store = %v", counts)
	}
	want := map[string]int{}
	var runs []*automation.Run
	for i := range 17 {
		r := run(fmt.Sprintf("run_%02d", i), "job_1", at(time.Duration(i)))
		r.Status = automation.RunStatuses[i%4] // no failed or canceled runs
		runs = append(runs, r)
		want[r.Status]++
	}
	write(t, s, func(tx store.Tx) error {
		for _, r := range runs {
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	counts, err = s.CountRunsByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "counts", counts, want)

	// Moving every delegated run to canceled: delegated disappears, canceled appears.
	write(t, s, func(tx store.Tx) error {
		for _, r := range runs {
			if r.Status != automation.RunDelegated {
				continue
			}
			c := *r
			c.Status = automation.RunCanceled
			if ok, err := tx.UpdateRun(&c, automation.RunDelegated); err != nil || !ok {
				return fmt.Errorf("UpdateRun(%s) = %v, %v", r.ID, ok, err)
			}
		}
		return nil
	})
	want[automation.RunCanceled] = want[automation.RunDelegated]
	delete(want, automation.RunDelegated)
	counts, err = s.CountRunsByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "counts after update", counts, want)
}
