package schedule

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Cron is a parsed five-field cron expression or alias (SPEC §6.2).
//
// A Cron is immutable and safe for concurrent use.
type Cron struct {
	expr string // the expression as given (trimmed)

	minute uint64 // bits 0..59
	hour   uint64 // bits 0..23
	dom    uint64 // bits 1..31
	month  uint64 // bits 1..12
	dow    uint64 // bits 0..6 (7 is folded onto 0)

	// domStar and dowStar record whether the day-of-month and day-of-week fields are exactly "*"
	// (the day rule of §6.2).
	domStar bool
	dowStar bool

	// wallClock is the §6.4 classification: neither the minute nor the hour field contains '*'
	// or '/'.
	wallClock bool
}

// aliases maps the accepted @-aliases to their five-field expansions (SPEC §6.2).
var aliases = map[string]string{
	"@hourly":   "0 * * * *",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@weekly":   "0 0 * * 0",
	"@monthly":  "0 0 1 * *",
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
}

type fieldKind int

const (
	fMinute fieldKind = iota
	fHour
	fDom
	fMonth
	fDow
)

type fieldInfo struct {
	name     string
	min, max int
	names    map[string]int
}

var fields = [5]fieldInfo{
	fMinute: {name: "minute", min: 0, max: 59},
	fHour:   {name: "hour", min: 0, max: 23},
	fDom:    {name: "day of month", min: 1, max: 31},
	fMonth: {name: "month", min: 1, max: 12, names: map[string]int{
		"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
		"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
	}},
	fDow: {name: "day of week", min: 0, max: 7, names: map[string]int{
		"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6,
	}},
}

// ParseCron parses a cron expression: exactly five white-space separated fields (minute, hour,
// day of month, month, day of week) or one of the aliases @hourly, @daily, @midnight, @weekly,
// @monthly, @yearly and @annually. Month and weekday names are case-insensitive.
//
// The error text is the <detail> of "job.schedule.expr is invalid: <detail>". ParseCron does not
// check that the expression ever fires; use FiresWithin for the §3.2 rule 8 "never fires" check.
func ParseCron(expr string) (*Cron, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, fmt.Errorf("expression is empty")
	}
	upper := strings.ToUpper(expr)
	if strings.HasPrefix(upper, "CRON_TZ=") || strings.HasPrefix(upper, "TZ=") {
		return nil, fmt.Errorf("CRON_TZ= and TZ= prefixes are not supported (use schedule.timezone)")
	}
	text := expr
	if strings.HasPrefix(expr, "@") {
		f := strings.Fields(expr)
		name := strings.ToLower(f[0])
		switch {
		case name == "@every":
			return nil, fmt.Errorf("@every is not supported (use schedule.mode \"every\")")
		case name == "@reboot":
			return nil, fmt.Errorf("@reboot is not supported")
		}
		exp, ok := aliases[name]
		if !ok {
			return nil, fmt.Errorf("unknown alias %q", f[0])
		}
		if len(f) > 1 {
			return nil, fmt.Errorf("unexpected text after %s: %q", f[0], strings.Join(f[1:], " "))
		}
		text = exp
	}
	f := strings.Fields(text)
	switch {
	case len(f) == 6:
		return nil, fmt.Errorf("expected 5 fields, got 6 (a seconds field is not supported)")
	case len(f) != 5:
		return nil, fmt.Errorf("expected 5 fields, got %d", len(f))
	}
	c := &Cron{expr: expr}
	var sets [5]uint64
	for i := range f {
		s, err := parseField(f[i], fields[i])
		if err != nil {
			return nil, err
		}
		sets[i] = s
	}
	c.minute, c.hour, c.dom, c.month = sets[fMinute], sets[fHour], sets[fDom], sets[fMonth]
	c.dow = sets[fDow]
	if c.dow&(1<<7) != 0 { // 7 is Sunday
		c.dow = c.dow&^(1<<7) | 1
	}
	c.domStar = f[fDom] == "*"
	c.dowStar = f[fDow] == "*"
	c.wallClock = !strings.ContainsAny(f[fMinute], "*/") && !strings.ContainsAny(f[fHour], "*/")
	return c, nil
}

// parseField parses one field into a bit set of the values it matches.
func parseField(text string, fi fieldInfo) (uint64, error) {
	for _, bad := range []string{"?", "#"} {
		if strings.Contains(text, bad) {
			return 0, fmt.Errorf("%s field %q: %q is not supported", fi.name, text, bad)
		}
	}
	var set uint64
	for _, item := range strings.Split(text, ",") {
		s, err := parseItem(item, fi)
		if err != nil {
			return 0, fmt.Errorf("%s field %q: %w", fi.name, text, err)
		}
		set |= s
	}
	return set, nil
}

