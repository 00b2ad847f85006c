// Package daemon wires agh together and runs its lifecycle: data directory and lock,
// configuration, store, scheduler, HTTP listeners, signals (graceful shutdown, reload).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agh-dev/agh/internal/api"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/console"
	"github.com/agh-dev/agh/internal/dispatch"
	"github.com/agh-dev/agh/internal/events"
	"github.com/agh-dev/agh/internal/metrics"
	"github.com/agh-dev/agh/internal/scheduler"
	"github.com/agh-dev/agh/internal/secrets"
	"github.com/agh-dev/agh/internal/service"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/postgres"
	"github.com/agh-dev/agh/internal/store/sqlite"
	"github.com/agh-dev/agh/internal/tasks"
	"github.com/agh-dev/agh/internal/wire"
)

// ExitError carries the process exit status of a failed start (SPEC §13.1): 1 for runtime
// failures, 2 for invalid configuration or flags.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

func runtimeErr(format string, args ...any) error {
	return &ExitError{Code: 1, Err: fmt.Errorf(format, args...)}
}

func configErr(err error) error { return &ExitError{Code: 2, Err: err} }

// Options are the command-line inputs of `agh daemon`.
type Options struct {
	ConfigPath string
	DataDir    string
	Addr       string
	StoreURL   string
	LogLevel   string
	Getenv     func(string) string
	Clock      clock.Clock
	Stderr     io.Writer
	// AgentGrace overrides the agent termination grace periods (tests); zero = 5 s.
	AgentGrace time.Duration
	// Ready, when set, receives the daemon once it serves requests (tests).
	Ready func(*Daemon)
}

// Daemon is a running agh service.
type Daemon struct {
	opts     Options
	DataDir  string
	cfgPath  string
	explicit bool
	log      *slog.Logger
	level    *slog.LevelVar
	clock    clock.Clock
	Store    store.Store
	Service  *service.Service
	Sched    *scheduler.Loop
	Disp     *dispatch.Dispatcher
	// Sender delivers channel notifications from the outbox (SPEC §11.5).
	Sender *tasks.Sender
	API    *api.Server
	// Addr is the bound TCP address.
	Addr       string
	SocketPath string

	mu              sync.Mutex
	lastReloadError string
	lock            *os.File
	hub             *notifier
	bus             *events.Bus
	rawStore        store.Store
	nodeID          string
	startedAt       time.Time
	metrics         *metrics.Metrics
	templates       templateCache
	listening       listenedKinds
}

// DefaultDataDir resolves the data directory: flag, AGH_HOME, $HOME/.agh.
func DefaultDataDir(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if h := getenv("AGH_HOME"); h != "" {
		return h
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".agh")
}

