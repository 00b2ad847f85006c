// Package service is agh's application layer: the operations the API, the CLI (through the API)
// and configuration reconciliation perform on definitions and runs. Each operation is one store
// transaction; after commit it notifies the scheduler, the dispatcher and change-stream
// subscribers. It knows nothing of HTTP.
package service

import (
	"context"
	"errors"
	"log/slog"
	"strings"
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
		s.recordResumeFailure(ctx, id)
		return nil, err
	}
	if gone {
		return nil, nil
	}
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
	return out.Cursor, nil
}

// recordResumeFailure increments consecutive_resume_failures, best effort (SPEC §6.5).
func (s *Service) recordResumeFailure(ctx context.Context, id string) {
	_ = s.Store.Write(ctx, func(tx store.Tx) error {
		rec, err := tx.LockJob(id)
		if err != nil {
			return err
		}
		c := *rec.Cursor
		c.ConsecutiveResumeFailures++
		c.UpdatedAt = s.now()
		return tx.UpdateCursor(&c)
	})
}
