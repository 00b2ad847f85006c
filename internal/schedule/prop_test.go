package schedule

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// propZones have DST or other offset changes between 2010 and 2030 (all with whole-minute offsets
// and transitions in that period, which bruteSlots relies on).
var propZones = []string{
	"America/New_York", "Europe/Berlin", "America/Santiago", "Australia/Lord_Howe", "Europe/Dublin",
	"Pacific/Apia", "Pacific/Chatham", "America/St_Johns", "Asia/Tehran", "America/Havana",
	"Africa/Casablanca", "Asia/Gaza", "Antarctica/Troll", "America/Nuuk", "Asia/Amman",
	"Europe/Moscow", "Pacific/Fakaofo", "America/Caracas", "Asia/Pyongyang", "Australia/Adelaide",
	"America/Asuncion", "Pacific/Norfolk", "Europe/London", "America/Scoresbysund", "Africa/Cairo",
	"America/Mexico_City", "UTC",
}

// genField draws one cron field: a comma list of *, n, a-b, */s, a-b/s and a/s items. Values
// are biased towards hot spots (the hours around midnight and early morning where transitions
// happen, the first and last minutes).
func genField(t *rapid.T, label string, lo, hi int, hot []int, starBias int, plain bool) string {
	if !plain && rapid.IntRange(0, 99).Draw(t, label+"*") < starBias {
		return "*"
	}
	val := func(l string) int {
		if len(hot) > 0 && rapid.Bool().Draw(t, l+"hot") {
			return rapid.SampledFrom(hot).Draw(t, l)
		}
		return rapid.IntRange(lo, hi).Draw(t, l)
	}
	n := rapid.IntRange(1, 3).Draw(t, label+"n")
	items := make([]string, n)
	for i := range items {
		a := val(label + "a")
		b := val(label + "b")
		if a > b {
			a, b = b, a
		}
		step := rapid.IntRange(1, max(1, (hi-lo)/2)).Draw(t, label+"step")
		kind := rapid.IntRange(0, 5).Draw(t, label+"kind")
		if plain { // numbers and ranges only
			kind = 1 + kind%3
		}
		switch kind {
		case 0:
			items[i] = "*"
		case 1, 2:
			items[i] = fmt.Sprint(a)
		case 3:
			items[i] = fmt.Sprintf("%d-%d", a, b)
		case 4:
			items[i] = fmt.Sprintf("*/%d", step)
		case 5:
			if rapid.Bool().Draw(t, label+"open") {
				items[i] = fmt.Sprintf("%d/%d", a, step)
			} else {
				items[i] = fmt.Sprintf("%d-%d/%d", a, b, step)
			}
		}
	}
	return strings.Join(items, ",")
}

// genCron draws a cron expression; hotHours and hotMinutes are added to the values the hour and
// minute fields favour.
func genCron(t *rapid.T, hotHours, hotMinutes []int) *Cron {
	var expr string
	if rapid.IntRange(0, 9).Draw(t, "alias?") == 0 {
		expr = rapid.SampledFrom([]string{"@hourly", "@daily", "@weekly", "@monthly", "@yearly"}).Draw(t, "alias")
	} else {
		wall := rapid.Bool().Draw(t, "wall-clock")
		expr = strings.Join([]string{
			genField(t, "min", 0, 59, append([]int{0, 15, 30, 45, 59}, hotMinutes...), 10, wall),
			genField(t, "hour", 0, 23, append([]int{0, 1, 2, 3, 23}, hotHours...), 15, wall),
			genField(t, "dom", 1, 31, []int{1, 29, 30, 31}, 75, false),
			genField(t, "month", 1, 12, nil, 80, false),
			genField(t, "dow", 0, 7, []int{0, 6, 7}, 75, false),
		}, " ")
	}
	c, err := ParseCron(expr)
	if err != nil {
		t.Fatalf("generated %q: %v", expr, err)
	}
	return c
}

// naive returns the local wall time of instant sec in loc as naive seconds.
func naive(loc *time.Location, sec int64) int64 {
	_, off := time.Unix(sec, 0).In(loc).Zone()
	return sec + int64(off)
}

