package scheduler_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/scheduler"
	"github.com/agh-dev/agh/internal/service"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/postgres"
	"github.com/agh-dev/agh/internal/store/sqlite"
	"github.com/agh-dev/agh/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// harness is a service over a real SQLite store in a temp directory, driven by a fake clock.
type harness struct {
	t      testing.TB
	ctx    context.Context
	st     store.Store
	clk    *clock.Fake
	svc    *service.Service
	layout string // how ledger and run times are printed by the assertion helpers
}

func newHarness(t testing.TB, now time.Time, mods ...func(*config.Config)) *harness {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "agh.db"), sqlite.Options{ReadConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newHarnessOn(t, st, now, mods...)
}

// newPGHarness is newHarness on a fresh database of the test binary's PostgreSQL server.
func newPGHarness(t testing.TB, now time.Time, mods ...func(*config.Config)) *harness {
	t.Helper()
	url := pgtest.StartFrom(t, "agh-scheduler", func(url string) error {
		s, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			return err
		}
		return s.Close()
	})
	st, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newHarnessOn(t, st, now, mods...)
}

func newHarnessOn(t testing.TB, st store.Store, now time.Time, mods ...func(*config.Config)) *harness {
	t.Helper()
	cfg := config.Default()
	cfg.Agents["a"] = &config.Agent{Name: "a", Driver: "exec", Command: []string{"true"}, Timeout: time.Minute}
	for _, m := range mods {
		m(cfg)
	}
	clk := clock.NewFake(now)
	return &harness{t: t, ctx: context.Background(), st: st, clk: clk, svc: service.New(st, clk, cfg), layout: "15:04"}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// jobJSON returns a create body for agent "a" with a generous fire limit.
func jobJSON(name, schedule string, extra ...string) string {
	parts := append([]string{`"name":"` + name + `"`, `"scope":"global"`, `"agent_name":"a"`, `"prompt":"p"`,
		`"schedule":` + schedule, `"fire_limit":{"max":1000,"window":"1h"}`}, extra...)
	return "{" + strings.Join(parts, ",") + "}"
}

func (h *harness) create(body string) string {
	h.t.Helper()
	m, err := automation.DecodeJSONObject([]byte(body))
	if err != nil {
		h.t.Fatal(err)
	}
	in, err := automation.DecodeJob("job", m, false)
	if err != nil {
		h.t.Fatal(err)
	}
	rec, err := h.svc.CreateJob(h.ctx, in)
	if err != nil {
		h.t.Fatalf("create %s: %v", body, err)
	}
	return rec.Job.ID
}

func (h *harness) patch(id, body string) store.JobRecord {
	h.t.Helper()
	m, err := automation.DecodeJSONObject([]byte(body))
	if err != nil {
		h.t.Fatal(err)
	}
	in, err := automation.DecodeJob("job", m, true)
	if err != nil {
		h.t.Fatal(err)
	}
	rec, err := h.svc.PatchJob(h.ctx, id, in)
	if err != nil {
		h.t.Fatalf("patch %s: %v", body, err)
	}
	return rec
}

// reconcileAt sets the clock and reconciles the job once.
func (h *harness) reconcileAt(id string, now time.Time) *automation.Cursor {
	h.t.Helper()
	h.clk.Set(now)
	cur, err := h.svc.ReconcileJob(h.ctx, id)
	if err != nil {
		h.t.Fatalf("reconcile at %v: %v", now, err)
	}
	return cur
}

func (h *harness) get(id string) store.JobRecord {
	h.t.Helper()
	rec, err := h.st.GetJob(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return rec
}

func (h *harness) cursor(id string) *automation.Cursor { return h.get(id).Cursor }

// ledger returns the job's ledger, oldest first.
func (h *harness) ledger(id string) []automation.LedgerEntry {
	h.t.Helper()
	es, err := h.st.ListLedger(h.ctx, store.LedgerQuery{JobID: id, Limit: 100000})
	if err != nil {
		h.t.Fatal(err)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Seq < es[j].Seq })
	return es
}

// runs returns the job's runs ordered by scheduled_at.
func (h *harness) runs(id string) []*automation.Run {
	h.t.Helper()
	rs, err := h.st.ListRuns(h.ctx, store.RunQuery{JobID: id, Limit: 100000})
	if err != nil {
		h.t.Fatal(err)
	}
	sort.Slice(rs, func(i, j int) bool {
		if !rs[i].ScheduledAt.Equal(rs[j].ScheduledAt) {
			return rs[i].ScheduledAt.Before(rs[j].ScheduledAt)
		}
		return rs[i].ID < rs[j].ID
	})
	return rs
}

func (h *harness) fmtTime(t time.Time) string { return t.UTC().Format(h.layout) }

// entryString renders a ledger entry compactly: "fired 14:00 #1", "skipped/misfire 10:00-14:00 x5",
// "coalesced 10:00-13:00 x4 #1" where #n is the 1-based index of its run in runs().
func (h *harness) entryString(e automation.LedgerEntry, runs []*automation.Run) string {
	s := e.Outcome
	if e.Reason != "" {
		s += "/" + e.Reason
	}
	s += " " + h.fmtTime(e.SlotAt)
	if e.Count > 1 || !e.LastSlotAt.Equal(e.SlotAt) {
		s += fmt.Sprintf("-%s x%d", h.fmtTime(e.LastSlotAt), e.Count)
	}
	if e.RunID != "" {
		idx := "?"
		for i, r := range runs {
			if r.ID == e.RunID {
				idx = fmt.Sprint(i + 1)
			}
		}
		s += " #" + idx
	}
	if e.DST != "" {
		s += " " + e.DST
	}
	return s
}

// expectLedger compares the job's ledger with want (see entryString) and checks the fired
// entries against their runs.
func (h *harness) expectLedger(id string, want ...string) []automation.LedgerEntry {
	h.t.Helper()
	es, runs := h.ledger(id), h.runs(id)
	got := make([]string, len(es))
	for i, e := range es {
		got[i] = h.entryString(e, runs)
		if e.Outcome == automation.OutcomeFired {
			var r *automation.Run
			for _, x := range runs {
				if x.ID == e.RunID {
					r = x
				}
			}
			if r == nil || r.FireID != e.FireID || !r.ScheduledAt.Equal(e.SlotAt) || e.FireID != automation.FireID(id, e.SlotAt) {
				h.t.Errorf("fired entry %+v does not match its run %+v", e, r)
			}
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		h.t.Fatalf("ledger:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	return es
}

// expectRuns checks the job's scheduled runs: one per listed slot (in order), each a fresh
// attempt-1 schedule fire with the deterministic fire id, admitted at startedAt.
func (h *harness) expectRuns(id string, startedAt time.Time, slots ...string) []*automation.Run {
	h.t.Helper()
	runs := h.runs(id)
	var got []string
	for _, r := range runs {
		got = append(got, h.fmtTime(r.ScheduledAt))
	}
	if strings.Join(got, " ") != strings.Join(slots, " ") {
		h.t.Fatalf("runs scheduled at [%s], want [%s]", strings.Join(got, " "), strings.Join(slots, " "))
	}
	for _, r := range runs {
		if r.Origin != automation.OriginSchedule || r.Attempt != 1 || r.Depth != 1 || r.Status != automation.RunScheduled ||
			r.FireID != automation.FireID(id, r.ScheduledAt) || r.AgentName != "a" || r.JobID != id ||
			(!startedAt.IsZero() && !r.StartedAt.Equal(startedAt)) {
			h.t.Errorf("run %+v", r)
		}
	}
	return runs
}

// ledgerComplete checks that the ledger accounts for every slot of the job's current schedule
// in (from, accounted_until] exactly once, in order.
func (h *harness) ledgerComplete(id string, from time.Time) {
	h.t.Helper()
	rec := h.get(id)
	spec, err := scheduler.SpecOf(rec.Job, "UTC", rec.Cursor.AnchorAt)
	if err != nil {
		h.t.Fatal(err)
	}
	es := h.ledger(id)
	sort.Slice(es, func(i, j int) bool { return es[i].SlotAt.Before(es[j].SlotAt) })
	sum := 0
	prev := from
	for _, e := range es {
		if !e.SlotAt.After(from) {
			continue // an older schedule's entry
		}
		want, ok := spec.Next(prev)
		if !ok || !want.At.Equal(e.SlotAt) {
			h.t.Fatalf("ledger entry %+v does not follow %v (next slot %v)", e, prev, want.At)
		}
		if n := spec.Count(prev, e.LastSlotAt); n != e.Count {
			h.t.Fatalf("ledger entry %+v covers %d slots", e, n)
		}
		sum += e.Count
		prev = e.LastSlotAt
	}
	if n := spec.Count(from, rec.Cursor.AccountedUntil); n != sum {
		h.t.Fatalf("ledger accounts for %d slots, the schedule has %d in (%v, %v]", sum, n, from, rec.Cursor.AccountedUntil)
	}
}

// ---- loop harness

// armClock wraps a fake clock and remembers the deadline its timers were last armed for, so
// that a test knows when a Loop has gone to sleep and until when.
type armClock struct {
	*clock.Fake
	mu    sync.Mutex
	armed time.Time
}

func (c *armClock) NewTimer(d time.Duration) clock.Timer {
	t := &armTimer{Timer: c.Fake.NewTimer(d), c: c}
	c.arm(d)
	return t
}

func (c *armClock) arm(d time.Duration) {
	c.mu.Lock()
	c.armed = c.Fake.Now().Add(d)
	c.mu.Unlock()
}

func (c *armClock) Armed() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armed
}

type armTimer struct {
	clock.Timer
	c *armClock
}

func (t *armTimer) Reset(d time.Duration) bool {
	r := t.Timer.Reset(d)
	t.c.arm(d)
	return r
}

func (t *armTimer) Stop() bool {
	r := t.Timer.Stop()
	t.c.mu.Lock()
	t.c.armed = time.Time{}
	t.c.mu.Unlock()
	return r
}

// countingRec counts reconciliations per job; after, when set, runs after each one.
type countingRec struct {
	rec      scheduler.Reconciler
	mu       sync.Mutex
	calls    map[string]int
	inflight int
	after    func(id string)
	batches  [][]string
}

func newCountingRec(r scheduler.Reconciler) *countingRec {
	return &countingRec{rec: r, calls: map[string]int{}}
}

func (c *countingRec) ReconcileJobs(ctx context.Context, ids []string, until time.Time) []scheduler.Result {
	c.mu.Lock()
	c.inflight++
	after := c.after
	c.mu.Unlock()
	res := c.rec.ReconcileJobs(ctx, ids, until)
	if after != nil {
		for _, id := range ids {
			after(id)
		}
	}
	c.mu.Lock()
	c.batches = append(c.batches, append([]string(nil), ids...))
	for _, id := range ids {
		c.calls[id]++
	}
	c.inflight--
	c.mu.Unlock()
	return res
}

func (c *countingRec) snapshot() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for k, v := range c.calls {
		m[k] = v
	}
	return m, c.inflight
}

func (c *countingRec) reset() {
	c.mu.Lock()
	c.calls = map[string]int{}
	c.mu.Unlock()
}

// countingReader counts the reads the loop makes outside reconciliations.
type countingReader struct {
	store.Reader
	mu      sync.Mutex
	getJob  []string
	allJobs int
	failGet int // the next failGet GetJob calls fail with store.ErrUnavailable
}

func (r *countingReader) GetJob(ctx context.Context, id string) (store.JobRecord, error) {
	r.mu.Lock()
	r.getJob = append(r.getJob, id)
	fail := r.failGet > 0
	if fail {
		r.failGet--
	}
	r.mu.Unlock()
	if fail {
		return store.JobRecord{}, store.ErrUnavailable
	}
	return r.Reader.GetJob(ctx, id)
}

func (r *countingReader) AllJobs(ctx context.Context) ([]store.JobRecord, error) {
	r.mu.Lock()
	r.allJobs++
	r.mu.Unlock()
	return r.Reader.AllJobs(ctx)
}

func (r *countingReader) reads() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.getJob...), r.allJobs
}

