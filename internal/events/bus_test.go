package events

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder collects the ids of the envelopes a subscriber receives.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) handle(e *Envelope) {
	r.mu.Lock()
	r.ids = append(r.ids, e.ID)
	r.mu.Unlock()
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

func envs(n int) []*Envelope {
	out := make([]*Envelope, n)
	for i := range out {
		out[i] = &Envelope{ID: fmt.Sprintf("evt_%04d", i), Kind: "ext.test"}
	}
	return out
}

func ids(es []*Envelope) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBusDeliversInOrderToEverySubscriber(t *testing.T) {
	b := NewBus()
	var r1, r2 recorder
	b.Subscribe(r1.handle)
	b.Subscribe(r2.handle)
	es := envs(500)
	for _, e := range es {
		b.Publish(e)
	}
	b.Close()
	want := ids(es)
	if !equalStrings(r1.got(), want) || !equalStrings(r2.got(), want) {
		t.Fatalf("subscribers got %d and %d envelopes, want %d in order", len(r1.got()), len(r2.got()), len(want))
	}
	st := b.Stats()
	if st.Published != 500 || st.Delivered != 1000 || st.Pending != 0 || st.Dropped != 0 || st.Subscribers != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestBusSharesTheEnvelopePointer(t *testing.T) {
	b := NewBus()
	e := &Envelope{ID: "evt_1"}
	got := make(chan *Envelope, 1)
	b.Subscribe(func(x *Envelope) { got <- x })
	b.Publish(e)
	b.Close()
	if <-got != e {
		t.Error("subscriber got a different pointer")
	}
}

// TestBusPublishDoesNotWaitForHandlers: a blocked handler neither blocks Publish nor the other
// subscribers, and nothing is dropped.
func TestBusPublishDoesNotWaitForHandlers(t *testing.T) {
	b := NewBus()
	release := make(chan struct{})
	var slow recorder
	b.Subscribe(func(e *Envelope) {
		<-release
		slow.handle(e)
	})
	var fast recorder
	fastDone := make(chan struct{})
	b.Subscribe(func(e *Envelope) {
		fast.handle(e)
		if e.ID == "evt_0999" {
			close(fastDone)
		}
	})
	es := envs(1000)
	published := make(chan struct{})
	go func() {
		for _, e := range es {
			b.Publish(e)
		}
		close(published)
	}()
	select {
	case <-published:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked behind a slow handler")
	}
	select {
	case <-fastDone:
	case <-time.After(5 * time.Second):
		t.Fatal("fast subscriber blocked behind a slow one")
	}
	if p := b.Stats().Pending; p < 999 {
		t.Errorf("pending = %d, want the slow subscriber's backlog (≥ 999)", p)
	}
	close(release)
	b.Close()
	if !equalStrings(slow.got(), ids(es)) || !equalStrings(fast.got(), ids(es)) {
		t.Errorf("slow got %d, fast got %d, want %d each", len(slow.got()), len(fast.got()), len(es))
	}
}

func TestBusHandlersRunOneAtATime(t *testing.T) {
	b := NewBus()
	var active, maxActive atomic.Int32
	b.Subscribe(func(*Envelope) {
		n := active.Add(1)
		for {
			m := maxActive.Load()
			if n <= m || maxActive.CompareAndSwap(m, n) {
				break
			}
		}
		runtime.Gosched()
		active.Add(-1)
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, e := range envs(50) {
				b.Publish(e)
			}
		})
	}
	wg.Wait()
	b.Close()
	if maxActive.Load() != 1 {
		t.Errorf("handler ran %d times concurrently", maxActive.Load())
	}
}

// TestBusConcurrentPublishersSameOrder: concurrent publications reach all subscribers in the
// same order, and each publisher's envelopes keep their relative order.
func TestBusConcurrentPublishersSameOrder(t *testing.T) {
	b := NewBus()
	var r1, r2 recorder
	b.Subscribe(r1.handle)
	b.Subscribe(r2.handle)
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			for i := range 200 {
				b.Publish(&Envelope{ID: fmt.Sprintf("%d-%04d", p, i)})
			}
		})
	}
	wg.Wait()
	b.Close()
	a, c := r1.got(), r2.got()
	if len(a) != 800 || !equalStrings(a, c) {
		t.Fatalf("got %d and %d envelopes, same order: %v", len(a), len(c), equalStrings(a, c))
	}
	last := map[byte]string{}
	for _, id := range a {
		if prev, ok := last[id[0]]; ok && prev >= id {
			t.Fatalf("publisher %c out of order: %s after %s", id[0], id, prev)
		}
		last[id[0]] = id
	}
}

func TestBusSubscribeSeesOnlyLaterEnvelopes(t *testing.T) {
	b := NewBus()
	b.Publish(&Envelope{ID: "before"})
	var r recorder
	b.Subscribe(r.handle)
	b.Publish(&Envelope{ID: "after"})
	b.Close()
	if got := r.got(); !equalStrings(got, []string{"after"}) {
		t.Errorf("got %v", got)
	}
}

