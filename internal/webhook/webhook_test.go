package webhook

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Literal inputs of the worked examples of SPEC §9.3 and §9.5.
const (
	exampleBody        = `{"action":"opened","issue":{"number":42,"title":"Crash on start"}}`
	exampleSecret      = "example-webhook-secret"
	exampleTS          = int64(1767225600)
	exampleAGHSig      = "sha256=9191e5ae4167d3d3c8e59cdbc71f41aff68c673c21ee528bafe86da599ae65fa"
	exampleStdSecret   = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY"
	exampleStdSig      = "v1,9Re/bW3fY2rizEKCSrtCiqtPidpz5LFpGXkwQrdVfxU="
	exampleGitHubSig   = "sha256=800a554c7291c5334fd7348afafb9aa236236603f966c17ec11b69ce243ba1f2"
	exampleStripeKey   = "whsec_example_stripe_secret"
	exampleStripeV1    = "af0c585cceadd98fd4003e784a23a70120f0023ede61ec06c14cb0b9be64ace3"
	exampleGitHubID    = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	exampleAGHDelivery = "7f3c2a9e-0001"
)

var exampleTime = time.Unix(exampleTS, 0)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in, slug, id, err string
	}{
		{in: "issues--wbh_01kk6b0000000000000000000a", slug: "issues", id: "wbh_01kk6b0000000000000000000a"},
		{in: "a--b--wbh_x", slug: "a--b", id: "wbh_x"},
		{in: "a---wbh_x", slug: "a-", id: "wbh_x"},
		{in: "a--wbh_", slug: "a", id: "wbh_"},
		{in: "issues", err: "invalid webhook endpoint: expected <slug>--<webhook_id>"},
		{in: "", err: "invalid webhook endpoint: expected <slug>--<webhook_id>"},
		{in: "issues-wbh_x", err: "invalid webhook endpoint: expected <slug>--<webhook_id>"},
		{in: "--wbh_x", err: "invalid webhook endpoint: expected non-empty slug and webhook id"},
		{in: "issues--", err: "invalid webhook endpoint: expected non-empty slug and webhook id"},
		{in: "--", err: "invalid webhook endpoint: expected non-empty slug and webhook id"},
		{in: "issues--wbh_x--", err: "invalid webhook endpoint: expected non-empty slug and webhook id"},
		{in: "issues--hook_1", err: `invalid webhook endpoint: webhook id "hook_1" must start with "wbh_"`},
		{in: "issues--wbh_a--b", err: `invalid webhook endpoint: webhook id "b" must start with "wbh_"`},
		{in: "issues--WBH_x", err: `invalid webhook endpoint: webhook id "WBH_x" must start with "wbh_"`},
	}
	for _, tt := range tests {
		slug, id, err := ParseEndpoint(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseEndpoint(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || slug != tt.slug || id != tt.id {
			t.Errorf("ParseEndpoint(%q) = %q, %q, %v; want %q, %q", tt.in, slug, id, err, tt.slug, tt.id)
		}
	}
}

// TestWorkedExamples checks every worked example of SPEC §9.3 and §9.5 from
// its literal inputs, both ways: Sign reproduces the given headers and the
// given headers verify.
func TestWorkedExamples(t *testing.T) {
	body := []byte(exampleBody)
	if len(body) != 66 {
		t.Fatalf("example body is %d bytes, want 66", len(body))
	}
	tests := []struct {
		name      string
		scheme    string
		secret    string
		headers   http.Header
		delivery  string
		wantSign  map[string]string // expected Sign output
		signID    string
		ghEvent   string
		hasTS     bool
		signedKey string
	}{
		{
			name: "agh decimal", scheme: SchemeAGH, secret: exampleSecret,
			headers:  hdr(HeaderAGHTimestamp, "1767225600", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, exampleAGHDelivery),
			delivery: exampleAGHDelivery, hasTS: true, signID: exampleAGHDelivery,
			wantSign: map[string]string{HeaderAGHTimestamp: "1767225600", HeaderAGHSignature: exampleAGHSig, HeaderAGHDeliveryID: exampleAGHDelivery},
		},
		{
			name: "agh RFC 3339 UTC", scheme: SchemeAGH, secret: exampleSecret,
			headers:  hdr(HeaderAGHTimestamp, "2026-01-01T00:00:00Z", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, exampleAGHDelivery),
			delivery: exampleAGHDelivery, hasTS: true,
		},
		{
			name: "agh RFC 3339 offset and fraction", scheme: SchemeAGH, secret: exampleSecret,
			headers:  hdr(HeaderAGHTimestamp, "2026-01-01T01:00:00.750+01:00", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, exampleAGHDelivery),
			delivery: exampleAGHDelivery, hasTS: true,
		},
		{
			name: "agh uppercase hex", scheme: SchemeAGH, secret: exampleSecret,
			headers:  hdr(HeaderAGHTimestamp, "1767225600", HeaderAGHSignature, "sha256="+strings.ToUpper(strings.TrimPrefix(exampleAGHSig, "sha256=")), HeaderAGHDeliveryID, exampleAGHDelivery),
			delivery: exampleAGHDelivery, hasTS: true,
		},
		{
			name: "standard-webhooks", scheme: SchemeStandard, secret: exampleStdSecret,
			headers:  hdr("webhook-id", "msg_2YwXk9a1", "webhook-timestamp", "1767225600", "webhook-signature", exampleStdSig),
			delivery: "msg_2YwXk9a1", hasTS: true, signID: "msg_2YwXk9a1",
			wantSign: map[string]string{HeaderStandardID: "msg_2YwXk9a1", HeaderStandardTimestamp: "1767225600", HeaderStandardSignature: exampleStdSig},
		},
		{
			name: "github", scheme: SchemeGitHub, secret: exampleSecret,
			headers:  hdr(HeaderGitHubSignature, exampleGitHubSig, HeaderGitHubDelivery, exampleGitHubID, HeaderGitHubEvent, "issues"),
			delivery: exampleGitHubID, ghEvent: "issues", signID: exampleGitHubID,
			wantSign: map[string]string{HeaderGitHubSignature: exampleGitHubSig, HeaderGitHubDelivery: exampleGitHubID},
		},
		{
			name: "stripe", scheme: SchemeStripe, secret: exampleStripeKey,
			headers:  hdr(HeaderStripeSignature, "t=1767225600,v1="+exampleStripeV1),
			hasTS:    true,
			wantSign: map[string]string{HeaderStripeSignature: "t=1767225600,v1=" + exampleStripeV1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rej := ParseHeaders(tt.scheme, tt.headers)
			if rej != nil {
				t.Fatalf("ParseHeaders: %v", rej)
			}
			if h.DeliveryID != tt.delivery || h.GitHubEvent != tt.ghEvent || h.HasTimestamp != tt.hasTS {
				t.Errorf("headers = %+v", h)
			}
			if tt.hasTS && h.Timestamp != exampleTS {
				t.Errorf("Timestamp = %d, want %d", h.Timestamp, exampleTS)
			}
			if rej := h.CheckFreshness(exampleTime); rej != nil {
				t.Errorf("CheckFreshness: %v", rej)
			}
			if i, ok := h.Verify(body, [][]byte{[]byte(tt.secret)}); !ok || i != 0 {
				t.Errorf("Verify(current) = %d, %v", i, ok)
			}
			if i, ok := h.Verify(body, [][]byte{[]byte("rotated-webhook-secret"), []byte(tt.secret)}); !ok || i != 1 {
				t.Errorf("Verify(previous) = %d, %v", i, ok)
			}
			if _, ok := h.Verify(body, [][]byte{[]byte("wrong")}); ok {
				t.Error("Verify with a wrong secret succeeded")
			}
			if _, ok := h.Verify(append([]byte(nil), exampleBody+" "...), [][]byte{[]byte(tt.secret)}); ok {
				t.Error("Verify of a modified body succeeded")
			}
			if tt.wantSign != nil {
				got := Sign(tt.scheme, []byte(tt.secret), body, exampleTime.Add(999*time.Millisecond), tt.signID)
				for k, v := range tt.wantSign {
					if got.Get(k) != v {
						t.Errorf("Sign %s = %q, want %q", k, got.Get(k), v)
					}
				}
				if len(got) != len(tt.wantSign) {
					t.Errorf("Sign returned %d headers, want %d: %v", len(got), len(tt.wantSign), got)
				}
			}
		})
	}

	// The stripe example body has no id: it is refused at step 8.
	if id, ok := StripeEventID(body); ok {
		t.Errorf("StripeEventID(example) = %q, true; want false", id)
	}
	if rej := StripeEventIDMissing(); rej.Status != 400 || rej.Reason != ReasonMissingHeader || rej.Message != "stripe event id is missing from the body" {
		t.Errorf("StripeEventIDMissing = %+v", rej)
	}
}

type rejWant struct {
	reason, msg string
}

func TestParseHeadersRejections(t *testing.T) {
	const (
		ts    = "1767225600"
		sig   = exampleAGHSig
		dlv   = exampleAGHDelivery
		stdTS = "1767225600"
	)
	m, bad := func(s string) rejWant { return rejWant{ReasonMissingHeader, s} }, func(s string) rejWant { return rejWant{ReasonMalformedHeader, s} }
	aghOK := []string{HeaderAGHTimestamp, ts, HeaderAGHSignature, sig, HeaderAGHDeliveryID, dlv}
	with := func(base []string, name string, values ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(base); i += 2 {
			if !strings.EqualFold(base[i], name) {
				h.Add(base[i], base[i+1])
			}
		}
		for _, v := range values {
			h.Add(name, v)
		}
		return h
	}
	stdOK := []string{HeaderStandardID, "msg_1", HeaderStandardTimestamp, stdTS, HeaderStandardSignature, exampleStdSig}
	ghOK := []string{HeaderGitHubSignature, exampleGitHubSig, HeaderGitHubDelivery, exampleGitHubID, HeaderGitHubEvent, "issues"}
	v1 := "v1=" + exampleStripeV1

	tests := []struct {
		name   string
		scheme string
		h      http.Header
		want   rejWant
	}{
		// agh timestamp
		{"agh ts missing", SchemeAGH, with(aghOK, HeaderAGHTimestamp), m("webhook timestamp header is required")},
		{"agh ts empty", SchemeAGH, with(aghOK, HeaderAGHTimestamp, ""), bad(`invalid webhook timestamp ""`)},
		{"agh ts signed", SchemeAGH, with(aghOK, HeaderAGHTimestamp, "+1767225600"), bad(`invalid webhook timestamp "+1767225600"`)},
		{"agh ts negative", SchemeAGH, with(aghOK, HeaderAGHTimestamp, "-1"), bad(`invalid webhook timestamp "-1"`)},
		{"agh ts 12 digits", SchemeAGH, with(aghOK, HeaderAGHTimestamp, "001767225600"), bad(`invalid webhook timestamp "001767225600"`)},
		{"agh ts fraction", SchemeAGH, with(aghOK, HeaderAGHTimestamp, "1767225600.5"), bad(`invalid webhook timestamp "1767225600.5"`)},
		{"agh ts no offset", SchemeAGH, with(aghOK, HeaderAGHTimestamp, "2026-01-01T00:00:00"), bad(`invalid webhook timestamp "2026-01-01T00:00:00"`)},
		{"agh ts bad month", SchemeAGH, with(aghOK, HeaderAGHTimestamp, "2026-13-01T00:00:00Z"), bad(`invalid webhook timestamp "2026-13-01T00:00:00Z"`)},
		{"agh ts comma fraction", SchemeAGH, with(aghOK, HeaderAGHTimestamp, "2026-01-01T00:00:00,5Z"), bad(`invalid webhook timestamp "2026-01-01T00:00:00,5Z"`)},
		{"agh ts unicode digits", SchemeAGH, with(aghOK, HeaderAGHTimestamp, "١٢٣"), bad(`invalid webhook timestamp "١٢٣"`)},
		{"agh ts duplicated", SchemeAGH, with(aghOK, HeaderAGHTimestamp, "1767225600", "1767225601"), bad(`invalid webhook timestamp "1767225600, 1767225601"`)},
		{"agh ts duplicated same", SchemeAGH, with(aghOK, HeaderAGHTimestamp, ts, ts), bad(`invalid webhook timestamp "1767225600, 1767225600"`)},
		// agh signature
		{"agh sig missing", SchemeAGH, with(aghOK, HeaderAGHSignature), m("webhook signature header is required")},
		{"agh sig no prefix", SchemeAGH, with(aghOK, HeaderAGHSignature, strings.TrimPrefix(sig, "sha256=")), bad("invalid webhook signature header")},
		{"agh sig upper prefix", SchemeAGH, with(aghOK, HeaderAGHSignature, "SHA256="+strings.TrimPrefix(sig, "sha256=")), bad("invalid webhook signature header")},
		{"agh sig short", SchemeAGH, with(aghOK, HeaderAGHSignature, sig[:len(sig)-1]), bad("invalid webhook signature header")},
		{"agh sig long", SchemeAGH, with(aghOK, HeaderAGHSignature, sig+"0"), bad("invalid webhook signature header")},
		{"agh sig non-hex", SchemeAGH, with(aghOK, HeaderAGHSignature, sig[:len(sig)-1]+"g"), bad("invalid webhook signature header")},
		{"agh sig duplicated", SchemeAGH, with(aghOK, HeaderAGHSignature, sig, sig), bad("invalid webhook signature header")},
		// agh delivery id
		{"agh id missing", SchemeAGH, with(aghOK, HeaderAGHDeliveryID), m("webhook delivery id header is required")},
		{"agh id blank", SchemeAGH, with(aghOK, HeaderAGHDeliveryID, "   "), bad("invalid webhook delivery id")},
		{"agh id space inside", SchemeAGH, with(aghOK, HeaderAGHDeliveryID, "a b"), bad("invalid webhook delivery id")},
		{"agh id non-ascii", SchemeAGH, with(aghOK, HeaderAGHDeliveryID, "é"), bad("invalid webhook delivery id")},
		{"agh id 256", SchemeAGH, with(aghOK, HeaderAGHDeliveryID, strings.Repeat("a", 256)), bad("invalid webhook delivery id")},
		{"agh id duplicated", SchemeAGH, with(aghOK, HeaderAGHDeliveryID, "a", "b"), bad("invalid webhook delivery id")},
		// check order: first header in table order wins
		{"agh order", SchemeAGH, hdr(HeaderAGHSignature, "x"), m("webhook timestamp header is required")},
		{"agh order 2", SchemeAGH, hdr(HeaderAGHTimestamp, ts), m("webhook signature header is required")},
		{"agh other scheme headers ignored", SchemeAGH, hdr(ghOK...), m("webhook timestamp header is required")},
		// standard-webhooks
		{"std id missing", SchemeStandard, with(stdOK, HeaderStandardID), m("webhook-id header is required")},
		{"std id invalid", SchemeStandard, with(stdOK, HeaderStandardID, "a\x7fb"), bad("invalid webhook-id header")},
		{"std id duplicated", SchemeStandard, with(stdOK, HeaderStandardID, "a", "a"), bad("invalid webhook-id header")},
		{"std ts missing", SchemeStandard, with(stdOK, HeaderStandardTimestamp), m("webhook-timestamp header is required")},
		{"std ts rfc3339", SchemeStandard, with(stdOK, HeaderStandardTimestamp, "2026-01-01T00:00:00Z"), bad(`invalid webhook-timestamp header "2026-01-01T00:00:00Z"`)},
		{"std ts duplicated", SchemeStandard, with(stdOK, HeaderStandardTimestamp, "1", "2"), bad(`invalid webhook-timestamp header "1, 2"`)},
		{"std sig missing", SchemeStandard, with(stdOK, HeaderStandardSignature), m("webhook-signature header is required")},
		{"std sig empty", SchemeStandard, with(stdOK, HeaderStandardSignature, ""), bad("invalid webhook-signature header")},
		{"std sig no comma", SchemeStandard, with(stdOK, HeaderStandardSignature, "v1"), bad("invalid webhook-signature header")},
		{"std sig bad base64", SchemeStandard, with(stdOK, HeaderStandardSignature, "v1,@@@@ v1,"), bad("invalid webhook-signature header")},
		{"std sig no version", SchemeStandard, with(stdOK, HeaderStandardSignature, ",AAAA"), bad("invalid webhook-signature header")},
		{"std sig duplicated", SchemeStandard, with(stdOK, HeaderStandardSignature, exampleStdSig, exampleStdSig), bad("invalid webhook-signature header")},
		// github
		{"gh sig missing", SchemeGitHub, with(ghOK, HeaderGitHubSignature), m("X-Hub-Signature-256 header is required")},
		{"gh sig sha1", SchemeGitHub, with(ghOK, HeaderGitHubSignature, "sha1=0123456789012345678901234567890123456789"), bad("invalid X-Hub-Signature-256 header")},
		{"gh sig duplicated", SchemeGitHub, with(ghOK, HeaderGitHubSignature, exampleGitHubSig, exampleGitHubSig), bad("invalid X-Hub-Signature-256 header")},
		{"gh delivery missing", SchemeGitHub, with(ghOK, HeaderGitHubDelivery), m("X-GitHub-Delivery header is required")},
		{"gh delivery invalid", SchemeGitHub, with(ghOK, HeaderGitHubDelivery, ""), bad("invalid X-GitHub-Delivery header")},
		{"gh event missing", SchemeGitHub, with(ghOK, HeaderGitHubEvent), m("X-GitHub-Event header is required")},
		{"gh event upper", SchemeGitHub, with(ghOK, HeaderGitHubEvent, "Issues"), bad("invalid X-GitHub-Event header")},
		{"gh event empty", SchemeGitHub, with(ghOK, HeaderGitHubEvent, ""), bad("invalid X-GitHub-Event header")},
		{"gh event 65", SchemeGitHub, with(ghOK, HeaderGitHubEvent, strings.Repeat("a", 65)), bad("invalid X-GitHub-Event header")},
		{"gh event duplicated", SchemeGitHub, with(ghOK, HeaderGitHubEvent, "issues", "push"), bad("invalid X-GitHub-Event header")},
		// stripe
		{"stripe missing", SchemeStripe, http.Header{}, m("Stripe-Signature header is required")},
		{"stripe empty", SchemeStripe, hdr(HeaderStripeSignature, ""), bad("invalid Stripe-Signature header")},
		{"stripe no t", SchemeStripe, hdr(HeaderStripeSignature, v1), bad("invalid Stripe-Signature header")},
		{"stripe no v1", SchemeStripe, hdr(HeaderStripeSignature, "t=1767225600,v0="+exampleStripeV1), bad("invalid Stripe-Signature header")},
		{"stripe two t", SchemeStripe, hdr(HeaderStripeSignature, "t=1,t=2,"+v1), bad("invalid Stripe-Signature header")},
		{"stripe bad t", SchemeStripe, hdr(HeaderStripeSignature, "t=-1,"+v1), bad("invalid Stripe-Signature header")},
		{"stripe empty t", SchemeStripe, hdr(HeaderStripeSignature, "t=,"+v1), bad("invalid Stripe-Signature header")},
		{"stripe bad v1", SchemeStripe, hdr(HeaderStripeSignature, "t=1,v1=abc"), bad("invalid Stripe-Signature header")},
		{"stripe duplicated", SchemeStripe, hdr(HeaderStripeSignature, "t=1,"+v1, HeaderStripeSignature, "t=1,"+v1), bad("invalid Stripe-Signature header")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rej := ParseHeaders(tt.scheme, tt.h)
			if rej == nil {
				t.Fatalf("ParseHeaders accepted %v: %+v", tt.h, h)
			}
			if rej.Status != http.StatusBadRequest || rej.Code != CodeValidationFailed || rej.Reason != tt.want.reason || rej.Message != tt.want.msg {
				t.Errorf("rejection = %+v, want 400 %s %q", rej, tt.want.reason, tt.want.msg)
			}
			if rej.Error() != rej.Message {
				t.Errorf("Error() = %q", rej.Error())
			}
		})
	}
}