func (r *countingReader) reset() {
	r.mu.Lock()
	r.getJob, r.allJobs = nil, 0
	r.mu.Unlock()
}

// loopNotifier forwards definition changes to a loop, as the daemon does.
type loopNotifier struct{ l *scheduler.Loop }

func (n loopNotifier) JobChanged(id, kind string) {
	if kind != service.ChangeCursor {
		n.l.Update(context.Background(), id)
	}
}
func (n loopNotifier) TriggerChanged(string, string)    {}
func (n loopNotifier) RunsChanged([]*automation.Run)    {}
func (n loopNotifier) RunsTerminated([]*automation.Run) {}

// errorLog counts error records and forwards everything to the test log.
type errorLog struct {
	t        *testing.T
	mu       sync.Mutex
	errs     []string
	expected string // error records containing it are expected
}

func (l *errorLog) Write(p []byte) (int, error) {
	s := strings.TrimSpace(string(p))
	l.mu.Lock()
	if strings.Contains(s, "level=ERROR") && (l.expected == "" || !strings.Contains(s, l.expected)) {
		l.errs = append(l.errs, s)
	}
	l.mu.Unlock()
	return len(p), nil
}

func (l *errorLog) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

type runningLoop struct {
	loop   *scheduler.Loop
	clk    *armClock
	rec    *countingRec
	reader *countingReader
	log    *errorLog
}

