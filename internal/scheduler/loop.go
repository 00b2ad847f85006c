package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/store"
)

// Result is the outcome of the reconciliation of one job of a batch.
type Result struct {
	// Cursor is the job's new cursor; nil when the job no longer exists (or Busy, or Err).
	Cursor *automation.Cursor
	// Busy: another transaction (another node) held the job, which was not reconciled.
	Busy bool
	Err  error
}

// Reconciler reconciles jobs. ReconcileJobs reconciles a batch of due jobs, each atomically
// with respect to its cursor (a job that fails does not undo the others), and returns one
// Result per id, in order. A non-zero until asks for the slots up to until of the jobs that
// can be claimed ahead (ReconcileUntil) to be claimed too.
type Reconciler interface {
	ReconcileJobs(ctx context.Context, ids []string, until time.Time) []Result
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

	// Claiming ahead (DECISIONS 28). ahead is the instant of the group of slots being claimed
	// before it is due (zero: none); groupStart, groupJobs and groupInflight measure how long
	// the group took, which updates claimCost, the estimated claim time per job.
	ahead         time.Time
	groupStart    time.Time
	groupJobs     int
	groupInflight int
	claimCost     time.Duration
	buckets       []int // mayNeedLeadLocked's counts, kept between calls

	// claiming counts the batches popped from the heap whose results are not applied yet.
	claiming int
}

// BatchSize is the largest number of due jobs claimed together: one Reconciler call, which
// the store runs as one transaction (one Write function) claiming all their due slots.
const BatchSize = 512

// Parallelism bounds the batches in flight. While one batch's transaction runs, the loop keeps
// popping the jobs falling due into the next ones, and the store commits batches queued
// together in one commit (group commit).
const Parallelism = 4

// RetryDelay is how long a failed reconciliation waits before the next try (SPEC §6.5).
const RetryDelay = time.Second

// BusyDelay is how long a job another node was reconciling waits before the loop reads its
// cursor again (by reconciling it: usually there is nothing left to do).
const BusyDelay = 200 * time.Millisecond

// Claiming ahead (DECISIONS 28). When many slots fall on one instant (or close together),
// claiming them one after the other from that instant would commit the last run rows long
// after it (about 0.1 ms per job on SQLite: 100 ms for 1,000 jobs). So the loop starts
// claiming such a group earlier, by the group's estimated claim time (number of jobs × the
// measured claim time per job), at most MaxLead (nextWake); the runs are admitted at once
// with scheduled_at the slot, and the dispatcher starts them at that instant. Jobs that would
// be committed within MinLead of their instant anyway are claimed when due. Only jobs whose
// admission does not depend on the instant between claim and slot are claimed ahead
// (ClaimsAhead); the others stay in the heap until due.
const (
	MaxLead = time.Second
	MinLead = 2 * time.Millisecond
	// DefaultClaimCost is the claim time per job assumed until a group has been measured.
	DefaultClaimCost = 100 * time.Microsecond
	// minGroupToMeasure is the smallest group whose duration updates the estimate (smaller
	// ones are dominated by the commit's fixed cost).
	minGroupToMeasure = 64
	minClaimCost      = 10 * time.Microsecond
	leadMargin        = 150 // percent of the measured claim time planned per job
	maxClaimCost      = 10 * time.Millisecond
)

