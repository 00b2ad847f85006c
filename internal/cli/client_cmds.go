package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/client"
	"github.com/agh-dev/agh/internal/daemon"
	"github.com/agh-dev/agh/internal/wire"
)

// APIError is an error answered by the daemon.
type APIError = client.Error

type globalFlags struct {
	addr    string
	dataDir string
	output  string
}

func (g *globalFlags) client() *client.Client {
	addr := g.addr
	if addr == "" {
		addr = os.Getenv("AGH_ADDR")
	}
	if addr != "" {
		if !strings.Contains(addr, "://") {
			addr = "http://" + addr
		}
		return client.NewTCP(addr, os.Getenv("AGH_API_TOKEN"))
	}
	dir := daemon.DefaultDataDir(g.dataDir, os.Getenv)
	return client.NewSocket(filepath.Join(dir, "agh.sock"))
}

// format returns the effective output format.
func (g *globalFlags) format(w io.Writer) (string, error) {
	switch g.output {
	case "table", "json", "jsonl":
		return g.output, nil
	case "":
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				return "table", nil
			}
		}
		return "json", nil
	}
	return "", usageError{fmt.Errorf("invalid output format %q (table, json or jsonl)", g.output)}
}

func addClientCommands(root *cobra.Command) {
	g := &globalFlags{}
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", "", "daemon URL (default: the Unix socket; env AGH_ADDR)")
	pf.StringVar(&g.dataDir, "data-dir", "", "data directory holding agh.sock")
	pf.StringVarP(&g.output, "output", "o", "", "output format: table, json or jsonl")

	auto := &cobra.Command{Use: "automation", Short: "Manage jobs, triggers and runs"}
	root.AddCommand(auto)
	auto.AddCommand(jobsCmd(g), runsCmd(g))
	root.AddCommand(statusCmd(g))
}

// emit prints an API payload: raw JSON for json, one item per line for jsonl, or a table.
func emit(cmd *cobra.Command, g *globalFlags, raw json.RawMessage, listKey string, table func(w *tabwriter.Writer)) error {
	out := cmd.OutOrStdout()
	f, err := g.format(out)
	if err != nil {
		return err
	}
	switch f {
	case "json":
		_, err := fmt.Fprintln(out, strings.TrimSpace(string(raw)))
		return err
	case "jsonl":
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil && listKey != "" {
			var items []json.RawMessage
			_ = json.Unmarshal(m[listKey], &items)
			for _, it := range items {
				fmt.Fprintln(out, string(it))
			}
			return nil
		}
		_, err := fmt.Fprintln(out, strings.TrimSpace(string(raw)))
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func call(g *globalFlags, method, path string, in any) (json.RawMessage, error) {
	var raw json.RawMessage
	err := g.client().Do(context.Background(), method, path, in, &raw)
	return raw, err
}

func jobsCmd(g *globalFlags) *cobra.Command {
	jobs := &cobra.Command{Use: "jobs", Short: "Scheduled jobs"}
	var scope, workspace, source string
	var last int
	list := &cobra.Command{Use: "list", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		q := url.Values{}
		setQ(q, "scope", scope)
		setQ(q, "workspace_id", workspace)
		setQ(q, "source", source)
		if last > 0 {
			q.Set("limit", strconv.Itoa(last))
		}
		raw, err := call(g, "GET", "/api/automation/jobs?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		var resp struct{ Jobs []wire.Job }
		_ = json.Unmarshal(raw, &resp)
		return emit(cmd, g, raw, "jobs", func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tNAME\tSCOPE\tSCHEDULE\tENABLED\tNEXT RUN")
			for _, j := range resp.Jobs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\t%s\n", j.ID, j.Name, scopeText(j.Scope, j.WorkspaceID), scheduleText(j.Schedule), j.Enabled, dash(j.NextRun))
			}
		})
	}}
	list.Flags().StringVar(&scope, "scope", "", "global or workspace")
	list.Flags().StringVar(&workspace, "workspace", "", "workspace id")
	list.Flags().StringVar(&source, "source", "", "config or dynamic")
	list.Flags().IntVar(&last, "last", 0, "at most N jobs")

	get := &cobra.Command{Use: "get ID", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return showJob(cmd, g, "GET", "/api/automation/jobs/"+url.PathEscape(args[0]), nil)
	}}
	create := &cobra.Command{Use: "create", Args: cobra.NoArgs}
	cf := bindJobFlags(create)
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		body, err := cf.body(cmd, true)
		if err != nil {
			return err
		}
		return showJob(cmd, g, "POST", "/api/automation/jobs", body)
	}
	update := &cobra.Command{Use: "update ID", Args: cobra.ExactArgs(1)}
	uf := bindJobFlags(update)
	update.RunE = func(cmd *cobra.Command, args []string) error {
		body, err := uf.body(cmd, false)
		if err != nil {
			return err
		}
		return showJob(cmd, g, "PATCH", "/api/automation/jobs/"+url.PathEscape(args[0]), body)
	}
	del := &cobra.Command{Use: "delete ID", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		if _, err := call(g, "DELETE", "/api/automation/jobs/"+url.PathEscape(args[0]), nil); err != nil {
			return err
		}
		f, _ := g.format(cmd.OutOrStdout())
		if f == "table" {
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
		}
		return nil
	}}
	toggle := func(name string, enabled bool) *cobra.Command {
		return &cobra.Command{Use: name + " ID", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return showJob(cmd, g, "PATCH", "/api/automation/jobs/"+url.PathEscape(args[0]), map[string]any{"enabled": enabled})
		}}
	}
	trigger := &cobra.Command{Use: "trigger ID", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		raw, err := call(g, "POST", "/api/automation/jobs/"+url.PathEscape(args[0])+"/trigger", nil)
		if err != nil {
			return err
		}
		return emitRun(cmd, g, raw)
	}}
	jobs.AddCommand(list, get, create, update, del, toggle("enable", true), toggle("disable", false), trigger)
	return jobs
}