// matchesWall reports whether the naive wall time w matches all five fields.
func matchesWall(c *Cron, w int64) bool {
	t := time.Unix(w, 0).UTC()
	return t.Second() == 0 && c.matchDay(int(t.Month()), t.Day(), int(t.Weekday())) && c.matchTime(t.Hour(), t.Minute())
}

func fmtWall(w int64) string { return time.Unix(w, 0).UTC().Format("2006-01-02T15:04:05") }

// bruteSlots is an independent reference for Between: it steps through every UTC minute in
// (after, until] (plus padding to see folds and gaps that straddle the ends) and applies the
// §6.4 rules to the wall clock it observes. It needs whole-minute offsets and transitions.
func bruteSlots(c *Cron, loc *time.Location, after, until int64) []string {
	const pad = 6 * 3600
	start := (after-pad)/60*60 - 60
	end := until + pad
	seenTotal := map[int64]int{}
	for t := start; t <= end; t += 60 {
		seenTotal[naive(loc, t)]++
	}
	seen := map[int64]bool{}
	prev := naive(loc, start-60)
	var out []string
	for t := start; t <= end; t += 60 {
		w := naive(loc, t)
		marker, nominal, has := "", int64(0), false
		if c.wallClock {
			for x := prev + 60; x < w; x += 60 { // wall minutes jumped over
				if seenTotal[x] == 0 && matchesWall(c, x) {
					marker, nominal, has = GapShifted, x, true
					break
				}
			}
			if matchesWall(c, w) && !seen[w] {
				has = true
				if marker == "" && seenTotal[w] > 1 {
					marker = FoldFirst
				}
			}
		} else if matchesWall(c, w) {
			has = true
			if seen[w] {
				marker = FoldRepeat
			}
		}
		seen[w] = true
		prev = w
		if has && t > after && t <= until {
			s := time.Unix(t, 0).UTC().Format(time.RFC3339)
			if marker != "" {
				s += " " + marker
			}
			if marker == GapShifted {
				s += " " + fmtWall(nominal)
			}
			out = append(out, s)
		}
	}
	return out
}

func shortSlot(s Slot) string {
	out := s.At.Format(time.RFC3339)
	if s.DST != "" {
		out += " " + s.DST
	}
	if n := s.NominalLocal(); n != "" {
		out += " " + n
	}
	return out
}

// nextOffsetChange returns the first instant after t (within about 8 years) at which loc's UTC
// offset changes.
func nextOffsetChange(loc *time.Location, t int64) (int64, bool) {
	offAt := func(x int64) int { _, o := time.Unix(x, 0).In(loc).Zone(); return o }
	for range 64 {
		_, e := time.Unix(t, 0).In(loc).ZoneBounds()
		switch {
		case e.IsZero():
			return 0, false
		case e.Unix() <= t: // see nextChange
			t += secondsPerDay
		case offAt(e.Unix()) != offAt(e.Unix()-1):
			return e.Unix(), true
		default:
			t = e.Unix()
		}
	}
	return 0, false
}

