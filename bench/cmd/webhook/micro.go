package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlite"
)

// The micro-benchmarks time, through the store API (so they measure whichever store code is
// built), the three per-delivery store operations whose cost grows with the data and that the
// profiles of the webhook phases pointed at:
//
//   - PruneDeliveries, run after every delivery record: O(deliveries_per_trigger).
//   - CountFires, run by every admission: O(runs in the fire-limit window).
//   - NextScheduledAt and EligibleRuns, run by every dispatcher pass (woken by every
//     admission): they should not depend on the number of queued runs.
//
// Each figure is the CPU time of this process per operation (median of 3 rounds), taken from
// getrusage so that waiting for the CPU on a shared machine does not count.

func runMicro(dir string) error {
	ctx := context.Background()
	open := func(name string) (*sqlite.Store, error) {
		return sqlite.Open(ctx, filepath.Join(dir, name), sqlite.Options{})
	}
	now := time.Now().UTC().Truncate(time.Second)
	trig := func(st *sqlite.Store) (*automation.Trigger, error) {
		tr := &automation.Trigger{ID: "trg_bench", Name: "bench", Scope: automation.ScopeGlobal, AgentName: "hold",
			Prompt: "p", Event: "webhook", Enabled: true, FireLimit: automation.FireLimit{Max: 10_000_000, Window: "1s"},
			OverlapPolicy: automation.OverlapAllow, Retry: automation.Retry{Strategy: "none"}, Source: "dynamic",
			CreatedAt: now, UpdatedAt: now}
		return tr, st.Write(ctx, func(tx store.Tx) error { return tx.InsertTrigger(tr) })
	}
	med3 := func(f func() time.Duration) time.Duration {
		var xs []float64
		for range 3 {
			xs = append(xs, float64(f()))
		}
		return time.Duration(median(xs))
	}

	fmt.Println("| operation | data | CPU per operation |")
	fmt.Println("|---|---:|---:|")

	// Delivery log: insert one record and prune to keep, one delivery per Write batch of 50.
	for _, keep := range []int{0, 1000, 10000} {
		st, err := open(fmt.Sprintf("prune-%d.db", keep))
		if err != nil {
			return err
		}
		tr, err := trig(st)
		if err != nil {
			return err
		}
		seq := 0
		batch := func(n int) error {
			return st.Write(ctx, func(tx store.Tx) error {
				for range n {
					seq++
					d := &automation.Delivery{ID: fmt.Sprintf("dlv_%012d", seq), TriggerID: tr.ID, ReceivedAt: now.Add(time.Duration(seq)),
						Source: "webhook", EventKind: "webhook", DeliveryID: fmt.Sprint(seq), SignatureScheme: "agh",
						StatusCode: 200, Outcome: automation.DeliveryFiltered, Reason: "filter_mismatch", BodyBytes: bodySize, RemoteAddr: "127.0.0.1:1"}
					if err := tx.InsertDelivery(d); err != nil {
						return err
					}
					if keep > 0 {
						if err := tx.PruneDeliveries(tr.ID, keep); err != nil {
							return err
						}
					}
				}
				return nil
			})
		}
		for range (keep + 1000) / 500 {
			if err := batch(500); err != nil {
				return err
			}
		}
		const n = 2000
		d := med3(func() time.Duration {
			c0 := cpuTime()
			for range n / 50 {
				_ = batch(50)
			}
			return (cpuTime() - c0) / n
		})
		what := fmt.Sprintf("keep %d", keep)
		if keep == 0 {
			what = "no prune"
		}
		fmt.Printf("| InsertDelivery + PruneDeliveries | %s | %.0f µs |\n", what, us(d))
		st.Close()
	}

	// Runs: a trigger with n scheduled runs started within the last second (a webhook burst
	// queued behind max_concurrent_runs), each with an envelope the size of a 1 KiB webhook's.
	env := []byte(`{"data":{"payload":"` + strings.Repeat("x", 2400) + `"}}`)
	for _, n := range []int{1000, 10000, 50000} {
		st, err := open(fmt.Sprintf("runs-%d.db", n))
		if err != nil {
			return err
		}
		tr, err := trig(st)
		if err != nil {
			return err
		}
		for i := 0; i < n; {
			err := st.Write(ctx, func(tx store.Tx) error {
				for k := 0; k < 1000 && i < n; k, i = k+1, i+1 {
					at := now.Add(-time.Second + time.Duration(i)*time.Second/time.Duration(n))
					r := &automation.Run{ID: fmt.Sprintf("run_%012d", i), TriggerID: tr.ID, Status: automation.RunScheduled, Attempt: 1,
						FireID: fmt.Sprintf("fir_%012d", i), ScheduledAt: at, StartedAt: at, Origin: automation.OriginWebhook,
						AgentName: "hold", Scope: automation.ScopeGlobal, Depth: 1, Prompt: "p", Envelope: env}
					if err := tx.InsertRun(r); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		reps := 50
		if n >= 10000 {
			reps = 10
		}
		timeOp := func(name string, op func() error) error {
			var opErr error
			d := med3(func() time.Duration {
				c0 := cpuTime()
				for range reps {
					if err := op(); err != nil {
						opErr = err
					}
				}
				return (cpuTime() - c0) / time.Duration(reps)
			})
			fmt.Printf("| %s | %d runs | %.0f µs |\n", name, n, us(d))
			return opErr
		}
		if err := timeOp("empty Store.Write (reference)", func() error {
			return st.Write(ctx, func(tx store.Tx) error { return nil })
		}); err != nil {
			return err
		}
		var got int
		if err := timeOp("CountFires (window 1s)", func() error {
			return st.Write(ctx, func(tx store.Tx) error {
				var err error
				got, _, err = tx.CountFires(tr.ID, now.Add(-2*time.Second), now)
				return err
			})
		}); err != nil {
			return err
		}
		if got != n {
			return fmt.Errorf("CountFires = %d, want %d", got, n)
		}
		if err := timeOp("NextScheduledAt", func() error {
			_, _, err := st.NextScheduledAt(ctx, now.Add(-time.Second/2))
			return err
		}); err != nil {
			return err
		}
		if err := timeOp("EligibleRuns (limit 65)", func() error {
			return st.Write(ctx, func(tx store.Tx) error {
				_, err := tx.EligibleRuns(now, 65)
				return err
			})
		}); err != nil {
			return err
		}
		st.Close()
		_ = os.Remove(filepath.Join(dir, fmt.Sprintf("runs-%d.db", n)))
	}
	fmt.Println()
	return nil
}
