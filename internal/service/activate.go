package service

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/agh-dev/agh/internal/admit"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/events"
	"github.com/agh-dev/agh/internal/store"
)

// Skipped is a matched trigger that admitted no run (SPEC §2.8).
type Skipped struct {
	TriggerID string
	Reason    string
	RetryAt   time.Time
}

// ActivationResult is the outcome of offering one envelope to the triggers (SPEC §2.8).
type ActivationResult struct {
	Matched    int
	Runs       []*automation.Run
	EventID    string
	DeliveryID string
	Skipped    []Skipped
}

// Delivery log reasons.
const (
	ReasonFilterMismatch = "filter_mismatch"
	ReasonLoopGuard      = "loop_guard"
)

// Activate offers an envelope to every enabled trigger of its kind, scope and workspace, in id
// order, each with its own admission (SPEC §8.4, §8.7, §8.8). Runs are committed before it
// returns.
func (s *Service) Activate(ctx context.Context, env *events.Envelope) (*ActivationResult, error) {
	res := &ActivationResult{EventID: env.ID}
	trigs, err := s.Store.TriggersForEvent(ctx, env.Kind, env.Scope, env.WorkspaceID)
	if err != nil || len(trigs) == 0 {
		return res, err
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	// Filters and templates see the envelope as it is stored with the run (data numbers as
	// json.Number), so a retry after a restart renders the same prompt. Envelopes that reach no
	// trigger (most run and session events) skip this round trip.
	var stored events.Envelope
	if err := json.Unmarshal(raw, &stored); err != nil {
		return nil, err
	}
	env = &stored
	var admitted []*automation.Run
	for _, t := range trigs {
		now := s.now()
		d := &automation.Delivery{ID: automation.NewID(automation.PrefixDelivery, now), TriggerID: t.ID,
			ReceivedAt: now, Source: "event", EventID: env.ID, EventKind: env.Kind, Depth: env.Depth}
		if !events.Filter(t.Filter).Match(env) {
			d.Outcome, d.Reason = automation.DeliveryFiltered, ReasonFilterMismatch
			if err := s.logDelivery(ctx, d); err != nil {
				return nil, err
			}
			continue
		}
		res.Matched++
		if env.LoopGuarded() {
			d.Outcome, d.Reason = automation.DeliverySkipped, ReasonLoopGuard
			res.Skipped = append(res.Skipped, Skipped{TriggerID: t.ID, Reason: ReasonLoopGuard})
			if err := s.logDelivery(ctx, d); err != nil {
				return nil, err
			}
			s.metrics().LoopGuard()
			continue
		}
		var ar admit.Result
		err := s.Store.Write(ctx, func(tx store.Tx) error {
			cur, err := tx.LockTrigger(t.ID)
			if errors.Is(err, store.ErrNotFound) {
				return nil // deleted meanwhile
			} else if err != nil {
				return err
			}
			run := s.triggerRun(cur, env, raw, automation.OriginEvent, now)
			ar, err = admit.Admit(tx, policyOf(cur), run, now)
			if err != nil {
				return err
			}
			switch ar.Refused {
			case admit.RefusedOverlap:
				d.Outcome, d.Reason = automation.DeliverySkipped, admit.RefusedOverlap
			case admit.RefusedFireLimit:
				d.Outcome, d.Reason = automation.DeliverySkipped, admit.RefusedFireLimit
			default:
				d.Outcome, d.RunIDs = automation.DeliveryAccepted, []string{run.ID}
			}
			return s.insertDelivery(tx, d)
		})
		if err != nil {
			return nil, err
		}
		if d.Outcome != "" {
			s.trimDeliveries(ctx, t.ID)
		}
		switch {
		case ar.Run != nil:
			res.Runs = append(res.Runs, ar.Run)
			admitted = append(admitted, ar.Run)
			admitted = append(admitted, ar.Superseded...)
			if len(ar.Superseded) > 0 {
				s.notify().RunsTerminated(ar.Superseded)
			}
		case ar.Refused == admit.RefusedOverlap:
			res.Skipped = append(res.Skipped, Skipped{TriggerID: t.ID, Reason: admit.RefusedOverlap})
			s.metrics().OverlapSkipped(automation.OriginEvent)
		case ar.Refused == admit.RefusedFireLimit:
			res.Skipped = append(res.Skipped, Skipped{TriggerID: t.ID, Reason: admit.RefusedFireLimit, RetryAt: ar.FireLimit.RetryAt})
			s.metrics().FireLimited(automation.OriginEvent)
		}
	}
	if len(admitted) > 0 {
		s.notify().RunsChanged(admitted)
	}
	return res, nil
}

func policyOf(t *automation.Trigger) admit.Policy {
	return admit.Policy{DefinitionID: t.ID, Overlap: t.OverlapPolicy, FireLimit: t.FireLimit}
}

// triggerRun builds the run a trigger admits for an envelope. The prompt template is stored
// with the run and rendered at start (SPEC §7.1, §7.6).
func (s *Service) triggerRun(t *automation.Trigger, env *events.Envelope, raw []byte, origin string, now time.Time) *automation.Run {
	return &automation.Run{
		ID: automation.NewID(automation.PrefixRun, now), TriggerID: t.ID, Status: automation.RunScheduled,
		Attempt: 1, FireID: automation.NewID(automation.PrefixFire, now), ScheduledAt: now, StartedAt: now,
		Origin: origin, AgentName: t.AgentName, Scope: t.Scope, WorkspaceID: t.WorkspaceID,
		Depth: env.Depth + 1, EventID: env.ID, Prompt: t.Prompt, Envelope: raw,
	}
}

// insertDelivery writes one delivery record; a record of a trigger deleted meanwhile is
// dropped. The log is trimmed separately (pruneDeliveries, from the delivery-log writer).
func (s *Service) insertDelivery(tx store.Tx, d *automation.Delivery) error {
	if err := tx.InsertDelivery(d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// pruneDeliveries keeps the newest deliveries_per_trigger records of a trigger.
func (s *Service) pruneDeliveries(tx store.Tx, triggerID string) error {
	if keep := s.Config().Automation.DeliveriesPerTrigger; keep > 0 {
		return tx.PruneDeliveries(triggerID, keep)
	}
	return nil
}

// PublishEvent handles POST /api/events: an ext.* envelope matched synchronously (SPEC §8.3).
func (s *Service) PublishEvent(ctx context.Context, kind, scope, workspaceID string, data map[string]any) (*ActivationResult, error) {
	now := s.now()
	env := &events.Envelope{ID: automation.NewID(automation.PrefixEvent, now), Kind: kind, Scope: scope,
		WorkspaceID: workspaceID, Source: events.SourceExtension, Data: data, Depth: 0, OccurredAt: now}
	if env.Data == nil {
		env.Data = map[string]any{}
	}
	s.metrics().Event(events.SourceExtension)
	return s.Activate(ctx, env)
}
