package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/testutil"
	"github.com/agh-dev/agh/internal/webhook"
)

// Fault injection (issue 9): the real binary is killed with SIGKILL at random moments while
// `every 1s` jobs fire and signed webhooks arrive, and restarted, over and over. At the end
// every acknowledged webhook delivery has exactly one run, no fire has two first attempts,
// every schedule slot has exactly one ledger outcome (SPEC §1.1 rule 3, §5.3, §6.7, §9.7), and
// the SQLite file passes PRAGMA integrity_check.
//
// The CI form runs 5 cycles (10–15 s on 2 cores, once the binary is built). The long form
// (about 3 minutes for 100 cycles):
//
//	AGH_FAULT_CYCLES=100 go test ./e2e -run FaultInjection -timeout 60m -v
//
// AGH_FAULT_SEED=<n> replays the random choices (kill instants, downtimes, what the senders
// send) of a logged run; the interleaving with the daemon's own timing of course differs.

const faultSecret = "fault-injection-webhook-secret"

// faultJob is one `every 1s` job of the fault-injection test and the ledger outcomes its
// policies allow.
type faultJob struct {
	name, body string
	allowed    map[string]bool // "fired", "coalesced", "skipped/<reason>"
	retries    int             // max_retries (0: no retry policy)
	id         string
}

// faultDelivery is what the senders know about one webhook delivery id.
type faultDelivery struct {
	id       string
	run      string // the run the daemon acknowledged for it (200, or the 409 replay)
	admitted int    // 200 answers with a run
	replays  int    // 409 replay answers
}

// faultSender posts signed webhooks to one trigger and records every acknowledgement.
// Deliveries whose request got no answer (daemon killed, 503) are retried with the same
// delivery id until acknowledged, like a real sender would; acknowledged ones are re-sent now
// and then on purpose, which must be answered 409 replay with the original run.
type faultSender struct {
	t    *testing.T
	c    *client.Client
	path string

	mu          sync.Mutex
	all         map[string]*faultDelivery
	acked       []string // acknowledged delivery ids, in acknowledgement order
	pending     []string // sent but never answered: to be retried
	next        int
	posts       int // requests sent
	unanswered  int // transport errors and 503s
	resends     int // deliberate re-sends of acknowledged ids
	resent409   int // … answered 409 replay
	retried     int // re-sends of unanswered ids
	lostAnswers int // … answered 409 replay: admitted although the first answer was lost
	twins       int // deliveries sent twice concurrently
	twinReplays int // 409 replay answers among twin sends
}

func newFaultSender(t *testing.T, c *client.Client, path string) *faultSender {
	return &faultSender{t: t, c: c, path: path, all: map[string]*faultDelivery{}}
}

// run sends deliveries until stop is closed, about one every 5–15 ms.
func (s *faultSender) run(rng *rand.Rand, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		s.sendOne(rng)
		time.Sleep(time.Duration(5+rng.IntN(11)) * time.Millisecond)
	}
}

// sendOne picks a delivery: an unanswered one to retry, an acknowledged one to re-send on
// purpose, or a new one (sometimes sent twice concurrently), and posts it.
func (s *faultSender) sendOne(rng *rand.Rand) {
	s.mu.Lock()
	var id, kind string
	switch r := rng.IntN(20); {
	case len(s.pending) > 0 && r < 6:
		i := rng.IntN(len(s.pending))
		id, kind = s.pending[i], "retry"
		s.pending = append(s.pending[:i], s.pending[i+1:]...)
		s.retried++
	case len(s.acked) > 0 && r >= 6 && r < 8:
		id, kind = s.acked[rng.IntN(len(s.acked))], "resend"
		s.resends++
	default:
		s.next++
		id, kind = fmt.Sprintf("fault-%06d", s.next), "new"
		s.all[id] = &faultDelivery{id: id}
		if r == 19 {
			kind = "twin"
			s.twins++
		}
	}
	s.mu.Unlock()
	if kind != "twin" {
		s.post(id, kind)
		return
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); s.post(id, kind) }()
	}
	wg.Wait()
}

