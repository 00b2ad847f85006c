package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

// txn is the store.Tx handed to a Write function: one READ COMMITTED transaction. Decisions
// that read and then write (admission under overlap and fire-limit policies, the global cap)
// are made safe across connections and nodes by explicit locks, each taken by a statement of
// its own so that the statements after it (each with a fresh snapshot) see everything
// committed by the previous holder:
//
//   - LockJob locks the job and cursor rows (FOR UPDATE);
//   - ActiveRuns and CountFires take a transaction-scoped advisory lock on the definition id,
//     so that concurrent admissions of one job or trigger serialize even when the definition
//     has no row to lock;
//   - LockTrigger locks the trigger row (FOR UPDATE);
//   - CountRunning locks the single dispatcher_lock row, and EligibleRuns and ExpiredRuns skip
//     rows another transaction holds (FOR UPDATE SKIP LOCKED).
//
// Lock orders: an admission takes the definition row, then its advisory lock, then run rows
// (cancel_previous); a start transaction takes the dispatcher row, then run rows, then the
// advisory lock of a definition with overlap "queue". They can only deadlock when an admission
// cancels (cancel_previous) a queued run the start transaction holds, i.e. when the
// definition's policy changes between the two; PostgreSQL then fails one of them with a
// deadlock error (wrapping store.ErrUnavailable).
//
// A failed statement aborts a PostgreSQL transaction. Inserts that may meet a unique
// constraint a caller can handle use ON CONFLICT DO NOTHING, and updates that may run into one
// run inside a savepoint, so a *store.ConflictError leaves the transaction usable, as on
// SQLite. After any other error the transaction is aborted: later statements fail, and so does
// the commit if fn ignores the error.
type txn struct {
	reader
	ctx context.Context // the Write's context without its cancelation: fn runs to completion

	mu     sync.Mutex      // one statement at a time; guards done
	done   bool            // set when the Write function has returned
	locked map[string]bool // definitions whose advisory lock is held

	dispatcherLocked bool // the dispatcher_lock row is held
}

var _ store.Tx = (*txn)(nil)

// Advisory lock keys. The two-int4 form of pg_advisory_xact_lock is used for definitions, so
// its key space cannot meet the bigint key of the migration lock.
const (
	lockClassDefinition = int32(0x61676801) // "agh" + 1
	migrationLockKey    = int64(0x6167686d69677261)
)

// mustAffect maps "no row affected" to store.ErrNotFound.
func mustAffect(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// batch sends several statements in one round trip and hands the results to read. Each
// statement still gets its own snapshot, so a statement after a locking one sees what the
// previous lock holder committed.
func (t *txn) batch(b *pgx.Batch, read func(br pgx.BatchResults) error) error {
	q, release, err := t.use()
	if err != nil {
		return err
	}
	defer release()
	br := q.(pgx.Tx).SendBatch(t.ctx, b)
	err = read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return wrapErr(mapErr(err))
}

// guarded runs an update that may violate a unique constraint inside a savepoint (one round
// trip), so that a violation is reported without aborting the transaction.
func (t *txn) guarded(query string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	b := &pgx.Batch{}
	b.Queue("SAVEPOINT agh_guard")
	b.Queue(query, cleanArgs(args)...)
	b.Queue("RELEASE SAVEPOINT agh_guard")
	err := t.batch(b, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return err
		}
		var err error
		if tag, err = br.Exec(); err != nil {
			return err
		}
		_, err = br.Exec()
		return err
	})
	if err == nil {
		return tag, nil
	}
	// Back to the savepoint: the transaction is usable again.
	if _, rerr := t.exec(t.ctx, "ROLLBACK TO SAVEPOINT agh_guard; RELEASE SAVEPOINT agh_guard"); rerr != nil {
		return tag, rerr
	}
	return tag, err
}

// lockDefinition takes the transaction's advisory lock on a job or trigger id (once).
func (t *txn) lockDefinition(id string) error {
	if t.locked[id] {
		return nil
	}
	if _, err := t.exec(t.ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", lockClassDefinition, id); err != nil {
		return err
	}
	if t.locked == nil {
		t.locked = make(map[string]bool)
	}
	t.locked[id] = true
	return nil
}

// ---- jobs and cursors

