package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/agent/agenttest"
)

// fixtureRun is a prepared run of the fixture agent.
type fixtureRun struct {
	cfg Config
	log string // what the fixture received, one JSON line each
	env []string
}

func newFixture(t *testing.T, permissions string, lines ...string) *fixtureRun {
	t.Helper()
	bin := agenttest.Fixture(t)
	script := agenttest.Script(t, lines...)
	log := filepath.Join(t.TempDir(), "received.jsonl")
	return &fixtureRun{
		cfg: Config{Name: "fixture", Driver: "acp", Command: []string{bin, script}, Permissions: permissions, MaxOutputBytes: 1 << 20},
		log: log,
		env: baseEnv("AGH_FIXTURE_LOG=" + log),
	}
}

func (f *fixtureRun) run(t *testing.T, o runOpts) *result {
	t.Helper()
	o.env = f.env
	return run(t, f.cfg, o)
}

// received returns the messages the fixture received.
func (f *fixtureRun) received(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	data, err := os.ReadFile(f.log)
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("client sent unparsable line %q", line)
		}
		out = append(out, m)
	}
	return out
}

func TestACPProtocolExchange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := newFixture(t, "allow", "handshake ses-42", "message done", "stop end_turn")
	r := f.run(t, runOpts{dir: dir, prompt: "fix \"it\"\n"})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	if r.SessionID != "ses-42" || joined(r.sessions) != "ses-42" {
		t.Fatalf("session id %q, OnSession %v", r.SessionID, r.sessions)
	}
	raw := strings.Split(strings.TrimSpace(readFile(t, f.log)), "\n")
	if len(raw) != 3 {
		t.Fatalf("client sent %d messages: %q", len(raw), raw)
	}
	wantInit := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1,"clientCapabilities":` +
		`{"fs":{"readTextFile":true,"writeTextFile":true},"terminal":false},"clientInfo":{"name":"agh","version":"` + Version + `"}}}`
	if raw[0] != wantInit {
		t.Fatalf("initialize:\n got %s\nwant %s", raw[0], wantInit)
	}
	cwd, _ := json.Marshal(dir)
	if want := `{"jsonrpc":"2.0","id":2,"method":"session/new","params":{"cwd":` + string(cwd) + `,"mcpServers":[]}}`; raw[1] != want {
		t.Fatalf("session/new:\n got %s\nwant %s", raw[1], want)
	}
	if want := `{"jsonrpc":"2.0","id":3,"method":"session/prompt","params":{"sessionId":"ses-42","prompt":[{"type":"text","text":"fix \"it\"\n"}]}}`; raw[2] != want {
		t.Fatalf("session/prompt:\n got %s\nwant %s", raw[2], want)
	}
	if got := joined(r.types()); got != "prompt|agent_message|stop" {
		t.Fatalf("entry types %s", got)
	}
}

func TestACPOutcomeMapping(t *testing.T) {
	t.Parallel()
	agentErr := func(msg string) Outcome {
		return Outcome{Status: StatusFailed, Error: msg, ErrorCode: CodeAgentError, StopReason: "error"}
	}
	cases := []struct {
		name   string
		script []string
		want   Outcome
	}{
		{"end_turn", []string{"handshake", "stop end_turn"}, Outcome{Status: StatusCompleted, StopReason: "end_turn"}},
		{"max_tokens", []string{"handshake", "stop max_tokens"}, Outcome{Status: StatusCompleted, StopReason: "max_tokens"}},
		{"max_turn_requests", []string{"handshake", "stop max_turn_requests"}, Outcome{Status: StatusCompleted, StopReason: "max_turn_requests"}},
		{"refusal", []string{"handshake", "stop refusal"},
			Outcome{Status: StatusFailed, Error: "agent refused", ErrorCode: CodeRefused, StopReason: "refusal"}},
		{"unrequested cancelled", []string{"handshake", "stop cancelled"},
			Outcome{Status: StatusFailed, Error: "agent cancelled the turn", ErrorCode: CodeAgentError, StopReason: "cancelled"}},
		{"unknown stop reason", []string{"handshake", "stop bored"}, agentErr(`agent error: unknown stop reason "bored"`)},
		{"error on initialize", []string{"recv initialize", "error -32603 init broke"}, agentErr("agent error: init broke")},
		{"error without message", []string{"recv initialize", "error -32603"}, agentErr("agent error: JSON-RPC error -32603")},
		{"error on session/new", []string{"recv initialize", `reply {"protocolVersion":1}`, "recv session/new", "error -32000 Gemini API key is missing"},
			agentErr("agent error: Gemini API key is missing")},
		{"error on session/prompt", []string{"handshake", "message partial", "error -32603 model overloaded"},
			agentErr("agent error: model overloaded")},
		{"protocol version mismatch", []string{"recv initialize", `reply {"protocolVersion":2}`}, agentErr("agent error: unsupported ACP protocol version 2")},
		{"protocol version missing", []string{"recv initialize", `reply {}`}, agentErr("agent error: unsupported ACP protocol version (none)")},
		{"no session id", []string{"recv initialize", `reply {"protocolVersion":1}`, "recv session/new", `reply {}`},
			agentErr("agent error: invalid session/new response: no sessionId")},
		{"exit before prompt response", []string{"handshake", "message working", "stderr panic: out of cheese", "exit 3"},
			agentErr("agent exited: exit status 3: panic: out of cheese")},
		{"exit before initialize response", []string{"recv initialize", "exit 0"}, agentErr("agent exited: exit status 0")},
		{"exit after stop does not matter", []string{"handshake", "stop end_turn", "exit 9"}, Outcome{Status: StatusCompleted, StopReason: "end_turn"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newFixture(t, "allow", tc.script...).run(t, runOpts{})
			wantOutcome(t, r.Outcome, tc.want)
		})
	}
}

func TestACPExitBeforeResponseKeepsTranscript(t *testing.T) {
	t.Parallel()
	r := newFixture(t, "allow", "handshake", "message working", "stderr first", "stderr second", "exit 2").run(t, runOpts{})
	if r.Error != "agent exited: exit status 2: first\nsecond" {
		t.Fatalf("error %q", r.Error)
	}
	if r.SessionID != "fixture-session" {
		t.Fatalf("session id %q", r.SessionID)
	}
	var stderr []string
	for _, e := range r.entriesOf(TypeStderr) {
		stderr = append(stderr, e.Text)
	}
	if joined(stderr) != "first|second" || joined(r.messages()) != "working" {
		t.Fatalf("entries %v", r.entries)
	}
}

func TestACPPermissions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy, options, decision, echo string
	}{
		{"allow", "r1:reject_once a2:allow_always a1:allow_once a3:allow_once", "allow_once", "a1"},
		{"allow", "r1:reject_once a2:allow_always", "allow_always", "a2"},
		{"allow", "r1:reject_once r2:reject_always", "cancelled", "cancelled"},
		{"deny", "a1:allow_once r2:reject_always r1:reject_once", "reject_once", "r1"},
		{"deny", "a1:allow_once r2:reject_always", "reject_always", "r2"},
		{"deny", "a1:allow_once", "cancelled", "cancelled"},
		{"deny", "", "cancelled", "cancelled"},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%d-%s", i, tc.policy), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.policy, "handshake", "permission call-7 Edit_config "+tc.options, "stop end_turn")
			r := f.run(t, runOpts{})
			wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
			perms := r.entriesOf(TypePermission)
			if len(perms) != 1 {
				t.Fatalf("permission entries %+v", perms)
			}
			p := perms[0]
			if p.ToolCallID != "call-7" || p.Title != "Edit_config" || p.Decision != tc.decision {
				t.Fatalf("permission entry %+v, want decision %s", p, tc.decision)
			}
			if got := joined(r.messages()); got != "permission: "+tc.echo {
				t.Fatalf("agent saw %q, want permission: %s", got, tc.echo)
			}
			// The exact answer on the wire.
			for _, m := range f.received(t) {
				if _, isResp := m["result"]; isResp {
					want := map[string]any{"outcome": map[string]any{"outcome": "cancelled"}}
					if tc.echo != "cancelled" {
						want = map[string]any{"outcome": map[string]any{"outcome": "selected", "optionId": tc.echo}}
					}
					if fmt.Sprint(m["result"]) != fmt.Sprint(want) {
						t.Fatalf("answer %v, want %v", m["result"], want)
					}
				}
			}
		})
	}
}

func TestACPFileSystem(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(ws, "notes.txt"), []byte("one\ntwo\nthree\nfour\n"), 0o644)
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("s3cret"), 0o644)
	os.Symlink(outside, filepath.Join(ws, "escape"))                           // dir link pointing outside
	os.Symlink(filepath.Join(outside, "new.txt"), filepath.Join(ws, "dangle")) // dangling link pointing outside
	os.Symlink(filepath.Join(ws, "notes.txt"), filepath.Join(ws, "inside-link"))
	os.WriteFile(filepath.Join(ws, "big.txt"), make([]byte, maxReadBytes+1), 0o644)

	f := newFixture(t, "allow",
		"handshake",
		"read ${cwd}/notes.txt",
		"read ${cwd}/notes.txt 2 2",
		"read ${cwd}/notes.txt 4",
		"read ${cwd}/inside-link 1 1",
		"write ${cwd}/sub/dir/out.txt \"hello\\nworld\"",
		"read ${cwd}/sub/dir/out.txt",
		"read "+outside+"/secret.txt",
		"read ${cwd}/escape/secret.txt",
		"write ${cwd}/escape/planted.txt boom",
		"write ${cwd}/dangle boom",
		"write ${cwd}/../"+filepath.Base(outside)+"/dotdot.txt boom",
		"read notes.txt",
		"read ${cwd}/missing.txt",
		"read ${cwd}/big.txt",
		"stop end_turn",
	)
	r := f.run(t, runOpts{dir: ws})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	want := []string{
		"read: one\ntwo\nthree\nfour\n",
		"read: two\nthree\n",
		"read: four\n",
		"read: one\n",
		"write: ok",
		"read: hello\nworld",
		"read error -32000: path outside workspace",
		"read error -32000: path outside workspace",
		"write error -32000: path outside workspace",
		"write error -32000: path outside workspace",
		"write error -32000: path outside workspace",
		"read error -32000: path outside workspace",
		"read error -32002: resource not found: " + filepath.Join(ws, "missing.txt"),
		fmt.Sprintf("read error -32603: file is larger than %d bytes", maxReadBytes),
	}
	// Each echo is its own message: the fs entries in between end the
	// joining.
	if got := r.messages(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("agent saw\n%q\nwant\n%q", got, want)
	}
	var fsEntries []string
	for _, e := range r.entriesOf(TypeFS) {
		fsEntries = append(fsEntries, fmt.Sprintf("%s %s %v", e.Op, strings.Replace(e.Path, ws, "WS", 1), *e.Allowed))
	}
	wantFS := []string{
		"read WS/notes.txt true", "read WS/notes.txt true", "read WS/notes.txt true", "read WS/inside-link true",
		"write WS/sub/dir/out.txt true", "read WS/sub/dir/out.txt true",
		"read " + outside + "/secret.txt false", "read WS/escape/secret.txt false",
		"write WS/escape/planted.txt false", "write WS/dangle false",
		"write WS/../" + filepath.Base(outside) + "/dotdot.txt false",
		"read notes.txt false", "read WS/missing.txt true", "read WS/big.txt true",
	}
	if joined(fsEntries) != joined(wantFS) {
		t.Fatalf("fs entries\n%s\nwant\n%s", strings.Join(fsEntries, "\n"), strings.Join(wantFS, "\n"))
	}
	for _, p := range []string{"planted.txt", "new.txt", "dotdot.txt"} {
		if _, err := os.Stat(filepath.Join(outside, p)); err == nil {
			t.Fatalf("%s was written outside the workspace", p)
		}
	}
}

func TestACPUnknownMethodsAreNotFound(t *testing.T) {
	t.Parallel()
	r := newFixture(t, "allow",
		"handshake",
		`call terminal/create {"sessionId":"fixture-session","command":"ls"}`,
		"call session/whatever",
		"stop end_turn",
	).run(t, runOpts{})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	if got := joined(r.messages()); got != "call error -32601: Method not foundcall error -32601: Method not found" {
		t.Fatalf("agent saw %q", got)
	}
}

func TestACPGarbageAndUnknownResponses(t *testing.T) {
	t.Parallel()
	r := newFixture(t, "allow",
		"handshake",
		"raw this is not json",
		`raw {"jsonrpc":"2.0"}`,
		`raw {"jsonrpc":"2.0","id":999,"result":{"stopReason":"refusal"}}`,
		`raw {"jsonrpc":"2.0","id":"other","result":null}`,
		`raw {"jsonrpc":"2.0","method":"session/update","params":"nope"}`,
		`raw {"jsonrpc":"2.0","id":5,"method":"fs/read_text_file","params":{"path":7}}`,
		`raw {"jsonrpc":"2.0","method":"something/else","params":{}}`,
		`update {"sessionUpdate":"available_commands_update","availableCommands":[]}`,
		"message still fine",
		"stop end_turn",
	).run(t, runOpts{})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	var errs []string
	for _, e := range r.entriesOf(TypeError) {
		errs = append(errs, e.Text)
	}
	if len(errs) != 4 ||
		!strings.HasPrefix(errs[0], "unparsable message from agent: ") || !strings.HasSuffix(errs[0], ": this is not json") ||
		errs[1] != `message from agent has neither method nor id: {"jsonrpc":"2.0"}` ||
		!strings.HasPrefix(errs[2], "unparsable session/update from agent") ||
		!strings.HasPrefix(errs[3], "unparsable fs/read_text_file request from agent") {
		t.Fatalf("error entries %q", errs)
	}
	if got := joined(r.types()); got != "prompt|error|error|error|error|agent_message|stop" {
		t.Fatalf("entry types %s", got)
	}
}

func TestACPGarbageIsBounded(t *testing.T) {
	t.Parallel()
	lines := []string{"handshake"}
	for i := 0; i < maxProtocolErrors+20; i++ {
		lines = append(lines, "raw garbage")
	}
	lines = append(lines, "stop end_turn")
	r := newFixture(t, "allow", lines...).run(t, runOpts{})
	if n := len(r.entriesOf(TypeError)); r.Status != StatusCompleted || n != maxProtocolErrors {
		t.Fatalf("outcome %+v, %d error entries", r.Outcome, n)
	}
}

func TestACPTranscriptJoiningAndUpdates(t *testing.T) {
	t.Parallel()
	r := newFixture(t, "allow",
		"handshake",
		"message Hel",
		"message lo",
		"thought hmm",
		"thought \" more\"",
		"message again",
		`update {"sessionUpdate":"tool_call","toolCallId":"t1","title":"Read file","kind":"read","status":"pending","locations":[{"path":"/x"}]}`,
		`update {"sessionUpdate":"tool_call_update","toolCallId":"t1","status":"completed","rawOutput":{"ok":true}}`,
		`update {"sessionUpdate":"plan","entries":[{"content":"step","priority":"high","status":"pending"}]}`,
		`update {"sessionUpdate":"user_message_chunk","content":{"type":"text","text":"ignored"}}`,
		`update {"sessionUpdate":"agent_message_chunk","content":{"type":"image","data":"AA==","mimeType":"image/png"}}`,
		"message x",
		"stop end_turn",
	).run(t, runOpts{})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	var got []string
	for _, e := range r.entries {
		s := e.Type
		if e.Text != "" {
			s += "=" + e.Text
		}
		if e.ToolCallID != "" {
			s += fmt.Sprintf(" %s/%s/%s/%s", e.ToolCallID, e.Title, e.Kind, e.Status)
		}
		if e.Data != nil {
			s += " " + string(e.Data)
		}
		got = append(got, s)
	}
	want := []string{
		"prompt=do the thing",
		"agent_message=Hello",
		"agent_thought=hmm more",
		"agent_message=again",
		`tool_call t1/Read file/read/pending {"sessionUpdate":"tool_call","toolCallId":"t1","title":"Read file","kind":"read","status":"pending","locations":[{"path":"/x"}]}`,
		`tool_call_update t1///completed {"sessionUpdate":"tool_call_update","toolCallId":"t1","status":"completed","rawOutput":{"ok":true}}`,
		`plan {"sessionUpdate":"plan","entries":[{"content":"step","priority":"high","status":"pending"}]}`,
		"agent_message=x",
		"stop",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("entries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestACPBudgetTruncation(t *testing.T) {
	t.Parallel()
	tr := NewTranscript(1024, nil)
	a600 := strings.Repeat("a", 600)
	r := newFixture(t, "allow",
		"handshake",
		"message "+a600,
		"message "+a600,
		`update {"sessionUpdate":"tool_call","toolCallId":"t1","title":"dropped"}`,
		"raw garbage after the budget",
		"stop end_turn",
	).run(t, runOpts{tr: tr, prompt: strings.Repeat("p", 5000)})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	if !r.truncated {
		t.Fatal("not truncated")
	}
	if got := joined(r.types()); got != "prompt|agent_message|error|stop" {
		t.Fatalf("entry types %s", got)
	}
	if len(r.entries[0].Text) != 5000 || len(r.entries[1].Text) != 1024 {
		t.Fatalf("prompt %d bytes, message %d bytes", len(r.entries[0].Text), len(r.entries[1].Text))
	}
}

