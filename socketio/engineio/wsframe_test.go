package engineio

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// clientFrame builds one masked client frame.
func clientFrame(fin bool, op byte, payload []byte, key [4]byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

type emitted struct {
	op      byte
	payload string
}

// feedChunks feeds stream to a fresh reader in the given chunk sizes (cycled).
func feedChunks(t *testing.T, stream []byte, limit int, sizes []int) ([]emitted, error) {
	t.Helper()
	r := &frameReader{limit: fixedLimit(limit)}
	var got []emitted
	emit := func(op byte, p []byte) error {
		got = append(got, emitted{op, string(p)})
		return nil
	}
	i := 0
	for len(stream) > 0 {
		n := min(sizes[i%len(sizes)], len(stream))
		i++
		chunk := append([]byte(nil), stream[:n]...) // the reader unmasks in place
		stream = stream[n:]
		if err := r.feed(chunk, emit); err != nil {
			return got, err
		}
	}
	return got, nil
}

func TestFrameReaderMessages(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	big := bytes.Repeat([]byte("0123456789"), 7000) // 70,000 bytes: 64-bit length
	mid := bytes.Repeat([]byte("x"), 300)           // 16-bit length
	var stream []byte
	stream = append(stream, clientFrame(true, opText, []byte("4hello"), key)...)
	stream = append(stream, clientFrame(true, opText, nil, key)...) // empty message
	stream = append(stream, clientFrame(false, opText, []byte("42[\"a\","), key)...)
	stream = append(stream, clientFrame(true, opPing, []byte("ping!"), key)...) // between fragments
	stream = append(stream, clientFrame(false, opContinuation, mid, key)...)
	stream = append(stream, clientFrame(true, opContinuation, []byte("]"), key)...)
	stream = append(stream, clientFrame(true, opBinary, big, key)...)
	stream = append(stream, clientFrame(true, opPong, nil, key)...)
	stream = append(stream, clientFrame(true, opClose, []byte{0x03, 0xe8}, key)...)
	want := []emitted{
		{opText, "4hello"},
		{opText, ""},
		{opPing, "ping!"},
		{opText, "42[\"a\"," + string(mid) + "]"},
		{opBinary, string(big)},
		{opPong, ""},
		{opClose, "\x03\xe8"},
	}
	for _, sizes := range [][]int{{len(stream)}, {1}, {2, 3, 5, 7}, {13}, {4096}, {1, 100, 65536}} {
		got, err := feedChunks(t, stream, 1<<20, sizes)
		if err != nil {
			t.Fatalf("chunks %v: %v", sizes, err)
		}
		if len(got) != len(want) {
			t.Fatalf("chunks %v: %d messages, want %d", sizes, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("chunks %v: message %d = %d %.40q, want %d %.40q", sizes, i, got[i].op, got[i].payload, want[i].op, want[i].payload)
			}
		}
	}
}

func TestFrameReaderErrors(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	unmasked := clientFrame(true, opText, []byte("4x"), key)
	unmasked[1] &^= 0x80
	rsv := clientFrame(true, opText, []byte("4x"), key)
	rsv[0] |= 0x40
	nonMinimal := []byte{0x81, 0x80 | 126, 0x00, 0x05, 1, 2, 3, 4}
	cases := []struct {
		name   string
		stream []byte
		limit  int
		want   error
	}{
		{"unmasked", unmasked, 100, errFrameUnmasked},
		{"reserved bit", rsv, 100, errFrameReserved},
		{"reserved opcode", clientFrame(true, 0x3, nil, key), 100, errFrameReserved},
		{"fragmented control", clientFrame(false, opPing, nil, key), 100, errFrameControl},
		{"long control", clientFrame(true, opPing, make([]byte, 126), key), 100, errFrameControl},
		{"lone continuation", clientFrame(true, opContinuation, []byte("x"), key), 100, errFrameContinuation},
		{"interleaved", append(clientFrame(false, opText, []byte("a"), key), clientFrame(true, opText, []byte("b"), key)...), 100, errFrameInterleaved},
		{"non-minimal length", nonMinimal, 100, errFrameLength},
		{"too big", clientFrame(true, opText, make([]byte, 101), key), 100, errMessageTooBig{100}},
		{"too big across fragments", append(clientFrame(false, opText, make([]byte, 60), key), clientFrame(true, opContinuation, make([]byte, 60), key)...), 100, errMessageTooBig{100}},
	}
	for _, c := range cases {
		_, err := feedChunks(t, c.stream, c.limit, []int{3})
		if !errors.Is(err, c.want) && err != c.want {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}
	// An error from emit stops the reader and is returned as is.
	stop := errors.New("stop")
	r := &frameReader{limit: fixedLimit(100)}
	stream := append(clientFrame(true, opText, []byte("a"), key), clientFrame(true, opText, []byte("b"), key)...)
	calls := 0
	err := r.feed(stream, func(byte, []byte) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("emit error: %v after %d calls", err, calls)
	}
}

// TestFrameReaderReadsGorillaClient decodes what a real client implementation writes: gorilla's
// client with a small write buffer fragments large messages.
func TestFrameReaderReadsGorillaClient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var sent [][]byte
	for i := 0; i < 50; i++ {
		msg := make([]byte, rng.IntN(5000))
		for j := range msg {
			msg[j] = byte('a' + rng.IntN(26))
		}
		sent = append(sent, msg)
	}
	raw := rawWebsocketServer(t)
	go func() {
		d := websocket.Dialer{WriteBufferSize: 256} // large messages go out in fragments
		ws, _, err := d.Dial(raw.url, nil)
		if err != nil {
			t.Error(err)
			return
		}
		for i, m := range sent {
			op := websocket.TextMessage
			if i%3 == 0 {
				op = websocket.BinaryMessage
			}
			if err := ws.WriteMessage(op, m); err != nil {
				return
			}
			if i%10 == 0 {
				_ = ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(5*time.Second))
			}
		}
		_ = ws.Close()
	}()
	conn, br := raw.accept(t)
	defer conn.Close()
	r := &frameReader{limit: fixedLimit(1 << 20)}
	var got [][]byte
	pings := 0
	buf := make([]byte, 700)
	for len(got) < len(sent) {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := br.Read(buf)
		if ferr := r.feed(buf[:n], func(op byte, p []byte) error {
			switch op {
			case opPing:
				pings++
			case opText, opBinary:
				if (op == opBinary) != (len(got)%3 == 0) {
					t.Errorf("message %d: opcode %d", len(got), op)
				}
				got = append(got, p)
			}
			return nil
		}); ferr != nil {
			t.Fatal(ferr)
		}
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
	}
	if pings != 5 {
		t.Fatalf("%d pings, want 5", pings)
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("message %d differs", i)
		}
	}
}

