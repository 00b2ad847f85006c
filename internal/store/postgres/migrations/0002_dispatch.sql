-- 0002: dispatcher queries.
-- Eligible scheduled runs in (scheduled_at, id) order, and the next due one.
CREATE INDEX runs_scheduled_due ON runs (scheduled_at, id) WHERE status = 'scheduled';

-- The single row the start transaction locks FOR UPDATE before counting running runs, so that
-- two nodes cannot both pass the global cap check (SPEC §7.2, §15.2).
CREATE TABLE dispatcher_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1)
);
INSERT INTO dispatcher_lock (id) VALUES (1);
