-- 0006: tasks, task runs and the channel notification outbox (SPEC §2.13, §11).
-- No foreign keys to jobs or runs: tasks outlive their definitions like runs do.
CREATE TABLE tasks (
    id              TEXT    COLLATE "C" PRIMARY KEY,
    job_id          TEXT    COLLATE "C" NOT NULL,
    run_id          TEXT    COLLATE "C" NOT NULL,
    scope           TEXT    NOT NULL,
    workspace_id    TEXT    COLLATE "C" NOT NULL DEFAULT '',
    title           TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    owner_kind      TEXT    COLLATE "C" NOT NULL,
    owner_ref       TEXT    NOT NULL DEFAULT '',
    network_channel TEXT    NOT NULL DEFAULT '',
    status          TEXT    COLLATE "C" NOT NULL,
    result          TEXT    NOT NULL DEFAULT '',
    error           TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    closed_at       BIGINT  NOT NULL DEFAULT 0
);
-- Newest-first listing and its filters.
CREATE INDEX tasks_created ON tasks (created_at, id);
CREATE INDEX tasks_status_created ON tasks (status, created_at, id);
CREATE INDEX tasks_job_created ON tasks (job_id, created_at, id);

CREATE TABLE task_runs (
    id               TEXT    COLLATE "C" PRIMARY KEY,
    task_id          TEXT    COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    status           TEXT    COLLATE "C" NOT NULL,
    agent_name       TEXT    NOT NULL DEFAULT '',
    session_id       TEXT    NOT NULL DEFAULT '',
    created_at       BIGINT  NOT NULL,
    started_at       BIGINT  NOT NULL DEFAULT 0,
    ended_at         BIGINT  NOT NULL DEFAULT 0,
    stop_reason      TEXT    NOT NULL DEFAULT '',
    error            TEXT    NOT NULL DEFAULT '',
    error_code       TEXT    NOT NULL DEFAULT '',
    node_id          TEXT    NOT NULL DEFAULT '',
    lease_owner      TEXT    NOT NULL DEFAULT '',
    lease_expires_at BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX task_runs_task ON task_runs (task_id, created_at, id);
CREATE INDEX task_runs_status ON task_runs (status, created_at, id);
-- Agent-owned queued task runs, eligible for the dispatcher in (created_at, id) order.
CREATE INDEX task_runs_eligible ON task_runs (created_at, id) WHERE status = 'queued' AND agent_name <> '';
-- The lease sweeper.
CREATE INDEX task_runs_lease ON task_runs (lease_expires_at) WHERE status = 'running';

CREATE TABLE notifications (
    seq             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT    COLLATE "C" NOT NULL,
    channel         TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    task_id         TEXT    NOT NULL,
    run_id          TEXT    NOT NULL DEFAULT '',
    body            BYTEA   NOT NULL,
    status          TEXT    COLLATE "C" NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    CONSTRAINT notifications_id UNIQUE (id)
);
CREATE INDEX notifications_pending ON notifications (seq) WHERE status = 'pending';
