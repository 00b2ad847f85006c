// Package dispatch starts admitted runs under the global concurrency cap (SPEC §7): it picks
// eligible scheduled runs in (scheduled_at, id) order, validates and moves them to running in
// one store transaction with the cap check, launches their agent, enforces the timeout,
// terminates canceled runs, records the outcome with its retry row in one transaction, and
// recovers runs left running by a dead process.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agh-dev/agh/internal/agent"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/store"
)

// Hooks receive what the dispatcher did, after commit.
type Hooks interface {
	// RunsChanged is called after runs changed state (started, finished, retried).
	RunsChanged(runs []*automation.Run)
	// SessionStarted is called once a run's session id is recorded.
	SessionStarted(run *automation.Run, driver string)
	// RunFinished is called after a started run's terminal state (and retry row) committed.
	RunFinished(run *automation.Run, driver string, retry *automation.Run)
	// TasksChanged is called after tasks changed state (agent task runs started).
	TasksChanged(tasks []*automation.Task)
	// TaskSessionStarted is called once an agent task run's session id is recorded; drun is
	// the task's delegated automation run.
	TaskSessionStarted(task *automation.Task, tr *automation.TaskRun, drun *automation.Run, driver string)
	// TaskRunFinished is called after a task run's terminal state (and its task's) committed:
	// started task runs that ended, task runs that failed validation before starting (driver
	// ""), and canceled task runs whose session had been announced.
	TaskRunFinished(task *automation.Task, tr *automation.TaskRun, drun *automation.Run, driver string)
}

// Renderer renders a trigger run's prompt from its stored envelope (nil for jobs).
type Renderer func(run *automation.Run) (string, error)

// Options configure a Dispatcher.
type Options struct {
	Store   store.Store
	Clock   clock.Clock
	Log     *slog.Logger
	NodeID  string
	DataDir string
	Config  func() *config.Config
	Hooks   Hooks
	Render  Renderer
	// Drivers overrides agent execution (benchmarks use an in-process no-op); nil runs
	// agent.Execute.
	Execute func(ctx context.Context, req agent.Request) agent.Outcome
	// Grace periods passed to agents (tests shorten them).
	CancelGrace, TermGrace, ExitGrace time.Duration
	// BaseEnv is the daemon environment agents inherit (minus secrets); nil = os.Environ().
	BaseEnv []string
}

// Dispatcher runs admitted runs.
type Dispatcher struct {
	o    Options
	wake chan struct{}

	mu     sync.Mutex
	active map[string]*activeRun
	// early holds cancellation causes of runs and task runs canceled after they were claimed
	// but before their launch registered them: the launch then cancels at once, so that no
	// process starts after the cancel response (SPEC §7.8).
	early     map[string]error
	draining  bool
	wg        sync.WaitGroup
	renewedAt time.Time
}

type activeRun struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
	// lost is set when the lease could not be renewed: the outcome is not recorded.
	lost bool
}

// New returns a dispatcher.
func New(o Options) *Dispatcher {
	if o.Execute == nil {
		o.Execute = agent.Execute
	}
	if o.BaseEnv == nil {
		o.BaseEnv = os.Environ()
	}
	return &Dispatcher{o: o, wake: make(chan struct{}, 1), active: map[string]*activeRun{}, early: map[string]error{}}
}

// Wake asks the dispatcher to look for eligible runs now.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Active returns the number of runs this node is executing.
func (d *Dispatcher) Active() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.active)
}

