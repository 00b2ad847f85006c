package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// errTxDone is returned when a Tx is used after its Write function returned.
var errTxDone = errors.New("sqlite: transaction used after its Write function returned")

// reader implements store.Reader over a statement cache: the read pool for the Store, the
// writer's connection for a Tx (read-your-writes).
type reader struct {
	st *stmtCache
	tx *txn // set for a transaction's reader
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func (r reader) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if r.tx != nil && r.tx.done {
		return nil, errTxDone
	}
	return r.st.get(ctx, query)
}

func (r reader) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (r reader) row(ctx context.Context, query string, args ...any) (*sql.Row, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(ctx, args...), nil
}

func (r reader) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(ctx, args...)
	return res, mapErr(err)
}

// getOne runs a single-row query and scans it with scan; no row is store.ErrNotFound.
func getOne[T any](ctx context.Context, r reader, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	var zero T
	row, err := r.row(ctx, query, args...)
	if err != nil {
		return zero, err
	}
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return zero, store.ErrNotFound
	}
	return v, err
}

// getAll runs a query and scans every row with scan.
func getAll[T any](ctx context.Context, r reader, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := r.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// limit converts a query limit to SQL: zero or negative means no limit.
func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// ---- jobs

const jobSelect = `SELECT j.id, j.name, j.scope, j.workspace_id, j.agent_name, j.prompt,
	j.schedule_mode, j.schedule_expr, j.schedule_interval, j.schedule_time, j.schedule_timezone,
	j.task, j.enabled, j.retry_strategy, j.retry_max_retries, j.retry_base_delay, j.retry_max_delay,
	j.fire_limit_max, j.fire_limit_window, j.overlap_policy, j.catch_up_policy,
	j.misfire_grace_seconds, j.catch_up_window, j.source, j.config_enabled, j.config_hash,
	j.created_at, j.updated_at,
	coalesce(c.accounted_until, 0), coalesce(c.next_run_at, 0), coalesce(c.last_run_at, 0),
	coalesce(c.last_scheduled_at, 0), coalesce(c.last_fire_id, ''),
	coalesce(c.consecutive_resume_failures, 0), coalesce(c.last_misfire_at, 0),
	coalesce(c.misfire_count, 0), coalesce(c.updated_at, 0), coalesce(c.timezone, ''),
	coalesce(c.anchor_at, 0), coalesce(c.schedule_key, '')
FROM jobs j LEFT JOIN cursors c ON c.job_id = j.id`

func scanJob(sc scanner) (store.JobRecord, error) {
	var (
		j                                   automation.Job
		c                                   automation.Cursor
		task                                sql.NullString
		created, updated                    int64
		accounted, next, lastRun, lastSched int64
		lastMisfire, curUpdated, anchor     int64
	)
	err := sc.Scan(&j.ID, &j.Name, &j.Scope, &j.WorkspaceID, &j.AgentName, &j.Prompt,
		&j.Schedule.Mode, &j.Schedule.Expr, &j.Schedule.Interval, &j.Schedule.Time, &j.Schedule.Timezone,
		&task, &j.Enabled, &j.Retry.Strategy, &j.Retry.MaxRetries, &j.Retry.BaseDelay, &j.Retry.MaxDelay,
		&j.FireLimit.Max, &j.FireLimit.Window, &j.OverlapPolicy, &j.CatchUpPolicy,
		&j.MisfireGraceSeconds, &j.CatchUpWindow, &j.Source, &j.ConfigEnabled, &j.ConfigHash,
		&created, &updated,
		&accounted, &next, &lastRun, &lastSched, &c.LastFireID, &c.ConsecutiveResumeFailures,
		&lastMisfire, &c.MisfireCount, &curUpdated, &c.Timezone, &anchor, &c.ScheduleKey)
	if err != nil {
		return store.JobRecord{}, err
	}
	if j.Task, err = decodeTask(task); err != nil {
		return store.JobRecord{}, err
	}
	j.CreatedAt, j.UpdatedAt = fromNanos(created), fromNanos(updated)
	c.JobID = j.ID
	c.AccountedUntil = fromNanos(accounted)
	c.NextRunAt = fromNanos(next)
	c.LastRunAt = fromNanos(lastRun)
	c.LastScheduledAt = fromNanos(lastSched)
	c.LastMisfireAt = fromNanos(lastMisfire)
	c.UpdatedAt = fromNanos(curUpdated)
	c.AnchorAt = fromNanos(anchor)
	return store.JobRecord{Job: &j, Cursor: &c}, nil
}

// GetJob returns a job with its cursor, or store.ErrNotFound.
func (r reader) GetJob(ctx context.Context, id string) (store.JobRecord, error) {
	return getOne(ctx, r, scanJob, jobSelect+" WHERE j.id = ?", id)
}

// ListJobs returns jobs matching q ordered by (name, id), byte-wise.
func (r reader) ListJobs(ctx context.Context, q store.JobQuery) ([]store.JobRecord, error) {
	query, args := jobsQuery(q)
	return getAll(ctx, r, scanJob, query, args...)
}

// jobsQuery builds the SQL of ListJobs.
func jobsQuery(q store.JobQuery) (string, []any) {
	var (
		b    strings.Builder
		args []any
	)
	b.WriteString(jobSelect + " WHERE 1")
	if q.Scope != "" {
		b.WriteString(" AND j.scope = ?")
		args = append(args, q.Scope)
	}
	if q.WorkspaceID != "" {
		b.WriteString(" AND j.workspace_id = ?")
		args = append(args, q.WorkspaceID)
	}
	if q.Source != "" {
		b.WriteString(" AND j.source = ?")
		args = append(args, q.Source)
	}
	if q.AfterName != "" || q.AfterID != "" {
		b.WriteString(" AND (j.name, j.id) > (?, ?)")
		args = append(args, q.AfterName, q.AfterID)
	}
	b.WriteString(" ORDER BY j.name, j.id LIMIT ?")
	args = append(args, limit(q.Limit))
	return b.String(), args
}

// AllJobs returns every job with its cursor, ordered by (name, id).
func (r reader) AllJobs(ctx context.Context) ([]store.JobRecord, error) {
	return getAll(ctx, r, scanJob, jobSelect+" ORDER BY j.name, j.id")
}

const countWorkspaceDefinitionsSQL = `SELECT (SELECT count(*) FROM jobs WHERE workspace_id = ?) +
	(SELECT count(*) FROM triggers WHERE workspace_id = ?)`

// CountWorkspaceDefinitions counts the jobs and triggers bound to a workspace.
func (r reader) CountWorkspaceDefinitions(ctx context.Context, workspaceID string) (int, error) {
	row, err := r.row(ctx, countWorkspaceDefinitionsSQL, workspaceID, workspaceID)
	if err != nil {
		return 0, err
	}
	var n int
	err = row.Scan(&n)
	return n, err
}

// ---- runs

// runColumns lists the stored columns of runs in scan order (def_id is generated).
const runColumns = `id, job_id, trigger_id, status, attempt, fire_id, scheduled_at, started_at,
	ended_at, session_id, error, error_code, task_id, task_run_id, delivery_error,
	delivery_error_at, origin, retry_of, dispatched_at, agent_name, scope, workspace_id, depth,
	delivery_id, event_id, stop_reason, node_id, prompt, envelope, lease_owner, lease_expires_at`

const runSelect = "SELECT " + runColumns + " FROM runs"

func scanRun(sc scanner) (*automation.Run, error) {
	var (
		r                                        automation.Run
		jobID, triggerID                         sql.NullString
		scheduled, started, ended, deliveryErrAt int64
		dispatched, leaseExpires                 int64
	)
	err := sc.Scan(&r.ID, &jobID, &triggerID, &r.Status, &r.Attempt, &r.FireID, &scheduled, &started,
		&ended, &r.SessionID, &r.Error, &r.ErrorCode, &r.TaskID, &r.TaskRunID, &r.DeliveryError,
		&deliveryErrAt, &r.Origin, &r.RetryOf, &dispatched, &r.AgentName, &r.Scope, &r.WorkspaceID, &r.Depth,
		&r.DeliveryID, &r.EventID, &r.StopReason, &r.NodeID, &r.Prompt, &r.Envelope, &r.LeaseOwner, &leaseExpires)
	if err != nil {
		return nil, err
	}
	r.JobID, r.TriggerID = jobID.String, triggerID.String
	r.ScheduledAt = fromNanos(scheduled)
	r.StartedAt = fromNanos(started)
	r.EndedAt = fromNanos(ended)
	r.DeliveryErrorAt = fromNanos(deliveryErrAt)
	r.DispatchedAt = fromNanos(dispatched)
	r.LeaseExpiresAt = fromNanos(leaseExpires)
	if len(r.Envelope) == 0 {
		r.Envelope = nil
	}
	return &r, nil
}

// GetRun returns a run or store.ErrNotFound.
func (r reader) GetRun(ctx context.Context, id string) (*automation.Run, error) {
	return getOne(ctx, r, scanRun, runSelect+" WHERE id = ?", id)
}

// ListRuns returns runs matching q ordered by (started_at, id) descending. Each combination of
// filters is an index range scan: runs_def_started for a job or trigger, runs_status_started
// for a status, runs_fire_attempt for a fire and runs_started otherwise.
func (r reader) ListRuns(ctx context.Context, q store.RunQuery) ([]*automation.Run, error) {
	query, args, err := runsQuery(q)
	if err != nil {
		return nil, err
	}
	return getAll(ctx, r, scanRun, query, args...)
}

// runsQuery builds the SQL of ListRuns.
func runsQuery(q store.RunQuery) (string, []any, error) {
	var (
		b    strings.Builder
		args []any
		e    enc
	)
	b.WriteString(runSelect + " WHERE 1")
	switch {
	case q.JobID != "":
		b.WriteString(" AND def_id = ? AND job_id = ?")
		args = append(args, q.JobID, q.JobID)
		if q.TriggerID != "" {
			b.WriteString(" AND trigger_id = ?")
			args = append(args, q.TriggerID)
		}
	case q.TriggerID != "":
		b.WriteString(" AND def_id = ? AND trigger_id = ?")
		args = append(args, q.TriggerID, q.TriggerID)
	}
	if q.Status != "" {
		b.WriteString(" AND status = ?")
		args = append(args, q.Status)
	}
	if q.FireID != "" {
		b.WriteString(" AND fire_id = ?")
		args = append(args, q.FireID)
	}
	if !q.Since.IsZero() {
		b.WriteString(" AND started_at >= ?")
		args = append(args, e.t(q.Since))
	}
	// Until and the keyset position are both upper bounds on (started_at, id): started_at < u
	// is (started_at, id) < (u, "") because ids are non-empty. Only the tighter one is
	// emitted, so that SQLite uses it as the end of the index range instead of filtering.
	var (
		upper   bool
		upAt    int64
		upID    string
		hasKey  = !q.BeforeStartedAt.IsZero() || q.BeforeID != ""
		keyAt   = e.t(q.BeforeStartedAt)
		untilAt = e.t(q.Until)
	)
	switch {
	case hasKey && !q.Until.IsZero():
		upper = true
		if untilAt <= keyAt {
			upAt, upID = untilAt, ""
		} else {
			upAt, upID = keyAt, q.BeforeID
		}
	case hasKey:
		upper, upAt, upID = true, keyAt, q.BeforeID
	case !q.Until.IsZero():
		upper, upAt, upID = true, untilAt, ""
	}
	if upper {
		b.WriteString(" AND (started_at, id) < (?, ?)")
		args = append(args, upAt, upID)
	}
	if e.err != nil {
		return "", nil, e.err
	}
	b.WriteString(" ORDER BY started_at DESC, id DESC LIMIT ?")
	args = append(args, limit(q.Limit))
	return b.String(), args, nil
}

// CountRunsByStatus counts runs per status; statuses without runs are absent.
func (r reader) CountRunsByStatus(ctx context.Context) (map[string]int, error) {
	rows, err := r.query(ctx, "SELECT status, n FROM run_status_counts WHERE n > 0")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var (
			status string
			n      int
		)
		if err := rows.Scan(&status, &n); err != nil {
			return nil, err
		}
		out[status] = n
	}
	return out, rows.Err()
}

