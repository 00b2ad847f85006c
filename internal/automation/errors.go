package automation

import (
	"fmt"
	"time"
)

// ValidationError is invalid input. Detail is the text after the "automation validation error: "
// (or "validation error: ") prefix; Code is "validation_failed" or "read_only".
type ValidationError struct {
	Detail string
	Code   string
}

func (e *ValidationError) Error() string { return "automation validation error: " + e.Detail }

// Invalid returns a validation_failed error with the formatted detail.
func Invalid(format string, args ...any) error {
	return &ValidationError{Detail: fmt.Sprintf(format, args...), Code: "validation_failed"}
}

// ReadOnly returns a read_only validation error.
func ReadOnly(detail string) error { return &ValidationError{Detail: detail, Code: "read_only"} }

// NotFoundError is an unknown id.
type NotFoundError struct{ Message string }

func (e *NotFoundError) Error() string { return e.Message }

// Common not-found errors.
var (
	ErrJobNotFound     = &NotFoundError{"automation: job not found"}
	ErrRunNotFound     = &NotFoundError{"automation: run not found"}
	ErrTriggerNotFound = &NotFoundError{"automation: trigger not found"}
)

// ConflictError is a state or uniqueness conflict (HTTP 409 conflict).
type ConflictError struct{ Message string }

func (e *ConflictError) Error() string { return e.Message }

// Common conflicts.
var (
	ErrJobNameTaken     = &ConflictError{"automation: job name already exists in scope"}
	ErrTriggerNameTaken = &ConflictError{"automation: trigger name already exists in scope"}
	ErrWebhookIDTaken   = &ConflictError{"automation: trigger webhook id already exists"}
)

// FireLimitedError refuses an activation because the fire limit is reached (SPEC §7.4).
type FireLimitedError struct {
	Count   int
	Max     int
	Window  time.Duration
	RetryAt time.Time
}

func (e *FireLimitedError) Error() string {
	return fmt.Sprintf("automation: fire limit reached: fires=%d limit=%d window=%s retry_at=%s",
		e.Count, e.Max, e.Window, FormatTime(e.RetryAt))
}

// OverlapError refuses a manual trigger under overlap policy "skip" (SPEC §7.3).
type OverlapError struct{ RunIDs []string }

func (e *OverlapError) Error() string {
	id := ""
	if len(e.RunIDs) > 0 {
		id = e.RunIDs[0]
	}
	return fmt.Sprintf("automation: overlap policy \"skip\": run %s is still active", id)
}

// ReplayError refuses a webhook delivery whose id already produced runs (SPEC §9.7).
type ReplayError struct{ RunIDs []string }

func (e *ReplayError) Error() string { return "automation: webhook delivery already processed" }