// startLoop boots a loop over h's store and service on clk (which wraps h.clk) and runs it
// until the test ends.
func startLoop(t *testing.T, h *harness, svc *service.Service) *runningLoop {
	t.Helper()
	rl := &runningLoop{clk: &armClock{Fake: h.clk}, rec: newCountingRec(svc), reader: &countingReader{Reader: h.st}, log: &errorLog{t: t}}
	rl.loop = scheduler.NewLoop(rl.reader, rl.rec, rl.clk, slog.New(slog.NewTextHandler(rl.log, nil)))
	svc.SetNotifier(loopNotifier{rl.loop})
	if err := rl.loop.Boot(h.ctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rl.loop.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if errs := rl.log.errors(); len(errs) > 0 {
			t.Errorf("scheduler logged errors:\n%s", strings.Join(errs, "\n"))
		}
	})
	return rl
}

// waitArmed waits until the loop sleeps until want (no reconciliation in flight).
func (rl *runningLoop) waitArmed(t *testing.T, want time.Time) {
	t.Helper()
	rl.waitArmedAhead(t, want, 0)
}

// approachGroup walks the clock to a group of jobs due together: the loop first sleeps until
// MaxLead before due, plans the group's claims then, and sleeps until lead before due.
func (rl *runningLoop) approachGroup(t *testing.T, h *harness, due time.Time, lead time.Duration) {
	t.Helper()
	rl.waitArmedAhead(t, due, scheduler.MaxLead)
	h.clk.Set(due.Add(-scheduler.MaxLead))
	rl.waitArmedAhead(t, due, lead)
}

// waitArmedAhead waits until the loop sleeps until lead before due, the earliest due instant
// (no claim in flight): a group claimed ahead.
func (rl *runningLoop) waitArmedAhead(t *testing.T, due time.Time, lead time.Duration) {
	t.Helper()
	want := due.Add(-lead)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, inflight := rl.rec.snapshot()
		if inflight == 0 && rl.clk.Armed().Equal(want) {
			// A batch popped just before the loop armed its timer may not have reached the
			// Reconciler yet (inflight 0) while its jobs are out of the heap.
			if nd, ok := rl.loop.NextDue(); ok && nd.Equal(due) && rl.loop.Claiming() == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			nd, _ := rl.loop.NextDue()
			t.Fatalf("loop armed for %v (next due %v, %d in flight), want %v (next due %v)", rl.clk.Armed(), nd, inflight, want, due)
		}
		time.Sleep(time.Millisecond)
	}
}
