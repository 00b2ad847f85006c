package dispatch

import (
	"context"
	"strings"
	"time"

	"github.com/agh-dev/agh/internal/agent"
	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// Lease timing (SPEC §15.3): a running run's lease lasts LeaseTTL and is renewed every
// LeaseRenewEvery; every node sweeps expired leases every LeaseRenewEvery.
var (
	LeaseTTL        = 30 * time.Second
	LeaseRenewEvery = 10 * time.Second
)

// RunLeases renews this node's leases, notices runs canceled elsewhere and fails runs whose
// lease expired (their node is gone) until ctx ends.
func (d *Dispatcher) RunLeases(ctx context.Context) {
	timer := d.o.Clock.NewTimer(LeaseRenewEvery)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C():
		}
		d.LeaseTick(ctx)
		timer.Reset(LeaseRenewEvery)
	}
}

// LeaseTick performs one renewal and sweep.
func (d *Dispatcher) LeaseTick(ctx context.Context) {
	now := d.o.Clock.Now().UTC()
	err := d.o.Store.Write(ctx, func(tx store.Tx) error {
		if _, err := tx.RenewLeases(d.o.NodeID, now.Add(LeaseTTL)); err != nil {
			return err
		}
		_, err := tx.RenewTaskRunLeases(d.o.NodeID, now.Add(LeaseTTL))
		return err
	})
	if err != nil {
		d.o.Log.Error("renew leases failed", "component", "dispatcher", "err", err)
		d.dropUnrenewable(now)
	} else {
		d.mu.Lock()
		d.renewedAt = now
		d.mu.Unlock()
	}
	d.stopCanceledElsewhere(ctx)
	d.sweep(ctx, now)
	d.sweepTaskRuns(ctx, now)
}

// dropUnrenewable terminates local agents whose lease could not be renewed before it expired;
// their outcome is left to the sweeper of a live node (SPEC §15.3).
func (d *Dispatcher) dropUnrenewable(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.renewedAt.IsZero() || now.Sub(d.renewedAt) < LeaseTTL {
		return
	}
	for _, ar := range d.active {
		ar.lost = true
		ar.cancel(agent.ErrShutdown)
	}
}

// stopCanceledElsewhere terminates local agents whose run is no longer running in the store
// (canceled through another node).
func (d *Dispatcher) stopCanceledElsewhere(ctx context.Context) {
	d.mu.Lock()
	ids := make([]string, 0, len(d.active))
	for id := range d.active {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	for _, id := range ids {
		if strings.HasPrefix(id, automation.PrefixTaskRun) {
			tr, err := d.o.Store.GetTaskRun(ctx, id)
			if err == nil && tr.Status != automation.TaskRunRunning {
				d.TerminateTaskRuns([]*automation.TaskRun{tr})
			}
			continue
		}
		r, err := d.o.Store.GetRun(ctx, id)
		if err != nil || r.Status == automation.RunRunning {
			continue
		}
		d.Terminate([]*automation.Run{r})
	}
}

// sweep fails running runs whose lease expired, with retries per policy.
func (d *Dispatcher) sweep(ctx context.Context, now time.Time) {
	var expired []*automation.Run
	err := d.o.Store.Write(ctx, func(tx store.Tx) error {
		var err error
		expired, err = tx.ExpiredRuns(now, 100)
		return err
	})
	if err != nil {
		return
	}
	for _, r := range expired {
		d.mu.Lock()
		_, local := d.active[r.ID]
		d.mu.Unlock()
		if local && r.LeaseOwner == d.o.NodeID {
			continue // our own run: renewal will catch up
		}
		final, retry, err := d.finish(ctx, r, agent.Outcome{Status: automation.RunFailed, Error: "node lost", ErrorCode: automation.CodeNodeLost}, now, sessionEnd{})
		if err != nil || final == nil {
			continue
		}
		changed := []*automation.Run{final}
		if retry != nil {
			changed = append(changed, retry)
		}
		d.o.Hooks.RunsChanged(changed)
		d.o.Hooks.RunFinished(final, "", retry)
	}
}

// sweepTaskRuns fails running task runs whose lease expired (node lost), with their tasks.
func (d *Dispatcher) sweepTaskRuns(ctx context.Context, now time.Time) {
	var expired []*automation.TaskRun
	err := d.o.Store.Write(ctx, func(tx store.Tx) error {
		var err error
		expired, err = tx.ExpiredTaskRuns(now, 100)
		return err
	})
	if err != nil {
		return
	}
	for _, tr := range expired {
		d.mu.Lock()
		_, local := d.active[tr.ID]
		d.mu.Unlock()
		if local && tr.LeaseOwner == d.o.NodeID {
			continue // our own task run: renewal will catch up
		}
		done, err := d.finishTask(ctx, tr.ID, agent.Outcome{Status: automation.RunFailed, Error: "node lost", ErrorCode: automation.CodeNodeLost}, now)
		if err != nil || done == nil {
			continue
		}
		d.o.Hooks.TaskRunFinished(done.task, done.trun, done.drun, "")
	}
}
