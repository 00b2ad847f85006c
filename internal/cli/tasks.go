package cli

import (
	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/wire"
)

// task is a task (SPEC §2.13).
type task struct {
	ID             string         `json:"id"`
	JobID          string         `json:"job_id"`
	RunID          string         `json:"run_id"`
	Scope          string         `json:"scope"`
	WorkspaceID    string         `json:"workspace_id"`
	Title          string         `json:"title"`
	Description    string         `json:"description"`
	Owner          wire.TaskOwner `json:"owner"`
	NetworkChannel string         `json:"network_channel"`
	Status         string         `json:"status"`
	Result         string         `json:"result"`
	Error          string         `json:"error"`
	CreatedAt      string         `json:"created_at"`
	ClosedAt       string         `json:"closed_at"`
	Runs           []struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		AgentName string `json:"agent_name"`
		StartedAt string `json:"started_at"`
		EndedAt   string `json:"ended_at"`
		Error     string `json:"error"`
	} `json:"runs"`
}

func ownerText(o wire.TaskOwner) string {
	if o.Ref == "" {
		return o.Kind
	}
	return o.Kind + ":" + o.Ref
}

func taskDetail(t *table, k task) {
	t.field("ID", k.ID)
	t.field("TITLE", k.Title)
	t.opt("DESCRIPTION", oneLine(k.Description, 72))
	t.field("STATUS", k.Status)
	t.field("OWNER", ownerText(k.Owner))
	t.field("SCOPE", scopeText(k.Scope, k.WorkspaceID))
	t.field("JOB", k.JobID)
	t.field("RUN", k.RunID)
	t.opt("CHANNEL", k.NetworkChannel)
	t.opt("RESULT", oneLine(k.Result, 72))
	t.opt("ERROR", k.Error)
	t.field("CREATED", when(k.CreatedAt))
	t.opt("CLOSED", when(k.ClosedAt))
	for _, r := range k.Runs {
		t.field("TASK RUN", r.ID+" "+r.Status+" "+r.AgentName+" "+when(r.StartedAt)+" "+r.Error)
	}
}

func tasksCmd(a *app) *cobra.Command {
	ls := listing[task]{use: "list", short: "List tasks", path: func([]string) string { return "/api/tasks" }, key: "tasks",
		header: []string{"ID", "TITLE", "STATUS", "OWNER", "JOB", "CREATED"},
		row: func(k task) []string {
			return []string{k.ID, oneLine(k.Title, 40), k.Status, ownerText(k.Owner), k.JobID, when(k.CreatedAt)}
		}}
	list := ls.cmd(a, func(c *cobra.Command, l *listFlags) {
		l.str(c, "status", "status", "open, running, done, failed or canceled").str(c, "job", "job_id", "job id").
			str(c, "owner-kind", "owner_kind", "human or agent").withWorkspace(c).withLast(c, "tasks")
	})
	path := func(id string) string { return "/api/tasks/" + escape(id) }
	get := &cobra.Command{Use: "get ID", Short: "Show a task and its runs", Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return fetchOne(cmd, a, "GET", path(args[0]), nil, "task", taskDetail)
	}}
	var result string
	complete := &cobra.Command{Use: "complete ID", Short: "Complete an open task", Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		var body any // none unless --result is given
		if cmd.Flags().Changed("result") {
			body = map[string]string{"result": result}
		}
		return fetchOne(cmd, a, "POST", path(args[0])+"/complete", body, "task", taskDetail)
	}}
	complete.Flags().StringVar(&result, "result", "", "result text")
	cancel := &cobra.Command{Use: "cancel ID", Short: "Cancel an open or running task", Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return fetchOne(cmd, a, "POST", path(args[0])+"/cancel", nil, "task", taskDetail)
	}}
	return group("tasks", "Tasks created by task-backed jobs", list, get, complete, cancel)
}
