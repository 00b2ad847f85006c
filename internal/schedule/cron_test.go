package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParseCronAccepts(t *testing.T) {
	tests := []struct {
		expr      string
		wallClock bool
	}{
		{"* * * * *", false},
		{"30 2 * * *", true},
		{"0 9,17 * * 1-5", true},
		{"*/15 * * * *", false},
		{"0 * * * *", false},
		{"0 */2 * * *", false},
		{"0-59 2 * * *", true},
		{"5/15 3 * * *", false},
		{"0 0-23/6 * * *", false},
		{"  0   12 1,15  *  MON-fri ", true},
		{"0 0 * jan-MAR,Dec sun", true},
		{"0 0 * * 7", true},
		{"0 0 1-31/2 * *", true},
		{"59 23 31 12 6", true},
		{"0\t0\t*\t*\t*", true},
		{"@hourly", false},
		{"@daily", true},
		{"@midnight", true},
		{"@weekly", true},
		{"@monthly", true},
		{"@yearly", true},
		{"@annually", true},
		{"@DAILY", true},
		{"0 0 * * */100", true},
	}
	for _, tt := range tests {
		c, err := ParseCron(tt.expr)
		if err != nil {
			t.Errorf("ParseCron(%q): %v", tt.expr, err)
			continue
		}
		if c.WallClock() != tt.wallClock {
			t.Errorf("ParseCron(%q).WallClock() = %v, want %v", tt.expr, c.WallClock(), tt.wallClock)
		}
		if c.String() != strings.TrimSpace(tt.expr) {
			t.Errorf("String() = %q", c.String())
		}
	}
}

func TestParseCronRejects(t *testing.T) {
	tests := []struct{ expr, detail string }{
		{"", "expression is empty"},
		{"   ", "expression is empty"},
		{"* * * *", "expected 5 fields, got 4"},
		{"0 * * * * *", "expected 5 fields, got 6 (a seconds field is not supported)"},
		{"0 0 * * * * 2026", "expected 5 fields, got 7"},
		{"0 0 ? * *", `day of month field "?": "?" is not supported`},
		{"0 0 * * ?", `day of week field "?": "?" is not supported`},
		{"0 0 L * *", `day of month field "L": "L" is not supported`},
		{"0 0 15L * *", `day of month field "15L": "L" is not supported`},
		{"0 0 * * 5L", `day of week field "5L": "L" is not supported`},
		{"0 0 LW * *", `day of month field "LW": "L" is not supported`},
		{"0 0 15W * *", `day of month field "15W": "W" is not supported`},
		{"0 0 * * 1#2", `day of week field "1#2": "#" is not supported`},
		{"@every 5m", `@every is not supported (use schedule.mode "every")`},
		{"@reboot", "@reboot is not supported"},
		{"@fortnightly", `unknown alias "@fortnightly"`},
		{"@daily 0", `unexpected text after @daily: "0"`},
		{"CRON_TZ=UTC 0 0 * * *", "CRON_TZ= and TZ= prefixes are not supported (use schedule.timezone)"},
		{"TZ=Europe/Berlin 0 0 * * *", "CRON_TZ= and TZ= prefixes are not supported (use schedule.timezone)"},
		{"cron_tz=UTC 0 0 * * *", "CRON_TZ= and TZ= prefixes are not supported (use schedule.timezone)"},
		{"60 * * * *", `minute field "60": value 60 out of range 0-59`},
		{"0 24 * * *", `hour field "24": value 24 out of range 0-23`},
		{"0 0 0 * *", `day of month field "0": value 0 out of range 1-31`},
		{"0 0 32 * *", `day of month field "32": value 32 out of range 1-31`},
		{"0 0 * 0 *", `month field "0": value 0 out of range 1-12`},
		{"0 0 * 13 *", `month field "13": value 13 out of range 1-12`},
		{"0 0 * * 8", `day of week field "8": value 8 out of range 0-7`},
		{"0 5-3 * * *", `hour field "5-3": range 5-3 is reversed`},
		{"0 0 * * FRI-MON", `day of week field "FRI-MON": range FRI-MON is reversed`},
		{"*/0 * * * *", `minute field "*/0": step must be at least 1`},
		{"0-30/0 * * * *", `minute field "0-30/0": step must be at least 1`},
		{"*/ * * * *", `minute field "*/": invalid step ""`},
		{"*/x * * * *", `minute field "*/x": invalid step "x"`},
		{"*/-1 * * * *", `minute field "*/-1": invalid step "-1"`},
		{"*/99999999999999999999 * * * *", `minute field "*/99999999999999999999": invalid step "99999999999999999999"`},
		{"1,,2 * * * *", `minute field "1,,2": empty list element`},
		{"-5 * * * *", `minute field "-5": missing value`},
		{"5- * * * *", `minute field "5-": missing value`},
		{"1-2-3 * * * *", `minute field "1-2-3": invalid value "2-3"`},
		{"JAN * * * *", `minute field "JAN": invalid value "JAN"`},
		{"0 0 * * MONDAY", `day of week field "MONDAY": invalid value "MONDAY"`},
		{"0 0 * MON *", `month field "MON": invalid value "MON"`},
		{"0 0 * * W", `day of week field "W": invalid value "W"`},
		{"+5 * * * *", `minute field "+5": invalid value "+5"`},
		{"99999999999999999999 * * * *", `minute field "99999999999999999999": value 99999999999999999999 out of range 0-59`},
		{"*/5/2 * * * *", `minute field "*/5/2": invalid step "5/2"`},
	}
	for _, tt := range tests {
		_, err := ParseCron(tt.expr)
		if err == nil {
			t.Errorf("ParseCron(%q) succeeded, want error %q", tt.expr, tt.detail)
			continue
		}
		if err.Error() != tt.detail {
			t.Errorf("ParseCron(%q) error = %q, want %q", tt.expr, err.Error(), tt.detail)
		}
	}
}

