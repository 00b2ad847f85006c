package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

// CountRunning locks the single dispatcher_lock row and then counts running runs, so that the
// start transactions of all nodes check the global cap one at a time (SPEC §7.2, §15.2): the
// count is a statement of its own, taken after the lock, and sees the runs the previous holder
// moved to running.
func (t *txn) CountRunning() (int, error) {
	if err := t.lockDispatcher(); err != nil {
		return 0, err
	}
	var n int
	err := t.scanRow(t.ctx, "SELECT count(*) FROM runs WHERE status = 'running'", nil, &n)
	return n, err
}

// lockDispatcher locks the dispatcher_lock row until the end of the transaction (once).
func (t *txn) lockDispatcher() error {
	if t.dispatcherLocked {
		return nil
	}
	if _, err := t.exec(t.ctx, "SELECT id FROM dispatcher_lock WHERE id = 1 FOR UPDATE"); err != nil {
		return err
	}
	t.dispatcherLocked = true
	return nil
}

// EligibleRuns returns due scheduled runs in (scheduled_at, id) order (index
// runs_scheduled_due) and locks them; rows locked by another transaction are skipped
// (FOR UPDATE SKIP LOCKED), and a row another transaction moved out of scheduled after this
// statement's snapshot is re-checked and left out.
func (t *txn) EligibleRuns(now time.Time, n int) ([]*automation.Run, error) {
	var (
		b qb
		e = newEnc()
	)
	b.WriteString(sqlrow.RunSelect + " WHERE status = 'scheduled' AND scheduled_at <= " + b.arg(e.Nanos(now)) +
		" ORDER BY scheduled_at, id")
	b.limit(n)
	b.WriteString(" FOR UPDATE SKIP LOCKED")
	if err := e.Err(); err != nil {
		return nil, err
	}
	return getAll(t.ctx, t.reader, sqlrow.ScanRun, b.String(), b.args...)
}

// NextScheduledAt returns the earliest future scheduled_at of a scheduled run.
func (r reader) NextScheduledAt(ctx context.Context, after time.Time) (time.Time, bool, error) {
	var (
		e = newEnc()
		n int64
	)
	at := e.Nanos(after)
	if err := e.Err(); err != nil {
		return time.Time{}, false, err
	}
	err := r.scanRow(ctx, "SELECT scheduled_at FROM runs WHERE status = 'scheduled' AND scheduled_at > $1 ORDER BY scheduled_at, id LIMIT 1",
		[]any{at}, &n)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return sqlrow.FromNanos(n), true, nil
}
