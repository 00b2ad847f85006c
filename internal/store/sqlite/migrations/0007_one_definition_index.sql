-- 0007: one index of runs keyed by definition instead of two.
--
-- Runs of different definitions land on different pages of an index keyed by definition, so
-- every admitted or claimed run dirties one page of each such index, and a page is two
-- pwrite calls when its batch commits: with runs_def_started and runs_def_status_started
-- that was most of the writer's time per admission (dropping the second one took manual
-- admissions from ~4,700/s to ~6,600/s, bench/README.md). runs_def_started now carries
-- status as its last column, so the status filter of a definition's runs, the fire-limit
-- count and its earliest non-canceled start are read from the index alone.
DROP INDEX runs_def_status_started;
DROP INDEX runs_def_started;
-- Runs of one job or trigger (job_id / trigger_id filters, with or without a status) and
-- fire-limit counting by started_at.
CREATE INDEX runs_def_started ON runs (def_id, started_at, id, status);
