package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/agh-dev/agh/internal/agent"
	"github.com/agh-dev/agh/internal/api"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/daemon"
	"github.com/agh-dev/agh/internal/dispatch"
	"github.com/agh-dev/agh/internal/scheduler"
	"github.com/agh-dev/agh/internal/service"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlite"
)

// Daemon is the real `agh daemon` (daemon.Run) running in this process.
type Daemon struct {
	D      *daemon.Daemon
	URL    string
	cancel context.CancelFunc
	done   chan error
}

// WriteConfig writes config.toml into dir.
func WriteConfig(dir, toml string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.toml"), []byte(toml), 0o600)
}

// StartDaemon runs daemon.Run on dir (which holds config.toml) with logs discarded and
// returns once it serves requests.
func StartDaemon(dir string) (*Daemon, error) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *daemon.Daemon, 1)
	d := &Daemon{cancel: cancel, done: make(chan error, 1)}
	go func() {
		d.done <- daemon.Run(ctx, daemon.Options{
			DataDir: dir, Addr: "127.0.0.1:0", Stderr: io.Discard,
			Getenv: func(k string) string {
				if k == "AGH_HOME" || k == "AGH_API_TOKEN" || k == "AGH_SECRET_KEY" {
					return ""
				}
				return os.Getenv(k)
			},
			Ready: func(x *daemon.Daemon) { ready <- x },
		})
	}()
	select {
	case x := <-ready:
		d.D, d.URL = x, "http://"+x.Addr
		return d, nil
	case err := <-d.done:
		cancel()
		return nil, fmt.Errorf("daemon failed to start: %v", err)
	}
}

// Stop shuts the daemon down and waits for it.
func (d *Daemon) Stop() error {
	d.cancel()
	return <-d.done
}

// NodeOptions configure StartNode.
type NodeOptions struct {
	DataDir string
	Config  string // config.toml contents
	// Execute replaces agent execution (dispatch.Options.Execute); nil runs real agents.
	Execute func(ctx context.Context, req agent.Request) agent.Outcome
	// OnCommit is called after every committed Write that inserted runs, with those runs and
	// the instant Write returned.
	OnCommit func(runs []*automation.Run, at time.Time)
	// NoDispatch leaves the dispatcher stopped.
	NoDispatch bool
	// OnWrite is called after every Write with how long it took (queueing, batch, commit).
	OnWrite func(d time.Duration)
	// OnReconcile is called after each scheduler reconciliation with the instants the
	// scheduler loop called the service and got its answer.
	OnReconcile func(jobID string, called, returned time.Time)
}

// tracedReconciler reports when the scheduler loop calls the service.
type tracedReconciler struct {
	svc *service.Service
	on  func(string, time.Time, time.Time)
}

func (t tracedReconciler) ReconcileJobs(ctx context.Context, ids []string, until time.Time) []scheduler.Result {
	called := time.Now()
	res := t.svc.ReconcileJobs(ctx, ids, until)
	returned := time.Now()
	for _, id := range ids {
		t.on(id, called, returned)
	}
	return res
}

// Node is agh's core wired as daemon.Run wires it (store, service, scheduler loop, dispatcher,
// API), with the two seams benchmarks need: the dispatcher's Execute and an observer of
// committed run inserts. It leaves out what daemon.Run adds around the core (secret key,
// metrics, event bus, change stream), so it is slightly optimistic; benchmarks use the real
// daemon (StartDaemon) unless they need a seam.
type Node struct {
	Raw     *sqlite.Store
	Store   store.Store
	Service *service.Service
	Sched   *scheduler.Loop
	Disp    *dispatch.Dispatcher
	URL     string
	Clock   clock.Clock

	cancel context.CancelFunc
	wg     sync.WaitGroup
	srv    *http.Server
}

