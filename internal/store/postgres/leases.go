package postgres

import (
	"context"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

// RenewLeases sets lease_expires_at = until on the owner's running runs (SPEC §15.3).
func (t *txn) RenewLeases(owner string, until time.Time) (int, error) {
	e := newEnc()
	u := e.Nanos(until)
	if err := e.Err(); err != nil {
		return 0, err
	}
	tag, err := t.exec(t.ctx, "UPDATE runs SET lease_expires_at = $1 WHERE status = 'running' AND lease_owner = $2", u, owner)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// ExpiredRuns returns up to limit running runs whose lease expired before now, oldest lease
// first, and locks them; runs another node's sweeper holds are skipped (FOR UPDATE SKIP
// LOCKED), so sweepers on several nodes split the work instead of queuing on each other.
func (t *txn) ExpiredRuns(now time.Time, n int) ([]*automation.Run, error) {
	var (
		b qb
		e = newEnc()
	)
	b.WriteString(sqlrow.RunSelect + " WHERE status = 'running' AND lease_expires_at > 0 AND lease_expires_at < " +
		b.arg(e.Nanos(now)) + " ORDER BY lease_expires_at, id")
	b.limit(n)
	b.WriteString(" FOR UPDATE SKIP LOCKED")
	if err := e.Err(); err != nil {
		return nil, err
	}
	return getAll(t.ctx, t.reader, sqlrow.ScanRun, b.String(), b.args...)
}

// HeartbeatNode records a node's heartbeat (inserting it when new).
func (t *txn) HeartbeatNode(id string, now, startedAt time.Time) error {
	e := newEnc()
	args := []any{id, e.Nanos(now), e.Nanos(startedAt)}
	if err := e.Err(); err != nil {
		return err
	}
	_, err := t.exec(t.ctx, `INSERT INTO nodes (id, heartbeat_at, started_at) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, started_at = excluded.started_at`,
		args...)
	return err
}

// NodeHeartbeat returns a node's last heartbeat, or store.ErrNotFound.
func (r reader) NodeHeartbeat(ctx context.Context, id string) (time.Time, error) {
	var n int64
	if err := r.scanRow(ctx, "SELECT heartbeat_at FROM nodes WHERE id = $1", []any{id}, &n); err != nil {
		return time.Time{}, err
	}
	return sqlrow.FromNanos(n), nil
}

// DeleteMeta removes a named value (absent is not an error).
func (t *txn) DeleteMeta(key string) error {
	_, err := t.exec(t.ctx, "DELETE FROM meta WHERE key = $1", key)
	return err
}
