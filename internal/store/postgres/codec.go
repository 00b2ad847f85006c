package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// Times are stored as Unix nanoseconds (BIGINT), exactly like the SQLite store, which covers
// the years 1678 to 2262.
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
			e.err = fmt.Errorf("postgres: time %s is outside the storable range", t.Format(time.RFC3339Nano))
		}
		return 0
	}
	return t.UnixNano()
}

// task encodes a job's task as JSON text; no task is NULL.
func (e *enc) task(tc *automation.TaskConfig) *string {
	if tc == nil {
		return nil
	}
	j := taskJSON{Title: tc.Title, Description: tc.Description, NetworkChannel: tc.NetworkChannel}
	if tc.Owner != nil {
		j.Owner = &ownerJSON{Kind: tc.Owner.Kind, Ref: tc.Owner.Ref}
	}
	b, err := json.Marshal(j)
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("postgres: encode task: %w", err)
	}
	s := string(b)
	return &s
}

// nullable stores an empty string as NULL.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// blob stores an empty byte slice as NULL.
func blob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nonNil stores a nil byte slice as an empty one (NOT NULL BYTEA columns).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
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

// The task document has the same shape as in the SQLite store.
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

func decodeTask(s *string) (*automation.TaskConfig, error) {
	if s == nil {
		return nil, nil
	}
	var j taskJSON
	if err := json.Unmarshal([]byte(*s), &j); err != nil {
		return nil, fmt.Errorf("postgres: decode task: %w", err)
	}
	tc := &automation.TaskConfig{Title: j.Title, Description: j.Description, NetworkChannel: j.NetworkChannel}
	if j.Owner != nil {
		tc.Owner = &automation.TaskOwner{Kind: j.Owner.Kind, Ref: j.Owner.Ref}
	}
	return tc, nil
}

// uniqueConstraints maps constraint (and unique index) names of the schema to store
// constraint names.
var uniqueConstraints = map[string]string{
	"jobs_scope_workspace_name": store.UniqueJobName,
	"runs_fire_attempt":         store.UniqueFireAttempt,
	"workspaces_pkey":           store.UniqueWorkspaceID,
	"workspaces_path":           store.UniqueWorkspacePath,
}

// SQLSTATE codes the store looks at.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeLockNotAvailable     = "55P03"
	codeQueryCanceled        = "57014"
)

// mapErr turns unique violations of known constraints into *store.ConflictError; other errors
// pass through unchanged.
func mapErr(err error) error {
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) || pe.Code != codeUniqueViolation {
		return err
	}
	if name, ok := uniqueConstraints[pe.ConstraintName]; ok {
		return &store.ConflictError{Constraint: name}
	}
	return err
}

// sqlState returns the SQLSTATE of a server error, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isNoRows reports whether err means a single-row query found no row.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// wrapErr marks failures to reach the database, and lock or statement timeouts, with
// store.ErrUnavailable; other errors pass through unchanged.
func wrapErr(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || !unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// unavailable reports whether err is a connection failure or a transient server condition
// (shutdown, too many connections, timeouts), as opposed to a problem with the statement.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == codeLockNotAvailable, pe.Code == codeQueryCanceled,
			pe.Code == codeDeadlockDetected, pe.Code == codeSerializationFailure:
			return true
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),  // insufficient resources
			strings.HasPrefix(pe.Code, "57P"): // operator intervention: shutdown, crash
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		pgconn.SafeToRetry(err)
}