func TestBusUnsubscribe(t *testing.T) {
	b := NewBus()
	defer b.Close()
	block := make(chan struct{})
	started := make(chan struct{})
	var r recorder
	unsubscribe := b.Subscribe(func(e *Envelope) {
		if e.ID == "evt_0000" {
			close(started)
			<-block
		}
		r.handle(e)
	})
	var other recorder
	b.Subscribe(other.handle)
	for _, e := range envs(10) {
		b.Publish(e)
	}
	<-started
	unsubscribe() // while evt_0000 is being handled: must not wait for it
	unsubscribe() // idempotent
	close(block)
	b.Publish(&Envelope{ID: "late"})
	b.Close()
	if got := r.got(); !equalStrings(got, []string{"evt_0000"}) {
		t.Errorf("unsubscribed handler got %v, want only the envelope in progress", got)
	}
	if n := len(other.got()); n != 11 {
		t.Errorf("other subscriber got %d envelopes, want 11", n)
	}
	if st := b.Stats(); st.Pending != 0 || st.Subscribers != 0 {
		t.Errorf("stats after close = %+v", st)
	}
}

func TestBusUnsubscribeFromHandler(t *testing.T) {
	b := NewBus()
	var r recorder
	var unsubscribe func()
	ready := make(chan struct{})
	unsubscribe = b.Subscribe(func(e *Envelope) {
		<-ready
		r.handle(e)
		unsubscribe()
	})
	close(ready)
	for _, e := range envs(5) {
		b.Publish(e)
	}
	b.Close()
	if got := r.got(); !equalStrings(got, []string{"evt_0000"}) {
		t.Errorf("got %v", got)
	}
}

func TestBusCloseDrains(t *testing.T) {
	b := NewBus()
	var n atomic.Int32
	release := make(chan struct{})
	b.Subscribe(func(*Envelope) {
		<-release
		n.Add(1)
	})
	for _, e := range envs(200) {
		b.Publish(e)
	}
	time.AfterFunc(5*time.Millisecond, func() { close(release) })
	b.Close()
	if n.Load() != 200 {
		t.Errorf("handled %d envelopes before Close returned, want 200", n.Load())
	}
}

func TestBusAfterClose(t *testing.T) {
	b := NewBus()
	var r recorder
	b.Subscribe(r.handle)
	b.Close()
	b.Close() // idempotent
	b.Publish(&Envelope{ID: "dropped"})
	b.Publish(nil)
	called := false
	unsubscribe := b.Subscribe(func(*Envelope) { called = true })
	unsubscribe()
	b.Publish(&Envelope{ID: "dropped2"})
	if len(r.got()) != 0 || called {
		t.Error("envelope delivered after Close")
	}
	if st := b.Stats(); st.Dropped != 2 || st.Published != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestBusConcurrentClose(t *testing.T) {
	b := NewBus()
	var r recorder
	b.Subscribe(r.handle)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for _, e := range envs(100) {
				b.Publish(e)
			}
		})
	}
	wg.Go(b.Close)
	wg.Go(b.Close)
	wg.Wait()
	st := b.Stats()
	if uint64(len(r.got())) != st.Published || st.Published+st.Dropped != 300 {
		t.Errorf("delivered %d, stats %+v", len(r.got()), st)
	}
}

func TestBusRecoversFromPanics(t *testing.T) {
	b := NewBus()
	var r recorder
	b.Subscribe(func(e *Envelope) {
		if e.ID == "evt_0001" {
			panic("boom")
		}
		r.handle(e)
	})
	for _, e := range envs(3) {
		b.Publish(e)
	}
	b.Close()
	if got := r.got(); !equalStrings(got, []string{"evt_0000", "evt_0002"}) {
		t.Errorf("got %v", got)
	}
	if st := b.Stats(); st.Panics != 1 || st.Delivered != 3 {
		t.Errorf("stats = %+v", st)
	}
}

// TestBusPublishFromHandler: a handler may publish (the trigger engine publishes nothing itself,
// but session events caused by runs come back through the bus).
func TestBusPublishFromHandler(t *testing.T) {
	b := NewBus()
	var r recorder
	done := make(chan struct{})
	b.Subscribe(func(e *Envelope) {
		r.handle(e)
		if e.Depth < MaxDepth {
			b.Publish(&Envelope{ID: fmt.Sprintf("evt_depth%d", e.Depth+1), Depth: e.Depth + 1})
		} else {
			close(done)
		}
	})
	b.Publish(&Envelope{ID: "evt_depth0"})
	<-done
	b.Close()
	if got := r.got(); !equalStrings(got, []string{"evt_depth0", "evt_depth1", "evt_depth2", "evt_depth3"}) {
		t.Errorf("got %v", got)
	}
}

func BenchmarkBusPublish(b *testing.B) {
	bus := NewBus()
	bus.Subscribe(func(*Envelope) {})
	e := &Envelope{ID: "evt_1"}
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(e)
	}
	bus.Close()
}
