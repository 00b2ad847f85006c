package scheduler_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/store"
)

const day = "2026-03-02T"

func hourly(name, policy string, extra ...string) string {
	return jobJSON(name, `{"mode":"cron","expr":"0 * * * *"}`, append([]string{`"catch_up_policy":"` + policy + `"`}, extra...)...)
}

// TestWorkedExample is SPEC §6.6's example: job `0 * * * *` in UTC, grace 60 s, window 24h,
// down from 09:30.
func TestWorkedExample(t *testing.T) {
	cases := []struct {
		name, policy, boot string
		extra              []string
		runs               []string
		ledger             []string
		misfires           int
	}{
		{name: "skip_missed", policy: "skip_missed", boot: "14:20:00",
			ledger: []string{"skipped/misfire 10:00-14:00 x5"}, misfires: 5},
		{name: "run_once", policy: "run_once", boot: "14:20:00", runs: []string{"14:00"},
			ledger: []string{"coalesced 10:00-13:00 x4 #1", "fired 14:00 #1"}},
		{name: "run_all", policy: "run_all", boot: "14:20:00", runs: []string{"10:00", "11:00", "12:00", "13:00", "14:00"},
			ledger: []string{"fired 10:00 #1", "fired 11:00 #2", "fired 12:00 #3", "fired 13:00 #4", "fired 14:00 #5"}},
		{name: "skip_missed at 14:00:45", policy: "skip_missed", boot: "14:00:45", runs: []string{"14:00"},
			ledger: []string{"skipped/misfire 10:00-13:00 x4", "fired 14:00 #1"}, misfires: 4},
		{name: "run_once at 14:00:45", policy: "run_once", boot: "14:00:45", runs: []string{"13:00", "14:00"},
			ledger: []string{"coalesced 10:00-12:00 x3 #1", "fired 13:00 #1", "fired 14:00 #2"}},
		{name: "run_all at 14:00:45", policy: "run_all", boot: "14:00:45", runs: []string{"10:00", "11:00", "12:00", "13:00", "14:00"},
			ledger: []string{"fired 10:00 #1", "fired 11:00 #2", "fired 12:00 #3", "fired 13:00 #4", "fired 14:00 #5"}},
		{name: "run_all window 2h", policy: "run_all", boot: "14:20:00", extra: []string{`"catch_up_window":"2h"`},
			runs: []string{"13:00", "14:00"}, ledger: []string{"skipped/misfire 10:00-12:00 x3", "fired 13:00 #1", "fired 14:00 #2"}, misfires: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(day+"09:30:00Z"))
			id := h.create(hourly("hourly", tc.policy, tc.extra...))
			if j := h.get(id).Job; j.MisfireGraceSeconds != 60 || (len(tc.extra) == 0 && j.CatchUpWindow != "24h") {
				t.Fatalf("defaults: grace %d window %s", j.MisfireGraceSeconds, j.CatchUpWindow)
			}
			boot := at(day + tc.boot + "Z")
			cur := h.reconcileAt(id, boot)
			h.expectRuns(id, boot, tc.runs...)
			h.expectLedger(id, tc.ledger...)
			if cur.MisfireCount != tc.misfires || !cur.AccountedUntil.Equal(boot) || !cur.NextRunAt.Equal(at(day+"15:00:00Z")) ||
				!cur.LastScheduledAt.Equal(at(day+"14:00:00Z")) {
				t.Fatalf("cursor %+v", cur)
			}
			if (tc.misfires > 0) == cur.LastMisfireAt.IsZero() || (tc.misfires > 0 && !cur.LastMisfireAt.Equal(boot)) {
				t.Fatalf("last_misfire_at %v", cur.LastMisfireAt)
			}
			if len(tc.runs) == 0 {
				if !cur.LastRunAt.IsZero() || cur.LastFireID != "" {
					t.Fatalf("cursor %+v", cur)
				}
			} else if !cur.LastRunAt.Equal(boot) || cur.LastFireID != automation.FireID(id, at(day+"14:00:00Z")) {
				t.Fatalf("cursor %+v", cur)
			}
			if stored := h.cursor(id); fmt.Sprint(stored) != fmt.Sprint(cur) {
				t.Fatalf("stored cursor %+v, returned %+v", stored, cur)
			}
			// A second reconciliation at the same instant is a no-op.
			h.reconcileAt(id, boot)
			h.expectLedger(id, tc.ledger...)
			h.expectRuns(id, boot, tc.runs...)
			h.ledgerComplete(id, at(day+"09:30:00Z"))
		})
	}
}

