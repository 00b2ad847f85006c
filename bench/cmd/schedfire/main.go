// Command schedfire measures the scheduler of the real daemon (daemon.Run in process, exec
// agent `true`). Jobs are inserted through the store package (as service.CreateJob builds
// them, 1,000 per Write) and registered with the scheduler as the service's notifier does.
//
//	burst: -burst 10000 `at` jobs due at the same second; time from that second until every
//	       run row is committed (the store's run count, polled every 2 ms; negative when the
//	       scheduler claimed them all ahead, DECISIONS 28), and how long claiming took from the
//	       first admission to the last commit. Baseline (same round): 10,000 raw SQLite rows
//	       group-committed by 64 goroutines (the scheduler's parallelism).
//	lag:   -lagjobs 1000 `every` jobs (1 s .. 10 s) for -duration; fire lag = started_at −
//	       scheduled_at of the schedule runs (started_at is taken in the claiming transaction,
//	       just before its commit; 0 for a run committed before its slot), p50/p99, and the
//	       dispatch lag dispatched_at − scheduled_at. Baselines (same run): Go timer lateness in
//	       the same process, and the latency of one raw synchronous=FULL commit. With -agent noop
//	       the jobs run on the harness node with an in-process no-op agent instead (no agent
//	       processes competing for the 2 cores), which also observes when each run's Write
//	       returned (slot -> commit lag).
//
//	go run ./bench/cmd/schedfire -mode burst -rounds 3
//	go run ./bench/cmd/schedfire -mode lag -rounds 3 -duration 30s
//	go run ./bench/cmd/schedfire -mode lag -rounds 3 -duration 30s -agent noop
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/agh-dev/agh/bench/internal/harness"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/scheduler"
	"github.com/agh-dev/agh/internal/store"
)

func main() {
	mode := flag.String("mode", "burst", "burst or lag")
	rounds := flag.Int("rounds", 3, "rounds (the table reports the median)")
	burst := flag.Int("burst", 10_000, "burst: at jobs due in the same second")
	lead := flag.Duration("lead", 8*time.Second, "burst: how far ahead the due second is when creation starts")
	lagJobs := flag.Int("lagjobs", 1000, "lag: every jobs (intervals 1s..10s)")
	duration := flag.Duration("duration", 60*time.Second, "lag: measurement length per round")
	spread := flag.Duration("spread", 0, "lag: spread the jobs' anchors evenly over this long (0: all created at once, so the slots of equal intervals coincide, like cron jobs at :00)")
	agentMode := flag.String("agent", "true", "lag: true (real daemon, exec agent `true`), noop (harness node with an in-process no-op agent; also reports slot -> loop call and slot -> commit lag) or none (harness node, dispatcher stopped: the scheduler alone)")
	base := flag.String("dir", "", "parent of the temporary data directories")
	prof := flag.String("cpuprofile", "", "CPU profile of the last round")
	flag.Parse()
	harness.Header("schedfire " + *mode)
	switch *mode {
	case "burst":
		runBurst(*rounds, *burst, *lead, *base, *prof)
	case "lag":
		runLag(*rounds, *lagJobs, *duration, *spread, *agentMode, *base, *prof)
	default:
		harness.Check(fmt.Errorf("unknown mode %q", *mode))
	}
}

func startDaemon(base, automationKeys string) (*harness.Daemon, string) {
	dir, err := os.MkdirTemp(base, "aghbench-schedfire-")
	harness.Check(err)
	harness.Check(harness.WriteConfig(dir, harness.ConfigWith(automationKeys)))
	d, err := harness.StartDaemon(dir)
	harness.Check(err)
	return d, dir
}

func totalRuns(d *harness.Daemon) (int, error) {
	counts, err := d.D.Store.CountRunsByStatus(context.Background())
	n := 0
	for _, c := range counts {
		n += c
	}
	return n, err
}

