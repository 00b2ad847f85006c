package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/client"
)

// AghPackage is the import path of the agh command.
const AghPackage = "github.com/agh-dev/agh/cmd/agh"

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// BuildAgh returns the path of the agh binary, building ./cmd/agh on first use (once per test
// binary). The build directory is removed when the test binary exits (see CleanupBinary).
func BuildAgh(t testing.TB) string {
	t.Helper()
	binOnce.Do(buildAgh)
	if binErr != nil {
		t.Fatalf("build agh: %v", binErr)
	}
	return binPath
}

func buildAgh() {
	binDir, binErr = os.MkdirTemp("", "agh-bin-")
	if binErr != nil {
		return
	}
	watchParent(binDir)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go") // not on PATH: the toolchain's
	}
	binPath = filepath.Join(binDir, "agh")
	out, err := exec.Command(goBin, "build", "-o", binPath, AghPackage).CombinedOutput()
	if err != nil {
		binErr = fmt.Errorf("%v: %s", err, out)
	}
}

// watchParent starts a tiny shell that removes dir once this test binary has exited, so the
// built binary does not outlive the test run even when TestMain does not call CleanupBinary.
func watchParent(dir string) {
	cmd := exec.Command("sh", "-c", `while kill -0 "$1" 2>/dev/null; do sleep 1; done; rm -rf "$2"`,
		"agh-bin-cleanup", fmt.Sprint(os.Getpid()), dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cmd.Start() == nil {
		go func() { _ = cmd.Wait() }()
	}
}

// CleanupBinary removes the built agh binary, if any. TestMain may call it after m.Run.
func CleanupBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// ProcOptions configure StartProcess.
type ProcOptions struct {
	// DataDir is the daemon's data directory (default: a new temp directory).
	DataDir string
	// Config, when set, is written to <data_dir>/config.toml.
	Config string
	// Env is added to the daemon's environment (KEY=VALUE). AGH_HOME, AGH_API_TOKEN,
	// AGH_SECRET_KEY and AGH_ADDR are removed from the inherited environment.
	Env []string
}

// Proc is an `agh daemon` process started from the compiled binary.
type Proc struct {
	DataDir string
	Addr    string // 127.0.0.1:<port>
	// Client talks TCP and validates every response against openapi.json. It stays valid
	// across Restart.
	Client *client.Client
	// Socket talks over <data_dir>/agh.sock.
	Socket *client.Client

	t         testing.TB
	bin       string
	env       []string
	transport *http.Transport
	cmd       *exec.Cmd
	waited    chan struct{}
	waitErr   error
	logDir    string
	logs      []string // stderr files, one per start
}

// StartProcess starts `agh daemon --data-dir D --addr 127.0.0.1:<free port>` and waits until
// it answers GET /api/status over its Unix socket. The process is killed when the test ends.
func StartProcess(t testing.TB, o ProcOptions) *Proc {
	t.Helper()
	bin := BuildAgh(t)
	dir := o.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	if o.Config != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(o.Config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Temp directories are created before the cleanup is registered so that the process is
	// killed (cleanups run last-in first-out) before they are removed.
	p := &Proc{DataDir: dir, t: t, bin: bin, logDir: t.TempDir()}
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "AGH_HOME", "AGH_API_TOKEN", "AGH_SECRET_KEY", "AGH_ADDR":
			continue
		}
		p.env = append(p.env, kv)
	}
	p.env = append(p.env, o.Env...)
	p.transport = http.DefaultTransport.(*http.Transport).Clone()
	p.Client = client.NewTCP("http://127.0.0.1", "")
	p.Client.HTTP.Transport = NewValidatingTransport(t, p.transport)
	p.Socket = client.NewSocket(filepath.Join(dir, "agh.sock"))
	p.Socket.HTTP.Timeout = 5 * time.Second
	t.Cleanup(p.cleanup)
	p.start("")
	return p
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start launches the daemon on addr (a free port when empty); if the port was taken in the
// meantime it retries on another one.
func (p *Proc) start(addr string) {
	t := p.t
	t.Helper()
	for attempt := 0; ; attempt++ {
		if addr == "" {
			addr = freeAddr(t)
		}
		code, err := p.launch(addr)
		if err == nil {
			return
		}
		if code == 1 && attempt < 3 && strings.Contains(p.lastLog(), "address already in use") {
			addr = ""
			continue
		}
		t.Fatalf("agh daemon did not start: %v\n%s", err, p.lastLog())
	}
}

func (p *Proc) launch(addr string) (int, error) {
	logf, err := os.CreateTemp(p.logDir, "agh-stderr-*.log")
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	p.logs = append(p.logs, logf.Name())
	cmd := exec.Command(p.bin, "daemon", "--data-dir", p.DataDir, "--addr", addr)
	cmd.Env = p.env
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	p.cmd = cmd
	p.waited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) {
		p.waitErr = c.Wait()
		close(done)
	}(cmd, p.waited)

	p.Addr = addr
	p.Client.Base = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.waited:
			return exitCode(p.waitErr), fmt.Errorf("exited during startup: %v", p.waitErr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := p.Socket.Raw(ctx, "GET", "/api/status", nil, nil)
		cancel()
		if err == nil && resp.Status == 200 {
			return 0, nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return 0, errors.New("no answer on GET /api/status within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// Running reports whether the process is still alive.
func (p *Proc) Running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.waited:
		return false
	default:
		return true
	}
}

// Pid is the daemon's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL and waits for the process to exit.
func (p *Proc) Kill() {
	p.t.Helper()
	if !p.Running() {
		p.t.Fatal("Kill: the daemon is not running")
	}
	p.kill()
}

func (p *Proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.waited
	p.transport.CloseIdleConnections()
	p.Socket.HTTP.CloseIdleConnections()
}

// Stop sends SIGTERM, waits for the process to exit (at most 60 s, then SIGKILL) and returns
// its exit status (-1 when it died from a signal).
func (p *Proc) Stop() int {
	p.t.Helper()
	if !p.Running() {
		p.t.Fatal("Stop: the daemon is not running")
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.waited:
	case <-time.After(60 * time.Second):
		p.t.Errorf("daemon did not exit within 60s of SIGTERM\n%s", p.lastLog())
		p.kill()
	}
	p.transport.CloseIdleConnections()
	p.Socket.HTTP.CloseIdleConnections()
	return exitCode(p.waitErr)
}

// Restart starts the daemon again on the same data directory and address (stopping it
// gracefully first if it still runs). Client keeps working.
func (p *Proc) Restart() {
	p.t.Helper()
	if p.Running() {
		if code := p.Stop(); code != 0 {
			p.t.Fatalf("daemon exited %d on SIGTERM\n%s", code, p.lastLog())
		}
	}
	p.start(p.Addr)
}

// Logs returns everything the daemon wrote to stdout/stderr, over all its starts.
func (p *Proc) Logs() string {
	var b strings.Builder
	for i, f := range p.logs {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "---- start %d ----\n%s", i+1, data)
	}
	return b.String()
}

func (p *Proc) lastLog() string {
	if len(p.logs) == 0 {
		return ""
	}
	data, _ := os.ReadFile(p.logs[len(p.logs)-1])
	return string(data)
}

func (p *Proc) cleanup() {
	if p.Running() {
		p.kill()
	}
	if p.t.Failed() {
		logs := p.Logs()
		if len(logs) > 16<<10 {
			logs = "…" + logs[len(logs)-16<<10:]
		}
		p.t.Logf("agh daemon output:\n%s", logs)
	}
}
