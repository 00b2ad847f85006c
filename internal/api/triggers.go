package api

import (
	"errors"
	"net/http"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/events"
	"github.com/agh-dev/agh/internal/service"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/webhook"
	"github.com/agh-dev/agh/internal/wire"
)

func (s *Server) triggerJSON(t *automation.Trigger) wire.Trigger {
	return wire.FromTrigger(t, s.clock.Now())
}

func (s *Server) listTriggers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	scope, err := parseEnum(q, "scope", automation.ScopeGlobal, automation.ScopeWorkspace)
	if err != nil {
		return err
	}
	source, err := parseEnum(q, "source", automation.SourceConfig, automation.SourceDynamic)
	if err != nil {
		return err
	}
	limit, err := parseLimit(q)
	if err != nil {
		return err
	}
	filter := filterHash("triggers", scope, q.Get("workspace_id"), source, q.Get("event"))
	key, err := decodeCursor(q, filter, 2)
	if err != nil {
		return err
	}
	tq := store.TriggerQuery{Scope: scope, WorkspaceID: q.Get("workspace_id"), Source: source, Event: q.Get("event"), Limit: limit + 1}
	if key != nil {
		tq.AfterName, tq.AfterID = key[0], key[1]
	}
	ts, err := s.svc.Store.ListTriggers(r.Context(), tq)
	if err != nil {
		return err
	}
	writePage(w, "triggers", ts, limit, filter,
		func(t *automation.Trigger) []string { return []string{t.Name, t.ID} }, s.triggerJSON)
	return nil
}

func (s *Server) createTrigger(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	in, err := automation.DecodeTrigger("trigger", m, false)
	if err != nil {
		return err
	}
	t, err := s.svc.CreateTrigger(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/automation/triggers/"+t.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"trigger": s.triggerJSON(t)})
	return nil
}

func (s *Server) getTrigger(w http.ResponseWriter, r *http.Request) error {
	t, err := s.svc.GetTrigger(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"trigger": s.triggerJSON(t)})
	return nil
}

func (s *Server) patchTrigger(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.svc.GetTrigger(r.Context(), id); err != nil {
		return err
	}
	m, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	in, err := automation.DecodeTrigger("trigger", m, true)
	if err != nil {
		return err
	}
	t, err := s.svc.PatchTrigger(r.Context(), id, in)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"trigger": s.triggerJSON(t)})
	return nil
}

func (s *Server) deleteTrigger(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.DeleteTrigger(r.Context(), r.PathValue("id"), false); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listTriggerRuns(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.svc.GetTrigger(r.Context(), id); err != nil {
		return err
	}
	return s.serveRuns(w, r, store.RunQuery{TriggerID: id}, false)
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.svc.GetTrigger(r.Context(), id); err != nil {
		return err
	}
	q := r.URL.Query()
	outcome, err := parseEnum(q, "outcome", automation.DeliveryAccepted, automation.DeliveryFiltered, automation.DeliverySkipped, automation.DeliveryRejected)
	if err != nil {
		return err
	}
	limit, err := parseLimit(q)
	if err != nil {
		return err
	}
	filter := filterHash("deliveries", id, outcome)
	key, err := decodeCursor(q, filter, 2)
	if err != nil {
		return err
	}
	dq := store.DeliveryQuery{TriggerID: id, Outcome: outcome, Limit: limit + 1}
	if key != nil {
		if dq.BeforeReceivedAt, err = parseTimeKey(key[0]); err != nil {
			return err
		}
		dq.BeforeID = key[1]
	}
	ds, err := s.svc.ListDeliveries(r.Context(), dq)
	if err != nil {
		return err
	}
	writePage(w, "deliveries", ds, limit, filter,
		func(d *automation.Delivery) []string { return []string{timeKey(d.ReceivedAt), d.ID} }, wire.FromDelivery)
	return nil
}

// activationResponse is the body of a webhook delivery or event publication: a struct rather
// than a map, which encoding/json would sort and reflect on for every request.
type activationResponse struct {
	Result wire.ActivationResult `json:"result"`
}

func activationJSON(res *service.ActivationResult) wire.ActivationResult {
	out := wire.ActivationResult{Matched: res.Matched, EventID: res.EventID, DeliveryID: res.DeliveryID}
	for _, r := range res.Runs {
		out.Runs = append(out.Runs, wire.FromRun(r))
	}
	for _, sk := range res.Skipped {
		out.Skipped = append(out.Skipped, wire.SkippedTrigger{TriggerID: sk.TriggerID, Reason: sk.Reason, RetryAt: wire.Time(sk.RetryAt)})
	}
	return out
}

func (s *Server) deliverWebhook(scope string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		req := service.WebhookRequest{Scope: scope, WorkspaceID: r.PathValue("workspace"), Endpoint: r.PathValue("endpoint"),
			Header: r.Header, Body: http.MaxBytesReader(w, r.Body, MaxBody+1), ContentLength: r.ContentLength, RemoteAddr: r.RemoteAddr}
		res, err := s.svc.DeliverWebhook(r.Context(), req)
		if err != nil {
			var rej *webhook.Rejection
			if errors.As(err, &rej) {
				msg := rej.Message
				if rej.Status == 400 {
					msg = "automation validation error: " + msg
				}
				return &apiError{status: rej.Status, code: rej.Code, message: msg}
			}
			return err
		}
		writeJSON(w, 200, activationResponse{activationJSON(res)})
		return nil
	}
}

func (s *Server) publishEvent(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	in, err := automation.DecodeEvent(m)
	if err != nil {
		return err
	}
	if !events.IsExtKind(in.Kind) {
		return automation.Invalid("event.kind must match \"ext.<name>\": %q", in.Kind)
	}
	if err := automation.ValidateEventScope(in.Scope, in.WorkspaceID, s.svc.Env(r.Context())); err != nil {
		return err
	}
	res, err := s.svc.PublishEvent(r.Context(), in.Kind, in.Scope, in.WorkspaceID, in.Data)
	if err != nil {
		return err
	}
	writeJSON(w, 200, activationResponse{activationJSON(res)})
	return nil
}
