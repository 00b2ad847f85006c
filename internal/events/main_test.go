package events

import (
	"bytes"
	"encoding/json"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// decodeData decodes a JSON object the way webhook normalization does (numbers keep their
// literal text as json.Number).
func decodeData(tb testing.TB, s string) map[string]any {
	tb.Helper()
	m, err := decodeObject(s)
	if err != nil {
		tb.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func decodeObject(s string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// githubPayload is the data of the §9.5.2 worked example: the body of §9.3 normalized per §9.6
// with github_event added.
const githubPayload = `{"action": "opened", "issue": {"number": 42, "title": "Crash on start"},
 "payload": "{\"action\":\"opened\",\"issue\":{\"number\":42,\"title\":\"Crash on start\"}}",
 "endpoint": "issues--wbh_01kk6b0000000000000000000a", "endpoint_slug": "issues",
 "webhook_id": "wbh_01kk6b0000000000000000000a", "timestamp": "2026-01-01T00:00:00Z",
 "delivery_id": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "github_event": "issues"}`

// aghPayload is the §9.6 example (the §9.3 request normalized).
const aghPayload = `{"action": "opened", "issue": {"number": 42, "title": "Crash on start"},
 "payload": "{\"action\":\"opened\",\"issue\":{\"number\":42,\"title\":\"Crash on start\"}}",
 "endpoint": "issues--wbh_01kk6b0000000000000000000a", "endpoint_slug": "issues",
 "webhook_id": "wbh_01kk6b0000000000000000000a", "timestamp": "2026-01-01T00:00:00Z",
 "delivery_id": "7f3c2a9e-0001"}`

func webhookEnvelope(tb testing.TB, data string) *Envelope {
	return &Envelope{
		ID: "evt_01kk6b0000000000000000000b", Kind: KindWebhook, Scope: "global",
		Source: SourceWebhook, Data: decodeData(tb, data),
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}
