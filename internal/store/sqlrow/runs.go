package sqlrow

import "github.com/agh-dev/agh/internal/automation"

// RunColumns are the stored columns of runs (def_id is generated), in RunArgs order: the key
// id last.
const RunColumns = `job_id, trigger_id, status, attempt, fire_id,
	scheduled_at, started_at, ended_at, session_id, error, error_code, task_id, task_run_id,
	delivery_error, delivery_error_at, origin, retry_of, dispatched_at, agent_name, scope,
	workspace_id, depth, delivery_id, event_id, stop_reason, node_id, prompt, envelope,
	lease_owner, lease_expires_at, id`

// RunSelect reads runs in ScanRun order.
const RunSelect = "SELECT " + RunColumns + " FROM runs"

// ScanRun reads a RunSelect row. job_id and trigger_id are NULL when absent; an empty
// envelope (NULL, or an empty BYTEA from pgx) is nil.
func ScanRun(sc Scanner) (*automation.Run, error) {
	var (
		r                                        automation.Run
		jobID, triggerID                         *string
		scheduled, started, ended, deliveryErrAt int64
		dispatched, leaseExpires                 int64
	)
	err := sc.Scan(&jobID, &triggerID, &r.Status, &r.Attempt, &r.FireID,
		&scheduled, &started, &ended, &r.SessionID, &r.Error, &r.ErrorCode, &r.TaskID, &r.TaskRunID,
		&r.DeliveryError, &deliveryErrAt, &r.Origin, &r.RetryOf, &dispatched, &r.AgentName, &r.Scope,
		&r.WorkspaceID, &r.Depth, &r.DeliveryID, &r.EventID, &r.StopReason, &r.NodeID, &r.Prompt, &r.Envelope,
		&r.LeaseOwner, &leaseExpires, &r.ID)
	if err != nil {
		return nil, err
	}
	r.JobID, r.TriggerID = fromNullable(jobID), fromNullable(triggerID)
	r.ScheduledAt = FromNanos(scheduled)
	r.StartedAt = FromNanos(started)
	r.EndedAt = FromNanos(ended)
	r.DeliveryErrorAt = FromNanos(deliveryErrAt)
	r.DispatchedAt = FromNanos(dispatched)
	r.LeaseExpiresAt = FromNanos(leaseExpires)
	if len(r.Envelope) == 0 {
		r.Envelope = nil
	}
	return &r, nil
}

// RunArgs returns a run's column values in RunColumns order. An empty JobID or TriggerID is
// NULL (def_id is coalesce(job_id, trigger_id)); so is an empty envelope.
func RunArgs(e *Enc, r *automation.Run) ([]any, error) {
	args := []any{nullable(r.JobID), nullable(r.TriggerID), r.Status, r.Attempt, r.FireID,
		e.Nanos(r.ScheduledAt), e.Nanos(r.StartedAt), e.Nanos(r.EndedAt), r.SessionID, r.Error, r.ErrorCode,
		r.TaskID, r.TaskRunID, r.DeliveryError, e.Nanos(r.DeliveryErrorAt), r.Origin, r.RetryOf,
		e.Nanos(r.DispatchedAt), r.AgentName, r.Scope, r.WorkspaceID, r.Depth, r.DeliveryID, r.EventID,
		r.StopReason, r.NodeID, r.Prompt, blob(r.Envelope), r.LeaseOwner, e.Nanos(r.LeaseExpiresAt),
		r.ID}
	return args, e.Err()
}
