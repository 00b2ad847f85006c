// Package postgres is the store.Store for several nodes sharing one PostgreSQL database
// (SPEC §15), through pgx and a connection pool.
//
// The schema is the SQLite store's in PostgreSQL dialect: the same tables, columns and indexes,
// with times as BIGINT Unix nanoseconds and text compared byte-wise (COLLATE "C"), so ordering
// and keyset pagination are identical. It is versioned by embedded migrations that Open applies
// under an advisory lock.
//
// Every Write is one READ COMMITTED transaction on one pooled connection; there is no group
// commit and no automatic retry. Cross-node safety comes from explicit locks (see txn):
// LockJob locks the job and cursor rows FOR UPDATE, admission reads (ActiveRuns, CountFires)
// take an advisory lock on the definition, CountRunning locks the dispatcher row and
// EligibleRuns uses FOR UPDATE SKIP LOCKED.
//
// The Store also implements store.ChangeFeed with LISTEN/NOTIFY on the channel agh_changes.
//
// Differences from SQLite: CountRunsByStatus counts with an index scan (no counter rows that
// every node would contend on); NUL bytes and invalid UTF-8 in text are stored as U+FFFD.
package postgres

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agh-dev/agh/internal/store"
)

// Options configures Open. Zero values select the defaults. Server settings given in the URL
// (for example ?statement_timeout=5000) take precedence over the timeouts here.
type Options struct {
	// MaxConns is the pool size; 0 keeps pgxpool's default (or the URL's pool_max_conns).
	MaxConns int32
	// StatementTimeout bounds every statement (default 30 s).
	StatementTimeout time.Duration
	// LockTimeout bounds waits for row and advisory locks held by other transactions, on any
	// node (default 10 s).
	LockTimeout time.Duration
	// IdleInTransactionTimeout makes the server end a session that leaves a transaction idle
	// that long, releasing its locks (default 60 s): a stuck node cannot hold locks forever.
	IdleInTransactionTimeout time.Duration
	// Clock returns the current time (recorded with applied migrations); nil means time.Now.
	Clock func() time.Time
}

const (
	defaultStatementTimeout = 30 * time.Second
	defaultLockTimeout      = 10 * time.Second
	defaultIdleInTxTimeout  = 60 * time.Second
)

// ErrClosed is returned by Write, reads and the change feed after Close. It wraps
// store.ErrUnavailable.
var ErrClosed = fmt.Errorf("%w: postgres store is closed", store.ErrUnavailable)

// PanicError is returned by Write when fn panicked. The transaction is rolled back.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("store: panic in write function: %v", e.Value)
}

// Store is the PostgreSQL implementation of store.Store. It is safe for concurrent use.
type Store struct {
	reader // reads on the pool

	pool *pgxpool.Pool

	// mu guards closed; Write holds it shared for the whole transaction, so Close waits for
	// the Writes in progress.
	mu        sync.RWMutex
	closed    bool
	closeOnce sync.Once
	closing   chan struct{} // closed by Close: stops ListenChanges
	isClosed  *atomic.Bool  // set by Close: reads fail with ErrClosed
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://… or postgresql://…), migrates its schema
// under an advisory lock and returns the store. A database migrated by a newer binary is a
// *SchemaVersionError.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid store URL: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	params := cfg.ConnConfig.RuntimeParams
	setDefault := func(name string, d, def time.Duration) {
		if _, ok := params[name]; ok {
			return
		}
		if d <= 0 {
			d = def
		}
		params[name] = strconv.FormatInt(d.Milliseconds(), 10)
	}
	setDefault("statement_timeout", opts.StatementTimeout, defaultStatementTimeout)
	setDefault("lock_timeout", opts.LockTimeout, defaultLockTimeout)
	setDefault("idle_in_transaction_session_timeout", opts.IdleInTransactionTimeout, defaultIdleInTxTimeout)
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "agh"
	}

	// Migrate on a dedicated connection without timeouts: waiting for another node's
	// migration is expected (ctx bounds it).
	mcfg := cfg.ConnConfig.Copy()
	mcfg.RuntimeParams["statement_timeout"] = "0"
	mcfg.RuntimeParams["lock_timeout"] = "0"
	mconn, err := pgx.ConnectConfig(ctx, mcfg)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres: connect: %w", store.ErrUnavailable, err)
	}
	err = migrate(ctx, mconn, opts.Clock)
	_ = mconn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%w: postgres: connect: %w", store.ErrUnavailable, err)
	}
	closed := new(atomic.Bool)
	return &Store{reader: reader{q: pool, closed: closed}, pool: pool, closing: make(chan struct{}), isClosed: closed}, nil
}

// Kind returns "postgres".
func (s *Store) Kind() string { return "postgres" }

// Pool returns the connection pool (for LISTEN/NOTIFY, clock checks and other node-level
// work outside the store interface).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// DatabaseNow returns the database server's clock (clock_timestamp()), for the clock-skew check
// of SPEC §15.6.
func (s *Store) DatabaseNow(ctx context.Context) (time.Time, error) {
	if err := s.checkOpen(); err != nil {
		return time.Time{}, err
	}
	var us int64
	if err := s.pool.QueryRow(ctx, "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint").Scan(&us); err != nil {
		return time.Time{}, wrapErr(fmt.Errorf("postgres: database time: %w", err))
	}
	return time.UnixMicro(us).UTC(), nil
}

// Close waits for the Writes in progress, stops accepting new ones and closes the pool. It is
// safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.isClosed.Store(true)
		close(s.closing)
		s.mu.Unlock()
		s.pool.Close()
	})
	return nil
}

// Write runs fn in one READ COMMITTED transaction and commits it before returning nil. If fn
// returns an error (or panics) the transaction is rolled back and that error is returned. If
// ctx is done before the transaction begins, Write returns ctx.Err() and fn never runs; once
// begun, fn's statements run to completion regardless of ctx (bounded by the statement
// timeout). Errors are not retried: a deadlock or lock timeout is returned (wrapping
// store.ErrUnavailable) and the caller decides.
func (s *Store) Write(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	ptx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("%w: postgres: begin: %w", store.ErrUnavailable, err)
	}
	bg := context.WithoutCancel(ctx)
	tx := &txn{ctx: bg}
	tx.reader = reader{q: ptx, tx: tx}
	fnErr := callSafely(fn, tx)
	tx.mu.Lock()
	tx.done = true
	tx.mu.Unlock()
	if fnErr != nil {
		_ = ptx.Rollback(bg)
		return fnErr
	}
	if err := ptx.Commit(bg); err != nil {
		return wrapErr(fmt.Errorf("postgres: commit: %w", err))
	}
	return nil
}

// checkOpen returns ErrClosed after Close.
func (s *Store) checkOpen() error {
	if s.isClosed.Load() {
		return ErrClosed
	}
	return nil
}

// callSafely calls fn, turning a panic into a *PanicError.
func callSafely(fn func(store.Tx) error, tx store.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return fn(tx)
}
