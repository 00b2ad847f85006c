// Package webhook implements the signature schemes, header rules, freshness
// window, body limit and payload normalization of signed webhook deliveries
// (SPEC §9, §14.3). It performs no storage and serves no HTTP: the HTTP layer
// calls, in the order of SPEC §9.2,
//
//	ParseEndpoint          step 1
//	ParseHeaders           step 4
//	Headers.CheckFreshness step 5
//	ReadBody               step 6
//	Headers.Verify         step 7
//	StripeEventID          step 8 (stripe only)
//	Normalize              step 10 (envelope data)
//
// # Schemes and headers
//
// The scheme is fixed per trigger and never inferred; only that scheme's
// headers are examined. Headers are looked up case-insensitively. A header
// that is absent is missing (reason missing_header); a header that is present
// more than once, or whose single value breaks its rule (an empty value
// included), is malformed (reason malformed_header). Within one scheme the
// headers are checked one after the other in the order of the table below,
// each one completely (presence, single value, form) before the next, and the
// first failure is reported. Values are first stripped of leading and
// trailing spaces and tabs, as an HTTP server does; a delivery id is then
// trimmed of Unicode white space (SPEC §1.3).
//
// Every such failure is a 400 whose Rejection.Message is the detail below,
// without the "automation validation error: " prefix the HTTP layer adds:
//
//	scheme             header                     absent                                   malformed or duplicated
//	agh                X-AGH-Webhook-Timestamp    webhook timestamp header is required     invalid webhook timestamp "<value>"
//	agh                X-AGH-Webhook-Signature    webhook signature header is required     invalid webhook signature header
//	agh                X-AGH-Webhook-Delivery-ID  webhook delivery id header is required   invalid webhook delivery id
//	standard-webhooks  webhook-id                 webhook-id header is required            invalid webhook-id header
//	standard-webhooks  webhook-timestamp          webhook-timestamp header is required     invalid webhook-timestamp header "<value>"
//	standard-webhooks  webhook-signature          webhook-signature header is required     invalid webhook-signature header
//	github             X-Hub-Signature-256        X-Hub-Signature-256 header is required   invalid X-Hub-Signature-256 header
//	github             X-GitHub-Delivery          X-GitHub-Delivery header is required     invalid X-GitHub-Delivery header
//	github             X-GitHub-Event             X-GitHub-Event header is required        invalid X-GitHub-Event header
//	stripe             Stripe-Signature           Stripe-Signature header is required      invalid Stripe-Signature header
//
// For a duplicated timestamp header, <value> is the received values joined by
// ", " (SPEC §18.9). <value> is printed as a Go-quoted string. Signature
// headers are never echoed.
//
// Header rules:
//
//   - agh timestamp: decimal Unix seconds (1 to 11 ASCII digits, no sign) or
//     an RFC 3339 date-time with a mandatory offset ("Z" or ±hh:mm) and an
//     optional fraction, which is dropped (floor).
//   - agh and github signature: "sha256=" (lowercase) followed by exactly 64
//     hexadecimal digits of either case.
//   - delivery ids (X-AGH-Webhook-Delivery-ID, webhook-id, X-GitHub-Delivery):
//     after trimming, 1 to 255 characters in 0x21–0x7E.
//   - webhook-timestamp: decimal Unix seconds only (same digit rule).
//   - webhook-signature: space-separated "<version>,<base64>" entries; an
//     entry is parsable when its version is non-empty and its payload is
//     non-empty padded standard base64. Unparsable entries and versions
//     other than "v1" are ignored; a header with no parsable entry is
//     malformed.
//   - X-GitHub-Event: 1 to 64 characters of [a-z0-9_.-].
//   - Stripe-Signature: comma-separated "key=value" items. "t" must appear
//     exactly once with 1 to 11 ASCII digits; at least one "v1" must appear
//     and every "v1" must be exactly 64 hexadecimal digits; other keys (v0,
//     …) and items without "=" are ignored.
//
// # Signed messages
//
//	agh                HMAC-SHA256(secret, decimal(ts) + "." + body), ts normalized to integer seconds
//	standard-webhooks  HMAC-SHA256(base64decode(secret without "whsec_"), webhook-id + "." + webhook-timestamp + "." + body)
//	github             HMAC-SHA256(secret, body)
//	stripe             HMAC-SHA256(secret, t + "." + body)
//
// For standard-webhooks and stripe the id and timestamp are used exactly as
// received (after HTTP white-space stripping), as the sender signed them.
// MACs are decoded to bytes and compared with hmac.Equal.
package webhook