// Run starts the daemon and blocks until ctx ends or a termination signal arrives.
func Run(ctx context.Context, o Options) error {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	d := &Daemon{opts: o, clock: o.Clock, level: new(slog.LevelVar)}
	d.DataDir = DefaultDataDir(o.DataDir, o.Getenv)
	d.cfgPath, d.explicit = o.ConfigPath, o.ConfigPath != ""
	if d.cfgPath == "" {
		d.cfgPath = filepath.Join(d.DataDir, "config.toml")
	}
	d.log = slog.New(slog.NewJSONHandler(o.Stderr, &slog.HandlerOptions{Level: d.level}))

	cfg, err := config.Load(d.cfgPath, d.explicit, o.Getenv, d.clock.Now())
	if err != nil {
		return configErr(err)
	}
	if o.Addr != "" {
		cfg.HTTP.Addr = o.Addr
	}
	if o.StoreURL != "" {
		cfg.Store.URL = o.StoreURL
	}
	if o.LogLevel != "" {
		cfg.Log.Level = o.LogLevel
	}
	if err := d.setLogLevel(cfg.Log.Level); err != nil {
		return configErr(err)
	}
	if cfg.Log.File != "" || cfg.Log.Format == "text" {
		out := o.Stderr
		if cfg.Log.File != "" {
			f, err := os.OpenFile(cfg.Log.File, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				return runtimeErr("open log file: %v", err)
			}
			defer f.Close()
			out = f
		}
		opts := &slog.HandlerOptions{Level: d.level}
		if cfg.Log.Format == "text" {
			d.log = slog.New(slog.NewTextHandler(out, opts))
		} else {
			d.log = slog.New(slog.NewJSONHandler(out, opts))
		}
	}
	d.log = d.log.With("node_id", cfg.NodeID)
	if !config.IsLoopback(cfg.HTTP.Addr) && len(cfg.API.Tokens) == 0 {
		return configErr(fmt.Errorf("http.addr %q is not a loopback address; configure api.tokens or AGH_API_TOKEN", cfg.HTTP.Addr))
	}
	if err := os.MkdirAll(d.DataDir, 0o700); err != nil {
		return runtimeErr("create data directory: %v", err)
	}
	_ = os.Chmod(d.DataDir, 0o700)
	if err := d.acquireLock(); err != nil {
		return err
	}
	defer d.releaseLock()
	if err := os.MkdirAll(filepath.Join(d.DataDir, "global"), 0o700); err != nil {
		return runtimeErr("create global workspace: %v", err)
	}

	st, err := d.openStore(ctx, cfg.Store.URL)
	if err != nil {
		return err
	}
	d.Store = st
	d.rawStore = st
	d.nodeID = cfg.NodeID
	defer st.Close()

	key, err := d.secretKey(ctx, st)
	if err != nil {
		return err
	}
	if err := d.claimNodeID(ctx, st, cfg.NodeID); err != nil {
		return err
	}
	d.Service = service.New(st, d.clock, cfg)
	d.Service.Key = key
	// Task-backed fires create tasks (SPEC §11.1).
	d.Service.Delegate = d.Service.DelegateTask
	d.Service.Log = d.log
	d.metrics = metrics.New(api.Version, st.Kind(), st.CountRunsByStatus)
	st = timedStore{Store: st, m: d.metrics}
	d.Store = st
	d.Service.Store = st // its writes (admissions, definitions, deliveries) are timed too
	d.Service.SetMetrics(d.metrics)
	// Records of deliveries that admit no run are written in the background; the queue is
	// drained before the store closes (deferred calls run in reverse order).
	d.Service.StartDeliveryLog()
	defer d.Service.StopDeliveryLog()
	d.bus = events.NewBus()
	defer d.bus.Close()
	d.bus.Subscribe(d.onEnvelope)
	if err := d.Service.SyncConfigWorkspaces(ctx, cfg.Workspaces); err != nil {
		return configErr(err)
	}
	if err := d.Service.SyncConfigJobs(ctx, cfg); err != nil {
		return configErr(err)
	}
	if err := d.Service.SyncConfigTriggers(ctx, cfg); err != nil {
		return configErr(err)
	}
	d.Sched = scheduler.NewLoop(st, d.Service, d.clock, d.log)
	d.hub = &notifier{d: d}
	d.Service.SetNotifier(d.hub)
	d.Disp = dispatch.New(dispatch.Options{
		Store: st, Clock: d.clock, Log: d.log, NodeID: cfg.NodeID, DataDir: d.DataDir,
		Config: d.Service.Config, Hooks: d.hub, Render: d.render, CancelGrace: o.AgentGrace, TermGrace: o.AgentGrace, ExitGrace: o.AgentGrace,
	})
	d.Sender = tasks.NewSender(tasks.SenderOptions{
		Store: st, Clock: d.clock, Log: d.log, Config: d.Service.Config, UserAgent: "agh/" + api.Version,
		RunsChanged: d.hub.RunsChanged, Result: d.metrics.Channel,
	})
	if cfg.Automation.Enabled {
		// Runs left running by a dead process are failed and retried before anything else (SPEC §7.10).
		if err := d.Disp.Recover(ctx, st.Kind() == "postgres"); err != nil {
			return runtimeErr("recover runs: %v", err)
		}
	}

	openapi := api.OpenAPIDocument()
	d.API = api.New(d.Service, d.clock, d.log, d, openapi)
	d.API.SetMetricsHandler(d.metrics.Handler())
	d.API.SetConsole(console.Handler(), console.Paths())

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var wg sync.WaitGroup
	if cfg.Automation.Enabled {
		if err := d.Sched.Boot(runCtx); err != nil {
			return runtimeErr("scheduler boot: %v", err)
		}
		wg.Add(3)
		go func() { defer wg.Done(); d.Sched.Run(runCtx) }()
		go func() { defer wg.Done(); d.Disp.Run(runCtx) }()
		go func() { defer wg.Done(); d.Disp.RunLeases(runCtx) }()
		wg.Add(3)
		go func() { defer wg.Done(); d.housekeeping(runCtx) }()
		go func() { defer wg.Done(); d.heartbeat(runCtx, cfg.NodeID) }()
		go func() { defer wg.Done(); d.runCluster(runCtx) }()
	}
	// Pending channel notifications resume (SPEC §7.10 step 4). The sender keeps delivering
	// while running agents get their shutdown grace, so that their task.ended go out.
	senderCtx, stopSender := context.WithCancel(ctx)
	defer stopSender()
	senderDone := make(chan struct{})
	go func() { defer close(senderDone); d.Sender.Run(senderCtx) }()

	// Signals are caught from before the daemon is reachable: a SIGHUP sent by whoever saw it
	// listen (or its "started" line) must reload it, not kill it with the default action.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	servers, err := d.listen(cfg, d.metrics.HTTP(d.API.TCP(), api.WithRouteSlot), d.metrics.HTTP(d.API, api.WithRouteSlot))
	if err != nil {
		cancelRun()
		wg.Wait()
		stopSender()
		<-senderDone
		return err
	}
	d.log.Info("agh daemon started", "component", "http", "addr", d.Addr, "socket", d.SocketPath, "data_dir", d.DataDir, "store", st.Kind())
	if o.Ready != nil {
		o.Ready(d)
	}

	for stop := false; !stop; {
		select {
		case <-ctx.Done():
			stop = true
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				d.Reload(runCtx)
				continue
			}
			stop = true
		}
	}
	d.log.Info("shutting down", "component", "http")
	d.API.SetStopping()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdownCtx)
	}
	cancelRun()
	wg.Wait()
	d.Disp.Shutdown(d.Service.Config().Automation.ShutdownGrace)
	d.Service.StopDeliveryLog()
	// A clean stop releases the node id at once, so a restart need not wait for the heartbeat
	// to age out.
	_ = st.Write(context.Background(), func(tx store.Tx) error { return tx.HeartbeatNode(cfg.NodeID, time.Time{}, d.startedAt) })
	stopSender() // an attempt in flight is abandoned at once and repeated after restart
	<-senderDone
	if d.SocketPath != "" {
		_ = os.Remove(d.SocketPath)
	}
	return nil
}

