package agent

// Tests against real ACP peers: the acp-go-sdk's example agent (built from
// the module cache) and Gemini CLI (installed from the npm registry).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var sdkAgent struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// sdkExampleAgent builds github.com/coder/acp-go-sdk/example/agent once.
func sdkExampleAgent(t *testing.T) string {
	t.Helper()
	sdkAgent.once.Do(func() {
		sdkAgent.dir, sdkAgent.err = os.MkdirTemp("", "agh-sdk-agent-")
		if sdkAgent.err != nil {
			return
		}
		sdkAgent.bin = filepath.Join(sdkAgent.dir, "agent")
		out, err := exec.Command("go", "build", "-o", sdkAgent.bin, "github.com/coder/acp-go-sdk/example/agent").CombinedOutput()
		if err != nil {
			sdkAgent.err = fmt.Errorf("%v: %s", err, out)
		}
	})
	if sdkAgent.err != nil {
		t.Fatalf("build the SDK example agent: %v", sdkAgent.err)
	}
	return sdkAgent.bin
}

// cleanupPeers removes the built SDK example agent (called by TestMain).
func cleanupPeers() {
	if sdkAgent.dir != "" {
		os.RemoveAll(sdkAgent.dir)
	}
}

// TestSDKExampleAgentFullTurn runs the SDK's own example agent (an
// AgentSideConnection peer): message chunks, tool calls and a permission
// request over the real SDK framing.
func TestSDKExampleAgentFullTurn(t *testing.T) {
	t.Parallel()
	bin := sdkExampleAgent(t)
	r := run(t, Config{Driver: "acp", Command: []string{bin}, Permissions: "deny"}, runOpts{})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCompleted, StopReason: "end_turn"})
	if !strings.HasPrefix(r.SessionID, "sess_") {
		t.Fatalf("session id %q", r.SessionID)
	}
	p := r.entriesOf(TypePermission)
	if len(p) != 1 || p[0].ToolCallID != "call_2" || p[0].Decision != "reject_once" {
		t.Fatalf("permission entries %+v", p)
	}
	calls := r.entriesOf(TypeToolCall)
	if len(calls) != 2 || calls[0].ToolCallID != "call_1" || calls[0].Kind != "read" || calls[0].Status != "pending" {
		t.Fatalf("tool calls %+v", calls)
	}
	var data map[string]any
	if err := json.Unmarshal(calls[0].Data, &data); err != nil || data["sessionUpdate"] != "tool_call" {
		t.Fatalf("raw data %s", calls[0].Data)
	}
	msgs := strings.Join(r.messages(), "|")
	if !strings.Contains(msgs, "I understand you prefer not to make that change") {
		t.Fatalf("messages %q", msgs)
	}
}

// TestSDKExampleAgentHonoursCancel: the example agent ends its turn with
// "cancelled" on session/cancel; the run is canceled, quickly.
func TestSDKExampleAgentHonoursCancel(t *testing.T) {
	t.Parallel()
	bin := sdkExampleAgent(t)
	r := run(t, Config{Driver: "acp", Command: []string{bin}, Permissions: "allow"},
		runOpts{cancelCause: ErrCanceled, cancelDelay: 100 * time.Millisecond})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusCanceled, Error: "canceled by request", ErrorCode: CodeCanceled, StopReason: "cancelled"})
	if r.elapsed > 3*time.Second {
		t.Fatalf("took %v", r.elapsed)
	}
}

const geminiPackage = "@google/gemini-cli@0.61.0"

var gemini struct {
	once sync.Once
	bin  string
	skip string
	err  error
}

var networkErrorRe = regexp.MustCompile(`ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|socket hang up|network`)

