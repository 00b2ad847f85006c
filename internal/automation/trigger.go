package automation

import (
	"regexp"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/events"
	"github.com/agh-dev/agh/internal/webhook"
)

// Webhook secret limits.
const (
	MaxSecretBytes = 1024
	MaxPreviousTTL = 720 * time.Hour
	EventWebhook   = "webhook"
	DefaultScheme  = webhook.SchemeAGH
	secretCurrent  = "current"
	secretPrevious = "previous"
)

var (
	slugPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	webhookIDPattern = regexp.MustCompile(`^wbh_[A-Za-z0-9_-]{1,64}$`)
)

// Trigger is an event- or webhook-activated definition (SPEC §2.6).
type Trigger struct {
	ID              string
	Name            string
	Scope           string
	WorkspaceID     string
	AgentName       string
	Prompt          string
	Event           string
	Filter          map[string]string
	Enabled         bool
	Retry           Retry
	FireLimit       FireLimit
	OverlapPolicy   string
	EndpointSlug    string
	WebhookID       string
	SignatureScheme string
	Source          string
	CreatedAt       time.Time
	UpdatedAt       time.Time

	// Secrets are sealed (internal/secrets) with AAD "<id>|current" / "<id>|previous".
	SecretSealed      []byte
	SecretHash        string
	PreviousSealed    []byte
	PreviousHash      string
	PreviousExpiresAt time.Time
	ConfigEnabled     bool
	ConfigHash        string
}

// IsWebhook reports whether the trigger is a webhook trigger.
func (t *Trigger) IsWebhook() bool { return t.Event == EventWebhook }

// WebhookPath is the trigger's endpoint path (SPEC §2.6).
func (t *Trigger) WebhookPath() string {
	if !t.IsWebhook() {
		return ""
	}
	ep := webhook.Endpoint(t.EndpointSlug, t.WebhookID)
	if t.Scope == ScopeWorkspace {
		return "/api/webhooks/workspaces/" + t.WorkspaceID + "/" + ep
	}
	return "/api/webhooks/global/" + ep
}

// Clone returns a deep copy.
func (t *Trigger) Clone() *Trigger {
	c := *t
	if t.Filter != nil {
		c.Filter = make(map[string]string, len(t.Filter))
		for k, v := range t.Filter {
			c.Filter[k] = v
		}
	}
	return &c
}

// TriggerInput is a decoded trigger create or PATCH body.
type TriggerInput struct {
	DefinitionInput
	Event                                    *string
	FilterSet                                bool
	Filter                                   map[string]string
	Enabled                                  *bool
	Retry                                    *Retry
	FireLimit                                *FireLimit
	OverlapPolicy                            *string
	EndpointSlug, WebhookID, SignatureScheme *string
	SecretValue                              *string // trimmed
	PreviousTTL                              *string
}

func (in *TriggerInput) empty() bool { return in.Enabled == nil && in.onlyEnabledRest() }

// OnlyEnabled reports whether the input sets nothing but enabled.
func (in *TriggerInput) OnlyEnabled() bool { return in.Enabled != nil && in.onlyEnabledRest() }

func (in *TriggerInput) onlyEnabledRest() bool {
	c := *in
	return c.DefinitionInput == (DefinitionInput{}) && c.Event == nil && !c.FilterSet &&
		c.Retry == nil && c.FireLimit == nil && c.OverlapPolicy == nil && c.EndpointSlug == nil &&
		c.WebhookID == nil && c.SignatureScheme == nil && c.SecretValue == nil && c.PreviousTTL == nil
}

var triggerReadOnly = []string{"id", "source", "created_at", "updated_at", "webhook_secret_present",
	"webhook_secret_hash", "webhook_secret_previous_hash", "webhook_secret_previous_expires_at", "webhook_path"}

// DecodeTrigger reads a trigger create or PATCH body rooted at root.
func DecodeTrigger(root string, m map[string]any, patch bool) (*TriggerInput, error) {
	o, err := newObject(root, m)
	if err != nil {
		return nil, err
	}
	o.readOnly = triggerReadOnly
	in := &TriggerInput{DefinitionInput: o.definition(root, patch)}
	in.Event = o.str("event", false)
	if f, ok := o.stringMap("filter", true); ok {
		in.FilterSet, in.Filter = true, f
	}
	in.Enabled = o.boolean("enabled")
	in.Retry, in.FireLimit = o.policies()
	in.OverlapPolicy = o.str("overlap_policy", false)
	in.EndpointSlug = o.str("endpoint_slug", false)
	in.WebhookID = o.str("webhook_id", false)
	in.SignatureScheme = o.str("signature_scheme", false)
	in.SecretValue = o.str("webhook_secret_value", false)
	in.PreviousTTL = o.str("webhook_secret_previous_ttl", false)
	if err := o.finish(); err != nil {
		return nil, err
	}
	if patch && in.empty() {
		return nil, Invalid("automation trigger update must include at least one field")
	}
	return in, nil
}

