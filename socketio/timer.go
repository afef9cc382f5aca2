package socketio

import (
	"time"

	"github.com/realtimed/realtimed/socketio/internal/sched"
)

// Timer is a one-shot timer fired by the server's scheduler: the one goroutine that also runs
// every connection's heartbeat. Any number of Timers cost no goroutine and no runtime timer
// each, so applications can keep per-socket deadlines (credentials that expire, indicators
// that time out) without a timer per connection.
//
// Its function runs on the scheduler goroutine: it must return quickly and never block
// (closing a connection or queueing a packet is fine). Firing and Stop can race, so the
// function may run once just after a Stop; it should check its own state.
type Timer struct {
	s *sched.Scheduler
	t sched.Timer
}

// NewTimer returns a stopped timer that calls f when it fires.
func (s *Server) NewTimer(f func()) *Timer {
	return &Timer{s: s.engine.Scheduler(), t: *sched.NewTimer(f)}
}

// NewTimer returns a stopped timer on the namespace's server (see Server.NewTimer).
func (n *Namespace) NewTimer(f func()) *Timer { return n.srv.NewTimer(f) }

// Reset (re)schedules the timer to fire once after d, replacing any earlier schedule. A
// negative or zero d fires it as soon as possible.
func (t *Timer) Reset(d time.Duration) { t.s.Reset(&t.t, d) }

// Stop unschedules the timer. It reports whether the timer was scheduled.
func (t *Timer) Stop() bool { return t.s.Stop(&t.t) }
