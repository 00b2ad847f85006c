package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/store"
)

// gatedSync is a syncWAL that waits for a token per call (until opened for good) and reports
// the calls it starts.
type gatedSync struct {
	started chan struct{}
	release chan error
	open    chan struct{}
}

func newGatedSync() *gatedSync {
	return &gatedSync{started: make(chan struct{}, 100), release: make(chan error, 100), open: make(chan struct{})}
}

func (g *gatedSync) sync() error {
	select {
	case g.started <- struct{}{}:
	default:
	}
	select {
	case err := <-g.release:
		return err
	case <-g.open:
		return nil
	}
}

func openGated(t *testing.T) (*Store, *gatedSync) {
	t.Helper()
	return openGatedWith(t, Options{})
}

func openGatedWith(t *testing.T, opts Options) (*Store, *gatedSync) {
	t.Helper()
	g := newGatedSync()
	opts.syncWAL = g.sync
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "agh.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(g.open) // let Close's last batches through
		_ = s.Close()
	})
	return s, g
}

func waitStarted(t *testing.T, g *gatedSync) {
	t.Helper()
	select {
	case <-g.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the syncer did not sync")
	}
}

// goWrite starts a Write of the meta key and returns its outcome's channel.
func goWrite(s *Store, key string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		errc <- s.Write(context.Background(), func(tx store.Tx) error { return tx.SetMeta(key, nil) })
	}()
	return errc
}

// A Write returns only once the WAL is synced, although its changes are committed (visible to
// readers) before.
func TestWriteWaitsForTheWALSync(t *testing.T) {
	ctx := context.Background()
	s, g := openGated(t)
	errc := goWrite(s, "k")
	waitStarted(t, g)
	if _, err := s.GetMeta(ctx, "k"); err != nil {
		t.Fatalf("committed change not visible while syncing: %v", err)
	}
	select {
	case err := <-errc:
		t.Fatalf("Write returned %v before its WAL sync finished", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.release <- nil
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// While the syncer is busy the writer keeps its batch open: the writes arriving meanwhile are
// committed together, after the sync in progress.
func TestBatchStaysOpenWhileSyncing(t *testing.T) {
	ctx := context.Background()
	s, g := openGated(t)
	first := goWrite(s, "first")
	waitStarted(t, g) // the first batch is committed and being synced
	before := s.Stats()
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.Write(ctx, func(tx store.Tx) error { return tx.SetMeta(fmt.Sprint(i), nil) }) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Writes-before.Writes < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writes ran while the sync was in progress", s.Stats().Writes-before.Writes, n)
		}
		time.Sleep(time.Millisecond)
	}
	if b := s.Stats().Batches - before.Batches; b != 1 {
		t.Fatalf("the %d writes arriving during a sync took %d batches, want 1", n, b)
	}
	g.release <- nil // the first batch
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	waitStarted(t, g)
	g.release <- nil // the second
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// A failed WAL fsync fails the writes it covered and every later one.
func TestFailedWALSyncStopsWrites(t *testing.T) {
	ctx := context.Background()
	stopped := make(chan error, 10)
	s, g := openGatedWith(t, Options{OnWritesStopped: func(err error) { stopped <- err }})
	errc := goWrite(s, "k")
	waitStarted(t, g)
	g.release <- syscall.EIO
	if err := <-errc; !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Write after a failed fsync = %v, want ErrUnavailable wrapping EIO", err)
	}
	g.release <- nil // a later fsync that would "succeed" must not be trusted
	err := s.Write(ctx, func(tx store.Tx) error { return tx.SetMeta("later", nil) })
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Write after the store stopped = %v, want ErrUnavailable", err)
	}
	if _, err := s.GetMeta(ctx, "later"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a write after the failed fsync was committed (%v)", err)
	}
	if n := len(stopped); n != 1 {
		t.Fatalf("OnWritesStopped was called %d times, want once", n)
	}
	if err := <-stopped; !errors.Is(err, syscall.EIO) {
		t.Fatalf("OnWritesStopped got %v, want the fsync's error", err)
	}
}

// The syncer's descriptor is the live WAL file, also after checkpoints rewound it.
func TestWALSyncDescriptorIsTheWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agh.db")
	s, err := Open(ctx, path, Options{CheckpointInterval: 5 * time.Millisecond, WALPages: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 200 {
		if err := s.Write(ctx, func(tx store.Tx) error { return tx.SetMeta(fmt.Sprint(i), make([]byte, 8192)) }); err != nil {
			t.Fatal(err)
		}
	}
	open, err := s.wal.Stat()
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(open, onDisk) {
		t.Fatal("the syncer fsyncs a file that is no longer the WAL")
	}
}
