package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// errTxDone is returned when a Tx is used after its Write function returned.
var errTxDone = errors.New("postgres: transaction used after its Write function returned")

// querier is *pgxpool.Pool (the Store's reads) or pgx.Tx (a transaction's reads and writes).
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// reader implements store.Reader over the pool (the Store) or over a transaction (a Tx,
// read-your-writes).
type reader struct {
	q      querier
	tx     *txn         // set for a transaction's reader
	closed *atomic.Bool // the Store's: set by Close
}

// scanner is pgx.Row or pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

// cleanArgs makes string arguments storable: PostgreSQL text cannot hold NUL bytes or invalid
// UTF-8 (SQLite can), so each NUL and each invalid byte sequence becomes U+FFFD. A lookup by
// such a key then finds nothing instead of failing. Valid strings are passed as they are.
func cleanArgs(args []any) []any {
	for i, a := range args {
		switch v := a.(type) {
		case string:
			if !storable(v) {
				args[i] = clean(v)
			}
		case *string:
			if v != nil && !storable(*v) {
				c := clean(*v)
				args[i] = &c
			}
		}
	}
	return args
}

func storable(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// use returns the querier and a function to call when done with it. A transaction's connection
// is used by one statement at a time (the Tx may be shared by goroutines) and not at all once
// its Write function has returned.
func (r reader) use() (querier, func(), error) {
	if r.tx == nil {
		if r.closed != nil && r.closed.Load() {
			return nil, nil, ErrClosed
		}
		return r.q, func() {}, nil
	}
	r.tx.mu.Lock()
	if r.tx.done {
		r.tx.mu.Unlock()
		return nil, nil, errTxDone
	}
	return r.q, r.tx.mu.Unlock, nil
}

func (r reader) exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	q, release, err := r.use()
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer release()
	tag, err := q.Exec(ctx, query, cleanArgs(args)...)
	return tag, wrapErr(mapErr(err))
}