func TestParseHeadersAccepts(t *testing.T) {
	v1 := "v1=" + exampleStripeV1
	tests := []struct {
		name     string
		scheme   string
		h        http.Header
		ts       int64
		delivery string
		nsigs    int
	}{
		{"agh leading zeros", SchemeAGH, hdr(HeaderAGHTimestamp, "01767225600", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, "x"), exampleTS, "x", 1},
		{"agh zero", SchemeAGH, hdr(HeaderAGHTimestamp, "0", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, "x"), 0, "x", 1},
		{"agh 11 digits", SchemeAGH, hdr(HeaderAGHTimestamp, "99999999999", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, "x"), 99999999999, "x", 1},
		{"agh lowercase t z", SchemeAGH, hdr(HeaderAGHTimestamp, "2026-01-01t00:00:00.999999999999z", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, "x"), exampleTS, "x", 1},
		{"agh negative offset", SchemeAGH, hdr(HeaderAGHTimestamp, "2025-12-31T19:00:59.9-05:00", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, "x"), exampleTS + 59, "x", 1},
		{"agh pre-1970 floors", SchemeAGH, hdr(HeaderAGHTimestamp, "1969-12-31T23:59:59.5Z", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, "x"), -1, "x", 1},
		{"agh delivery trimmed", SchemeAGH, hdr(HeaderAGHTimestamp, "1", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, "\u00a0 id-1\t"), 1, "id-1", 1},
		{"agh delivery 255", SchemeAGH, hdr(HeaderAGHTimestamp, "1", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, strings.Repeat("~", 255)), 1, strings.Repeat("~", 255), 1},
		{"agh lowercase header names", SchemeAGH, http.Header{"x-agh-webhook-timestamp": {"1"}, "x-agh-webhook-signature": {exampleAGHSig}, "x-agh-webhook-delivery-id": {"d"}}, 1, "d", 1},
		{"std other versions ignored", SchemeStandard, hdr("webhook-id", "m", "webhook-timestamp", "5", "webhook-signature", "v1a,AAAA  v2,AAAA bogus v1,AAAA"), 5, "m", 1},
		{"std only other versions", SchemeStandard, hdr("webhook-id", "m", "webhook-timestamp", "5", "webhook-signature", "v1a,AAAA"), 5, "m", 0},
		{"stripe extras", SchemeStripe, hdr(HeaderStripeSignature, "t=7, v0=zz,"+v1+",junk,"+v1+",scheme=x"), 7, "", 2},
		{"stripe uppercase hex", SchemeStripe, hdr(HeaderStripeSignature, "t=7,v1="+strings.ToUpper(exampleStripeV1)), 7, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rej := ParseHeaders(tt.scheme, tt.h)
			if rej != nil {
				t.Fatalf("ParseHeaders: %+v", rej)
			}
			if h.Timestamp != tt.ts || !h.HasTimestamp || h.DeliveryID != tt.delivery || len(h.sigs) != tt.nsigs || h.Scheme != tt.scheme {
				t.Errorf("got %+v", h)
			}
		})
	}
}

