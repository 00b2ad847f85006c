// Command dispatch measures the dispatcher and run admission.
//
//	exec:  end-to-end runs/s with the exec agent `true` (max_concurrent_runs -cap). -n scheduled
//	       runs are inserted straight through the store, the dispatcher is woken, and the clock
//	       stops when every run is terminal. Baseline (same round): fork/exec of `true` from
//	       -cap goroutines, as many processes as runs.
//	noop:  the same with an in-process no-op agent (dispatch.Options.Execute, on the harness
//	       node: the daemon has no seam for it). Baseline (same round): raw SQLite
//	       group-committed rows/s at -cap writers.
//	admit: POST /api/automation/jobs/{id}/trigger from -conc clients against the real daemon
//	       (in process); a 200 means the run row is committed (it queues behind
//	       max_concurrent_runs = 1). Baselines (same round): raw group-committed rows/s at -conc
//	       writers and the HTTP floor (GET /api/agents) at -conc clients.
//
//	go run ./bench/cmd/dispatch -mode exec -rounds 3
//	go run ./bench/cmd/dispatch -mode noop -rounds 3
//	go run ./bench/cmd/dispatch -mode admit -rounds 3
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/agh-dev/agh/bench/internal/harness"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/service"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlite"
)

func main() {
	mode := flag.String("mode", "exec", "exec, noop or admit")
	rounds := flag.Int("rounds", 3, "rounds (the table reports the median)")
	n := flag.Int("n", 0, "runs (exec: 3000, noop: 20000) or triggers (admit: 10000) per round")
	capRuns := flag.Int("cap", 50, "exec/noop: max_concurrent_runs")
	conc := flag.Int("conc", 64, "admit: concurrent HTTP clients")
	defs := flag.Int("jobs", 100, "admit: jobs the triggers are spread over")
	base := flag.String("dir", "", "parent of the temporary data directories")
	prof := flag.String("cpuprofile", "", "CPU profile of the last round")
	flag.Parse()
	harness.Header("dispatch " + *mode)
	switch *mode {
	case "exec", "noop":
		if *n == 0 {
			*n = map[string]int{"exec": 3000, "noop": 20000}[*mode]
		}
		runDispatch(*mode, *rounds, *n, *capRuns, *base, *prof)
	case "admit":
		if *n == 0 {
			*n = 10000
		}
		runAdmit(*rounds, *n, *conc, *defs, *base, *prof)
	default:
		harness.Check(fmt.Errorf("unknown mode %q", *mode))
	}
}