// TriggerChange is a validated trigger plus what happened to its secret.
type TriggerChange struct {
	Trigger *Trigger
	// NewSecret is set when the secret is created or rotated (plaintext, never stored as is).
	NewSecret *string
	// KeepPrevious is the validity of the replaced secret as previous (0: discard).
	KeepPrevious time.Duration
	// ClearedWebhook reports that the trigger stopped being a webhook trigger.
	ClearedWebhook bool
}

// NewTrigger validates a create body and applies defaults (SPEC §3.3). newID makes the
// webhook id when the client supplies none.
func NewTrigger(in *TriggerInput, env Env, newWebhookID func() string) (*TriggerChange, error) {
	t := &Trigger{
		Enabled: true, Retry: Retry{Strategy: RetryNone}, FireLimit: env.DefaultFireLimit,
		OverlapPolicy: OverlapAllow, Source: SourceDynamic,
	}
	if in.PreviousTTL != nil {
		if err := validateTriggerPrefix(in, t, env); err != nil {
			return nil, err
		}
		return nil, Invalid("trigger.webhook_secret_previous_ttl is only accepted on update")
	}
	applyTrigger(t, in)
	ch := &TriggerChange{Trigger: t, NewSecret: in.SecretValue}
	if t.IsWebhook() {
		if t.SignatureScheme == "" {
			t.SignatureScheme = DefaultScheme
		}
		if t.WebhookID == "" && newWebhookID != nil {
			t.WebhookID = newWebhookID()
		}
	}
	if err := validateTrigger(t, in, true, nil, env); err != nil {
		return nil, err
	}
	return ch, nil
}

// validateTriggerPrefix reports errors of rules that precede the create-only ttl rule.
func validateTriggerPrefix(in *TriggerInput, t *Trigger, env Env) error {
	c := *t
	applyTrigger(&c, in)
	if c.IsWebhook() && c.SignatureScheme == "" {
		c.SignatureScheme = DefaultScheme
	}
	in2 := *in
	in2.PreviousTTL = nil
	return validateTrigger(&c, &in2, true, nil, env)
}

// PatchedTrigger applies a PATCH to t. currentSecret returns the stored plaintext secret (for
// the standard-webhooks rule when only the scheme changes).
func PatchedTrigger(t *Trigger, in *TriggerInput, env Env, newWebhookID func() string, currentSecret func() string) (*TriggerChange, error) {
	c := t.Clone()
	ch := &TriggerChange{Trigger: c, NewSecret: in.SecretValue}
	wasWebhook := c.IsWebhook()
	if in.Event != nil && *in.Event != EventWebhook && wasWebhook {
		// Leaving webhook: the endpoint and secrets go away (SPEC §2.6).
		c.EndpointSlug, c.WebhookID, c.SignatureScheme = "", "", ""
		c.SecretSealed, c.SecretHash, c.PreviousSealed, c.PreviousHash, c.PreviousExpiresAt = nil, "", nil, "", time.Time{}
		ch.ClearedWebhook = true
	}
	applyTrigger(c, in)
	if c.IsWebhook() && !wasWebhook {
		if c.SignatureScheme == "" {
			c.SignatureScheme = DefaultScheme
		}
		if c.WebhookID == "" && newWebhookID != nil {
			c.WebhookID = newWebhookID()
		}
	}
	kept := func() string {
		if in.SecretValue != nil {
			return *in.SecretValue
		}
		if currentSecret != nil {
			return currentSecret()
		}
		return ""
	}
	if err := validateTrigger(c, in, !wasWebhook && c.IsWebhook(), kept, env); err != nil {
		return nil, err
	}
	if in.PreviousTTL != nil {
		d, _ := time.ParseDuration(*in.PreviousTTL)
		ch.KeepPrevious = d
	}
	return ch, nil
}

func applyTrigger(t *Trigger, in *TriggerInput) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&t.Name, in.Name)
	set(&t.Scope, in.Scope)
	set(&t.WorkspaceID, in.WorkspaceID)
	set(&t.AgentName, in.AgentName)
	set(&t.Prompt, in.Prompt)
	set(&t.Event, in.Event)
	if in.FilterSet {
		t.Filter = in.Filter
	}
	if in.Enabled != nil {
		t.Enabled = *in.Enabled
	}
	if in.Retry != nil {
		t.Retry = *in.Retry
	}
	if in.FireLimit != nil {
		t.FireLimit = *in.FireLimit
	}
	set(&t.OverlapPolicy, in.OverlapPolicy)
	set(&t.EndpointSlug, in.EndpointSlug)
	set(&t.WebhookID, in.WebhookID)
	set(&t.SignatureScheme, in.SignatureScheme)
}