func TestParseHeadersUnknownScheme(t *testing.T) {
	_, rej := ParseHeaders("hmac", http.Header{})
	if rej == nil || rej.Status != http.StatusInternalServerError || rej.Reason != ReasonInternal {
		t.Fatalf("rejection = %+v", rej)
	}
	h, rej := ParseHeaders("", hdr(HeaderAGHTimestamp, "1", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, "d"))
	if rej != nil || h.Scheme != SchemeAGH {
		t.Fatalf("empty scheme: %+v %+v", h, rej)
	}
}

func TestCheckFreshness(t *testing.T) {
	h := &Headers{Scheme: SchemeAGH, Timestamp: exampleTS, HasTimestamp: true}
	tests := []struct {
		offset time.Duration // now - ts
		fresh  bool
	}{
		{0, true},
		{300 * time.Second, true},
		{-300 * time.Second, true},
		{300*time.Second + 999*time.Millisecond, true}, // floor: 300
		{301 * time.Second, false},
		{-301 * time.Second, false},
		{-300*time.Second - 1*time.Millisecond, false},  // floor: -301
		{-299*time.Second - 999*time.Millisecond, true}, // floor: -300
		{24 * time.Hour, false},
	}
	for _, tt := range tests {
		rej := h.CheckFreshness(exampleTime.Add(tt.offset))
		if (rej == nil) != tt.fresh {
			t.Errorf("offset %v: rejection %+v, want fresh=%v", tt.offset, rej, tt.fresh)
		}
		if rej != nil && (rej.Status != 401 || rej.Code != CodeUnauthorized || rej.Reason != ReasonTimestampOutOfWindow || rej.Message != "automation: webhook timestamp outside freshness window") {
			t.Errorf("rejection = %+v", rej)
		}
	}
	gh := &Headers{Scheme: SchemeGitHub}
	if rej := gh.CheckFreshness(time.Unix(1<<40, 0)); rej != nil {
		t.Errorf("github freshness: %+v", rej)
	}
	if got := gh.EventTime(time.Date(2026, 1, 1, 1, 0, 0, 5e8, time.FixedZone("x", 3600))); FormatTime(got) != "2026-01-01T00:00:00.5Z" {
		t.Errorf("EventTime github = %v", got)
	}
	if got := FormatTime(h.EventTime(time.Time{})); got != "2026-01-01T00:00:00Z" {
		t.Errorf("EventTime agh = %v", got)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(exampleBody)
	cur, prev := []byte("current-secret"), []byte("previous-secret")
	stdCur, stdPrev := []byte(exampleStdSecret), []byte("whsec_"+strings.Repeat("A", 88)) // 64 zero bytes
	for _, scheme := range Schemes {
		t.Run(scheme, func(t *testing.T) {
			c, p := cur, prev
			if scheme == SchemeStandard {
				c, p = stdCur, stdPrev
			}
			for _, tt := range []struct {
				name    string
				signer  []byte
				secrets [][]byte
				idx     int
				ok      bool
			}{
				{"current", c, [][]byte{c, p}, 0, true},
				{"previous", p, [][]byte{c, p}, 1, true},
				{"previous absent", p, [][]byte{c}, -1, false},
				{"previous nil slot", p, [][]byte{c, nil}, -1, false},
				{"no secrets", c, nil, -1, false},
				{"empty secret", []byte{}, [][]byte{{}}, -1, false},
			} {
				hs := Sign(scheme, tt.signer, body, exampleTime, "dlv-1")
				hs.Set(HeaderGitHubEvent, "push")
				h, rej := ParseHeaders(scheme, hs)
				if rej != nil {
					t.Fatalf("%s: ParseHeaders(Sign) = %+v", tt.name, rej)
				}
				idx, ok := h.Verify(body, tt.secrets)
				if idx != tt.idx || ok != tt.ok {
					t.Errorf("%s: Verify = %d, %v; want %d, %v", tt.name, idx, ok, tt.idx, tt.ok)
				}
			}
		})
	}

	// Several candidate MACs: any v1 entry may match.
	good := Sign(SchemeStandard, stdCur, body, exampleTime, "m").Get(HeaderStandardSignature)
	h, rej := ParseHeaders(SchemeStandard, hdr("webhook-id", "m", "webhook-timestamp", "1767225600",
		"webhook-signature", "v1,AAAA v2,"+strings.TrimPrefix(good, "v1,")+" "+good))
	if rej != nil {
		t.Fatal(rej)
	}
	if _, ok := h.Verify(body, [][]byte{stdCur}); !ok {
		t.Error("standard-webhooks: second v1 entry not tried")
	}
	// A v2 entry carrying the right MAC is ignored.
	h, _ = ParseHeaders(SchemeStandard, hdr("webhook-id", "m", "webhook-timestamp", "1767225600", "webhook-signature", "v2,"+strings.TrimPrefix(good, "v1,")))
	if _, ok := h.Verify(body, [][]byte{stdCur}); ok {
		t.Error("standard-webhooks: v2 entry accepted")
	}
	// The webhook id and timestamp are signed.
	h, _ = ParseHeaders(SchemeStandard, hdr("webhook-id", "other", "webhook-timestamp", "1767225600", "webhook-signature", good))
	if _, ok := h.Verify(body, [][]byte{stdCur}); ok {
		t.Error("standard-webhooks: webhook-id not signed")
	}
	h, _ = ParseHeaders(SchemeStandard, hdr("webhook-id", "m", "webhook-timestamp", "01767225600", "webhook-signature", good))
	if _, ok := h.Verify(body, [][]byte{stdCur}); ok {
		t.Error("standard-webhooks: timestamp text not signed as received")
	}
	// stripe: any v1 matches; the key is the whole secret string.
	sv1 := strings.TrimPrefix(Sign(SchemeStripe, []byte(exampleStripeKey), body, exampleTime, "").Get(HeaderStripeSignature), "t=1767225600,")
	h, _ = ParseHeaders(SchemeStripe, hdr(HeaderStripeSignature, "t=1767225600,v1="+strings.Repeat("0", 64)+","+sv1))
	if _, ok := h.Verify(body, [][]byte{[]byte(exampleStripeKey)}); !ok {
		t.Error("stripe: second v1 not tried")
	}
	if _, ok := h.Verify(body, [][]byte{[]byte("example_stripe_secret")}); ok {
		t.Error("stripe: whsec_ prefix not part of the key")
	}
	// agh: the signed timestamp is the normalized decimal, whatever form was sent.
	h, _ = ParseHeaders(SchemeAGH, hdr(HeaderAGHTimestamp, "01767225600", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, "d"))
	if _, ok := h.Verify(body, [][]byte{[]byte(exampleSecret)}); !ok {
		t.Error("agh: leading zeros not normalized")
	}
	// A rejected timestamp never verifies with another timestamp's signature.
	h, _ = ParseHeaders(SchemeAGH, hdr(HeaderAGHTimestamp, "1767225601", HeaderAGHSignature, exampleAGHSig, HeaderAGHDeliveryID, "d"))
	if _, ok := h.Verify(body, [][]byte{[]byte(exampleSecret)}); ok {
		t.Error("agh: timestamp not signed")
	}
}

func TestSignatureInvalidAndTooLarge(t *testing.T) {
	if r := SignatureInvalid(); r.Status != 401 || r.Code != "unauthorized" || r.Reason != "signature_invalid" || r.Message != "automation: webhook signature invalid" {
		t.Errorf("SignatureInvalid = %+v", r)
	}
	if r := PayloadTooLarge(); r.Status != 413 || r.Code != "payload_too_large" || r.Reason != "payload_too_large" || r.Message != "request body too large" {
		t.Errorf("PayloadTooLarge = %+v", r)
	}
	var err error = SignatureInvalid()
	var rej *Rejection
	if !errors.As(err, &rej) {
		t.Error("Rejection does not work with errors.As")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

type countingReader struct {
	r    io.Reader
	read int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	return n, err
}

func TestReadBody(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxBody+100)
	tests := []struct {
		name     string
		size     int
		cl       int64
		n        int64
		tooLarge bool
	}{
		{"empty", 0, 0, 0, false},
		{"small", 66, 66, 66, false},
		{"unknown length", 1000, -1, 1000, false},
		{"exactly the limit", MaxBody, MaxBody, MaxBody, false},
		{"limit unknown length", MaxBody, -1, MaxBody, false},
		{"one over, unknown length", MaxBody + 1, -1, MaxBody + 1, true},
		{"far over, unknown length", MaxBody + 100, -1, MaxBody + 1, true},
		{"lying content length", MaxBody + 100, 10, MaxBody + 1, true},
		{"content length over", MaxBody + 100, MaxBody + 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(big[:tt.size])}
			body, n, tooLarge, err := ReadBody(cr, tt.cl)
			if err != nil || n != tt.n || tooLarge != tt.tooLarge || cr.read != tt.n {
				t.Fatalf("ReadBody = len %d, n %d, tooLarge %v, err %v (read %d); want n %d tooLarge %v", len(body), n, tooLarge, err, cr.read, tt.n, tt.tooLarge)
			}
			if !tooLarge && !bytes.Equal(body, big[:tt.size]) || tooLarge && body != nil {
				t.Errorf("body of %d bytes", len(body))
			}
		})
	}

	// http.MaxBytesReader hitting its limit is also "too large".
	rec := httptest.NewRecorder()
	mbr := http.MaxBytesReader(rec, io.NopCloser(bytes.NewReader(big)), 100)
	if _, _, tooLarge, err := ReadBody(mbr, -1); !tooLarge || err != nil {
		t.Errorf("MaxBytesReader: tooLarge %v err %v", tooLarge, err)
	}
	if _, _, tooLarge, err := ReadBody(failingReader{}, -1); tooLarge || err == nil {
		t.Errorf("failing reader: tooLarge %v err %v", tooLarge, err)
	}
}