// TestOverlapSkipAdmitsFirstCandidateOnly: with overlap "skip", only the first of several
// catch-up candidates is admitted (SPEC §6.6).
func TestOverlapSkipAdmitsFirstCandidateOnly(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	id := h.create(hourly("h", "run_all", `"overlap_policy":"skip"`))
	boot := at(day + "14:20:00Z")
	h.reconcileAt(id, boot)
	h.expectRuns(id, boot, "10:00")
	h.expectLedger(id, "fired 10:00 #1", "skipped/overlap 11:00-14:00 x4")
	if c := h.cursor(id); c.MisfireCount != 0 || c.LastFireID != automation.FireID(id, at(day+"10:00:00Z")) {
		t.Fatalf("cursor %+v", c)
	}
}

// TestRunOnceRepresentativeRefused: when the run_once representative is refused by the overlap
// policy or the fire limit, the slots that would have been coalesced into it are recorded
// skipped(misfire) (SPEC §6.5 step 5).
func TestRunOnceRepresentativeRefused(t *testing.T) {
	for _, tc := range []struct{ name, extra, reason string }{
		{"overlap", `"overlap_policy":"skip"`, "overlap"},
		{"fire_limit", `"fire_limit":{"max":1,"window":"1h"}`, "fire_limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, at(day+"09:30:00Z"))
			id := h.create(jobJSON("h", `{"mode":"cron","expr":"0 * * * *"}`, `"catch_up_policy":"run_once"`, tc.extra))
			h.clk.Set(at(day + "14:19:00Z"))
			manual, err := h.svc.TriggerJob(h.ctx, id) // active, and counted by the fire limit
			if err != nil {
				t.Fatal(err)
			}
			h.reconcileAt(id, at(day+"14:20:00Z"))
			if rs := h.runs(id); len(rs) != 1 || rs[0].ID != manual.ID {
				t.Fatalf("runs %+v", rs)
			}
			h.expectLedger(id, "skipped/misfire 10:00-13:00 x4", "skipped/"+tc.reason+" 14:00")
			if c := h.cursor(id); c.MisfireCount != 4 || c.LastFireID != "" || !c.LastRunAt.IsZero() {
				t.Fatalf("cursor %+v", c)
			}
			h.ledgerComplete(id, at(day+"09:30:00Z"))
		})
	}
}

// TestFireLimitSkips: catch-up candidates beyond the fire limit are skipped(fire_limit).
func TestFireLimitSkips(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	id := h.create(jobJSON("h", `{"mode":"cron","expr":"0 * * * *"}`, `"catch_up_policy":"run_all"`, `"fire_limit":{"max":2,"window":"1h"}`))
	boot := at(day + "14:20:00Z")
	h.reconcileAt(id, boot)
	h.expectRuns(id, boot, "10:00", "11:00")
	h.expectLedger(id, "fired 10:00 #1", "fired 11:00 #2", "skipped/fire_limit 12:00-14:00 x3")
	// The window is rolling over started_at: at 15:00 the two runs still count.
	h.reconcileAt(id, at(day+"15:00:05Z"))
	h.expectLedger(id, "fired 10:00 #1", "fired 11:00 #2", "skipped/fire_limit 12:00-15:00 x4")
	// At 16:00 they are out of the window.
	h.reconcileAt(id, at(day+"16:00:05Z"))
	h.expectLedger(id, "fired 10:00 #1", "fired 11:00 #2", "skipped/fire_limit 12:00-15:00 x4", "fired 16:00 #3")
}

// TestPausedSkips: while paused every slot is skipped(paused); nothing is owed on unpause.
func TestPausedSkips(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"), func(c *config.Config) { c.Automation.Paused = true })
	id := h.create(hourly("h", "run_all"))
	cur := h.reconcileAt(id, at(day+"14:20:00Z"))
	if len(h.runs(id)) != 0 || cur.MisfireCount != 0 || !cur.NextRunAt.Equal(at(day+"15:00:00Z")) || !cur.AccountedUntil.Equal(at(day+"14:20:00Z")) {
		t.Fatalf("cursor %+v", cur)
	}
	h.expectLedger(id, "skipped/paused 10:00-14:00 x5")
	// Paused slots are reconciled at their instants and merge.
	h.reconcileAt(id, at(day+"15:00:00Z"))
	h.expectLedger(id, "skipped/paused 10:00-15:00 x6")
	cfg := *h.svc.Config()
	cfg.Automation.Paused = false
	h.svc.SetConfig(&cfg)
	boot := at(day + "16:00:10Z")
	h.reconcileAt(id, boot)
	h.expectRuns(id, boot, "16:00")
	h.expectLedger(id, "skipped/paused 10:00-15:00 x6", "fired 16:00 #1")
	h.ledgerComplete(id, at(day+"09:30:00Z"))
}

