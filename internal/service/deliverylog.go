package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/store"
)

// Delivery-log queue sizing (SPEC §9.9, DECISIONS.md "Delivery log off the request path").
const (
	// DeliveryQueueSize bounds the records waiting to be written; beyond it records are
	// dropped and counted (agh_webhook_delivery_log_dropped_total), the request never waits.
	DeliveryQueueSize = 16384
	// deliveryBatchMax is the most records one background transaction writes.
	deliveryBatchMax = 1024
	// deliveryLinger is how long the writer waits for more records before writing a batch:
	// the most a crash can lose of non-admitting records, beyond the batch being committed.
	deliveryLinger = 10 * time.Millisecond
)

// logItem is one queued delivery record, a request to trim a trigger's log (an accepted
// delivery recorded in its run's transaction), or a flush barrier.
type logItem struct {
	d     *automation.Delivery
	prune string
	done  chan struct{}
}

// deliveryLog writes the delivery records of deliveries and envelopes that admit no run
// (filtered, skipped, rejected) in the background, in batches, so that no such request waits
// for the store's writer. Records of accepted deliveries are written in the transaction of their
// run; they only queue a trim. The log is trimmed to deliveries_per_trigger once per batch per
// trigger rather than after every insert.
type deliveryLog struct {
	mu      sync.RWMutex
	q       chan logItem
	running bool
	done    chan struct{}
}

// StartDeliveryLog starts the background delivery-log writer. Until it is started, and after
// StopDeliveryLog, records are written synchronously.
func (s *Service) StartDeliveryLog() {
	l := &s.dlog
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running {
		return
	}
	l.q = make(chan logItem, DeliveryQueueSize)
	l.done = make(chan struct{})
	l.running = true
	go s.runDeliveryLog(l.q, l.done)
}

// StopDeliveryLog writes every queued record and stops the background writer (graceful
// shutdown; call it before closing the store).
func (s *Service) StopDeliveryLog() {
	l := &s.dlog
	l.mu.Lock()
	if !l.running {
		l.mu.Unlock()
		return
	}
	l.running = false
	close(l.q)
	done := l.done
	l.mu.Unlock()
	<-done
}

// logDelivery records a delivery that admitted no run: queued when the background writer runs,
// else written now.
func (s *Service) logDelivery(ctx context.Context, d *automation.Delivery) error {
	l := &s.dlog
	l.mu.RLock()
	if l.running {
		select {
		case l.q <- logItem{d: d}:
		default:
			s.metrics().DeliveryLogDropped()
		}
		l.mu.RUnlock()
		return nil
	}
	l.mu.RUnlock()
	return s.Store.Write(ctx, func(tx store.Tx) error {
		if err := s.insertDelivery(tx, d); err != nil {
			return err
		}
		return s.pruneDeliveries(tx, d.TriggerID)
	})
}

// trimDeliveries asks for a trigger's log to be trimmed after a record was written in a run's
// transaction.
func (s *Service) trimDeliveries(ctx context.Context, triggerID string) {
	l := &s.dlog
	l.mu.RLock()
	if l.running {
		select {
		case l.q <- logItem{prune: triggerID}:
		default: // the next record of this trigger trims it
		}
		l.mu.RUnlock()
		return
	}
	l.mu.RUnlock()
	_ = s.Store.Write(ctx, func(tx store.Tx) error { return s.pruneDeliveries(tx, triggerID) })
}

// FlushDeliveries returns once every record queued before the call is written (or dropped
// because the write failed), so that a delivery-log read sees the node's own records.
func (s *Service) FlushDeliveries(ctx context.Context) error {
	l := &s.dlog
	l.mu.RLock()
	if !l.running {
		l.mu.RUnlock()
		return nil
	}
	done := make(chan struct{})
	select {
	case l.q <- logItem{done: done}:
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	l.mu.RUnlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ListDeliveries reads a trigger's delivery log after writing this node's queued records.
func (s *Service) ListDeliveries(ctx context.Context, q store.DeliveryQuery) ([]*automation.Delivery, error) {
	if err := s.FlushDeliveries(ctx); err != nil {
		return nil, err
	}
	return s.Store.ListDeliveries(ctx, q)
}

func (s *Service) runDeliveryLog(q chan logItem, done chan struct{}) {
	defer close(done)
	var (
		recs    []*automation.Delivery
		waiters []chan struct{}
		// pending counts the records written per trigger since its log was last trimmed.
		pending = map[string]int{}
		prune   = map[string]bool{}
	)
	for {
		it, ok := <-q
		if !ok {
			clear(prune)
			for id := range pending {
				prune[id] = true
			}
			s.writeDeliveryBatch(nil, prune)
			return
		}
		recs, waiters = recs[:0], waiters[:0]
		closing := false
		add := func(it logItem) {
			switch {
			case it.d != nil:
				recs = append(recs, it.d)
				pending[it.d.TriggerID]++
			case it.prune != "":
				pending[it.prune]++
			case it.done != nil:
				waiters = append(waiters, it.done)
			}
		}
		add(it)
		// Linger a little so that a batch carries many records (one transaction and one
		// fsync each), unless a flush is waiting.
		linger := time.NewTimer(deliveryLinger)
	fill:
		for len(recs) < deliveryBatchMax && len(waiters) == 0 {
			select {
			case it, open := <-q:
				if !open {
					closing = true
					break fill
				}
				add(it)
			case <-linger.C:
				break fill
			}
		}
		linger.Stop()
		// A trigger's log is trimmed once it has grown by pruneEvery records, and every
		// pending trim is done before a flush is answered (so a read sees exactly the newest
		// deliveries_per_trigger records) and before stopping.
		every := s.pruneEvery()
		clear(prune)
		for id, n := range pending {
			if n >= every || len(waiters) > 0 || closing {
				prune[id] = true
				delete(pending, id)
			}
		}
		s.writeDeliveryBatch(recs, prune)
		for _, w := range waiters {
			close(w)
		}
	}
}

// pruneEvery is how many records a trigger's log may grow by before it is trimmed: a tenth of
// deliveries_per_trigger, so that trimming (which walks the kept records) costs about ten times
// less per record than trimming after every insert.
func (s *Service) pruneEvery() int {
	return max(s.Config().Automation.DeliveriesPerTrigger/10, 1)
}

// writeDeliveryBatch writes records and trims the logs of the triggers involved in one
// transaction. If that fails (a trigger was deleted meanwhile, on a store where that aborts the
// transaction), each record is retried on its own and failures are dropped.
func (s *Service) writeDeliveryBatch(recs []*automation.Delivery, prune map[string]bool) {
	if len(recs) == 0 && len(prune) == 0 {
		return
	}
	ctx := context.Background()
	err := s.Store.Write(ctx, func(tx store.Tx) error {
		for _, d := range recs {
			if err := s.insertDelivery(tx, d); err != nil {
				return err
			}
		}
		for id := range prune {
			if err := s.pruneDeliveries(tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return
	}
	for _, d := range recs {
		err := s.Store.Write(ctx, func(tx store.Tx) error {
			if err := s.insertDelivery(tx, d); err != nil {
				return err
			}
			return s.pruneDeliveries(tx, d.TriggerID)
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) && s.Log != nil {
			s.Log.Warn("delivery record not written", "component", "webhook", "trigger_id", d.TriggerID, "err", err)
		}
	}
}
