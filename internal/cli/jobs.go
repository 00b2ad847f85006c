package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/wire"
)

var jobs = definition[wire.Job]{
	noun: "job", plural: "jobs",
	header: []string{"ID", "NAME", "SCOPE", "SCHEDULE", "ENABLED", "NEXT RUN"},
	row: func(j wire.Job) []string {
		return []string{j.ID, j.Name, scopeText(j.Scope, j.WorkspaceID), scheduleText(j.Schedule), yesNo(j.Enabled), when(j.NextRun)}
	},
	detail: func(t *table, j wire.Job) {
		t.field("ID", j.ID)
		t.field("NAME", j.Name)
		t.field("SCOPE", scopeText(j.Scope, j.WorkspaceID))
		t.opt("AGENT", j.AgentName)
		t.opt("PROMPT", oneLine(j.Prompt, 72))
		if j.Task != nil {
			t.field("TASK", taskConfigText(j.Task))
		}
		t.field("SCHEDULE", scheduleText(j.Schedule))
		t.field("TIMEZONE", j.Scheduler.Timezone)
		t.field("STATUS", enabledText(j.Enabled))
		t.field("NEXT RUN", when(j.NextRun))
		t.opt("LAST RUN", when(j.Scheduler.LastRunAt))
		t.field("RETRY", retryText(j.Retry))
		t.field("FIRE LIMIT", fireLimitText(j.FireLimit))
		t.field("OVERLAP", j.OverlapPolicy)
		t.field("CATCH UP", j.CatchUpPolicy+" (window "+j.CatchUpWindow+", grace "+strconv.Itoa(j.MisfireGraceSeconds)+"s)")
		t.field("MISFIRES", strconv.Itoa(j.Scheduler.MisfireCount))
		t.field("SOURCE", j.Source)
		t.field("CREATED", when(j.CreatedAt))
		t.field("UPDATED", when(j.UpdatedAt))
	},
}

func jobsCmd(a *app) *cobra.Command {
	create, update := jobs.writes(a, func() bodyFlags { return &jobFlags{} }, "name", "scope", "schedule")
	c := group("jobs", "Scheduled jobs", jobs.list(a), jobs.get(a), create, update, jobs.delete(a),
		jobTriggerCmd(a), jobs.history(a), jobPreviewCmd(a), jobSlotsCmd(a))
	c.AddCommand(jobs.toggles(a)...)
	return c
}

func jobTriggerCmd(a *app) *cobra.Command {
	var wait bool
	c := &cobra.Command{Use: "trigger ID", Short: "Run a job now", Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		raw, err := a.call(cmd.Context(), "POST", jobs.path(args[0])+"/trigger", nil)
		if err != nil {
			return err
		}
		if !wait {
			return emitOne(cmd, a, raw, "run", runDetail)
		}
		var run wire.Run
		if err := decodePath(raw, "run", &run); err != nil {
			return err
		}
		return a.waitRun(cmd, run.ID)
	}}
	c.Flags().BoolVar(&wait, "wait", false, "follow the run to a terminal status; exit 1 if it failed or was canceled")
	return c
}

func jobPreviewCmd(a *app) *cobra.Command {
	ls := listing[wire.PreviewItem]{use: "preview ID", short: "Show the next fire times of a job",
		path: func(args []string) string { return jobs.path(args[0]) + "/preview" }, key: "preview.fires",
		header: []string{"AT", "LOCAL", "NOMINAL", "DST"},
		row:    func(p wire.PreviewItem) []string { return []string{when(p.At), p.Local, p.NominalLocal, p.DST} }}
	return ls.cmd(a, func(c *cobra.Command, l *listFlags) { l.withCount(c) })
}

func jobSlotsCmd(a *app) *cobra.Command {
	ls := listing[wire.LedgerEntry]{use: "slots ID", short: "Show the slot ledger of a job",
		path: func(args []string) string { return jobs.path(args[0]) + "/slots" }, key: "slots",
		header: []string{"SLOT", "OUTCOME", "REASON", "COUNT", "RUN", "DST"},
		row: func(e wire.LedgerEntry) []string {
			return []string{e.Local, e.Outcome, e.Reason, strconv.Itoa(e.Count), e.RunID, e.DST}
		}}
	return ls.cmd(a, func(c *cobra.Command, l *listFlags) { l.withLast(c, "entries") })
}

// jobFlags are the flags of jobs create/update.
type jobFlags struct {
	defFlags
	schedule, timezone, catchUp, catchUpWindow         string
	misfireGrace                                       int
	taskTitle, taskDescription, taskOwner, taskChannel string
	noTask                                             bool
}

func (f *jobFlags) bind(c *cobra.Command, update bool) {
	f.defFlags.bind(c)
	fl := c.Flags()
	fl.StringVar(&f.schedule, "schedule", "", "cron expression, every:<duration> or at:<RFC 3339 | YYYY-MM-DDTHH:MM[:SS] in --timezone>")
	fl.StringVar(&f.timezone, "timezone", "", "IANA zone of a cron schedule, or of a local at: time (default UTC)")
	fl.StringVar(&f.catchUp, "catch-up", "", "skip_missed, run_once or run_all")
	fl.StringVar(&f.catchUpWindow, "catch-up-window", "", "how far back missed slots are caught up, e.g. 24h")
	fl.IntVar(&f.misfireGrace, "misfire-grace-seconds", 0, "lateness tolerated before a slot is a misfire")
	fl.StringVar(&f.taskTitle, "task-title", "", "make the job task-backed: task title")
	fl.StringVar(&f.taskDescription, "task-description", "", "task description")
	fl.StringVar(&f.taskOwner, "task-owner", "", "task owner: human[:name] or agent[:agent]")
	fl.StringVar(&f.taskChannel, "task-channel", "", "channel notified about the task")
	if update {
		fl.BoolVar(&f.noTask, "no-task", false, "remove the task configuration")
	}
}

func (f *jobFlags) body(cmd *cobra.Command, a *app) (map[string]any, error) {
	b := newFields(cmd)
	if err := f.defFlags.fill(a, b); err != nil {
		return nil, err
	}
	b.str("catch-up", "catch_up_policy", f.catchUp)
	b.str("catch-up-window", "catch_up_window", f.catchUpWindow)
	if b.given("misfire-grace-seconds") {
		b.m["misfire_grace_seconds"] = f.misfireGrace
	}
	if b.given("schedule") || b.given("timezone") {
		s, err := parseSchedule(f.schedule, f.timezone)
		if err != nil {
			return nil, usagef("--schedule: %v", err)
		}
		b.m["schedule"] = s
	}
	task := newFields(cmd)
	task.str("task-title", "title", f.taskTitle)
	task.str("task-description", "description", f.taskDescription)
	task.str("task-channel", "network_channel", f.taskChannel)
	if task.given("task-owner") {
		kind, ref, _ := strings.Cut(f.taskOwner, ":")
		task.m["owner"] = wire.TaskOwner{Kind: kind, Ref: ref}
	}
	switch {
	case f.noTask && len(task.m) > 0:
		return nil, usagef("--no-task cannot be combined with --task-* flags")
	case f.noTask:
		b.m["task"] = nil
	case len(task.m) > 0:
		b.m["task"] = task.m
	}
	return b.m, nil
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

func taskConfigText(tc *wire.TaskConfig) string {
	s := dash(tc.Title)
	if tc.Owner != nil {
		s += " (owner " + tc.Owner.Kind
		if tc.Owner.Ref != "" {
			s += ":" + tc.Owner.Ref
		}
		s += ")"
	}
	return s
}
