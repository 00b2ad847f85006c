package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/agent"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/tasks"
)

// Agent-owned task runs (SPEC §11.3) share the global cap and the start order with runs
// (§7.2): queued ones are eligible from their creation instant.

// candidate is an eligible run or task run.
type candidate struct {
	at   time.Time
	id   string
	run  *automation.Run
	trun *automation.TaskRun
}

// merge interleaves eligible runs (by scheduled_at, id) and task runs (by creation instant,
// id), both already sorted, in ascending (instant, id) order.
func merge(runs []*automation.Run, truns []*automation.TaskRun) []candidate {
	out := make([]candidate, 0, len(runs)+len(truns))
	i, j := 0, 0
	for i < len(runs) || j < len(truns) {
		takeRun := j >= len(truns)
		if i < len(runs) && j < len(truns) {
			r, t := runs[i], truns[j]
			takeRun = r.ScheduledAt.Before(t.CreatedAt) || (r.ScheduledAt.Equal(t.CreatedAt) && r.ID < t.ID)
		}
		if takeRun {
			out = append(out, candidate{at: runs[i].ScheduledAt, id: runs[i].ID, run: runs[i]})
			i++
		} else {
			out = append(out, candidate{at: truns[j].CreatedAt, id: truns[j].ID, trun: truns[j]})
			j++
		}
	}
	return out
}

// taskItem is a task run being started or finished, with its task and delegated run.
type taskItem struct {
	task *automation.Task
	trun *automation.TaskRun
	drun *automation.Run
}

