package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/sqlrow"
)

// RenewLeases extends the leases of the owner's running runs.
func (t *txn) RenewLeases(owner string, until time.Time) (int, error) {
	e := newEnc()
	u := e.Nanos(until)
	res, err := t.exec(bg, "UPDATE runs SET lease_expires_at = ? WHERE status = 'running' AND lease_owner = ?", u, owner)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ExpiredRuns returns running runs whose lease expired before now.
func (t *txn) ExpiredRuns(now time.Time, n int) ([]*automation.Run, error) {
	e := newEnc()
	return getAll(bg, t.reader, sqlrow.ScanRun, sqlrow.RunSelect+
		" WHERE status = 'running' AND lease_expires_at > 0 AND lease_expires_at < ? ORDER BY lease_expires_at LIMIT ?", e.Nanos(now), limit(n))
}

// HeartbeatNode records a node's heartbeat (inserting it when new).
func (t *txn) HeartbeatNode(id string, now, startedAt time.Time) error {
	e := newEnc()
	_, err := t.exec(bg, `INSERT INTO nodes (id, heartbeat_at, started_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, started_at = excluded.started_at`,
		id, e.Nanos(now), e.Nanos(startedAt))
	return err
}

// NodeHeartbeat returns a node's last heartbeat, or store.ErrNotFound.
func (r reader) NodeHeartbeat(ctx context.Context, id string) (time.Time, error) {
	row, err := r.row(ctx, "SELECT heartbeat_at FROM nodes WHERE id = ?", id)
	if err != nil {
		return time.Time{}, err
	}
	var n int64
	if err := row.Scan(&n); errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, store.ErrNotFound
	} else if err != nil {
		return time.Time{}, err
	}
	return sqlrow.FromNanos(n), nil
}

// DeleteMeta removes a named value (absent is not an error).
func (t *txn) DeleteMeta(key string) error {
	_, err := t.exec(bg, "DELETE FROM meta WHERE key = ?", key)
	return err
}
