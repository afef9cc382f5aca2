package socketio

import (
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Middleware runs when a client asks to join a namespace, before it is connected. Returning an
// error refuses the connection: a *ConnectError is sent to the client as is; any other error is
// logged and sent as "server error". Middlewares may set Socket.Data and Join rooms.
type Middleware func(s *Socket) error

// EventHandler handles an event from a client. It runs on the connection's reading goroutine,
// so events of one socket are handled in order.
type EventHandler func(s *Socket, e *Event)

// Namespace is a Socket.IO namespace: its sockets, rooms and handlers. Configure it before
// clients connect; the handler setters are not safe to call while serving.
type Namespace struct {
	name string
	srv  *Server

	middlewares  []Middleware
	handlers     map[string]EventHandler
	fallback     EventHandler
	onConnect    func(*Socket)
	onDisconnect func(*Socket, DisconnectReason)
	recovery     Recovery
	observer     Observer
	interest     Interest

	mu      sync.RWMutex
	sockets map[string]*Socket
	rooms   map[string]map[*Socket]struct{}

	bcastMu  sync.Mutex
	bcastSeq uint64

	lastSmall atomic.Int64 // when the last small broadcast ended, in ns since epoch
}

func newNamespace(s *Server, name string) *Namespace {
	return &Namespace{
		name:     name,
		srv:      s,
		handlers: make(map[string]EventHandler),
		sockets:  make(map[string]*Socket),
		rooms:    make(map[string]map[*Socket]struct{}),
	}
}

// Name returns the namespace's name ("/" for the main one).
func (n *Namespace) Name() string { return n.name }

// Use adds a middleware. Middlewares run in the order they were added.
func (n *Namespace) Use(m Middleware) { n.middlewares = append(n.middlewares, m) }

// On sets the handler of a client event.
func (n *Namespace) On(event string, h EventHandler) { n.handlers[event] = h }

// OnUnknown sets the handler for client events that have no handler of their own.
func (n *Namespace) OnUnknown(h EventHandler) { n.fallback = h }

// OnConnection sets the function called after a socket connected (its CONNECT reply is queued).
func (n *Namespace) OnConnection(f func(*Socket)) { n.onConnect = f }

// OnDisconnect sets the function called once when a socket leaves the namespace.
func (n *Namespace) OnDisconnect(f func(*Socket, DisconnectReason)) { n.onDisconnect = f }

// Observer is told what happens to the sockets of a namespace, for a view of them from outside
// (the Socket.IO Admin UI). Its methods run on the goroutine where it happens (a connection's
// reading goroutine, a broadcast, a timer), never under the namespace's lock, and must be
// quick. Connected comes before the socket's Disconnected; Joined and Left are reported only
// for connected sockets (the rooms it connected with are its Rooms at Connected), and may come
// before Connected while a recovering socket's session is restored.
type Observer interface {
	// Connected is called once a socket is connected (its CONNECT reply is queued), before
	// OnConnection's function.
	Connected(s *Socket)
	// Disconnected is called once when a connected socket leaves the namespace.
	Disconnected(s *Socket, reason DisconnectReason)
	// Joined is called when a connected socket joined rooms it was not in.
	Joined(s *Socket, rooms []string)
	// Left is called when a connected socket left a room it was in.
	Left(s *Socket, room string)
	// Received is called for every event a connected socket sends, before its handler.
	Received(s *Socket, e *Event)
}

// Observe sets the namespace's Observer. Call it before clients connect.
func (n *Namespace) Observe(o Observer) { n.observer = o }

// Interest is told which rooms the sockets of a namespace are in, pending sockets included,
// so that it can subscribe to them elsewhere (the bus, in fleet mode): Acquire runs before a
// socket enters a room and may block until the room's events reach the node (a subscription
// taking effect); Release runs after the socket left it (left the room, left the namespace,
// or was refused) and must not block. Every Acquire is matched by one Release.
type Interest interface {
	Acquire(room string)
	Release(room string)
}

// SetInterest sets the namespace's Interest. Call it before clients connect.
func (n *Namespace) SetInterest(i Interest) { n.interest = i }

// Socket returns the connected socket with the given id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// EncodeEvent encodes an event for this namespace once, for Broadcast.
func (n *Namespace) EncodeEvent(event string, args ...json.RawMessage) *Encoded {
	return EncodeEvent(n.name, event, args...)
}

// Broadcast queues e on every socket in any of rooms (every socket of the namespace when rooms
// is empty), once per socket however many of the rooms it is in, except the socket with id
// exceptSID. It never blocks on a client. It returns the number of sockets it reached.
func (n *Namespace) Broadcast(rooms []string, exceptSID string, e *Encoded) int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	sent := 0
	small := n.receiversAtMostLocked(rooms, directBroadcastMax)
	direct := small && n.quietSinceSmall()
	if small {
		defer func() { n.lastSmall.Store(int64(time.Since(epoch))) }()
	}
	send := func(s *Socket) {
		switch {
		case s.id == exceptSID:
		case e.offset > 0 && e.offset <= s.floor: // already sent by a recovery replay
		case s.hold != nil: // recovering: sent after the replay
			s.hold.add(e, rooms)
			sent++
		case s.client.deliver(direct, e.msgs...):
			sent++
		}
	}
	switch len(rooms) {
	case 0:
		for _, s := range n.sockets {
			send(s)
		}
	case 1:
		for s := range n.rooms[rooms[0]] {
			send(s)
		}
	default:
		n.bcastMu.Lock()
		defer n.bcastMu.Unlock()
		n.bcastSeq++
		seq := n.bcastSeq
		for _, room := range rooms {
			for s := range n.rooms[room] {
				if s.lastBroadcast != seq {
					s.lastBroadcast = seq
					send(s)
				}
			}
		}
	}
	return sent
}

