package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestEvery(t *testing.T) {
	anchor := mustTime(t, "2026-05-04T10:00:07Z")
	s := Spec{Mode: ModeEvery, Interval: 30 * time.Minute, Anchor: anchor}
	tests := []struct{ after, want string }{
		{"2026-05-04T09:00:00Z", "2026-05-04T10:30:07Z"}, // before the anchor: k = 1
		{"2026-05-04T10:00:07Z", "2026-05-04T10:30:07Z"}, // the anchor itself is not a slot
		{"2026-05-04T10:30:06.999Z", "2026-05-04T10:30:07Z"},
		{"2026-05-04T10:30:07Z", "2026-05-04T11:00:07Z"}, // strictly after
		{"2026-05-04T10:45:00Z", "2026-05-04T11:00:07Z"},
		{"2026-05-04T15:12:00Z", "2026-05-04T15:30:07Z"}, // after a downtime the phase is kept
		{"2026-11-01T05:59:00Z", "2026-11-01T06:00:07Z"}, // zones play no part
		{"2036-05-04T10:00:08Z", "2036-05-04T10:30:07Z"},
	}
	for _, tt := range tests {
		sl, ok := s.Next(mustTime(t, tt.after))
		if !ok || sl.At.Format(time.RFC3339) != tt.want || sl.DST != "" || !sl.Local.Equal(sl.At) {
			t.Errorf("Next(%s) = %s %v, want %s", tt.after, sl.At, ok, tt.want)
		}
	}
	// A non-UTC anchor is the same instant.
	s2 := s
	s2.Anchor = anchor.In(mustLoc(t, "Asia/Kolkata"))
	if sl, _ := s2.Next(anchor); sl.At.Format(time.RFC3339) != "2026-05-04T10:30:07Z" || sl.At.Location() != time.UTC {
		t.Errorf("non-UTC anchor: %s", sl.At)
	}
	// Location only affects Local.
	s2.Location = mustLoc(t, "Europe/Berlin")
	if sl, _ := s2.Next(anchor); sl.Local.Format(time.RFC3339) != "2026-05-04T12:30:07+02:00" {
		t.Errorf("Local = %s", sl.Local)
	}
	// Sub-second anchors and intervals keep their phase.
	s3 := Spec{Mode: ModeEvery, Interval: 1500 * time.Millisecond, Anchor: mustTime(t, "2026-01-01T00:00:00.25Z")}
	if sl, _ := s3.Next(mustTime(t, "2026-01-01T00:00:03Z")); sl.At.Format(time.RFC3339Nano) != "2026-01-01T00:00:03.25Z" { // 0.25 + 2×1.5
		t.Errorf("sub-second: %s", sl.At.Format(time.RFC3339Nano))
	}
	for _, iv := range []time.Duration{0, -time.Second} {
		bad := Spec{Mode: ModeEvery, Interval: iv, Anchor: anchor}
		if _, ok := bad.Next(anchor); ok {
			t.Errorf("interval %s: Next ok", iv)
		}
		if got := bad.Between(anchor, anchor.Add(time.Hour), 0); got != nil {
			t.Errorf("interval %s: Between = %v", iv, got)
		}
		if got := bad.Count(anchor, anchor.Add(time.Hour)); got != 0 {
			t.Errorf("interval %s: Count = %d", iv, got)
		}
	}
}