// TestLedgerMerging: consecutive skipped entries with the same reason merge across
// reconciliations; fired entries never merge, and nothing merges across another outcome
// (SPEC §6.7).
func TestLedgerMerging(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	id := h.create(hourly("h", "skip_missed"))
	h.reconcileAt(id, at(day+"14:20:00Z"))
	first := h.expectLedger(id, "skipped/misfire 10:00-14:00 x5")
	h.reconcileAt(id, at(day+"17:30:00Z"))
	merged := h.expectLedger(id, "skipped/misfire 10:00-17:00 x8")
	if merged[0].Seq != first[0].Seq || !merged[0].RecordedAt.Equal(at(day+"17:30:00Z")) {
		t.Fatalf("not merged in place: %+v / %+v", first[0], merged[0])
	}
	h.reconcileAt(id, at(day+"18:00:30Z"))
	h.reconcileAt(id, at(day+"19:00:00Z"))
	h.reconcileAt(id, at(day+"21:30:00Z"))
	h.expectLedger(id, "skipped/misfire 10:00-17:00 x8", "fired 18:00 #1", "fired 19:00 #2", "skipped/misfire 20:00-21:00 x2")
	// A different reason starts a new entry, and so does the old one coming back.
	cfg := *h.svc.Config()
	cfg.Automation.Paused = true
	h.svc.SetConfig(&cfg)
	h.reconcileAt(id, at(day+"22:00:00Z"))
	cfg2 := cfg
	cfg2.Automation.Paused = false
	h.svc.SetConfig(&cfg2)
	h.reconcileAt(id, at(day+"23:30:00Z"))
	h.expectLedger(id, "skipped/misfire 10:00-17:00 x8", "fired 18:00 #1", "fired 19:00 #2", "skipped/misfire 20:00-21:00 x2",
		"skipped/paused 22:00", "skipped/misfire 23:00")
	if c := h.cursor(id); c.MisfireCount != 11 {
		t.Fatalf("misfire_count %d", c.MisfireCount)
	}
	h.ledgerComplete(id, at(day+"09:30:00Z"))

	// run_all fires on time at every slot: one entry per slot.
	h2 := newHarness(t, at(day+"09:30:00Z"))
	id2 := h2.create(hourly("h", "run_all"))
	for _, s := range []string{"10:00:00", "11:00:30", "12:00:59"} {
		h2.reconcileAt(id2, at(day+s+"Z"))
	}
	h2.expectLedger(id2, "fired 10:00 #1", "fired 11:00 #2", "fired 12:00 #3")
}

// TestDisableThenEnable: disabling reconciles the due slots first, then unregisters; enabling
// records one skipped(disabled) entry and registers after now (SPEC §6.10).
func TestDisableThenEnable(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	id := h.create(hourly("h", "run_all"))
	h.clk.Set(at(day + "11:00:30Z"))
	rec := h.patch(id, `{"enabled":false}`)
	if rec.Job.Enabled || rec.Cursor.Registered() || !rec.Cursor.AccountedUntil.Equal(at(day+"11:00:30Z")) {
		t.Fatalf("after disable: %+v", rec.Cursor)
	}
	h.expectRuns(id, at(day+"11:00:30Z"), "10:00", "11:00")
	h.expectLedger(id, "fired 10:00 #1", "fired 11:00 #2")
	if c := h.cursor(id); c.Registered() || !c.AccountedUntil.Equal(at(day+"11:00:30Z")) {
		t.Fatalf("stored cursor %+v", c)
	}

	// While disabled a reconciliation does nothing.
	h.reconcileAt(id, at(day+"13:00:00Z"))
	h.expectLedger(id, "fired 10:00 #1", "fired 11:00 #2")
	if c := h.cursor(id); c.Registered() || !c.AccountedUntil.Equal(at(day+"11:00:30Z")) {
		t.Fatalf("cursor while disabled %+v", c)
	}

	h.clk.Set(at(day + "15:10:00Z"))
	rec = h.patch(id, `{"enabled":true}`)
	c := rec.Cursor
	if !c.AccountedUntil.Equal(at(day+"15:10:00Z")) || !c.NextRunAt.Equal(at(day+"16:00:00Z")) || !c.LastScheduledAt.Equal(at(day+"15:00:00Z")) {
		t.Fatalf("after enable: %+v", c)
	}
	h.expectLedger(id, "fired 10:00 #1", "fired 11:00 #2", "skipped/disabled 12:00-15:00 x4")
	if len(h.runs(id)) != 2 {
		t.Fatal("enable fired runs")
	}

	// Disable and enable again with no slot in between: nothing to record.
	h.clk.Set(at(day + "15:20:00Z"))
	h.patch(id, `{"enabled":false}`)
	h.clk.Set(at(day + "15:30:00Z"))
	h.patch(id, `{"enabled":true}`)
	h.expectLedger(id, "fired 10:00 #1", "fired 11:00 #2", "skipped/disabled 12:00-15:00 x4")
	// Disabled across two more slots: they extend the previous disabled entry.
	h.clk.Set(at(day + "15:40:00Z"))
	h.patch(id, `{"enabled":false}`)
	h.clk.Set(at(day + "17:10:00Z"))
	h.patch(id, `{"enabled":true}`)
	h.expectLedger(id, "fired 10:00 #1", "fired 11:00 #2", "skipped/disabled 12:00-17:00 x6")
	h.ledgerComplete(id, at(day+"09:30:00Z"))
	if c := h.cursor(id); c.MisfireCount != 0 || !c.NextRunAt.Equal(at(day+"18:00:00Z")) {
		t.Fatalf("cursor %+v", c)
	}
}