// claimTask validates a queued task run and moves it (and its task) to running in tx. It
// returns the item and true when started, the item and false when it failed validation (task
// run and task failed), or nil when there is nothing to do.
func (d *Dispatcher) claimTask(tx store.Tx, tr *automation.TaskRun, now time.Time) (*taskItem, bool, error) {
	task, err := tx.GetTask(context.Background(), tr.TaskID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	if task.Status != automation.TaskOpen {
		return nil, false, nil
	}
	drun, err := tx.GetRun(context.Background(), task.RunID)
	if err != nil {
		return nil, false, fmt.Errorf("delegated run of task %s: %w", task.ID, err)
	}
	c, tc := *tr, *task
	if msg := d.validateTask(tx, &tc, tr); msg != "" {
		c.Status, c.EndedAt, c.Error, c.ErrorCode = automation.TaskRunFailed, now, msg, automation.CodeValidation
		tc.Status, tc.Error = automation.TaskFailed, msg
		ok, err := tasks.Close(tx, &tc, automation.TaskOpen, &c, automation.TaskRunQueued, now)
		if err != nil || !ok {
			return nil, false, err
		}
		tc.Runs = []*automation.TaskRun{&c}
		return &taskItem{task: &tc, trun: &c, drun: drun}, false, nil
	}
	c.Status, c.StartedAt, c.NodeID = automation.TaskRunRunning, now, d.o.NodeID
	c.LeaseOwner, c.LeaseExpiresAt = d.o.NodeID, now.Add(LeaseTTL)
	ok, err := tx.UpdateTaskRun(&c, automation.TaskRunQueued)
	if err != nil || !ok {
		return nil, false, err
	}
	tc.Status, tc.UpdatedAt = automation.TaskRunning, now
	if ok, err := tx.UpdateTask(&tc, automation.TaskOpen); err != nil {
		return nil, false, err
	} else if !ok {
		return nil, false, fmt.Errorf("task %s is no longer open", task.ID)
	}
	tc.Runs = []*automation.TaskRun{&c}
	return &taskItem{task: &tc, trun: &c, drun: drun}, true, nil
}

// validateTask runs the pre-start checks of SPEC §7.6 for a task run; "" means valid.
func (d *Dispatcher) validateTask(tx store.Reader, task *automation.Task, tr *automation.TaskRun) string {
	cfg := d.o.Config()
	if _, ok := cfg.Agents[tr.AgentName]; !ok {
		return fmt.Sprintf("agent %q is not configured", tr.AgentName)
	}
	if _, msg := d.scopeDir(tx, task.Scope, task.WorkspaceID); msg != "" {
		return msg
	}
	prompt := strings.TrimSpace(task.Description)
	if prompt == "" {
		return "rendered prompt is empty"
	}
	if len(prompt) > automation.MaxRenderedPrompt {
		return fmt.Sprintf("rendered prompt exceeds %d bytes", automation.MaxRenderedPrompt)
	}
	return ""
}

// executeTask runs the agent of a started task run: the agent owner.ref, the task description
// as prompt, the transcript stored under the task run id.
func (d *Dispatcher) executeTask(ctx context.Context, it *taskItem) {
	if ctx.Err() != nil {
		// Canceled before it started: no process (the row is already terminal).
		d.recordTask(it, agent.Outcome{Status: agent.StatusCanceled, ErrorCode: agent.CodeCanceled}, "")
		return
	}
	cfg := d.o.Config()
	ac, ok := cfg.Agents[it.trun.AgentName]
	if !ok {
		d.recordTask(it, agent.Outcome{Status: automation.RunFailed, Error: fmt.Sprintf("agent %q is not configured", it.trun.AgentName), ErrorCode: automation.CodeValidation}, "")
		return
	}
	dir, msg := d.scopeDir(d.o.Store, it.task.Scope, it.task.WorkspaceID)
	if msg != "" {
		d.recordTask(it, agent.Outcome{Status: automation.RunFailed, Error: msg, ErrorCode: automation.CodeValidation}, ac.Driver)
		return
	}
	env := d.environ(cfg, ac, it.drun, dir, map[string]string{"AGH_TASK_ID": it.task.ID, "AGH_TASK_RUN_ID": it.trun.ID})
	out, end := d.runAgent(ctx, session{
		ac: ac, prompt: strings.TrimSpace(it.task.Description), dir: dir, env: env,
		transcriptID: it.trun.ID, runID: it.drun.ID, agentName: it.trun.AgentName,
		onSession: func(id string, pid int) { d.setTaskSession(it, id, ac.Driver, pid) },
	})
	d.writeAlone(end)
	d.recordTask(it, out, ac.Driver)
}

func (d *Dispatcher) setTaskSession(it *taskItem, id, driver string, pid int) {
	var updated *automation.TaskRun
	_ = d.o.Store.Write(context.Background(), func(tx store.Tx) error {
		updated = nil
		if err := rememberPIDIn(tx, it.trun.ID, pid); err != nil {
			return err
		}
		cur, err := tx.GetTaskRun(context.Background(), it.trun.ID)
		if err != nil {
			return err
		}
		if cur.Status != automation.TaskRunRunning && cur.Status != automation.TaskRunCanceled {
			return nil
		}
		c := *cur
		c.SessionID = id
		ok, err := tx.UpdateTaskRun(&c, cur.Status)
		if ok {
			updated = &c
		}
		return err
	})
	if updated != nil {
		d.o.Hooks.TaskSessionStarted(it.task, updated, it.drun, driver)
	}
}

// recordTask stores the outcome of a started task run.
func (d *Dispatcher) recordTask(it *taskItem, out agent.Outcome, driver string) {
	d.mu.Lock()
	lost := d.active[it.trun.ID] != nil && d.active[it.trun.ID].lost
	d.mu.Unlock()
	if lost {
		return // the lease was lost: a live node records the outcome (node lost)
	}
	done, err := d.finishTask(context.Background(), it.trun.ID, out, d.o.Clock.Now().UTC())
	if err != nil {
		d.o.Log.Error("record task run outcome failed", "component", "dispatcher", "task_run_id", it.trun.ID, "err", err)
		return
	}
	if done == nil {
		return
	}
	d.o.Hooks.TaskRunFinished(done.task, done.trun, done.drun, driver)
	d.o.Log.Info("task run finished", "component", "dispatcher", "task_id", done.task.ID, "task_run_id", done.trun.ID,
		"status", done.trun.Status)
}

// finishTask moves a running task run and its task to their final states in one transaction
// (SPEC §11.3): success → completed/done; any failure → failed/failed with the error copied
// to the task. A task run canceled meanwhile keeps its status; its session id is still
// recorded, and it is returned when its session had been announced (for session.stopped).
func (d *Dispatcher) finishTask(ctx context.Context, id string, out agent.Outcome, now time.Time) (*taskItem, error) {
	var done *taskItem
	err := d.o.Store.Write(ctx, func(tx store.Tx) error {
		done = nil
		cur, err := tx.GetTaskRun(ctx, id)
		if err != nil {
			return err
		}
		c := *cur
		if out.SessionID != "" && c.SessionID == "" {
			c.SessionID = out.SessionID
		}
		if cur.Status != automation.TaskRunRunning {
			if cur.Status != automation.TaskRunCanceled {
				return nil
			}
			if c.SessionID != cur.SessionID {
				if _, err := tx.UpdateTaskRun(&c, cur.Status); err != nil {
					return err
				}
			}
			if c.SessionID == "" {
				return nil
			}
			task, err := tx.GetTask(ctx, c.TaskID)
			if err != nil {
				return err
			}
			drun, err := tx.GetRun(ctx, task.RunID)
			if err != nil {
				return err
			}
			done = &taskItem{task: task, trun: &c, drun: drun}
			return nil
		}
		task, err := tx.GetTask(ctx, c.TaskID)
		if err != nil {
			return err
		}
		drun, err := tx.GetRun(ctx, task.RunID)
		if err != nil {
			return err
		}
		tc := *task
		status := out.Status
		if status == agent.StatusCanceled {
			// Canceled by our own context without a row change: treat as interrupted.
			status, out.Error, out.ErrorCode, out.StopReason = automation.RunFailed, "interrupted", automation.CodeInterrupted, ""
		}
		c.EndedAt, c.StopReason = now, out.StopReason
		c.LeaseOwner, c.LeaseExpiresAt = "", time.Time{}
		if !c.StartedAt.IsZero() && c.StartedAt.After(now) {
			c.EndedAt = c.StartedAt
		}
		if status == automation.RunCompleted {
			c.Status, tc.Status = automation.TaskRunCompleted, automation.TaskDone
		} else {
			c.Status, c.Error, c.ErrorCode = automation.TaskRunFailed, out.Error, out.ErrorCode
			tc.Status, tc.Error = automation.TaskFailed, out.Error
		}
		ok, err := tasks.Close(tx, &tc, automation.TaskRunning, &c, automation.TaskRunRunning, c.EndedAt)
		if err != nil || !ok {
			return err
		}
		tc.Runs = []*automation.TaskRun{&c}
		done = &taskItem{task: &tc, trun: &c, drun: drun}
		return nil
	})
	return done, err
}

// TerminateTaskRuns stops the agents of task runs that were canceled (rows already terminal).
func (d *Dispatcher) TerminateTaskRuns(runs []*automation.TaskRun) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range runs {
		d.terminateLocked(r.ID, !r.StartedAt.IsZero(), &agent.Canceled{Code: r.ErrorCode, Message: r.Error})
	}
}
