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
	"github.com/agh-dev/agh/internal/store/sqlrow"
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
func getOne[T any](ctx context.Context, r reader, scan func(sqlrow.Scanner) (T, error), query string, args ...any) (T, error) {
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
func getAll[T any](ctx context.Context, r reader, scan func(sqlrow.Scanner) (T, error), query string, args ...any) ([]T, error) {
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

// GetJob returns a job with its cursor, or store.ErrNotFound.
func (r reader) GetJob(ctx context.Context, id string) (store.JobRecord, error) {
	return getOne(ctx, r, sqlrow.ScanJob, sqlrow.JobSelect+" WHERE j.id = $1", id)
}

// ListJobs returns jobs matching q ordered by (name, id), byte-wise.
func (r reader) ListJobs(ctx context.Context, q store.JobQuery) ([]store.JobRecord, error) {
	var b qb
	b.WriteString(sqlrow.JobSelect + " WHERE true")
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
	return getAll(ctx, r, sqlrow.ScanJob, b.String(), b.args...)
}

// AllJobs returns every job with its cursor, ordered by (name, id).
func (r reader) AllJobs(ctx context.Context) ([]store.JobRecord, error) {
	return getAll(ctx, r, sqlrow.ScanJob, sqlrow.JobSelect+" ORDER BY j.name, j.id")
}

// JobSchedules returns every job's id, enabled flag and next_run_at (scheduler boot).
func (r reader) JobSchedules(ctx context.Context) ([]store.JobSchedule, error) {
	return getAll(ctx, r, sqlrow.ScanJobSchedule, sqlrow.JobScheduleSelect)
}

// CountDefinitions counts jobs and triggers, all and enabled.
func (r reader) CountDefinitions(ctx context.Context) (store.DefinitionCounts, error) {
	var c store.DefinitionCounts
	err := r.scanRow(ctx, `SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM jobs WHERE enabled),
		(SELECT count(*) FROM triggers), (SELECT count(*) FROM triggers WHERE enabled)`, nil,
		&c.Jobs, &c.EnabledJobs, &c.Triggers, &c.EnabledTriggers)
	return c, err
}

// CountWorkspaceDefinitions counts the jobs and triggers bound to a workspace.
func (r reader) CountWorkspaceDefinitions(ctx context.Context, workspaceID string) (int, error) {
	var n int
	err := r.scanRow(ctx, `SELECT (SELECT count(*) FROM jobs WHERE workspace_id = $1) +
		(SELECT count(*) FROM triggers WHERE workspace_id = $1)`, []any{workspaceID}, &n)
	return n, err
}

// ---- runs

// GetRun returns a run or store.ErrNotFound.
func (r reader) GetRun(ctx context.Context, id string) (*automation.Run, error) {
	return getOne(ctx, r, sqlrow.ScanRun, sqlrow.RunSelect+" WHERE id = $1", id)
}

// ListRuns returns runs matching q ordered by (started_at, id) descending. Each combination of
// filters is an index range scan: runs_def_started for a job or trigger, runs_status_started
// for a status, runs_fire_attempt for a fire and runs_started otherwise.
func (r reader) ListRuns(ctx context.Context, q store.RunQuery) ([]*automation.Run, error) {
	var (
		b qb
		e = newEnc()
	)
	b.WriteString(sqlrow.RunSelect + " WHERE true")
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
		b.WriteString(" AND started_at >= " + b.arg(e.Nanos(q.Since)))
	}
	if !q.Until.IsZero() {
		b.WriteString(" AND started_at < " + b.arg(e.Nanos(q.Until)))
	}
	if !q.BeforeStartedAt.IsZero() || q.BeforeID != "" {
		b.WriteString(" AND (started_at, id) < (" + b.arg(e.Nanos(q.BeforeStartedAt)) + ", " + b.arg(q.BeforeID) + ")")
	}
	if err := e.Err(); err != nil {
		return nil, err
	}
	b.WriteString(" ORDER BY started_at DESC, id DESC")
	b.limit(q.Limit)
	return getAll(ctx, r, sqlrow.ScanRun, b.String(), b.args...)
}

// CountRunsByStatus counts runs per status; statuses without runs are absent. It is an
// (index-only) scan of runs_status_started: unlike SQLite, the store keeps no per-status
// counter rows, which every run insert and status change of every node would have to lock.
func (r reader) CountRunsByStatus(ctx context.Context) (map[string]int, error) {
	type pair struct {
		status string
		n      int
	}
	pairs, err := getAll(ctx, r, func(sc sqlrow.Scanner) (pair, error) {
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

// ListLedger pages a job's ledger newest first, by (slot_at, seq) descending.
func (r reader) ListLedger(ctx context.Context, q store.LedgerQuery) ([]automation.LedgerEntry, error) {
	var (
		b qb
		e = newEnc()
	)
	b.WriteString(sqlrow.LedgerSelect + " WHERE job_id = " + b.arg(q.JobID))
	if !q.BeforeSlot.IsZero() || q.BeforeSeq != 0 {
		b.WriteString(" AND (slot_at, seq) < (" + b.arg(e.Nanos(q.BeforeSlot)) + ", " + b.arg(q.BeforeSeq) + ")")
	}
	if err := e.Err(); err != nil {
		return nil, err
	}
	b.WriteString(" ORDER BY slot_at DESC, seq DESC")
	b.limit(q.Limit)
	return getAll(ctx, r, sqlrow.ScanLedger, b.String(), b.args...)
}

// ---- workspaces

// GetWorkspace returns a workspace or store.ErrNotFound.
func (r reader) GetWorkspace(ctx context.Context, id string) (*automation.Workspace, error) {
	return getOne(ctx, r, sqlrow.ScanWorkspace, sqlrow.WorkspaceSelect+" WHERE id = $1", id)
}

// ListWorkspaces returns every workspace ordered by id.
func (r reader) ListWorkspaces(ctx context.Context) ([]*automation.Workspace, error) {
	return getAll(ctx, r, sqlrow.ScanWorkspace, sqlrow.WorkspaceSelect+" ORDER BY id")
}

// ---- transcripts and meta

// GetTranscript returns a run's transcript document or store.ErrNotFound.
func (r reader) GetTranscript(ctx context.Context, runID string) ([]byte, error) {
	return getOne(ctx, r, sqlrow.ScanBytes, "SELECT doc FROM transcripts WHERE run_id = $1", runID)
}

// GetMeta returns a named value or store.ErrNotFound.
func (r reader) GetMeta(ctx context.Context, key string) ([]byte, error) {
	return getOne(ctx, r, sqlrow.ScanBytes, "SELECT value FROM meta WHERE key = $1", key)
}