// TestParseCronSets checks the value sets the grammar produces.
func TestParseCronSets(t *testing.T) {
	bitsOf := func(vs ...int) uint64 {
		var s uint64
		for _, v := range vs {
			s |= 1 << uint(v)
		}
		return s
	}
	rangeBits := func(lo, hi, step int) uint64 {
		var s uint64
		for v := lo; v <= hi; v += step {
			s |= 1 << uint(v)
		}
		return s
	}
	tests := []struct {
		expr                        string
		minute, hour, dom, mon, dow uint64
	}{
		{"* * * * *", rangeBits(0, 59, 1), rangeBits(0, 23, 1), rangeBits(1, 31, 1), rangeBits(1, 12, 1), rangeBits(0, 6, 1)},
		{"*/15 1-5/2 5/10 */5 */2", bitsOf(0, 15, 30, 45), bitsOf(1, 3, 5), bitsOf(5, 15, 25), bitsOf(1, 6, 11), bitsOf(0, 2, 4, 6)},
		{"7 0 * * 7", bitsOf(7), bitsOf(0), rangeBits(1, 31, 1), rangeBits(1, 12, 1), bitsOf(0)},
		{"0 0 * * 5-7", bitsOf(0), bitsOf(0), rangeBits(1, 31, 1), rangeBits(1, 12, 1), bitsOf(0, 5, 6)},
		{"0 0 * * 1/2", bitsOf(0), bitsOf(0), rangeBits(1, 31, 1), rangeBits(1, 12, 1), bitsOf(0, 1, 3, 5)}, // 1-7/2: 7 is Sunday
		{"0 0 * Feb,aug-Oct sat,Sun", bitsOf(0), bitsOf(0), rangeBits(1, 31, 1), bitsOf(2, 8, 9, 10), bitsOf(0, 6)},
		{"58-59,1 23 31 12 *", bitsOf(1, 58, 59), bitsOf(23), bitsOf(31), bitsOf(12), rangeBits(0, 6, 1)},
		{"*/45 * * * *", bitsOf(0, 45), rangeBits(0, 23, 1), rangeBits(1, 31, 1), rangeBits(1, 12, 1), rangeBits(0, 6, 1)},
		{"10/100 * * * *", bitsOf(10), rangeBits(0, 23, 1), rangeBits(1, 31, 1), rangeBits(1, 12, 1), rangeBits(0, 6, 1)},
	}
	for _, tt := range tests {
		c, err := ParseCron(tt.expr)
		if err != nil {
			t.Fatalf("ParseCron(%q): %v", tt.expr, err)
		}
		got := [5]uint64{c.minute, c.hour, c.dom, c.month, c.dow}
		want := [5]uint64{tt.minute, tt.hour, tt.dom, tt.mon, tt.dow}
		if got != want {
			t.Errorf("ParseCron(%q) sets = %x, want %x", tt.expr, got, want)
		}
	}
}

func TestAliases(t *testing.T) {
	for alias, expansion := range aliases {
		a, err := ParseCron(alias)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseCron(expansion)
		if err != nil {
			t.Fatal(err)
		}
		a.expr, b.expr = "", ""
		if *a != *b {
			t.Errorf("%s = %+v, want %+v (%s)", alias, *a, *b, expansion)
		}
	}
}

// TestDayRule checks §6.2: with both day fields restricted a day matches if either does;
// otherwise both must.
func TestDayRule(t *testing.T) {
	// March 2026: the 13th is a Friday; the 6th and 20th are Fridays too.
	tests := []struct {
		expr string
		want []int // matching days of March 2026
	}{
		{"0 0 13 * *", []int{13}},
		{"0 0 * * 5", []int{6, 13, 20, 27}},
		{"0 0 13 * 5", []int{6, 13, 20, 27}},
		{"0 0 1 * 5", []int{1, 6, 13, 20, 27}},
		{"0 0 1,2 * 0", []int{1, 2, 8, 15, 22, 29}},
		{"0 0 */1 * 5", allDays(31)}, // "*/1" is not exactly "*": restricted, so either matches
		{"0 0 * * */1", allDays(31)},
		{"0 0 1 * */1", allDays(31)},
		{"0 0 1 * *", []int{1}},
		{"0 0 1 3 7", []int{1, 8, 15, 22, 29}},
		{"0 0 1 4 7", nil}, // month restricts first
	}
	for _, tt := range tests {
		c, err := ParseCron(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for d := 1; d <= 31; d++ {
			wd := int(time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC).Weekday())
			if c.matchDay(3, d, wd) {
				got = append(got, d)
			}
		}
		if !equalInts(got, tt.want) {
			t.Errorf("%s: days %v, want %v", tt.expr, got, tt.want)
		}
	}
}

