package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

func init() {
	uniqueConstraints["triggers.scope, triggers.workspace_id, triggers.name"] = store.UniqueTriggerName
	uniqueConstraints["triggers.webhook_id"] = store.UniqueWebhookID
	uniqueConstraints["replay_claims.trigger_id, replay_claims.delivery_id"] = store.UniqueReplayClaim
}

// GetTrigger returns a trigger or store.ErrNotFound.
func (r reader) GetTrigger(ctx context.Context, id string) (*automation.Trigger, error) {
	return getOne(ctx, r, sqlrow.ScanTrigger, sqlrow.TriggerSelect+" WHERE id = ?", id)
}

// ListTriggers returns triggers matching q ordered by (name, id).
func (r reader) ListTriggers(ctx context.Context, q store.TriggerQuery) ([]*automation.Trigger, error) {
	var b strings.Builder
	var args []any
	b.WriteString(sqlrow.TriggerSelect + " WHERE 1")
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
	return getAll(ctx, r, sqlrow.ScanTrigger, b.String(), args...)
}

// AllTriggers returns every trigger ordered by id.
func (r reader) AllTriggers(ctx context.Context) ([]*automation.Trigger, error) {
	return getAll(ctx, r, sqlrow.ScanTrigger, sqlrow.TriggerSelect+" ORDER BY id")
}

// TriggerByWebhookID finds a trigger by webhook id.
func (r reader) TriggerByWebhookID(ctx context.Context, webhookID string) (*automation.Trigger, error) {
	return getOne(ctx, r, sqlrow.ScanTrigger, sqlrow.TriggerSelect+" WHERE webhook_id = ?", webhookID)
}

// TriggersForEvent returns the enabled triggers for an envelope route, ordered by id.
func (r reader) TriggersForEvent(ctx context.Context, kind, scope, workspaceID string) ([]*automation.Trigger, error) {
	return getAll(ctx, r, sqlrow.ScanTrigger, sqlrow.TriggerSelect+
		" WHERE event = ? AND scope = ? AND workspace_id = ? AND enabled = 1 ORDER BY id", kind, scope, workspaceID)
}

// ListDeliveries pages a trigger's delivery log newest first.
func (r reader) ListDeliveries(ctx context.Context, q store.DeliveryQuery) ([]*automation.Delivery, error) {
	query, args := deliveriesQuery(q)
	return getAll(ctx, r, sqlrow.ScanDelivery, query, args...)
}

// deliveriesQuery builds the SQL of ListDeliveries: a walk of the trigger's records, clustered
// by (trigger_id, received_at, id) (the log is trimmed per trigger, so the walk for a rare
// outcome is bounded).
func deliveriesQuery(q store.DeliveryQuery) (string, []any) {
	e := newEnc()
	var b strings.Builder
	args := []any{q.TriggerID}
	b.WriteString("SELECT " + sqlrow.DeliveryColumns + " FROM deliveries WHERE trigger_id = ?")
	if q.Outcome != "" {
		b.WriteString(" AND outcome = ?")
		args = append(args, q.Outcome)
	}
	if !q.BeforeReceivedAt.IsZero() || q.BeforeID != "" {
		b.WriteString(" AND (received_at, id) < (?, ?)")
		args = append(args, e.Nanos(q.BeforeReceivedAt), q.BeforeID)
	}
	b.WriteString(" ORDER BY received_at DESC, id DESC LIMIT ?")
	args = append(args, limit(q.Limit))
	return b.String(), args
}

// GetReplayClaim returns a replay claim or store.ErrNotFound.
func (r reader) GetReplayClaim(ctx context.Context, triggerID, deliveryID string) (*automation.ReplayClaim, error) {
	return getOne(ctx, r, sqlrow.ScanClaim, "SELECT "+sqlrow.ClaimColumns+
		" FROM replay_claims WHERE trigger_id = ? AND delivery_id = ?", triggerID, deliveryID)
}