// post sends delivery id once and records the answer.
func (s *faultSender) post(id, kind string) {
	body := []byte(fmt.Sprintf(`{"delivery":%q,"kind":%q,"sent_at":%q}`, id, kind, time.Now().UTC().Format(time.RFC3339Nano)))
	h := webhook.Sign("agh", []byte(faultSecret), body, time.Now(), id)
	resp, err := s.c.Raw(context.Background(), "POST", s.path, body, h)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts++
	d := s.all[id]
	if err != nil || resp.Status == 503 {
		// No answer: the delivery may or may not have been admitted. Retry it later
		// unless it is (or is about to be) acknowledged through another send.
		s.unanswered++
		if d.run == "" && kind != "resend" && !s.isPending(id) {
			s.pending = append(s.pending, id)
		}
		return
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Body, &m); err != nil {
		s.t.Errorf("delivery %s (%s): status %d, body is not JSON: %s", id, kind, resp.Status, resp.Body)
		return
	}
	switch resp.Status {
	case 200:
		res := obj(m, "result")
		runs := list(res, "runs")
		if res["matched"] != float64(1) || len(runs) != 1 || res["delivery_id"] != id {
			s.t.Errorf("delivery %s (%s): 200 without exactly one run: %s", id, kind, resp.Body)
			return
		}
		r := runs[0].(map[string]any)
		if r["status"] != "scheduled" || r["origin"] != "webhook" || r["attempt"] != float64(1) || r["delivery_id"] != id {
			s.t.Errorf("delivery %s (%s): admitted run %v", id, kind, r)
		}
		d.admitted++
		if d.admitted > 1 {
			s.t.Errorf("DUPLICATE: delivery %s (%s) admitted twice: runs %s and %v", id, kind, d.run, r["id"])
		}
		s.ack(d, r["id"].(string), kind)
	case 409:
		ids := list(m, "run_ids")
		if m["code"] != "replay" || len(ids) != 1 {
			s.t.Errorf("delivery %s (%s): 409 %s", id, kind, resp.Body)
			return
		}
		d.replays++
		switch kind {
		case "resend":
			s.resent409++
		case "twin":
			s.twinReplays++
		case "retry":
			if d.run == "" {
				s.lostAnswers++
			}
		}
		s.ack(d, ids[0].(string), kind)
	default:
		s.t.Errorf("delivery %s (%s): unexpected status %d: %s", id, kind, resp.Status, resp.Body)
	}
}

func (s *faultSender) isPending(id string) bool {
	for _, p := range s.pending {
		if p == id {
			return true
		}
	}
	return false
}

// ack records that the daemon answered delivery d with run (s.mu held).
func (s *faultSender) ack(d *faultDelivery, run, kind string) {
	switch {
	case d.run == "":
		d.run = run
		s.acked = append(s.acked, d.id)
		for i, p := range s.pending {
			if p == d.id {
				s.pending = append(s.pending[:i], s.pending[i+1:]...)
				break
			}
		}
	case d.run != run:
		s.t.Errorf("DUPLICATE: delivery %s (%s) acknowledged with run %s, earlier with %s", d.id, kind, run, d.run)
	}
}

// drain retries every unanswered delivery until it is acknowledged (the daemon is up).
func (s *faultSender) drain(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		ids := append([]string(nil), s.pending...)
		s.pending = nil
		s.retried += len(ids)
		s.mu.Unlock()
		if len(ids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still unanswered after 30 s: %v", ids)
		}
		for _, id := range ids {
			s.post(id, "retry")
		}
	}
}

