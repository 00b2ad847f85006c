package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

func fullTrigger(id, name, webhookID string) *automation.Trigger {
	return &automation.Trigger{
		ID: id, Name: name, Scope: automation.ScopeGlobal, AgentName: "claude", Prompt: "{{ .Kind }}",
		Event: automation.EventWebhook, Filter: map[string]string{"data.action": "opened", "kind": "webhook"},
		Enabled: true, Retry: automation.Retry{Strategy: "backoff", MaxRetries: 2, BaseDelay: "1s", MaxDelay: "5s"},
		FireLimit: automation.FireLimit{Max: 3, Window: "1h"}, OverlapPolicy: "queue", EndpointSlug: "issues",
		WebhookID: webhookID, SignatureScheme: "github", SecretSealed: []byte{1, 2, 3}, SecretHash: "fp:0011",
		PreviousSealed: []byte{4, 5}, PreviousHash: "fp:2233", PreviousExpiresAt: at(time.Hour),
		Source: automation.SourceConfig, ConfigEnabled: true, ConfigHash: "sha256:x",
		CreatedAt: at(0), UpdatedAt: at(time.Second),
	}
}

func testTriggers(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := fullTrigger("trg_a", "alpha", "wbh_a")
	b := fullTrigger("trg_b", "beta", "")
	b.Event, b.EndpointSlug, b.SignatureScheme, b.Filter = "ext.deploy", "", "", nil
	b.SecretSealed, b.PreviousSealed, b.SecretHash, b.PreviousHash, b.PreviousExpiresAt = nil, nil, "", "", time.Time{}
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertTrigger(a); err != nil {
			return err
		}
		return tx.InsertTrigger(b)
	})
	got, err := s.GetTrigger(ctx, "trg_a")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "trigger", got, a)
	if _, err := s.GetTrigger(ctx, "trg_none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing trigger: %v", err)
	}
	if w, err := s.TriggerByWebhookID(ctx, "wbh_a"); err != nil || w.ID != "trg_a" {
		t.Fatalf("by webhook id: %v %v", w, err)
	}
	// Conflicts.
	dupName := fullTrigger("trg_c", "alpha", "wbh_c")
	if err := writeErr(s, func(tx store.Tx) error { return tx.InsertTrigger(dupName) }); !store.IsConflict(err, store.UniqueTriggerName) {
		t.Fatalf("name conflict: %v", err)
	}
	dupHook := fullTrigger("trg_d", "delta", "wbh_a")
	if err := writeErr(s, func(tx store.Tx) error { return tx.InsertTrigger(dupHook) }); !store.IsConflict(err, store.UniqueWebhookID) {
		t.Fatalf("webhook id conflict: %v", err)
	}
	// Non-webhook triggers may all lack a webhook id.
	c := fullTrigger("trg_e", "echo", "")
	c.Event, c.EndpointSlug = "ext.deploy", ""
	write(t, s, func(tx store.Tx) error { return tx.InsertTrigger(c) })
	// Lists.
	list, err := s.ListTriggers(ctx, store.TriggerQuery{Event: "ext.deploy"})
	if err != nil || len(list) != 2 || list[0].ID != "trg_b" || list[1].ID != "trg_e" {
		t.Fatalf("list by event: %v %v", list, err)
	}
	page, _ := s.ListTriggers(ctx, store.TriggerQuery{Limit: 1, AfterName: "alpha", AfterID: "trg_a"})
	if len(page) != 1 || page[0].ID != "trg_b" {
		t.Fatalf("keyset page %v", page)
	}
	forEvent, _ := s.TriggersForEvent(ctx, "ext.deploy", automation.ScopeGlobal, "")
	if len(forEvent) != 2 {
		t.Fatalf("for event %v", forEvent)
	}
	// Update, lock, policies, delete.
	write(t, s, func(tx store.Tx) error {
		cur, err := tx.LockTrigger("trg_b")
		if err != nil {
			return err
		}
		cur.Enabled = false
		cur.OverlapPolicy = "skip"
		return tx.UpdateTrigger(cur)
	})
	forEvent, _ = s.TriggersForEvent(ctx, "ext.deploy", automation.ScopeGlobal, "")
	if len(forEvent) != 1 || forEvent[0].ID != "trg_e" {
		t.Fatalf("disabled trigger offered: %v", forEvent)
	}
	write(t, s, func(tx store.Tx) error {
		p, err := tx.TriggerOverlapPolicy("trg_b")
		if err != nil || p != "skip" {
			t.Errorf("overlap policy %q %v", p, err)
		}
		r, err := tx.TriggerRetryPolicy("trg_a")
		if err != nil || r != a.Retry {
			t.Errorf("retry policy %v %v", r, err)
		}
		if _, err := tx.TriggerRetryPolicy("trg_none"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing trigger policy: %v", err)
		}
		return nil
	})
	write(t, s, func(tx store.Tx) error { return tx.DeleteTrigger("trg_b") })
	if err := writeErr(s, func(tx store.Tx) error { return tx.DeleteTrigger("trg_b") }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	all, _ := s.AllTriggers(ctx)
	if len(all) != 2 {
		t.Fatalf("all triggers %d", len(all))
	}
}