// NewLoop returns a scheduler loop.
func NewLoop(st store.Reader, rec Reconciler, clk clock.Clock, log *slog.Logger) *Loop {
	return &Loop{store: st, rec: rec, clock: clk, log: log, index: map[string]*dueItem{}, gen: map[string]uint64{}, wake: make(chan struct{}, 1),
		claimCost: DefaultClaimCost}
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
// Run; Running reports true from its end until Run returns.
func (l *Loop) Boot(ctx context.Context) error {
	jobs, err := l.store.JobSchedules(ctx)
	if err != nil {
		return err
	}
	// A job whose next slot is still in the future owes nothing: reconciling it would be a
	// no-op, so it only enters the heap. Jobs with due or missed slots are reconciled in
	// batches (one transaction each, several in flight so the store commits them together).
	now := l.clock.Now()
	var due []string
	l.mu.Lock()
	for _, j := range jobs {
		if !j.Enabled {
			continue
		}
		if next := j.NextRunAt; !next.IsZero() && next.After(now) {
			l.setLocked(j.ID, next)
			continue
		}
		due = append(due, j.ID)
	}
	l.mu.Unlock()
	jobs = nil
	var wg sync.WaitGroup
	sem := make(chan struct{}, Parallelism)
	for len(due) > 0 && ctx.Err() == nil {
		n := min(len(due), BatchSize)
		batch := due[:n:n]
		due = due[n:]
		sem <- struct{}{}
		l.mu.Lock()
		l.claiming++ // until claim applies the batch's results
		l.mu.Unlock()
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			l.claim(ctx, batch, nil, time.Time{})
		}()
	}
	wg.Wait()
	// Running from here: the daemon starts Run in a goroutine right after Boot and serves
	// /api/status at once, which must not report the scheduler stopped meanwhile.
	l.mu.Lock()
	l.running = true
	l.mu.Unlock()
	l.signal()
	return nil
}

// claim reconciles a batch of jobs and puts each back in the heap at its next due instant.
// gens holds the Update generation of each job when it was popped (nil at boot: no Update can
// have run yet); until is the group instant of a batch claimed ahead (zero otherwise).
func (l *Loop) claim(ctx context.Context, ids []string, gens []uint64, until time.Time) {
	res := l.rec.ReconcileJobs(ctx, ids, until)
	now := l.clock.Now()
	l.mu.Lock()
	if !until.IsZero() {
		l.groupInflight--
	}
	for i, id := range ids {
		var r Result
		if i < len(res) {
			r = res[i]
		} else {
			r.Err = errors.New("no result")
		}
		var due time.Time
		force := false
		switch {
		case r.Err != nil:
			if ctx.Err() == nil {
				l.log.Error("reconcile failed", "component", "scheduler", "job_id", id, "err", r.Err)
			}
			due, force = now.Add(RetryDelay), true
		case r.Busy:
			due, force = now.Add(BusyDelay), true
		case r.Cursor != nil:
			due = r.Cursor.NextRunAt
		}
		if force || gens == nil || l.gen[id] == gens[i] {
			// A retry is always scheduled; a result is applied only if no Update of the job
			// started while it ran (that Update sets a fresher value).
			l.setLocked(id, due)
			if it := l.index[id]; it != nil && (force || due.After(now) && !due.After(until)) {
				// A retry waits for its delay; a job asked to claim ahead that did not
				// (ClaimsAhead is false) waits for its instant.
				it.noAhead = true
			}
		}
	}
	l.claiming--
	l.endGroupLocked(now)
	l.mu.Unlock()
	l.signal()
}

// endGroupLocked closes the group claimed ahead once its last batch returned and none of its
// jobs is left (or its instant has come), and updates the claim-time estimate from its
// duration.
func (l *Loop) endGroupLocked(now time.Time) {
	if l.ahead.IsZero() || l.groupInflight > 0 || l.ahead.After(now) && l.countAheadLocked(l.ahead, 1) > 0 {
		return
	}
	if l.groupJobs >= minGroupToMeasure {
		measured := now.Sub(l.groupStart) / time.Duration(l.groupJobs)
		l.claimCost = min(max((3*l.claimCost+measured)/4, minClaimCost), maxClaimCost)
	}
	l.ahead, l.groupJobs = time.Time{}, 0
}

// countAheadLocked counts, up to max, the heap's jobs due at or before t that may be claimed
// ahead. It visits only the part of the heap due at or before t.
func (l *Loop) countAheadLocked(t time.Time, max int) int {
	n := 0
	l.walkLocked(t, func(it *dueItem) bool {
		if !it.noAhead {
			n++
		}
		return n < max
	})
	return n
}

// walkLocked calls fn for heap items due at or before t (in no particular order) until fn
// returns false. A heap's children are never due before their parent, so the walk prunes
// every subtree whose root is due after t.
func (l *Loop) walkLocked(t time.Time, fn func(*dueItem) bool) {
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(l.h) || l.h[i].due.After(t) {
			continue
		}
		if !fn(l.h[i]) {
			return
		}
		stack = append(stack, 2*i+2, 2*i+1)
	}
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

