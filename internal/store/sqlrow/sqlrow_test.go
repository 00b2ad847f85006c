package sqlrow

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/agh-dev/agh/internal/automation"
)

func TestNanos(t *testing.T) {
	e := NewEnc("test")
	at := time.Date(2024, 3, 1, 12, 0, 0, 5, time.FixedZone("x", 3600))
	if n := e.Nanos(at); !FromNanos(n).Equal(at) || FromNanos(n).Location() != time.UTC {
		t.Fatalf("round trip of %v = %v", at, FromNanos(n))
	}
	if n := e.Nanos(time.Time{}); n != 0 || !FromNanos(0).IsZero() {
		t.Fatalf("zero time = %d, back %v", n, FromNanos(0))
	}
	if e.Err() != nil {
		t.Fatal(e.Err())
	}
	e.Nanos(time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC))
	e.Nanos(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := e.Err(); err == nil || !strings.HasPrefix(err.Error(), "test: time 1500-") ||
		!strings.Contains(err.Error(), "outside the storable range") {
		t.Fatalf("out-of-range error = %v, want the first one, naming the store", err)
	}
}

func TestTaskDocument(t *testing.T) {
	e := NewEnc("test")
	tc := &automation.TaskConfig{Title: "t", Description: "d", NetworkChannel: "c",
		Owner: &automation.TaskOwner{Kind: "agent", Ref: "a"}}
	s := e.task(tc)
	if s == nil || *s != `{"title":"t","description":"d","owner":{"kind":"agent","ref":"a"},"network_channel":"c"}` {
		t.Fatalf("encoded task = %v", s)
	}
	back, err := decodeTask(s)
	if err != nil || back.Title != tc.Title || back.Description != tc.Description ||
		back.NetworkChannel != tc.NetworkChannel || back.Owner == nil || *back.Owner != *tc.Owner {
		t.Fatalf("decoded task = %+v, %v", back, err)
	}
	if e.task(nil) != nil {
		t.Fatal("no task is not NULL")
	}
	if back, err := decodeTask(nil); back != nil || err != nil {
		t.Fatalf("NULL task = %+v, %v", back, err)
	}
	bad := "{"
	if _, err := decodeTask(&bad); err == nil {
		t.Fatal("bad task document decoded")
	}
}

// countScanner records how many values a scanner asks for.
type countScanner struct{ n int }

var errCounted = errors.New("counted")

func (c *countScanner) Scan(dest ...any) error {
	c.n = len(dest)
	return errCounted
}

// columns counts the top-level items of a column list, or of the select list of a SELECT.
func columns(list string) int {
	if strings.HasPrefix(list, "SELECT ") {
		list = list[len("SELECT "):strings.LastIndex(list, "FROM ")]
	}
	n, depth := 1, 0
	for _, r := range list {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				n++
			}
		}
	}
	return n
}