func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs the binary through many kill/restart cycles")
	}
	seed := testutil.Seed(t, "AGH_FAULT_SEED")
	cycles := testutil.EnvInt(t, "AGH_FAULT_CYCLES", 5, 1)
	rng := testutil.NewRand(seed, 0)

	cfg := `
[automation]
max_concurrent_runs = 8
shutdown_grace = "2s"

[automation.webhooks]
rate_limit = 0

[automation.history]
slots_per_job = 100000
deliveries_per_trigger = 100000
` + agentCfg("ok", "true") + agentCfg("slow", "sleep", "0.3")
	p := testutil.StartProcess(t, testutil.ProcOptions{Config: cfg})
	c := p.Client
	began := time.Now() // after the build of the binary

	every := func(name, agent, extra string) string {
		return fmt.Sprintf(`{"name":%q,"scope":"global","agent_name":%q,"prompt":"tick",`+
			`"schedule":{"mode":"every","interval":"1s"},"fire_limit":{"max":100000,"window":"1h"},%s}`, name, agent, extra)
	}
	set := func(outcomes ...string) map[string]bool {
		m := map[string]bool{}
		for _, o := range outcomes {
			m[o] = true
		}
		return m
	}
	// Each downtime is shorter than 10 slots, so run_all catches every missed slot up, and
	// overlap "allow" never skips: the allowed outcomes are exact per policy (SPEC §6.6).
	jobs := []*faultJob{
		{name: "skip-missed", body: every("skip-missed", "ok", `"catch_up_policy":"skip_missed","misfire_grace_seconds":0`),
			allowed: set("fired", "skipped/misfire")},
		{name: "run-once", body: every("run-once", "ok", `"catch_up_policy":"run_once","misfire_grace_seconds":1`),
			allowed: set("fired", "coalesced")},
		{name: "run-all", body: every("run-all", "ok", `"catch_up_policy":"run_all","misfire_grace_seconds":0`),
			allowed: set("fired")},
		{name: "queue-run-once", body: every("queue-run-once", "ok", `"catch_up_policy":"run_once","misfire_grace_seconds":0,"overlap_policy":"queue"`),
			allowed: set("fired", "coalesced")},
		// A slower agent, so that kills interrupt its runs, and a retry policy: interrupted
		// runs get attempt 2, 3, … (SPEC §7.10, §7.5); overlap "skip" skips slots while a
		// run or a waiting retry is active.
		{name: "retry-skip", body: every("retry-skip", "slow", `"catch_up_policy":"run_all","misfire_grace_seconds":1,"overlap_policy":"skip",`+
			`"retry":{"strategy":"backoff","max_retries":3,"base_delay":"1s"}`),
			allowed: set("fired", "skipped/overlap"), retries: 3},
	}
	for _, j := range jobs {
		j.id = createJob(t, c, j.body)["id"].(string)
	}
	tr := obj(expect(t, c, "POST", "/api/automation/triggers", `{"name":"fault-hook","scope":"global","agent_name":"ok",`+
		`"event":"webhook","endpoint_slug":"fault","webhook_secret_value":"`+faultSecret+`",`+
		`"fire_limit":{"max":1000000,"window":"1h"},"prompt":"handle {{ .Data.delivery }}"}`, 201, "", ""), "trigger")
	triggerID := tr["id"].(string)
	sender := newFaultSender(t, c, tr["webhook_path"].(string))

	// The cycles. Each one: senders post while the jobs fire, SIGKILL after 100–700 ms of
	// service, the senders stop, the daemon stays down for a while (short or long enough for
	// slots to be missed), and is restarted on the same data directory.
	const senders = 2
	var maxDown time.Duration
	for cycle := 1; cycle <= cycles; cycle++ {
		up := time.Duration(100+rng.IntN(601)) * time.Millisecond
		var down time.Duration
		if rng.IntN(2) == 0 {
			down = time.Duration(rng.IntN(300)) * time.Millisecond
		} else {
			down = time.Duration(1000+rng.IntN(1500)) * time.Millisecond
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range senders {
			wg.Add(1)
			sr := testutil.NewRand(seed, uint64(cycle*senders+i+1))
			go func() { defer wg.Done(); sender.run(sr, stop) }()
		}
		time.Sleep(up)
		if !p.Running() {
			t.Fatalf("cycle %d: the daemon died on its own", cycle)
		}
		p.Kill()
		killed := time.Now()
		close(stop)
		wg.Wait()
		time.Sleep(down)
		p.Restart()
		if d := time.Since(killed); d > maxDown {
			maxDown = d
		}
		sender.mu.Lock()
		t.Logf("cycle %d: up %v, down %v (back after %v); %d posts, %d acknowledged, %d unanswered so far",
			cycle, up, down, time.Since(killed).Round(time.Millisecond), sender.posts, len(sender.acked), sender.unanswered)
		sender.mu.Unlock()
		if t.Failed() {
			t.FailNow()
		}
	}
	if maxDown > 9*time.Second {
		// run_all catches up only the 10 most recent missed slots (SPEC §6.6).
		jobs[2].allowed["skipped/misfire"] = true
		jobs[4].allowed["skipped/misfire"] = true
	}
	cyclesDone := time.Now()

	// Every delivery that got no answer is retried until it is acknowledged.
	sender.drain(t)
	// Freeze the cursors: disabling reconciles the due slots first and then leaves
	// accounted_until alone (SPEC §6.10), so the ledger can be read consistently.
	for _, j := range jobs {
		expect(t, c, "PATCH", "/api/automation/jobs/"+j.id, `{"enabled":false}`, 200, "", "")
	}

	runs := allPages(t, c, "/api/automation/runs", "runs")
	stats := checkFaultRuns(t, runs, jobs, triggerID)
	slots := map[string]int{}
	for _, j := range jobs {
		checkFaultLedger(t, c, j, runs, slots)
	}
	lost, dup := checkFaultDeliveries(t, c, sender, runs, triggerID)

	if code := p.Stop(); code != 0 {
		t.Fatalf("daemon exited %d after SIGTERM", code)
	}
	integrityCheck(t, p.DataDir)

	// Claims and runs survive a clean restart too: re-sends are still replays.
	p.Restart()
	sender.mu.Lock()
	sample := append([]string(nil), sender.acked...)
	sender.mu.Unlock()
	rng.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
	for _, id := range sample[:min(20, len(sample))] {
		before := sender.all[id].replays
		sender.resends++
		sender.post(id, "resend")
		if sender.all[id].replays != before+1 {
			t.Errorf("re-send of %s after the final restart was not a replay", id)
		}
	}
	if n := len(allPages(t, c, "/api/automation/runs", "runs")); n < len(runs) {
		t.Errorf("%d runs after the final restart, %d before", n, len(runs))
	}
	if code := p.Stop(); code != 0 {
		t.Fatalf("daemon exited %d after SIGTERM", code)
	}
	integrityCheck(t, p.DataDir)

	sender.mu.Lock()
	defer sender.mu.Unlock()
	t.Logf("fault injection: seed %d, %d cycles (%v, %v in total), longest downtime %v",
		seed, cycles, cyclesDone.Sub(began).Round(time.Millisecond), time.Since(began).Round(time.Millisecond), maxDown.Round(time.Millisecond))
	t.Logf("webhooks: %d deliveries acknowledged, %d lost, %d duplicated; %d posts, %d unanswered (%d retried, %d of them had been admitted: 409 replay), %d deliberate re-sends (%d answered 409 replay), %d concurrent twins (%d replays)",
		len(sender.acked), lost, dup, sender.posts, sender.unanswered, sender.retried, sender.lostAnswers, sender.resends, sender.resent409, sender.twins, sender.twinReplays)
	t.Logf("runs: %d (%d fires: %d schedule, %d webhook; %d retries; %d interrupted by the kills), %d fire ids with two attempt-1 runs",
		len(runs), stats.fires, stats.scheduleFires, stats.webhookFires, stats.retries, stats.interrupted, stats.dupFires)
	var keys []string
	for k := range slots {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, slots[k]))
	}
	t.Logf("slots: %s", strings.Join(parts, ", "))
}