func allDays(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFirstTime(t *testing.T) {
	c, err := ParseCron("15,45 3,23 * * *")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ lo, hi, want int64 }{
		{0, 86400, 3*3600 + 15*60},
		{3*3600 + 15*60, 86400, 3*3600 + 15*60},
		{3*3600 + 15*60 + 1, 86400, 3*3600 + 45*60},
		{3*3600 + 46*60, 86400, 23*3600 + 15*60},
		{23*3600 + 46*60, 86400, -1},
		{0, 3*3600 + 15*60, -1},
		{-500, 3*3600 + 15*60 + 1, 3*3600 + 15*60},
		{100, 100, -1},
	}
	for _, tt := range tests {
		if got := c.firstTime(tt.lo, tt.hi); got != tt.want {
			t.Errorf("firstTime(%d, %d) = %d, want %d", tt.lo, tt.hi, got, tt.want)
		}
	}
}

func TestCivil(t *testing.T) {
	for d := int64(-800000); d < 800000; d += 97 {
		y, m, dd := civilFromDays(d)
		want := time.Unix(d*86400, 0).UTC()
		if int(y) != want.Year() || time.Month(m) != want.Month() || int(dd) != want.Day() {
			t.Fatalf("civilFromDays(%d) = %d-%d-%d, want %s", d, y, m, dd, want)
		}
		if back := daysFromCivil(y, m, dd); back != d {
			t.Fatalf("daysFromCivil(%d-%d-%d) = %d, want %d", y, m, dd, back, d)
		}
		if weekday(d) != int(want.Weekday()) {
			t.Fatalf("weekday(%d) = %d, want %d", d, weekday(d), want.Weekday())
		}
	}
	if got, want := daysFromCivil(2026, 13, 1), daysFromCivil(2027, 1, 1); got != want {
		t.Errorf("month 13 not normalized: %d != %d", got, want)
	}
}

func FuzzParseCron(f *testing.F) {
	for _, s := range []string{
		"* * * * *", "30 2 * * *", "*/15 1-5/2 5/10 */5 */2", "0 0 * jan-MAR,Dec sun", "@daily",
		"@every 5m", "0 0 L * *", "1#2", "CRON_TZ=UTC * * * * *", "0 0 30 2 *", "*/0 * * * *",
		"5-3 * * * *", ",,, * * * *", "0 0 * * 7", "*/99999999999999999999 * * * *", "\xff * * * *",
	} {
		f.Add(s)
	}
	after := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCron(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		_ = c.WallClock()
		if sl, ok := c.Next(after, nil); ok && !sl.At.After(after) {
			t.Fatalf("%q: Next(%s) = %s", s, after, sl.At)
		}
	})
}

// FuzzCronNext drives the evaluator with arbitrary expressions, zones and instants: Next must
// be strictly after its argument, consecutive slots strictly increasing, and a slot without a
// gap marker must be a real local time of the zone.
func FuzzCronNext(f *testing.F) {
	zones := []string{"UTC", "America/New_York", "Europe/Berlin", "America/Santiago", "Australia/Lord_Howe",
		"Europe/Dublin", "Pacific/Apia", "Asia/Kolkata", "America/St_Johns"}
	f.Add("30 2 * * *", uint8(1), int64(1772928000))
	f.Add("*/15 * * * *", uint8(2), int64(1774746000))
	f.Add("@daily", uint8(3), int64(1788663600))
	f.Add("0 0 1 1 *", uint8(6), int64(1325160000))
	f.Fuzz(func(t *testing.T, expr string, zone uint8, unix int64) {
		c, err := ParseCron(expr)
		if err != nil {
			return
		}
		loc, err := LoadLocation(zones[int(zone)%len(zones)])
		if err != nil {
			t.Fatal(err)
		}
		after := time.Unix(unix%(1<<33), 0).UTC()
		prev := after
		for i := 0; i < 5; i++ {
			sl, ok := c.Next(prev, loc)
			if !ok {
				return
			}
			if !sl.At.After(prev) {
				t.Fatalf("%q in %s: Next(%s) = %s is not after it", expr, loc, prev, sl.At)
			}
			if sl.DST != GapShifted {
				l := sl.At.In(loc)
				back := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, loc)
				if back.Hour() != l.Hour() || back.Minute() != l.Minute() {
					t.Fatalf("%q in %s: slot %s has a nonexistent local time", expr, loc, sl.At)
				}
			}
			prev = sl.At
		}
	})
}
