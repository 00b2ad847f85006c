package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

// CountRunning counts running runs from the maintained per-status counters.
func (t *txn) CountRunning() (int, error) {
	row, err := t.row(bg, "SELECT n FROM run_status_counts WHERE status = 'running'")
	if err != nil {
		return 0, err
	}
	var n int
	if err := row.Scan(&n); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	return n + t.unwrittenCount(automation.RunRunning), nil
}

// The dispatcher queries name their index: without statistics (no ANALYZE) SQLite prefers the
// equality on runs_status_started (status = 'scheduled') to the partial index
// runs_scheduled_due, then reads every scheduled run and sorts them all (USE TEMP B-TREE FOR
// ORDER BY) to return one or a few. With a deep queue (a webhook burst behind
// max_concurrent_runs) that costs tens of milliseconds per dispatcher pass, and EligibleRuns
// runs inside the single writer's transaction. INDEXED BY makes both a short range scan of that
// index that stops after LIMIT rows (and fails at prepare time, rather than silently scanning,
// if the index cannot be used).
const (
	eligibleRunsSQL    = sqlrow.RunSelect + " INDEXED BY runs_scheduled_due WHERE status = 'scheduled' AND scheduled_at <= ? ORDER BY scheduled_at, id LIMIT ?"
	nextScheduledAtSQL = "SELECT scheduled_at FROM runs INDEXED BY runs_scheduled_due WHERE status = 'scheduled' AND scheduled_at > ? ORDER BY scheduled_at, id LIMIT 1"
)

// EligibleRuns returns due scheduled runs in (scheduled_at, id) order (index runs_scheduled_due).
func (t *txn) EligibleRuns(now time.Time, n int) ([]*automation.Run, error) {
	e := newEnc()
	at := e.Nanos(now)
	return getAll(bg, t.reader, sqlrow.ScanRun, eligibleRunsSQL, at, limit(n))
}

// NextScheduledAt returns the earliest future scheduled_at of a scheduled run.
func (r reader) NextScheduledAt(ctx context.Context, after time.Time) (time.Time, bool, error) {
	e := newEnc()
	row, err := r.row(ctx, nextScheduledAtSQL, e.Nanos(after))
	if err != nil {
		return time.Time{}, false, err
	}
	var n int64
	if err := row.Scan(&n); errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	} else if err != nil {
		return time.Time{}, false, err
	}
	return sqlrow.FromNanos(n), true, nil
}

// TriggerOverlapPolicy reads a trigger's overlap policy.
func (t *txn) TriggerOverlapPolicy(id string) (string, error) {
	tr, err := t.GetTrigger(bg, id)
	if err != nil {
		return "", err
	}
	return tr.OverlapPolicy, nil
}

// TriggerRetryPolicy reads a trigger's retry policy.
func (t *txn) TriggerRetryPolicy(id string) (automation.Retry, error) {
	tr, err := t.GetTrigger(bg, id)
	if err != nil {
		return automation.Retry{}, err
	}
	return tr.Retry, nil
}