func (d *Daemon) setLogLevel(level string) error {
	switch level {
	case "debug":
		d.level.Set(slog.LevelDebug)
	case "info", "":
		d.level.Set(slog.LevelInfo)
	case "warn":
		d.level.Set(slog.LevelWarn)
	case "error":
		d.level.Set(slog.LevelError)
	default:
		return fmt.Errorf("config: log.level must be one of \"debug\", \"info\", \"warn\", or \"error\": %q", level)
	}
	return nil
}

func (d *Daemon) acquireLock() error {
	path := filepath.Join(d.DataDir, "agh.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return runtimeErr("open lock file: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return runtimeErr("data directory is in use by another process")
	}
	d.lock = f
	return nil
}

func (d *Daemon) releaseLock() {
	if d.lock != nil {
		_ = syscall.Flock(int(d.lock.Fd()), syscall.LOCK_UN)
		d.lock.Close()
	}
}

func (d *Daemon) openStore(ctx context.Context, url string) (store.Store, error) {
	path := filepath.Join(d.DataDir, "agh.db")
	switch {
	case url == "":
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		st, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			return nil, runtimeErr("open store: %v", err)
		}
		return st, nil
	case strings.HasPrefix(url, "sqlite:"):
		path = strings.TrimPrefix(url, "sqlite:")
	default:
		return nil, configErr(fmt.Errorf("config: store.url: unsupported store %q", redactURL(url)))
	}
	st, err := sqlite.Open(ctx, path, sqlite.Options{OnWritesStopped: func(err error) {
		d.log.Error("store stopped accepting writes; restart the daemon after checking the disk",
			"component", "store", "err", err)
	}})
	if err != nil {
		return nil, runtimeErr("open store: %v", err)
	}
	return st, nil
}

