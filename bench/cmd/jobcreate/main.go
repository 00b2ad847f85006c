// Command jobcreate measures POST /api/automation/jobs throughput (concurrent clients against
// the real daemon, in process) at several numbers of existing jobs, next to the raw SQLite
// baselines measured in the same round: single-row transactions with synchronous=FULL, and
// group-committed inserts at the same concurrency.
//
//	go run ./bench/cmd/jobcreate -jobs 0,1000,10000 -rounds 3
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/agh-dev/agh/bench/internal/harness"
	"github.com/agh-dev/agh/internal/automation"
)

func main() {
	levels := flag.String("jobs", "0,1000,10000", "existing jobs before each measurement")
	rounds := flag.Int("rounds", 3, "rounds (the table reports the median)")
	n := flag.Int("n", 4000, "creates per measurement")
	conc := flag.Int("conc", 32, "concurrent HTTP clients")
	base := flag.String("dir", "", "parent of the temporary data directories (default $TMPDIR)")
	prof := flag.String("cpuprofile", "", "CPU profile of the HTTP creates of the last measurement")
	flag.Parse()
	harness.Header("jobcreate")
	ctx := context.Background()
	cfg := harness.ConfigWith("")

	type sample struct{ http, p50, p99, svc, single, group, cpuHTTP, cpuSvc float64 }
	res := map[int][]sample{}
	for r := 1; r <= *rounds; r++ {
		for _, level := range harness.Ints(*levels) {
			// Baselines on the same disk, right before the measurement.
			raw, err := harness.OpenRaw(*base)
			harness.Check(err)
			single, err := raw.SingleRowRate(time.Second)
			harness.Check(err)
			group, err := raw.GroupCommitRate(*conc, time.Second)
			harness.Check(err)
			raw.Close()

			dir, err := os.MkdirTemp(*base, "aghbench-jobcreate-")
			harness.Check(err)
			sd, st, err := harness.OpenSeeder(dir, cfg)
			harness.Check(err)
			_, err = sd.Jobs(ctx, level, 1000, func(i int) string { return harness.CronJobBody(fmt.Sprintf("seed-%06d", i)) })
			harness.Check(err)
			harness.Check(st.Close())

			d, err := harness.StartDaemon(dir)
			harness.Check(err)
			c := harness.NewHTTPClient(*conc)
			url := d.URL + "/api/automation/jobs"
			last := r == *rounds && level == harness.Ints(*levels)[len(harness.Ints(*levels))-1]
			stop := func() {}
			if last {
				stop = harness.Profile(*prof)
			}
			cpu0 := harness.CPU()
			out, err := harness.Run(*conc, *n, func(i int) error {
				_, err := harness.Do(c, "POST", url, []byte(harness.CronJobBody(fmt.Sprintf("http-%06d", i))), 201)
				return err
			})
			harness.Check(err)
			cpuHTTP := float64(harness.CPU()-cpu0) / 1e3 / float64(*n)
			stop()

			// The same creates without HTTP (service.CreateJob), on the same daemon.
			svc := d.D.Service
			cpu0 = harness.CPU()
			sout, err := harness.Run(*conc, *n, func(i int) error {
				m, err := automation.DecodeJSONObject([]byte(harness.CronJobBody(fmt.Sprintf("svc-%06d", i))))
				if err != nil {
					return err
				}
				in, err := automation.DecodeJob("job", m, false)
				if err != nil {
					return err
				}
				_, err = svc.CreateJob(ctx, in)
				return err
			})
			harness.Check(err)
			cpuSvc := float64(harness.CPU()-cpu0) / 1e3 / float64(*n)
			harness.Check(d.Stop())
			_ = os.RemoveAll(dir)

			s := sample{http: out.Rate(), p50: ms(harness.Percentile(out.Lat, 50)), p99: ms(harness.Percentile(out.Lat, 99)),
				svc: sout.Rate(), single: single, group: group, cpuHTTP: cpuHTTP, cpuSvc: cpuSvc}
			res[level] = append(res[level], s)
			fmt.Printf("round %d jobs=%-6d http %7.0f creates/s (p50 %.2f ms, p99 %.2f ms, %.0f µs CPU each)  service %7.0f/s (%.0f µs CPU each)  raw single-row FULL %6.0f tx/s  raw group-commit %7.0f rows/s\n",
				r, level, s.http, s.p50, s.p99, s.cpuHTTP, s.svc, s.cpuSvc, s.single, s.group)
		}
	}
	fmt.Printf("\n| existing jobs | HTTP creates/s | p50 | p99 | CPU per HTTP create (server+client) | service.CreateJob/s | CPU per service create | raw 1-row FULL tx/s | raw group-commit rows/s | HTTP / raw 1-row | HTTP / raw group |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, level := range harness.Ints(*levels) {
		ss := res[level]
		pick := func(f func(sample) float64) float64 {
			xs := make([]float64, len(ss))
			for i, s := range ss {
				xs[i] = f(s)
			}
			return harness.Median(xs)
		}
		h, single, group := pick(func(s sample) float64 { return s.http }), pick(func(s sample) float64 { return s.single }), pick(func(s sample) float64 { return s.group })
		ratioS := pick(func(s sample) float64 { return s.http / s.single })
		ratioG := pick(func(s sample) float64 { return s.http / s.group })
		fmt.Printf("| %d | %.0f | %.2f ms | %.2f ms | %.0f µs | %.0f | %.0f µs | %.0f | %.0f | %.2f | %.2f |\n", level, h,
			pick(func(s sample) float64 { return s.p50 }), pick(func(s sample) float64 { return s.p99 }),
			pick(func(s sample) float64 { return s.cpuHTTP }), pick(func(s sample) float64 { return s.svc }),
			pick(func(s sample) float64 { return s.cpuSvc }), single, group, ratioS, ratioG)
	}
	fmt.Printf("(median of %d rounds; ratios are medians of per-round ratios; %d creates per measurement, %d clients)\n", *rounds, *n, *conc)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
