package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Line and tail limits (SPEC §10.4, §5.4).
const (
	maxLineBytes = 64 << 10 // longer stdout/stderr lines are split
	tailBytes    = 2048     // stderr tail used in error messages
	// drainGrace bounds how long output readers may run on after the process
	// group is gone (a process that left the group may hold the pipes open).
	drainGrace = time.Second
)

// proc is a started agent process in its own process group, with pipes for
// stdin, stdout and stderr.
type proc struct {
	cmd    *exec.Cmd
	pgid   int
	stdin  *os.File // write end
	stdout *os.File // read end
	stderr *os.File // read end

	exited chan struct{} // closed when the leader has been reaped
	state  *os.ProcessState

	tail      tailBuffer
	stderrEOF chan struct{}
}

// lookPath finds argv[0] like exec.LookPath, but in the given PATH value.
func lookPath(file, path string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

// start spawns argv in dir with env in a new process group. onStderr, when
// not nil, receives every stderr line (split at 64 KiB); the last 2048 bytes
// of stderr are kept in any case.
func start(argv []string, dir string, env []string, onStderr func(string)) (*proc, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("empty command")
	}
	path, err := lookPath(argv[0], pathEnv(env))
	if err != nil {
		return nil, err
	}
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return
	}
	inR, inW, err := pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := pipe()
	if err != nil {
		closeAll()
		return nil, err
	}
	errR, errW, err := pipe()
	if err != nil {
		closeAll()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        argv,
		Dir:         dir,
		Env:         processEnv(env),
		Stdin:       inR,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, err
	}
	inR.Close()
	outW.Close()
	errW.Close()
	p := &proc{
		cmd:       cmd,
		pgid:      cmd.Process.Pid,
		stdin:     inW,
		stdout:    outR,
		stderr:    errR,
		exited:    make(chan struct{}),
		stderrEOF: make(chan struct{}),
	}
	go func() {
		_ = cmd.Wait() // non-nil for non-zero exits; the state says it all
		p.state = cmd.ProcessState
		close(p.exited)
	}()
	go func() {
		defer close(p.stderrEOF)
		readLines(io.TeeReader(p.stderr, &p.tail), func(line string) {
			if onStderr != nil {
				onStderr(line)
			}
		})
	}()
	return p, nil
}

// hasExited reports whether the leader has been reaped.
func (p *proc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// groupAlive reports whether any process of the group is still running.
// Killed orphans stay zombies until init reaps them (which may take a
// while); they do not count.
func (p *proc) groupAlive() bool {
	if syscall.Kill(-p.pgid, 0) != nil {
		return false
	}
	live, err := groupHasLiveMember(p.pgid)
	if err != nil {
		return true // no /proc: trust kill
	}
	return live
}

// groupHasLiveMember scans /proc for a non-zombie process of group pgid.
func groupHasLiveMember(pgid int) (bool, error) {
	pids, err := Pids()
	if err != nil {
		return false, err
	}
	for _, pid := range pids {
		if g, ok := LiveProcessGroup(pid); ok && g == pgid {
			return true, nil
		}
	}
	return false, nil
}

// Pids lists the processes of this host (from /proc).
func Pids() ([]int, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(names))
	for _, name := range names {
		if pid, err := strconv.Atoi(name); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// LiveProcessGroup returns the process group of pid, unless the process is a zombie or gone.
func LiveProcessGroup(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// pid (comm) state ppid pgrp …; comm may contain spaces and ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	pgid, err := strconv.Atoi(f[2])
	return pgid, err == nil
}

// signal sends sig to the process group and, should the leader have left
// its group, to the leader itself (so that waiting for it cannot hang). The
// error is the group's.
func (p *proc) signal(sig syscall.Signal) error {
	err := syscall.Kill(-p.pgid, sig)
	if !p.hasExited() {
		_ = p.cmd.Process.Signal(sig) // a no-op error once it has been reaped
	}
	return err
}

// waitExit waits up to d for the leader to exit.
func (p *proc) waitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		return false
	}
}

