// Package automation holds agh's domain: jobs, triggers, runs, cursors and their rules. It knows
// nothing of HTTP, SQL or processes; the API, the stores and the engines all speak these types.
package automation

import "time"

// Scopes.
const (
	ScopeGlobal    = "global"
	ScopeWorkspace = "workspace"
)

// Sources of definitions.
const (
	SourceDynamic = "dynamic"
	SourceConfig  = "config"
)

// Schedule modes.
const (
	ModeCron  = "cron"
	ModeEvery = "every"
	ModeAt    = "at"
)

// Overlap policies (SPEC §7.3).
const (
	OverlapAllow          = "allow"
	OverlapSkip           = "skip"
	OverlapQueue          = "queue"
	OverlapCancelPrevious = "cancel_previous"
)

// Catch-up policies (SPEC §6.6).
const (
	CatchUpSkipMissed = "skip_missed"
	CatchUpRunOnce    = "run_once"
	CatchUpRunAll     = "run_all"
)

// Retry strategies.
const (
	RetryNone    = "none"
	RetryBackoff = "backoff"
)

// Run statuses (SPEC §5.1).
const (
	RunScheduled = "scheduled"
	RunRunning   = "running"
	RunDelegated = "delegated"
	RunCompleted = "completed"
	RunFailed    = "failed"
	RunCanceled  = "canceled"
)

// RunStatuses lists every run status in documentation order.
var RunStatuses = []string{RunScheduled, RunRunning, RunDelegated, RunCompleted, RunFailed, RunCanceled}

// Run origins.
const (
	OriginSchedule = "schedule"
	OriginManual   = "manual"
	OriginWebhook  = "webhook"
	OriginEvent    = "event"
)

// Run error codes (SPEC §5.4).
const (
	CodeValidation        = "validation"
	CodeSpawnFailed       = "spawn_failed"
	CodeAgentError        = "agent_error"
	CodeRefused           = "refused"
	CodeTimeout           = "timeout"
	CodeInterrupted       = "interrupted"
	CodeNodeLost          = "node_lost"
	CodeCanceled          = "canceled"
	CodeSuperseded        = "superseded"
	CodeDefinitionDeleted = "definition_deleted"
)

// Retryable reports whether a failed run with this error code may be retried (SPEC §5.4).
func Retryable(code string) bool {
	switch code {
	case CodeSpawnFailed, CodeAgentError, CodeRefused, CodeTimeout, CodeInterrupted, CodeNodeLost:
		return true
	}
	return false
}

// Terminal reports whether a run status is terminal.
func Terminal(status string) bool {
	switch status {
	case RunDelegated, RunCompleted, RunFailed, RunCanceled:
		return true
	}
	return false
}

// Slot ledger outcomes and skip reasons (SPEC §6.7).
const (
	OutcomeFired     = "fired"
	OutcomeCoalesced = "coalesced"
	OutcomeSkipped   = "skipped"

	ReasonMisfire   = "misfire"
	ReasonFireLimit = "fire_limit"
	ReasonOverlap   = "overlap"
	ReasonDisabled  = "disabled"
	ReasonPaused    = "paused"
)

// Schedule is a job's schedule as stored and echoed (SPEC §2.2). Strings are stored trimmed.
type Schedule struct {
	Mode     string
	Expr     string
	Interval string
	Time     string
	Timezone string
}

// Retry is a retry policy (SPEC §2.4).
type Retry struct {
	Strategy   string
	MaxRetries int
	BaseDelay  string
	MaxDelay   string
}

// FireLimit is a rolling-window fire limit (SPEC §2.4).
type FireLimit struct {
	Max    int
	Window string
}

// TaskOwner says who performs a delegated task.
type TaskOwner struct {
	Kind string // "human" | "agent"
	Ref  string
}

// TaskConfig makes a job delegate a task instead of running an agent (SPEC §2.5).
type TaskConfig struct {
	Title          string
	Description    string
	Owner          *TaskOwner
	NetworkChannel string
}

