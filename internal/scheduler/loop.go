package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/store"
)

// Reconciler performs one reconciliation of a job and returns its new cursor (nil when the job
// no longer exists).
type Reconciler interface {
	ReconcileJob(ctx context.Context, id string) (*automation.Cursor, error)
}

// Loop keeps the next due instant of every registered job in a min-heap and reconciles jobs
// when they are due. It never polls jobs: it sleeps until the earliest due instant, and
// definition changes update single heap entries through Update.
type Loop struct {
	store store.Reader
	rec   Reconciler
	clock clock.Clock
	log   *slog.Logger

	mu      sync.Mutex
	h       dueHeap
	index   map[string]*dueItem
	wake    chan struct{}
	running bool
	// gen counts Update calls per job. A reconciliation's cursor is applied only if no Update
	// of that job started while it ran: otherwise it may be older than the cursor the Update
	// read (a definition change committed after the reconciliation).
	gen map[string]uint64
}

// Parallelism bounds concurrent reconciliations of jobs due together.
const Parallelism = 64

// RetryDelay is how long a failed reconciliation waits before the next try (SPEC §6.5).
const RetryDelay = time.Second

// NewLoop returns a scheduler loop.
func NewLoop(st store.Reader, rec Reconciler, clk clock.Clock, log *slog.Logger) *Loop {
	return &Loop{store: st, rec: rec, clock: clk, log: log, index: map[string]*dueItem{}, gen: map[string]uint64{}, wake: make(chan struct{}, 1)}
}

// Running reports whether the loop is running.
func (l *Loop) Running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running
}

// Len is the number of registered jobs in the heap.
func (l *Loop) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.h)
}

// Boot reconciles every enabled job once (SPEC §6.11) and fills the heap. It must run before
// Run.
func (l *Loop) Boot(ctx context.Context) error {
	recs, err := l.store.AllJobs(ctx)
	if err != nil {
		return err
	}
	// A job whose next slot is still in the future owes nothing: reconciling it would be a
	// no-op, so it only enters the heap. Jobs with due or missed slots are reconciled
	// concurrently so the store can commit them together (group commit); each job is still its
	// own transaction.
	now := l.clock.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, Parallelism)
	for _, r := range recs {
		if !r.Job.Enabled {
			continue
		}
		if next := r.Cursor.NextRunAt; !next.IsZero() && next.After(now) {
			l.set(r.Job.ID, next)
			continue
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(id string) {
			defer func() { <-sem; wg.Done() }()
			cur, err := l.rec.ReconcileJob(ctx, id)
			if err != nil {
				l.log.Error("reconcile failed", "component", "scheduler", "job_id", id, "err", err)
				l.set(id, l.clock.Now().Add(RetryDelay))
				return
			}
			l.setCursor(id, cur)
		}(r.Job.ID)
	}
	wg.Wait()
	return nil
}

// Update refreshes one job's heap entry from the store (after a definition change).
func (l *Loop) Update(ctx context.Context, jobID string) {
	l.mu.Lock()
	l.gen[jobID]++
	g := l.gen[jobID]
	l.mu.Unlock()
	rec, err := l.store.GetJob(ctx, jobID)
	var due time.Time
	switch {
	case errors.Is(err, store.ErrNotFound):
		l.mu.Lock()
		if l.gen[jobID] == g {
			delete(l.gen, jobID)
			g = 0
		}
		l.mu.Unlock()
	case err != nil:
		// The job's state is unknown: let a reconciliation (which reads it in its
		// transaction) find out, rather than dropping the job.
		l.log.Error("read job failed", "component", "scheduler", "job_id", jobID, "err", err)
		due = l.clock.Now().Add(RetryDelay)
	case rec.Job.Enabled && rec.Cursor != nil:
		due = rec.Cursor.NextRunAt
	}
	l.setIfGen(jobID, due, g)
}

// setIfGen schedules jobID at due unless an Update of the job started after generation g
// (that Update sets a fresher value). It reports whether it set.
func (l *Loop) setIfGen(jobID string, due time.Time, g uint64) bool {
	l.mu.Lock()
	if l.gen[jobID] != g {
		l.mu.Unlock()
		return false
	}
	l.setLocked(jobID, due)
	l.mu.Unlock()
	l.signal()
	return true
}

func (l *Loop) setCursor(jobID string, c *automation.Cursor) {
	if c == nil {
		l.set(jobID, time.Time{})
		return
	}
	l.set(jobID, c.NextRunAt)
}

// set schedules jobID at due (zero removes it) and wakes the loop.
func (l *Loop) set(jobID string, due time.Time) {
	l.mu.Lock()
	l.setLocked(jobID, due)
	l.mu.Unlock()
	l.signal()
}

func (l *Loop) setLocked(jobID string, due time.Time) {
	it, ok := l.index[jobID]
	switch {
	case due.IsZero() && ok:
		heap.Remove(&l.h, it.pos)
		delete(l.index, jobID)
	case due.IsZero():
	case ok:
		it.due = due
		heap.Fix(&l.h, it.pos)
	default:
		it = &dueItem{jobID: jobID, due: due}
		heap.Push(&l.h, it)
		l.index[jobID] = it
	}
}

func (l *Loop) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Run processes due jobs until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	l.mu.Lock()
	l.running = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.running = false
		l.mu.Unlock()
	}()
	timer := l.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := l.clock.Now()
		due := l.popDue(now)
		// Reconcile due jobs concurrently so the store can commit them together (group
		// commit); each job is still its own transaction.
		var wg sync.WaitGroup
		sem := make(chan struct{}, Parallelism)
		for _, id := range due {
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(id string) {
				defer func() { <-sem; wg.Done() }()
				l.mu.Lock()
				g := l.gen[id]
				l.mu.Unlock()
				cur, err := l.rec.ReconcileJob(ctx, id)
				if err != nil {
					l.log.Error("reconcile failed", "component", "scheduler", "job_id", id, "err", err)
					l.set(id, l.clock.Now().Add(RetryDelay))
					return
				}
				var due time.Time
				if cur != nil {
					due = cur.NextRunAt
				}
				l.setIfGen(id, due, g)
			}(id)
		}
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
		if len(due) > 0 {
			continue
		}
		wait := time.Hour
		l.mu.Lock()
		if len(l.h) > 0 {
			wait = l.h[0].due.Sub(now)
		}
		l.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		case <-l.wake:
			timer.Stop()
		}
	}
}

// popDue removes and returns every job due at or before now.
func (l *Loop) popDue(now time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for len(l.h) > 0 && !l.h[0].due.After(now) {
		it := heap.Pop(&l.h).(*dueItem)
		delete(l.index, it.jobID)
		ids = append(ids, it.jobID)
	}
	return ids
}

// NextDue returns the earliest due instant in the heap.
func (l *Loop) NextDue() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.h) == 0 {
		return time.Time{}, false
	}
	return l.h[0].due, true
}

type dueItem struct {
	jobID string
	due   time.Time
	pos   int
}

type dueHeap []*dueItem

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].jobID < h[j].jobID
	}
	return h[i].due.Before(h[j].due)
}
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos, h[j].pos = i, j
}
func (h *dueHeap) Push(x any) {
	it := x.(*dueItem)
	it.pos = len(*h)
	*h = append(*h, it)
}
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
