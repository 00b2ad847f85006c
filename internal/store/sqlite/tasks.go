package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// ---- tasks

const taskColumns = `id, job_id, run_id, scope, workspace_id, title, description, owner_kind, owner_ref,
	network_channel, status, result, error, created_at, updated_at, closed_at`

const taskSelect = "SELECT " + taskColumns + " FROM tasks"

func scanTask(sc scanner) (*automation.Task, error) {
	var (
		t                        automation.Task
		created, updated, closed int64
	)
	err := sc.Scan(&t.ID, &t.JobID, &t.RunID, &t.Scope, &t.WorkspaceID, &t.Title, &t.Description,
		&t.Owner.Kind, &t.Owner.Ref, &t.NetworkChannel, &t.Status, &t.Result, &t.Error, &created, &updated, &closed)
	if err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt, t.ClosedAt = fromNanos(created), fromNanos(updated), fromNanos(closed)
	return &t, nil
}

func taskArgs(t *automation.Task) ([]any, error) {
	var e enc
	args := []any{t.JobID, t.RunID, t.Scope, t.WorkspaceID, t.Title, t.Description, t.Owner.Kind, t.Owner.Ref,
		t.NetworkChannel, t.Status, t.Result, t.Error, e.t(t.CreatedAt), e.t(t.UpdatedAt), e.t(t.ClosedAt), t.ID}
	return args, e.err
}

// GetTask returns a task with its runs, oldest first.
func (r reader) GetTask(ctx context.Context, id string) (*automation.Task, error) {
	t, err := getOne(ctx, r, scanTask, taskSelect+" WHERE id = ?", id)
	if err != nil {
		return nil, err
	}
	runs, err := getAll(ctx, r, scanTaskRun, taskRunSelect+" WHERE task_id = ? ORDER BY created_at, id", id)
	if err != nil {
		return nil, err
	}
	t.Runs = runs
	return t, nil
}

// ListTasks returns tasks matching q newest first, without their runs.
func (r reader) ListTasks(ctx context.Context, q store.TaskQuery) ([]*automation.Task, error) {
	var e enc
	var b strings.Builder
	var args []any
	b.WriteString(taskSelect + " WHERE 1")
	for _, f := range []struct{ col, v string }{{"status", q.Status}, {"job_id", q.JobID}, {"owner_kind", q.OwnerKind}, {"workspace_id", q.WorkspaceID}} {
		if f.v != "" {
			b.WriteString(" AND " + f.col + " = ?")
			args = append(args, f.v)
		}
	}
	if !q.BeforeCreatedAt.IsZero() || q.BeforeID != "" {
		b.WriteString(" AND (created_at, id) < (?, ?)")
		args = append(args, e.t(q.BeforeCreatedAt), q.BeforeID)
	}
	if e.err != nil {
		return nil, e.err
	}
	b.WriteString(" ORDER BY created_at DESC, id DESC LIMIT ?")
	args = append(args, limit(q.Limit))
	return getAll(ctx, r, scanTask, b.String(), args...)
}

