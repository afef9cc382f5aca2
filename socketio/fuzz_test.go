package socketio

import (
	"bytes"
	"testing"
)

// Seeds beyond testdata/fuzz: what the official client and the public test-suite send, and
// the malformed-input matrix.
var packetSeeds = []string{
	`0`, `0{"token":"abc"}`, `0/custom,{"token":"abc"}`, `1`, `1/custom,`,
	`2["message","x"]`, `21["message-with-ack",1]`, `2/custom,42["message-with-ack"]`,
	`3[]`, `31["ok"]`, `4{"message":"x"}`, `51-["message",{"_placeholder":true,"num":0}]`,
	`52-/custom,7["m",{"a":{"_placeholder":true,"num":1}},[{"_placeholder":true,"num":0}]]`,
	`61-3[{"_placeholder":true,"num":0}]`, `5999999999-[]`, `511-["x"]`, `2["connect"]`,
	`2[1]`, `2[]`, `2[{}]`, `29007199254740992["x"]`, "2/\xff,[\"x\"]", `7`, ``, `2{"a":1}`,
	`50-["x",{"_placeholder":true,"num":0}]`, `51-["x",{"_placeholder":true,"num":"0"}]`,
}

// FuzzDecodePacket: no input makes DecodePacket panic; what it accepts is well-formed (type,
// attachment count within the limit, placeholders matching it) and re-encodes to a packet that
// decodes the same.
func FuzzDecodePacket(f *testing.F) {
	for _, s := range packetSeeds {
		f.Add([]byte(s))
	}
	const maxAttachments = 10
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePacket(b, maxAttachments)
		if err != nil {
			return
		}
		binary := p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck
		if p.Type > PacketBinaryAck || p.Type == PacketConnectError || p.Attachments < 0 ||
			p.Attachments > maxAttachments || !binary && p.Attachments != 0 {
			t.Fatalf("decoded %+v from %q", p, b)
		}
		if binary {
			if err := checkPlaceholders(p.Data, p.Attachments); err != nil {
				t.Fatalf("accepted %q with bad placeholders: %v", b, err)
			}
		}
		if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
			if _, err := eventName(p.Data); err != nil {
				t.Fatalf("accepted %q without an event name: %v", b, err)
			}
		}
		enc := appendHeader(nil, p.Type, p.Namespace, p.ID, p.Attachments)
		enc = append(enc, p.Data...)
		q, err := DecodePacket(enc, maxAttachments)
		if err != nil || q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID ||
			q.Attachments != p.Attachments || !bytes.Equal(q.Data, p.Data) {
			t.Fatalf("round trip of %q via %q: %+v then %+v (%v)", b, enc, p, q, err)
		}
	})
}