func runBurst(rounds, nJobs int, lead time.Duration, base, prof string) {
	ctx := context.Background()
	var all, raws, p50s, p99s, cpus, spans []time.Duration
	for r := 1; r <= rounds; r++ {
		raw, err := harness.OpenRaw(base)
		harness.Check(err)
		rawT, err := raw.GroupCommitN(64, nJobs)
		harness.Check(err)
		raw.Close()

		d, dir := startDaemon(base, "")
		due := time.Now().Add(lead).Truncate(time.Second)
		sd := harness.NewSeeder(d.D.Store, d.D.Service.Config())
		created := time.Now()
		ids, err := sd.Jobs(ctx, nJobs, 1000, func(i int) string {
			return fmt.Sprintf(`{"name":"at-%06d","scope":"global","agent_name":"echo","prompt":"wake up","schedule":{"mode":"at","time":%q}}`,
				i, due.Format(time.RFC3339))
		})
		harness.Check(err)
		for _, id := range ids { // what the service's notifier does after each commit
			d.D.Sched.Update(ctx, id)
		}
		if left := time.Until(due); left < time.Second {
			harness.Check(fmt.Errorf("creating %d jobs took %s; raise -lead", nJobs, time.Since(created)))
		}
		var stop func()
		// The scheduler may start claiming up to scheduler.MaxLead before the second
		// (DECISIONS 28): watch from before that.
		watch := due.Add(-scheduler.MaxLead - 100*time.Millisecond)
		if r == rounds {
			time.Sleep(time.Until(watch) - 50*time.Millisecond)
			stop = harness.Profile(prof)
		}
		var doneAt time.Time
		time.Sleep(time.Until(watch))
		cpu0 := harness.CPU()
		harness.Check(harness.WaitFor(time.Until(due)+5*time.Minute, 2*time.Millisecond, func() (bool, error) {
			n, err := totalRuns(d)
			doneAt = time.Now()
			return n >= nJobs, err
		}))
		cpu := harness.CPU() - cpu0
		if stop != nil {
			stop()
		}
		runs, err := d.D.Store.ListRuns(ctx, store.RunQuery{Limit: nJobs + 10})
		harness.Check(err)
		var lags []time.Duration
		first := doneAt
		for _, run := range runs {
			lags = append(lags, max(run.StartedAt.Sub(run.ScheduledAt), 0))
			if run.StartedAt.Before(first) {
				first = run.StartedAt
			}
		}
		total := doneAt.Sub(due)
		span := doneAt.Sub(first) // first admission -> last row committed
		spans = append(spans, span)
		p50, p99 := harness.Percentile(lags, 50), harness.Percentile(lags, 99)
		all, raws, p50s, p99s = append(all, total), append(raws, rawT), append(p50s, p50), append(p99s, p99)
		cpus = append(cpus, cpu)
		fmt.Printf("round %d: %d runs committed %s after their second (negative: before it; claiming began %s before it and took %s, %.0f claims/s; lag max(0, started_at-scheduled_at) p50 %s p99 %s; process CPU %s = %.0f µs per fire); raw group commit of %d rows %s; claiming %.1fx that\n",
			r, len(runs), total.Round(time.Millisecond), due.Sub(first).Round(time.Millisecond), span.Round(time.Millisecond), float64(nJobs)/span.Seconds(),
			harness.Ms(p50), harness.Ms(p99), cpu.Round(time.Millisecond), float64(cpu)/1e3/float64(nJobs), nJobs, rawT.Round(time.Millisecond),
			span.Seconds()/rawT.Seconds())
		harness.Check(d.Stop())
		_ = os.RemoveAll(dir)
	}
	fmt.Printf("\n| %d at jobs due in one second | all run rows committed after the second | claiming took (first admission -> last commit) | lag p50 | p99 | process CPU per fire | raw group commit of %d rows (64 writers) | claiming / raw |\n|---|---|---|---|---|---|---|---|\n", nJobs, nJobs)
	ratios := make([]float64, len(all))
	for i := range all {
		ratios[i] = spans[i].Seconds() / raws[i].Seconds()
	}
	fmt.Printf("| real daemon, agent `true` | %s | %s | %s | %s | %.0f µs | %s | %.1fx |\n", harness.MedianDur(all).Round(time.Millisecond), harness.MedianDur(spans).Round(time.Millisecond),
		harness.Ms(harness.MedianDur(p50s)), harness.Ms(harness.MedianDur(p99s)), float64(harness.MedianDur(cpus))/1e3/float64(nJobs), harness.MedianDur(raws).Round(time.Millisecond), harness.Median(ratios))
	fmt.Printf("(median of %d rounds)\n", rounds)
}

