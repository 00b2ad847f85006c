package events

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// Bus is the in-process event bus of a node (SPEC §8.1): publishers hand envelopes to it and
// every subscriber receives every envelope published while it is subscribed, in publication
// order, on a goroutine of its own.
//
// Delivery design: each subscriber has an unbounded FIFO queue and one goroutine that calls its
// handler for one envelope at a time. [Bus.Publish] only appends to the queues, so it never waits
// for a handler, and no envelope is dropped while the bus is open, however slow a handler is —
// the trigger engine, the main subscriber, must see every envelope. The price is memory: a
// handler that stops making progress lets its queue grow; [Bus.Stats] reports the backlog so it
// can be exported as a metric.
//
// Envelopes are shared by pointer between the publisher and all subscribers and must be treated
// as immutable once published. A handler that panics is recovered (the panic is logged with
// slog and counted) and the subscriber keeps receiving envelopes.
//
// The zero Bus is not usable; call [NewBus].
type Bus struct {
	mu     sync.Mutex
	subs   []*subscriber
	closed bool
	wg     sync.WaitGroup

	published atomic.Uint64
	delivered atomic.Uint64
	dropped   atomic.Uint64
	panics    atomic.Uint64
	pending   atomic.Int64
}

// BusStats is a snapshot of bus counters.
type BusStats struct {
	// Subscribers is the number of current subscribers.
	Subscribers int
	// Published counts envelopes accepted by Publish while the bus was open.
	Published uint64
	// Delivered counts handler calls that returned (or panicked).
	Delivered uint64
	// Dropped counts envelopes passed to Publish after Close.
	Dropped uint64
	// Panics counts handler calls that panicked.
	Panics uint64
	// Pending is the number of queued deliveries not yet handled, over all subscribers.
	Pending int
}

type subscriber struct {
	fn   func(*Envelope)
	mu   sync.Mutex
	cond sync.Cond
	// queue holds envelopes not yet handed to fn; spare is a drained buffer kept for reuse.
	queue, spare []*Envelope
	// stopped: unsubscribed; queued envelopes are discarded and the goroutine exits.
	stopped bool
	// closing: the bus is closing; the goroutine drains the queue and exits.
	closing bool
}

// NewBus returns an open bus without subscribers.
func NewBus() *Bus { return &Bus{} }

// Subscribe registers fn to receive every envelope published from now on, in publication order,
// one call at a time on a dedicated goroutine. The returned function unsubscribes: envelopes still
// queued for fn are discarded, a call of fn in progress is not waited for (so it may be called
// from fn itself), and no call starts afterwards. It is idempotent. After [Bus.Close], Subscribe
// returns a no-op function and fn is never called.
func (b *Bus) Subscribe(fn func(*Envelope)) (unsubscribe func()) {
	s := &subscriber{fn: fn}
	s.cond.L = &s.mu
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return func() {}
	}
	b.subs = append(b.subs, s)
	b.wg.Add(1)
	b.mu.Unlock()
	go s.run(b)

	var once sync.Once
	return func() { once.Do(func() { b.unsubscribe(s) }) }
}

func (b *Bus) unsubscribe(s *subscriber) {
	b.mu.Lock()
	for i, x := range b.subs {
		if x == s {
			b.subs = append(b.subs[:i:i], b.subs[i+1:]...)
			break
		}
	}
	b.mu.Unlock()
	s.mu.Lock()
	s.stopped = true
	b.pending.Add(-int64(len(s.queue)))
	clear(s.queue)
	s.queue = nil
	s.cond.Signal()
	s.mu.Unlock()
}

// Publish queues e for every current subscriber and returns without waiting for any handler.
// Envelopes published by one goroutine reach each subscriber in that order, and concurrent
// publications reach all subscribers in the same order. After [Bus.Close] the envelope is
// dropped (and counted in [BusStats].Dropped). A nil envelope is ignored.
func (b *Bus) Publish(e *Envelope) {
	if e == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		b.dropped.Add(1)
		return
	}
	b.published.Add(1)
	for _, s := range b.subs {
		s.mu.Lock()
		if !s.stopped {
			if s.queue == nil {
				s.queue, s.spare = s.spare, nil
			}
			s.queue = append(s.queue, e)
			b.pending.Add(1)
			s.cond.Signal()
		}
		s.mu.Unlock()
	}
}

// Close stops accepting envelopes, lets every subscriber handle the envelopes already queued for
// it, and returns when all subscriber goroutines have exited. It is idempotent and safe for
// concurrent use, but must not be called from a handler (it would wait for itself).
func (b *Bus) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		for _, s := range b.subs {
			s.mu.Lock()
			s.closing = true
			s.cond.Signal()
			s.mu.Unlock()
		}
		b.subs = nil
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// Stats returns a snapshot of the bus counters.
func (b *Bus) Stats() BusStats {
	b.mu.Lock()
	n := len(b.subs)
	b.mu.Unlock()
	return BusStats{
		Subscribers: n,
		Published:   b.published.Load(),
		Delivered:   b.delivered.Load(),
		Dropped:     b.dropped.Load(),
		Panics:      b.panics.Load(),
		Pending:     int(b.pending.Load()),
	}
}

func (s *subscriber) run(b *Bus) {
	defer b.wg.Done()
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.stopped && !s.closing {
			s.cond.Wait()
		}
		if s.stopped || len(s.queue) == 0 {
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()

		for i, e := range batch {
			s.mu.Lock()
			stopped := s.stopped
			s.mu.Unlock()
			if stopped {
				b.pending.Add(-int64(len(batch) - i))
				return
			}
			s.deliver(b, e)
		}

		clear(batch)
		s.mu.Lock()
		s.spare = batch[:0]
		s.mu.Unlock()
	}
}

func (s *subscriber) deliver(b *Bus, e *Envelope) {
	defer func() {
		b.pending.Add(-1)
		b.delivered.Add(1)
		if v := recover(); v != nil {
			b.panics.Add(1)
			slog.Error("events: bus subscriber panicked", "panic", v, "event_id", e.ID, "kind", e.Kind)
		}
	}()
	s.fn(e)
}
