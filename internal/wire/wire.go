// Package wire defines the JSON shapes of the AGH Automation API (SPEC §2). The API encodes
// them; the client and the black-box tests decode them.
package wire

import (
	"time"

	"github.com/agh-dev/agh/internal/automation"
)

// Time formats t per SPEC §1.3, or "" for the zero time (omitted with omitempty).
func Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return automation.FormatTime(t)
}

// Schedule is §2.2.
type Schedule struct {
	Mode     string `json:"mode"`
	Expr     string `json:"expr,omitempty"`
	Interval string `json:"interval,omitempty"`
	Time     string `json:"time,omitempty"`
	Timezone string `json:"timezone,omitempty"`
}

// Retry is §2.4.
type Retry struct {
	Strategy   string `json:"strategy"`
	MaxRetries int    `json:"max_retries"`
	BaseDelay  string `json:"base_delay"`
	MaxDelay   string `json:"max_delay,omitempty"`
}

// FireLimit is §2.4.
type FireLimit struct {
	Max    int    `json:"max"`
	Window string `json:"window"`
}

// TaskOwner is the owner of a task.
type TaskOwner struct {
	Kind string `json:"kind"`
	Ref  string `json:"ref"`
}

// TaskConfig is §2.5.
type TaskConfig struct {
	Title          string     `json:"title,omitempty"`
	Description    string     `json:"description,omitempty"`
	Owner          *TaskOwner `json:"owner,omitempty"`
	NetworkChannel string     `json:"network_channel,omitempty"`
}

// Scheduler is §2.3.
type Scheduler struct {
	JobID                     string `json:"job_id"`
	Registered                bool   `json:"registered"`
	NextRunAt                 string `json:"next_run_at,omitempty"`
	LastRunAt                 string `json:"last_run_at,omitempty"`
	LastScheduledAt           string `json:"last_scheduled_at,omitempty"`
	LastFireID                string `json:"last_fire_id,omitempty"`
	CatchUpPolicy             string `json:"catch_up_policy"`
	MisfireGraceSeconds       int    `json:"misfire_grace_seconds"`
	ConsecutiveResumeFailures int    `json:"consecutive_resume_failures"`
	LastMisfireAt             string `json:"last_misfire_at,omitempty"`
	MisfireCount              int    `json:"misfire_count"`
	UpdatedAt                 string `json:"updated_at"`
	Timezone                  string `json:"timezone"`
	AccountedUntil            string `json:"accounted_until"`
	AnchorAt                  string `json:"anchor_at,omitempty"`
}

// Job is §2.1.
type Job struct {
	ID                  string      `json:"id"`
	Name                string      `json:"name"`
	Scope               string      `json:"scope"`
	WorkspaceID         string      `json:"workspace_id,omitempty"`
	AgentName           string      `json:"agent_name,omitempty"`
	Prompt              string      `json:"prompt,omitempty"`
	Schedule            Schedule    `json:"schedule"`
	Task                *TaskConfig `json:"task,omitempty"`
	Enabled             bool        `json:"enabled"`
	Retry               Retry       `json:"retry"`
	FireLimit           FireLimit   `json:"fire_limit"`
	OverlapPolicy       string      `json:"overlap_policy"`
	CatchUpPolicy       string      `json:"catch_up_policy"`
	MisfireGraceSeconds int         `json:"misfire_grace_seconds"`
	CatchUpWindow       string      `json:"catch_up_window"`
	Source              string      `json:"source"`
	CreatedAt           string      `json:"created_at"`
	UpdatedAt           string      `json:"updated_at"`
	NextRun             string      `json:"next_run,omitempty"`
	Scheduler           Scheduler   `json:"scheduler"`
}

