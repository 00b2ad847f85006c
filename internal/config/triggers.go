package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
)

// Trigger is a validated [[automation.triggers]] entry with its resolved secrets.
type Trigger struct {
	// Trigger has a deterministic id (and webhook id), Source "config", ConfigEnabled and a
	// ConfigHash of the definition (secrets excluded); no sealed secrets.
	Trigger *automation.Trigger
	// Secret is the resolved current webhook secret (webhook triggers).
	Secret string
	// Previous is an optional previous secret, valid until PreviousExpiresAt.
	Previous          string
	PreviousExpiresAt time.Time
}

// triggerShape lists the keys of an [[automation.triggers]] entry (SPEC §13.5).
var triggerShape = shape{
	"name":                               {kind: kindString},
	"scope":                              {kind: kindString},
	"workspace_id":                       {kind: kindString},
	"workspace":                          {kind: kindString},
	"agent_name":                         {kind: kindString},
	"agent":                              {kind: kindString},
	"prompt":                             {kind: kindString},
	"event":                              {kind: kindString},
	"filter":                             {kind: kindTable, sub: nil},
	"enabled":                            {kind: kindBool},
	"retry":                              jobShape["retry"],
	"fire_limit":                         jobShape["fire_limit"],
	"overlap_policy":                     {kind: kindString},
	"endpoint_slug":                      {kind: kindString},
	"webhook_id":                         {kind: kindString},
	"signature_scheme":                   {kind: kindString},
	"webhook_secret":                     {kind: kindString},
	"webhook_secret_ref":                 {kind: kindString},
	"webhook_secret_previous":            {kind: kindString},
	"webhook_secret_previous_expires_at": {kind: kindString},
}

// buildTriggers validates cfg.TriggerDefs into cfg.Triggers.
func (p *parser) buildTriggers() error {
	env := p.validationEnv()
	seen := map[string]bool{}
	for i, m := range p.cfg.TriggerDefs {
		root := "automation.triggers[" + itoa(i) + "]"
		t, err := buildTrigger(root, m, env, p.getenv)
		if err != nil {
			return err
		}
		if seen[t.Trigger.ID] {
			return errorf("%s.name %q is duplicated", root, t.Trigger.Name)
		}
		seen[t.Trigger.ID] = true
		p.cfg.Triggers = append(p.cfg.Triggers, t)
	}
	return nil
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func buildTrigger(root string, m map[string]any, env automation.Env, getenv func(string) string) (*Trigger, error) {
	if err := checkShape(root, m, triggerShape); err != nil {
		return nil, err
	}
	m, err := canonicalAliases(root, m)
	if err != nil {
		return nil, err
	}
	out := &Trigger{}
	secretKey := ""
	for _, k := range []string{"webhook_secret", "webhook_secret_ref"} {
		if _, ok := m[k]; ok {
			if secretKey != "" {
				return nil, errorf("%s.webhook_secret_ref is an alias of %s.webhook_secret; set only one", root, root)
			}
			secretKey = k
		}
	}
	if secretKey != "" {
		raw := strings.TrimSpace(m[secretKey].(string))
		if secretKey == "webhook_secret_ref" && !strings.HasPrefix(raw, "env:") {
			return nil, errorf("%s.webhook_secret_ref must be an env:NAME reference", root)
		}
		if out.Secret, _, err = resolve(root+"."+secretKey, raw, getenv); err != nil {
			return nil, err
		}
		out.Secret = strings.TrimSpace(out.Secret)
	}
	if v, ok := m["webhook_secret_previous"].(string); ok {
		if out.Previous, _, err = resolve(root+".webhook_secret_previous", strings.TrimSpace(v), getenv); err != nil {
			return nil, err
		}
		exp, ok := m["webhook_secret_previous_expires_at"].(string)
		if !ok {
			return nil, errorf("%s.webhook_secret_previous_expires_at is required with webhook_secret_previous", root)
		}
		if out.PreviousExpiresAt, err = automation.ParseRequestTime(strings.TrimSpace(exp)); err != nil {
			return nil, errorf("%s.webhook_secret_previous_expires_at is invalid: %s", root, err.Error())
		}
	} else if _, ok := m["webhook_secret_previous_expires_at"]; ok {
		return nil, errorf("%s.webhook_secret_previous_expires_at requires webhook_secret_previous", root)
	}
	api := map[string]any{}
	for k, v := range m {
		switch k {
		case "webhook_secret", "webhook_secret_ref", "webhook_secret_previous", "webhook_secret_previous_expires_at":
			continue
		}
		api[k] = v
	}
	if secretKey != "" {
		api["webhook_secret_value"] = out.Secret
	}
	in, err := automation.DecodeTrigger("trigger", api, false)
	if err != nil {
		return nil, triggerErr(root, err)
	}
	scope, ws, name := deref(in.Scope), deref(in.WorkspaceID), deref(in.Name)
	webhookID := func() string {
		return automation.DefinitionID(automation.PrefixWebhook, "webhook", scope, ws, name)
	}
	ch, err := automation.NewTrigger(in, env, webhookID)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "webhook_secret_value") {
			msg = strings.ReplaceAll(msg, "webhook_secret_value", "webhook_secret")
			return nil, triggerErr(root, automation.Invalid("%s", strings.TrimPrefix(msg, "automation validation error: ")))
		}
		return nil, triggerErr(root, err)
	}
	t := ch.Trigger
	t.Source = automation.SourceConfig
	t.ID = automation.DefinitionID(automation.PrefixTrigger, "trigger", t.Scope, t.WorkspaceID, t.Name)
	t.ConfigEnabled = t.Enabled
	def := *t
	def.Enabled = false
	b, _ := json.Marshal(struct {
		T    automation.Trigger
		Prev time.Time
	}{def, out.PreviousExpiresAt})
	h := sha256.Sum256(b)
	t.ConfigHash = "sha256:" + hex.EncodeToString(h[:])
	out.Trigger = t
	return out, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// triggerErr rewrites a trigger validation error to the config path of the entry.
func triggerErr(root string, err error) error {
	var ve *automation.ValidationError
	if e, ok := err.(*automation.ValidationError); ok {
		ve = e
	}
	if ve == nil {
		return wrapValidation(err)
	}
	d := ve.Detail
	switch {
	case strings.HasPrefix(d, "trigger."):
		d = root + "." + strings.TrimPrefix(d, "trigger.")
	case strings.HasPrefix(d, "trigger:"):
		d = root + strings.TrimPrefix(d, "trigger")
	}
	return errorf("%s", d)
}
