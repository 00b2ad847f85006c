package postgres

import (
	"context"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

func init() {
	uniqueConstraints["triggers_scope_workspace_name"] = store.UniqueTriggerName
	uniqueConstraints["triggers_webhook_id"] = store.UniqueWebhookID
	uniqueConstraints["replay_claims_pkey"] = store.UniqueReplayClaim
}

// GetTrigger returns a trigger or store.ErrNotFound.
func (r reader) GetTrigger(ctx context.Context, id string) (*automation.Trigger, error) {
	return getOne(ctx, r, sqlrow.ScanTrigger, sqlrow.TriggerSelect+" WHERE id = $1", id)
}

// ListTriggers returns triggers matching q ordered by (name, id), byte-wise.
func (r reader) ListTriggers(ctx context.Context, q store.TriggerQuery) ([]*automation.Trigger, error) {
	var b qb
	b.WriteString(sqlrow.TriggerSelect + " WHERE true")
	for _, f := range []struct{ col, v string }{{"scope", q.Scope}, {"workspace_id", q.WorkspaceID}, {"source", q.Source}, {"event", q.Event}} {
		if f.v != "" {
			b.WriteString(" AND " + f.col + " = " + b.arg(f.v))
		}
	}
	if q.AfterName != "" || q.AfterID != "" {
		b.WriteString(" AND (name, id) > (" + b.arg(q.AfterName) + ", " + b.arg(q.AfterID) + ")")
	}
	b.WriteString(" ORDER BY name, id")
	b.limit(q.Limit)
	return getAll(ctx, r, sqlrow.ScanTrigger, b.String(), b.args...)
}

// AllTriggers returns every trigger ordered by id.
func (r reader) AllTriggers(ctx context.Context) ([]*automation.Trigger, error) {
	return getAll(ctx, r, sqlrow.ScanTrigger, sqlrow.TriggerSelect+" ORDER BY id")
}

// TriggerByWebhookID finds a trigger by webhook id, or store.ErrNotFound.
func (r reader) TriggerByWebhookID(ctx context.Context, webhookID string) (*automation.Trigger, error) {
	return getOne(ctx, r, sqlrow.ScanTrigger, sqlrow.TriggerSelect+" WHERE webhook_id = $1", webhookID)
}

// TriggersForEvent returns the enabled triggers for an envelope route, ordered by id.
func (r reader) TriggersForEvent(ctx context.Context, kind, scope, workspaceID string) ([]*automation.Trigger, error) {
	return getAll(ctx, r, sqlrow.ScanTrigger, sqlrow.TriggerSelect+
		" WHERE event = $1 AND scope = $2 AND workspace_id = $3 AND enabled ORDER BY id", kind, scope, workspaceID)
}

// ListDeliveries pages a trigger's delivery log newest first, by (received_at, id) descending.
func (r reader) ListDeliveries(ctx context.Context, q store.DeliveryQuery) ([]*automation.Delivery, error) {
	var (
		b qb
		e = newEnc()
	)
	b.WriteString("SELECT " + sqlrow.DeliveryColumns + " FROM deliveries WHERE trigger_id = " + b.arg(q.TriggerID))
	if q.Outcome != "" {
		b.WriteString(" AND outcome = " + b.arg(q.Outcome))
	}
	if !q.BeforeReceivedAt.IsZero() || q.BeforeID != "" {
		b.WriteString(" AND (received_at, id) < (" + b.arg(e.Nanos(q.BeforeReceivedAt)) + ", " + b.arg(q.BeforeID) + ")")
	}
	if err := e.Err(); err != nil {
		return nil, err
	}
	b.WriteString(" ORDER BY received_at DESC, id DESC")
	b.limit(q.Limit)
	return getAll(ctx, r, sqlrow.ScanDelivery, b.String(), b.args...)
}

// GetReplayClaim returns a replay claim or store.ErrNotFound.
func (r reader) GetReplayClaim(ctx context.Context, triggerID, deliveryID string) (*automation.ReplayClaim, error) {
	return getOne(ctx, r, sqlrow.ScanClaim, "SELECT "+sqlrow.ClaimColumns+
		" FROM replay_claims WHERE trigger_id = $1 AND delivery_id = $2", triggerID, deliveryID)
}

// ReplayClaimIDs returns the delivery ids of up to limit claims of a trigger.
func (r reader) ReplayClaimIDs(ctx context.Context, triggerID string, limit int) ([]string, error) {
	return getAll(ctx, r, func(sc sqlrow.Scanner) (string, error) {
		var v string
		err := sc.Scan(&v)
		return v, err
	}, "SELECT delivery_id FROM replay_claims WHERE trigger_id = $1 LIMIT $2", triggerID, limit)
}

// LockTrigger reads a trigger and locks its row (FOR UPDATE) until the end of the
// transaction; after waiting for another holder it returns the row as that one committed it.
func (t *txn) LockTrigger(id string) (*automation.Trigger, error) {
	return getOne(t.ctx, t.reader, sqlrow.ScanTrigger, sqlrow.TriggerSelect+" WHERE id = $1 FOR UPDATE", id)
}

// InsertTrigger inserts a trigger. A taken name or webhook id is *store.ConflictError and
// leaves the transaction usable.
func (t *txn) InsertTrigger(tr *automation.Trigger) error {
	args, err := sqlrow.TriggerArgs(newEnc(), tr)
	if err != nil {
		return err
	}
	_, err = t.guarded(`INSERT INTO triggers (`+sqlrow.TriggerColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
			$21, $22, $23, $24, $25, $26, $27, $28, $29)`, args...)
	return err
}

// UpdateTrigger replaces a trigger; store.ErrNotFound if absent. A taken name or webhook id is
// *store.ConflictError and leaves the transaction usable.
func (t *txn) UpdateTrigger(tr *automation.Trigger) error {
	args, err := sqlrow.TriggerArgs(newEnc(), tr)
	if err != nil {
		return err
	}
	return mustAffect(t.guarded(`UPDATE triggers SET name = $2, scope = $3, workspace_id = $4,
		agent_name = $5, prompt = $6, event = $7, filter = $8, enabled = $9, retry_strategy = $10,
		retry_max_retries = $11, retry_base_delay = $12, retry_max_delay = $13, fire_limit_max = $14,
		fire_limit_window = $15, overlap_policy = $16, endpoint_slug = $17, webhook_id = $18,
		signature_scheme = $19, secret_sealed = $20, secret_hash = $21, previous_sealed = $22,
		previous_hash = $23, previous_expires_at = $24, source = $25, config_enabled = $26,
		config_hash = $27, created_at = $28, updated_at = $29
		WHERE id = $1`, args...))
}

// DeleteTrigger deletes a trigger, its deliveries and replay claims (ON DELETE CASCADE); its
// runs stay. store.ErrNotFound if absent.
func (t *txn) DeleteTrigger(id string) error {
	return mustAffect(t.exec(t.ctx, "DELETE FROM triggers WHERE id = $1", id))
}

// TriggerOverlapPolicy reads a trigger's overlap policy (store.ErrNotFound if absent).
func (t *txn) TriggerOverlapPolicy(id string) (string, error) {
	var p string
	err := t.scanRow(t.ctx, "SELECT overlap_policy FROM triggers WHERE id = $1", []any{id}, &p)
	return p, err
}

// TriggerRetryPolicy reads a trigger's retry policy (store.ErrNotFound if absent).
func (t *txn) TriggerRetryPolicy(id string) (automation.Retry, error) {
	var r automation.Retry
	err := t.scanRow(t.ctx, `SELECT retry_strategy, retry_max_retries, retry_base_delay, retry_max_delay
		FROM triggers WHERE id = $1`, []any{id}, &r.Strategy, &r.MaxRetries, &r.BaseDelay, &r.MaxDelay)
	return r, err
}

// InsertDelivery appends a delivery record.
func (t *txn) InsertDelivery(d *automation.Delivery) error {
	args, err := sqlrow.DeliveryArgs(newEnc(), d)
	if err != nil {
		return err
	}
	_, err = t.exec(t.ctx, "INSERT INTO deliveries ("+sqlrow.DeliveryColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, args...)
	return err
}

// PruneDeliveries keeps the newest keep records of a trigger.
func (t *txn) PruneDeliveries(triggerID string, keep int) error {
	if keep < 0 {
		keep = 0
	}
	_, err := t.exec(t.ctx, `DELETE FROM deliveries WHERE trigger_id = $1 AND id IN (
		SELECT id FROM deliveries WHERE trigger_id = $1 ORDER BY received_at DESC, id DESC OFFSET $2)`,
		triggerID, keep)
	return err
}

// InsertReplayClaim records a replay claim; an existing one is *store.ConflictError (also when
// another node claims the same delivery concurrently: the insert waits for its commit) and
// leaves the transaction usable.
func (t *txn) InsertReplayClaim(c *automation.ReplayClaim) error {
	args, err := sqlrow.ClaimArgs(newEnc(), c)
	if err != nil {
		return err
	}
	tag, err := t.exec(t.ctx, "INSERT INTO replay_claims ("+sqlrow.ClaimColumns+`)
		VALUES ($1, $2, $3, $4) ON CONFLICT (trigger_id, delivery_id) DO NOTHING`, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return &store.ConflictError{Constraint: store.UniqueReplayClaim}
	}
	return nil
}

// DeleteReplayClaim removes one claim.
func (t *txn) DeleteReplayClaim(triggerID, deliveryID string) error {
	_, err := t.exec(t.ctx, "DELETE FROM replay_claims WHERE trigger_id = $1 AND delivery_id = $2", triggerID, deliveryID)
	return err
}

// DeleteReplayClaims removes a trigger's claims.
func (t *txn) DeleteReplayClaims(triggerID string) error {
	_, err := t.exec(t.ctx, "DELETE FROM replay_claims WHERE trigger_id = $1", triggerID)
	return err
}

// PruneReplayClaims deletes claims created before the instant.
func (t *txn) PruneReplayClaims(before time.Time) error {
	e := newEnc()
	b := e.Nanos(before)
	if err := e.Err(); err != nil {
		return err
	}
	_, err := t.exec(t.ctx, "DELETE FROM replay_claims WHERE created_at < $1", b)
	return err
}
