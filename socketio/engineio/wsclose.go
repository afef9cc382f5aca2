package engineio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"
)

// The websocket close handshake (RFC 6455, section 7). Whoever closes first sends a close frame
// with a status code; the other side answers with one (the server echoes the client's code);
// then the server closes the TCP connection. When the server closes, it sends its close frame,
// shuts down its sending side and reads (and drops) what the client still sends until the
// client closes too, or for lingerTimeout: closing a socket with unread bytes in its buffer
// makes the kernel send a reset, which can destroy the close frame before the client reads it.

// Timeouts of a websocket close.
const (
	closeWriteTimeout = time.Second     // writing the close frame
	lingerTimeout     = 2 * time.Second // waiting for the client to close its side
)

// ErrServerError, wrapped by the error of a close, says the server failed (a handler that
// panicked, say): a websocket is closed with status 1011.
var ErrServerError = errors.New("engine.io: internal server error")

// errPeerClosed is the detail of a close the client started with a close frame; the server
// echoes its code.
type errPeerClosed struct{ code uint16 }

func (e errPeerClosed) Error() string {
	if e.code == closeNoStatus {
		return "websocket: the client closed without a status code"
	}
	return fmt.Sprintf("websocket: the client closed with status %d", e.code)
}

func (e errPeerClosed) closeCode() uint16 {
	if e.code == closeNoStatus {
		return closeNormal
	}
	return e.code
}

// peerCloseCode returns the status code of a received close frame's payload (already
// validated by the frame reader), or closeNoStatus when it has none.
func peerCloseCode(payload []byte) uint16 {
	if len(payload) < 2 {
		return closeNoStatus
	}
	return binary.BigEndian.Uint16(payload)
}

// closeCodeFor is the status code of the close frame sent for a close for reason with err, or
// 0 when none is sent (the client is gone or the socket broke).
func closeCodeFor(reason CloseReason, err error) uint16 {
	var cc closeCoder
	switch {
	case errors.As(err, &cc):
		return cc.closeCode()
	case errors.Is(err, ErrServerError):
		return closeInternalError
	}
	switch reason {
	case CloseForced, ClosePingTimeout:
		return closeNormal
	case CloseServerShutdown:
		return closeGoingAway
	case CloseParseError, CloseSlowConsumer:
		return closePolicy
	case CloseTransportClose:
		if err == nil { // an Engine.IO close packet
			return closeNormal
		}
	}
	return 0 // end of stream, reset, a failed write: nobody to tell
}

// lingers reports whether a websocket closed for reason waits for the client to close its side:
// not when the client has stopped answering or reading.
func lingers(reason CloseReason) bool {
	return reason != ClosePingTimeout && reason != CloseSlowConsumer
}

// closeFrame returns an unmasked close frame with code (no reason).
func closeFrame(code uint16) []byte {
	return []byte{0x80 | opClose, 2, byte(code >> 8), byte(code)}
}

// lingerClose sends frame (when not nil) and closes nc the way the close handshake wants: the
// sending side first, then, once the client has closed its side or lingerTimeout passed, the
// socket. Without linger (a client that stopped answering pings is not waited for), the socket
// is closed right after the frame. It blocks for up to closeWriteTimeout+lingerTimeout: run it
// on a goroutine of its own.
func lingerClose(nc net.Conn, frame []byte, linger bool) {
	if frame != nil {
		_ = nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
		if _, err := nc.Write(frame); err != nil {
			linger = false
		}
	}
	if !linger {
		_ = nc.Close()
		return
	}
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		_ = nc.Close()
		return
	}
	_ = nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	var buf [512]byte
	for {
		if _, err := nc.Read(buf[:]); err != nil {
			break // io.EOF once the client closed, or the deadline
		}
	}
	_ = nc.Close()
}
