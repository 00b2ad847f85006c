// Package pgtest starts a throwaway PostgreSQL server for tests.
//
// One server runs per test binary, started on first use: initdb on a temporary directory owned
// by the postgres user (initdb refuses to run as root), listening on 127.0.0.1 and a free port,
// with its Unix socket inside that directory and durability switched off (fsync,
// full_page_writes, synchronous_commit). Every Start call creates a fresh database and returns
// its URL; StartFrom copies a template database that is set up once (a migrated schema, say).
// When /usr/lib/postgresql/*/bin/initdb is missing, the Debian package is installed with
// apt-get.
//
// The server is stopped (and its directory removed) by Main or Stop at the end of the test
// binary and on SIGINT/SIGTERM; the postmaster also gets SIGINT from the kernel if the test
// binary dies without cleaning up (Pdeathsig). Tests never skip: if PostgreSQL cannot be started
// the test fails with the reason.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	mu       sync.Mutex // guards srv, startErr, started
	srv      *server
	startErr error
	started  bool
	dbSeq    atomic.Int64
)

// server is a running postmaster.
type server struct {
	dir  string // temporary directory: data/, socket, log
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited

	pools map[string]*pool // by template name, guarded by mu
}

// Main runs the tests and then stops the server; use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Start returns the URL of a new, empty database on the test binary's PostgreSQL server,
// starting the server on first use. It fails the test if PostgreSQL cannot be started. The
// database is dropped when the test ends.
//
// CREATE DATABASE takes a few hundred milliseconds on a busy machine, so from the second call
// on a spare database is created in the background while the test runs.
func Start(t testing.TB) string {
	t.Helper()
	return StartFrom(t, "", nil)
}

// StartFrom is Start for databases that all begin in the same state: the first call with a
// given template name creates the template database and runs setup on its URL (setup must
// close its connections before returning); every call returns a new database copied from it.
// A schema that takes long to create (migrations) is thus created once per test binary.
// The empty name is the server's empty template (setup is not called).
func StartFrom(t testing.TB, template string, setup func(url string) error) string {
	t.Helper()
	s, err := get()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	p := s.take(template, setup)
	<-p.done
	if p.err != nil {
		t.Fatalf("pgtest: create database %s: %v", p.name, p.err)
	}
	t.Cleanup(func() {
		// Best effort and in the background: the server and its data go away at the end of
		// the binary anyway.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.admin(ctx, "DROP DATABASE IF EXISTS "+p.name+" WITH (FORCE)")
		}()
	})
	return s.url(p.name)
}

// pendingDB is a database being created.
type pendingDB struct {
	name string
	done chan struct{} // closed when created (or failed)
	err  error
}

// pool is the databases of one template.
type pool struct {
	template *pendingDB // nil for the server's template1
	spare    *pendingDB
	calls    int
}

// take returns the template's spare database, or starts creating one, and from the second
// call on starts creating the next spare. Called with mu not held.
func (s *server) take(template string, setup func(url string) error) *pendingDB {
	mu.Lock()
	defer mu.Unlock()
	pl := s.pools[template]
	if pl == nil {
		pl = &pool{}
		if template != "" {
			pl.template = s.createTemplate(template, setup)
		}
		s.pools[template] = pl
	}
	p := pl.spare
	if p == nil {
		p = s.create(pl.template)
	}
	pl.spare = nil
	if pl.calls++; pl.calls >= 2 {
		pl.spare = s.create(pl.template)
	}
	return p
}

// create starts creating a database from tpl (nil: the server's empty template1).
func (s *server) create(tpl *pendingDB) *pendingDB {
	p := &pendingDB{name: fmt.Sprintf("t_%d", dbSeq.Add(1)), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		stmt := "CREATE DATABASE " + p.name
		if tpl != nil {
			<-tpl.done
			if tpl.err != nil {
				p.err = fmt.Errorf("template: %w", tpl.err)
				return
			}
			stmt += " TEMPLATE " + tpl.name
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		p.err = s.admin(ctx, stmt)
	}()
	return p
}

// createTemplate starts creating a template database and running setup on it.
func (s *server) createTemplate(name string, setup func(url string) error) *pendingDB {
	p := &pendingDB{name: fmt.Sprintf("tpl_%d", dbSeq.Add(1)), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if p.err = s.admin(ctx, "CREATE DATABASE "+p.name); p.err != nil {
			return
		}
		if setup != nil {
			if err := setup(s.url(p.name)); err != nil {
				p.err = fmt.Errorf("set up template %q: %w", name, err)
			}
		}
	}()
	return p
}

// AdminURL returns the URL of the server's "postgres" database (superuser), starting the
// server on first use.
func AdminURL(t testing.TB) string {
	t.Helper()
	s, err := get()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s.url("postgres")
}

// Stop stops the server, if one was started, and removes its directory. Later Start calls
// fail.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if srv != nil {
		srv.stop()
		srv = nil
	}
	if !started {
		started = true
		startErr = errors.New("server stopped")
	}
}

