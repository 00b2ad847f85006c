package harness

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the driver agh uses
)

// RawDB is a bare SQLite database with the pragmas of agh's store (WAL, synchronous=FULL, one
// writer connection) and one table of rows about as wide as a job row. It is the physical
// baseline the agh numbers are compared against.
type RawDB struct {
	dir string
	db  *sql.DB
	ins *sql.Stmt
	seq atomic.Int64
}

// payload is ~600 bytes, roughly an agh job row with its cursor.
var payload = strings.Repeat("x", 600)

// OpenRaw creates a fresh raw database in a temporary directory under base ("" = os.TempDir()).
func OpenRaw(base string) (*RawDB, error) {
	dir, err := os.MkdirTemp(base, "aghbench-raw-")
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	u := url.URL{Scheme: "file", Path: filepath.Join(dir, "raw.db"), RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (id TEXT PRIMARY KEY, name TEXT NOT NULL, body TEXT NOT NULL, at INTEGER NOT NULL) STRICT`); err != nil {
		return nil, err
	}
	if _, err := db.Exec(`CREATE INDEX t_name ON t (name)`); err != nil {
		return nil, err
	}
	ins, err := db.Prepare(`INSERT INTO t (id, name, body, at) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	return &RawDB{dir: dir, db: db, ins: ins}, nil
}

// Close closes and removes the database.
func (r *RawDB) Close() {
	_ = r.ins.Close()
	_ = r.db.Close()
	_ = os.RemoveAll(r.dir)
}

func (r *RawDB) insertOne(ctx context.Context, ex interface {
	ExecContext(context.Context, ...any) (sql.Result, error)
}) error {
	n := r.seq.Add(1)
	id := fmt.Sprintf("row-%012d", n)
	_, err := ex.ExecContext(ctx, id, "name-"+id, payload, time.Now().UnixNano())
	return err
}

// SingleRowRate inserts one row per transaction (autocommit, so one fsync each) for d and
// returns commits per second.
func (r *RawDB) SingleRowRate(d time.Duration) (float64, error) {
	ctx := context.Background()
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		if err := r.insertOne(ctx, r.ins); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// SingleRowLatencies returns the latency of n single-row commits (the fsync floor of a write).
func (r *RawDB) SingleRowLatencies(n int) ([]time.Duration, error) {
	ctx := context.Background()
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t := time.Now()
		if err := r.insertOne(ctx, r.ins); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t))
	}
	return out, nil
}

// GroupCommit is a minimal group committer: one writer goroutine takes every pending request
// (at most 256), inserts them in one transaction, commits once and answers them.
type GroupCommit struct {
	r    *RawDB
	reqs chan chan error
	done chan struct{}
}

// StartGroupCommit starts the writer.
func (r *RawDB) StartGroupCommit() *GroupCommit {
	g := &GroupCommit{r: r, reqs: make(chan chan error, 256), done: make(chan struct{})}
	go g.run()
	return g
}

func (g *GroupCommit) run() {
	defer close(g.done)
	ctx := context.Background()
	batch := make([]chan error, 0, 256)
	for first := range g.reqs {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < 256 {
			select {
			case c, ok := <-g.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, c)
			default:
				break fill
			}
		}
		err := func() error {
			tx, err := g.r.db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			st := tx.StmtContext(ctx, g.r.ins)
			for range batch {
				if err := g.r.insertOne(ctx, st); err != nil {
					_ = tx.Rollback()
					return err
				}
			}
			return tx.Commit()
		}()
		for _, c := range batch {
			c <- err
		}
	}
}

// Insert inserts one row and returns after its batch committed.
func (g *GroupCommit) Insert() error {
	c := make(chan error, 1)
	g.reqs <- c
	return <-c
}

// Stop stops the writer.
func (g *GroupCommit) Stop() { close(g.reqs); <-g.done }

// GroupCommitRate runs conc goroutines inserting through a group committer for d and returns
// rows committed per second.
func (r *RawDB) GroupCommitRate(conc int, d time.Duration) (float64, error) {
	g := r.StartGroupCommit()
	defer g.Stop()
	var n atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d {
				if err := g.Insert(); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

// GroupCommitN inserts n rows from conc goroutines through a group committer and returns how
// long it took until the last commit.
func (r *RawDB) GroupCommitN(conc, n int) (time.Duration, error) {
	g := r.StartGroupCommit()
	defer g.Stop()
	res, err := Run(conc, n, func(int) error { return g.Insert() })
	return res.Elapsed, err
}