// Recover fails the runs a dead process left running (SPEC §7.10) and inserts their retries.
// With ownedOnly, only runs whose lease belongs to this node are recovered (PostgreSQL: other
// nodes' runs are handled by lease expiry).
func (d *Dispatcher) Recover(ctx context.Context, ownedOnly bool) error {
	runs, err := d.o.Store.ListRuns(ctx, store.RunQuery{Status: automation.RunRunning, Limit: 1 << 30})
	if err != nil {
		return err
	}
	now := d.o.Clock.Now().UTC()
	truns, err := d.o.Store.TaskRunsByStatus(ctx, automation.TaskRunRunning)
	if err != nil {
		return err
	}
	// Their agents are killed first, in one scan of this host's processes.
	var orphans []string
	for _, r := range runs {
		if !ownedOnly || r.LeaseOwner == d.o.NodeID {
			orphans = append(orphans, r.ID)
		}
	}
	for _, tr := range truns {
		if !ownedOnly || tr.LeaseOwner == d.o.NodeID {
			orphans = append(orphans, tr.ID)
		}
	}
	d.killOrphans(ctx, orphans)
	interrupted := agent.Outcome{Status: automation.RunFailed, Error: "interrupted", ErrorCode: automation.CodeInterrupted}
	for _, r := range runs {
		if ownedOnly && r.LeaseOwner != d.o.NodeID {
			continue
		}
		if _, _, err := d.finish(ctx, r, interrupted, now, sessionEnd{}); err != nil {
			return err
		}
	}
	// Task runs left running fail too, and so do their tasks (read again: finishing a run may
	// have changed them).
	if truns, err = d.o.Store.TaskRunsByStatus(ctx, automation.TaskRunRunning); err != nil {
		return err
	}
	for _, tr := range truns {
		if ownedOnly && tr.LeaseOwner != d.o.NodeID {
			continue
		}
		if _, err := d.finishTask(ctx, tr.ID, interrupted, now); err != nil {
			return err
		}
	}
	return nil
}

// Run dispatches until ctx ends. It does not wait for running agents; call Shutdown.
func (d *Dispatcher) Run(ctx context.Context) {
	timer := d.o.Clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait, err := d.dispatchOnce(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.o.Log.Error("dispatch failed", "component", "dispatcher", "err", err)
			wait = time.Second
		}
		if !clock.Sleep(ctx, timer, wait, d.wake) {
			return
		}
	}
}

// dispatchOnce starts every run it may; it returns how long to sleep before looking again.
func (d *Dispatcher) dispatchOnce(ctx context.Context) (time.Duration, error) {
	d.mu.Lock()
	draining := d.draining
	d.mu.Unlock()
	if draining {
		return time.Hour, nil
	}
	cfg := d.o.Config()
	if d.Active() >= cfg.Automation.MaxConcurrentRuns {
		// This node alone fills the cap (which counts every node's runs), so the pass could
		// start nothing: skip its transaction. Each of these runs wakes the dispatcher once it
		// has left the active set, and a configuration reload wakes it too. Without this,
		// every admission during a backlog cost the writer a transaction that found no slot.
		return time.Hour, nil
	}
	now := d.o.Clock.Now().UTC()
	var started, failed []*automation.Run
	var tstarted, tfailed []*taskItem
	err := d.o.Store.Write(ctx, func(tx store.Tx) error {
		started, failed, tstarted, tfailed = nil, nil, nil, nil
		running, err := tx.CountRunning()
		if err != nil {
			return err
		}
		trunning, err := tx.CountRunningTaskRuns()
		if err != nil {
			return err
		}
		free := cfg.Automation.MaxConcurrentRuns - running - trunning
		if free <= 0 {
			return nil
		}
		// Candidates beyond free are only needed when some are held (overlap "queue"): read a
		// few first, and more only when this pass held some and has slots left. A finishing
		// run frees one slot, and decoding 65 rows to start one was most of the pass's cost.
		// Runs started or failed by the first pass are no longer eligible, and held ones are
		// skipped again through blocked, so the second pass simply starts over.
		blocked := map[string]bool{} // definitions whose queue is held
		for limit := free + min(free, 8); ; limit = free + 64 {
			cands, err := tx.EligibleRuns(now, limit)
			if err != nil {
				return err
			}
			tcands, err := tx.EligibleTaskRuns(limit)
			if err != nil {
				return err
			}
			if err := d.claimCandidates(tx, merge(cands, tcands), free, blocked, now, &started, &failed, &tstarted, &tfailed); err != nil {
				return err
			}
			if len(started)+len(tstarted) >= free || limit >= free+64 || (len(cands) < limit && len(tcands) < limit) {
				return nil
			}
		}
	})
	if err != nil {
		return time.Second, err
	}
	if len(failed) > 0 {
		d.o.Hooks.RunsChanged(failed)
		for _, r := range failed {
			d.o.Hooks.RunFinished(r, "", nil)
		}
	}
	for _, it := range tfailed {
		d.o.Hooks.TaskRunFinished(it.task, it.trun, it.drun, "")
	}
	if len(started) > 0 {
		d.o.Hooks.RunsChanged(started)
	}
	for _, r := range started {
		d.launch(r.ID, func(ctx context.Context) { d.execute(ctx, r) })
	}
	if len(tstarted) > 0 {
		ts := make([]*automation.Task, len(tstarted))
		for i, it := range tstarted {
			ts[i] = it.task
		}
		d.o.Hooks.TasksChanged(ts)
	}
	for _, it := range tstarted {
		d.launch(it.trun.ID, func(ctx context.Context) { d.executeTask(ctx, it) })
	}
	if len(started) > 0 || len(failed) > 0 || len(tstarted) > 0 || len(tfailed) > 0 {
		return 0, nil
	}
	next, ok, err := d.o.Store.NextScheduledAt(ctx, now)
	if err != nil {
		return time.Second, err
	}
	if !ok {
		return time.Hour, nil
	}
	wait := next.Sub(d.o.Clock.Now())
	if wait < 0 {
		// Eligible runs exist but are blocked (cap or queue): a finishing run wakes us.
		wait = time.Hour
	}
	return wait, nil
}