// InsertTask inserts a task (its runs are inserted separately).
func (t *txn) InsertTask(task *automation.Task) error {
	args, err := taskArgs(task)
	if err != nil {
		return err
	}
	_, err = t.exec(bg, `INSERT INTO tasks (job_id, run_id, scope, workspace_id, title, description,
		owner_kind, owner_ref, network_channel, status, result, error, created_at, updated_at, closed_at, id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// UpdateTask replaces a task if its stored status is fromStatus.
func (t *txn) UpdateTask(task *automation.Task, fromStatus string) (bool, error) {
	args, err := taskArgs(task)
	if err != nil {
		return false, err
	}
	res, err := t.exec(bg, `UPDATE tasks SET job_id = ?, run_id = ?, scope = ?, workspace_id = ?, title = ?,
		description = ?, owner_kind = ?, owner_ref = ?, network_channel = ?, status = ?, result = ?, error = ?,
		created_at = ?, updated_at = ?, closed_at = ?
		WHERE id = ? AND status = ?`, append(args, fromStatus)...)
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

const taskRunColumns = `id, task_id, status, agent_name, session_id, created_at, started_at, ended_at,
	stop_reason, error, error_code, node_id, lease_owner, lease_expires_at`

const taskRunSelect = "SELECT " + taskRunColumns + " FROM task_runs"

func scanTaskRun(sc scanner) (*automation.TaskRun, error) {
	var (
		r                               automation.TaskRun
		created, started, ended, leaseX int64
	)
	err := sc.Scan(&r.ID, &r.TaskID, &r.Status, &r.AgentName, &r.SessionID, &created, &started, &ended,
		&r.StopReason, &r.Error, &r.ErrorCode, &r.NodeID, &r.LeaseOwner, &leaseX)
	if err != nil {
		return nil, err
	}
	r.CreatedAt, r.StartedAt, r.EndedAt, r.LeaseExpiresAt = fromNanos(created), fromNanos(started), fromNanos(ended), fromNanos(leaseX)
	return &r, nil
}

func taskRunArgs(r *automation.TaskRun) ([]any, error) {
	var e enc
	args := []any{r.TaskID, r.Status, r.AgentName, r.SessionID, e.t(r.CreatedAt), e.t(r.StartedAt), e.t(r.EndedAt),
		r.StopReason, r.Error, r.ErrorCode, r.NodeID, r.LeaseOwner, e.t(r.LeaseExpiresAt), r.ID}
	return args, e.err
}

// GetTaskRun returns a task run or store.ErrNotFound.
func (r reader) GetTaskRun(ctx context.Context, id string) (*automation.TaskRun, error) {
	return getOne(ctx, r, scanTaskRun, taskRunSelect+" WHERE id = ?", id)
}

// TaskRunsByStatus returns the task runs in status ordered by (created_at, id).
func (r reader) TaskRunsByStatus(ctx context.Context, status string) ([]*automation.TaskRun, error) {
	return getAll(ctx, r, scanTaskRun, taskRunSelect+" WHERE status = ? ORDER BY created_at, id", status)
}

// InsertTaskRun inserts a task run.
func (t *txn) InsertTaskRun(r *automation.TaskRun) error {
	args, err := taskRunArgs(r)
	if err != nil {
		return err
	}
	_, err = t.exec(bg, `INSERT INTO task_runs (task_id, status, agent_name, session_id, created_at, started_at,
		ended_at, stop_reason, error, error_code, node_id, lease_owner, lease_expires_at, id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// UpdateTaskRun replaces a task run if its stored status is fromStatus.
func (t *txn) UpdateTaskRun(r *automation.TaskRun, fromStatus string) (bool, error) {
	args, err := taskRunArgs(r)
	if err != nil {
		return false, err
	}
	res, err := t.exec(bg, `UPDATE task_runs SET task_id = ?, status = ?, agent_name = ?, session_id = ?,
		created_at = ?, started_at = ?, ended_at = ?, stop_reason = ?, error = ?, error_code = ?, node_id = ?,
		lease_owner = ?, lease_expires_at = ?
		WHERE id = ? AND status = ?`, append(args, fromStatus)...)
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
	return getAll(bg, t.reader, scanTaskRun, taskRunSelect+
		" WHERE status = 'queued' AND agent_name <> '' ORDER BY created_at, id LIMIT ?", limit(n))
}

// RenewTaskRunLeases renews the owner's running task runs.
func (t *txn) RenewTaskRunLeases(owner string, until time.Time) (int, error) {
	var e enc
	u := e.t(until)
	res, err := t.exec(bg, "UPDATE task_runs SET lease_expires_at = ? WHERE status = 'running' AND lease_owner = ?", u, owner)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ExpiredTaskRuns returns running task runs whose lease expired before now.
func (t *txn) ExpiredTaskRuns(now time.Time, n int) ([]*automation.TaskRun, error) {
	var e enc
	return getAll(bg, t.reader, scanTaskRun, taskRunSelect+
		" WHERE status = 'running' AND lease_expires_at > 0 AND lease_expires_at < ? ORDER BY lease_expires_at, id LIMIT ?", e.t(now), limit(n))
}

// ---- notifications

const notificationColumns = `seq, id, channel, type, task_id, run_id, body, status, attempts, next_attempt_at,
	last_error, created_at, updated_at`

func scanNotification(sc scanner) (*automation.Notification, error) {
	var (
		n                      automation.Notification
		next, created, updated int64
	)
	err := sc.Scan(&n.Seq, &n.ID, &n.Channel, &n.Type, &n.TaskID, &n.RunID, &n.Body, &n.Status, &n.Attempts,
		&next, &n.LastError, &created, &updated)
	if err != nil {
		return nil, err
	}
	n.NextAttemptAt, n.CreatedAt, n.UpdatedAt = fromNanos(next), fromNanos(created), fromNanos(updated)
	return &n, nil
}

// PendingNotifications returns pending outbox entries in insertion order.
func (r reader) PendingNotifications(ctx context.Context, n int) ([]*automation.Notification, error) {
	return getAll(ctx, r, scanNotification, "SELECT "+notificationColumns+
		" FROM notifications WHERE status = 'pending' ORDER BY seq LIMIT ?", limit(n))
}

// GetNotification returns an outbox entry or store.ErrNotFound.
func (r reader) GetNotification(ctx context.Context, id string) (*automation.Notification, error) {
	return getOne(ctx, r, scanNotification, "SELECT "+notificationColumns+" FROM notifications WHERE id = ?", id)
}

// InsertNotification appends an outbox entry and sets its Seq.
func (t *txn) InsertNotification(n *automation.Notification) error {
	var e enc
	body := n.Body
	if body == nil {
		body = []byte{}
	}
	args := []any{n.ID, n.Channel, n.Type, n.TaskID, n.RunID, body, n.Status, n.Attempts, e.t(n.NextAttemptAt),
		n.LastError, e.t(n.CreatedAt), e.t(n.UpdatedAt)}
	if e.err != nil {
		return e.err
	}
	res, err := t.exec(bg, `INSERT INTO notifications (id, channel, type, task_id, run_id, body, status, attempts,
		next_attempt_at, last_error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
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
	var e enc
	args := []any{e.t(until), id, attempts, e.t(nextAttemptAt)}
	if e.err != nil {
		return false, e.err
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
	var e enc
	args := []any{n.Status, n.Attempts, e.t(n.NextAttemptAt), n.LastError, e.t(n.UpdatedAt), n.ID}
	if e.err != nil {
		return e.err
	}
	return mustAffect(t.exec(bg, `UPDATE notifications SET status = ?, attempts = ?, next_attempt_at = ?,
		last_error = ?, updated_at = ? WHERE id = ?`, args...))
}
