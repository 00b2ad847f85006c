// Package store defines the durable state of agh behind one interface, with one conformance
// suite (storetest) that every implementation must pass: SQLite (embedded default) and
// PostgreSQL (several nodes).
//
// Correctness never rests on a process-local lock: every multi-row decision (claiming a slot,
// admitting a run under a fire limit, moving a run to running under the global cap) happens in
// one Write transaction that locks the rows it reads (PostgreSQL: SELECT … FOR UPDATE; SQLite:
// the single writer), and uniqueness is enforced by constraints that surface as *ConflictError.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/agh-dev/agh/internal/automation"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrUnavailable wraps failures to reach the database.
var ErrUnavailable = errors.New("store: unavailable")

// Unique constraints that callers map to domain conflicts.
const (
	UniqueJobName       = "job_name"       // (scope, workspace_id, name) among jobs
	UniqueFireAttempt   = "fire_attempt"   // (fire_id, attempt) among runs
	UniqueWorkspaceID   = "workspace_id"   // workspace id
	UniqueWorkspacePath = "workspace_path" // workspace path
	UniqueTriggerName   = "trigger_name"   // (scope, workspace_id, name) among triggers
	UniqueWebhookID     = "webhook_id"     // webhook id among triggers
	UniqueReplayClaim   = "replay_claim"   // (trigger_id, delivery_id)
)

// ConflictError reports a violated unique constraint.
type ConflictError struct{ Constraint string }

func (e *ConflictError) Error() string {
	return "store: unique constraint " + e.Constraint + " violated"
}

// IsConflict reports whether err is a violation of the named constraint.
func IsConflict(err error, constraint string) bool {
	var c *ConflictError
	return errors.As(err, &c) && c.Constraint == constraint
}

// Store is a durable agh state store.
type Store interface {
	Reader
	// Write runs fn in one transaction and commits it durably before returning nil. If fn
	// returns an error nothing it did is kept and that error is returned. Implementations may
	// commit several concurrent Write calls together (group commit); each fn is still isolated
	// (a failing fn does not affect the others). fn must not retain tx after returning and may
	// be the only writer while it runs, so it must not block on anything but tx.
	Write(ctx context.Context, fn func(tx Tx) error) error
	// Kind is "sqlite" or "postgres".
	Kind() string
	Close() error
}

// JobRecord is a job with its cursor.
type JobRecord struct {
	Job    *automation.Job
	Cursor *automation.Cursor
}

// JobSchedule is the part of a job the scheduler needs to place it in its heap, and
// configuration sync to find the jobs a change of automation.timezone moves.
type JobSchedule struct {
	ID       string
	Source   string
	Enabled  bool
	Mode     string // schedule.mode
	Timezone string // schedule.timezone (the job's own zone, "" when none)
	// Of the cursor: next_run_at (zero: none) and the zone its slots were computed in.
	NextRunAt      time.Time
	CursorTimezone string
}

// DefinitionCounts are the numbers of jobs and triggers, and how many of each are enabled.
type DefinitionCounts struct {
	Jobs, EnabledJobs, Triggers, EnabledTriggers int
}

// JobQuery filters and pages GET /api/automation/jobs. Results are ordered by (name, id).
type JobQuery struct {
	Scope       string
	WorkspaceID string
	Source      string
	Limit       int
	// AfterName/AfterID is the keyset position: only jobs strictly after it are returned.
	AfterName string
	AfterID   string
}

// RunQuery filters and pages run lists. Results are ordered by (started_at, id) descending.
type RunQuery struct {
	JobID     string
	TriggerID string
	Status    string
	FireID    string
	Since     time.Time // inclusive, zero = unbounded
	Until     time.Time // exclusive, zero = unbounded
	Limit     int
	// BeforeStartedAt/BeforeID is the keyset position: only runs strictly before it.
	BeforeStartedAt time.Time
	BeforeID        string
}

// LedgerQuery pages a job's slot ledger, newest first (slot_at desc, seq desc).
type LedgerQuery struct {
	JobID      string
	Limit      int
	BeforeSlot time.Time
	BeforeSeq  int64
}

// TriggerQuery filters and pages GET /api/automation/triggers, ordered by (name, id).
type TriggerQuery struct {
	Scope       string
	WorkspaceID string
	Source      string
	Event       string
	Limit       int
	AfterName   string
	AfterID     string
}

