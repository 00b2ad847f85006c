package sqlite

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

var cacheT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func cachedJob(name string) *automation.Job {
	return &automation.Job{ID: "job_1", Name: name, Scope: automation.ScopeGlobal,
		Schedule: automation.Schedule{Mode: automation.ModeEvery, Interval: "1h"}, Enabled: true,
		Source: automation.SourceDynamic, CreatedAt: cacheT0, UpdatedAt: cacheT0,
		Task: &automation.TaskConfig{Title: "t", Owner: &automation.TaskOwner{Kind: "human", Ref: "ops"}}}
}

// lockJob1 reads job_1 through LockJob in a Write of its own.
func lockJob1(t *testing.T, s *Store) (store.JobRecord, error) {
	t.Helper()
	var rec store.JobRecord
	err := s.Write(context.Background(), func(tx store.Tx) (err error) {
		rec, err = tx.LockJob("job_1")
		return err
	})
	return rec, err
}

func wantName(t *testing.T, s *Store, want string) {
	t.Helper()
	rec, err := lockJob1(t, s)
	if err != nil {
		t.Fatalf("LockJob: %v", err)
	}
	if rec.Job.Name != want {
		t.Fatalf("LockJob name = %q, want %q", rec.Job.Name, want)
	}
}

func TestLockJobCacheFollowsWrites(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if err := s.Write(ctx, func(tx store.Tx) error {
		return tx.InsertJob(cachedJob("old"), &automation.Cursor{NextRunAt: cacheT0})
	}); err != nil {
		t.Fatal(err)
	}
	wantName(t, s, "old") // cached from here on

	// A caller changing its record changes neither the cache nor the next caller's record.
	rec, _ := lockJob1(t, s)
	rec.Job.Name, rec.Job.Task.Owner.Ref, rec.Cursor.NextRunAt = "mutated", "mutated", time.Time{}
	rec, _ = lockJob1(t, s)
	if rec.Job.Name != "old" || rec.Job.Task.Owner.Ref != "ops" || !rec.Cursor.NextRunAt.Equal(cacheT0) {
		t.Fatalf("a caller's change reached the cache: %+v %+v", rec.Job, rec.Cursor)
	}

	// In one batch: a read (cached), an update, a read that must see it.
	release, blocked := blockWriter(t, s)
	read1 := enqueue(t, s, ctx, func(tx store.Tx) error { _, err := tx.LockJob("job_1"); return err })
	update := enqueue(t, s, ctx, func(tx store.Tx) error { return tx.UpdateJob(cachedJob("new")) })
	var seen string
	read2 := enqueue(t, s, ctx, func(tx store.Tx) error {
		rec, err := tx.LockJob("job_1")
		if err == nil {
			seen = rec.Job.Name
		}
		return err
	})
	release()
	for _, c := range []<-chan error{blocked, read1, update, read2} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if seen != "new" {
		t.Fatalf("read after the update in the same batch = %q, want new", seen)
	}
	wantName(t, s, "new")

	// A failing Write function's update is rolled back; later reads see the committed name.
	boom := errors.New("boom")
	err := s.Write(ctx, func(tx store.Tx) error {
		if err := tx.UpdateJob(cachedJob("failed")); err != nil {
			return err
		}
		if rec, err := tx.LockJob("job_1"); err != nil || rec.Job.Name != "failed" {
			t.Errorf("LockJob after UpdateJob in the same function = %v, %v", rec.Job, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	wantName(t, s, "new")

	// A batch that does not commit: the update and a read of it by a later function of the
	// batch are both gone.
	release, blocked = blockWriter(t, s)
	update = enqueue(t, s, ctx, func(tx store.Tx) error { return tx.UpdateJob(cachedJob("lost")) })
	read2 = enqueue(t, s, ctx, func(tx store.Tx) error { _, err := tx.LockJob("job_1"); return err })
	breaker := enqueue(t, s, ctx, func(tx store.Tx) error {
		_, err := tx.(*txn).exec(ctx, "ROLLBACK")
		return err
	})
	release()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for _, c := range []<-chan error{update, read2, breaker} {
		if err := <-c; !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("write in the broken batch = %v, want ErrUnavailable", err)
		}
	}
	wantName(t, s, "new")

	// The cursor is part of the record.
	wantNext := cacheT0.Add(time.Hour)
	if err := s.Write(ctx, func(tx store.Tx) error {
		return tx.UpdateCursor(&automation.Cursor{JobID: "job_1", NextRunAt: wantNext})
	}); err != nil {
		t.Fatal(err)
	}
	if rec, err := lockJob1(t, s); err != nil || !rec.Cursor.NextRunAt.Equal(wantNext) {
		t.Fatalf("cursor after UpdateCursor = %+v, %v", rec.Cursor, err)
	}

	// Delete, then insert again.
	if err := s.Write(ctx, func(tx store.Tx) error { return tx.DeleteJob("job_1") }); err != nil {
		t.Fatal(err)
	}
	if _, err := lockJob1(t, s); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LockJob after DeleteJob = %v, want ErrNotFound", err)
	}
	if err := s.Write(ctx, func(tx store.Tx) error { return tx.InsertJob(cachedJob("again"), nil) }); err != nil {
		t.Fatal(err)
	}
	wantName(t, s, "again")
}

func TestJobCacheBounded(t *testing.T) {
	c := newJobCache(3)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		c.put(id, store.JobRecord{Job: &automation.Job{ID: id}})
	}
	if len(c.recs) != 3 {
		t.Fatalf("%d cached records, want 3", len(c.recs))
	}
	if _, ok := c.get("e"); !ok {
		t.Fatal("the newest record was not cached")
	}
}

// TestCopyJobRecordIsDeep fails when a type in a job record gains a reference field that
// copyJobRecord (automation.Job.Clone) does not copy (the cache would then share it with its
// callers).
func TestCopyJobRecordIsDeep(t *testing.T) {
	copied := map[string]bool{"Job.Task": true, "TaskConfig.Owner": true}
	var check func(reflect.Type)
	check = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name := typ.Name() + "." + f.Name
			switch f.Type.Kind() {
			case reflect.Pointer:
				if !copied[name] {
					t.Errorf("%s is a pointer copyJobRecord does not copy", name)
				}
				check(f.Type.Elem())
			case reflect.Map, reflect.Slice, reflect.Interface, reflect.Chan, reflect.Func:
				t.Errorf("%s (%s) is shared by copyJobRecord", name, f.Type.Kind())
			case reflect.Struct:
				if f.Type != reflect.TypeOf(time.Time{}) {
					check(f.Type)
				}
			}
		}
	}
	check(reflect.TypeOf(automation.Job{}))
	check(reflect.TypeOf(automation.Cursor{}))
}
