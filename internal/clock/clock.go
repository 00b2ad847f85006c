// Package clock abstracts time so that every time-dependent rule can be driven by a fake clock
// in tests (DST transitions, downtime, retry waits) without sleeping.
package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is the subset of *time.Timer the product uses.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// Sleep resets t to d and waits until it fires, a value arrives on wake, or ctx ends. It
// reports false when ctx ended. It is the wait of the loops that sleep until their next due
// instant unless woken earlier (scheduler, dispatcher, notification sender).
func Sleep(ctx context.Context, t Timer, d time.Duration, wake <-chan struct{}) bool {
	t.Reset(d)
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
	case <-wake:
		t.Stop()
	}
	return true
}

// Real is the system clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

// Fake is a manually advanced clock. Timers fire when Advance or Set moves the time past
// their deadline. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

// NewFake returns a fake clock set to now.
func NewFake(now time.Time) *Fake { return &Fake{now: now} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d and fires due timers.
func (f *Fake) Advance(d time.Duration) { f.Set(f.Now().Add(d)) }

// Set moves the clock to t (which may be earlier, as a wall clock may) and fires due timers.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now = t
	var due []*fakeTimer
	keep := f.timers[:0]
	for _, ft := range f.timers {
		if !ft.deadline.After(t) {
			due = append(due, ft)
		} else {
			keep = append(keep, ft)
		}
	}
	f.timers = keep
	// Sorted under the lock: a timer's deadline changes (Reset) under it.
	sort.Slice(due, func(i, j int) bool { return due[i].deadline.Before(due[j].deadline) })
	f.mu.Unlock()
	for _, ft := range due {
		select {
		case ft.c <- t:
		default:
		}
	}
}

// Timers reports how many timers are waiting; tests use it to know a goroutine went to sleep.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// NewTimer returns a timer driven by Advance/Set.
func (f *Fake) NewTimer(d time.Duration) Timer {
	ft := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	ft.Reset(d)
	return ft
}

type fakeTimer struct {
	f        *Fake
	c        chan time.Time
	deadline time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	for i, ft := range t.f.timers {
		if ft == t {
			t.f.timers = append(t.f.timers[:i], t.f.timers[i+1:]...)
			return true
		}
	}
	return false
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	active := t.Stop()
	t.f.mu.Lock()
	t.deadline = t.f.now.Add(d)
	if d <= 0 {
		now := t.f.now
		t.f.mu.Unlock()
		select {
		case t.c <- now:
		default:
		}
		return active
	}
	t.f.timers = append(t.f.timers, t)
	t.f.mu.Unlock()
	return active
}