// A broadcast to at most directBroadcastMax sockets that begins at least directBroadcastGap
// after the previous small one ended is written from the broadcasting goroutine (engineio's
// Conn.SendDirect): an event to one user's devices, or to a few users, goes out without a
// thread handoff, which costs more than the write. A larger broadcast, and small ones in quick
// succession (a burst of events, a catch-up after a reconnect), are left to the shared
// writers, which work in parallel with the broadcaster and coalesce the frames queued for a
// connection into one write: in a burst, writing each event at once would cost a system call
// per event (about 30 times the CPU per delivery in BenchmarkBroadcastPersonal/burst).
const (
	directBroadcastMax = 8
	directBroadcastGap = 50 * time.Microsecond
)

// epoch is the origin of Namespace.lastSmall.
var epoch = time.Now()

// quietSinceSmall tells whether the last small broadcast ended at least directBroadcastGap ago.
func (n *Namespace) quietSinceSmall() bool {
	return int64(time.Since(epoch))-n.lastSmall.Load() >= int64(directBroadcastGap)
}

// receiversAtMostLocked tells whether rooms hold at most max sockets in all (counting a
// socket once per room it is in). n.mu is held.
func (n *Namespace) receiversAtMostLocked(rooms []string, max int) bool {
	if len(rooms) == 0 {
		return len(n.sockets) <= max
	}
	total := 0
	for _, room := range rooms {
		if total += len(n.rooms[room]); total > max {
			return false
		}
	}
	return true
}

// Emit encodes an event with Go values as arguments and broadcasts it to rooms.
func (n *Namespace) Emit(rooms []string, event string, args ...any) (int, error) {
	e, err := encodeArgs(PacketEvent, n.name, noAck, event, args)
	if err != nil {
		return 0, err
	}
	return n.Broadcast(rooms, "", e), nil
}

// Count returns the number of connected sockets.
func (n *Namespace) Count() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// Sockets returns the connected sockets in any of rooms (all of them when rooms is empty).
func (n *Namespace) Sockets(rooms ...string) []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if len(rooms) == 0 {
		out := make([]*Socket, 0, len(n.sockets))
		for _, s := range n.sockets {
			out = append(out, s)
		}
		return out
	}
	seen := make(map[*Socket]struct{})
	var out []*Socket
	for _, room := range rooms {
		for s := range n.rooms[room] {
			if _, dup := seen[s]; !dup {
				seen[s] = struct{}{}
				out = append(out, s)
			}
		}
	}
	return out
}

