package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agh-dev/agh/internal/store/sqlrow"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations are the embedded migrations in version order; versions are 1, 2, … without gaps.
var migrations = sqlrow.MustLoadMigrations(storeName, migrationFiles)

// SchemaVersion is the schema version this binary migrates databases to.
func SchemaVersion() int { return len(migrations) }

// SchemaVersionError reports a database migrated by a newer binary (SPEC §15.7).
type SchemaVersionError = sqlrow.SchemaVersionError

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
			return fmt.Errorf("postgres: migration %04d_%s: %w", m.Version, m.Name, wrapErr(err))
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

func apply(ctx context.Context, conn *pgx.Conn, m sqlrow.Migration, now func() time.Time) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// Without arguments Exec uses the simple protocol, which runs a multi-statement script.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
		m.Version, m.Name, now().UnixNano()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
