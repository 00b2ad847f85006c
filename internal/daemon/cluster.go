package daemon

import (
	"context"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/service"
	"github.com/agh-dev/agh/internal/store"
)

// Cluster timing (SPEC §15.4): definitions are re-read every RefreshEvery and the dispatcher
// polls for eligible runs every PollEvery, so a lost notification delays but never loses work.
var (
	RefreshEvery = 30 * time.Second
	PollEvery    = time.Second
)

// feed returns the store's change feed when several nodes may share it.
func (d *Daemon) feed() store.ChangeFeed {
	if f, ok := d.rawStore.(store.ChangeFeed); ok {
		return f
	}
	return nil
}

// announce tells the other nodes about a local change.
func (d *Daemon) announce(entity, id, op string) {
	f := d.feed()
	if f == nil {
		return
	}
	_ = f.PublishChange(context.Background(), store.Change{Node: d.nodeID, Entity: entity, ID: id, Op: op})
}

// runCluster listens for other nodes' changes and refreshes periodically until ctx ends.
func (d *Daemon) runCluster(ctx context.Context) {
	f := d.feed()
	if f == nil {
		return
	}
	go func() {
		for ctx.Err() == nil {
			// Changes missed while the feed was down: cached webhook triggers are re-read.
			d.Service.InvalidateTriggers()
			err := f.ListenChanges(ctx, d.onRemoteChange)
			if ctx.Err() != nil {
				return
			}
			d.log.Warn("change feed interrupted", "component", "store", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	refresh := d.clock.NewTimer(RefreshEvery)
	poll := d.clock.NewTimer(PollEvery)
	defer refresh.Stop()
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C():
			d.Disp.Wake()
			poll.Reset(PollEvery)
		case <-refresh.C():
			if err := d.Sched.Refresh(ctx); err != nil {
				d.log.Error("scheduler refresh failed", "component", "scheduler", "err", err)
			}
			refresh.Reset(RefreshEvery)
		}
	}
}

// onRemoteChange applies another node's change locally: scheduler timers, dispatcher, SSE
// clients, and termination of a local agent whose run was canceled elsewhere.
func (d *Daemon) onRemoteChange(c store.Change) {
	if c.Node == d.nodeID {
		return
	}
	ctx := context.Background()
	switch c.Entity {
	case "job":
		d.hub.jobChanged(c.ID, c.Op, false)
	case "trigger":
		d.Service.InvalidateTriggers()
		d.hub.triggerChanged(c.ID, c.Op, false)
	case "run":
		r, err := d.Store.GetRun(ctx, c.ID)
		if err != nil {
			return
		}
		d.hub.runsChanged([]*automation.Run{r}, false)
		if r.Status == automation.RunCanceled {
			d.Disp.Terminate([]*automation.Run{r})
		}
	case "task":
		d.hub.remoteTaskChanged(c.ID)
	}
	_ = service.ChangeCreated
}
