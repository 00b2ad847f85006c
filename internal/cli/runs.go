package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agh-dev/agh/internal/daemon"
	"github.com/agh-dev/agh/internal/wire"
)

// pollInterval paces `jobs trigger --wait` and `runs transcript --follow`.
const pollInterval = 500 * time.Millisecond

var runHeader = []string{"ID", "DEFINITION", "STATUS", "ATTEMPT", "ORIGIN", "STARTED", "ERROR"}

func runRow(r wire.Run) []string {
	return []string{r.ID, runOwner(r), r.Status, strconv.Itoa(r.Attempt), r.Origin, when(r.StartedAt), oneLine(r.Error, 60)}
}

func runOwner(r wire.Run) string {
	if r.JobID != "" {
		return r.JobID
	}
	return r.TriggerID
}

func runDetail(t *table, r wire.Run) {
	t.field("ID", r.ID)
	t.opt("JOB", r.JobID)
	t.opt("TRIGGER", r.TriggerID)
	t.field("STATUS", r.Status)
	t.field("ATTEMPT", strconv.Itoa(r.Attempt))
	t.opt("RETRY OF", r.RetryOf)
	t.field("FIRE", r.FireID)
	t.field("ORIGIN", r.Origin)
	t.field("SCOPE", scopeText(r.Scope, r.WorkspaceID))
	t.opt("AGENT", r.AgentName)
	t.field("SCHEDULED", when(r.ScheduledAt))
	t.field("STARTED", when(r.StartedAt))
	t.opt("DISPATCHED", when(r.DispatchedAt))
	t.opt("ENDED", when(r.EndedAt))
	t.opt("SESSION", r.SessionID)
	t.opt("STOP REASON", r.StopReason)
	t.opt("ERROR", r.Error)
	t.opt("ERROR CODE", r.ErrorCode)
	t.opt("DELIVERY ERROR", r.DeliveryError)
	t.opt("TASK", r.TaskID)
	t.opt("EVENT", r.EventID)
	t.opt("DELIVERY", r.DeliveryID)
}

func runPath(id string) string { return "/api/automation/runs/" + escape(id) }

func terminalRun(status string) bool {
	switch status {
	case "completed", "failed", "canceled", "delegated":
		return true
	}
	return false
}

func runsCmd(a *app) *cobra.Command {
	list := func(use string) *cobra.Command {
		ls := listing[wire.Run]{use: use, short: "List runs", path: func([]string) string { return "/api/automation/runs" },
			key: "runs", header: runHeader, row: runRow}
		return ls.cmd(a, func(c *cobra.Command, l *listFlags) {
			l.str(c, "job", "job_id", "job id").str(c, "trigger", "trigger_id", "trigger id").str(c, "status", "status", "run status")
			l.withWindow(c).withLast(c, "runs")
		})
	}
	runs := list("runs")
	runs.Short = "Runs of jobs and triggers (without a subcommand: list)"
	get := &cobra.Command{Use: "get ID", Short: "Show a run", Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return fetchOne(cmd, a, "GET", runPath(args[0]), nil, "run", runDetail)
	}}
	cancel := &cobra.Command{Use: "cancel ID", Short: "Cancel a scheduled or running run", Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return fetchOne(cmd, a, "POST", runPath(args[0])+"/cancel", nil, "run", runDetail)
	}}
	runs.AddCommand(list("list"), get, transcriptCmd(a), cancel)
	return runs
}

// waitRun polls a run until it is terminal, prints it, and fails (exit 1) if it ended failed
// or canceled.
func (a *app) waitRun(cmd *cobra.Command, id string) error {
	for {
		raw, r, err := a.getRun(cmd, id)
		if err != nil {
			return err
		}
		if terminalRun(r.Status) {
			if err := emitOne(cmd, a, raw, "run", runDetail); err != nil {
				return err
			}
			if r.Status == "failed" || r.Status == "canceled" {
				return &daemon.ExitError{Code: 1, Err: fmt.Errorf("run %s %s: %s", r.ID, r.Status, dash(r.Error))}
			}
			return nil
		}
		if err := sleep(cmd, pollInterval); err != nil {
			return err
		}
	}
}

func (a *app) getRun(cmd *cobra.Command, id string) (json.RawMessage, wire.Run, error) {
	return fetch[wire.Run](cmd, a, runPath(id), "run")
}