// TestScheduleChangeResetsCursor: a schedule change restarts the cursor at the change instant;
// the old schedule's due slots get no ledger entries (SPEC §6.10).
func TestScheduleChangeResetsCursor(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	id := h.create(jobJSON("e", `{"mode":"every","interval":"1h"}`, `"catch_up_policy":"run_all"`))
	if c := h.cursor(id); !c.AnchorAt.Equal(at(day+"09:30:00Z")) || !c.NextRunAt.Equal(at(day+"10:30:00Z")) {
		t.Fatalf("cursor %+v", c)
	}
	h.reconcileAt(id, at(day+"10:30:00Z"))
	h.expectLedger(id, "fired 10:30 #1")
	change := at(day + "12:45:00Z") // 11:30 and 12:30 are due but not reconciled
	h.clk.Set(change)
	c := h.patch(id, `{"schedule":{"mode":"every","interval":"30m"}}`).Cursor
	if !c.AccountedUntil.Equal(change) || !c.AnchorAt.Equal(change) || !c.NextRunAt.Equal(at(day+"13:15:00Z")) ||
		!c.LastScheduledAt.Equal(at(day+"10:30:00Z")) || c.LastFireID != automation.FireID(id, at(day+"10:30:00Z")) {
		t.Fatalf("after schedule change: %+v", c)
	}
	h.expectLedger(id, "fired 10:30 #1")
	h.reconcileAt(id, at(day+"14:15:00Z"))
	h.expectLedger(id, "fired 10:30 #1", "fired 13:15 #2", "fired 13:45 #3", "fired 14:15 #4")
	h.ledgerComplete(id, change)

	// A PATCH that changes nothing of the schedule (white space, same interval) keeps the cursor.
	before := h.cursor(id)
	h.clk.Set(at(day + "14:20:00Z"))
	h.patch(id, `{"schedule":{"mode":"every","interval":"30m0s"},"catch_up_policy":"skip_missed","name":"renamed"}`)
	if after := h.cursor(id); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("cursor changed by a non-schedule PATCH:\n%+v\n%+v", before, after)
	}

	// Enabling and changing the schedule in one PATCH: the schedule rule, no disabled entry.
	h.clk.Set(at(day + "14:25:00Z"))
	h.patch(id, `{"enabled":false}`)
	h.clk.Set(at(day + "18:05:00Z"))
	c = h.patch(id, `{"enabled":true,"schedule":{"mode":"cron","expr":"0 * * * *"}}`).Cursor
	if !c.AccountedUntil.Equal(at(day+"18:05:00Z")) || !c.NextRunAt.Equal(at(day+"19:00:00Z")) || !c.AnchorAt.IsZero() {
		t.Fatalf("after enable+schedule change: %+v", c)
	}
	h.expectLedger(id, "fired 10:30 #1", "fired 13:15 #2", "fired 13:45 #3", "fired 14:15 #4")
}

