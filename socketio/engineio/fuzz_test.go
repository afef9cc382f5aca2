package engineio

import (
	"bytes"
	"testing"
)

// Seeds beyond testdata/fuzz: the packets the public test-suite and the official client send.
var packetSeeds = []string{
	"0", "1", "2", "3", "4", "5", "6", "2probe", "3probe", "4hello", "4", "bAQIDBA==", "b",
	`40{"token":"abc"}`, `42["message","x"]`, "b====", "9", "", "x", "b\nAQ==",
}

// FuzzDecodePacket: no input makes DecodePacket panic, and what it accepts re-encodes to a
// packet that decodes the same.
func FuzzDecodePacket(f *testing.F) {
	for _, s := range packetSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePacket(b)
		if err != nil {
			return
		}
		if p.Type > PacketNoop || p.Binary && p.Type != PacketMessage {
			t.Fatalf("decoded %+v", p)
		}
		q, err := DecodePacket(AppendPacket(nil, p))
		if err != nil || !samePacket(p, q) {
			t.Fatalf("round trip of %q: %+v then %+v (%v)", b, p, q, err)
		}
	})
}

// FuzzDecodePayload: no polling body makes DecodePayload panic, and what it accepts re-encodes
// to a body that decodes to the same packets.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range packetSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{"4a\x1e4b", "4a\x1ebAQID\x1e6", "4a\x1e", "\x1e", "4a\x1e\x1e4b", "1\x1e4after close"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		packets, err := DecodePayload(b)
		if err != nil {
			return
		}
		if len(packets) == 0 || len(packets) > bytes.Count(b, []byte{recordSeparator})+1 {
			t.Fatalf("%d packets from %q", len(packets), b)
		}
		var body []byte
		for i, p := range packets {
			if i > 0 {
				body = append(body, recordSeparator)
			}
			body = AppendPacket(body, p)
		}
		again, err := DecodePayload(body)
		if err != nil || len(again) != len(packets) {
			t.Fatalf("round trip of %q: %v", b, err)
		}
		for i := range packets {
			if !samePacket(packets[i], again[i]) {
				t.Fatalf("round trip of %q: packet %d %+v then %+v", b, i, packets[i], again[i])
			}
		}
	})
}

func samePacket(a, b Packet) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}