func sleep(cmd *cobra.Command, d time.Duration) error {
	select {
	case <-cmd.Context().Done():
		return cmd.Context().Err()
	case <-time.After(d):
		return nil
	}
}

// transcriptEntry is a transcript entry (SPEC §2.12); Raw keeps it as the API sent it.
type transcriptEntry struct {
	Seq        int             `json:"seq"`
	At         string          `json:"at"`
	Type       string          `json:"type"`
	Text       string          `json:"text"`
	Title      string          `json:"title"`
	Status     string          `json:"status"`
	Decision   string          `json:"decision"`
	Op         string          `json:"op"`
	Path       string          `json:"path"`
	Allowed    bool            `json:"allowed"`
	StopReason string          `json:"stop_reason"`
	Raw        json.RawMessage `json:"-"`
}

func (e *transcriptEntry) UnmarshalJSON(b []byte) error {
	type plain transcriptEntry
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	e.Raw = append(json.RawMessage(nil), b...)
	return nil
}

type transcript struct {
	RunID     string            `json:"run_id"`
	Driver    string            `json:"driver"`
	AgentName string            `json:"agent_name"`
	Truncated bool              `json:"truncated"`
	Entries   []transcriptEntry `json:"entries"`
}

// transcriptCmd is `runs transcript ID [--follow]`.
func transcriptCmd(a *app) *cobra.Command {
	var follow bool
	c := &cobra.Command{Use: "transcript ID", Short: "Show the transcript of a run", Args: nArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		if follow {
			return a.followTranscript(cmd, args[0])
		}
		raw, tr, err := a.getTranscript(cmd, args[0])
		if err != nil {
			return err
		}
		return a.emit(cmd, raw, "transcript.entries", func(*table) error {
			printEntries(cmd.OutOrStdout(), tr.Entries)
			if tr.Truncated {
				fmt.Fprintln(cmd.OutOrStdout(), "(transcript truncated)")
			}
			return nil
		})
	}}
	c.Flags().BoolVarP(&follow, "follow", "f", false, "print new entries every 500 ms until the run ends")
	return c
}

func (a *app) getTranscript(cmd *cobra.Command, id string) (json.RawMessage, transcript, error) {
	return fetch[transcript](cmd, a, runPath(id)+"/transcript", "transcript")
}

// followTranscript polls the transcript every 500 ms and prints the entries not printed yet
// (table: as text lines; json and jsonl: one entry per line) until the run is terminal.
func (a *app) followTranscript(cmd *cobra.Command, id string) error {
	out := cmd.OutOrStdout()
	lines := a.format(out) == "table"
	seen := 0
	for {
		// Read the status first: once it is terminal, the transcript read after it is complete.
		_, r, err := a.getRun(cmd, id)
		if err != nil {
			return err
		}
		_, tr, err := a.getTranscript(cmd, id)
		if err != nil {
			return err
		}
		var fresh []transcriptEntry
		for _, e := range tr.Entries {
			if e.Seq > seen {
				fresh = append(fresh, e)
				seen = e.Seq
			}
		}
		if lines {
			printEntries(out, fresh)
		} else {
			for _, e := range fresh {
				if err := printCompact(out, e.Raw); err != nil {
					return err
				}
			}
		}
		if terminalRun(r.Status) {
			return nil
		}
		if err := sleep(cmd, pollInterval); err != nil {
			return err
		}
	}
}

// printEntries writes transcript entries as "time type text" lines; continuation lines of
// multi-line text are indented.
func printEntries(w io.Writer, entries []transcriptEntry) {
	for _, e := range entries {
		at := e.At
		if tm, err := time.Parse(time.RFC3339Nano, e.At); err == nil {
			at = tm.UTC().Format("15:04:05.000")
		}
		text := entryText(e)
		fmt.Fprintf(w, "%s  %-14s %s\n", at, e.Type, strings.ReplaceAll(strings.TrimRight(text, "\n"), "\n", "\n"+strings.Repeat(" ", 29)))
	}
}

func entryText(e transcriptEntry) string {
	switch e.Type {
	case "tool_call", "tool_call_update":
		return strings.TrimSpace(e.Title + " [" + e.Status + "]")
	case "permission":
		return e.Title + " → " + e.Decision
	case "fs":
		if e.Allowed {
			return e.Op + " " + e.Path
		}
		return e.Op + " " + e.Path + " (denied)"
	case "stop":
		return e.StopReason
	case "plan":
		return "(plan updated)"
	}
	return e.Text
}
