-- 0002: dispatcher queries.
-- Eligible scheduled runs in (scheduled_at, id) order, and the next due one.
CREATE INDEX runs_scheduled_due ON runs (scheduled_at, id) WHERE status = 'scheduled';
