package engineio

import (
	"bytes"
	"strings"
	"testing"
)

// Codec benchmarks: go test -run '^$' -bench . -benchmem ./socketio/engineio/

var benchPayload = []byte(`2["task.created",{"taskId":"5b0c1f7e-8f6f-4c39-9d5e-1f0c3b7a2d11","task":{"name":"Take out the trash","status":"pending"}},"42"]`)

func BenchmarkDecodePacket(b *testing.B) {
	pkt := append([]byte{'4'}, benchPayload...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePacket(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePayload(b *testing.B) {
	pkt := append([]byte{'4'}, benchPayload...)
	body := bytes.Join([][]byte{pkt, pkt, pkt, []byte("3")}, []byte{recordSeparator})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePayload(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewTextMessage is the cost of building one outgoing packet and its websocket frame,
// paid once per broadcast whatever the number of receivers.
func BenchmarkNewTextMessage(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewTextMessage(PacketMessage, benchPayload)
	}
}

func BenchmarkEncodePollingPayload(b *testing.B) {
	msgs := []*Message{NewTextMessage(PacketMessage, benchPayload), NewTextMessage(PacketMessage, benchPayload), msgPing}
	b.ReportAllocs()
	for b.Loop() {
		_ = encodePayload(msgs)
	}
}

// BenchmarkFrameReader decodes client frames (masked, as browsers send them), fed in 4 KB reads.
func BenchmarkFrameReader(b *testing.B) {
	key := [4]byte{0xa1, 0xb2, 0xc3, 0xd4}
	frame := clientFrame(true, opText, []byte("42"+strings.Repeat("x", 200)), key)
	stream := bytes.Repeat(frame, 4096/len(frame))
	buf := make([]byte, len(stream))
	r := &frameReader{limit: fixedLimit(1 << 20)}
	n := 0
	emit := func(byte, []byte) error { n++; return nil }
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, stream) // the reader unmasks in place
		if err := r.feed(buf, emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(stream)/len(frame))/b.Elapsed().Seconds()/1e6, "Mmsg/s")
}
