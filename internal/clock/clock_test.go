package clock

import (
	"context"
	"testing"
	"time"
)

// TestSleep checks the three ways out of Sleep on a fake clock: the timer fires, a wake-up
// arrives first, or the context ends.
func TestSleep(t *testing.T) {
	f := NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	timer := f.NewTimer(time.Hour)
	timer.Stop()
	wake := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sleep := func() <-chan bool {
		out := make(chan bool, 1)
		go func() { out <- Sleep(ctx, timer, time.Minute, wake) }()
		return out
	}
	waitAsleep := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for f.Timers() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("Sleep did not arm its timer")
			}
			time.Sleep(time.Millisecond)
		}
	}
	result := func(out <-chan bool) bool {
		t.Helper()
		select {
		case ok := <-out:
			return ok
		case <-time.After(5 * time.Second):
			t.Fatal("Sleep did not return")
			return false
		}
	}

	out := sleep()
	waitAsleep()
	f.Advance(59 * time.Second)
	select {
	case <-out:
		t.Fatal("Sleep returned before its delay")
	case <-time.After(20 * time.Millisecond):
	}
	f.Advance(time.Second)
	if !result(out) {
		t.Fatal("Sleep reported a done context when its timer fired")
	}

	out = sleep()
	waitAsleep()
	wake <- struct{}{}
	if !result(out) {
		t.Fatal("Sleep reported a done context when woken")
	}
	if n := f.Timers(); n != 0 {
		t.Fatalf("a woken Sleep left its timer armed (%d timers)", n)
	}

	out = sleep()
	waitAsleep()
	cancel()
	if result(out) {
		t.Fatal("Sleep reported true after its context ended")
	}
}
