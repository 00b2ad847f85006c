package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// preparer is *sql.DB or *sql.Conn.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// stmtCache keeps one prepared statement per SQL text. The store's SQL texts are constants or
// built from a bounded set of fragments, so the cache stays small.
type stmtCache struct {
	db     preparer
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	closed bool
}

func newStmtCache(db preparer) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, closed := c.m[query], c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.m[query]; prev != nil || c.closed { // lost a race with another goroutine
		_ = st.Close()
		if c.closed {
			return nil, ErrClosed
		}
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}
