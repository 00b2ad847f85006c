package sqlite

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

func init() {
	uniqueConstraints["triggers.scope, triggers.workspace_id, triggers.name"] = store.UniqueTriggerName
	uniqueConstraints["triggers.webhook_id"] = store.UniqueWebhookID
	uniqueConstraints["replay_claims.trigger_id, replay_claims.delivery_id"] = store.UniqueReplayClaim
}

const triggerColumns = `id, name, scope, workspace_id, agent_name, prompt, event, filter, enabled,
	retry_strategy, retry_max_retries, retry_base_delay, retry_max_delay, fire_limit_max,
	fire_limit_window, overlap_policy, endpoint_slug, webhook_id, signature_scheme, secret_sealed,
	secret_hash, previous_sealed, previous_hash, previous_expires_at, source, config_enabled,
	config_hash, created_at, updated_at`

const triggerSelect = "SELECT " + triggerColumns + " FROM triggers"

func scanTrigger(sc scanner) (*automation.Trigger, error) {
	var (
		t                         automation.Trigger
		filter                    string
		webhookID                 *string
		prevExp, created, updated int64
	)
	err := sc.Scan(&t.ID, &t.Name, &t.Scope, &t.WorkspaceID, &t.AgentName, &t.Prompt, &t.Event, &filter,
		&t.Enabled, &t.Retry.Strategy, &t.Retry.MaxRetries, &t.Retry.BaseDelay, &t.Retry.MaxDelay,
		&t.FireLimit.Max, &t.FireLimit.Window, &t.OverlapPolicy, &t.EndpointSlug, &webhookID,
		&t.SignatureScheme, &t.SecretSealed, &t.SecretHash, &t.PreviousSealed, &t.PreviousHash, &prevExp,
		&t.Source, &t.ConfigEnabled, &t.ConfigHash, &created, &updated)
	if err != nil {
		return nil, err
	}
	if webhookID != nil {
		t.WebhookID = *webhookID
	}
	if filter != "" {
		if err := json.Unmarshal([]byte(filter), &t.Filter); err != nil {
			return nil, err
		}
	}
	t.PreviousExpiresAt, t.CreatedAt, t.UpdatedAt = fromNanos(prevExp), fromNanos(created), fromNanos(updated)
	return &t, nil
}

func triggerArgs(t *automation.Trigger) ([]any, error) {
	var e enc
	filter := ""
	if len(t.Filter) > 0 {
		b, err := json.Marshal(t.Filter)
		if err != nil {
			return nil, err
		}
		filter = string(b)
	}
	var webhookID any
	if t.WebhookID != "" {
		webhookID = t.WebhookID
	}
	args := []any{t.Name, t.Scope, t.WorkspaceID, t.AgentName, t.Prompt, t.Event, filter, t.Enabled,
		t.Retry.Strategy, t.Retry.MaxRetries, t.Retry.BaseDelay, t.Retry.MaxDelay, t.FireLimit.Max,
		t.FireLimit.Window, t.OverlapPolicy, t.EndpointSlug, webhookID, t.SignatureScheme, blob(t.SecretSealed),
		t.SecretHash, blob(t.PreviousSealed), t.PreviousHash, e.t(t.PreviousExpiresAt), t.Source,
		t.ConfigEnabled, t.ConfigHash, e.t(t.CreatedAt), e.t(t.UpdatedAt), t.ID}
	return args, e.err
}

// GetTrigger returns a trigger or store.ErrNotFound.
func (r reader) GetTrigger(ctx context.Context, id string) (*automation.Trigger, error) {
	return getOne(ctx, r, scanTrigger, triggerSelect+" WHERE id = ?", id)
}

// ListTriggers returns triggers matching q ordered by (name, id).
func (r reader) ListTriggers(ctx context.Context, q store.TriggerQuery) ([]*automation.Trigger, error) {
	var b strings.Builder
	var args []any
	b.WriteString(triggerSelect + " WHERE 1")
	for _, f := range []struct{ col, v string }{{"scope", q.Scope}, {"workspace_id", q.WorkspaceID}, {"source", q.Source}, {"event", q.Event}} {
		if f.v != "" {
			b.WriteString(" AND " + f.col + " = ?")
			args = append(args, f.v)
		}
	}
	if q.AfterName != "" || q.AfterID != "" {
		b.WriteString(" AND (name, id) > (?, ?)")
		args = append(args, q.AfterName, q.AfterID)
	}
	b.WriteString(" ORDER BY name, id LIMIT ?")
	args = append(args, limit(q.Limit))
	return getAll(ctx, r, scanTrigger, b.String(), args...)
}

