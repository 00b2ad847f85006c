package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/scheduler"
	"github.com/agh-dev/agh/internal/store"
)

// zoneChange reports whether a stored cron job without its own zone has an effective zone
// under newTZ different from the one its cursor was computed for (a change by reload, or made
// while the daemon was down), and returns that old zone.
func (s *Service) zoneChange(r store.JobRecord, newTZ string) (string, bool) {
	j := r.Job
	if j.Schedule.Mode != automation.ModeCron || j.Schedule.Timezone != "" {
		return "", false
	}
	old := ""
	if r.Cursor != nil {
		old = r.Cursor.Timezone
	}
	if old == "" {
		old = scheduler.EffectiveZone(j, s.Config().Automation.Timezone)
	}
	return old, old != scheduler.EffectiveZone(j, newTZ)
}

// SyncConfigJobs reconciles the stored config-sourced jobs with cfg.Jobs by id (SPEC §13.5):
// new ones are created, changed ones updated with PATCH semantics (keeping an enabled
// override), and those no longer in the file deleted like a DELETE. It runs in one
// transaction, so a failure leaves the stored jobs untouched.
func (s *Service) SyncConfigJobs(ctx context.Context, cfg *config.Config) error {
	now := s.now()
	opts := s.SchedulerOptions()
	opts.DefaultTZ = cfg.Automation.Timezone
	type change struct{ id, kind string }
	var changed []change
	var canceled []*automation.Run
	err := s.Store.Write(ctx, func(tx store.Tx) error {
		// Only the config jobs are loaded whole; the other jobs are scanned lightly for the
		// ones a change of automation.timezone moves (below).
		cfgJobs, err := tx.ListJobs(ctx, store.JobQuery{Source: automation.SourceConfig})
		if err != nil {
			return err
		}
		stored := map[string]store.JobRecord{}
		for _, r := range cfgJobs {
			stored[r.Job.ID] = r
		}
		want := map[string]bool{}
		for i, j := range cfg.Jobs {
			want[j.ID] = true
			old, ok := stored[j.ID]
			if !ok {
				nj := j.Clone()
				nj.Enabled = nj.ConfigEnabled
				nj.CreatedAt, nj.UpdatedAt = now, now
				cur, ledger, err := scheduler.NewCursor(nj, now, cfg.Automation.Timezone)
				if err != nil {
					return err
				}
				if err := tx.InsertJob(nj, cur); err != nil {
					if store.IsConflict(err, store.UniqueJobName) {
						other := ""
						same, err := tx.ListJobs(ctx, store.JobQuery{Scope: nj.Scope, WorkspaceID: nj.WorkspaceID})
						if err != nil {
							return err
						}
						for _, r := range same {
							if r.Job.Scope == nj.Scope && r.Job.WorkspaceID == nj.WorkspaceID && r.Job.Name == nj.Name {
								other = r.Job.ID
							}
						}
						return fmt.Errorf("config: automation.jobs[%d].name %q is already used by dynamic job %s", i, nj.Name, other)
					}
					return err
				}
				for _, e := range ledger {
					if err := tx.InsertLedgerEntry(e); err != nil {
						return err
					}
				}
				changed = append(changed, change{nj.ID, ChangeCreated})
				continue
			}
			overridden := old.Job.Enabled != old.Job.ConfigEnabled
			oldZone, tzChanged := s.zoneChange(old, cfg.Automation.Timezone)
			if old.Job.ConfigHash == j.ConfigHash && old.Job.ConfigEnabled == j.ConfigEnabled && !tzChanged {
				continue
			}
			nj := j.Clone()
			nj.CreatedAt = old.Job.CreatedAt
			nj.UpdatedAt = now
			nj.Enabled = nj.ConfigEnabled
			if overridden && old.Job.Enabled != nj.ConfigEnabled {
				nj.Enabled = old.Job.Enabled
			}
			if old.Job.ConfigHash == j.ConfigHash && old.Job.ConfigEnabled == j.ConfigEnabled {
				nj.UpdatedAt = old.Job.UpdatedAt // only the zone changed: the definition did not
			}
			if err := tx.UpdateJob(nj); err != nil {
				return err
			}
			// Compare schedules under the old zone for the old job and the new zone for the new one.
			oldView := old.Job.Clone()
			if tzChanged {
				oldView.Schedule.Timezone = oldZone
			}
			if _, err := scheduler.ApplyChange(tx, oldView, nj, old.Cursor, now, opts); err != nil {
				return err
			}
			changed = append(changed, change{nj.ID, ChangeUpdated})
		}
		// A dynamic cron job without its own zone follows automation.timezone: a change of it
		// is a schedule change of the job (SPEC §6.3, §6.10).
		scheds, err := tx.JobSchedules(ctx)
		if err != nil {
			return err
		}
		zone := func(tz string) string {
			if tz == "" {
				return "UTC"
			}
			return tz
		}
		curZone, newZone := zone(s.Config().Automation.Timezone), zone(cfg.Automation.Timezone)
		for _, js := range scheds {
			if js.Source == automation.SourceConfig || js.Mode != automation.ModeCron || js.Timezone != "" {
				continue
			}
			old := js.CursorTimezone
			if old == "" {
				old = curZone
			}
			if old == newZone {
				continue // the zone does not move (zoneChange's rule): no need to read the job
			}
			r, err := tx.LockJob(js.ID)
			if err != nil {
				return err
			}
			if oldZone, moved := s.zoneChange(r, cfg.Automation.Timezone); moved {
				j := r.Job
				oldView := j.Clone()
				oldView.Schedule.Timezone = oldZone
				if _, err := scheduler.ApplyChange(tx, oldView, j, r.Cursor, now, opts); err != nil {
					return err
				}
				changed = append(changed, change{js.ID, ChangeUpdated})
			}
		}
		for id := range stored {
			if want[id] {
				continue
			}
			c, err := cancelActive(tx, id, now, "definition deleted", automation.CodeDefinitionDeleted)
			if err != nil {
				return err
			}
			canceled = append(canceled, c...)
			if err := tx.DeleteJob(id); err != nil {
				return err
			}
			changed = append(changed, change{id, ChangeDeleted})
		}
		return nil
	})
	if err != nil {
		var ve *automation.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("config: %s", ve.Detail)
		}
		return err
	}
	for _, c := range changed {
		s.notify().JobChanged(c.id, c.kind)
	}
	if len(canceled) > 0 {
		s.notify().RunsChanged(canceled)
		s.notify().RunsTerminated(canceled)
	}
	return nil
}