// LockJob locks the job's row and then its cursor's (FOR UPDATE) and reads both; the read is a
// statement of its own, after the locks, so it sees the latest committed state.
func (t *txn) LockJob(id string) (store.JobRecord, error) {
	var rec store.JobRecord
	b := &pgx.Batch{}
	id = clean(id)
	b.Queue("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", id)
	b.Queue("SELECT 1 FROM cursors WHERE job_id = $1 FOR UPDATE", id)
	b.Queue(sqlrow.JobSelect+" WHERE j.id = $1", id)
	err := t.batch(b, func(br pgx.BatchResults) error {
		for range 2 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		var err error
		rec, err = sqlrow.ScanJob(br.QueryRow())
		return err
	})
	if err != nil {
		if isNoRows(err) {
			return store.JobRecord{}, store.ErrNotFound
		}
		return store.JobRecord{}, err
	}
	return rec, nil
}

// LockJobs locks the rows of the jobs and their cursors that no other transaction holds
// (FOR UPDATE SKIP LOCKED, one statement; it never waits, so it cannot deadlock), then reads
// the locked jobs with a statement of their own, which sees the latest committed state. The
// ids that exist but were not locked are returned as busy.
func (t *txn) LockJobs(ids []string) ([]store.JobRecord, []string, error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	want := make([]string, len(ids))
	for i, id := range ids {
		want[i] = clean(id)
	}
	locked, err := t.strings(`SELECT j.id FROM jobs j JOIN cursors c ON c.job_id = j.id
		WHERE j.id = ANY($1) FOR UPDATE OF j, c SKIP LOCKED`, want)
	if err != nil {
		return nil, nil, err
	}
	var recs []store.JobRecord
	if len(locked) > 0 {
		if recs, err = getAll(t.ctx, t.reader, sqlrow.ScanJob, sqlrow.JobSelect+" WHERE j.id = ANY($1)", locked); err != nil {
			return nil, nil, err
		}
	}
	var busy []string
	if len(locked) < len(want) {
		got := make(map[string]bool, len(locked))
		for _, id := range locked {
			got[id] = true
		}
		var missing []string
		for _, id := range want {
			if !got[id] {
				missing = append(missing, id)
			}
		}
		if busy, err = t.strings("SELECT id FROM jobs WHERE id = ANY($1)", missing); err != nil {
			return nil, nil, err
		}
	}
	return sqlrow.OrderJobs(recs, want), busy, nil
}

