package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// StreamBacklog is how many events a stream client may fall behind before the server closes
// its connection (SPEC §16.4).
const StreamBacklog = 1024

// KeepaliveInterval is the period of ": keepalive" comments.
var KeepaliveInterval = 15 * time.Second

// Broker fans committed changes out to change-stream clients.
type Broker struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ch     chan streamEvent
	closed bool
}

type streamEvent struct {
	name string
	data []byte
}

// Publish sends one event to every client; a client whose backlog is full is disconnected.
func (b *Broker) Publish(name string, payload any) {
	data, err := json.Marshal(payload)
	if err != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.ch <- streamEvent{name, data}:
		default:
			close(s.ch)
			s.closed = true
			delete(b.subs, s)
		}
	}
}

// Clients returns the number of connected stream clients.
func (b *Broker) Clients() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

func (b *Broker) subscribe() *subscriber {
	s := &subscriber{ch: make(chan streamEvent, StreamBacklog)}
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[*subscriber]struct{}{}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

func (b *Broker) unsubscribe(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !s.closed {
		delete(b.subs, s)
	}
}

// stream serves GET /api/automation/stream.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the stream is exempt from the write timeout
	sub := s.Broker.subscribe()
	defer s.Broker.unsubscribe(sub)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(200)
	hello, _ := json.Marshal(map[string]string{"node_id": s.svc.Config().NodeID, "version": Version})
	seq := 0
	write := func(name string, data []byte) error {
		seq++
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", seq, name, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	if write("hello", hello) != nil {
		return
	}
	keep := time.NewTicker(KeepaliveInterval)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-sub.ch:
			if !ok {
				return // fell too far behind
			}
			if write(ev.name, ev.data) != nil {
				return
			}
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
