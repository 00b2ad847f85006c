package automation

import (
	"testing"
	"time"
)

func TestDeterministicIDs(t *testing.T) {
	cases := []struct{ got, want string }{
		{DefinitionID(PrefixJob, "job", "workspace", "web", "nightly-triage"), "job_0000000000806h65f80vdrstez"},
		{DefinitionID(PrefixTrigger, "trigger", "global", "", "github-issues"), "trg_0000000000d07b20s49angesb7"},
		{DefinitionID(PrefixWebhook, "webhook", "global", "", "github-issues"), "wbh_00000000008n8epzr7v3khhsk2"},
		{FireID("job_01kc0m9x6q8v3r2t5y7w9z1a4b", time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)), "fire_01kk63xsc0acekjez1yxs1z5t9"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	a := NewID(PrefixRun, time.UnixMilli(1000))
	b := NewID(PrefixRun, time.UnixMilli(1000))
	c := NewID(PrefixRun, time.UnixMilli(2000))
	if !(a < b && b < c) || len(a) != 4+26 {
		t.Fatalf("ids not increasing: %s %s %s", a, b, c)
	}
}

func TestFormatTime(t *testing.T) {
	if got := FormatTime(time.Date(2026, 3, 8, 7, 0, 0, 250_000_000, time.FixedZone("x", 3600))); got != "2026-03-08T06:00:00.25Z" {
		t.Fatal(got)
	}
}
