package storetest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

func testLedger(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, func(tx store.Tx) error {
		for _, id := range []string{"job_1", "job_2"} {
			if err := tx.InsertJob(job(id, id, ""), nil); err != nil {
				return err
			}
		}
		return nil
	})

	var noneErr error
	write(t, s, func(tx store.Tx) error {
		_, noneErr = tx.LastLedgerEntry("job_1")
		return nil
	})
	if !errors.Is(noneErr, store.ErrNotFound) {
		t.Fatalf("LastLedgerEntry(no entries) = %v, want ErrNotFound", noneErr)
	}

	fired := &automation.LedgerEntry{JobID: "job_1", SlotAt: at(0), LastSlotAt: at(0), Count: 1,
		Outcome: automation.OutcomeFired, RunID: "run_1", FireID: "fire_1",
		Local: "2026-03-01T05:00:00.123456789-05:00", DST: "", RecordedAt: at(1)}
	skipped := &automation.LedgerEntry{JobID: "job_1", SlotAt: at(time.Hour), LastSlotAt: at(time.Hour), Count: 1,
		Outcome: automation.OutcomeSkipped, Reason: automation.ReasonMisfire,
		Local: "2026-03-01T06:00:00.123456789-05:00", DST: "gap", RecordedAt: at(time.Hour + 1)}
	other := &automation.LedgerEntry{JobID: "job_2", SlotAt: at(2 * time.Hour), LastSlotAt: at(2 * time.Hour),
		Count: 1, Outcome: automation.OutcomeCoalesced, RunID: "run_9", RecordedAt: at(3)}
	var last1 automation.LedgerEntry
	write(t, s, func(tx store.Tx) error {
		for _, e := range []*automation.LedgerEntry{fired, skipped, other} {
			if err := tx.InsertLedgerEntry(e); err != nil {
				return err
			}
		}
		var err error
		last1, err = tx.LastLedgerEntry("job_1")
		return err
	})
	if fired.Seq <= 0 || skipped.Seq <= fired.Seq || other.Seq <= skipped.Seq {
		t.Fatalf("seqs not increasing: %d, %d, %d", fired.Seq, skipped.Seq, other.Seq)
	}
	mustEqual(t, "last entry", last1, *skipped)

	// Merging into the last entry.
	skipped.Count, skipped.LastSlotAt, skipped.RecordedAt = 3, at(3*time.Hour), at(3*time.Hour+5)
	var last2 automation.LedgerEntry
	write(t, s, func(tx store.Tx) error {
		if err := tx.UpdateLedgerEntry(skipped); err != nil {
			return err
		}
		var err error
		last2, err = tx.LastLedgerEntry("job_1")
		return err
	})
	mustEqual(t, "merged entry", last2, *skipped)

	got, err := s.ListLedger(ctx, store.LedgerQuery{JobID: "job_1"})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "ledger", got, []automation.LedgerEntry{*skipped, *fired})

	err = writeErr(s, func(tx store.Tx) error {
		return tx.UpdateLedgerEntry(&automation.LedgerEntry{Seq: other.Seq + 100, JobID: "job_1",
			SlotAt: at(0), Count: 1, Outcome: automation.OutcomeFired})
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateLedgerEntry(missing seq) = %v, want ErrNotFound", err)
	}

	// Pruning keeps the newest entries (by seq) of that job only.
	var entries []*automation.LedgerEntry
	write(t, s, func(tx store.Tx) error {
		for i := range 5 {
			e := &automation.LedgerEntry{JobID: "job_1", SlotAt: at(time.Duration(10+i) * time.Hour), Count: 1,
				Outcome: automation.OutcomeFired, RecordedAt: at(0)}
			if err := tx.InsertLedgerEntry(e); err != nil {
				return err
			}
			entries = append(entries, e)
		}
		return tx.PruneLedger("job_1", 3)
	})
	got, err = s.ListLedger(ctx, store.LedgerQuery{JobID: "job_1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []automation.LedgerEntry{*entries[4], *entries[3], *entries[2]}
	mustEqual(t, "pruned ledger", got, want)

	write(t, s, func(tx store.Tx) error { return tx.PruneLedger("job_1", 10) }) // nothing to prune
	if got, err = s.ListLedger(ctx, store.LedgerQuery{JobID: "job_1"}); err != nil || len(got) != 3 {
		t.Fatalf("after PruneLedger(10): %d entries, %v; want 3", len(got), err)
	}
	write(t, s, func(tx store.Tx) error { return tx.PruneLedger("job_1", 0) })
	if got, err = s.ListLedger(ctx, store.LedgerQuery{JobID: "job_1"}); err != nil || len(got) != 0 {
		t.Fatalf("after PruneLedger(0): %d entries, %v; want 0", len(got), err)
	}
	got, err = s.ListLedger(ctx, store.LedgerQuery{JobID: "job_2"})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "other job's ledger", got, []automation.LedgerEntry{*other})
}

func testLedgerPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, func(tx store.Tx) error { return tx.InsertJob(job("job_1", "one", ""), nil) })
	// Slots out of insertion order, with repeated slot instants to exercise the seq tiebreak.
	slots := []time.Duration{2, 0, 3, 3, 1, 2, 5, 4, 3}
	var all []automation.LedgerEntry
	write(t, s, func(tx store.Tx) error {
		for _, h := range slots {
			e := &automation.LedgerEntry{JobID: "job_1", SlotAt: at(h * time.Hour), LastSlotAt: at(h * time.Hour),
				Count: 1, Outcome: automation.OutcomeSkipped, Reason: automation.ReasonPaused, RecordedAt: at(0)}
			if err := tx.InsertLedgerEntry(e); err != nil {
				return err
			}
			all = append(all, *e)
		}
		return nil
	})
	slices.SortFunc(all, func(a, b automation.LedgerEntry) int {
		return cmp.Or(b.SlotAt.Compare(a.SlotAt), cmp.Compare(b.Seq, a.Seq))
	})
	got, err := s.ListLedger(ctx, store.LedgerQuery{JobID: "job_1"})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "ledger order", got, all)

	for _, size := range []int{1, 2, 4} {
		var paged []automation.LedgerEntry
		q := store.LedgerQuery{JobID: "job_1", Limit: size}
		for range len(all) + 2 {
			page, err := s.ListLedger(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > size {
				t.Fatalf("page of %d with limit %d", len(page), size)
			}
			paged = append(paged, page...)
			if len(page) < size {
				break
			}
			last := page[len(page)-1]
			q.BeforeSlot, q.BeforeSeq = last.SlotAt, last.Seq
		}
		mustEqual(t, "paged ledger", paged, all)
	}
	if got, err := s.ListLedger(ctx, store.LedgerQuery{JobID: "job_missing"}); err != nil || len(got) != 0 {
		t.Fatalf("ledger of unknown job = %v, %v", got, err)
	}
}

