// Package testutil holds test harnesses: an agh daemon started in-process through the same
// wiring as `agh daemon`, the compiled agh binary for crash tests, and response validation
// against openapi.json.
package testutil

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/daemon"
)

// Daemon is an in-process agh daemon on a temp data directory.
type Daemon struct {
	D       *daemon.Daemon
	DataDir string
	Config  string
	// Client talks TCP; Socket talks over the Unix socket. Both validate every response
	// against openapi.json.
	Client *client.Client
	Socket *client.Client
	Clock  clock.Clock

	t      testing.TB
	cancel context.CancelFunc
	done   chan error
	env    map[string]string
	logs   *logSink
}

// Options configure StartDaemon.
type Options struct {
	// Config is the TOML written to <data_dir>/config.toml.
	Config  string
	DataDir string
	Clock   clock.Clock
	Env     map[string]string
}

// StartDaemon starts a daemon and stops it when the test ends.
func StartDaemon(t testing.TB, o Options) *Daemon {
	t.Helper()
	dir := o.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	if o.Config != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(o.Config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clk := o.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	td := &Daemon{DataDir: dir, Config: o.Config, Clock: clk, t: t, env: o.Env, logs: &logSink{t: t}}
	td.start()
	t.Cleanup(td.Stop)
	return td
}

func (td *Daemon) start() {
	t := td.t
	ready := make(chan *daemon.Daemon, 1)
	ctx, cancel := context.WithCancel(context.Background())
	td.cancel = cancel
	td.done = make(chan error, 1)
	env := td.env
	go func() {
		td.done <- daemon.Run(ctx, daemon.Options{
			DataDir: td.DataDir,
			Addr:    "127.0.0.1:0",
			Clock:   td.Clock,
			Stderr:  td.logs,
			Getenv: func(k string) string {
				if v, ok := env[k]; ok {
					return v
				}
				if k == "AGH_HOME" || k == "AGH_API_TOKEN" || k == "AGH_SECRET_KEY" {
					return ""
				}
				return os.Getenv(k)
			},
			Ready: func(d *daemon.Daemon) { ready <- d },
		})
	}()
	select {
	case d := <-ready:
		td.D = d
	case err := <-td.done:
		t.Fatalf("daemon failed to start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not start within 30s")
	}
	td.Client = client.NewTCP("http://"+td.D.Addr, "")
	td.Client.HTTP.Transport = NewValidatingTransport(t, http.DefaultTransport)
	td.Socket = client.NewSocket(td.D.SocketPath)
	td.Socket.HTTP.Transport = NewValidatingTransport(t, td.Socket.HTTP.Transport)
}

// Stop shuts the daemon down gracefully (idempotent).
func (td *Daemon) Stop() {
	if td.cancel == nil {
		return
	}
	td.cancel()
	td.cancel = nil
	select {
	case err := <-td.done:
		if err != nil {
			td.t.Errorf("daemon exited with error: %v", err)
		}
	case <-time.After(30 * time.Second):
		td.t.Error("daemon did not stop within 30s")
	}
}

// Restart stops and starts the daemon on the same data directory.
func (td *Daemon) Restart() {
	td.Stop()
	td.start()
}

// logSink forwards daemon logs to the test log (shown on failure or with -v) and keeps a copy
// that tests can search (e.g. for leaked secrets).
type logSink struct {
	t   testing.TB
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	defer func() { _ = recover() }() // logging after the test ended must not panic
	l.t.Log(string(p[:len(p)-min(1, len(p))]))
	return len(p), nil
}

// Logs returns everything the daemon logged so far (across restarts).
func (td *Daemon) Logs() string {
	td.logs.mu.Lock()
	defer td.logs.mu.Unlock()
	return td.logs.buf.String()
}

// URL returns the daemon's base URL.
func (td *Daemon) URL() string { return fmt.Sprintf("http://%s", td.D.Addr) }
