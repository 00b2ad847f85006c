// Package sqlite is the embedded store.Store: one SQLite file in WAL mode accessed through the
// pure-Go driver modernc.org/sqlite.
//
// All writes go through one writer goroutine that owns one connection and commits concurrent
// Write calls together (group commit): it takes every pending request, runs BEGIN IMMEDIATE,
// runs each request's function inside its own SAVEPOINT (so a failing function is rolled back
// alone) and commits once; a syncer goroutine fsyncs the WAL and only then answers the
// callers (walsync.go), one fsync per batch or fewer instead of one per Write. Reads outside a
// transaction use a separate pool of read-only connections, which WAL lets proceed while the
// writer commits.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/agh-dev/agh/internal/store"
)

// Options configures Open.
type Options struct {
	// ReadConns is the size of the read pool; 0 means 4.
	ReadConns int
	// Clock returns the current time (recorded with applied migrations); nil means time.Now.
	Clock func() time.Time
	// CheckpointInterval is how often committed WAL frames are copied into the database file
	// (checkpoint.go); 0 means defaultCheckpointInterval.
	CheckpointInterval time.Duration
	// WALPages is the WAL size, in pages, past which the checkpointer makes sure the WAL is
	// rewound (checkpoint.go); 0 means defaultWALPages.
	WALPages int

	// OnWritesStopped, if set, is called once when a failed WAL fsync stops the store's writes
	// (walsync.go), so that the daemon can say so in its log.
	OnWritesStopped func(error)

	noBackstop bool         // tests: no automatic checkpoint on the writer's connection at all
	syncWAL    func() error // tests: replaces the syncer's fsync of the WAL
}

// ErrClosed is returned by Write and by reads after Close. It wraps store.ErrUnavailable.
var ErrClosed = fmt.Errorf("%w: sqlite store is closed", store.ErrUnavailable)

// Store is the SQLite implementation of store.Store. It is safe for concurrent use.
type Store struct {
	reader // the read pool

	path string

	wdb   *sql.DB   // the writer's database handle (one connection)
	wconn *sql.Conn // the writer's connection, used only by the writer goroutine
	wst   *stmtCache
	rdb   *sql.DB // read pool

	cdb       *sql.DB     // the checkpointer's connection (checkpoint.go)
	rewindWAL atomic.Bool // set by the checkpointer, cleared by the writer's rewind

	// pendingCounts are the per-status run count changes of the batch being committed
	// (writer goroutine only; see txn.counts).
	pendingCounts      map[string]int
	stopCheckpoints    chan struct{}
	checkpointsStopped chan struct{}

	// mu guards closed and sends on reqs: Write holds it shared while sending, Close takes it
	// exclusively to close reqs, so a request is never sent on a closed channel.
	mu      sync.RWMutex
	closed  bool
	reqs    chan *request
	stopped chan struct{} // closed when the writer goroutine has drained reqs and exited

	syncState // the syncer (walsync.go)

	stats writerStats
	fires *fireTracker // used by the writer goroutine only
	jobs  *jobCache    // used by the writer goroutine only

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

const (
	defaultReadConns = 4
	// maxBatch caps the number of Write calls committed together.
	maxBatch = 256
	// busyTimeoutMS is how long a connection waits for a lock held by another connection
	// (another process, or a checkpoint) before failing with SQLITE_BUSY (SPEC §15.7).
	busyTimeoutMS = 5000
)

// Open opens (creating it if needed) the database at path, migrates its schema and starts the
// writer. The file and its -wal and -shm companions get mode 0600.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.ReadConns <= 0 {
		opts.ReadConns = defaultReadConns
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = defaultCheckpointInterval
	}
	if opts.WALPages <= 0 {
		opts.WALPages = defaultWALPages
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := createPrivate(abs); err != nil {
		return nil, err
	}

	s := &Store{
		path: abs,
		reqs: make(chan *request, maxBatch),

		pendingCounts: map[string]int{},
		fires:         newFireTracker(),
		jobs:          newJobCache(maxCachedJobs),
		stopped:       make(chan struct{}),
	}
	ok := false
	defer func() {
		if !ok {
			s.closeHandles()
		}
	}()

	// The writer: exactly one connection, kept for the life of the store.
	backstop := walPagesBackstop * opts.WALPages
	if opts.noBackstop {
		backstop = 0
	}
	s.wdb, err = sql.Open("sqlite", dsn(abs, writerConn)+"&_pragma="+url.QueryEscape(fmt.Sprintf("wal_autocheckpoint(%d)", backstop)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	s.wconn, err = s.wdb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	var mode string
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	if mode != "wal" {
		return nil, fmt.Errorf("sqlite: open %s: journal_mode is %q, want wal", abs, mode)
	}
	if err := migrate(ctx, s.wconn, migrations, opts.Clock); err != nil {
		return nil, err
	}
	// SQLite creates -wal and -shm with the database file's mode; make sure regardless.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Chmod(abs+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	s.wst = newStmtCache(s.wconn)

	// The read pool.
	s.rdb, err = sql.Open("sqlite", dsn(abs, readConn))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	s.rdb.SetMaxOpenConns(opts.ReadConns)
	s.rdb.SetMaxIdleConns(opts.ReadConns)
	s.rdb.SetConnMaxLifetime(0)
	s.rdb.SetConnMaxIdleTime(0)
	if err := s.rdb.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open %s read pool: %w", abs, err)
	}
	s.reader = reader{st: newStmtCache(s.rdb)}
	if err := s.openCheckpointer(ctx, opts.CheckpointInterval, opts.WALPages); err != nil {
		return nil, err
	}

	s.syncWAL, s.onWritesStopped = opts.syncWAL, opts.OnWritesStopped
	if err := s.openWALSync(); err != nil {
		return nil, err
	}
	go s.runSyncer()
	go s.runWriter()
	ok = true
	return s, nil
}

// createPrivate creates the database file with mode 0600 if it does not exist and makes sure an
// existing one has that mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// connRole says what a connection is for.
type connRole int

const (
	writerConn connRole = iota
	checkpointerConn
	readConn
)

// dsn builds the connection string. Pragmas are DSN parameters so that every connection the
// driver opens gets them. Read connections are opened read-only (mode=ro) and query_only.
func dsn(path string, role connRole) string {
	readOnly, writer := role == readConn, role == writerConn
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	if readOnly {
		q.Add("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// A 32 MiB page cache (default 2 MiB) keeps the pages a large batch dirties in memory
		// until commit instead of spilling them to the WAL midway.
		q.Add("_pragma", "cache_size(-32768)")
		// Every Write runs inside a SAVEPOINT and most statements open a statement journal, so
		// SQLite keeps a sub-journal of the pages each one changes. By default it spills to a
		// temporary file past 64 KiB, and then every changed page costs a pwrite system call:
		// that was most of the I/O of a batch. Keep sub-journals (and temp tables) in memory.
		q.Add("_pragma", "temp_store(MEMORY)")
		// Checkpoints are the checkpointer's job (checkpoint.go): none on this connection
		// unless Open sets a threshold (the writer's). After a burst, the WAL file is
		// truncated to this size when it is next rewound.
		q.Add("_pragma", "wal_autocheckpoint(0)")
		q.Add("_pragma", "journal_size_limit(67108864)")
	}
	if writer {
		// The writer's commits are made durable by the syncer (walsync.go) before Write
		// returns; NORMAL only takes the fsync out of COMMIT.
		q.Add("_pragma", "synchronous(NORMAL)")
	} else {
		q.Add("_pragma", "synchronous(FULL)")
	}
	q.Add("_pragma", "foreign_keys(1)")
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// Kind returns "sqlite".
func (s *Store) Kind() string { return "sqlite" }

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close stops accepting writes, commits every pending Write, stops the writer and closes all
// connections. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.reqs)
		s.mu.Unlock()
		<-s.stopped
		<-s.synced
		s.closeErr = s.closeHandles()
	})
	return s.closeErr
}