func get() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		srv, startErr = start()
		if startErr == nil {
			stopOnSignal()
		}
	}
	return srv, startErr
}

// stopOnSignal stops the server when the test binary gets SIGINT or SIGTERM, then lets the
// signal kill the process as it would have.
func stopOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-ch
		Stop()
		signal.Reset(sig)
		_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
	}()
}

func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// admin runs one statement on the postgres database as the superuser.
func (s *server) admin(ctx context.Context, stmt string) error {
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

// binDir finds the PostgreSQL binaries, installing the Debian package when they are missing.
func binDir() (string, error) {
	find := func() string {
		m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(m) == 0 {
			return ""
		}
		sort.Slice(m, func(i, j int) bool { return version(m[i]) > version(m[j]) })
		return filepath.Dir(m[0])
	}
	if d := find(); d != "" {
		return d, nil
	}
	if out, err := aptInstall(); err != nil {
		return "", fmt.Errorf("PostgreSQL is not installed and apt-get install -y postgresql failed: %v\n%s", err, out)
	}
	if d := find(); d != "" {
		return d, nil
	}
	return "", errors.New("PostgreSQL installed with apt-get, but no /usr/lib/postgresql/*/bin/initdb")
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

func aptInstall() ([]byte, error) {
	install := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "postgresql")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	out, err := install()
	if err == nil {
		return out, nil
	}
	// The package lists may be missing or stale.
	if upd, uerr := exec.Command("apt-get", "update").CombinedOutput(); uerr != nil {
		return append(out, upd...), err
	}
	return install()
}

// owner is the account the server runs as: postgres when we are root, ourselves otherwise.
type owner struct {
	root     bool
	uid, gid int
}

func serverOwner() (owner, error) {
	if os.Geteuid() != 0 {
		return owner{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return owner{}, fmt.Errorf("running as root, and there is no postgres user to run PostgreSQL as: %v", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return owner{}, fmt.Errorf("postgres user has uid %q gid %q", u.Uid, u.Gid)
	}
	return owner{root: true, uid: uid, gid: gid}, nil
}

// command runs a PostgreSQL binary as the owner: through runuser when we are root.
func (o owner) command(bin string, args ...string) *exec.Cmd {
	if o.root {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func start() (_ *server, err error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	own, err := serverOwner()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := os.Chown(dir, own.uid, own.gid); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := own.command(filepath.Join(bin, "initdb"), "-D", data, "--no-sync", "-A", "trust",
		"-U", "postgres", "-E", "UTF8", "--locale=C")
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 3 { // the free port may be taken between probing and binding
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := launch(bin, dir, data, port, own)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// launch starts the postmaster as a child of the test binary and waits until it accepts
// connections.
func launch(bin, dir, data string, port int, own owner) (*server, error) {
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB",
		"-c", "log_min_messages=warning", "-c", "log_min_error_statement=panic")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// The postmaster runs as the owner directly (not through runuser) so that it is our child
	// and gets SIGINT (fast shutdown) if we die without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT, Setpgid: true}
	if own.root {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(own.uid), Gid: uint32(own.gid)}
	}
	// Pdeathsig fires when the creating thread exits; keep this one alive (Go only ends a
	// thread when a goroutine exits while locked to it).
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %v", err)
	}
	s := &server{dir: dir, port: port, cmd: cmd, done: make(chan struct{}), pools: make(map[string]*pool)}
	go func() { _ = cmd.Wait(); close(s.done) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.url("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited during startup (%v):\n%s", cmd.ProcessState, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres did not accept connections within 30s: %v\n%s", err, log)
		}
	}
}

// stop shuts the postmaster down (SIGINT: fast shutdown), escalating to SIGQUIT and SIGKILL,
// and removes the directory.
func (s *server) stop() {
	// The postmaster is our child, so its PID (also the first line of postmaster.pid) is the
	// command's.
	pid := s.cmd.Process.Pid
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL} {
		_ = syscall.Kill(pid, sig)
		select {
		case <-s.done:
			_ = os.RemoveAll(s.dir)
			return
		case <-time.After(10 * time.Second):
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // whatever is left of the process group
	_ = os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
