package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// Times are stored as Unix nanoseconds, which cover the years 1678 to 2262.
var (
	minTime = time.Unix(0, -1<<63).UTC()
	maxTime = time.Unix(0, 1<<63-1).UTC()
)

// enc converts values to column values, remembering the first error.
type enc struct{ err error }

// t encodes a time as Unix nanoseconds; the zero time is 0.
func (e *enc) t(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if t.Before(minTime) || t.After(maxTime) {
		if e.err == nil {
			e.err = fmt.Errorf("sqlite: time %s is outside the storable range", t.Format(time.RFC3339Nano))
		}
		return 0
	}
	return t.UnixNano()
}

// task encodes a job's task as JSON; no task is NULL.
func (e *enc) task(tc *automation.TaskConfig) any {
	if tc == nil {
		return nil
	}
	j := taskJSON{Title: tc.Title, Description: tc.Description, NetworkChannel: tc.NetworkChannel}
	if tc.Owner != nil {
		j.Owner = &ownerJSON{Kind: tc.Owner.Kind, Ref: tc.Owner.Ref}
	}
	b, err := json.Marshal(j)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("sqlite: encode task: %w", err)
	}
	return string(b)
}

// nullable stores an empty string as NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// blob stores an empty byte slice as NULL.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// fromNanos decodes a stored time; 0 is the zero time. Times come back in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

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

func decodeTask(s sql.NullString) (*automation.TaskConfig, error) {
	if !s.Valid {
		return nil, nil
	}
	var j taskJSON
	if err := json.Unmarshal([]byte(s.String), &j); err != nil {
		return nil, fmt.Errorf("sqlite: decode task: %w", err)
	}
	tc := &automation.TaskConfig{Title: j.Title, Description: j.Description, NetworkChannel: j.NetworkChannel}
	if j.Owner != nil {
		tc.Owner = &automation.TaskOwner{Kind: j.Owner.Kind, Ref: j.Owner.Ref}
	}
	return tc, nil
}

// uniqueConstraints maps the column lists SQLite names in "UNIQUE constraint failed: …"
// messages to store constraint names.
var uniqueConstraints = map[string]string{
	"jobs.scope, jobs.workspace_id, jobs.name": store.UniqueJobName,
	"runs.fire_id, runs.attempt":               store.UniqueFireAttempt,
	"workspaces.id":                            store.UniqueWorkspaceID,
	"workspaces.path":                          store.UniqueWorkspacePath,
}

// mapErr turns unique-constraint violations into *store.ConflictError; other errors pass
// through unchanged.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_CONSTRAINT {
		return err
	}
	code := se.Code()
	if code != sqlite3.SQLITE_CONSTRAINT_UNIQUE && code != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return err
	}
	const marker = "UNIQUE constraint failed: "
	msg := se.Error()
	i := strings.Index(msg, marker)
	if i < 0 {
		return err
	}
	cols := msg[i+len(marker):]
	if j := strings.LastIndex(cols, " ("); j >= 0 { // the driver appends " (<code>)"
		cols = cols[:j]
	}
	if name, ok := uniqueConstraints[cols]; ok {
		return &store.ConflictError{Constraint: name}
	}
	return err
}
