package schedule

import (
	"time"
)

// Schedule modes (SPEC §2.2, §6.2).
const (
	ModeCron  = "cron"
	ModeEvery = "every"
	ModeAt    = "at"
)

// Spec is a complete schedule: what the scheduler iterates. Only the fields of its Mode are
// used, except Location, which every and at schedules use for Slot.Local only. Every schedules
// are computed with time.Duration arithmetic, so instants more than about 290 years from Anchor
// are out of range.
type Spec struct {
	Mode string // ModeCron, ModeEvery or ModeAt

	Cron     *Cron          // ModeCron: the expression
	Location *time.Location // ModeCron: the effective zone (nil means UTC); also used for Slot.Local

	Interval time.Duration // ModeEvery: the period (> 0)
	Anchor   time.Time     // ModeEvery: slots are Anchor + k×Interval for k >= 1

	At time.Time // ModeAt: the single slot
}

func (s Spec) loc() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

func (s Spec) slot(t time.Time) Slot {
	at := t.UTC()
	return Slot{At: at, Local: at.In(s.loc())}
}

// Next returns the first slot strictly after after. It reports false when there is none: an at
// schedule whose instant is not after after, an every schedule with a non-positive interval, a
// cron schedule with no slot within 8 years after after, or an unknown mode.
func (s Spec) Next(after time.Time) (Slot, bool) {
	switch s.Mode {
	case ModeCron:
		if s.Cron == nil {
			return Slot{}, false
		}
		return s.Cron.Next(after, s.Location)
	case ModeEvery:
		k, ok := s.firstK(after)
		if !ok {
			return Slot{}, false
		}
		return s.slot(s.Anchor.Add(time.Duration(k) * s.Interval)), true
	case ModeAt:
		if s.At.After(after) {
			return s.slot(s.At), true
		}
	}
	return Slot{}, false
}

// firstK returns the smallest k >= 1 with Anchor + k×Interval > after.
func (s Spec) firstK(after time.Time) (int64, bool) {
	if s.Interval <= 0 {
		return 0, false
	}
	d := after.Sub(s.Anchor)
	if d < 0 {
		return 1, true
	}
	return int64(d/s.Interval) + 1, true
}

// lastK returns the largest k with Anchor + k×Interval <= until (0 when there is none with
// k >= 1).
func (s Spec) lastK(until time.Time) int64 {
	d := until.Sub(s.Anchor)
	if d < s.Interval {
		return 0
	}
	return int64(d / s.Interval)
}

// Between returns the slots in (after, until], oldest first, at most maxSlots of them
// (maxSlots <= 0: no limit). For every schedules the slots are computed directly, so a 1s interval over a long
// downtime costs only the slots returned.
func (s Spec) Between(after, until time.Time, maxSlots int) []Slot {
	if !until.After(after) {
		return nil
	}
	switch s.Mode {
	case ModeEvery:
		k1, ok := s.firstK(after)
		if !ok {
			return nil
		}
		n := s.lastK(until) - k1 + 1
		if n <= 0 {
			return nil
		}
		if maxSlots > 0 && n > int64(maxSlots) {
			n = int64(maxSlots)
		}
		out := make([]Slot, 0, n)
		for k := k1; k < k1+n; k++ {
			out = append(out, s.slot(s.Anchor.Add(time.Duration(k)*s.Interval)))
		}
		return out
	case ModeAt:
		if s.At.After(after) && !s.At.After(until) {
			return []Slot{s.slot(s.At)}
		}
		return nil
	case ModeCron:
		if s.Cron == nil {
			return nil
		}
		var out []Slot
		zw := newZoneWindow(s.Location)
		for t := after; maxSlots <= 0 || len(out) < maxSlots; {
			sl, ok := s.Cron.next(t, zw, until.Unix())
			if !ok {
				break
			}
			out = append(out, sl)
			t = sl.At
		}
		return out
	}
	return nil
}

// Count returns the number of slots in (after, until]. It is computed arithmetically for every
// and at schedules; for cron schedules it iterates the slots.
func (s Spec) Count(after, until time.Time) int {
	if !until.After(after) {
		return 0
	}
	switch s.Mode {
	case ModeEvery:
		k1, ok := s.firstK(after)
		if !ok {
			return 0
		}
		return int(max(0, s.lastK(until)-k1+1))
	case ModeAt:
		if s.At.After(after) && !s.At.After(until) {
			return 1
		}
	case ModeCron:
		if s.Cron == nil {
			return 0
		}
		n := 0
		zw := newZoneWindow(s.Location)
		for t := after; ; n++ {
			sl, ok := s.Cron.next(t, zw, until.Unix())
			if !ok {
				return n
			}
			t = sl.At
		}
	}
	return 0
}
