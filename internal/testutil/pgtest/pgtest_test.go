package pgtest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestStartGivesFreshDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two Start calls returned the same URL %s", a)
	}
	for _, u := range []string{a, b} {
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%s has %d tables, want an empty database", u, n)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE x (id int)"); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
	}
}

// templateRuns numbers the runs of TestStartFromCopiesTemplate within the test binary
// (go test -count=N), so that each run creates a template of its own: templates live as long
// as the binary.
var templateRuns int

// TestStartFromCopiesTemplate: setup runs once per template; every database starts as a copy.
func TestStartFromCopiesTemplate(t *testing.T) {
	ctx := context.Background()
	templateRuns++
	template := fmt.Sprintf("seeded%d", templateRuns)
	setups := 0
	setup := func(url string) error {
		setups++
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "CREATE TABLE seeded (id int); INSERT INTO seeded VALUES (1), (2)")
		return err
	}
	for range 3 {
		u := StartFrom(t, template, setup)
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM seeded").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("%s has %d seeded rows, want 2", u, n)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO seeded VALUES (3)"); err != nil { // private copy
			t.Fatal(err)
		}
		conn.Close(ctx)
	}
	if setups != 1 {
		t.Fatalf("setup ran %d times, want 1", setups)
	}
}
