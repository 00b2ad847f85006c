package schedule

// TEMPORARY stub until the schedule branch lands. DELETE AT MERGE.

import (
	"errors"
	"time"
	_ "time/tzdata"
)

const (
	GapShifted = "gap_shifted"
	FoldFirst  = "fold_first"
	FoldRepeat = "fold_repeat"
)

type Slot struct {
	At, Local, Nominal time.Time
	DST                string
}

type Cron struct{ expr string }

func ParseCron(expr string) (*Cron, error) {
	if expr == "bad" {
		return nil, errors.New("bad")
	}
	return &Cron{expr}, nil
}
func (c *Cron) WallClock() bool { return false }
func (c *Cron) Next(after time.Time, loc *time.Location) (Slot, bool) {
	t := after.Truncate(time.Minute).Add(time.Minute)
	return Slot{At: t.UTC(), Local: t.In(loc)}, true
}
func (c *Cron) FiresWithin(from time.Time, loc *time.Location, d time.Duration) bool { return true }

type Spec struct {
	Mode     string
	Cron     *Cron
	Location *time.Location
	Interval time.Duration
	Anchor   time.Time
	At       time.Time
}

func (s Spec) Next(after time.Time) (Slot, bool) {
	switch s.Mode {
	case "cron":
		return s.Cron.Next(after, s.Location)
	case "every":
		k := after.Sub(s.Anchor)/s.Interval + 1
		if after.Before(s.Anchor) {
			k = 1
		}
		t := s.Anchor.Add(k * s.Interval)
		return Slot{At: t.UTC(), Local: t.UTC()}, true
	default:
		if s.At.After(after) {
			return Slot{At: s.At.UTC(), Local: s.At.UTC()}, true
		}
		return Slot{}, false
	}
}
func (s Spec) Between(after, until time.Time, max int) []Slot {
	var out []Slot
	for {
		sl, ok := s.Next(after)
		if !ok || sl.At.After(until) || (max > 0 && len(out) >= max) {
			return out
		}
		out = append(out, sl)
		after = sl.At
	}
}
func (s Spec) Count(after, until time.Time) int { return len(s.Between(after, until, 0)) }
func LoadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, errors.New("unknown time zone \"" + name + "\"")
	}
	return time.LoadLocation(name)
}
