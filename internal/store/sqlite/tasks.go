package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

// ---- tasks

// GetTask returns a task with its runs, oldest first.
func (r reader) GetTask(ctx context.Context, id string) (*automation.Task, error) {
	t, err := getOne(ctx, r, sqlrow.ScanTask, sqlrow.TaskSelect+" WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	runs, err := getAll(ctx, r, sqlrow.ScanTaskRun, sqlrow.TaskRunSelect+" WHERE task_id = ? ORDER BY created_at, id", id)
	if err != nil {
		return nil, err
	}
	t.Runs = runs
	return t, nil
}

// ListTasks returns tasks matching q newest first, without their runs.
func (r reader) ListTasks(ctx context.Context, q store.TaskQuery) ([]*automation.Task, error) {
	e := newEnc()
	var b strings.Builder
	var args []any
	b.WriteString(sqlrow.TaskSelect + " WHERE 1")
	for _, f := range []struct{ col, v string }{{"status", q.Status}, {"job_id", q.JobID}, {"owner_kind", q.OwnerKind}, {"workspace_id", q.WorkspaceID}} {
		if f.v != "" {
			b.WriteString(" AND " + f.col + " = ?")
			args = append(args, f.v)
		}
	}
	if !q.BeforeCreatedAt.IsZero() || q.BeforeID != "" {
		b.WriteString(" AND (created_at, id) < (?, ?)")
		args = append(args, e.Nanos(q.BeforeCreatedAt), q.BeforeID)
	}
	if err := e.Err(); err != nil {
		return nil, err
	}
	b.WriteString(" ORDER BY created_at DESC, id DESC LIMIT ?")
	args = append(args, limit(q.Limit))
	return getAll(ctx, r, sqlrow.ScanTask, b.String(), args...)
}

// InsertTask inserts a task (its runs are inserted separately).
func (t *txn) InsertTask(task *automation.Task) error {
	args, err := sqlrow.TaskArgs(newEnc(), task)
	if err != nil {
		return err
	}
	_, err = t.exec(bg, "INSERT INTO tasks ("+sqlrow.TaskColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// UpdateTask replaces a task if its stored status is fromStatus.
func (t *txn) UpdateTask(task *automation.Task, fromStatus string) (bool, error) {
	args, err := sqlrow.TaskArgs(newEnc(), task)
	if err != nil {
		return false, err
	}
	// Numbered parameters: the arguments are in TaskColumns order, the id first.
	res, err := t.exec(bg, `UPDATE tasks SET job_id = ?2, run_id = ?3, scope = ?4, workspace_id = ?5, title = ?6,
		description = ?7, owner_kind = ?8, owner_ref = ?9, network_channel = ?10, status = ?11, result = ?12,
		error = ?13, created_at = ?14, updated_at = ?15, closed_at = ?16
		WHERE id = ?1 AND status = ?17`, append(args, fromStatus)...)
	return casResult(t, res, err, "SELECT 1 FROM tasks WHERE id = ?", task.ID)
}

// casResult reports whether a compare-and-set UPDATE changed a row; when it did not, a missing
// row is (false, store.ErrNotFound).
func casResult(t *txn, res sql.Result, err error, existsQuery, id string) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n > 0 {
		return true, nil
	}
	row, err := t.row(bg, existsQuery, id)
	if err != nil {
		return false, err
	}
	var one int
	if err := row.Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return false, store.ErrNotFound
	} else if err != nil {
		return false, err
	}
	return false, nil
}

// ---- task runs

// GetTaskRun returns a task run or store.ErrNotFound.
func (r reader) GetTaskRun(ctx context.Context, id string) (*automation.TaskRun, error) {
	return getOne(ctx, r, sqlrow.ScanTaskRun, sqlrow.TaskRunSelect+" WHERE id = ?", id)
}

// TaskRunsByStatus returns the task runs in status ordered by (created_at, id).
func (r reader) TaskRunsByStatus(ctx context.Context, status string) ([]*automation.TaskRun, error) {
	return getAll(ctx, r, sqlrow.ScanTaskRun, sqlrow.TaskRunSelect+" WHERE status = ? ORDER BY created_at, id", status)
}

// InsertTaskRun inserts a task run.
func (t *txn) InsertTaskRun(r *automation.TaskRun) error {
	args, err := sqlrow.TaskRunArgs(newEnc(), r)
	if err != nil {
		return err
	}
	_, err = t.exec(bg, "INSERT INTO task_runs ("+sqlrow.TaskRunColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// UpdateTaskRun replaces a task run if its stored status is fromStatus.
func (t *txn) UpdateTaskRun(r *automation.TaskRun, fromStatus string) (bool, error) {
	args, err := sqlrow.TaskRunArgs(newEnc(), r)
	if err != nil {
		return false, err
	}
	// Numbered parameters: the arguments are in TaskRunColumns order, the id first.
	res, err := t.exec(bg, `UPDATE task_runs SET task_id = ?2, status = ?3, agent_name = ?4, session_id = ?5,
		created_at = ?6, started_at = ?7, ended_at = ?8, stop_reason = ?9, error = ?10, error_code = ?11,
		node_id = ?12, lease_owner = ?13, lease_expires_at = ?14
		WHERE id = ?1 AND status = ?15`, append(args, fromStatus)...)
	return casResult(t, res, err, "SELECT 1 FROM task_runs WHERE id = ?", r.ID)
}

// CountRunningTaskRuns counts task runs in status running.
func (t *txn) CountRunningTaskRuns() (int, error) {
	row, err := t.row(bg, "SELECT count(*) FROM task_runs WHERE status = 'running'")
	if err != nil {
		return 0, err
	}
	var n int
	err = row.Scan(&n)
	return n, err
}

// EligibleTaskRuns returns queued agent-owned task runs in (created_at, id) order
// (index task_runs_eligible).
func (t *txn) EligibleTaskRuns(n int) ([]*automation.TaskRun, error) {
	return getAll(bg, t.reader, sqlrow.ScanTaskRun, sqlrow.TaskRunSelect+
		" WHERE status = 'queued' AND agent_name <> '' ORDER BY created_at, id LIMIT ?", limit(n))
}

// RenewTaskRunLeases renews the owner's running task runs.
func (t *txn) RenewTaskRunLeases(owner string, until time.Time) (int, error) {
	e := newEnc()
	u := e.Nanos(until)
	res, err := t.exec(bg, "UPDATE task_runs SET lease_expires_at = ? WHERE status = 'running' AND lease_owner = ?", u, owner)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ExpiredTaskRuns returns running task runs whose lease expired before now.
func (t *txn) ExpiredTaskRuns(now time.Time, n int) ([]*automation.TaskRun, error) {
	e := newEnc()
	return getAll(bg, t.reader, sqlrow.ScanTaskRun, sqlrow.TaskRunSelect+
		" WHERE status = 'running' AND lease_expires_at > 0 AND lease_expires_at < ? ORDER BY lease_expires_at, id LIMIT ?", e.Nanos(now), limit(n))
}

// ---- notifications

// PendingNotifications returns pending outbox entries in insertion order.
func (r reader) PendingNotifications(ctx context.Context, n int) ([]*automation.Notification, error) {
	return getAll(ctx, r, sqlrow.ScanNotification, sqlrow.NotificationSelect+
		" WHERE status = 'pending' ORDER BY seq LIMIT ?", limit(n))
}

// GetNotification returns an outbox entry or store.ErrNotFound.
func (r reader) GetNotification(ctx context.Context, id string) (*automation.Notification, error) {
	return getOne(ctx, r, sqlrow.ScanNotification, sqlrow.NotificationSelect+" WHERE id = ?", id)
}

// InsertNotification appends an outbox entry and sets its Seq.
func (t *txn) InsertNotification(n *automation.Notification) error {
	args, err := sqlrow.NotificationArgs(newEnc(), n)
	if err != nil {
		return err
	}
	res, err := t.exec(bg, "INSERT INTO notifications ("+sqlrow.NotificationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	if err != nil {
		return err
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return err
	}
	n.Seq = seq
	return nil
}

// ClaimNotification pushes a pending entry's next attempt to until (compare-and-set).
func (t *txn) ClaimNotification(id string, attempts int, nextAttemptAt, until time.Time) (bool, error) {
	e := newEnc()
	args := []any{e.Nanos(until), id, attempts, e.Nanos(nextAttemptAt)}
	if err := e.Err(); err != nil {
		return false, err
	}
	res, err := t.exec(bg, `UPDATE notifications SET next_attempt_at = ?
		WHERE id = ? AND status = 'pending' AND attempts = ? AND next_attempt_at = ?`, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// UpdateNotification replaces an outbox entry's delivery state.
func (t *txn) UpdateNotification(n *automation.Notification) error {
	e := newEnc()
	args := []any{n.Status, n.Attempts, e.Nanos(n.NextAttemptAt), n.LastError, e.Nanos(n.UpdatedAt), n.ID}
	if err := e.Err(); err != nil {
		return err
	}
	return mustAffect(t.exec(bg, `UPDATE notifications SET status = ?, attempts = ?, next_attempt_at = ?,
		last_error = ?, updated_at = ? WHERE id = ?`, args...))
}
