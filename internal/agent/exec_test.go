package agent

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func execCfg(argv ...string) Config {
	return Config{Name: "sh", Driver: "exec", Command: argv, MaxOutputBytes: 1 << 20}
}

var sessionIDRe = regexp.MustCompile(`^ses_[0-9a-hjkmnp-tv-z]{26}$`)

func TestExecCompletedWithPromptOnStdin(t *testing.T) {
	t.Parallel()
	r := run(t, execCfg("sh", "-c", `cat; echo; echo second`), runOpts{prompt: "hello\nworld"})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	if !sessionIDRe.MatchString(r.SessionID) {
		t.Fatalf("session id %q", r.SessionID)
	}
	if len(r.sessions) != 1 || r.sessions[0] != r.SessionID {
		t.Fatalf("OnSession calls %v, want [%s]", r.sessions, r.SessionID)
	}
	if got := joined(r.types()); got != "prompt|stdout|stdout|stdout|stop" {
		t.Fatalf("entry types %s", got)
	}
	var lines []string
	for _, e := range r.entriesOf(TypeStdout) {
		lines = append(lines, e.Text)
	}
	if got := joined(lines); got != "hello|world|second" {
		t.Fatalf("stdout lines %q", got)
	}
	if r.entries[0].Text != "hello\nworld" {
		t.Fatalf("prompt entry %q", r.entries[0].Text)
	}
}

func TestExecPromptSubstitutionClosesStdin(t *testing.T) {
	t.Parallel()
	// cat would block if stdin were not closed; the prompt must not be on stdin.
	r := run(t, execCfg("sh", "-c", `printf '%s|%s\n' "$1" "$2"; cat; echo done`, "sh", "<{prompt}>", "{prompt}{prompt}"),
		runOpts{prompt: "p q"})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	var lines []string
	for _, e := range r.entriesOf(TypeStdout) {
		lines = append(lines, e.Text)
	}
	if got := joined(lines); got != "<p q>|p qp q|done" {
		t.Fatalf("stdout lines %q", got)
	}
}

func TestExecEnvironment(t *testing.T) {
	t.Parallel()
	r := run(t, execCfg("sh", "-c", `echo "foo=$FOO sid=$AGH_SESSION_ID home=${HOME-unset}"; pwd`),
		runOpts{env: baseEnv("FOO=bar baz"), dir: t.TempDir()})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	out := r.entriesOf(TypeStdout)
	want := "foo=bar baz sid=" + r.SessionID + " home=unset"
	if len(out) != 2 || out[0].Text != want {
		t.Fatalf("stdout %+v, want %q", out, want)
	}
}

func TestExecWorkingDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := run(t, execCfg("sh", "-c", `pwd -P`), runOpts{dir: dir})
	want, _ := filepath.EvalSymlinks(dir)
	if out := r.entriesOf(TypeStdout); len(out) != 1 || out[0].Text != want {
		t.Fatalf("pwd %+v, want %s", out, want)
	}
}

func TestExecNonZeroExit(t *testing.T) {
	t.Parallel()
	r := run(t, execCfg("sh", "-c", `echo out; echo "  first problem" >&2; echo 'second problem  ' >&2; exit 3`), runOpts{})
	wantOutcome(t, r.Outcome, Outcome{
		Status: StatusFailed, ErrorCode: CodeAgentError, StopReason: "error",
		Error: "exit status 3: first problem\nsecond problem",
	})
	if got := joined(r.types()); got != "prompt|stdout|stderr|stderr|error|stop" &&
		got != "prompt|stderr|stdout|stderr|error|stop" && got != "prompt|stderr|stderr|stdout|error|stop" {
		t.Fatalf("entry types %s", got)
	}
	if r.SessionID == "" {
		t.Fatal("no session id on a failed run")
	}
}

func TestExecNonZeroExitWithoutStderr(t *testing.T) {
	t.Parallel()
	r := run(t, execCfg("sh", "-c", `exit 4`), runOpts{})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusFailed, ErrorCode: CodeAgentError, StopReason: "error", Error: "exit status 4"})
}

