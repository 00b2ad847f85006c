package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

var errBoom = errors.New("boom")

func testWriteErrorRollsBack(t *testing.T, s store.Store) {
	ctx := context.Background()
	err := writeErr(s, func(tx store.Tx) error {
		if err := tx.InsertJob(job("job_1", "one", "w1"), fullCursor("job_1")); err != nil {
			return err
		}
		if err := tx.InsertRun(run("run_1", "job_1", at(0))); err != nil {
			return err
		}
		if err := tx.SetMeta("k", []byte("v")); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Write = %v, want the function's error", err)
	}
	if _, err := s.GetJob(ctx, "job_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("job of a failed Write is visible (GetJob = %v)", err)
	}
	if _, err := s.GetRun(ctx, "run_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("run of a failed Write is visible (GetRun = %v)", err)
	}
	if _, err := s.GetMeta(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("meta of a failed Write is visible (GetMeta = %v)", err)
	}
	if n, err := s.CountWorkspaceDefinitions(ctx, "w1"); err != nil || n != 0 {
		t.Fatalf("CountWorkspaceDefinitions after failed Write = %d, %v", n, err)
	}
	if c, err := s.CountRunsByStatus(ctx); err != nil || len(c) != 0 {
		t.Fatalf("CountRunsByStatus after failed Write = %v, %v", c, err)
	}
	// The same rows can be written afterwards.
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertJob(job("job_1", "one", "w1"), nil); err != nil {
			return err
		}
		return tx.InsertRun(run("run_1", "job_1", at(0)))
	})
}

// testWriteErrorsIsolated starts many concurrent Writes, so that implementations with group
// commit batch them, and fails every fifth: exactly the others must be visible.
func testWriteErrorsIsolated(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Write(ctx, func(tx store.Tx) error {
				id := fmt.Sprintf("job_%02d", i)
				if err := tx.InsertJob(job(id, id, ""), nil); err != nil {
					return err
				}
				if err := tx.InsertRun(run(fmt.Sprintf("run_%02d", i), id, at(time.Duration(i)))); err != nil {
					return err
				}
				if err := tx.SetMeta(id, []byte{byte(i)}); err != nil {
					return err
				}
				if i%5 == 4 {
					return fmt.Errorf("write %d: %w", i, errBoom)
				}
				return nil
			})
		})
	}
	wg.Wait()
	var wantJobs []string
	for i, err := range errs {
		id := fmt.Sprintf("job_%02d", i)
		failing := i%5 == 4
		switch {
		case failing && !errors.Is(err, errBoom):
			t.Errorf("write %d = %v, want its own error", i, err)
		case !failing && err != nil:
			t.Errorf("write %d = %v, want nil", i, err)
		}
		_, jobErr := s.GetJob(ctx, id)
		_, metaErr := s.GetMeta(ctx, id)
		_, runErr := s.GetRun(ctx, fmt.Sprintf("run_%02d", i))
		for what, e := range map[string]error{"job": jobErr, "meta": metaErr, "run": runErr} {
			if failing && !errors.Is(e, store.ErrNotFound) {
				t.Errorf("write %d failed but its %s is visible (%v)", i, what, e)
			}
			if !failing && e != nil {
				t.Errorf("write %d succeeded but its %s is not visible (%v)", i, what, e)
			}
		}
		if !failing {
			wantJobs = append(wantJobs, id)
		}
	}
	all, err := s.AllJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "jobs", jobIDs(all), wantJobs)
	counts, err := s.CountRunsByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "run counts", counts, map[string]int{automation.RunScheduled: len(wantJobs)})
}