// AllTriggers returns every trigger ordered by id.
func (r reader) AllTriggers(ctx context.Context) ([]*automation.Trigger, error) {
	return getAll(ctx, r, scanTrigger, triggerSelect+" ORDER BY id")
}

// TriggerByWebhookID finds a trigger by webhook id.
func (r reader) TriggerByWebhookID(ctx context.Context, webhookID string) (*automation.Trigger, error) {
	return getOne(ctx, r, scanTrigger, triggerSelect+" WHERE webhook_id = ?", webhookID)
}

// TriggersForEvent returns the enabled triggers for an envelope route, ordered by id.
func (r reader) TriggersForEvent(ctx context.Context, kind, scope, workspaceID string) ([]*automation.Trigger, error) {
	return getAll(ctx, r, scanTrigger, triggerSelect+
		" WHERE event = ? AND scope = ? AND workspace_id = ? AND enabled = 1 ORDER BY id", kind, scope, workspaceID)
}

const deliveryColumns = `id, trigger_id, received_at, source, event_id, event_kind, delivery_id,
	signature_scheme, status_code, outcome, reason, run_ids, secret, body_bytes, remote_addr, depth`

func scanDelivery(sc scanner) (*automation.Delivery, error) {
	var (
		d        automation.Delivery
		received int64
		runIDs   string
	)
	err := sc.Scan(&d.ID, &d.TriggerID, &received, &d.Source, &d.EventID, &d.EventKind, &d.DeliveryID,
		&d.SignatureScheme, &d.StatusCode, &d.Outcome, &d.Reason, &runIDs, &d.Secret, &d.BodyBytes,
		&d.RemoteAddr, &d.Depth)
	if err != nil {
		return nil, err
	}
	d.ReceivedAt = fromNanos(received)
	if runIDs != "" {
		d.RunIDs = strings.Split(runIDs, ",")
	}
	return &d, nil
}

// ListDeliveries pages a trigger's delivery log newest first.
func (r reader) ListDeliveries(ctx context.Context, q store.DeliveryQuery) ([]*automation.Delivery, error) {
	var e enc
	var b strings.Builder
	args := []any{q.TriggerID}
	b.WriteString("SELECT " + deliveryColumns + " FROM deliveries WHERE trigger_id = ?")
	if q.Outcome != "" {
		b.WriteString(" AND outcome = ?")
		args = append(args, q.Outcome)
	}
	if !q.BeforeReceivedAt.IsZero() || q.BeforeID != "" {
		b.WriteString(" AND (received_at, id) < (?, ?)")
		args = append(args, e.t(q.BeforeReceivedAt), q.BeforeID)
	}
	b.WriteString(" ORDER BY received_at DESC, id DESC LIMIT ?")
	args = append(args, limit(q.Limit))
	return getAll(ctx, r, scanDelivery, b.String(), args...)
}

func scanClaim(sc scanner) (*automation.ReplayClaim, error) {
	var (
		c       automation.ReplayClaim
		runIDs  string
		created int64
	)
	if err := sc.Scan(&c.TriggerID, &c.DeliveryID, &runIDs, &created); err != nil {
		return nil, err
	}
	if runIDs != "" {
		c.RunIDs = strings.Split(runIDs, ",")
	}
	c.CreatedAt = fromNanos(created)
	return &c, nil
}

// GetReplayClaim returns a replay claim or store.ErrNotFound.
func (r reader) GetReplayClaim(ctx context.Context, triggerID, deliveryID string) (*automation.ReplayClaim, error) {
	return getOne(ctx, r, scanClaim, `SELECT trigger_id, delivery_id, run_ids, created_at FROM replay_claims
		WHERE trigger_id = ? AND delivery_id = ?`, triggerID, deliveryID)
}

// LockTrigger reads a trigger (the single writer serializes writes).
func (t *txn) LockTrigger(id string) (*automation.Trigger, error) { return t.GetTrigger(bg, id) }