type faultRunStats struct {
	fires, scheduleFires, webhookFires, retries, interrupted, dupFires int
}

// checkFaultRuns checks the run invariants of SPEC §5.3 over every run: one first attempt per
// fire, attempts numbered without gaps and chained by retry_of after a retryable failure,
// retries only where the definition has a retry policy, ended_at iff terminal, time order.
func checkFaultRuns(t *testing.T, runs []map[string]any, jobs []*faultJob, triggerID string) faultRunStats {
	t.Helper()
	var st faultRunStats
	maxRetries := map[string]int{triggerID: 0}
	for _, j := range jobs {
		maxRetries[j.id] = j.retries
	}
	fires := map[string]map[int]map[string]any{} // fire id → attempt → run
	for _, r := range runs {
		def, _ := r["job_id"].(string)
		if tid, _ := r["trigger_id"].(string); (def == "") == (tid == "") {
			t.Errorf("run %s: exactly one of job_id, trigger_id must be set: %v", r["id"], r)
			continue
		} else if def == "" {
			def = tid
		}
		if _, ok := maxRetries[def]; !ok {
			t.Errorf("run %s of an unknown definition: %v", r["id"], r)
			continue
		}
		fire := r["fire_id"].(string)
		attempt := int(r["attempt"].(float64))
		if fires[fire] == nil {
			fires[fire] = map[int]map[string]any{}
		}
		if prev := fires[fire][attempt]; prev != nil {
			if attempt == 1 {
				st.dupFires++
			}
			t.Errorf("DUPLICATE: fire %s has two runs with attempt %d: %s and %s", fire, attempt, prev["id"], r["id"])
		}
		fires[fire][attempt] = r
		terminal := r["status"] == "completed" || r["status"] == "failed" || r["status"] == "canceled" || r["status"] == "delegated"
		if (r["ended_at"] != nil) != terminal {
			t.Errorf("run %s: status %v with ended_at %v", r["id"], r["status"], r["ended_at"])
		}
		started := mustTime(t, r["started_at"])
		if r["dispatched_at"] != nil && mustTime(t, r["dispatched_at"]).Before(started) {
			t.Errorf("run %s: dispatched_at before started_at: %v", r["id"], r)
		}
		if r["ended_at"] != nil {
			ended := mustTime(t, r["ended_at"])
			if ended.Before(started) || (r["dispatched_at"] != nil && ended.Before(mustTime(t, r["dispatched_at"]))) {
				t.Errorf("run %s: ended_at out of order: %v", r["id"], r)
			}
		}
		if r["error_code"] == "interrupted" {
			st.interrupted++
		}
		if attempt > 1 {
			st.retries++
		}
		if attempt > 1+maxRetries[def] {
			t.Errorf("run %s: attempt %d, but its definition allows %d retries", r["id"], attempt, maxRetries[def])
		}
	}
	for fire, attempts := range fires {
		first := attempts[1]
		if first == nil {
			t.Errorf("fire %s has no attempt 1: %v", fire, attempts)
			continue
		}
		st.fires++
		switch first["origin"] {
		case "schedule":
			st.scheduleFires++
		case "webhook":
			st.webhookFires++
		default:
			t.Errorf("fire %s: origin %v", fire, first["origin"])
		}
		for a := 2; a <= len(attempts); a++ {
			r, prev := attempts[a], attempts[a-1]
			if r == nil || prev == nil {
				t.Errorf("fire %s: attempts are not numbered 1..%d without gaps", fire, len(attempts))
				break
			}
			if r["retry_of"] != prev["id"] || prev["status"] != "failed" || !automation.Retryable(fmt.Sprint(prev["error_code"])) ||
				r["origin"] != first["origin"] || r["delivery_id"] != first["delivery_id"] {
				t.Errorf("fire %s: attempt %d %v does not follow attempt %d %v", fire, a, r, a-1, prev)
			}
		}
	}
	return st
}

