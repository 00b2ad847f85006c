package scheduler

import (
	"errors"
	"fmt"
	"time"

	"github.com/agh-dev/agh/internal/admit"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/schedule"
	"github.com/agh-dev/agh/internal/store"
)

// Options are the engine settings a reconciliation depends on.
type Options struct {
	DefaultTZ   string
	Paused      bool
	SlotsPerJob int
	// Delegate admits a task-backed job's fire: it must insert the task, the task run and run
	// (in status delegated) in tx. Nil means task-backed jobs cannot fire yet.
	Delegate func(tx store.Tx, job *automation.Job, run *automation.Run) error
	// PruneLater, when set, is called with the id of a job whose ledger got new entries,
	// instead of pruning it at once: the caller prunes in the same transaction later
	// (store.Tx.PruneLedgers, one statement for a batch of jobs).
	PruneLater func(jobID string)
}

// Outcome is what one reconciliation did.
type Outcome struct {
	Cursor     *automation.Cursor
	Admitted   []*automation.Run
	Superseded []*automation.Run
	// Slots counts slot outcomes by "outcome/reason" for metrics.
	Slots map[string]int
}

// maxCatchUpAll is the number of missed slots run_all admits (SPEC §6.6).
const maxCatchUpAll = 10

// segment is a run of consecutive slots with one ledger outcome.
type segment struct {
	first, last schedule.Slot
	count       int
	outcome     string
	reason      string
	runID       string
	fireID      string
}

// Reconcile accounts for every slot of job in (accounted_until, now] (SPEC §6.5). The caller
// has locked the job in tx (store.Tx.LockJob) and passes what it read.
func Reconcile(tx store.Tx, job *automation.Job, cur *automation.Cursor, now time.Time, o Options) (*Outcome, error) {
	return ReconcileUntil(tx, job, cur, now, now, o)
}

