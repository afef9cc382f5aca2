package engineio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

var (
	errBadProbe       = errors.New("engine.io: unexpected packet while probing the websocket upgrade")
	errTextBase64     = errors.New("engine.io: base64 packets are not allowed over websocket")
	errUpgradeTimeout = errors.New("engine.io: upgrade did not complete in time")

	errUpgradeSessionClosed = errors.New("engine.io: session closed during upgrade")
)

func (s *Server) newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		// Gorilla only runs the handshake: frames are read by frameReader and written by
		// Conn.flush. A zero ReadBufferSize makes it reuse the HTTP server's buffers instead of
		// allocating its own.
		WriteBufferPool: noWritePool{},
		CheckOrigin:     func(*http.Request) bool { return true }, // checked in ServeHTTP
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			s.refuse(w, r, status, codeBadRequest, reason.Error(), "websocket handshake failed")
		},
	}
}

// noWritePool keeps gorilla from allocating a write buffer: it never writes after the handshake.
type noWritePool struct{}

func (noWritePool) Get() any  { return nil }
func (noWritePool) Put(x any) {}

// upgrade completes the websocket handshake and returns the raw connection.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) (net.Conn, error) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil, err // the upgrader already answered
	}
	return ws.NetConn(), nil
}

// serveWebsocketHandshake opens a session directly over websocket.
func (s *Server) serveWebsocketHandshake(w http.ResponseWriter, r *http.Request) {
	nc, err := s.upgrade(w, r)
	if err != nil {
		s.pending.Add(-1) // no session took the place serveHandshake reserved
		return
	}
	c := s.newConn(r)
	c.netConn, c.rc = nc, rawConnOf(nc)
	c.rd.fr.limit = c
	if !s.open(c) {
		c.endPending()
		_ = nc.Close()
		return
	}
	// The open packet is the first frame: it goes through the queue like everything else.
	c.Send(NewTextMessage(PacketOpen, s.openPayload(c.id, false)))
	c.startReading(nc, nil)
}

// sendControl queues a control frame (pong) for the websocket.
func (c *Conn) sendControl(opcode byte, data []byte) {
	if len(data) > 125 {
		return
	}
	buf := NewMessageBuffer(len(data))
	buf = append(buf, data...)
	m := MessageFromBuffer(buf, false)
	m.buf[m.start] = 0x80 | opcode
	c.Send(m)
}

func decodeWebsocketText(data []byte) (Packet, error) {
	if len(data) > 0 && data[0] == 'b' {
		return Packet{}, errTextBase64
	}
	return DecodePacket(data)
}

func readCloseReason(err error) CloseReason {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return CloseTransportClose
	}
	return CloseTransportError
}

// serveUpgrade probes a websocket for a polling session and, once the client sends the upgrade
// packet, moves the session onto it.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, c *Conn) {
	nc, err := s.upgrade(w, r)
	if err != nil {
		return
	}
	c.mu.Lock()
	if c.state != stateOpen || c.netConn != nil || c.probe != nil {
		// Already upgraded or upgrading: like Node, accept the websocket and close it at once,
		// leaving the session alone.
		c.mu.Unlock()
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write(wsCloseNormal)
		_ = nc.Close()
		return
	}
	c.probe = nc
	c.mu.Unlock()
	pr := &probe{nc: nc, fr: frameReader{limit: c}}
	if err := c.probeUpgrade(pr); err != nil {
		c.mu.Lock()
		if c.probe == nc {
			c.probe = nil
			c.upgrading = false
		}
		c.mu.Unlock()
		var frame []byte
		if code := probeCloseCode(err); code != 0 {
			frame = closeFrame(code)
		}
		go lingerClose(nc, frame, true)
		s.log.WithField("sid", c.id).WithError(err).Debug("engine.io: upgrade abandoned")
		return
	}
	// The session is on the websocket now; the reader continues from the probe's decoder, and
	// messages that arrived right after the upgrade packet are handled first.
	c.rd.fr = pr.fr
	c.startReading(nc, pr.pending)
}

