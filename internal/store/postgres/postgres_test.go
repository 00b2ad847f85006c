package postgres

import (
	"context"
	"os"
	"testing"

	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/store/storetest"
	"github.com/agh-dev/agh/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// openURL opens a store on url and closes it when t ends.
func openURL(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, opts)
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

// openTemp opens a store on a fresh database.
func openTemp(t testing.TB) *Store {
	t.Helper()
	return openURL(t, pgtest.Start(t), Options{})
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}
