package engineio

import (
	"net/http"
	"sync/atomic"
	"time"
)

// A session is pending from its handshake until the layer above admits it (Conn.Admit: for
// Socket.IO, when a namespace accepted its CONNECT). A pending session may send only messages of
// Options.PendingMaxPayload, and a server holds at most Options.MaxPending of them: whoever
// opens connections without authenticating holds a small, bounded share of the node's memory,
// whatever the configured limits of authenticated clients.

// Values of Conn.admission.
const (
	admissionPending int32 = iota
	admissionAdmitted
	admissionEnded // finished without being admitted
)

// pendingRetryAfter is the Retry-After of a handshake refused because too many sessions are
// pending: about how long a pending session lasts when its client does not authenticate.
const pendingRetryAfter = 2 * time.Second

// Admit lifts the connection's pending limits: from now on its messages may be as large as
// Options.MaxPayload, and it no longer counts against Options.MaxPending. Call it once the
// client has authenticated; later calls do nothing.
func (c *Conn) Admit() {
	if c.admission.CompareAndSwap(admissionPending, admissionAdmitted) {
		c.srv.pending.Add(-1)
	}
}

// Admitted reports whether Admit was called.
func (c *Conn) Admitted() bool { return c.admission.Load() == admissionAdmitted }

// endPending releases the pending place of a session that ends without being admitted.
func (c *Conn) endPending() {
	if c.admission.CompareAndSwap(admissionPending, admissionEnded) {
		c.srv.pending.Add(-1)
	}
}

// maxMessage is the largest message the connection may send now. It implements messageLimit.
func (c *Conn) maxMessage() int {
	if c.srv.opts.PendingMaxPayload > 0 && c.admission.Load() != admissionAdmitted {
		return c.srv.opts.PendingMaxPayload
	}
	return c.srv.opts.MaxPayload
}

// Pending returns the number of sessions not yet admitted.
func (s *Server) Pending() int { return int(s.pending.Load()) }

// reservePending takes a pending place for a new session, unless Options.MaxPending are taken.
// The place belongs to the session created next (newConn); release it with s.pending.Add(-1)
// if none is.
func (s *Server) reservePending() bool {
	n := s.pending.Add(1)
	if max := s.opts.MaxPending; max > 0 && n > int64(max) {
		s.pending.Add(-1)
		return false
	}
	return true
}

// refusePending answers a handshake refused because Options.MaxPending sessions are pending,
// and logs it at warn level at most once per pendingWarnEvery.
func (s *Server) refusePending(w http.ResponseWriter, r *http.Request) {
	err := &RequestError{Status: http.StatusServiceUnavailable, Message: "Too many connections waiting to authenticate",
		RetryAfter: pendingRetryAfter}
	s.logRefused(r, err.Status, codeForbidden, "too many pending sessions")
	if now := time.Now().UnixNano(); now-s.pendingWarned.Load() >= int64(pendingWarnEvery) {
		s.pendingWarned.Store(now)
		s.log.WithField("pending", s.Pending()).WithField("max", s.opts.MaxPending).
			Warn("engine.io: refusing handshakes: too many connections have not authenticated")
	}
	writeRefusal(w, err)
}

// pendingWarnEvery spaces the warnings of refusePending.
const pendingWarnEvery = 10 * time.Second

// serverPending is the part of Server that counts pending sessions.
type serverPending struct {
	pending       atomic.Int64
	pendingWarned atomic.Int64 // when refusePending last warned, in ns since the Unix epoch
}