// scanRow runs a single-row query and scans it into dest; no row is store.ErrNotFound.
func (r reader) scanRow(ctx context.Context, query string, args []any, dest ...any) error {
	q, release, err := r.use()
	if err != nil {
		return err
	}
	defer release()
	err = q.QueryRow(ctx, query, cleanArgs(args)...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return wrapErr(mapErr(err))
}

// getOne runs a single-row query and scans it with scan; no row is store.ErrNotFound.
func getOne[T any](ctx context.Context, r reader, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	var zero T
	q, release, err := r.use()
	if err != nil {
		return zero, err
	}
	defer release()
	v, err := scan(q.QueryRow(ctx, query, cleanArgs(args)...))
	if errors.Is(err, pgx.ErrNoRows) {
		return zero, store.ErrNotFound
	}
	if err != nil {
		return zero, wrapErr(err)
	}
	return v, nil
}

// getAll runs a query and scans every row with scan.
func getAll[T any](ctx context.Context, r reader, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	q, release, err := r.use()
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := q.Query(ctx, query, cleanArgs(args)...)
	if err != nil {
		return nil, wrapErr(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrapErr(err)
		}
		out = append(out, v)
	}
	return out, wrapErr(rows.Err())
}

// qb builds a query with numbered parameters.
type qb struct {
	strings.Builder
	args []any
}

// arg adds a parameter and returns its placeholder.
func (b *qb) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// limit appends a LIMIT clause; zero or negative means no limit.
func (b *qb) limit(n int) {
	if n > 0 {
		b.WriteString(" LIMIT " + b.arg(n))
	}
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
		task                                *string
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
	return getOne(ctx, r, scanJob, jobSelect+" WHERE j.id = $1", id)
}

// ListJobs returns jobs matching q ordered by (name, id), byte-wise.
func (r reader) ListJobs(ctx context.Context, q store.JobQuery) ([]store.JobRecord, error) {
	var b qb
	b.WriteString(jobSelect + " WHERE true")
	if q.Scope != "" {
		b.WriteString(" AND j.scope = " + b.arg(q.Scope))
	}
	if q.WorkspaceID != "" {
		b.WriteString(" AND j.workspace_id = " + b.arg(q.WorkspaceID))
	}
	if q.Source != "" {
		b.WriteString(" AND j.source = " + b.arg(q.Source))
	}
	if q.AfterName != "" || q.AfterID != "" {
		b.WriteString(" AND (j.name, j.id) > (" + b.arg(q.AfterName) + ", " + b.arg(q.AfterID) + ")")
	}
	b.WriteString(" ORDER BY j.name, j.id")
	b.limit(q.Limit)
	return getAll(ctx, r, scanJob, b.String(), b.args...)
}

// AllJobs returns every job with its cursor, ordered by (name, id).
func (r reader) AllJobs(ctx context.Context) ([]store.JobRecord, error) {
	return getAll(ctx, r, scanJob, jobSelect+" ORDER BY j.name, j.id")
}

// CountWorkspaceDefinitions counts the jobs and triggers bound to a workspace.
func (r reader) CountWorkspaceDefinitions(ctx context.Context, workspaceID string) (int, error) {
	var n int
	err := r.scanRow(ctx, `SELECT (SELECT count(*) FROM jobs WHERE workspace_id = $1) +
		(SELECT count(*) FROM triggers WHERE workspace_id = $1)`, []any{workspaceID}, &n)
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
		jobID, triggerID                         *string
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
	if jobID != nil {
		r.JobID = *jobID
	}
	if triggerID != nil {
		r.TriggerID = *triggerID
	}
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
	return getOne(ctx, r, scanRun, runSelect+" WHERE id = $1", id)
}

// ListRuns returns runs matching q ordered by (started_at, id) descending. Each combination of
// filters is an index range scan: runs_def_started for a job or trigger, runs_status_started
// for a status, runs_fire_attempt for a fire and runs_started otherwise.
func (r reader) ListRuns(ctx context.Context, q store.RunQuery) ([]*automation.Run, error) {
	var (
		b qb
		e enc
	)
	b.WriteString(runSelect + " WHERE true")
	switch {
	case q.JobID != "":
		p := b.arg(q.JobID)
		b.WriteString(" AND def_id = " + p + " AND job_id = " + p)
		if q.TriggerID != "" {
			b.WriteString(" AND trigger_id = " + b.arg(q.TriggerID))
		}
	case q.TriggerID != "":
		p := b.arg(q.TriggerID)
		b.WriteString(" AND def_id = " + p + " AND trigger_id = " + p)
	}
	if q.Status != "" {
		b.WriteString(" AND status = " + b.arg(q.Status))
	}
	if q.FireID != "" {
		b.WriteString(" AND fire_id = " + b.arg(q.FireID))
	}
	if !q.Since.IsZero() {
		b.WriteString(" AND started_at >= " + b.arg(e.t(q.Since)))
	}
	if !q.Until.IsZero() {
		b.WriteString(" AND started_at < " + b.arg(e.t(q.Until)))
	}
	if !q.BeforeStartedAt.IsZero() || q.BeforeID != "" {
		b.WriteString(" AND (started_at, id) < (" + b.arg(e.t(q.BeforeStartedAt)) + ", " + b.arg(q.BeforeID) + ")")
	}
	if e.err != nil {
		return nil, e.err
	}
	b.WriteString(" ORDER BY started_at DESC, id DESC")
	b.limit(q.Limit)
	return getAll(ctx, r, scanRun, b.String(), b.args...)
}

// CountRunsByStatus counts runs per status; statuses without runs are absent. It is an
// (index-only) scan of runs_status_started: unlike SQLite, the store keeps no per-status
// counter rows, which every run insert and status change of every node would have to lock.
func (r reader) CountRunsByStatus(ctx context.Context) (map[string]int, error) {
	type pair struct {
		status string
		n      int
	}
	pairs, err := getAll(ctx, r, func(sc scanner) (pair, error) {
		var p pair
		err := sc.Scan(&p.status, &p.n)
		return p, err
	}, "SELECT status, count(*) FROM runs GROUP BY status")
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(pairs))
	for _, p := range pairs {
		out[p.status] = p.n
	}
	return out, nil
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
	var (
		b qb
		e enc
	)
	b.WriteString(ledgerSelect + " WHERE job_id = " + b.arg(q.JobID))
	if !q.BeforeSlot.IsZero() || q.BeforeSeq != 0 {
		b.WriteString(" AND (slot_at, seq) < (" + b.arg(e.t(q.BeforeSlot)) + ", " + b.arg(q.BeforeSeq) + ")")
	}
	if e.err != nil {
		return nil, e.err
	}
	b.WriteString(" ORDER BY slot_at DESC, seq DESC")
	b.limit(q.Limit)
	return getAll(ctx, r, scanLedger, b.String(), b.args...)
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
	return getOne(ctx, r, scanWorkspace, workspaceSelect+" WHERE id = $1", id)
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
	return getOne(ctx, r, scanBytes, "SELECT doc FROM transcripts WHERE run_id = $1", runID)
}

// GetMeta returns a named value or store.ErrNotFound.
func (r reader) GetMeta(ctx context.Context, key string) ([]byte, error) {
	return getOne(ctx, r, scanBytes, "SELECT value FROM meta WHERE key = $1", key)
}
