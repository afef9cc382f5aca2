package engineio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// Differential fuzzing of the frame decoder against gorilla/websocket's reader: the same bytes
// in give the same data messages out, and the same ending (a close frame with the same code, a
// refusal, or the end of the input), or our decoder refuses for a reason RFC 6455 gives that
// gorilla does not check:
//   - text that is not UTF-8 (section 8.1; gorilla leaves it to the application), which we
//     refuse as soon as it cannot be valid, possibly before the message is complete;
//   - a length not encoded in the fewest bytes (section 5.2);
//   - a close frame with a 1-byte payload (section 5.5.1; gorilla reads it as "no status").
//
// We also refuse earlier: reserved bits or opcodes in a frame's first byte, before its second
// byte has arrived (gorilla reads two bytes first; on an input that ends there it sees only the
// end of the input).
//
// One difference goes the other way: status 1014 (Bad Gateway, registered with IANA after
// gorilla's list was written) is a valid close code for us, as for Node's ws, not for gorilla.

// diffLimit is the message limit of both decoders.
const diffLimit = 4096

// ending is how a decoder's run over the input ended.
type ending int

const (
	endInput   ending = iota // the input ran out (possibly inside a frame)
	endClose                 // a close frame
	endRefused               // a protocol error or a message over the limit
)

// decoded is what a decoder made of an input.
type decoded struct {
	msgs      []emitted // text and binary messages
	end       ending
	closeCode int // endClose: the code, or websocket.CloseNoStatusReceived
	err       error
}

// decodeOurs runs frameReader over stream in chunks of the given size.
func decodeOurs(stream []byte, chunk int) decoded {
	r := &frameReader{limit: fixedLimit(diffLimit)}
	var d decoded
	errClosed := errors.New("close frame")
	emit := func(op byte, p []byte) error {
		switch op {
		case opText, opBinary:
			d.msgs = append(d.msgs, emitted{op, string(p)})
		case opClose:
			d.closeCode = int(peerCloseCode(p))
			return errClosed
		}
		return nil
	}
	for len(stream) > 0 {
		n := min(chunk, len(stream))
		buf := append([]byte(nil), stream[:n]...) // the reader unmasks in place
		stream = stream[n:]
		if err := r.feed(buf, emit); err != nil {
			if err == errClosed {
				d.end = endClose
			} else {
				d.end, d.err = endRefused, err
			}
			return d
		}
	}
	return d
}

// decodeGorilla runs gorilla's server-side reader over stream.
func decodeGorilla(t testing.TB, stream []byte) decoded {
	ws := gorillaOver(t, stream)
	ws.SetReadLimit(diffLimit)
	var d decoded
	for {
		mt, p, err := ws.ReadMessage()
		if err == nil {
			d.msgs = append(d.msgs, emitted{byte(mt), string(p)})
			continue
		}
		var ce *websocket.CloseError
		switch {
		case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
			d.end = endInput // gorilla's report of an input that ends inside a frame
		case errors.As(err, &ce):
			d.end, d.closeCode = endClose, ce.Code
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			d.end = endInput
		default:
			d.end, d.err = endRefused, err
		}
		return d
	}
}

// gorillaOver returns a gorilla server connection whose peer sent stream after the handshake.
func gorillaOver(t testing.TB, stream []byte) *websocket.Conn {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	u := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := u.Upgrade(&hijackRecorder{conn: &streamConn{r: bytes.NewReader(stream)}}, req, nil)
	if err != nil {
		t.Fatalf("gorilla upgrade: %v", err)
	}
	return ws
}

// hijackRecorder is a ResponseWriter whose connection is a streamConn.
type hijackRecorder struct {
	httptest.ResponseRecorder
	conn net.Conn
}

func (h *hijackRecorder) Header() http.Header {
	if h.HeaderMap == nil {
		h.HeaderMap = http.Header{}
	}
	return h.HeaderMap
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}

// streamConn reads a fixed input and discards what is written.
type streamConn struct{ r *bytes.Reader }

func (c *streamConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *streamConn) Close() error                     { return nil }
func (c *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// stricter reports whether err is a refusal RFC 6455 requires and gorilla does not make.
func stricter(err error) bool {
	return err == errInvalidUTF8 || err == errFrameLength || err == errCloseFrame
}

// compareDecoders checks our decoder against gorilla's on stream.
func compareDecoders(t *testing.T, stream []byte, chunk int) {
	ours, theirs := decodeOurs(stream, chunk), decodeGorilla(t, stream)
	if ours.end == endRefused && stricter(ours.err) {
		// Up to the refusal, both decoded the same; gorilla then accepted what we refused.
		if len(ours.msgs) > len(theirs.msgs) || !sameMessages(ours.msgs, theirs.msgs[:len(ours.msgs)]) {
			t.Fatalf("before our refusal (%v): ours %v, gorilla %v", ours.err, ours.msgs, theirs.msgs)
		}
		if ours.err == errInvalidUTF8 && len(theirs.msgs) > len(ours.msgs) {
			if next := theirs.msgs[len(ours.msgs)]; next.op != opText || utf8.ValidString(next.payload) {
				t.Fatalf("we refused as not UTF-8 where gorilla read %d %q", next.op, next.payload)
			}
		}
		return
	}
	if ours.end == endRefused && ours.err == errFrameReserved && theirs.end == endInput && sameMessages(ours.msgs, theirs.msgs) {
		return // the input ended inside the header whose first byte we refused
	}
	if ours.end == endClose && ours.closeCode == 1014 && theirs.end == endRefused && sameMessages(ours.msgs, theirs.msgs) {
		return
	}
	if !sameMessages(ours.msgs, theirs.msgs) || ours.end != theirs.end || ours.end == endClose && ours.closeCode != theirs.closeCode {
		t.Fatalf("ours: %d messages, end %d (close %d, %v); gorilla: %d messages, end %d (close %d, %v)",
			len(ours.msgs), ours.end, ours.closeCode, ours.err, len(theirs.msgs), theirs.end, theirs.closeCode, theirs.err)
	}
	// Our UTF-8 check did not refuse: gorilla's text messages must be valid, or we would have.
	for _, m := range theirs.msgs {
		if m.op == opText && !utf8.ValidString(m.payload) {
			t.Fatalf("we accepted text that is not UTF-8: %q", m.payload)
		}
	}
}

func sameMessages(a, b []emitted) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFrameReaderMatchesGorilla runs the comparison over the conformance table's inputs.
func TestFrameReaderMatchesGorilla(t *testing.T) {
	for _, tc := range conformanceCases() {
		stream := bytes.Join(tc.send, nil)
		for _, chunk := range []int{1, 3, 1 << 20} {
			compareDecoders(t, stream, chunk)
		}
	}
}

func FuzzFrameReaderVsGorilla(f *testing.F) {
	for _, tc := range conformanceCases() {
		if stream := bytes.Join(tc.send, nil); len(stream) < 2*diffLimit {
			f.Add(stream, uint8(7))
		}
	}
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		compareDecoders(t, stream, int(chunk%32)+1)
	})
}
