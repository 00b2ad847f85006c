package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgServer is a throwaway PostgreSQL server: initdb on a temporary directory, listening on
// 127.0.0.1 and a free port (as internal/testutil/pgtest does, which needs a testing.TB).
// Durability is configurable: with fsync on (the default here) a commit waits for the disk,
// as SQLite's synchronous=FULL does.
type pgServer struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

func startPG(base string, fsync bool, extra []string) (*pgServer, error) {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(m) == 0 {
		return nil, fmt.Errorf("PostgreSQL is not installed (apt-get install postgresql)")
	}
	sort.Slice(m, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[i]))))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[j]))))
		return a > b
	})
	bin := filepath.Dir(m[0])
	dir, err := os.MkdirTemp(base, "aghbench-pg-")
	if err != nil {
		return nil, err
	}
	uid, gid, root := os.Geteuid(), os.Getegid(), os.Geteuid() == 0
	if root {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and there is no postgres user: %v", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	args := []string{"-D", data, "--no-sync", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"}
	var initdb *exec.Cmd
	if root {
		initdb = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, "initdb")}, args...)...)
	} else {
		initdb = exec.Command(filepath.Join(bin, "initdb"), args...)
	}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	onoff := map[bool]string{true: "on", false: "off"}
	pargs := []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300",
		"-c", "fsync=" + onoff[fsync], "-c", "synchronous_commit=" + onoff[fsync], "-c", "full_page_writes=" + onoff[fsync],
		"-c", "log_min_messages=warning"}
	for _, e := range extra {
		pargs = append(pargs, "-c", e)
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), pargs...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT, Setpgid: true}
	if root {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	runtime.LockOSThread() // Pdeathsig follows the creating thread
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, err
	}
	s := &pgServer{dir: dir, port: port, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.url("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("postgres did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *pgServer) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// createDB creates a fresh database and returns its URL.
func (s *pgServer) createDB(name string) (string, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return s.url(name), nil
}

// query runs one statement on a database and scans one row.
func (s *pgServer) query(dbURL, q string, dst ...any) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, q).Scan(dst...)
}

func (s *pgServer) stop() {
	pid := s.cmd.Process.Pid
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL} {
		_ = syscall.Kill(pid, sig)
		select {
		case <-s.done:
			os.RemoveAll(s.dir)
			return
		case <-time.After(10 * time.Second):
		}
	}
	os.RemoveAll(s.dir)
}

// exec runs statements on a database.
func (s *pgServer) exec(dbURL, stmts string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmts)
	return err
}

// topStatements lists the 15 statements of the database with the most execution time
// (pg_stat_statements).
func (s *pgServer) topStatements(dbURL string) (string, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT calls, total_exec_time, mean_exec_time, left(regexp_replace(query, '\s+', ' ', 'g'), 120)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT 15`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	b.WriteString("calls\ttotal ms\tmean ms\tstatement\n")
	for rows.Next() {
		var calls int64
		var total, mean float64
		var q string
		if err := rows.Scan(&calls, &total, &mean, &q); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d\t%.0f\t%.3f\t%s\n", calls, total, mean, q)
	}
	return b.String(), rows.Err()
}