func TestExecKilledBySignal(t *testing.T) {
	t.Parallel()
	r := run(t, execCfg("sh", "-c", `echo bye >&2; kill -KILL $$`), runOpts{})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusFailed, ErrorCode: CodeAgentError, StopReason: "error", Error: "signal: killed"})
}

func TestExecStderrTailAndLongLines(t *testing.T) {
	t.Parallel()
	// 5000 bytes of stderr (no newline at the end, invalid UTF-8 at the end of
	// the tail), and a 70000-byte stdout line.
	script := `head -c 4990 /dev/zero | tr '\0' 'x' >&2; printf 'abcd\377' >&2; ` +
		`head -c 70000 /dev/zero | tr '\0' 'y'; echo; exit 1`
	r := run(t, execCfg("sh", "-c", script), runOpts{})
	wantTail := strings.Repeat("x", 2048-5) + "abcd\uFFFD"
	if r.Error != "exit status 1: "+wantTail {
		t.Fatalf("error %q…", r.Error[:40])
	}
	out := r.entriesOf(TypeStdout)
	if len(out) != 2 || len(out[0].Text) != 65536 || len(out[1].Text) != 70000-65536 {
		t.Fatalf("stdout split into %d entries", len(out))
	}
	errs := r.entriesOf(TypeStderr)
	if len(errs) != 1 || !strings.HasSuffix(errs[0].Text, "abcd\uFFFD") {
		t.Fatalf("stderr entries %d", len(errs))
	}
}

func TestExecTimeoutKillsWholeGroup(t *testing.T) {
	t.Parallel()
	cfg := execCfg("sh", "-c", `sleep 30 & sleep 30`)
	cfg.Timeout = 300 * time.Millisecond
	r := run(t, cfg, runOpts{})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusFailed, Error: "timeout", ErrorCode: CodeTimeout, StopReason: "timeout"})
	if r.elapsed > 5*time.Second {
		t.Fatalf("took %v", r.elapsed)
	}
	if r.pgid == 0 {
		t.Fatal("OnStart not called")
	}
	// run() already checked that the group is gone.
}

func TestExecTimeoutEscalatesToSIGKILL(t *testing.T) {
	t.Parallel()
	// The shell and its children ignore SIGTERM (an ignored signal stays
	// ignored across exec).
	// The timeout is what Execute would apply, triggered once the shell is
	// ready.
	cfg := execCfg("sh", "-c", `trap '' TERM; sleep 30 & touch ready; sleep 30`)
	r := run(t, cfg, runOpts{grace: 300 * time.Millisecond, cancelCause: ErrTimeout, readyFile: "ready"})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusFailed, Error: "timeout", ErrorCode: CodeTimeout, StopReason: "timeout"})
	if r.elapsed < 300*time.Millisecond || r.elapsed > 5*time.Second {
		t.Fatalf("took %v, want at least the term grace", r.elapsed)
	}
}

func TestExecLeftoverChildrenAreKilledAfterExit(t *testing.T) {
	t.Parallel()
	// The leader exits at once and leaves a child in its group that holds
	// stdout open.
	r := run(t, execCfg("sh", "-c", `sleep 30 & echo started`), runOpts{})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	if r.elapsed > 3*time.Second {
		t.Fatalf("took %v", r.elapsed)
	}
}

func TestExecCanceled(t *testing.T) {
	t.Parallel()
	r := run(t, execCfg("sh", "-c", `echo working; touch ready; sleep 30`), runOpts{cancelCause: ErrCanceled, readyFile: "ready"})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCanceled, Error: "canceled by request", ErrorCode: CodeCanceled, StopReason: "cancelled"})
	if got := joined(r.types()); got != "prompt|stdout|stop" {
		t.Fatalf("entry types %s", got)
	}
}

func TestExecCanceledWithCause(t *testing.T) {
	t.Parallel()
	cause := &Canceled{Code: "superseded", Message: "superseded by run_x"}
	r := run(t, execCfg("sleep", "30"), runOpts{ctx: cancelAfter(200*time.Millisecond, cause)})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCanceled, Error: "superseded by run_x", ErrorCode: "superseded", StopReason: "cancelled"})
}