func setQ(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func scopeText(scope, ws string) string {
	if ws != "" {
		return scope + ":" + ws
	}
	return scope
}

func scheduleText(s wire.Schedule) string {
	switch s.Mode {
	case "cron":
		if s.Timezone != "" {
			return s.Expr + " (" + s.Timezone + ")"
		}
		return s.Expr
	case "every":
		return "every:" + s.Interval
	case "at":
		return "at:" + s.Time
	}
	return s.Mode
}

func showJob(cmd *cobra.Command, g *globalFlags, method, path string, body any) error {
	raw, err := call(g, method, path, body)
	if err != nil {
		return err
	}
	var resp struct{ Job wire.Job }
	_ = json.Unmarshal(raw, &resp)
	return emit(cmd, g, raw, "", func(w *tabwriter.Writer) {
		j := resp.Job
		fmt.Fprintf(w, "ID\t%s\nNAME\t%s\nSCOPE\t%s\nAGENT\t%s\nSCHEDULE\t%s\nENABLED\t%v\nNEXT RUN\t%s\nSOURCE\t%s\n",
			j.ID, j.Name, scopeText(j.Scope, j.WorkspaceID), dash(j.AgentName), scheduleText(j.Schedule), j.Enabled, dash(j.NextRun), j.Source)
	})
}

// jobFlags are the flags of jobs create/update; only flags given are sent.
type jobFlags struct {
	name, scope, workspace, agent, prompt, schedule, timezone, retry, fireLimit, overlap, catchUp string
	disabled                                                                                      bool
}

func bindJobFlags(c *cobra.Command) *jobFlags {
	f := &jobFlags{}
	fl := c.Flags()
	fl.StringVar(&f.name, "name", "", "job name")
	fl.StringVar(&f.scope, "scope", "", "global or workspace")
	fl.StringVar(&f.workspace, "workspace", "", "workspace id or registered path")
	fl.StringVar(&f.agent, "agent", "", "agent name")
	fl.StringVar(&f.prompt, "prompt", "", "prompt")
	fl.StringVar(&f.schedule, "schedule", "", "cron expression, every:<duration> or at:<time>")
	fl.StringVar(&f.timezone, "timezone", "", "IANA time zone of a cron schedule")
	fl.StringVar(&f.retry, "retry", "", "none, backoff or backoff:<max>:<delay>")
	fl.StringVar(&f.fireLimit, "fire-limit", "", "MAX/WINDOW, e.g. 12/1h")
	fl.StringVar(&f.overlap, "overlap", "", "allow, skip, queue or cancel_previous")
	fl.StringVar(&f.catchUp, "catch-up", "", "skip_missed, run_once or run_all")
	fl.BoolVar(&f.disabled, "disabled", false, "create the job disabled")
	return f
}

func (f *jobFlags) body(cmd *cobra.Command, create bool) (map[string]any, error) {
	b := map[string]any{}
	ch := cmd.Flags().Changed
	str := func(flag, key, v string) {
		if ch(flag) {
			b[key] = v
		}
	}
	str("name", "name", f.name)
	str("scope", "scope", f.scope)
	str("workspace", "workspace_id", f.workspace)
	str("agent", "agent_name", f.agent)
	str("prompt", "prompt", f.prompt)
	str("overlap", "overlap_policy", f.overlap)
	str("catch-up", "catch_up_policy", f.catchUp)
	if ch("schedule") || ch("timezone") {
		s, err := parseScheduleFlag(f.schedule, f.timezone)
		if err != nil {
			return nil, usageError{err}
		}
		b["schedule"] = s
	}
	if ch("retry") {
		r, err := parseRetryFlag(f.retry)
		if err != nil {
			return nil, usageError{err}
		}
		b["retry"] = r
	}
	if ch("fire-limit") {
		max, window, ok := strings.Cut(f.fireLimit, "/")
		n, err := strconv.Atoi(max)
		if !ok || err != nil {
			return nil, usageError{fmt.Errorf("--fire-limit must be MAX/WINDOW: %q", f.fireLimit)}
		}
		b["fire_limit"] = map[string]any{"max": n, "window": window}
	}
	if ch("disabled") {
		b["enabled"] = !f.disabled
	}
	if !create && len(b) == 0 {
		return nil, usageError{errors.New("nothing to update: give at least one flag")}
	}
	return b, nil
}

func parseScheduleFlag(s, tz string) (map[string]any, error) {
	switch {
	case strings.HasPrefix(s, "every:"):
		return map[string]any{"mode": "every", "interval": strings.TrimPrefix(s, "every:")}, nil
	case strings.HasPrefix(s, "at:"):
		return map[string]any{"mode": "at", "time": strings.TrimPrefix(s, "at:")}, nil
	case s == "":
		return nil, errors.New("--schedule is required with --timezone")
	}
	m := map[string]any{"mode": "cron", "expr": s}
	if tz != "" {
		m["timezone"] = tz
	}
	return m, nil
}

func parseRetryFlag(s string) (map[string]any, error) {
	switch {
	case s == "none":
		return map[string]any{"strategy": "none", "max_retries": 0, "base_delay": ""}, nil
	case s == "backoff":
		return map[string]any{"strategy": "backoff", "max_retries": 3, "base_delay": "2s"}, nil
	case strings.HasPrefix(s, "backoff:"):
		parts := strings.Split(s, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("--retry must be none, backoff or backoff:<max>:<delay>: %q", s)
		}
		n, err := strconv.Atoi(parts[1])
		if err != nil {
			return nil, fmt.Errorf("--retry must be none, backoff or backoff:<max>:<delay>: %q", s)
		}
		return map[string]any{"strategy": "backoff", "max_retries": n, "base_delay": parts[2]}, nil
	}
	return nil, fmt.Errorf("--retry must be none, backoff or backoff:<max>:<delay>: %q", s)
}

func runsCmd(g *globalFlags) *cobra.Command {
	var job, trigger, status, since, until string
	var last int
	listRun := func(cmd *cobra.Command, _ []string) error {
		q := url.Values{}
		setQ(q, "job_id", job)
		setQ(q, "trigger_id", trigger)
		setQ(q, "status", status)
		setQ(q, "since", since)
		setQ(q, "until", until)
		if last > 0 {
			q.Set("limit", strconv.Itoa(last))
		}
		raw, err := call(g, "GET", "/api/automation/runs?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		var resp struct{ Runs []wire.Run }
		_ = json.Unmarshal(raw, &resp)
		return emit(cmd, g, raw, "runs", func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tDEFINITION\tSTATUS\tATTEMPT\tORIGIN\tSTARTED\tERROR")
			for _, r := range resp.Runs {
				def := r.JobID
				if def == "" {
					def = r.TriggerID
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, def, r.Status, r.Attempt, r.Origin, r.StartedAt, dash(r.Error))
			}
		})
	}
	runs := &cobra.Command{Use: "runs", Short: "Runs", Args: cobra.NoArgs, RunE: listRun}
	list := &cobra.Command{Use: "list", Args: cobra.NoArgs, RunE: listRun}
	for _, c := range []*cobra.Command{runs, list} {
		c.Flags().StringVar(&job, "job", "", "job id")
		c.Flags().StringVar(&trigger, "trigger", "", "trigger id")
		c.Flags().StringVar(&status, "status", "", "run status")
		c.Flags().StringVar(&since, "since", "", "RFC 3339 time")
		c.Flags().StringVar(&until, "until", "", "RFC 3339 time")
		c.Flags().IntVar(&last, "last", 0, "at most N runs")
	}
	get := &cobra.Command{Use: "get ID", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		raw, err := call(g, "GET", "/api/automation/runs/"+url.PathEscape(args[0]), nil)
		if err != nil {
			return err
		}
		return emitRun(cmd, g, raw)
	}}
	cancel := &cobra.Command{Use: "cancel ID", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		raw, err := call(g, "POST", "/api/automation/runs/"+url.PathEscape(args[0])+"/cancel", nil)
		if err != nil {
			return err
		}
		return emitRun(cmd, g, raw)
	}}
	runs.AddCommand(list, get, cancel)
	return runs
}