// testPruneLedgers: PruneLedgers keeps the newest keep entries (by seq) of each listed job, and
// leaves jobs with fewer entries and unlisted jobs alone.
func testPruneLedgers(t *testing.T, s store.Store) {
	ctx := context.Background()
	counts := map[string]int{"job_1": 5, "job_2": 2, "job_3": 4, "job_4": 6}
	var order []string
	for id := range counts {
		order = append(order, id)
	}
	sort.Strings(order)
	entries := map[string][]automation.LedgerEntry{}
	write(t, s, func(tx store.Tx) error {
		for _, id := range order {
			if err := tx.InsertJob(job(id, id, ""), nil); err != nil {
				return err
			}
		}
		// Interleaved, so that each job's seqs are not contiguous.
		for i := range 6 {
			for _, id := range order {
				if i >= counts[id] {
					continue
				}
				e := &automation.LedgerEntry{JobID: id, SlotAt: at(time.Duration(i) * time.Hour), Count: 1,
					Outcome: automation.OutcomeFired, RecordedAt: at(0)}
				if err := tx.InsertLedgerEntry(e); err != nil {
					return err
				}
				entries[id] = append(entries[id], *e)
			}
		}
		return nil
	})
	write(t, s, func(tx store.Tx) error {
		if err := tx.PruneLedgers(nil, 3); err != nil {
			return err
		}
		return tx.PruneLedgers([]string{"job_1", "job_2", "job_4", "job_missing"}, 3)
	})
	for _, id := range order {
		got, err := s.ListLedger(ctx, store.LedgerQuery{JobID: id})
		if err != nil {
			t.Fatal(err)
		}
		all := entries[id]
		keep := len(all)
		if id != "job_3" {
			keep = min(keep, 3)
		}
		var want []automation.LedgerEntry
		for i := len(all) - 1; i >= len(all)-keep; i-- {
			want = append(want, all[i])
		}
		mustEqual(t, id+" ledger", got, want)
	}
}
