package engineio

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rawWS is a websocket client that writes whatever bytes a test gives it and reads the
// server's frames exactly as they come, for tests of the framing itself.
type rawWS struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// wsFrame is a frame read from the server.
type wsFrame struct {
	fin     bool
	op      byte
	payload []byte
}

// dialRawWS opens a websocket to rawURL (http://host/path?query) with a handshake written by
// hand, and returns once the server answered 101.
func dialRawWS(t *testing.T, rawURL string) *rawWS {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", u.Host, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	var key [16]byte
	_, _ = rand.Read(key[:])
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", u.RequestURI(), u.Host, base64.StdEncoding.EncodeToString(key[:]))
	c := &rawWS{t: t, nc: nc, br: bufio.NewReader(nc)}
	_ = nc.SetReadDeadline(time.Now().Add(waitTimeout))
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("websocket handshake: %v", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("websocket handshake: status %d", res.StatusCode)
	}
	return c
}

// openRawWS opens an Engine.IO session over a raw websocket and reads its open packet.
func (ts *testServer) openRawWS(t *testing.T) *rawWS {
	t.Helper()
	c := dialRawWS(t, ts.url("transport=websocket"))
	if f := c.next(); f.op != opText || !strings.HasPrefix(string(f.payload), "0{") {
		t.Fatalf("open packet expected, got %d %q", f.op, f.payload)
	}
	return c
}

func (c *rawWS) write(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("writing %d bytes: %v", len(b), err)
	}
}

// readFrame reads the next frame from the server, within waitTimeout.
func (c *rawWS) readFrame() (wsFrame, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(waitTimeout))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return wsFrame{}, err
	}
	if h[1]&0x80 != 0 {
		return wsFrame{}, errors.New("server frame is masked")
	}
	if h[0]&0x70 != 0 {
		return wsFrame{}, errors.New("server frame has reserved bits set")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return wsFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		return wsFrame{}, err
	}
	return wsFrame{fin: h[0]&0x80 != 0, op: h[0] & 0x0f, payload: payload}, nil
}

// next returns the next frame, failing the test on an error.
func (c *rawWS) next() wsFrame {
	c.t.Helper()
	f, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// expectClose reads the server's close frame, checks its status, and then checks that the
// server closes the TCP connection.
func (c *rawWS) expectClose(code uint16) {
	c.t.Helper()
	f := c.next()
	if f.op != opClose {
		c.t.Fatalf("close frame %d expected, got opcode %d %.60q", code, f.op, f.payload)
	}
	if len(f.payload) < 2 || binary.BigEndian.Uint16(f.payload) != code {
		c.t.Fatalf("close frame with status %d expected, got payload %x", code, f.payload)
	}
	c.expectEOF()
}

// expectEOF checks that the server closes the connection with nothing more to read.
func (c *rawWS) expectEOF() {
	c.t.Helper()
	f, err := c.readFrame()
	if err == nil {
		c.t.Fatalf("end of stream expected, got frame %d %.60q", f.op, f.payload)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("the server did not close the connection")
	}
}

// maskKey masks every frame the tests write.
var maskKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// frame builds a masked client frame from its first header byte (FIN, RSV bits, opcode).
func frame(b0 byte, payload string) []byte {
	f := clientFrame(false, 0, []byte(payload), maskKey)
	f[0] = b0
	return f
}

// Frame first bytes.
const (
	finText   = 0x80 | opText
	finBinary = 0x80 | opBinary
	finCont   = 0x80 | opContinuation
	finPing   = 0x80 | opPing
	finPong   = 0x80 | opPong
	finClose  = 0x80 | opClose
)

// closePayload is a close frame's payload: status code and reason.
func closePayload(code uint16, reason string) string {
	return string([]byte{byte(code >> 8), byte(code)}) + reason
}
