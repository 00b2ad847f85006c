package service

import (
	"context"
	"errors"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/secrets"
	"github.com/agh-dev/agh/internal/store"
)

func mapTriggerErr(err error) error {
	switch {
	case store.IsConflict(err, store.UniqueTriggerName):
		return automation.ErrTriggerNameTaken
	case store.IsConflict(err, store.UniqueWebhookID):
		return automation.ErrWebhookIDTaken
	}
	return err
}

func (s *Service) newWebhookID() string { return automation.NewID(automation.PrefixWebhook, s.now()) }

// sealSecret stores plaintext as the trigger's secret in slot ("current" or "previous").
func (s *Service) sealSecret(t *automation.Trigger, plaintext []byte, slot string) ([]byte, string, error) {
	sealed, err := s.Key.Seal(plaintext, secrets.AAD(t.ID, slot))
	if err != nil {
		return nil, "", err
	}
	return sealed, s.Key.Fingerprint(plaintext), nil
}

// openSecrets decrypts a trigger's current and previous secrets (nil when absent), whatever
// the previous one's expiry.
func (s *Service) openSecrets(t *automation.Trigger) (current, prev []byte, err error) {
	if len(t.SecretSealed) > 0 {
		if current, err = s.Key.Open(t.SecretSealed, secrets.AAD(t.ID, secrets.SlotCurrent)); err != nil {
			return nil, nil, err
		}
	}
	if len(t.PreviousSealed) > 0 {
		if prev, err = s.Key.Open(t.PreviousSealed, secrets.AAD(t.ID, secrets.SlotPrevious)); err != nil {
			return nil, nil, err
		}
	}
	return current, prev, nil
}

// TriggerSecrets returns the plaintext secrets valid at now: current first, then an
// unexpired previous one.
func (s *Service) TriggerSecrets(t *automation.Trigger, now time.Time) ([][]byte, error) {
	var out [][]byte
	if len(t.SecretSealed) > 0 {
		p, err := s.Key.Open(t.SecretSealed, secrets.AAD(t.ID, secrets.SlotCurrent))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(t.PreviousSealed) > 0 && now.Before(t.PreviousExpiresAt) {
		p, err := s.Key.Open(t.PreviousSealed, secrets.AAD(t.ID, secrets.SlotPrevious))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// GetTrigger returns a trigger.
func (s *Service) GetTrigger(ctx context.Context, id string) (*automation.Trigger, error) {
	t, err := s.Store.GetTrigger(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, automation.ErrTriggerNotFound
	}
	return t, err
}

// CreateTrigger creates a dynamic trigger (SPEC §4.2.11).
func (s *Service) CreateTrigger(ctx context.Context, in *automation.TriggerInput) (*automation.Trigger, error) {
	ch, err := automation.NewTrigger(in, s.Env(ctx), s.newWebhookID)
	if err != nil {
		return nil, err
	}
	t := ch.Trigger
	now := s.now()
	t.ID = automation.NewID(automation.PrefixTrigger, now)
	t.CreatedAt, t.UpdatedAt = now, now
	if ch.NewSecret != nil {
		if t.SecretSealed, t.SecretHash, err = s.sealSecret(t, []byte(*ch.NewSecret), secrets.SlotCurrent); err != nil {
			return nil, err
		}
	}
	if err := s.writeTriggers(ctx, func(tx store.Tx) error { return tx.InsertTrigger(t) }); err != nil {
		return nil, mapTriggerErr(err)
	}
	s.notify().TriggerChanged(t.ID, ChangeCreated)
	return t, nil
}

// PatchTrigger updates a trigger (SPEC §4.2.13, §9.8).
func (s *Service) PatchTrigger(ctx context.Context, id string, in *automation.TriggerInput) (*automation.Trigger, error) {
	env := s.Env(ctx)
	var out *automation.Trigger
	err := s.writeTriggers(ctx, func(tx store.Tx) error {
		old, err := tx.LockTrigger(id)
		if errors.Is(err, store.ErrNotFound) {
			return automation.ErrTriggerNotFound
		} else if err != nil {
			return err
		}
		if old.Source == automation.SourceConfig && !in.OnlyEnabled() {
			return automation.ReadOnly("config-backed automation triggers only accept enabled updates")
		}
		now := s.now()
		current := func() string {
			ss, err := s.TriggerSecrets(old, now)
			if err != nil || len(ss) == 0 {
				return ""
			}
			return string(ss[0])
		}
		ch, err := automation.PatchedTrigger(old, in, env, s.newWebhookID, current)
		if err != nil {
			return err
		}
		t := ch.Trigger
		t.UpdatedAt = now
		if ch.NewSecret != nil {
			t.PreviousSealed, t.PreviousHash, t.PreviousExpiresAt = nil, "", time.Time{}
			if ch.KeepPrevious > 0 && len(old.SecretSealed) > 0 {
				prev, err := s.Key.Open(old.SecretSealed, secrets.AAD(old.ID, secrets.SlotCurrent))
				if err != nil {
					return err
				}
				if t.PreviousSealed, t.PreviousHash, err = s.sealSecret(t, prev, secrets.SlotPrevious); err != nil {
					return err
				}
				t.PreviousExpiresAt = now.Add(ch.KeepPrevious)
			}
			if t.SecretSealed, t.SecretHash, err = s.sealSecret(t, []byte(*ch.NewSecret), secrets.SlotCurrent); err != nil {
				return err
			}
		}
		if ch.ClearedWebhook {
			if err := tx.DeleteReplayClaims(id); err != nil {
				return err
			}
		}
		if err := tx.UpdateTrigger(t); err != nil {
			return err
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, mapTriggerErr(err)
	}
	s.notify().TriggerChanged(id, ChangeUpdated)
	return out, nil
}

// DeleteTrigger deletes a trigger, its secrets, replay claims and delivery log, and cancels
// its active runs (SPEC §4.2.14).
func (s *Service) DeleteTrigger(ctx context.Context, id string, allowConfig bool) error {
	var canceled []*automation.Run
	err := s.writeTriggers(ctx, func(tx store.Tx) error {
		old, err := tx.LockTrigger(id)
		if errors.Is(err, store.ErrNotFound) {
			return automation.ErrTriggerNotFound
		} else if err != nil {
			return err
		}
		if old.Source == automation.SourceConfig && !allowConfig {
			return automation.ReadOnly("config-backed automation triggers cannot be deleted")
		}
		if canceled, err = cancelActive(tx, id, s.now(), "definition deleted", automation.CodeDefinitionDeleted); err != nil {
			return err
		}
		return tx.DeleteTrigger(id)
	})
	if err != nil {
		return err
	}
	s.notify().TriggerChanged(id, ChangeDeleted)
	if len(canceled) > 0 {
		s.notify().RunsChanged(canceled)
		s.notify().RunsTerminated(canceled)
	}
	return nil
}
