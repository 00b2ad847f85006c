package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/scheduler"
	"github.com/agh-dev/agh/internal/testutil"
)

// armedClock is a fake clock that remembers the deadline of every live timer, so that a test
// can wait until the scheduler sleeps until a given instant before moving the clock.
type armedClock struct {
	*clock.Fake
	mu        sync.Mutex
	deadlines map[*armedTimer]time.Time
}

func newArmedClock(now time.Time) *armedClock {
	return &armedClock{Fake: clock.NewFake(now), deadlines: map[*armedTimer]time.Time{}}
}

type armedTimer struct {
	clock.Timer
	c *armedClock
}

func (c *armedClock) NewTimer(d time.Duration) clock.Timer {
	t := &armedTimer{Timer: c.Fake.NewTimer(d), c: c}
	c.mu.Lock()
	c.deadlines[t] = c.Fake.Now().Add(d)
	c.mu.Unlock()
	return t
}

func (t *armedTimer) Reset(d time.Duration) bool {
	r := t.Timer.Reset(d)
	t.c.mu.Lock()
	t.c.deadlines[t] = t.c.Fake.Now().Add(d)
	t.c.mu.Unlock()
	return r
}

func (t *armedTimer) Stop() bool {
	r := t.Timer.Stop()
	t.c.mu.Lock()
	delete(t.c.deadlines, t)
	t.c.mu.Unlock()
	return r
}

// waitArmed waits until some timer is armed for exactly want.
func (c *armedClock) waitArmed(t *testing.T, want time.Time) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		found := false
		for _, d := range c.deadlines {
			found = found || d.Equal(want)
		}
		c.mu.Unlock()
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no timer armed for %v", want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func startClocked(t *testing.T, clk clock.Clock, extra string) *testutil.Daemon {
	t.Helper()
	return testutil.StartDaemon(t, testutil.Options{Config: baseConfig + extra, Clock: clk})
}