// checkFaultLedger checks one job's slot ledger against its cursor and its runs: the entries
// tile the `every 1s` grid over (anchor_at, accounted_until] exactly once, each with an
// outcome its policies allow; fired entries and first-attempt schedule runs are the same set;
// coalesced entries point at a later fired run; misfire_count counts the misfire slots.
func checkFaultLedger(t *testing.T, c *client.Client, j *faultJob, all []map[string]any, totals map[string]int) {
	t.Helper()
	job := obj(getJSON(t, c, "/api/automation/jobs/"+j.id), "job")
	slots := jobSlots(t, c, j.id)
	if again := obj(getJSON(t, c, "/api/automation/jobs/"+j.id), "job"); fmt.Sprint(again["scheduler"]) != fmt.Sprint(job["scheduler"]) {
		t.Fatalf("%s: the cursor of a disabled job moved: %v → %v", j.name, job["scheduler"], again["scheduler"])
	}
	sched := obj(job, "scheduler")
	anchor := mustTime(t, sched["anchor_at"])
	accounted := mustTime(t, sched["accounted_until"])
	const step = time.Second
	grid := int(accounted.Sub(anchor) / step)
	dump := func() string {
		b, _ := json.MarshalIndent(slots, "", " ")
		return fmt.Sprintf("job %s (%s) scheduler %v\nledger %s", j.name, j.id, sched, b)
	}

	fired := map[string]map[string]any{} // fire id → entry
	firedRuns := map[string]time.Time{}  // run id → slot, for fired entries
	sum, misfires := 0, 0
	next := anchor.Add(step)
	for _, e := range slots {
		first := mustTime(t, e["slot_at"])
		n := int(e["count"].(float64))
		last := first
		if n > 1 {
			last = mustTime(t, e["last_slot_at"])
		}
		if !first.Equal(next) || !last.Equal(first.Add(time.Duration(n-1)*step)) {
			t.Fatalf("LOST/DUPLICATE SLOT: %s: entry %v does not continue the grid at %v\n%s", j.name, e, next, dump())
		}
		next = last.Add(step)
		sum += n
		key := fmt.Sprint(e["outcome"])
		if e["reason"] != nil {
			key += "/" + fmt.Sprint(e["reason"])
		}
		if !j.allowed[key] {
			t.Errorf("%s: ledger entry %v: outcome %s is not allowed by the job's policies", j.name, e, key)
		}
		totals[key] += n
		switch e["outcome"] {
		case "fired":
			if n != 1 {
				t.Errorf("%s: fired entry with count %d: %v", j.name, n, e)
			}
			fid := fmt.Sprint(e["fire_id"])
			if fid != automation.FireID(j.id, first) {
				t.Errorf("%s: fired entry %v: fire_id, want %s", j.name, e, automation.FireID(j.id, first))
			}
			if fired[fid] != nil {
				t.Errorf("DUPLICATE: %s: fire %s appears twice in the ledger", j.name, fid)
			}
			fired[fid] = e
			firedRuns[fmt.Sprint(e["run_id"])] = first
		case "skipped":
			if e["reason"] == "misfire" {
				misfires += n
			}
		}
	}
	if sum != grid {
		t.Fatalf("LOST SLOTS: %s: the ledger accounts for %d slots, the grid has %d in (%v, %v]\n%s", j.name, sum, grid, anchor, accounted, dump())
	}
	if int(sched["misfire_count"].(float64)) != misfires {
		t.Errorf("%s: misfire_count %v, the ledger has %d skipped(misfire) slots", j.name, sched["misfire_count"], misfires)
	}
	totals["slots"] += sum

	// Fired entries ↔ first-attempt schedule runs.
	runs := 0
	for _, r := range all {
		if r["job_id"] != j.id || r["attempt"] != float64(1) {
			continue
		}
		runs++
		fid := r["fire_id"].(string)
		at := mustTime(t, r["scheduled_at"])
		e := fired[fid]
		switch {
		case r["origin"] != "schedule":
			t.Errorf("%s: run %s has origin %v", j.name, r["id"], r["origin"])
		case e == nil:
			t.Errorf("%s: schedule run %s (fire %s, slot %v) has no fired ledger entry\n%s", j.name, r["id"], fid, at, dump())
		case e["run_id"] != r["id"] || !mustTime(t, e["slot_at"]).Equal(at):
			t.Errorf("%s: fired entry %v does not match its run %v", j.name, e, r)
		}
		delete(fired, fid)
	}
	for fid, e := range fired {
		t.Errorf("LOST RUN: %s: fired entry for fire %s has no run: %v", j.name, fid, e)
	}
	for _, e := range slots {
		if e["outcome"] != "coalesced" {
			continue
		}
		at, ok := firedRuns[fmt.Sprint(e["run_id"])]
		last := mustTime(t, e["slot_at"])
		if e["last_slot_at"] != nil {
			last = mustTime(t, e["last_slot_at"])
		}
		if !ok || !at.After(last) {
			t.Errorf("%s: coalesced entry %v does not point at a later fired run", j.name, e)
		}
	}
	t.Logf("job %s: %d slots in (%s, %s], %d ledger entries, %d fires",
		j.name, sum, anchor.Format("15:04:05.000"), accounted.Format("15:04:05.000"), len(slots), runs)
}

