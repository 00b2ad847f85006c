package api

import (
	"net/http"
	"sort"
	"strings"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/wire"
)

// Task routes (SPEC §4.3.10). Validation messages use the "validation error: " prefix.

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	status, err := parseEnum(q, "status", automation.TaskStatuses...)
	if err != nil {
		return err
	}
	ownerKind, err := parseEnum(q, "owner_kind", automation.OwnerHuman, automation.OwnerAgent)
	if err != nil {
		return err
	}
	limit, err := parseLimit(q)
	if err != nil {
		return err
	}
	tq := store.TaskQuery{Status: status, JobID: q.Get("job_id"), OwnerKind: ownerKind, WorkspaceID: q.Get("workspace_id")}
	filter := filterHash("tasks", tq.Status, tq.JobID, tq.OwnerKind, tq.WorkspaceID)
	key, err := decodeCursor(q, filter, 2)
	if err != nil {
		return err
	}
	if key != nil {
		if tq.BeforeCreatedAt, err = parseTimeKey(key[0]); err != nil {
			return err
		}
		tq.BeforeID = key[1]
	}
	tq.Limit = limit + 1
	ts, err := s.svc.ListTasks(r.Context(), tq)
	if err != nil {
		return err
	}
	writePage(w, "tasks", ts, limit, filter,
		func(t *automation.Task) []string { return []string{timeKey(t.CreatedAt), t.ID} },
		func(t *automation.Task) wire.Task { return wire.FromTask(t, false) })
	return nil
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) error {
	t, err := s.svc.GetTask(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"task": wire.FromTask(t, true)})
	return nil
}

func (s *Server) completeTask(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.svc.GetTask(r.Context(), id); err != nil {
		return err
	}
	result, err := completeBody(w, r)
	if err != nil {
		return err
	}
	t, err := s.svc.CompleteTask(r.Context(), id, result)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"task": wire.FromTask(t, true)})
	return nil
}

// completeBody reads an empty body or {"result": "<text>"} (SPEC §3.8).
func completeBody(w http.ResponseWriter, r *http.Request) (string, error) {
	b, err := readBody(w, r)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(string(b)) == "" {
		return "", nil
	}
	m, err := automation.DecodeJSONObject(b)
	if err != nil {
		return "", err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "result" {
			return "", automation.Invalid("task: unknown field %q", k)
		}
	}
	v, ok := m["result"]
	if !ok || v == nil {
		return "", nil
	}
	str, ok := v.(string)
	if !ok {
		return "", automation.Invalid("task.result must be a string")
	}
	str = strings.TrimSpace(str)
	if len(str) > automation.MaxTaskResultBytes {
		return "", automation.Invalid("task.result must be at most %d bytes", automation.MaxTaskResultBytes)
	}
	return str, nil
}

func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.svc.GetTask(r.Context(), id); err != nil {
		return err
	}
	if err := emptyBody(w, r, "task"); err != nil {
		return err
	}
	t, err := s.svc.CancelTask(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"task": wire.FromTask(t, true)})
	return nil
}