// ---- ledger

const ledgerSelect = `SELECT seq, job_id, slot_at, last_slot_at, slot_count, outcome, reason,
	run_id, fire_id, local_time, dst, recorded_at FROM ledger`

func scanLedger(sc scanner) (automation.LedgerEntry, error) {
	var (
		e                     automation.LedgerEntry
		slot, lastSlot, recAt int64
	)
	err := sc.Scan(&e.Seq, &e.JobID, &slot, &lastSlot, &e.Count, &e.Outcome, &e.Reason,
		&e.RunID, &e.FireID, &e.Local, &e.DST, &recAt)
	if err != nil {
		return e, err
	}
	e.SlotAt, e.LastSlotAt, e.RecordedAt = fromNanos(slot), fromNanos(lastSlot), fromNanos(recAt)
	return e, nil
}

// ListLedger pages a job's ledger newest first, by (slot_at, seq) descending.
func (r reader) ListLedger(ctx context.Context, q store.LedgerQuery) ([]automation.LedgerEntry, error) {
	query, args, err := ledgerQuery(q)
	if err != nil {
		return nil, err
	}
	return getAll(ctx, r, scanLedger, query, args...)
}

// ledgerQuery builds the SQL of ListLedger.
func ledgerQuery(q store.LedgerQuery) (string, []any, error) {
	var e enc
	query := ledgerSelect + " WHERE job_id = ?"
	args := []any{q.JobID}
	if !q.BeforeSlot.IsZero() || q.BeforeSeq != 0 {
		query += " AND (slot_at, seq) < (?, ?)"
		args = append(args, e.t(q.BeforeSlot), q.BeforeSeq)
	}
	if e.err != nil {
		return "", nil, e.err
	}
	query += " ORDER BY slot_at DESC, seq DESC LIMIT ?"
	args = append(args, limit(q.Limit))
	return query, args, nil
}

