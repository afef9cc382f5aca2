package engineio

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"

	"github.com/realtimed/realtimed/socketio/internal/sched"
)

// wsReader is the read side of a websocket connection: an incremental frame decoder, driven
// either by the shared poller (Linux: no goroutine while the connection is idle) or by a
// goroutine of its own (Options.GoroutineIO, other systems).
type wsReader struct {
	fr      frameReader
	polled  bool        // registered with the poller; guarded by Conn.mu
	reading atomic.Bool // a goroutine is reading (poller mode)
	stopped atomic.Bool // unregistered: the socket is closing
}

// errStopReading ends reading because the connection has closed.
var errStopReading = errors.New("engine.io: connection closed")

// wsMessage is a decoded websocket message or control frame.
type wsMessage struct {
	op      byte
	payload []byte
}

// startReading begins reading the websocket nc for c: first the messages that arrived with
// the upgrade (already decoded), then whatever comes. It returns at once.
func (c *Conn) startReading(nc net.Conn, pending []wsMessage) {
	for _, m := range pending {
		if c.onFrame(m.op, m.payload) != nil {
			return
		}
	}
	if !c.srv.opts.GoroutineIO {
		if err := c.pollReads(nc); err == nil {
			return
		} else {
			c.srv.log.WithError(err).Debug("engine.io: reading with a goroutine instead of the poller")
		}
	}
	go c.readLoop(nc)
}

// pollReads registers the websocket with the shared poller, unless the connection has closed
// meanwhile. c.mu orders it with stopReading: a connection is either registered before it
// closes (and unregistered by the close), or never.
func (c *Conn) pollReads(nc net.Conn) error {
	p, err := sharedPoller()
	if err != nil {
		return err
	}
	if c.rc == nil {
		return fmt.Errorf("engine.io: %T has no file descriptor", nc)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed {
		return nil // closed already: nothing to read
	}
	var addErr error
	if err := c.rc.Control(func(fd uintptr) { addErr = p.add(c, int(fd)) }); err != nil {
		addErr = fmt.Errorf("engine.io: %w", err)
	}
	c.rd.polled = addErr == nil
	return addErr
}

// rawConnOf returns the raw connection of nc, or nil when it has none (not a socket).
func rawConnOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// stopReading unregisters the socket from the poller; call it after the connection's state
// became stateClosed and before closing the socket.
func (c *Conn) stopReading() {
	c.mu.Lock()
	polled := c.rd.polled
	c.mu.Unlock()
	if !polled || c.rd.stopped.Swap(true) {
		return
	}
	p, _ := sharedPoller()
	_ = c.rc.Control(func(fd uintptr) { p.remove(c, int(fd)) })
}

// readLoop reads the websocket from this goroutine until it closes.
func (c *Conn) readLoop(nc net.Conn) {
	buf := make([]byte, c.srv.opts.ReadBufferSize)
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			if ferr := c.rd.fr.feed(buf[:n], c.onFrame); ferr != nil {
				c.readFailed(ferr)
				return
			}
			c.watchStall()
		}
		if err != nil {
			c.closeWith(readCloseReason(err), err)
			return
		}
	}
}

// readFailed closes the connection after a decoding error (errStopReading: it is closed).
func (c *Conn) readFailed(err error) {
	var parseErr errParse
	switch {
	case errors.Is(err, errStopReading):
	case errors.As(err, &parseErr):
		c.closeWith(CloseParseError, parseErr.err)
	default: // the frame decoder refused the client's bytes: a broken frame, a message too big
		c.closeWith(CloseTransportError, fmt.Errorf("%w: %w", ErrProtocolViolation, err))
	}
}

// errParse carries an Engine.IO decoding error out of the frame reader.
type errParse struct{ err error }

func (e errParse) Error() string { return e.err.Error() }

// onFrame handles one websocket message or control frame of an open session.
func (c *Conn) onFrame(op byte, payload []byte) error {
	var p Packet
	switch op {
	case opText:
		var err error
		if p, err = decodeWebsocketText(payload); err != nil {
			return errParse{err}
		}
	case opBinary:
		p = Packet{Type: PacketMessage, Data: payload, Binary: true}
	case opPing:
		c.sendControl(opPong, payload)
		return nil
	case opPong:
		return nil
	case opClose:
		c.closeWith(CloseTransportClose, errPeerClosed{peerCloseCode(payload)})
		return errStopReading
	}
	if !c.onPacket(p) {
		return errStopReading
	}
	return nil
}

// errReadStalled closes a websocket whose message stopped arriving.
var errReadStalled = &wsError{closePolicy, "message not completed within the read timeout"}

// stallWatch closes a websocket whose message stops arriving: it is armed when a read leaves a
// message (or a frame header) incomplete, and disarmed when the reader is between messages
// again. Reads of whole messages never touch it. Only the reading goroutine arms and disarms it.
type stallWatch struct {
	timer *sched.Timer
	live  atomic.Bool // armed: the timer's firing closes the connection
	at    uint64      // frameReader.emitted when armed: the message being waited for
}

// watchStall arms or disarms the stall watch after a read. The read's message must complete
// within Options.ReadTimeout of the read that began it.
func (c *Conn) watchStall() {
	fr := &c.rd.fr
	w := c.stall
	if !fr.busy() {
		if w != nil && w.live.Swap(false) {
			c.srv.sched.Stop(w.timer)
		}
		return
	}
	if w == nil {
		w = &stallWatch{}
		w.timer = sched.NewTimer(func() {
			if w.live.Load() {
				c.closeWith(CloseTransportError, fmt.Errorf("%w: %w", ErrProtocolViolation, errReadStalled))
			}
		})
		c.mu.Lock()
		c.stall = w
		c.mu.Unlock()
	}
	if w.live.Load() && w.at == fr.emitted {
		return // the same message is still arriving
	}
	w.at = fr.emitted
	w.live.Store(true)
	c.srv.sched.Reset(w.timer, c.srv.opts.ReadTimeout)
}

// stop disarms the watch for good (the connection has finished); w may be nil.
func (w *stallWatch) stop(s *sched.Scheduler) {
	if w != nil {
		w.live.Store(false)
		s.Stop(w.timer)
	}
}
