package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// manualRun is run_1 of job_1, a manual fire in status.
func manualRun(status string) *automation.Run {
	return &automation.Run{ID: "run_1", JobID: "job_1", Status: status, Attempt: 1, FireID: "fire_1",
		ScheduledAt: cacheT0, StartedAt: cacheT0, Origin: automation.OriginManual, AgentName: "a",
		Scope: automation.ScopeGlobal, Depth: 1, Prompt: "p"}
}

// TestUpdateRunWritesOnlyChangedColumns: UpdateRun names in SET only the columns whose values
// change, so the indexes over the others are not rewritten. A temporary trigger on the writer
// connection records every UPDATE naming a column of the runs indexes that a dispatcher
// update does not change (SQLite fires UPDATE OF triggers by the SET list, like it maintains
// indexes).
func TestUpdateRunWritesOnlyChangedColumns(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r := manualRun(automation.RunScheduled)
	write := func(fn func(tx *txn) error) {
		t.Helper()
		if err := s.Write(ctx, func(tx store.Tx) error { return fn(tx.(*txn)) }); err != nil {
			t.Fatal(err)
		}
	}
	named := func() int {
		t.Helper()
		var n int
		write(func(tx *txn) error {
			row, err := tx.row(bg, "SELECT count(*) FROM temp.named")
			if err != nil {
				return err
			}
			return row.Scan(&n)
		})
		return n
	}
	write(func(tx *txn) error {
		for _, q := range []string{
			"CREATE TEMP TABLE named (run_id TEXT)",
			`CREATE TEMP TRIGGER runs_named AFTER UPDATE OF job_id, trigger_id, fire_id, attempt, started_at, scheduled_at
				ON runs BEGIN INSERT INTO temp.named VALUES (NEW.id); END`,
		} {
			if _, err := tx.exec(bg, q); err != nil {
				return err
			}
		}
		return tx.InsertRun(r)
	})

	started := *r
	started.Status, started.DispatchedAt, started.NodeID = automation.RunRunning, cacheT0, "node-a"
	withSession := started
	withSession.SessionID = "ses_1"
	for _, step := range []struct {
		run  *automation.Run
		from string
	}{{&started, automation.RunScheduled}, {&withSession, automation.RunRunning}, {&withSession, automation.RunRunning}} {
		write(func(tx *txn) error {
			ok, err := tx.UpdateRun(step.run, step.from)
			if err == nil && !ok {
				t.Errorf("UpdateRun(%s from %s) did not update", step.run.Status, step.from)
			}
			return err
		})
	}
	if n := named(); n != 0 {
		t.Fatalf("%d updates named an unchanged indexed column", n)
	}
	got, err := s.GetRun(ctx, "run_1")
	if err != nil || got.SessionID != "ses_1" || got.Status != automation.RunRunning || got.NodeID != "node-a" {
		t.Fatalf("run %+v, %v", got, err)
	}
	// A change of such a column is written (UpdateRun replaces the row).
	moved := withSession
	moved.ScheduledAt = cacheT0.Add(1)
	write(func(tx *txn) error { _, err := tx.UpdateRun(&moved, automation.RunRunning); return err })
	if n := named(); n != 1 {
		t.Fatalf("%d updates named scheduled_at, want 1", n)
	}
}

// BenchmarkUpdateRun: one UpdateRun in its own Write, recording a session id (status unchanged)
// or moving the run between running and scheduled. Run with -benchtime 5000x.
func BenchmarkUpdateRun(b *testing.B) {
	for _, kind := range []string{"session", "status"} {
		b.Run(kind, func(b *testing.B) {
			s, err := Open(context.Background(), b.TempDir()+"/agh.db", Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			r := manualRun(automation.RunRunning)
			if err := s.Write(ctx, func(tx store.Tx) error { return tx.InsertRun(r) }); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			err = s.Write(ctx, func(tx store.Tx) error {
				for i := 0; i < b.N; i++ {
					c := *r
					from := r.Status
					if kind == "session" {
						c.SessionID = fmt.Sprint("ses_", i)
					} else if r.Status == automation.RunRunning {
						c.Status = automation.RunScheduled
					}
					if _, err := tx.UpdateRun(&c, from); err != nil {
						return err
					}
					r = &c
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
