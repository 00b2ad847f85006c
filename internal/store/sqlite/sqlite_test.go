package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/storetest"
)

// openTemp opens a store in a fresh temporary directory and closes it when t ends.
func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "agh.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}