// ReplayClaimIDs returns the delivery ids of up to limit claims of a trigger.
func (r reader) ReplayClaimIDs(ctx context.Context, triggerID string, limit int) ([]string, error) {
	return getAll(ctx, r, scanString, "SELECT delivery_id FROM replay_claims WHERE trigger_id = ? LIMIT ?", triggerID, limit)
}

func scanString(sc sqlrow.Scanner) (string, error) {
	var v string
	err := sc.Scan(&v)
	return v, err
}

// LockTrigger reads a trigger (the single writer serializes writes).
func (t *txn) LockTrigger(id string) (*automation.Trigger, error) { return t.GetTrigger(bg, id) }

// InsertTrigger inserts a trigger.
func (t *txn) InsertTrigger(tr *automation.Trigger) error {
	args, err := sqlrow.TriggerArgs(newEnc(), tr)
	if err != nil {
		return err
	}
	_, err = t.exec(bg, "INSERT INTO triggers ("+sqlrow.TriggerColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// UpdateTrigger replaces a trigger.
func (t *txn) UpdateTrigger(tr *automation.Trigger) error {
	args, err := sqlrow.TriggerArgs(newEnc(), tr)
	if err != nil {
		return err
	}
	// Numbered parameters: the arguments are in TriggerColumns order, the id first.
	return mustAffect(t.exec(bg, `UPDATE triggers SET name = ?2, scope = ?3, workspace_id = ?4,
		agent_name = ?5, prompt = ?6, event = ?7, filter = ?8, enabled = ?9, retry_strategy = ?10,
		retry_max_retries = ?11, retry_base_delay = ?12, retry_max_delay = ?13, fire_limit_max = ?14,
		fire_limit_window = ?15, overlap_policy = ?16, endpoint_slug = ?17, webhook_id = ?18,
		signature_scheme = ?19, secret_sealed = ?20, secret_hash = ?21, previous_sealed = ?22,
		previous_hash = ?23, previous_expires_at = ?24, source = ?25, config_enabled = ?26,
		config_hash = ?27, created_at = ?28, updated_at = ?29
		WHERE id = ?1`, args...))
}

// DeleteTrigger deletes a trigger, its deliveries and replay claims (cascade).
func (t *txn) DeleteTrigger(id string) error {
	return mustAffect(t.exec(bg, "DELETE FROM triggers WHERE id = ?", id))
}

// InsertDelivery appends a delivery record.
func (t *txn) InsertDelivery(d *automation.Delivery) error {
	args, err := sqlrow.DeliveryArgs(newEnc(), d)
	if err != nil {
		return err
	}
	_, err = t.exec(bg, "INSERT INTO deliveries ("+sqlrow.DeliveryColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", args...)
	return err
}

// PruneDeliveries keeps the newest keep records of a trigger. The subquery walks the keep
// newest records back to the newest one to delete (O(keep), inherent to OFFSET); everything
// from there back is one contiguous range of the clustered table, deleted in key order.
func (t *txn) PruneDeliveries(triggerID string, keep int) error {
	_, err := t.exec(bg, pruneDeliveriesSQL, triggerID, keep)
	return err
}

const pruneDeliveriesSQL = `DELETE FROM deliveries WHERE trigger_id = ?1 AND (received_at, id) <= (
	SELECT received_at, id FROM deliveries WHERE trigger_id = ?1 ORDER BY received_at DESC, id DESC LIMIT 1 OFFSET ?2)`

// InsertReplayClaim records a replay claim.
func (t *txn) InsertReplayClaim(c *automation.ReplayClaim) error {
	args, err := sqlrow.ClaimArgs(newEnc(), c)
	if err != nil {
		return err
	}
	_, err = t.exec(bg, "INSERT INTO replay_claims ("+sqlrow.ClaimColumns+") VALUES (?, ?, ?, ?)", args...)
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
	e := newEnc()
	_, err := t.exec(bg, "DELETE FROM replay_claims WHERE created_at < ?", e.Nanos(before))
	return err
}
