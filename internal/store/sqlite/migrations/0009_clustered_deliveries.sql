-- 0009: the delivery log clustered by trigger and time (WITHOUT ROWID) instead of a rowid table
-- with two indexes.
--
-- Every delivery record was written to three B-trees: the table, its primary key on id and
-- deliveries_trigger. Nothing looks a record up by id alone: the log is read per trigger, newest
-- first, and trimmed per trigger from its oldest end. Clustered on (trigger_id, received_at, id)
-- a record is one B-tree entry, the trim deletes a contiguous range of it, and a matching
-- webhook delivery (whose record is written in its run's transaction) dirties two fewer pages
-- per commit. Records are small (a few hundred bytes), as WITHOUT ROWID tables want.
CREATE TABLE deliveries_clustered (
    id               TEXT    NOT NULL,
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
    depth            INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (trigger_id, received_at, id)
) STRICT, WITHOUT ROWID;
INSERT INTO deliveries_clustered (id, trigger_id, received_at, source, event_id, event_kind, delivery_id,
    signature_scheme, status_code, outcome, reason, run_ids, secret, body_bytes, remote_addr, depth)
SELECT id, trigger_id, received_at, source, event_id, event_kind, delivery_id,
    signature_scheme, status_code, outcome, reason, run_ids, secret, body_bytes, remote_addr, depth
FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_clustered RENAME TO deliveries;
