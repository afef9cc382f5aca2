package engineio

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// conformanceMaxPayload is the maxPayload of the conformance server.
const conformanceMaxPayload = 100_000

// wsCase is one case of the websocket conformance table: what the client writes (each element
// one write), the frames the server must answer with, in order, and the status of the close
// frame that must follow (0: the connection must stay open, which is checked by a normal close).
// With syncAt set, the frames wanted are read after the first syncAt writes, before the rest:
// a close that fails the connection drops what was queued and not yet written.
type wsCase struct {
	name   string
	send   [][]byte
	want   []wsFrame
	close  uint16
	syncAt int
}

func w(parts ...[]byte) [][]byte { return parts }

// text and binary frames the echo server answers: text "4…" comes back as a text frame.
func echoText(s string) wsFrame     { return wsFrame{fin: true, op: opText, payload: []byte(s)} }
func echoBinary(s string) wsFrame   { return wsFrame{fin: true, op: opBinary, payload: []byte(s)} }
func pong(s string) wsFrame         { return wsFrame{fin: true, op: opPong, payload: []byte(s)} }
func frames(f ...wsFrame) []wsFrame { return f }

// conformanceCases is the table, grouped as the Autobahn testsuite groups its cases. The
// server is the Engine.IO echo server with maxPayload conformanceMaxPayload.
func conformanceCases() []wsCase {
	big := strings.Repeat("x", 65535)
	var cases []wsCase
	add := func(group string, cs ...wsCase) {
		for _, c := range cs {
			c.name = group + "/" + c.name
			cases = append(cases, c)
		}
	}
	// 1: framing, every length encoding.
	for _, n := range []int{0, 124, 125, 126, 127, 65534, 65535, 65536, conformanceMaxPayload - 1} {
		body := "4" + strings.Repeat("a", n)
		add("1 framing", wsCase{name: fmt.Sprintf("text %d bytes", len(body)), send: w(frame(finText, body)), want: frames(echoText(body))})
		bin := strings.Repeat("\xfe", n+1)
		add("1 framing", wsCase{name: fmt.Sprintf("binary %d bytes", len(bin)), send: w(frame(finBinary, bin)), want: frames(echoBinary(bin))})
	}
	add("1 framing",
		wsCase{name: "text written one byte at a time", send: oneByteWrites(frame(finText, "4hello")), want: frames(echoText("4hello"))},
		wsCase{name: "binary written one byte at a time", send: oneByteWrites(frame(finBinary, "\x00\x01\x02")), want: frames(echoBinary("\x00\x01\x02"))},
		wsCase{name: "two messages in one write", send: w(append(frame(finText, "4a"), frame(finText, "4b")...)), want: frames(echoText("4a"), echoText("4b"))},
	)
	// 2: pings and pongs.
	add("2 ping pong",
		wsCase{name: "ping without payload", send: w(frame(finPing, "")), want: frames(pong(""))},
		wsCase{name: "ping with a text payload", send: w(frame(finPing, "hello")), want: frames(pong("hello"))},
		wsCase{name: "ping with a binary payload", send: w(frame(finPing, "\x00\xff\xfe\xfd")), want: frames(pong("\x00\xff\xfe\xfd"))},
		wsCase{name: "ping with 125 bytes", send: w(frame(finPing, strings.Repeat("*", 125))), want: frames(pong(strings.Repeat("*", 125)))},
		wsCase{name: "ping with 126 bytes", send: w(frame(finPing, strings.Repeat("*", 126))), close: closeProtocolError},
		wsCase{name: "unsolicited pong", send: w(frame(finPong, "unasked"), frame(finText, "4after")), want: frames(echoText("4after"))},
		wsCase{name: "unsolicited pong, then ping", send: w(frame(finPong, "x"), frame(finPing, "y")), want: frames(pong("y"))},
		wsCase{name: "ten pings", send: w(bytes.Repeat(frame(finPing, "p"), 10)), want: frames(pong("p"), pong("p"), pong("p"), pong("p"), pong("p"), pong("p"), pong("p"), pong("p"), pong("p"), pong("p"))},
		wsCase{name: "ping written one byte at a time", send: oneByteWrites(frame(finPing, "slow")), want: frames(pong("slow"))},
		wsCase{name: "fragmented ping", send: w(frame(opPing, "a")), close: closeProtocolError},
	)
	// 3: reserved bits.
	for _, rsv := range []byte{0x40, 0x20, 0x10, 0x70} {
		add("3 reserved bits",
			wsCase{name: fmt.Sprintf("text with RSV %#x", rsv), send: w(frame(finText|rsv, "4x")), close: closeProtocolError},
			wsCase{name: fmt.Sprintf("text, then text with RSV %#x", rsv), send: w(frame(finText, "4ok"), frame(finText|rsv, "4x")), want: frames(echoText("4ok")), close: closeProtocolError, syncAt: 1},
			wsCase{name: fmt.Sprintf("binary with RSV %#x", rsv), send: w(frame(finBinary|rsv, "x")), close: closeProtocolError},
			wsCase{name: fmt.Sprintf("ping with RSV %#x", rsv), send: w(frame(finPing|rsv, "x")), close: closeProtocolError},
			wsCase{name: fmt.Sprintf("close with RSV %#x", rsv), send: w(frame(finClose|rsv, closePayload(1000, ""))), close: closeProtocolError},
		)
	}
	// 4: opcodes.
	for _, op := range []byte{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		add("4 opcodes",
			wsCase{name: fmt.Sprintf("reserved opcode %#x", op), send: w(frame(0x80|op, "")), close: closeProtocolError},
			wsCase{name: fmt.Sprintf("text, then reserved opcode %#x with a payload", op), send: w(frame(finText, "4ok"), frame(0x80|op, "abc")), want: frames(echoText("4ok")), close: closeProtocolError, syncAt: 1},
		)
	}
	// 5: fragmentation.
	add("5 fragmentation",
		wsCase{name: "text in two fragments", send: w(frame(opText, "4frag"), frame(finCont, "ment")), want: frames(echoText("4fragment"))},
		wsCase{name: "binary in two fragments", send: w(frame(opBinary, "\x01"), frame(finCont, "\x02")), want: frames(echoBinary("\x01\x02"))},
		wsCase{name: "text in two fragments, one write", send: w(append(frame(opText, "4a"), frame(finCont, "b")...)), want: frames(echoText("4ab"))},
		wsCase{name: "text in one-byte fragments", send: w(frame(opText, "4"), frame(opContinuation, "a"), frame(opContinuation, "b"), frame(finCont, "c")), want: frames(echoText("4abc"))},
		wsCase{name: "empty fragments", send: w(frame(opText, ""), frame(opContinuation, "4"), frame(opContinuation, ""), frame(finCont, "")), want: frames(echoText("4"))},
		wsCase{name: "ping between fragments", send: w(frame(opText, "4a"), frame(finPing, "p"), frame(finCont, "b")), want: frames(pong("p"), echoText("4ab"))},
		wsCase{name: "pong between fragments", send: w(frame(opText, "4a"), frame(finPong, "p"), frame(finCont, "b")), want: frames(echoText("4ab"))},
		wsCase{name: "fragments written one byte at a time", send: oneByteWrites(append(append(frame(opText, "4a"), frame(finPing, "p")...), frame(finCont, "b")...)), want: frames(pong("p"), echoText("4ab"))},
		wsCase{name: "continuation without a message", send: w(frame(finCont, "x")), close: closeProtocolError},
		wsCase{name: "unfinished continuation without a message", send: w(frame(opContinuation, "x")), close: closeProtocolError},
		wsCase{name: "text while a text is fragmented", send: w(frame(opText, "4a"), frame(finText, "4b")), close: closeProtocolError},
		wsCase{name: "binary while a text is fragmented", send: w(frame(opText, "4a"), frame(finBinary, "b")), close: closeProtocolError},
		wsCase{name: "fragmented close", send: w(frame(opClose, closePayload(1000, ""))), close: closeProtocolError},
		wsCase{name: "fragmented pong", send: w(frame(opPong, "")), close: closeProtocolError},
		wsCase{name: "message after a fragmented one", send: w(frame(opText, "4a"), frame(finCont, "b"), frame(finText, "4c")), want: frames(echoText("4ab"), echoText("4c"))},
	)
	// 6: UTF-8 in text messages.
	for _, s := range []string{"κόσμε", "\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000", "\U0010ffff", "\ufeff", "\ufffd"} {
		add("6 utf-8",
			wsCase{name: fmt.Sprintf("valid %q", s), send: w(frame(finText, "4"+s)), want: frames(echoText("4" + s))},
			wsCase{name: fmt.Sprintf("valid %q split in every fragment", s), send: w(utf8Fragments("4" + s)...), want: frames(echoText("4" + s))},
		)
	}
	for _, s := range []string{
		"\xff", "\xfe", "\x80", "\xbf", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xe0\x9f\xbf", "\xf0\x80\x80\xaf",
		"\xf0\x8f\xbf\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xed\xa0\x80\xed\xb0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
		"\xf8\x88\x80\x80\x80", "\xce", "\xe2\x82", "\xf0\x9f\x98", "κόσμε\xed\xa0\x80edited",
	} {
		add("6 utf-8",
			wsCase{name: fmt.Sprintf("invalid %q", s), send: w(frame(finText, "4"+s)), close: closeInvalidPayload},
			wsCase{name: fmt.Sprintf("invalid %q split in every fragment", s), send: w(utf8Fragments("4" + s)...), close: closeInvalidPayload},
		)
	}
	add("6 utf-8",
		wsCase{name: "valid character split between fragments", send: w(frame(opText, "4\xce"), frame(finCont, "\xba")), want: frames(echoText("4κ"))},
		wsCase{name: "message ends inside a character", send: w(frame(opText, "4ok\xe2\x82"), frame(finCont, "")), close: closeInvalidPayload},
		// Fail fast: the server refuses a bad first fragment without waiting for the rest.
		wsCase{name: "invalid first fragment fails at once", send: w(frame(opText, "4\xed\xa0\x80")), close: closeInvalidPayload},
		wsCase{name: "impossible prefix fails at once", send: w(frame(opText, "4\xf4\x90")), close: closeInvalidPayload},
		wsCase{name: "binary is not checked", send: w(frame(finBinary, "\xff\xfe")), want: frames(echoBinary("\xff\xfe"))},
	)
	// 7: the close handshake.
	add("7 close",
		wsCase{name: "close without a payload", send: w(frame(finClose, "")), close: closeNormal},
		wsCase{name: "close 1000 echoed", send: w(frame(finClose, closePayload(1000, ""))), close: closeNormal},
		wsCase{name: "close 1001 echoed", send: w(frame(finClose, closePayload(1001, ""))), close: closeGoingAway},
		wsCase{name: "close with a reason", send: w(frame(finClose, closePayload(1000, "bye κόσμε"))), close: closeNormal},
		wsCase{name: "close with 123 bytes of reason", send: w(frame(finClose, closePayload(1000, strings.Repeat("r", 123)))), close: closeNormal},
		wsCase{name: "close with 124 bytes of reason", send: w(frame(finClose, closePayload(1000, strings.Repeat("r", 124)))), close: closeProtocolError},
		wsCase{name: "close with a 1-byte payload", send: w(frame(finClose, "\x03")), close: closeProtocolError},
		wsCase{name: "close reason not UTF-8", send: w(frame(finClose, closePayload(1000, "\xce\xba\xed\xa0\x80"))), close: closeInvalidPayload},
		wsCase{name: "messages after the close are ignored", send: w(frame(finClose, closePayload(1000, "")), frame(finText, "4late"), frame(finPing, "late")), close: closeNormal},
		wsCase{name: "message, then close", send: w(frame(finText, "4last"), frame(finClose, closePayload(1000, ""))), want: frames(echoText("4last")), close: closeNormal, syncAt: 1},
		wsCase{name: "close while a message is fragmented", send: w(frame(opText, "4a"), frame(finClose, closePayload(1000, ""))), close: closeNormal},
		wsCase{name: "Engine.IO close packet", send: w(frame(finText, "1")), close: closeNormal},
	)
	for _, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		add("7 close", wsCase{name: fmt.Sprintf("valid code %d echoed", code), send: w(frame(finClose, closePayload(code, ""))), close: code})
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		add("7 close", wsCase{name: fmt.Sprintf("invalid code %d", code), send: w(frame(finClose, closePayload(code, ""))), close: closeProtocolError})
	}
	// 9 and beyond: limits and malformed headers.
	add("9 limits",
		wsCase{name: "text over maxPayload", send: w(frame(finText, "4"+strings.Repeat("a", conformanceMaxPayload))), close: closeTooBig},
		wsCase{name: "binary over maxPayload", send: w(frame(finBinary, strings.Repeat("a", conformanceMaxPayload+1))), close: closeTooBig},
		wsCase{name: "header announcing more than maxPayload", send: w([]byte{finText, 0x80 | 127, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x40, 1, 2, 3, 4}), close: closeTooBig},
		wsCase{name: "fragments adding up to more than maxPayload", send: w(frame(opText, "4"+big), frame(opContinuation, big), frame(finCont, "x")), close: closeTooBig},
		wsCase{name: "unmasked frame", send: w([]byte{finText, 2, '4', 'x'}), close: closeProtocolError},
		wsCase{name: "16-bit length that fits in 7 bits", send: w([]byte{finText, 0x80 | 126, 0, 2, 0, 0, 0, 0, '4', 'x'}), close: closeProtocolError},
		wsCase{name: "64-bit length that fits in 16 bits", send: w([]byte{finText, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, '4', 'x'}), close: closeProtocolError},
		wsCase{name: "64-bit length with the top bit set", send: w([]byte{finText, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), close: closeProtocolError},
		wsCase{name: "not an Engine.IO packet", send: w(frame(finText, "9")), close: closePolicy},
		wsCase{name: "Engine.IO ping from the client", send: w(frame(finText, "2")), close: closePolicy},
	)
	return cases
}