// DeliveryQuery pages a trigger's delivery log, newest first (received_at desc, id desc).
type DeliveryQuery struct {
	TriggerID        string
	Outcome          string
	Limit            int
	BeforeReceivedAt time.Time
	BeforeID         string
}

// TaskQuery filters and pages GET /api/tasks, newest first (created_at desc, id desc).
type TaskQuery struct {
	Status      string
	JobID       string
	OwnerKind   string
	WorkspaceID string
	Limit       int
	// BeforeCreatedAt/BeforeID is the keyset position: only tasks strictly before it.
	BeforeCreatedAt time.Time
	BeforeID        string
}

// Reader is the read side, usable inside and outside transactions.
type Reader interface {
	GetJob(ctx context.Context, id string) (JobRecord, error)
	ListJobs(ctx context.Context, q JobQuery) ([]JobRecord, error)
	// AllJobs returns every job with its cursor (scheduler boot and refresh).
	AllJobs(ctx context.Context) ([]JobRecord, error)
	// JobSchedules returns the id, enabled flag and next_run_at of every job, in no particular
	// order: what the scheduler needs at boot, without decoding whole jobs.
	JobSchedules(ctx context.Context) ([]JobSchedule, error)
	// CountDefinitions counts jobs and triggers (GET /api/status).
	CountDefinitions(ctx context.Context) (DefinitionCounts, error)
	GetRun(ctx context.Context, id string) (*automation.Run, error)
	ListRuns(ctx context.Context, q RunQuery) ([]*automation.Run, error)
	ListLedger(ctx context.Context, q LedgerQuery) ([]automation.LedgerEntry, error)
	GetWorkspace(ctx context.Context, id string) (*automation.Workspace, error)
	ListWorkspaces(ctx context.Context) ([]*automation.Workspace, error)
	// CountRunsByStatus counts runs per status (only statuses with at least one run appear).
	CountRunsByStatus(ctx context.Context) (map[string]int, error)
	// CountWorkspaceDefinitions counts jobs and triggers bound to a workspace.
	CountWorkspaceDefinitions(ctx context.Context, workspaceID string) (int, error)
	// GetTranscript returns a run's stored transcript document, or ErrNotFound.
	GetTranscript(ctx context.Context, runID string) ([]byte, error)
	GetTrigger(ctx context.Context, id string) (*automation.Trigger, error)
	ListTriggers(ctx context.Context, q TriggerQuery) ([]*automation.Trigger, error)
	AllTriggers(ctx context.Context) ([]*automation.Trigger, error)
	// TriggerByWebhookID finds the trigger owning a webhook id, or ErrNotFound.
	TriggerByWebhookID(ctx context.Context, webhookID string) (*automation.Trigger, error)
	// TriggersForEvent returns the enabled triggers whose event, scope and workspace equal
	// the arguments, ordered by id (SPEC §8.4).
	TriggersForEvent(ctx context.Context, kind, scope, workspaceID string) ([]*automation.Trigger, error)
	ListDeliveries(ctx context.Context, q DeliveryQuery) ([]*automation.Delivery, error)
	// GetReplayClaim returns the claim of (trigger, delivery id), or ErrNotFound.
	GetReplayClaim(ctx context.Context, triggerID, deliveryID string) (*automation.ReplayClaim, error)
	// ReplayClaimIDs returns the delivery ids of up to limit replay claims of a trigger, in no
	// particular order.
	ReplayClaimIDs(ctx context.Context, triggerID string, limit int) ([]string, error)

	// NextScheduledAt returns the earliest scheduled_at after `after` among scheduled runs
	// (the dispatcher sleeps until then).
	NextScheduledAt(ctx context.Context, after time.Time) (time.Time, bool, error)
	// NodeHeartbeat returns a node's last heartbeat, or ErrNotFound (SPEC §15.1).
	NodeHeartbeat(ctx context.Context, id string) (time.Time, error)
	// GetMeta reads a small named value (schema facts, the secret-key canary, …).
	GetMeta(ctx context.Context, key string) ([]byte, error)

	// GetTask returns a task with its runs (oldest first), or ErrNotFound.
	GetTask(ctx context.Context, id string) (*automation.Task, error)
	// ListTasks returns tasks matching q without their runs, newest first.
	ListTasks(ctx context.Context, q TaskQuery) ([]*automation.Task, error)
	// GetTaskRun returns a task run, or ErrNotFound.
	GetTaskRun(ctx context.Context, id string) (*automation.TaskRun, error)
	// TaskRunsByStatus returns the task runs in a status ordered by (created_at, id).
	TaskRunsByStatus(ctx context.Context, status string) ([]*automation.TaskRun, error)
	// PendingNotifications returns up to limit pending outbox entries in insertion order.
	PendingNotifications(ctx context.Context, limit int) ([]*automation.Notification, error)
	// GetNotification returns an outbox entry, or ErrNotFound.
	GetNotification(ctx context.Context, id string) (*automation.Notification, error)
}