func testDeliveriesAndReplayClaims(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, func(tx store.Tx) error { return tx.InsertTrigger(fullTrigger("trg_a", "a", "wbh_a")) })
	for i := 0; i < 5; i++ {
		d := &automation.Delivery{ID: "dlv_" + string(rune('a'+i)), TriggerID: "trg_a", ReceivedAt: at(time.Duration(i) * time.Second),
			Source: "webhook", EventID: "evt_1", EventKind: "webhook", DeliveryID: "d1", SignatureScheme: "agh", StatusCode: 200,
			Outcome: automation.DeliveryAccepted, RunIDs: []string{"run_1", "run_2"}, Secret: "current", BodyBytes: 66,
			RemoteAddr: "127.0.0.1:1", Depth: 0}
		if i%2 == 1 {
			d.Outcome, d.Reason, d.RunIDs = automation.DeliveryRejected, "signature_invalid", nil
		}
		write(t, s, func(tx store.Tx) error { return tx.InsertDelivery(d) })
	}
	ds, err := s.ListDeliveries(ctx, store.DeliveryQuery{TriggerID: "trg_a"})
	if err != nil || len(ds) != 5 || ds[0].ID != "dlv_e" || len(ds[0].RunIDs) != 2 || ds[0].BodyBytes != 66 {
		t.Fatalf("deliveries %v %v", ds, err)
	}
	rej, _ := s.ListDeliveries(ctx, store.DeliveryQuery{TriggerID: "trg_a", Outcome: automation.DeliveryRejected})
	if len(rej) != 2 {
		t.Fatalf("outcome filter %d", len(rej))
	}
	page, _ := s.ListDeliveries(ctx, store.DeliveryQuery{TriggerID: "trg_a", Limit: 2, BeforeReceivedAt: ds[1].ReceivedAt, BeforeID: ds[1].ID})
	if len(page) != 2 || page[0].ID != "dlv_c" {
		t.Fatalf("delivery page %v", page)
	}
	write(t, s, func(tx store.Tx) error { return tx.PruneDeliveries("trg_a", 3) })
	if ds, _ = s.ListDeliveries(ctx, store.DeliveryQuery{TriggerID: "trg_a"}); len(ds) != 3 || ds[2].ID != "dlv_c" {
		t.Fatalf("pruned %v", ds)
	}
	claim := &automation.ReplayClaim{TriggerID: "trg_a", DeliveryID: "d1", RunIDs: []string{"run_1"}, CreatedAt: at(0)}
	write(t, s, func(tx store.Tx) error { return tx.InsertReplayClaim(claim) })
	if err := writeErr(s, func(tx store.Tx) error { return tx.InsertReplayClaim(claim) }); !store.IsConflict(err, store.UniqueReplayClaim) {
		t.Fatalf("duplicate claim: %v", err)
	}
	got, err := s.GetReplayClaim(ctx, "trg_a", "d1")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "claim", got, claim)
	write(t, s, func(tx store.Tx) error {
		return tx.InsertReplayClaim(&automation.ReplayClaim{TriggerID: "trg_a", DeliveryID: "d2", RunIDs: []string{"run_2"}, CreatedAt: at(time.Hour)})
	})
	ids, err := s.ReplayClaimIDs(ctx, "trg_a", 10)
	slices.Sort(ids)
	if err != nil || !slices.Equal(ids, []string{"d1", "d2"}) {
		t.Fatalf("claim ids %v %v", ids, err)
	}
	if ids, err = s.ReplayClaimIDs(ctx, "trg_a", 1); err != nil || len(ids) != 1 {
		t.Fatalf("claim ids limit 1: %v %v", ids, err)
	}
	if ids, err = s.ReplayClaimIDs(ctx, "trg_none", 10); err != nil || len(ids) != 0 {
		t.Fatalf("claim ids of an unknown trigger: %v %v", ids, err)
	}
	write(t, s, func(tx store.Tx) error { return tx.PruneReplayClaims(at(time.Minute)) })
	if _, err := s.GetReplayClaim(ctx, "trg_a", "d1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("pruned claim still there: %v", err)
	}
	write(t, s, func(tx store.Tx) error { return tx.DeleteReplayClaim("trg_a", "d2") })
	if _, err := s.GetReplayClaim(ctx, "trg_a", "d2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted claim still there: %v", err)
	}
	// Deleting the trigger deletes its log and claims.
	write(t, s, func(tx store.Tx) error {
		return tx.InsertReplayClaim(&automation.ReplayClaim{TriggerID: "trg_a", DeliveryID: "d3", RunIDs: []string{"r"}, CreatedAt: at(0)})
	})
	write(t, s, func(tx store.Tx) error { return tx.DeleteTrigger("trg_a") })
	if ds, _ := s.ListDeliveries(ctx, store.DeliveryQuery{TriggerID: "trg_a"}); len(ds) != 0 {
		t.Fatalf("deliveries survived the trigger: %d", len(ds))
	}
	if _, err := s.GetReplayClaim(ctx, "trg_a", "d3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("claim survived the trigger: %v", err)
	}
}

