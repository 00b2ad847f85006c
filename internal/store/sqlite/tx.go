package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

// txn is the store.Tx handed to a Write function. It runs on the writer's connection inside
// the batch transaction and the function's savepoint. The single writer serializes every
// write, so LockJob needs no row lock.
type txn struct {
	reader
	done bool // set when the Write function has returned
	// fires is the store's fire-limit tracker (fires.go); touched lists the definitions whose
	// tracker this function changed, dropped if it fails.
	fires   *fireTracker
	touched []string
	// jobs is the store's cache of job records (jobcache.go).
	jobs *jobCache
	// counts are this function's changes to the per-status run counts; the writer adds them
	// to the batch's (Store.pendingCounts) when the function succeeds and writes the batch's
	// sums just before COMMIT (one statement per status instead of two per status change).
	counts  map[string]int
	pending map[string]int // the batch's, from the functions before this one
}

var _ store.Tx = (*txn)(nil)

// bg is the context of Tx methods that take none; the statement runs to completion.
var bg = context.Background()

// mustAffect maps "no row affected" to store.ErrNotFound.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ---- jobs and cursors

// LockJob reads a job and its cursor, from the writer's cache when it has them.
func (t *txn) LockJob(id string) (store.JobRecord, error) {
	if t.done {
		return store.JobRecord{}, errTxDone
	}
	if rec, ok := t.jobs.get(id); ok {
		return rec, nil
	}
	rec, err := t.GetJob(bg, id)
	if err == nil {
		t.jobs.put(id, rec)
	}
	return rec, err
}

const lockJobsSQL = sqlrow.JobSelect + " WHERE j.id IN (SELECT value FROM json_each(?))"

// LockJobs reads several jobs and their cursors with one statement. The single writer holds
// every row, so no job is ever busy.
func (t *txn) LockJobs(ids []string) ([]store.JobRecord, []string, error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, nil, err
	}
	recs, err := getAll(bg, t.reader, sqlrow.ScanJob, lockJobsSQL, string(list))
	if err != nil {
		return nil, nil, err
	}
	return sqlrow.OrderJobs(recs, ids), nil, nil
}