func emitRun(cmd *cobra.Command, g *globalFlags, raw json.RawMessage) error {
	var resp struct{ Run wire.Run }
	_ = json.Unmarshal(raw, &resp)
	return emit(cmd, g, raw, "", func(w *tabwriter.Writer) {
		r := resp.Run
		fmt.Fprintf(w, "ID\t%s\nSTATUS\t%s\nATTEMPT\t%d\nFIRE\t%s\nORIGIN\t%s\nSCHEDULED\t%s\nSTARTED\t%s\nENDED\t%s\nERROR\t%s\n",
			r.ID, r.Status, r.Attempt, r.FireID, r.Origin, r.ScheduledAt, r.StartedAt, dash(r.EndedAt), dash(r.Error))
	})
}

func statusCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{Use: "status", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
		raw, err := call(g, "GET", "/api/status", nil)
		if err != nil {
			return err
		}
		var st wire.Status
		_ = json.Unmarshal(raw, &st)
		return emit(cmd, g, raw, "", func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "VERSION\t%s\nNODE\t%s\nSTORE\t%s\nAUTOMATION\t%v\nSCHEDULER\t%v\nJOBS\t%d (%d enabled)\nRUNS\t%d scheduled, %d running\nNEXT FIRE\t%s\n",
				st.Version, st.NodeID, st.Store, st.Automation.Enabled, st.Automation.SchedulerRunning,
				st.Automation.Jobs.Total, st.Automation.Jobs.Enabled, st.Automation.Runs["scheduled"], st.Automation.Runs["running"], dash(st.Automation.NextFire))
		})
	}}
}
