// Package sqlrow is the shared row encoding of the SQL stores (internal/store/sqlite and
// internal/store/postgres): the column lists of each table, the scanners that read a row into
// an automation value, the argument builders that turn a value into column values, the codec
// of times and task documents, and the loading of the embedded migration files.
//
// SQL statements stay in each store: placeholders (? or $n), WHERE clauses, locking and
// conflict handling differ by dialect. The lists and SELECT prefixes here contain no
// placeholders and mean the same in both dialects. Each XArgs builder returns values in the
// order of XColumns, with the first error of its encoder, so a store writes
// "INSERT INTO x (" + XColumns + ") VALUES (…)" and numbers the placeholders of an UPDATE by
// that order.
//
// Both schemas store the same values; where the drivers differ this package relies only on
// what both do:
//
//   - Times are Unix nanoseconds in a 64-bit integer (INTEGER, BIGINT); 0 is the zero time.
//   - Booleans are passed and scanned as Go bool: SQLite stores INTEGER 0/1 (the driver binds
//     a bool as 0/1 and database/sql scans 0/1 back into a bool), PostgreSQL stores BOOLEAN.
//     SQL that tests a boolean column (enabled = 1 against enabled) stays in the stores.
//   - NULL text is a nil *string in both directions (database/sql dereferences a pointer
//     argument and allocates one to scan into; pgx does the same natively).
//   - A nil []byte argument is NULL in both drivers, so NOT NULL blob columns get NonNil. An
//     empty BLOB scans as nil from SQLite but as []byte{} from pgx: ScanRun and ScanTrigger
//     make an empty optional blob nil, ScanBytes makes an empty value []byte{}, and
//     ScanNotification keeps what the driver returns (an empty body reads as nil from SQLite
//     and as []byte{} from PostgreSQL).
package sqlrow

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/automation"
)

// Scanner reads one row: *sql.Row and *sql.Rows (SQLite), pgx.Row and pgx.Rows (PostgreSQL).
type Scanner interface{ Scan(dest ...any) error }

// Times are stored as Unix nanoseconds, which cover the years 1678 to 2262.
var (
	minTime = time.Unix(0, -1<<63).UTC()
	maxTime = time.Unix(0, 1<<63-1).UTC()
)

// Enc converts values to column values and keeps the first error, so that a builder can encode
// a whole row and the caller checks once.
type Enc struct {
	store string // names the store in errors
	err   error
}

// NewEnc returns an encoder whose errors start with the store's name ("sqlite: …").
func NewEnc(store string) *Enc { return &Enc{store: store} }

// Err returns the first encoding error, or nil.
func (e *Enc) Err() error { return e.err }

func (e *Enc) fail(err error) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: %w", e.store, err)
	}
}

// Nanos encodes a time as Unix nanoseconds; the zero time is 0. A time outside the storable
// range is an error (and 0).
func (e *Enc) Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if t.Before(minTime) || t.After(maxTime) {
		e.fail(fmt.Errorf("time %s is outside the storable range", t.Format(time.RFC3339Nano)))
		return 0
	}
	return t.UnixNano()
}

// FromNanos decodes a stored time; 0 is the zero time. Times come back in UTC.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// task encodes a job's task as JSON text; no task is NULL.
func (e *Enc) task(tc *automation.TaskConfig) *string {
	if tc == nil {
		return nil
	}
	j := taskJSON{Title: tc.Title, Description: tc.Description, NetworkChannel: tc.NetworkChannel}
	if tc.Owner != nil {
		j.Owner = &ownerJSON{Kind: tc.Owner.Kind, Ref: tc.Owner.Ref}
	}
	b, err := json.Marshal(j)
	if err != nil {
		e.fail(fmt.Errorf("encode task: %w", err))
	}
	s := string(b)
	return &s
}

// taskJSON is the stored task document of a job (jobs.task).
type taskJSON struct {
	Title          string     `json:"title,omitempty"`
	Description    string     `json:"description,omitempty"`
	Owner          *ownerJSON `json:"owner,omitempty"`
	NetworkChannel string     `json:"network_channel,omitempty"`
}

type ownerJSON struct {
	Kind string `json:"kind"`
	Ref  string `json:"ref"`
}

// decodeTask decodes jobs.task; NULL is no task.
func decodeTask(s *string) (*automation.TaskConfig, error) {
	if s == nil {
		return nil, nil
	}
	var j taskJSON
	if err := json.Unmarshal([]byte(*s), &j); err != nil {
		return nil, fmt.Errorf("decode task: %w", err)
	}
	tc := &automation.TaskConfig{Title: j.Title, Description: j.Description, NetworkChannel: j.NetworkChannel}
	if j.Owner != nil {
		tc.Owner = &automation.TaskOwner{Kind: j.Owner.Kind, Ref: j.Owner.Ref}
	}
	return tc, nil
}

// nullable stores an empty string as NULL (runs.job_id, runs.trigger_id, triggers.webhook_id).
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// fromNullable reads a nullable text column; NULL is "".
func fromNullable(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// blob stores an empty byte slice as NULL (nullable blob columns).
func blob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// NonNil stores a nil byte slice as an empty one: both drivers bind a nil []byte as NULL,
// which a NOT NULL blob column rejects.
func NonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// joinIDs and splitIDs encode a list of ids as one comma-separated text column; no ids is "".
func joinIDs(ids []string) string { return strings.Join(ids, ",") }

func splitIDs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