// Refresh re-reads every job's next due instant with one query (after a reload, and
// periodically with several nodes): Update for every job, without reading each one.
func (l *Loop) Refresh(ctx context.Context) error {
	l.mu.Lock()
	for id := range l.index {
		l.gen[id]++
	}
	l.mu.Unlock()
	jobs, err := l.store.JobSchedules(ctx)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(jobs))
	l.mu.Lock()
	for _, j := range jobs {
		seen[j.ID] = true
		l.gen[j.ID]++
		var due time.Time
		if j.Enabled {
			due = j.NextRunAt
		}
		l.setLocked(j.ID, due)
	}
	for id := range l.index {
		if !seen[id] {
			l.setLocked(id, time.Time{}) // deleted
			delete(l.gen, id)
		}
	}
	l.mu.Unlock()
	l.signal()
	return nil
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

func (l *Loop) setLocked(jobID string, due time.Time) {
	it, ok := l.index[jobID]
	switch {
	case due.IsZero() && ok:
		heap.Remove(&l.h, it.pos)
		delete(l.index, jobID)
	case due.IsZero():
	case ok:
		if !it.due.Equal(due) {
			it.noAhead = false
		}
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

// Run processes due jobs until ctx ends. Jobs due together are claimed in batches of up to
// BatchSize, at most Parallelism batches in flight; there is no round barrier: while batches
// run, jobs falling due are popped into the next ones.
func (l *Loop) Run(ctx context.Context) {
	l.mu.Lock()
	l.running = true
	l.mu.Unlock()
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		l.mu.Lock()
		l.running = false
		l.mu.Unlock()
	}()
	timer := l.clock.NewTimer(time.Hour)
	defer timer.Stop()
	sem := make(chan struct{}, Parallelism)
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		now := l.clock.Now()
		ids, gens, until := l.popDue(now, BatchSize)
		if len(ids) > 0 {
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				l.claim(ctx, ids, gens, until)
			}()
			continue
		}
		<-sem
		wait := l.nextWake(now)
		if wait <= 0 {
			continue // a group is to be claimed ahead from now
		}
		if !clock.Sleep(ctx, timer, wait, l.wake) {
			return
		}
	}
}

// popDue removes and returns up to max jobs due at or before now, earliest first, then, while
// a group is claimed ahead, jobs of that group that may be claimed ahead, with their Update
// generations; until is the group's instant when the batch is to be claimed up to it.
func (l *Loop) popDue(now time.Time, max int) (ids []string, gens []uint64, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer func() {
		if len(ids) > 0 {
			l.claiming++ // until claim applies the batch's results
		}
	}()
	for len(l.h) > 0 && len(ids) < max && !l.h[0].due.After(now) {
		it := heap.Pop(&l.h).(*dueItem)
		delete(l.index, it.jobID)
		ids = append(ids, it.jobID)
		gens = append(gens, l.gen[it.jobID])
	}
	if !l.ahead.After(now) || len(ids) >= max {
		if len(ids) == 0 {
			l.endGroupLocked(now)
		}
		return ids, gens, l.aheadOf(ids, now)
	}
	var take []*dueItem
	l.walkLocked(l.ahead, func(it *dueItem) bool {
		if !it.noAhead {
			take = append(take, it)
		}
		return len(ids)+len(take) < max
	})
	for _, it := range take {
		heap.Remove(&l.h, it.pos)
		delete(l.index, it.jobID)
		ids = append(ids, it.jobID)
		gens = append(gens, l.gen[it.jobID])
	}
	if len(ids) == 0 {
		l.endGroupLocked(now)
	}
	return ids, gens, l.aheadOf(ids, now)
}

// aheadOf returns the instant up to which a popped batch is claimed (the group's, while one is
// claimed ahead) and counts the batch in the group.
func (l *Loop) aheadOf(ids []string, now time.Time) time.Time {
	if len(ids) == 0 || !l.ahead.After(now) {
		return time.Time{}
	}
	l.groupJobs += len(ids)
	l.groupInflight++
	return l.ahead
}

