package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

func testWorkspaces(t *testing.T, s store.Store) {
	ctx := context.Background()
	ws := func(id, path string) *automation.Workspace {
		return &automation.Workspace{ID: id, Path: path, Source: automation.SourceDynamic,
			CreatedAt: at(time.Duration(len(id))), UpdatedAt: at(time.Hour)}
	}
	web, api := ws("web", "/srv/web"), ws("api", "/srv/api")
	api.Source = automation.SourceConfig
	write(t, s, func(tx store.Tx) error {
		if err := tx.InsertWorkspace(web); err != nil {
			return err
		}
		return tx.InsertWorkspace(api)
	})
	got, err := s.GetWorkspace(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "workspace", got, web)
	list, err := s.ListWorkspaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "workspaces", list, []*automation.Workspace{api, web})

	conflicts := []struct {
		name       string
		fn         func(tx store.Tx) error
		constraint string
	}{
		{"same id", func(tx store.Tx) error { return tx.InsertWorkspace(ws("web", "/srv/other")) }, store.UniqueWorkspaceID},
		{"same path", func(tx store.Tx) error { return tx.InsertWorkspace(ws("other", "/srv/web")) }, store.UniqueWorkspacePath},
		{"update to taken path", func(tx store.Tx) error { return tx.UpdateWorkspace(ws("api", "/srv/web")) }, store.UniqueWorkspacePath},
	}
	for _, tc := range conflicts {
		if err := writeErr(s, tc.fn); !store.IsConflict(err, tc.constraint) {
			t.Fatalf("%s: %v, want conflict %s", tc.name, err, tc.constraint)
		}
	}
	list, err = s.ListWorkspaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "workspaces after conflicts", list, []*automation.Workspace{api, web})

	moved := ws("api", "/srv/api-v2")
	write(t, s, func(tx store.Tx) error { return tx.UpdateWorkspace(moved) })
	if got, err = s.GetWorkspace(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "updated workspace", got, moved)
	// The old path is free again.
	write(t, s, func(tx store.Tx) error { return tx.InsertWorkspace(ws("legacy", "/srv/api")) })

	write(t, s, func(tx store.Tx) error { return tx.DeleteWorkspace("web") })
	if _, err := s.GetWorkspace(ctx, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetWorkspace(deleted) = %v, want ErrNotFound", err)
	}
	for name, fn := range map[string]func(tx store.Tx) error{
		"DeleteWorkspace": func(tx store.Tx) error { return tx.DeleteWorkspace("web") },
		"UpdateWorkspace": func(tx store.Tx) error { return tx.UpdateWorkspace(ws("web", "/x")) },
	} {
		if err := writeErr(s, fn); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s(missing) = %v, want ErrNotFound", name, err)
		}
	}
	list, err = s.ListWorkspaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "final workspaces", list, []*automation.Workspace{moved, ws("legacy", "/srv/api")})
}

func testCountWorkspaceDefinitions(t *testing.T, s store.Store) {
	ctx := context.Background()
	write(t, s, func(tx store.Tx) error {
		for _, j := range []*automation.Job{job("job_1", "a", "w1"), job("job_2", "b", "w1"),
			job("job_3", "a", "w2"), job("job_4", "a", "")} {
			if err := tx.InsertJob(j, nil); err != nil {
				return err
			}
		}
		return nil
	})
	count := func(ws string) int {
		t.Helper()
		n, err := s.CountWorkspaceDefinitions(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	mustEqual(t, "counts", []int{count("w1"), count("w2"), count("w3")}, []int{2, 1, 0})
	write(t, s, func(tx store.Tx) error { return tx.DeleteJob("job_1") })
	mustEqual(t, "counts after delete", []int{count("w1"), count("w2")}, []int{1, 1})
	// Moving a job to another workspace moves its count.
	write(t, s, func(tx store.Tx) error { return tx.UpdateJob(job("job_2", "b", "w2")) })
	mustEqual(t, "counts after move", []int{count("w1"), count("w2")}, []int{0, 2})
}

func testTranscripts(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetTranscript(ctx, "run_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetTranscript(missing) = %v, want ErrNotFound", err)
	}
	doc := []byte("{\"entries\":[{\"type\":\"agent_message\",\"text\":\"h\u00e9llo\"}]}\x00\xff")
	write(t, s, func(tx store.Tx) error { return tx.PutTranscript("run_1", doc) })
	got, err := s.GetTranscript(ctx, "run_1")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "transcript", got, doc)

	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 31)
	}
	write(t, s, func(tx store.Tx) error { return tx.PutTranscript("run_1", big) })
	if got, err = s.GetTranscript(ctx, "run_1"); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "replaced transcript", got, big)

	write(t, s, func(tx store.Tx) error { return tx.PutTranscript("run_2", nil) })
	if got, err = s.GetTranscript(ctx, "run_2"); err != nil || len(got) != 0 {
		t.Fatalf("empty transcript = %q, %v", got, err)
	}
}

func testMeta(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetMeta(ctx, "canary"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetMeta(missing) = %v, want ErrNotFound", err)
	}
	write(t, s, func(tx store.Tx) error {
		if err := tx.SetMeta("canary", []byte{0, 1, 2, 0xff}); err != nil {
			return err
		}
		return tx.SetMeta("other", []byte("x"))
	})
	got, err := s.GetMeta(ctx, "canary")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "meta", got, []byte{0, 1, 2, 0xff})
	write(t, s, func(tx store.Tx) error { return tx.SetMeta("canary", []byte("v2")) })
	if got, err = s.GetMeta(ctx, "canary"); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "replaced meta", got, []byte("v2"))
	if got, err = s.GetMeta(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "other meta", got, []byte("x"))
	write(t, s, func(tx store.Tx) error { return tx.SetMeta("empty", nil) })
	if got, err = s.GetMeta(ctx, "empty"); err != nil || len(got) != 0 {
		t.Fatalf("empty meta = %q, %v", got, err)
	}
}
