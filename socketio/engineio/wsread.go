package engineio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// wsReader is the read side of a websocket connection: an incremental frame decoder, driven
// either by the shared poller (Linux: no goroutine while the connection is idle) or by a
// goroutine of its own (Options.ReadWithGoroutines, other systems).
type wsReader struct {
	fr      frameReader
	rc      syscall.RawConn // nil when reading with a goroutine
	reading atomic.Bool     // a goroutine is reading (poller mode)
	stopped atomic.Bool     // unregistered: the socket is closing
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
	if !c.srv.opts.ReadWithGoroutines {
		if err := c.pollReads(nc); err == nil {
			return
		} else {
			c.srv.log.WithError(err).Debug("engine.io: reading with a goroutine instead of the poller")
		}
	}
	go c.readLoop(nc)
}

// pollReads registers nc with the shared poller.
func (c *Conn) pollReads(nc net.Conn) error {
	p, err := sharedPoller()
	if err != nil {
		return err
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return fmt.Errorf("engine.io: %T has no file descriptor", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("engine.io: %w", err)
	}
	c.rd.rc = rc
	var addErr error
	if err := rc.Control(func(fd uintptr) { addErr = p.add(c, int(fd)) }); err != nil {
		return fmt.Errorf("engine.io: %w", err)
	}
	return addErr
}

// stopReading unregisters the socket from the poller; call it before closing the socket.
func (c *Conn) stopReading() {
	if c.rd.rc == nil || c.rd.stopped.Swap(true) {
		return
	}
	p, _ := sharedPoller()
	_ = c.rd.rc.Control(func(fd uintptr) { p.remove(c, int(fd)) })
}

// readBufPool holds the buffers poller reads use while a connection has data; an idle
// connection keeps none.
var readBufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// onReadable runs on a fresh goroutine when the poller reports c's socket readable: it reads
// and handles everything available, then re-arms the registration.
func (c *Conn) onReadable() {
	if !c.rd.reading.CompareAndSwap(false, true) {
		return // another goroutine is reading; it re-arms when done
	}
	bp := readBufPool.Get().(*[]byte)
	open := c.readAvailable(*bp)
	readBufPool.Put(bp)
	c.rd.reading.Store(false)
	if !open || c.rd.stopped.Load() {
		return
	}
	p, _ := sharedPoller()
	var rearmErr error
	if err := c.rd.rc.Control(func(fd uintptr) { rearmErr = p.rearm(int(fd)) }); err != nil || rearmErr != nil {
		if !c.rd.stopped.Load() {
			c.closeWith(CloseTransportError, errors.Join(err, rearmErr))
		}
	}
}

// readAvailable reads until the socket would block; it reports false once the connection is
// closing.
func (c *Conn) readAvailable(buf []byte) bool {
	for {
		n, err := c.readNonBlocking(buf)
		if n > 0 {
			if ferr := c.rd.fr.feed(buf[:n], c.onFrame); ferr != nil {
				c.readFailed(ferr)
				return false
			}
		}
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return true
		case err != nil:
			c.closeWith(readCloseReason(err), err)
			return false
		}
	}
}

// readNonBlocking reads once without waiting: syscall.EAGAIN when nothing is there, io.EOF
// when the peer has closed.
func (c *Conn) readNonBlocking(buf []byte) (int, error) {
	var (
		n    int
		rerr error
	)
	err := c.rd.rc.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), buf)
		if errors.Is(rerr, syscall.EINTR) {
			return false
		}
		return true
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
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
	default:
		c.closeWith(CloseTransportError, err)
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
		c.closeWith(CloseTransportClose, nil)
		return errStopReading
	}
	if !c.onPacket(p) {
		return errStopReading
	}
	return nil
}
