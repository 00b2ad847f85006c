-- 0003: triggers, their delivery log and webhook replay claims (SPEC §2.6, §9.7, §9.9).
CREATE TABLE triggers (
    id                   TEXT    COLLATE "C" PRIMARY KEY,
    name                 TEXT    COLLATE "C" NOT NULL,
    scope                TEXT    COLLATE "C" NOT NULL,
    workspace_id         TEXT    COLLATE "C" NOT NULL DEFAULT '',
    agent_name           TEXT    NOT NULL DEFAULT '',
    prompt               TEXT    NOT NULL DEFAULT '',
    event                TEXT    COLLATE "C" NOT NULL,
    filter               TEXT    NOT NULL DEFAULT '',  -- JSON object, '' when empty
    enabled              BOOLEAN NOT NULL,
    retry_strategy       TEXT    NOT NULL DEFAULT '',
    retry_max_retries    INTEGER NOT NULL DEFAULT 0,
    retry_base_delay     TEXT    NOT NULL DEFAULT '',
    retry_max_delay      TEXT    NOT NULL DEFAULT '',
    fire_limit_max       INTEGER NOT NULL DEFAULT 0,
    fire_limit_window    TEXT    NOT NULL DEFAULT '',
    overlap_policy       TEXT    NOT NULL DEFAULT '',
    endpoint_slug        TEXT    NOT NULL DEFAULT '',
    webhook_id           TEXT    COLLATE "C",   -- NULL for non-webhook triggers (unique when set)
    signature_scheme     TEXT    NOT NULL DEFAULT '',
    secret_sealed        BYTEA,
    secret_hash          TEXT    NOT NULL DEFAULT '',
    previous_sealed      BYTEA,
    previous_hash        TEXT    NOT NULL DEFAULT '',
    previous_expires_at  BIGINT  NOT NULL DEFAULT 0,
    source               TEXT    COLLATE "C" NOT NULL,
    config_enabled       BOOLEAN NOT NULL DEFAULT false,
    config_hash          TEXT    NOT NULL DEFAULT '',
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL
);
-- store.UniqueTriggerName.
CREATE UNIQUE INDEX triggers_scope_workspace_name ON triggers (scope, workspace_id, name);
-- store.UniqueWebhookID (NULLs never clash).
CREATE UNIQUE INDEX triggers_webhook_id ON triggers (webhook_id);
CREATE INDEX triggers_name_id ON triggers (name, id);
CREATE INDEX triggers_event ON triggers (event, scope, workspace_id, id);
CREATE INDEX triggers_workspace ON triggers (workspace_id);

CREATE TABLE deliveries (
    id               TEXT    COLLATE "C" PRIMARY KEY,
    trigger_id       TEXT    COLLATE "C" NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
    received_at      BIGINT  NOT NULL,
    source           TEXT    NOT NULL,
    event_id         TEXT    NOT NULL DEFAULT '',
    event_kind       TEXT    NOT NULL DEFAULT '',
    delivery_id      TEXT    NOT NULL DEFAULT '',
    signature_scheme TEXT    NOT NULL DEFAULT '',
    status_code      INTEGER NOT NULL DEFAULT 0,
    outcome          TEXT    COLLATE "C" NOT NULL,
    reason           TEXT    NOT NULL DEFAULT '',
    run_ids          TEXT    NOT NULL DEFAULT '',  -- comma-separated
    secret           TEXT    NOT NULL DEFAULT '',
    body_bytes       BIGINT  NOT NULL DEFAULT 0,
    remote_addr      TEXT    NOT NULL DEFAULT '',
    depth            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deliveries_trigger ON deliveries (trigger_id, received_at, id);
CREATE INDEX deliveries_trigger_outcome ON deliveries (trigger_id, outcome, received_at, id);

CREATE TABLE replay_claims (
    trigger_id  TEXT    COLLATE "C" NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
    delivery_id TEXT    COLLATE "C" NOT NULL,
    run_ids     TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    CONSTRAINT replay_claims_pkey PRIMARY KEY (trigger_id, delivery_id)  -- store.UniqueReplayClaim
);
CREATE INDEX replay_claims_created ON replay_claims (created_at);
