package sqlrow

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Migration is one embedded schema step, migrations/<version>_<name>.sql. How and in what
// transaction it is applied is up to each store.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// SchemaVersionError reports a database migrated by a newer binary (SPEC §15.7).
type SchemaVersionError struct {
	Version   int // the database's schema version
	Supported int // the newest version this binary knows
}

func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this binary supports (%d)",
		e.Version, e.Supported)
}

// MustLoadMigrations is LoadMigrations for embedded files, which are known to be valid: it
// panics on an error.
func MustLoadMigrations(store string, fsys fs.FS) []Migration {
	ms, err := LoadMigrations(store, fsys)
	if err != nil {
		panic(err)
	}
	return ms
}

// LoadMigrations reads migrations/NNNN_name.sql from fsys in version order; versions must be
// 1, 2, … without gaps. Errors start with the store's name.
func LoadMigrations(store string, fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]Migration, 0, len(names))
	for _, name := range names { // fs.Glob returns names sorted
		base := strings.TrimSuffix(path.Base(name), ".sql")
		num, label, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || label == "" {
			return nil, fmt.Errorf("%s: bad migration file name %q (want NNNN_name.sql)", store, name)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("%s: migration %q has version %d, want %d", store, name, v, len(ms)+1)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: label, SQL: string(body)})
	}
	return ms, nil
}