func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		return u[:i+3] + "…"
	}
	return "…"
}

func (d *Daemon) listen(cfg *config.Config, tcpHandler, socketHandler http.Handler) ([]*http.Server, error) {
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
			ReadTimeout:       cfg.HTTP.ReadTimeout,
			WriteTimeout:      cfg.HTTP.WriteTimeout,
			IdleTimeout:       cfg.HTTP.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
		}
	}
	var servers []*http.Server
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return nil, runtimeErr("listen on %s: %v", cfg.HTTP.Addr, err)
	}
	d.Addr = ln.Addr().String()
	tcp := newServer(tcpHandler)
	servers = append(servers, tcp)
	go func() { _ = tcp.Serve(ln) }()

	if cfg.HTTP.Socket != "-" {
		sock := cfg.HTTP.Socket
		if sock == "" {
			sock = filepath.Join(d.DataDir, "agh.sock")
		}
		_ = os.Remove(sock) // a stale socket file is replaced; the lock proves no daemon owns it
		ul, err := net.Listen("unix", sock)
		if err != nil {
			_ = tcp.Close()
			return nil, runtimeErr("listen on %s: %v", sock, err)
		}
		_ = os.Chmod(sock, 0o600)
		d.SocketPath = sock
		us := newServer(socketHandler)
		servers = append(servers, us)
		go func() { _ = us.Serve(ul) }()
	}
	return servers, nil
}

// secretKey loads the master key (AGH_SECRET_KEY, else <data_dir>/secret.key) and checks it
// against the database's canary (SPEC §14.4).
func (d *Daemon) secretKey(ctx context.Context, st store.Store) (secrets.Key, error) {
	var key secrets.Key
	var err error
	if v := d.opts.Getenv("AGH_SECRET_KEY"); v != "" {
		if key, err = secrets.ParseKey(v); err != nil {
			return key, configErr(err)
		}
	} else if key, err = secrets.LoadOrCreateKeyFile(filepath.Join(d.DataDir, "secret.key")); err != nil {
		return key, configErr(err)
	}
	canary, err := st.GetMeta(ctx, "secret_canary")
	switch {
	case errors.Is(err, store.ErrNotFound):
		c, err := key.Canary()
		if err != nil {
			return key, runtimeErr("secret key canary: %v", err)
		}
		if err := st.Write(ctx, func(tx store.Tx) error { return tx.SetMeta("secret_canary", c) }); err != nil {
			return key, runtimeErr("store secret key canary: %v", err)
		}
	case err != nil:
		return key, runtimeErr("read secret key canary: %v", err)
	default:
		if err := key.CheckCanary(canary); err != nil {
			return key, configErr(err)
		}
	}
	return key, nil
}

