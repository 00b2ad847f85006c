package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StandardSecretPrefix starts every standard-webhooks secret.
const StandardSecretPrefix = "whsec_"

// Bounds of the decoded standard-webhooks key (SPEC §3.3 #14).
const (
	StandardKeyMin = 24
	StandardKeyMax = 64
)

var errStandardSecret = errors.New(`secret must be "whsec_" followed by base64 of 24 to 64 bytes`)

// DecodeStandardSecret returns the HMAC key of a standard-webhooks secret:
// the standard (padded) base64 decoding of what follows "whsec_", which must
// be 24 to 64 bytes.
func DecodeStandardSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, StandardSecretPrefix)
	// The decoder skips CR and LF; a secret containing them is not base64.
	if !ok || strings.ContainsAny(rest, "\r\n") {
		return nil, errStandardSecret
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) < StandardKeyMin || len(key) > StandardKeyMax {
		return nil, errStandardSecret
	}
	return key, nil
}

// ValidateStandardSecret checks SPEC §3.3 #14: "whsec_" followed by standard
// base64 of 24 to 64 bytes. The caller prefixes the field path, e.g.
// `trigger.webhook_secret_value must be "whsec_" followed by base64 of 24 to
// 64 bytes when signature_scheme is "standard-webhooks"`.
func ValidateStandardSecret(s string) error {
	_, err := DecodeStandardSecret(s)
	return err
}

// schemeKey is the HMAC key for a secret under scheme: the decoded key for a
// valid standard-webhooks secret, otherwise the secret's bytes (agh, github,
// stripe; and, so that Sign and Verify always agree, a standard-webhooks
// secret that does not decode, which validation never stores).
func schemeKey(scheme string, secret []byte) []byte {
	if scheme == SchemeStandard {
		if key, err := DecodeStandardSecret(string(secret)); err == nil {
			return key
		}
	}
	return secret
}

// mac computes the scheme's MAC of body with the given signed id and
// timestamp text (see the package documentation for each message).
func mac(scheme string, key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	switch scheme {
	case SchemeStandard:
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
	case SchemeGitHub:
	default: // agh, stripe
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
	}
	m.Write(body)
	return m.Sum(nil)
}

// Verify performs step 7: it tries each secret in order (index 0 is the
// current secret, 1 the unexpired previous one) and reports the index of the
// first that produces one of the request's MACs. Secrets are the stored
// secret strings as bytes (for standard-webhooks the "whsec_…" string, which
// Verify decodes). Empty secrets never match. MACs are compared as bytes with
// hmac.Equal; the body is the raw body as received.
func (h *Headers) Verify(body []byte, secrets [][]byte) (matched int, ok bool) {
	ts := h.signedTS
	if h.Scheme == SchemeAGH {
		ts = strconv.FormatInt(h.Timestamp, 10)
	}
	for i, s := range secrets {
		if len(s) == 0 {
			continue
		}
		want := mac(h.Scheme, schemeKey(h.Scheme, s), h.signedID, ts, body)
		found := false
		for _, got := range h.sigs {
			if hmac.Equal(got, want) {
				found = true
			}
		}
		if found {
			return i, true
		}
	}
	return -1, false
}

// Sign returns the headers a sender sends for body under scheme, signed with
// secret at ts (truncated to whole seconds). deliveryID becomes
// X-AGH-Webhook-Delivery-ID, webhook-id or X-GitHub-Delivery; stripe carries
// its id in the body and ignores it. For github the caller adds
// X-GitHub-Event (HeaderGitHubEvent), which is not part of the signature. An
// empty scheme means agh.
func Sign(scheme string, secret []byte, body []byte, ts time.Time, deliveryID string) http.Header {
	h := http.Header{}
	sec := strconv.FormatInt(ts.Unix(), 10)
	key := schemeKey(scheme, secret)
	switch scheme {
	case SchemeStandard:
		m := mac(scheme, key, deliveryID, sec, body)
		h.Set(HeaderStandardID, deliveryID)
		h.Set(HeaderStandardTimestamp, sec)
		h.Set(HeaderStandardSignature, "v1,"+base64.StdEncoding.EncodeToString(m))
	case SchemeGitHub:
		m := mac(scheme, key, "", "", body)
		h.Set(HeaderGitHubSignature, "sha256="+hex.EncodeToString(m))
		h.Set(HeaderGitHubDelivery, deliveryID)
	case SchemeStripe:
		m := mac(scheme, key, "", sec, body)
		h.Set(HeaderStripeSignature, "t="+sec+",v1="+hex.EncodeToString(m))
	default:
		m := mac(SchemeAGH, key, "", sec, body)
		h.Set(HeaderAGHTimestamp, sec)
		h.Set(HeaderAGHSignature, "sha256="+hex.EncodeToString(m))
		h.Set(HeaderAGHDeliveryID, deliveryID)
	}
	return h
}

// StripeEventID performs step 8 for stripe: the delivery id is the top-level
// string field "id" of the JSON object body (exact key match), trimmed, and
// it must satisfy the delivery-id rule (1 to 255 characters in 0x21–0x7E).
// ok is false when the body is not such an object or the id is absent,
// not a string or invalid; the caller then answers StripeEventIDMissing.
func StripeEventID(body []byte) (string, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return "", false
	}
	raw, ok := obj["id"]
	if !ok {
		return "", false
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", false
	}
	return ValidDeliveryID(id)
}
