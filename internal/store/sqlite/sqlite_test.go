package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/storetest"
)

// openTemp opens a store in a fresh temporary directory and closes it when t ends.
func openTemp(t *testing.T) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "agh.db"))
}

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Every test leaves a sound database with consistent run counts.
		if err := s.IntegrityCheck(context.Background()); err != nil && !t.Failed() {
			t.Errorf("IntegrityCheck: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestKind(t *testing.T) {
	if k := openTemp(t).Kind(); k != "sqlite" {
		t.Fatalf("Kind() = %q", k)
	}
}

func TestFilePermissions(t *testing.T) {
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("existing=%v", existing), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agh.db")
			if existing { // an empty file with loose permissions is tightened
				if err := os.WriteFile(path, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			s := openAt(t, path)
			if err := s.Write(context.Background(), func(tx store.Tx) error { return tx.SetMeta("k", []byte("v")) }); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if mode := fi.Mode().Perm(); mode != 0o600 {
					t.Errorf("%s has mode %o, want 600", filepath.Base(p), mode)
				}
			}
		})
	}
}

// pragma reads a pragma on the writer's connection (inside a Write) and on a read connection.
func pragma(t *testing.T, s *Store, name string) (writer, reader string) {
	t.Helper()
	ctx := context.Background()
	err := s.Write(ctx, func(tx store.Tx) error {
		row, err := tx.(*txn).row(ctx, "PRAGMA "+name)
		if err != nil {
			return err
		}
		return row.Scan(&writer)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA "+name).Scan(&reader); err != nil {
		t.Fatal(err)
	}
	return writer, reader
}

func TestPragmas(t *testing.T) {
	s := openTemp(t)
	tests := []struct {
		pragma         string
		writer, reader string
	}{
		{"journal_mode", "wal", "wal"},
		{"synchronous", "1", "2"}, // NORMAL: the syncer fsyncs the WAL (walsync.go); FULL
		{"foreign_keys", "1", "1"},
		{"busy_timeout", "5000", "5000"},
		{"query_only", "0", "1"},
		{"user_version", fmt.Sprint(SchemaVersion()), fmt.Sprint(SchemaVersion())},
	}
	for _, tc := range tests {
		w, r := pragma(t, s, tc.pragma)
		if w != tc.writer || r != tc.reader {
			t.Errorf("PRAGMA %s = %s (writer), %s (reader); want %s, %s", tc.pragma, w, r, tc.writer, tc.reader)
		}
	}
	// The read pool cannot write.
	_, err := s.rdb.ExecContext(context.Background(), "INSERT INTO meta (key, value) VALUES ('x', x'00')")
	if err == nil {
		t.Fatal("a write through the read pool succeeded")
	}
}

func TestSchemaVersionNewer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agh.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	newer := SchemaVersion() + 1
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", newer)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(context.Background(), path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	want := fmt.Sprintf("database schema version %d is newer than this binary supports (%d)", newer, SchemaVersion())
	if err.Error() != want {
		t.Fatalf("Open error = %q, want %q", err, want)
	}
	var sv *SchemaVersionError
	if !errors.As(err, &sv) || sv.Version != newer || sv.Supported != SchemaVersion() {
		t.Fatalf("Open error = %#v, want *SchemaVersionError", err)
	}
}

func TestReopenPersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agh.db")
	applied := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s, err := Open(ctx, path, Options{Clock: func() time.Time { return applied }})
	if err != nil {
		t.Fatal(err)
	}
	j := &automation.Job{ID: "job_1", Name: "one", Scope: automation.ScopeGlobal,
		Schedule: automation.Schedule{Mode: automation.ModeEvery, Interval: "1h"}, Enabled: true,
		Source: automation.SourceDynamic, CreatedAt: applied, UpdatedAt: applied}
	cur := &automation.Cursor{JobID: "job_1", NextRunAt: applied.Add(time.Hour + 1)}
	r := &automation.Run{ID: "run_1", JobID: "job_1", Status: automation.RunScheduled, Attempt: 1,
		FireID: "fire_1", ScheduledAt: applied, StartedAt: applied.Add(1)}
	err = s.Write(ctx, func(tx store.Tx) error {
		if err := tx.InsertJob(j, cur); err != nil {
			return err
		}
		if err := tx.InsertRun(r); err != nil {
			return err
		}
		return tx.SetMeta("canary", []byte("sealed"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("-wal left behind after Close (%v)", err)
	}

	s = openAt(t, path)
	rec, err := s.GetJob(ctx, "job_1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Job.Name != "one" || !rec.Cursor.NextRunAt.Equal(cur.NextRunAt) {
		t.Fatalf("job after reopen = %+v, %+v", rec.Job, rec.Cursor)
	}
	if got, err := s.GetRun(ctx, "run_1"); err != nil || !got.StartedAt.Equal(r.StartedAt) {
		t.Fatalf("run after reopen = %+v, %v", got, err)
	}
	if v, err := s.GetMeta(ctx, "canary"); err != nil || string(v) != "sealed" {
		t.Fatalf("meta after reopen = %q, %v", v, err)
	}
	// Migrations ran once, at the first Open, and are recorded.
	rows, err := s.rdb.QueryContext(ctx, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var (
			v    int
			name string
			at   int64
		)
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s %s", v, name, time.Unix(0, at).UTC().Format(time.RFC3339)))
	}
	var want []string
	for _, m := range migrations {
		want = append(want, fmt.Sprintf("%d %s %s", m.Version, m.Name, applied.Format(time.RFC3339)))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("schema_migrations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// databaseAt creates a database migrated to version (the first version migrations) and returns
// its path and a connection to fill it through; closeDB closes it, to be opened by Open.
func databaseAt(t *testing.T, version int) (path string, conn *sql.Conn, closeDB func()) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "agh.db")
	db, err := sql.Open("sqlite", dsn(path, writerConn))
	if err != nil {
		t.Fatal(err)
	}
	if conn, err = db.Conn(ctx); err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, conn, migrations[:version], time.Now); err != nil {
		t.Fatal(err)
	}
	return path, conn, func() {
		t.Helper()
		if err := errors.Join(conn.Close(), db.Close()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrationRunCounts upgrades a version-3 database, whose run counts were kept by
// triggers, and checks that the counts are still right and are no longer counted twice.
func TestMigrationRunCounts(t *testing.T) {
	ctx := context.Background()
	path, conn, closeDB := databaseAt(t, 3)
	for i, status := range []string{"running", "running", "failed"} {
		if _, err := conn.ExecContext(ctx, `INSERT INTO runs (id, job_id, status, attempt, fire_id,
			scheduled_at, started_at) VALUES (?, 'job_1', ?, 1, ?, 1, 1)`, fmt.Sprint(i), status, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	closeDB()

	s := openAt(t, path)
	if counts, err := s.CountRunsByStatus(ctx); err != nil || counts["running"] != 2 || counts["failed"] != 1 || len(counts) != 2 {
		t.Fatalf("counts after upgrade = %v, %v", counts, err)
	}
	err := s.Write(ctx, func(tx store.Tx) error {
		return tx.InsertRun(&automation.Run{ID: "3", JobID: "job_1", Status: automation.RunRunning, Attempt: 1,
			FireID: "3", ScheduledAt: time.Unix(1, 0), StartedAt: time.Unix(1, 0)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if counts, err := s.CountRunsByStatus(ctx); err != nil || counts["running"] != 3 {
		t.Fatalf("counts after an insert = %v, %v; want running: 3", counts, err)
	}
	var triggers int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'").Scan(&triggers); err != nil {
		t.Fatal(err)
	}
	if triggers != 0 {
		t.Fatalf("%d triggers left after the upgrade", triggers)
	}
}

// TestMigrationClusteredDeliveries upgrades a version-8 database, whose delivery log was a
// rowid table with an index by trigger, and checks that every record survives in the same
// order, and that trimming and the cascade from a deleted trigger still work.
func TestMigrationClusteredDeliveries(t *testing.T) {
	ctx := context.Background()
	path, conn, closeDB := databaseAt(t, 8)
	for _, trg := range []string{"trg_a", "trg_b"} {
		if _, err := conn.ExecContext(ctx, `INSERT INTO triggers (id, name, scope, event, enabled, source,
			created_at, updated_at) VALUES (?, ?, 'global', 'ext.x', 1, 'api', 1, 1)`, trg, trg); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		trg := []string{"trg_a", "trg_b"}[i%2]
		if _, err := conn.ExecContext(ctx, `INSERT INTO deliveries (id, trigger_id, received_at, source, outcome, reason,
			run_ids, body_bytes) VALUES (?, ?, ?, 'webhook', 'filtered', 'filter_mismatch', 'run_1,run_2', ?)`,
			fmt.Sprintf("dlv_%d", i), trg, 1000+i/2, i); err != nil {
			t.Fatal(err)
		}
	}
	closeDB()

	s := openAt(t, path)
	ids := func(trg string) string {
		t.Helper()
		ds, err := s.ListDeliveries(ctx, store.DeliveryQuery{TriggerID: trg, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%s/%d/%s/%s", d.ID, d.BodyBytes, d.Reason, strings.Join(d.RunIDs, "+")))
		}
		return strings.Join(out, " ")
	}
	if got, want := ids("trg_a"), "dlv_4/4/filter_mismatch/run_1+run_2 dlv_2/2/filter_mismatch/run_1+run_2 dlv_0/0/filter_mismatch/run_1+run_2"; got != want {
		t.Fatalf("after the upgrade:\n got  %s\n want %s", got, want)
	}
	if err := s.Write(ctx, func(tx store.Tx) error { return tx.PruneDeliveries("trg_a", 2) }); err != nil {
		t.Fatal(err)
	}
	if got := ids("trg_a"); !strings.HasPrefix(got, "dlv_4/") || strings.Count(got, "dlv_") != 2 || strings.Contains(got, "dlv_0") {
		t.Fatalf("after trimming to 2: %s", got)
	}
	if err := s.Write(ctx, func(tx store.Tx) error { return tx.DeleteTrigger("trg_b") }); err != nil {
		t.Fatal(err)
	}
	if got := ids("trg_b"); got != "" {
		t.Fatalf("records of a deleted trigger: %s", got)
	}
	var tables int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'deliveries%'").Scan(&tables); err != nil || tables != 1 {
		t.Fatalf("%d schema objects named deliveries* after the upgrade, %v; want the table alone", tables, err)
	}
}

// TestEmbeddedMigrations: the embedded files load (sqlrow tests the loader itself).
func TestEmbeddedMigrations(t *testing.T) {
	if len(migrations) == 0 || migrations[0].Name != "init" {
		t.Fatalf("embedded migrations = %+v", migrations)
	}
}

func TestIntegrityCheck(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agh.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, func(tx store.Tx) error {
		for i := range 2000 {
			r := &automation.Run{ID: fmt.Sprintf("run_%05d", i), JobID: "job_1", Status: automation.RunCompleted,
				Attempt: 1, FireID: fmt.Sprintf("fire_%05d", i), ScheduledAt: time.Unix(int64(i), 0),
				StartedAt: time.Unix(int64(i), 0), Prompt: strings.Repeat("p", 100)}
			if err := tx.InsertRun(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatalf("IntegrityCheck of a healthy database: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Overwrite the middle of a page near the end of the file (a B-tree page of runs or of
	// one of its indexes).
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", 256))
	if _, err := f.WriteAt(garbage, fi.Size()-3*page+100); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.IntegrityCheck(ctx); err == nil {
		t.Fatal("IntegrityCheck of a corrupted database returned nil")
	} else {
		t.Logf("IntegrityCheck: %v", err)
	}
}

func TestIntegrityCheckRunCounts(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "agh.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Write(ctx, func(tx store.Tx) error {
		return tx.InsertRun(&automation.Run{ID: "run_1", JobID: "job_1", Status: automation.RunRunning,
			Attempt: 1, FireID: "f", ScheduledAt: time.Unix(1, 0), StartedAt: time.Unix(1, 0)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	// A status change that bypasses UpdateRun leaves the counts behind.
	err = s.Write(ctx, func(tx store.Tx) error {
		_, err := tx.(*txn).exec(ctx, "UPDATE runs SET status = 'completed'")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.IntegrityCheck(ctx)
	want := "sqlite: integrity check failed: run_status_counts[completed] = 0, but 1 runs have that status; " +
		"run_status_counts[running] = 1, but 0 runs have that status"
	if err == nil || err.Error() != want {
		t.Fatalf("IntegrityCheck = %v, want %q", err, want)
	}
}

// TestQueryPlans pins the access path of the list and count queries: each is a range scan of
// the named index, with no sort step (so LIMIT stops the scan early) and no full scan.
func TestQueryPlans(t *testing.T) {
	now := time.Now()
	runs := func(q store.RunQuery) (string, []any) {
		query, args, err := runsQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		return query, args
	}
	jobs := func(q store.JobQuery) (string, []any) { return jobsQuery(q) }
	ledger := func(q store.LedgerQuery) (string, []any) {
		query, args, err := ledgerQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		return query, args
	}
	fixed := func(query string, args ...any) func() (string, []any) {
		return func() (string, []any) { return query, args }
	}
	lift := func(q string, a []any) func() (string, []any) { return func() (string, []any) { return q, a } }
	keyset := store.RunQuery{Limit: 50, BeforeStartedAt: now, BeforeID: "run_x"}
	withKey := func(q store.RunQuery) store.RunQuery {
		q.BeforeStartedAt, q.BeforeID = keyset.BeforeStartedAt, keyset.BeforeID
		return q
	}
	const primaryKey = "PRIMARY KEY"
	tests := []struct {
		name  string
		query func() (string, []any)
		index string
		scan  bool // a full index scan is expected (it stops after LIMIT rows)
	}{
		{"runs", lift(runs(store.RunQuery{Limit: 50})), "runs_started", true},
		{"runs page", lift(runs(keyset)), "runs_started", false},
		{"runs window page", lift(runs(withKey(store.RunQuery{Limit: 50, Since: now, Until: now}))), "runs_started", false},
		{"job runs", lift(runs(store.RunQuery{JobID: "job_1", Limit: 50})), "runs_def_started", false},
		{"job runs page", lift(runs(withKey(store.RunQuery{JobID: "job_1", Limit: 50}))), "runs_def_started", false},
		{"job runs window", lift(runs(store.RunQuery{JobID: "job_1", Since: now, Until: now, Limit: 50})), "runs_def_started", false},
		{"trigger runs", lift(runs(store.RunQuery{TriggerID: "trg_1", Limit: 50})), "runs_def_started", false},
		{"status runs", lift(runs(store.RunQuery{Status: "failed", Limit: 50})), "runs_status_started", false},
		{"status runs page", lift(runs(withKey(store.RunQuery{Status: "failed", Limit: 50}))), "runs_status_started", false},
		{"job status runs", lift(runs(store.RunQuery{JobID: "job_1", Status: "failed", Limit: 50})), "runs_def_started", false},
		{"job status runs page", lift(runs(withKey(store.RunQuery{JobID: "job_1", Status: "failed", Limit: 50}))), "runs_def_started", false},
		{"job running runs", lift(runs(store.RunQuery{JobID: "job_1", Status: "running", Limit: 50})), "runs_active", false},
		{"trigger scheduled runs page", lift(runs(withKey(store.RunQuery{TriggerID: "trg_1", Status: "scheduled", Limit: 50}))), "runs_active", false},
		{"active runs", fixed(activeRunsSQL, "job_1"), "runs_active", false},
		{"count fires", fixed(countFiresSQL, "job_1", 1, 2), "runs_def_started", false},
		{"jobs page", lift(jobs(store.JobQuery{Limit: 50, AfterName: "a", AfterID: "job_1"})), "jobs_name_id", false},
		{"deliveries page", lift(deliveriesQuery(store.DeliveryQuery{TriggerID: "trg_1", Limit: 50, BeforeReceivedAt: now, BeforeID: "dlv_x"})), primaryKey, false},
		{"deliveries of an outcome", lift(deliveriesQuery(store.DeliveryQuery{TriggerID: "trg_1", Outcome: "filtered", Limit: 50})), primaryKey, false},
		{"deliveries trim", fixed(pruneDeliveriesSQL, "trg_1", 1000), primaryKey, false},
		{"ledger page", lift(ledger(store.LedgerQuery{JobID: "job_1", BeforeSlot: now, BeforeSeq: 9, Limit: 50})), "ledger_job_slot", false},
		{"last ledger entry", fixed(lastLedgerSQL, "job_1"), "ledger_job_seq", false},
		{"workspace definitions", fixed(countWorkspaceDefinitionsSQL, "w1", "w1"), "jobs_workspace", false},
	}
	s := openTemp(t)
	for _, tc := range tests {
		query, args := tc.query()
		plan := explain(t, s, query, args...)
		// A definition's active runs are sorted after the lookup in runs_active: they are few.
		if strings.Contains(plan, "TEMP B-TREE") && tc.index != "runs_active" {
			t.Errorf("%s: sorts:\n%s", tc.name, plan)
		}
		verb := "SEARCH"
		if tc.scan {
			verb = "SCAN"
		}
		using := `(COVERING )?INDEX ` + tc.index + `( \(|$)`
		if tc.index == primaryKey { // a WITHOUT ROWID table
			using = `PRIMARY KEY \(`
		}
		re := regexp.MustCompile(`(?m)^` + verb + ` \w+ USING ` + using)
		if !re.MatchString(plan) {
			t.Errorf("%s: plan does not %s %s:\n%s", tc.name, verb, tc.index, plan)
		}
	}
}

// TestFireCountReadsOnlyTheIndex: the fire-limit count reads no table row, however many runs
// are in the window. EXPLAIN QUERY PLAN cannot show it (def_id is a generated column, so SQLite
// never calls the index covering), but the program defers the table seek and then reads only
// the index cursor, so the seek never happens.
func TestFireCountReadsOnlyTheIndex(t *testing.T) {
	s := openTemp(t)
	rows, err := s.rdb.QueryContext(context.Background(), "EXPLAIN "+countFiresSQL, "job_1", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tables := map[int64]bool{} // cursors opened on a table (P4 is its column count, not a key)
	var program []string
	for rows.Next() {
		var (
			addr, p1, p2, p3 int64
			op               string
			p4, p5, comment  sql.NullString
		)
		if err := rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			t.Fatal(err)
		}
		program = append(program, fmt.Sprint(addr, " ", op, " ", p1, " ", p2, " ", p3, " ", p4.String))
		switch op {
		case "OpenRead":
			tables[p1] = !strings.HasPrefix(p4.String, "k(")
		case "Column", "Rowid", "SeekRowid", "NotExists":
			if tables[p1] {
				t.Errorf("the fire count reads the runs table (%s %d):\n%s", op, p1, strings.Join(program, "\n"))
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatal("no cursor opened: the check proves nothing")
	}
}

func explain(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.rdb.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var (
			id, parent, unused int
			detail             string
		)
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestSpecialCharactersInPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with #odd%20chars&")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agh db.sqlite")
	s := openAt(t, path)
	if err := s.Write(context.Background(), func(tx store.Tx) error { return tx.SetMeta("k", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetMeta(context.Background(), "k"); err != nil || string(v) != "v" {
		t.Fatalf("GetMeta = %q, %v", v, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %q: %v", path, err)
	}
	if s.Path() != path {
		t.Fatalf("Path() = %q, want %q", s.Path(), path)
	}
}

func TestTimeOutOfRange(t *testing.T) {
	s := openTemp(t)
	r := &automation.Run{ID: "run_1", JobID: "job_1", Status: automation.RunScheduled, Attempt: 1, FireID: "f",
		ScheduledAt: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), StartedAt: time.Now()}
	err := s.Write(context.Background(), func(tx store.Tx) error { return tx.InsertRun(r) })
	if err == nil || !strings.Contains(err.Error(), "outside the storable range") {
		t.Fatalf("InsertRun with a year-1500 time = %v, want a range error", err)
	}
}

// ---- writer

// waitQueued waits (without sleeping) until n requests are queued for the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(s.reqs), n)
		}
		runtime.Gosched()
	}
}

// blockWriter occupies the writer with a Write that returns when release is closed.
func blockWriter(t *testing.T, s *Store) (release func(), done <-chan error) {
	t.Helper()
	entered, unblock, errc := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		errc <- s.Write(context.Background(), func(tx store.Tx) error {
			close(entered)
			<-unblock
			return tx.SetMeta("blocker", nil)
		})
	}()
	<-entered
	return func() { close(unblock) }, errc
}

// enqueue starts Write(fn) and returns once the request is queued behind the others.
func enqueue(t *testing.T, s *Store, ctx context.Context, fn func(store.Tx) error) <-chan error {
	t.Helper()
	n := len(s.reqs)
	errc := make(chan error, 1)
	go func() { errc <- s.Write(ctx, fn) }()
	waitQueued(t, s, n+1)
	return errc
}

func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	release, blocked := blockWriter(t, s)
	before := s.Stats()

	const n = 50
	errs := make([]<-chan error, n)
	for i := range n {
		errs[i] = enqueue(t, s, ctx, func(tx store.Tx) error {
			if err := tx.SetMeta(fmt.Sprint(i), []byte{byte(i)}); err != nil {
				return err
			}
			switch i % 10 {
			case 4:
				return fmt.Errorf("write %d fails", i)
			case 9:
				panic(fmt.Sprintf("write %d panics", i))
			}
			return nil
		})
	}
	release()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		err := <-errs[i]
		_, getErr := s.GetMeta(ctx, fmt.Sprint(i))
		switch i % 10 {
		case 4:
			if err == nil || err.Error() != fmt.Sprintf("write %d fails", i) || !errors.Is(getErr, store.ErrNotFound) {
				t.Errorf("write %d: %v (meta: %v), want its own error and nothing stored", i, err, getErr)
			}
		case 9:
			var pe *PanicError
			if !errors.As(err, &pe) || pe.Value != fmt.Sprintf("write %d panics", i) || len(pe.Stack) == 0 ||
				!errors.Is(getErr, store.ErrNotFound) {
				t.Errorf("write %d: %v (meta: %v), want a PanicError and nothing stored", i, err, getErr)
			}
		default:
			if err != nil || getErr != nil {
				t.Errorf("write %d: %v (meta: %v), want success", i, err, getErr)
			}
		}
	}
	// All 50 queued writes were committed in one batch after the blocker's.
	after := s.Stats()
	if b, w := after.Batches-before.Batches, after.Writes-before.Writes; b != 1 || w != n {
		t.Fatalf("%d writes in %d batches after the blocker, want %d in 1", w, b, n)
	}
}

func TestBatchCap(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	release, blocked := blockWriter(t, s)
	before := s.Stats()
	// Fill the queue (its capacity is maxBatch) and then some: the extra writers wait to send.
	const n = maxBatch + 10
	errs := make([]chan error, n)
	for i := range n {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- s.Write(ctx, func(tx store.Tx) error { return tx.SetMeta(fmt.Sprint(i), nil) }) }()
	}
	waitQueued(t, s, maxBatch)
	release()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := <-errs[i]; err != nil {
			t.Fatal(err)
		}
	}
	after := s.Stats()
	if b, w := after.Batches-before.Batches, after.Writes-before.Writes; w != n || b < 2 {
		t.Fatalf("%d writes in %d batches, want %d in at least 2 (cap %d)", w, b, n, maxBatch)
	}
}

// TestBrokenTransaction: when the batch transaction is lost midway (here: a function rolls it
// back behind the writer's back, as SQLite does itself on some I/O errors), the writes that
// already ran fail with ErrUnavailable and the ones after it run in a new transaction.
func TestBrokenTransaction(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	release, blocked := blockWriter(t, s)
	a := enqueue(t, s, ctx, func(tx store.Tx) error { return tx.SetMeta("a", nil) })
	b := enqueue(t, s, ctx, func(tx store.Tx) error {
		if err := tx.SetMeta("b", nil); err != nil {
			return err
		}
		_, err := tx.(*txn).exec(ctx, "ROLLBACK")
		return err
	})
	c := enqueue(t, s, ctx, func(tx store.Tx) error { return tx.SetMeta("c", nil) })
	release()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for name, errc := range map[string]<-chan error{"a": a, "b": b} {
		if err := <-errc; !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("write %s = %v, want ErrUnavailable", name, err)
		}
		if _, err := s.GetMeta(ctx, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("write %s was kept (%v)", name, err)
		}
	}
	if err := <-c; err != nil {
		t.Fatalf("write c = %v, want it retried in a new transaction", err)
	}
	if _, err := s.GetMeta(ctx, "c"); err != nil {
		t.Fatalf("write c not stored: %v", err)
	}
	// The writer is healthy afterwards.
	if err := s.Write(ctx, func(tx store.Tx) error { return tx.SetMeta("d", nil) }); err != nil {
		t.Fatal(err)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	s := openTemp(t)
	release, blocked := blockWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{}, 1)
	errc := enqueue(t, s, ctx, func(tx store.Tx) error {
		ran <- struct{}{}
		return tx.SetMeta("k", nil)
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) { // returns while the writer is still busy
		t.Fatalf("Write = %v, want context.Canceled", err)
	}
	release()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	// A later write proves the abandoned request was skipped, not run.
	if err := s.Write(context.Background(), func(tx store.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ran:
		t.Fatal("a request abandoned before it started ran")
	default:
	}
}

func TestCancelAfterStartWaitsForOutcome(t *testing.T) {
	s := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := s.Write(ctx, func(tx store.Tx) error {
		cancel() // the function is running: it completes and commits
		return tx.SetMeta("k", []byte("v"))
	})
	if err != nil {
		t.Fatalf("Write = %v, want nil (started before the cancel)", err)
	}
	if v, err := s.GetMeta(context.Background(), "k"); err != nil || string(v) != "v" {
		t.Fatalf("GetMeta = %q, %v", v, err)
	}
}

func TestCloseDrainsPending(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "agh.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	release, blocked := blockWriter(t, s)
	var errs []<-chan error
	for i := range 10 {
		errs = append(errs, enqueue(t, s, ctx, func(tx store.Tx) error { return tx.SetMeta(fmt.Sprint(i), nil) }))
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	// Wait until Close has marked the store closed.
	for {
		s.mu.RLock()
		closing := s.closed
		s.mu.RUnlock()
		if closing {
			break
		}
		runtime.Gosched()
	}
	if err := s.Write(ctx, func(tx store.Tx) error { return nil }); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Write after Close = %v, want ErrUnavailable", err)
	}
	release()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for i, errc := range errs {
		if err := <-errc; err != nil {
			t.Fatalf("pending write %d = %v", i, err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := s.GetMeta(ctx, "0"); !errors.Is(err, ErrClosed) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetMeta after Close = %v, want ErrClosed", err)
	}
	s = openAt(t, path)
	for i := range 10 {
		if _, err := s.GetMeta(ctx, fmt.Sprint(i)); err != nil {
			t.Fatalf("pending write %d lost: %v", i, err)
		}
	}
}

func TestTxUseAfterReturn(t *testing.T) {
	s := openTemp(t)
	var kept store.Tx
	if err := s.Write(context.Background(), func(tx store.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := kept.SetMeta("k", nil); !errors.Is(err, errTxDone) {
		t.Fatalf("SetMeta on a finished Tx = %v, want errTxDone", err)
	}
	if _, err := kept.GetMeta(context.Background(), "k"); !errors.Is(err, errTxDone) {
		t.Fatalf("GetMeta on a finished Tx = %v, want errTxDone", err)
	}
}

// Below WALPages the writer never checkpoints: committed pages reach the database file only
// through the checkpointer, and they do while the store is open.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	for _, every := range []time.Duration{time.Hour, 10 * time.Millisecond} {
		path := filepath.Join(t.TempDir(), "agh.db")
		s, err := Open(context.Background(), path, Options{CheckpointInterval: every})
		if err != nil {
			t.Fatal(err)
		}
		size := func() int64 {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			return fi.Size()
		}
		before := size()
		// 6 MiB: past the 1000 pages at which SQLite's default automatic checkpoint would run.
		for i := 0; i < 24; i++ {
			err := s.Write(context.Background(), func(tx store.Tx) error {
				for j := 0; j < 32; j++ {
					if err := tx.SetMeta(fmt.Sprintf("k%03d-%02d", i, j), bytes.Repeat([]byte{'x'}, 8192)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for size() == before && every < time.Hour && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		switch grew := size() > before; {
		case every == time.Hour && grew:
			t.Fatalf("the database file grew from %d to %d bytes without a checkpoint: a commit checkpointed", before, size())
		case every < time.Hour && !grew:
			t.Fatalf("the checkpointer did not copy the WAL into the database file within 5 s")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the WAL is still there after Close: %v", err)
		}
	}
}

// Under sustained concurrent writes passive checkpoints never catch up with the end of the WAL,
// so SQLite could never rewind it: the writer's own checkpoint past WALPages keeps it bounded.
func TestWALStaysBoundedUnderSustainedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agh.db")
	s, err := Open(context.Background(), path, Options{CheckpointInterval: 5 * time.Millisecond, WALPages: 256, noBackstop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		maxSize int64
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 64; i++ { // 8 x 64 x 64 KiB = 32 MiB
				err := s.Write(context.Background(), func(tx store.Tx) error {
					for j := 0; j < 8; j++ {
						if err := tx.SetMeta(fmt.Sprintf("w%d-%d-%d", w, i, j), bytes.Repeat([]byte{'x'}, 8192)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if fi, err := os.Stat(path + "-wal"); err == nil {
					mu.Lock()
					maxSize = max(maxSize, fi.Size())
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	// 256 pages is 1 MiB; batches of up to 8 x 64 KiB keep landing until the checkpointer
	// notices (every 5 ms, later on a busy machine) and the writer is between two batches.
	if maxSize > 12<<20 {
		t.Fatalf("the WAL grew to %d bytes with a 1 MiB checkpoint threshold", maxSize)
	}
}

// Run counts are written once per batch, so a function must see the changes made by the
// functions before it in the same batch (and its own), but not those of a function that failed.
func TestRunCountsWithinOneBatch(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	run := func(id string) *automation.Run {
		return &automation.Run{ID: id, JobID: "job_1", Status: automation.RunRunning, Attempt: 1,
			FireID: id, ScheduledAt: time.Unix(1, 0), StartedAt: time.Unix(1, 0)}
	}
	var seen []int
	insert := func(id string, fail bool) func(store.Tx) error {
		return func(tx store.Tx) error {
			if err := tx.InsertRun(run(id)); err != nil {
				return err
			}
			n, err := tx.CountRunning()
			if err != nil {
				return err
			}
			counts, err := tx.CountRunsByStatus(ctx)
			if err != nil {
				return err
			}
			if counts["running"] != n {
				return fmt.Errorf("CountRunsByStatus %v, CountRunning %d", counts, n)
			}
			if fail {
				return errors.New("refused")
			}
			seen = append(seen, n)
			return nil
		}
	}
	// The writer goroutine is idle (no Write is pending), so the test may run one batch itself.
	var reqs []*request
	for _, fn := range []func(store.Tx) error{insert("a", false), insert("b", true), insert("c", false)} {
		r := &request{fn: fn, done: make(chan error, 1)}
		r.state.Store(reqStarted)
		reqs = append(reqs, r)
	}
	s.commitOnce(reqs)
	for i, want := range []bool{false, true, false} {
		if err := <-reqs[i].done; (err != nil) != want {
			t.Fatalf("function %d: %v", i, err)
		}
	}
	if fmt.Sprint(seen) != "[1 2]" {
		t.Fatalf("CountRunning inside the batch: %v, want [1 2]", seen)
	}
	if counts, err := s.CountRunsByStatus(ctx); err != nil || counts["running"] != 2 || len(counts) != 1 {
		t.Fatalf("counts after the batch: %v, %v", counts, err)
	}
}