// closeHandles closes statements and connections: readers first, so that the writer's
// connection is the last one and SQLite checkpoints and removes the WAL on close.
func (s *Store) closeHandles() error {
	var errs []error
	errs = append(errs, s.closeCheckpointer())
	if s.reader.st != nil {
		errs = append(errs, s.reader.st.close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	errs = append(errs, s.closeWALSync())
	if s.wst != nil {
		errs = append(errs, s.wst.close())
	}
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	return errors.Join(errs...)
}

// IntegrityCheck runs PRAGMA integrity_check and verifies the derived run counts
// (run_status_counts) against the runs. It returns an error describing the problems found.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	problems, err := s.integrityProblems(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite: integrity check failed: %s", strings.Join(problems, "; "))
	}
	return nil
}

func (s *Store) integrityProblems(ctx context.Context) ([]string, error) {
	// One read transaction, so that both checks see the same snapshot.
	conn, err := s.rdb.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, err
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK") //nolint:errcheck // read-only

	var problems []string
	rows, err := conn.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return nil, err
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return problems, nil // counting over a damaged file proves nothing more
	}

	counts := func(query string) (map[string]int, error) {
		rows, err := conn.QueryContext(ctx, query)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		m := map[string]int{}
		for rows.Next() {
			var (
				status string
				n      int
			)
			if err := rows.Scan(&status, &n); err != nil {
				return nil, err
			}
			m[status] = n
		}
		return m, rows.Err()
	}
	stored, err := counts("SELECT status, n FROM run_status_counts WHERE n <> 0")
	if err != nil {
		return nil, err
	}
	actual, err := counts("SELECT status, count(*) FROM runs GROUP BY status")
	if err != nil {
		return nil, err
	}
	for status := range stored {
		if _, ok := actual[status]; !ok {
			actual[status] = 0
		}
	}
	for _, status := range slices.Sorted(maps.Keys(actual)) {
		if stored[status] != actual[status] {
			problems = append(problems, fmt.Sprintf("run_status_counts[%s] = %d, but %d runs have that status",
				status, stored[status], actual[status]))
		}
	}
	return problems, nil
}