// ReconcileUntil is Reconcile that also claims the slots in (now, until] of a job that can be
// claimed ahead (ClaimsAhead; DECISIONS 28): their runs are admitted now, with scheduled_at
// the slot, and the dispatcher starts them at that instant. For any other job, or when until
// is not after now, it is Reconcile.
func ReconcileUntil(tx store.Tx, job *automation.Job, cur *automation.Cursor, now, until time.Time, o Options) (*Outcome, error) {
	out := &Outcome{Slots: map[string]int{}}
	spec, err := SpecOf(job, o.DefaultTZ, cur.AnchorAt)
	if err != nil {
		return nil, err
	}
	// h is the accounting horizon: slots up to h are reconciled. Admission itself (run
	// started_at, fire-limit window, ledger recorded_at) stays at now.
	h := now
	if until.After(now) && ClaimsAhead(job, o) {
		h = until
	}
	nc := *cur
	out.Cursor = &nc
	a := cur.AccountedUntil
	if !job.Enabled || !h.After(a) {
		want := time.Time{}
		if job.Enabled {
			if sl, ok := spec.Next(maxTime(a, h)); ok {
				want = sl.At.UTC()
			}
		}
		if !want.Equal(cur.NextRunAt) {
			nc.NextRunAt, nc.UpdatedAt = want, now
			return out, tx.UpdateCursor(&nc)
		}
		return out, nil
	}

	var segs []segment
	misfires := 0
	var lastSlot time.Time
	var lastFired *automation.Run
	addRange := func(after, until time.Time, outcome, reason string) {
		if !until.After(after) {
			return
		}
		first, last, n := summarize(spec, after, until)
		if n == 0 {
			return
		}
		segs = append(segs, segment{first: first, last: last, count: n, outcome: outcome, reason: reason})
	}

	if o.Paused {
		addRange(a, h, automation.OutcomeSkipped, automation.ReasonPaused)
	} else {
		grace := time.Duration(job.MisfireGraceSeconds) * time.Second
		if grace < time.Second {
			grace = time.Second
		}
		window, _ := time.ParseDuration(job.CatchUpWindow)
		onTimeAfter := maxTime(a, h.Add(-grace).Add(-time.Nanosecond))           // on time: slot >= h-grace
		staleUntil := minTime(h.Add(-window).Add(-time.Nanosecond), onTimeAfter) // stale: slot < h-window
		// Stale slots.
		addRange(a, staleUntil, automation.OutcomeSkipped, automation.ReasonMisfire)
		missedAfter := maxTime(a, staleUntil)
		// Missed slots by catch-up policy.
		var candidates []schedule.Slot
		// coalesce indexes the run_once coalesced segment in segs (-1: none). An index, not a
		// pointer: appends below may move segs.
		coalesce := -1
		if onTimeAfter.After(missedAfter) {
			tail := 0
			switch job.CatchUpPolicy {
			case automation.CatchUpRunOnce:
				tail = 1
			case automation.CatchUpRunAll:
				tail = maxCatchUpAll
			}
			head, headN, tailSlots := splitTail(spec, missedAfter, onTimeAfter, tail)
			if headN > 0 {
				seg := segment{first: head[0], last: head[1], count: headN, outcome: automation.OutcomeSkipped, reason: automation.ReasonMisfire}
				if job.CatchUpPolicy == automation.CatchUpRunOnce {
					seg.outcome, seg.reason = automation.OutcomeCoalesced, ""
					segs = append(segs, seg)
					coalesce = len(segs) - 1
				} else {
					segs = append(segs, seg)
				}
			}
			candidates = append(candidates, tailSlots...)
		}
		representative := -1
		if coalesce >= 0 && len(candidates) == 1 {
			representative = 0
		}
		candidates = append(candidates, spec.Between(onTimeAfter, h, 0)...)
		for i, sl := range candidates {
			run, refused, err := fire(tx, job, sl, now, o, out)
			if err != nil {
				return nil, err
			}
			if refused != "" {
				segs = append(segs, segment{first: sl, last: sl, count: 1, outcome: automation.OutcomeSkipped, reason: refused})
				if i == representative {
					segs[coalesce].outcome, segs[coalesce].reason = automation.OutcomeSkipped, automation.ReasonMisfire
				}
				continue
			}
			if i == representative {
				segs[coalesce].runID = run.ID
			}
			lastFired = run
			segs = append(segs, segment{first: sl, last: sl, count: 1, outcome: automation.OutcomeFired, runID: run.ID, fireID: run.FireID})
		}
		if coalesce >= 0 && segs[coalesce].outcome == automation.OutcomeCoalesced && segs[coalesce].runID == "" {
			// No representative could be computed (should not happen): never leave a dangling coalesce.
			segs[coalesce].outcome, segs[coalesce].reason = automation.OutcomeSkipped, automation.ReasonMisfire
		}
	}
	sortSegments(segs)
	for _, s := range segs {
		out.Slots[s.outcome+"/"+s.reason] += s.count
		if s.outcome == automation.OutcomeSkipped && s.reason == automation.ReasonMisfire {
			misfires += s.count
		}
		if s.last.At.After(lastSlot) {
			lastSlot = s.last.At
		}
	}
	if err := writeLedger(tx, job.ID, spec, segs, now, o); err != nil {
		return nil, err
	}
	nc.AccountedUntil = h
	nc.NextRunAt = time.Time{}
	if sl, ok := spec.Next(h); ok {
		nc.NextRunAt = sl.At.UTC()
	}
	if !lastSlot.IsZero() {
		nc.LastScheduledAt = lastSlot.UTC()
	}
	if lastFired != nil {
		nc.LastRunAt = now
		nc.LastFireID = lastFired.FireID
	}
	if misfires > 0 {
		nc.MisfireCount += misfires
		nc.LastMisfireAt = now
	}
	nc.ConsecutiveResumeFailures = 0
	nc.UpdatedAt = now
	return out, tx.UpdateCursor(&nc)
}

// ClaimsAhead reports whether job's slots may be claimed before they are due (DECISIONS 28):
// only when nothing the admission decides depends on the instant between claim and slot. An
// overlap policy of skip or cancel_previous looks at the runs active at admission (a run
// ending, or being superseded, in between would change the outcome); a task-backed fire
// creates its task at admission; a paused engine records skipped(paused) slots at their
// instants.
func ClaimsAhead(job *automation.Job, o Options) bool {
	return job.Enabled && !o.Paused && job.Task == nil &&
		(job.OverlapPolicy == automation.OverlapAllow || job.OverlapPolicy == automation.OverlapQueue)
}

