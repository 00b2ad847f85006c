package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SQLite's default (wal_autocheckpoint = 1000 pages) runs a checkpoint inside the COMMIT that
// pushes the WAL past 4 MiB, on the committing connection: here that is the writer, so every
// few hundred admissions one commit also copied 4 MiB of WAL into the database file and fsynced
// it, and every Write queued behind it waited (commits of several milliseconds under load).
//
// So a checkpointer goroutine, on its own connection, runs a PASSIVE checkpoint every
// CheckpointInterval: it copies the frames readers no longer need without blocking the writer
// or the readers. That alone cannot bound the WAL: SQLite rewinds the WAL only once a
// checkpoint has copied every frame, and under sustained writes the writer appends frames while
// the checkpointer copies (a 1M-run seeding grew a 2.4 GB WAL). A blocking checkpoint from the
// checkpointer's connection does not help either: it polls for a gap between the writer's
// transactions and finds none under load. So when a passive round leaves the WAL past
// WALPages, the checkpointer runs a second round and asks the writer, which runs a passive
// checkpoint of its own between two batches (rewind): with no frame appended meanwhile it
// copies the few frames left and reaches the end of the WAL, so that the next write rewinds
// it. The writer also keeps a distant automatic checkpoint (walPagesBackstop ×
// WALPages) in case the checkpointer stalls. Durability is unchanged: a commit is durable once
// its WAL frames are fsynced, which the syncer (walsync.go) does before Write answers.

// defaultCheckpointInterval is how often the checkpointer copies committed WAL frames. A page
// changed by many commits within an interval is copied once; 100 ms and 5 s differed by under
// 10 % of CPU per run insert here.
const defaultCheckpointInterval = 250 * time.Millisecond

// defaultWALPages is the WAL size (16 MiB of 4 KiB pages) past which the checkpointer rewinds it.
const defaultWALPages = 4096

// walPagesBackstop × WALPages is the writer's own automatic checkpoint threshold.
const walPagesBackstop = 8

// openCheckpointer opens the checkpointer's connection and starts its goroutine.
func (s *Store) openCheckpointer(ctx context.Context, every time.Duration, walPages int) error {
	db, err := sql.Open("sqlite", dsn(s.path, checkpointerConn)) // wal_autocheckpoint(0): it never writes
	if err != nil {
		return fmt.Errorf("sqlite: open %s checkpointer: %w", s.path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return fmt.Errorf("sqlite: open %s checkpointer: %w", s.path, err)
	}
	s.cdb = db
	s.stopCheckpoints = make(chan struct{})
	s.checkpointsStopped = make(chan struct{})
	go s.runCheckpointer(every, walPages)
	return nil
}

func (s *Store) runCheckpointer(every time.Duration, walPages int) {
	defer close(s.checkpointsStopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopCheckpoints:
			return
		case <-t.C:
			if s.rewindWAL.Load() {
				// The writer's checkpoint is due: holding the checkpoint lock now would make
				// it fail (SQLITE_BUSY) and let the WAL grow.
				continue
			}
			// Errors (SQLITE_BUSY while another process holds the checkpoint lock, say) are
			// harmless: the frames stay in the WAL and the next tick tries again.
			frames, _, err := checkpointResult(s.cdb.QueryRow(passiveCheckpoint))
			if err == nil && frames >= walPages {
				// Copy what was appended during that round too, so that the writer's own
				// checkpoint has only a few frames left to copy.
				_, _, _ = checkpointResult(s.cdb.QueryRow(passiveCheckpoint))
				s.rewindWAL.Store(true)
			}
		}
	}
}

// closeCheckpointer stops the goroutine and closes its connection (before the writer's, so
// that the writer's close is the last one and removes the WAL).
func (s *Store) closeCheckpointer() error {
	if s.cdb == nil {
		return nil
	}
	close(s.stopCheckpoints)
	<-s.checkpointsStopped
	err := s.cdb.Close()
	s.cdb = nil
	return err
}

// rewind runs the checkpoint the checkpointer asked for. The writer calls it between batches,
// with no transaction open, so no frame is appended while it copies and the checkpoint reaches
// the end of the WAL unless a reader still needs older frames; the next write then rewinds the
// WAL. It is PASSIVE: a RESTART checkpoint would wait for readers through SQLite's busy handler,
// which sleeps 1, 2, 5, 10 ms…, and those waits were the 10–20 ms writer stalls behind the
// matching-webhook p99. When a reader kept it from finishing, the writer tries again after its
// next batch.
func (s *Store) rewind() {
	if !s.rewindWAL.Load() {
		return
	}
	st, err := s.wst.get(context.Background(), passiveCheckpoint)
	if err != nil {
		return
	}
	frames, copied, err := checkpointResult(st.QueryRow())
	if err == nil && copied >= frames {
		s.rewindWAL.Store(false)
	}
}

const passiveCheckpoint = "PRAGMA wal_checkpoint(PASSIVE)"

// errCheckpointNotRun: the checkpoint could not run, typically because another connection's
// checkpoint held the checkpoint lock.
var errCheckpointNotRun = errors.New("sqlite: checkpoint did not run")

// checkpointResult reads the row of a wal_checkpoint pragma: the frames in the WAL and how many
// of them are now in the database file. SQLite reports -1 for both when the checkpoint did not
// run at all (another connection was checkpointing): that is errCheckpointNotRun, not "all
// frames copied".
func checkpointResult(row *sql.Row) (frames, copied int, err error) {
	var busy int
	if err = row.Scan(&busy, &frames, &copied); err != nil {
		return 0, 0, err
	}
	if frames < 0 {
		return 0, 0, errCheckpointNotRun
	}
	return frames, copied, nil
}