// claimCandidates starts (or fails validation of) eligible candidates in order until free
// slots are used, holding definitions under overlap "queue" in blocked.
func (d *Dispatcher) claimCandidates(tx store.Tx, all []candidate, free int, blocked map[string]bool, now time.Time,
	started, failed *[]*automation.Run, tstarted, tfailed *[]*taskItem) error {
	for _, cand := range all {
		if len(*started)+len(*tstarted) >= free {
			break
		}
		if tr := cand.trun; tr != nil {
			it, ok, err := d.claimTask(tx, tr, now)
			if err != nil {
				return err
			}
			if it != nil && ok {
				*tstarted = append(*tstarted, it)
			} else if it != nil {
				*tfailed = append(*tfailed, it)
			}
			continue
		}
		r := cand.run
		def := r.DefinitionID()
		if blocked[def] {
			continue
		}
		policy, err := d.overlapPolicy(tx, r)
		if err != nil {
			return err
		}
		if policy == automation.OverlapQueue {
			act, err := tx.ActiveRuns(def)
			if err != nil {
				return err
			}
			if !queueAllows(act, r) {
				blocked[def] = true
				continue
			}
			blocked[def] = true // one start per queued definition per pass
		}
		c := *r
		// now was read before this transaction got the writer: a run committed in the
		// meantime has a later started_at. Keep started_at ≤ dispatched_at/ended_at
		// (SPEC §5.3 #6).
		at := now
		if c.StartedAt.After(at) {
			at = c.StartedAt
		}
		if msg := d.validate(tx, &c); msg != "" {
			c.Status, c.EndedAt, c.Error, c.ErrorCode = automation.RunFailed, at, msg, automation.CodeValidation
			ok, err := tx.UpdateRun(&c, automation.RunScheduled)
			if err != nil {
				return err
			}
			if ok {
				*failed = append(*failed, &c)
			}
			continue
		}
		c.Status, c.DispatchedAt, c.NodeID = automation.RunRunning, at, d.o.NodeID
		c.DeliveryError, c.DeliveryErrorAt = "", time.Time{}
		c.LeaseOwner, c.LeaseExpiresAt = d.o.NodeID, at.Add(LeaseTTL)
		ok, err := tx.UpdateRun(&c, automation.RunScheduled)
		if err != nil {
			return err
		}
		if ok {
			*started = append(*started, &c)
		}
	}
	return nil
}

// queueAllows reports whether r may start under overlap "queue": no run of the definition is
// running and r is the earliest scheduled one.
func queueAllows(active []*automation.Run, r *automation.Run) bool {
	for _, a := range active {
		if a.Status == automation.RunRunning {
			return false
		}
	}
	for _, a := range active {
		if a.Status == automation.RunScheduled {
			return a.ID == r.ID
		}
	}
	return true
}

func (d *Dispatcher) overlapPolicy(tx store.Tx, r *automation.Run) (string, error) {
	if r.JobID != "" {
		rec, err := tx.GetJob(context.Background(), r.JobID)
		if errors.Is(err, store.ErrNotFound) {
			return automation.OverlapAllow, nil
		}
		if err != nil {
			return "", err
		}
		return rec.Job.OverlapPolicy, nil
	}
	pol, err := tx.TriggerOverlapPolicy(r.TriggerID)
	if errors.Is(err, store.ErrNotFound) {
		return automation.OverlapAllow, nil
	}
	return pol, err
}

