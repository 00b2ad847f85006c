package webhook

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Signature schemes (trigger.signature_scheme).
const (
	SchemeAGH      = "agh"
	SchemeStandard = "standard-webhooks"
	SchemeGitHub   = "github"
	SchemeStripe   = "stripe"
)

// Schemes lists the signature schemes in the order of SPEC §3.3 #12.
var Schemes = []string{SchemeAGH, SchemeStandard, SchemeGitHub, SchemeStripe}

// ValidScheme reports whether s is one of the four signature schemes.
func ValidScheme(s string) bool { return slices.Contains(Schemes, s) }

// Header names examined by the schemes.
const (
	HeaderAGHTimestamp      = "X-AGH-Webhook-Timestamp"
	HeaderAGHSignature      = "X-AGH-Webhook-Signature"
	HeaderAGHDeliveryID     = "X-AGH-Webhook-Delivery-ID"
	HeaderStandardID        = "webhook-id"
	HeaderStandardTimestamp = "webhook-timestamp"
	HeaderStandardSignature = "webhook-signature"
	HeaderGitHubSignature   = "X-Hub-Signature-256"
	HeaderGitHubDelivery    = "X-GitHub-Delivery"
	HeaderGitHubEvent       = "X-GitHub-Event"
	HeaderStripeSignature   = "Stripe-Signature"
)

// FreshnessWindow is the fixed tolerance of SPEC §9.4, in both directions.
const FreshnessWindow = 300 * time.Second

// Limits of header values.
const (
	maxTimestampDigits = 11
	maxDeliveryIDLen   = 255
	maxGitHubEventLen  = 64
	sha256HexLen       = 64
)

// Headers is what step 4 extracts from a request for one scheme.
type Headers struct {
	Scheme       string
	Timestamp    int64 // signed Unix seconds; 0 when HasTimestamp is false (github)
	HasTimestamp bool
	DeliveryID   string // trimmed; empty for stripe (read from the body, StripeEventID)
	GitHubEvent  string // github only

	signedID string   // standard-webhooks: webhook-id as received
	signedTS string   // standard-webhooks, stripe: timestamp text as received
	sigs     [][]byte // decoded candidate MACs (v1 entries only)
}

// ParseHeaders performs step 4 of SPEC §9.2 for scheme: every header of the
// scheme must be present, single-valued and well-formed. The rules and the
// exact messages are in the package documentation. An empty scheme means
// "agh"; an unknown scheme yields a 500 rejection with reason "internal".
func ParseHeaders(scheme string, h http.Header) (*Headers, *Rejection) {
	switch scheme {
	case SchemeAGH, "":
		return parseAGH(h)
	case SchemeStandard:
		return parseStandard(h)
	case SchemeGitHub:
		return parseGitHub(h)
	case SchemeStripe:
		return parseStripe(h)
	}
	return nil, &Rejection{Status: http.StatusInternalServerError, Code: CodeInternal, Reason: ReasonInternal, Message: "unknown signature scheme"}
}

func parseAGH(h http.Header) (*Headers, *Rejection) {
	out := &Headers{Scheme: SchemeAGH, HasTimestamp: true}

	vals := headerValues(h, HeaderAGHTimestamp)
	if len(vals) == 0 {
		return nil, missing("webhook timestamp header is required")
	}
	ts, ok := int64(0), len(vals) == 1
	if ok {
		ts, ok = parseAGHTimestamp(vals[0])
	}
	if !ok {
		return nil, malformed("invalid webhook timestamp " + strconv.Quote(strings.Join(vals, ", ")))
	}
	out.Timestamp = ts

	sig, rej := single(h, HeaderAGHSignature, "webhook signature header is required", "invalid webhook signature header")
	if rej != nil {
		return nil, rej
	}
	mac, ok := parseSHA256Hex(sig)
	if !ok {
		return nil, malformed("invalid webhook signature header")
	}
	out.sigs = [][]byte{mac}

	id, rej := single(h, HeaderAGHDeliveryID, "webhook delivery id header is required", "invalid webhook delivery id")
	if rej != nil {
		return nil, rej
	}
	if out.DeliveryID, ok = ValidDeliveryID(id); !ok {
		return nil, malformed("invalid webhook delivery id")
	}
	return out, nil
}