func testDispatchQueries(t *testing.T, s store.Store) {
	ctx := context.Background()
	runs := []*automation.Run{run("run_1", "job_a", at(0)), run("run_2", "job_a", at(time.Second)), run("run_3", "job_b", at(2*time.Second))}
	runs[0].ScheduledAt = at(10 * time.Second)
	runs[2].Status = automation.RunRunning
	runs[2].LeaseOwner, runs[2].LeaseExpiresAt = "node-a", at(30*time.Second)
	write(t, s, func(tx store.Tx) error {
		for _, r := range runs {
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	write(t, s, func(tx store.Tx) error {
		n, err := tx.CountRunning()
		if err != nil || n != 1 {
			t.Errorf("running %d %v", n, err)
		}
		el, err := tx.EligibleRuns(at(5*time.Second), 10)
		if err != nil || len(el) != 1 || el[0].ID != "run_2" {
			t.Errorf("eligible at +5s: %v %v", runIDs(el), err)
		}
		el, _ = tx.EligibleRuns(at(time.Minute), 10)
		if len(el) != 2 || el[0].ID != "run_2" || el[1].ID != "run_1" {
			t.Errorf("eligible order %v", runIDs(el))
		}
		return nil
	})
	next, ok, err := s.NextScheduledAt(ctx, at(5*time.Second))
	if err != nil || !ok || !next.Equal(at(10*time.Second)) {
		t.Fatalf("next scheduled %v %v %v", next, ok, err)
	}
	if _, ok, _ := s.NextScheduledAt(ctx, at(time.Minute)); ok {
		t.Fatal("next scheduled after the last one")
	}
	// Leases.
	write(t, s, func(tx store.Tx) error {
		if n, err := tx.RenewLeases("node-b", at(time.Hour)); err != nil || n != 0 {
			t.Errorf("renew other node: %d %v", n, err)
		}
		exp, err := tx.ExpiredRuns(at(time.Minute), 10)
		if err != nil || len(exp) != 1 || exp[0].ID != "run_3" {
			t.Errorf("expired %v %v", runIDs(exp), err)
		}
		if n, err := tx.RenewLeases("node-a", at(2*time.Minute)); err != nil || n != 1 {
			t.Errorf("renew: %d %v", n, err)
		}
		exp, _ = tx.ExpiredRuns(at(time.Minute), 10)
		if len(exp) != 0 {
			t.Errorf("renewed lease expired: %v", runIDs(exp))
		}
		return nil
	})
	// Node heartbeats.
	if _, err := s.NodeHeartbeat(ctx, "node-a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown node: %v", err)
	}
	write(t, s, func(tx store.Tx) error { return tx.HeartbeatNode("node-a", at(0), at(0)) })
	write(t, s, func(tx store.Tx) error { return tx.HeartbeatNode("node-a", at(10*time.Second), at(0)) })
	if hb, err := s.NodeHeartbeat(ctx, "node-a"); err != nil || !hb.Equal(at(10*time.Second)) {
		t.Fatalf("heartbeat %v %v", hb, err)
	}
}
