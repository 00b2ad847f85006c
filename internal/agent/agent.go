// Package agent runs one agent session for a run: it starts the configured
// agent process, feeds it the prompt, records a transcript and reports how the
// session ended (SPEC §10).
//
// Two drivers exist:
//
//   - "acp": the agent speaks the Agent Client Protocol (JSON-RPC 2.0, one
//     message per line on stdin/stdout). The client side is a small JSON-RPC
//     line transport written here (see acp.go for why the SDK's
//     ClientSideConnection is not used); method names, the protocol version and
//     the stop-reason / permission-kind vocabulary come from
//     github.com/coder/acp-go-sdk.
//   - "exec": any program; the prompt is passed on stdin or substituted for
//     "{prompt}" in the command line, and stdout/stderr are recorded line by
//     line.
//
// Every agent runs in its own process group with pipes for stdin, stdout and
// stderr and without a shell. When the run's context ends, the driver
// terminates the agent as SPEC §7.8 describes, and the cause attached to the
// context (ErrTimeout, ErrCanceled, ErrShutdown) decides the outcome. After a
// run no process of the agent's group is left.
//
// The drivers enforce no timeout on their own; Execute applies the agent's
// configured timeout and picks the driver, and is the entry point callers
// should use.
package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Version is the client version announced to ACP agents in
// initialize.clientInfo.version. The daemon sets it at start-up (or via
// -ldflags "-X github.com/agh-dev/agh/internal/agent.Version=…").
var Version = "dev"

// Default grace periods of SPEC §7.8 and §10.3 step 6. A zero duration in a
// Request means the corresponding default.
const (
	// DefaultCancelGrace is how long an ACP agent gets to end its turn after
	// session/cancel before its process group receives SIGTERM.
	DefaultCancelGrace = 5 * time.Second
	// DefaultTermGrace is how long a process group gets between SIGTERM and
	// SIGKILL.
	DefaultTermGrace = 5 * time.Second
	// DefaultExitGrace is how long an ACP agent gets to exit by itself after
	// its turn ended and its stdin was closed.
	DefaultExitGrace = 5 * time.Second
)

// Status values of an Outcome.
const (
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCanceled  = "canceled"
)

// Error codes of an Outcome (SPEC §5.4).
const (
	CodeAgentError  = "agent_error"
	CodeRefused     = "refused"
	CodeTimeout     = "timeout"
	CodeSpawnFailed = "spawn_failed"
	CodeInterrupted = "interrupted"
	CodeCanceled    = "canceled"
)

// Config is one configured agent ([agents.<name>] after config resolution,
// SPEC §10.1).
type Config struct {
	Name           string
	Driver         string            // "acp" | "exec"; empty with a Preset means "acp"
	Preset         string            // "claude-code" | "codex" | "gemini" | "opencode"
	Command        []string          // argv; argv[0] is searched in PATH when it has no '/'; empty means the preset's
	Env            map[string]string // extra environment (already resolved values); see Environ
	Permissions    string            // "allow" | "deny" (acp only)
	Timeout        time.Duration     // applied by Execute; zero means none
	MaxOutputBytes int               // transcript budget; used when Execute creates the transcript
}

var presets = map[string][]string{
	"claude-code": {"npx", "-y", "@zed-industries/claude-code-acp"},
	"codex":       {"npx", "-y", "@zed-industries/codex-acp"},
	"gemini":      {"gemini", "--experimental-acp"},
	"opencode":    {"opencode", "acp"},
}

// PresetCommand returns the command of a preset (SPEC §10.1). The returned
// slice is a fresh copy.
func PresetCommand(preset string) ([]string, bool) {
	cmd, ok := presets[preset]
	if !ok {
		return nil, false
	}
	return slices.Clone(cmd), true
}

// Presets returns the names of all presets, sorted.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for name := range presets {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Request is one agent session to run.
type Request struct {
	Agent  Config
	Prompt string // already rendered and trimmed
	Dir    string // absolute working directory (the workspace path)
	// Env is the complete process environment ("K=V"), computed by the caller
	// (SPEC §10.2; see Environ). nil means an empty environment: the driver
	// never inherits the daemon's environment by itself. The exec driver
	// appends AGH_SESSION_ID.
	Env []string
	// Transcript receives the entries of the session; the driver adds the
	// prompt as entry 1. nil means a throwaway transcript.
	Transcript *Transcript
	// OnSession is called once, as soon as the session id is known (ACP:
	// after session/new; exec: right after the process started). May be nil.
	OnSession func(sessionID string)
	// OnStart is called once the agent process started, with its pid, which
	// is also its process group id. May be nil.
	OnStart func(pid int)

	// Grace periods; zero means the Default… constant.
	CancelGrace time.Duration // ACP: session/cancel → SIGTERM
	TermGrace   time.Duration // SIGTERM → SIGKILL
	ExitGrace   time.Duration // ACP: end of turn + stdin closed → SIGTERM
}

func (r *Request) cancelGrace() time.Duration { return orDefault(r.CancelGrace, DefaultCancelGrace) }
func (r *Request) termGrace() time.Duration   { return orDefault(r.TermGrace, DefaultTermGrace) }
func (r *Request) exitGrace() time.Duration   { return orDefault(r.ExitGrace, DefaultExitGrace) }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Outcome is how a run ended (SPEC §10.5).
type Outcome struct {
	Status     string // "completed" | "failed" | "canceled"
	Error      string
	ErrorCode  string // "", "agent_error", "refused", "timeout", "spawn_failed", "interrupted", "canceled", …
	StopReason string
	SessionID  string
}

