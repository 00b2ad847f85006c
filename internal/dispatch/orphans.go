package dispatch

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// Agents run in their own process group, so a daemon killed with SIGKILL leaves them behind.
// The dispatcher remembers each agent's process group id in the store while it runs; boot
// recovery kills a remembered group that still exists on this host and still belongs to the
// run (its environment carries AGH_RUN_ID=<run id>, which guards against pid reuse).

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

// killOrphan kills the process group a dead daemon left for runID, if it is still there.
func (d *Dispatcher) killOrphan(ctx context.Context, runID string) {
	b, err := d.o.Store.GetMeta(ctx, pidKey(runID))
	if err != nil {
		return
	}
	defer d.forgetPID(runID)
	pid, err := strconv.Atoi(string(b))
	if err != nil || pid <= 1 {
		return
	}
	// A task run's agent carries its id in AGH_TASK_RUN_ID (AGH_RUN_ID is the delegated run's).
	name := "AGH_RUN_ID="
	if strings.HasPrefix(runID, automation.PrefixTaskRun) {
		name = "AGH_TASK_RUN_ID="
	}
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil || !bytes.Contains(env, []byte("\x00"+name+runID+"\x00")) && !bytes.HasPrefix(env, []byte(name+runID+"\x00")) {
		return
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err == nil {
		d.o.Log.Warn("killed agent left by a previous process", "component", "dispatcher", "run_id", runID, "pid", pid)
	}
}