func TestACPCancelHonoured(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "allow", "handshake", "message starting", "await-cancel 20s", "message after cancel")
	r := f.run(t, runOpts{cancelCause: ErrCanceled, cancelDelay: 300 * time.Millisecond})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCanceled, Error: "canceled by request", ErrorCode: CodeCanceled, StopReason: "cancelled"})
	if r.elapsed > 4*time.Second {
		t.Fatalf("took %v", r.elapsed)
	}
	// The transcript keeps recording until the process exits.
	if got := joined(r.messages()); got != "startingafter cancel" && got != "starting" {
		t.Fatalf("messages %q", got)
	}
	msgs := f.received(t)
	last := msgs[len(msgs)-1]
	if last["method"] != "session/cancel" || fmt.Sprint(last["params"]) != "map[sessionId:fixture-session]" || last["id"] != nil {
		t.Fatalf("last message sent %v", last)
	}
}

func TestACPCancelIgnored(t *testing.T) {
	t.Parallel()
	// The agent ignores session/cancel and SIGTERM: cancel grace, term grace,
	// then SIGKILL; a child in its group dies too.
	f := newFixture(t, "allow", "handshake", "ignore-term", "child 30s", "sleep 30s")
	grace := 300 * time.Millisecond
	r := f.run(t, runOpts{cancelCause: ErrCanceled, cancelDelay: 200 * time.Millisecond, grace: grace})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCanceled, Error: "canceled by request", ErrorCode: CodeCanceled, StopReason: "cancelled"})
	if r.elapsed < 200*time.Millisecond+2*grace-50*time.Millisecond || r.elapsed > 5*time.Second {
		t.Fatalf("took %v", r.elapsed)
	}
}

func TestACPTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "allow", "handshake", "message thinking", "sleep 30s")
	f.cfg.Timeout = 1500 * time.Millisecond
	r := f.run(t, runOpts{grace: 300 * time.Millisecond})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusFailed, Error: "timeout", ErrorCode: CodeTimeout, StopReason: "timeout"})
	if got := joined(r.types()); got != "prompt|agent_message|error|stop" {
		t.Fatalf("entry types %s", got)
	}
	if r.SessionID != "fixture-session" {
		t.Fatalf("session id %q", r.SessionID)
	}
}

func TestACPTimeoutDuringInitialize(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "allow", "recv initialize", "sleep 30s")
	f.cfg.Timeout = 300 * time.Millisecond
	r := f.run(t, runOpts{grace: 300 * time.Millisecond})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusFailed, Error: "timeout", ErrorCode: CodeTimeout, StopReason: "timeout"})
	if len(r.sessions) != 0 || r.SessionID != "" {
		t.Fatalf("sessions %v", r.sessions)
	}
	for _, m := range f.received(t) {
		if m["method"] == "session/cancel" {
			t.Fatal("session/cancel without a session")
		}
	}
}

func TestACPShutdown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "allow", "handshake", "await-cancel 30s")
	r := f.run(t, runOpts{cancelCause: ErrShutdown, cancelDelay: 200 * time.Millisecond})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusFailed, Error: "interrupted", ErrorCode: CodeInterrupted})
}

