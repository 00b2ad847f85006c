package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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
			return nil, fmt.Errorf("postgres: bad migration file name %q (want NNNN_name.sql)", name)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("postgres: migration %q has version %d, want %d", name, v, len(ms)+1)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: label, sql: string(body)})
	}
	return ms, nil
}

// migrate brings the database to SchemaVersion. It holds a session advisory lock for the whole
// procedure, so that when several nodes start together one migrates while the others wait and
// then find the schema current. Each migration runs in its own transaction together with its
// schema_migrations row; max(version) of schema_migrations is the schema version.
//
// conn is a dedicated connection without statement or lock timeouts: waiting for another node's
// migration is expected, and ctx bounds it.
func migrate(ctx context.Context, conn *pgx.Conn, now func() time.Time) (err error) {
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", wrapErr(err))
	}
	defer func() {
		// Closing the connection releases the lock too; unlock explicitly regardless.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey); uerr != nil && err == nil {
			err = fmt.Errorf("postgres: migrate: unlock: %w", wrapErr(uerr))
		}
	}()
	current, err := schemaVersion(ctx, conn)
	if err != nil {
		return err
	}
	if current > len(migrations) {
		return &SchemaVersionError{Version: current, Supported: len(migrations)}
	}
	for _, m := range migrations[current:] {
		if err := apply(ctx, conn, m, now); err != nil {
			return fmt.Errorf("postgres: migration %04d_%s: %w", m.version, m.name, wrapErr(err))
		}
	}
	return nil
}

// schemaVersion reads the database's schema version; 0 for a database without our tables.
func schemaVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", wrapErr(err))
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", wrapErr(err))
	}
	return v, nil
}

func apply(ctx context.Context, conn *pgx.Conn, m migration, now func() time.Time) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// Without arguments Exec uses the simple protocol, which runs a multi-statement script.
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
		m.version, m.name, now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
