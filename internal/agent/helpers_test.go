package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/agent/agenttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := agenttest.Main(m)
	cleanupPeers()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// baseEnv is a minimal agent environment: PATH only.
func baseEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH")}, extra...)
}

// result is what a test run observed.
type result struct {
	Outcome
	entries   []Entry
	truncated bool
	sessions  []string
	pgid      int
	elapsed   time.Duration
}

// entriesOf returns the entries of type typ.
func (r *result) entriesOf(typ string) []Entry {
	var out []Entry
	for _, e := range r.entries {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// messages returns the texts of the agent_message entries.
func (r *result) messages() []string {
	var out []string
	for _, e := range r.entriesOf(TypeAgentMessage) {
		out = append(out, e.Text)
	}
	return out
}

func (r *result) types() []string {
	var out []string
	for _, e := range r.entries {
		out = append(out, e.Type)
	}
	return out
}

type runOpts struct {
	prompt string
	dir    string
	env    []string
	tr     *Transcript
	ctx    context.Context
	grace  time.Duration // CancelGrace, TermGrace and ExitGrace when non-zero
	// cancelCause, when set, cancels the run with this cause cancelDelay
	// after OnSession, or after readyFile (relative to dir) exists when set:
	// robust against slow starts on a loaded machine.
	cancelCause error
	cancelDelay time.Duration
	readyFile   string
}

// run runs req through Execute and collects what happened.
func run(t *testing.T, cfg Config, o runOpts) *result {
	t.Helper()
	if o.prompt == "" {
		o.prompt = "do the thing"
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.env == nil {
		o.env = baseEnv()
	}
	if o.tr == nil {
		o.tr = NewTranscript(cfg.MaxOutputBytes, nil)
	}
	if o.ctx == nil {
		o.ctx = context.Background()
	}
	var cancel context.CancelCauseFunc = func(error) {}
	if o.cancelCause != nil {
		o.ctx, cancel = context.WithCancelCause(o.ctx)
		defer cancel(nil)
	}
	r := &result{}
	var mu sync.Mutex
	req := Request{
		Agent:      cfg,
		Prompt:     o.prompt,
		Dir:        o.dir,
		Env:        o.env,
		Transcript: o.tr,
		OnSession: func(id string) {
			mu.Lock()
			r.sessions = append(r.sessions, id)
			mu.Unlock()
			if o.cancelCause != nil && o.readyFile == "" {
				time.AfterFunc(o.cancelDelay, func() { cancel(o.cancelCause) })
			}
		},
		OnStart: func(pid int) {
			mu.Lock()
			r.pgid = pid
			mu.Unlock()
		},
		CancelGrace: o.grace,
		TermGrace:   o.grace,
		ExitGrace:   o.grace,
	}
	if o.cancelCause != nil && o.readyFile != "" {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if _, err := os.Stat(filepath.Join(o.dir, o.readyFile)); err == nil {
					time.Sleep(o.cancelDelay)
					cancel(o.cancelCause)
					return
				}
			}
		}()
	}
	start := time.Now()
	r.Outcome = Execute(o.ctx, req)
	r.elapsed = time.Since(start)
	t.Logf("run took %v: %+v", r.elapsed, r.Outcome)
	r.entries, r.truncated = o.tr.Snapshot()
	if r.Status == "" {
		t.Fatalf("outcome without status: %+v", r.Outcome)
	}
	if o.cancelCause != nil && len(r.sessions) == 0 {
		t.Fatalf("no session, so no cancellation: %+v", r.Outcome)
	}
	if r.pgid != 0 {
		requireGroupGone(t, r.pgid)
	}
	checkTranscriptShape(t, r)
	return r
}

// requireGroupGone fails unless no process of the group is left. Right
// after the run no member may be running; killed orphans may stay zombies
// until init reaps them (this machine's init does so about once a second),
// so kill(-pgid, 0) gets a few seconds to report ESRCH.
func requireGroupGone(t *testing.T, pgid int) {
	t.Helper()
	if live, err := groupHasLiveMember(pgid); err != nil || live {
		t.Fatalf("process group %d has a running process after the run (%v)", pgid, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has processes after the run (kill: %v)", pgid, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkTranscriptShape checks the invariants every transcript has: seq 1…n,
// the prompt first, a stop entry last iff there is a stop reason.
func checkTranscriptShape(t *testing.T, r *result) {
	t.Helper()
	if len(r.entries) == 0 || r.entries[0].Type != TypePrompt {
		t.Fatalf("first entry is not the prompt: %v", r.types())
	}
	for i, e := range r.entries {
		if e.Seq != i+1 {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if e.At.IsZero() || e.At.Location() != time.UTC {
			t.Fatalf("entry %d has at %v", i, e.At)
		}
	}
	last := r.entries[len(r.entries)-1]
	if r.StopReason != "" {
		if last.Type != TypeStop || last.StopReason != r.StopReason {
			t.Fatalf("last entry is %+v, want stop %q", last, r.StopReason)
		}
	} else if last.Type == TypeStop {
		t.Fatalf("stop entry without a stop reason in the outcome: %+v", last)
	}
	if r.Status == StatusFailed {
		found := false
		for _, e := range r.entriesOf(TypeError) {
			if e.Text == r.Error {
				found = true
			}
		}
		if !found {
			t.Fatalf("no error entry %q in %v", r.Error, r.types())
		}
	}
}

func wantOutcome(t *testing.T, got Outcome, want Outcome) {
	t.Helper()
	got.SessionID = ""
	if got != want {
		t.Fatalf("outcome = %+v\nwant      %+v", got, want)
	}
}

func cancelAfter(d time.Duration, cause error) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(d, func() { cancel(cause) })
	return ctx
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func joined(list []string) string { return strings.Join(list, "|") }