// ---- workspaces

const workspaceSelect = "SELECT id, path, source, created_at, updated_at FROM workspaces"

func scanWorkspace(sc scanner) (*automation.Workspace, error) {
	var (
		w                automation.Workspace
		created, updated int64
	)
	if err := sc.Scan(&w.ID, &w.Path, &w.Source, &created, &updated); err != nil {
		return nil, err
	}
	w.CreatedAt, w.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &w, nil
}

// GetWorkspace returns a workspace or store.ErrNotFound.
func (r reader) GetWorkspace(ctx context.Context, id string) (*automation.Workspace, error) {
	return getOne(ctx, r, scanWorkspace, workspaceSelect+" WHERE id = ?", id)
}

// ListWorkspaces returns every workspace ordered by id.
func (r reader) ListWorkspaces(ctx context.Context) ([]*automation.Workspace, error) {
	return getAll(ctx, r, scanWorkspace, workspaceSelect+" ORDER BY id")
}

// ---- transcripts and meta

func scanBytes(sc scanner) ([]byte, error) {
	var b []byte
	if err := sc.Scan(&b); err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// GetTranscript returns a run's transcript document or store.ErrNotFound.
func (r reader) GetTranscript(ctx context.Context, runID string) ([]byte, error) {
	return getOne(ctx, r, scanBytes, "SELECT doc FROM transcripts WHERE run_id = ?", runID)
}

// GetMeta returns a named value or store.ErrNotFound.
func (r reader) GetMeta(ctx context.Context, key string) ([]byte, error) {
	return getOne(ctx, r, scanBytes, "SELECT value FROM meta WHERE key = ?", key)
}