// validate runs the pre-start checks of SPEC §7.6; it returns the failure text or "".
func (d *Dispatcher) validate(tx store.Tx, r *automation.Run) string {
	cfg := d.o.Config()
	if _, ok := cfg.Agents[r.AgentName]; !ok {
		return fmt.Sprintf("agent %q is not configured", r.AgentName)
	}
	dir, msg := d.workDir(tx, r)
	if msg != "" {
		return msg
	}
	_ = dir
	prompt, err := d.prompt(r)
	if err != nil {
		return err.Error()
	}
	if prompt == "" {
		return "rendered prompt is empty"
	}
	if len(prompt) > automation.MaxRenderedPrompt {
		return fmt.Sprintf("rendered prompt exceeds %d bytes", automation.MaxRenderedPrompt)
	}
	return ""
}

func (d *Dispatcher) workDir(tx store.Reader, r *automation.Run) (string, string) {
	return d.scopeDir(tx, r.Scope, r.WorkspaceID)
}

// scopeDir returns the working directory of a scope (SPEC §10.2), or the validation message.
func (d *Dispatcher) scopeDir(tx store.Reader, scope, workspaceID string) (string, string) {
	if scope != automation.ScopeWorkspace {
		dir := filepath.Join(d.o.DataDir, "global")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", "workspace path not found: " + dir
		}
		return dir, ""
	}
	ws, err := tx.GetWorkspace(context.Background(), workspaceID)
	if err != nil {
		return "", fmt.Sprintf("workspace %q not found", workspaceID)
	}
	if st, err := os.Stat(ws.Path); err != nil || !st.IsDir() {
		return "", "workspace path not found: " + ws.Path
	}
	return ws.Path, ""
}

func (d *Dispatcher) prompt(r *automation.Run) (string, error) {
	if r.TriggerID != "" && d.o.Render != nil {
		p, err := d.o.Render(r)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(p), nil
	}
	return strings.TrimSpace(r.Prompt), nil
}

func agentConfig(a *config.Agent) agent.Config {
	return agent.Config{Name: a.Name, Driver: a.Driver, Preset: a.Preset, Command: a.Command, Env: a.Env,
		Permissions: a.Permissions, Timeout: a.Timeout, MaxOutputBytes: a.MaxOutputBytes}
}

// launch executes a run or task run (by id) that is now running.
func (d *Dispatcher) launch(id string, exec func(ctx context.Context)) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ar := &activeRun{cancel: cancel, done: make(chan struct{})}
	d.mu.Lock()
	d.active[id] = ar
	if cause, ok := d.early[id]; ok {
		delete(d.early, id)
		cancel(cause)
	}
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(ar.done)
		defer func() {
			d.mu.Lock()
			delete(d.active, id)
			d.mu.Unlock()
			d.Wake()
		}()
		exec(ctx)
	}()
}

func (d *Dispatcher) execute(ctx context.Context, r *automation.Run) {
	if ctx.Err() != nil {
		// Canceled before it started: no process (the row is already terminal).
		d.record(r, agent.Outcome{Status: agent.StatusCanceled, ErrorCode: agent.CodeCanceled}, "", sessionEnd{})
		return
	}
	cfg := d.o.Config()
	ac, ok := cfg.Agents[r.AgentName]
	if !ok {
		d.record(r, agent.Outcome{Status: automation.RunFailed, Error: fmt.Sprintf("agent %q is not configured", r.AgentName), ErrorCode: automation.CodeValidation}, "", sessionEnd{})
		return
	}
	dir, msg := d.workDir(d.o.Store, r)
	prompt, err := d.prompt(r)
	if msg == "" && err != nil {
		msg = err.Error()
	}
	if msg != "" {
		d.record(r, agent.Outcome{Status: automation.RunFailed, Error: msg, ErrorCode: automation.CodeValidation}, ac.Driver, sessionEnd{})
		return
	}
	out, end := d.runAgent(ctx, session{
		ac: ac, prompt: prompt, dir: dir, env: d.environ(cfg, ac, r, dir, nil),
		transcriptID: r.ID, runID: r.ID, agentName: r.AgentName,
		onSession: func(id string, pid int) { d.setSession(r, id, ac.Driver, pid) },
	})
	d.record(r, out, ac.Driver, end)
}

