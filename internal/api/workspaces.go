package api

import (
	"net/http"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/wire"
)

func workspaceJSON(ws *automation.Workspace) wire.Workspace {
	return wire.Workspace{ID: ws.ID, Path: ws.Path, Source: ws.Source, CreatedAt: wire.Time(ws.CreatedAt), UpdatedAt: wire.Time(ws.UpdatedAt)}
}

func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := parseLimit(q)
	if err != nil {
		return err
	}
	filter := filterHash("workspaces")
	key, err := decodeCursor(q, filter, 1)
	if err != nil {
		return err
	}
	all, err := s.svc.Store.ListWorkspaces(r.Context())
	if err != nil {
		return err
	}
	resp := struct {
		Workspaces []wire.Workspace `json:"workspaces"`
		NextCursor string           `json:"next_cursor,omitempty"`
	}{Workspaces: []wire.Workspace{}}
	for _, ws := range all {
		if key != nil && ws.ID <= key[0] {
			continue
		}
		if len(resp.Workspaces) == limit {
			resp.NextCursor = encodeCursor(filter, resp.Workspaces[limit-1].ID)
			break
		}
		resp.Workspaces = append(resp.Workspaces, workspaceJSON(ws))
	}
	writeJSON(w, 200, resp)
	return nil
}

func (s *Server) createWorkspace(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeBody(w, r)
	if err != nil {
		return err
	}
	in, err := automation.DecodeWorkspace(m)
	if err != nil {
		return err
	}
	ws, err := s.svc.CreateWorkspace(r.Context(), in.ID, in.Path)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"workspace": workspaceJSON(ws)})
	return nil
}

func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.svc.GetWorkspace(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"workspace": workspaceJSON(ws)})
	return nil
}

func (s *Server) deleteWorkspace(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.DeleteWorkspace(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
