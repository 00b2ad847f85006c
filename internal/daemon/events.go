package daemon

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/events"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/webhook"
)

// templateCache memoizes parsed trigger prompts by text.
type templateCache struct {
	mu sync.Mutex
	m  map[string]*events.Template
}

func (c *templateCache) get(text string) (*events.Template, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.m[text]; ok {
		return t, nil
	}
	t, err := events.ParsePrompt(text)
	if err != nil {
		return nil, err
	}
	if c.m == nil || len(c.m) > 4096 {
		c.m = map[string]*events.Template{}
	}
	c.m[text] = t
	return t, nil
}

// render renders a trigger run's stored template against its stored envelope (SPEC §8.6).
func (d *Daemon) render(run *automation.Run) (string, error) {
	t, err := d.templates.get(run.Prompt)
	if err != nil {
		return "", err
	}
	var env events.Envelope
	if err := json.Unmarshal(run.Envelope, &env); err != nil {
		return "", err
	}
	if len(env.Webhook) > 0 {
		var st webhook.Stored
		if err := json.Unmarshal(env.Webhook, &st); err != nil {
			return "", err
		}
		if env.Data, err = st.Data(); err != nil {
			return "", err
		}
	}
	return t.Render(&env)
}

// runEnvelope builds an envelope published because of a run (SPEC §8.2).
func (d *Daemon) runEnvelope(kind, source string, run *automation.Run, data map[string]any) *events.Envelope {
	now := d.clock.Now().UTC()
	data["run_id"] = run.ID
	if run.JobID != "" {
		data["job_id"] = run.JobID
	} else {
		data["trigger_id"] = run.TriggerID
	}
	data["workspace_id"] = run.WorkspaceID
	return &events.Envelope{ID: automation.NewID(automation.PrefixEvent, now), Kind: kind, Scope: run.Scope,
		WorkspaceID: run.WorkspaceID, Source: source, Data: data, Depth: run.Depth, OccurredAt: now}
}

func (d *Daemon) sessionData(run *automation.Run, driver string) map[string]any {
	return map[string]any{"session_id": run.SessionID, "agent_name": run.AgentName, "driver": driver,
		"attempt": run.Attempt}
}

// SessionStarted implements dispatch.Hooks: publishes session.created.
func (n *notifier) SessionStarted(run *automation.Run, driver string) {
	d := n.d
	d.publish(d.runEnvelope(events.KindSessionCreated, events.SourceObserver, run, d.sessionData(run, driver)))
}

// RunFinished implements dispatch.Hooks: publishes session.stopped and automation.run.*.
func (n *notifier) RunFinished(run *automation.Run, driver string, retry *automation.Run) {
	d := n.d
	if run.SessionID != "" {
		data := d.sessionData(run, driver)
		data["stop_reason"] = run.StopReason
		data["status"] = run.Status
		d.publish(d.runEnvelope(events.KindSessionStopped, events.SourceObserver, run, data))
	}
	var kind string
	switch run.Status {
	case automation.RunCompleted:
		kind = events.KindRunCompleted
	case automation.RunFailed:
		kind = events.KindRunFailed
	default:
		return
	}
	data := map[string]any{"fire_id": run.FireID, "attempt": run.Attempt, "origin": run.Origin,
		"agent_name": run.AgentName, "session_id": run.SessionID}
	if !run.DispatchedAt.IsZero() {
		data["duration_ms"] = run.EndedAt.Sub(run.DispatchedAt).Milliseconds()
	} else {
		data["duration_ms"] = 0
	}
	if run.Status == automation.RunFailed {
		data["error"] = run.Error
		data["error_code"] = run.ErrorCode
		data["will_retry"] = retry != nil
	}
	d.publish(d.runEnvelope(kind, events.SourceAutomation, run, data))
}

