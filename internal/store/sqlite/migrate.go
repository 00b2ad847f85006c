package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded schema step, migrations/<version>_<name>.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations are the embedded migrations in version order; versions are 1, 2, … without gaps.
var migrations = mustLoadMigrations(migrationFiles)

// SchemaVersion is the schema version this binary migrates databases to.
func SchemaVersion() int { return len(migrations) }

// SchemaVersionError reports a database migrated by a newer binary (SPEC §15.7).
type SchemaVersionError struct {
	Version   int // the database's schema version
	Supported int // the newest version this binary knows
}

func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this binary supports (%d)",
		e.Version, e.Supported)
}

func mustLoadMigrations(fsys fs.FS) []migration {
	ms, err := loadMigrations(fsys)
	if err != nil {
		panic(err)
	}
	return ms
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]migration, 0, len(names))
	for _, name := range names { // fs.Glob returns names sorted
		base := strings.TrimSuffix(path.Base(name), ".sql")
		num, label, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || label == "" {
			return nil, fmt.Errorf("sqlite: bad migration file name %q (want NNNN_name.sql)", name)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("sqlite: migration %q has version %d, want %d", name, v, len(ms)+1)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: label, sql: string(body)})
	}
	return ms, nil
}

// migrate brings the database to the last of ms in one IMMEDIATE transaction, so that two
// processes opening the same file concurrently apply each migration once. PRAGMA user_version
// is the authoritative version; schema_migrations keeps the history.
func migrate(ctx context.Context, conn *sql.Conn, ms []migration, now func() time.Time) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	var current int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if current > len(ms) {
		return &SchemaVersionError{Version: current, Supported: len(ms)}
	}
	for _, m := range ms[current:] {
		if _, err := conn.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("sqlite: migration %04d_%s: %w", m.version, m.name, err)
		}
		if _, err := conn.ExecContext(ctx,
			"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, now().UnixNano()); err != nil {
			return fmt.Errorf("sqlite: migration %04d_%s: %w", m.version, m.name, err)
		}
		// PRAGMA does not take bound parameters; the version is an integer we control.
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			return fmt.Errorf("sqlite: migration %04d_%s: %w", m.version, m.name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlite: migrate: commit: %w", err)
	}
	return nil
}
