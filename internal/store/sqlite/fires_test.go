package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// TestFireTrackerIsAnUpperBound drives random inserts, cancellations, start changes and
// rolled-back writes on a busy definition and checks that whenever the in-memory tracker
// answers "below max", the exact SQL count agrees.
func TestFireTrackerIsAnUpperBound(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	newRun := func(i int, at time.Time) *automation.Run {
		id := fmt.Sprintf("run_%05d", i)
		return &automation.Run{ID: id, TriggerID: "trg_busy", Status: automation.RunScheduled, Attempt: 1,
			FireID: "fire_" + id, ScheduledAt: at, StartedAt: at, Origin: automation.OriginWebhook,
			Scope: automation.ScopeGlobal, Depth: 1}
	}
	var runs []*automation.Run
	err := s.Write(ctx, func(tx store.Tx) error {
		for i := range 300 {
			r := newRun(i, t0.Add(time.Duration(i)*time.Millisecond))
			runs = append(runs, r)
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hits, checks := 0, 0
	check := func() {
		t.Helper()
		since := t0.Add(time.Duration(rng.IntN(1500)-200) * time.Millisecond)
		until := since.Add(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		limit := 1 + rng.IntN(700)
		err := s.Write(ctx, func(tx store.Tx) error {
			below := tx.(*txn).FireCountBelow("trg_busy", since, until, limit)
			n, _, err := tx.CountFires("trg_busy", since, until)
			if err != nil {
				return err
			}
			if d := s.fires.defs["trg_busy"]; d != nil {
				// The tracker holds exactly the runs started after its horizon.
				var want []string
				rows, err := tx.(*txn).query(bg, "SELECT id, started_at FROM runs WHERE def_id = ? AND started_at > ? ORDER BY started_at, id", "trg_busy", d.from)
				if err != nil {
					return err
				}
				for rows.Next() {
					var id string
					var at int64
					if err := rows.Scan(&id, &at); err != nil {
						return err
					}
					want = append(want, fmt.Sprint(id, at))
				}
				rows.Close()
				var got []string
				for _, r := range d.runs {
					got = append(got, fmt.Sprint(r.id, r.at))
				}
				if fmt.Sprint(got) != fmt.Sprint(want) || len(d.byID) != len(d.runs) {
					return fmt.Errorf("tracker holds %d runs (%d by id), the database %d", len(got), len(d.byID), len(want))
				}
			}
			if d := s.fires.defs["trg_busy"]; d != nil && nanosOf(since) >= d.from {
				if upper := d.search(nanosOf(until)) - d.search(nanosOf(since)); upper < n {
					t.Errorf("tracker counts %d runs, the database %d (window %v..%v)", upper, n, since, until)
				}
			}
			checks++
			if below {
				hits++
				if n >= limit {
					t.Errorf("tracker said below %d, exact count %d (window %v..%v)", limit, n, since, until)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check() // builds the tracker
	for i := 300; i < 1200; i++ {
		switch op := rng.IntN(10); {
		case op < 4: // a new run, sometimes out of order
			r := newRun(i, t0.Add(time.Duration(rng.IntN(2000))*time.Millisecond))
			runs = append(runs, r)
			if err := s.Write(ctx, func(tx store.Tx) error { return tx.InsertRun(r) }); err != nil {
				t.Fatal(err)
			}
		case op < 6: // cancel a run
			r := runs[rng.IntN(len(runs))]
			if r.Status == automation.RunScheduled {
				c := *r
				c.Status, c.EndedAt = automation.RunCanceled, t0
				if err := s.Write(ctx, func(tx store.Tx) error { _, err := tx.UpdateRun(&c, r.Status); return err }); err != nil {
					t.Fatal(err)
				}
				*r = c
			}
		case op < 7: // move a run's start
			r := runs[rng.IntN(len(runs))]
			c := *r
			c.StartedAt = t0.Add(time.Duration(rng.IntN(2000)) * time.Millisecond)
			if err := s.Write(ctx, func(tx store.Tx) error { _, err := tx.UpdateRun(&c, r.Status); return err }); err != nil {
				t.Fatal(err)
			}
			*r = c
		case op < 8: // a write that inserts runs, moves one, and then fails
			boom := errors.New("boom")
			r := runs[rng.IntN(len(runs))]
			c := *r
			c.StartedAt = t0.Add(-time.Hour)
			err := s.Write(ctx, func(tx store.Tx) error {
				if _, err := tx.UpdateRun(&c, r.Status); err != nil {
					return err
				}
				for j := range 50 {
					if err := tx.InsertRun(newRun(100000+i*100+j, t0.Add(time.Duration(rng.IntN(2000))*time.Millisecond))); err != nil {
						return err
					}
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
		}
		check()
	}
	if hits < checks/10 {
		t.Fatalf("the tracker answered %d of %d checks", hits, checks)
	}
}