// TestTimezoneChangeIsScheduleChange: changing schedule.timezone resets the cursor and the
// next slot follows the new zone (SPEC §6.3, §6.10).
func TestTimezoneChangeIsScheduleChange(t *testing.T) {
	h := newHarness(t, at(day+"00:00:00Z"))
	h.layout = time.RFC3339
	id := h.create(jobJSON("tz", `{"mode":"cron","expr":"0 9 * * *"}`, `"catch_up_policy":"run_all"`))
	if c := h.cursor(id); c.Timezone != "UTC" || !c.NextRunAt.Equal(at(day+"09:00:00Z")) {
		t.Fatalf("cursor %+v", c)
	}
	change := at(day + "12:00:00Z") // 09:00Z is due but not reconciled
	h.clk.Set(change)
	c := h.patch(id, `{"schedule":{"mode":"cron","expr":"0  9 * * *","timezone":"America/New_York"}}`).Cursor
	if c.Timezone != "America/New_York" || !c.AccountedUntil.Equal(change) || !c.NextRunAt.Equal(at(day+"14:00:00Z")) {
		t.Fatalf("after zone change: %+v", c)
	}
	h.expectLedger(id)
	h.reconcileAt(id, at(day+"14:00:05Z"))
	es := h.expectLedger(id, "fired 2026-03-02T14:00:00Z #1")
	if es[0].Local != "2026-03-02T09:00:00-05:00" {
		t.Fatalf("local %q", es[0].Local)
	}
	// Only white space differs: not a change.
	before := h.cursor(id)
	h.clk.Set(at(day + "15:00:00Z"))
	h.patch(id, `{"schedule":{"mode":"cron","expr":" 0 9  * * * ","timezone":"America/New_York"}}`)
	if after := h.cursor(id); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("cursor changed:\n%+v\n%+v", before, after)
	}
}

// TestAtJobs: an `at` job fires once and is then unregistered; an instant already past when
// the schedule is set is a misfire at once (SPEC §6.2).
func TestAtJobs(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	id := h.create(jobJSON("once", `{"mode":"at","time":"2026-03-02T10:00:00Z"}`))
	if c := h.cursor(id); !c.NextRunAt.Equal(at(day + "10:00:00Z")) {
		t.Fatalf("cursor %+v", c)
	}
	h.reconcileAt(id, at(day+"09:59:59Z"))
	h.expectLedger(id)
	cur := h.reconcileAt(id, at(day+"10:00:00.5Z"))
	if cur.Registered() {
		t.Fatalf("still registered: %+v", cur)
	}
	h.expectRuns(id, at(day+"10:00:00.5Z"), "10:00")
	h.expectLedger(id, "fired 10:00 #1")
	h.reconcileAt(id, at(day+"12:00:00Z"))
	h.reconcileAt(id, at("2026-03-05T12:00:00Z"))
	h.expectLedger(id, "fired 10:00 #1")
	if c := h.cursor(id); c.Registered() || c.MisfireCount != 0 {
		t.Fatalf("cursor %+v", c)
	}

	past := h.create(jobJSON("past", `{"mode":"at","time":"2026-03-02T08:00:00Z"}`))
	c := h.cursor(past)
	if c.Registered() || c.MisfireCount != 1 || !c.LastMisfireAt.Equal(h.clk.Now()) || !c.LastScheduledAt.Equal(at(day+"08:00:00Z")) {
		t.Fatalf("past at cursor %+v", c)
	}
	h.expectLedger(past, "skipped/misfire 08:00")
	h.reconcileAt(past, at(day+"13:00:00Z"))
	h.expectLedger(past, "skipped/misfire 08:00")
	if len(h.runs(past)) != 0 {
		t.Fatal("past at job fired")
	}
	// Created disabled, the misfire is still recorded at create (SPEC §18.13).
	dis := h.create(jobJSON("pastdis", `{"mode":"at","time":"2026-03-02T08:00:00Z"}`, `"enabled":false`))
	h.expectLedger(dis, "skipped/misfire 08:00")
	// Moving an at job to another past instant is a schedule change with its own misfire.
	h.clk.Set(at(day + "13:30:00Z"))
	h.patch(past, `{"schedule":{"mode":"at","time":"2026-03-02T13:00:00Z"}}`)
	h.expectLedger(past, "skipped/misfire 08:00", "skipped/misfire 13:00")
	if c := h.cursor(past); c.MisfireCount != 2 || c.Registered() {
		t.Fatalf("cursor %+v", c)
	}
}

