package automation

import "time"

// Task statuses (SPEC §11.3).
const (
	TaskOpen     = "open"
	TaskRunning  = "running"
	TaskDone     = "done"
	TaskFailed   = "failed"
	TaskCanceled = "canceled"
)

// TaskStatuses lists every task status in documentation order.
var TaskStatuses = []string{TaskOpen, TaskRunning, TaskDone, TaskFailed, TaskCanceled}

// Task run statuses (SPEC §2.13).
const (
	TaskRunQueued    = "queued"
	TaskRunRunning   = "running"
	TaskRunCompleted = "completed"
	TaskRunFailed    = "failed"
	TaskRunCanceled  = "canceled"
)

// Task owner kinds.
const (
	OwnerHuman = "human"
	OwnerAgent = "agent"
)

// Notification types and states (SPEC §11.5).
const (
	NotifyTaskCreated = "task.created"
	NotifyTaskEnded   = "task.ended"

	NotificationPending   = "pending"
	NotificationDelivered = "delivered"
	NotificationAbandoned = "abandoned"
)

// MaxTaskResultBytes bounds the result text of POST /api/tasks/{id}/complete (SPEC §3.8).
const MaxTaskResultBytes = 65536

// ErrTaskNotFound is an unknown task id.
var ErrTaskNotFound = &NotFoundError{Message: "task not found"}

// TaskClosed reports whether a task status is final.
func TaskClosed(status string) bool {
	return status == TaskDone || status == TaskFailed || status == TaskCanceled
}

// Task is a unit of work delegated by a task-backed job fire (SPEC §2.13, §11).
type Task struct {
	ID             string
	JobID          string
	RunID          string // the delegated automation run
	Scope          string
	WorkspaceID    string
	Title          string
	Description    string
	Owner          TaskOwner
	NetworkChannel string
	Status         string
	Result         string
	Error          string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ClosedAt       time.Time
	// Runs are the task's runs, oldest first (filled by GetTask only).
	Runs []*TaskRun
}

// TaskRun is one execution of a task (SPEC §2.13). Task runs are never retried.
type TaskRun struct {
	ID        string
	TaskID    string
	Status    string
	AgentName string // set for agent owners
	SessionID string
	// CreatedAt is the creation instant: agent-owned queued task runs are eligible from it and
	// start in (CreatedAt, ID) order with the runs (SPEC §7.2). Not part of the wire shape.
	CreatedAt  time.Time
	StartedAt  time.Time // when it entered running
	EndedAt    time.Time
	StopReason string
	Error      string
	ErrorCode  string // class of Error (SPEC §5.4); not part of the wire shape
	NodeID     string
	// LeaseOwner and LeaseExpiresAt hold the task run while it is running (SPEC §15.3).
	LeaseOwner     string
	LeaseExpiresAt time.Time
}

// Notification is one outbox entry: a channel notification about a task (SPEC §11.5).
type Notification struct {
	ID      string // evt_…, the delivery id on every attempt
	Seq     int64  // insertion order, assigned by the store
	Channel string
	Type    string // task.created | task.ended
	TaskID  string
	RunID   string // the delegated run, which gets delivery_error when abandoned
	Body    []byte // the JSON document sent on every attempt
	Status  string // pending | delivered | abandoned
	// Attempts is the number of attempts made so far; NextAttemptAt is when the next one is due.
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}
