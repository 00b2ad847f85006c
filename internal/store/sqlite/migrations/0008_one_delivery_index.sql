-- 0008: one index of the delivery log instead of two (as 0007 did for runs).
--
-- Every delivery record (one per webhook request or event activation) was inserted into the
-- table, its primary key and two indexes keyed by trigger. The log is trimmed to
-- deliveries_per_trigger records per trigger, so the outcome filter can walk a trigger's
-- records in order and test outcome on the index entry: the walk is bounded by the trim.
DROP INDEX deliveries_trigger_outcome;
DROP INDEX deliveries_trigger;
-- A trigger's log newest first, with or without an outcome filter, and its trim.
CREATE INDEX deliveries_trigger ON deliveries (trigger_id, received_at, id, outcome);
