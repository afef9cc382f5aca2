package socketio

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/realtimed/realtimed/socketio/engineio"
	"github.com/realtimed/realtimed/socketio/internal/sched"
)

var (
	errUnexpectedBinary = errors.New("socket.io: binary message without a pending binary packet")
	errMissingBinary    = errors.New("socket.io: text message while binary attachments were pending")
	errDuplicateConnect = errors.New("socket.io: CONNECT for a namespace already connected")
	errNotConnected     = errors.New("socket.io: packet for a namespace not connected")
	errConnectTimeout   = errors.New("socket.io: no CONNECT within the connect timeout")
)

// client is the Socket.IO state of one Engine.IO connection: its sockets (one per namespace)
// and a binary packet being reassembled. Calls from the engine arrive one at a time.
type client struct {
	srv     *Server
	conn    *engineio.Conn
	timeout *sched.Timer // connect timeout; nil once a namespace is joined

	mu      sync.Mutex
	sockets []*Socket // usually one

	pending     *Packet // binary packet waiting for its attachments
	attachments [][]byte
}

func (s *Server) newClient(conn *engineio.Conn) engineio.Handler {
	c := &client{srv: s, conn: conn}
	c.timeout = sched.NewTimer(c.onConnectTimeout)
	s.engine.Scheduler().Reset(c.timeout, s.opts.ConnectTimeout)
	return c
}

func (c *client) onConnectTimeout() {
	c.mu.Lock()
	joined := len(c.sockets) > 0
	c.mu.Unlock()
	if !joined {
		c.conn.CloseWith(engineio.CloseForced, errConnectTimeout)
	}
}

// OnMessage decodes Socket.IO packets, reassembling binary ones. A packet that breaks the
// protocol closes the connection with CloseParseError (the engine logs the reason); a handler
// that panics closes only its own connection.
func (c *client) OnMessage(conn *engineio.Conn, m engineio.Packet) {
	defer c.recoverHandler(conn)
	if c.srv.opts.OnRead != nil {
		c.srv.opts.OnRead(len(m.Data))
	}
	if err := c.onMessage(m); err != nil {
		conn.CloseWith(engineio.CloseParseError, err)
	}
}

// recoverHandler turns a panic in an application handler into a logged close of the connection
// whose packet caused it, instead of a crash of the server.
func (c *client) recoverHandler(conn *engineio.Conn) {
	if v := recover(); v != nil {
		err := fmt.Errorf("%w: socket.io: handler panicked: %v", engineio.ErrServerError, v)
		c.srv.log.WithFields(map[string]any{"sid": conn.ID(), "remote": conn.RemoteAddr(), "stack": string(debug.Stack())}).
			WithError(err).Error("socket.io: closing the connection after a handler panic")
		conn.CloseWith(engineio.CloseTransportError, err)
	}
}

func (c *client) onMessage(m engineio.Packet) error {
	if m.Binary {
		if c.pending == nil {
			return errUnexpectedBinary
		}
		c.attachments = append(c.attachments, m.Data)
		if len(c.attachments) < c.pending.Attachments {
			return nil
		}
		p, atts := c.pending, c.attachments
		c.pending, c.attachments = nil, nil
		return c.dispatch(p, atts)
	}
	if c.pending != nil {
		return errMissingBinary
	}
	p, err := DecodePacket(m.Data, c.srv.opts.MaxAttachments)
	if err != nil {
		return err
	}
	if p.Attachments > 0 {
		// Attachments are buffered until the last arrives: only for a namespace the client
		// has joined, so that a client that has not authenticated can make the server hold
		// nothing.
		if c.socket(p.Namespace) == nil {
			return fmt.Errorf("%w: binary packet for %q", errNotConnected, p.Namespace)
		}
		c.pending = &p
		return nil
	}
	return c.dispatch(&p, nil)
}

func (c *client) dispatch(p *Packet, attachments [][]byte) error {
	s := c.socket(p.Namespace)
	if p.Type == PacketConnect {
		if s != nil {
			return errDuplicateConnect
		}
		return c.connect(p)
	}
	if s == nil {
		return fmt.Errorf("%w: %q", errNotConnected, p.Namespace)
	}
	return s.onPacket(p, attachments)
}

func (c *client) socket(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

// connect joins a namespace: middlewares decide, then the CONNECT reply is sent.
func (c *client) connect(p *Packet) error {
	ns := c.srv.namespace(p.Namespace)
	if ns == nil {
		c.send(encodeText(PacketConnectError, p.Namespace, noAck, (&ConnectError{Message: "Invalid namespace"}).payload()))
		return nil
	}
	s := newSocket(ns, c, p.Data)
	if err := ns.authorize(s); err != nil {
		s.release()
		if errors.Is(err, ErrRetryLater) {
			c.srv.log.WithField("sid", c.conn.ID()).WithError(err).Warn("socket.io: connection refused for now; closing so the client retries")
			c.conn.CloseWith(engineio.CloseForced, err)
			return nil
		}
		c.send(encodeText(PacketConnectError, p.Namespace, noAck, connectErrorOf(err, c.srv.log, s).payload()))
		return nil
	}
	c.mu.Lock()
	c.sockets = append(c.sockets, s)
	c.mu.Unlock()
	c.srv.engine.Scheduler().Stop(c.timeout)
	// Authenticated: the configured limits apply from now on, instead of the pending ones.
	c.conn.Admit()
	if err := ns.connect(s); err != nil { // recovery storage unavailable: ErrRetryLater
		c.remove(s)
		s.nsp.releaseHeld(s, nil)
		c.srv.log.WithField("sid", c.conn.ID()).WithError(err).Warn("socket.io: connection refused for now; closing so the client retries")
		c.conn.CloseWith(engineio.CloseForced, err)
	}
	return nil
}

func (c *client) remove(s *Socket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.sockets {
		if x == s {
			c.sockets = append(c.sockets[:i], c.sockets[i+1:]...)
			return
		}
	}
}

func (c *client) send(msgs ...*engineio.Message) bool { return c.conn.Send(msgs...) }

// deliver sends a broadcast's messages; direct writes them from the calling goroutine when
// the connection is idle (engineio's Conn.SendDirect), for broadcasts to a few sockets.
func (c *client) deliver(direct bool, msgs ...*engineio.Message) bool {
	if direct {
		return c.conn.SendDirect(msgs...)
	}
	return c.conn.Send(msgs...)
}

// OnClose disconnects every socket of the connection.
func (c *client) OnClose(conn *engineio.Conn, reason engineio.CloseReason, err error) {
	c.srv.engine.Scheduler().Stop(c.timeout)
	c.mu.Lock()
	sockets := c.sockets
	c.sockets = nil
	c.mu.Unlock()
	for _, s := range sockets {
		s.onClose(DisconnectReason(reason))
	}
}
