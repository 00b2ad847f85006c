// Package service is agh's application layer: the operations the API, the CLI (through the API)
// and configuration reconciliation perform on definitions and runs. Each operation is one store
// transaction; after commit it notifies the scheduler, the dispatcher and change-stream
// subscribers. It knows nothing of HTTP.
package service

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agh-dev/agh/internal/admit"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/scheduler"
	"github.com/agh-dev/agh/internal/secrets"
	"github.com/agh-dev/agh/internal/store"
)

// Change kinds passed to Notifier.
const (
	ChangeCreated = "created"
	ChangeUpdated = "updated"
	ChangeDeleted = "deleted"
	// ChangeCursor: only the cursor moved (a reconciliation); the scheduler already knows.
	ChangeCursor = "cursor"
)

// Notifier receives committed changes. Every method must return quickly.
type Notifier interface {
	// JobChanged is called after a job (and its cursor) changed or was deleted.
	JobChanged(jobID, kind string)
	// TriggerChanged is called after a trigger changed or was deleted.
	TriggerChanged(triggerID, kind string)
	// RunsChanged is called after runs were created or changed state.
	RunsChanged(runs []*automation.Run)
	// RunsTerminated asks for the processes of these (already canceled) runs to be stopped.
	RunsTerminated(runs []*automation.Run)
}

type nopNotifier struct{}

func (nopNotifier) JobChanged(string, string)        {}
func (nopNotifier) TriggerChanged(string, string)    {}
func (nopNotifier) RunsChanged([]*automation.Run)    {}
func (nopNotifier) RunsTerminated([]*automation.Run) {}

// Service performs definition and run operations.
type Service struct {
	Store       store.Store
	Clock       clock.Clock
	NodeID      string
	metricsSink Metrics
	// Log receives the service's notable log records (slot skipped, webhook rejected).
	Log *slog.Logger
	// Key seals webhook secrets at rest (SPEC §14.4).
	Key secrets.Key

	cfg      atomic.Pointer[config.Config]
	notifier atomic.Pointer[notifierBox]
	// triggers caches webhook triggers with their decrypted secrets (triggercache.go).
	triggers triggerCache
	// claims remembers which delivery ids may have a replay claim (triggercache.go).
	claims claimIndex
	// dlog writes the records of non-admitting deliveries in the background (deliverylog.go).
	dlog deliveryLog
	// Delegate admits task-backed fires (nil until task delegation is wired).
	Delegate func(tx store.Tx, job *automation.Job, run *automation.Run) error
}

// New returns a service over st.
func New(st store.Store, clk clock.Clock, cfg *config.Config) *Service {
	s := &Service{Store: st, Clock: clk, NodeID: cfg.NodeID}
	s.triggers.local = st.Kind() == "sqlite"
	s.cfg.Store(cfg)
	s.notifier.Store(&notifierBox{nopNotifier{}})
	return s
}

// SetNotifier installs the change notifier.
func (s *Service) SetNotifier(n Notifier) { s.notifier.Store(&notifierBox{n}) }

type notifierBox struct{ n Notifier }

func (s *Service) notify() Notifier { return s.notifier.Load().n }

// Config returns the configuration in force.
func (s *Service) Config() *config.Config { return s.cfg.Load() }

// SetConfig replaces the configuration in force (reload).
func (s *Service) SetConfig(c *config.Config) { s.cfg.Store(c) }

// SchedulerOptions returns the reconciliation options of the configuration in force.
func (s *Service) SchedulerOptions() scheduler.Options {
	c := s.Config()
	return scheduler.Options{
		DefaultTZ:   c.Automation.Timezone,
		Paused:      c.Automation.Paused,
		SlotsPerJob: c.Automation.SlotsPerJob,
		Delegate:    s.Delegate,
	}
}

// Env returns the validation environment at now.
func (s *Service) Env(ctx context.Context) automation.Env {
	c := s.Config()
	return automation.Env{
		Now:              s.Clock.Now(),
		AgentExists:      func(n string) bool { _, ok := c.Agents[n]; return ok },
		ChannelExists:    func(n string) bool { _, ok := c.Channels[n]; return ok },
		WorkspaceExists:  func(id string) bool { _, err := s.Store.GetWorkspace(ctx, id); return err == nil },
		DefaultFireLimit: c.Automation.DefaultFireLimit,
		DefaultTimezone:  c.Automation.Timezone,
	}
}

func (s *Service) now() time.Time { return s.Clock.Now().UTC() }

