package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxDepth is the loop-guard bound of SPEC §8.7: a trigger never fires for an envelope whose
// depth is MaxDepth or more, so no run ever has a depth greater than MaxDepth.
const MaxDepth = 3

// Event kinds of SPEC §8.2 (custom kinds are "ext.<name>", see [IsExtKind]).
const (
	KindWebhook        = "webhook"
	KindSessionCreated = "session.created"
	KindSessionStopped = "session.stopped"
	KindRunCompleted   = "automation.run.completed"
	KindRunFailed      = "automation.run.failed"
)

// Envelope sources of SPEC §8.1.
const (
	SourceWebhook    = "webhook"
	SourceObserver   = "observer"
	SourceAutomation = "automation"
	SourceExtension  = "extension"
)

// ExtKindPattern is the pattern a whole custom event kind must match (SPEC §3.3 rule 5, §3.8).
const ExtKindPattern = `^ext\.[a-z0-9][a-z0-9._-]{0,123}$`

var extKindRE = regexp.MustCompile(ExtKindPattern)

// BuiltinKinds lists the non-extension event kinds in the order of SPEC §8.2.
var BuiltinKinds = []string{KindWebhook, KindSessionCreated, KindSessionStopped, KindRunCompleted, KindRunFailed}

// IsExtKind reports whether kind is a valid custom event kind: the whole value matches
// [ExtKindPattern].
func IsExtKind(kind string) bool { return extKindRE.MatchString(kind) }

// ValidateEventKind checks the `event` field of a trigger (SPEC §3.3 rule 5): it must be one of
// [BuiltinKinds] or a valid extension kind. The comparison is exact and case-sensitive; the caller
// trims the value and reports a missing value ("trigger.event is required") itself. The error
// text is the `<detail>` of "trigger.event is invalid: <detail>", e.g.
// `unknown event kind "session.stoped"`.
func ValidateEventKind(kind string) error {
	switch kind {
	case KindWebhook, KindSessionCreated, KindSessionStopped, KindRunCompleted, KindRunFailed:
		return nil
	}
	if IsExtKind(kind) {
		return nil
	}
	return fmt.Errorf("unknown event kind %q", kind)
}

// Envelope is one trigger activation (SPEC §2.15, §8.1). An envelope handed to [Bus.Publish] or
// stored for a run must not be modified afterwards: subscribers share the pointer.
type Envelope struct {
	// ID is the envelope id ("evt_…").
	ID string `json:"id"`
	// Kind is the event kind (§8.2).
	Kind string `json:"kind"`
	// Scope is "global" or "workspace".
	Scope string `json:"scope"`
	// WorkspaceID is empty for global envelopes.
	WorkspaceID string `json:"workspace_id,omitempty"`
	// Source is one of the Source* constants.
	Source string `json:"source"`
	// Data is the JSON object of the event. Values are JSON-compatible Go values: string, bool,
	// nil, json.Number (webhook normalization keeps the literal text of numbers), float64 or any
	// integer type, map[string]any and []any. Filters and templates also accept maps with string
	// keys and slices of other element types.
	Data map[string]any `json:"data"`
	// Depth is the causation depth (§8.7), ≥ 0.
	Depth int `json:"depth"`
	// OccurredAt is when the event happened. It is marshaled in UTC in the format of §1.3.
	OccurredAt time.Time `json:"occurred_at"`
	// Webhook, when set, is the compact form of a webhook envelope's data stored with a run
	// (webhook.Stored: the raw body and the normalization metadata, instead of data, which
	// holds the body twice). MarshalJSON then writes it with an empty data, UnmarshalJSON
	// returns it with an empty Data, and the reader rebuilds Data from it
	// (webhook.Stored.Data).
	Webhook json.RawMessage `json:"-"`
}

// LoopGuarded reports whether triggers must not fire for e because its depth is [MaxDepth] or
// more (SPEC §8.7): the trigger's delivery log then records skipped(loop_guard).
func (e *Envelope) LoopGuarded() bool { return e.Depth >= MaxDepth }

// RouteMatches reports whether a trigger with the given event kind, scope and workspace id is
// offered envelope e (SPEC §8.4, §8.8): the kind, scope and workspace id are equal, exactly and
// case-sensitively. Whether the trigger is enabled, the filter, and the rule that webhook
// envelopes reach only the trigger addressed by the endpoint are the caller's concern.
func RouteMatches(event, scope, workspaceID string, e *Envelope) bool {
	return e != nil && event == e.Kind && scope == e.Scope && workspaceID == e.WorkspaceID
}