func runLag(rounds, nJobs int, d, spread time.Duration, agentMode, base, prof string) {
	ctx := context.Background()
	var p50s, p99s, maxs, t50s, t99s, f50s, f99s, c50s, c99s, d50s, d99s []time.Duration
	var rates, aheads []float64
	for r := 1; r <= rounds; r++ {
		raw, err := harness.OpenRaw(base)
		harness.Check(err)
		fl, err := raw.SingleRowLatencies(300)
		harness.Check(err)
		raw.Close()
		f50, f99 := harness.Percentile(fl, 50), harness.Percentile(fl, 99)

		var (
			st      store.Store
			sched   *scheduler.Loop
			stopAll func() error
			dir     string
			mu      sync.Mutex
			commits = map[string]time.Time{}   // run id -> commit returned (noop agent only)
			calls   = map[string][]time.Time{} // job id -> instants the loop called ReconcileJobs
			writes  []time.Duration            // every Write's latency (harness node only)
		)
		if agentMode == "noop" || agentMode == "none" {
			dir, err = os.MkdirTemp(base, "aghbench-schedfire-")
			harness.Check(err)
			n, err := harness.StartNode(harness.NodeOptions{DataDir: dir, Config: harness.ConfigWith("max_concurrent_runs = 50"),
				Execute: harness.NoopExecute, NoDispatch: agentMode == "none", OnWrite: func(d time.Duration) {
					mu.Lock()
					writes = append(writes, d)
					mu.Unlock()
				}, OnCommit: func(runs []*automation.Run, at time.Time) {
					mu.Lock()
					for _, r := range runs {
						commits[r.ID] = at
					}
					mu.Unlock()
				}, OnReconcile: func(id string, called, returned time.Time) {
					mu.Lock()
					calls[id] = append(calls[id], called)
					mu.Unlock()
				}})
			harness.Check(err)
			st, sched, stopAll = n.Store, n.Sched, n.Stop
		} else {
			var dm *harness.Daemon
			dm, dir = startDaemon(base, "max_concurrent_runs = 50")
			st, sched, stopAll = dm.D.Store, dm.D.Sched, dm.Stop
		}
		sd := harness.NewSeeder(st, harness.MustConfig(harness.ConfigWith("max_concurrent_runs = 50")))
		sd.SpreadEvery = spread
		ids, err := sd.Jobs(ctx, nJobs, 1000, func(i int) string {
			return fmt.Sprintf(`{"name":"every-%05d","scope":"global","agent_name":"echo","prompt":"tick","schedule":{"mode":"every","interval":"%ds"},"fire_limit":{"max":100000,"window":"1h"}}`,
				i, 1+i%10)
		})
		harness.Check(err)
		for _, id := range ids {
			sched.Update(ctx, id)
		}
		warm := time.Now().Add(5 * time.Second)
		end := warm.Add(d)
		// Baseline: how late a Go timer fires in this process meanwhile (100 ms grid).
		var timerLate []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				next := time.Now().Truncate(100 * time.Millisecond).Add(100 * time.Millisecond)
				if next.After(end) {
					return
				}
				time.Sleep(time.Until(next))
				if next.After(warm) {
					timerLate = append(timerLate, time.Since(next))
				}
			}
		}()
		var stop func()
		if r == rounds {
			time.Sleep(time.Until(warm))
			stop = harness.Profile(prof)
		}
		time.Sleep(time.Until(end))
		<-done
		if stop != nil {
			stop()
		}
		time.Sleep(2 * time.Second) // slots just before end are claimed
		runs, err := st.ListRuns(ctx, store.RunQuery{Limit: 1 << 30})
		harness.Check(err)
		var lags, commitLags, loopLags, dispatchLags []time.Duration
		var worst time.Duration
		ahead := 0
		mu.Lock()
		for _, run := range runs {
			if run.Origin != automation.OriginSchedule || run.ScheduledAt.Before(warm) || !run.ScheduledAt.Before(end) {
				continue
			}
			// A run claimed ahead (DECISIONS 28) was committed before its slot: lag 0.
			l := run.StartedAt.Sub(run.ScheduledAt)
			if l < 0 {
				ahead++
			}
			l = max(l, 0)
			lags = append(lags, l)
			worst = max(worst, l)
			if !run.DispatchedAt.IsZero() {
				dispatchLags = append(dispatchLags, run.DispatchedAt.Sub(run.ScheduledAt))
			}
			if at, ok := commits[run.ID]; ok {
				commitLags = append(commitLags, max(at.Sub(run.ScheduledAt), 0))
			}
			// The loop's call that claimed this slot: the last call at or before the run's
			// started_at (taken inside that call's transaction).
			var claimed time.Time
			for _, c := range calls[run.JobID] {
				if !c.After(run.StartedAt) {
					claimed = c
				}
			}
			if !claimed.IsZero() {
				loopLags = append(loopLags, max(claimed.Sub(run.ScheduledAt), 0))
			}
		}
		mu.Unlock()
		commitNote := ""
		if len(commitLags) > 0 {
			c50, c99 := harness.Percentile(commitLags, 50), harness.Percentile(commitLags, 99)
			c50s, c99s = append(c50s, c50), append(c99s, c99)
			commitNote = fmt.Sprintf(" (slot -> loop calls ReconcileJobs: p50 %s p99 %s; slot -> commit returned: p50 %s p99 %s; any store Write: %d, p50 %s p99 %s)",
				harness.Ms(harness.Percentile(loopLags, 50)), harness.Ms(harness.Percentile(loopLags, 99)), harness.Ms(c50), harness.Ms(c99),
				len(writes), harness.Ms(harness.Percentile(writes, 50)), harness.Ms(harness.Percentile(writes, 99)))
		}
		p50, p99 := harness.Percentile(lags, 50), harness.Percentile(lags, 99)
		t50, t99 := harness.Percentile(timerLate, 50), harness.Percentile(timerLate, 99)
		rate := float64(len(lags)) / d.Seconds()
		aheadPct := 100 * float64(ahead) / float64(max(len(lags), 1))
		aheads = append(aheads, aheadPct)
		dispatchNote := ""
		if len(dispatchLags) > 0 {
			d50, d99 := harness.Percentile(dispatchLags, 50), harness.Percentile(dispatchLags, 99)
			d50s, d99s = append(d50s, d50), append(d99s, d99)
			dispatchNote = fmt.Sprintf("; dispatch lag (dispatched_at - scheduled_at) p50 %s p99 %s", harness.Ms(d50), harness.Ms(d99))
		}
		p50s, p99s, maxs = append(p50s, p50), append(p99s, p99), append(maxs, worst)
		t50s, t99s, f50s, f99s, rates = append(t50s, t50), append(t99s, t99), append(f50s, f50), append(f99s, f99), append(rates, rate)
		counts, _ := st.CountRunsByStatus(ctx)
		fmt.Printf("round %d: %d fires (%.0f/s, %.0f%% committed before their slot): lag p50 %s p99 %s max %s%s%s; timer lateness p50 %s p99 %s; raw FULL commit p50 %s p99 %s; runs %v\n",
			r, len(lags), rate, aheadPct, harness.Ms(p50), harness.Ms(p99), harness.Ms(worst), commitNote, dispatchNote, harness.Ms(t50), harness.Ms(t99), harness.Ms(f50), harness.Ms(f99), counts)
		harness.Check(stopAll())
		_ = os.RemoveAll(dir)
	}
	setup := "real daemon, agent `true`"
	switch agentMode {
	case "noop":
		setup = "harness node, no-op agent"
	case "none":
		setup = "harness node, dispatcher stopped"
	}
	if len(c50s) > 0 {
		fmt.Printf("slot -> run row commit returned (noop agent): p50 %s p99 %s (median of rounds)\n", harness.Ms(harness.MedianDur(c50s)), harness.Ms(harness.MedianDur(c99s)))
	}
	dispatch := "—"
	if len(d50s) > 0 {
		dispatch = harness.Ms(harness.MedianDur(d50s)) + " / " + harness.Ms(harness.MedianDur(d99s))
	}
	fmt.Printf("\n| %d every-1s..10s jobs, %s, max_concurrent_runs 50 | fires/s | committed before the slot | fire lag p50 | p99 | max | dispatch lag p50 / p99 | baseline: Go timer lateness p50 / p99 | baseline: one raw FULL commit p50 / p99 |\n|---|---|---|---|---|---|---|---|---|\n", nJobs, setup)
	fmt.Printf("| max(0, started_at − scheduled_at) | %.0f | %.0f%% | %s | %s | %s | %s | %s / %s | %s / %s |\n", harness.Median(rates), harness.Median(aheads),
		harness.Ms(harness.MedianDur(p50s)), harness.Ms(harness.MedianDur(p99s)), harness.Ms(harness.MedianDur(maxs)), dispatch,
		harness.Ms(harness.MedianDur(t50s)), harness.Ms(harness.MedianDur(t99s)), harness.Ms(harness.MedianDur(f50s)), harness.Ms(harness.MedianDur(f99s)))
	fmt.Printf("(median of %d rounds of %s each, first 5 s discarded; anchors spread over %s)\n", rounds, d, spread)
}
