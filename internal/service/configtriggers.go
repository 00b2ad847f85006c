package service

import (
	"context"
	"fmt"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/secrets"
	"github.com/agh-dev/agh/internal/store"
)

// SyncConfigTriggers reconciles the stored config-sourced triggers with cfg.Triggers by id
// (SPEC §13.5), in one transaction: new ones are created, changed ones updated (an enabled
// override is kept; a changed secret is a rotation), and removed ones deleted like a DELETE.
func (s *Service) SyncConfigTriggers(ctx context.Context, cfg *config.Config) error {
	now := s.now()
	type change struct{ id, kind string }
	var changed []change
	var canceled []*automation.Run
	err := s.writeTriggers(ctx, func(tx store.Tx) error {
		changed, canceled = nil, nil
		all, err := tx.AllTriggers(ctx)
		if err != nil {
			return err
		}
		stored := map[string]*automation.Trigger{}
		for _, t := range all {
			stored[t.ID] = t
		}
		want := map[string]bool{}
		for i, ct := range cfg.Triggers {
			nt := ct.Trigger.Clone()
			want[nt.ID] = true
			old, exists := stored[nt.ID]
			secretHash, prevHash := "", ""
			if ct.Secret != "" {
				secretHash = s.Key.Fingerprint([]byte(ct.Secret))
			}
			if ct.Previous != "" {
				prevHash = s.Key.Fingerprint([]byte(ct.Previous))
			}
			if exists && old.ConfigHash == nt.ConfigHash && old.ConfigEnabled == nt.ConfigEnabled &&
				old.SecretHash == secretHash && old.PreviousHash == prevHash {
				continue
			}
			nt.Enabled = nt.ConfigEnabled
			nt.CreatedAt, nt.UpdatedAt = now, now
			if exists {
				nt.CreatedAt = old.CreatedAt
				if old.Enabled != old.ConfigEnabled && old.Enabled != nt.ConfigEnabled {
					nt.Enabled = old.Enabled // keep the API override
				}
			}
			if ct.Secret != "" {
				if nt.SecretSealed, nt.SecretHash, err = s.sealSecret(nt, []byte(ct.Secret), secrets.SlotCurrent); err != nil {
					return err
				}
			}
			if ct.Previous != "" {
				if nt.PreviousSealed, nt.PreviousHash, err = s.sealSecret(nt, []byte(ct.Previous), secrets.SlotPrevious); err != nil {
					return err
				}
				nt.PreviousExpiresAt = ct.PreviousExpiresAt
			}
			if !exists {
				if err := tx.InsertTrigger(nt); err != nil {
					if store.IsConflict(err, store.UniqueTriggerName) {
						return fmt.Errorf("config: automation.triggers[%d].name %q is already used by a dynamic trigger", i, nt.Name)
					}
					if store.IsConflict(err, store.UniqueWebhookID) {
						return fmt.Errorf("config: automation.triggers[%d].webhook_id %q is already used by another trigger", i, nt.WebhookID)
					}
					return err
				}
				changed = append(changed, change{nt.ID, ChangeCreated})
				continue
			}
			if old.IsWebhook() && (!nt.IsWebhook() || old.WebhookID != nt.WebhookID) {
				if err := tx.DeleteReplayClaims(nt.ID); err != nil {
					return err
				}
			}
			if err := tx.UpdateTrigger(nt); err != nil {
				return err
			}
			changed = append(changed, change{nt.ID, ChangeUpdated})
		}
		for id, t := range stored {
			if t.Source != automation.SourceConfig || want[id] {
				continue
			}
			c, err := cancelActive(tx, id, now, "definition deleted", automation.CodeDefinitionDeleted)
			if err != nil {
				return err
			}
			canceled = append(canceled, c...)
			if err := tx.DeleteTrigger(id); err != nil {
				return err
			}
			changed = append(changed, change{id, ChangeDeleted})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range changed {
		s.notify().TriggerChanged(c.id, c.kind)
	}
	if len(canceled) > 0 {
		s.notify().RunsChanged(canceled)
		s.notify().RunsTerminated(canceled)
	}
	return nil
}
