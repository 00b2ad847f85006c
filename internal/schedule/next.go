package schedule

import (
	"time"
)

// DST markers (SPEC §6.4, §2.10).
const (
	// GapShifted marks a wall-clock slot whose matching local time did not exist (spring forward);
	// the slot is the first instant after the gap.
	GapShifted = "gap_shifted"
	// FoldFirst marks a wall-clock slot whose matching local time occurs twice (fall back); the
	// slot is the first occurrence and the second is not a slot.
	FoldFirst = "fold_first"
	// FoldRepeat marks the second occurrence of a repeated local time in an absolute schedule.
	FoldRepeat = "fold_repeat"
)

// Slot is one instant at which a schedule is due.
type Slot struct {
	// At is the slot instant in UTC; it is the slot's identity (fire_id, scheduled_at).
	At time.Time
	// Local is At in the schedule's location (UTC for every and at schedules without a
	// location).
	Local time.Time
	// Nominal is set only when DST == GapShifted: the wall-clock time the expression names,
	// which does not exist in the location. Because a time.Time cannot carry a non-existent
	// local time, Nominal is expressed in a fixed zone with the name and offset in force just
	// before the gap; its Year..Second fields are the nominal wall time (2026-03-08 02:30 for
	// "30 2 * * *" in America/New_York). When several non-existent matches (and possibly the
	// real local time at the transition) fall on the same slot, Nominal is the earliest of the
	// non-existent ones.
	Nominal time.Time
	// DST is "", GapShifted, FoldFirst or FoldRepeat.
	DST string
}

// NominalLocal returns the nominal wall time formatted without offset
// ("2006-01-02T15:04:05", SPEC §2.10 nominal_local), or "" when the slot is not gap-shifted.
func (s Slot) NominalLocal() string {
	if s.DST != GapShifted || s.Nominal.IsZero() {
		return ""
	}
	return s.Nominal.Format("2006-01-02T15:04:05")
}

const (
	secondsPerDay = 86400
	// margin bounds the distance between an instant and its local wall time (|UTC offset|). The
	// largest offsets in the zone database are about 15h56m (local mean time in the 19th
	// century); 30h leaves ample slack.
	margin = 30 * 3600
	// minSec and maxSec stand for the unbounded ends of the first and last zone periods.
	minSec = -1 << 62
	maxSec = 1 << 62
	// horizonYears is how far Next looks for a slot (SPEC §6.2 "never fires").
	horizonYears = 8
)

// period is a maximal stretch of instants [start, end) with one UTC offset.
type period struct {
	start, end int64 // Unix seconds; minSec/maxSec when unbounded
	off        int64 // UTC offset in seconds
	name       string
}

// wall returns the period's range of local wall times, as "naive" Unix seconds (the wall time
// read as if it were UTC).
func (p period) wall() ival {
	lo, hi := p.start, p.end
	if lo != minSec {
		lo += p.off
	}
	if hi != maxSec {
		hi += p.off
	}
	return ival{lo, hi}
}

// periods appends to buf the offset periods of loc overlapping the instants [lo, hi), oldest
// first. Adjacent zone-database periods with the same offset (an abbreviation or is-DST change
// only, or an artificial bound reported by ZoneBounds) are merged: they do not move the wall
// clock.
func periods(loc *time.Location, lo, hi int64, buf []period) []period {
	first := len(buf)
	t := lo
	for {
		tt := time.Unix(t, 0).In(loc)
		name, off := tt.Zone()
		s, e := tt.ZoneBounds()
		p := period{start: t, end: maxSec, off: int64(off), name: name}
		if len(buf) == first { // later periods start where the previous one ended
			p.start = minSec
			if !s.IsZero() {
				p.start = min(s.Unix(), t)
			}
		}
		if !e.IsZero() {
			p.end = e.Unix()
			if p.end <= t {
				p.end = nextChange(loc, t, off)
			}
		}
		if n := len(buf); n > first && buf[n-1].off == p.off {
			buf[n-1].end = p.end
			buf[n-1].name = p.name // the name in force at the end (used for Slot.Nominal)
		} else {
			buf = append(buf, p)
		}
		if p.end >= hi {
			return buf
		}
		t = p.end
	}
}