func parseStandard(h http.Header) (*Headers, *Rejection) {
	out := &Headers{Scheme: SchemeStandard, HasTimestamp: true}

	id, rej := single(h, HeaderStandardID, "webhook-id header is required", "invalid webhook-id header")
	if rej != nil {
		return nil, rej
	}
	var ok bool
	if out.DeliveryID, ok = ValidDeliveryID(id); !ok {
		return nil, malformed("invalid webhook-id header")
	}
	out.signedID = id

	vals := headerValues(h, HeaderStandardTimestamp)
	if len(vals) == 0 {
		return nil, missing("webhook-timestamp header is required")
	}
	ts, ok := int64(0), len(vals) == 1
	if ok {
		ts, ok = parseDecimalSeconds(vals[0])
	}
	if !ok {
		return nil, malformed("invalid webhook-timestamp header " + strconv.Quote(strings.Join(vals, ", ")))
	}
	out.Timestamp, out.signedTS = ts, vals[0]

	sig, rej := single(h, HeaderStandardSignature, "webhook-signature header is required", "invalid webhook-signature header")
	if rej != nil {
		return nil, rej
	}
	parsable := false
	for entry := range strings.SplitSeq(sig, " ") {
		version, payload, found := strings.Cut(entry, ",")
		if !found || version == "" || payload == "" {
			continue
		}
		mac, err := base64.StdEncoding.DecodeString(payload)
		if err != nil {
			continue
		}
		parsable = true
		if version == "v1" {
			out.sigs = append(out.sigs, mac)
		}
	}
	if !parsable {
		return nil, malformed("invalid webhook-signature header")
	}
	return out, nil
}

func parseGitHub(h http.Header) (*Headers, *Rejection) {
	out := &Headers{Scheme: SchemeGitHub}

	sig, rej := single(h, HeaderGitHubSignature, "X-Hub-Signature-256 header is required", "invalid X-Hub-Signature-256 header")
	if rej != nil {
		return nil, rej
	}
	mac, ok := parseSHA256Hex(sig)
	if !ok {
		return nil, malformed("invalid X-Hub-Signature-256 header")
	}
	out.sigs = [][]byte{mac}

	id, rej := single(h, HeaderGitHubDelivery, "X-GitHub-Delivery header is required", "invalid X-GitHub-Delivery header")
	if rej != nil {
		return nil, rej
	}
	if out.DeliveryID, ok = ValidDeliveryID(id); !ok {
		return nil, malformed("invalid X-GitHub-Delivery header")
	}

	ev, rej := single(h, HeaderGitHubEvent, "X-GitHub-Event header is required", "invalid X-GitHub-Event header")
	if rej != nil {
		return nil, rej
	}
	if !validGitHubEvent(ev) {
		return nil, malformed("invalid X-GitHub-Event header")
	}
	out.GitHubEvent = ev
	return out, nil
}

func parseStripe(h http.Header) (*Headers, *Rejection) {
	const invalid = "invalid Stripe-Signature header"
	out := &Headers{Scheme: SchemeStripe, HasTimestamp: true}

	v, rej := single(h, HeaderStripeSignature, "Stripe-Signature header is required", invalid)
	if rej != nil {
		return nil, rej
	}
	tCount := 0
	for item := range strings.SplitSeq(v, ",") {
		key, val, found := strings.Cut(strings.Trim(item, " \t"), "=")
		if !found {
			continue
		}
		switch key {
		case "t":
			tCount++
			out.signedTS = val
		case "v1":
			if len(val) != sha256HexLen {
				return nil, malformed(invalid)
			}
			mac, err := hex.DecodeString(val)
			if err != nil {
				return nil, malformed(invalid)
			}
			out.sigs = append(out.sigs, mac)
		}
	}
	if tCount != 1 || len(out.sigs) == 0 {
		return nil, malformed(invalid)
	}
	ts, ok := parseDecimalSeconds(out.signedTS)
	if !ok {
		return nil, malformed(invalid)
	}
	out.Timestamp = ts
	return out, nil
}