func TestACPAgentThatDoesNotExitAfterTheTurn(t *testing.T) {
	t.Parallel()
	// Step 6: stdin closed, the agent stays (and leaves a child): after the
	// exit grace the group is terminated; the outcome is still completed.
	f := newFixture(t, "allow", "handshake", "child 30s", "stop max_tokens", "hang")
	r := f.run(t, runOpts{grace: 300 * time.Millisecond})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "max_tokens"})
	if r.elapsed < 250*time.Millisecond || r.elapsed > 3*time.Second {
		t.Fatalf("took %v", r.elapsed)
	}
}

func TestACPPermissionAfterCancelIsCancelled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "allow", "handshake", "wait-cancel 20s", "permission t9 Late a1:allow_once", "stop cancelled")
	r := f.run(t, runOpts{cancelCause: ErrCanceled, cancelDelay: 100 * time.Millisecond, grace: 2 * time.Second})
	if r.Status != StatusCanceled {
		t.Fatalf("outcome %+v", r.Outcome)
	}
	if p := r.entriesOf(TypePermission); len(p) != 1 || p[0].Decision != "cancelled" {
		t.Fatalf("permission entries %+v", p)
	}
}

func TestACPSpawnFailure(t *testing.T) {
	t.Parallel()
	r := run(t, Config{Driver: "acp", Command: []string{"/nonexistent/agent"}, Permissions: "allow"}, runOpts{})
	if r.Status != StatusFailed || r.ErrorCode != CodeSpawnFailed || !strings.HasPrefix(r.Error, "start agent: ") {
		t.Fatalf("outcome %+v", r.Outcome)
	}
}
