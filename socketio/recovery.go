package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/realtimed/realtimed/socketio/engineio"
)

// Connection-state recovery (socket.io-client >= 4.6).
//
// With a Recovery set on a namespace (Namespace.SetRecovery), the CONNECT reply carries a
// private session id, pid, besides the socket id. The client then keeps the offset of the last
// event it received (the event's last argument, a string) and, when it reconnects, sends
// {pid, offset, ...auth} in its CONNECT. The server runs the middlewares as usual (credentials
// are checked again), asks the Recovery for the session, joins its rooms and reads the events
// the client missed, then answers with the same pid (the client sets socket.recovered) and
// writes the missed events right after the reply, in the same write.
//
// Why after, when Node's socket.io writes them before: the official client buffers events that
// arrive before the CONNECT reply and never clears that buffer when the connection drops. If a
// connection broke between missed events and the reply, the client would emit the buffered
// events after its next connection, on top of the same events replayed again (its offset did
// not move): duplicates. Written after the reply, each missed event is emitted as it arrives
// and moves the client's offset, so an interrupted replay resumes where it stopped. The client
// accepts either order: it sets socket.recovered before emitting "connect".
//
// Offsets are positions in the application's event stream: increasing positive integers, sent
// to clients as decimal strings (EncodeEventAt appends them). The package keeps no sessions and
// no events itself; the Recovery stores them (for instance in a database that several nodes
// share, so that a client may come back to any node).
//
// No gap, no duplicate: the recovering socket joins its rooms before the missed events are
// read, and broadcasts that reach it meanwhile are held. After the replay, the held packets are
// sent, except events whose offset the replay already covered and packets for rooms the socket
// left meanwhile, and from then on the socket drops any event whose offset is not above the
// last one the replay sent.

// Recovery stores sessions for connection-state recovery. Its methods run on the connection's
// reading goroutine (RoomsChanged: on the goroutine that changed the rooms) and may block on
// I/O for a short while.
type Recovery interface {
	// Save records the session of a socket that has just connected without recovering one:
	// s.PID() is its new private session id, s.Rooms() its rooms. It runs after the socket has
	// joined its rooms and before the CONNECT reply. If it fails with ErrRetryLater (wrapped),
	// the connection is closed and the client retries; with another error, the socket connects
	// without a pid (the client will not try to recover).
	Save(s *Socket) error
	// Restore returns the session pid to resume after offset (empty when the client received no
	// event), for a socket that the middlewares accepted again, or nil when there is none that
	// this socket may resume (unknown, expired, another user's): the socket then connects as a
	// new session. An error wrapping ErrRetryLater (the storage is unavailable) closes the
	// connection, so that the client retries later with the same pid and offset; another error
	// is logged and treated as nil.
	Restore(s *Socket, pid, offset string) (*Session, error)
	// RoomsChanged is called after a connected socket that has a pid joined or left rooms, with
	// its rooms and a version that increases with each change of this socket (calls may
	// overlap: keep the highest version). joined tells whether rooms were added: such a change
	// should be stored before RoomsChanged returns (whoever joined the socket acknowledges the
	// join afterwards, and a recovery must find the room). A change that only took rooms away
	// may be stored later: RoomsChanged then should not block (it runs, for instance, on the
	// goroutine that delivers revocations).
	RoomsChanged(s *Socket, rooms []string, version uint64, joined bool)
	// Disconnected is called once when a socket that has a pid leaves its namespace.
	// reason.Recoverable() tells whether its client will try to recover the session.
	Disconnected(s *Socket, reason DisconnectReason)
}

