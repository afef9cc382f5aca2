package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/realtimed/realtimed/socketio/engineio"
	"github.com/realtimed/realtimed/socketio/internal/sched"
)

// Errors returned by Socket methods and passed to ack callbacks.
var (
	ErrDisconnected = errors.New("socket.io: socket disconnected")
	ErrAckTimeout   = errors.New("socket.io: ack timed out")
	ErrNoAck        = errors.New("socket.io: the client did not ask for an ack")
	ErrAckSent      = errors.New("socket.io: ack already sent")
)

type socketState uint8

const (
	socketPending socketState = iota // middlewares running
	socketConnected
	socketDisconnected
)

// Socket is a client's connection to one namespace.
type Socket struct {
	id     string
	nsp    *Namespace
	client *client
	auth   json.RawMessage

	// Data is free for the application: set it in a middleware, read it in handlers.
	Data any

	// Guarded by nsp.mu.
	state        socketState
	rooms        []string
	roomsVersion uint64
	held         map[string]struct{} // rooms acquired from the namespace's Interest; guarded by nsp.mu
	// Recovery (recovery.go). pid and recovered are set before the socket is connected.
	// Guarded by nsp.mu: hold receives broadcasts while a recovery replays missed events;
	// events at or below floor were sent by the replay.
	pid       string
	recovered bool
	hold      *holdBuffer
	floor     int64
	// Guarded by nsp.bcastMu: the last multi-room broadcast this socket received.
	lastBroadcast uint64

	ackMu   sync.Mutex
	acks    map[int64]*pendingAck
	nextAck int64

	cleanupMu sync.Mutex
	cleanups  []func()
	released  bool
}

// AckFunc receives a client's acknowledgement of an event sent with EmitWithAck: its arguments
// as raw JSON and its binary attachments (placeholders in args refer to them by index), or an
// error (ErrAckTimeout, ErrDisconnected) and no arguments.
type AckFunc func(args []json.RawMessage, attachments [][]byte, err error)

type pendingAck struct {
	cb    AckFunc
	timer *sched.Timer
}

func newSocket(ns *Namespace, c *client, auth json.RawMessage) *Socket {
	return &Socket{id: newID(), nsp: ns, client: c, auth: auth}
}

func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ID returns the socket id, sent to the client in the CONNECT reply.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Conn returns the Engine.IO connection (transport, remote address, handshake headers).
func (s *Socket) Conn() *engineio.Conn { return s.client.conn }

// Auth returns the raw JSON auth payload of the CONNECT packet (nil when absent).
func (s *Socket) Auth() json.RawMessage { return s.auth }

// Cleanup registers f to run once when the socket is done, whichever way: refused by a
// middleware (a later one than the one that registered f) or disconnected (after the
// OnDisconnect handler; the engine delivers a connection's close only after the CONNECT being
// handled, so a client leaving during a slow middleware ends up here too). A middleware uses
// it to release what it acquired for the socket (a connection slot, say). Cleanups run in the
// reverse order of registration; one registered after the socket is done runs at once.
func (s *Socket) Cleanup(f func()) {
	s.cleanupMu.Lock()
	if !s.released {
		s.cleanups = append(s.cleanups, f)
		s.cleanupMu.Unlock()
		return
	}
	s.cleanupMu.Unlock()
	f()
}