// Causes for context.WithCancelCause / context.WithTimeoutCause. When the
// context of a Run ends, its cause decides the outcome:
//
//   - ErrTimeout (or context.DeadlineExceeded): failed, "timeout", stop reason "timeout";
//   - ErrCanceled (or a *Canceled): canceled, stop reason "cancelled";
//   - ErrShutdown and anything else: failed, "interrupted", no stop reason.
var (
	ErrTimeout  = errors.New("timeout")
	ErrCanceled = errors.New("canceled")
	ErrShutdown = errors.New("interrupted")
)

// Canceled is a cancellation cause carrying the error text and code that the
// canceled run records (SPEC §5.4), e.g. {"superseded", "superseded by run_…"}.
// It matches ErrCanceled with errors.Is. A bare ErrCanceled means
// {"canceled", "canceled by request"}.
type Canceled struct {
	Code    string
	Message string
}

func (c *Canceled) Error() string { return c.Message }

// Is reports whether target is ErrCanceled.
func (c *Canceled) Is(target error) bool { return target == ErrCanceled }

// Driver runs one agent session. Run blocks until the session ended and no
// process of the agent is left, and never returns an outcome without Status.
type Driver interface {
	Run(ctx context.Context, req Request) Outcome
}

// New returns the driver named "acp" or "exec".
func New(driver string) (Driver, error) {
	switch driver {
	case "acp":
		return acpDriver{}, nil
	case "exec":
		return execDriver{}, nil
	}
	return nil, fmt.Errorf("unknown agent driver %q", driver)
}

// Execute is the single entry point for callers: it resolves the preset
// defaults of req.Agent, applies req.Agent.Timeout (with cause ErrTimeout),
// creates a transcript when req.Transcript is nil, and runs the driver.
func Execute(ctx context.Context, req Request) Outcome {
	cfg := req.Agent
	if cfg.Driver == "" && cfg.Preset != "" {
		cfg.Driver = "acp"
	}
	if len(cfg.Command) == 0 && cfg.Preset != "" {
		cfg.Command, _ = PresetCommand(cfg.Preset)
	}
	req.Agent = cfg
	if req.Transcript == nil {
		req.Transcript = NewTranscript(cfg.MaxOutputBytes, time.Now)
	}
	d, err := New(cfg.Driver)
	if err != nil {
		req.Transcript.Add(Entry{Type: TypePrompt, Text: req.Prompt})
		return finish(req.Transcript, spawnFailed(err))
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cfg.Timeout, ErrTimeout)
		defer cancel()
	}
	return d.Run(ctx, req)
}

// Environ returns base without the variables named in remove, with add
// applied on top, one entry per name: a name keeps the position of its first
// occurrence and takes its last value (add winning over base); new names of
// add are appended in sorted order. It is a helper for computing Request.Env
// (SPEC §10.2).
func Environ(base []string, remove []string, add map[string]string) []string {
	drop := make(map[string]bool, len(remove))
	for _, name := range remove {
		drop[name] = true
	}
	value := make(map[string]string, len(base)+len(add))
	var order []string
	for _, kv := range base {
		name, v, _ := strings.Cut(kv, "=")
		if drop[name] {
			continue
		}
		if _, seen := value[name]; !seen {
			order = append(order, name)
		}
		value[name] = v
	}
	var extra []string
	for name, v := range add {
		if _, seen := value[name]; !seen {
			extra = append(extra, name)
		}
		value[name] = v
	}
	sort.Strings(extra)
	out := make([]string, 0, len(order)+len(extra))
	for _, name := range append(order, extra...) {
		out = append(out, name+"="+value[name])
	}
	return out
}

// causeOutcome is the outcome of a run whose context ended (SPEC §10.5).
func causeOutcome(ctx context.Context) Outcome {
	cause := context.Cause(ctx)
	var c *Canceled
	switch {
	case errors.Is(cause, ErrTimeout), errors.Is(cause, context.DeadlineExceeded):
		return Outcome{Status: StatusFailed, Error: "timeout", ErrorCode: CodeTimeout, StopReason: "timeout"}
	case errors.As(cause, &c):
		return Outcome{Status: StatusCanceled, Error: c.Message, ErrorCode: c.Code, StopReason: "cancelled"}
	case errors.Is(cause, ErrCanceled):
		return Outcome{Status: StatusCanceled, Error: "canceled by request", ErrorCode: CodeCanceled, StopReason: "cancelled"}
	default:
		return Outcome{Status: StatusFailed, Error: "interrupted", ErrorCode: CodeInterrupted}
	}
}

func spawnFailed(err error) Outcome {
	return Outcome{Status: StatusFailed, Error: "start agent: " + err.Error(), ErrorCode: CodeSpawnFailed}
}

// finish records the closing entries of a transcript: an `error` entry for a
// failed run, then a `stop` entry when there is a stop reason.
func finish(t *Transcript, o Outcome) Outcome {
	if o.Status == StatusFailed && o.Error != "" {
		t.Add(Entry{Type: TypeError, Text: o.Error})
	}
	if o.StopReason != "" {
		t.Add(Entry{Type: TypeStop, StopReason: o.StopReason})
	}
	return o
}

// envLookup returns the value of name in env ("K=V" list), the last one
// winning as in execve.
func envLookup(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// processEnv is the environment handed to the process.
func processEnv(env []string) []string {
	if env == nil {
		return []string{}
	}
	return env
}

// pathEnv is the PATH used to find argv[0]: the request's, else the daemon's.
func pathEnv(env []string) string {
	if v, ok := envLookup(env, "PATH"); ok {
		return v
	}
	return os.Getenv("PATH")
}
