-- 0001: initial schema.
--
-- Conventions:
--   * Times are INTEGER Unix nanoseconds UTC; 0 means "unset" (the zero time.Time). Integer
--     times make ordering and keyset pagination exact.
--   * Optional strings are '' rather than NULL, except runs.job_id / runs.trigger_id, which are
--     NULL when absent so that definition lookups can use def_id (see below).
--   * Text compares with the BINARY collation, i.e. byte-wise on UTF-8.
--   * Every table is STRICT.

-- History of applied migrations. PRAGMA user_version holds the current version.
CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT;

-- Small named values (schema facts, the secret-key canary, ...).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- Registered directories (SPEC §12). Ids and paths are unique across sources.
CREATE TABLE workspaces (
    id         TEXT    PRIMARY KEY,
    path       TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX workspaces_path ON workspaces (path);

-- Scheduled definitions (SPEC §2.1).
CREATE TABLE jobs (
    id                    TEXT    PRIMARY KEY,
    name                  TEXT    NOT NULL,
    scope                 TEXT    NOT NULL,
    workspace_id          TEXT    NOT NULL DEFAULT '',
    agent_name            TEXT    NOT NULL DEFAULT '',
    prompt                TEXT    NOT NULL DEFAULT '',
    schedule_mode         TEXT    NOT NULL,
    schedule_expr         TEXT    NOT NULL DEFAULT '',
    schedule_interval     TEXT    NOT NULL DEFAULT '',
    schedule_time         TEXT    NOT NULL DEFAULT '',
    schedule_timezone     TEXT    NOT NULL DEFAULT '',
    task                  TEXT,   -- TaskConfig as JSON; NULL when the job runs an agent
    enabled               INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    retry_strategy        TEXT    NOT NULL DEFAULT '',
    retry_max_retries     INTEGER NOT NULL DEFAULT 0,
    retry_base_delay      TEXT    NOT NULL DEFAULT '',
    retry_max_delay       TEXT    NOT NULL DEFAULT '',
    fire_limit_max        INTEGER NOT NULL DEFAULT 0,
    fire_limit_window     TEXT    NOT NULL DEFAULT '',
    overlap_policy        TEXT    NOT NULL DEFAULT '',
    catch_up_policy       TEXT    NOT NULL DEFAULT '',
    misfire_grace_seconds INTEGER NOT NULL DEFAULT 0,
    catch_up_window       TEXT    NOT NULL DEFAULT '',
    source                TEXT    NOT NULL,
    config_enabled        INTEGER NOT NULL DEFAULT 0 CHECK (config_enabled IN (0, 1)),
    config_hash           TEXT    NOT NULL DEFAULT '',
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;
-- store.UniqueJobName.
CREATE UNIQUE INDEX jobs_scope_workspace_name ON jobs (scope, workspace_id, name);
-- Job lists are ordered by (name, id).
CREATE INDEX jobs_name_id ON jobs (name, id);
-- CountWorkspaceDefinitions.
CREATE INDEX jobs_workspace ON jobs (workspace_id);

-- Durable per-job scheduler state (SPEC §2.3, §6.1), one row per job.
CREATE TABLE cursors (
    job_id                      TEXT    PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    accounted_until             INTEGER NOT NULL DEFAULT 0,
    next_run_at                 INTEGER NOT NULL DEFAULT 0,
    last_run_at                 INTEGER NOT NULL DEFAULT 0,
    last_scheduled_at           INTEGER NOT NULL DEFAULT 0,
    last_fire_id                TEXT    NOT NULL DEFAULT '',
    consecutive_resume_failures INTEGER NOT NULL DEFAULT 0,
    last_misfire_at             INTEGER NOT NULL DEFAULT 0,
    misfire_count               INTEGER NOT NULL DEFAULT 0,
    updated_at                  INTEGER NOT NULL DEFAULT 0,
    timezone                    TEXT    NOT NULL DEFAULT '',
    anchor_at                   INTEGER NOT NULL DEFAULT 0,
    schedule_key                TEXT    NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;

-- Slot ledger (SPEC §2.9, §6.7). seq is the insertion order.
CREATE TABLE ledger (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    slot_at      INTEGER NOT NULL,
    last_slot_at INTEGER NOT NULL DEFAULT 0,
    slot_count   INTEGER NOT NULL DEFAULT 1,
    outcome      TEXT    NOT NULL,
    reason       TEXT    NOT NULL DEFAULT '',
    run_id       TEXT    NOT NULL DEFAULT '',
    fire_id      TEXT    NOT NULL DEFAULT '',
    local_time   TEXT    NOT NULL DEFAULT '',
    dst          TEXT    NOT NULL DEFAULT '',
    recorded_at  INTEGER NOT NULL DEFAULT 0
) STRICT;
-- Pages newest first: (slot_at, seq) descending within a job.
CREATE INDEX ledger_job_slot ON ledger (job_id, slot_at, seq);
-- LastLedgerEntry and PruneLedger go by seq within a job (also serves the FK cascade).
CREATE INDEX ledger_job_seq ON ledger (job_id, seq);

-- Runs (SPEC §2.7). No foreign key to jobs: runs outlive their definitions (SPEC §4.2.5).
CREATE TABLE runs (
    id                TEXT    PRIMARY KEY,
    job_id            TEXT,   -- NULL for trigger runs
    trigger_id        TEXT,   -- NULL for job runs
    -- The owning definition, whichever kind it is. Job and trigger ids never collide (prefixes).
    def_id            TEXT    GENERATED ALWAYS AS (coalesce(job_id, trigger_id)) VIRTUAL,
    status            TEXT    NOT NULL,
    attempt           INTEGER NOT NULL,
    fire_id           TEXT    NOT NULL,
    scheduled_at      INTEGER NOT NULL,
    started_at        INTEGER NOT NULL,
    ended_at          INTEGER NOT NULL DEFAULT 0,
    session_id        TEXT    NOT NULL DEFAULT '',
    error             TEXT    NOT NULL DEFAULT '',
    error_code        TEXT    NOT NULL DEFAULT '',
    task_id           TEXT    NOT NULL DEFAULT '',
    task_run_id       TEXT    NOT NULL DEFAULT '',
    delivery_error    TEXT    NOT NULL DEFAULT '',
    delivery_error_at INTEGER NOT NULL DEFAULT 0,
    origin            TEXT    NOT NULL DEFAULT '',
    retry_of          TEXT    NOT NULL DEFAULT '',
    dispatched_at     INTEGER NOT NULL DEFAULT 0,
    agent_name        TEXT    NOT NULL DEFAULT '',
    scope             TEXT    NOT NULL DEFAULT '',
    workspace_id      TEXT    NOT NULL DEFAULT '',
    depth             INTEGER NOT NULL DEFAULT 0,
    delivery_id       TEXT    NOT NULL DEFAULT '',
    event_id          TEXT    NOT NULL DEFAULT '',
    stop_reason       TEXT    NOT NULL DEFAULT '',
    node_id           TEXT    NOT NULL DEFAULT '',
    prompt            TEXT    NOT NULL DEFAULT '',
    envelope          BLOB,   -- activation envelope JSON (trigger runs); NULL when absent
    lease_owner       TEXT    NOT NULL DEFAULT '',
    lease_expires_at  INTEGER NOT NULL DEFAULT 0
) STRICT;
-- store.UniqueFireAttempt; also serves the fire_id filter.
CREATE UNIQUE INDEX runs_fire_attempt ON runs (fire_id, attempt);
-- Global run list: ORDER BY started_at DESC, id DESC (scanned backwards).
CREATE INDEX runs_started ON runs (started_at, id);
-- Runs of one job or trigger (job_id / trigger_id filters) and fire-limit counting by started_at.
CREATE INDEX runs_def_started ON runs (def_id, started_at, id);
-- Status filter and keyset paging within a status.
CREATE INDEX runs_status_started ON runs (status, started_at, id);
-- Active (scheduled or running) runs of a definition, ordered by (scheduled_at, id). Queries must
-- repeat the WHERE term verbatim for SQLite to use this partial index.
CREATE INDEX runs_active ON runs (def_id, scheduled_at, id) WHERE status IN ('scheduled', 'running');

-- Number of runs per status, maintained by triggers so CountRunsByStatus is O(statuses)
-- instead of a scan over every run.
CREATE TABLE run_status_counts (
    status TEXT    PRIMARY KEY,
    n      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TRIGGER runs_count_insert AFTER INSERT ON runs
BEGIN
    INSERT INTO run_status_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER runs_count_update AFTER UPDATE OF status ON runs
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE run_status_counts SET n = n - 1 WHERE status = OLD.status;
    INSERT INTO run_status_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER runs_count_delete AFTER DELETE ON runs
BEGIN
    UPDATE run_status_counts SET n = n - 1 WHERE status = OLD.status;
END;

-- Run transcripts (SPEC §2.12), one document per run.
CREATE TABLE transcripts (
    run_id TEXT PRIMARY KEY,
    doc    BLOB NOT NULL
) STRICT;
