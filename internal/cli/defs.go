package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/wire"
)

// definition describes one kind of automation definition (jobs, triggers) and builds the
// commands they share.
type definition[T any] struct {
	noun, plural string // "job", "jobs": the payload keys
	header       []string
	row          func(T) []string
	detail       func(*table, T)
}

func (d definition[T]) path(id ...string) string {
	p := "/api/automation/" + d.plural
	if len(id) > 0 {
		p += "/" + escape(id[0])
	}
	return p
}

func (d definition[T]) show(cmd *cobra.Command, a *app, method, path string, body any) error {
	return fetchOne(cmd, a, method, path, body, d.noun, d.detail)
}

// list is `list [--scope --workspace --source --last N]` plus extra plain filters {flag, param, usage}.
func (d definition[T]) list(a *app, extra ...[3]string) *cobra.Command {
	ls := listing[T]{use: "list", short: "List " + d.plural, path: func([]string) string { return d.path() },
		key: d.plural, header: d.header, row: d.row}
	return ls.cmd(a, func(c *cobra.Command, l *listFlags) {
		l.str(c, "scope", "scope", "global or workspace").str(c, "source", "source", "config or dynamic")
		for _, e := range extra {
			l.str(c, e[0], e[1], e[2])
		}
		l.withWorkspace(c).withLast(c, d.plural)
	})
}

func (d definition[T]) get(a *app) *cobra.Command {
	return &cobra.Command{Use: "get ID", Short: "Show a " + d.noun, Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return d.show(cmd, a, "GET", d.path(args[0]), nil)
	}}
}

func (d definition[T]) delete(a *app) *cobra.Command {
	return &cobra.Command{Use: "delete ID", Short: "Delete a " + d.noun, Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return remove(cmd, a, d.path(args[0]), d.noun, args[0])
	}}
}

// toggles are enable ID and disable ID: PATCH {"enabled": …}.
func (d definition[T]) toggles(a *app) []*cobra.Command {
	toggle := func(verb string, enabled bool) *cobra.Command {
		return &cobra.Command{Use: strings.ToLower(verb) + " ID", Short: verb + " a " + d.noun, Args: nArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return d.show(cmd, a, "PATCH", d.path(args[0]), map[string]any{"enabled": enabled})
			}}
	}
	return []*cobra.Command{toggle("Enable", true), toggle("Disable", false)}
}

// history is `history ID [--status --since --until --last N]`: GET …/{id}/runs.
func (d definition[T]) history(a *app) *cobra.Command {
	ls := listing[wire.Run]{use: "history ID", short: "List the runs of a " + d.noun,
		path: func(args []string) string { return d.path(args[0]) + "/runs" }, key: "runs", header: runHeader, row: runRow}
	return ls.cmd(a, func(c *cobra.Command, l *listFlags) {
		l.str(c, "status", "status", "run status").withWindow(c).withLast(c, "runs")
	})
}

// bodyFlags are the create/update flags of a definition.
type bodyFlags interface {
	bind(c *cobra.Command, update bool)
	body(cmd *cobra.Command, a *app) (map[string]any, error)
}

// writes returns `create` (POST, required flags checked) and `update ID` (PATCH with only the
// flags given).
func (d definition[T]) writes(a *app, newFlags func() bodyFlags, required ...string) (create, update *cobra.Command) {
	create = &cobra.Command{Use: "create", Short: "Create a " + d.noun, Args: nArgs(0)}
	cf := newFlags()
	cf.bind(create, false)
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, required...); err != nil {
			return err
		}
		b, err := cf.body(cmd, a)
		if err != nil {
			return err
		}
		return d.show(cmd, a, "POST", d.path(), b)
	}
	update = &cobra.Command{Use: "update ID", Short: "Change a " + d.noun + " (only the flags given are sent)", Args: nArgs(1)}
	uf := newFlags()
	uf.bind(update, true)
	update.RunE = func(cmd *cobra.Command, args []string) error {
		b, err := uf.body(cmd, a)
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return usagef("nothing to update: give at least one flag")
		}
		return d.show(cmd, a, "PATCH", d.path(args[0]), b)
	}
	return create, update
}

// defFlags are the create/update flags common to jobs and triggers.
type defFlags struct {
	name, scope, workspace, agent, prompt, retry, fireLimit, overlap string
	disabled                                                         bool
}

func (f *defFlags) bind(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.name, "name", "", "name")
	fl.StringVar(&f.scope, "scope", "", "global or workspace")
	fl.StringVar(&f.workspace, "workspace", "", "workspace id or registered path")
	fl.StringVar(&f.agent, "agent", "", "agent name")
	fl.StringVar(&f.prompt, "prompt", "", "prompt")
	fl.StringVar(&f.retry, "retry", "", "none, backoff (3 retries, 2s) or backoff:<max>:<delay>")
	fl.StringVar(&f.fireLimit, "fire-limit", "", "MAX/WINDOW, e.g. 12/1h")
	fl.StringVar(&f.overlap, "overlap", "", "allow, skip, queue or cancel_previous")
	fl.BoolVar(&f.disabled, "disabled", false, "disabled (--disabled=false enables)")
}

func (f *defFlags) fill(a *app, b fields) error {
	b.str("name", "name", f.name)
	b.str("scope", "scope", f.scope)
	b.str("agent", "agent_name", f.agent)
	b.str("prompt", "prompt", f.prompt)
	b.str("overlap", "overlap_policy", f.overlap)
	if b.given("disabled") {
		b.m["enabled"] = !f.disabled
	}
	if err := b.workspace(a, f.workspace); err != nil {
		return err
	}
	if err := b.parsed("retry", "retry", f.retry, parseRetry); err != nil {
		return err
	}
	return b.parsed("fire-limit", "fire_limit", f.fireLimit, parseFireLimit)
}

func retryText(r wire.Retry) string {
	if r.Strategy != "backoff" {
		return r.Strategy
	}
	s := "backoff:" + strconv.Itoa(r.MaxRetries) + ":" + r.BaseDelay
	if r.MaxDelay != "" {
		s += " (max " + r.MaxDelay + ")"
	}
	return s
}

func fireLimitText(f wire.FireLimit) string { return strconv.Itoa(f.Max) + "/" + f.Window }

func scopeText(scope, ws string) string {
	if ws != "" {
		return scope + ":" + ws
	}
	return scope
}

func enabledText(b bool) string {
	if b {
		return "enabled"
	}
	return "disabled"
}