// FormatTime formats t as SPEC §1.3 requires for responses: UTC, RFC 3339 with fractional
// seconds only when non-zero and without trailing zeros.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

type envelopeJSON struct {
	ID          string          `json:"id"`
	Kind        string          `json:"kind"`
	Scope       string          `json:"scope"`
	WorkspaceID string          `json:"workspace_id,omitempty"`
	Source      string          `json:"source"`
	Data        json.RawMessage `json:"data"`
	Depth       int             `json:"depth"`
	OccurredAt  string          `json:"occurred_at"`
	Webhook     json.RawMessage `json:"webhook,omitempty"`
}

// MarshalJSON encodes the envelope with `occurred_at` in UTC (§1.3) and `data` as a JSON object
// (`{}` when nil). Numbers held as json.Number keep their literal text.
func (e Envelope) MarshalJSON() ([]byte, error) {
	if len(e.Webhook) > 0 {
		return e.marshalStored(), nil
	}
	data := []byte("{}")
	if e.Data != nil && len(e.Webhook) == 0 {
		var err error
		if data, err = marshalCompact(e.Data); err != nil {
			return nil, fmt.Errorf("events: marshal envelope data: %w", err)
		}
	}
	return marshalCompact(envelopeJSON{
		ID: e.ID, Kind: e.Kind, Scope: e.Scope, WorkspaceID: e.WorkspaceID, Source: e.Source,
		Data: data, Depth: e.Depth, OccurredAt: FormatTime(e.OccurredAt), Webhook: e.Webhook,
	})
}

// UnmarshalJSON decodes an envelope produced by MarshalJSON. Numbers in `data` are decoded as
// json.Number so that their literal text survives a round trip (the stored envelope of a trigger
// run renders the same prompt on every attempt). A `data` that is absent or null gives an empty
// object; any other non-object `data` is an error.
func (e *Envelope) UnmarshalJSON(b []byte) error {
	var raw envelopeJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var data map[string]any
	if len(raw.Data) > 0 && !bytes.Equal(bytes.TrimSpace(raw.Data), []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(raw.Data))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil {
			return fmt.Errorf("events: envelope data must be a JSON object: %w", err)
		}
	}
	if data == nil {
		data = map[string]any{}
	}
	var at time.Time
	if raw.OccurredAt != "" {
		var err error
		if at, err = time.Parse(time.RFC3339Nano, raw.OccurredAt); err != nil {
			return fmt.Errorf("events: envelope occurred_at: %w", err)
		}
	}
	*e = Envelope{
		ID: raw.ID, Kind: raw.Kind, Scope: raw.Scope, WorkspaceID: raw.WorkspaceID, Source: raw.Source,
		Data: data, Depth: raw.Depth, OccurredAt: at.UTC(), Webhook: raw.Webhook,
	}
	return nil
}

// marshalStored writes an envelope whose data is in stored form (Webhook) by hand: it is done
// for every admitted webhook delivery, and encoding/json would re-validate the embedded
// document. The fields and their order are those of envelopeJSON.
func (e Envelope) marshalStored() []byte {
	b := make([]byte, 0, len(e.Webhook)+256)
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"kind":`...)
	b = appendString(b, e.Kind)
	b = append(b, `,"scope":`...)
	b = appendString(b, e.Scope)
	if e.WorkspaceID != "" {
		b = append(b, `,"workspace_id":`...)
		b = appendString(b, e.WorkspaceID)
	}
	b = append(b, `,"source":`...)
	b = appendString(b, e.Source)
	b = append(b, `,"data":{},"depth":`...)
	b = strconv.AppendInt(b, int64(e.Depth), 10)
	b = append(b, `,"occurred_at":`...)
	b = appendString(b, FormatTime(e.OccurredAt))
	b = append(b, `,"webhook":`...)
	b = append(b, e.Webhook...)
	return append(b, '}')
}

// appendString appends s as a JSON string (invalid UTF-8 becomes U+FFFD, as encoding/json does).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// marshalCompact is json.Marshal without HTML escaping and without the trailing newline.
func marshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
