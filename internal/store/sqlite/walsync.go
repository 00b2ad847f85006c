package sqlite

import (
	"fmt"
	"math"
	"os"
	"sync/atomic"
)

// With synchronous=FULL SQLite fsyncs the WAL inside COMMIT, and the writer can start the next
// batch only once that returns: on this class of machine (a virtio disk) the fsync is ~1 ms,
// a third of the writer's time under load, during which it runs nothing.
//
// So the writer's connection uses synchronous=NORMAL, which makes COMMIT write the batch's WAL
// frames without an fsync, and a syncer goroutine makes them durable: it fsyncs the WAL file
// through a descriptor of its own and only then answers the batch's callers. The writer runs
// the next batch meanwhile, and one fsync covers every batch committed before it started.
// What a caller is told is unchanged: Write returns nil only once its changes are on disk.
//
// Crash safety does not depend on the syncer. SQLite in WAL mode with synchronous=NORMAL never
// corrupts the database; a crash loses at most the last commits whose frames were not synced,
// and WAL recovery stops at the first frame whose cumulative checksum does not match, so what
// survives is always a prefix of the commits: a later batch (which may have read an earlier
// one's changes) never survives without the earlier one. Those lost commits were never
// acknowledged. Readers can see a batch's changes up to one fsync before they are durable; a
// Write caller never acts on changes that are not. Checkpoints sync the WAL before copying it
// and the database file afterwards in NORMAL mode as in FULL.
//
// The syncer's descriptor stays valid for the life of the store: SQLite deletes the -wal file
// only when the last connection to the database closes, and the writer's connection is open
// until Close (rewinding and journal_size_limit reuse or truncate the same file).
//
// A failed fsync is not retried: after one, Linux may report later fsyncs as successful
// although the pages it failed to write are lost. The store stops accepting writes instead
// (every Write returns store.ErrUnavailable), and so do the callers of the batches it could
// not make durable, although other connections may have seen their changes; restarting the
// daemon runs WAL recovery on what reached the disk.

// handoff is a batch whose outcome the syncer reports once everything committed before it is
// durable.
type handoff struct {
	reqs      []*request
	results   []error // per request; nil means its function succeeded
	committed bool    // the batch committed changes that must be synced
}

// openWALSync opens the descriptor the syncer fsyncs (the -wal file exists once the writer's
// connection has read in WAL mode; it is created with the database's mode otherwise).
func (s *Store) openWALSync() error {
	f, err := os.OpenFile(s.path+"-wal", os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: open WAL for syncing: %w", err)
	}
	s.wal = f
	if s.syncWAL == nil {
		s.syncWAL = func() error { return datasync(f) }
	}
	s.handoffs = make(chan handoff, 16)
	s.synced = make(chan struct{})
	s.syncIdle = make(chan struct{}, 1)
	return nil
}

// hand passes a batch's outcome to the syncer, which answers its callers in order.
func (s *Store) hand(reqs []*request, results []error, committed bool) {
	if committed {
		s.syncPending.Add(1)
	}
	s.handoffs <- handoff{reqs: reqs, results: results, committed: committed}
}

// handError passes reqs to the syncer to be answered with err.
func (s *Store) handError(reqs []*request, err error) {
	results := make([]error, len(reqs))
	for i := range results {
		results[i] = err
	}
	s.hand(reqs, results, false)
}

// runSyncer answers handed-off batches in order, fsyncing the WAL once for every group of
// committed batches that queued up while the previous fsync ran. It returns when handoffs is
// closed (by the writer, on exit) and drained.
func (s *Store) runSyncer() {
	defer close(s.synced)
	var group []handoff
	for h := range s.handoffs {
		group = appendQueued(append(group[:0], h), s.handoffs, math.MaxInt)
		var syncErr error
		for _, h := range group {
			if h.committed {
				syncErr = s.syncOnce()
				break
			}
		}
		synced := int32(0)
		for _, h := range group {
			for i, r := range h.reqs {
				err := h.results[i]
				if err == nil && h.committed && syncErr != nil {
					err = syncErr
				}
				r.done <- err
			}
			if h.committed {
				synced++
			}
		}
		clear(group)
		if synced > 0 && s.syncPending.Add(-synced) == 0 {
			select { // wake a writer holding its batch open for this (Store.more)
			case s.syncIdle <- struct{}{}:
			default:
			}
		}
	}
}

// syncOnce fsyncs the WAL, unless an earlier fsync failed: then it reports that failure, as
// does every Write from then on.
func (s *Store) syncOnce() error {
	if err := s.writesStopped(); err != nil {
		return err
	}
	if err := s.syncWAL(); err != nil {
		err = unavailable("WAL fsync failed; the store accepts no more writes", err)
		s.syncFailed.Store(&err)
		if s.onWritesStopped != nil {
			s.onWritesStopped(err)
		}
		return err
	}
	return nil
}

// writesStopped returns the error of a failed WAL fsync, or nil.
func (s *Store) writesStopped() error {
	if p := s.syncFailed.Load(); p != nil {
		return *p
	}
	return nil
}

// closeWALSync closes the syncer's descriptor (the syncer has returned).
func (s *Store) closeWALSync() error {
	if s.wal == nil {
		return nil
	}
	err := s.wal.Close()
	s.wal = nil
	return err
}

// syncState is the Store's part for the syncer.
type syncState struct {
	wal     *os.File
	syncWAL func() error // fsyncs the WAL; replaced by tests
	// onWritesStopped is Options.OnWritesStopped.
	onWritesStopped func(error)
	handoffs        chan handoff // writer → syncer; closed by the writer on exit
	synced          chan struct{}
	syncFailed      atomic.Pointer[error]
	// syncPending counts the committed batches handed to the syncer and not yet answered;
	// syncIdle receives a token when it drops to zero.
	syncPending atomic.Int32
	syncIdle    chan struct{}
}
