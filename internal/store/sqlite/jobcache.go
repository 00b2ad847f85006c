package sqlite

import "github.com/agh-dev/agh/internal/store"

// jobCache keeps decoded job records for txn.LockJob, which every manual admission calls
// inside the single writer: the read and the decoding of a job row cost about a quarter of an
// admission's writer time.
//
// It can never serve a stale record because the writer goroutine is the only one that writes
// jobs and cursors (one process owns the database) and every such write goes through a txn
// method that evicts the job first (InsertJob, UpdateJob, DeleteJob, UpdateCursor). A job
// written in the batch being committed is marked dirty until the batch ends: reading it again
// in that batch sees uncommitted state that may still be rolled back (a failing Write
// function, a batch that does not commit), so such reads are not cached. Committed or rolled
// back, the batch leaves no entry for a job it wrote, and the next read fills it from the
// database.
//
// Only the writer goroutine uses it, so it needs no lock.
type jobCache struct {
	recs  map[string]store.JobRecord
	dirty map[string]struct{} // jobs written in the current batch
	max   int
}

// maxCachedJobs bounds the cache's memory (a record is about 1 KiB).
const maxCachedJobs = 4096

func newJobCache(max int) *jobCache {
	return &jobCache{recs: map[string]store.JobRecord{}, dirty: map[string]struct{}{}, max: max}
}

// get returns a copy of the cached record of id.
func (c *jobCache) get(id string) (store.JobRecord, bool) {
	rec, ok := c.recs[id]
	if !ok {
		return store.JobRecord{}, false
	}
	return copyJobRecord(rec), true
}

// put caches a copy of rec, read from the database in the current batch, unless the batch
// wrote the job.
func (c *jobCache) put(id string, rec store.JobRecord) {
	if _, written := c.dirty[id]; written {
		return
	}
	if len(c.recs) >= c.max {
		for k := range c.recs { // evict an arbitrary entry
			delete(c.recs, k)
			break
		}
	}
	c.recs[id] = copyJobRecord(rec)
}

// written evicts id and keeps it out of the cache until the batch ends.
func (c *jobCache) written(id string) {
	delete(c.recs, id)
	c.dirty[id] = struct{}{}
}

// batchEnded is called once the batch's transaction is committed or rolled back.
func (c *jobCache) batchEnded() { clear(c.dirty) }

// copyJobRecord copies rec deeply enough that neither the caller nor the cache can change the
// other's record (TestCopyJobRecordIsDeep fails when a type gains a reference field that
// automation.Job.Clone does not copy).
func copyJobRecord(rec store.JobRecord) store.JobRecord {
	var out store.JobRecord
	if rec.Job != nil {
		out.Job = rec.Job.Clone()
	}
	if rec.Cursor != nil {
		c := *rec.Cursor
		out.Cursor = &c
	}
	return out
}
