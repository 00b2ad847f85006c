// Package tasks implements task delegation (SPEC §11): the admission of task-backed job fires,
// the task state changes shared by the API and the dispatcher, and the channel notification
// outbox with its sender.
package tasks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/wire"
)

// Delegate admits a task-backed fire in tx (SPEC §11.1): it inserts run directly in status
// delegated (with task_id, task_run_id and ended_at = started_at), the task in status open, its
// task run in status queued and, when the task names a channel, the task.created notification.
// run must be a fresh attempt-1 run of job as built by the scheduler or the manual trigger.
func Delegate(tx store.Tx, job *automation.Job, run *automation.Run) error {
	if job.Task == nil {
		return fmt.Errorf("tasks: job %s has no task", job.ID)
	}
	now := run.StartedAt.UTC()
	task := NewTask(job, run, now)
	tr := &automation.TaskRun{
		ID: automation.NewID(automation.PrefixTaskRun, now), TaskID: task.ID,
		Status: automation.TaskRunQueued, CreatedAt: now,
	}
	if task.Owner.Kind == automation.OwnerAgent {
		tr.AgentName = task.Owner.Ref
	}
	run.Status = automation.RunDelegated
	run.TaskID, run.TaskRunID = task.ID, tr.ID
	run.EndedAt = run.StartedAt
	if err := tx.InsertRun(run); err != nil {
		return err
	}
	if err := tx.InsertTask(task); err != nil {
		return err
	}
	if err := tx.InsertTaskRun(tr); err != nil {
		return err
	}
	task.Runs = []*automation.TaskRun{tr}
	return Enqueue(tx, task, automation.NotifyTaskCreated, now)
}

// NewTask resolves the content of the task a fire of job creates (SPEC §11.2).
func NewTask(job *automation.Job, run *automation.Run, now time.Time) *automation.Task {
	tc := job.Task
	owner := automation.TaskOwner{Kind: automation.OwnerHuman}
	if tc.Owner != nil {
		owner = *tc.Owner
	}
	if owner.Kind == "" {
		owner.Kind = automation.OwnerHuman
	}
	if owner.Kind == automation.OwnerAgent && owner.Ref == "" {
		owner.Ref = job.AgentName
	}
	title := strings.TrimSpace(tc.Title)
	if title == "" {
		title = job.Name
	}
	desc := tc.Description
	if strings.TrimSpace(desc) == "" {
		desc = job.Prompt
	}
	return &automation.Task{
		ID: automation.NewID(automation.PrefixTask, now), JobID: job.ID, RunID: run.ID, Scope: job.Scope,
		WorkspaceID: job.WorkspaceID, Title: title, Description: desc, Owner: owner,
		NetworkChannel: tc.NetworkChannel, Status: automation.TaskOpen, CreatedAt: now, UpdatedAt: now,
	}
}

// Close moves a task and its task run to final states in tx with compare-and-set on both
// (fromTask, fromRun) and enqueues the task.ended notification. The caller sets the new
// statuses, texts and end times; Close sets ClosedAt and UpdatedAt of the task to now. It
// reports false (changing nothing) when the task run was no longer in fromRun.
func Close(tx store.Tx, task *automation.Task, fromTask string, tr *automation.TaskRun, fromRun string, now time.Time) (bool, error) {
	if tr != nil {
		ok, err := tx.UpdateTaskRun(tr, fromRun)
		if err != nil || !ok {
			return false, err
		}
	}
	task.ClosedAt, task.UpdatedAt = now, now
	ok, err := tx.UpdateTask(task, fromTask)
	if err != nil {
		return false, err
	}
	if !ok {
		// The task run moved but its task did not: refuse the whole transaction.
		return false, fmt.Errorf("tasks: task %s is no longer %q", task.ID, fromTask)
	}
	return true, Enqueue(tx, task, automation.NotifyTaskEnded, now)
}

// Enqueue writes a notification about task to the outbox when the task names a channel.
// The body is fixed now; every delivery attempt sends it unchanged.
func Enqueue(tx store.Tx, task *automation.Task, typ string, now time.Time) error {
	if task.NetworkChannel == "" {
		return nil
	}
	id := automation.NewID(automation.PrefixEvent, now)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(wire.TaskNotification{Type: typ, ID: id, OccurredAt: wire.Time(now),
		Channel: task.NetworkChannel, Task: wire.FromTask(task, false)})
	if err != nil {
		return err
	}
	return tx.InsertNotification(&automation.Notification{
		ID: id, Channel: task.NetworkChannel, Type: typ, TaskID: task.ID, RunID: task.RunID,
		Body: bytes.TrimRight(buf.Bytes(), "\n"), Status: automation.NotificationPending,
		NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
	})
}
