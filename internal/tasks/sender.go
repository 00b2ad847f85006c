package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/agh-dev/agh/internal/automation"
	"github.com/agh-dev/agh/internal/clock"
	"github.com/agh-dev/agh/internal/config"
	"github.com/agh-dev/agh/internal/store"
	"github.com/agh-dev/agh/internal/webhook"
)

// Delivery rules of SPEC §11.5.
const (
	// MaxAttempts is the number of attempts before a notification is abandoned.
	MaxAttempts = 6
	// AttemptTimeout bounds one attempt.
	AttemptTimeout = 10 * time.Second
	// maxParallel bounds concurrent attempts (over all tasks).
	maxParallel = 8
	// pendingBatch is how many pending notifications one pass looks at.
	pendingBatch = 1000
)

// Backoff returns the delay after the n-th failed attempt: 1 s, 2 s, 4 s, 8 s, 16 s.
func Backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	return time.Second << (n - 1)
}

// SenderOptions configure a Sender.
type SenderOptions struct {
	Store  store.Store
	Clock  clock.Clock
	Log    *slog.Logger
	Config func() *config.Config
	// UserAgent is sent with every attempt ("agh/<version>").
	UserAgent string
	// RunsChanged is called after delegated runs got a delivery_error (may be nil).
	RunsChanged func(runs []*automation.Run)
	// Result is called with "delivered" or "abandoned" when a notification is settled (may be nil).
	Result func(result string)
	// Transport overrides the HTTP transport (nil: a clone of http.DefaultTransport).
	Transport http.RoundTripper
}

// Sender delivers the outbox: pending notifications, at least once each, in order per task.
type Sender struct {
	o      SenderOptions
	client *http.Client
	wake   chan struct{}

	mu       sync.Mutex
	inflight map[string]bool
	wg       sync.WaitGroup
}

// NewSender returns a sender; call Run to start delivering.
func NewSender(o SenderOptions) *Sender {
	tr := o.Transport
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Sender{
		o: o,
		client: &http.Client{
			Transport: tr,
			Timeout:   AttemptTimeout,
			// Redirects are not followed: a 3xx answer is a failed attempt.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		wake:     make(chan struct{}, 1),
		inflight: map[string]bool{},
	}
}

// Wake asks the sender to look at the outbox now.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for the attempts in flight (which ctx cancels; an
// attempt cut short by shutdown is not counted).
func (s *Sender) Run(ctx context.Context) {
	defer s.wg.Wait()
	timer := s.o.Clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait, err := s.pass(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.o.Log.Error("notification outbox failed", "component", "channels", "err", err)
			wait = time.Second
		}
		if !clock.Sleep(ctx, timer, wait, s.wake) {
			return
		}
	}
}

// pass starts every due attempt it may and returns how long to sleep before looking again.
func (s *Sender) pass(ctx context.Context) (time.Duration, error) {
	pending, err := s.o.Store.PendingNotifications(ctx, pendingBatch)
	if err != nil {
		return time.Second, err
	}
	now := s.o.Clock.Now()
	wait := time.Hour
	heads := map[string]bool{} // tasks whose earliest pending notification was seen
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range pending {
		// task.created is delivered or abandoned before task.ended of the same task.
		if heads[n.TaskID] {
			continue
		}
		heads[n.TaskID] = true
		if s.inflight[n.ID] {
			continue
		}
		if d := n.NextAttemptAt.Sub(now); d > 0 {
			wait = min(wait, d)
			continue
		}
		if len(s.inflight) >= maxParallel {
			continue // a finishing attempt wakes us
		}
		s.inflight[n.ID] = true
		s.wg.Add(1)
		go func(n *automation.Notification) {
			defer s.wg.Done()
			s.attempt(ctx, n)
			s.mu.Lock()
			delete(s.inflight, n.ID)
			s.mu.Unlock()
			s.Wake()
		}(n)
	}
	return wait, nil
}