// TestDSTWallClock: `30 2 * * *` in America/New_York across 2026-03-08 (spring forward) fires
// once at the transition instant, with the gap_shifted marker and its local time; fall back
// fires the first occurrence only (SPEC §6.4).
func TestDSTWallClock(t *testing.T) {
	h := newHarness(t, at("2026-03-07T00:00:00Z"))
	h.layout = "01-02T15:04Z"
	id := h.create(jobJSON("dst", `{"mode":"cron","expr":"30 2 * * *","timezone":"America/New_York"}`, `"catch_up_policy":"run_all"`))
	for _, s := range []string{"2026-03-07T07:30:05Z", "2026-03-08T07:00:05Z", "2026-03-08T07:30:05Z", "2026-03-09T06:30:05Z"} {
		h.reconcileAt(id, at(s))
	}
	es := h.expectLedger(id, "fired 03-07T07:30Z #1", "fired 03-08T07:00Z #2 gap_shifted", "fired 03-09T06:30Z #3")
	wantLocal := []string{"2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"}
	for i, e := range es {
		if e.Local != wantLocal[i] {
			t.Errorf("entry %d local %q, want %q", i, e.Local, wantLocal[i])
		}
	}
	h.expectRuns(id, time.Time{}, "03-07T07:30Z", "03-08T07:00Z", "03-09T06:30Z")
	h.ledgerComplete(id, at("2026-03-07T00:00:00Z"))

	// The same days reconciled once after a downtime: three slots, the shifted one among them.
	h2 := newHarness(t, at("2026-03-07T00:00:00Z"))
	h2.layout = h.layout
	id2 := h2.create(jobJSON("dst", `{"mode":"cron","expr":"30 2 * * *","timezone":"America/New_York"}`, `"catch_up_policy":"run_all"`, `"catch_up_window":"72h"`))
	h2.reconcileAt(id2, at("2026-03-09T12:00:00Z"))
	h2.expectLedger(id2, "fired 03-07T07:30Z #1", "fired 03-08T07:00Z #2 gap_shifted", "fired 03-09T06:30Z #3")

	// Fall back: 01:30 happens twice on 11-01; only the first (EDT) occurrence is a slot.
	h3 := newHarness(t, at("2026-10-31T12:00:00Z"))
	h3.layout = h.layout
	id3 := h3.create(jobJSON("fold", `{"mode":"cron","expr":"30 1 * * *","timezone":"America/New_York"}`, `"catch_up_policy":"run_all"`))
	for _, s := range []string{"2026-11-01T05:30:05Z", "2026-11-01T06:30:05Z", "2026-11-02T06:30:05Z"} {
		h3.reconcileAt(id3, at(s))
	}
	es = h3.expectLedger(id3, "fired 11-01T05:30Z #1 fold_first", "fired 11-02T06:30Z #2")
	if es[0].Local != "2026-11-01T01:30:00-04:00" || es[1].Local != "2026-11-02T01:30:00-05:00" {
		t.Fatalf("locals %q %q", es[0].Local, es[1].Local)
	}

	// Absolute schedules follow real time: the repeated hour is a second slot, fold_repeat.
	h4 := newHarness(t, at("2026-11-01T03:30:00Z"))
	h4.layout = h.layout
	id4 := h4.create(jobJSON("abs", `{"mode":"cron","expr":"0 * * * *","timezone":"America/New_York"}`, `"catch_up_policy":"run_all"`))
	for _, s := range []string{"2026-11-01T04:00:01Z", "2026-11-01T05:00:01Z", "2026-11-01T06:00:01Z", "2026-11-01T07:00:01Z"} {
		h4.reconcileAt(id4, at(s))
	}
	es = h4.expectLedger(id4, "fired 11-01T04:00Z #1", "fired 11-01T05:00Z #2", "fired 11-01T06:00Z #3 fold_repeat", "fired 11-01T07:00Z #4")
	if es[1].Local != "2026-11-01T01:00:00-04:00" || es[2].Local != "2026-11-01T01:00:00-05:00" {
		t.Fatalf("locals %q %q", es[1].Local, es[2].Local)
	}
}