// FromJob renders a job and its cursor. automationEnabled is automation.enabled.
func FromJob(j *automation.Job, c *automation.Cursor, automationEnabled bool) Job {
	w := Job{
		ID: j.ID, Name: j.Name, Scope: j.Scope, WorkspaceID: j.WorkspaceID, AgentName: j.AgentName,
		Prompt: j.Prompt,
		Schedule: Schedule{Mode: j.Schedule.Mode, Expr: j.Schedule.Expr, Interval: j.Schedule.Interval,
			Time: j.Schedule.Time, Timezone: j.Schedule.Timezone},
		Enabled: j.Enabled,
		Retry: Retry{Strategy: j.Retry.Strategy, MaxRetries: j.Retry.MaxRetries, BaseDelay: j.Retry.BaseDelay,
			MaxDelay: j.Retry.MaxDelay},
		FireLimit:           FireLimit{Max: j.FireLimit.Max, Window: j.FireLimit.Window},
		OverlapPolicy:       j.OverlapPolicy,
		CatchUpPolicy:       j.CatchUpPolicy,
		MisfireGraceSeconds: j.MisfireGraceSeconds,
		CatchUpWindow:       j.CatchUpWindow,
		Source:              j.Source,
		CreatedAt:           Time(j.CreatedAt),
		UpdatedAt:           Time(j.UpdatedAt),
	}
	if j.Task != nil {
		t := &TaskConfig{Title: j.Task.Title, Description: j.Task.Description, NetworkChannel: j.Task.NetworkChannel}
		if j.Task.Owner != nil {
			t.Owner = &TaskOwner{Kind: j.Task.Owner.Kind, Ref: j.Task.Owner.Ref}
		}
		w.Task = t
	}
	if c != nil {
		registered := automationEnabled && j.Enabled && !c.NextRunAt.IsZero()
		w.Scheduler = Scheduler{
			JobID: j.ID, Registered: registered,
			LastRunAt: Time(c.LastRunAt), LastScheduledAt: Time(c.LastScheduledAt), LastFireID: c.LastFireID,
			CatchUpPolicy: j.CatchUpPolicy, MisfireGraceSeconds: j.MisfireGraceSeconds,
			ConsecutiveResumeFailures: c.ConsecutiveResumeFailures, LastMisfireAt: Time(c.LastMisfireAt),
			MisfireCount: c.MisfireCount, UpdatedAt: Time(c.UpdatedAt), Timezone: c.Timezone,
			AccountedUntil: Time(c.AccountedUntil), AnchorAt: Time(c.AnchorAt),
		}
		if registered {
			w.Scheduler.NextRunAt = Time(c.NextRunAt)
			w.NextRun = w.Scheduler.NextRunAt
		}
	}
	return w
}

// Run is §2.7.
type Run struct {
	ID              string `json:"id"`
	JobID           string `json:"job_id,omitempty"`
	TriggerID       string `json:"trigger_id,omitempty"`
	Status          string `json:"status"`
	Attempt         int    `json:"attempt"`
	FireID          string `json:"fire_id"`
	ScheduledAt     string `json:"scheduled_at"`
	StartedAt       string `json:"started_at"`
	EndedAt         string `json:"ended_at,omitempty"`
	SessionID       string `json:"session_id,omitempty"`
	Error           string `json:"error,omitempty"`
	TaskID          string `json:"task_id,omitempty"`
	TaskRunID       string `json:"task_run_id,omitempty"`
	DeliveryError   string `json:"delivery_error,omitempty"`
	DeliveryErrorAt string `json:"delivery_error_at,omitempty"`
	Origin          string `json:"origin"`
	RetryOf         string `json:"retry_of,omitempty"`
	DispatchedAt    string `json:"dispatched_at,omitempty"`
	AgentName       string `json:"agent_name,omitempty"`
	Scope           string `json:"scope"`
	WorkspaceID     string `json:"workspace_id,omitempty"`
	Depth           int    `json:"depth"`
	DeliveryID      string `json:"delivery_id,omitempty"`
	EventID         string `json:"event_id,omitempty"`
	StopReason      string `json:"stop_reason,omitempty"`
	ErrorCode       string `json:"error_code,omitempty"`
	NodeID          string `json:"node_id,omitempty"`
}

