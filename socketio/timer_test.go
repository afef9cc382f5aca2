package socketio_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtimed/realtimed/socketio"
)

func TestTimer(t *testing.T) {
	srv := socketio.NewServer(socketio.Options{})
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	t.Run("fires once after Reset", func(t *testing.T) {
		fired := make(chan time.Time, 2)
		tm := srv.NewTimer(func() { fired <- time.Now() })
		start := time.Now()
		tm.Reset(50 * time.Millisecond)
		select {
		case at := <-fired:
			if d := at.Sub(start); d < 50*time.Millisecond {
				t.Fatalf("fired after %v, before its deadline", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("did not fire")
		}
		if tm.Stop() {
			t.Fatal("Stop after firing reports the timer scheduled")
		}
		select {
		case <-fired:
			t.Fatal("fired twice")
		case <-time.After(100 * time.Millisecond):
		}
	})

	t.Run("Stop prevents firing", func(t *testing.T) {
		var fired atomic.Bool
		tm := srv.NewTimer(func() { fired.Store(true) })
		tm.Reset(50 * time.Millisecond)
		if !tm.Stop() {
			t.Fatal("Stop of a scheduled timer reports it unscheduled")
		}
		// A later timer firing proves the scheduler went past the stopped one's deadline.
		done := make(chan struct{})
		srv.NewTimer(func() { close(done) }).Reset(150 * time.Millisecond)
		<-done
		if fired.Load() {
			t.Fatal("a stopped timer fired")
		}
	})

	t.Run("Reset replaces the earlier deadline", func(t *testing.T) {
		fired := make(chan time.Time, 2)
		tm := srv.NewTimer(func() { fired <- time.Now() })
		tm.Reset(time.Hour)
		start := time.Now()
		tm.Reset(20 * time.Millisecond)
		select {
		case at := <-fired:
			if at.Sub(start) < 20*time.Millisecond {
				t.Fatal("fired before its new deadline")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the earlier (one hour) deadline was kept")
		}
	})

	t.Run("namespace timers use the server's scheduler", func(t *testing.T) {
		done := make(chan struct{})
		srv.Of("/").NewTimer(func() { close(done) }).Reset(0)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("did not fire")
		}
	})
}
