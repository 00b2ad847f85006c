package service

import (
	"context"
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

// errStaleTrigger makes the admitting transaction give up because the trigger the delivery was
// verified and filtered with is no longer the committed one; the delivery is processed again.
var errStaleTrigger = errors.New("service: webhook trigger changed during the delivery")

// errRefused rolls back an admission refused by the overlap policy or the fire limit (and with
// it the replay claim inserted before it).
var errRefused = errors.New("service: admission refused")

// maxWebhookAttempts bounds how often one delivery is processed again because its trigger
// changed meanwhile; the last attempt decides with the locked row.
const maxWebhookAttempts = 3

// DeliverWebhook processes a webhook request in the order of SPEC §9.2. Refusals are
// returned as errors: *automation.ValidationError (400), *automation.NotFoundError (404),
// *webhook.Rejection (400/401/413), *automation.ReplayError and *automation.FireLimitedError
// (409). Every request whose webhook id resolves writes one delivery record.
//
// The trigger and its decrypted secrets come from a cache (triggercache.go). Everything up to
// and including the filter is decided before any write: deliveries that admit no run
// (rejected, replayed, filtered, refused) queue their delivery record for the background
// delivery-log writer (deliverylog.go) and never wait for the store's writer. A matching
// delivery commits its run, replay claim and delivery record in one transaction, which first
// checks that the cached trigger is still the committed one.
func (s *Service) DeliverWebhook(ctx context.Context, req WebhookRequest) (*ActivationResult, error) {
	received := s.now()
	slug, webhookID, err := webhook.ParseEndpoint(req.Endpoint)
	if err != nil {
		s.metrics().Webhook("", automation.DeliveryRejected, "malformed_endpoint")
		return nil, automation.Invalid("%s", err.Error())
	}
	w := &webhookDelivery{s: s, req: req, received: received, slug: slug, webhookID: webhookID}
	for attempt := 1; ; attempt++ {
		res, err := w.process(ctx, attempt > 1, attempt == maxWebhookAttempts)
		if errors.Is(err, errStaleTrigger) && attempt < maxWebhookAttempts {
			continue
		}
		return res, err
	}
}

// webhookDelivery is one request being processed; the body is read once even when the
// delivery is processed again.
type webhookDelivery struct {
	s         *Service
	req       WebhookRequest
	received  time.Time
	slug      string
	webhookID string

	bodyRead bool
	body     []byte
	bodyN    int64
	tooLarge bool
	bodyErr  error
}

func (w *webhookDelivery) readBody() {
	if !w.bodyRead {
		w.bodyRead = true
		w.body, w.bodyN, w.tooLarge, w.bodyErr = webhook.ReadBody(w.req.Body, w.req.ContentLength)
	}
}

// process runs SPEC §9.2 once. reload bypasses the trigger cache; last lets the locked trigger
// row decide instead of failing with errStaleTrigger.
func (w *webhookDelivery) process(ctx context.Context, reload, last bool) (*ActivationResult, error) {
	s, req, received := w.s, w.req, w.received
	e, err := s.webhookTrigger(ctx, w.webhookID, received, !reload)
	if errors.Is(err, store.ErrNotFound) {
		s.metrics().Webhook("", automation.DeliveryRejected, "unknown_endpoint")
		return nil, errWebhookNotRegistered
	} else if err != nil {
		return nil, err
	}
	t := e.t
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
		if werr := s.logDelivery(ctx, d); werr != nil {
			return nil, werr
		}
		return nil, err
	}
	if !t.Enabled || !t.IsWebhook() {
		return reject(404, "disabled", errWebhookNotRegistered)
	}
	if t.EndpointSlug != w.slug || t.Scope != req.Scope || t.WorkspaceID != req.WorkspaceID {
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
	w.readBody()
	body := w.body
	d.BodyBytes = w.bodyN
	if w.tooLarge {
		rej := webhook.PayloadTooLarge()
		return reject(rej.Status, rej.Reason, rej)
	}
	if w.bodyErr != nil {
		return nil, w.bodyErr
	}
	which, ok := h.Verify(body, e.secretsAt(received))
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
	// Step 9: a committed claim younger than the retention answers 409. The admitting
	// transaction inserts the claim under its unique constraint, so a claim committed after
	// this read still wins there.
	expiredClaim := false
	if s.mayHaveClaim(ctx, t.ID, h.DeliveryID) {
		res, expired, err := w.replay(ctx, t, d, h.DeliveryID, received)
		if res != nil || err != nil {
			return res, err
		}
		expiredClaim = expired
	}
	meta := webhook.Meta{Endpoint: req.Endpoint, Slug: w.slug, WebhookID: w.webhookID,
		DeliveryID: h.DeliveryID, GitHubEvent: h.GitHubEvent, Timestamp: h.EventTime(received)}
	// The envelope's data (SPEC §9.6) is never built here: filters read their paths from the
	// raw body (webhook.Lookup), and the run stores the body with the metadata (webhook.Stored),
	// from which its data is rebuilt when the prompt is rendered.
	env := &events.Envelope{
		ID: automation.NewID(automation.PrefixEvent, received), Kind: events.KindWebhook, Scope: t.Scope,
		WorkspaceID: t.WorkspaceID, Source: events.SourceWebhook, Depth: 0, OccurredAt: received,
	}
	data := webhook.NewRawData(body, meta).Lookup
	d.EventID = env.ID
	res := &ActivationResult{EventID: env.ID, DeliveryID: h.DeliveryID}
	s.metrics().Event(events.SourceWebhook)
	if !events.Filter(t.Filter).MatchData(env, data) {
		return w.filtered(ctx, t, d, res)
	}
	stored := *env
	if stored.Webhook = webhook.Store(body, meta); stored.Webhook == nil {
		stored.Data = webhook.Normalize(body, meta) // not valid UTF-8: stored normalized
	}
	raw, err := stored.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var (
		ar        admit.Result
		gone      bool
		late      bool // the locked row's filter does not match (last attempt only)
		conflict  bool
		deleteOld = expiredClaim
	)
	for round := 0; ; round++ {
		err = s.Store.Write(ctx, func(tx store.Tx) error {
			ar, gone, late = admit.Result{}, false, false
			pol := t
			if !s.triggers.fresh(e) {
				cur, err := tx.LockTrigger(t.ID)
				if errors.Is(err, store.ErrNotFound) {
					gone = true
					return nil
				} else if err != nil {
					return err
				}
				if !sameTrigger(cur, t) {
					if !last {
						return errStaleTrigger
					}
					if !cur.Enabled || !cur.IsWebhook() || cur.WebhookID != w.webhookID {
						gone = true
						return nil
					}
					if !events.Filter(cur.Filter).MatchData(env, data) {
						late = true
						return nil
					}
					pol = cur
				}
			}
			if deleteOld {
				if err := tx.DeleteReplayClaim(t.ID, h.DeliveryID); err != nil {
					return err
				}
			}
			run := s.triggerRun(pol, env, raw, automation.OriginWebhook, received)
			run.DeliveryID = h.DeliveryID
			if err := tx.InsertReplayClaim(&automation.ReplayClaim{TriggerID: t.ID, DeliveryID: h.DeliveryID,
				RunIDs: []string{run.ID}, CreatedAt: received}); err != nil {
				return err
			}
			var err error
			if ar, err = admit.Admit(tx, policyOf(pol), run, received); err != nil {
				return err
			}
			if ar.Refused != "" {
				return errRefused
			}
			d.Outcome, d.Reason, d.StatusCode, d.RunIDs = automation.DeliveryAccepted, "", 200, []string{run.ID}
			return s.insertDelivery(tx, d)
		})
		conflict = store.IsConflict(err, store.UniqueReplayClaim)
		if !conflict || round >= 2 {
			break
		}
		// Another delivery with this id committed its claim after our read: replay, unless
		// that claim has already expired.
		res, expired, rerr := w.replay(ctx, t, d, h.DeliveryID, received)
		if res != nil || rerr != nil {
			return res, rerr
		}
		deleteOld = expired
	}
	switch {
	case errors.Is(err, errStaleTrigger):
		s.triggers.invalidate()
		return nil, err
	case errors.Is(err, errRefused):
	case err != nil:
		return nil, err
	case gone:
		s.triggers.invalidate()
		return nil, errWebhookNotRegistered
	case late:
		s.triggers.invalidate()
		return w.filtered(ctx, t, d, res)
	}
	res.Matched = 1
	switch ar.Refused {
	case admit.RefusedOverlap:
		d.Outcome, d.Reason, d.StatusCode = automation.DeliverySkipped, admit.RefusedOverlap, 200
		if err := s.logDelivery(ctx, d); err != nil {
			return nil, err
		}
		s.metrics().Webhook(t.SignatureScheme, automation.DeliverySkipped, admit.RefusedOverlap)
		s.metrics().OverlapSkipped(automation.OriginWebhook)
		res.Skipped = []Skipped{{TriggerID: t.ID, Reason: admit.RefusedOverlap}}
		return res, nil
	case admit.RefusedFireLimit:
		d.Outcome, d.Reason, d.StatusCode = automation.DeliveryRejected, admit.RefusedFireLimit, 409
		if err := s.logDelivery(ctx, d); err != nil {
			return nil, err
		}
		s.metrics().Webhook(t.SignatureScheme, automation.DeliveryRejected, admit.RefusedFireLimit)
		s.metrics().FireLimited(automation.OriginWebhook)
		return nil, ar.FireLimit
	}
	s.claims.add(t.ID, h.DeliveryID)
	s.trimDeliveries(ctx, t.ID)
	s.metrics().Webhook(t.SignatureScheme, automation.DeliveryAccepted, "")
	res.Runs = []*automation.Run{ar.Run}
	changed := append([]*automation.Run{ar.Run}, ar.Superseded...)
	s.notify().RunsChanged(changed)
	if len(ar.Superseded) > 0 {
		s.notify().RunsTerminated(ar.Superseded)
	}
	return res, nil
}

// replay answers the delivery as a replay (409) when its id has a claim younger than the
// retention; otherwise res is nil and expired reports a claim past the retention.
func (w *webhookDelivery) replay(ctx context.Context, t *automation.Trigger, d *automation.Delivery, deliveryID string, received time.Time) (res *ActivationResult, expired bool, err error) {
	claim, fresh, expired, err := w.s.readClaim(ctx, t.ID, deliveryID, received)
	if err != nil || !fresh {
		return nil, expired, err
	}
	d.RunIDs = claim.RunIDs
	res, err = w.replayed(ctx, t, d, claim)
	return res, false, err
}

// replayed answers 409 replay (step 9) and queues the rejected(replay) record.
func (w *webhookDelivery) replayed(ctx context.Context, t *automation.Trigger, d *automation.Delivery, claim *automation.ReplayClaim) (*ActivationResult, error) {
	d.Outcome, d.Reason, d.StatusCode = automation.DeliveryRejected, "replay", 409
	if err := w.s.logDelivery(ctx, d); err != nil {
		return nil, err
	}
	w.s.metrics().Webhook(t.SignatureScheme, automation.DeliveryRejected, "replay")
	return nil, &automation.ReplayError{RunIDs: claim.RunIDs}
}

// filtered answers 200 with matched 0 (step 10) and queues the filtered record.
func (w *webhookDelivery) filtered(ctx context.Context, t *automation.Trigger, d *automation.Delivery, res *ActivationResult) (*ActivationResult, error) {
	d.Outcome, d.Reason, d.StatusCode = automation.DeliveryFiltered, ReasonFilterMismatch, 200
	if err := w.s.logDelivery(ctx, d); err != nil {
		return nil, err
	}
	w.s.metrics().Webhook(t.SignatureScheme, automation.DeliveryFiltered, ReasonFilterMismatch)
	return res, nil
}

// readClaim reads the replay claim of (trigger, delivery id) as seen by a delivery received at
// received: fresh is a claim younger than the retention (the delivery is a replay), expired
// one past it (it no longer counts and is replaced). No claim is neither, without error.
func (s *Service) readClaim(ctx context.Context, triggerID, deliveryID string, received time.Time) (claim *automation.ReplayClaim, fresh, expired bool, err error) {
	claim, err = s.Store.GetReplayClaim(ctx, triggerID, deliveryID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, false, false, nil
	case err != nil:
		return nil, false, false, err
	case received.Sub(claim.CreatedAt) < s.Config().Automation.ReplayRetention:
		return claim, true, false, nil
	}
	return claim, false, true, nil
}

// PruneReplayClaims deletes replay claims older than the retention (SPEC §7.10 step 4).
func (s *Service) PruneReplayClaims(ctx context.Context) error {
	before := s.now().Add(-s.Config().Automation.ReplayRetention)
	err := s.Store.Write(ctx, func(tx store.Tx) error { return tx.PruneReplayClaims(before) })
	s.claims.reset()
	return err
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
		err := s.writeTriggers(ctx, func(tx store.Tx) error {
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
