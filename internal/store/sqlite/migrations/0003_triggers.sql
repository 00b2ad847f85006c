-- 0003: triggers, their delivery log and webhook replay claims (SPEC §2.6, §9.7, §9.9).
CREATE TABLE triggers (
    id                   TEXT    PRIMARY KEY,
    name                 TEXT    NOT NULL,
    scope                TEXT    NOT NULL,
    workspace_id         TEXT    NOT NULL DEFAULT '',
    agent_name           TEXT    NOT NULL DEFAULT '',
    prompt               TEXT    NOT NULL DEFAULT '',
    event                TEXT    NOT NULL,
    filter               TEXT    NOT NULL DEFAULT '',  -- JSON object, '' when empty
    enabled              INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    retry_strategy       TEXT    NOT NULL DEFAULT '',
    retry_max_retries    INTEGER NOT NULL DEFAULT 0,
    retry_base_delay     TEXT    NOT NULL DEFAULT '',
    retry_max_delay      TEXT    NOT NULL DEFAULT '',
    fire_limit_max       INTEGER NOT NULL DEFAULT 0,
    fire_limit_window    TEXT    NOT NULL DEFAULT '',
    overlap_policy       TEXT    NOT NULL DEFAULT '',
    endpoint_slug        TEXT    NOT NULL DEFAULT '',
    webhook_id           TEXT,   -- NULL for non-webhook triggers (unique when set)
    signature_scheme     TEXT    NOT NULL DEFAULT '',
    secret_sealed        BLOB,
    secret_hash          TEXT    NOT NULL DEFAULT '',
    previous_sealed      BLOB,
    previous_hash        TEXT    NOT NULL DEFAULT '',
    previous_expires_at  INTEGER NOT NULL DEFAULT 0,
    source               TEXT    NOT NULL,
    config_enabled       INTEGER NOT NULL DEFAULT 0,
    config_hash          TEXT    NOT NULL DEFAULT '',
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX triggers_scope_workspace_name ON triggers (scope, workspace_id, name);
CREATE UNIQUE INDEX triggers_webhook_id ON triggers (webhook_id);
CREATE INDEX triggers_name_id ON triggers (name, id);
CREATE INDEX triggers_event ON triggers (event, scope, workspace_id, id);
CREATE INDEX triggers_workspace ON triggers (workspace_id);

CREATE TABLE deliveries (
    id               TEXT    PRIMARY KEY,
    trigger_id       TEXT    NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
    received_at      INTEGER NOT NULL,
    source           TEXT    NOT NULL,
    event_id         TEXT    NOT NULL DEFAULT '',
    event_kind       TEXT    NOT NULL DEFAULT '',
    delivery_id      TEXT    NOT NULL DEFAULT '',
    signature_scheme TEXT    NOT NULL DEFAULT '',
    status_code      INTEGER NOT NULL DEFAULT 0,
    outcome          TEXT    NOT NULL,
    reason           TEXT    NOT NULL DEFAULT '',
    run_ids          TEXT    NOT NULL DEFAULT '',  -- comma-separated
    secret           TEXT    NOT NULL DEFAULT '',
    body_bytes       INTEGER NOT NULL DEFAULT 0,
    remote_addr      TEXT    NOT NULL DEFAULT '',
    depth            INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX deliveries_trigger ON deliveries (trigger_id, received_at, id);
CREATE INDEX deliveries_trigger_outcome ON deliveries (trigger_id, outcome, received_at, id);

CREATE TABLE replay_claims (
    trigger_id  TEXT    NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
    delivery_id TEXT    NOT NULL,
    run_ids     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (trigger_id, delivery_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX replay_claims_created ON replay_claims (created_at);