func TestStripeEventID(t *testing.T) {
	tests := []struct {
		body string
		id   string
		ok   bool
	}{
		{`{"id":"evt_1","object":"event"}`, "evt_1", true},
		{`{"id":" evt_1 "}`, "evt_1", true},
		{`{"data":{"id":"evt_nested"}}`, "", false},
		{`{"ID":"evt_1"}`, "", false},
		{`{"Id":"evt_1"}`, "", false},
		{`{"id":42}`, "", false},
		{`{"id":null}`, "", false},
		{`{"id":""}`, "", false},
		{`{"id":"a b"}`, "", false},
		{`{"id":"` + strings.Repeat("a", 256) + `"}`, "", false},
		{`["evt_1"]`, "", false},
		{`"evt_1"`, "", false},
		{`null`, "", false},
		{``, "", false},
		{`{"id":"evt_1"`, "", false},
		{`{"id":"evt_1"} trailing`, "", false},
	}
	for _, tt := range tests {
		id, ok := StripeEventID([]byte(tt.body))
		if id != tt.id || ok != tt.ok {
			t.Errorf("StripeEventID(%s) = %q, %v; want %q, %v", tt.body, id, ok, tt.id, tt.ok)
		}
	}
}

func TestValidateStandardSecret(t *testing.T) {
	secret := func(n int) string { return "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xa5}, n)) }
	tests := []struct {
		name string
		s    string
		ok   bool
	}{
		{"spec example", exampleStdSecret, true},
		{"24 bytes", secret(24), true},
		{"64 bytes", secret(64), true},
		{"32 bytes padded", secret(32), true},
		{"23 bytes", secret(23), false},
		{"65 bytes", secret(65), false},
		{"no prefix", strings.TrimPrefix(secret(32), "whsec_"), false},
		{"upper prefix", "WHSEC_" + strings.TrimPrefix(secret(32), "whsec_"), false},
		{"prefix only", "whsec_", false},
		{"missing padding", strings.TrimRight(secret(32), "="), false},
		{"url alphabet", "whsec_" + strings.Repeat("-", 32), false},
		{"newline inside", "whsec_" + strings.Repeat("A", 16) + "\n" + strings.Repeat("A", 16), false},
		{"stripe style", exampleStripeKey, false},
	}
	for _, tt := range tests {
		err := ValidateStandardSecret(tt.s)
		if (err == nil) != tt.ok {
			t.Errorf("%s: ValidateStandardSecret(%q) = %v, want ok=%v", tt.name, tt.s, err, tt.ok)
		}
		if err != nil && err.Error() != `secret must be "whsec_" followed by base64 of 24 to 64 bytes` {
			t.Errorf("%s: error %q", tt.name, err)
		}
	}
	key, err := DecodeStandardSecret(exampleStdSecret)
	if err != nil || !bytes.Equal(key, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}) {
		t.Errorf("DecodeStandardSecret(example) = %x, %v", key, err)
	}
}

