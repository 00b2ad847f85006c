package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"github.com/agh-dev/agh/internal/store"
)

// Request states. A request is queued until the writer starts it or its caller gives up; the
// transition out of queued is a compare-and-swap, so exactly one of them wins.
const (
	reqQueued int32 = iota
	reqStarted
	reqAbandoned
)

// request is one Write call waiting for the writer.
type request struct {
	fn    func(store.Tx) error
	state atomic.Int32
	done  chan error // buffered; receives the outcome once
}

// PanicError is returned by Write when fn panicked. Only that Write is affected.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("store: panic in write function: %v", e.Value)
}

// WriterStats are cumulative counters of the writer.
type WriterStats struct {
	Batches uint64 // committed (or attempted) transactions
	Writes  uint64 // Write functions run
}

type writerStats struct {
	batches atomic.Uint64
	writes  atomic.Uint64
}

// Stats returns the writer's counters. Writes/Batches is the average group-commit size.
func (s *Store) Stats() WriterStats {
	return WriterStats{Batches: s.stats.batches.Load(), Writes: s.stats.writes.Load()}
}

// Write runs fn in a transaction that is committed durably before Write returns nil. fn may be
// committed together with other concurrent Write calls, each in its own savepoint: if fn
// returns an error (or panics) only its own changes are rolled back. If ctx is done before
// the writer starts fn, Write returns ctx.Err() and fn never runs; once started, fn runs to
// completion and Write reports its outcome.
func (s *Store) Write(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &request{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()

	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err()
		}
		return <-req.done // already started: wait for its outcome
	}
}

// runWriter is the writer goroutine: it commits batches until reqs is closed and drained.
func (s *Store) runWriter() {
	defer close(s.stopped)
	defer close(s.handoffs) // after the last hand: the syncer drains them and returns
	batch := make([]*request, 0, maxBatch)
	for {
		req, ok := <-s.reqs
		if !ok {
			return
		}
		batch = appendQueued(append(batch[:0], req), s.reqs, maxBatch)
		s.commitBatch(batch)
		clear(batch) // drop references to finished requests
		s.rewind()
	}
}

// appendQueued appends to buf what is already queued on ch, without waiting, until buf holds
// max values or ch is empty or closed.
func appendQueued[T any](buf []T, ch <-chan T, max int) []T {
	for len(buf) < max {
		select {
		case v, ok := <-ch:
			if !ok {
				return buf
			}
			buf = append(buf, v)
		default:
			return buf
		}
	}
	return buf
}

// commitBatch runs the requests that are still wanted in one transaction and hands them to
// the syncer (walsync.go), which answers them once their changes are durable.
func (s *Store) commitBatch(batch []*request) {
	live := batch[:0:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqStarted) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	if err := s.writesStopped(); err != nil {
		s.handError(live, err)
		return
	}
	for len(live) > 0 {
		live = s.commitOnce(live)
	}
}

// commitOnce runs reqs in one transaction. Normally it hands every request to the syncer and
// returns nil. If the transaction breaks midway (SQLite rolled it back on an I/O error, say),
// the requests that already ran are answered with the error and the ones that did not run yet
// are returned to be run in a fresh transaction.
func (s *Store) commitOnce(reqs []*request) (rest []*request) {
	ctx := context.Background()
	s.stats.batches.Add(1)
	clear(s.pendingCounts)
	defer s.jobs.batchEnded()
	if err := s.execW(ctx, "BEGIN IMMEDIATE"); err != nil {
		s.fires.reset()
		s.handError(reqs, unavailable("begin", err))
		return nil
	}
	results := make([]error, 0, len(reqs))
	for i := 0; ; i++ {
		if i == len(reqs) {
			r := s.more(len(reqs))
			if r == nil {
				break
			}
			reqs = append(reqs, r)
		}
		r := reqs[i]
		s.stats.writes.Add(1)
		fnErr, brokenErr := s.runInSavepoint(ctx, r.fn)
		results = append(results, fnErr)
		if brokenErr != nil {
			s.fires.reset()
			_ = s.execW(ctx, "ROLLBACK")
			for j := 0; j <= i; j++ {
				if results[j] == nil {
					results[j] = unavailable("transaction aborted", brokenErr)
				}
			}
			s.hand(reqs[:i+1:i+1], results[:i+1], false)
			return reqs[i+1:]
		}
	}
	err := s.writeCounts(ctx)
	if err == nil {
		err = s.execW(ctx, "COMMIT")
	}
	if err != nil {
		s.fires.reset()
		_ = s.execW(ctx, "ROLLBACK")
		s.handError(reqs, unavailable("commit", err))
		return nil
	}
	s.hand(reqs, results, true)
	return nil
}

// more returns a request to add to the open batch, or nil when the batch should commit now.
// While the syncer is still making earlier batches durable, committing would not make this
// batch's callers wait any less (their fsync comes after the one in progress), so the batch
// stays open and takes the requests arriving meanwhile, up to maxBatch: under load, one commit
// per fsync, whose shared pages (the tails of the indexes, the run counts) are written to the
// WAL once instead of once per small batch. With the syncer idle it commits at once.
func (s *Store) more(n int) *request {
	for n < maxBatch && s.syncPending.Load() > 0 {
		select {
		case r, ok := <-s.reqs:
			if !ok {
				return nil // closing: runWriter sees the closed channel too
			}
			if r.state.CompareAndSwap(reqQueued, reqStarted) {
				return r
			}
		case <-s.syncIdle:
		}
	}
	return nil
}

// runInSavepoint runs fn inside SAVEPOINT w. fnErr is fn's outcome; brokenErr is set when the
// enclosing transaction can no longer be used.
func (s *Store) runInSavepoint(ctx context.Context, fn func(store.Tx) error) (fnErr, brokenErr error) {
	if err := s.execW(ctx, "SAVEPOINT w"); err != nil {
		return nil, err
	}
	tx := &txn{reader: reader{st: s.wst}, fires: s.fires, jobs: s.jobs, pending: s.pendingCounts}
	tx.reader.tx = tx
	fnErr = callSafely(fn, tx)
	tx.done = true
	if fnErr != nil {
		s.fires.drop(tx.touched)
		if err := s.execW(ctx, "ROLLBACK TO w"); err != nil {
			return fnErr, err
		}
	}
	if err := s.execW(ctx, "RELEASE w"); err != nil {
		return fnErr, err
	}
	if fnErr == nil {
		for status, d := range tx.counts {
			s.pendingCounts[status] += d
		}
	}
	return fnErr, nil
}

// writeCounts adds the batch's changes to the per-status run counts, inside its transaction.
func (s *Store) writeCounts(ctx context.Context) error {
	for status, d := range s.pendingCounts {
		if d == 0 {
			continue
		}
		st, err := s.wst.get(ctx, `INSERT INTO run_status_counts (status, n) VALUES (?, ?)
			ON CONFLICT (status) DO UPDATE SET n = n + excluded.n`)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, status, d); err != nil {
			return err
		}
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

func (s *Store) execW(ctx context.Context, query string) error {
	st, err := s.wst.get(ctx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx)
	return err
}

func unavailable(what string, err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: sqlite %s: %w", store.ErrUnavailable, what, err)
}
