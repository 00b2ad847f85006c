package sqlite

import (
	"context"
	"database/sql"
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
// WALPages, the checkpointer asks the writer, which runs a RESTART checkpoint between two
// batches (rewind in writer.go): it copies only the frames the passive rounds have not reached
// (about one interval of writes) and waits for readers to leave the WAL, so that the next write
// rewinds it. The writer also keeps a distant automatic checkpoint (walPagesBackstop ×
// WALPages) in case the checkpointer stalls. Durability is unchanged: a commit is durable once
// its WAL frames are fsynced, which the writer still does before answering.

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
	db, err := sql.Open("sqlite", dsn(s.path, false)) // wal_autocheckpoint(0): it never writes
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
			// Errors (SQLITE_BUSY while another process holds the checkpoint lock, say) are
			// harmless: the frames stay in the WAL and the next tick tries again.
			var busy, frames, copied int
			err := s.cdb.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
			if err == nil && frames >= walPages {
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

// rewind runs the RESTART checkpoint the checkpointer asked for. The writer calls it between
// batches, with no transaction open.
func (s *Store) rewind() {
	if !s.rewindWAL.CompareAndSwap(true, false) {
		return
	}
	_ = s.execW(context.Background(), "PRAGMA wal_checkpoint(RESTART)")
}