// geminiCLI returns the gemini binary, installing the package with npm into
// <tmp>/agh-npm-cache/gemini on first use (reused afterwards). It skips the
// test only when the npm registry cannot be reached.
func geminiCLI(t *testing.T) string {
	t.Helper()
	gemini.once.Do(func() {
		dir := filepath.Join(os.TempDir(), "agh-npm-cache", "gemini")
		bin := filepath.Join(dir, "node_modules", ".bin", "gemini")
		manifest := filepath.Join(dir, "node_modules", "@google", "gemini-cli", "package.json")
		installed := func() bool {
			var pkg struct{ Version string }
			b, err := os.ReadFile(manifest)
			return err == nil && json.Unmarshal(b, &pkg) == nil && pkg.Version == "0.61.0" && fileExists(bin)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			gemini.err = err
			return
		}
		// Serialize installs of concurrent test processes.
		lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			gemini.err = err
			return
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			gemini.err = err
			return
		}
		if installed() {
			gemini.bin = bin
			return
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			gemini.err = fmt.Errorf("npm is needed for this test: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		out, err := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", geminiPackage).CombinedOutput()
		if err != nil {
			if networkErrorRe.Match(out) {
				gemini.skip = fmt.Sprintf("npm registry unreachable, cannot install %s: %v\n%s", geminiPackage, err, out)
				return
			}
			gemini.err = fmt.Errorf("npm install %s: %v\n%s", geminiPackage, err, out)
			return
		}
		t.Logf("installed %s in %v", geminiPackage, time.Since(start).Round(time.Millisecond))
		if !installed() {
			gemini.err = fmt.Errorf("npm install %s succeeded but %s is missing", geminiPackage, bin)
			return
		}
		gemini.bin = bin
	})
	if gemini.skip != "" {
		t.Skip(gemini.skip)
	}
	if gemini.err != nil {
		t.Fatal(gemini.err)
	}
	return gemini.bin
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestGeminiWithoutAPIKey: Gemini CLI answers initialize, then refuses
// session/new with a JSON-RPC error; the run fails with the agent's message.
func TestGeminiWithoutAPIKey(t *testing.T) {
	t.Parallel()
	bin := geminiCLI(t)
	cfg := Config{Name: "gemini", Preset: "gemini", Command: []string{bin, "--experimental-acp"}, Permissions: "deny", Timeout: 2 * time.Minute} // Gemini CLI can take tens of seconds to start on a loaded 2-core machine
	r := run(t, cfg, runOpts{env: baseEnv("HOME=" + t.TempDir())})
	if r.Status != StatusFailed || r.ErrorCode != CodeAgentError || r.StopReason != "error" ||
		!strings.HasPrefix(r.Error, "agent error: ") || !strings.Contains(r.Error, "API key") {
		t.Fatalf("outcome %+v", r.Outcome)
	}
	if len(r.sessions) != 0 {
		t.Fatalf("sessions %v", r.sessions)
	}
}

// TestGeminiTimeoutKillsGroup: with a (dummy) key Gemini CLI opens a real
// session; the prompt gets no answer without network, so the run times out,
// and nothing of the agent's process group survives (Gemini CLI relaunches
// itself as a child node process in the same group).
//
// Gemini CLI needs 3–10 s to start on this (shared, 2-core) machine, so a
// fixed 8 s agent timeout would sometimes expire before session/new. The
// timeout is therefore started when the session exists: 3 s after OnSession
// the context ends with cause ErrTimeout, exactly what Execute's
// context.WithTimeoutCause does; the agent's own Timeout is a backstop.
func TestGeminiTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	bin := geminiCLI(t)
	cfg := Config{Name: "gemini", Driver: "acp", Command: []string{bin, "--experimental-acp"}, Permissions: "deny", Timeout: 2 * time.Minute}
	r := run(t, cfg, runOpts{
		env:         baseEnv("HOME="+t.TempDir(), "GEMINI_API_KEY=dummy"),
		grace:       2 * time.Second,
		cancelCause: ErrTimeout, cancelDelay: 3 * time.Second,
	})
	wantOutcome(t, r.Outcome, Outcome{Status: StatusFailed, Error: "timeout", ErrorCode: CodeTimeout, StopReason: "timeout"})
	if len(r.sessions) != 1 || r.sessions[0] == "" || r.SessionID != r.sessions[0] {
		t.Fatalf("sessions %v, outcome session %q", r.sessions, r.SessionID)
	}
	if r.pgid == 0 {
		t.Fatal("no process group")
	}
	// run() checked that the group is gone.
	t.Logf("gemini session %s; run took %v", r.SessionID, r.elapsed)
}
