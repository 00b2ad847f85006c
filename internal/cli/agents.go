package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

type agent struct {
	Name    string   `json:"name"`
	Driver  string   `json:"driver"`
	Preset  string   `json:"preset"`
	Command []string `json:"command"`
	Timeout string   `json:"timeout"`
}

func agentsCmd(a *app) *cobra.Command {
	list := &cobra.Command{Use: "list", Short: "List the configured agents", Args: nArgs(0), RunE: func(cmd *cobra.Command, _ []string) error {
		return fetchList(cmd, a, "/api/agents", nil, "agents", []string{"NAME", "DRIVER", "PRESET", "TIMEOUT", "COMMAND"},
			func(g agent) []string {
				return []string{g.Name, g.Driver, g.Preset, g.Timeout, oneLine(strings.Join(g.Command, " "), 60)}
			})
	}}
	return group("agents", "Configured agents", list)
}