// terminate ends the whole process group: SIGTERM, up to grace for the leader
// to exit and the group to empty, then SIGKILL. It returns once the leader
// has been reaped. Calling it when everything is gone already is cheap.
func (p *proc) terminate(grace time.Duration) {
	p.stdin.Close()
	err := p.signal(syscall.SIGTERM)
	if err != nil && p.hasExited() {
		return // ESRCH: nothing left
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if p.hasExited() && !p.groupAlive() {
			return
		}
		wait := 20 * time.Millisecond
		if !p.hasExited() {
			wait = time.Until(deadline)
			if wait > 50*time.Millisecond {
				wait = 50 * time.Millisecond
			}
			p.waitExit(wait)
			continue
		}
		time.Sleep(wait)
	}
	_ = p.signal(syscall.SIGKILL)
	<-p.exited
	// SIGKILL is delivered at once, but dying takes a moment: wait (briefly)
	// until no member is running any more.
	for i := 0; i < 100 && p.groupAlive(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// drain waits for the stderr reader (and the given extra readers) to reach
// EOF; after drainGrace it closes the read ends, which ends them.
func (p *proc) drain(extra ...<-chan struct{}) {
	all := append([]<-chan struct{}{p.stderrEOF}, extra...)
	t := time.NewTimer(drainGrace)
	defer t.Stop()
	for _, ch := range all {
		select {
		case <-ch:
		case <-t.C:
			p.stdout.Close()
			p.stderr.Close()
			for _, ch := range all {
				<-ch
			}
			return
		}
	}
	p.stdout.Close()
	p.stderr.Close()
}

// exitDescription describes how the leader ended: "exit status <n>" or
// "signal: <name>".
func (p *proc) exitDescription() string {
	st := p.state
	if st == nil {
		return "exit status unknown"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal: " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", st.ExitCode())
}

// withTail appends ": <stderr tail>" when stderr had any (trimmed) content.
func (p *proc) withTail(msg string) string {
	if tail := p.tail.String(); tail != "" {
		return msg + ": " + tail
	}
	return msg
}

// tailBuffer keeps the last tailBytes bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > tailBytes {
		b.buf = append(b.buf[:0:0], b.buf[len(b.buf)-tailBytes:]...)
	}
	return len(p), nil
}

// String returns the tail, trimmed, with invalid UTF-8 replaced.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(strings.ToValidUTF8(string(b.buf), "\uFFFD"))
}

// readLines calls fn for every line of r (without the line terminator),
// splitting lines longer than maxLineBytes at a UTF-8 boundary, until EOF or
// a read error. Invalid UTF-8 is replaced.
func readLines(r io.Reader, fn func(string)) {
	br := bufio.NewReaderSize(r, maxLineBytes)
	var pending []byte
	for {
		chunk, err := br.ReadSlice('\n')
		pending = append(pending, chunk...)
		switch {
		case err == nil:
			line := pending[:len(pending)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			emitSplit(line, fn)
			pending = pending[:0]
		case errors.Is(err, bufio.ErrBufferFull):
			for len(pending) > maxLineBytes {
				cut := splitPoint(pending, maxLineBytes)
				fn(strings.ToValidUTF8(string(pending[:cut]), "\uFFFD"))
				pending = append(pending[:0], pending[cut:]...)
			}
		default:
			if len(pending) > 0 {
				emitSplit(pending, fn)
			}
			return
		}
	}
}

func emitSplit(line []byte, fn func(string)) {
	for len(line) > maxLineBytes {
		cut := splitPoint(line, maxLineBytes)
		fn(strings.ToValidUTF8(string(line[:cut]), "\uFFFD"))
		line = line[cut:]
	}
	fn(strings.ToValidUTF8(string(line), "\uFFFD"))
}

// splitPoint returns a cut index <= n that does not split a UTF-8 sequence
// (or n when there is no such boundary nearby).
func splitPoint(b []byte, n int) int {
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return n
}

// isNotExist reports a missing file.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
