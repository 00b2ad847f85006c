package schedule

import (
	"strings"
	"testing"
	"time"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustCron(t testing.TB, expr string) *Cron {
	t.Helper()
	c, err := ParseCron(expr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tt, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// fmtSlot renders a slot as "<At> <Local>[ <DST>[ <nominal>]]".
func fmtSlot(s Slot) string {
	out := s.At.Format(time.RFC3339) + " " + s.Local.Format(time.RFC3339)
	if s.DST != "" {
		out += " " + s.DST
	}
	if n := s.NominalLocal(); n != "" {
		out += " " + n
	}
	return out
}

// dstCase lists the expected slots in (after, until]. Every expected instant is computed by hand
// from the transition data given in the comments (checked against the embedded tzdata by
// TestTransitionsUsedByTables).
type dstCase struct {
	name, zone, expr string
	after, until     string
	want             []string
}

func runDSTCases(t *testing.T, cases []dstCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			loc := mustLoc(t, tt.zone)
			spec := Spec{Mode: ModeCron, Cron: mustCron(t, tt.expr), Location: loc}
			after, until := mustTime(t, tt.after), mustTime(t, tt.until)
			var got []string
			for _, s := range spec.Between(after, until, 0) {
				got = append(got, fmtSlot(s))
				if s.At.Location() != time.UTC {
					t.Errorf("At %s is not UTC", s.At)
				}
				if !s.Local.Equal(s.At) || s.Local.Location() != loc {
					t.Errorf("Local %s is not At in %s", s.Local, loc)
				}
				if (s.DST == GapShifted) != !s.Nominal.IsZero() {
					t.Errorf("Nominal %v with marker %q", s.Nominal, s.DST)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("%s in %s, (%s, %s]:\ngot:\n  %s\nwant:\n  %s", tt.expr, tt.zone, tt.after, tt.until,
					strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if n := spec.Count(after, until); n != len(tt.want) {
				t.Errorf("Count = %d, want %d", n, len(tt.want))
			}
			// Next from each slot yields the following one.
			prev := after
			for i, w := range tt.want {
				s, ok := spec.Next(prev)
				if !ok || fmtSlot(s) != w {
					t.Errorf("Next #%d after %s = %s %v, want %s", i, prev, fmtSlot(s), ok, w)
					break
				}
				prev = s.At
			}
		})
	}
}

// TestSpecWorkedExamples is the table of SPEC §6.4. America/New_York 2026: DST starts
// 2026-03-08 at 07:00Z (02:00 EST -> 03:00 EDT; local 02:00-02:59 does not exist) and ends
// 2026-11-01 at 06:00Z (02:00 EDT -> 01:00 EST; local 01:00-01:59 occurs twice).
func TestSpecWorkedExamples(t *testing.T) {
	runDSTCases(t, []dstCase{
		{"gap day before, on, after", "America/New_York", "30 2 * * *",
			"2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z", []string{
				"2026-03-07T07:30:00Z 2026-03-07T02:30:00-05:00",                                 // 02:30 EST
				"2026-03-08T07:00:00Z 2026-03-08T03:00:00-04:00 gap_shifted 2026-03-08T02:30:00", // transition instant
				"2026-03-09T06:30:00Z 2026-03-09T02:30:00-04:00",                                 // 02:30 EDT
			}},
		{"two gap matches collapse", "America/New_York", "0,30 2 * * *",
			"2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z", []string{
				"2026-03-08T07:00:00Z 2026-03-08T03:00:00-04:00 gap_shifted 2026-03-08T02:00:00",
			}},
		{"shifted and real match coincide", "America/New_York", "0 2,3 * * *",
			"2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z", []string{
				"2026-03-08T07:00:00Z 2026-03-08T03:00:00-04:00 gap_shifted 2026-03-08T02:00:00",
			}},
		{"fold first only", "America/New_York", "30 1 * * *",
			"2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z", []string{
				"2026-11-01T05:30:00Z 2026-11-01T01:30:00-04:00 fold_first", // 01:30 EDT; 06:30Z (01:30 EST) is not a slot
				"2026-11-02T06:30:00Z 2026-11-02T01:30:00-05:00",
			}},
		{"absolute half-hourly over the gap", "America/New_York", "*/30 * * * *",
			"2026-03-08T05:45:00Z", "2026-03-08T07:30:00Z", []string{
				"2026-03-08T06:00:00Z 2026-03-08T01:00:00-05:00",
				"2026-03-08T06:30:00Z 2026-03-08T01:30:00-05:00",
				"2026-03-08T07:00:00Z 2026-03-08T03:00:00-04:00",
				"2026-03-08T07:30:00Z 2026-03-08T03:30:00-04:00",
			}},
		{"absolute half-hourly over the fold", "America/New_York", "*/30 * * * *",
			"2026-11-01T04:45:00Z", "2026-11-01T07:00:00Z", []string{
				"2026-11-01T05:00:00Z 2026-11-01T01:00:00-04:00",
				"2026-11-01T05:30:00Z 2026-11-01T01:30:00-04:00",
				"2026-11-01T06:00:00Z 2026-11-01T01:00:00-05:00 fold_repeat",
				"2026-11-01T06:30:00Z 2026-11-01T01:30:00-05:00 fold_repeat",
				"2026-11-01T07:00:00Z 2026-11-01T02:00:00-05:00",
			}},
		{"absolute hourly over the fold", "America/New_York", "0 * * * *",
			"2026-11-01T03:30:00Z", "2026-11-01T07:00:00Z", []string{
				"2026-11-01T04:00:00Z 2026-11-01T00:00:00-04:00",
				"2026-11-01T05:00:00Z 2026-11-01T01:00:00-04:00",
				"2026-11-01T06:00:00Z 2026-11-01T01:00:00-05:00 fold_repeat",
				"2026-11-01T07:00:00Z 2026-11-01T02:00:00-05:00",
			}},
		// America/Santiago 2026-09-06 04:00Z: -04 -> -03; local 2026-09-06 00:00-00:59 does not exist.
		{"daily at a midnight gap", "America/Santiago", "@daily",
			"2026-09-05T00:00:00Z", "2026-09-07T12:00:00Z", []string{
				"2026-09-05T04:00:00Z 2026-09-05T00:00:00-04:00",
				"2026-09-06T04:00:00Z 2026-09-06T01:00:00-03:00 gap_shifted 2026-09-06T00:00:00",
				"2026-09-07T03:00:00Z 2026-09-07T00:00:00-03:00",
			}},
	})
}

// TestNewYorkEdges covers the boundaries of the New York 2026 gap and fold.
func TestNewYorkEdges(t *testing.T) {
	runDSTCases(t, []dstCase{
		// 01:59 EST is the last minute before the gap: real, no marker.
		{"last minute before gap", "America/New_York", "59 1 * * *",
			"2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z", []string{
				"2026-03-08T06:59:00Z 2026-03-08T01:59:00-05:00",
			}},
		// 03:00 EDT is the first real time after the gap: the transition instant, no marker.
		{"first minute after gap", "America/New_York", "0 3 * * *",
			"2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z", []string{
				"2026-03-08T07:00:00Z 2026-03-08T03:00:00-04:00",
			}},
		// Wall-clock (no '*' or '/') although it names all 60 minutes of 02:xx: all collapse.
		{"whole gap hour wall-clock", "America/New_York", "0-59 2 * * *",
			"2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z", []string{
				"2026-03-08T07:00:00Z 2026-03-08T03:00:00-04:00 gap_shifted 2026-03-08T02:00:00",
			}},
		// Absolute: the non-existent 02:xx produce nothing; next is 02:00 EDT on 03-09.
		{"whole gap hour absolute", "America/New_York", "* 2 * * *",
			"2026-03-08T00:00:00Z", "2026-03-09T06:01:00Z", []string{
				"2026-03-09T06:00:00Z 2026-03-09T02:00:00-04:00",
				"2026-03-09T06:01:00Z 2026-03-09T02:01:00-04:00",
			}},
		// 01:00 EDT opens the fold: fold_first. 02:00 EDT does not exist as a wall time (EDT ends
		// at wall 02:00, exclusive) and 02:00 EST occurs once: no marker.
		{"fold boundaries", "America/New_York", "0 1,2 * * *",
			"2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", []string{
				"2026-11-01T05:00:00Z 2026-11-01T01:00:00-04:00 fold_first",
				"2026-11-01T07:00:00Z 2026-11-01T02:00:00-05:00",
			}},
		{"fold 00:59 and 01:59", "America/New_York", "59 0,1 * * *",
			"2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", []string{
				"2026-11-01T04:59:00Z 2026-11-01T00:59:00-04:00",
				"2026-11-01T05:59:00Z 2026-11-01T01:59:00-04:00 fold_first",
			}},
	})
}

// TestEuropeBerlin: 2026-03-29 01:00Z CET(+1) -> CEST(+2), local 02:00-02:59 missing;
// 2026-10-25 01:00Z CEST(+2) -> CET(+1), local 02:00-02:59 twice.
func TestEuropeBerlin(t *testing.T) {
	runDSTCases(t, []dstCase{
		{"gap", "Europe/Berlin", "30 2 * * *",
			"2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z", []string{
				"2026-03-28T01:30:00Z 2026-03-28T02:30:00+01:00",                                 // 02:30 CET
				"2026-03-29T01:00:00Z 2026-03-29T03:00:00+02:00 gap_shifted 2026-03-29T02:30:00", // transition
				"2026-03-30T00:30:00Z 2026-03-30T02:30:00+02:00",                                 // 02:30 CEST
			}},
		{"gap absolute quarter-hourly", "Europe/Berlin", "*/15 * * * *",
			"2026-03-29T00:30:00Z", "2026-03-29T01:15:00Z", []string{
				"2026-03-29T00:45:00Z 2026-03-29T01:45:00+01:00",
				"2026-03-29T01:00:00Z 2026-03-29T03:00:00+02:00",
				"2026-03-29T01:15:00Z 2026-03-29T03:15:00+02:00",
			}},
		{"fold", "Europe/Berlin", "30 2 * * *",
			"2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z", []string{
				"2026-10-24T00:30:00Z 2026-10-24T02:30:00+02:00",
				"2026-10-25T00:30:00Z 2026-10-25T02:30:00+02:00 fold_first", // 01:30Z (02:30 CET) is not a slot
				"2026-10-26T01:30:00Z 2026-10-26T02:30:00+01:00",
			}},
		{"fold absolute hourly", "Europe/Berlin", "0 * * * *",
			"2026-10-24T22:30:00Z", "2026-10-25T02:00:00Z", []string{
				"2026-10-24T23:00:00Z 2026-10-25T01:00:00+02:00",
				"2026-10-25T00:00:00Z 2026-10-25T02:00:00+02:00",
				"2026-10-25T01:00:00Z 2026-10-25T02:00:00+01:00 fold_repeat",
				"2026-10-25T02:00:00Z 2026-10-25T03:00:00+01:00",
			}},
		{"weekday wall-clock on gap Sunday", "Europe/Berlin", "15 2 * * SUN",
			"2026-03-21T00:00:00Z", "2026-04-06T00:00:00Z", []string{
				"2026-03-22T01:15:00Z 2026-03-22T02:15:00+01:00",
				"2026-03-29T01:00:00Z 2026-03-29T03:00:00+02:00 gap_shifted 2026-03-29T02:15:00",
				"2026-04-05T00:15:00Z 2026-04-05T02:15:00+02:00",
			}},
	})
}

// TestAmericaSantiago: 2026-04-05 03:00Z -03 -> -04, local 2026-04-04 23:00-23:59 twice;
// 2026-09-06 04:00Z -04 -> -03, local 2026-09-06 00:00-00:59 missing (midnight gap).
func TestAmericaSantiago(t *testing.T) {
	runDSTCases(t, []dstCase{
		{"fold before midnight", "America/Santiago", "30 23 * * *",
			"2026-04-03T12:00:00Z", "2026-04-06T12:00:00Z", []string{
				"2026-04-04T02:30:00Z 2026-04-03T23:30:00-03:00",
				"2026-04-05T02:30:00Z 2026-04-04T23:30:00-03:00 fold_first", // 03:30Z (23:30 -04) is not a slot
				"2026-04-06T03:30:00Z 2026-04-05T23:30:00-04:00",
			}},
		// Midnight of 04-05 follows the fold and occurs once, at 00:00 -04.
		{"daily after fold", "America/Santiago", "@daily",
			"2026-04-03T12:00:00Z", "2026-04-06T12:00:00Z", []string{
				"2026-04-04T03:00:00Z 2026-04-04T00:00:00-03:00",
				"2026-04-05T04:00:00Z 2026-04-05T00:00:00-04:00",
				"2026-04-06T04:00:00Z 2026-04-06T00:00:00-04:00",
			}},
		{"fold absolute hourly", "America/Santiago", "0 * * * *",
			"2026-04-05T01:30:00Z", "2026-04-05T04:00:00Z", []string{
				"2026-04-05T02:00:00Z 2026-04-04T23:00:00-03:00",
				"2026-04-05T03:00:00Z 2026-04-04T23:00:00-04:00 fold_repeat",
				"2026-04-05T04:00:00Z 2026-04-05T00:00:00-04:00",
			}},
		{"midnight gap 00:30", "America/Santiago", "30 0 * * *",
			"2026-09-05T00:00:00Z", "2026-09-07T12:00:00Z", []string{
				"2026-09-05T04:30:00Z 2026-09-05T00:30:00-04:00",
				"2026-09-06T04:00:00Z 2026-09-06T01:00:00-03:00 gap_shifted 2026-09-06T00:30:00",
				"2026-09-07T03:30:00Z 2026-09-07T00:30:00-03:00",
			}},
		// A Sunday-only @weekly: 2026-09-06 is a Sunday.
		{"weekly at the gap", "America/Santiago", "@weekly",
			"2026-08-29T00:00:00Z", "2026-09-14T00:00:00Z", []string{
				"2026-08-30T04:00:00Z 2026-08-30T00:00:00-04:00",
				"2026-09-06T04:00:00Z 2026-09-06T01:00:00-03:00 gap_shifted 2026-09-06T00:00:00",
				"2026-09-13T03:00:00Z 2026-09-13T00:00:00-03:00",
			}},
		{"gap absolute hourly", "America/Santiago", "0 * * * *",
			"2026-09-06T02:30:00Z", "2026-09-06T05:00:00Z", []string{
				"2026-09-06T03:00:00Z 2026-09-05T23:00:00-04:00",
				"2026-09-06T04:00:00Z 2026-09-06T01:00:00-03:00",
				"2026-09-06T05:00:00Z 2026-09-06T02:00:00-03:00",
			}},
	})
}

// TestAustraliaLordHowe has 30-minute DST: 2026-04-04 15:00Z +11 -> +10:30, local 2026-04-05
// 01:30-01:59 twice; 2026-10-03 15:30Z +10:30 -> +11, local 2026-10-04 02:00-02:29 missing.
func TestAustraliaLordHowe(t *testing.T) {
	runDSTCases(t, []dstCase{
		{"fold", "Australia/Lord_Howe", "45 1 * * *",
			"2026-04-03T00:00:00Z", "2026-04-06T00:00:00Z", []string{
				"2026-04-03T14:45:00Z 2026-04-04T01:45:00+11:00",
				"2026-04-04T14:45:00Z 2026-04-05T01:45:00+11:00 fold_first", // 15:15Z (+10:30) is not a slot
				"2026-04-05T15:15:00Z 2026-04-06T01:45:00+10:30",
			}},
		{"fold absolute quarter-hourly", "Australia/Lord_Howe", "*/15 * * * *",
			"2026-04-04T14:15:00Z", "2026-04-04T15:30:00Z", []string{
				"2026-04-04T14:30:00Z 2026-04-05T01:30:00+11:00",
				"2026-04-04T14:45:00Z 2026-04-05T01:45:00+11:00",
				"2026-04-04T15:00:00Z 2026-04-05T01:30:00+10:30 fold_repeat",
				"2026-04-04T15:15:00Z 2026-04-05T01:45:00+10:30 fold_repeat",
				"2026-04-04T15:30:00Z 2026-04-05T02:00:00+10:30",
			}},
		// The fold 01:30-01:59 contains no full hour: hourly slots have no marker and are an
		// hour and a half apart across the transition.
		{"fold absolute hourly", "Australia/Lord_Howe", "0 * * * *",
			"2026-04-04T12:30:00Z", "2026-04-04T16:30:00Z", []string{
				"2026-04-04T13:00:00Z 2026-04-05T00:00:00+11:00",
				"2026-04-04T14:00:00Z 2026-04-05T01:00:00+11:00",
				"2026-04-04T15:30:00Z 2026-04-05T02:00:00+10:30",
				"2026-04-04T16:30:00Z 2026-04-05T03:00:00+10:30",
			}},
		{"gap", "Australia/Lord_Howe", "15 2 * * *",
			"2026-10-02T00:00:00Z", "2026-10-05T00:00:00Z", []string{
				"2026-10-02T15:45:00Z 2026-10-03T02:15:00+10:30",
				"2026-10-03T15:30:00Z 2026-10-04T02:30:00+11:00 gap_shifted 2026-10-04T02:15:00",
				"2026-10-04T15:15:00Z 2026-10-05T02:15:00+11:00",
			}},
		// 02:00 is missing and 02:30 is the real time at the transition: one slot.
		{"gap shifted meets real", "Australia/Lord_Howe", "0,30 2 * * *",
			"2026-10-03T12:00:00Z", "2026-10-04T15:30:00Z", []string{
				"2026-10-03T15:30:00Z 2026-10-04T02:30:00+11:00 gap_shifted 2026-10-04T02:00:00",
				"2026-10-04T15:00:00Z 2026-10-05T02:00:00+11:00",
				"2026-10-04T15:30:00Z 2026-10-05T02:30:00+11:00",
			}},
		{"gap absolute half-hourly", "Australia/Lord_Howe", "*/30 * * * *",
			"2026-10-03T14:30:00Z", "2026-10-03T16:00:00Z", []string{
				"2026-10-03T15:00:00Z 2026-10-04T01:30:00+10:30",
				"2026-10-03T15:30:00Z 2026-10-04T02:30:00+11:00",
				"2026-10-03T16:00:00Z 2026-10-04T03:00:00+11:00",
			}},
	})
}

// TestEuropeDublin: the zone database models Irish time with a negative DST (IST +1 is
// standard, GMT in winter is "DST"). Only the offsets matter: 2026-03-29 01:00Z +0 -> +1, local
// 01:00-01:59 missing; 2026-10-25 01:00Z +1 -> +0, local 01:00-01:59 twice.
func TestEuropeDublin(t *testing.T) {
	runDSTCases(t, []dstCase{
		{"gap", "Europe/Dublin", "30 1 * * *",
			"2026-03-28T00:00:00Z", "2026-03-31T00:00:00Z", []string{
				"2026-03-28T01:30:00Z 2026-03-28T01:30:00Z",
				"2026-03-29T01:00:00Z 2026-03-29T02:00:00+01:00 gap_shifted 2026-03-29T01:30:00",
				"2026-03-30T00:30:00Z 2026-03-30T01:30:00+01:00",
			}},
		{"fold", "Europe/Dublin", "30 1 * * *",
			"2026-10-24T00:00:00Z", "2026-10-27T00:00:00Z", []string{
				"2026-10-24T00:30:00Z 2026-10-24T01:30:00+01:00",
				"2026-10-25T00:30:00Z 2026-10-25T01:30:00+01:00 fold_first",
				"2026-10-26T01:30:00Z 2026-10-26T01:30:00Z",
			}},
		{"fold absolute", "Europe/Dublin", "*/30 * * * *",
			"2026-10-24T23:30:00Z", "2026-10-25T02:00:00Z", []string{
				"2026-10-25T00:00:00Z 2026-10-25T01:00:00+01:00",
				"2026-10-25T00:30:00Z 2026-10-25T01:30:00+01:00",
				"2026-10-25T01:00:00Z 2026-10-25T01:00:00Z fold_repeat",
				"2026-10-25T01:30:00Z 2026-10-25T01:30:00Z fold_repeat",
				"2026-10-25T02:00:00Z 2026-10-25T02:00:00Z",
			}},
	})
}

// TestPacificApiaSkippedDay: 2011-12-30T10:00:00Z -10 -> +14; local 2011-12-29 23:59:59 is
// followed by 2011-12-31 00:00:00, so the whole of 2011-12-30 does not exist (see the package
// documentation).
func TestPacificApiaSkippedDay(t *testing.T) {
	runDSTCases(t, []dstCase{
		// 12-30 00:00 is missing -> the transition instant, which is also the real 12-31 00:00.
		{"daily", "Pacific/Apia", "@daily",
			"2011-12-28T12:00:00Z", "2012-01-01T09:00:00Z", []string{
				"2011-12-29T10:00:00Z 2011-12-29T00:00:00-10:00",
				"2011-12-30T10:00:00Z 2011-12-31T00:00:00+14:00 gap_shifted 2011-12-30T00:00:00",
				"2011-12-31T10:00:00Z 2012-01-01T00:00:00+14:00",
			}},
		{"noon", "Pacific/Apia", "0 12 * * *",
			"2011-12-29T00:00:00Z", "2011-12-31T23:00:00Z", []string{
				"2011-12-29T22:00:00Z 2011-12-29T12:00:00-10:00",
				"2011-12-30T10:00:00Z 2011-12-31T00:00:00+14:00 gap_shifted 2011-12-30T12:00:00",
				"2011-12-30T22:00:00Z 2011-12-31T12:00:00+14:00",
				"2011-12-31T22:00:00Z 2012-01-01T12:00:00+14:00",
			}},
		{"midnight and noon", "Pacific/Apia", "0 0,12 * * *",
			"2011-12-29T12:00:00Z", "2011-12-31T12:00:00Z", []string{
				"2011-12-29T22:00:00Z 2011-12-29T12:00:00-10:00",
				"2011-12-30T10:00:00Z 2011-12-31T00:00:00+14:00 gap_shifted 2011-12-30T00:00:00",
				"2011-12-30T22:00:00Z 2011-12-31T12:00:00+14:00",
				"2011-12-31T10:00:00Z 2012-01-01T00:00:00+14:00",
			}},
		// Only Dec 30: in 2011 that day does not exist, so it is gap-shifted.
		{"only the skipped date", "Pacific/Apia", "0 12 30 12 *",
			"2010-12-31T00:00:00Z", "2012-12-31T00:00:00Z", []string{
				"2011-12-30T10:00:00Z 2011-12-31T00:00:00+14:00 gap_shifted 2011-12-30T12:00:00",
				"2012-12-29T22:00:00Z 2012-12-30T12:00:00+14:00", // southern summer: DST, +14
			}},
		{"absolute hourly across the skipped day", "Pacific/Apia", "0 * * * *",
			"2011-12-30T08:30:00Z", "2011-12-30T11:00:00Z", []string{
				"2011-12-30T09:00:00Z 2011-12-29T23:00:00-10:00",
				"2011-12-30T10:00:00Z 2011-12-31T00:00:00+14:00",
				"2011-12-30T11:00:00Z 2011-12-31T01:00:00+14:00",
			}},
		// Absolute: no slot on the skipped day; the next Dec 30 is 2012.
		{"absolute only the skipped date", "Pacific/Apia", "0 */12 30 12 *",
			"2011-01-01T00:00:00Z", "2012-12-31T00:00:00Z", []string{
				"2012-12-29T10:00:00Z 2012-12-30T00:00:00+14:00",
				"2012-12-29T22:00:00Z 2012-12-30T12:00:00+14:00",
			}},
	})
}

// TestTransitionsUsedByTables pins the zone data the hand-computed tables rely on.
func TestTransitionsUsedByTables(t *testing.T) {
	tests := []struct {
		zone          string
		at            string // transition instant
		before, after int    // UTC offsets in minutes
	}{
		{"America/New_York", "2026-03-08T07:00:00Z", -300, -240},
		{"America/New_York", "2026-11-01T06:00:00Z", -240, -300},
		{"Europe/Berlin", "2026-03-29T01:00:00Z", 60, 120},
		{"Europe/Berlin", "2026-10-25T01:00:00Z", 120, 60},
		{"America/Santiago", "2026-04-05T03:00:00Z", -180, -240},
		{"America/Santiago", "2026-09-06T04:00:00Z", -240, -180},
		{"Australia/Lord_Howe", "2026-04-04T15:00:00Z", 660, 630},
		{"Australia/Lord_Howe", "2026-10-03T15:30:00Z", 630, 660},
		{"Europe/Dublin", "2026-03-29T01:00:00Z", 0, 60},
		{"Europe/Dublin", "2026-10-25T01:00:00Z", 60, 0},
		{"Pacific/Apia", "2011-12-30T10:00:00Z", -600, 840},
	}
	for _, tt := range tests {
		loc := mustLoc(t, tt.zone)
		at := mustTime(t, tt.at)
		_, b := at.Add(-time.Second).In(loc).Zone()
		_, a := at.In(loc).Zone()
		if b/60 != tt.before || a/60 != tt.after {
			t.Errorf("%s at %s: offsets %d -> %d min, want %d -> %d", tt.zone, tt.at, b/60, a/60, tt.before, tt.after)
		}
		if start, _ := at.In(loc).ZoneBounds(); !start.Equal(at) {
			t.Errorf("%s: no transition at %s (zone starts %s)", tt.zone, tt.at, start)
		}
	}
}

// TestNextBoundaries checks "strictly after" and sub-second inputs.
func TestNextBoundaries(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	c := mustCron(t, "30 1 * * *")
	// From the fold_first slot itself: the repeated 01:30 EST (06:30Z) is not a slot.
	s, ok := c.Next(mustTime(t, "2026-11-01T05:30:00Z"), ny)
	if !ok || fmtSlot(s) != "2026-11-02T06:30:00Z 2026-11-02T01:30:00-05:00" {
		t.Errorf("Next after fold_first = %s", fmtSlot(s))
	}
	// From between the two occurrences.
	s, _ = c.Next(mustTime(t, "2026-11-01T06:00:00Z"), ny)
	if got := s.At.Format(time.RFC3339); got != "2026-11-02T06:30:00Z" {
		t.Errorf("Next between occurrences = %s", got)
	}
	g := mustCron(t, "30 2 * * *")
	for _, after := range []string{"2026-03-08T06:59:59.999999999Z", "2026-03-08T06:00:00Z", "2026-03-07T07:30:00Z"} {
		s, _ = g.Next(mustTime(t, after), ny)
		if got := fmtSlot(s); got != "2026-03-08T07:00:00Z 2026-03-08T03:00:00-04:00 gap_shifted 2026-03-08T02:30:00" {
			t.Errorf("Next(%s) = %s", after, got)
		}
	}
	s, _ = g.Next(mustTime(t, "2026-03-08T07:00:00Z"), ny)
	if got := s.At.Format(time.RFC3339); got != "2026-03-09T06:30:00Z" {
		t.Errorf("Next from gap slot = %s", got)
	}
	// Nominal carries the nominal wall fields in the zone in force before the gap.
	s, _ = g.Next(mustTime(t, "2026-03-08T00:00:00Z"), ny)
	if name, off := s.Nominal.Zone(); name != "EST" || off != -5*3600 || s.Nominal.Hour() != 2 || s.Nominal.Minute() != 30 || s.Nominal.Day() != 8 {
		t.Errorf("Nominal = %s (%s %d)", s.Nominal, name, off)
	}
	// Sub-second after: a slot at the same second is not strictly after.
	u := mustCron(t, "* * * * *")
	s, _ = u.Next(mustTime(t, "2026-01-01T00:00:00.5Z"), nil)
	if got := s.At.Format(time.RFC3339Nano); got != "2026-01-01T00:01:00Z" {
		t.Errorf("Next(00:00:00.5) = %s", got)
	}
	s, _ = u.Next(mustTime(t, "2025-12-31T23:59:59.5Z"), nil)
	if got := s.At.Format(time.RFC3339Nano); got != "2026-01-01T00:00:00Z" || s.Local.Location() != time.UTC {
		t.Errorf("Next(23:59:59.5) = %s", got)
	}
	// A non-UTC input instant is handled by instant, not by its wall clock.
	s, _ = u.Next(mustTime(t, "2026-01-01T05:30:10+05:30"), time.UTC)
	if got := s.At.Format(time.RFC3339); got != "2026-01-01T00:01:00Z" {
		t.Errorf("Next(+05:30 input) = %s", got)
	}
}

func TestNeverFires(t *testing.T) {
	from := mustTime(t, "2026-06-01T00:00:00Z")
	eight := 8 * 365 * 24 * time.Hour
	for _, expr := range []string{"0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 2 *", "0 0 30,31 2 *"} {
		c := mustCron(t, expr)
		if c.FiresWithin(from, time.UTC, eight) {
			t.Errorf("%s fires", expr)
		}
		if s, ok := c.Next(from, mustLoc(t, "America/New_York")); ok {
			t.Errorf("%s: Next = %s", expr, s.At)
		}
	}
	// Feb 29 on a Sunday or a plain Sunday: restricted both, either matches.
	for _, expr := range []string{"0 0 29 2 *", "0 0 29 2 0", "0 0 31 2 1", "@yearly"} {
		if !mustCron(t, expr).FiresWithin(from, time.UTC, eight) {
			t.Errorf("%s never fires", expr)
		}
	}
	// 2100 is not a leap year: from 2096-03-01 the next Feb 29 is 2104, within 8 years.
	s, ok := mustCron(t, "0 0 29 2 *").Next(mustTime(t, "2096-03-01T00:00:00Z"), nil)
	if !ok || s.At.Format(time.RFC3339) != "2104-02-29T00:00:00Z" {
		t.Errorf("Feb 29 after 2096: %s %v", s.At, ok)
	}
	// The horizon is inclusive and exact.
	c := mustCron(t, "0 0 1 1 *")
	if !c.FiresWithin(mustTime(t, "2026-01-01T00:00:00Z"), nil, 365*24*time.Hour) {
		t.Error("2027-01-01 is within 365 days of 2026-01-01")
	}
	if c.FiresWithin(mustTime(t, "2026-01-01T00:00:00Z"), nil, 365*24*time.Hour-time.Nanosecond) {
		t.Error("2027-01-01 is not within 365d-1ns of 2026-01-01")
	}
}