// InsertJob inserts a job and its cursor (an empty one when cur is nil). The cursor's JobID is
// taken from the job.
func (t *txn) InsertJob(job *automation.Job, cur *automation.Cursor) error {
	t.jobs.written(job.ID)
	args, err := sqlrow.JobArgs(newEnc(), job)
	if err != nil {
		return err
	}
	if _, err := t.exec(bg, "INSERT INTO jobs ("+sqlrow.JobColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		args...); err != nil {
		return err
	}
	c := automation.Cursor{}
	if cur != nil {
		c = *cur
	}
	c.JobID = job.ID
	if args, err = sqlrow.CursorArgs(newEnc(), &c); err != nil {
		return err
	}
	_, err = t.exec(bg, "INSERT INTO cursors ("+sqlrow.CursorColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// UpdateJob replaces the stored job definition (not its cursor); store.ErrNotFound if absent.
func (t *txn) UpdateJob(job *automation.Job) error {
	t.jobs.written(job.ID)
	args, err := sqlrow.JobArgs(newEnc(), job)
	if err != nil {
		return err
	}
	// Numbered parameters: the arguments are in JobColumns order, the id first.
	return mustAffect(t.exec(bg, `UPDATE jobs SET name = ?2, scope = ?3, workspace_id = ?4,
		agent_name = ?5, prompt = ?6, schedule_mode = ?7, schedule_expr = ?8, schedule_interval = ?9,
		schedule_time = ?10, schedule_timezone = ?11, task = ?12, enabled = ?13, retry_strategy = ?14,
		retry_max_retries = ?15, retry_base_delay = ?16, retry_max_delay = ?17, fire_limit_max = ?18,
		fire_limit_window = ?19, overlap_policy = ?20, catch_up_policy = ?21,
		misfire_grace_seconds = ?22, catch_up_window = ?23, source = ?24, config_enabled = ?25,
		config_hash = ?26, created_at = ?27, updated_at = ?28
		WHERE id = ?1`, args...))
}

// DeleteJob deletes a job; its cursor and ledger go with it (ON DELETE CASCADE), its runs stay.
// store.ErrNotFound if absent.
func (t *txn) DeleteJob(id string) error {
	t.jobs.written(id)
	return mustAffect(t.exec(bg, "DELETE FROM jobs WHERE id = ?", id))
}

// UpdateCursor replaces a job's cursor; store.ErrNotFound if the job has none.
func (t *txn) UpdateCursor(cur *automation.Cursor) error {
	t.jobs.written(cur.JobID)
	args, err := sqlrow.CursorArgs(newEnc(), cur)
	if err != nil {
		return err
	}
	return mustAffect(t.exec(bg, `UPDATE cursors SET accounted_until = ?, next_run_at = ?,
		last_run_at = ?, last_scheduled_at = ?, last_fire_id = ?, consecutive_resume_failures = ?,
		last_misfire_at = ?, misfire_count = ?, updated_at = ?, timezone = ?, anchor_at = ?,
		schedule_key = ?
		WHERE job_id = ?`, args...))
}

// ---- ledger

const lastLedgerSQL = sqlrow.LedgerSelect + " WHERE job_id = ? ORDER BY seq DESC LIMIT 1"

// LastLedgerEntry returns the job's entry with the highest seq, or store.ErrNotFound.
func (t *txn) LastLedgerEntry(jobID string) (automation.LedgerEntry, error) {
	return getOne(bg, t.reader, sqlrow.ScanLedger, lastLedgerSQL, jobID)
}

// InsertLedgerEntry appends an entry and sets its Seq.
func (t *txn) InsertLedgerEntry(le *automation.LedgerEntry) error {
	args, err := sqlrow.LedgerArgs(newEnc(), le)
	if err != nil {
		return err
	}
	res, err := t.exec(bg, "INSERT INTO ledger ("+sqlrow.LedgerColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	if err != nil {
		return err
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return err
	}
	le.Seq = seq
	return nil
}

// UpdateLedgerEntry rewrites the entry with le.Seq; store.ErrNotFound if absent.
func (t *txn) UpdateLedgerEntry(le *automation.LedgerEntry) error {
	args, err := sqlrow.LedgerArgs(newEnc(), le)
	if err != nil {
		return err
	}
	return mustAffect(t.exec(bg, `UPDATE ledger SET job_id = ?, slot_at = ?, last_slot_at = ?,
		slot_count = ?, outcome = ?, reason = ?, run_id = ?, fire_id = ?, local_time = ?, dst = ?,
		recorded_at = ?
		WHERE seq = ?`, append(args, le.Seq)...))
}

// PruneLedger deletes all but the keep entries of the job with the highest seq.
func (t *txn) PruneLedger(jobID string, keep int) error {
	if keep < 0 {
		keep = 0
	}
	_, err := t.exec(bg, `DELETE FROM ledger WHERE job_id = ?1 AND seq <=
		(SELECT seq FROM ledger WHERE job_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)`,
		jobID, keep)
	return err
}

// pruneLedgersSQL finds each job's cut (the seq of its keep+1-th newest entry) once, then
// deletes the job's entries up to it through ledger_job_seq.
const pruneLedgersSQL = `WITH cut AS MATERIALIZED (
	SELECT j.value AS job_id,
		(SELECT seq FROM ledger WHERE job_id = j.value ORDER BY seq DESC LIMIT 1 OFFSET ?2) AS seq
	FROM json_each(?1) AS j)
DELETE FROM ledger WHERE seq IN (
	SELECT l.seq FROM cut JOIN ledger l ON l.job_id = cut.job_id AND l.seq <= cut.seq
	WHERE cut.seq IS NOT NULL)`

// PruneLedgers deletes all but the keep newest entries of each job, with one statement.
func (t *txn) PruneLedgers(jobIDs []string, keep int) error {
	if len(jobIDs) == 0 {
		return nil
	}
	if keep < 0 {
		keep = 0
	}
	list, err := json.Marshal(jobIDs)
	if err != nil {
		return err
	}
	_, err = t.exec(bg, pruneLedgersSQL, string(list), keep)
	return err
}

// ---- runs

// InsertRun inserts a run; a duplicate (fire_id, attempt) is *store.ConflictError.
func (t *txn) InsertRun(r *automation.Run) error {
	args, err := sqlrow.RunArgs(newEnc(), r)
	if err != nil {
		return err
	}
	_, err = t.exec(bg, "INSERT INTO runs ("+sqlrow.RunColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		args...)
	if err != nil {
		return err
	}
	t.recordFire(r)
	t.countStatus(r.Status, 1)
	return nil
}

// recordFire tells the fire-limit tracker about a run written with its started_at.
func (t *txn) recordFire(r *automation.Run) {
	if t.fires != nil && t.fires.record(r) {
		t.touched = append(t.touched, defOf(r))
	}
}

// FireCountBelow reports whether the definition certainly has fewer than max counted runs with
// started_at in (since, until] (SPEC §7.4), from memory; false means "count in SQL"
// (admit.CheckFireLimit then calls CountFires).
func (t *txn) FireCountBelow(definitionID string, since, until time.Time, max int) bool {
	return t.fires != nil && t.fires.below(definitionID, since, until, max)
}

// countStatus adds delta to the number of runs with status (table run_status_counts, written
// at the end of the batch: see txn.counts).
func (t *txn) countStatus(status string, delta int) {
	if t.counts == nil {
		t.counts = make(map[string]int, 2)
	}
	t.counts[status] += delta
}

// unwrittenCount is the change to status's count not yet in run_status_counts.
func (t *txn) unwrittenCount(status string) int { return t.pending[status] + t.counts[status] }

// CountRunsByStatus counts runs per status, including this batch's changes.
func (t *txn) CountRunsByStatus(ctx context.Context) (map[string]int, error) {
	out, err := t.reader.CountRunsByStatus(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range []map[string]int{t.pending, t.counts} {
		for status, d := range m {
			out[status] += d
			if out[status] == 0 {
				delete(out, status)
			}
		}
	}
	return out, nil
}

// UpdateRun replaces the run row if its stored status is fromStatus and reports whether it did.
// A missing run is (false, store.ErrNotFound).
//
// SQLite rewrites the entry of every index over a column named in SET (or in a partial index's
// WHERE), changed or not, and runs have seven indexes: a full-row UPDATE that only records a
// session id rewrote all of them (54 µs against 14 µs measured). So the usual update names only
// the columns a run's life changes (runMutableCols; without status when the status stays), on
// the condition that the others are unchanged; a caller that changes one of those gets the
// full-row statement.
func (t *txn) UpdateRun(r *automation.Run, fromStatus string) (bool, error) {
	args, err := sqlrow.RunArgs(newEnc(), r)
	if err != nil {
		return false, err
	}
	set, query := runMutableIdx, updateRunStatusSQL
	if r.Status == fromStatus {
		set, query = runMutableIdx[1:], updateRunSameStatusSQL
	}
	vals := make([]any, 0, len(set)+2+len(runFixedIdx))
	for _, i := range set {
		vals = append(vals, args[i])
	}
	vals = append(vals, r.ID, fromStatus)
	for _, i := range runFixedIdx {
		vals = append(vals, args[i])
	}
	n, err := affected(t.exec(bg, query, vals...))
	if err != nil {
		return false, err
	}
	if n == 0 {
		// No run with that id and status, or a fixed column changes.
		row, err := t.row(bg, "SELECT status FROM runs WHERE id = ?", r.ID)
		if err != nil {
			return false, err
		}
		var stored string
		if err := row.Scan(&stored); err == sql.ErrNoRows {
			return false, store.ErrNotFound
		} else if err != nil {
			return false, err
		}
		if stored != fromStatus {
			return false, nil
		}
		if err := mustAffect(t.exec(bg, updateRunAllSQL, append(args, fromStatus)...)); err != nil {
			return false, err
		}
	}
	t.recordFire(r)
	if r.Status != fromStatus {
		t.countStatus(fromStatus, -1)
		t.countStatus(r.Status, 1)
	}
	return true, nil
}

func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// The columns of runs an update may change during a run's life (status first), and the ones
// fixed at admission, with their positions in RunArgs.
var (
	runMutableCols = []string{"status", "ended_at", "session_id", "error", "error_code", "task_id",
		"task_run_id", "delivery_error", "delivery_error_at", "dispatched_at", "stop_reason", "node_id",
		"lease_owner", "lease_expires_at"}
	runFixedCols = []string{"job_id", "trigger_id", "attempt", "fire_id", "scheduled_at", "started_at",
		"origin", "retry_of", "agent_name", "scope", "workspace_id", "depth", "delivery_id", "event_id",
		"prompt", "envelope"}
	runMutableIdx          = runArgIndexes(runMutableCols)
	runFixedIdx            = runArgIndexes(runFixedCols)
	updateRunStatusSQL     = updateRunSQL(runMutableCols)
	updateRunSameStatusSQL = updateRunSQL(runMutableCols[1:])
	updateRunAllSQL        = `UPDATE runs SET job_id = ?, trigger_id = ?, status = ?, attempt = ?,
		fire_id = ?, scheduled_at = ?, started_at = ?, ended_at = ?, session_id = ?, error = ?,
		error_code = ?, task_id = ?, task_run_id = ?, delivery_error = ?, delivery_error_at = ?,
		origin = ?, retry_of = ?, dispatched_at = ?, agent_name = ?, scope = ?, workspace_id = ?,
		depth = ?, delivery_id = ?, event_id = ?, stop_reason = ?, node_id = ?, prompt = ?,
		envelope = ?, lease_owner = ?, lease_expires_at = ?
		WHERE id = ? AND status = ?`
)

// runArgIndexes returns the positions of cols in sqlrow.RunColumns (RunArgs order).
func runArgIndexes(cols []string) []int {
	pos := map[string]int{}
	for i, c := range strings.Split(sqlrow.RunColumns, ",") {
		pos[strings.TrimSpace(c)] = i
	}
	out := make([]int, len(cols))
	for i, c := range cols {
		p, ok := pos[c]
		if !ok {
			panic("sqlite: no run column " + c)
		}
		out[i] = p
	}
	return out
}

// updateRunSQL updates the columns set of the run with an id and status whose fixed columns
// are the given values (IS: job_id, trigger_id and envelope may be NULL).
func updateRunSQL(set []string) string {
	var b strings.Builder
	b.WriteString("UPDATE runs SET ")
	for i, c := range set {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = ?")
	}
	b.WriteString(" WHERE id = ? AND status = ?")
	for _, c := range runFixedCols {
		b.WriteString(" AND " + c + " IS ?")
	}
	return b.String()
}

// activeRunsSQL repeats the partial index runs_active's WHERE clause verbatim, which SQLite
// needs to use it.
const activeRunsSQL = sqlrow.RunSelect +
	` WHERE def_id = ? AND status IN ('scheduled', 'running') ORDER BY scheduled_at, id`

// countFiresSQL counts the fires in the window and finds the earliest from runs_def_started
// alone (it holds status): every admission runs it, and a definition admitting many runs has
// many in its window, where looking each one up in the table would cost 1-5 us instead of
// ~0.25 us per index entry.
const countFiresSQL = `SELECT count(*), coalesce(min(started_at), 0) FROM runs INDEXED BY runs_def_started
	WHERE def_id = ?1 AND started_at > ?2 AND started_at <= ?3 AND status <> 'canceled'`

// ActiveRuns returns the scheduled and running runs of a job or trigger by (scheduled_at, id).
func (t *txn) ActiveRuns(definitionID string) ([]*automation.Run, error) {
	return getAll(bg, t.reader, sqlrow.ScanRun, activeRunsSQL, definitionID)
}

// CountFires counts the definition's runs that are not canceled with started_at in
// (since, until] and returns the earliest such started_at (zero when there is none).
func (t *txn) CountFires(definitionID string, since, until time.Time) (int, time.Time, error) {
	e := newEnc()
	args := []any{definitionID, e.Nanos(since), e.Nanos(until)}
	if err := e.Err(); err != nil {
		return 0, time.Time{}, err
	}
	row, err := t.row(bg, countFiresSQL, args...)
	if err != nil {
		return 0, time.Time{}, err
	}
	var (
		n        int
		earliest int64
	)
	if err := row.Scan(&n, &earliest); err != nil {
		return 0, time.Time{}, err
	}
	if n >= trackFiresFrom && t.fires != nil && t.fires.defs[definitionID] == nil {
		if err := t.trackFires(definitionID, since); err != nil {
			return 0, time.Time{}, err
		}
	}
	return n, sqlrow.FromNanos(earliest), nil
}

// trackFires starts the fire-limit tracker of a definition with its runs started after since.
func (t *txn) trackFires(definitionID string, since time.Time) error {
	rows, err := t.query(bg, `SELECT id, started_at FROM runs WHERE def_id = ? AND started_at > ?`,
		definitionID, nanosOf(since))
	if err != nil {
		return err
	}
	defer rows.Close()
	var runs []firedRun
	for rows.Next() {
		var r firedRun
		if err := rows.Scan(&r.id, &r.at); err != nil {
			return err
		}
		runs = append(runs, r)
		if len(runs) > maxTrackedFires {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	t.fires.load(definitionID, nanosOf(since), runs)
	t.touched = append(t.touched, definitionID)
	return nil
}

// ---- workspaces

// InsertWorkspace inserts a workspace; a taken id or path is *store.ConflictError.
func (t *txn) InsertWorkspace(w *automation.Workspace) error {
	args, err := sqlrow.WorkspaceArgs(newEnc(), w)
	if err != nil {
		return err
	}
	_, err = t.exec(bg, "INSERT INTO workspaces ("+sqlrow.WorkspaceColumns+") VALUES (?, ?, ?, ?, ?)", args...)
	return err
}

// UpdateWorkspace replaces a workspace; store.ErrNotFound if absent.
func (t *txn) UpdateWorkspace(w *automation.Workspace) error {
	args, err := sqlrow.WorkspaceArgs(newEnc(), w)
	if err != nil {
		return err
	}
	return mustAffect(t.exec(bg, `UPDATE workspaces SET path = ?2, source = ?3, created_at = ?4,
		updated_at = ?5 WHERE id = ?1`, args...))
}

// DeleteWorkspace deletes a workspace; store.ErrNotFound if absent.
func (t *txn) DeleteWorkspace(id string) error {
	return mustAffect(t.exec(bg, "DELETE FROM workspaces WHERE id = ?", id))
}

// ---- transcripts and meta

// PutTranscript stores (replaces) a run's transcript document.
func (t *txn) PutTranscript(runID string, doc []byte) error {
	_, err := t.exec(bg, `INSERT INTO transcripts (run_id, doc) VALUES (?, ?)
		ON CONFLICT (run_id) DO UPDATE SET doc = excluded.doc`, runID, sqlrow.NonNil(doc))
	return err
}

// SetMeta stores (replaces) a named value.
func (t *txn) SetMeta(key string, value []byte) error {
	_, err := t.exec(bg, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, sqlrow.NonNil(value))
	return err
}
