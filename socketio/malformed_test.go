package socketio

import (
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio/engineio"
)

const ph0 = `{"_placeholder":true,"num":0}`

// Every malformed packet closes only the connection that sent it, with its reason logged;
// the socket sees "parse error" (or "transport error" for an oversize message), other
// connections keep working and the server stays up. The matrix runs over both transports
// (attachments travel as binary frames, or base64 in polling payloads).
func TestMalformedPackets(t *testing.T) {
	ts := newTestServer(t, Options{Engine: engineio.Options{MaxPayload: 10_000}})
	for _, tc := range []struct {
		name   string
		frames []frame
		err    string           // in the logged error
		reason DisconnectReason // seen by the socket connected to "/"
	}{
		// bad JSON
		{"unterminated array", []frame{text(`2["message"`)}, "not valid JSON", ReasonParseError},
		{"not JSON at all", []frame{text(`2hello`)}, "not valid JSON", ReasonParseError},
		{"trailing garbage", []frame{text(`2["message"]x`)}, "not valid JSON", ReasonParseError},
		// wrong types
		{"event payload is an object", []frame{text(`2{"message":1}`)}, "does not fit packet type 2", ReasonParseError},
		{"event payload is a string", []frame{text(`2"message"`)}, "does not fit packet type 2", ReasonParseError},
		{"event without a payload", []frame{text(`2`)}, "does not fit packet type 2", ReasonParseError},
		{"empty event array", []frame{text(`2[]`)}, "event without a name", ReasonParseError},
		{"event name is an object", []frame{text(`2[{"a":1},"x"]`)}, "event name must be a string", ReasonParseError},
		{"event name is null", []frame{text(`2[null]`)}, "event name must be a string", ReasonParseError},
		{"reserved event name", []frame{text(`2["connect"]`)}, "reserved event name", ReasonParseError},
		{"ack without an id", []frame{text(`3["x"]`)}, "does not fit packet type 3", ReasonParseError},
		{"ack payload is an object", []frame{text(`31{"x":1}`)}, "does not fit packet type 3", ReasonParseError},
		{"disconnect with a payload", []frame{text(`1{"x":1}`)}, "does not fit packet type 1", ReasonParseError},
		{"connect with an array", []frame{text(`0/custom,[1]`)}, "does not fit packet type 0", ReasonParseError},
		{"connect error from a client", []frame{text(`4{"message":"x"}`)}, "sent by servers only", ReasonParseError},
		{"ack id too long", []frame{text(`212345678901234567["message"]`)}, "bad ack id", ReasonParseError},
		{"ack id beyond 2^53", []frame{text(`29007199254740992["message"]`)}, "bad ack id", ReasonParseError},
		{"event name is a number", []frame{text(`2[1,2]`)}, "event name must be a string", ReasonParseError},
		{"event name is a number, with an ack id", []frame{text(`27[1.5]`)}, "event name must be a string", ReasonParseError},
		{"binary event name is a number", []frame{text(`51-[1,` + ph0 + `]`)}, "event name must be a string", ReasonParseError},
		// text that is not UTF-8 is refused by the transport (websocket status 1007)
		{"namespace not UTF-8", []frame{text("2/\xff,[\"message\"]")}, "not valid UTF-8", ReasonTransportError},
		{"event argument not UTF-8", []frame{text("2[\"message\",\"\xed\xa0\x80\"]")}, "not valid UTF-8", ReasonTransportError},
		// unknown packet types
		{"type 7", []frame{text(`7["message"]`)}, "unknown packet type", ReasonParseError},
		{"type x", []frame{text(`x`)}, "unknown packet type", ReasonParseError},
		{"empty packet", []frame{text(``)}, "empty packet", ReasonParseError},
		// attachment counts
		{"huge attachment count", []frame{text(`5999999999-["message"]`)}, "bad attachment count", ReasonParseError},
		{"attachment count over the limit", []frame{text(`511-["message"]`)}, "exceed the limit of 10", ReasonParseError},
		{"attachment count without dash", []frame{text(`51["message"]`)}, "bad attachment count", ReasonParseError},
		{"attachment count not a number", []frame{text(`5a-["message"]`)}, "bad attachment count", ReasonParseError},
		{"negative attachment count", []frame{text(`5-1-["message"]`)}, "bad attachment count", ReasonParseError},
		// placeholders
		{"placeholder num out of range", []frame{text(`51-["message",{"_placeholder":true,"num":1}]`)}, "out of range", ReasonParseError},
		{"negative placeholder num", []frame{text(`51-["message",{"_placeholder":true,"num":-1}]`)}, "out of range", ReasonParseError},
		{"fractional placeholder num", []frame{text(`51-["message",{"_placeholder":true,"num":0.5}]`)}, "out of range", ReasonParseError},
		{"placeholder num is a string", []frame{text(`51-["message",{"_placeholder":true,"num":"0"}]`)}, "without a numeric num", ReasonParseError},
		{"placeholder without num", []frame{text(`51-["message",{"_placeholder":true}]`)}, "without a numeric num", ReasonParseError},
		{"attachment without a placeholder", []frame{text(`52-["message",` + ph0 + `]`)}, "attachment 1 of 2 has no placeholder", ReasonParseError},
		{"placeholder with zero attachments", []frame{text(`50-["message",` + ph0 + `]`)}, "out of range", ReasonParseError},
		{"binary ack placeholder out of range", []frame{text(`61-3[{"_placeholder":true,"num":3}]`)}, "out of range", ReasonParseError},
		// binary without attachments / attachments without a binary packet
		{"text packet instead of the attachment", []frame{text(`51-["message",` + ph0 + `]`), text(`2["message"]`)}, "text message while binary attachments were pending", ReasonParseError},
		{"attachment without a binary packet", []frame{bin(1, 2, 3)}, "binary message without a pending binary packet", ReasonParseError},
		{"one attachment too many", []frame{text(`51-["message",` + ph0 + `]`), bin(1), bin(2)}, "binary message without a pending binary packet", ReasonParseError},
		// namespaces
		{"event for a namespace not joined", []frame{text(`2/custom,["message"]`)}, "namespace not connected", ReasonParseError},
		{"event for an unknown namespace", []frame{text(`2/nope,["message"]`)}, "namespace not connected", ReasonParseError},
		{"second CONNECT to a joined namespace", []frame{text(`0`)}, "already connected", ReasonParseError},
		// size
		{"message over maxPayload", []frame{text(`2["message","` + strings.Repeat("x", 10_000) + `"]`)}, "exceeds maxPayload", ReasonTransportError},
		{"attachment over maxPayload", []frame{text(`51-["message",` + ph0 + `]`), {binary: make([]byte, 10_001)}}, "exceeds maxPayload", ReasonTransportError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			transports(t, ts, func(t *testing.T, dial func() rawClient) {
				bystander := dial()
				connect(t, bystander, "/", "")
				c := dial()
				id := connect(t, c, "/", "")
				c.send(tc.frames...)
				c.closed()
				if ev := ts.waitDisconnect(t, id); ev.reason != tc.reason {
					t.Fatalf("reason %q, want %q", ev.reason, tc.reason)
				}
				ts.waitLog(t, logrus.InfoLevel, "protocol violation", logrus.Fields{"sid": c.sid(), logrus.ErrorKey: tc.err})
				echoes(t, bystander, "unharmed")
			})
		})
	}
}

// A handler that panics closes only the connection whose packet triggered it; the panic is
// logged with its stack and the server carries on.
func TestHandlerPanic(t *testing.T) {
	ts := newTestServer(t, Options{})
	transports(t, ts, func(t *testing.T, dial func() rawClient) {
		bystander := dial()
		connect(t, bystander, "/", "")
		c := dial()
		id := connect(t, c, "/", "")
		c.send(text(`2["panic"]`))
		c.closed()
		if ev := ts.waitDisconnect(t, id); ev.reason != ReasonTransportError {
			t.Fatalf("reason %q", ev.reason)
		}
		ts.waitLog(t, logrus.ErrorLevel, "handler panic", logrus.Fields{"sid": c.sid(), logrus.ErrorKey: "handler bug"})
		echoes(t, bystander, "unharmed")
	})
}
