package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/tasks"
)

// TaskNotifier is implemented by notifiers that also follow tasks (SPEC §11): the daemon wakes
// the notification sender and terminates the agents of canceled task runs.
type TaskNotifier interface {
	// TasksChanged is called after tasks changed state (and their notifications were queued).
	TasksChanged(tasks []*automation.Task)
	// TaskRunsTerminated asks for the processes of these (already canceled) task runs to stop.
	TaskRunsTerminated(runs []*automation.TaskRun)
}

func (s *Service) taskNotifier() TaskNotifier {
	tn, _ := s.notify().(TaskNotifier)
	return tn
}

// DelegateTask admits a task-backed fire in tx (installed as Service.Delegate by the daemon).
func (s *Service) DelegateTask(tx store.Tx, job *automation.Job, run *automation.Run) error {
	return tasks.Delegate(tx, job, run)
}

// GetTask returns a task with its runs.
func (s *Service) GetTask(ctx context.Context, id string) (*automation.Task, error) {
	t, err := s.Store.GetTask(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, automation.ErrTaskNotFound
	}
	return t, err
}

// ListTasks lists tasks, newest first.
func (s *Service) ListTasks(ctx context.Context, q store.TaskQuery) ([]*automation.Task, error) {
	return s.Store.ListTasks(ctx, q)
}

// currentRun returns the task's newest run (a task has one run; runs are never retried).
func currentRun(t *automation.Task) *automation.TaskRun {
	if len(t.Runs) == 0 {
		return nil
	}
	return t.Runs[len(t.Runs)-1]
}

// CompleteTask completes an open task with an optional result (SPEC §4.3.10, §11.4): the
// task becomes done and its queued task run completed.
func (s *Service) CompleteTask(ctx context.Context, id, result string) (*automation.Task, error) {
	var out *automation.Task
	err := s.Store.Write(ctx, func(tx store.Tx) error {
		t, err := tx.GetTask(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return automation.ErrTaskNotFound
		} else if err != nil {
			return err
		}
		if t.Status != automation.TaskOpen {
			return &automation.ConflictError{Message: fmt.Sprintf("task is not open: %q", t.Status)}
		}
		now := s.now()
		c := *t
		c.Status, c.Result = automation.TaskDone, result
		var tr *automation.TaskRun
		fromRun := ""
		if cur := currentRun(t); cur != nil && cur.Status == automation.TaskRunQueued {
			r := *cur
			r.Status, r.EndedAt = automation.TaskRunCompleted, now
			tr, fromRun = &r, cur.Status
		}
		ok, err := tasks.Close(tx, &c, automation.TaskOpen, tr, fromRun, now)
		if err != nil {
			return err
		}
		if !ok {
			return &automation.ConflictError{Message: fmt.Sprintf("task is not open: %q", t.Status)}
		}
		out = withRun(&c, t, tr)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if tn := s.taskNotifier(); tn != nil {
		tn.TasksChanged([]*automation.Task{out})
	}
	return out, nil
}

// CancelTask cancels an open or running task (SPEC §4.3.10): the task and its task run become
// canceled and a running agent is terminated.
func (s *Service) CancelTask(ctx context.Context, id string) (*automation.Task, error) {
	var out *automation.Task
	var terminated *automation.TaskRun
	err := s.Store.Write(ctx, func(tx store.Tx) error {
		terminated = nil
		t, err := tx.GetTask(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return automation.ErrTaskNotFound
		} else if err != nil {
			return err
		}
		if automation.TaskClosed(t.Status) {
			return &automation.ConflictError{Message: fmt.Sprintf("task is already closed: %q", t.Status)}
		}
		now := s.now()
		c := *t
		c.Status, c.Error = automation.TaskCanceled, "canceled by request"
		var tr *automation.TaskRun
		fromRun := ""
		if cur := currentRun(t); cur != nil && (cur.Status == automation.TaskRunQueued || cur.Status == automation.TaskRunRunning) {
			r := *cur
			r.Status, r.EndedAt = automation.TaskRunCanceled, now
			r.Error, r.ErrorCode = "canceled by request", automation.CodeCanceled
			r.LeaseOwner, r.LeaseExpiresAt = "", time.Time{}
			if cur.Status == automation.TaskRunRunning {
				r.StopReason = "cancelled"
				terminated = &r
			}
			tr, fromRun = &r, cur.Status
		}
		ok, err := tasks.Close(tx, &c, t.Status, tr, fromRun, now)
		if err != nil {
			return err
		}
		if !ok {
			// The dispatcher moved the task run in the meantime; the caller may retry.
			return &automation.ConflictError{Message: fmt.Sprintf("task is already closed: %q", t.Status)}
		}
		out = withRun(&c, t, tr)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if tn := s.taskNotifier(); tn != nil {
		tn.TasksChanged([]*automation.Task{out})
		if terminated != nil {
			tn.TaskRunsTerminated([]*automation.TaskRun{terminated})
		}
	}
	return out, nil
}

// withRun returns c with old's runs, the changed one replaced by tr.
func withRun(c, old *automation.Task, tr *automation.TaskRun) *automation.Task {
	c.Runs = make([]*automation.TaskRun, len(old.Runs))
	for i, r := range old.Runs {
		if tr != nil && r.ID == tr.ID {
			r = tr
		}
		c.Runs[i] = r
	}
	return c
}
