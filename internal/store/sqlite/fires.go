package sqlite

import (
	"slices"
	"time"

	"github.com/agh-dev/agh/internal/automation"
)

// The fire-limit count (SPEC §7.4) is O(runs in the window) in SQL: SQLite counts index
// entries one by one. A definition admitting thousands of runs per window (a busy webhook
// trigger with a high limit) would pay that on every admission, inside the single writer.
//
// fireTracker keeps, for such definitions only, the start instants of their recent runs in
// memory, so that an admission can prove "count < max" with a binary search. It is an upper
// bound, never the answer: it includes canceled runs (a cancellation can only lower the
// count), and whenever it cannot prove the limit is far (count >= max, or the window reaches
// before what it knows) the exact SQL count decides. It is exact as an upper bound because the
// writer goroutine is the only one that inserts or changes runs (one process owns the
// database), and every such change goes through txn.InsertRun or txn.UpdateRun, which record
// it. A Write function that fails, or a batch that does not commit, drops the trackers it
// touched; they are rebuilt from the database by the next count that needs them.
//
// Only the writer goroutine uses it, so it needs no lock.
type fireTracker struct {
	defs map[string]*defFires
}

// defFires knows every run of one definition whose started_at is after from.
type defFires struct {
	from int64      // UnixNano; runs with started_at <= from are not tracked
	runs []firedRun // sorted by (at, id)
	byID map[string]int64
	hits int // admissions answered from memory (tests)
}

type firedRun struct {
	at int64
	id string
}

const (
	// trackFiresFrom is the exact count from which a definition is tracked. Counting costs
	// about 0.8 µs per run in the window on top of the statement (~15 µs): at 64 runs the
	// count already costs as much as the rest of a manual admission's reads.
	trackFiresFrom = 64
	// maxTrackedFires bounds one definition's tracker (memory); a larger window falls back to
	// SQL.
	maxTrackedFires = 200000
)

// nanosOf encodes an instant as the store does (the zero time is 0).
func nanosOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func newFireTracker() *fireTracker { return &fireTracker{defs: map[string]*defFires{}} }

func defOf(r *automation.Run) string {
	if r.JobID != "" {
		return r.JobID
	}
	return r.TriggerID
}

// below reports whether the definition has fewer than max runs with started_at in
// (since, until], when the tracker can prove it. ok is false when the tracker knows nothing
// useful (the caller counts in SQL).
func (f *fireTracker) below(def string, since, until time.Time, max int) bool {
	d := f.defs[def]
	if d == nil {
		return false
	}
	s, u := nanosOf(since), nanosOf(until)
	if s < d.from {
		delete(f.defs, def) // the window reaches before what is known: rebuild
		return false
	}
	// Forget runs that no window starting at or after since can count. Windows only move
	// forward in practice; a longer window (PATCH) rebuilds the tracker.
	if i := d.search(s); i > 0 && i >= len(d.runs)/2 {
		for _, r := range d.runs[:i] {
			delete(d.byID, r.id)
		}
		d.runs = slices.Delete(d.runs, 0, i)
		d.from = s
	}
	if n := d.search(u) - d.search(s); n < max { // runs in (s, u]
		d.hits++
		return true
	}
	return false
}

// search returns the index of the first run with at > t.
func (d *defFires) search(t int64) int {
	i, _ := slices.BinarySearchFunc(d.runs, t, func(r firedRun, t int64) int {
		if r.at <= t {
			return -1
		}
		return 1
	})
	return i
}

// load starts tracking def with the runs read from the database (every run with
// started_at > from).
func (f *fireTracker) load(def string, from int64, runs []firedRun) {
	if len(runs) > maxTrackedFires {
		return
	}
	slices.SortFunc(runs, cmpFired)
	d := &defFires{from: from, runs: runs, byID: make(map[string]int64, len(runs))}
	for _, r := range runs {
		d.byID[r.id] = r.at
	}
	f.defs[def] = d
}

func cmpFired(a, b firedRun) int {
	switch {
	case a.at < b.at:
		return -1
	case a.at > b.at:
		return 1
	case a.id < b.id:
		return -1
	case a.id > b.id:
		return 1
	}
	return 0
}

// record notes a run inserted or updated with its current started_at. It reports whether the
// definition is tracked (so the caller remembers to drop it if the write does not commit).
func (f *fireTracker) record(r *automation.Run) bool {
	def := defOf(r)
	d := f.defs[def]
	if d == nil {
		return false
	}
	at := nanosOf(r.StartedAt)
	if old, ok := d.byID[r.ID]; ok {
		if old == at {
			return true
		}
		if i, found := slices.BinarySearchFunc(d.runs, firedRun{old, r.ID}, cmpFired); found {
			d.runs = slices.Delete(d.runs, i, i+1)
		}
		delete(d.byID, r.ID)
	}
	if at <= d.from {
		return true
	}
	if len(d.runs) >= maxTrackedFires {
		delete(f.defs, def)
		return false
	}
	fr := firedRun{at, r.ID}
	if n := len(d.runs); n == 0 || cmpFired(d.runs[n-1], fr) < 0 {
		d.runs = append(d.runs, fr)
	} else {
		i, _ := slices.BinarySearchFunc(d.runs, fr, cmpFired)
		d.runs = slices.Insert(d.runs, i, fr)
	}
	d.byID[r.ID] = at
	return true
}

// drop forgets definitions (their changes were rolled back).
func (f *fireTracker) drop(defs []string) {
	for _, d := range defs {
		delete(f.defs, d)
	}
}

// reset forgets everything (a batch did not commit).
func (f *fireTracker) reset() { clear(f.defs) }
