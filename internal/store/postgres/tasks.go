package postgres

import (
	"context"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

// ---- tasks

// GetTask returns a task with its runs, oldest first, or store.ErrNotFound.
func (r reader) GetTask(ctx context.Context, id string) (*automation.Task, error) {
	t, err := getOne(ctx, r, sqlrow.ScanTask, sqlrow.TaskSelect+" WHERE id = $1", id)
	if err != nil {
		return nil, err
	}
	runs, err := getAll(ctx, r, sqlrow.ScanTaskRun, sqlrow.TaskRunSelect+" WHERE task_id = $1 ORDER BY created_at, id", id)
	if err != nil {
		return nil, err
	}
	t.Runs = runs
	return t, nil
}

// ListTasks returns tasks matching q newest first, without their runs.
func (r reader) ListTasks(ctx context.Context, q store.TaskQuery) ([]*automation.Task, error) {
	var (
		b qb
		e = newEnc()
	)
	b.WriteString(sqlrow.TaskSelect + " WHERE true")
	for _, f := range []struct{ col, v string }{{"status", q.Status}, {"job_id", q.JobID}, {"owner_kind", q.OwnerKind}, {"workspace_id", q.WorkspaceID}} {
		if f.v != "" {
			b.WriteString(" AND " + f.col + " = " + b.arg(f.v))
		}
	}
	if !q.BeforeCreatedAt.IsZero() || q.BeforeID != "" {
		b.WriteString(" AND (created_at, id) < (" + b.arg(e.Nanos(q.BeforeCreatedAt)) + ", " + b.arg(q.BeforeID) + ")")
	}
	if err := e.Err(); err != nil {
		return nil, err
	}
	b.WriteString(" ORDER BY created_at DESC, id DESC")
	b.limit(q.Limit)
	return getAll(ctx, r, sqlrow.ScanTask, b.String(), b.args...)
}

// InsertTask inserts a task (its runs are inserted separately).
func (t *txn) InsertTask(task *automation.Task) error {
	args, err := sqlrow.TaskArgs(newEnc(), task)
	if err != nil {
		return err
	}
	_, err = t.exec(t.ctx, "INSERT INTO tasks ("+sqlrow.TaskColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, args...)
	return err
}

// UpdateTask replaces a task if its stored status is fromStatus (compare-and-set); a missing
// task is (false, store.ErrNotFound).
func (t *txn) UpdateTask(task *automation.Task, fromStatus string) (bool, error) {
	args, err := sqlrow.TaskArgs(newEnc(), task)
	if err != nil {
		return false, err
	}
	return t.cas(`UPDATE tasks SET job_id = $2, run_id = $3, scope = $4, workspace_id = $5, title = $6,
		description = $7, owner_kind = $8, owner_ref = $9, network_channel = $10, status = $11, result = $12,
		error = $13, created_at = $14, updated_at = $15, closed_at = $16
		WHERE id = $1 AND status = $17 RETURNING 1`, "tasks", append(args, fromStatus))
}

// cas runs a compare-and-set UPDATE … WHERE id = $1 AND … RETURNING 1 on table and reports
// whether it changed the row; when it did not, a missing row is (false, store.ErrNotFound).
// One statement: the update and whether the row exists at all.
func (t *txn) cas(update, table string, args []any) (bool, error) {
	var exists, updated bool
	err := t.scanRow(t.ctx, `WITH u AS (`+update+`)
		SELECT EXISTS (SELECT 1 FROM u) OR EXISTS (SELECT 1 FROM `+table+` WHERE id = $1),
			EXISTS (SELECT 1 FROM u)`, args, &exists, &updated)
	if err != nil {
		return false, err
	}
	if !exists {
		return false, store.ErrNotFound
	}
	return updated, nil
}

// ---- task runs

// GetTaskRun returns a task run or store.ErrNotFound.
func (r reader) GetTaskRun(ctx context.Context, id string) (*automation.TaskRun, error) {
	return getOne(ctx, r, sqlrow.ScanTaskRun, sqlrow.TaskRunSelect+" WHERE id = $1", id)
}

// TaskRunsByStatus returns the task runs in status ordered by (created_at, id).
func (r reader) TaskRunsByStatus(ctx context.Context, status string) ([]*automation.TaskRun, error) {
	return getAll(ctx, r, sqlrow.ScanTaskRun, sqlrow.TaskRunSelect+" WHERE status = $1 ORDER BY created_at, id", status)
}

// InsertTaskRun inserts a task run.
func (t *txn) InsertTaskRun(r *automation.TaskRun) error {
	args, err := sqlrow.TaskRunArgs(newEnc(), r)
	if err != nil {
		return err
	}
	_, err = t.exec(t.ctx, "INSERT INTO task_runs ("+sqlrow.TaskRunColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, args...)
	return err
}

// UpdateTaskRun replaces a task run if its stored status is fromStatus (compare-and-set); a
// missing task run is (false, store.ErrNotFound).
func (t *txn) UpdateTaskRun(r *automation.TaskRun, fromStatus string) (bool, error) {
	args, err := sqlrow.TaskRunArgs(newEnc(), r)
	if err != nil {
		return false, err
	}
	return t.cas(`UPDATE task_runs SET task_id = $2, status = $3, agent_name = $4, session_id = $5,
		created_at = $6, started_at = $7, ended_at = $8, stop_reason = $9, error = $10, error_code = $11,
		node_id = $12, lease_owner = $13, lease_expires_at = $14
		WHERE id = $1 AND status = $15 RETURNING 1`, "task_runs", append(args, fromStatus))
}

// CountRunningTaskRuns counts task runs in status running, after locking the dispatcher row
// like CountRunning (task runs share the global cap, SPEC §7.2).
func (t *txn) CountRunningTaskRuns() (int, error) {
	if err := t.lockDispatcher(); err != nil {
		return 0, err
	}
	var n int
	err := t.scanRow(t.ctx, "SELECT count(*) FROM task_runs WHERE status = 'running'", nil, &n)
	return n, err
}

// EligibleTaskRuns returns queued agent-owned task runs in (created_at, id) order (index
// task_runs_eligible) and locks them, skipping those another transaction holds.
func (t *txn) EligibleTaskRuns(n int) ([]*automation.TaskRun, error) {
	var b qb
	b.WriteString(sqlrow.TaskRunSelect + " WHERE status = 'queued' AND agent_name <> '' ORDER BY created_at, id")
	b.limit(n)
	b.WriteString(" FOR UPDATE SKIP LOCKED")
	return getAll(t.ctx, t.reader, sqlrow.ScanTaskRun, b.String(), b.args...)
}

// RenewTaskRunLeases sets lease_expires_at = until on the owner's running task runs.
func (t *txn) RenewTaskRunLeases(owner string, until time.Time) (int, error) {
	e := newEnc()
	u := e.Nanos(until)
	if err := e.Err(); err != nil {
		return 0, err
	}
	tag, err := t.exec(t.ctx, "UPDATE task_runs SET lease_expires_at = $1 WHERE status = 'running' AND lease_owner = $2", u, owner)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// ExpiredTaskRuns returns up to limit running task runs whose lease expired before now and
// locks them, skipping those another node's sweeper holds.
func (t *txn) ExpiredTaskRuns(now time.Time, n int) ([]*automation.TaskRun, error) {
	var (
		b qb
		e = newEnc()
	)
	b.WriteString(sqlrow.TaskRunSelect + " WHERE status = 'running' AND lease_expires_at > 0 AND lease_expires_at < " +
		b.arg(e.Nanos(now)) + " ORDER BY lease_expires_at, id")
	b.limit(n)
	b.WriteString(" FOR UPDATE SKIP LOCKED")
	if err := e.Err(); err != nil {
		return nil, err
	}
	return getAll(t.ctx, t.reader, sqlrow.ScanTaskRun, b.String(), b.args...)
}

// ---- notifications

// PendingNotifications returns pending outbox entries in insertion order.
func (r reader) PendingNotifications(ctx context.Context, n int) ([]*automation.Notification, error) {
	var b qb
	b.WriteString(sqlrow.NotificationSelect + " WHERE status = 'pending' ORDER BY seq")
	b.limit(n)
	return getAll(ctx, r, sqlrow.ScanNotification, b.String(), b.args...)
}

// GetNotification returns an outbox entry or store.ErrNotFound.
func (r reader) GetNotification(ctx context.Context, id string) (*automation.Notification, error) {
	return getOne(ctx, r, sqlrow.ScanNotification, sqlrow.NotificationSelect+" WHERE id = $1", id)
}

// InsertNotification appends an outbox entry and sets its Seq.
func (t *txn) InsertNotification(n *automation.Notification) error {
	args, err := sqlrow.NotificationArgs(newEnc(), n)
	if err != nil {
		return err
	}
	var seq int64
	if err := t.scanRow(t.ctx, "INSERT INTO notifications ("+sqlrow.NotificationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq`, args, &seq); err != nil {
		return err
	}
	n.Seq = seq
	return nil
}

// ClaimNotification pushes a pending entry's next attempt to until if it is still pending with
// the given attempts and next_attempt_at (compare-and-set). Under READ COMMITTED a concurrent
// claim of another node waits for this one and then finds the row changed, so one sender makes
// each attempt.
func (t *txn) ClaimNotification(id string, attempts int, nextAttemptAt, until time.Time) (bool, error) {
	e := newEnc()
	args := []any{e.Nanos(until), id, attempts, e.Nanos(nextAttemptAt)}
	if err := e.Err(); err != nil {
		return false, err
	}
	tag, err := t.exec(t.ctx, `UPDATE notifications SET next_attempt_at = $1
		WHERE id = $2 AND status = 'pending' AND attempts = $3 AND next_attempt_at = $4`, args...)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// UpdateNotification replaces an outbox entry's delivery state; store.ErrNotFound if absent.
func (t *txn) UpdateNotification(n *automation.Notification) error {
	e := newEnc()
	args := []any{n.Status, n.Attempts, e.Nanos(n.NextAttemptAt), n.LastError, e.Nanos(n.UpdatedAt), n.ID}
	if err := e.Err(); err != nil {
		return err
	}
	return mustAffect(t.exec(t.ctx, `UPDATE notifications SET status = $1, attempts = $2, next_attempt_at = $3,
		last_error = $4, updated_at = $5 WHERE id = $6`, args...))
}