// oneByteWrites splits b into writes of one byte.
func oneByteWrites(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// utf8Fragments sends s as a fragmented text message with one byte per fragment, so that
// every multi-byte character is split across fragments.
func utf8Fragments(s string) [][]byte {
	var out [][]byte
	for i := 0; i < len(s); i++ {
		b0 := byte(opContinuation)
		if i == 0 {
			b0 = opText
		}
		if i == len(s)-1 {
			b0 |= 0x80
		}
		out = append(out, frame(b0, s[i:i+1]))
	}
	return out
}

// TestWebsocketConformance runs the table against the real server over TCP, in both read modes.
func TestWebsocketConformance(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			ts := newTestServer(t, Options{MaxPayload: conformanceMaxPayload, GoroutineIO: mode.goroutines})
			for _, tc := range conformanceCases() {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					runConformanceCase(t, ts, tc)
				})
			}
		})
	}
}

func runConformanceCase(t *testing.T, ts *testServer, tc wsCase) {
	c := ts.openRawWS(t)
	send := func(parts [][]byte) {
		for _, b := range parts {
			c.write(b)
			if len(tc.send) > 1 {
				time.Sleep(time.Millisecond) // separate reads, mostly
			}
		}
	}
	rest := tc.send
	if tc.syncAt > 0 {
		send(tc.send[:tc.syncAt])
		rest = tc.send[tc.syncAt:]
	} else {
		send(rest)
		rest = nil
	}
	for i, want := range tc.want {
		got := c.next()
		if got.fin != want.fin || got.op != want.op || !bytes.Equal(got.payload, want.payload) {
			t.Fatalf("frame %d: got fin=%v op=%d %.60q, want fin=%v op=%d %.60q", i, got.fin, got.op, got.payload, want.fin, want.op, want.payload)
		}
	}
	send(rest)
	if tc.close != 0 {
		c.expectClose(tc.close)
		return
	}
	// The connection is still healthy: it closes normally.
	c.write(frame(finClose, closePayload(closeNormal, "done")))
	c.expectClose(closeNormal)
}