// TestArity: every builder fills exactly its column list and every scanner reads exactly its
// select list, so that a column added to one but not the other fails here rather than in a store.
func TestArity(t *testing.T) {
	e := NewEnc("test")
	args := func(a []any, err error) []any {
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	builders := []struct {
		name    string
		columns string
		args    []any
	}{
		{"job", JobColumns, args(JobArgs(e, &automation.Job{}))},
		{"cursor", CursorColumns, args(CursorArgs(e, &automation.Cursor{}))},
		{"ledger", LedgerColumns, args(LedgerArgs(e, &automation.LedgerEntry{}))},
		{"workspace", WorkspaceColumns, args(WorkspaceArgs(e, &automation.Workspace{}))},
		{"run", RunColumns, args(RunArgs(e, &automation.Run{}))},
		{"trigger", TriggerColumns, args(TriggerArgs(e, &automation.Trigger{}))},
		{"delivery", DeliveryColumns, args(DeliveryArgs(e, &automation.Delivery{}))},
		{"claim", ClaimColumns, args(ClaimArgs(e, &automation.ReplayClaim{}))},
		{"task", TaskColumns, args(TaskArgs(e, &automation.Task{}))},
		{"task run", TaskRunColumns, args(TaskRunArgs(e, &automation.TaskRun{}))},
		{"notification", NotificationColumns, args(NotificationArgs(e, &automation.Notification{}))},
	}
	for _, b := range builders {
		if got, want := len(b.args), columns(b.columns); got != want {
			t.Errorf("%s: %d arguments for %d columns", b.name, got, want)
		}
	}
	scan := func(f func(Scanner) error) int {
		var c countScanner
		if err := f(&c); !errors.Is(err, errCounted) {
			t.Fatalf("scanner returned %v, want the Scan error", err)
		}
		return c.n
	}
	scanners := []struct {
		name, query string
		n           int
	}{
		{"job", JobSelect, scan(func(sc Scanner) error { _, err := ScanJob(sc); return err })},
		{"ledger", LedgerSelect, scan(func(sc Scanner) error { _, err := ScanLedger(sc); return err })},
		{"workspace", WorkspaceSelect, scan(func(sc Scanner) error { _, err := ScanWorkspace(sc); return err })},
		{"run", RunSelect, scan(func(sc Scanner) error { _, err := ScanRun(sc); return err })},
		{"trigger", TriggerSelect, scan(func(sc Scanner) error { _, err := ScanTrigger(sc); return err })},
		{"delivery", DeliveryColumns, scan(func(sc Scanner) error { _, err := ScanDelivery(sc); return err })},
		{"claim", ClaimColumns, scan(func(sc Scanner) error { _, err := ScanClaim(sc); return err })},
		{"task", TaskSelect, scan(func(sc Scanner) error { _, err := ScanTask(sc); return err })},
		{"task run", TaskRunSelect, scan(func(sc Scanner) error { _, err := ScanTaskRun(sc); return err })},
		{"notification", NotificationSelect, scan(func(sc Scanner) error { _, err := ScanNotification(sc); return err })},
		{"bytes", "doc", scan(func(sc Scanner) error { _, err := ScanBytes(sc); return err })},
	}
	for _, s := range scanners {
		if want := columns(s.query); s.n != want {
			t.Errorf("%s: scans %d values of %d columns", s.name, s.n, want)
		}
	}
}

// TestNullsAndBlobs pins the NULL encoding of optional values.
func TestNullsAndBlobs(t *testing.T) {
	e := NewEnc("test")
	run, _ := RunArgs(e, &automation.Run{})
	if run[0].(*string) != nil || run[1].(*string) != nil || run[27].([]byte) != nil {
		t.Errorf("empty job_id, trigger_id, envelope = %v, %v, %v; want NULL", run[0], run[1], run[27])
	}
	run, _ = RunArgs(e, &automation.Run{JobID: "job_1", Envelope: []byte("{}")})
	if p := run[0].(*string); p == nil || *p != "job_1" || string(run[27].([]byte)) != "{}" {
		t.Errorf("job_id, envelope = %v, %v", run[0], run[27])
	}
	n, _ := NotificationArgs(e, &automation.Notification{})
	if b := n[5].([]byte); b == nil || len(b) != 0 {
		t.Errorf("nil body = %#v, want empty (NOT NULL)", n[5])
	}
	if b := NonNil(nil); b == nil {
		t.Error("NonNil(nil) is nil")
	}
}

func TestRunIDs(t *testing.T) {
	if s := joinIDs([]string{"a", "b"}); s != "a,b" {
		t.Fatalf("joinIDs = %q", s)
	}
	if ids := splitIDs(""); ids != nil {
		t.Fatalf("splitIDs(\"\") = %#v, want nil", ids)
	}
	if ids := splitIDs("a,b"); len(ids) != 2 || ids[0] != "a" || ids[1] != "b" {
		t.Fatalf("splitIDs = %#v", ids)
	}
}

func TestLoadMigrations(t *testing.T) {
	sql := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name    string
		files   fstest.MapFS
		wantErr string
	}{
		{"ok", fstest.MapFS{"migrations/0001_init.sql": sql, "migrations/0002_more.sql": sql}, ""},
		{"gap", fstest.MapFS{"migrations/0001_init.sql": sql, "migrations/0003_more.sql": sql}, "want 2"},
		{"bad name", fstest.MapFS{"migrations/0001init.sql": sql}, "test: bad migration file name"},
		{"not a number", fstest.MapFS{"migrations/x_init.sql": sql}, "bad migration file name"},
		{"starts at 2", fstest.MapFS{"migrations/0002_init.sql": sql}, "want 1"},
	}
	for _, tc := range tests {
		ms, err := LoadMigrations("test", tc.files)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr == "" && len(ms) != 2:
			t.Errorf("%s: %d migrations", tc.name, len(ms))
		case tc.wantErr == "" && (ms[1] != Migration{Version: 2, Name: "more", SQL: "SELECT 1;"}):
			t.Errorf("%s: second migration %+v", tc.name, ms[1])
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}