// Session is a stored session that Restore found and allows the socket to resume.
type Session struct {
	// After is the offset the replay resumes after: the client's offset, or where the session
	// began if the client received nothing. Events at or below it are never sent again.
	After int64
	// Rooms are joined again, besides the rooms the middlewares joined.
	Rooms []string
	// Replay passes every event of the session's rooms after After to emit, in offset order,
	// each encoded with EncodeEventAt. It runs once the socket is in its rooms, and may take it
	// out of rooms it may no longer be in (their held packets are then dropped). It stops and returns emit's error when emit fails (the
	// missed events exceed Options.RecoveryMaxBytes); the session is then not resumed. An
	// error wrapping ErrRetryLater closes the connection instead, as for Restore.
	Replay func(emit func(*Encoded) error) error
	// Abandoned, when set, is called if the session is not resumed after all (the replay
	// failed or overflowed): the socket then connects as a new session.
	Abandoned func()
}

// ErrReplayTooLarge is returned by the emit function of Session.Replay when the missed events
// exceed Options.RecoveryMaxBytes.
var ErrReplayTooLarge = errors.New("socket.io: the missed events exceed the recovery limit")

// Recoverable reports whether a client that was disconnected for this reason tries to recover
// its session when it reconnects (as in Node's socket.io: transport-level losses and server
// shutdown, not an explicit disconnect or a protocol error).
func (r DisconnectReason) Recoverable() bool {
	switch r {
	case ReasonTransportClose, ReasonTransportError, ReasonPingTimeout, ReasonForcedClose,
		ReasonServerShutdown, ReasonSlowConsumer:
		return true
	}
	return false
}

// SetRecovery enables connection-state recovery on the namespace. Call it before clients
// connect.
func (n *Namespace) SetRecovery(r Recovery) { n.recovery = r }

// EncodeEventAt encodes, for Broadcast, an event at offset (> 0) of the event stream: the
// offset is appended as the last argument, as a string, and sockets that already received it
// through a recovery replay are skipped.
func (n *Namespace) EncodeEventAt(offset int64, event string, args ...json.RawMessage) *Encoded {
	return EncodeEventAt(n.name, offset, event, args...)
}

// EncodeEventAt encodes an EVENT for the namespace nsp at offset (> 0) of the event stream:
// the offset is appended to args as a string.
func EncodeEventAt(nsp string, offset int64, event string, args ...json.RawMessage) *Encoded {
	all := make([]json.RawMessage, 0, len(args)+1)
	all = append(all, args...)
	all = append(all, strconv.AppendQuote(make([]byte, 0, 22), strconv.FormatInt(offset, 10)))
	e := encodeRaw(PacketEvent, nsp, noAck, event, all, nil)
	e.offset = offset
	return e
}

// Offset returns the stream offset of an event encoded with EncodeEventAt, 0 otherwise.
func (e *Encoded) Offset() int64 { return e.offset }

// PID returns the socket's private session id ("" without recovery).
func (s *Socket) PID() string { return s.pid }

// Recovered reports whether the socket resumed a previous session.
func (s *Socket) Recovered() bool { return s.recovered }

// recoveryRequest extracts the pid and offset a reconnecting client adds to its CONNECT auth.
func recoveryRequest(auth json.RawMessage) (pid, offset string) {
	if len(auth) == 0 {
		return "", ""
	}
	var req struct {
		PID    any `json:"pid"`
		Offset any `json:"offset"`
	}
	if json.Unmarshal(auth, &req) != nil {
		return "", ""
	}
	pid, _ = req.PID.(string)
	offset, _ = req.Offset.(string)
	return pid, offset
}

// holdBuffer keeps the packets broadcast to a socket while its missed events are replayed,
// with the rooms they were broadcast to.
type holdBuffer struct {
	mu       sync.Mutex
	items    []held
	bytes    int
	limit    int
	overflow bool
}

type held struct {
	e     *Encoded
	rooms []string // empty: the whole namespace
}

func (h *holdBuffer) add(e *Encoded, rooms []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.overflow {
		return
	}
	h.bytes += e.Size()
	if h.bytes > h.limit {
		h.overflow, h.items = true, nil
		return
	}
	h.items = append(h.items, held{e, rooms})
}