// session is one agent session to run and record.
type session struct {
	ac     *config.Agent
	prompt string
	dir    string
	env    []string
	// transcriptID keys the stored transcript and the remembered process group (the run id,
	// or the task run id); runID and agentName are written into the transcript document.
	transcriptID string
	runID        string
	agentName    string
	// onSession stores the session id; pid > 0 is a process group still to remember in the
	// same transaction (see runAgent).
	onSession func(id string, pid int)
}

// sessionEnd is what a finished session still has to store: its final transcript, and the
// removal of its remembered process group. The caller commits it in the same transaction as
// the outcome (one commit instead of three per run).
type sessionEnd struct {
	transcriptID string
	transcript   []byte
}

// write stores the end of a session inside tx.
func (e sessionEnd) write(tx store.Tx) error {
	if e.transcriptID == "" {
		return nil
	}
	if e.transcript != nil {
		if err := tx.PutTranscript(e.transcriptID, e.transcript); err != nil {
			return err
		}
	}
	return tx.DeleteMeta(pidKey(e.transcriptID))
}

// writeAlone stores the end of a session in a transaction of its own (when the outcome is not
// recorded by this node, or recording it failed).
func (d *Dispatcher) writeAlone(e sessionEnd) {
	if e.transcriptID == "" {
		return
	}
	if err := d.o.Store.Write(context.Background(), e.write); err != nil {
		d.o.Log.Error("store final transcript failed", "component", "dispatcher", "id", e.transcriptID, "err", err)
	}
}

