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
	ls := listing[agent]{use: "list", short: "List the configured agents", path: func([]string) string { return "/api/agents" },
		key: "agents", header: []string{"NAME", "DRIVER", "PRESET", "TIMEOUT", "COMMAND"},
		row: func(g agent) []string {
			return []string{g.Name, g.Driver, g.Preset, g.Timeout, oneLine(strings.Join(g.Command, " "), 60)}
		}}
	list := ls.cmd(a, nil)
	return group("agents", "Configured agents", list)
}