// strings runs a query returning one text column.
func (t *txn) strings(query string, args ...any) ([]string, error) {
	q, release, err := t.use()
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := q.Query(t.ctx, query, args...)
	if err != nil {
		return nil, wrapErr(mapErr(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, wrapErr(err)
		}
		out = append(out, s)
	}
	return out, wrapErr(rows.Err())
}

// InsertJob inserts a job and its cursor (an empty one when cur is nil). The cursor's JobID is
// taken from the job. A taken (scope, workspace_id, name) is *store.ConflictError and leaves
// the transaction usable.
func (t *txn) InsertJob(job *automation.Job, cur *automation.Cursor) error {
	args, err := sqlrow.JobArgs(newEnc(), job)
	if err != nil {
		return err
	}
	c := automation.Cursor{}
	if cur != nil {
		c = *cur
	}
	c.JobID = job.ID
	cargs, err := sqlrow.CursorArgs(newEnc(), &c)
	if err != nil {
		return err
	}
	tag, err := t.exec(t.ctx, "INSERT INTO jobs ("+sqlrow.JobColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
			$19, $20, $21, $22, $23, $24, $25, $26, $27, $28)
		ON CONFLICT (scope, workspace_id, name) DO NOTHING`, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return &store.ConflictError{Constraint: store.UniqueJobName}
	}
	_, err = t.exec(t.ctx, "INSERT INTO cursors ("+sqlrow.CursorColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, cargs...)
	return err
}

// UpdateJob replaces the stored job definition (not its cursor); store.ErrNotFound if absent.
// Renaming into a taken name is *store.ConflictError and leaves the transaction usable.
func (t *txn) UpdateJob(job *automation.Job) error {
	args, err := sqlrow.JobArgs(newEnc(), job)
	if err != nil {
		return err
	}
	return mustAffect(t.guarded(`UPDATE jobs SET name = $2, scope = $3, workspace_id = $4,
		agent_name = $5, prompt = $6, schedule_mode = $7, schedule_expr = $8, schedule_interval = $9,
		schedule_time = $10, schedule_timezone = $11, task = $12, enabled = $13, retry_strategy = $14,
		retry_max_retries = $15, retry_base_delay = $16, retry_max_delay = $17, fire_limit_max = $18,
		fire_limit_window = $19, overlap_policy = $20, catch_up_policy = $21,
		misfire_grace_seconds = $22, catch_up_window = $23, source = $24, config_enabled = $25,
		config_hash = $26, created_at = $27, updated_at = $28
		WHERE id = $1`, args...))
}

// DeleteJob deletes a job; its cursor and ledger go with it (ON DELETE CASCADE), its runs stay.
// store.ErrNotFound if absent.
func (t *txn) DeleteJob(id string) error {
	return mustAffect(t.exec(t.ctx, "DELETE FROM jobs WHERE id = $1", id))
}

// UpdateCursor replaces a job's cursor; store.ErrNotFound if the job has none.
func (t *txn) UpdateCursor(cur *automation.Cursor) error {
	args, err := sqlrow.CursorArgs(newEnc(), cur)
	if err != nil {
		return err
	}
	return mustAffect(t.exec(t.ctx, `UPDATE cursors SET accounted_until = $1, next_run_at = $2,
		last_run_at = $3, last_scheduled_at = $4, last_fire_id = $5, consecutive_resume_failures = $6,
		last_misfire_at = $7, misfire_count = $8, updated_at = $9, timezone = $10, anchor_at = $11,
		schedule_key = $12
		WHERE job_id = $13`, args...))
}

// ---- ledger

// LastLedgerEntry returns the job's entry with the highest seq, or store.ErrNotFound.
func (t *txn) LastLedgerEntry(jobID string) (automation.LedgerEntry, error) {
	return getOne(t.ctx, t.reader, sqlrow.ScanLedger,
		sqlrow.LedgerSelect+" WHERE job_id = $1 ORDER BY seq DESC LIMIT 1", jobID)
}

// InsertLedgerEntry appends an entry and sets its Seq.
func (t *txn) InsertLedgerEntry(le *automation.LedgerEntry) error {
	args, err := sqlrow.LedgerArgs(newEnc(), le)
	if err != nil {
		return err
	}
	var seq int64
	if err := t.scanRow(t.ctx, "INSERT INTO ledger ("+sqlrow.LedgerColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING seq`, args, &seq); err != nil {
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
	return mustAffect(t.exec(t.ctx, `UPDATE ledger SET job_id = $1, slot_at = $2, last_slot_at = $3,
		slot_count = $4, outcome = $5, reason = $6, run_id = $7, fire_id = $8, local_time = $9,
		dst = $10, recorded_at = $11
		WHERE seq = $12`, append(args, le.Seq)...))
}

// PruneLedger deletes all but the keep entries of the job with the highest seq.
func (t *txn) PruneLedger(jobID string, keep int) error {
	if keep < 0 {
		keep = 0
	}
	_, err := t.exec(t.ctx, `DELETE FROM ledger WHERE job_id = $1 AND seq <=
		(SELECT seq FROM ledger WHERE job_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)`,
		jobID, keep)
	return err
}

// PruneLedgers deletes all but the keep newest entries of each job, with one statement.
func (t *txn) PruneLedgers(jobIDs []string, keep int) error {
	if len(jobIDs) == 0 {
		return nil
	}
	if keep < 0 {
		keep = 0
	}
	ids := make([]string, len(jobIDs))
	for i, id := range jobIDs {
		ids[i] = clean(id)
	}
	_, err := t.exec(t.ctx, `DELETE FROM ledger l USING (
		SELECT j.id AS job_id,
			(SELECT seq FROM ledger WHERE job_id = j.id ORDER BY seq DESC LIMIT 1 OFFSET $2) AS seq
		FROM unnest($1::text[]) AS j(id)) cut
		WHERE l.job_id = cut.job_id AND l.seq <= cut.seq`, ids, keep)
	return err
}

// ---- runs

// InsertRun inserts a run; a duplicate (fire_id, attempt) is *store.ConflictError and leaves
// the transaction usable.
func (t *txn) InsertRun(r *automation.Run) error {
	args, err := sqlrow.RunArgs(newEnc(), r)
	if err != nil {
		return err
	}
	tag, err := t.exec(t.ctx, "INSERT INTO runs ("+sqlrow.RunColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
			$19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31)
		ON CONFLICT (fire_id, attempt) DO NOTHING`, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return &store.ConflictError{Constraint: store.UniqueFireAttempt}
	}
	return nil
}

// UpdateRun replaces the run row if its stored status is fromStatus and reports whether it did.
// A missing run is (false, store.ErrNotFound). Under READ COMMITTED a row updated concurrently
// is re-checked against the status after the other transaction commits, so two transactions
// can never both move a run out of the same status.
func (t *txn) UpdateRun(r *automation.Run, fromStatus string) (bool, error) {
	args, err := sqlrow.RunArgs(newEnc(), r)
	if err != nil {
		return false, err
	}
	var exists, updated bool
	// One statement: the update, and whether the row exists at all (for ErrNotFound).
	err = t.scanRow(t.ctx, `WITH u AS (
		UPDATE runs SET job_id = $1, trigger_id = $2, status = $3, attempt = $4,
		fire_id = $5, scheduled_at = $6, started_at = $7, ended_at = $8, session_id = $9, error = $10,
		error_code = $11, task_id = $12, task_run_id = $13, delivery_error = $14, delivery_error_at = $15,
		origin = $16, retry_of = $17, dispatched_at = $18, agent_name = $19, scope = $20, workspace_id = $21,
		depth = $22, delivery_id = $23, event_id = $24, stop_reason = $25, node_id = $26, prompt = $27,
		envelope = $28, lease_owner = $29, lease_expires_at = $30
		WHERE id = $31 AND status = $32 RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u) OR EXISTS (SELECT 1 FROM runs WHERE id = $31),
			EXISTS (SELECT 1 FROM u)`, append(args, fromStatus), &exists, &updated)
	if err != nil {
		return false, err
	}
	if !exists {
		return false, store.ErrNotFound
	}
	return updated, nil
}

// ActiveRuns returns the scheduled and running runs of a job or trigger by (scheduled_at, id),
// after taking the definition's advisory lock (see txn).
func (t *txn) ActiveRuns(definitionID string) ([]*automation.Run, error) {
	if err := t.lockDefinition(definitionID); err != nil {
		return nil, err
	}
	return getAll(t.ctx, t.reader, sqlrow.ScanRun, sqlrow.RunSelect+
		` WHERE def_id = $1 AND status IN ('scheduled', 'running') ORDER BY scheduled_at, id`,
		definitionID)
}

// CountFires counts the definition's runs that are not canceled with started_at in
// (since, until] and returns the earliest such started_at (zero when there is none), after
// taking the definition's advisory lock (see txn).
func (t *txn) CountFires(definitionID string, since, until time.Time) (int, time.Time, error) {
	e := newEnc()
	args := []any{definitionID, e.Nanos(since), e.Nanos(until)}
	if err := e.Err(); err != nil {
		return 0, time.Time{}, err
	}
	if err := t.lockDefinition(definitionID); err != nil {
		return 0, time.Time{}, err
	}
	var (
		n        int
		earliest int64
	)
	if err := t.scanRow(t.ctx, `SELECT count(*), coalesce(min(started_at), 0) FROM runs
		WHERE def_id = $1 AND started_at > $2 AND started_at <= $3 AND status <> 'canceled'`,
		args, &n, &earliest); err != nil {
		return 0, time.Time{}, err
	}
	return n, sqlrow.FromNanos(earliest), nil
}

// ---- workspaces

// InsertWorkspace inserts a workspace; a taken id or path is *store.ConflictError (the id is
// checked first) and leaves the transaction usable.
func (t *txn) InsertWorkspace(w *automation.Workspace) error {
	args, err := sqlrow.WorkspaceArgs(newEnc(), w)
	if err != nil {
		return err
	}
	tag, err := t.exec(t.ctx, "INSERT INTO workspaces ("+sqlrow.WorkspaceColumns+`)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var idTaken bool
	if err := t.scanRow(t.ctx, "SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = $1)",
		[]any{w.ID}, &idTaken); err != nil {
		return err
	}
	if idTaken {
		return &store.ConflictError{Constraint: store.UniqueWorkspaceID}
	}
	return &store.ConflictError{Constraint: store.UniqueWorkspacePath}
}

