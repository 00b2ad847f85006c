package schedule

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// tzType is one local time type of a synthetic zone.
type tzType struct {
	off  int // seconds east of UTC
	abbr string
}

// makeZone builds a location from TZif version 1 data: types[0] is in force before the first
// transition, and at trans[i] the zone switches to types[idx[i]].
func makeZone(t testing.TB, name string, types []tzType, trans []string, idx []uint8) *time.Location {
	t.Helper()
	var chars []byte
	var ttinfo []byte
	for _, ty := range types {
		ttinfo = binary.BigEndian.AppendUint32(ttinfo, uint32(int32(ty.off)))
		ttinfo = append(ttinfo, 0, byte(len(chars)))
		chars = append(append(chars, ty.abbr...), 0)
	}
	b := []byte("TZif")
	b = append(b, make([]byte, 16)...) // version 0 (v1 data only) and 15 reserved bytes
	for _, n := range []int{0, 0, 0, len(trans), len(types), len(chars)} {
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	for _, s := range trans {
		b = binary.BigEndian.AppendUint32(b, uint32(int32(mustTime(t, s).Unix())))
	}
	b = append(b, idx...)
	b = append(b, ttinfo...)
	b = append(b, chars...)
	loc, err := time.LoadLocationFromTZData(name, b)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// midnightGapZone jumps from +00 to +01 at 2026-06-01T23:30:00Z: local 2026-06-01 23:30 to
// 2026-06-02 00:30 does not exist, a gap that straddles midnight.
func midnightGapZone(t testing.TB) *time.Location {
	return makeZone(t, "Test/MidnightGap", []tzType{{0, "AAA"}, {3600, "BBB"}},
		[]string{"2026-06-01T23:30:00Z"}, []uint8{1})
}

// gapThenFoldZone jumps from +00 to +02 at 2026-06-01T10:00:00Z (local 10:00 -> 12:00) and back
// to +00 half an hour later, at 10:30:00Z (local 12:30 -> 10:30). Local 10:00-10:29 never
// exists; 10:30-11:59 is jumped over but occurs after the second change; 12:00-12:29 occurs
// twice.
func gapThenFoldZone(t testing.TB) *time.Location {
	return makeZone(t, "Test/GapThenFold", []tzType{{0, "AAA"}, {7200, "CCC"}},
		[]string{"2026-06-01T10:00:00Z", "2026-06-01T10:30:00Z"}, []uint8{1, 0})
}

func TestSyntheticZones(t *testing.T) {
	type tc struct {
		expr, after, until string
		want               []string
	}
	run := func(t *testing.T, loc *time.Location, cases []tc) {
		for _, tt := range cases {
			s := Spec{Mode: ModeCron, Cron: mustCron(t, tt.expr), Location: loc}
			var got []string
			for _, sl := range s.Between(mustTime(t, tt.after), mustTime(t, tt.until), 0) {
				got = append(got, fmtSlot(sl))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("%s: got\n  %s\nwant\n  %s", tt.expr, strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		}
	}
	t.Run("midnight gap", func(t *testing.T) {
		run(t, midnightGapZone(t), []tc{
			{"45 23 * * *", "2026-06-01T00:00:00Z", "2026-06-02T23:59:00Z", []string{
				"2026-06-01T23:30:00Z 2026-06-02T00:30:00+01:00 gap_shifted 2026-06-01T23:45:00",
				"2026-06-02T22:45:00Z 2026-06-02T23:45:00+01:00",
			}},
			{"15 0 * * *", "2026-06-01T00:00:00Z", "2026-06-02T23:00:00Z", []string{
				"2026-06-01T00:15:00Z 2026-06-01T00:15:00Z",
				"2026-06-01T23:30:00Z 2026-06-02T00:30:00+01:00 gap_shifted 2026-06-02T00:15:00",
			}},
			// Matches on both sides of midnight fall into one gap: one slot, the earliest nominal.
			{"15,45 0,23 * * *", "2026-06-01T22:00:00Z", "2026-06-02T00:00:00Z", []string{
				"2026-06-01T23:15:00Z 2026-06-01T23:15:00Z",
				"2026-06-01T23:30:00Z 2026-06-02T00:30:00+01:00 gap_shifted 2026-06-01T23:45:00",
				"2026-06-01T23:45:00Z 2026-06-02T00:45:00+01:00",
			}},
			// The day fields are those of the nominal date: only 06-02 matches.
			{"15,45 0,23 2 6 *", "2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z", []string{
				"2026-06-01T23:30:00Z 2026-06-02T00:30:00+01:00 gap_shifted 2026-06-02T00:15:00",
				"2026-06-01T23:45:00Z 2026-06-02T00:45:00+01:00",
			}},
		})
	})
	t.Run("gap then fold", func(t *testing.T) {
		run(t, gapThenFoldZone(t), []tc{
			{"15 10 * * *", "2026-06-01T00:00:00Z", "2026-06-01T23:00:00Z", []string{
				"2026-06-01T10:00:00Z 2026-06-01T12:00:00+02:00 gap_shifted 2026-06-01T10:15:00",
			}},
			// 10:45 is jumped over at 10:00Z but exists later: it is not gap-shifted.
			{"45 10 * * *", "2026-06-01T00:00:00Z", "2026-06-01T23:00:00Z", []string{
				"2026-06-01T10:45:00Z 2026-06-01T10:45:00Z",
			}},
			{"15 12 * * *", "2026-06-01T00:00:00Z", "2026-06-01T23:00:00Z", []string{
				"2026-06-01T10:15:00Z 2026-06-01T12:15:00+02:00 fold_first",
			}},
			// Slots come in instant order, not wall order.
			{"15,45 10,12 * * *", "2026-06-01T00:00:00Z", "2026-06-01T23:00:00Z", []string{
				"2026-06-01T10:00:00Z 2026-06-01T12:00:00+02:00 gap_shifted 2026-06-01T10:15:00",
				"2026-06-01T10:15:00Z 2026-06-01T12:15:00+02:00 fold_first",
				"2026-06-01T10:45:00Z 2026-06-01T10:45:00Z",
				"2026-06-01T12:45:00Z 2026-06-01T12:45:00Z",
			}},
			{"*/15 * * * *", "2026-06-01T09:50:00Z", "2026-06-01T12:30:00Z", []string{
				"2026-06-01T10:00:00Z 2026-06-01T12:00:00+02:00",
				"2026-06-01T10:15:00Z 2026-06-01T12:15:00+02:00",
				"2026-06-01T10:30:00Z 2026-06-01T10:30:00Z",
				"2026-06-01T10:45:00Z 2026-06-01T10:45:00Z",
				"2026-06-01T11:00:00Z 2026-06-01T11:00:00Z",
				"2026-06-01T11:15:00Z 2026-06-01T11:15:00Z",
				"2026-06-01T11:30:00Z 2026-06-01T11:30:00Z",
				"2026-06-01T11:45:00Z 2026-06-01T11:45:00Z",
				"2026-06-01T12:00:00Z 2026-06-01T12:00:00Z fold_repeat",
				"2026-06-01T12:15:00Z 2026-06-01T12:15:00Z fold_repeat",
				"2026-06-01T12:30:00Z 2026-06-01T12:30:00Z",
			}},
		})
	})
}

// TestPropSyntheticZones runs the brute-force comparison on the synthetic zones.
func TestPropSyntheticZones(t *testing.T) {
	zones := []*time.Location{midnightGapZone(t), gapThenFoldZone(t)}
	center := mustTime(t, "2026-06-01T10:00:00Z").Unix()
	rapid.Check(t, func(rt *rapid.T) {
		loc := rapid.SampledFrom(zones).Draw(rt, "zone")
		c := genCron(rt, []int{0, 10, 11, 12, 23}, []int{0, 15, 30, 45})
		after := time.Unix(center-rapid.Int64Range(0, 24*60).Draw(rt, "before")*60, 0)
		until := time.Unix(center+16*3600, 0)
		want := bruteSlots(c, loc, after.Unix(), until.Unix())
		var got []string
		for _, s := range (Spec{Mode: ModeCron, Cron: c, Location: loc}).Between(after, until, 0) {
			got = append(got, shortSlot(s))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			rt.Fatalf("%q in %s, (%s, %s]:\ngot:\n  %s\nwant:\n  %s", c, loc, after.UTC(), until.UTC(),
				strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	})
}

func TestCandidateMerge(t *testing.T) {
	var c candidate
	c.consider(candidate{ok: true, at: 100})
	c.consider(candidate{ok: true, at: 100, dst: GapShifted, nominal: 50})
	c.consider(candidate{ok: true, at: 100, dst: GapShifted, nominal: 40})
	c.consider(candidate{ok: true, at: 100, dst: GapShifted, nominal: 60})
	c.consider(candidate{ok: true, at: 100, dst: FoldFirst})
	c.consider(candidate{ok: true, at: 101})
	if !c.ok || c.at != 100 || c.dst != GapShifted || c.nominal != 40 {
		t.Errorf("merged = %+v", c)
	}
	c.consider(candidate{ok: true, at: 99})
	if c.at != 99 || c.dst != "" {
		t.Errorf("earlier = %+v", c)
	}
}