func runDispatch(mode string, rounds, nRuns, capRuns int, base, prof string) {
	ctx := context.Background()
	var rates, baseRates, ratios, cpus []float64
	for r := 1; r <= rounds; r++ {
		var baseRate float64
		if mode == "exec" {
			baseRate = forkRate(capRuns, nRuns)
		} else {
			raw, err := harness.OpenRaw(base)
			harness.Check(err)
			baseRate, err = raw.GroupCommitRate(capRuns, 2*time.Second)
			harness.Check(err)
			raw.Close()
		}

		dir, err := os.MkdirTemp(base, "aghbench-dispatch-")
		harness.Check(err)
		cfg := harness.ConfigWith(fmt.Sprintf("max_concurrent_runs = %d", capRuns))
		var (
			st    store.Store
			svc   *service.Service
			wake  func()
			stats func() sqlite.WriterStats
			stopN func() error
		)
		if mode == "noop" {
			// The real daemon has no seam for the agent; the harness node wires the same core
			// with dispatch.Options.Execute set.
			node, err := harness.StartNode(harness.NodeOptions{DataDir: dir, Config: cfg, Execute: harness.NoopExecute})
			harness.Check(err)
			st, svc, wake, stats, stopN = node.Store, node.Service, node.Disp.Wake, node.Raw.Stats, node.Stop
		} else {
			harness.Check(harness.WriteConfig(dir, cfg))
			d, err := harness.StartDaemon(dir)
			harness.Check(err)
			st, svc, wake, stopN = d.D.Store, d.D.Service, d.D.Disp.Wake, d.Stop
			stats = func() sqlite.WriterStats { return sqlite.WriterStats{} }
		}
		sd := harness.NewSeeder(st, svc.Config())
		ids, err := sd.Jobs(ctx, 100, 100, func(i int) string { return harness.CronJobBody(fmt.Sprintf("job-%03d", i)) })
		harness.Check(err)
		now := time.Now().UTC()
		for lo := 0; lo < nRuns; lo += 1000 {
			hi := min(nRuns, lo+1000)
			harness.Check(st.Write(ctx, func(tx store.Tx) error {
				for i := lo; i < hi; i++ {
					at := now.Add(time.Duration(i) * time.Microsecond)
					run := &automation.Run{
						ID: automation.NewID(automation.PrefixRun, at), JobID: ids[i%len(ids)], Status: automation.RunScheduled,
						Attempt: 1, FireID: automation.NewID(automation.PrefixFire, at), ScheduledAt: now, StartedAt: at,
						Origin: automation.OriginManual, AgentName: "echo", Scope: automation.ScopeGlobal, Depth: 1,
						Prompt: "summarize the repository",
					}
					if err := tx.InsertRun(run); err != nil {
						return err
					}
				}
				return nil
			}))
		}
		time.Sleep(time.Until(now.Add(10 * time.Millisecond))) // every run is eligible
		var stop func()
		if r == rounds {
			stop = harness.Profile(prof)
		}
		before := stats()
		cpu0, child0 := harness.CPU(), childCPU()
		start := time.Now()
		wake()
		var counts map[string]int
		harness.Check(harness.WaitFor(10*time.Minute, 5*time.Millisecond, func() (bool, error) {
			var err error
			counts, err = st.CountRunsByStatus(ctx)
			return counts[automation.RunCompleted]+counts[automation.RunFailed] >= nRuns, err
		}))
		el := time.Since(start)
		cpu, child := harness.CPU()-cpu0, childCPU()-child0
		if stop != nil {
			stop()
		}
		after := stats()
		rate := float64(nRuns) / el.Seconds()
		perRun := float64(cpu) / 1e3 / float64(nRuns)
		rates, baseRates, ratios, cpus = append(rates, rate), append(baseRates, baseRate), append(ratios, rate/baseRate), append(cpus, perRun)
		writer := ""
		if b := after.Batches - before.Batches; b > 0 {
			writer = fmt.Sprintf("; writer %d commits, %.1f writes/commit, %.1f writes/run", b,
				float64(after.Writes-before.Writes)/float64(b), float64(after.Writes-before.Writes)/float64(nRuns))
		}
		fmt.Printf("round %d: %d runs in %s = %.0f runs/s (%v); daemon CPU %.0f µs/run, agent processes %.0f µs/run; baseline %.0f/s; ratio %.2f%s\n",
			r, nRuns, el.Round(time.Millisecond), rate, counts, perRun, float64(child)/1e3/float64(nRuns), baseRate, rate/baseRate, writer)
		harness.Check(stopN())
		_ = os.RemoveAll(dir)
	}
	baseName := "fork/exec `true` procs/s"
	if mode == "noop" {
		baseName = "raw group-commit rows/s"
	}
	fmt.Printf("\n| dispatcher, agent %s, max_concurrent_runs %d | runs/s | process CPU per run | baseline: %s | ratio |\n|---|---|---|---|---|\n", mode, capRuns, baseName)
	fmt.Printf("| %d runs | %.0f | %.0f µs | %.0f | %.2f |\n", nRuns, harness.Median(rates), harness.Median(cpus), harness.Median(baseRates), harness.Median(ratios))
	fmt.Printf("(median of %d rounds)\n", rounds)
}

// forkRate runs n `true` processes from conc goroutines and returns processes per second.
func forkRate(conc, n int) float64 {
	res, err := harness.Run(conc, n, func(int) error { return exec.Command("true").Run() })
	harness.Check(err)
	return res.Rate()
}

