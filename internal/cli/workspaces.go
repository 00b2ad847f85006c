package cli

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/wire"
)

func workspacesCmd(a *app) *cobra.Command {
	ls := listing[wire.Workspace]{use: "list", short: "List workspaces", path: func([]string) string { return "/api/workspaces" },
		key: "workspaces", header: []string{"ID", "PATH", "SOURCE", "CREATED"},
		row: func(w wire.Workspace) []string { return []string{w.ID, w.Path, w.Source, when(w.CreatedAt)} }}
	list := ls.cmd(a, func(c *cobra.Command, l *listFlags) { l.withLast(c, "workspaces") })
	var id string
	add := &cobra.Command{Use: "add PATH", Short: "Register a directory as a workspace", Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		path, err := filepath.Abs(args[0])
		if err != nil {
			return usageError{err}
		}
		b := newFields(cmd)
		b.m["path"] = path
		b.str("id", "id", id)
		return fetchOne(cmd, a, "POST", "/api/workspaces", b.m, "workspace", func(t *table, w wire.Workspace) {
			t.field("ID", w.ID)
			t.field("PATH", w.Path)
			t.field("SOURCE", w.Source)
		})
	}}
	add.Flags().StringVar(&id, "id", "", "workspace id (default: generated ws_…)")
	rm := &cobra.Command{Use: "remove ID", Short: "Unregister a workspace (by id or path)", Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		wid, err := a.workspaceID(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return remove(cmd, a, "/api/workspaces/"+escape(wid), "workspace", wid)
	}}
	return group("workspaces", "Workspaces", list, add, rm)
}