// TestEveryBetweenDowntime: an every-1s job down for 24h.
func TestEveryBetweenDowntime(t *testing.T) {
	anchor := mustTime(t, "2026-05-04T10:00:00.5Z")
	s := Spec{Mode: ModeEvery, Interval: time.Second, Anchor: anchor}
	after := mustTime(t, "2026-05-05T09:00:00Z")
	until := after.Add(24 * time.Hour)

	if n := s.Count(after, until); n != 86400 {
		t.Errorf("Count = %d, want 86400", n)
	}
	all := s.Between(after, until, 0)
	if len(all) != 86400 {
		t.Fatalf("len(Between) = %d, want 86400", len(all))
	}
	if got := all[0].At.Format(time.RFC3339Nano); got != "2026-05-05T09:00:00.5Z" {
		t.Errorf("first = %s", got)
	}
	if got := all[len(all)-1].At.Format(time.RFC3339Nano); got != "2026-05-06T08:59:59.5Z" {
		t.Errorf("last = %s", got)
	}
	for i := 1; i < len(all); i++ {
		if all[i].At.Sub(all[i-1].At) != time.Second {
			t.Fatalf("gap at %d: %s -> %s", i, all[i-1].At, all[i].At)
		}
	}
	capped := s.Between(after, until, 10)
	if len(capped) != 10 || !capped[0].At.Equal(all[0].At) || !capped[9].At.Equal(all[9].At) {
		t.Errorf("Between(max 10) = %d slots from %s", len(capped), capped[0].At)
	}
	// Bounds: (after, until] with slots exactly on both ends.
	a, u := mustTime(t, "2026-05-05T09:00:00.5Z"), mustTime(t, "2026-05-05T09:00:03.5Z")
	if got := s.Between(a, u, 0); len(got) != 3 || !got[2].At.Equal(u) || !got[0].At.Equal(a.Add(time.Second)) {
		t.Errorf("Between on slot bounds = %v", got)
	}
	if n := s.Count(a, u); n != 3 {
		t.Errorf("Count on slot bounds = %d", n)
	}
	// Ranges before the first slot, empty and reversed ranges.
	if n := s.Count(anchor.Add(-time.Hour), anchor.Add(time.Second)); n != 1 {
		t.Errorf("Count from before anchor = %d, want 1", n)
	}
	if n := s.Count(anchor.Add(-time.Hour), anchor.Add(999*time.Millisecond)); n != 0 {
		t.Errorf("Count before the first slot = %d, want 0", n)
	}
	if got := s.Between(u, a, 0); got != nil {
		t.Errorf("reversed Between = %v", got)
	}
	if n := s.Count(a, a); n != 0 {
		t.Errorf("empty Count = %d", n)
	}
}

func TestAt(t *testing.T) {
	at := mustTime(t, "2026-07-01T12:00:00+02:00")
	s := Spec{Mode: ModeAt, At: at}
	sl, ok := s.Next(at.Add(-time.Nanosecond))
	if !ok || sl.At.Format(time.RFC3339) != "2026-07-01T10:00:00Z" || sl.At.Location() != time.UTC {
		t.Errorf("Next before = %s %v", sl.At, ok)
	}
	if _, ok := s.Next(at); ok {
		t.Error("Next at the instant is not strictly after")
	}
	if _, ok := s.Next(at.Add(time.Hour)); ok {
		t.Error("Next after the instant")
	}
	if got := s.Between(at.Add(-time.Hour), at, 5); len(got) != 1 || !got[0].At.Equal(at) {
		t.Errorf("Between including = %v", got)
	}
	if got := s.Between(at, at.Add(time.Hour), 5); got != nil {
		t.Errorf("Between excluding = %v", got)
	}
	if s.Count(at.Add(-time.Hour), at) != 1 || s.Count(at, at.Add(time.Hour)) != 0 || s.Count(at.Add(-time.Hour), at.Add(-time.Second)) != 0 {
		t.Error("Count")
	}
}

func TestCronCountAndBetween(t *testing.T) {
	// SPEC §6.6 example: 0 * * * * in UTC, down from 09:30 to 14:20 -> 10:00 … 14:00.
	s := Spec{Mode: ModeCron, Cron: mustCron(t, "0 * * * *")}
	after, until := mustTime(t, "2026-05-04T09:30:00Z"), mustTime(t, "2026-05-04T14:20:00Z")
	if n := s.Count(after, until); n != 5 {
		t.Errorf("Count = %d, want 5", n)
	}
	var got []string
	for _, sl := range s.Between(after, until, 3) {
		got = append(got, sl.At.Format("15:04"))
	}
	if strings.Join(got, ",") != "10:00,11:00,12:00" {
		t.Errorf("Between max 3 = %v", got)
	}

	ny := mustLoc(t, "America/New_York")
	day := func(d string) (time.Time, time.Time) {
		start, err := time.ParseInLocation("2006-01-02", d, ny)
		if err != nil {
			t.Fatal(err)
		}
		return start.Add(-time.Second), start.AddDate(0, 0, 1).Add(-time.Second)
	}
	tests := []struct {
		expr, date string
		want       int
	}{
		{"*/30 * * * *", "2026-03-08", 46},      // 23-hour day
		{"*/30 * * * *", "2026-11-01", 50},      // 25-hour day, 01:00 and 01:30 twice
		{"0,30 0-23 * * *", "2026-03-08", 46},   // wall-clock: 02:00, 02:30 and 03:00 are one slot
		{"0,30 0-23 * * *", "2026-11-01", 48},   // wall-clock: each wall time once
		{"0,30 0-23 * * *", "2026-11-02", 48},   // ordinary day
		{"* * * * *", "2026-11-01", 25 * 60},    // absolute, every minute
		{"0-59 0-23 * * *", "2026-11-01", 1440}, // wall-clock, every minute
		{"0-59 0-23 * * *", "2026-03-08", 1380}, // 1440 - 60: the 60 gap minutes collapse onto 03:00
	}
	for _, tt := range tests {
		s := Spec{Mode: ModeCron, Cron: mustCron(t, tt.expr), Location: ny}
		a, u := day(tt.date)
		if n := s.Count(a, u); n != tt.want {
			t.Errorf("%s on %s: Count = %d, want %d", tt.expr, tt.date, n, tt.want)
		}
		if n := len(s.Between(a, u, 0)); n != tt.want {
			t.Errorf("%s on %s: len(Between) = %d, want %d", tt.expr, tt.date, n, tt.want)
		}
	}
}

