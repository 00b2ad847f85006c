package storetest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

func testJobRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	full := fullJob("job_full", "full")
	cur := fullCursor("ignored") // InsertJob takes the job's id
	noTask := job("job_notask", "notask", "")
	noOwner := job("job_noowner", "noowner", "")
	noOwner.Task = &automation.TaskConfig{Title: "t"}
	emptyTask := job("job_emptytask", "emptytask", "")
	emptyTask.Task = &automation.TaskConfig{}
	// A time given in another zone comes back as the same instant in UTC.
	zoned := job("job_zoned", "zoned", "")
	zoned.CreatedAt = time.Date(2026, 3, 8, 3, 30, 0, 999999999, ny)
	zoned.UpdatedAt = zoned.CreatedAt
	zoned.Enabled = false

	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertJob(full, cur); err != nil {
			return err
		}
		for _, j := range []*automation.Job{noTask, noOwner, emptyTask, zoned} {
			if err := tx.InsertJob(j, nil); err != nil {
				return err
			}
		}
		return nil
	})

	got, err := s.GetJob(ctx, full.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "job", got.Job, full)
	wantCur := *cur
	wantCur.JobID = full.ID
	mustEqual(t, "cursor", got.Cursor, &wantCur)

	for _, want := range []*automation.Job{noTask, noOwner, emptyTask, zoned} {
		got, err := s.GetJob(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, want.ID, got.Job, want)
		mustEqual(t, want.ID+" cursor", got.Cursor, &automation.Cursor{JobID: want.ID})
	}
	if got, _ := s.GetJob(ctx, emptyTask.ID); got.Job.Task == nil {
		t.Fatal("an empty (non-nil) task came back nil")
	}
	if got, _ := s.GetJob(ctx, zoned.ID); got.Job.CreatedAt.Location() != time.UTC {
		t.Fatalf("created_at location = %v, want UTC", got.Job.CreatedAt.Location())
	}

	if _, err := s.GetJob(ctx, "job_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetJob(missing) = %v, want ErrNotFound", err)
	}
}

func testJobNameConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, func(tx store.Tx) error { return tx.InsertJob(job("job_1", "nightly", ""), nil) })

	// The same name is fine in another scope or workspace.
	write(t, s, func(tx store.Tx) error {
		for _, j := range []*automation.Job{job("job_2", "nightly", "w1"), job("job_3", "nightly", "w2"),
			job("job_4", "Nightly", "")} {
			if err := tx.InsertJob(j, nil); err != nil {
				return err
			}
		}
		return nil
	})

	tests := []struct {
		name string
		job  *automation.Job
	}{
		{"global", job("job_5", "nightly", "")},
		{"workspace", job("job_6", "nightly", "w1")},
		{"other source", func() *automation.Job {
			j := job("job_7", "nightly", "w2")
			j.Source = automation.SourceConfig
			return j
		}()},
	}
	for _, tc := range tests {
		err := writeErr(s, func(tx store.Tx) error { return tx.InsertJob(tc.job, nil) })
		if !store.IsConflict(err, store.UniqueJobName) {
			t.Fatalf("%s: InsertJob = %v, want conflict %s", tc.name, err, store.UniqueJobName)
		}
		if _, err := s.GetJob(ctx, tc.job.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: conflicting job was stored (GetJob = %v)", tc.name, err)
		}
	}

	// Renaming into a taken name conflicts too.
	err := writeErr(s, func(tx store.Tx) error {
		j := job("job_4", "nightly", "")
		return tx.UpdateJob(j)
	})
	if !store.IsConflict(err, store.UniqueJobName) {
		t.Fatalf("UpdateJob into taken name = %v, want conflict", err)
	}
	all, err := s.AllJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "jobs", jobIDs(all), []string{"job_4", "job_1", "job_2", "job_3"})
}

func testListJobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	mk := func(id, name, ws, source string) *automation.Job {
		j := job(id, name, ws)
		j.Source = source
		return j
	}
	const dyn, cfg = automation.SourceDynamic, automation.SourceConfig
	jobs := []*automation.Job{
		mk("job_a3", "alpha", "", dyn),
		mk("job_a1", "alpha", "w2", cfg),
		mk("job_a2", "alpha", "w1", dyn),
		mk("job_b1", "beta", "", cfg),
		mk("job_B1", "Beta", "w1", dyn),
		mk("job_u1", "ä-umlaut", "", dyn), // 0xC3 sorts after every ASCII letter
		mk("job_z1", "zeta", "w1", cfg),
		mk("job_Z1", "Zed", "", dyn),
		mk("job_n1", "alpha-2", "w2", dyn),
		mk("job_n0", "alpha 2", "", cfg),
	}
	write(t, s, func(tx store.Tx) error {
		for _, j := range jobs {
			if err := tx.InsertJob(j, &automation.Cursor{NextRunAt: at(time.Hour)}); err != nil {
				return err
			}
		}
		return nil
	})

	sorted := slices.Clone(jobs)
	slices.SortFunc(sorted, func(a, b *automation.Job) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) // byte-wise
	})
	filter := func(keep func(*automation.Job) bool) []string {
		var out []string
		for _, j := range sorted {
			if keep(j) {
				out = append(out, j.ID)
			}
		}
		return out
	}

	all, err := s.AllJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "AllJobs", jobIDs(all), filter(func(*automation.Job) bool { return true }))
	for _, r := range all {
		if r.Cursor == nil || r.Cursor.JobID != r.Job.ID || !r.Cursor.NextRunAt.Equal(at(time.Hour)) {
			t.Fatalf("AllJobs: job %s has cursor %+v", r.Job.ID, r.Cursor)
		}
	}

	tests := []struct {
		name string
		q    store.JobQuery
		want []string
	}{
		{"all", store.JobQuery{}, filter(func(*automation.Job) bool { return true })},
		{"global", store.JobQuery{Scope: automation.ScopeGlobal},
			filter(func(j *automation.Job) bool { return j.Scope == automation.ScopeGlobal })},
		{"workspace scope", store.JobQuery{Scope: automation.ScopeWorkspace},
			filter(func(j *automation.Job) bool { return j.Scope == automation.ScopeWorkspace })},
		{"workspace w1", store.JobQuery{WorkspaceID: "w1"},
			filter(func(j *automation.Job) bool { return j.WorkspaceID == "w1" })},
		{"source config", store.JobQuery{Source: cfg},
			filter(func(j *automation.Job) bool { return j.Source == cfg })},
		{"w2 dynamic", store.JobQuery{Scope: automation.ScopeWorkspace, WorkspaceID: "w2", Source: dyn},
			[]string{"job_n1"}},
		{"global and w1", store.JobQuery{Scope: automation.ScopeGlobal, WorkspaceID: "w1"}, nil},
		{"unknown workspace", store.JobQuery{WorkspaceID: "nope"}, nil},
	}
	for _, tc := range tests {
		got, err := s.ListJobs(ctx, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		mustEqual(t, tc.name, jobIDs(got), tc.want)
		for _, r := range got {
			if r.Cursor == nil || r.Cursor.JobID != r.Job.ID {
				t.Fatalf("%s: job %s without its cursor", tc.name, r.Job.ID)
			}
		}

		// Keyset paging returns the same sequence, page by page, without repeats.
		for _, size := range []int{1, 2, 3} {
			var paged []string
			q := tc.q
			q.Limit = size
			for range len(jobs) + 2 {
				page, err := s.ListJobs(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > size {
					t.Fatalf("%s: page of %d with limit %d", tc.name, len(page), size)
				}
				paged = append(paged, jobIDs(page)...)
				if len(page) < size {
					break
				}
				last := page[len(page)-1].Job
				q.AfterName, q.AfterID = last.Name, last.ID
			}
			assertUnique(t, paged)
			mustEqual(t, tc.name+" paged", paged, tc.want)
		}
	}

	// A position between two entries of the same name.
	got, err := s.ListJobs(ctx, store.JobQuery{AfterName: "alpha", AfterID: "job_a2", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "after (alpha, job_a2)", jobIDs(got), []string{"job_a3", "job_n0"})
}

func testUpdateJob(t *testing.T, s store.Store) {
	ctx := context.Background()
	orig := job("job_1", "one", "")
	cur := fullCursor("job_1")
	write(t, s, func(tx store.Tx) error { return tx.InsertJob(orig, cur) })

	upd := fullJob("job_1", "renamed")
	upd.CreatedAt = orig.CreatedAt
	upd.UpdatedAt = at(time.Hour)
	write(t, s, func(tx store.Tx) error { return tx.UpdateJob(upd) })
	got, err := s.GetJob(ctx, "job_1")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "updated job", got.Job, upd)
	mustEqual(t, "cursor untouched", got.Cursor, cur)

	// Removing the task and changing scope back.
	upd2 := job("job_1", "one", "")
	upd2.UpdatedAt = at(2 * time.Hour)
	write(t, s, func(tx store.Tx) error { return tx.UpdateJob(upd2) })
	got, err = s.GetJob(ctx, "job_1")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "updated job", got.Job, upd2)

	err = writeErr(s, func(tx store.Tx) error { return tx.UpdateJob(job("job_missing", "x", "")) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateJob(missing) = %v, want ErrNotFound", err)
	}
}

func testDeleteJob(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, func(tx store.Tx) error {
		for _, id := range []string{"job_1", "job_2"} {
			if err := tx.InsertJob(job(id, id, ""), fullCursor(id)); err != nil {
				return err
			}
			if err := tx.InsertRun(run("run_"+id, id, at(0))); err != nil {
				return err
			}
			if err := tx.PutTranscript("run_"+id, []byte("doc")); err != nil {
				return err
			}
			for i := range 3 {
				e := &automation.LedgerEntry{JobID: id, SlotAt: at(time.Duration(i) * time.Hour), Count: 1,
					Outcome: automation.OutcomeFired, RunID: "run_" + id, RecordedAt: at(0)}
				if err := tx.InsertLedgerEntry(e); err != nil {
					return err
				}
			}
		}
		return nil
	})

	write(t, s, func(tx store.Tx) error { return tx.DeleteJob("job_1") })

	if _, err := s.GetJob(ctx, "job_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetJob(deleted) = %v, want ErrNotFound", err)
	}
	if led, err := s.ListLedger(ctx, store.LedgerQuery{JobID: "job_1"}); err != nil || len(led) != 0 {
		t.Fatalf("ledger of deleted job = %v, %v; want empty", led, err)
	}
	var lastErr, lockErr, cursorErr error
	write(t, s, func(tx store.Tx) error {
		_, lastErr = tx.LastLedgerEntry("job_1")
		_, lockErr = tx.LockJob("job_1")
		// The cursor went with the job: it cannot be updated any more.
		cursorErr = tx.UpdateCursor(fullCursor("job_1"))
		return nil
	})
	for name, err := range map[string]error{"LastLedgerEntry": lastErr, "LockJob": lockErr, "UpdateCursor": cursorErr} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s(deleted job) = %v, want ErrNotFound", name, err)
		}
	}
	// Runs (and transcripts) outlive the definition.
	if r, err := s.GetRun(ctx, "run_job_1"); err != nil || r.JobID != "job_1" {
		t.Fatalf("GetRun of deleted job's run = %+v, %v", r, err)
	}
	runs, err := s.ListRuns(ctx, store.RunQuery{JobID: "job_1"})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "runs of deleted job", runIDs(runs), []string{"run_job_1"})
	if doc, err := s.GetTranscript(ctx, "run_job_1"); err != nil || string(doc) != "doc" {
		t.Fatalf("transcript of deleted job's run = %q, %v", doc, err)
	}
	// The other job is untouched.
	if led, err := s.ListLedger(ctx, store.LedgerQuery{JobID: "job_2"}); err != nil || len(led) != 3 {
		t.Fatalf("ledger of job_2 = %d entries, %v; want 3", len(led), err)
	}
	if got, err := s.GetJob(ctx, "job_2"); err != nil {
		t.Fatal(err)
	} else {
		mustEqual(t, "job_2 cursor", got.Cursor, fullCursor("job_2"))
	}

	err = writeErr(s, func(tx store.Tx) error { return tx.DeleteJob("job_1") })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteJob(missing) = %v, want ErrNotFound", err)
	}
	// The name is free again.
	write(t, s, func(tx store.Tx) error { return tx.InsertJob(job("job_3", "job_1", ""), nil) })
}

