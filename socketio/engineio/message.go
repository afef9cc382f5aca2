package engineio

import (
	"encoding/base64"
	"encoding/binary"
	"sync"
)

// frameHeaderReserve is room left in front of a message's packet bytes for the largest
// server-to-client websocket frame header (2 bytes + 8 bytes of extended length, no mask).
const frameHeaderReserve = 10

// Message is an outgoing Engine.IO packet, encoded once and shared by every connection it is
// sent to. Its bytes never change after creation, so one Message may sit in many send queues:
// a broadcast builds one Message (and one websocket frame) for all its receivers.
type Message struct {
	buf    []byte // frame header reserve, then the packet bytes
	start  int    // where the websocket frame (header + packet) begins in buf
	binary bool
	stamp  int64 // optional origin time in µs since the Unix epoch, reported to Options.OnWrite

	b64Once sync.Once
	b64     []byte // "b" + base64, the long-polling form of a binary message
}

// NewMessageBuffer returns an empty buffer with room for a frame header in front. Append a text
// packet (its type character first) or binary data to it, then pass it to MessageFromBuffer.
func NewMessageBuffer(capacity int) []byte {
	return make([]byte, frameHeaderReserve, frameHeaderReserve+capacity)
}

// MessageFromBuffer turns a buffer from NewMessageBuffer into a Message without copying it.
// The caller must not modify buf afterwards.
func MessageFromBuffer(buf []byte, binary bool) *Message {
	m := &Message{buf: buf, binary: binary}
	m.start = putFrameHeader(buf, len(buf)-frameHeaderReserve, binary)
	return m
}

// NewTextMessage returns a Message for a text packet of type t with data.
func NewTextMessage(t PacketType, data []byte) *Message {
	buf := NewMessageBuffer(1 + len(data))
	buf = append(buf, byte('0'+t))
	buf = append(buf, data...)
	return MessageFromBuffer(buf, false)
}

// NewBinaryMessage returns a Message for a binary message packet with data.
func NewBinaryMessage(data []byte) *Message {
	buf := NewMessageBuffer(len(data))
	buf = append(buf, data...)
	return MessageFromBuffer(buf, true)
}

// putFrameHeader writes a FIN websocket frame header for a payload of n bytes so that it ends
// exactly at frameHeaderReserve, and returns where it starts.
func putFrameHeader(buf []byte, n int, binaryFrame bool) int {
	opcode := byte(0x1)
	if binaryFrame {
		opcode = 0x2
	}
	var start int
	switch {
	case n < 126:
		start = frameHeaderReserve - 2
		buf[start+1] = byte(n)
	case n <= 0xffff:
		start = frameHeaderReserve - 4
		buf[start+1] = 126
		binary.BigEndian.PutUint16(buf[start+2:], uint16(n))
	default:
		start = 0
		buf[1] = 127
		binary.BigEndian.PutUint64(buf[2:], uint64(n))
	}
	buf[start] = 0x80 | opcode
	return start
}

// SetStamp records an origin time (µs since the Unix epoch, e.g. when the event it carries was
// committed) that Options.OnWrite receives after m is written to a client. Call it before m is
// queued anywhere; zero means none.
func (m *Message) SetStamp(us int64) { m.stamp = us }

// Stamp returns the origin time set with SetStamp, or zero.
func (m *Message) Stamp() int64 { return m.stamp }

// Binary reports whether m is a binary message.
func (m *Message) Binary() bool { return m.binary }

// Payload returns the packet bytes: the text packet with its type character, or the binary data.
func (m *Message) Payload() []byte { return m.buf[frameHeaderReserve:] }

// Size is the number of payload bytes, used for send-queue accounting.
func (m *Message) Size() int { return len(m.buf) - frameHeaderReserve }

// frame returns the complete websocket frame.
func (m *Message) frame() []byte { return m.buf[m.start:] }

// pollingBytes returns the element of a long-polling payload that carries m.
func (m *Message) pollingBytes() []byte {
	if !m.binary {
		return m.Payload()
	}
	m.b64Once.Do(func() {
		data := m.Payload()
		b := make([]byte, 0, 1+base64.StdEncoding.EncodedLen(len(data)))
		b = append(b, 'b')
		m.b64 = base64.StdEncoding.AppendEncode(b, data)
	})
	return m.b64
}

// Pre-built control messages.
var (
	msgPing       = NewTextMessage(PacketPing, nil)
	msgNoop       = NewTextMessage(PacketNoop, nil)
	msgClose      = NewTextMessage(PacketClose, nil)
	msgProbePong  = NewTextMessage(PacketPong, []byte("probe"))
	wsCloseNormal = []byte{0x88, 0x02, 0x03, 0xe8} // close frame, status 1000
)