// release runs the cleanups, once.
func (s *Socket) release() {
	s.cleanupMu.Lock()
	fs := s.cleanups
	s.cleanups, s.released = nil, true
	s.cleanupMu.Unlock()
	s.nsp.releaseHeld(s, nil) // a socket refused or done holds no room
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// Join adds the socket to rooms. Before the socket is connected (in a middleware) the rooms
// take effect when it connects.
func (s *Socket) Join(rooms ...string) { s.nsp.join(s, rooms) }

// Leave removes the socket from a room.
func (s *Socket) Leave(room string) { s.nsp.leave(s, room) }

// Rooms returns a copy of the rooms the socket is in.
func (s *Socket) Rooms() []string { return s.nsp.roomsOf(s) }

// Connected reports whether the socket is connected to its namespace.
func (s *Socket) Connected() bool { return s.nsp.stateOf(s) == socketConnected }

// Emit sends an event to this socket. Arguments are encoded as JSON; []byte arguments are sent
// as binary attachments.
func (s *Socket) Emit(event string, args ...any) error {
	e, err := encodeArgs(PacketEvent, s.nsp.name, noAck, event, args)
	if err != nil {
		return err
	}
	return s.SendEncoded(e)
}

// EmitRaw sends an event whose arguments are already JSON; placeholders in them refer to the
// binary attachments.
func (s *Socket) EmitRaw(event string, args []json.RawMessage, attachments [][]byte) error {
	return s.SendEncoded(encodeRaw(PacketEvent, s.nsp.name, noAck, event, args, attachments))
}

// SendEncoded queues a packet encoded once (see EncodeEvent) on this socket.
func (s *Socket) SendEncoded(e *Encoded) error {
	if !s.client.send(e.msgs...) {
		return ErrDisconnected
	}
	return nil
}

// EmitWithAck sends an event and calls cb with the client's ack arguments, or with
// ErrAckTimeout after timeout, or ErrDisconnected if the socket goes first. cb runs once, on the
// connection's reading goroutine or on the timer scheduler: it must not block.
func (s *Socket) EmitWithAck(event string, timeout time.Duration, cb AckFunc, args ...any) error {
	s.ackMu.Lock()
	id := s.nextAck
	s.nextAck++
	if s.acks == nil {
		s.acks = make(map[int64]*pendingAck)
	}
	pa := &pendingAck{cb: cb}
	pa.timer = sched.NewTimer(func() { s.resolveAck(id, nil, nil, ErrAckTimeout) })
	s.acks[id] = pa
	s.ackMu.Unlock()

	e, err := encodeArgs(PacketEvent, s.nsp.name, id, event, args)
	if err == nil {
		err = s.SendEncoded(e)
	}
	if err != nil {
		s.ackMu.Lock()
		delete(s.acks, id)
		s.ackMu.Unlock()
		return err
	}
	s.client.srv.engine.Scheduler().Reset(pa.timer, timeout)
	return nil
}

// resolveAck completes a pending ack once, whichever of ack, timeout or disconnect comes first.
func (s *Socket) resolveAck(id int64, args []json.RawMessage, attachments [][]byte, err error) bool {
	s.ackMu.Lock()
	pa := s.acks[id]
	delete(s.acks, id)
	s.ackMu.Unlock()
	if pa == nil {
		return false
	}
	s.client.srv.engine.Scheduler().Stop(pa.timer)
	pa.cb(args, attachments, err)
	return true
}

// Disconnect removes the socket from its namespace (the client sees "io server disconnect" and
// does not reconnect by itself). With closeConn the whole connection is closed too.
func (s *Socket) Disconnect(closeConn bool) {
	s.client.send(encodeText(PacketDisconnect, s.nsp.name, noAck, nil))
	s.onClose(ReasonServerDisconnect)
	if closeConn {
		s.client.conn.Close()
	}
}

// onPacket handles a packet for this socket's namespace.
func (s *Socket) onPacket(p *Packet, attachments [][]byte) error {
	switch p.Type {
	case PacketEvent, PacketBinaryEvent:
		var args []json.RawMessage
		if err := json.Unmarshal(p.Data, &args); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidPacket, err)
		}
		name, _ := eventName(p.Data)
		s.nsp.handleEvent(s, &Event{Name: name, Args: args[1:], Attachments: attachments, socket: s, ackID: p.ID})
	case PacketAck, PacketBinaryAck:
		var args []json.RawMessage
		if err := json.Unmarshal(p.Data, &args); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidPacket, err)
		}
		if !s.resolveAck(p.ID, args, attachments, nil) {
			s.client.srv.log.WithField("sid", s.id).WithField("ack", p.ID).Debug("socket.io: ack for an unknown id ignored")
		}
	case PacketDisconnect:
		s.onClose(ReasonClientDisconnect)
	}
	return nil
}

// onClose leaves the namespace once: rooms are left, pending acks fail, handlers are told,
// cleanups run.
func (s *Socket) onClose(reason DisconnectReason) {
	defer s.release()
	if !s.nsp.remove(s) {
		return
	}
	s.client.remove(s)
	s.ackMu.Lock()
	ids := make([]int64, 0, len(s.acks))
	for id := range s.acks {
		ids = append(ids, id)
	}
	s.ackMu.Unlock()
	for _, id := range ids {
		s.resolveAck(id, nil, nil, ErrDisconnected)
	}
	s.nsp.disconnected(s, reason)
}

// Event is an event received from a client.
type Event struct {
	Name string
	// Args are the event's arguments after its name, as raw JSON.
	Args []json.RawMessage
	// Attachments are the binary attachments; placeholders in Args refer to them by index.
	Attachments [][]byte

	socket *Socket
	ackID  int64
	acked  atomic.Bool
}

// HasAck reports whether the client asked for an acknowledgement.
func (e *Event) HasAck() bool { return e.ackID != noAck }

// Ack sends the acknowledgement with args, once.
func (e *Event) Ack(args ...any) error {
	if !e.HasAck() {
		return ErrNoAck
	}
	if e.acked.Swap(true) {
		return ErrAckSent
	}
	enc, err := encodeArgs(PacketAck, e.socket.nsp.name, e.ackID, "", args)
	if err != nil {
		return err
	}
	return e.socket.SendEncoded(enc)
}

// AckRaw sends the acknowledgement with arguments that are already JSON (placeholders in them
// refer to attachments), once.
func (e *Event) AckRaw(args []json.RawMessage, attachments [][]byte) error {
	if !e.HasAck() {
		return ErrNoAck
	}
	if e.acked.Swap(true) {
		return ErrAckSent
	}
	return e.socket.SendEncoded(encodeRaw(PacketAck, e.socket.nsp.name, e.ackID, "", args, attachments))
}