// validateTrigger checks SPEC §3.3 on the resulting trigger. needSecret says a secret must be
// supplied in this request (create of a webhook trigger, or turning a trigger into one).
func validateTrigger(t *Trigger, in *TriggerInput, needSecret bool, keptSecret func() string, env Env) error {
	if err := validateName("trigger", t.Name); err != nil {
		return err
	}
	if err := validateScope("trigger", t.Scope, t.WorkspaceID, env); err != nil {
		return err
	}
	if t.AgentName == "" {
		return Invalid("trigger.agent_name is required")
	}
	if env.AgentExists == nil || !env.AgentExists(t.AgentName) {
		return Invalid("trigger.agent_name is invalid: unknown agent %q", t.AgentName)
	}
	if strings.TrimSpace(t.Prompt) == "" {
		return Invalid("trigger.prompt is required")
	}
	if len(t.Prompt) > MaxPromptBytes {
		return Invalid("trigger.prompt must be at most %d bytes", MaxPromptBytes)
	}
	if _, err := events.ParsePrompt(t.Prompt); err != nil {
		return Invalid("trigger.prompt is invalid: %s", err.Error())
	}
	if t.Event == "" {
		return Invalid("trigger.event is required")
	}
	if err := events.ValidateEventKind(t.Event); err != nil {
		return Invalid("trigger.event is invalid: %s", err.Error())
	}
	if err := ValidateRetry("trigger.retry", &t.Retry); err != nil {
		return err
	}
	if err := ValidateFireLimit("trigger.fire_limit", &t.FireLimit); err != nil {
		return err
	}
	if err := ValidateOverlap("trigger.overlap_policy", t.OverlapPolicy); err != nil {
		return err
	}
	if t.Filter != nil {
		f, err := events.NormalizeFilter("trigger.filter", t.Filter)
		if err != nil {
			return Invalid("%s", err.Error())
		}
		t.Filter = f
		if len(t.Filter) == 0 {
			t.Filter = nil
		}
	}
	if !t.IsWebhook() {
		fields := []struct {
			name string
			set  bool
		}{
			{"endpoint_slug", t.EndpointSlug != ""},
			{"webhook_id", t.WebhookID != ""},
			{"signature_scheme", t.SignatureScheme != ""},
			{"webhook_secret_value", in.SecretValue != nil && *in.SecretValue != ""},
			{"webhook_secret_previous_ttl", in.PreviousTTL != nil && *in.PreviousTTL != ""},
		}
		for _, f := range fields {
			if f.set {
				return Invalid("trigger.%s must be empty when event is %q", f.name, t.Event)
			}
		}
		return nil
	}
	if t.EndpointSlug == "" {
		return Invalid("trigger.endpoint_slug is required when event is \"webhook\"")
	}
	if !slugPattern.MatchString(t.EndpointSlug) {
		return Invalid("trigger.endpoint_slug is invalid: %q", t.EndpointSlug)
	}
	if t.WebhookID != "" {
		if !strings.HasPrefix(t.WebhookID, "wbh_") {
			return Invalid("trigger.webhook_id must start with \"wbh_\": %q", t.WebhookID)
		}
		if !webhookIDPattern.MatchString(t.WebhookID) || strings.Contains(t.WebhookID, "--") || strings.HasSuffix(t.WebhookID, "-") {
			return Invalid("trigger.webhook_id is invalid: %q", t.WebhookID)
		}
	}
	if !webhook.ValidScheme(t.SignatureScheme) {
		return Invalid("trigger.signature_scheme must be one of \"agh\", \"standard-webhooks\", \"github\", or \"stripe\": %q", t.SignatureScheme)
	}
	if in.SecretValue == nil && needSecret {
		return Invalid("trigger.webhook_secret_value is required when event is \"webhook\"")
	}
	if in.SecretValue != nil {
		if *in.SecretValue == "" {
			return Invalid("trigger.webhook_secret_value must not be empty")
		}
		if len(*in.SecretValue) > MaxSecretBytes {
			return Invalid("trigger.webhook_secret_value must be at most %d bytes", MaxSecretBytes)
		}
	}
	if t.SignatureScheme == webhook.SchemeStandard {
		secret := ""
		if keptSecret != nil {
			secret = keptSecret()
		} else if in.SecretValue != nil {
			secret = *in.SecretValue
		}
		if webhook.ValidateStandardSecret(secret) != nil {
			return Invalid("trigger.webhook_secret_value must be \"whsec_\" followed by base64 of 24 to 64 bytes when signature_scheme is \"standard-webhooks\"")
		}
	}
	if in.PreviousTTL != nil {
		if in.SecretValue == nil {
			return Invalid("trigger.webhook_secret_previous_ttl requires trigger.webhook_secret_value")
		}
		d, err := time.ParseDuration(*in.PreviousTTL)
		if err != nil {
			return Invalid("trigger.webhook_secret_previous_ttl is invalid: %s", durationDetail(err))
		}
		if d < 0 || d > MaxPreviousTTL {
			return Invalid("trigger.webhook_secret_previous_ttl must be between 0s and 720h: %s", *in.PreviousTTL)
		}
	}
	return nil
}