func TestNormalizeSpecExample(t *testing.T) {
	got := Normalize([]byte(exampleBody), Meta{
		Slug: "issues", WebhookID: "wbh_01kk6b0000000000000000000a",
		DeliveryID: exampleAGHDelivery, Timestamp: exampleTime,
	})
	const want = `{"action": "opened", "issue": {"number": 42, "title": "Crash on start"},
 "payload": "{\"action\":\"opened\",\"issue\":{\"number\":42,\"title\":\"Crash on start\"}}",
 "endpoint": "issues--wbh_01kk6b0000000000000000000a", "endpoint_slug": "issues",
 "webhook_id": "wbh_01kk6b0000000000000000000a", "timestamp": "2026-01-01T00:00:00Z",
 "delivery_id": "7f3c2a9e-0001"}`
	assertJSONEqual(t, got, want)
}

func assertJSONEqual(t *testing.T, got map[string]any, want string) {
	t.Helper()
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	var a, b any
	decodeNumbers(t, raw, &a)
	decodeNumbers(t, []byte(want), &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("Normalize =\n%s\nwant\n%s", raw, want)
	}
}

func decodeNumbers(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

func TestNormalize(t *testing.T) {
	meta := Meta{Slug: "s", WebhookID: "wbh_1", DeliveryID: "d1", Timestamp: time.Date(2026, 3, 8, 8, 0, 0, 250e6, time.FixedZone("", 3600))}
	const metaJSON = `"endpoint":"s--wbh_1","endpoint_slug":"s","webhook_id":"wbh_1","timestamp":"2026-03-08T07:00:00.25Z","delivery_id":"d1"`
	tests := []struct {
		name string
		body string
		meta Meta
		want string
	}{
		{"empty body", ``, meta, `{"payload":"",` + metaJSON + `}`},
		{"empty object", `{}`, meta, `{"payload":"{}",` + metaJSON + `}`},
		{"array", `[1,2]`, meta, `{"payload":"[1,2]",` + metaJSON + `}`},
		{"string", `"x"`, meta, `{"payload":"\"x\"",` + metaJSON + `}`},
		{"number", `12`, meta, `{"payload":"12",` + metaJSON + `}`},
		{"true", `true`, meta, `{"payload":"true",` + metaJSON + `}`},
		{"null", `null`, meta, `{"payload":"null",` + metaJSON + `}`},
		{"invalid json", `{"a":`, meta, `{"payload":"{\"a\":",` + metaJSON + `}`},
		{"two objects", `{"a":1}{"b":2}`, meta, `{"payload":"{\"a\":1}{\"b\":2}",` + metaJSON + `}`},
		{"trailing junk", `{"a":1} x`, meta, `{"payload":"{\"a\":1} x",` + metaJSON + `}`},
		{"whitespace around", " {\"a\":1}\n", meta, `{"a":1,"payload":" {\"a\":1}\n",` + metaJSON + `}`},
		{"own payload key", `{"payload":{"x":1},"k":"v"}`, meta, `{"payload":{"x":1},"k":"v",` + metaJSON + `}`},
		{"null payload key kept", `{"payload":null}`, meta, `{"payload":null,` + metaJSON + `}`},
		{"overwrites", `{"endpoint":"e","endpoint_slug":"x","webhook_id":"w","timestamp":1,"delivery_id":"z","github_event":"kept"}`, meta,
			`{"github_event":"kept","payload":"{\"endpoint\":\"e\",\"endpoint_slug\":\"x\",\"webhook_id\":\"w\",\"timestamp\":1,\"delivery_id\":\"z\",\"github_event\":\"kept\"}",` + metaJSON + `}`},
		{"github event overwrites", `{"github_event":"x","n":1}`, Meta{Endpoint: "s--wbh_1", Slug: "s", WebhookID: "wbh_1", DeliveryID: "d1", GitHubEvent: "issues", Timestamp: meta.Timestamp},
			`{"github_event":"issues","n":1,"payload":"{\"github_event\":\"x\",\"n\":1}",` + metaJSON + `}`},
		{"duplicate keys: last wins", `{"a":1,"a":2}`, meta, `{"a":2,"payload":"{\"a\":1,\"a\":2}",` + metaJSON + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertJSONEqual(t, Normalize([]byte(tt.body), tt.meta), tt.want)
		})
	}
}