// rawServer accepts one websocket handshake by hand and hands over the raw connection.
type rawServer struct {
	ln  net.Listener
	url string
}

func rawWebsocketServer(t *testing.T) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &rawServer{ln: ln, url: "ws://" + ln.Addr().String() + "/"}
}

func (s *rawServer) accept(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := s.ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		t.Fatal(err)
	}
	h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(h[:]))
	return conn, br
}

func FuzzFrameReader(f *testing.F) {
	key := [4]byte{9, 8, 7, 6}
	f.Add(clientFrame(true, opText, []byte("4hello"), key), uint8(3))
	f.Add(append(clientFrame(false, opText, []byte("ab"), key), clientFrame(true, opContinuation, []byte("cd"), key)...), uint8(1))
	f.Add([]byte{0x81, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		// Whatever the bytes, the reader never panics, and the chunking never changes what it
		// decodes.
		whole, errWhole := feedChunks(t, stream, 4096, []int{len(stream) + 1})
		parts, errParts := feedChunks(t, stream, 4096, []int{int(chunk%16) + 1})
		if (errWhole == nil) != (errParts == nil) || len(whole) != len(parts) {
			t.Fatalf("whole: %d messages, %v; in chunks of %d: %d messages, %v", len(whole), errWhole, chunk%16+1, len(parts), errParts)
		}
		for i := range whole {
			if whole[i] != parts[i] {
				t.Fatalf("message %d differs", i)
			}
		}
	})
}