func TestSpecUnusable(t *testing.T) {
	now := mustTime(t, "2026-01-01T00:00:00Z")
	for _, s := range []Spec{{}, {Mode: "daily"}, {Mode: ModeCron}} {
		if _, ok := s.Next(now); ok {
			t.Errorf("%+v: Next ok", s)
		}
		if s.Between(now, now.Add(time.Hour), 0) != nil || s.Count(now, now.Add(time.Hour)) != 0 {
			t.Errorf("%+v: slots", s)
		}
	}
}

func TestLoadLocation(t *testing.T) {
	for _, name := range []string{"", "Local", "Mars/Base", "../../etc/passwd", "/etc/localtime", "america/new_york", "America/"} {
		_, err := LoadLocation(name)
		want := `unknown time zone "` + name + `"`
		if err == nil || err.Error() != want {
			t.Errorf("LoadLocation(%q) error = %v, want %s", name, err, want)
		}
	}
	if loc, err := LoadLocation("UTC"); err != nil || loc != time.UTC {
		t.Errorf("UTC: %v %v", loc, err)
	}
	a := mustLoc(t, "America/New_York")
	if b := mustLoc(t, "America/New_York"); a != b || a.String() != "America/New_York" {
		t.Errorf("cache: %p %p %s", a, b, a)
	}
	names := ZoneNames()
	if len(names) < 300 {
		t.Fatalf("only %d zones", len(names))
	}
	for _, n := range names {
		if _, err := LoadLocation(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

func TestParseInterval(t *testing.T) {
	for in, want := range map[string]time.Duration{"30m": 30 * time.Minute, "1h30m": 90 * time.Minute, "1s": time.Second, "500ms": 500 * time.Millisecond, "-5m": -5 * time.Minute} {
		if d, err := ParseInterval(in); err != nil || d != want {
			t.Errorf("ParseInterval(%q) = %s, %v", in, d, err)
		}
	}
	for in, detail := range map[string]string{"": `invalid duration ""`, "5": `missing unit in duration "5"`, "abc": `invalid duration "abc"`, "1d": `unknown unit "d" in duration "1d"`} {
		if _, err := ParseInterval(in); err == nil || err.Error() != detail {
			t.Errorf("ParseInterval(%q) error = %v, want %s", in, err, detail)
		}
	}
}

// TestOffsetsWithinMargin guards the assumption of next (|UTC offset| < margin) for every zone
// of the embedded database between 1800 and 2200.
func TestOffsetsWithinMargin(t *testing.T) {
	if testing.Short() {
		t.Skip("scans the whole zone database")
	}
	end := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxOff := 0
	for _, name := range ZoneNames() {
		loc := mustLoc(t, name)
		for sec := time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC).Unix(); sec < end; {
			tt := time.Unix(sec, 0).In(loc)
			_, off := tt.Zone()
			maxOff = max(maxOff, off, -off)
			_, e := tt.ZoneBounds()
			switch {
			case e.IsZero():
				sec = end
			case e.Unix() <= sec:
				sec += secondsPerDay
			default:
				sec = e.Unix()
			}
		}
	}
	if maxOff >= margin-secondsPerDay/2 {
		t.Errorf("largest offset %s is too close to margin %s", time.Duration(maxOff)*time.Second, time.Duration(margin)*time.Second)
	}
	t.Logf("largest |offset| %s", time.Duration(maxOff)*time.Second)
}