func testWritePanic(t *testing.T, s store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range 10 {
		wg.Go(func() {
			errs[i] = s.Write(ctx, func(tx store.Tx) error {
				key := fmt.Sprintf("k%d", i)
				if err := tx.SetMeta(key, []byte("v")); err != nil {
					return err
				}
				if i%3 == 0 {
					panic("kaboom " + key)
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		_, getErr := s.GetMeta(ctx, fmt.Sprintf("k%d", i))
		if i%3 == 0 {
			if err == nil {
				t.Errorf("panicking write %d returned nil", i)
			}
			if !errors.Is(getErr, store.ErrNotFound) {
				t.Errorf("panicking write %d left its meta behind (%v)", i, getErr)
			}
		} else if err != nil || getErr != nil {
			t.Errorf("write %d = %v, meta %v; want both nil", i, err, getErr)
		}
	}
	// The store still works.
	write(t, s, func(tx store.Tx) error { return tx.SetMeta("after", []byte("ok")) })
}

func testWriteCanceledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var ran atomic.Bool
	err := s.Write(ctx, func(tx store.Tx) error {
		ran.Store(true)
		return tx.SetMeta("k", []byte("v"))
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write(canceled ctx) = %v, want context.Canceled", err)
	}
	if ran.Load() {
		t.Fatal("Write ran fn although its context was canceled")
	}
	if _, err := s.GetMeta(context.Background(), "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("meta written by a canceled Write (%v)", err)
	}
}

// testWriteConflictHandledInsideFn: a function that meets a constraint violation may handle it
// and go on; its other changes are committed and the failed statement left nothing behind.
func testWriteConflictHandledInsideFn(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, func(tx store.Tx) error { return tx.InsertJob(job("job_1", "taken", ""), nil) })
	var conflictErr error
	write(t, s, func(tx store.Tx) error {
		conflictErr = tx.InsertJob(job("job_2", "taken", ""), fullCursor("job_2"))
		return tx.InsertJob(job("job_3", "free", ""), nil)
	})
	if !store.IsConflict(conflictErr, store.UniqueJobName) {
		t.Fatalf("InsertJob(taken name) = %v, want conflict", conflictErr)
	}
	all, err := s.AllJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "jobs", jobIDs(all), []string{"job_3", "job_1"})
}

func testReadYourWrites(t *testing.T, s store.Store) {
	ctx := context.Background()
	type seen struct { // exported fields: diff compares only those
		Job, Run, Workspace, Transcript, Meta    int
		Ledger, Runs, Jobs, AllJobs, Definitions int
		Counts                                   map[string]int
		OutsideJob, OutsideRun                   bool // found by reads on the Store
	}
	var got seen
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertWorkspace(&automation.Workspace{ID: "w1", Path: "/w1", Source: automation.SourceDynamic,
			CreatedAt: at(0), UpdatedAt: at(0)}); err != nil {
			return err
		}
		if err := tx.InsertJob(job("job_1", "one", "w1"), nil); err != nil {
			return err
		}
		if err := tx.InsertRun(run("run_1", "job_1", at(0))); err != nil {
			return err
		}
		if err := tx.InsertLedgerEntry(&automation.LedgerEntry{JobID: "job_1", SlotAt: at(0), Count: 1,
			Outcome: automation.OutcomeFired, RunID: "run_1"}); err != nil {
			return err
		}
		if err := tx.PutTranscript("run_1", []byte("t")); err != nil {
			return err
		}
		if err := tx.SetMeta("k", []byte("v")); err != nil {
			return err
		}
		found := func(err error) int {
			if err != nil {
				return 0
			}
			return 1
		}
		_, err := tx.GetJob(ctx, "job_1")
		got.Job = found(err)
		_, err = tx.GetRun(ctx, "run_1")
		got.Run = found(err)
		_, err = tx.GetWorkspace(ctx, "w1")
		got.Workspace = found(err)
		_, err = tx.GetTranscript(ctx, "run_1")
		got.Transcript = found(err)
		_, err = tx.GetMeta(ctx, "k")
		got.Meta = found(err)
		led, err := tx.ListLedger(ctx, store.LedgerQuery{JobID: "job_1"})
		if err != nil {
			return err
		}
		got.Ledger = len(led)
		runs, err := tx.ListRuns(ctx, store.RunQuery{JobID: "job_1"})
		if err != nil {
			return err
		}
		got.Runs = len(runs)
		jobs, err := tx.ListJobs(ctx, store.JobQuery{WorkspaceID: "w1"})
		if err != nil {
			return err
		}
		got.Jobs = len(jobs)
		all, err := tx.AllJobs(ctx)
		if err != nil {
			return err
		}
		got.AllJobs = len(all)
		if got.Definitions, err = tx.CountWorkspaceDefinitions(ctx, "w1"); err != nil {
			return err
		}
		if got.Counts, err = tx.CountRunsByStatus(ctx); err != nil {
			return err
		}
		// Reads outside the transaction do not see it before it commits.
		_, err = s.GetJob(ctx, "job_1")
		got.OutsideJob = !errors.Is(err, store.ErrNotFound)
		_, err = s.GetRun(ctx, "run_1")
		got.OutsideRun = !errors.Is(err, store.ErrNotFound)
		return nil
	})
	mustEqual(t, "reads inside the transaction", got, seen{
		Job: 1, Run: 1, Workspace: 1, Transcript: 1, Meta: 1, Ledger: 1, Runs: 1, Jobs: 1, AllJobs: 1, Definitions: 1,
		Counts: map[string]int{automation.RunScheduled: 1},
	})
	if _, err := s.GetJob(ctx, "job_1"); err != nil {
		t.Fatalf("GetJob after commit = %v", err)
	}
}

// testConcurrentReadThenInsert: concurrent Writes that each insert a run only if the
// definition has no active run (overlap "skip") admit exactly one.
func testConcurrentReadThenInsert(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 30
	var (
		wg       sync.WaitGroup
		admitted atomic.Int32
		errs     = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Write(ctx, func(tx store.Tx) error {
				active, err := tx.ActiveRuns("job_1")
				if err != nil {
					return err
				}
				if len(active) > 0 {
					return nil
				}
				admitted.Add(1)
				return tx.InsertRun(run(fmt.Sprintf("run_%02d", i), "job_1", at(time.Duration(i))))
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	runs, err := s.ListRuns(ctx, store.RunQuery{JobID: "job_1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || admitted.Load() != 1 {
		t.Fatalf("%d runs stored, %d admitted; want exactly 1", len(runs), admitted.Load())
	}
}

// testConcurrentFireLimit: concurrent admissions that count fires in the window and insert
// below the limit never admit more than the limit.
func testConcurrentFireLimit(t *testing.T, s store.Store) {
	ctx := context.Background()
	const (
		n     = 40
		limit = 5
	)
	now := at(time.Hour)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Write(ctx, func(tx store.Tx) error {
				count, _, err := tx.CountFires("trg_1", now.Add(-time.Hour), now)
				if err != nil {
					return err
				}
				if count >= limit {
					return nil
				}
				return tx.InsertRun(run(fmt.Sprintf("run_%02d", i), "trg_1", now.Add(-time.Duration(i))))
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	runs, err := s.ListRuns(ctx, store.RunQuery{TriggerID: "trg_1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != limit {
		t.Fatalf("%d runs admitted, want %d", len(runs), limit)
	}
}
