package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

// storeName starts this store's encoding and migration errors.
const storeName = "postgres"

// newEnc returns an encoder of column values (see sqlrow.Enc). Times are stored as BIGINT
// Unix nanoseconds, exactly like the SQLite store.
func newEnc() *sqlrow.Enc { return sqlrow.NewEnc(storeName) }

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