// TestSchedulerBootCatchUp is SPEC §6.6's worked example through the API: three hourly jobs
// (one per catch-up policy) created at 09:30, the daemon down until 14:20.
func TestSchedulerBootCatchUp(t *testing.T) {
	clk := newArmedClock(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	d := startClocked(t, clk, "")
	c := d.Client
	ids := map[string]string{}
	for _, pol := range []string{"skip_missed", "run_once", "run_all"} {
		j := createJob(t, c, fmt.Sprintf(`{"name":%q,"scope":"global","agent_name":"echo","prompt":"p",`+
			`"schedule":{"mode":"cron","expr":"0 * * * *"},"catch_up_policy":%q}`, pol, pol))
		ids[pol] = j["id"].(string)
	}
	d.Stop()
	clk.Set(time.Date(2026, 3, 2, 14, 20, 0, 0, time.UTC))
	d.Restart()
	c = d.Client // the restarted daemon listens on another port

	slots := func(pol string) string {
		var out string
		for _, e := range jobSlots(t, c, ids[pol]) {
			out += fmt.Sprintf("[%v %v %v-%v x%v run=%v local=%v] ", e["outcome"], e["reason"], e["slot_at"], e["last_slot_at"], e["count"], e["run_id"] != nil, e["local"])
		}
		return out
	}
	if got, want := slots("skip_missed"), "[skipped misfire 2026-03-02T10:00:00Z-2026-03-02T14:00:00Z x5 run=false local=2026-03-02T10:00:00Z] "; got != want {
		t.Errorf("skip_missed ledger\n%s\nwant\n%s", got, want)
	}
	if got, want := slots("run_once"), "[coalesced <nil> 2026-03-02T10:00:00Z-2026-03-02T13:00:00Z x4 run=true local=2026-03-02T10:00:00Z] "+
		"[fired <nil> 2026-03-02T14:00:00Z-<nil> x1 run=true local=2026-03-02T14:00:00Z] "; got != want {
		t.Errorf("run_once ledger\n%s\nwant\n%s", got, want)
	}
	job := obj(getJSON(t, c, "/api/automation/jobs/"+ids["skip_missed"]), "job")
	s := obj(job, "scheduler")
	if s["misfire_count"] != float64(5) || job["next_run"] != "2026-03-02T15:00:00Z" || s["accounted_until"] != "2026-03-02T14:20:00Z" ||
		s["last_scheduled_at"] != "2026-03-02T14:00:00Z" || s["last_misfire_at"] != "2026-03-02T14:20:00Z" || s["last_run_at"] != nil {
		t.Errorf("skip_missed job %v", job)
	}
	want := map[string][]string{"skip_missed": nil, "run_once": {"2026-03-02T14:00:00Z"},
		"run_all": {"2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z", "2026-03-02T12:00:00Z", "2026-03-02T13:00:00Z", "2026-03-02T14:00:00Z"}}
	for pol, sched := range want {
		runs := jobRuns(t, c, ids[pol])
		var got []string
		for i := len(runs) - 1; i >= 0; i-- {
			got = append(got, runs[i]["scheduled_at"].(string))
			if runs[i]["origin"] != "schedule" || runs[i]["started_at"] != "2026-03-02T14:20:00Z" {
				t.Errorf("%s run %v", pol, runs[i])
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(sched) {
			t.Errorf("%s runs scheduled at %v, want %v", pol, got, sched)
		}
		for _, r := range runs {
			waitRun(t, c, r["id"].(string), 10*time.Second, terminal)
		}
	}
	if led := jobSlots(t, c, ids["run_once"]); led[0]["run_id"] != led[1]["run_id"] {
		t.Errorf("coalesced entry does not point at the 14:00 run: %v", led)
	}

	// The scheduler then fires the next slot at its instant.
	clk.waitArmed(t, time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC))
	clk.Set(time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC))
	deadline := time.Now().Add(10 * time.Second)
	for len(jobRuns(t, c, ids["skip_missed"])) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("15:00 did not fire")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := jobRuns(t, c, ids["skip_missed"])[0]
	if r["scheduled_at"] != "2026-03-02T15:00:00Z" || r["started_at"] != "2026-03-02T15:00:00Z" {
		t.Errorf("15:00 run %v", r)
	}
}

// TestSchedulerDisableEnable: disable unregisters the job (no next_run); slots passing while
// disabled are one skipped(disabled) entry when it is enabled again (SPEC §6.10).
func TestSchedulerDisableEnable(t *testing.T) {
	clk := newArmedClock(time.Date(2026, 3, 2, 9, 59, 30, 0, time.UTC))
	d := startClocked(t, clk, "")
	c := d.Client
	j := createJob(t, c, `{"name":"m","scope":"global","agent_name":"echo","prompt":"p","schedule":{"mode":"every","interval":"1m"},"fire_limit":{"max":100,"window":"1h"}}`)
	id := j["id"].(string)
	first := time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)
	if j["next_run"] != "2026-03-02T10:00:30Z" {
		t.Fatalf("next_run %v", j["next_run"])
	}
	clk.waitArmed(t, first)
	clk.Set(first)
	deadline := time.Now().Add(10 * time.Second)
	for len(jobSlots(t, c, id)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first slot did not fire")
		}
		time.Sleep(10 * time.Millisecond)
	}
	clk.Set(first.Add(10 * time.Second))
	dis := obj(expect(t, c, "PATCH", "/api/automation/jobs/"+id, `{"enabled":false}`, 200, "", ""), "job")
	if dis["next_run"] != nil || obj(dis, "scheduler")["registered"] != false || obj(dis, "scheduler")["next_run_at"] != nil {
		t.Fatalf("disabled job %v", dis)
	}
	clk.Set(first.Add(3*time.Minute + 10*time.Second))
	en := obj(expect(t, c, "PATCH", "/api/automation/jobs/"+id, `{"enabled":true}`, 200, "", ""), "job")
	if en["next_run"] != "2026-03-02T10:04:30Z" || obj(en, "scheduler")["accounted_until"] != "2026-03-02T10:03:40Z" {
		t.Fatalf("enabled job %v", en)
	}
	led := jobSlots(t, c, id)
	if len(led) != 2 || led[0]["outcome"] != "fired" || led[1]["outcome"] != "skipped" || led[1]["reason"] != "disabled" ||
		led[1]["count"] != float64(3) || led[1]["slot_at"] != "2026-03-02T10:01:30Z" || led[1]["last_slot_at"] != "2026-03-02T10:03:30Z" {
		t.Fatalf("ledger %v", led)
	}
	if n := len(jobRuns(t, c, id)); n != 1 {
		t.Fatalf("%d runs", n)
	}
}

