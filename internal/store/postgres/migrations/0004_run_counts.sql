-- 0004: runs of a definition by status (GET /api/automation/jobs/{id}/runs?status=…).
--
-- The SQLite store's 0004 also replaces its counting triggers with counts kept by the store;
-- this store keeps no per-status counter rows (CountRunsByStatus scans runs_status_started),
-- so only the index is common.
CREATE INDEX runs_def_status_started ON runs (def_id, status, started_at, id);
