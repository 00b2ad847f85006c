package sqlrow

import (
	"encoding/json"
	"fmt"

	"github.com/agh-dev/agh/internal/automation"
)

// ---- triggers

// TriggerColumns are the columns of triggers, in TriggerArgs order.
const TriggerColumns = `id, name, scope, workspace_id, agent_name, prompt, event, filter, enabled,
	retry_strategy, retry_max_retries, retry_base_delay, retry_max_delay, fire_limit_max,
	fire_limit_window, overlap_policy, endpoint_slug, webhook_id, signature_scheme, secret_sealed,
	secret_hash, previous_sealed, previous_hash, previous_expires_at, source, config_enabled,
	config_hash, created_at, updated_at`

// TriggerSelect reads triggers in ScanTrigger order.
const TriggerSelect = "SELECT " + TriggerColumns + " FROM triggers"

// ScanTrigger reads a TriggerSelect row. filter is JSON text ("" for none), webhook_id is NULL
// when absent, and an empty sealed secret (NULL, or an empty BYTEA from pgx) is nil.
func ScanTrigger(sc Scanner) (*automation.Trigger, error) {
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
	t.WebhookID = fromNullable(webhookID)
	if filter != "" {
		if err := json.Unmarshal([]byte(filter), &t.Filter); err != nil {
			return nil, err
		}
	}
	if len(t.SecretSealed) == 0 {
		t.SecretSealed = nil
	}
	if len(t.PreviousSealed) == 0 {
		t.PreviousSealed = nil
	}
	t.PreviousExpiresAt, t.CreatedAt, t.UpdatedAt = FromNanos(prevExp), FromNanos(created), FromNanos(updated)
	return &t, nil
}

// TriggerArgs returns a trigger's column values in TriggerColumns order. An empty webhook id
// is NULL (the column is unique when set), and so is an empty sealed secret.
func TriggerArgs(e *Enc, t *automation.Trigger) ([]any, error) {
	filter := ""
	if len(t.Filter) > 0 {
		b, err := json.Marshal(t.Filter)
		if err != nil {
			e.fail(fmt.Errorf("encode trigger filter: %w", err))
		}
		filter = string(b)
	}
	args := []any{t.ID, t.Name, t.Scope, t.WorkspaceID, t.AgentName, t.Prompt, t.Event, filter, t.Enabled,
		t.Retry.Strategy, t.Retry.MaxRetries, t.Retry.BaseDelay, t.Retry.MaxDelay, t.FireLimit.Max,
		t.FireLimit.Window, t.OverlapPolicy, t.EndpointSlug, nullable(t.WebhookID), t.SignatureScheme,
		blob(t.SecretSealed), t.SecretHash, blob(t.PreviousSealed), t.PreviousHash, e.Nanos(t.PreviousExpiresAt),
		t.Source, t.ConfigEnabled, t.ConfigHash, e.Nanos(t.CreatedAt), e.Nanos(t.UpdatedAt)}
	return args, e.Err()
}

// ---- deliveries

// DeliveryColumns are the columns of deliveries, in ScanDelivery and DeliveryArgs order.
// run_ids is a comma-separated list.
const DeliveryColumns = `id, trigger_id, received_at, source, event_id, event_kind, delivery_id,
	signature_scheme, status_code, outcome, reason, run_ids, secret, body_bytes, remote_addr, depth`

// ScanDelivery reads a row of DeliveryColumns.
func ScanDelivery(sc Scanner) (*automation.Delivery, error) {
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
	d.ReceivedAt = FromNanos(received)
	d.RunIDs = splitIDs(runIDs)
	return &d, nil
}

// DeliveryArgs returns a delivery's column values in DeliveryColumns order.
func DeliveryArgs(e *Enc, d *automation.Delivery) ([]any, error) {
	args := []any{d.ID, d.TriggerID, e.Nanos(d.ReceivedAt), d.Source, d.EventID, d.EventKind, d.DeliveryID,
		d.SignatureScheme, d.StatusCode, d.Outcome, d.Reason, joinIDs(d.RunIDs), d.Secret,
		d.BodyBytes, d.RemoteAddr, d.Depth}
	return args, e.Err()
}

// ---- replay claims

// ClaimColumns are the columns of replay_claims, in ScanClaim and ClaimArgs order. run_ids is
// a comma-separated list.
const ClaimColumns = "trigger_id, delivery_id, run_ids, created_at"

// ScanClaim reads a row of ClaimColumns.
func ScanClaim(sc Scanner) (*automation.ReplayClaim, error) {
	var (
		c       automation.ReplayClaim
		runIDs  string
		created int64
	)
	if err := sc.Scan(&c.TriggerID, &c.DeliveryID, &runIDs, &created); err != nil {
		return nil, err
	}
	c.RunIDs = splitIDs(runIDs)
	c.CreatedAt = FromNanos(created)
	return &c, nil
}

// ClaimArgs returns a replay claim's column values in ClaimColumns order.
func ClaimArgs(e *Enc, c *automation.ReplayClaim) ([]any, error) {
	args := []any{c.TriggerID, c.DeliveryID, joinIDs(c.RunIDs), e.Nanos(c.CreatedAt)}
	return args, e.Err()
}
