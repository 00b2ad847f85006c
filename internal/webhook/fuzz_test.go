package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"issues--wbh_01kk6b0000000000000000000a", "a---wbh_x", "--", "issues--", "--wbh_", "x--hook", "", "a--b--wbh_c", "é--wbh_\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, endpoint string) {
		slug, id, err := ParseEndpoint(endpoint)
		if err != nil {
			if slug != "" || id != "" {
				t.Fatalf("error %v with results %q %q", err, slug, id)
			}
			if !strings.HasPrefix(err.Error(), "invalid webhook endpoint: ") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if slug == "" || !strings.HasPrefix(id, WebhookIDPrefix) || strings.Contains(id, "--") {
			t.Fatalf("ParseEndpoint(%q) = %q, %q", endpoint, slug, id)
		}
		if Endpoint(slug, id) != endpoint {
			t.Fatalf("%q + %q != %q", slug, id, endpoint)
		}
	})
}

// FuzzParseHeaders feeds arbitrary values (optionally duplicated) to every
// header of a scheme. Parsing must not panic; rejections must be 400s with a
// step-4 reason and a message from the package table that never echoes a
// signature header; accepted headers must respect the field rules.
// fixedMessages are the step-4 messages that carry no value (package doc).
var fixedMessages = []string{
	"webhook timestamp header is required",
	"webhook signature header is required", "invalid webhook signature header",
	"webhook delivery id header is required", "invalid webhook delivery id",
	"webhook-id header is required", "invalid webhook-id header",
	"webhook-timestamp header is required",
	"webhook-signature header is required", "invalid webhook-signature header",
	"X-Hub-Signature-256 header is required", "invalid X-Hub-Signature-256 header",
	"X-GitHub-Delivery header is required", "invalid X-GitHub-Delivery header",
	"X-GitHub-Event header is required", "invalid X-GitHub-Event header",
	"Stripe-Signature header is required", "invalid Stripe-Signature header",
}

// quotedValues is the <value> of a timestamp message: the received values,
// stripped of HTTP white space, joined by ", " and quoted.
func quotedValues(h http.Header, name string) string {
	var vals []string
	for _, v := range h.Values(name) {
		vals = append(vals, strings.Trim(v, " \t"))
	}
	return strconv.Quote(strings.Join(vals, ", "))
}

func FuzzParseHeaders(f *testing.F) {
	type seed struct {
		scheme     uint8
		a, b, c    string
		duplicates uint8
	}
	seeds := []seed{
		{0, "1767225600", exampleAGHSig, exampleAGHDelivery, 0},
		{0, "2026-01-01T01:00:00.750+01:00", exampleAGHSig, exampleAGHDelivery, 0},
		{0, "2026-01-01T00:00:00Z", exampleAGHSig, " x ", 1},
		{0, "", "sha256=", "", 7},
		{1, "msg_2YwXk9a1", "1767225600", exampleStdSig, 0},
		{1, "msg", "1767225600", "v1a,AAAA v1,@@ ,", 0},
		{2, exampleGitHubSig, exampleGitHubID, "issues", 0},
		{2, exampleGitHubSig, exampleGitHubID, "Issues", 4},
		{3, "t=1767225600,v1=" + exampleStripeV1, "", "", 0},
		{3, "t=1,t=2,v0=x", "", "", 0},
		{0, "1", "\x00absent", "d", 0},
		{1, "m", "\x00absent", "v1,AAAA", 0},
		{2, exampleGitHubSig, "d", "\x00absent", 0},
		{3, "\x00absent", "", "", 0},
	}
	for _, s := range seeds {
		f.Add(s.scheme, s.a, s.b, s.c, s.duplicates)
	}
	names := map[string][]string{
		SchemeAGH:      {HeaderAGHTimestamp, HeaderAGHSignature, HeaderAGHDeliveryID},
		SchemeStandard: {HeaderStandardID, HeaderStandardTimestamp, HeaderStandardSignature},
		SchemeGitHub:   {HeaderGitHubSignature, HeaderGitHubDelivery, HeaderGitHubEvent},
		SchemeStripe:   {HeaderStripeSignature},
	}
	f.Fuzz(func(t *testing.T, schemeN uint8, a, b, c string, duplicates uint8) {
		scheme := Schemes[int(schemeN)%len(Schemes)]
		h := http.Header{}
		for i, v := range []string{a, b, c}[:len(names[scheme])] {
			if v == "\x00absent" {
				continue
			}
			h.Add(names[scheme][i], v)
			if duplicates&(1<<i) != 0 {
				h.Add(names[scheme][i], v)
			}
		}
		got, rej := ParseHeaders(scheme, h)
		if rej != nil {
			if got != nil {
				t.Fatal("both headers and rejection")
			}
			if rej.Status != http.StatusBadRequest || rej.Code != CodeValidationFailed ||
				(rej.Reason != ReasonMissingHeader && rej.Reason != ReasonMalformedHeader) {
				t.Fatalf("rejection %+v", rej)
			}
			if !slices.Contains(fixedMessages, rej.Message) && rej.Message != "invalid webhook timestamp "+quotedValues(h, HeaderAGHTimestamp) &&
				rej.Message != "invalid webhook-timestamp header "+quotedValues(h, HeaderStandardTimestamp) {
				t.Fatalf("unexpected message %q", rej.Message)
			}
			return
		}
		if got.Scheme != scheme {
			t.Fatalf("scheme %q", got.Scheme)
		}
		if scheme != SchemeStripe {
			if id, ok := ValidDeliveryID(got.DeliveryID); !ok || id != got.DeliveryID {
				t.Fatalf("delivery id %q", got.DeliveryID)
			}
		}
		if scheme == SchemeGitHub != !got.HasTimestamp {
			t.Fatalf("HasTimestamp %v for %s", got.HasTimestamp, scheme)
		}
		if scheme == SchemeGitHub && !validGitHubEvent(got.GitHubEvent) {
			t.Fatalf("event %q", got.GitHubEvent)
		}
		if scheme != SchemeStandard && len(got.sigs) == 0 {
			t.Fatal("no signature")
		}
		for _, s := range got.sigs {
			if scheme != SchemeStandard && len(s) != 32 {
				t.Fatalf("MAC of %d bytes", len(s))
			}
		}
		// Must not panic whatever was parsed.
		got.CheckFreshness(time.Unix(1767225600, 0))
		got.Verify([]byte(a), [][]byte{[]byte(b), nil})
	})
}