// TestClockBackwardsNeverRefires: accounted_until never decreases, so a wall clock moving
// backwards cannot fire a slot twice (SPEC §6.5).
func TestClockBackwardsNeverRefires(t *testing.T) {
	h := newHarness(t, at(day+"09:57:00Z"))
	id := h.create(jobJSON("b", `{"mode":"cron","expr":"*/5 * * * *"}`, `"catch_up_policy":"run_all"`))
	h.reconcileAt(id, at(day+"10:00:10Z"))
	h.expectLedger(id, "fired 10:00 #1")
	c := h.reconcileAt(id, at(day+"09:50:00Z"))
	if !c.AccountedUntil.Equal(at(day+"10:00:10Z")) || !c.NextRunAt.Equal(at(day+"10:05:00Z")) {
		t.Fatalf("cursor after the clock moved back %+v", c)
	}
	h.reconcileAt(id, at(day+"09:59:59Z"))
	h.reconcileAt(id, at(day+"10:00:00Z"))
	h.reconcileAt(id, at(day+"10:00:20Z"))
	h.expectLedger(id, "fired 10:00 #1")
	// Backwards again across a slot that already fired, then forwards past the next one.
	h.reconcileAt(id, at(day+"10:05:01Z"))
	h.reconcileAt(id, at(day+"09:58:00Z"))
	h.reconcileAt(id, at(day+"10:10:30Z"))
	h.expectLedger(id, "fired 10:00 #1", "fired 10:05 #2", "fired 10:10 #3")
	if c := h.cursor(id); !c.AccountedUntil.Equal(at(day + "10:10:30Z")) {
		t.Fatalf("cursor %+v", c)
	}
	// A schedule change while the clock is behind keeps accounted_until.
	h.clk.Set(at(day + "10:02:00Z"))
	c = h.patch(id, `{"schedule":{"mode":"cron","expr":"*/10 * * * *"}}`).Cursor
	if !c.AccountedUntil.Equal(at(day+"10:10:30Z")) || !c.NextRunAt.Equal(at(day+"10:20:00Z")) {
		t.Fatalf("cursor %+v", c)
	}
	h.reconcileAt(id, at(day+"10:20:00Z"))
	h.expectLedger(id, "fired 10:00 #1", "fired 10:05 #2", "fired 10:10 #3", "fired 10:20 #4")
}

// TestLedgerPruning keeps the newest automation.history.slots_per_job entries per job.
func TestLedgerPruning(t *testing.T) {
	h := newHarness(t, at(day+"09:59:30Z"), func(c *config.Config) { c.Automation.SlotsPerJob = 3 })
	id := h.create(jobJSON("p", `{"mode":"cron","expr":"* * * * *"}`, `"catch_up_policy":"run_all"`))
	other := h.create(jobJSON("q", `{"mode":"cron","expr":"* * * * *"}`, `"catch_up_policy":"run_all"`))
	for i := 0; i < 5; i++ {
		now := at(day + "10:00:00Z").Add(time.Duration(i) * time.Minute)
		h.reconcileAt(id, now)
		if i < 2 {
			h.reconcileAt(other, now)
		}
	}
	h.expectLedger(id, "fired 10:02 #3", "fired 10:03 #4", "fired 10:04 #5")
	h.expectLedger(other, "fired 10:00 #1", "fired 10:01 #2")
	// A catch-up of four slots (10:08 on time, 10:05-10:07 missed) keeps the newest three.
	h.reconcileAt(id, at(day+"10:08:30Z"))
	h.expectLedger(id, "fired 10:06 #7", "fired 10:07 #8", "fired 10:08 #9")
	if n := len(h.runs(id)); n != 9 {
		t.Fatalf("%d runs: pruning the ledger must not delete runs", n)
	}
}

// TestLatenessBoundaries: on time means late by at most max(grace, 1 s); stale means late by
// more than catch_up_window (SPEC §6.5 step 4).
func TestLatenessBoundaries(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	h.layout = "15:04:05.000000000"
	body := func(name, extra string) string {
		return jobJSON(name, `{"mode":"cron","expr":"0 10 * * *"}`, `"misfire_grace_seconds":0`, `"catch_up_window":"1h"`, extra)
	}
	onTime := h.create(body("ontime", `"catch_up_policy":"skip_missed"`))
	late := h.create(body("late", `"catch_up_policy":"skip_missed"`))
	missed := h.create(body("missed", `"catch_up_policy":"run_once"`))
	stale := h.create(body("stale", `"catch_up_policy":"run_once"`))
	h.reconcileAt(onTime, at(day+"10:00:01Z"))
	h.reconcileAt(late, at(day+"10:00:01.000000001Z"))
	h.reconcileAt(missed, at(day+"11:00:00Z"))
	h.reconcileAt(stale, at(day+"11:00:00.000000001Z"))
	h.expectLedger(onTime, "fired 10:00:00.000000000 #1")
	h.expectLedger(late, "skipped/misfire 10:00:00.000000000")
	h.expectLedger(missed, "fired 10:00:00.000000000 #1")
	h.expectLedger(stale, "skipped/misfire 10:00:00.000000000")

	// A grace longer than the window: on time wins.
	wide := h.create(jobJSON("wide", `{"mode":"cron","expr":"0 12 * * *"}`, `"misfire_grace_seconds":7200`, `"catch_up_window":"1h"`))
	h.reconcileAt(wide, at(day+"13:30:00Z"))
	h.expectLedger(wide, "fired 12:00:00.000000000 #1")
}

