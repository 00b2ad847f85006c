package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"time"
	"unicode/utf8"
)

// Meta is the routing and header data that Normalize writes over the body's
// keys (SPEC §9.6 rule 3).
type Meta struct {
	Endpoint    string    // "<slug>--<webhook_id>"; derived from Slug and WebhookID when empty
	Slug        string    // endpoint_slug
	WebhookID   string    // webhook_id
	DeliveryID  string    // delivery_id
	GitHubEvent string    // github_event, set only when non-empty (github)
	Timestamp   time.Time // the signed timestamp, or the receipt time for github (Headers.EventTime)
}

// Data keys set by Normalize.
const (
	KeyPayload      = "payload"
	KeyEndpoint     = "endpoint"
	KeyEndpointSlug = "endpoint_slug"
	KeyWebhookID    = "webhook_id"
	KeyTimestamp    = "timestamp"
	KeyDeliveryID   = "delivery_id"
	KeyGitHubEvent  = "github_event"
)

// Stored is the compact form in which a webhook envelope's data is stored with a run: the raw
// body and the metadata of Normalize, about half the size of the normalized data (which holds
// the body twice, parsed and as "payload"). Data rebuilds exactly what Normalize returned.
type Stored struct {
	Body        string `json:"body"`
	Endpoint    string `json:"endpoint"`
	Slug        string `json:"endpoint_slug"`
	WebhookID   string `json:"webhook_id"`
	DeliveryID  string `json:"delivery_id"`
	GitHubEvent string `json:"github_event,omitempty"`
	Timestamp   string `json:"timestamp"`
}

// Store returns the compact form of Normalize(body, meta) as JSON, or nil when body is not
// valid UTF-8 (the data must then be stored normalized: a JSON string cannot hold the raw
// bytes).
func Store(body []byte, meta Meta) []byte {
	if !utf8.Valid(body) {
		return nil
	}
	// Written by hand: this runs for every admitted delivery, and encoding/json spends most
	// of its time validating and compacting what it has just written.
	b := make([]byte, 0, len(body)+len(body)/8+256)
	b = append(b, `{"body":`...)
	b = appendJSONString(b, string(body))
	for _, f := range [...]struct{ k, v string }{{"endpoint", meta.Endpoint}, {"endpoint_slug", meta.Slug},
		{"webhook_id", meta.WebhookID}, {"delivery_id", meta.DeliveryID}, {"github_event", meta.GitHubEvent},
		{"timestamp", meta.Timestamp.UTC().Format(time.RFC3339Nano)}} {
		if f.k == "github_event" && f.v == "" {
			continue
		}
		b = append(b, ',', '"')
		b = append(b, f.k...)
		b = append(b, '"', ':')
		b = appendJSONString(b, f.v)
	}
	return append(b, '}')
}

// appendJSONString appends s, valid UTF-8, as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Data rebuilds the normalized data from its stored form.
func (s *Stored) Data() (map[string]any, error) {
	ts, err := time.Parse(time.RFC3339Nano, s.Timestamp)
	if err != nil {
		return nil, err
	}
	return Normalize([]byte(s.Body), Meta{Endpoint: s.Endpoint, Slug: s.Slug, WebhookID: s.WebhookID,
		DeliveryID: s.DeliveryID, GitHubEvent: s.GitHubEvent, Timestamp: ts}), nil
}

// Normalize builds the envelope data of a verified delivery (SPEC §9.6).
//
// If body is exactly one JSON object with at least one key, its top-level
// keys become the keys of the result, with their JSON types (objects as
// map[string]any, arrays as []any, numbers as json.Number keeping their
// literal text, at every depth), and "payload" is added as the raw body
// unless the object has its own "payload" key. Any other body (empty,
// invalid JSON, {}, an array, a scalar, null, trailing data) gives
// {"payload": <raw body>}. The raw body string has each invalid UTF-8 byte
// replaced by U+FFFD, as the JSON decoder does inside strings. Finally
// endpoint, endpoint_slug, webhook_id, timestamp (UTC, SPEC §1.3 format),
// delivery_id and, when meta.GitHubEvent is non-empty, github_event are set,
// overwriting body keys of the same name.
//
// The result is always accepted by json.Marshal.
func Normalize(body []byte, meta Meta) map[string]any {
	data, ok := decodeObject(body)
	if !ok {
		data = map[string]any{}
	}
	if _, has := data[KeyPayload]; !has {
		data[KeyPayload] = validUTF8(body)
	}
	for _, k := range metaKeys {
		if v, ok := metaValue(meta, k); ok {
			data[k] = v
		}
	}
	return data
}

// metaKeys are the keys Normalize writes over the body's (metaValue gives their values).
var metaKeys = [...]string{KeyEndpoint, KeyEndpointSlug, KeyWebhookID, KeyTimestamp, KeyDeliveryID, KeyGitHubEvent}

// decodeObject decodes body as a single non-empty JSON object.
func decodeObject(body []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || len(obj) == 0 {
		return nil, false
	}
	// Exactly one value: anything but white space after it is invalid JSON.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return obj, true
}

// validUTF8 converts b to a string, replacing each invalid byte by U+FFFD.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		out = append(out, r) // utf8.RuneError for an invalid byte
		b = b[size:]
	}
	return string(out)
}

// FormatTime formats t in UTC like time.RFC3339Nano (SPEC §1.3): fractional
// seconds only when non-zero, without trailing zeros.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