// Tx is one write transaction.
type Tx interface {
	Reader

	// LockJob reads a job and its cursor and locks them until the end of the transaction
	// (PostgreSQL: FOR UPDATE). It returns ErrNotFound when the job does not exist.
	LockJob(id string) (JobRecord, error)
	// LockJobs reads and locks several jobs with their cursors like LockJob, with one statement
	// for all of them where the store can. The records are in the order of ids; a job that
	// does not exist is left out. A job whose rows another transaction holds is not waited for
	// (PostgreSQL: FOR UPDATE SKIP LOCKED — that transaction is reconciling or changing it): it
	// is left out too and its id is returned in busy, for the caller to retry later.
	LockJobs(ids []string) (recs []JobRecord, busy []string, err error)
	// InsertJob inserts a job and its cursor. Name clashes are *ConflictError{UniqueJobName}.
	InsertJob(job *automation.Job, cur *automation.Cursor) error
	// UpdateJob replaces the stored job definition (not its cursor).
	UpdateJob(job *automation.Job) error
	// DeleteJob deletes a job, its cursor and its ledger. Runs are kept.
	DeleteJob(id string) error
	// UpdateCursor replaces a job's cursor.
	UpdateCursor(cur *automation.Cursor) error

	// LastLedgerEntry returns the job's most recent ledger entry (by seq), or ErrNotFound.
	LastLedgerEntry(jobID string) (automation.LedgerEntry, error)
	// InsertLedgerEntry appends an entry; the store assigns Seq.
	InsertLedgerEntry(e *automation.LedgerEntry) error
	// UpdateLedgerEntry rewrites an entry identified by Seq (merging, SPEC §6.7).
	UpdateLedgerEntry(e *automation.LedgerEntry) error
	// PruneLedger keeps the newest keep entries of a job.
	PruneLedger(jobID string, keep int) error
	// PruneLedgers is PruneLedger for several jobs, in one statement.
	PruneLedgers(jobIDs []string, keep int) error

	// InsertRun inserts a run. A duplicate (fire_id, attempt) is *ConflictError{UniqueFireAttempt}.
	InsertRun(r *automation.Run) error
	// UpdateRun replaces a run row if its stored status equals fromStatus (compare-and-set);
	// it reports whether the row was updated.
	UpdateRun(r *automation.Run, fromStatus string) (bool, error)
	// ActiveRuns returns the scheduled and running runs of a definition (job or trigger id),
	// ordered by (scheduled_at, id).
	ActiveRuns(definitionID string) ([]*automation.Run, error)
	// CountFires counts the definition's runs that are not canceled with started_at in
	// (since, until], and returns the earliest such started_at (SPEC §7.4).
	CountFires(definitionID string, since, until time.Time) (int, time.Time, error)

	// CountRunning counts runs in status running (the global cap, SPEC §7.2).
	CountRunning() (int, error)
	// EligibleRuns returns up to limit scheduled runs with scheduled_at <= now, ordered by
	// (scheduled_at, id) (SPEC §7.2).
	EligibleRuns(now time.Time, limit int) ([]*automation.Run, error)
	// TriggerOverlapPolicy and TriggerRetryPolicy read a trigger's policies (ErrNotFound when
	// the trigger does not exist).
	TriggerOverlapPolicy(id string) (string, error)
	TriggerRetryPolicy(id string) (automation.Retry, error)

	// LockTrigger reads a trigger and locks it until the end of the transaction.
	LockTrigger(id string) (*automation.Trigger, error)
	// InsertTrigger inserts a trigger; clashes are UniqueTriggerName or UniqueWebhookID.
	InsertTrigger(t *automation.Trigger) error
	UpdateTrigger(t *automation.Trigger) error
	// DeleteTrigger deletes a trigger with its delivery log and replay claims. Runs are kept.
	DeleteTrigger(id string) error
	InsertDelivery(d *automation.Delivery) error
	// PruneDeliveries keeps the newest keep records of a trigger.
	PruneDeliveries(triggerID string, keep int) error
	// InsertReplayClaim records a claim; an existing one is *ConflictError{UniqueReplayClaim}.
	InsertReplayClaim(c *automation.ReplayClaim) error
	DeleteReplayClaim(triggerID, deliveryID string) error
	DeleteReplayClaims(triggerID string) error
	// PruneReplayClaims deletes claims created before the instant.
	PruneReplayClaims(before time.Time) error

	// RenewLeases sets lease_expires_at = until on the owner's running runs (SPEC §15.3).
	RenewLeases(owner string, until time.Time) (int, error)
	// ExpiredRuns returns up to limit running runs whose lease expired before now.
	ExpiredRuns(now time.Time, limit int) ([]*automation.Run, error)
	// HeartbeatNode records a node's heartbeat.
	HeartbeatNode(id string, now, startedAt time.Time) error

	InsertWorkspace(w *automation.Workspace) error
	UpdateWorkspace(w *automation.Workspace) error
	DeleteWorkspace(id string) error

	// PutTranscript stores (replaces) a run's transcript document.
	PutTranscript(runID string, doc []byte) error

	SetMeta(key string, value []byte) error
	// DeleteMeta removes a named value; an absent key is not an error.
	DeleteMeta(key string) error

	// InsertTask inserts a task (without its runs).
	InsertTask(t *automation.Task) error
	// UpdateTask replaces a task row if its stored status equals fromStatus (compare-and-set);
	// it reports whether the row was updated. A missing task is (false, ErrNotFound).
	UpdateTask(t *automation.Task, fromStatus string) (bool, error)
	// InsertTaskRun inserts a task run.
	InsertTaskRun(r *automation.TaskRun) error
	// UpdateTaskRun replaces a task run if its stored status equals fromStatus (compare-and-set).
	UpdateTaskRun(r *automation.TaskRun, fromStatus string) (bool, error)
	// CountRunningTaskRuns counts task runs in status running (they share the global cap).
	CountRunningTaskRuns() (int, error)
	// EligibleTaskRuns returns up to limit queued agent-owned task runs (AgentName set),
	// ordered by (created_at, id) (SPEC §7.2).
	EligibleTaskRuns(limit int) ([]*automation.TaskRun, error)
	// RenewTaskRunLeases sets lease_expires_at = until on the owner's running task runs.
	RenewTaskRunLeases(owner string, until time.Time) (int, error)
	// ExpiredTaskRuns returns up to limit running task runs whose lease expired before now.
	ExpiredTaskRuns(now time.Time, limit int) ([]*automation.TaskRun, error)
	// InsertNotification appends an outbox entry; the store assigns Seq.
	InsertNotification(n *automation.Notification) error
	// ClaimNotification moves a pending entry's next_attempt_at to until if it is still pending
	// with the given attempts and next_attempt_at (compare-and-set), so that one sender makes
	// each attempt; it reports whether it did.
	ClaimNotification(id string, attempts int, nextAttemptAt, until time.Time) (bool, error)
	// UpdateNotification replaces an outbox entry's state (status, attempts, next attempt,
	// last error, updated_at); ErrNotFound if absent.
	UpdateNotification(n *automation.Notification) error
}

// Change is a notification that a row changed, sent between nodes sharing a store (ids only,
// SPEC §15.4).
type Change struct {
	Node   string `json:"n"`           // the node that made the change
	Entity string `json:"e"`           // "job", "trigger", "run", "task"
	ID     string `json:"i"`           // the row id
	Op     string `json:"o,omitempty"` // "created", "updated", "deleted"
}

// ChangeFeed is implemented by stores that several nodes share (PostgreSQL: LISTEN/NOTIFY on
// the channel agh_changes). Delivery is best effort: nodes also re-read periodically, so a lost
// notification delays but never loses work.
type ChangeFeed interface {
	PublishChange(ctx context.Context, c Change) error
	// ListenChanges calls fn for every change published by any node until ctx ends.
	ListenChanges(ctx context.Context, fn func(Change)) error
}
