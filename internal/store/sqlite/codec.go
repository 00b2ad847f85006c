package sqlite

import (
	"errors"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

// storeName starts this store's encoding and migration errors.
const storeName = "sqlite"

// newEnc returns an encoder of column values (see sqlrow.Enc).
func newEnc() *sqlrow.Enc { return sqlrow.NewEnc(storeName) }

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