// headerValues returns every value of the header name, matched
// case-insensitively (the canonical key first, then any other spelling in
// sorted order), each stripped of leading and trailing spaces and tabs.
func headerValues(h http.Header, name string) []string {
	canon := textproto.CanonicalMIMEHeaderKey(name)
	vals := slices.Clone(h[canon])
	var other []string
	for k := range h {
		if k != canon && strings.EqualFold(k, name) {
			other = append(other, k)
		}
	}
	slices.Sort(other)
	for _, k := range other {
		vals = append(vals, h[k]...)
	}
	for i, v := range vals {
		vals[i] = strings.Trim(v, " \t")
	}
	return vals
}

// single returns the only value of a header, or the missing/malformed
// rejection when it is absent or repeated.
func single(h http.Header, name, missingMsg, invalidMsg string) (string, *Rejection) {
	vals := headerValues(h, name)
	switch len(vals) {
	case 0:
		return "", missing(missingMsg)
	case 1:
		return vals[0], nil
	default:
		return "", malformed(invalidMsg)
	}
}

// parseDecimalSeconds accepts 1 to 11 ASCII digits (no sign).
func parseDecimalSeconds(s string) (int64, bool) {
	if len(s) == 0 || len(s) > maxTimestampDigits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// rfc3339Shape is RFC 3339 date-time syntax with a mandatory offset; ranges
// are checked by time.Parse.
var rfc3339Shape = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// parseAGHTimestamp parses an X-AGH-Webhook-Timestamp value: decimal Unix
// seconds or RFC 3339 with offset, fractions dropped (floor).
func parseAGHTimestamp(s string) (int64, bool) {
	if n, ok := parseDecimalSeconds(s); ok {
		return n, true
	}
	if !rfc3339Shape.MatchString(s) {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return 0, false
	}
	return t.Unix(), true
}

// parseSHA256Hex decodes "sha256=" followed by exactly 64 hex digits.
func parseSHA256Hex(v string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(v, "sha256=")
	if !ok || len(rest) != sha256HexLen {
		return nil, false
	}
	mac, err := hex.DecodeString(rest)
	return mac, err == nil
}

// ValidDeliveryID trims s of Unicode white space and reports whether the
// result is a valid delivery id: 1 to 255 characters in 0x21–0x7E.
func ValidDeliveryID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) == 0 || len(s) > maxDeliveryIDLen {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return "", false
		}
	}
	return s, true
}

// validGitHubEvent: 1 to 64 characters of [a-z0-9_.-].
func validGitHubEvent(s string) bool {
	if len(s) == 0 || len(s) > maxGitHubEventLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// CheckFreshness performs step 5 (SPEC §9.4): with now in whole Unix seconds
// (floor), the delivery is fresh iff -300 <= now - ts <= 300. It is a no-op
// for schemes without a timestamp (github).
func (h *Headers) CheckFreshness(now time.Time) *Rejection {
	if !h.HasTimestamp {
		return nil
	}
	d := now.Unix() - h.Timestamp
	if w := int64(FreshnessWindow / time.Second); d < -w || d > w {
		return TimestampOutOfWindow()
	}
	return nil
}

// EventTime is data.timestamp of the envelope: the signed timestamp, or
// receivedAt for schemes without one (github).
func (h *Headers) EventTime(receivedAt time.Time) time.Time {
	if h.HasTimestamp {
		return time.Unix(h.Timestamp, 0).UTC()
	}
	return receivedAt.UTC()
}
