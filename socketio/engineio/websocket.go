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
)

func (s *Server) newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  s.opts.ReadBufferSize,
		WriteBufferPool: noWritePool{},                            // we write frames ourselves; gorilla only writes control replies
		CheckOrigin:     func(*http.Request) bool { return true }, // checked in ServeHTTP
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			writeError(w, status, codeBadRequest, reason.Error())
		},
	}
}

// noWritePool makes gorilla allocate a write buffer only for the rare control frame it writes.
type noWritePool struct{}

func (noWritePool) Get() any  { return nil }
func (noWritePool) Put(x any) {}

// serveWebsocketHandshake opens a session directly over websocket.
func (s *Server) serveWebsocketHandshake(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader already answered
	}
	c := s.newConn(r)
	c.netConn = ws.NetConn()
	s.prepareSocket(c, ws)
	if !s.open(c) {
		_ = ws.NetConn().Close()
		return
	}
	// The open packet is the first frame: it goes through the queue like everything else.
	c.Send(NewTextMessage(PacketOpen, s.openPayload(c.id, false)))
	go c.readLoop(ws)
}

func (s *Server) prepareSocket(c *Conn, ws *websocket.Conn) {
	ws.SetReadLimit(int64(s.opts.MaxPayload))
	// Control frames from the client are answered through the send queue, never by gorilla
	// writing concurrently with the flush goroutine.
	ws.SetPingHandler(func(data string) error {
		c.sendControl(websocket.PongMessage, []byte(data))
		return nil
	})
	ws.SetCloseHandler(func(code int, text string) error { return nil })
}

// sendControl queues a control frame (pong) for the websocket.
func (c *Conn) sendControl(opcode int, data []byte) {
	if len(data) > 125 {
		return
	}
	buf := NewMessageBuffer(len(data))
	buf = append(buf, data...)
	m := MessageFromBuffer(buf, false)
	m.buf[m.start] = 0x80 | byte(opcode)
	c.Send(m)
}

// readLoop reads packets from the websocket until it closes.
func (c *Conn) readLoop(ws *websocket.Conn) {
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			c.closeWith(readCloseReason(err), err)
			return
		}
		var p Packet
		if mt == websocket.BinaryMessage {
			p = Packet{Type: PacketMessage, Data: data, Binary: true}
		} else if p, err = decodeWebsocketText(data); err != nil {
			c.closeWith(CloseParseError, err)
			return
		}
		if !c.onPacket(p) {
			return
		}
	}
}

func decodeWebsocketText(data []byte) (Packet, error) {
	if len(data) > 0 && data[0] == 'b' {
		return Packet{}, errTextBase64
	}
	return DecodePacket(data)
}

func readCloseReason(err error) CloseReason {
	var ce *websocket.CloseError
	if errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return CloseTransportClose
	}
	return CloseTransportError
}

// serveUpgrade probes a websocket for a polling session and, once the client sends the upgrade
// packet, moves the session onto it.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, c *Conn) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c.mu.Lock()
	if c.state != stateOpen || c.netConn != nil || c.probe != nil {
		// Already upgraded or upgrading: like Node, accept the websocket and close it at once,
		// leaving the session alone.
		c.mu.Unlock()
		_ = ws.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = ws.NetConn().Write(wsCloseNormal)
		_ = ws.NetConn().Close()
		return
	}
	c.probe = ws
	c.mu.Unlock()
	s.prepareSocket(c, ws)
	if err := c.probeUpgrade(ws); err != nil {
		c.mu.Lock()
		if c.probe == ws {
			c.probe = nil
			c.upgrading = false
		}
		c.mu.Unlock()
		_ = ws.NetConn().Close()
		s.log.WithField("sid", c.id).WithError(err).Debug("engine.io: upgrade abandoned")
		return
	}
	c.readLoop(ws)
}

// probeUpgrade runs the upgrade handshake: "2probe" → "3probe", then "5" switches transports.
func (c *Conn) probeUpgrade(ws *websocket.Conn) error {
	nc := ws.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(c.srv.opts.UpgradeTimeout))
	p, err := c.readProbePacket(ws)
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
	c.mu.Lock()
	c.upgrading = true // release the pending GET with a noop so the client can pause polling
	c.upgradeStart = time.Now()
	c.kickLocked()
	c.mu.Unlock()

	if p, err = c.readProbePacket(ws); err != nil {
		return err
	}
	if p.Type != PacketUpgrade {
		return errBadProbe
	}
	_ = nc.SetReadDeadline(time.Time{})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen || c.probe != ws {
		return errors.New("engine.io: session closed during upgrade")
	}
	c.probe = nil
	c.upgrading = false
	c.netConn = nc
	select { // release a GET still pending on the old transport
	case c.pollWake <- struct{}{}:
	default:
	}
	if len(c.queue) > 0 && !c.writing {
		c.writing = true
		go c.flush()
	}
	return nil
}

func (c *Conn) readProbePacket(ws *websocket.Conn) (Packet, error) {
	mt, data, err := ws.ReadMessage()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return Packet{}, errUpgradeTimeout
		}
		return Packet{}, fmt.Errorf("engine.io: reading upgrade probe: %w", err)
	}
	if mt != websocket.TextMessage {
		return Packet{}, errBadProbe
	}
	return decodeWebsocketText(data)
}
