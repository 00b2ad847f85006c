package service

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/agh-dev/agh/internal/admit"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/events"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/webhook"
)

// WebhookRequest is one HTTP delivery to a webhook endpoint.
type WebhookRequest struct {
	Scope         string // route scope: "global" or "workspace"
	WorkspaceID   string // route workspace id
	Endpoint      string // "<slug>--<webhook_id>"
	Header        http.Header
	Body          io.Reader
	ContentLength int64
	RemoteAddr    string
}

// errWebhookNotRegistered is the 404 of steps 2 and 3.
var errWebhookNotRegistered = &automation.NotFoundError{Message: "automation: webhook trigger not registered"}

// DeliverWebhook processes a webhook request in the order of SPEC §9.2. Refusals are
// returned as errors: *automation.ValidationError (400), *automation.NotFoundError (404),
// *webhook.Rejection (400/401/413), *automation.ReplayError and *automation.FireLimitedError
// (409). Every request whose webhook id resolves writes one delivery record.
func (s *Service) DeliverWebhook(ctx context.Context, req WebhookRequest) (*ActivationResult, error) {
	received := s.now()
	slug, webhookID, err := webhook.ParseEndpoint(req.Endpoint)
	if err != nil {
		s.metrics().Webhook("", automation.DeliveryRejected, "malformed_endpoint")
		return nil, automation.Invalid("%s", err.Error())
	}
	t, err := s.Store.TriggerByWebhookID(ctx, webhookID)
	if errors.Is(err, store.ErrNotFound) {
		s.metrics().Webhook("", automation.DeliveryRejected, "unknown_endpoint")
		return nil, errWebhookNotRegistered
	} else if err != nil {
		return nil, err
	}
	d := &automation.Delivery{ID: automation.NewID(automation.PrefixDelivery, received), TriggerID: t.ID,
		ReceivedAt: received, Source: "webhook", EventKind: events.KindWebhook, SignatureScheme: t.SignatureScheme,
		RemoteAddr: req.RemoteAddr}
	reject := func(status int, reason string, err error) (*ActivationResult, error) {
		d.Outcome, d.Reason, d.StatusCode = automation.DeliveryRejected, reason, status
		s.metrics().Webhook(t.SignatureScheme, automation.DeliveryRejected, reason)
		if s.Log != nil {
			s.Log.Info("webhook rejected", "component", "webhook", "trigger_id", t.ID, "delivery_id", d.DeliveryID,
				"reason", reason, "status", status)
		}
		if werr := s.writeDelivery(ctx, d); werr != nil {
			return nil, werr
		}
		return nil, err
	}
	if !t.Enabled || !t.IsWebhook() {
		return reject(404, "disabled", errWebhookNotRegistered)
	}
	if t.EndpointSlug != slug || t.Scope != req.Scope || t.WorkspaceID != req.WorkspaceID {
		return reject(404, "endpoint_mismatch", errWebhookNotRegistered)
	}
	h, rej := webhook.ParseHeaders(t.SignatureScheme, req.Header)
	if rej != nil {
		return reject(rej.Status, rej.Reason, rej)
	}
	d.DeliveryID = h.DeliveryID
	if rej := h.CheckFreshness(received); rej != nil {
		return reject(rej.Status, rej.Reason, rej)
	}
	body, n, tooLarge, err := webhook.ReadBody(req.Body, req.ContentLength)
	d.BodyBytes = n
	if tooLarge {
		rej := webhook.PayloadTooLarge()
		return reject(rej.Status, rej.Reason, rej)
	}
	if err != nil {
		return nil, err
	}
	secrets, err := s.TriggerSecrets(t, received)
	if err != nil {
		return reject(500, "internal", err)
	}
	which, ok := h.Verify(body, secrets)
	if !ok {
		rej := webhook.SignatureInvalid()
		return reject(rej.Status, rej.Reason, rej)
	}
	d.Secret = "current"
	if which == 1 {
		d.Secret = "previous"
	}
	if t.SignatureScheme == webhook.SchemeStripe {
		id, ok := webhook.StripeEventID(body)
		if !ok {
			rej := webhook.StripeEventIDMissing()
			return reject(rej.Status, webhook.ReasonMissingHeader, rej)
		}
		h.DeliveryID = id
		d.DeliveryID = id
	}
	env := &events.Envelope{
		ID: automation.NewID(automation.PrefixEvent, received), Kind: events.KindWebhook, Scope: t.Scope,
		WorkspaceID: t.WorkspaceID, Source: events.SourceWebhook, Depth: 0, OccurredAt: received,
		Data: webhook.Normalize(body, webhook.Meta{Endpoint: req.Endpoint, Slug: slug, WebhookID: webhookID,
			DeliveryID: h.DeliveryID, GitHubEvent: h.GitHubEvent, Timestamp: h.EventTime(received)}),
	}
	d.EventID = env.ID
	res := &ActivationResult{EventID: env.ID, DeliveryID: h.DeliveryID}
	s.metrics().Event(events.SourceWebhook)
	raw, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	retention := s.Config().Automation.ReplayRetention
	var (
		ar       admit.Result
		replayed *automation.ReplayClaim
		filtered bool
		gone     bool
	)
	err = s.Store.Write(ctx, func(tx store.Tx) error {
		ar, replayed, filtered, gone = admit.Result{}, nil, false, false
		cur, err := tx.LockTrigger(t.ID)
		if errors.Is(err, store.ErrNotFound) {
			gone = true
			return nil
		} else if err != nil {
			return err
		}
		claim, err := tx.GetReplayClaim(ctx, t.ID, h.DeliveryID)
		switch {
		case err == nil && received.Sub(claim.CreatedAt) < retention:
			replayed = claim
			d.Outcome, d.Reason, d.StatusCode, d.RunIDs = automation.DeliveryRejected, "replay", 409, claim.RunIDs
			return s.insertDelivery(tx, d)
		case err == nil:
			if err := tx.DeleteReplayClaim(t.ID, h.DeliveryID); err != nil {
				return err
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if !events.Filter(cur.Filter).Match(env) {
			filtered = true
			d.Outcome, d.Reason, d.StatusCode = automation.DeliveryFiltered, ReasonFilterMismatch, 200
			return s.insertDelivery(tx, d)
		}
		run := s.triggerRun(cur, env, raw, automation.OriginWebhook, received)
		run.DeliveryID = h.DeliveryID
		if ar, err = admit.Admit(tx, policyOf(cur), run, received); err != nil {
			return err
		}
		switch ar.Refused {
		case admit.RefusedOverlap:
			d.Outcome, d.Reason, d.StatusCode = automation.DeliverySkipped, admit.RefusedOverlap, 200
		case admit.RefusedFireLimit:
			d.Outcome, d.Reason, d.StatusCode = automation.DeliveryRejected, admit.RefusedFireLimit, 409
		default:
			if err := tx.InsertReplayClaim(&automation.ReplayClaim{TriggerID: t.ID, DeliveryID: h.DeliveryID,
				RunIDs: []string{run.ID}, CreatedAt: received}); err != nil {
				return err
			}
			d.Outcome, d.StatusCode, d.RunIDs = automation.DeliveryAccepted, 200, []string{run.ID}
		}
		return s.insertDelivery(tx, d)
	})
	if err != nil {
		return nil, err
	}
	switch {
	case gone:
		return nil, errWebhookNotRegistered
	case replayed != nil:
		s.metrics().Webhook(t.SignatureScheme, automation.DeliveryRejected, "replay")
		return nil, &automation.ReplayError{RunIDs: replayed.RunIDs}
	case filtered:
		s.metrics().Webhook(t.SignatureScheme, automation.DeliveryFiltered, ReasonFilterMismatch)
		return res, nil
	}
	res.Matched = 1
	switch ar.Refused {
	case admit.RefusedOverlap:
		s.metrics().Webhook(t.SignatureScheme, automation.DeliverySkipped, admit.RefusedOverlap)
		s.metrics().OverlapSkipped(automation.OriginWebhook)
		res.Skipped = []Skipped{{TriggerID: t.ID, Reason: admit.RefusedOverlap}}
		return res, nil
	case admit.RefusedFireLimit:
		s.metrics().Webhook(t.SignatureScheme, automation.DeliveryRejected, admit.RefusedFireLimit)
		s.metrics().FireLimited(automation.OriginWebhook)
		return nil, ar.FireLimit
	}
	s.metrics().Webhook(t.SignatureScheme, automation.DeliveryAccepted, "")
	res.Runs = []*automation.Run{ar.Run}
	changed := append([]*automation.Run{ar.Run}, ar.Superseded...)
	s.notify().RunsChanged(changed)
	if len(ar.Superseded) > 0 {
		s.notify().RunsTerminated(ar.Superseded)
	}
	return res, nil
}

// PruneReplayClaims deletes replay claims older than the retention (SPEC §7.10 step 4).
func (s *Service) PruneReplayClaims(ctx context.Context) error {
	before := s.now().Add(-s.Config().Automation.ReplayRetention)
	return s.Store.Write(ctx, func(tx store.Tx) error { return tx.PruneReplayClaims(before) })
}

// PruneExpiredSecrets deletes previous webhook secrets whose validity ended (SPEC §9.8).
func (s *Service) PruneExpiredSecrets(ctx context.Context) error {
	now := s.now()
	all, err := s.Store.AllTriggers(ctx)
	if err != nil {
		return err
	}
	for _, t := range all {
		if len(t.PreviousSealed) == 0 || now.Before(t.PreviousExpiresAt) {
			continue
		}
		err := s.Store.Write(ctx, func(tx store.Tx) error {
			cur, err := tx.LockTrigger(t.ID)
			if err != nil || len(cur.PreviousSealed) == 0 || now.Before(cur.PreviousExpiresAt) {
				return nil
			}
			cur.PreviousSealed, cur.PreviousHash, cur.PreviousExpiresAt = nil, "", time.Time{}
			return tx.UpdateTrigger(cur)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