// RoomSize returns the number of sockets in a room.
func (n *Namespace) RoomSize(room string) int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.rooms[room])
}

// EachRoom calls f with every room that has sockets and its number of sockets, under the
// namespace's read lock: f must be quick and must not call back into the namespace.
func (n *Namespace) EachRoom(f func(room string, sockets int)) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for room, members := range n.rooms {
		f(room, len(members))
	}
}

// authorize runs the middlewares.
func (n *Namespace) authorize(s *Socket) error {
	for _, m := range n.middlewares {
		if err := m(s); err != nil {
			return err
		}
	}
	return nil
}

func connectErrorOf(err error, log logrus.FieldLogger, s *Socket) *ConnectError {
	var ce *ConnectError
	if errors.As(err, &ce) {
		return ce
	}
	log.WithField("sid", s.client.conn.ID()).WithError(err).Error("socket.io: middleware failed")
	return &ConnectError{Message: "server error"}
}

// connect indexes the socket and its rooms, queues the CONNECT reply, then runs OnConnection.
// With recovery, it first tries to resume the session the client asks for, and otherwise
// saves a new one. It fails only with ErrRetryLater, when the Recovery's storage is
// unavailable: the socket is then pending again and the caller closes the connection.
func (n *Namespace) connect(s *Socket) error {
	resumed := false
	if n.recovery != nil {
		var err error
		if resumed, err = n.resume(s); err != nil {
			return err
		}
	}
	if !resumed {
		rooms := s.Rooms()
		n.mu.Lock()
		n.attachLocked(s)
		n.mu.Unlock()
		if n.recovery != nil {
			s.pid = newID()
			if err := n.recovery.Save(s); err != nil {
				s.pid = ""
				if errors.Is(err, ErrRetryLater) {
					n.detach(s, rooms)
					return err
				}
				n.srv.log.WithField("sid", s.id).WithError(err).Warn("socket.io: session not saved; connecting without recovery")
			}
		}
		s.client.send(n.connectReply(s))
	}
	if n.observer != nil {
		n.observer.Connected(s)
	}
	if n.onConnect != nil {
		n.onConnect(s)
	}
	return nil
}

// attachLocked marks the socket connected and indexes it and its rooms. n.mu must be held.
func (n *Namespace) attachLocked(s *Socket) {
	s.state = socketConnected
	n.sockets[s.id] = s
	for _, room := range s.rooms {
		n.index(s, room)
	}
}

// remove takes a socket out of the namespace; it reports false if it already was.
func (n *Namespace) remove(s *Socket) bool {
	defer n.releaseHeld(s, nil)
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.state == socketDisconnected {
		return false
	}
	wasConnected := s.state == socketConnected
	s.state = socketDisconnected
	if !wasConnected {
		return false
	}
	delete(n.sockets, s.id)
	for _, room := range s.rooms {
		n.unindex(s, room)
	}
	s.rooms = nil
	return true
}

func (n *Namespace) disconnected(s *Socket, reason DisconnectReason) {
	if n.recovery != nil && s.pid != "" {
		n.recovery.Disconnected(s, reason)
	}
	if n.observer != nil {
		n.observer.Disconnected(s, reason)
	}
	if n.onDisconnect != nil {
		n.onDisconnect(s, reason)
	}
}

func (n *Namespace) handleEvent(s *Socket, e *Event) {
	if n.observer != nil {
		n.observer.Received(s, e)
	}
	h := n.handlers[e.Name]
	if h == nil {
		h = n.fallback
	}
	if h != nil {
		h(s, e)
	}
}