// fire admits one candidate slot; it returns the run or the refusal reason.
func fire(tx store.Tx, job *automation.Job, sl schedule.Slot, now time.Time, o Options, out *Outcome) (*automation.Run, string, error) {
	at := sl.At.UTC()
	run := &automation.Run{
		ID:          automation.NewID(automation.PrefixRun, now),
		JobID:       job.ID,
		Status:      automation.RunScheduled,
		Attempt:     1,
		FireID:      automation.FireID(job.ID, at),
		ScheduledAt: at,
		StartedAt:   now,
		Origin:      automation.OriginSchedule,
		AgentName:   job.AgentName,
		Scope:       job.Scope,
		WorkspaceID: job.WorkspaceID,
		Depth:       1,
		Prompt:      job.Prompt,
	}
	policy := admit.Policy{DefinitionID: job.ID, Overlap: job.OverlapPolicy, FireLimit: job.FireLimit}
	if job.Task != nil {
		// Task-backed fires are never active, so only the fire limit applies (SPEC §11.1).
		var res admit.Result
		if err := admit.CheckFireLimit(tx, policy, now, &res); err != nil {
			return nil, "", err
		}
		if res.Refused != "" {
			return nil, res.Refused, nil
		}
		if o.Delegate == nil {
			return nil, "", errors.New("task delegation is not available")
		}
		if err := o.Delegate(tx, job, run); err != nil {
			return nil, "", err
		}
		out.Admitted = append(out.Admitted, run)
		return run, "", nil
	}
	res, err := admit.Admit(tx, policy, run, now)
	if err != nil {
		if store.IsConflict(err, store.UniqueFireAttempt) {
			return nil, "", fmt.Errorf("slot %s of job %s already fired: %w", automation.FormatTime(at), job.ID, err)
		}
		return nil, "", err
	}
	if res.Refused != "" {
		return nil, res.Refused, nil
	}
	out.Admitted = append(out.Admitted, res.Run)
	out.Superseded = append(out.Superseded, res.Superseded...)
	return res.Run, "", nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// summarize returns the first and last slot in (after, until] and their number.
func summarize(spec schedule.Spec, after, until time.Time) (first, last schedule.Slot, n int) {
	head, n, tail := splitTail(spec, after, until, 1)
	if n == 0 && len(tail) == 0 {
		return first, last, 0
	}
	if n == 0 {
		return tail[0], tail[0], 1
	}
	return head[0], tail[0], n + 1
}

// splitTail splits the slots in (after, until] into a head (first and last slot, count) and
// the newest tailN slots.
func splitTail(spec schedule.Spec, after, until time.Time, tailN int) (head [2]schedule.Slot, headN int, tail []schedule.Slot) {
	if spec.Mode == automation.ModeEvery {
		total := spec.Count(after, until)
		if total == 0 {
			return head, 0, nil
		}
		first, _ := spec.Next(after)
		// k-th slot (0-based) from first.
		nth := func(k int) schedule.Slot {
			t := first.At.Add(time.Duration(k) * spec.Interval).UTC()
			return schedule.Slot{At: t, Local: t.In(spec.Location)}
		}
		if tailN > total {
			tailN = total
		}
		headN = total - tailN
		if headN > 0 {
			head = [2]schedule.Slot{nth(0), nth(headN - 1)}
		}
		for k := headN; k < total; k++ {
			tail = append(tail, nth(k))
		}
		return head, headN, tail
	}
	all := spec.Between(after, until, 0)
	if tailN > len(all) {
		tailN = len(all)
	}
	headN = len(all) - tailN
	if headN > 0 {
		head = [2]schedule.Slot{all[0], all[headN-1]}
	}
	return head, headN, all[headN:]
}

func sortSegments(segs []segment) {
	// Insertion sort by first slot: segments are few and nearly sorted.
	for i := 1; i < len(segs); i++ {
		for j := i; j > 0 && segs[j].first.At.Before(segs[j-1].first.At); j-- {
			segs[j], segs[j-1] = segs[j-1], segs[j]
		}
	}
}

// writeLedger appends segments to the job's ledger, merging per SPEC §6.7.
func writeLedger(tx store.Tx, jobID string, spec schedule.Spec, segs []segment, now time.Time, o Options) error {
	if len(segs) == 0 {
		return nil
	}
	// Only a skipped or coalesced first segment can merge into the stored last entry (fired
	// entries never merge; later segments meet the entries written here), so a reconciliation
	// whose first segment fired does not read it.
	var last *automation.LedgerEntry
	if segs[0].outcome != automation.OutcomeFired {
		if e, err := tx.LastLedgerEntry(jobID); err == nil {
			last = &e
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	inserted := false
	for _, s := range segs {
		if last != nil && mergeable(last, s) {
			if nx, ok := spec.Next(last.LastSlotAt); ok && nx.At.Equal(s.first.At) {
				last.Count += s.count
				last.LastSlotAt = s.last.At.UTC()
				last.RecordedAt = now
				if err := tx.UpdateLedgerEntry(last); err != nil {
					return err
				}
				continue
			}
		}
		e := &automation.LedgerEntry{
			JobID: jobID, SlotAt: s.first.At.UTC(), LastSlotAt: s.last.At.UTC(), Count: s.count,
			Outcome: s.outcome, Reason: s.reason, RunID: s.runID, FireID: s.fireID,
			Local: localString(s.first.At, spec.Location), DST: s.first.DST, RecordedAt: now,
		}
		if err := tx.InsertLedgerEntry(e); err != nil {
			return err
		}
		last = e
		inserted = true
	}
	if inserted && o.SlotsPerJob > 0 {
		if o.PruneLater != nil {
			o.PruneLater(jobID)
			return nil
		}
		return tx.PruneLedger(jobID, o.SlotsPerJob)
	}
	return nil
}

func mergeable(e *automation.LedgerEntry, s segment) bool {
	switch {
	case e.Outcome == automation.OutcomeSkipped && s.outcome == automation.OutcomeSkipped:
		return e.Reason == s.reason
	case e.Outcome == automation.OutcomeCoalesced && s.outcome == automation.OutcomeCoalesced:
		return e.RunID == s.runID
	}
	return false
}

// ApplyChange updates the cursor of a job whose definition changed from old to updated in tx
// (SPEC §6.10). It returns the reconciliation outcome when a disable first reconciled due slots.
func ApplyChange(tx store.Tx, old, updated *automation.Job, cur *automation.Cursor, now time.Time, o Options) (*Outcome, error) {
	if ScheduleKey(old, o.DefaultTZ) != ScheduleKey(updated, o.DefaultTZ) {
		nc, ledger, err := resetSchedule(updated, cur, now, o.DefaultTZ)
		if err != nil {
			return nil, err
		}
		for _, e := range ledger {
			if err := tx.InsertLedgerEntry(e); err != nil {
				return nil, err
			}
		}
		return &Outcome{Cursor: nc}, tx.UpdateCursor(nc)
	}
	switch {
	case old.Enabled && !updated.Enabled:
		asEnabled := *updated
		asEnabled.Enabled = true
		out, err := Reconcile(tx, &asEnabled, cur, now, o)
		if err != nil {
			return nil, err
		}
		nc := *out.Cursor
		nc.NextRunAt = time.Time{}
		nc.UpdatedAt = now
		out.Cursor = &nc
		return out, tx.UpdateCursor(&nc)
	case !old.Enabled && updated.Enabled:
		spec, err := SpecOf(updated, o.DefaultTZ, cur.AnchorAt)
		if err != nil {
			return nil, err
		}
		nc := *cur
		if now.After(cur.AccountedUntil) {
			first, last, n := summarize(spec, cur.AccountedUntil, now)
			if n > 0 {
				seg := segment{first: first, last: last, count: n, outcome: automation.OutcomeSkipped, reason: automation.ReasonDisabled}
				if err := writeLedger(tx, updated.ID, spec, []segment{seg}, now, o); err != nil {
					return nil, err
				}
				nc.LastScheduledAt = last.At.UTC()
			}
			nc.AccountedUntil = now
		}
		nc.NextRunAt = time.Time{}
		if sl, ok := spec.Next(nc.AccountedUntil); ok {
			nc.NextRunAt = sl.At.UTC()
		}
		nc.UpdatedAt = now
		return &Outcome{Cursor: &nc}, tx.UpdateCursor(&nc)
	}
	return &Outcome{Cursor: cur}, nil
}