func testLockJob(t *testing.T, s store.Store) {
	full := fullJob("job_1", "one")
	cur := fullCursor("job_1")
	write(t, s, func(tx store.Tx) error { return tx.InsertJob(full, cur) })
	var (
		rec        store.JobRecord
		missingErr error
	)
	// Assertions run after Write returns: fn may run on another goroutine.
	write(t, s, func(tx store.Tx) error {
		var err error
		if rec, err = tx.LockJob("job_1"); err != nil {
			return err
		}
		_, missingErr = tx.LockJob("job_missing")
		return nil
	})
	mustEqual(t, "locked job", rec.Job, full)
	mustEqual(t, "locked cursor", rec.Cursor, cur)
	if !errors.Is(missingErr, store.ErrNotFound) {
		t.Fatalf("LockJob(missing) = %v, want ErrNotFound", missingErr)
	}
}

func testCursorRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, func(tx store.Tx) error { return tx.InsertJob(job("job_1", "one", ""), nil) })
	check := func(want *automation.Cursor) {
		t.Helper()
		rec, err := s.GetJob(ctx, "job_1")
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "cursor", rec.Cursor, want)
	}
	check(&automation.Cursor{JobID: "job_1"})

	full := fullCursor("job_1")
	write(t, s, func(tx store.Tx) error { return tx.UpdateCursor(full) })
	check(full)

	// Back to all-zero times: zero stays zero (not the Unix epoch).
	zero := &automation.Cursor{JobID: "job_1", Timezone: "UTC"}
	write(t, s, func(tx store.Tx) error { return tx.UpdateCursor(zero) })
	check(zero)
	rec, err := s.GetJob(ctx, "job_1")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Cursor.NextRunAt.IsZero() || rec.Cursor.Registered() {
		t.Fatalf("zero next_run_at came back as %v", rec.Cursor.NextRunAt)
	}

	// Times far from now keep their precision.
	far := &automation.Cursor{JobID: "job_1", NextRunAt: time.Date(2199, 12, 31, 23, 59, 59, 999999999, time.UTC),
		AnchorAt: time.Date(1999, 1, 1, 0, 0, 0, 1, time.UTC)}
	write(t, s, func(tx store.Tx) error { return tx.UpdateCursor(far) })
	check(far)

	err = writeErr(s, func(tx store.Tx) error { return tx.UpdateCursor(fullCursor("job_missing")) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateCursor(missing) = %v, want ErrNotFound", err)
	}
}