// Job is a scheduled definition (SPEC §2.1).
type Job struct {
	ID                  string
	Name                string
	Scope               string
	WorkspaceID         string
	AgentName           string
	Prompt              string
	Schedule            Schedule
	Task                *TaskConfig
	Enabled             bool
	Retry               Retry
	FireLimit           FireLimit
	OverlapPolicy       string
	CatchUpPolicy       string
	MisfireGraceSeconds int
	CatchUpWindow       string
	Source              string
	CreatedAt           time.Time
	UpdatedAt           time.Time

	// ConfigEnabled is the file's value of enabled for config-sourced jobs; Enabled differs
	// from it exactly when an API override is stored (SPEC §13.5).
	ConfigEnabled bool
	// Hash fingerprints a config job's file definition, so reconciliation can tell whether it
	// changed. Empty for dynamic jobs.
	ConfigHash string
}

// Cursor is the durable per-job scheduler state (SPEC §2.3, §6.1). Zero times mean "unset".
type Cursor struct {
	JobID                     string
	AccountedUntil            time.Time
	NextRunAt                 time.Time // zero when the job is not registered
	LastRunAt                 time.Time
	LastScheduledAt           time.Time
	LastFireID                string
	ConsecutiveResumeFailures int
	LastMisfireAt             time.Time
	MisfireCount              int
	UpdatedAt                 time.Time
	Timezone                  string
	AnchorAt                  time.Time
	// ScheduleKey identifies the schedule the cursor was computed for (mode, normalized
	// expression, parsed interval/time, effective zone); a different key is a schedule change.
	ScheduleKey string
}

// Registered reports whether the job is registered with the scheduler (has a next slot).
func (c *Cursor) Registered() bool { return !c.NextRunAt.IsZero() }

// LedgerEntry is one slot-ledger record (SPEC §2.9).
type LedgerEntry struct {
	Seq        int64 // insertion order, assigned by the store
	JobID      string
	SlotAt     time.Time
	LastSlotAt time.Time // equals SlotAt when Count == 1
	Count      int
	Outcome    string
	Reason     string
	RunID      string
	FireID     string
	Local      string
	DST        string
	RecordedAt time.Time
}

// Run is one attempt of a fire (SPEC §2.7).
type Run struct {
	ID              string
	JobID           string
	TriggerID       string
	Status          string
	Attempt         int
	FireID          string
	ScheduledAt     time.Time
	StartedAt       time.Time
	EndedAt         time.Time
	SessionID       string
	Error           string
	ErrorCode       string
	TaskID          string
	TaskRunID       string
	DeliveryError   string
	DeliveryErrorAt time.Time
	Origin          string
	RetryOf         string
	DispatchedAt    time.Time
	AgentName       string
	Scope           string
	WorkspaceID     string
	Depth           int
	DeliveryID      string
	EventID         string
	StopReason      string
	NodeID          string

	// Prompt is the stored job prompt (jobs); Envelope the stored activation envelope as JSON
	// (triggers). Neither is part of the wire representation.
	Prompt   string
	Envelope []byte
	// LeaseOwner and LeaseExpiresAt hold the run while it is running (SPEC §15.3).
	LeaseOwner     string
	LeaseExpiresAt time.Time
}

// DefinitionID returns the job or trigger id the run belongs to.
func (r *Run) DefinitionID() string {
	if r.JobID != "" {
		return r.JobID
	}
	return r.TriggerID
}

// Workspace is a registered directory (SPEC §12).
type Workspace struct {
	ID        string
	Path      string
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Delivery outcomes (SPEC §9.9).
const (
	DeliveryAccepted = "accepted"
	DeliveryFiltered = "filtered"
	DeliverySkipped  = "skipped"
	DeliveryRejected = "rejected"
)

// Delivery is one delivery-log record (SPEC §2.11).
type Delivery struct {
	ID              string
	TriggerID       string
	ReceivedAt      time.Time
	Source          string // "webhook" | "event"
	EventID         string
	EventKind       string
	DeliveryID      string
	SignatureScheme string
	StatusCode      int
	Outcome         string
	Reason          string
	RunIDs          []string
	Secret          string
	BodyBytes       int64
	RemoteAddr      string
	Depth           int
}

// ReplayClaim remembers that a webhook delivery id admitted runs (SPEC §9.7).
type ReplayClaim struct {
	TriggerID  string
	DeliveryID string
	RunIDs     []string
	CreatedAt  time.Time
}