// UpdateWorkspace replaces a workspace; store.ErrNotFound if absent. A taken path is
// *store.ConflictError and leaves the transaction usable.
func (t *txn) UpdateWorkspace(w *automation.Workspace) error {
	args, err := sqlrow.WorkspaceArgs(newEnc(), w)
	if err != nil {
		return err
	}
	return mustAffect(t.guarded(`UPDATE workspaces SET path = $2, source = $3, created_at = $4,
		updated_at = $5 WHERE id = $1`, args...))
}

// DeleteWorkspace deletes a workspace; store.ErrNotFound if absent.
func (t *txn) DeleteWorkspace(id string) error {
	return mustAffect(t.exec(t.ctx, "DELETE FROM workspaces WHERE id = $1", id))
}

// ---- transcripts and meta

// PutTranscript stores (replaces) a run's transcript document.
func (t *txn) PutTranscript(runID string, doc []byte) error {
	_, err := t.exec(t.ctx, `INSERT INTO transcripts (run_id, doc) VALUES ($1, $2)
		ON CONFLICT (run_id) DO UPDATE SET doc = excluded.doc`, runID, sqlrow.NonNil(doc))
	return err
}

// SetMeta stores (replaces) a named value.
func (t *txn) SetMeta(key string, value []byte) error {
	_, err := t.exec(t.ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, sqlrow.NonNil(value))
	return err
}