func TestNormalizeNumbersKeepLiteralText(t *testing.T) {
	body := `{"big":12345678901234567890123,"f":1.50,"e":1E+2,"neg":-0,"nested":{"a":[1.0,{"b":2e-3}]}}`
	data := Normalize([]byte(body), Meta{})
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, lit := range []string{`"big":12345678901234567890123`, `"f":1.50`, `"e":1E+2`, `"neg":-0`, `"nested":{"a":[1.0,{"b":2e-3}]}`} {
		if !strings.Contains(string(raw), lit) {
			t.Errorf("%s missing from %s", lit, raw)
		}
	}
	if n, ok := data["f"].(json.Number); !ok || n.String() != "1.50" {
		t.Errorf("data[f] = %#v", data["f"])
	}
}

func TestNormalizeInvalidUTF8(t *testing.T) {
	body := []byte("{\"k\":\"a\xffb\",\"\xfe\":1}")
	data := Normalize(body, Meta{})
	if data["k"] != "a\uFFFDb" {
		t.Errorf("k = %q", data["k"])
	}
	if _, ok := data["\uFFFD"]; !ok {
		t.Errorf("invalid key not replaced: %v", data)
	}
	if p := data["payload"]; p != "{\"k\":\"a\uFFFDb\",\"\uFFFD\":1}" {
		t.Errorf("payload = %q", p)
	}
	data = Normalize([]byte("\xff\xfeab\xc3"), Meta{})
	if p := data["payload"]; p != "\uFFFD\uFFFDab\uFFFD" {
		t.Errorf("payload = %q", p)
	}
}

