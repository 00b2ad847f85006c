package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/store"
)

// WorkspaceIDPattern is the id rule of SPEC §12.
var WorkspaceIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ErrWorkspaceNotFound is an unknown workspace id.
var ErrWorkspaceNotFound = &automation.NotFoundError{Message: "workspace not found"}

// ResolveDir cleans an absolute directory path and resolves its symlinks.
func ResolveDir(p string) (string, error) {
	real, err := filepath.EvalSymlinks(filepath.Clean(p))
	if err != nil {
		return "", err
	}
	st, err := os.Stat(real)
	if err != nil || !st.IsDir() {
		return "", errors.New("not a directory")
	}
	return real, nil
}

// CreateWorkspace registers a dynamic workspace (SPEC §3.8, §4.3.9).
func (s *Service) CreateWorkspace(ctx context.Context, id, path string) (*automation.Workspace, error) {
	if id != "" && !WorkspaceIDPattern.MatchString(id) {
		return nil, automation.Invalid("workspace.id is invalid: %q", id)
	}
	if path == "" {
		return nil, automation.Invalid("workspace.path is required")
	}
	if !filepath.IsAbs(path) {
		return nil, automation.Invalid("workspace.path must be absolute: %q", path)
	}
	real, err := ResolveDir(path)
	if err != nil {
		return nil, automation.Invalid("workspace.path is not a directory: %q", path)
	}
	now := s.now()
	if id == "" {
		id = automation.NewID(automation.PrefixWorkspace, now)
	}
	ws := &automation.Workspace{ID: id, Path: real, Source: automation.SourceDynamic, CreatedAt: now, UpdatedAt: now}
	err = s.Store.Write(ctx, func(tx store.Tx) error { return tx.InsertWorkspace(ws) })
	switch {
	case store.IsConflict(err, store.UniqueWorkspaceID):
		return nil, &automation.ConflictError{Message: "workspace id already exists"}
	case store.IsConflict(err, store.UniqueWorkspacePath):
		other := ""
		if all, lerr := s.Store.ListWorkspaces(ctx); lerr == nil {
			for _, w := range all {
				if w.Path == real {
					other = w.ID
				}
			}
		}
		return nil, &automation.ConflictError{Message: fmt.Sprintf("workspace path already registered as %q", other)}
	case err != nil:
		return nil, err
	}
	return ws, nil
}

// GetWorkspace returns a workspace.
func (s *Service) GetWorkspace(ctx context.Context, id string) (*automation.Workspace, error) {
	ws, err := s.Store.GetWorkspace(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrWorkspaceNotFound
	}
	return ws, err
}

// DeleteWorkspace removes a dynamic workspace that no definition uses.
func (s *Service) DeleteWorkspace(ctx context.Context, id string) error {
	return s.Store.Write(ctx, func(tx store.Tx) error {
		ws, err := tx.GetWorkspace(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return ErrWorkspaceNotFound
		} else if err != nil {
			return err
		}
		if ws.Source == automation.SourceConfig {
			return automation.ReadOnly("config-defined workspaces cannot be deleted")
		}
		n, err := tx.CountWorkspaceDefinitions(ctx, id)
		if err != nil {
			return err
		}
		if n > 0 {
			return &automation.ConflictError{Message: fmt.Sprintf("workspace is in use by %d automation definitions", n)}
		}
		return tx.DeleteWorkspace(id)
	})
}

// SyncConfigWorkspaces makes the stored config workspaces equal to the configuration's
// (SPEC §12): new ones are added, changed paths updated, removed unreferenced ones deleted.
func (s *Service) SyncConfigWorkspaces(ctx context.Context, wss []config.Workspace) error {
	now := s.now()
	return s.Store.Write(ctx, func(tx store.Tx) error {
		all, err := tx.ListWorkspaces(ctx)
		if err != nil {
			return err
		}
		existing := map[string]*automation.Workspace{}
		for _, w := range all {
			existing[w.ID] = w
		}
		want := map[string]bool{}
		for _, c := range wss {
			want[c.ID] = true
			if e, ok := existing[c.ID]; ok {
				if e.Source != automation.SourceConfig {
					return fmt.Errorf("config: workspace %q is already registered through the API", c.ID)
				}
				if e.Path != c.Path {
					e.Path, e.UpdatedAt = c.Path, now
					if err := tx.UpdateWorkspace(e); err != nil {
						return err
					}
				}
				continue
			}
			if err := tx.InsertWorkspace(&automation.Workspace{ID: c.ID, Path: c.Path, Source: automation.SourceConfig, CreatedAt: now, UpdatedAt: now}); err != nil {
				return fmt.Errorf("config: workspace %q: %w", c.ID, err)
			}
		}
		for id, e := range existing {
			if e.Source != automation.SourceConfig || want[id] {
				continue
			}
			n, err := tx.CountWorkspaceDefinitions(ctx, id)
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("config: workspace %q was removed but is used by %d automation definitions", id, n)
			}
			if err := tx.DeleteWorkspace(id); err != nil {
				return err
			}
		}
		return nil
	})
}