// checkFaultDeliveries checks the webhook side: every acknowledged delivery has exactly one
// first-attempt run, the one it was acknowledged with; no webhook run exists for a delivery
// the senders never had acknowledged; each such run is logged once as accepted (SPEC §5.3 #8).
func checkFaultDeliveries(t *testing.T, c *client.Client, s *faultSender, runs []map[string]any, triggerID string) (lost, dup int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	byDelivery := map[string][]string{}
	for _, r := range runs {
		if r["trigger_id"] != triggerID || r["attempt"] != float64(1) {
			continue
		}
		id, _ := r["delivery_id"].(string)
		byDelivery[id] = append(byDelivery[id], r["id"].(string))
	}
	for id, d := range s.all {
		got := byDelivery[id]
		switch {
		case d.run == "":
			t.Errorf("LOST: delivery %s was never acknowledged (runs %v)", id, got)
		case len(got) == 0:
			lost++
			t.Errorf("LOST: delivery %s acknowledged with run %s, which does not exist", id, d.run)
		case len(got) > 1:
			dup++
			t.Errorf("DUPLICATE: delivery %s has %d first-attempt runs: %v", id, len(got), got)
		case got[0] != d.run:
			t.Errorf("delivery %s acknowledged with run %s, but its run is %s", id, d.run, got[0])
		}
		delete(byDelivery, id)
	}
	for id, rs := range byDelivery {
		t.Errorf("webhook runs %v for delivery %q, which the senders never sent", rs, id)
	}
	accepted := map[string]int{}
	for _, d := range allPages(t, c, "/api/automation/triggers/"+triggerID+"/deliveries?outcome=accepted", "deliveries") {
		for _, r := range list(d, "run_ids") {
			accepted[r.(string)]++
		}
	}
	for id, d := range s.all {
		if d.run != "" && accepted[d.run] != 1 {
			t.Errorf("delivery %s: its run %s appears %d times as accepted in the delivery log", id, d.run, accepted[d.run])
		}
	}
	if len(accepted) != len(s.all) {
		t.Errorf("the delivery log has %d accepted runs, %d deliveries were acknowledged", len(accepted), len(s.all))
	}
	return lost, dup
}