// nextChange works around time.Time.ZoneBounds returning an end that is not after the instant
// (Go 1.26 computes the end of the last period of a year from the zone's TZ rule as the start
// of the year plus 365 days, which is December 31 in leap years). It returns the first instant
// after t whose offset differs from off, or the start of the next UTC year if the offset is
// the same there (a bound that merely splits a period). In that situation no transition of the
// TZ rule remains in t's year, so a bisection over (t, next year] finds the change, if any.
func nextChange(loc *time.Location, t int64, off int) int64 {
	y := time.Unix(t, 0).UTC().Year()
	probe := time.Date(y+1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	offAt := func(x int64) int { _, o := time.Unix(x, 0).In(loc).Zone(); return o }
	if offAt(probe) == off {
		return probe
	}
	a, b := t, probe // offAt(a) == off, offAt(b) != off
	for b-a > 1 {
		m := a + (b-a)/2
		if offAt(m) == off {
			a = m
		} else {
			b = m
		}
	}
	return b
}

// zoneWindow caches the offset periods of one location over a range of instants, so that
// consecutive days (and consecutive Next calls of Spec.Between and Spec.Count) share zone
// lookups, which are comparatively expensive for instants past the last explicit transition.
type zoneWindow struct {
	loc    *time.Location
	ps     []period
	lo, hi int64 // ps covers the instants [lo, hi)
}

// zoneWindowSpan is how far past a requested window the cache is filled.
const zoneWindowSpan = 35 * secondsPerDay

// get returns the periods overlapping the instants [lo, hi). The result aliases the cache.
func (z *zoneWindow) get(lo, hi int64) []period {
	if len(z.ps) == 0 || lo < z.lo || hi > z.hi {
		z.ps = periods(z.loc, lo, hi+zoneWindowSpan, z.ps[:0])
		z.lo, z.hi = lo, hi+zoneWindowSpan
	}
	i, j := 0, len(z.ps)
	for i < j && z.ps[i].end <= lo {
		i++
	}
	for j > i && z.ps[j-1].start >= hi {
		j--
	}
	return z.ps[i:j]
}

// ival is a half-open interval [lo, hi) of naive wall seconds.
type ival struct{ lo, hi int64 }

func (a ival) empty() bool { return a.lo >= a.hi }

func (a ival) intersect(b ival) ival {
	return ival{max(a.lo, b.lo), min(a.hi, b.hi)}
}

// subtract removes b from every interval of set, appending the result to out.
func subtract(out, set []ival, b ival) []ival {
	for _, a := range set {
		if b.empty() || a.hi <= b.lo || b.hi <= a.lo {
			out = append(out, a)
			continue
		}
		if a.lo < b.lo {
			out = append(out, ival{a.lo, b.lo})
		}
		if b.hi < a.hi {
			out = append(out, ival{b.hi, a.hi})
		}
	}
	return out
}

// subtractAll returns set minus the union of bs.
func subtractAll(set []ival, bs []ival) []ival {
	for _, b := range bs {
		if len(set) == 0 {
			break
		}
		set = subtract(nil, set, b)
	}
	return set
}

// source is a set of candidate slots of one local day: the matching wall times within
// [lo, hi). A normal source maps wall time w to the instant w - off; a gap source maps every
// matching wall time to the single instant at.
type source struct {
	lo, hi int64 // naive wall seconds
	off    int64
	gap    bool
	at     int64  // gap: the transition instant
	pre    period // gap: the period before the gap (for Nominal)
	dst    string
}

// daySources appends the candidate sources of the local day starting at naive second day0,
// given the periods ps that overlap the instants [day0-margin, day0+secondsPerDay+margin)
// (which include every period whose wall range meets the day). It implements SPEC §6.4:
//
//   - absolute schedules: every wall time shown by a period is a candidate at w - off; a wall
//     time already shown by an earlier period is a repeat (FoldRepeat); wall times shown by no
//     period produce nothing;
//   - wall-clock schedules: a wall time is a candidate only in the first period that shows it
//     (FoldFirst when a later period shows it again); a wall time that no period shows, lying in
//     the forward jump from period p to p+1, is a candidate at the transition instant p.end
//     (GapShifted).
func daySources(wallClock bool, ps []period, day0 int64, out []source) []source {
	day := ival{day0, day0 + secondsPerDay}
	var walls [8]ival
	w := walls[:0]
	for _, p := range ps {
		w = append(w, p.wall())
	}
	for i, p := range ps {
		base := w[i].intersect(day)
		if base.empty() {
			continue
		}
		fresh := subtractAll([]ival{base}, w[:i]) // not shown by an earlier period
		if !wallClock {
			for _, r := range fresh {
				out = append(out, source{lo: r.lo, hi: r.hi, off: p.off})
			}
			for _, r := range subtractAll([]ival{base}, fresh) {
				out = append(out, source{lo: r.lo, hi: r.hi, off: p.off, dst: FoldRepeat})
			}
			continue
		}
		for _, a := range fresh {
			once := subtractAll([]ival{a}, w[i+1:]) // not shown again later
			for _, r := range once {
				out = append(out, source{lo: r.lo, hi: r.hi, off: p.off})
			}
			for _, r := range subtractAll([]ival{a}, once) {
				out = append(out, source{lo: r.lo, hi: r.hi, off: p.off, dst: FoldFirst})
			}
		}
	}
	if !wallClock {
		return out
	}
	for i := 0; i+1 < len(ps); i++ {
		p, q := ps[i], ps[i+1]
		if q.off <= p.off {
			continue
		}
		g := ival{p.end + p.off, p.end + q.off}.intersect(day)
		if g.empty() {
			continue
		}
		for _, r := range subtractAll([]ival{g}, w) {
			out = append(out, source{lo: r.lo, hi: r.hi, gap: true, at: p.end, pre: p, dst: GapShifted})
		}
	}
	return out
}

// candidate is a slot under construction (Unix seconds).
type candidate struct {
	ok      bool
	at      int64
	dst     string
	nominal int64 // naive wall seconds, gap-shifted only
	pre     period
}

// consider folds c2 into c: the earlier instant wins; candidates at the same instant are one slot,
// gap-shifted if either is, with the earliest nominal time.
func (c *candidate) consider(c2 candidate) {
	switch {
	case !c.ok || c2.at < c.at:
		*c = c2
	case c2.at == c.at && c2.dst == GapShifted:
		if c.dst != GapShifted || c2.nominal < c.nominal {
			c.dst, c.nominal, c.pre = GapShifted, c2.nominal, c2.pre
		}
	}
}

// Next returns the first slot strictly after after, in location loc (nil means UTC). It
// reports false when there is no slot within 8 calendar years after after; with after = now,
// that is the "expression never fires" check of SPEC §3.2 rule 8.
func (c *Cron) Next(after time.Time, loc *time.Location) (Slot, bool) {
	return c.next(after, newZoneWindow(loc), after.UTC().AddDate(horizonYears, 0, 0).Unix())
}

func newZoneWindow(loc *time.Location) *zoneWindow {
	if loc == nil {
		loc = time.UTC
	}
	return &zoneWindow{loc: loc}
}

// FiresWithin reports whether the expression has a slot in (from, from+d] in location loc.
// Next(now, loc) reporting false is the same check over 8 calendar years.
func (c *Cron) FiresWithin(from time.Time, loc *time.Location, d time.Duration) bool {
	_, ok := c.next(from, newZoneWindow(loc), from.Add(d).Unix())
	return ok
}

// next returns the first slot s with after < s <= limit (Unix seconds).
//
// It walks local calendar days. The slots of the day starting at naive second day0 all lie in
// the instants [day0-margin, day0+secondsPerDay+margin), so the walk starts one day plus margin
// before after and stops once day0-margin passes the best slot found (or limit). Days that do
// not match the month and day fields cost a few integer operations; matching days cost one or
// two zone lookups plus a scan of at most 24 hour bits per source.
func (c *Cron) next(after time.Time, zw *zoneWindow, limit int64) (Slot, bool) {
	need := after.Unix() + 1 // slot instants are whole seconds
	var (
		best candidate
		ps   []period
		srcs []source
	)
	d := floorDiv(need-1-secondsPerDay-margin, secondsPerDay)
	for {
		day0 := d * secondsPerDay
		bound := limit
		if best.ok && best.at < bound {
			bound = best.at
		}
		if day0-margin > bound {
			break
		}
		y, m, dd := civilFromDays(d)
		if c.month&(1<<uint(m)) == 0 {
			d = daysFromCivil(y, m+1, 1) // next month (m+1 == 13 normalizes)
			continue
		}
		if !c.matchDay(int(m), int(dd), weekday(d)) {
			d++
			continue
		}
		ps = zw.get(day0-margin, day0+secondsPerDay+margin)
		srcs = daySources(c.wallClock, ps, day0, srcs[:0])
		for _, s := range srcs {
			if s.gap {
				if s.at < need {
					continue
				}
				if w := c.firstTime(s.lo-day0, s.hi-day0); w >= 0 {
					best.consider(candidate{ok: true, at: s.at, dst: GapShifted, nominal: day0 + w, pre: s.pre})
				}
				continue
			}
			if w := c.firstTime(max(s.lo, need+s.off)-day0, s.hi-day0); w >= 0 {
				best.consider(candidate{ok: true, at: day0 + w - s.off, dst: s.dst})
			}
		}
		d++
	}
	if !best.ok || best.at > limit {
		return Slot{}, false
	}
	at := time.Unix(best.at, 0).UTC()
	sl := Slot{At: at, Local: at.In(zw.loc), DST: best.dst}
	if best.dst == GapShifted {
		z := time.FixedZone(best.pre.name, int(best.pre.off))
		sl.Nominal = time.Unix(best.nominal-best.pre.off, 0).In(z)
	}
	return sl, true
}

// daysFromCivil returns the number of days since 1970-01-01 of the proleptic Gregorian date
// y-m-d. Months outside 1..12 are normalized (m = 13 is January of y+1).
func daysFromCivil(y, m, d int64) int64 {
	y += floorDiv(m-1, 12)
	m = floorMod(m-1, 12) + 1
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// weekday returns the day of the week (0 = Sunday) of the day z days after 1970-01-01.
func weekday(z int64) int { return int(floorMod(z+4, 7)) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }
