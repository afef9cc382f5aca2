package socketio

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/realtimed/realtimed/socketio/engineio"
)

func TestConnectNamespaces(t *testing.T) {
	ts := newTestServer(t, Options{})
	transports(t, ts, func(t *testing.T, dial func() rawClient) {
		c := dial()
		id := connect(t, c, "/", "")
		if s := ts.findSocket(t, id); s.Auth() != nil || s.Namespace().Name() != "/" {
			t.Fatalf("auth %q nsp %q", s.Auth(), s.Namespace().Name())
		}
		customID := connect(t, c, "/custom", `{"token":"abc"}`)
		if s := ts.findSocket(t, customID); string(s.Auth()) != `{"token":"abc"}` || s.Namespace().Name() != "/custom" {
			t.Fatalf("auth %q nsp %q", s.Auth(), s.Namespace().Name())
		}
		if id == customID {
			t.Fatal("one socket id for two namespaces")
		}
		// Events go to their namespace.
		c.send(text(`2/custom,["message","in custom"]`))
		expect(t, c, text(`2/custom,["message-back","in custom"]`))
		echoes(t, c, "in main")

		// An unknown namespace is refused with CONNECT_ERROR; the connection stays.
		c.send(text(`0/nope,{"token":"abc"}`))
		expect(t, c, text(`4/nope,{"message":"Invalid namespace"}`))
		echoes(t, c, "still connected")
	})
}

// A connection that joins no namespace within ConnectTimeout is closed; one that joined is not.
func TestConnectTimeout(t *testing.T) {
	ts := newTestServer(t, Options{ConnectTimeout: 200 * time.Millisecond})
	transports(t, ts, func(t *testing.T, dial func() rawClient) {
		idle := dial()
		joined := dial()
		connect(t, joined, "/", "")
		// A refused CONNECT does not count as joining.
		refused := dial()
		refused.send(text("0/nope,"))
		expectPrefix(t, refused, `4/nope,`)

		idle.closed()
		refused.closed()
		time.Sleep(400 * time.Millisecond) // twice the timeout: the joined connection stays
		echoes(t, joined, "still here")
	})
}

func TestEventsAndClientAcks(t *testing.T) {
	ts := newTestServer(t, Options{})
	transports(t, ts, func(t *testing.T, dial func() rawClient) {
		c := dial()
		connect(t, c, "/", "")
		connect(t, c, "/custom", "")
		for _, tc := range []struct{ send, want string }{
			{`2["message",1,"two",{"three":[3]},null,true]`, `2["message-back",1,"two",{"three":[3]},null,true]`},
			{`2["message"]`, `2["message-back"]`},
			{`21["message-with-ack","a",{"b":1}]`, `31["a",{"b":1}]`},
			{`29007199254740991["message-with-ack"]`, `39007199254740991[]`},
			{`2/custom,["message","x"]`, `2/custom,["message-back","x"]`},
			{`2/custom,42["message-with-ack","y"]`, `3/custom,42["y"]`},
			{`2["message","é€😀"]`, `2["message-back","é€😀"]`},
		} {
			c.send(text(tc.send))
			expect(t, c, text(tc.want))
		}
	})
}

// Binary events and binary acks with placeholders, over websocket frames and base64 polling.
func TestBinaryEventsAndAcks(t *testing.T) {
	ts := newTestServer(t, Options{})
	transports(t, ts, func(t *testing.T, dial func() rawClient) {
		c := dial()
		connect(t, c, "/", "")
		connect(t, c, "/custom", "")

		c.send(text(`51-["message",{"_placeholder":true,"num":0}]`), bin(1, 2, 3))
		expect(t, c, text(`51-["message-back",{"_placeholder":true,"num":0}]`))
		expect(t, c, bin(1, 2, 3))

		c.send(text(`52-/custom,7["message-with-ack",{"a":{"_placeholder":true,"num":1}},[{"_placeholder":true,"num":0}]]`), bin(9), bin(8, 7))
		expect(t, c, text(`62-/custom,7[{"a":{"_placeholder":true,"num":1}},[{"_placeholder":true,"num":0}]]`))
		expect(t, c, bin(9))
		expect(t, c, bin(8, 7))

		// An empty attachment is still an attachment.
		c.send(text(`51-["message",{"_placeholder":true,"num":0}]`), frame{binary: []byte{}})
		expect(t, c, text(`51-["message-back",{"_placeholder":true,"num":0}]`))
		expect(t, c, frame{binary: []byte{}})
		echoes(t, c, "after binary")
	})
}

type ackResult struct {
	args        []json.RawMessage
	attachments [][]byte
	err         error
}

// The server emits with an ack: the client's ACK (text or binary) reaches the callback once; no
// ACK in time gives ErrAckTimeout; a disconnect gives ErrDisconnected.
func TestServerEmitWithAck(t *testing.T) {
	ts := newTestServer(t, Options{})
	transports(t, ts, func(t *testing.T, dial func() rawClient) {
		c := dial()
		s := ts.findSocket(t, connect(t, c, "/", ""))
		results := make(chan ackResult, 4)
		cb := func(args []json.RawMessage, atts [][]byte, err error) { results <- ackResult{args, atts, err} }
		wait := func() ackResult {
			t.Helper()
			select {
			case r := <-results:
				return r
			case <-time.After(waitTimeout):
				t.Fatal("ack callback not called")
				return ackResult{}
			}
		}

		if err := s.EmitWithAck("question", waitTimeout, cb, "why?", []byte{0xca, 0xfe}); err != nil {
			t.Fatal(err)
		}
		pkt := expectPrefix(t, c, `51-`)
		if !strings.HasSuffix(pkt, `["question","why?",{"_placeholder":true,"num":0}]`) {
			t.Fatalf("emit %q", pkt)
		}
		expect(t, c, bin(0xca, 0xfe))
		id := strings.TrimSuffix(strings.TrimPrefix(pkt, "51-"), `["question","why?",{"_placeholder":true,"num":0}]`)
		c.send(text(`3` + id + `["because",2]`))
		if r := wait(); r.err != nil || len(r.args) != 2 || string(r.args[0]) != `"because"` || string(r.args[1]) != "2" {
			t.Fatalf("ack %+v", r)
		}
		// A second ACK with the same id is ignored; the connection stays.
		c.send(text(`3` + id + `["again"]`))
		echoes(t, c, "after a stale ack")

		// A binary ACK.
		if err := s.EmitWithAck("file", waitTimeout, cb); err != nil {
			t.Fatal(err)
		}
		id = strings.TrimSuffix(strings.TrimPrefix(expectPrefix(t, c, `2`), "2"), `["file"]`)
		c.send(text(`61-`+id+`[{"_placeholder":true,"num":0}]`), bin(4, 2))
		if r := wait(); r.err != nil || len(r.attachments) != 1 || string(r.attachments[0]) != "\x04\x02" {
			t.Fatalf("binary ack %+v", r)
		}

		// No ACK in time.
		if err := s.EmitWithAck("ignored", 100*time.Millisecond, cb); err != nil {
			t.Fatal(err)
		}
		id = strings.TrimSuffix(strings.TrimPrefix(expectPrefix(t, c, `2`), "2"), `["ignored"]`)
		if r := wait(); !errors.Is(r.err, ErrAckTimeout) {
			t.Fatalf("timeout: %+v", r)
		}
		c.send(text(`3` + id + `["too late"]`))
		echoes(t, c, "after a late ack")
		select {
		case r := <-results:
			t.Fatalf("callback called again: %+v", r)
		default:
		}

		// Disconnected before the ACK.
		if err := s.EmitWithAck("pending", waitTimeout, cb); err != nil {
			t.Fatal(err)
		}
		expectPrefix(t, c, `2`)
		c.send(text(`1`))
		if r := wait(); !errors.Is(r.err, ErrDisconnected) {
			t.Fatalf("disconnect: %+v", r)
		}
		if err := s.EmitWithAck("after", waitTimeout, cb); !errors.Is(err, ErrDisconnected) && err != nil {
			t.Fatalf("emit after disconnect: %v", err)
		}
	})
}

// Close and disconnect reasons reach OnDisconnect with Node's strings.
func TestDisconnectReasons(t *testing.T) {
	ts := newTestServer(t, Options{Engine: engineio.Options{PingInterval: 100 * time.Millisecond, PingTimeout: 200 * time.Millisecond}})
	t.Run("client namespace disconnect", func(t *testing.T) {
		c := ts.dialWebsocket(t)
		id := connect(t, c, "/", "")
		customID := connect(t, c, "/custom", "")
		c.send(text("1/custom,"))
		if ev := ts.waitDisconnect(t, customID); ev.reason != ReasonClientDisconnect || ev.nsp != "/custom" {
			t.Fatalf("%+v", ev)
		}
		echoes(t, c, "main namespace unaffected")
		connect(t, c, "/custom", "") // and the namespace can be joined again
		c.send(text("1"))
		if ev := ts.waitDisconnect(t, id); ev.reason != ReasonClientDisconnect {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("server namespace disconnect", func(t *testing.T) {
		c := ts.dialWebsocket(t)
		id := connect(t, c, "/", "")
		c.send(text(`2["disconnect-me"]`))
		expect(t, c, text("1"))
		if ev := ts.waitDisconnect(t, id); ev.reason != ReasonServerDisconnect {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("transport close", func(t *testing.T) {
		c := ts.dialWebsocket(t)
		id := connect(t, c, "/", "")
		_ = c.ws.Close()
		if ev := ts.waitDisconnect(t, id); ev.reason != ReasonTransportClose {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("ping timeout", func(t *testing.T) {
		c := ts.dialPolling(t)
		id := connect(t, c, "/", "")
		// Never answer the ping.
		if ev := ts.waitDisconnect(t, id); ev.reason != ReasonPingTimeout {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("parse error", func(t *testing.T) {
		c := ts.dialWebsocket(t)
		id := connect(t, c, "/", "")
		c.send(text("9"))
		if ev := ts.waitDisconnect(t, id); ev.reason != ReasonParseError {
			t.Fatalf("%+v", ev)
		}
	})
	t.Run("forced close", func(t *testing.T) {
		c := ts.dialWebsocket(t)
		id := connect(t, c, "/", "")
		ts.findSocket(t, id).Conn().Close()
		if ev := ts.waitDisconnect(t, id); ev.reason != ReasonForcedClose {
			t.Fatalf("%+v", ev)
		}
	})
}
