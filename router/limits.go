package router

import (
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio"
)

// bucket is a token bucket: up to burst events at once, refilled at rate per second. Its zero
// value is full on first use.
type bucket struct {
	tokens  float64
	last    time.Time
	started bool
}

// allow takes a token if there is one.
func (b *bucket) allow(now time.Time, rate float64, burst float64) bool {
	if !b.started {
		b.started, b.tokens, b.last = true, burst, now
	} else if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(burst, b.tokens+elapsed*rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// eventBytes is the size of an event's arguments (JSON and binary attachments).
func eventBytes(e *socketio.Event) int {
	n := len(e.Name)
	for _, a := range e.Args {
		n += len(a)
	}
	for _, a := range e.Attachments {
		n += len(a)
	}
	return n
}

// guard applies the per-socket limits to a client event handler: events over the size limit
// and events beyond the socket's rate are dropped, and answered with an error when the client
// asked for an ack.
func (r *Router) guard(h socketio.EventHandler) socketio.EventHandler {
	return func(s *socketio.Socket, e *socketio.Event) {
		c := ClientOf(s)
		if c == nil {
			return
		}
		if n := eventBytes(e); n > r.cmds.Limits.MaxEventBytes {
			r.log.WithFields(logrus.Fields{"sid": s.ID(), "user": c.UserID, "event": e.Name, "bytes": n}).
				Info("client event over the size limit; dropped")
			reply(e, failAck(ErrTooLarge))
			return
		}
		rate := r.cmds.Limits.EventRate
		if !c.events.allow(time.Now(), rate, 2*rate) {
			entry := r.log.WithFields(logrus.Fields{"sid": s.ID(), "user": c.UserID, "event": e.Name})
			if !c.limitedLogged {
				c.limitedLogged = true
				entry.Info("client events over the rate limit; dropping them (logged once per socket)")
			} else {
				entry.Debug("client event over the rate limit; dropped")
			}
			reply(e, failAck(ErrRateLimited))
			return
		}
		h(s, e)
	}
}
