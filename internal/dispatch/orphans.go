package dispatch

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"syscall"

	"github.com/agh-dev/agh/internal/agent"
	"github.com/agh-dev/agh/internal/store"
)

// Agents run in their own process group, so a daemon killed with SIGKILL leaves them behind.
// Boot recovery kills them. An agent's environment carries the id of what it runs
// (AGH_RUN_ID=<run id>, and for a task run's agent AGH_TASK_RUN_ID=<task run id> too), which
// identifies its processes on this host whatever happened to the pids: recovery looks for the
// processes whose environment names a run it recovers and kills their groups.
//
// The dispatcher also remembers each agent's process group id in the store while it runs. That
// record alone is not enough: it is committed after the agent has started, so an agent started
// just before a crash may not have one. It still matters when an agent's leader is alive but
// its children were started with another environment.

func pidKey(runID string) string { return "agent_pid:" + runID }

func (d *Dispatcher) rememberPID(runID string, pid int) {
	_ = d.o.Store.Write(context.Background(), func(tx store.Tx) error { return rememberPIDIn(tx, runID, pid) })
}

// rememberPIDIn records a run's process group in tx; pid <= 0 records nothing.
func rememberPIDIn(tx store.Tx, runID string, pid int) error {
	if pid <= 0 {
		return nil
	}
	return tx.SetMeta(pidKey(runID), []byte(strconv.Itoa(pid)))
}

func (d *Dispatcher) forgetPID(runID string) {
	_ = d.o.Store.Write(context.Background(), func(tx store.Tx) error { return tx.DeleteMeta(pidKey(runID)) })
}

// killOrphans kills the process groups a dead process left for the given runs and task runs
// (SPEC §7.10), and forgets their remembered groups.
func (d *Dispatcher) killOrphans(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	groups := map[int]string{} // process group id → the run whose agent it is
	for _, id := range ids {
		b, err := d.o.Store.GetMeta(ctx, pidKey(id))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(string(b)); err == nil && pid > 1 && agentOf(pid) == id {
			groups[pid] = id
		}
		d.forgetPID(id)
	}
	for pgid, id := range agentGroups(want) {
		groups[pgid] = id
	}
	own := syscall.Getpgrp()
	for pgid, id := range groups {
		if pgid <= 1 || pgid == own {
			continue
		}
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err == nil {
			d.o.Log.Warn("killed agent left by a previous process", "component", "dispatcher", "run_id", id, "pgid", pgid)
		}
	}
}

// agentGroups returns the process groups of this host's live processes whose environment
// names one of the runs or task runs in want, with that id.
func agentGroups(want map[string]bool) map[int]string {
	out := map[int]string{}
	pids, err := agent.Pids()
	if err != nil {
		return out
	}
	for _, pid := range pids {
		if pid <= 1 {
			continue
		}
		id := agentOf(pid)
		if id == "" || !want[id] {
			continue
		}
		if pgid, ok := agent.LiveProcessGroup(pid); ok {
			out[pgid] = id
		}
	}
	return out
}

// agentOf returns the id a process runs as an agent: its AGH_TASK_RUN_ID, else its AGH_RUN_ID
// (a task run's agent carries both; the second is the delegated run's). It returns "" for
// other processes and for those whose environment cannot be read.
func agentOf(pid int) string {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return ""
	}
	var runID, taskRunID string
	for kv := range bytes.SplitSeq(env, []byte{0}) {
		switch {
		case bytes.HasPrefix(kv, []byte("AGH_TASK_RUN_ID=")):
			taskRunID = string(kv[len("AGH_TASK_RUN_ID="):])
		case bytes.HasPrefix(kv, []byte("AGH_RUN_ID=")):
			runID = string(kv[len("AGH_RUN_ID="):])
		}
	}
	if taskRunID != "" {
		return taskRunID
	}
	return runID
}