// FuzzSignVerify: what Sign produces parses, is fresh at its own time and
// verifies with the signing secret only.
func FuzzSignVerify(f *testing.F) {
	f.Add(uint8(0), []byte(exampleSecret), []byte(exampleBody), int64(1767225600), exampleAGHDelivery)
	f.Add(uint8(1), []byte(exampleStdSecret), []byte(exampleBody), int64(1767225600), "msg_2YwXk9a1")
	f.Add(uint8(2), []byte(exampleSecret), []byte(""), int64(0), exampleGitHubID)
	f.Add(uint8(3), []byte(exampleStripeKey), []byte("\xff"), int64(99999999999), "")
	f.Fuzz(func(t *testing.T, schemeN uint8, secret, body []byte, ts int64, deliveryID string) {
		scheme := Schemes[int(schemeN)%len(Schemes)]
		if len(secret) == 0 || ts < 0 || ts > 99999999999 {
			return
		}
		if _, ok := ValidDeliveryID(deliveryID); !ok || strings.TrimSpace(deliveryID) != deliveryID {
			deliveryID = "d"
		}
		hs := Sign(scheme, secret, body, time.Unix(ts, 0), deliveryID)
		hs.Set(HeaderGitHubEvent, "push")
		h, rej := ParseHeaders(scheme, hs)
		if rej != nil {
			t.Fatalf("ParseHeaders(Sign(...)) = %+v", rej)
		}
		if h.HasTimestamp && h.Timestamp != ts {
			t.Fatalf("timestamp %d, want %d", h.Timestamp, ts)
		}
		if rej := h.CheckFreshness(time.Unix(ts, 0)); rej != nil {
			t.Fatal(rej)
		}
		if i, ok := h.Verify(body, [][]byte{[]byte("other"), secret}); !ok || i != 1 {
			t.Fatalf("Verify = %d, %v", i, ok)
		}
		if _, ok := h.Verify(append(append([]byte(nil), body...), 0), [][]byte{secret}); ok {
			t.Fatal("modified body verified")
		}
	})
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{exampleBody, "", "{}", "[]", "null", `{"payload":1}`, "{\"a\":\"\xff\"}", `{"n":1e999}`, `{"a":1}{`, `{"timestamp":{"x":[1,2,{"y":null}]}}`, "\xef\xbb\xbf{\"a\":1}"} {
		f.Add([]byte(s), "issues", "wbh_1", "dlv", "", int64(1767225600), int64(250e6))
	}
	f.Add([]byte(`{"github_event":1}`), "s", "wbh_x", "d", "issues", int64(0), int64(0))
	f.Fuzz(func(t *testing.T, body []byte, slug, webhookID, deliveryID, ghEvent string, sec, nsec int64) {
		ts := time.Unix(sec%(1<<35), nsec%1e9)
		meta := Meta{Slug: slug, WebhookID: webhookID, DeliveryID: deliveryID, GitHubEvent: ghEvent, Timestamp: ts}
		data := Normalize(body, meta)
		raw, err := json.Marshal(data)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var back map[string]any
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if data[KeyEndpoint] != slug+"--"+webhookID || data[KeyEndpointSlug] != slug || data[KeyWebhookID] != webhookID ||
			data[KeyDeliveryID] != deliveryID || data[KeyTimestamp] != FormatTime(ts) {
			t.Fatalf("meta keys not set: %v", data)
		}
		if ghEvent != "" && data[KeyGitHubEvent] != ghEvent {
			t.Fatalf("github_event = %v", data[KeyGitHubEvent])
		}
		p, has := data[KeyPayload]
		if !has {
			t.Fatal("no payload key")
		}
		if s, ok := p.(string); ok && !utf8.ValidString(s) {
			t.Fatalf("payload is not valid UTF-8: %q", s)
		}
		if utf8.Valid(body) {
			if obj, ok := decodeObject(body); !ok || obj[KeyPayload] == nil {
				if _, own := obj[KeyPayload]; !own && p != string(body) {
					t.Fatalf("payload %q != body %q", p, body)
				}
			}
		}
	})
}