// TestDefaultTimezoneChangeResetsCursors: a change of automation.timezone (by reload, or while
// the daemon was down) is a schedule change for every cron job without its own zone, dynamic
// and config-sourced (SPEC §6.3, §6.10).
func TestDefaultTimezoneChangeResetsCursors(t *testing.T) {
	const cfgJob = `
[[automation.jobs]]
name = "cfgnine"
scope = "global"
agent = "echo"
prompt = "p"
schedule = { mode = "cron", expr = "0 9 * * *" }
`
	cfgID := automation.DefinitionID(automation.PrefixJob, "job", "global", "", "cfgnine")
	clk := newArmedClock(time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC))
	d := startClocked(t, clk, "\n[automation]\ntimezone = \"UTC\"\n"+cfgJob)
	c := d.Client
	j := createJob(t, c, `{"name":"nine","scope":"global","agent_name":"echo","prompt":"p","schedule":{"mode":"cron","expr":"0 9 * * *"}}`)
	own := createJob(t, c, `{"name":"own","scope":"global","agent_name":"echo","prompt":"p","schedule":{"mode":"cron","expr":"0 9 * * *","timezone":"Europe/Paris"}}`)
	id := j["id"].(string)
	if j["next_run"] != "2026-03-02T09:00:00Z" || obj(j, "scheduler")["timezone"] != "UTC" {
		t.Fatalf("job %v", j)
	}
	clk.Set(time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC))
	writeConfig(t, d, "\n[automation]\ntimezone = \"Asia/Tokyo\"\n"+cfgJob)
	d.D.Reload(context.Background())
	if st := getJSON(t, c, "/api/status"); fmt.Sprint(st["last_reload_error"]) != "<nil>" && fmt.Sprint(st["last_reload_error"]) != "" {
		t.Fatalf("reload failed: %v", st)
	}
	j = obj(getJSON(t, c, "/api/automation/jobs/"+id), "job")
	s := obj(j, "scheduler")
	// 09:00 in Tokyo is 00:00Z.
	if s["timezone"] != "Asia/Tokyo" || j["next_run"] != "2026-03-02T00:00:00Z" || s["accounted_until"] != "2026-03-01T23:30:00Z" {
		t.Fatalf("after reload: next_run %v scheduler %v", j["next_run"], s)
	}
	if cj := obj(getJSON(t, c, "/api/automation/jobs/"+cfgID), "job"); obj(cj, "scheduler")["timezone"] != "Asia/Tokyo" || cj["next_run"] != "2026-03-02T00:00:00Z" {
		t.Fatalf("config job after reload: %v", cj)
	}
	p := obj(getJSON(t, c, "/api/automation/jobs/"+id+"/preview?count=1"), "preview")
	if f := list(p, "fires"); len(f) != 1 || f[0].(map[string]any)["at"] != j["next_run"] {
		t.Fatalf("preview %v, next_run %v", p, j["next_run"])
	}
	if o := obj(getJSON(t, c, "/api/automation/jobs/"+own["id"].(string)), "job"); fmt.Sprint(o["scheduler"]) != fmt.Sprint(own["scheduler"]) {
		t.Fatalf("a job with its own zone changed:\n%v\n%v", o["scheduler"], own["scheduler"])
	}
	// And it fires at 00:00Z.
	midnight := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	clk.waitArmed(t, midnight)
	clk.Set(midnight)
	deadline := time.Now().Add(10 * time.Second)
	for len(jobRuns(t, c, id)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("00:00Z did not fire")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if led := jobSlots(t, c, id); len(led) != 1 || led[0]["outcome"] != "fired" || led[0]["local"] != "2026-03-02T09:00:00+09:00" {
		t.Fatalf("ledger %v", led)
	}

	// The same change made while the daemon is down applies at boot.
	d.Stop()
	writeConfig(t, d, "\n[automation]\ntimezone = \"Europe/London\"\n"+cfgJob)
	clk.Set(time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC))
	d.Restart()
	c = d.Client
	j = obj(getJSON(t, c, "/api/automation/jobs/"+id), "job")
	s = obj(j, "scheduler")
	if s["timezone"] != "Europe/London" || j["next_run"] != "2026-03-02T09:00:00Z" || s["accounted_until"] != "2026-03-02T01:00:00Z" {
		t.Fatalf("after restart: next_run %v scheduler %v", j["next_run"], s)
	}
	if cj := obj(getJSON(t, c, "/api/automation/jobs/"+cfgID), "job"); obj(cj, "scheduler")["timezone"] != "Europe/London" || cj["next_run"] != "2026-03-02T09:00:00Z" {
		t.Fatalf("config job after restart: %v", cj)
	}
}

// TestSchedulerClaimsGroupAhead: 40 jobs due at one instant are claimed before it (DECISIONS
// 28): their runs are committed as scheduled runs before 10:00, the dispatcher sleeps until
// 10:00 instead of starting them, and starts them at 10:00.
func TestSchedulerClaimsGroupAhead(t *testing.T) {
	clk := newArmedClock(time.Date(2026, 3, 2, 9, 59, 0, 0, time.UTC))
	d := startClocked(t, clk, "")
	c := d.Client
	due := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := 0; i < 40; i++ {
		j := createJob(t, c, fmt.Sprintf(`{"name":"g%d","scope":"global","agent_name":"echo","prompt":"p","schedule":{"mode":"at","time":"2026-03-02T10:00:00Z"}}`, i))
		ids = append(ids, j["id"].(string))
	}
	claimAt := due.Add(-scheduler.PlannedLead(len(ids), scheduler.DefaultClaimCost))
	clk.waitArmed(t, due.Add(-scheduler.MaxLead)) // the scheduler plans the group then
	clk.Set(due.Add(-scheduler.MaxLead))
	clk.waitArmed(t, claimAt)
	clk.Set(claimAt)
	for _, id := range ids {
		deadline := time.Now().Add(10 * time.Second)
		for len(jobRuns(t, c, id)) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("job %s: no run claimed ahead", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The dispatcher sleeps until the runs' scheduled_at.
	clk.waitArmed(t, due)
	for _, id := range ids {
		r := jobRuns(t, c, id)[0]
		if r["status"] != "scheduled" || r["scheduled_at"] != "2026-03-02T10:00:00Z" || r["started_at"] != automation.FormatTime(claimAt) || r["dispatched_at"] != nil {
			t.Fatalf("run claimed ahead %v", r)
		}
	}
	clk.Set(due)
	for _, id := range ids {
		r := waitRun(t, c, jobRuns(t, c, id)[0]["id"].(string), 10*time.Second, terminal)
		if r["status"] != "completed" || r["dispatched_at"] != "2026-03-02T10:00:00Z" {
			t.Fatalf("run %v", r)
		}
	}
}