// attempt makes one delivery attempt and records its result.
func (s *Sender) attempt(ctx context.Context, n *automation.Notification) {
	ch := s.o.Config().Channels[n.Channel]
	if ch == nil {
		s.abandon(n, fmt.Sprintf("channel %q is not configured", n.Channel))
		return
	}
	// Claim the attempt, so that one sender (one node) makes it; the claim lapses after the
	// attempt's timeout if this process dies meanwhile.
	var claimed bool
	err := s.o.Store.Write(context.Background(), func(tx store.Tx) error {
		var err error
		claimed, err = tx.ClaimNotification(n.ID, n.Attempts, n.NextAttemptAt, s.o.Clock.Now().UTC().Add(AttemptTimeout+5*time.Second))
		return err
	})
	if err != nil || !claimed {
		return
	}
	err = s.post(ctx, ch, n)
	if err != nil && ctx.Err() != nil {
		// Cut short by shutdown: the attempt does not count and is repeated after restart.
		c := *n
		_ = s.o.Store.Write(context.Background(), func(tx store.Tx) error { return tx.UpdateNotification(&c) })
		return
	}
	now := s.o.Clock.Now().UTC()
	c := *n
	c.Attempts++
	c.UpdatedAt = now
	switch {
	case err == nil:
		c.Status, c.LastError = automation.NotificationDelivered, ""
		defer s.result(automation.NotificationDelivered)
		s.o.Log.Info("channel notification delivered", "component", "channels", "channel", n.Channel,
			"notification_id", n.ID, "type", n.Type, "task_id", n.TaskID, "attempts", c.Attempts)
	case c.Attempts >= MaxAttempts:
		s.abandonAttempted(&c, fmt.Sprintf("channel %q: %s", n.Channel, err.Error()))
		return
	default:
		c.LastError = err.Error()
		c.NextAttemptAt = now.Add(Backoff(c.Attempts))
		s.o.Log.Warn("channel notification attempt failed", "component", "channels", "channel", n.Channel,
			"notification_id", n.ID, "attempt", c.Attempts, "err", err.Error())
	}
	if err := s.o.Store.Write(context.Background(), func(tx store.Tx) error { return tx.UpdateNotification(&c) }); err != nil {
		s.o.Log.Error("record notification attempt failed", "component", "channels", "notification_id", n.ID, "err", err)
	}
}

func (s *Sender) abandon(n *automation.Notification, msg string) {
	c := *n
	c.UpdatedAt = s.o.Clock.Now().UTC()
	s.abandonAttempted(&c, msg)
}

// abandonAttempted marks the notification abandoned and records msg as the delegated run's
// delivery_error, in one transaction (SPEC §5.5, §11.5).
func (s *Sender) abandonAttempted(n *automation.Notification, msg string) {
	now := n.UpdatedAt
	n.Status, n.LastError = automation.NotificationAbandoned, msg
	var changed *automation.Run
	err := s.o.Store.Write(context.Background(), func(tx store.Tx) error {
		changed = nil
		if err := tx.UpdateNotification(n); err != nil {
			return err
		}
		if n.RunID == "" {
			return nil
		}
		r, err := tx.GetRun(context.Background(), n.RunID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		c := *r
		c.DeliveryError, c.DeliveryErrorAt = msg, now
		ok, err := tx.UpdateRun(&c, r.Status)
		if ok {
			changed = &c
		}
		return err
	})
	if err != nil {
		s.o.Log.Error("record abandoned notification failed", "component", "channels", "notification_id", n.ID, "err", err)
		return
	}
	s.result(automation.NotificationAbandoned)
	s.o.Log.Warn("channel notification abandoned", "component", "channels", "channel", n.Channel,
		"notification_id", n.ID, "type", n.Type, "task_id", n.TaskID, "err", msg)
	if changed != nil && s.o.RunsChanged != nil {
		s.o.RunsChanged([]*automation.Run{changed})
	}
}

func (s *Sender) result(r string) {
	if s.o.Result != nil {
		s.o.Result(r)
	}
}

// post sends the notification once, signed with the agh scheme at the current time.
func (s *Sender) post(ctx context.Context, ch *config.Channel, n *automation.Notification) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.URL, bytes.NewReader(n.Body))
	if err != nil {
		return err
	}
	for k, v := range webhook.Sign(webhook.SchemeAGH, []byte(ch.Secret), n.Body, s.o.Clock.Now(), n.ID) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.o.UserAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