// parseItem parses one element of a comma list: "*", "v", "a-b", "*/n", "a-b/n" or "a/n".
func parseItem(item string, fi fieldInfo) (uint64, error) {
	if item == "" {
		return 0, fmt.Errorf("empty list element")
	}
	rng, stepText, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepText)
		switch {
		case stepText == "" || err != nil || n < 0 || !isDigits(stepText):
			return 0, fmt.Errorf("invalid step %q", stepText)
		case n == 0:
			return 0, fmt.Errorf("step must be at least 1")
		}
		step = n
		if step > fi.max { // equivalent, and keeps the loop below from overflowing
			step = fi.max + 1
		}
	}
	var lo, hi int
	switch {
	case rng == "*":
		lo, hi = fi.min, fi.max
	case strings.Contains(rng, "-"):
		a, b, _ := strings.Cut(rng, "-")
		var err error
		if lo, err = parseValue(a, fi); err != nil {
			return 0, err
		}
		if hi, err = parseValue(b, fi); err != nil {
			return 0, err
		}
		if lo > hi {
			return 0, fmt.Errorf("range %s is reversed", rng)
		}
	default:
		v, err := parseValue(rng, fi)
		if err != nil {
			return 0, err
		}
		lo, hi = v, v
		if hasStep { // "a/n" = "a-max/n"
			hi = fi.max
		}
	}
	var set uint64
	for v := lo; v <= hi; v += step {
		set |= 1 << uint(v)
	}
	return set, nil
}

// parseValue parses a single number or (for month and day of week) a name.
func parseValue(s string, fi fieldInfo) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("missing value")
	}
	if isDigits(s) {
		n, err := strconv.Atoi(s)
		if err != nil || n < fi.min || n > fi.max {
			return 0, fmt.Errorf("value %s out of range %d-%d", s, fi.min, fi.max)
		}
		return n, nil
	}
	if v, ok := fi.names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	u := strings.ToUpper(s)
	switch {
	case u == "L" || u == "LW" || strings.HasSuffix(u, "L") && isDigits(u[:len(u)-1]):
		return 0, fmt.Errorf("%q is not supported", "L")
	case strings.HasSuffix(u, "W") && isDigits(u[:len(u)-1]):
		return 0, fmt.Errorf("%q is not supported", "W")
	}
	return 0, fmt.Errorf("invalid value %q", s)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String returns the expression as given to ParseCron (trimmed).
func (c *Cron) String() string { return c.expr }

// WallClock reports whether the schedule is wall-clock in the sense of SPEC §6.4: its minute field
// and its hour field (after alias expansion) each contain neither '*' nor '/'. Other schedules are
// absolute. @daily, @weekly, @monthly and @yearly are wall-clock; @hourly is absolute.
func (c *Cron) WallClock() bool { return c.wallClock }

// matchDay applies the day rule of §6.2 to a civil date; wd is the weekday (0 = Sunday).
func (c *Cron) matchDay(month, day, wd int) bool {
	if c.month&(1<<uint(month)) == 0 {
		return false
	}
	domOK := c.dom&(1<<uint(day)) != 0
	dowOK := c.dow&(1<<uint(wd)) != 0
	if !c.domStar && !c.dowStar {
		return domOK || dowOK
	}
	return domOK && dowOK
}

// matchTime reports whether the hour and minute fields match.
func (c *Cron) matchTime(hour, minute int) bool {
	return c.hour&(1<<uint(hour)) != 0 && c.minute&(1<<uint(minute)) != 0
}

// firstTime returns the first second-of-day s with lo <= s < hi at which the minute and hour
// fields match (s is a multiple of 60), or -1. lo and hi are clamped to [0, 86400].
func (c *Cron) firstTime(lo, hi int64) int64 {
	if lo < 0 {
		lo = 0
	}
	if hi > 86400 {
		hi = 86400
	}
	if lo >= hi {
		return -1
	}
	m := (lo + 59) / 60 // first whole minute >= lo
	h := int(m / 60)
	mm := uint(m % 60)
	for ; h < 24; h, mm = h+1, 0 {
		if int64(h)*3600 >= hi {
			return -1
		}
		if c.hour&(1<<uint(h)) == 0 {
			continue
		}
		rest := c.minute >> mm << mm
		if rest == 0 {
			continue
		}
		s := int64(h)*3600 + int64(bits.TrailingZeros64(rest))*60
		if s >= hi {
			return -1
		}
		return s
	}
	return -1
}
