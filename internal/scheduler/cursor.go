// Package scheduler owns job cursors: it keeps every registered job's next slot in a min-heap,
// wakes when the earliest is due, and reconciles due jobs through the store — one transaction
// per job that accounts for every slot in (accounted_until, now], admits the runs that fire,
// writes the slot ledger and moves the cursor (SPEC §6).
package scheduler

import (
	"fmt"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/schedule"
)

// EffectiveZone is the zone name a job's cron schedule is evaluated in.
func EffectiveZone(j *automation.Job, defaultTZ string) string {
	if j.Schedule.Mode == automation.ModeCron && j.Schedule.Timezone != "" {
		return j.Schedule.Timezone
	}
	if defaultTZ == "" {
		return "UTC"
	}
	return defaultTZ
}

// SpecOf builds the evaluable schedule of a validated job. anchor is the cursor's anchor for
// `every` schedules.
func SpecOf(j *automation.Job, defaultTZ string, anchor time.Time) (schedule.Spec, error) {
	s := schedule.Spec{Mode: j.Schedule.Mode}
	switch j.Schedule.Mode {
	case automation.ModeCron:
		c, err := schedule.ParseCron(j.Schedule.Expr)
		if err != nil {
			return s, err
		}
		loc := time.UTC
		if z := EffectiveZone(j, defaultTZ); z != "UTC" {
			if loc, err = schedule.LoadLocation(z); err != nil {
				return s, err
			}
		}
		s.Cron, s.Location = c, loc
	case automation.ModeEvery:
		d, err := time.ParseDuration(j.Schedule.Interval)
		if err != nil {
			return s, err
		}
		s.Interval, s.Anchor = d, anchor
	case automation.ModeAt:
		t, err := automation.ParseRequestTime(j.Schedule.Time)
		if err != nil {
			return s, err
		}
		s.At = t
	default:
		return s, fmt.Errorf("unknown schedule mode %q", j.Schedule.Mode)
	}
	if s.Location == nil {
		s.Location = time.UTC
		if z := EffectiveZone(j, defaultTZ); z != "UTC" {
			if loc, err := schedule.LoadLocation(z); err == nil {
				s.Location = loc
			}
		}
	}
	return s, nil
}

// ScheduleKey identifies a schedule for change detection (SPEC §6.10): mode, expression with
// white space collapsed, parsed interval, parsed instant and effective zone.
func ScheduleKey(j *automation.Job, defaultTZ string) string {
	s := j.Schedule
	switch s.Mode {
	case automation.ModeCron:
		return "cron|" + strings.Join(strings.Fields(s.Expr), " ") + "|" + EffectiveZone(j, defaultTZ)
	case automation.ModeEvery:
		d, _ := time.ParseDuration(s.Interval)
		return fmt.Sprintf("every|%d", int64(d))
	case automation.ModeAt:
		t, _ := automation.ParseRequestTime(s.Time)
		return fmt.Sprintf("at|%d", t.UnixNano())
	}
	return s.Mode
}

// NewCursor returns the cursor of a job created at now and the ledger entries its creation
// records (a past `at` time is a misfire, SPEC §6.2, §18.13).
func NewCursor(j *automation.Job, now time.Time, defaultTZ string) (*automation.Cursor, []*automation.LedgerEntry, error) {
	c := &automation.Cursor{JobID: j.ID}
	return resetSchedule(j, c, now, defaultTZ)
}

// resetSchedule applies the "schedule set" rule: the cursor restarts at now.
func resetSchedule(j *automation.Job, c *automation.Cursor, now time.Time, defaultTZ string) (*automation.Cursor, []*automation.LedgerEntry, error) {
	nc := *c
	if now.After(nc.AccountedUntil) {
		nc.AccountedUntil = now
	}
	nc.Timezone = EffectiveZone(j, defaultTZ)
	nc.ScheduleKey = ScheduleKey(j, defaultTZ)
	nc.UpdatedAt = now
	nc.AnchorAt = time.Time{}
	if j.Schedule.Mode == automation.ModeEvery {
		nc.AnchorAt = now
	}
	spec, err := SpecOf(j, defaultTZ, nc.AnchorAt)
	if err != nil {
		return nil, nil, err
	}
	var ledger []*automation.LedgerEntry
	if j.Schedule.Mode == automation.ModeAt && !spec.At.After(now) {
		at := spec.At.UTC()
		ledger = append(ledger, &automation.LedgerEntry{
			JobID: j.ID, SlotAt: at, LastSlotAt: at, Count: 1,
			Outcome: automation.OutcomeSkipped, Reason: automation.ReasonMisfire,
			Local: localString(at, spec.Location), RecordedAt: now,
		})
		nc.MisfireCount++
		nc.LastMisfireAt = now
		if at.After(nc.LastScheduledAt) {
			nc.LastScheduledAt = at
		}
	}
	nc.NextRunAt = time.Time{}
	if j.Enabled {
		if sl, ok := spec.Next(nc.AccountedUntil); ok {
			nc.NextRunAt = sl.At.UTC()
		}
	}
	return &nc, ledger, nil
}

func localString(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(time.RFC3339Nano)
}