// mapStoreErr turns store errors into domain errors.
func mapStoreErr(err error) error {
	switch {
	case err == nil:
		return nil
	case store.IsConflict(err, store.UniqueJobName):
		return automation.ErrJobNameTaken
	}
	return err
}

// GetJob returns a job with its cursor.
func (s *Service) GetJob(ctx context.Context, id string) (store.JobRecord, error) {
	rec, err := s.Store.GetJob(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return rec, automation.ErrJobNotFound
	}
	return rec, err
}

// ListJobs lists jobs.
func (s *Service) ListJobs(ctx context.Context, q store.JobQuery) ([]store.JobRecord, error) {
	return s.Store.ListJobs(ctx, q)
}

// CreateJob creates a dynamic job from a decoded create body.
func (s *Service) CreateJob(ctx context.Context, in *automation.JobInput) (store.JobRecord, error) {
	env := s.Env(ctx)
	job, err := automation.NewJob(in, env)
	if err != nil {
		return store.JobRecord{}, err
	}
	now := s.now()
	job.ID = automation.NewID(automation.PrefixJob, now)
	job.CreatedAt, job.UpdatedAt = now, now
	return s.insertJob(ctx, job, now)
}

func (s *Service) insertJob(ctx context.Context, job *automation.Job, now time.Time) (store.JobRecord, error) {
	cur, ledger, err := scheduler.NewCursor(job, now, s.Config().Automation.Timezone)
	if err != nil {
		return store.JobRecord{}, err
	}
	err = s.Store.Write(ctx, func(tx store.Tx) error {
		if err := tx.InsertJob(job, cur); err != nil {
			return err
		}
		for _, e := range ledger {
			if err := tx.InsertLedgerEntry(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.JobRecord{}, mapStoreErr(err)
	}
	s.notify().JobChanged(job.ID, ChangeCreated)
	return store.JobRecord{Job: job, Cursor: cur}, nil
}

// PatchJob applies a PATCH to a job (SPEC §4.2.4, §3.7, §6.10).
func (s *Service) PatchJob(ctx context.Context, id string, in *automation.JobInput) (store.JobRecord, error) {
	var rec store.JobRecord
	var out *scheduler.Outcome
	env := s.Env(ctx)
	err := s.Store.Write(ctx, func(tx store.Tx) error {
		old, err := tx.LockJob(id)
		if errors.Is(err, store.ErrNotFound) {
			return automation.ErrJobNotFound
		} else if err != nil {
			return err
		}
		if old.Job.Source == automation.SourceConfig && !in.OnlyEnabled() {
			return automation.ReadOnly("config-backed automation jobs only accept enabled updates")
		}
		env.Now = s.now()
		updated, err := old.Job.Patched(in, env)
		if err != nil {
			return err
		}
		now := s.now()
		updated.UpdatedAt = now
		if err := tx.UpdateJob(updated); err != nil {
			return err
		}
		out, err = scheduler.ApplyChange(tx, old.Job, updated, old.Cursor, now, s.SchedulerOptions())
		if err != nil {
			return err
		}
		rec = store.JobRecord{Job: updated, Cursor: out.Cursor}
		return nil
	})
	if err != nil {
		return rec, mapStoreErr(err)
	}
	s.afterReconcile(id, out, ChangeUpdated)
	return rec, nil
}

func (s *Service) afterReconcile(jobID string, out *scheduler.Outcome, kind string) {
	s.notify().JobChanged(jobID, kind)
	if out == nil {
		return
	}
	if len(out.Admitted) > 0 || len(out.Superseded) > 0 {
		s.notify().RunsChanged(append(append([]*automation.Run{}, out.Admitted...), out.Superseded...))
	}
	if len(out.Superseded) > 0 {
		s.notify().RunsTerminated(out.Superseded)
	}
}

// DeleteJob deletes a job, its cursor and ledger, and cancels its active runs (SPEC §4.2.5).
func (s *Service) DeleteJob(ctx context.Context, id string, allowConfig bool) error {
	var canceled []*automation.Run
	err := s.Store.Write(ctx, func(tx store.Tx) error {
		old, err := tx.LockJob(id)
		if errors.Is(err, store.ErrNotFound) {
			return automation.ErrJobNotFound
		} else if err != nil {
			return err
		}
		if old.Job.Source == automation.SourceConfig && !allowConfig {
			return automation.ReadOnly("config-backed automation jobs cannot be deleted")
		}
		canceled, err = cancelActive(tx, id, s.now(), "definition deleted", automation.CodeDefinitionDeleted)
		if err != nil {
			return err
		}
		return tx.DeleteJob(id)
	})
	if err != nil {
		return err
	}
	s.notify().JobChanged(id, ChangeDeleted)
	if len(canceled) > 0 {
		s.notify().RunsChanged(canceled)
		s.notify().RunsTerminated(canceled)
	}
	return nil
}

func cancelActive(tx store.Tx, defID string, now time.Time, msg, code string) ([]*automation.Run, error) {
	active, err := tx.ActiveRuns(defID)
	if err != nil {
		return nil, err
	}
	var out []*automation.Run
	for _, r := range active {
		prev := r.Status
		c := *r
		c.Status, c.EndedAt, c.Error, c.ErrorCode = automation.RunCanceled, now, msg, code
		if !c.DispatchedAt.IsZero() {
			c.StopReason = "cancelled"
		}
		ok, err := tx.UpdateRun(&c, prev)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, &c)
		}
	}
	return out, nil
}

// TriggerJob admits a manual fire (SPEC §4.2.7).
func (s *Service) TriggerJob(ctx context.Context, id string) (*automation.Run, error) {
	var res admit.Result
	err := s.Store.Write(ctx, func(tx store.Tx) error {
		rec, err := tx.LockJob(id)
		if errors.Is(err, store.ErrNotFound) {
			return automation.ErrJobNotFound
		} else if err != nil {
			return err
		}
		job := rec.Job
		now := s.now()
		run := &automation.Run{
			ID: automation.NewID(automation.PrefixRun, now), JobID: job.ID, Status: automation.RunScheduled,
			Attempt: 1, FireID: automation.NewID(automation.PrefixFire, now), ScheduledAt: now, StartedAt: now,
			Origin: automation.OriginManual, AgentName: job.AgentName, Scope: job.Scope,
			WorkspaceID: job.WorkspaceID, Depth: 1, Prompt: job.Prompt,
		}
		policy := admit.Policy{DefinitionID: job.ID, Overlap: job.OverlapPolicy, FireLimit: job.FireLimit}
		if job.Task != nil {
			if err := admit.CheckFireLimit(tx, policy, now, &res); err != nil || res.Refused != "" {
				return err
			}
			if s.Delegate == nil {
				return errors.New("task delegation is not available")
			}
			if err := s.Delegate(tx, job, run); err != nil {
				return err
			}
			res.Run = run
			return nil
		}
		res, err = admit.Admit(tx, policy, run, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	switch res.Refused {
	case admit.RefusedOverlap:
		return nil, &automation.OverlapError{RunIDs: res.ActiveRunIDs}
	case admit.RefusedFireLimit:
		return nil, res.FireLimit
	}
	changed := append([]*automation.Run{res.Run}, res.Superseded...)
	s.notify().RunsChanged(changed)
	if len(res.Superseded) > 0 {
		s.notify().RunsTerminated(res.Superseded)
	}
	return res.Run, nil
}

// GetRun returns a run.
func (s *Service) GetRun(ctx context.Context, id string) (*automation.Run, error) {
	r, err := s.Store.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, automation.ErrRunNotFound
	}
	return r, err
}

// CancelRun cancels a scheduled or running run (SPEC §4.3.4).
func (s *Service) CancelRun(ctx context.Context, id string) (*automation.Run, error) {
	var out *automation.Run
	err := s.Store.Write(ctx, func(tx store.Tx) error {
		r, err := tx.GetRun(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return automation.ErrRunNotFound
		} else if err != nil {
			return err
		}
		if r.Status != automation.RunScheduled && r.Status != automation.RunRunning {
			return &automation.ConflictError{Message: "automation: run is not cancelable in status \"" + r.Status + "\""}
		}
		prev := r.Status
		c := *r
		c.Status, c.EndedAt = automation.RunCanceled, s.now()
		c.Error, c.ErrorCode = "canceled by request", automation.CodeCanceled
		if !c.DispatchedAt.IsZero() {
			c.StopReason = "cancelled"
		}
		ok, err := tx.UpdateRun(&c, prev)
		if err != nil {
			return err
		}
		if !ok {
			return &automation.ConflictError{Message: "automation: run is not cancelable in status \"" + r.Status + "\""}
		}
		out = &c
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify().RunsChanged([]*automation.Run{out})
	s.notify().RunsTerminated([]*automation.Run{out})
	return out, nil
}

// ReconcileJob runs one reconciliation of a job at now (SPEC §6.5). It returns the updated
// cursor, or nil when the job no longer exists.
func (s *Service) ReconcileJob(ctx context.Context, id string) (*automation.Cursor, error) {
	var out *scheduler.Outcome
	var gone bool
	var before time.Time
	err := s.Store.Write(ctx, func(tx store.Tx) error {
		rec, err := tx.LockJob(id)
		if errors.Is(err, store.ErrNotFound) {
			gone = true
			return nil
		} else if err != nil {
			return err
		}
		before = rec.Cursor.NextRunAt
		out, err = scheduler.Reconcile(tx, rec.Job, rec.Cursor, s.now(), s.SchedulerOptions())
		return err
	})
	if err != nil {
		s.metrics().ReconcileFailed()
		s.recordResumeFailures(ctx, []string{id})
		return nil, err
	}
	if gone {
		return nil, nil
	}
	s.reconciled(id, out, before)
	return out.Cursor, nil
}

// reconciled reports a committed reconciliation: metrics, logs and notifications.
func (s *Service) reconciled(id string, out *scheduler.Outcome, before time.Time) {
	for k, n := range out.Slots {
		outcome, reason, _ := strings.Cut(k, "/")
		s.metrics().Slots(outcome, reason, n)
		if outcome == automation.OutcomeSkipped && s.Log != nil {
			s.Log.Info("slot skipped", "component", "scheduler", "job_id", id, "reason", reason, "count", n)
		}
	}
	if len(out.Admitted) > 0 || len(out.Superseded) > 0 || !out.Cursor.NextRunAt.Equal(before) {
		s.afterReconcile(id, out, ChangeCursor)
	}
}

// errBatchMember aborts a batch transaction in which one job failed (see ReconcileJobs).
var errBatchMember = errors.New("service: a job of the batch failed")

// maxBatchRetries is how many failing jobs ReconcileJobs sets aside, each followed by a new
// attempt of the rest of the batch, before it reconciles the rest one transaction per job.
const maxBatchRetries = 3

// ReconcileJobs reconciles a batch of due jobs at one instant in one transaction (one store
// Write), each also up to until when it can be claimed ahead (scheduler.ReconcileUntil; a zero
// until reconciles up to now only): the jobs are locked with one statement (store.Tx.LockJobs; on PostgreSQL jobs held by
// another node are skipped and reported Busy) and each is reconciled exactly as by
// ReconcileJob. The transaction commits all of them or none: when one job fails, the attempt is
// abandoned, that job's error is its result, and the others are attempted again without it
// (after maxBatchRetries failures, one transaction per job). So a failing job never undoes or
// blocks the others, and each job's claim stays atomic with its cursor.
//
// On PostgreSQL every job is still claimed in a transaction of its own (concurrently, with
// LockJobs' SKIP LOCKED): commits there are not serialized behind one writer, so one
// transaction per batch saves little, and batch transactions that hold hundreds of job rows
// and run hundreds of statements one after the other on one connection made the nodes of a
// cluster claim far fewer slots (bench/cmd/cluster: 3 nodes 1,709 -> 110-155 slots/s).
func (s *Service) ReconcileJobs(ctx context.Context, ids []string, until time.Time) []scheduler.Result {
	// A job listed twice is reconciled once; every occurrence gets its result.
	first := make(map[string]int, len(ids))
	uniq := ids
	for i, id := range ids {
		if _, dup := first[id]; dup {
			uniq = nil
			break
		}
		first[id] = i
	}
	if uniq == nil {
		clear(first)
		for _, id := range ids {
			if _, ok := first[id]; !ok {
				first[id] = len(uniq)
				uniq = append(uniq, id)
			}
		}
		ures := s.reconcileJobs(ctx, uniq, until)
		res := make([]scheduler.Result, len(ids))
		for i, id := range ids {
			res[i] = ures[first[id]]
		}
		return res
	}
	return s.reconcileJobs(ctx, ids, until)
}

// reconcileJobs is ReconcileJobs for distinct ids.
func (s *Service) reconcileJobs(ctx context.Context, ids []string, until time.Time) []scheduler.Result {
	res := make([]scheduler.Result, len(ids))
	if s.Store.Kind() == "postgres" {
		all := make([]int, len(ids))
		for i := range ids {
			all[i] = i
		}
		s.reconcileEach(ctx, ids, all, until, res)
		return res
	}
	pending := make([]int, len(ids)) // indexes into ids not settled yet
	for i := range ids {
		pending[i] = i
	}
	type done struct {
		out    *scheduler.Outcome
		before time.Time
	}
	var failed []string
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > maxBatchRetries {
			s.reconcileEach(ctx, ids, pending, until, res)
			break
		}
		var (
			outs    map[int]done
			busy    map[string]bool
			bad     = -1
			badErr  error
			want    = make([]string, len(pending))
			indexOf = make(map[string]int, len(pending))
		)
		for k, i := range pending {
			want[k] = ids[i]
			indexOf[ids[i]] = i
		}
		err := s.Store.Write(ctx, func(tx store.Tx) error {
			outs, busy, bad, badErr = make(map[int]done, len(pending)), nil, -1, nil
			recs, held, err := tx.LockJobs(want)
			if err != nil {
				return err
			}
			if len(held) > 0 {
				busy = make(map[string]bool, len(held))
				for _, id := range held {
					busy[id] = true
				}
			}
			now, opts := s.now(), s.SchedulerOptions()
			var prune []string // jobs whose ledger grew: pruned together at the end
			opts.PruneLater = func(id string) { prune = append(prune, id) }
			for _, rec := range recs {
				i, ok := indexOf[rec.Job.ID]
				if !ok {
					continue
				}
				out, err := scheduler.ReconcileUntil(tx, rec.Job, rec.Cursor, now, until, opts)
				if err != nil {
					bad, badErr = i, err
					return errBatchMember
				}
				outs[i] = done{out, rec.Cursor.NextRunAt}
			}
			return tx.PruneLedgers(prune, opts.SlotsPerJob)
		})
		if errors.Is(err, errBatchMember) && bad >= 0 {
			res[bad].Err = badErr
			failed = append(failed, ids[bad])
			pending = slices.DeleteFunc(pending, func(i int) bool { return i == bad })
			continue
		}
		if err != nil {
			for _, i := range pending {
				res[i].Err = err
				failed = append(failed, ids[i])
			}
			break
		}
		for _, i := range pending {
			switch d, ok := outs[i]; {
			case ok:
				res[i].Cursor = d.out.Cursor
				s.reconciled(ids[i], d.out, d.before)
			case busy[ids[i]]:
				res[i].Busy = true
			}
			// Otherwise the job no longer exists: a nil cursor.
		}
		break
	}
	if len(failed) > 0 {
		for range failed {
			s.metrics().ReconcileFailed()
		}
		s.recordResumeFailures(ctx, failed)
	}
	return res
}

// reconcileEach reconciles the jobs ids[i] for i in idx one transaction per job, concurrently
// (so that SQLite still commits them together): each locks its job with LockJobs, so a job
// another node holds is reported busy instead of waited for.
func (s *Service) reconcileEach(ctx context.Context, ids []string, idx []int, until time.Time, res []scheduler.Result) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, i := range idx {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res[i] = s.reconcileOne(ctx, ids[i], until)
		}()
	}
	wg.Wait()
}

// reconcileOne reconciles one job in its own transaction, locking it like a batch does.
func (s *Service) reconcileOne(ctx context.Context, id string, until time.Time) scheduler.Result {
	var (
		out    *scheduler.Outcome
		busy   bool
		before time.Time
	)
	err := s.Store.Write(ctx, func(tx store.Tx) error {
		out, busy = nil, false
		recs, held, err := tx.LockJobs([]string{id})
		if err != nil || len(recs) == 0 {
			busy = len(held) > 0
			return err
		}
		before = recs[0].Cursor.NextRunAt
		out, err = scheduler.ReconcileUntil(tx, recs[0].Job, recs[0].Cursor, s.now(), until, s.SchedulerOptions())
		return err
	})
	switch {
	case err != nil:
		s.metrics().ReconcileFailed()
		s.recordResumeFailures(ctx, []string{id})
		return scheduler.Result{Err: err}
	case busy:
		return scheduler.Result{Busy: true}
	case out == nil:
		return scheduler.Result{} // the job no longer exists
	}
	s.reconciled(id, out, before)
	return scheduler.Result{Cursor: out.Cursor}
}

// recordResumeFailures increments consecutive_resume_failures of jobs whose reconciliation
// failed, best effort (SPEC §6.5), in one transaction.
func (s *Service) recordResumeFailures(ctx context.Context, ids []string) {
	_ = s.Store.Write(ctx, func(tx store.Tx) error {
		now := s.now()
		for _, id := range ids {
			rec, err := tx.LockJob(id)
			if err != nil {
				continue
			}
			c := *rec.Cursor
			c.ConsecutiveResumeFailures++
			c.UpdatedAt = now
			if err := tx.UpdateCursor(&c); err != nil {
				return err
			}
		}
		return nil
	})
}