// nextWake returns how long the loop may sleep when nothing is due at now.
//
// It also decides when to claim ahead. Claimed one after the other, the k-th job to fall due
// (k = 1, 2, … in due order) is committed about k × claimCost after the first claim starts;
// to be committed by its instant d_k, the claims must start by d_k − k × claimCost (a lead
// of at most MaxLead). The loop wakes at the earliest such start, and when it comes opens a
// group up to the last job whose start has come, which popDue then takes in batches. Jobs
// whose lead would be under MinLead are claimed when due (so a job alone, or a few together,
// is claimed exactly at its instant). Only jobs due within MaxLead of the earliest one can
// start before it, so only they are looked at.
func (l *Loop) nextWake(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.h) == 0 {
		return time.Hour
	}
	first := l.h[0].due
	wait := first.Sub(now)
	if !l.ahead.IsZero() {
		return wait // a group is open and its last batches are in flight
	}
	cost := l.claimCost
	// 0-based rank from which a lead is MinLead or more: the smallest k with
	// PlannedLead(k+1) ≥ MinLead (PlannedLead grows by one job's lead per job up to MaxLead,
	// which is above MinLead).
	per := PlannedLead(1, cost)
	minRank := int((MinLead+per-1)/per) - 1
	// Most of the time no group is near: a count that stops past minRank says so without
	// reading the whole window (Update wakes the loop once per definition change).
	if l.countAheadLocked(first.Add(MaxLead), minRank+1) <= minRank {
		return wait
	}
	if wait > MaxLead {
		return wait - MaxLead // plan when the group is within reach
	}
	if !l.mayNeedLeadLocked(first, per, minRank) {
		return wait
	}
	var dues []time.Time
	l.walkLocked(first.Add(MaxLead), func(it *dueItem) bool {
		if !it.noAhead {
			dues = append(dues, it.due)
		}
		return true
	})
	if len(dues) <= minRank {
		return wait
	}
	slices.SortFunc(dues, time.Time.Compare)
	var start, until time.Time
	for i := minRank; i < len(dues); i++ {
		s := dues[i].Add(-PlannedLead(i+1, cost))
		if start.IsZero() || s.Before(start) {
			start = s
		}
		if !s.After(now) {
			until = dues[i]
		}
	}
	if !until.IsZero() {
		l.ahead, l.groupStart, l.groupJobs, l.groupInflight = until, now, 0, 0
		return 0
	}
	return min(start.Sub(now), wait)
}

// mayNeedLeadLocked reports whether some job due within MaxLead of first may have to be
// claimed before first, without sorting them (this runs each time the loop goes idle, on the
// path of the claims: sorting the next second's jobs there added 0.4 ms to every fire's lag
// at 300 fires/s). per is one job's lead. Jobs are counted in buckets of per from first: the
// k-th job (0-based, due order) lying in bucket i starts at least i×per − (k+1)×per after
// first, and k < C(i), the jobs up to bucket i; so a start before first needs C(i) > i, and
// with k ≥ minRank, C(i) > minRank.
func (l *Loop) mayNeedLeadLocked(first time.Time, per time.Duration, minRank int) bool {
	n := int(MaxLead/per) + 1
	if cap(l.buckets) < n {
		l.buckets = make([]int, n)
	}
	b := l.buckets[:n]
	clear(b)
	l.walkLocked(first.Add(MaxLead), func(it *dueItem) bool {
		if !it.noAhead {
			b[min(int(it.due.Sub(first)/per), n-1)]++
		}
		return true
	})
	c := 0
	for i, k := range b {
		c += k
		if c > i && c > minRank {
			return true
		}
	}
	return false
}

// PlannedLead is how long before their instant the claims of a group of jobs start, given the
// measured claim time per job: the measured time is an average, so a lead planned on it
// alone would be just enough half of the time; leadMargin covers the variation (other writes,
// fsync and checkpoint stalls). It is at most MaxLead.
func PlannedLead(jobs int, claimCost time.Duration) time.Duration {
	return min(time.Duration(jobs)*claimCost*leadMargin/100, MaxLead)
}

// Claiming returns the number of batches of jobs taken from the heap whose claims have not
// returned yet. Those jobs are in neither NextDue nor the heap until then.
func (l *Loop) Claiming() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.claiming
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
	// noAhead: asked to claim ahead, the job did not (ClaimsAhead false); it is popped only
	// once due. Cleared when its due instant changes.
	noAhead bool
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
