package service

import (
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
)

// TestTriggerCacheWriteOrdering checks the interleavings the cache must survive: a read that
// overlaps a trigger write is never cached, and a cached entry stops being "fresh" as soon as a
// trigger write starts, and stays so after it ends.
func TestTriggerCacheWriteOrdering(t *testing.T) {
	now := time.Now()
	c := &triggerCache{local: true}
	load := func() (*webhookEntry, int64) {
		w0 := c.writing.Load()
		return &webhookEntry{t: &automation.Trigger{ID: "trg_1"}, epoch: c.epoch.Load(), loaded: now}, w0
	}

	// A load with no write around it is cached and fresh.
	e, w0 := load()
	c.put("wbh_1", e, w0)
	if c.get("wbh_1", now) != e || !c.fresh(e) {
		t.Fatal("quiet load not cached or not fresh")
	}
	// A write starts: the entry is no longer fresh; when it ends, the entry is gone and still
	// not fresh.
	c.beginWrite()
	if c.fresh(e) {
		t.Fatal("fresh while a trigger write is in flight")
	}
	c.endWrite()
	if c.fresh(e) || c.get("wbh_1", now) != nil {
		t.Fatal("entry survived a trigger write")
	}

	// A load that started before a write and finishes after it began is not cached.
	e, w0 = load()
	c.beginWrite()
	c.put("wbh_1", e, w0)
	if c.get("wbh_1", now) != nil {
		t.Fatal("load overlapping the start of a write was cached")
	}
	// A load made while the write is in flight is not cached, even after the write ends.
	e, w0 = load()
	c.put("wbh_1", e, w0)
	if c.get("wbh_1", now) != nil {
		t.Fatal("load made during a write was cached while the write is in flight")
	}
	c.endWrite()
	c.put("wbh_1", e, w0)
	if c.get("wbh_1", now) != nil || c.fresh(e) {
		t.Fatal("load made during a write was cached or fresh")
	}
	// Another node's change (invalidate) also ends freshness.
	e, w0 = load()
	c.put("wbh_1", e, w0)
	c.invalidate()
	if c.fresh(e) || c.get("wbh_1", now) != nil {
		t.Fatal("entry survived invalidate")
	}

	// Shared stores: never fresh, and entries expire after RemoteCacheTTL.
	r := &triggerCache{}
	e = &webhookEntry{t: &automation.Trigger{ID: "trg_1"}, epoch: r.epoch.Load(), loaded: now}
	r.put("wbh_1", e, 0)
	if r.fresh(e) || r.get("wbh_1", now) != e || r.get("wbh_1", now.Add(RemoteCacheTTL)) != nil {
		t.Fatal("shared-store cache rules")
	}
}