func runAdmit(rounds, nTrig, conc, nDefs int, base, prof string) {
	var rates, p50s, p99s, raws, floors, rRaw, rFloor, cpus []float64
	var drates, dp50s, dp99s, dcpus []float64
	for r := 1; r <= rounds; r++ {
		raw, err := harness.OpenRaw(base)
		harness.Check(err)
		group, err := raw.GroupCommitRate(conc, 2*time.Second)
		harness.Check(err)
		raw.Close()

		dir, err := os.MkdirTemp(base, "aghbench-admit-")
		harness.Check(err)
		harness.Check(harness.WriteConfig(dir, `
[automation]
max_concurrent_runs = 1
shutdown_grace = "0s"

[agents.echo]
driver = "exec"
command = ["sleep", "600"]
`))
		d, err := harness.StartDaemon(dir)
		harness.Check(err)
		c := harness.NewHTTPClient(conc)
		var ids []string
		for i := 0; i < nDefs; i++ {
			b, err := harness.Do(c, "POST", d.URL+"/api/automation/jobs", []byte(fmt.Sprintf(
				`{"name":"job-%03d","scope":"global","agent_name":"echo","prompt":"go","schedule":{"mode":"cron","expr":"0 3 * * *"},"fire_limit":{"max":1000000,"window":"1h"}}`, i)), 201)
			harness.Check(err)
			ids = append(ids, jobID(b))
		}
		floor, err := harness.Run(conc, nTrig, func(i int) error {
			_, err := harness.Do(c, "GET", d.URL+"/api/agents", nil, 200)
			return err
		})
		harness.Check(err)
		var stop func()
		if r == rounds {
			stop = harness.Profile(prof)
		}
		cpu0 := harness.CPU()
		out, err := harness.Run(conc, nTrig, func(i int) error {
			_, err := harness.Do(c, "POST", d.URL+"/api/automation/jobs/"+ids[i%len(ids)]+"/trigger", nil, 200)
			return err
		})
		harness.Check(err)
		cpu := float64(harness.CPU()-cpu0) / 1e3 / float64(nTrig)
		// The same admissions through service.TriggerJob on the same daemon: the queue
		// admission itself (store transaction, fire limit, overlap), without HTTP and JSON.
		cpu0 = harness.CPU()
		direct, err := harness.Run(conc, nTrig, func(i int) error {
			_, err := d.D.Service.TriggerJob(context.Background(), ids[i%len(ids)])
			return err
		})
		harness.Check(err)
		dcpu := float64(harness.CPU()-cpu0) / 1e3 / float64(nTrig)
		if stop != nil {
			stop() // the profile covers both phases
		}
		counts, err := d.D.Store.CountRunsByStatus(context.Background())
		harness.Check(err)
		if counts[automation.RunScheduled]+counts[automation.RunRunning] != 2*nTrig {
			harness.Check(fmt.Errorf("expected %d queued runs, have %v", 2*nTrig, counts))
		}
		p50, p99 := float64(harness.Percentile(out.Lat, 50))/1e6, float64(harness.Percentile(out.Lat, 99))/1e6
		rates, p50s, p99s = append(rates, out.Rate()), append(p50s, p50), append(p99s, p99)
		raws, floors = append(raws, group), append(floors, floor.Rate())
		rRaw, rFloor, cpus = append(rRaw, out.Rate()/group), append(rFloor, out.Rate()/floor.Rate()), append(cpus, cpu)
		dp50, dp99 := float64(harness.Percentile(direct.Lat, 50))/1e6, float64(harness.Percentile(direct.Lat, 99))/1e6
		drates, dp50s, dp99s, dcpus = append(drates, direct.Rate()), append(dp50s, dp50), append(dp99s, dp99), append(dcpus, dcpu)
		fmt.Printf("round %d: %d HTTP triggers at %.0f/s (p50 %.2f ms p99 %.2f ms, %.0f µs CPU each, server+client); %d service.TriggerJob at %.0f/s (p50 %.2f ms p99 %.2f ms, %.0f µs CPU each); runs %v; raw group commit %.0f rows/s; HTTP floor %.0f req/s\n",
			r, nTrig, out.Rate(), p50, p99, cpu, nTrig, direct.Rate(), dp50, dp99, dcpu, counts, group, floor.Rate())
		harness.Check(d.Stop())
		_ = os.RemoveAll(dir)
	}
	fmt.Printf("\n| manual triggers, %d clients | admissions/s | p50 | p99 | CPU per admission (server+client) | raw group-commit rows/s | HTTP floor req/s | ratio vs raw | ratio vs HTTP floor |\n|---|---|---|---|---|---|---|---|---|\n", conc)
	fmt.Printf("| %d triggers over %d jobs | %.0f | %.2f ms | %.2f ms | %.0f µs | %.0f | %.0f | %.2f | %.2f |\n", nTrig, nDefs, harness.Median(rates), harness.Median(p50s), harness.Median(p99s), harness.Median(cpus),
		harness.Median(raws), harness.Median(floors), harness.Median(rRaw), harness.Median(rFloor))
	fmt.Printf("| %d service.TriggerJob calls, %d goroutines | %.0f | %.2f ms | %.2f ms | %.0f µs | | | %.2f | |\n", nTrig, conc,
		harness.Median(drates), harness.Median(dp50s), harness.Median(dp99s), harness.Median(dcpus), harness.Median(drates)/harness.Median(raws))
	fmt.Printf("(median of %d rounds)\n", rounds)
}

func jobID(b []byte) string {
	var v struct {
		Job struct {
			ID string `json:"id"`
		} `json:"job"`
	}
	harness.Check(json.Unmarshal(b, &v))
	return v.Job.ID
}

// childCPU returns the CPU time of waited-for child processes (the agents).
func childCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