func (n *Namespace) join(s *Socket, rooms []string) {
	acquired := n.acquire(s, rooms)
	n.mu.Lock()
	if s.state == socketDisconnected {
		n.mu.Unlock()
		n.releaseRooms(acquired)
		return
	}
	extra := n.holdLocked(s, acquired)
	defer n.releaseRooms(extra)
	var joined []string
	for _, room := range rooms {
		if containsString(s.rooms, room) {
			continue
		}
		s.rooms = append(s.rooms, room)
		joined = append(joined, room)
		if s.state == socketConnected {
			n.index(s, room)
		}
	}
	connected := s.state == socketConnected
	n.roomsChangedLocked(s, len(joined) > 0, true)
	if n.observer != nil && connected && len(joined) > 0 {
		n.observer.Joined(s, joined)
	}
}

func (n *Namespace) leave(s *Socket, room string) {
	n.mu.Lock()
	changed := false
	for i, r := range s.rooms {
		if r == room {
			s.rooms = append(s.rooms[:i], s.rooms[i+1:]...)
			changed = true
			if s.state == socketConnected {
				n.unindex(s, room)
			}
			break
		}
	}
	_, held := s.held[room]
	if changed && held {
		delete(s.held, room)
		defer n.releaseRooms([]string{room})
	}
	connected := s.state == socketConnected
	n.roomsChangedLocked(s, changed, false)
	if n.observer != nil && connected && changed {
		n.observer.Left(s, room)
	}
}

// roomsChangedLocked unlocks n.mu and, when the rooms of a connected socket with a session
// changed, tells the Recovery (joined: rooms were added).
func (n *Namespace) roomsChangedLocked(s *Socket, changed, joined bool) {
	if !changed || n.recovery == nil || s.pid == "" || s.state != socketConnected {
		n.mu.Unlock()
		return
	}
	s.roomsVersion++
	version, rooms := s.roomsVersion, append([]string(nil), s.rooms...)
	n.mu.Unlock()
	n.recovery.RoomsChanged(s, rooms, version, joined)
}

func (n *Namespace) roomsOf(s *Socket) []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return append([]string(nil), s.rooms...)
}

func (n *Namespace) stateOf(s *Socket) socketState {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return s.state
}

func (n *Namespace) index(s *Socket, room string) {
	members := n.rooms[room]
	if members == nil {
		members = make(map[*Socket]struct{}, 1)
		n.rooms[room] = members
	}
	members[s] = struct{}{}
}

func (n *Namespace) unindex(s *Socket, room string) {
	members := n.rooms[room]
	delete(members, s)
	if len(members) == 0 {
		delete(n.rooms, room)
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// acquire tells the Interest that s enters those of rooms it does not hold yet, and returns
// them. It may block (Interest.Acquire).
func (n *Namespace) acquire(s *Socket, rooms []string) []string {
	if n.interest == nil || len(rooms) == 0 {
		return nil
	}
	n.mu.RLock()
	var fresh []string
	for _, room := range rooms {
		if _, held := s.held[room]; !held && !containsString(fresh, room) {
			fresh = append(fresh, room)
		}
	}
	n.mu.RUnlock()
	for _, room := range fresh {
		n.interest.Acquire(room)
	}
	return fresh
}

// holdLocked records the rooms acquired for s and returns those it held already (acquired
// twice by concurrent joins), to be released. n.mu is held.
func (n *Namespace) holdLocked(s *Socket, acquired []string) (extra []string) {
	for _, room := range acquired {
		if _, held := s.held[room]; held {
			extra = append(extra, room)
			continue
		}
		if s.held == nil {
			s.held = make(map[string]struct{}, 1)
		}
		s.held[room] = struct{}{}
	}
	return extra
}

// releaseRooms tells the Interest that a socket left rooms. n.mu must not be held.
func (n *Namespace) releaseRooms(rooms []string) {
	if n.interest == nil {
		return
	}
	for _, room := range rooms {
		n.interest.Release(room)
	}
}

// releaseHeld releases the rooms s holds that are not in keep, and forgets them. n.mu must not
// be held.
func (n *Namespace) releaseHeld(s *Socket, keep []string) {
	if n.interest == nil {
		return
	}
	n.mu.Lock()
	var gone []string
	for room := range s.held {
		if !containsString(keep, room) {
			gone = append(gone, room)
			delete(s.held, room)
		}
	}
	n.mu.Unlock()
	n.releaseRooms(gone)
}
