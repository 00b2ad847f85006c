package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/agh-dev/agh/internal/store"
)

// ChangesChannel is the LISTEN/NOTIFY channel of change notifications (SPEC §15.4).
const ChangesChannel = "agh_changes"

var _ store.ChangeFeed = (*Store)(nil)

// PublishChange notifies every node listening on the database, this one included, of a change
// (ids only). Delivery is best effort.
func (s *Store) PublishChange(ctx context.Context, c store.Change) error {
	payload, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("postgres: publish change: %w", err)
	}
	if err := s.checkOpen(); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", ChangesChannel, string(payload)); err != nil {
		return wrapErr(fmt.Errorf("postgres: publish change: %w", err))
	}
	return nil
}

// ListenChanges calls fn for every change published by any node until ctx ends or the store
// is closed (then it returns nil), or the connection fails (then it returns the error and the
// caller listens again; notifications sent in between are lost). It uses a connection of its
// own, outside the pool. fn runs on the listening goroutine: a slow fn delays later
// notifications, which the server queues meanwhile.
func (s *Store) ListenChanges(ctx context.Context, fn func(store.Change)) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w: postgres: listen: %w", store.ErrUnavailable, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+ChangesChannel); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return wrapErr(fmt.Errorf("postgres: listen: %w", err))
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return wrapErr(fmt.Errorf("postgres: listen: %w", err))
		}
		var c store.Change
		if err := json.Unmarshal([]byte(n.Payload), &c); err != nil {
			continue // not ours
		}
		fn(c)
	}
}
