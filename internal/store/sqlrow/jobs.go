package sqlrow

import (
	"fmt"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// ---- jobs and cursors

// JobColumns are the columns of jobs, in JobArgs order.
const JobColumns = `id, name, scope, workspace_id, agent_name, prompt,
	schedule_mode, schedule_expr, schedule_interval, schedule_time, schedule_timezone,
	task, enabled, retry_strategy, retry_max_retries, retry_base_delay, retry_max_delay,
	fire_limit_max, fire_limit_window, overlap_policy, catch_up_policy,
	misfire_grace_seconds, catch_up_window, source, config_enabled, config_hash,
	created_at, updated_at`

// JobSelect reads a job with its cursor (alias j and c; a job without a cursor reads an empty
// one), in ScanJob order.
const JobSelect = `SELECT j.id, j.name, j.scope, j.workspace_id, j.agent_name, j.prompt,
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

// ScanJob reads a JobSelect row. jobs.task is NULL or the task document.
func ScanJob(sc Scanner) (store.JobRecord, error) {
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
		return store.JobRecord{}, fmt.Errorf("job %s: %w", j.ID, err)
	}
	j.CreatedAt, j.UpdatedAt = FromNanos(created), FromNanos(updated)
	c.JobID = j.ID
	c.AccountedUntil = FromNanos(accounted)
	c.NextRunAt = FromNanos(next)
	c.LastRunAt = FromNanos(lastRun)
	c.LastScheduledAt = FromNanos(lastSched)
	c.LastMisfireAt = FromNanos(lastMisfire)
	c.UpdatedAt = FromNanos(curUpdated)
	c.AnchorAt = FromNanos(anchor)
	return store.JobRecord{Job: &j, Cursor: &c}, nil
}

// JobScheduleSelect reads what the scheduler needs of every job, in ScanJobSchedule order.
const JobScheduleSelect = `SELECT j.id, j.source, j.enabled, j.schedule_mode, j.schedule_timezone,
	coalesce(c.next_run_at, 0), coalesce(c.timezone, '')
FROM jobs j LEFT JOIN cursors c ON c.job_id = j.id`

// ScanJobSchedule reads a JobScheduleSelect row.
func ScanJobSchedule(sc Scanner) (store.JobSchedule, error) {
	var (
		js   store.JobSchedule
		next int64
	)
	if err := sc.Scan(&js.ID, &js.Source, &js.Enabled, &js.Mode, &js.Timezone, &next, &js.CursorTimezone); err != nil {
		return js, err
	}
	js.NextRunAt = FromNanos(next)
	return js, nil
}

// OrderJobs returns recs in the order of ids (ids without a record are skipped; duplicate
// ids yield their record once).
func OrderJobs(recs []store.JobRecord, ids []string) []store.JobRecord {
	byID := make(map[string]store.JobRecord, len(recs))
	for _, r := range recs {
		byID[r.Job.ID] = r
	}
	out := make([]store.JobRecord, 0, len(recs))
	for _, id := range ids {
		if r, ok := byID[id]; ok {
			out = append(out, r)
			delete(byID, id)
		}
	}
	return out
}

// JobArgs returns a job's column values in JobColumns order.
func JobArgs(e *Enc, job *automation.Job) ([]any, error) {
	args := []any{job.ID, job.Name, job.Scope, job.WorkspaceID, job.AgentName, job.Prompt,
		job.Schedule.Mode, job.Schedule.Expr, job.Schedule.Interval, job.Schedule.Time, job.Schedule.Timezone,
		e.task(job.Task), job.Enabled, job.Retry.Strategy, job.Retry.MaxRetries, job.Retry.BaseDelay,
		job.Retry.MaxDelay, job.FireLimit.Max, job.FireLimit.Window, job.OverlapPolicy, job.CatchUpPolicy,
		job.MisfireGraceSeconds, job.CatchUpWindow, job.Source, job.ConfigEnabled, job.ConfigHash,
		e.Nanos(job.CreatedAt), e.Nanos(job.UpdatedAt)}
	return args, e.Err()
}

// CursorColumns are the columns of cursors, in CursorArgs order (the key job_id last).
const CursorColumns = `accounted_until, next_run_at, last_run_at,
	last_scheduled_at, last_fire_id, consecutive_resume_failures, last_misfire_at,
	misfire_count, updated_at, timezone, anchor_at, schedule_key, job_id`

// CursorArgs returns a cursor's column values in CursorColumns order.
func CursorArgs(e *Enc, c *automation.Cursor) ([]any, error) {
	args := []any{e.Nanos(c.AccountedUntil), e.Nanos(c.NextRunAt), e.Nanos(c.LastRunAt), e.Nanos(c.LastScheduledAt),
		c.LastFireID, c.ConsecutiveResumeFailures, e.Nanos(c.LastMisfireAt), c.MisfireCount,
		e.Nanos(c.UpdatedAt), c.Timezone, e.Nanos(c.AnchorAt), c.ScheduleKey, c.JobID}
	return args, e.Err()
}

// ---- ledger

// LedgerColumns are the columns of ledger but the generated seq, in LedgerArgs order.
const LedgerColumns = `job_id, slot_at, last_slot_at, slot_count, outcome, reason,
	run_id, fire_id, local_time, dst, recorded_at`

// LedgerSelect reads ledger entries (seq and LedgerColumns) in ScanLedger order.
const LedgerSelect = "SELECT seq, " + LedgerColumns + " FROM ledger"

// ScanLedger reads a LedgerSelect row.
func ScanLedger(sc Scanner) (automation.LedgerEntry, error) {
	var (
		e                     automation.LedgerEntry
		slot, lastSlot, recAt int64
	)
	err := sc.Scan(&e.Seq, &e.JobID, &slot, &lastSlot, &e.Count, &e.Outcome, &e.Reason,
		&e.RunID, &e.FireID, &e.Local, &e.DST, &recAt)
	if err != nil {
		return e, err
	}
	e.SlotAt, e.LastSlotAt, e.RecordedAt = FromNanos(slot), FromNanos(lastSlot), FromNanos(recAt)
	return e, nil
}

// LedgerArgs returns an entry's column values in LedgerColumns order (without Seq).
func LedgerArgs(e *Enc, le *automation.LedgerEntry) ([]any, error) {
	args := []any{le.JobID, e.Nanos(le.SlotAt), e.Nanos(le.LastSlotAt), le.Count, le.Outcome, le.Reason,
		le.RunID, le.FireID, le.Local, le.DST, e.Nanos(le.RecordedAt)}
	return args, e.Err()
}

// ---- workspaces

// WorkspaceColumns are the columns of workspaces, in WorkspaceArgs order.
const WorkspaceColumns = "id, path, source, created_at, updated_at"

// WorkspaceSelect reads workspaces in ScanWorkspace order.
const WorkspaceSelect = "SELECT " + WorkspaceColumns + " FROM workspaces"

// ScanWorkspace reads a WorkspaceSelect row.
func ScanWorkspace(sc Scanner) (*automation.Workspace, error) {
	var (
		w                automation.Workspace
		created, updated int64
	)
	if err := sc.Scan(&w.ID, &w.Path, &w.Source, &created, &updated); err != nil {
		return nil, err
	}
	w.CreatedAt, w.UpdatedAt = FromNanos(created), FromNanos(updated)
	return &w, nil
}

// WorkspaceArgs returns a workspace's column values in WorkspaceColumns order.
func WorkspaceArgs(e *Enc, w *automation.Workspace) ([]any, error) {
	args := []any{w.ID, w.Path, w.Source, e.Nanos(w.CreatedAt), e.Nanos(w.UpdatedAt)}
	return args, e.Err()
}

// ---- transcripts and meta

// ScanBytes reads one NOT NULL blob column (transcripts.doc, meta.value). An empty value is
// []byte{}, never nil: SQLite returns nil for an empty BLOB.
func ScanBytes(sc Scanner) ([]byte, error) {
	var b []byte
	if err := sc.Scan(&b); err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}