// taskSessionData is the data of session events of agent task runs (SPEC §8.2): run_id is the
// delegated automation run, agent_name the task run's agent.
func (d *Daemon) taskSessionEnvelope(kind string, task *automation.Task, tr *automation.TaskRun, drun *automation.Run, driver string) *events.Envelope {
	data := map[string]any{"session_id": tr.SessionID, "agent_name": tr.AgentName, "driver": driver,
		"attempt": drun.Attempt, "task_id": task.ID, "task_run_id": tr.ID}
	if kind == events.KindSessionStopped {
		data["stop_reason"] = tr.StopReason
		data["status"] = tr.Status
	}
	return d.runEnvelope(kind, events.SourceObserver, drun, data)
}

// TaskSessionStarted implements dispatch.Hooks: publishes session.created for a task run.
func (n *notifier) TaskSessionStarted(task *automation.Task, tr *automation.TaskRun, drun *automation.Run, driver string) {
	n.publishTask("task.updated", task.ID)
	n.d.publish(n.d.taskSessionEnvelope(events.KindSessionCreated, task, tr, drun, driver))
}

// TaskRunFinished implements dispatch.Hooks: publishes session.stopped for a task run whose
// session was announced (task runs publish no automation.run.* events) and wakes the sender
// for the task.ended notification.
func (n *notifier) TaskRunFinished(task *automation.Task, tr *automation.TaskRun, drun *automation.Run, driver string) {
	d := n.d
	n.publishTask("task.updated", task.ID)
	if tr.Status != automation.TaskRunCanceled && automation.TaskClosed(task.Status) {
		d.metrics.Task(task.Status) // canceled tasks were counted by the cancel
	}
	if tr.SessionID != "" {
		d.publish(d.taskSessionEnvelope(events.KindSessionStopped, task, tr, drun, driver))
	}
	if d.Sender != nil {
		d.Sender.Wake()
	}
}

// publish hands env to the bus. Service.Activate normalizes data numbers as a restart would
// (JSON round trip) once it knows a trigger listens.
func (d *Daemon) publish(env *events.Envelope) { d.bus.Publish(env) }

// onEnvelope matches a bus envelope against the triggers.
func (d *Daemon) onEnvelope(env *events.Envelope) {
	ctx := context.Background()
	if !d.listening.has(ctx, d.Store, env.Kind) {
		return // most run and session events: no trigger listens, no store lookup
	}
	if _, err := d.Service.Activate(ctx, env); err != nil {
		d.log.Error("activate triggers failed", "component", "dispatcher", "event_id", env.ID, "err", err)
	}
}

// listenedKinds knows the event kinds some trigger is defined for. Every run emits two or three
// events, and most have no trigger: asking the store each time cost more CPU than the run's own
// bookkeeping. The set is reloaded after any trigger change (local or from another node, see
// notifier.triggerChanged) and at least every listenedKindsTTL as a safety net.
type listenedKinds struct {
	mu     sync.Mutex
	kinds  map[string]bool // nil: reload
	gen    uint64          // bumped by invalidate; a load started before is not kept
	loaded time.Time
}

const listenedKindsTTL = 5 * time.Second

// invalidate drops the set; the next has reloads it.
func (l *listenedKinds) invalidate() {
	l.mu.Lock()
	l.kinds = nil
	l.gen++
	l.mu.Unlock()
}

// has reports whether some trigger is defined for kind. On a store error it answers true, so
// that Service.Activate decides.
func (l *listenedKinds) has(ctx context.Context, r store.Reader, kind string) bool {
	l.mu.Lock()
	kinds, gen := l.kinds, l.gen
	if kinds != nil && time.Since(l.loaded) > listenedKindsTTL {
		kinds = nil
	}
	l.mu.Unlock()
	if kinds == nil {
		trigs, err := r.AllTriggers(ctx)
		if err != nil {
			return true
		}
		kinds = make(map[string]bool, len(trigs))
		for _, t := range trigs {
			kinds[t.Event] = true
		}
		l.mu.Lock()
		if l.gen == gen {
			l.kinds, l.loaded = kinds, time.Now()
		}
		l.mu.Unlock()
	}
	return kinds[kind]
}
