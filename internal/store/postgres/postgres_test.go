package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/storetest"
	"github.com/agh-dev/agh/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openURL opens a store on url and closes it when t ends.
func openURL(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// freshURL returns the URL of a new database with the current schema and no rows. The schema
// is migrated once per test binary into a template database (the migrations themselves are
// tested on empty databases by TestConcurrentOpenMigratesOnce and TestSchemaNewerThanBinary).
func freshURL(t testing.TB) string {
	t.Helper()
	return pgtest.StartFrom(t, "agh-store", func(url string) error {
		s, err := Open(context.Background(), url, Options{})
		if err != nil {
			return err
		}
		return s.Close()
	})
}

// openTemp opens a store on a fresh database.
func openTemp(t testing.TB) *Store {
	t.Helper()
	return openURL(t, freshURL(t), Options{})
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

var base = time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)

func testJob(id string) *automation.Job {
	return &automation.Job{
		ID: id, Name: id, Scope: automation.ScopeGlobal, AgentName: "claude", Prompt: "p",
		Schedule: automation.Schedule{Mode: automation.ModeEvery, Interval: "1h"}, Enabled: true,
		Source: automation.SourceDynamic, CreatedAt: base, UpdatedAt: base,
	}
}

func testTrigger(id, name, webhookID string) *automation.Trigger {
	return &automation.Trigger{ID: id, Name: name, Scope: automation.ScopeGlobal, AgentName: "claude",
		Event: automation.EventWebhook, Enabled: true, EndpointSlug: name, WebhookID: webhookID,
		Source: automation.SourceDynamic, CreatedAt: base, UpdatedAt: base}
}

func testRun(id, jobID string, status string, scheduled time.Time) *automation.Run {
	return &automation.Run{ID: id, JobID: jobID, Status: status, Attempt: 1, FireID: "fire_" + id,
		ScheduledAt: scheduled, StartedAt: scheduled, Origin: automation.OriginManual,
		Scope: automation.ScopeGlobal, Depth: 1}
}

func mustWrite(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.Write(context.Background(), fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// waitForWaiters waits until n sessions of the database wait for a lock of the given type
// ("Lock" for row locks and transaction ids, "Advisory" for advisory locks).
func waitForWaiters(t *testing.T, s *Store, waitEvent string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = $1`,
			waitEvent).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions wait for a %s lock, want %d", got, waitEvent, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gate returns a channel a held transaction waits on and the function that opens it. The gate
// also opens when the test ends, so that a failing test does not leave a transaction (and the
// store's Close) hanging.
func gate(t *testing.T) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(ch) }) }
	t.Cleanup(open)
	return ch, open
}

func TestKindAndDatabaseNow(t *testing.T) {
	s := openTemp(t)
	if k := s.Kind(); k != "postgres" {
		t.Fatalf("Kind = %q", k)
	}
	before := time.Now()
	now, err := s.DatabaseNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Same machine: the clocks agree up to the round trip.
	if now.Before(before.Add(-time.Second)) || now.After(time.Now().Add(time.Second)) || now.Location() != time.UTC {
		t.Fatalf("DatabaseNow = %v, local clock %v", now, before)
	}
}

// TestLockJobSerializes: a second transaction's LockJob waits until the first one, which
// holds the job (or only its cursor), commits, and then reads what it committed.
func TestLockJobSerializes(t *testing.T) {
	url := freshURL(t)
	a, b := openURL(t, url, Options{}), openURL(t, url, Options{}) // two nodes
	mustWrite(t, a, func(tx store.Tx) error { return tx.InsertJob(testJob("job_1"), nil) })

	for _, holdCursorOnly := range []bool{false, true} {
		locked := make(chan struct{})
		held, release := gate(t)
		firstDone := make(chan error, 1)
		go func() {
			firstDone <- a.Write(context.Background(), func(tx store.Tx) error {
				rec, err := tx.GetJob(context.Background(), "job_1")
				if !holdCursorOnly {
					if rec, err = tx.LockJob("job_1"); err != nil {
						return err
					}
				} else if err != nil {
					return err
				}
				rec.Cursor.MisfireCount++
				if err := tx.UpdateCursor(rec.Cursor); err != nil { // locks the cursor row
					return err
				}
				close(locked)
				<-held
				return nil
			})
		}()
		<-locked
		var (
			second   store.JobRecord
			returned atomic.Bool
		)
		secondDone := make(chan error, 1)
		go func() {
			secondDone <- b.Write(context.Background(), func(tx store.Tx) error {
				var err error
				second, err = tx.LockJob("job_1")
				returned.Store(true)
				return err
			})
		}()
		waitForWaiters(t, a, "transactionid", 1)
		if returned.Load() {
			t.Fatal("second LockJob returned while the first transaction holds the lock")
		}
		release()
		if err := <-firstDone; err != nil {
			t.Fatal(err)
		}
		if err := <-secondDone; err != nil {
			t.Fatal(err)
		}
		want := 1
		if holdCursorOnly {
			want = 2
		}
		if second.Cursor.MisfireCount != want {
			t.Fatalf("second LockJob read misfire_count %d, want %d (the first transaction's commit)",
				second.Cursor.MisfireCount, want)
		}
	}
}

// TestLockTimeoutIsUnavailable: a lock wait beyond LockTimeout fails the statement with an
// error wrapping store.ErrUnavailable.
func TestLockTimeoutIsUnavailable(t *testing.T) {
	url := freshURL(t)
	a, b := openURL(t, url, Options{}), openURL(t, url, Options{LockTimeout: 50 * time.Millisecond})
	mustWrite(t, a, func(tx store.Tx) error { return tx.InsertJob(testJob("job_1"), nil) })
	locked := make(chan struct{})
	held, release := gate(t)
	done := make(chan error, 1)
	go func() {
		done <- a.Write(context.Background(), func(tx store.Tx) error {
			if _, err := tx.LockJob("job_1"); err != nil {
				return err
			}
			close(locked)
			<-held
			return nil
		})
	}()
	<-locked
	err := b.Write(context.Background(), func(tx store.Tx) error {
		_, err := tx.LockJob("job_1")
		return err
	})
	release()
	if !errors.Is(err, store.ErrUnavailable) || sqlState(err) != codeLockNotAvailable {
		t.Fatalf("LockJob past the lock timeout = %v, want ErrUnavailable (55P03)", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAdmissionAcrossNodes: read-then-insert admissions on two stores (nodes) serialize on the
// definition: overlap "skip" admits one run, a fire limit of 3 admits three.
func TestAdmissionAcrossNodes(t *testing.T) {
	url := freshURL(t)
	nodes := []*Store{openURL(t, url, Options{}), openURL(t, url, Options{})}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range n {
		s := nodes[i%2]
		wg.Go(func() {
			errs[i] = s.Write(context.Background(), func(tx store.Tx) error {
				active, err := tx.ActiveRuns("job_skip")
				if err != nil || len(active) > 0 {
					return err
				}
				return tx.InsertRun(testRun(fmt.Sprintf("run_s%02d", i), "job_skip", automation.RunScheduled, base))
			})
		})
		wg.Go(func() {
			errs[n+i] = s.Write(context.Background(), func(tx store.Tx) error {
				count, _, err := tx.CountFires("job_limit", base.Add(-time.Hour), base)
				if err != nil || count >= 3 {
					return err
				}
				return tx.InsertRun(testRun(fmt.Sprintf("run_l%02d", i), "job_limit", automation.RunScheduled, base.Add(-time.Duration(i))))
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	for def, want := range map[string]int{"job_skip": 1, "job_limit": 3} {
		runs, err := nodes[0].ListRuns(context.Background(), store.RunQuery{JobID: def})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != want {
			t.Fatalf("%s: %d runs admitted, want %d", def, len(runs), want)
		}
	}
}

// TestGlobalCapAcrossNodes: a start transaction (count running runs, pick eligible ones, move
// them to running) on one node makes the other node's wait for it, so that together they never
// exceed the cap.
func TestGlobalCapAcrossNodes(t *testing.T) {
	url := freshURL(t)
	a, b := openURL(t, url, Options{}), openURL(t, url, Options{})
	const (
		cap   = 3
		total = 10
	)
	now := base.Add(time.Hour)
	mustWrite(t, a, func(tx store.Tx) error {
		for i := range total {
			if err := tx.InsertRun(testRun(fmt.Sprintf("run_%02d", i), fmt.Sprintf("job_%02d", i),
				automation.RunScheduled, base.Add(time.Duration(i)))); err != nil {
				return err
			}
		}
		return nil
	})
	// start is the dispatcher's start transaction; hold blocks it before commit.
	start := func(s *Store, hold func()) (int, error) {
		started := 0
		err := s.Write(context.Background(), func(tx store.Tx) error {
			started = 0
			running, err := tx.CountRunning()
			if err != nil || running >= cap {
				return err
			}
			cands, err := tx.EligibleRuns(now, cap-running)
			if err != nil {
				return err
			}
			for _, r := range cands {
				c := *r
				c.Status, c.DispatchedAt = automation.RunRunning, now
				ok, err := tx.UpdateRun(&c, automation.RunScheduled)
				if err != nil {
					return err
				}
				if ok {
					started++
				}
			}
			hold()
			return nil
		})
		return started, err
	}
	locked := make(chan struct{})
	held, release := gate(t)
	type result struct {
		n   int
		err error
	}
	first, second := make(chan result, 1), make(chan result, 1)
	go func() {
		n, err := start(a, func() { close(locked); <-held })
		first <- result{n, err}
	}()
	<-locked
	go func() {
		n, err := start(b, func() {})
		second <- result{n, err}
	}()
	// The second node waits for the dispatcher row, although plenty of runs are eligible and
	// not locked.
	waitForWaiters(t, a, "transactionid", 1)
	release()
	r1, r2 := <-first, <-second
	if r1.err != nil || r2.err != nil {
		t.Fatalf("start transactions: %v, %v", r1.err, r2.err)
	}
	if r1.n != cap || r2.n != 0 {
		t.Fatalf("nodes started %d and %d runs, want %d and 0", r1.n, r2.n, cap)
	}
	counts, err := b.CountRunsByStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if counts[automation.RunRunning] != cap {
		t.Fatalf("%d runs running, want the cap %d", counts[automation.RunRunning], cap)
	}
}

// TestEligibleRunsSkipsLocked: runs another transaction holds are skipped, not waited for.
func TestEligibleRunsSkipsLocked(t *testing.T) {
	s := openTemp(t)
	mustWrite(t, s, func(tx store.Tx) error {
		for i := range 4 {
			if err := tx.InsertRun(testRun(fmt.Sprintf("run_%d", i), "job_1", automation.RunScheduled,
				base.Add(time.Duration(i)))); err != nil {
				return err
			}
		}
		return nil
	})
	locked := make(chan struct{})
	held, release := gate(t)
	done := make(chan error, 1)
	go func() {
		done <- s.Write(context.Background(), func(tx store.Tx) error {
			rs, err := tx.EligibleRuns(base.Add(time.Hour), 2)
			if err != nil {
				return err
			}
			if got := fmt.Sprint(runIDs(rs)); got != "[run_0 run_1]" {
				return fmt.Errorf("first EligibleRuns = %s", got)
			}
			close(locked)
			<-held
			return nil
		})
	}()
	<-locked
	var got []string
	mustWrite(t, s, func(tx store.Tx) error {
		rs, err := tx.EligibleRuns(base.Add(time.Hour), 10)
		got = runIDs(rs)
		return err
	})
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[run_2 run_3]" {
		t.Fatalf("EligibleRuns while run_0 and run_1 are locked = %v", got)
	}
}

func runIDs(rs []*automation.Run) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// TestConcurrentOpenMigratesOnce: nodes opening a fresh database together wait for the one
// that holds the migration lock, and every migration is applied once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := pgtest.Start(t)
	ctx := context.Background()
	// Hold the migration lock, as a node in the middle of migrating would.
	holder, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		t.Fatal(err)
	}
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, url, Options{}) })
	}
	waitAdvisory := func(want int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			var got int
			if err := holder.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event = 'advisory'`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d Opens wait for the migration lock, want %d", got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitAdvisory(n)
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", migrationLockKey); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	rows, err := holder.Query(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, SchemaVersion())
	for i := range want {
		want[i] = i + 1
	}
	if fmt.Sprint(versions) != fmt.Sprint(want) {
		t.Fatalf("schema_migrations versions %v, want %v", versions, want)
	}
	// Every node works on the migrated schema.
	for i, s := range stores {
		mustWrite(t, s, func(tx store.Tx) error { return tx.SetMeta(fmt.Sprint("node", i), []byte("ok")) })
	}
}

// TestSchemaNewerThanBinary: a database migrated by a newer binary is refused with the SPEC
// §15.7 message.
func TestSchemaNewerThanBinary(t *testing.T) {
	url := pgtest.Start(t)
	ctx := context.Background()
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	newer := SchemaVersion() + 1
	if _, err := s.pool.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future', 0)", newer); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(ctx, url, Options{})
	var sv *SchemaVersionError
	if !errors.As(err, &sv) || sv.Version != newer || sv.Supported != SchemaVersion() {
		t.Fatalf("Open of a newer schema = %v, want *SchemaVersionError", err)
	}
	want := fmt.Sprintf("database schema version %d is newer than this binary supports (%d)", newer, SchemaVersion())
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	// The migration lock was released: the current version still opens after a rollback.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DELETE FROM schema_migrations WHERE version = $1", newer); err != nil {
		t.Fatal(err)
	}
	openURL(t, url, Options{})
}

// TestConflictKeepsTransactionUsable: every conflict the store reports leaves the transaction
// usable (PostgreSQL aborts a transaction on a failed statement).
func TestConflictKeepsTransactionUsable(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	ws := func(id, path string) *automation.Workspace {
		return &automation.Workspace{ID: id, Path: path, Source: automation.SourceDynamic, CreatedAt: base, UpdatedAt: base}
	}
	mustWrite(t, s, func(tx store.Tx) error {
		if err := tx.InsertWorkspace(ws("a", "/a")); err != nil {
			return err
		}
		if err := tx.InsertWorkspace(ws("b", "/b")); err != nil {
			return err
		}
		if err := tx.InsertJob(testJob("job_1"), nil); err != nil {
			return err
		}
		for _, tr := range []*automation.Trigger{testTrigger("trg_1", "one", "wbh_1"), testTrigger("trg_2", "two", "wbh_2")} {
			if err := tx.InsertTrigger(tr); err != nil {
				return err
			}
		}
		if err := tx.InsertReplayClaim(&automation.ReplayClaim{TriggerID: "trg_1", DeliveryID: "d1", RunIDs: []string{"run_1"}, CreatedAt: base}); err != nil {
			return err
		}
		return tx.InsertRun(testRun("run_1", "job_1", automation.RunScheduled, base))
	})
	dupRun := testRun("run_2", "job_1", automation.RunScheduled, base)
	dupRun.FireID = "fire_run_1"
	renamed := testJob("job_2")
	renamed.Name = "job_1"
	steps := []struct {
		name       string
		fn         func(tx store.Tx) error
		constraint string
	}{
		{"InsertJob", func(tx store.Tx) error { j := testJob("job_x"); j.Name = "job_1"; return tx.InsertJob(j, nil) }, store.UniqueJobName},
		{"UpdateJob", func(tx store.Tx) error { return tx.UpdateJob(renamed) }, store.UniqueJobName},
		{"InsertRun", func(tx store.Tx) error { return tx.InsertRun(dupRun) }, store.UniqueFireAttempt},
		{"InsertWorkspace id", func(tx store.Tx) error { return tx.InsertWorkspace(ws("a", "/c")) }, store.UniqueWorkspaceID},
		{"InsertWorkspace path", func(tx store.Tx) error { return tx.InsertWorkspace(ws("c", "/a")) }, store.UniqueWorkspacePath},
		{"UpdateWorkspace", func(tx store.Tx) error { return tx.UpdateWorkspace(ws("b", "/a")) }, store.UniqueWorkspacePath},
		{"InsertTrigger name", func(tx store.Tx) error { return tx.InsertTrigger(testTrigger("trg_3", "one", "wbh_3")) }, store.UniqueTriggerName},
		{"InsertTrigger webhook", func(tx store.Tx) error { return tx.InsertTrigger(testTrigger("trg_3", "three", "wbh_1")) }, store.UniqueWebhookID},
		{"UpdateTrigger", func(tx store.Tx) error { return tx.UpdateTrigger(testTrigger("trg_2", "two", "wbh_1")) }, store.UniqueWebhookID},
		{"InsertReplayClaim", func(tx store.Tx) error {
			return tx.InsertReplayClaim(&automation.ReplayClaim{TriggerID: "trg_1", DeliveryID: "d1", RunIDs: []string{"x"}, CreatedAt: base})
		}, store.UniqueReplayClaim},
	}
	mustWrite(t, s, func(tx store.Tx) error {
		if err := tx.InsertJob(testJob("job_2"), nil); err != nil {
			return err
		}
		for _, st := range steps {
			if err := st.fn(tx); !store.IsConflict(err, st.constraint) {
				return fmt.Errorf("%s = %v, want conflict %s", st.name, err, st.constraint)
			}
			if err := tx.SetMeta("after "+st.name, []byte("ok")); err != nil {
				return fmt.Errorf("after %s: %w", st.name, err)
			}
		}
		return nil
	})
	for _, st := range steps {
		if _, err := s.GetMeta(ctx, "after "+st.name); err != nil {
			t.Fatalf("meta written after %s: %v", st.name, err)
		}
	}
	if rec, err := s.GetJob(ctx, "job_2"); err != nil || rec.Job.Name != "job_2" {
		t.Fatalf("job_2 = %+v, %v", rec.Job, err)
	}
}

// TestReplayClaimAcrossNodes: two nodes claiming the same delivery concurrently: one wins, the
// other gets the conflict (after waiting for the winner's commit) with a usable transaction.
func TestReplayClaimAcrossNodes(t *testing.T) {
	url := freshURL(t)
	nodes := []*Store{openURL(t, url, Options{}), openURL(t, url, Options{})}
	mustWrite(t, nodes[0], func(tx store.Tx) error { return tx.InsertTrigger(testTrigger("trg_1", "one", "wbh_1")) })
	const n = 8
	var (
		wg        sync.WaitGroup
		won, lost atomic.Int32
		errs      = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			errs[i] = nodes[i%2].Write(context.Background(), func(tx store.Tx) error {
				err := tx.InsertReplayClaim(&automation.ReplayClaim{TriggerID: "trg_1", DeliveryID: "dup",
					RunIDs: []string{fmt.Sprint("run_", i)}, CreatedAt: base})
				switch {
				case store.IsConflict(err, store.UniqueReplayClaim):
					lost.Add(1)
					return tx.SetMeta(fmt.Sprint("lost_", i), []byte("ok")) // still usable
				case err != nil:
					return err
				}
				won.Add(1)
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
	}
	if won.Load() != 1 || lost.Load() != n-1 {
		t.Fatalf("%d claims won, %d lost; want 1 and %d", won.Load(), lost.Load(), n-1)
	}
}

// TestChangeFeed: a change published on one node reaches the listeners of every node;
// ListenChanges returns nil when its context ends or its store closes.
func TestChangeFeed(t *testing.T) {
	url := freshURL(t)
	a, b := openURL(t, url, Options{}), openURL(t, url, Options{})
	got := make(chan store.Change, 4)
	ctx, cancel := context.WithCancel(context.Background())
	listenDone := make(chan error, 1)
	go func() { listenDone <- b.ListenChanges(ctx, func(c store.Change) { got <- c }) }()
	want := store.Change{Node: "node-a", Entity: "run", ID: "run_1", Op: "updated"}
	// LISTEN is asynchronous: publish until the listener has subscribed and receives.
	deadline := time.After(10 * time.Second)
	for received := false; !received; {
		if err := a.PublishChange(context.Background(), want); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-got:
			if c != want {
				t.Fatalf("received %+v, want %+v", c, want)
			}
			received = true
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("no change received within 10s")
		}
	}
	cancel()
	if err := <-listenDone; err != nil {
		t.Fatalf("ListenChanges after its context ended = %v, want nil", err)
	}

	c := openURL(t, url, Options{})
	go func() { listenDone <- c.ListenChanges(context.Background(), func(store.Change) {}) }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-listenDone:
		if err != nil {
			t.Fatalf("ListenChanges after Close = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenChanges did not return after Close")
	}
	if err := c.PublishChange(context.Background(), want); !errors.Is(err, ErrClosed) {
		t.Fatalf("PublishChange after Close = %v, want ErrClosed", err)
	}
}

// TestClosed: reads and writes after Close fail with ErrClosed (store.ErrUnavailable).
func TestClosed(t *testing.T) {
	s, err := Open(context.Background(), freshURL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, getErr := s.GetMeta(context.Background(), "k")
	writeErr := s.Write(context.Background(), func(tx store.Tx) error { return nil })
	for name, err := range map[string]error{"GetMeta": getErr, "Write": writeErr} {
		if !errors.Is(err, ErrClosed) || !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// TestUnstorableText: NUL bytes and invalid UTF-8, which PostgreSQL text cannot hold, are
// stored as U+FFFD instead of failing the write (an agent's stderr ends up in run.error).
func TestUnstorableText(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	r := testRun("run_1", "job_1", automation.RunFailed, base)
	r.Error = "exit status 1: a\x00b\xffc"
	r.Prompt = "p\x00"
	mustWrite(t, s, func(tx store.Tx) error { return tx.InsertRun(r) })
	got, err := s.GetRun(ctx, "run_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Error != "exit status 1: a\uFFFDb\uFFFDc" || got.Prompt != "p\uFFFD" {
		t.Fatalf("stored error %q, prompt %q", got.Error, got.Prompt)
	}
	if _, err := s.GetRun(ctx, "run_1\x00"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRun(id with NUL) = %v, want ErrNotFound", err)
	}
	var lockErr error
	mustWrite(t, s, func(tx store.Tx) error {
		_, lockErr = tx.LockJob("job\xff")
		return nil
	})
	if !errors.Is(lockErr, store.ErrNotFound) {
		t.Fatalf("LockJob(invalid UTF-8) = %v, want ErrNotFound", lockErr)
	}
}

// TestTaskRunCountTakesTheCapLock: counting running task runs takes the same dispatcher lock
// as counting running runs (task runs share the global cap).
func TestTaskRunCountTakesTheCapLock(t *testing.T) {
	url := freshURL(t)
	a, b := openURL(t, url, Options{}), openURL(t, url, Options{})
	locked := make(chan struct{})
	held, release := gate(t)
	done := make(chan error, 1)
	go func() {
		done <- a.Write(context.Background(), func(tx store.Tx) error {
			if _, err := tx.CountRunningTaskRuns(); err != nil {
				return err
			}
			close(locked)
			<-held
			return nil
		})
	}()
	<-locked
	second := make(chan error, 1)
	go func() {
		second <- b.Write(context.Background(), func(tx store.Tx) error {
			_, err := tx.CountRunning()
			return err
		})
	}()
	waitForWaiters(t, a, "transactionid", 1)
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}

// TestClaimNotificationAcrossNodes: concurrent claims of one attempt on two nodes: one wins.
func TestClaimNotificationAcrossNodes(t *testing.T) {
	url := freshURL(t)
	nodes := []*Store{openURL(t, url, Options{}), openURL(t, url, Options{})}
	n := &automation.Notification{ID: "evt_1", Channel: "ops", Type: "task.created", TaskID: "tsk_1",
		Body: []byte(`{}`), Status: "pending", NextAttemptAt: base, CreatedAt: base, UpdatedAt: base}
	mustWrite(t, nodes[0], func(tx store.Tx) error { return tx.InsertNotification(n) })
	const k = 8
	var (
		wg     sync.WaitGroup
		claims atomic.Int32
		errs   = make([]error, k)
	)
	for i := range k {
		wg.Go(func() {
			errs[i] = nodes[i%2].Write(context.Background(), func(tx store.Tx) error {
				ok, err := tx.ClaimNotification("evt_1", 0, base, base.Add(time.Minute))
				if ok {
					claims.Add(1)
				}
				return err
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
	}
	if claims.Load() != 1 {
		t.Fatalf("%d claims succeeded, want 1", claims.Load())
	}
}