// TestPropMatchesBruteForce compares Between with the minute-stepping reference in a window of
// a day around a random offset change of a random zone.
func TestPropMatchesBruteForce(t *testing.T) {
	lo := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	rapid.Check(t, func(t *rapid.T) {
		zone := rapid.SampledFrom(propZones).Draw(t, "zone")
		loc, err := LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		center := rapid.Int64Range(lo, hi).Draw(t, "start")
		if tr, ok := nextOffsetChange(loc, center); ok {
			center = tr
		}
		// Favour the local wall times on both sides of the change.
		var hotH, hotM []int
		for _, x := range []int64{center - 60, center, center + 1800} {
			w := time.Unix(naive(loc, x), 0).UTC()
			hotH, hotM = append(hotH, w.Hour()), append(hotM, w.Minute())
		}
		c := genCron(t, hotH, hotM)
		before := rapid.Int64Range(0, 14*60).Draw(t, "before") * 60
		after := time.Unix(center-before-rapid.Int64Range(0, 59).Draw(t, "sec"), 0)
		until := time.Unix(center+12*3600, 0)
		want := bruteSlots(c, loc, after.Unix(), until.Unix())
		var got []string
		for _, s := range (Spec{Mode: ModeCron, Cron: c, Location: loc}).Between(after, until, 0) {
			got = append(got, shortSlot(s))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%q in %s, (%s, %s]:\ngot:\n  %s\nwant:\n  %s", c, zone, after.UTC(), until.UTC(),
				strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	})
}

// TestPropSequence iterates Next from random instants and checks the invariants of §6.4 on
// each slot.
func TestPropSequence(t *testing.T) {
	lo := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	rapid.Check(t, func(t *rapid.T) {
		c := genCron(t, nil, nil)
		zone := rapid.SampledFrom(propZones).Draw(t, "zone")
		loc, err := LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		prev := time.Unix(rapid.Int64Range(lo, hi).Draw(t, "start"), 0)
		stop := prev.AddDate(2, 0, 0)
		fired := map[int64]time.Time{} // wall-clock: fired wall time -> slot
		for i := 0; i < 50; i++ {
			s, ok := c.Next(prev, loc)
			if !ok || s.At.After(stop) {
				break
			}
			if !s.At.After(prev) {
				t.Fatalf("%q in %s: Next(%s) = %s, not increasing", c, zone, prev, s.At)
			}
			if !s.Local.Equal(s.At) || s.Local.Location() != loc || s.At.Location() != time.UTC {
				t.Fatalf("Local %s / At %s", s.Local, s.At)
			}
			sec := s.At.Unix()
			w := naive(loc, sec)
			realMatch := matchesWall(c, w)
			// Is the local wall time of this instant also shown by an earlier / a later instant?
			earlier, later := false, false
			for d := int64(60); d <= 3*3600; d += 60 {
				earlier = earlier || naive(loc, sec-d) == w
				later = later || naive(loc, sec+d) == w
			}
			switch s.DST {
			case "", FoldFirst, FoldRepeat:
				if !realMatch {
					t.Fatalf("%q in %s: slot %s (local %s) does not match", c, zone, s.At, s.Local)
				}
				if !s.Nominal.IsZero() {
					t.Fatalf("Nominal set on %q slot", s.DST)
				}
				if want := !c.WallClock() && earlier; (s.DST == FoldRepeat) != want {
					t.Fatalf("%q in %s: slot %s marker %q, repeat %v", c, zone, s.At, s.DST, want)
				}
				if want := c.WallClock() && later; (s.DST == FoldFirst) != want {
					t.Fatalf("%q in %s: slot %s marker %q, repeated later %v", c, zone, s.At, s.DST, want)
				}
				if c.WallClock() && earlier {
					t.Fatalf("%q in %s: wall-clock slot %s at a second occurrence", c, zone, s.At)
				}
			case GapShifted:
				if !c.WallClock() {
					t.Fatalf("gap_shifted on absolute %q", c)
				}
				_, offBefore := s.At.Add(-time.Second).In(loc).Zone()
				_, offAfter := s.Local.Zone()
				if offAfter <= offBefore { // offsets change at whole seconds: At is the transition
					t.Fatalf("%q in %s: gap slot %s is not a forward transition", c, zone, s.At)
				}
				nom := time.Date(s.Nominal.Year(), s.Nominal.Month(), s.Nominal.Day(), s.Nominal.Hour(), s.Nominal.Minute(), s.Nominal.Second(), 0, time.UTC).Unix()
				if !matchesWall(c, nom) {
					t.Fatalf("%q: nominal %s does not match", c, fmtWall(nom))
				}
				for d := int64(-16 * 3600); d <= 16*3600; d += 60 {
					if naive(loc, nom+d) == nom {
						t.Fatalf("%q in %s: nominal %s exists (at %s)", c, zone, fmtWall(nom), time.Unix(nom+d, 0).UTC())
					}
				}
				if nom < naive(loc, sec-1) || nom >= w {
					t.Fatalf("%q in %s: nominal %s is not in the gap before %s", c, zone, fmtWall(nom), s.Local)
				}
				w = nom
			default:
				t.Fatalf("unknown marker %q", s.DST)
			}
			if c.WallClock() {
				if other, dup := fired[w]; dup {
					t.Fatalf("%q in %s: wall time %s fired at %s and %s", c, zone, fmtWall(w), other, s.At)
				}
				fired[w] = s.At
				if s.DST == GapShifted && realMatch {
					fired[naive(loc, sec)] = s.At
				}
			}
			prev = s.At
		}
	})
}