// TestRunAllCapsAtTen: run_all catches up the 10 most recent missed slots; older ones are
// skipped(misfire) (SPEC §6.6).
func TestRunAllCapsAtTen(t *testing.T) {
	h := newHarness(t, at(day+"09:59:30Z"))
	id := h.create(jobJSON("m", `{"mode":"every","interval":"1m"}`, `"catch_up_policy":"run_all"`, `"misfire_grace_seconds":0`))
	h.layout = "15:04:05"
	boot := at(day + "10:15:40Z") // slots 10:00:30 … 10:15:30; 10:15:30 is missed too (grace 1 s)
	h.reconcileAt(id, boot)
	want := []string{"skipped/misfire 10:00:30-10:05:30 x6"}
	var slots []string
	for k := 6; k < 16; k++ {
		s := at(day + "10:00:30Z").Add(time.Duration(k) * time.Minute)
		slots = append(slots, h.fmtTime(s))
		want = append(want, fmt.Sprintf("fired %s #%d", h.fmtTime(s), k-5))
	}
	h.expectRuns(id, boot, slots...)
	h.expectLedger(id, want...)
	if c := h.cursor(id); c.MisfireCount != 6 {
		t.Fatalf("misfire_count %d", c.MisfireCount)
	}
	h.ledgerComplete(id, at(day+"09:59:30Z"))
}

// TestCancelPreviousCatchUp: with cancel_previous every catch-up fire supersedes the previous
// one in the same transaction.
func TestCancelPreviousCatchUp(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	id := h.create(hourly("h", "run_all", `"overlap_policy":"cancel_previous"`))
	h.clk.Set(at(day + "14:20:00Z"))
	out, err := h.svc.ReconcileJob(h.ctx, id)
	if err != nil || out == nil {
		t.Fatal(err)
	}
	h.expectLedger(id, "fired 10:00 #1", "fired 11:00 #2", "fired 12:00 #3", "fired 13:00 #4", "fired 14:00 #5")
	runs := h.runs(id)
	for i, r := range runs {
		if i < 4 && (r.Status != automation.RunCanceled || r.Error != "superseded by "+runs[i+1].ID || r.ErrorCode != automation.CodeSuperseded) {
			t.Errorf("run %d: %+v", i, r)
		}
		if i == 4 && r.Status != automation.RunScheduled {
			t.Errorf("last run %+v", r)
		}
	}
}

// TestReconcileFailureCountsAndRecovers: a reconciliation that fails leaves nothing of its
// step, increments consecutive_resume_failures, and the loop retries after RetryDelay; the
// next successful one resets the counter (SPEC §6.5).
func TestReconcileFailureCountsAndRecovers(t *testing.T) {
	h := newHarness(t, at(day+"09:30:00Z"))
	// A task-backed job cannot fire while task delegation is not wired (Delegate nil).
	id := h.create(jobJSON("task", `{"mode":"cron","expr":"0 * * * *"}`, `"task":{"title":"t"}`))
	rl := startLoop(t, h, h.svc)
	rl.log.mu.Lock()
	rl.log.expected = "task delegation is not available"
	rl.log.mu.Unlock()
	rl.waitArmed(t, at(day+"10:00:00Z"))
	h.clk.Set(at(day + "10:00:00Z"))
	rl.waitArmed(t, at(day+"10:00:01Z"))
	c := h.cursor(id)
	if c.ConsecutiveResumeFailures != 1 || !c.AccountedUntil.Equal(at(day+"09:30:00Z")) || len(h.ledger(id)) != 0 {
		t.Fatalf("cursor after a failed reconciliation %+v", c)
	}
	h.clk.Set(at(day + "10:00:01Z"))
	rl.waitArmed(t, at(day+"10:00:02Z"))
	if c := h.cursor(id); c.ConsecutiveResumeFailures != 2 {
		t.Fatalf("cursor %+v", c)
	}
	h.svc.Delegate = func(tx store.Tx, job *automation.Job, run *automation.Run) error {
		run.Status, run.EndedAt, run.TaskID, run.TaskRunID = automation.RunDelegated, run.StartedAt, "task_x", "trun_x"
		return tx.InsertRun(run)
	}
	h.clk.Set(at(day + "10:00:02Z"))
	rl.waitArmed(t, at(day+"11:00:00Z"))
	c = h.cursor(id)
	if c.ConsecutiveResumeFailures != 0 || !c.AccountedUntil.Equal(at(day+"10:00:02Z")) {
		t.Fatalf("cursor %+v", c)
	}
	es := h.expectLedger(id, "fired 10:00 #1")
	if r := h.runs(id)[0]; r.Status != automation.RunDelegated || r.ID != es[0].RunID {
		t.Fatalf("run %+v", r)
	}
}