// Reload re-reads the configuration (SIGHUP, SPEC §13.4).
func (d *Daemon) Reload(ctx context.Context) {
	cfg, err := config.Load(d.cfgPath, d.explicit, d.opts.Getenv, d.clock.Now())
	if err == nil {
		old := d.Service.Config()
		// Non-reloadable keys keep their running values.
		for _, k := range config.NonReloadableChanges(old, cfg) {
			d.log.Warn("config: "+k+" changes require a restart", "component", "config")
		}
		cfg.NodeID, cfg.HTTP, cfg.Store = old.NodeID, old.HTTP, old.Store
		cfg.Log.Format, cfg.Log.File = old.Log.Format, old.Log.File
		cfg.Automation.Enabled = old.Automation.Enabled
		if !config.IsLoopback(cfg.HTTP.Addr) && len(cfg.API.Tokens) == 0 {
			err = fmt.Errorf("http.addr %q is not a loopback address; configure api.tokens or AGH_API_TOKEN", cfg.HTTP.Addr)
		} else if err = d.Service.SyncConfigWorkspaces(ctx, cfg.Workspaces); err == nil {
			if err = d.Service.SyncConfigJobs(ctx, cfg); err == nil {
				err = d.Service.SyncConfigTriggers(ctx, cfg)
			}
			if err == nil {
				d.Service.SetConfig(cfg)
				_ = d.setLogLevel(cfg.Log.Level)
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.metrics.Reload("rejected")
		d.lastReloadError = err.Error()
		d.log.Error("config reload rejected: "+err.Error(), "component", "config")
		return
	}
	d.lastReloadError = ""
	d.metrics.Reload("applied")
	if d.Disp != nil {
		d.Disp.Wake() // max_concurrent_runs may have grown
	}
	d.log.Info("config reloaded", "component", "config")
	// A changed automation.timezone or pause flag can move every job's next slot.
	if err := d.Sched.Refresh(ctx); err != nil {
		d.log.Error("scheduler refresh failed", "component", "scheduler", "err", err)
	}
}

// SchedulerRunning implements api.StatusSource.
func (d *Daemon) SchedulerRunning() bool { return d.Sched != nil && d.Sched.Running() }

// NextFire implements api.StatusSource.
func (d *Daemon) NextFire() (time.Time, bool) {
	if d.Sched == nil {
		return time.Time{}, false
	}
	return d.Sched.NextDue()
}

// LastReloadError implements api.StatusSource.
func (d *Daemon) LastReloadError() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastReloadError
}

// notifier fans committed changes out to the scheduler, the dispatcher, the change stream
// and the other nodes.
type notifier struct{ d *Daemon }

// JobChanged implements service.Notifier.
func (n *notifier) JobChanged(id, kind string) { n.jobChanged(id, kind, true) }

func (n *notifier) jobChanged(id, kind string, local bool) {
	ctx := context.Background()
	if kind != service.ChangeCursor || !local {
		n.d.Sched.Update(ctx, id)
	}
	if local {
		n.d.announce("job", id, kind)
	}
	if n.d.API.Broker.Clients() == 0 {
		return // nobody listens: skip reading and encoding the job
	}
	if kind == service.ChangeDeleted {
		n.d.API.Broker.Publish("job.deleted", map[string]string{"id": id})
		return
	}
	rec, err := n.d.Store.GetJob(ctx, id)
	if err != nil {
		return
	}
	name := "job.updated"
	if kind == service.ChangeCreated {
		name = "job.created"
	}
	n.d.API.Broker.Publish(name, map[string]any{"job": wire.FromJob(rec.Job, rec.Cursor, n.d.Service.Config().Automation.Enabled)})
}

// TriggerChanged implements service.Notifier.
func (n *notifier) TriggerChanged(id, kind string) { n.triggerChanged(id, kind, true) }

func (n *notifier) triggerChanged(id, kind string, local bool) {
	n.d.listening.invalidate()
	if local {
		n.d.announce("trigger", id, kind)
	}
	if n.d.API.Broker.Clients() == 0 {
		return
	}
	if kind == service.ChangeDeleted {
		n.d.API.Broker.Publish("trigger.deleted", map[string]string{"id": id})
		return
	}
	t, err := n.d.Store.GetTrigger(context.Background(), id)
	if err != nil {
		return
	}
	name := "trigger.updated"
	if kind == service.ChangeCreated {
		name = "trigger.created"
	}
	n.d.API.Broker.Publish(name, map[string]any{"trigger": wire.FromTrigger(t, n.d.clock.Now())})
}

// RunsChanged implements service.Notifier and dispatch.Hooks.
func (n *notifier) RunsChanged(runs []*automation.Run) { n.runsChanged(runs, true) }

func (n *notifier) runsChanged(runs []*automation.Run, local bool) {
	for _, r := range runs {
		name := "run.updated"
		if (r.Status == automation.RunScheduled && r.DispatchedAt.IsZero() && r.DeliveryError == "") ||
			(r.Status == automation.RunDelegated && r.DeliveryError == "") {
			name = "run.created"
		}
		if n.d.API.Broker.Clients() > 0 {
			n.d.API.Broker.Publish(name, map[string]any{"run": wire.FromRun(r)})
		}
		if !local {
			continue
		}
		n.d.announce("run", r.ID, name)
		switch {
		case name == "run.created":
			n.d.log.Info("run admitted", "component", "dispatcher", "run_id", r.ID, "job_id", r.JobID, "trigger_id", r.TriggerID,
				"fire_id", r.FireID, "origin", r.Origin, "attempt", r.Attempt, "node_id", n.d.nodeID)
		case r.Status == automation.RunRunning && r.SessionID == "":
			n.d.log.Info("run started", "component", "dispatcher", "run_id", r.ID, "fire_id", r.FireID, "node_id", n.d.nodeID)
		}
		switch {
		case automation.Terminal(r.Status) && r.Status != automation.RunDelegated:
			n.d.metrics.RunTerminal(r)
		case r.Status == automation.RunRunning && r.SessionID == "":
			n.d.metrics.RunStarted(r)
		case name == "run.created" && r.Attempt > 1:
			n.d.metrics.Retry()
		}
	}
	if n.d.Disp != nil {
		n.d.Disp.Wake()
	}
	created := false
	for _, r := range runs {
		if r.TaskID != "" && r.Status == automation.RunDelegated && r.DeliveryError == "" {
			created = true
			n.publishTask("task.created", r.TaskID)
		}
	}
	if created && n.d.Sender != nil {
		n.d.Sender.Wake() // a task.created notification may be waiting
	}
}

// publishTask sends the current state of a task to the change stream and tells the other
// nodes (task.updated only: they see task.created through the delegated run).
func (n *notifier) publishTask(name, id string) {
	t, err := n.d.Store.GetTask(context.Background(), id)
	if err != nil {
		return
	}
	n.d.API.Broker.Publish(name, map[string]any{"task": wire.FromTask(t, true)})
	if name == "task.updated" {
		n.d.announce("task", id, name)
	}
}

// remoteTaskChanged applies another node's task change: change stream, termination of a local
// agent whose task was canceled there, and the outbox.
func (n *notifier) remoteTaskChanged(id string) {
	t, err := n.d.Store.GetTask(context.Background(), id)
	if err != nil {
		return
	}
	n.d.API.Broker.Publish("task.updated", map[string]any{"task": wire.FromTask(t, true)})
	if t.Status == automation.TaskCanceled && n.d.Disp != nil {
		n.d.Disp.TerminateTaskRuns(t.Runs)
	}
	if n.d.Sender != nil {
		n.d.Sender.Wake()
	}
}

// TasksChanged implements service.TaskNotifier and dispatch.Hooks.
func (n *notifier) TasksChanged(ts []*automation.Task) {
	for _, t := range ts {
		n.publishTask("task.updated", t.ID)
		if automation.TaskClosed(t.Status) {
			n.d.metrics.Task(t.Status)
		}
	}
	if n.d.Disp != nil {
		n.d.Disp.Wake()
	}
	if n.d.Sender != nil {
		n.d.Sender.Wake()
	}
}

// TaskRunsTerminated implements service.TaskNotifier.
func (n *notifier) TaskRunsTerminated(runs []*automation.TaskRun) {
	if n.d.Disp != nil {
		n.d.Disp.TerminateTaskRuns(runs)
	}
}

// RunsTerminated implements service.Notifier.
func (n *notifier) RunsTerminated(runs []*automation.Run) {
	if n.d.Disp != nil {
		n.d.Disp.Terminate(runs)
	}
}

// timedStore observes the latency of every write transaction (agh_store_write_duration_seconds).
type timedStore struct {
	store.Store
	m *metrics.Metrics
}

func (t timedStore) Write(ctx context.Context, fn func(tx store.Tx) error) error {
	start := time.Now()
	err := t.Store.Write(ctx, fn)
	t.m.StoreWrite(t.Kind(), time.Since(start))
	return err
}

// HeartbeatEvery is the node heartbeat period; a heartbeat younger than NodeLiveFor marks a
// live node (SPEC §15.1).
var (
	HeartbeatEvery = 10 * time.Second
	NodeLiveFor    = 30 * time.Second
)

// claimNodeID refuses to start when another live node uses the same node id (PostgreSQL; a
// SQLite data directory is already exclusive through its lock) and records the first heartbeat.
func (d *Daemon) claimNodeID(ctx context.Context, st store.Store, id string) error {
	now := d.clock.Now().UTC()
	if st.Kind() == "postgres" {
		hb, err := st.NodeHeartbeat(ctx, id)
		if err == nil && now.Sub(hb) < NodeLiveFor {
			return runtimeErr("node_id %q is already in use", id)
		}
	}
	if err := st.Write(ctx, func(tx store.Tx) error { return tx.HeartbeatNode(id, now, now) }); err != nil {
		return runtimeErr("record node heartbeat: %v", err)
	}
	d.startedAt = now
	return nil
}

func (d *Daemon) heartbeat(ctx context.Context, id string) {
	t := d.clock.NewTimer(HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		now := d.clock.Now().UTC()
		if err := d.Store.Write(ctx, func(tx store.Tx) error { return tx.HeartbeatNode(id, now, d.startedAt) }); err != nil && ctx.Err() == nil {
			d.log.Warn("node heartbeat failed", "component", "store", "err", err)
		}
		t.Reset(HeartbeatEvery)
	}
}

// HousekeepingEvery is the period of pruning expired replay claims and previous secrets; it
// also runs once at boot (SPEC §7.10 step 4).
var HousekeepingEvery = 10 * time.Minute

func (d *Daemon) housekeeping(ctx context.Context) {
	t := d.clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if err := d.Service.PruneReplayClaims(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("prune replay claims failed", "component", "webhook", "err", err)
		}
		if err := d.Service.PruneExpiredSecrets(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("prune expired secrets failed", "component", "webhook", "err", err)
		}
		d.checkClockSkew(ctx)
		t.Reset(HousekeepingEvery)
	}
}

// checkClockSkew compares this node's clock with the database's (PostgreSQL, SPEC §15.6).
func (d *Daemon) checkClockSkew(ctx context.Context) {
	db, ok := d.rawStore.(interface {
		DatabaseNow(context.Context) (time.Time, error)
	})
	if !ok {
		return
	}
	before := d.clock.Now()
	dbNow, err := db.DatabaseNow(ctx)
	if err != nil {
		return
	}
	local := before.Add(d.clock.Now().Sub(before) / 2)
	skew := local.Sub(dbNow).Seconds()
	d.metrics.ClockSkew(skew)
	if skew > 1 || skew < -1 {
		d.log.Warn("clock skew with the database exceeds 1s", "component", "store", "skew_seconds", skew)
	}
}
