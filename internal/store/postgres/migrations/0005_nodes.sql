-- 0005: node heartbeats (SPEC §15.1) and the lease sweeper's index (SPEC §15.3).
CREATE TABLE nodes (
    id           TEXT   COLLATE "C" PRIMARY KEY,
    heartbeat_at BIGINT NOT NULL,
    started_at   BIGINT NOT NULL
);
CREATE INDEX runs_lease ON runs (lease_expires_at) WHERE status = 'running';