// FromRun renders a run.
func FromRun(r *automation.Run) Run {
	return Run{
		ID: r.ID, JobID: r.JobID, TriggerID: r.TriggerID, Status: r.Status, Attempt: r.Attempt, FireID: r.FireID,
		ScheduledAt: Time(r.ScheduledAt), StartedAt: Time(r.StartedAt), EndedAt: Time(r.EndedAt),
		SessionID: r.SessionID, Error: r.Error, TaskID: r.TaskID, TaskRunID: r.TaskRunID,
		DeliveryError: r.DeliveryError, DeliveryErrorAt: Time(r.DeliveryErrorAt), Origin: r.Origin,
		RetryOf: r.RetryOf, DispatchedAt: Time(r.DispatchedAt), AgentName: r.AgentName, Scope: r.Scope,
		WorkspaceID: r.WorkspaceID, Depth: r.Depth, DeliveryID: r.DeliveryID, EventID: r.EventID,
		StopReason: r.StopReason, ErrorCode: r.ErrorCode, NodeID: r.NodeID,
	}
}

// LedgerEntry is §2.9.
type LedgerEntry struct {
	JobID      string `json:"job_id"`
	SlotAt     string `json:"slot_at"`
	LastSlotAt string `json:"last_slot_at,omitempty"`
	Count      int    `json:"count"`
	Outcome    string `json:"outcome"`
	Reason     string `json:"reason,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	FireID     string `json:"fire_id,omitempty"`
	Local      string `json:"local"`
	DST        string `json:"dst,omitempty"`
	RecordedAt string `json:"recorded_at"`
}

// FromLedger renders a ledger entry.
func FromLedger(e *automation.LedgerEntry) LedgerEntry {
	w := LedgerEntry{JobID: e.JobID, SlotAt: Time(e.SlotAt), Count: e.Count, Outcome: e.Outcome, Reason: e.Reason,
		RunID: e.RunID, FireID: e.FireID, Local: e.Local, DST: e.DST, RecordedAt: Time(e.RecordedAt)}
	if e.Count > 1 {
		w.LastSlotAt = Time(e.LastSlotAt)
	}
	return w
}

// PreviewItem is §2.10.
type PreviewItem struct {
	At           string `json:"at"`
	Local        string `json:"local"`
	NominalLocal string `json:"nominal_local,omitempty"`
	DST          string `json:"dst,omitempty"`
}

// Preview is the body of GET /jobs/{id}/preview.
type Preview struct {
	JobID    string        `json:"job_id"`
	Timezone string        `json:"timezone"`
	Enabled  bool          `json:"enabled"`
	Fires    []PreviewItem `json:"fires"`
}

// Workspace is §2.14.
type Workspace struct {
	ID        string `json:"id"`
	Path      string `json:"path"`
	Source    string `json:"source"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// Error is §2.17 plus the additive fields of §4.1.
type Error struct {
	Error     string   `json:"error"`
	Code      string   `json:"code"`
	RequestID string   `json:"request_id"`
	RunIDs    []string `json:"run_ids,omitempty"`
	RetryAt   string   `json:"retry_at,omitempty"`
}

// Status is GET /api/status (§16.1).
type Status struct {
	Version         string           `json:"version"`
	NodeID          string           `json:"node_id"`
	Store           string           `json:"store"`
	StartedAt       string           `json:"started_at"`
	LastReloadError string           `json:"last_reload_error,omitempty"`
	Automation      AutomationStatus `json:"automation"`
}

// AutomationStatus is the automation part of Status.
type AutomationStatus struct {
	Enabled           bool           `json:"enabled"`
	Paused            bool           `json:"paused"`
	SchedulerRunning  bool           `json:"scheduler_running"`
	Jobs              Counts         `json:"jobs"`
	Triggers          Counts         `json:"triggers"`
	Runs              map[string]int `json:"runs"`
	MaxConcurrentRuns int            `json:"max_concurrent_runs"`
	NextFire          string         `json:"next_fire,omitempty"`
}

// Counts is a total/enabled pair.
type Counts struct {
	Total   int `json:"total"`
	Enabled int `json:"enabled"`
}

// Trigger is §2.6.
type Trigger struct {
	ID                             string            `json:"id"`
	Name                           string            `json:"name"`
	Scope                          string            `json:"scope"`
	WorkspaceID                    string            `json:"workspace_id,omitempty"`
	AgentName                      string            `json:"agent_name"`
	Prompt                         string            `json:"prompt"`
	Event                          string            `json:"event"`
	Filter                         map[string]string `json:"filter,omitempty"`
	Enabled                        bool              `json:"enabled"`
	Retry                          Retry             `json:"retry"`
	FireLimit                      FireLimit         `json:"fire_limit"`
	OverlapPolicy                  string            `json:"overlap_policy"`
	EndpointSlug                   string            `json:"endpoint_slug,omitempty"`
	WebhookID                      string            `json:"webhook_id,omitempty"`
	SignatureScheme                string            `json:"signature_scheme,omitempty"`
	WebhookSecretPresent           bool              `json:"webhook_secret_present"`
	WebhookSecretHash              string            `json:"webhook_secret_hash,omitempty"`
	WebhookSecretPreviousHash      string            `json:"webhook_secret_previous_hash,omitempty"`
	WebhookSecretPreviousExpiresAt string            `json:"webhook_secret_previous_expires_at,omitempty"`
	WebhookPath                    string            `json:"webhook_path,omitempty"`
	Source                         string            `json:"source"`
	CreatedAt                      string            `json:"created_at"`
	UpdatedAt                      string            `json:"updated_at"`
}

// FromTrigger renders a trigger at now (an expired previous secret is not shown).
func FromTrigger(t *automation.Trigger, now time.Time) Trigger {
	w := Trigger{
		ID: t.ID, Name: t.Name, Scope: t.Scope, WorkspaceID: t.WorkspaceID, AgentName: t.AgentName,
		Prompt: t.Prompt, Event: t.Event, Filter: t.Filter, Enabled: t.Enabled,
		Retry: Retry{Strategy: t.Retry.Strategy, MaxRetries: t.Retry.MaxRetries, BaseDelay: t.Retry.BaseDelay,
			MaxDelay: t.Retry.MaxDelay},
		FireLimit:     FireLimit{Max: t.FireLimit.Max, Window: t.FireLimit.Window},
		OverlapPolicy: t.OverlapPolicy, EndpointSlug: t.EndpointSlug, WebhookID: t.WebhookID,
		SignatureScheme: t.SignatureScheme, WebhookSecretPresent: len(t.SecretSealed) > 0,
		WebhookSecretHash: t.SecretHash, WebhookPath: t.WebhookPath(), Source: t.Source,
		CreatedAt: Time(t.CreatedAt), UpdatedAt: Time(t.UpdatedAt),
	}
	if len(t.PreviousSealed) > 0 && now.Before(t.PreviousExpiresAt) {
		w.WebhookSecretPreviousHash = t.PreviousHash
		w.WebhookSecretPreviousExpiresAt = Time(t.PreviousExpiresAt)
	}
	return w
}

// Delivery is §2.11.
type Delivery struct {
	ID              string   `json:"id"`
	TriggerID       string   `json:"trigger_id"`
	ReceivedAt      string   `json:"received_at"`
	Source          string   `json:"source"`
	EventID         string   `json:"event_id,omitempty"`
	EventKind       string   `json:"event_kind,omitempty"`
	DeliveryID      string   `json:"delivery_id,omitempty"`
	SignatureScheme string   `json:"signature_scheme,omitempty"`
	StatusCode      int      `json:"status_code,omitempty"`
	Outcome         string   `json:"outcome"`
	Reason          string   `json:"reason,omitempty"`
	RunIDs          []string `json:"run_ids,omitempty"`
	Secret          string   `json:"secret,omitempty"`
	BodyBytes       *int64   `json:"body_bytes,omitempty"`
	RemoteAddr      string   `json:"remote_addr,omitempty"`
	Depth           *int     `json:"depth,omitempty"`
}

// FromDelivery renders a delivery record.
func FromDelivery(d *automation.Delivery) Delivery {
	w := Delivery{ID: d.ID, TriggerID: d.TriggerID, ReceivedAt: Time(d.ReceivedAt), Source: d.Source,
		EventID: d.EventID, EventKind: d.EventKind, DeliveryID: d.DeliveryID, SignatureScheme: d.SignatureScheme,
		StatusCode: d.StatusCode, Outcome: d.Outcome, Reason: d.Reason, RunIDs: d.RunIDs, Secret: d.Secret,
		RemoteAddr: d.RemoteAddr}
	if d.Source == "webhook" {
		n := d.BodyBytes
		w.BodyBytes = &n
	} else {
		dp := d.Depth
		w.Depth = &dp
	}
	return w
}

// SkippedTrigger is an entry of ActivationResult.Skipped.
type SkippedTrigger struct {
	TriggerID string `json:"trigger_id"`
	Reason    string `json:"reason"`
	RetryAt   string `json:"retry_at,omitempty"`
}

// ActivationResult is §2.8.
type ActivationResult struct {
	Matched    int              `json:"matched"`
	Runs       []Run            `json:"runs,omitempty"`
	EventID    string           `json:"event_id"`
	DeliveryID string           `json:"delivery_id,omitempty"`
	Skipped    []SkippedTrigger `json:"skipped,omitempty"`
}

// Task is §2.13.
type Task struct {
	ID             string    `json:"id"`
	JobID          string    `json:"job_id"`
	RunID          string    `json:"run_id"`
	Scope          string    `json:"scope"`
	WorkspaceID    string    `json:"workspace_id,omitempty"`
	Title          string    `json:"title"`
	Description    string    `json:"description,omitempty"`
	Owner          TaskOwner `json:"owner"`
	NetworkChannel string    `json:"network_channel,omitempty"`
	Status         string    `json:"status"`
	Result         string    `json:"result,omitempty"`
	Error          string    `json:"error,omitempty"`
	CreatedAt      string    `json:"created_at"`
	UpdatedAt      string    `json:"updated_at"`
	ClosedAt       string    `json:"closed_at,omitempty"`
	Runs           []TaskRun `json:"runs,omitempty"`
}

// TaskRun is §2.13.
type TaskRun struct {
	ID         string `json:"id"`
	TaskID     string `json:"task_id"`
	Status     string `json:"status"`
	AgentName  string `json:"agent_name,omitempty"`
	SessionID  string `json:"session_id,omitempty"`
	StartedAt  string `json:"started_at,omitempty"`
	EndedAt    string `json:"ended_at,omitempty"`
	StopReason string `json:"stop_reason,omitempty"`
	Error      string `json:"error,omitempty"`
}

// FromTask renders a task; withRuns adds its runs (an empty list when it has none).
func FromTask(t *automation.Task, withRuns bool) Task {
	w := Task{
		ID: t.ID, JobID: t.JobID, RunID: t.RunID, Scope: t.Scope, WorkspaceID: t.WorkspaceID, Title: t.Title,
		Description: t.Description, Owner: TaskOwner{Kind: t.Owner.Kind, Ref: t.Owner.Ref},
		NetworkChannel: t.NetworkChannel, Status: t.Status, Result: t.Result, Error: t.Error,
		CreatedAt: Time(t.CreatedAt), UpdatedAt: Time(t.UpdatedAt), ClosedAt: Time(t.ClosedAt),
	}
	if withRuns {
		w.Runs = []TaskRun{}
		for _, r := range t.Runs {
			w.Runs = append(w.Runs, FromTaskRun(r))
		}
	}
	return w
}

// FromTaskRun renders a task run.
func FromTaskRun(r *automation.TaskRun) TaskRun {
	return TaskRun{ID: r.ID, TaskID: r.TaskID, Status: r.Status, AgentName: r.AgentName, SessionID: r.SessionID,
		StartedAt: Time(r.StartedAt), EndedAt: Time(r.EndedAt), StopReason: r.StopReason, Error: r.Error}
}

// TaskNotification is the body of a channel notification (SPEC §11.5).
type TaskNotification struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	OccurredAt string `json:"occurred_at"`
	Channel    string `json:"channel"`
	Task       Task   `json:"task"`
}
