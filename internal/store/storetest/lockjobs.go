package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// testLockJobs: LockJobs reads several jobs with their cursors in the order asked, leaves out
// missing ids (and repeated ones), and reports nothing busy when no other transaction holds
// a job.
func testLockJobs(t *testing.T, s store.Store) {
	full := fullJob("job_1", "one")
	cur := fullCursor("job_1")
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertJob(full, cur); err != nil {
			return err
		}
		if err := tx.InsertJob(job("job_2", "two", ""), nil); err != nil {
			return err
		}
		return tx.InsertJob(job("job_3", "three", ""), nil)
	})
	var (
		recs  []store.JobRecord
		busy  []string
		empty []store.JobRecord
	)
	write(t, s, func(tx store.Tx) error {
		var err error
		if recs, busy, err = tx.LockJobs([]string{"job_3", "job_missing", "job_1", "job_3"}); err != nil {
			return err
		}
		empty, _, err = tx.LockJobs(nil)
		return err
	})
	mustEqual(t, "locked ids", jobIDs(recs), []string{"job_3", "job_1"})
	mustEqual(t, "busy", len(busy), 0)
	mustEqual(t, "no ids", len(empty), 0)
	mustEqual(t, "job_1", recs[1].Job, full)
	mustEqual(t, "job_1 cursor", recs[1].Cursor, cur)
	mustEqual(t, "job_3 cursor", recs[0].Cursor, &automation.Cursor{JobID: "job_3"})
}

// testLockJobsSkipsHeld: a job another transaction holds (LockJob) is never handed to a
// second LockJobs while held. PostgreSQL skips it (FOR UPDATE SKIP LOCKED) without waiting and
// reports it busy; SQLite's single writer runs the second transaction after the first.
func testLockJobsSkipsHeld(t *testing.T, s store.Store) {
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertJob(job("job_1", "one", ""), nil); err != nil {
			return err
		}
		return tx.InsertJob(job("job_2", "two", ""), nil)
	})
	locked := make(chan struct{})
	type result struct {
		ids, busy []string
		at        time.Time
		err       error
	}
	second := make(chan result, 1)
	var releasedAt time.Time
	go func() {
		<-locked
		var r result
		r.err = s.Write(context.Background(), func(tx store.Tx) error {
			recs, busy, err := tx.LockJobs([]string{"job_1", "job_2"})
			r.ids, r.busy = jobIDs(recs), busy
			return err
		})
		r.at = time.Now()
		second <- r
	}()
	write(t, s, func(tx store.Tx) error {
		if _, err := tx.LockJob("job_1"); err != nil {
			return err
		}
		close(locked)
		// Hold the lock until the second transaction finished, or for a while (a single
		// writer cannot run it meanwhile).
		select {
		case r := <-second:
			second <- r
		case <-time.After(500 * time.Millisecond):
		}
		releasedAt = time.Now()
		return nil
	})
	r := <-second
	if r.err != nil {
		t.Fatalf("second transaction: %v", r.err)
	}
	if r.at.Before(releasedAt) {
		// It ran while job_1 was held: it must have skipped it.
		mustEqual(t, "locked while job_1 held", r.ids, []string{"job_2"})
		mustEqual(t, "busy while job_1 held", r.busy, []string{"job_1"})
		return
	}
	if s.Kind() == "postgres" {
		t.Fatalf("LockJobs waited for a held job instead of skipping it (got %v, busy %v)", r.ids, r.busy)
	}
	mustEqual(t, "locked after release", r.ids, []string{"job_1", "job_2"})
	mustEqual(t, "busy after release", len(r.busy), 0)
}

// testJobSchedulesAndCounts: JobSchedules lists every job's scheduling fields; CountDefinitions
// counts jobs and triggers, all and enabled.
func testJobSchedulesAndCounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, err := s.CountDefinitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "empty counts", c, store.DefinitionCounts{})
	off := job("job_2", "two", "")
	off.Enabled = false
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertJob(fullJob("job_1", "one"), fullCursor("job_1")); err != nil {
			return err
		}
		if err := tx.InsertJob(off, nil); err != nil {
			return err
		}
		a := fullTrigger("trg_1", "a", "wh_1")
		b := fullTrigger("trg_2", "b", "wh_2")
		b.Enabled = false
		if err := tx.InsertTrigger(a); err != nil {
			return err
		}
		return tx.InsertTrigger(b)
	})
	c, err = s.CountDefinitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "counts", c, store.DefinitionCounts{Jobs: 2, EnabledJobs: 1, Triggers: 2, EnabledTriggers: 1})
	js, err := s.JobSchedules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.JobSchedule{}
	for _, j := range js {
		got[j.ID] = j
	}
	mustEqual(t, "schedules", got, map[string]store.JobSchedule{
		"job_1": {ID: "job_1", Source: automation.SourceConfig, Enabled: true, Mode: automation.ModeCron,
			Timezone: "America/New_York", NextRunAt: at(time.Hour + 2), CursorTimezone: "Europe/Paris"},
		"job_2": {ID: "job_2", Source: automation.SourceDynamic, Mode: automation.ModeEvery},
	})
}
