package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// defaultCheckpointInterval is how often the checkpointer copies committed WAL frames into the
// database file. A page changed by many commits within an interval is copied once; 100 ms and
// 5 s differed by under 10 % of CPU per run insert here, and a longer interval means a larger
// WAL for readers to search.
const defaultCheckpointInterval = time.Second

// SQLite's default (wal_autocheckpoint = 1000 pages) runs a checkpoint inside the COMMIT that
// pushes the WAL past 4 MiB, on the committing connection: here that is the writer, so every
// few hundred admissions one commit also copied the WAL into the database file and fsynced it,
// and every Write queued behind it waited (commits of several milliseconds under load). The
// writer's connection therefore has automatic checkpoints off, and this goroutine, on its own
// connection, runs a PASSIVE checkpoint every Options.CheckpointInterval: it copies what readers no
// longer need without blocking the writer or the readers, and the writer rewinds the WAL once
// a checkpoint has caught up. Durability is unchanged: a commit is durable once its WAL frames
// are fsynced, which the writer still does before answering.

// openCheckpointer opens the checkpointer's connection and starts its goroutine.
func (s *Store) openCheckpointer(ctx context.Context, every time.Duration) error {
	db, err := sql.Open("sqlite", dsn(s.path, false))
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
	go s.runCheckpointer(every)
	return nil
}

func (s *Store) runCheckpointer(every time.Duration) {
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
			_, _ = s.cdb.Exec("PRAGMA wal_checkpoint(PASSIVE)")
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