// StartNode starts a node on o.DataDir.
func StartNode(o NodeOptions) (*Node, error) {
	ctx := context.Background()
	if err := WriteConfig(o.DataDir, o.Config); err != nil {
		return nil, err
	}
	clk := clock.Real{}
	cfg, err := config.Parse([]byte(o.Config), os.Getenv, clk.Now())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(o.DataDir, "global"), 0o700); err != nil {
		return nil, err
	}
	raw, err := sqlite.Open(ctx, filepath.Join(o.DataDir, "agh.db"), sqlite.Options{})
	if err != nil {
		return nil, err
	}
	n := &Node{Raw: raw, Store: raw, Clock: clk}
	if o.OnCommit != nil || o.OnWrite != nil {
		n.Store = &observed{Store: raw, onCommit: o.OnCommit, onWrite: o.OnWrite}
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	n.Service = service.New(n.Store, clk, cfg)
	if err := n.Service.SyncConfigWorkspaces(ctx, cfg.Workspaces); err != nil {
		return nil, err
	}
	if err := n.Service.SyncConfigJobs(ctx, cfg); err != nil {
		return nil, err
	}
	var rec scheduler.Reconciler = n.Service
	if o.OnReconcile != nil {
		rec = tracedReconciler{svc: n.Service, on: o.OnReconcile}
	}
	n.Sched = scheduler.NewLoop(n.Store, rec, clk, log)
	hub := &hub{n: n}
	n.Service.SetNotifier(hub)
	n.Disp = dispatch.New(dispatch.Options{
		Store: n.Store, Clock: clk, Log: log, NodeID: cfg.NodeID, DataDir: o.DataDir,
		Config: n.Service.Config, Hooks: hub, Execute: o.Execute,
	})
	if err := n.Disp.Recover(ctx, false); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	n.cancel = cancel
	if err := n.Sched.Boot(runCtx); err != nil {
		return nil, err
	}
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.Sched.Run(runCtx) }()
	if !o.NoDispatch {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.Disp.Run(runCtx) }()
	}
	srv := api.New(n.Service, clk, log, hub, api.OpenAPIDocument())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n.URL = "http://" + ln.Addr().String()
	n.srv = &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = n.srv.Serve(ln) }()
	return n, nil
}

// Stop stops the node.
func (n *Node) Stop() error {
	_ = n.srv.Close()
	n.cancel()
	n.wg.Wait()
	n.Disp.Shutdown(0)
	return n.Raw.Close()
}

// hub is the daemon's notifier: committed changes go to the scheduler and the dispatcher.
type hub struct{ n *Node }

func (h *hub) JobChanged(id, kind string) {
	if kind != service.ChangeCursor {
		h.n.Sched.Update(context.Background(), id)
	}
}
func (h *hub) TriggerChanged(id, kind string)                       {}
func (h *hub) RunsChanged([]*automation.Run)                        { h.n.Disp.Wake() }
func (h *hub) RunsTerminated(runs []*automation.Run)                { h.n.Disp.Terminate(runs) }
func (h *hub) SessionStarted(*automation.Run, string)               {}
func (h *hub) RunFinished(*automation.Run, string, *automation.Run) {}
func (h *hub) TasksChanged([]*automation.Task)                      {}
func (h *hub) TaskSessionStarted(*automation.Task, *automation.TaskRun, *automation.Run, string) {
}
func (h *hub) TaskRunFinished(*automation.Task, *automation.TaskRun, *automation.Run, string) {}
func (h *hub) SchedulerRunning() bool                                                         { return h.n.Sched.Running() }
func (h *hub) NextFire() (time.Time, bool)                                                    { return h.n.Sched.NextDue() }
func (h *hub) LastReloadError() string                                                        { return "" }

// observed reports the runs each committed Write inserted, and when the commit returned.
type observed struct {
	store.Store
	onCommit func([]*automation.Run, time.Time)
	onWrite  func(time.Duration)
}

func (o *observed) Write(ctx context.Context, fn func(store.Tx) error) error {
	var ins []*automation.Run
	start := time.Now()
	err := o.Store.Write(ctx, func(tx store.Tx) error {
		ins = ins[:0]
		return fn(&observedTx{Tx: tx, ins: &ins})
	})
	if o.onWrite != nil {
		o.onWrite(time.Since(start))
	}
	if err == nil && len(ins) > 0 && o.onCommit != nil {
		o.onCommit(ins, time.Now())
	}
	return err
}

type observedTx struct {
	store.Tx
	ins *[]*automation.Run
}

func (t *observedTx) InsertRun(r *automation.Run) error {
	err := t.Tx.InsertRun(r)
	if err == nil {
		*t.ins = append(*t.ins, r)
	}
	return err
}

// NoopExecute is an in-process agent that completes at once.
func NoopExecute(ctx context.Context, req agent.Request) agent.Outcome {
	return agent.Outcome{Status: agent.StatusCompleted, StopReason: "end_turn"}
}

// ErrTimeout is returned by WaitFor.
var ErrTimeout = errors.New("timed out")

// WaitFor polls cond every interval until it holds (nil), fails, or timeout passes.
func WaitFor(timeout, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		time.Sleep(interval)
	}
}