// InsertTrigger inserts a trigger.
func (t *txn) InsertTrigger(tr *automation.Trigger) error {
	args, err := triggerArgs(tr)
	if err != nil {
		return err
	}
	_, err = t.exec(bg, `INSERT INTO triggers (name, scope, workspace_id, agent_name, prompt, event, filter,
		enabled, retry_strategy, retry_max_retries, retry_base_delay, retry_max_delay, fire_limit_max,
		fire_limit_window, overlap_policy, endpoint_slug, webhook_id, signature_scheme, secret_sealed,
		secret_hash, previous_sealed, previous_hash, previous_expires_at, source, config_enabled,
		config_hash, created_at, updated_at, id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// UpdateTrigger replaces a trigger.
func (t *txn) UpdateTrigger(tr *automation.Trigger) error {
	args, err := triggerArgs(tr)
	if err != nil {
		return err
	}
	return mustAffect(t.exec(bg, `UPDATE triggers SET name = ?, scope = ?, workspace_id = ?, agent_name = ?,
		prompt = ?, event = ?, filter = ?, enabled = ?, retry_strategy = ?, retry_max_retries = ?,
		retry_base_delay = ?, retry_max_delay = ?, fire_limit_max = ?, fire_limit_window = ?,
		overlap_policy = ?, endpoint_slug = ?, webhook_id = ?, signature_scheme = ?, secret_sealed = ?,
		secret_hash = ?, previous_sealed = ?, previous_hash = ?, previous_expires_at = ?, source = ?,
		config_enabled = ?, config_hash = ?, created_at = ?, updated_at = ? WHERE id = ?`, args...))
}

// DeleteTrigger deletes a trigger, its deliveries and replay claims (cascade).
func (t *txn) DeleteTrigger(id string) error {
	return mustAffect(t.exec(bg, "DELETE FROM triggers WHERE id = ?", id))
}

// InsertDelivery appends a delivery record.
func (t *txn) InsertDelivery(d *automation.Delivery) error {
	var e enc
	args := []any{d.ID, d.TriggerID, e.t(d.ReceivedAt), d.Source, d.EventID, d.EventKind, d.DeliveryID,
		d.SignatureScheme, d.StatusCode, d.Outcome, d.Reason, strings.Join(d.RunIDs, ","), d.Secret,
		d.BodyBytes, d.RemoteAddr, d.Depth}
	if e.err != nil {
		return e.err
	}
	_, err := t.exec(bg, "INSERT INTO deliveries ("+deliveryColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", args...)
	return err
}

// PruneDeliveries keeps the newest keep records of a trigger. It runs after every delivery
// record is inserted, so its cost is paid by every webhook request: the subquery walks the
// keep newest entries of deliveries_trigger to reach the ones beyond (O(keep), inherent to
// OFFSET), and the outer DELETE looks up only the ids it returns by primary key. An outer
// "trigger_id = ?" term would make SQLite scan all of the trigger's records a second time
// (deliveries_trigger_outcome) to test them against the list, doubling the cost.
func (t *txn) PruneDeliveries(triggerID string, keep int) error {
	_, err := t.exec(bg, `DELETE FROM deliveries WHERE id IN (
		SELECT id FROM deliveries WHERE trigger_id = ? ORDER BY received_at DESC, id DESC LIMIT -1 OFFSET ?)`,
		triggerID, keep)
	return err
}

// InsertReplayClaim records a replay claim.
func (t *txn) InsertReplayClaim(c *automation.ReplayClaim) error {
	var e enc
	created := e.t(c.CreatedAt)
	if e.err != nil {
		return e.err
	}
	_, err := t.exec(bg, `INSERT INTO replay_claims (trigger_id, delivery_id, run_ids, created_at)
		VALUES (?, ?, ?, ?)`, c.TriggerID, c.DeliveryID, strings.Join(c.RunIDs, ","), created)
	return err
}

// DeleteReplayClaim removes one claim.
func (t *txn) DeleteReplayClaim(triggerID, deliveryID string) error {
	_, err := t.exec(bg, "DELETE FROM replay_claims WHERE trigger_id = ? AND delivery_id = ?", triggerID, deliveryID)
	return err
}

// DeleteReplayClaims removes a trigger's claims.
func (t *txn) DeleteReplayClaims(triggerID string) error {
	_, err := t.exec(bg, "DELETE FROM replay_claims WHERE trigger_id = ?", triggerID)
	return err
}

// PruneReplayClaims deletes claims older than before.
func (t *txn) PruneReplayClaims(before time.Time) error {
	var e enc
	_, err := t.exec(bg, "DELETE FROM replay_claims WHERE created_at < ?", e.t(before))
	return err
}