// runAgent executes one agent session, keeping its transcript stored while it runs. The final
// transcript is returned, not stored: see sessionEnd.
func (d *Dispatcher) runAgent(ctx context.Context, s session) (agent.Outcome, sessionEnd) {
	ac := s.ac
	now := func() time.Time { return d.o.Clock.Now().UTC() }
	tr := agent.NewTranscript(ac.MaxOutputBytes, now)
	doc := transcriptDoc{RunID: s.runID, Driver: ac.Driver, AgentName: s.agentName}
	var sessMu sync.Mutex
	pendingPID := 0 // guarded by sessMu
	encode := func(final bool, stop string) []byte {
		entries, trunc := tr.Snapshot()
		sessMu.Lock()
		defer sessMu.Unlock()
		doc.Entries, doc.Truncated = entries, trunc
		if final {
			doc.StopReason = stop
		}
		b, _ := json.Marshal(doc)
		return b
	}
	flush := func() {
		b := encode(false, "")
		_ = d.o.Store.Write(context.Background(), func(tx store.Tx) error { return tx.PutTranscript(s.transcriptID, b) })
	}
	stopFlush := make(chan struct{})
	flushDone := make(chan struct{})
	go func() {
		defer close(flushDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var seen uint64
		for {
			select {
			case <-stopFlush:
				return
			case <-t.C:
				if v := tr.Version(); v != seen {
					seen = v
					flush()
				}
			}
		}
	}()
	req := agent.Request{
		Agent: agentConfig(ac), Prompt: s.prompt, Dir: s.dir, Transcript: tr, Env: s.env,
		CancelGrace: d.o.CancelGrace, TermGrace: d.o.TermGrace, ExitGrace: d.o.ExitGrace,
		// The exec driver reports its session right after the start: its process group is
		// remembered in the session's transaction (one commit instead of two). An ACP session
		// id can take a while, so that process group is remembered at once.
		OnStart: func(pid int) {
			if ac.Driver == "exec" {
				sessMu.Lock()
				pendingPID = pid
				sessMu.Unlock()
				return
			}
			d.rememberPID(s.transcriptID, pid)
		},
		OnSession: func(id string) {
			sessMu.Lock()
			doc.SessionID = id
			pid := pendingPID
			pendingPID = 0
			sessMu.Unlock()
			s.onSession(id, pid)
		},
	}
	out := d.o.Execute(ctx, req)
	close(stopFlush)
	<-flushDone
	if out.SessionID != "" {
		sessMu.Lock()
		doc.SessionID = out.SessionID
		sessMu.Unlock()
	}
	return out, sessionEnd{transcriptID: s.transcriptID, transcript: encode(true, out.StopReason)}
}

type transcriptDoc struct {
	RunID      string        `json:"run_id"`
	SessionID  string        `json:"session_id,omitempty"`
	Driver     string        `json:"driver"`
	AgentName  string        `json:"agent_name"`
	StopReason string        `json:"stop_reason,omitempty"`
	Truncated  bool          `json:"truncated"`
	Entries    []agent.Entry `json:"entries"`
}

// environ builds an agent's environment (SPEC §10.2); extra adds task variables.
func (d *Dispatcher) environ(cfg *config.Config, ac *config.Agent, r *automation.Run, dir string, extra map[string]string) []string {
	remove := append([]string{"AGH_SECRET_KEY", "AGH_API_TOKEN"}, cfg.SecretEnvNames...)
	add := map[string]string{}
	for k, v := range ac.Env {
		add[k] = v
	}
	add["AGH_RUN_ID"] = r.ID
	add["AGH_FIRE_ID"] = r.FireID
	add["AGH_ATTEMPT"] = strconv.Itoa(r.Attempt)
	if r.JobID != "" {
		add["AGH_JOB_ID"] = r.JobID
	} else {
		add["AGH_TRIGGER_ID"] = r.TriggerID
	}
	add["AGH_WORKSPACE_ID"] = r.WorkspaceID
	add["AGH_WORKSPACE_PATH"] = dir
	add["AGH_SCHEDULED_AT"] = automation.FormatTime(r.ScheduledAt)
	add["AGH_DEPTH"] = strconv.Itoa(r.Depth)
	for k, v := range extra {
		add[k] = v
	}
	return agent.Environ(d.o.BaseEnv, remove, add)
}

func (d *Dispatcher) setSession(r *automation.Run, id, driver string, pid int) {
	var updated *automation.Run
	_ = d.o.Store.Write(context.Background(), func(tx store.Tx) error {
		if err := rememberPIDIn(tx, r.ID, pid); err != nil {
			return err
		}
		cur, err := tx.GetRun(context.Background(), r.ID)
		if err != nil {
			return err
		}
		if cur.Status != automation.RunRunning && cur.Status != automation.RunCanceled {
			return nil
		}
		c := *cur
		c.SessionID = id
		ok, err := tx.UpdateRun(&c, cur.Status)
		if ok {
			updated = &c
		}
		return err
	})
	if updated != nil {
		d.o.Hooks.RunsChanged([]*automation.Run{updated})
		d.o.Hooks.SessionStarted(updated, driver)
	}
}

// record stores the outcome of a started run, with the end of its session.
func (d *Dispatcher) record(r *automation.Run, out agent.Outcome, driver string, end sessionEnd) {
	d.mu.Lock()
	lost := d.active[r.ID] != nil && d.active[r.ID].lost
	d.mu.Unlock()
	if lost {
		d.writeAlone(end)
		return // the lease was lost: a live node records the outcome (node lost)
	}
	final, retry, err := d.finish(context.Background(), r, out, d.o.Clock.Now().UTC(), end)
	if err != nil {
		d.o.Log.Error("record run outcome failed", "component", "dispatcher", "run_id", r.ID, "err", err)
		d.writeAlone(end)
		return
	}
	if final == nil {
		return
	}
	changed := []*automation.Run{final}
	if retry != nil {
		changed = append(changed, retry)
	}
	d.o.Hooks.RunsChanged(changed)
	d.o.Hooks.RunFinished(final, driver, retry)
	d.o.Log.Info("run finished", "component", "dispatcher", "run_id", final.ID, "status", final.Status, "error_code", final.ErrorCode)
}

// finish moves a running run to its terminal state and inserts the retry row when the policy
// asks for one, in one transaction. A run already canceled keeps its status; its session fields
// are still recorded. It returns the final run (nil if nothing changed) and the retry.
func (d *Dispatcher) finish(ctx context.Context, r *automation.Run, out agent.Outcome, now time.Time, end sessionEnd) (*automation.Run, *automation.Run, error) {
	var final, retry *automation.Run
	err := d.o.Store.Write(ctx, func(tx store.Tx) error {
		final, retry = nil, nil
		if err := end.write(tx); err != nil {
			return err
		}
		cur, err := tx.GetRun(ctx, r.ID)
		if err != nil {
			return err
		}
		c := *cur
		if out.SessionID != "" && c.SessionID == "" {
			c.SessionID = out.SessionID
		}
		if cur.Status != automation.RunRunning {
			if cur.Status == automation.RunCanceled && c.SessionID != cur.SessionID {
				if _, err := tx.UpdateRun(&c, cur.Status); err != nil {
					return err
				}
			}
			return nil
		}
		status := out.Status
		if status == "canceled" {
			// Canceled by our own context without a row change (should not happen): treat as interrupted.
			status, out.Error, out.ErrorCode, out.StopReason = automation.RunFailed, "interrupted", automation.CodeInterrupted, ""
		}
		c.Status, c.EndedAt, c.StopReason = status, now, out.StopReason
		c.LeaseOwner, c.LeaseExpiresAt = "", time.Time{}
		if status == automation.RunFailed {
			c.Error, c.ErrorCode = out.Error, out.ErrorCode
		}
		if !c.DispatchedAt.IsZero() && c.DispatchedAt.After(now) {
			c.EndedAt = c.DispatchedAt
		}
		ok, err := tx.UpdateRun(&c, automation.RunRunning)
		if err != nil || !ok {
			return err
		}
		final = &c
		if status == automation.RunFailed && automation.Retryable(c.ErrorCode) {
			retry, err = d.retryRow(tx, &c, now)
		}
		return err
	})
	return final, retry, err
}

// retryRow inserts attempt+1 when the definition's policy allows it (SPEC §7.5).
func (d *Dispatcher) retryRow(tx store.Tx, failed *automation.Run, now time.Time) (*automation.Run, error) {
	var pol automation.Retry
	if failed.JobID != "" {
		rec, err := tx.GetJob(context.Background(), failed.JobID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		pol = rec.Job.Retry
	} else {
		p, err := tx.TriggerRetryPolicy(failed.TriggerID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		pol = p
	}
	if pol.Strategy != automation.RetryBackoff || failed.Attempt > pol.MaxRetries {
		return nil, nil
	}
	n := &automation.Run{
		ID: automation.NewID(automation.PrefixRun, now), JobID: failed.JobID, TriggerID: failed.TriggerID,
		Status: automation.RunScheduled, Attempt: failed.Attempt + 1, FireID: failed.FireID,
		ScheduledAt: failed.EndedAt.Add(pol.Delay(failed.Attempt)), StartedAt: now, Origin: failed.Origin,
		RetryOf: failed.ID, AgentName: failed.AgentName, Scope: failed.Scope, WorkspaceID: failed.WorkspaceID,
		Depth: failed.Depth, DeliveryID: failed.DeliveryID, EventID: failed.EventID, Prompt: failed.Prompt,
		Envelope: failed.Envelope,
	}
	if err := tx.InsertRun(n); err != nil {
		if store.IsConflict(err, store.UniqueFireAttempt) {
			return nil, nil
		}
		return nil, err
	}
	return n, nil
}

// Terminate stops the processes of runs that were canceled (their rows are already terminal).
func (d *Dispatcher) Terminate(runs []*automation.Run) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range runs {
		d.terminateLocked(r.ID, !r.DispatchedAt.IsZero(), &agent.Canceled{Code: r.ErrorCode, Message: r.Error})
	}
}

// terminateLocked cancels the execution of a run or task run; one that was claimed (started)
// but is not registered yet is canceled as soon as it launches. d.mu is held.
func (d *Dispatcher) terminateLocked(id string, claimed bool, cause error) {
	if ar, ok := d.active[id]; ok {
		ar.cancel(cause)
		return
	}
	if claimed {
		if len(d.early) > 4096 {
			clear(d.early)
		}
		d.early[id] = cause
	}
}

// Shutdown stops starting runs, gives running ones grace to finish, then interrupts the rest
// and waits for them to be recorded (SPEC §7.9).
func (d *Dispatcher) Shutdown(grace time.Duration) {
	d.mu.Lock()
	d.draining = true
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	d.mu.Lock()
	for _, ar := range d.active {
		ar.cancel(agent.ErrShutdown)
	}
	d.mu.Unlock()
	<-done
}
