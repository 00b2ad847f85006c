-- 0001: initial schema (the PostgreSQL twin of the SQLite store's 0001_init.sql).
--
-- Conventions (identical to SQLite so that ordering and keyset pagination are identical):
--   * Times are BIGINT Unix nanoseconds UTC; 0 means "unset" (the zero time.Time).
--   * Optional strings are '' rather than NULL, except runs.job_id / runs.trigger_id, which are
--     NULL when absent so that definition lookups can use def_id.
--   * Text that is compared or ordered uses COLLATE "C", i.e. byte-wise on UTF-8, whatever the
--     database's default collation is.
--   * Unique constraints are named: the store maps SQLSTATE 23505 to store.Unique* by name.

-- History of applied migrations; max(version) is the current schema version.
CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at BIGINT  NOT NULL
);

-- Small named values (schema facts, the secret-key canary, ...).
CREATE TABLE meta (
    key   TEXT  COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Registered directories (SPEC §12). Ids and paths are unique across sources.
CREATE TABLE workspaces (
    id         TEXT   COLLATE "C" NOT NULL,
    path       TEXT   COLLATE "C" NOT NULL,
    source     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT workspaces_pkey PRIMARY KEY (id),   -- store.UniqueWorkspaceID
    CONSTRAINT workspaces_path UNIQUE (path)       -- store.UniqueWorkspacePath
);

-- Scheduled definitions (SPEC §2.1).
CREATE TABLE jobs (
    id                    TEXT    COLLATE "C" PRIMARY KEY,
    name                  TEXT    COLLATE "C" NOT NULL,
    scope                 TEXT    COLLATE "C" NOT NULL,
    workspace_id          TEXT    COLLATE "C" NOT NULL DEFAULT '',
    agent_name            TEXT    NOT NULL DEFAULT '',
    prompt                TEXT    NOT NULL DEFAULT '',
    schedule_mode         TEXT    NOT NULL,
    schedule_expr         TEXT    NOT NULL DEFAULT '',
    schedule_interval     TEXT    NOT NULL DEFAULT '',
    schedule_time         TEXT    NOT NULL DEFAULT '',
    schedule_timezone     TEXT    NOT NULL DEFAULT '',
    task                  TEXT,   -- TaskConfig as JSON; NULL when the job runs an agent
    enabled               BOOLEAN NOT NULL,
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
    source                TEXT    COLLATE "C" NOT NULL,
    config_enabled        BOOLEAN NOT NULL DEFAULT false,
    config_hash           TEXT    NOT NULL DEFAULT '',
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL
);
-- store.UniqueJobName.
CREATE UNIQUE INDEX jobs_scope_workspace_name ON jobs (scope, workspace_id, name);
-- Job lists are ordered by (name, id).
CREATE INDEX jobs_name_id ON jobs (name, id);
-- CountWorkspaceDefinitions.
CREATE INDEX jobs_workspace ON jobs (workspace_id);

-- Durable per-job scheduler state (SPEC §2.3, §6.1), one row per job.
CREATE TABLE cursors (
    job_id                      TEXT    COLLATE "C" PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    accounted_until             BIGINT  NOT NULL DEFAULT 0,
    next_run_at                 BIGINT  NOT NULL DEFAULT 0,
    last_run_at                 BIGINT  NOT NULL DEFAULT 0,
    last_scheduled_at           BIGINT  NOT NULL DEFAULT 0,
    last_fire_id                TEXT    NOT NULL DEFAULT '',
    consecutive_resume_failures INTEGER NOT NULL DEFAULT 0,
    last_misfire_at             BIGINT  NOT NULL DEFAULT 0,
    misfire_count               INTEGER NOT NULL DEFAULT 0,
    updated_at                  BIGINT  NOT NULL DEFAULT 0,
    timezone                    TEXT    NOT NULL DEFAULT '',
    anchor_at                   BIGINT  NOT NULL DEFAULT 0,
    schedule_key                TEXT    NOT NULL DEFAULT ''
);

-- Slot ledger (SPEC §2.9, §6.7). seq is the insertion order.
CREATE TABLE ledger (
    seq          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id       TEXT    COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    slot_at      BIGINT  NOT NULL,
    last_slot_at BIGINT  NOT NULL DEFAULT 0,
    slot_count   INTEGER NOT NULL DEFAULT 1,
    outcome      TEXT    NOT NULL,
    reason       TEXT    NOT NULL DEFAULT '',
    run_id       TEXT    NOT NULL DEFAULT '',
    fire_id      TEXT    NOT NULL DEFAULT '',
    local_time   TEXT    NOT NULL DEFAULT '',
    dst          TEXT    NOT NULL DEFAULT '',
    recorded_at  BIGINT  NOT NULL DEFAULT 0
);
-- Pages newest first: (slot_at, seq) descending within a job.
CREATE INDEX ledger_job_slot ON ledger (job_id, slot_at, seq);
-- LastLedgerEntry and PruneLedger go by seq within a job (also serves the FK cascade).
CREATE INDEX ledger_job_seq ON ledger (job_id, seq);

-- Runs (SPEC §2.7). No foreign key to jobs: runs outlive their definitions (SPEC §4.2.5).
CREATE TABLE runs (
    id                TEXT    COLLATE "C" PRIMARY KEY,
    job_id            TEXT    COLLATE "C",   -- NULL for trigger runs
    trigger_id        TEXT    COLLATE "C",   -- NULL for job runs
    -- The owning definition, whichever kind it is. Job and trigger ids never collide (prefixes).
    def_id            TEXT    COLLATE "C" GENERATED ALWAYS AS (coalesce(job_id, trigger_id)) STORED,
    status            TEXT    COLLATE "C" NOT NULL,
    attempt           INTEGER NOT NULL,
    fire_id           TEXT    COLLATE "C" NOT NULL,
    scheduled_at      BIGINT  NOT NULL,
    started_at        BIGINT  NOT NULL,
    ended_at          BIGINT  NOT NULL DEFAULT 0,
    session_id        TEXT    NOT NULL DEFAULT '',
    error             TEXT    NOT NULL DEFAULT '',
    error_code        TEXT    NOT NULL DEFAULT '',
    task_id           TEXT    NOT NULL DEFAULT '',
    task_run_id       TEXT    NOT NULL DEFAULT '',
    delivery_error    TEXT    NOT NULL DEFAULT '',
    delivery_error_at BIGINT  NOT NULL DEFAULT 0,
    origin            TEXT    NOT NULL DEFAULT '',
    retry_of          TEXT    NOT NULL DEFAULT '',
    dispatched_at     BIGINT  NOT NULL DEFAULT 0,
    agent_name        TEXT    NOT NULL DEFAULT '',
    scope             TEXT    NOT NULL DEFAULT '',
    workspace_id      TEXT    NOT NULL DEFAULT '',
    depth             INTEGER NOT NULL DEFAULT 0,
    delivery_id       TEXT    NOT NULL DEFAULT '',
    event_id          TEXT    NOT NULL DEFAULT '',
    stop_reason       TEXT    NOT NULL DEFAULT '',
    node_id           TEXT    NOT NULL DEFAULT '',
    prompt            TEXT    NOT NULL DEFAULT '',
    envelope          BYTEA,  -- activation envelope JSON (trigger runs); NULL when absent
    lease_owner       TEXT    NOT NULL DEFAULT '',
    lease_expires_at  BIGINT  NOT NULL DEFAULT 0
);
-- store.UniqueFireAttempt; also serves the fire_id filter.
CREATE UNIQUE INDEX runs_fire_attempt ON runs (fire_id, attempt);
-- Global run list: ORDER BY started_at DESC, id DESC (scanned backwards).
CREATE INDEX runs_started ON runs (started_at, id);
-- Runs of one job or trigger and fire-limit counting by started_at.
CREATE INDEX runs_def_started ON runs (def_id, started_at, id);
-- Status filter, keyset paging within a status, CountRunsByStatus and CountRunning.
CREATE INDEX runs_status_started ON runs (status, started_at, id);
-- Active (scheduled or running) runs of a definition, ordered by (scheduled_at, id).
CREATE INDEX runs_active ON runs (def_id, scheduled_at, id) WHERE status IN ('scheduled', 'running');

-- Run transcripts (SPEC §2.12), one document per run.
CREATE TABLE transcripts (
    run_id TEXT  COLLATE "C" PRIMARY KEY,
    doc    BYTEA NOT NULL
);
