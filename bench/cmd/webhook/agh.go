package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/agh-dev/agh/internal/daemon"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlite"
)

// aghConfig is the daemon configuration of the benchmark.
//
//   - automation.webhooks.rate_limit = 0 disables the per-endpoint webhook rate limit of the
//     TCP listener (default 200 requests/s per endpoint), which would otherwise answer 429.
//   - The matching trigger's agent "hold" is an exec agent that sleeps for an hour, and
//     max_concurrent_runs = 1: the first admitted run occupies the only slot and every later run
//     stays durably queued ("scheduled"). Every admission still wakes the dispatcher, which
//     (since the fifth session) sees that its own running run fills the cap and skips its
//     transaction, as it would during any backlog. No agent processes are started during the
//     measurement (spawning thousands of processes per second would measure fork/exec, not
//     webhook intake).
//   - Logs go to a file at info level, as a daemon's stderr would (one "run admitted" JSON line
//     per admitted run).
const aghConfig = `
[http]
socket = "-"

[log]
level = "info"

[automation]
max_concurrent_runs = 1
shutdown_grace = "1s"

[automation.webhooks]
rate_limit = 0

[agents.hold]
driver = "exec"
command = ["sleep", "3600"]
`

// aghDaemon is an in-process agh daemon (the same wiring as "agh daemon", like
// internal/testutil's harness) with one webhook trigger.
type aghDaemon struct {
	d      *daemon.Daemon
	cancel context.CancelFunc
	done   chan error
	path   string
	logf   *os.File
}

// startAgh starts a daemon on a fresh data directory under dir and creates one webhook
// trigger whose filter does (match) or does not match the benchmark bodies.
func startAgh(dir string, secret []byte, match bool) (*aghDaemon, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(aghConfig), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return nil, err
	}
	a := &aghDaemon{done: make(chan error, 1), logf: logf}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	ready := make(chan *daemon.Daemon, 1)
	go func() {
		a.done <- daemon.Run(ctx, daemon.Options{
			DataDir: dir,
			Addr:    "127.0.0.1:0",
			Stderr:  logf,
			Getenv: func(k string) string {
				switch k {
				case "AGH_HOME", "AGH_API_TOKEN", "AGH_SECRET_KEY":
					return ""
				}
				return os.Getenv(k)
			},
			Ready: func(d *daemon.Daemon) { ready <- d },
		})
	}()
	select {
	case a.d = <-ready:
	case err := <-a.done:
		cancel()
		return nil, fmt.Errorf("daemon failed to start: %w", err)
	case <-time.After(30 * time.Second):
		cancel()
		return nil, fmt.Errorf("daemon did not start")
	}
	action := "closed"
	if match {
		action = "opened"
	}
	// The fire limit must not refuse anything during the benchmark; the shortest window keeps
	// the number of runs it counts per admission smallest (SPEC §7.4).
	body := map[string]any{
		"name": "bench", "scope": "global", "agent_name": "hold", "event": "webhook",
		"endpoint_slug": "bench", "webhook_secret_value": string(secret),
		"filter":     map[string]string{"data.action": action},
		"fire_limit": map[string]any{"max": 10_000_000, "window": "1s"},
		"prompt":     "Issue #{{ .Data.issue.number }} was {{ .Data.action }} ({{ .Data.delivery_id }}).",
	}
	raw, _ := json.Marshal(body)
	resp, err := http.Post("http://"+a.d.Addr+"/api/automation/triggers", "application/json", bytes.NewReader(raw))
	if err != nil {
		a.stop()
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		a.stop()
		return nil, fmt.Errorf("create trigger: %d %s", resp.StatusCode, out)
	}
	var tr struct {
		Trigger struct {
			WebhookPath string `json:"webhook_path"`
		} `json:"trigger"`
	}
	if err := json.Unmarshal(out, &tr); err != nil {
		a.stop()
		return nil, err
	}
	a.path = tr.Trigger.WebhookPath
	return a, nil
}

func (a *aghDaemon) target(name string) target {
	return target{name: name, addr: a.d.Addr, path: a.path}
}

func (a *aghDaemon) stop() error {
	a.cancel()
	var err error
	select {
	case err = <-a.done:
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("daemon did not stop")
	}
	_ = a.logf.Close()
	return err
}

// sqliteStore digs the *sqlite.Store out of the daemon's store, which the daemon wraps to time
// writes, to read the group-commit counters.
func sqliteStore(s store.Store) *sqlite.Store {
	if st, ok := s.(*sqlite.Store); ok {
		return st
	}
	v := reflect.ValueOf(s)
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("Store"); f.IsValid() && f.CanInterface() {
			if inner, ok := f.Interface().(store.Store); ok {
				return sqliteStore(inner)
			}
		}
	}
	return nil
}

func (a *aghDaemon) writerStats() sqlite.WriterStats {
	if st := sqliteStore(a.d.Store); st != nil {
		return st.Stats()
	}
	return sqlite.WriterStats{}
}

// runCounts returns the number of runs per status.
func (a *aghDaemon) runCounts() map[string]int {
	m, _ := a.d.Store.CountRunsByStatus(context.Background())
	return m
}
