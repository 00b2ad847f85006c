package cli

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/wire"
)

func TestParseSchedule(t *testing.T) {
	for _, c := range []struct {
		s, tz string
		want  map[string]any
	}{
		{"30 2 * * *", "", map[string]any{"mode": "cron", "expr": "30 2 * * *"}},
		{"@daily", "America/New_York", map[string]any{"mode": "cron", "expr": "@daily", "timezone": "America/New_York"}},
		{"every:15m", "", map[string]any{"mode": "every", "interval": "15m"}},
		{"at:2026-03-01T10:00:00Z", "", map[string]any{"mode": "at", "time": "2026-03-01T10:00:00Z"}},
		{"at:2026-03-01T10:00:00.5+01:00", "Asia/Tokyo", map[string]any{"mode": "at", "time": "2026-03-01T10:00:00.5+01:00"}},
		{"at:2026-03-01T10:00", "", map[string]any{"mode": "at", "time": "2026-03-01T10:00:00Z"}},
		{"at:2026-07-01T09:30:15", "Europe/Paris", map[string]any{"mode": "at", "time": "2026-07-01T09:30:15+02:00"}},
		{"at:2026-01-01T09:30", "Europe/Paris", map[string]any{"mode": "at", "time": "2026-01-01T09:30:00+01:00"}},
		{"at:2026-01-01T09:30", "America/New_York", map[string]any{"mode": "at", "time": "2026-01-01T09:30:00-05:00"}},
	} {
		got, err := parseSchedule(c.s, c.tz)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseSchedule(%q, %q) = %v, %v; want %v", c.s, c.tz, got, err, c.want)
		}
	}
	for _, c := range [][2]string{{"", "UTC"}, {"every:1h", "UTC"}, {"every:soon", ""}, {"at:tomorrow", ""},
		{"at:2026-01-01", ""}, {"at:2026-01-01T10:00", "Mars/Base"}} {
		if got, err := parseSchedule(c[0], c[1]); err == nil {
			t.Errorf("parseSchedule(%q, %q) = %v, want an error", c[0], c[1], got)
		}
	}
}

func TestParseRetryAndFireLimit(t *testing.T) {
	for s, want := range map[string]wire.Retry{
		"none":            {Strategy: "none"},
		"backoff":         {Strategy: "backoff", MaxRetries: 3, BaseDelay: "2s"},
		"backoff:5:1m30s": {Strategy: "backoff", MaxRetries: 5, BaseDelay: "1m30s"},
	} {
		if got, err := parseRetry(s); err != nil || got != want {
			t.Errorf("parseRetry(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "always", "backoff:3", "backoff:x:1s", "backoff:3:soon", "none:1:1s", "backoff:1:1s:1s"} {
		if _, err := parseRetry(s); err == nil {
			t.Errorf("parseRetry(%q) accepted", s)
		}
	}
	if got, err := parseFireLimit("12/1h"); err != nil || got != (wire.FireLimit{Max: 12, Window: "1h"}) {
		t.Errorf("parseFireLimit = %v, %v", got, err)
	}
	for _, s := range []string{"12", "x/1h", "12/hour", "/1h"} {
		if _, err := parseFireLimit(s); err == nil {
			t.Errorf("parseFireLimit(%q) accepted", s)
		}
	}
}

func TestTimeAgo(t *testing.T) {
	now := time.Date(2026, 3, 8, 12, 0, 0, 0, time.FixedZone("X", 3600))
	for in, want := range map[string]string{
		"2h":                        "2026-03-08T09:00:00Z",
		"90m":                       "2026-03-08T09:30:00Z",
		"2026-01-01T00:00:00+01:00": "2026-01-01T00:00:00+01:00",
		"2026-01-01T00:00:00.25Z":   "2026-01-01T00:00:00.25Z",
	} {
		if got, err := timeAgo(in, now); err != nil || got != want {
			t.Errorf("timeAgo(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := timeAgo("yesterday", now); err == nil {
		t.Error("timeAgo accepted yesterday")
	}
}

func TestParseFilter(t *testing.T) {
	got, err := parseFilter([]string{"data.action=opened,kind=webhook", "data.x=a=b"})
	want := map[string]string{"data.action": "opened", "kind": "webhook", "data.x": "a=b"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseFilter = %v, %v", got, err)
	}
	if got, err := parseFilter([]string{""}); err != nil || len(got) != 0 || got == nil {
		t.Errorf(`parseFilter("") = %v, %v; want an empty map`, got, err)
	}
	for _, v := range []string{"novalue", "=x", "a=1,"} {
		if _, err := parseFilter([]string{v}); err == nil {
			t.Errorf("parseFilter(%q) accepted", v)
		}
	}
	if s := filterText(want); s != "data.action=opened,data.x=a=b,kind=webhook" {
		t.Errorf("filterText = %q", s)
	}
}

func TestMainExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, 0},
		{[]string{"automation", "jobs", "--help"}, 0},
		{[]string{}, 2},
		{[]string{"nope"}, 2},
		{[]string{"automation", "jobs", "get"}, 2},
		{[]string{"automation", "jobs", "list", "--nope"}, 2},
		{[]string{"status", "-o", "xml"}, 2},
		{[]string{"daemon", "-o", "json"}, 2},
		{[]string{"status", "--data-dir", t.TempDir()}, 1},
	} {
		var out, errb bytes.Buffer
		if got := Main(c.args, nil, &out, &errb); got != c.code {
			t.Errorf("agh %v: exit %d, want %d (stderr %s)", c.args, got, c.code, errb.String())
		}
	}
}