func TestExecShutdown(t *testing.T) {
	t.Parallel()
	r := run(t, execCfg("sleep", "30"), runOpts{ctx: cancelAfter(200*time.Millisecond, ErrShutdown)})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusFailed, Error: "interrupted", ErrorCode: CodeInterrupted})
	if got := joined(r.types()); got != "prompt|error" {
		t.Fatalf("entry types %s", got)
	}
}

func TestExecSpawnFailure(t *testing.T) {
	t.Parallel()
	r := run(t, execCfg("agh-no-such-binary-xyz", "arg"), runOpts{})
	if r.Status != StatusFailed || r.ErrorCode != CodeSpawnFailed || r.StopReason != "" ||
		!strings.HasPrefix(r.Error, "start agent: ") || !strings.Contains(r.Error, "agh-no-such-binary-xyz") {
		t.Fatalf("outcome %+v", r.Outcome)
	}
	if r.SessionID != "" || len(r.sessions) != 0 || r.pgid != 0 {
		t.Fatalf("a session for a process that never started: %+v %v", r.Outcome, r.sessions)
	}
	if got := joined(r.types()); got != "prompt|error" {
		t.Fatalf("entry types %s", got)
	}

	// Not executable.
	dir := t.TempDir()
	p := filepath.Join(dir, "script")
	os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644)
	r = run(t, execCfg(p), runOpts{})
	if r.ErrorCode != CodeSpawnFailed || !strings.Contains(r.Error, "permission denied") {
		t.Fatalf("outcome %+v", r.Outcome)
	}
}

func TestExecSearchesThePATHOfTheRequest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "my-agent"), []byte("#!/bin/sh\necho mine\n"), 0o755)
	r := run(t, execCfg("my-agent"), runOpts{env: []string{"PATH=" + dir + ":" + os.Getenv("PATH")}})
	if out := r.entriesOf(TypeStdout); r.Status != StatusCompleted || len(out) != 1 || out[0].Text != "mine" {
		t.Fatalf("outcome %+v, stdout %+v", r.Outcome, out)
	}
}

func TestNoProcessAfterContextEnded(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"exec", "acp"} {
		dir := t.TempDir()
		marker := filepath.Join(dir, "started")
		ctx := cancelAfter(0, ErrCanceled)
		time.Sleep(10 * time.Millisecond)
		cfg := Config{Driver: driver, Command: []string{"sh", "-c", "touch " + marker}, Permissions: "allow"}
		r := run(t, cfg, runOpts{ctx: ctx, dir: dir})
		if r.Status != StatusCanceled || r.pgid != 0 {
			t.Fatalf("%s: outcome %+v pgid %d", driver, r.Outcome, r.pgid)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("%s: a process was started after the cancel", driver)
		}
	}
}

func TestExecuteUnknownDriver(t *testing.T) {
	t.Parallel()
	r := run(t, Config{Driver: "smoke", Command: []string{"true"}}, runOpts{})
	if r.Status != StatusFailed || r.ErrorCode != CodeSpawnFailed || r.Error != `start agent: unknown agent driver "smoke"` {
		t.Fatalf("outcome %+v", r.Outcome)
	}
}

func TestExecEscapedChildDoesNotBlockTheRun(t *testing.T) {
	t.Parallel()
	// A child that left the process group (setsid) keeps stdout open; the run
	// still ends shortly after the leader (output readers are cut off).
	r := run(t, execCfg("sh", "-c", `setsid sleep 3 & sleep 0.3; echo hi`), runOpts{})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	if r.elapsed > 2500*time.Millisecond {
		t.Fatalf("took %v", r.elapsed)
	}
	if out := r.entriesOf(TypeStdout); len(out) != 1 || out[0].Text != "hi" {
		t.Fatalf("stdout %+v", out)
	}
}

func TestExecuteResolvesPreset(t *testing.T) {
	t.Parallel()
	r := run(t, Config{Preset: "gemini", Permissions: "deny"}, runOpts{env: []string{"PATH=" + t.TempDir()}})
	if r.ErrorCode != CodeSpawnFailed || r.Error != `start agent: exec: "gemini": executable file not found in $PATH` {
		t.Fatalf("outcome %+v", r.Outcome)
	}
}