// probe reads a websocket being probed for an upgrade, with blocking reads on the request's
// goroutine (the session is still served by polling meanwhile).
type probe struct {
	nc      net.Conn
	fr      frameReader
	pending []wsMessage // decoded, not yet handled
	buf     []byte
}

// next returns the next data message of the probe, answering pings.
func (pr *probe) next() (wsMessage, error) {
	for {
		for len(pr.pending) > 0 {
			m := pr.pending[0]
			pr.pending = pr.pending[1:]
			switch m.op {
			case opPing:
				_, _ = pr.nc.Write(controlFrame(opPong, m.payload))
				continue
			case opPong:
				continue
			case opClose:
				return m, errPeerClosed{peerCloseCode(m.payload)}
			}
			return m, nil
		}
		if pr.buf == nil {
			pr.buf = make([]byte, 512)
		}
		n, err := pr.nc.Read(pr.buf)
		if n > 0 {
			if ferr := pr.fr.feed(pr.buf[:n], func(op byte, p []byte) error {
				pr.pending = append(pr.pending, wsMessage{op, p})
				return nil
			}); ferr != nil {
				return wsMessage{}, fmt.Errorf("engine.io: reading upgrade probe: %w", ferr)
			}
		}
		if err != nil && len(pr.pending) == 0 {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return wsMessage{}, errUpgradeTimeout
			}
			return wsMessage{}, fmt.Errorf("engine.io: reading upgrade probe: %w", err)
		}
	}
}

// packet returns the next probe message as an Engine.IO text packet.
func (pr *probe) packet() (Packet, error) {
	m, err := pr.next()
	if err != nil {
		return Packet{}, err
	}
	if m.op != opText {
		return Packet{}, errBadProbe
	}
	return decodeWebsocketText(m.payload)
}

// controlFrame builds an unmasked server control frame.
func controlFrame(op byte, payload []byte) []byte {
	return append([]byte{0x80 | op, byte(len(payload))}, payload...)
}

// probeUpgrade runs the upgrade handshake: "2probe" → "3probe", then "5" switches transports.
func (c *Conn) probeUpgrade(pr *probe) error {
	nc := pr.nc
	_ = nc.SetReadDeadline(time.Now().Add(c.srv.opts.UpgradeTimeout))
	p, err := pr.packet()
	if err != nil {
		return err
	}
	if p.Type != PacketPing || string(p.Data) != "probe" {
		return errBadProbe
	}
	_ = nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
	if _, err := nc.Write(msgProbePong.frame()); err != nil {
		return fmt.Errorf("engine.io: writing probe answer: %w", err)
	}
	// The deadline bounded this write only: a deadline left in the past would make every later
	// non-blocking write of the shared writers fail at once (RawConn.Write checks it first).
	_ = nc.SetWriteDeadline(time.Time{})
	c.mu.Lock()
	c.upgrading = true // release the pending GET with a noop so the client can pause polling
	c.upgradeStart = time.Now()
	c.kickLocked()
	c.mu.Unlock()

	if p, err = pr.packet(); err != nil {
		return err
	}
	if p.Type != PacketUpgrade {
		return errBadProbe
	}
	_ = nc.SetReadDeadline(time.Time{})
	pr.buf = nil
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen || c.probe != nc {
		return errUpgradeSessionClosed
	}
	c.probe = nil
	c.upgrading = false
	c.netConn, c.rc = nc, rawConnOf(nc)
	select { // release a GET still pending on the old transport
	case c.pollWake <- struct{}{}:
	default:
	}
	if len(c.queue) > 0 {
		c.kickLocked()
	}
	return nil
}

// probeCloseCode is the status of the close frame that ends an upgrade probe failed by err, or
// 0 when none is sent (the client went away).
func probeCloseCode(err error) uint16 {
	var cc closeCoder
	switch {
	case errors.As(err, &cc):
		return cc.closeCode()
	case errors.Is(err, errBadProbe), errors.Is(err, errTextBase64), errors.Is(err, ErrInvalidPacket),
		errors.Is(err, errUpgradeTimeout):
		return closePolicy
	case errors.Is(err, errUpgradeSessionClosed):
		return closeNormal
	}
	return 0 // the client went away
}
