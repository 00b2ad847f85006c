package sqlrow

import "github.com/agh-dev/agh/internal/automation"

// ---- tasks

// TaskColumns are the columns of tasks, in TaskArgs order.
const TaskColumns = `id, job_id, run_id, scope, workspace_id, title, description, owner_kind, owner_ref,
	network_channel, status, result, error, created_at, updated_at, closed_at`

// TaskSelect reads tasks (without their runs) in ScanTask order.
const TaskSelect = "SELECT " + TaskColumns + " FROM tasks"

// ScanTask reads a TaskSelect row.
func ScanTask(sc Scanner) (*automation.Task, error) {
	var (
		t                        automation.Task
		created, updated, closed int64
	)
	err := sc.Scan(&t.ID, &t.JobID, &t.RunID, &t.Scope, &t.WorkspaceID, &t.Title, &t.Description,
		&t.Owner.Kind, &t.Owner.Ref, &t.NetworkChannel, &t.Status, &t.Result, &t.Error, &created, &updated, &closed)
	if err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt, t.ClosedAt = FromNanos(created), FromNanos(updated), FromNanos(closed)
	return &t, nil
}

// TaskArgs returns a task's column values in TaskColumns order.
func TaskArgs(e *Enc, t *automation.Task) ([]any, error) {
	args := []any{t.ID, t.JobID, t.RunID, t.Scope, t.WorkspaceID, t.Title, t.Description, t.Owner.Kind, t.Owner.Ref,
		t.NetworkChannel, t.Status, t.Result, t.Error, e.Nanos(t.CreatedAt), e.Nanos(t.UpdatedAt), e.Nanos(t.ClosedAt)}
	return args, e.Err()
}

// ---- task runs

// TaskRunColumns are the columns of task_runs, in TaskRunArgs order.
const TaskRunColumns = `id, task_id, status, agent_name, session_id, created_at, started_at, ended_at,
	stop_reason, error, error_code, node_id, lease_owner, lease_expires_at`

// TaskRunSelect reads task runs in ScanTaskRun order.
const TaskRunSelect = "SELECT " + TaskRunColumns + " FROM task_runs"

// ScanTaskRun reads a TaskRunSelect row.
func ScanTaskRun(sc Scanner) (*automation.TaskRun, error) {
	var (
		r                               automation.TaskRun
		created, started, ended, leaseX int64
	)
	err := sc.Scan(&r.ID, &r.TaskID, &r.Status, &r.AgentName, &r.SessionID, &created, &started, &ended,
		&r.StopReason, &r.Error, &r.ErrorCode, &r.NodeID, &r.LeaseOwner, &leaseX)
	if err != nil {
		return nil, err
	}
	r.CreatedAt, r.StartedAt, r.EndedAt, r.LeaseExpiresAt = FromNanos(created), FromNanos(started), FromNanos(ended), FromNanos(leaseX)
	return &r, nil
}

// TaskRunArgs returns a task run's column values in TaskRunColumns order.
func TaskRunArgs(e *Enc, r *automation.TaskRun) ([]any, error) {
	args := []any{r.ID, r.TaskID, r.Status, r.AgentName, r.SessionID, e.Nanos(r.CreatedAt), e.Nanos(r.StartedAt), e.Nanos(r.EndedAt),
		r.StopReason, r.Error, r.ErrorCode, r.NodeID, r.LeaseOwner, e.Nanos(r.LeaseExpiresAt)}
	return args, e.Err()
}

// ---- notifications

// NotificationColumns are the columns of notifications but the generated seq, in
// NotificationArgs order.
const NotificationColumns = `id, channel, type, task_id, run_id, body, status, attempts, next_attempt_at,
	last_error, created_at, updated_at`

// NotificationSelect reads outbox entries (seq and NotificationColumns) in ScanNotification
// order.
const NotificationSelect = "SELECT seq, " + NotificationColumns + " FROM notifications"

// ScanNotification reads a NotificationSelect row. The body is as the driver returns it: an
// empty body is nil from SQLite and []byte{} from pgx.
func ScanNotification(sc Scanner) (*automation.Notification, error) {
	var (
		n                      automation.Notification
		next, created, updated int64
	)
	err := sc.Scan(&n.Seq, &n.ID, &n.Channel, &n.Type, &n.TaskID, &n.RunID, &n.Body, &n.Status, &n.Attempts,
		&next, &n.LastError, &created, &updated)
	if err != nil {
		return nil, err
	}
	n.NextAttemptAt, n.CreatedAt, n.UpdatedAt = FromNanos(next), FromNanos(created), FromNanos(updated)
	return &n, nil
}

// NotificationArgs returns an outbox entry's column values in NotificationColumns order
// (without Seq). body is NOT NULL: a nil body is stored empty.
func NotificationArgs(e *Enc, n *automation.Notification) ([]any, error) {
	args := []any{n.ID, n.Channel, n.Type, n.TaskID, n.RunID, NonNil(n.Body), n.Status, n.Attempts,
		e.Nanos(n.NextAttemptAt), n.LastError, e.Nanos(n.CreatedAt), e.Nanos(n.UpdatedAt)}
	return args, e.Err()
}