// TestStoredRoundTrip: the compact stored form rebuilds exactly the normalized data, whatever
// the body; bodies that are not valid UTF-8 have no compact form.
func TestStoredRoundTrip(t *testing.T) {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	meta := Meta{Endpoint: "issues--wbh_1", Slug: "issues", WebhookID: "wbh_1", DeliveryID: "d-1", Timestamp: ts}
	gh := meta
	gh.GitHubEvent = "issues"
	gh.Timestamp = time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.FixedZone("x", 3600))
	bodies := []string{
		`{"action":"opened","issue":{"number":42,"title":"Crash <on> & start"},"n":1.50e3}`,
		`{"payload":"own","endpoint":"overwritten","x":[1,"\u00e9",null,true]}`,
		``, `{}`, `[1,2]`, `"s"`, `null`, `{"a":1} trailing`, "  {\"a\" : \"\\u2028\"}\n", `not json`,
		"ctl \x01\x1f\t\r\n\"\\ \u2028 \x7f é 😀",
	}
	for _, b := range bodies {
		for _, m := range []Meta{meta, gh} {
			raw := Store([]byte(b), m)
			if raw == nil {
				t.Fatalf("%q: no stored form", b)
			}
			var st Stored
			if err := json.Unmarshal(raw, &st); err != nil {
				t.Fatal(err)
			}
			got, err := st.Data()
			if err != nil {
				t.Fatal(err)
			}
			want := Normalize([]byte(b), m)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if !bytes.Equal(gj, wj) {
				t.Fatalf("%q:\n got  %s\n want %s", b, gj, wj)
			}
		}
	}
	if Store([]byte("{\"a\":\"\xff\"}"), meta) != nil {
		t.Fatal("invalid UTF-8 body stored in compact form")
	}
}
