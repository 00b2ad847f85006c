-- 0006: node heartbeats (SPEC §15.1) and the lease sweeper's index (SPEC §15.3).
CREATE TABLE nodes (
    id           TEXT    PRIMARY KEY,
    heartbeat_at INTEGER NOT NULL,
    started_at   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX runs_lease ON runs (lease_expires_at) WHERE status = 'running';
