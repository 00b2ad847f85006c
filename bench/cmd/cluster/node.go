package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the driver agh's SQLite store uses
)

// node is one `agh daemon` process started from the binary.
type node struct {
	id   string
	dir  string
	base string // http://127.0.0.1:<port>
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// secretKey is the AGH_SECRET_KEY every node of a cluster shares (SPEC §15.1).
var secretKey = strings.Repeat("b7", 32)

// nodeConfig is the config.toml of a benchmark node: agent "ok" runs cmd; storeURL empty
// means the SQLite store in the data directory.
func nodeConfig(id, storeURL string, maxRuns int, agentCmd []string) string {
	q := make([]string, len(agentCmd))
	for i, a := range agentCmd {
		q[i] = fmt.Sprintf("%q", a)
	}
	s := fmt.Sprintf(`node_id = %q

[automation]
max_concurrent_runs = %d
shutdown_grace = "1s"

[automation.webhooks]
rate_limit = 0

[agents.ok]
driver = "exec"
command = [%s]

[log]
level = "warn"
`, id, maxRuns, strings.Join(q, ", "))
	if storeURL != "" {
		s += fmt.Sprintf("\n[store]\nurl = %q\n", storeURL)
	}
	return s
}

func startNode(bin, base, id, config string) (*node, error) {
	dir, err := os.MkdirTemp(base, "aghbench-cluster-"+id+"-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "daemon", "--data-dir", dir, "--addr", addr)
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "AGH_HOME", "AGH_API_TOKEN", "AGH_SECRET_KEY", "AGH_ADDR":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "AGH_SECRET_KEY="+secretKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n := &node{id: id, dir: dir, base: "http://" + addr, cmd: cmd, done: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(n.done) }()
	for deadline := time.Now().Add(60 * time.Second); ; {
		select {
		case <-n.done:
			b, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("node %s exited during startup:\n%s", id, b)
		default:
		}
		if code, _, err := call(http.DefaultClient, "GET", n.base+"/api/status", nil, nil); err == nil && code == 200 {
			return n, nil
		}
		if time.Now().After(deadline) {
			n.kill()
			return nil, fmt.Errorf("node %s did not answer within 60 s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM (running agents are interrupted after shutdown_grace) and waits, then
// SIGKILL after 30 s.
func (n *node) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		n.kill()
	}
	n.log.Close()
}

func (n *node) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// call sends a request and returns the status and the body (drained, so the connection is
// reused).
func call(c *http.Client, method, url string, body []byte, h http.Header) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// callJSON is call with a decoded object body; it fails unless the status is want.
func callJSON(c *http.Client, method, url, body string, want int) (map[string]any, error) {
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	code, rb, err := call(c, method, url, b, nil)
	if err != nil {
		return nil, err
	}
	if code != want {
		return nil, fmt.Errorf("%s %s: %d %s", method, url, code, rb)
	}
	var m map[string]any
	return m, json.Unmarshal(rb, &m)
}

func newClient(conc int) *http.Client {
	tr := &http.Transport{MaxIdleConns: 4 * conc, MaxIdleConnsPerHost: 2 * conc, IdleConnTimeout: time.Minute, DisableCompression: true}
	return &http.Client{Transport: tr, Timeout: 120 * time.Second}
}

// countRuns counts a store's runs with a SQL condition; dsn is a PostgreSQL URL or the path
// of a SQLite database (opened read-only).
func countRuns(pg *pgServer, dsn, where string) (int64, error) {
	q := "SELECT count(*) FROM runs WHERE " + where
	var n int64
	if strings.HasPrefix(dsn, "postgres://") {
		return n, pg.query(dsn, q, &n)
	}
	db, err := sql.Open("sqlite", "file:"+dsn+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return n, db.QueryRow(q).Scan(&n)
}

// lagQuantiles returns the p50 and p99 of started_at − scheduled_at (ms) of schedule runs
// committed in (from, to].
func lagQuantiles(pg *pgServer, dsn string, from, to time.Time) (float64, float64, error) {
	where := fmt.Sprintf("origin = 'schedule' AND attempt = 1 AND started_at > %d AND started_at <= %d", from.UnixNano(), to.UnixNano())
	var lags []float64
	if strings.HasPrefix(dsn, "postgres://") {
		var p50, p99 float64
		err := pg.query(dsn, `SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY (started_at - scheduled_at) / 1e6), 0),
			coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY (started_at - scheduled_at) / 1e6), 0) FROM runs WHERE `+where, &p50, &p99)
		return p50, p99, err
	}
	db, err := sql.Open("sqlite", "file:"+dsn+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	rows, err := db.Query("SELECT (started_at - scheduled_at) / 1e6 FROM runs WHERE " + where + " ORDER BY 1")
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var v float64
		if err := rows.Scan(&v); err != nil {
			return 0, 0, err
		}
		lags = append(lags, v)
	}
	if len(lags) == 0 {
		return 0, 0, rows.Err()
	}
	return lags[len(lags)/2], lags[min(len(lags)-1, len(lags)*99/100)], rows.Err()
}