// due reports whether a held packet is still for the socket once its replay has sent
// everything up to offset last: not an event the replay covered, and broadcast to a room the
// socket is still in (the replay may have taken it out of rooms it may no longer be in).
// n.mu must be held.
func (h held) due(s *Socket, last int64) bool {
	if h.e.offset != 0 && h.e.offset <= last {
		return false
	}
	if len(h.rooms) == 0 {
		return true
	}
	for _, room := range h.rooms {
		if containsString(s.rooms, room) {
			return true
		}
	}
	return false
}

// replay collects a session's missed events within a byte budget.
type replay struct {
	events []*Encoded
	bytes  int
	limit  int
	last   int64
}

func (r *replay) emit(e *Encoded) error {
	if e.offset <= r.last {
		return fmt.Errorf("socket.io: replayed offset %d after %d: offsets must increase", e.offset, r.last)
	}
	r.bytes += e.Size()
	if r.bytes > r.limit {
		return ErrReplayTooLarge
	}
	r.events = append(r.events, e)
	r.last = e.offset
	return nil
}

// resume tries to resume the session the client asks for. It reports whether it did; when it
// did not, the socket is back in its pending state and connects as a new session, unless the
// error wraps ErrRetryLater: then the connection is to be closed.
func (n *Namespace) resume(s *Socket) (bool, error) {
	pid, offset := recoveryRequest(s.auth)
	if pid == "" {
		return false, nil
	}
	log := n.srv.log.WithField("sid", s.id)
	sess, err := n.recovery.Restore(s, pid, offset)
	if errors.Is(err, ErrRetryLater) {
		return false, err
	}
	if err != nil {
		log.WithError(err).Warn("socket.io: session not recovered")
		return false, nil
	}
	if sess == nil {
		return false, nil
	}
	base := s.Rooms()
	s.Join(sess.Rooms...)
	hold := &holdBuffer{limit: n.srv.opts.RecoveryMaxBytes}
	n.mu.Lock()
	n.attachLocked(s)
	s.hold = hold
	n.mu.Unlock()

	r := &replay{limit: n.srv.opts.RecoveryMaxBytes, last: sess.After}
	err = sess.Replay(r.emit)
	hold.mu.Lock()
	overflow := hold.overflow
	hold.mu.Unlock()
	if err == nil && overflow {
		err = errors.New("socket.io: too many live events while replaying")
	}
	if err != nil {
		n.detach(s, base)
		if errors.Is(err, ErrRetryLater) {
			return false, err
		}
		log.WithError(err).Warn("socket.io: session not recovered; connecting as a new session")
		if sess.Abandoned != nil {
			sess.Abandoned()
		}
		return false, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	// Under n.mu: the socket is connected already, and a revocation may be reading its pid
	// (roomsChangedLocked).
	s.pid, s.recovered = pid, true
	s.hold, s.floor = nil, r.last
	s.client.send(n.connectReply(s))
	for _, e := range r.events {
		s.client.send(e.msgs...)
	}
	for _, h := range hold.items {
		if h.due(s, r.last) {
			s.client.send(h.e.msgs...)
		}
	}
	return true, nil
}

// detach undoes a failed resume: the socket leaves every room and is pending again, with the
// rooms the middlewares gave it.
func (n *Namespace) detach(s *Socket, rooms []string) {
	defer n.releaseHeld(s, rooms)
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, room := range s.rooms {
		n.unindex(s, room)
	}
	delete(n.sockets, s.id)
	s.state, s.rooms, s.hold, s.floor = socketPending, rooms, nil, 0
}

// connectReply encodes the CONNECT reply: the socket id, and the pid with recovery.
func (n *Namespace) connectReply(s *Socket) *engineio.Message {
	reply, _ := json.Marshal(struct {
		SID string `json:"sid"`
		PID string `json:"pid,omitempty"`
	}{s.id, s.pid})
	return encodeText(PacketConnect, n.name, noAck, reply)
}
