package webhook

import "net/http"

// Delivery-log reasons of the rejections produced by this package (SPEC §9.9).
const (
	ReasonMissingHeader        = "missing_header"
	ReasonMalformedHeader      = "malformed_header"
	ReasonTimestampOutOfWindow = "timestamp_out_of_window"
	ReasonPayloadTooLarge      = "payload_too_large"
	ReasonSignatureInvalid     = "signature_invalid"
	ReasonInternal             = "internal"
)

// Error codes of the rejections (the "code" field of the error body, SPEC §4.1).
const (
	CodeValidationFailed = "validation_failed"
	CodeUnauthorized     = "unauthorized"
	CodePayloadTooLarge  = "payload_too_large"
	CodeInternal         = "internal"
)

// Client messages of the non-400 rejections and of step 8 (SPEC §9.2).
const (
	MsgTimestampOutOfWindow = "automation: webhook timestamp outside freshness window"
	MsgPayloadTooLarge      = "request body too large"
	MsgSignatureInvalid     = "automation: webhook signature invalid"
	MsgStripeEventIDMissing = "stripe event id is missing from the body"
)

// Rejection describes a refused delivery: the HTTP status, the error code,
// the delivery-log reason and the client message. For 400s Message is the
// detail without the "automation validation error: " prefix, which the HTTP
// layer adds. A Rejection never contains secrets, expected signatures or
// signed strings.
type Rejection struct {
	Status  int    // HTTP status
	Code    string // error body "code"
	Reason  string // delivery-log reason
	Message string // client message (400: detail without prefix)
}

// Error returns the client message.
func (r *Rejection) Error() string { return r.Message }

func missing(msg string) *Rejection {
	return &Rejection{Status: http.StatusBadRequest, Code: CodeValidationFailed, Reason: ReasonMissingHeader, Message: msg}
}

func malformed(msg string) *Rejection {
	return &Rejection{Status: http.StatusBadRequest, Code: CodeValidationFailed, Reason: ReasonMalformedHeader, Message: msg}
}

// TimestampOutOfWindow is the step-5 rejection (401).
func TimestampOutOfWindow() *Rejection {
	return &Rejection{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Reason: ReasonTimestampOutOfWindow, Message: MsgTimestampOutOfWindow}
}

// PayloadTooLarge is the step-6 rejection (413).
func PayloadTooLarge() *Rejection {
	return &Rejection{Status: http.StatusRequestEntityTooLarge, Code: CodePayloadTooLarge, Reason: ReasonPayloadTooLarge, Message: MsgPayloadTooLarge}
}

// SignatureInvalid is the step-7 rejection (401).
func SignatureInvalid() *Rejection {
	return &Rejection{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Reason: ReasonSignatureInvalid, Message: MsgSignatureInvalid}
}

// StripeEventIDMissing is the step-8 rejection for stripe (400, logged as
// missing_header).
func StripeEventIDMissing() *Rejection {
	return missing(MsgStripeEventIDMissing)
}
