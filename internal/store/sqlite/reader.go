package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

// errTxDone is returned when a Tx is used after its Write function returned.
var errTxDone = errors.New("sqlite: transaction used after its Write function returned")

// reader implements store.Reader over a statement cache: the read pool for the Store, the
// writer's connection for a Tx (read-your-writes).
type reader struct {
	st *stmtCache
	tx *txn // set for a transaction's reader
}

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
func getOne[T any](ctx context.Context, r reader, scan func(sqlrow.Scanner) (T, error), query string, args ...any) (T, error) {
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
func getAll[T any](ctx context.Context, r reader, scan func(sqlrow.Scanner) (T, error), query string, args ...any) ([]T, error) {
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

// GetJob returns a job with its cursor, or store.ErrNotFound.
func (r reader) GetJob(ctx context.Context, id string) (store.JobRecord, error) {
	return getOne(ctx, r, sqlrow.ScanJob, sqlrow.JobSelect+" WHERE j.id = ?", id)
}

// ListJobs returns jobs matching q ordered by (name, id), byte-wise.
func (r reader) ListJobs(ctx context.Context, q store.JobQuery) ([]store.JobRecord, error) {
	query, args := jobsQuery(q)
	return getAll(ctx, r, sqlrow.ScanJob, query, args...)
}

// jobsQuery builds the SQL of ListJobs.
func jobsQuery(q store.JobQuery) (string, []any) {
	var (
		b    strings.Builder
		args []any
	)
	b.WriteString(sqlrow.JobSelect + " WHERE 1")
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
	return getAll(ctx, r, sqlrow.ScanJob, sqlrow.JobSelect+" ORDER BY j.name, j.id")
}

// JobSchedules returns every job's scheduling fields (scheduler boot, config sync). It reads
// jobs and cursors with one table scan each and joins them here: joining in SQL costs a
// random B-tree search of cursors per job, about half of the boot time at 100k jobs.
func (r reader) JobSchedules(ctx context.Context) ([]store.JobSchedule, error) {
	jobs, err := getAll(ctx, r, func(sc sqlrow.Scanner) (store.JobSchedule, error) {
		var js store.JobSchedule
		err := sc.Scan(&js.ID, &js.Source, &js.Enabled, &js.Mode, &js.Timezone)
		return js, err
	}, "SELECT id, source, enabled, schedule_mode, schedule_timezone FROM jobs")
	if err != nil {
		return nil, err
	}
	byID := make(map[string]int, len(jobs))
	for i, j := range jobs {
		byID[j.ID] = i
	}
	rows, err := r.query(ctx, "SELECT job_id, next_run_at, timezone FROM cursors")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		id, tz string
		next   int64
	)
	for rows.Next() {
		if err := rows.Scan(&id, &next, &tz); err != nil {
			return nil, err
		}
		if i, ok := byID[id]; ok {
			jobs[i].NextRunAt, jobs[i].CursorTimezone = sqlrow.FromNanos(next), tz
		}
	}
	return jobs, rows.Err()
}

const countDefinitionsSQL = `SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM jobs WHERE enabled),
	(SELECT count(*) FROM triggers), (SELECT count(*) FROM triggers WHERE enabled)`

// CountDefinitions counts jobs and triggers, all and enabled.
func (r reader) CountDefinitions(ctx context.Context) (store.DefinitionCounts, error) {
	var c store.DefinitionCounts
	row, err := r.row(ctx, countDefinitionsSQL)
	if err != nil {
		return c, err
	}
	err = row.Scan(&c.Jobs, &c.EnabledJobs, &c.Triggers, &c.EnabledTriggers)
	return c, err
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

// GetRun returns a run or store.ErrNotFound.
func (r reader) GetRun(ctx context.Context, id string) (*automation.Run, error) {
	return getOne(ctx, r, sqlrow.ScanRun, sqlrow.RunSelect+" WHERE id = ?", id)
}

// ListRuns returns runs matching q ordered by (started_at, id) descending. Each combination of
// filters is an index range scan: runs_def_started for a job or trigger (with or without a
// status, which that index holds), runs_status_started for a status, runs_fire_attempt for a
// fire and runs_started otherwise.
func (r reader) ListRuns(ctx context.Context, q store.RunQuery) ([]*automation.Run, error) {
	query, args, err := runsQuery(q)
	if err != nil {
		return nil, err
	}
	return getAll(ctx, r, sqlrow.ScanRun, query, args...)
}

// runsQuery builds the SQL of ListRuns.
func runsQuery(q store.RunQuery) (string, []any, error) {
	var (
		b    strings.Builder
		args []any
		e    = newEnc()
	)
	b.WriteString(sqlrow.RunSelect)
	active := q.Status == automation.RunScheduled || q.Status == automation.RunRunning
	switch {
	case (q.JobID != "" || q.TriggerID != "") && active:
		// The definition's active runs are few and all in the partial index runs_active;
		// walking runs_def_started would pass over its whole history to fill a page when
		// fewer than a page are active (a UI polling a busy job's running runs). They are
		// sorted by started_at after the lookup; the WHERE term below repeats the index's.
		b.WriteString(" INDEXED BY runs_active WHERE status IN ('scheduled', 'running')")
	case q.JobID != "" || q.TriggerID != "":
		// Also with a status: runs_def_started holds status, so the status is tested on
		// index entries, and the runs of one definition are fewer than those of one status
		// (SQLite, without statistics, could take runs_status_started). A terminal status
		// that is rare in a large history walks it (DECISIONS 24).
		b.WriteString(" INDEXED BY runs_def_started WHERE 1")
	default:
		b.WriteString(" WHERE 1")
	}
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
		args = append(args, e.Nanos(q.Since))
	}
	// Until and the keyset position are both upper bounds on (started_at, id): started_at < u
	// is (started_at, id) < (u, "") because ids are non-empty. Only the tighter one is
	// emitted, so that SQLite uses it as the end of the index range instead of filtering.
	var (
		upper   bool
		upAt    int64
		upID    string
		hasKey  = !q.BeforeStartedAt.IsZero() || q.BeforeID != ""
		keyAt   = e.Nanos(q.BeforeStartedAt)
		untilAt = e.Nanos(q.Until)
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
	if err := e.Err(); err != nil {
		return "", nil, err
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

// ListLedger pages a job's ledger newest first, by (slot_at, seq) descending.
func (r reader) ListLedger(ctx context.Context, q store.LedgerQuery) ([]automation.LedgerEntry, error) {
	query, args, err := ledgerQuery(q)
	if err != nil {
		return nil, err
	}
	return getAll(ctx, r, sqlrow.ScanLedger, query, args...)
}

// ledgerQuery builds the SQL of ListLedger.
func ledgerQuery(q store.LedgerQuery) (string, []any, error) {
	e := newEnc()
	query := sqlrow.LedgerSelect + " WHERE job_id = ?"
	args := []any{q.JobID}
	if !q.BeforeSlot.IsZero() || q.BeforeSeq != 0 {
		query += " AND (slot_at, seq) < (?, ?)"
		args = append(args, e.Nanos(q.BeforeSlot), q.BeforeSeq)
	}
	if err := e.Err(); err != nil {
		return "", nil, err
	}
	query += " ORDER BY slot_at DESC, seq DESC LIMIT ?"
	args = append(args, limit(q.Limit))
	return query, args, nil
}

// ---- workspaces

// GetWorkspace returns a workspace or store.ErrNotFound.
func (r reader) GetWorkspace(ctx context.Context, id string) (*automation.Workspace, error) {
	return getOne(ctx, r, sqlrow.ScanWorkspace, sqlrow.WorkspaceSelect+" WHERE id = ?", id)
}

// ListWorkspaces returns every workspace ordered by id.
func (r reader) ListWorkspaces(ctx context.Context) ([]*automation.Workspace, error) {
	return getAll(ctx, r, sqlrow.ScanWorkspace, sqlrow.WorkspaceSelect+" ORDER BY id")
}

// ---- transcripts and meta

// GetTranscript returns a run's transcript document or store.ErrNotFound.
func (r reader) GetTranscript(ctx context.Context, runID string) ([]byte, error) {
	return getOne(ctx, r, sqlrow.ScanBytes, "SELECT doc FROM transcripts WHERE run_id = ?", runID)
}

// GetMeta returns a named value or store.ErrNotFound.
func (r reader) GetMeta(ctx context.Context, key string) ([]byte, error) {
	return getOne(ctx, r, sqlrow.ScanBytes, "SELECT value FROM meta WHERE key = ?", key)
}
