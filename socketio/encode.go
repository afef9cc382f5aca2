package socketio

import (
	"encoding/json"
	"fmt"

	"github.com/realtimed/realtimed/socketio/engineio"
)

// Encoded is a Socket.IO packet encoded once (text part and binary attachments, each an
// Engine.IO message with its websocket frame), ready to be queued on any number of sockets.
type Encoded struct {
	msgs   []*engineio.Message
	offset int64 // stream offset (EncodeEventAt), 0 when none
}

// Size returns the encoded size in bytes.
func (e *Encoded) Size() int {
	n := 0
	for _, m := range e.msgs {
		n += m.Size()
	}
	return n
}

// SetStamp records an origin time (µs since the Unix epoch) on the packet, reported by
// engineio's Options.OnWrite once the packet has been written to a client. Call it before
// queuing the packet.
func (e *Encoded) SetStamp(us int64) { e.msgs[0].SetStamp(us) }

// Text returns the text part of the packet (after the Engine.IO type character).
func (e *Encoded) Text() []byte { return e.msgs[0].Payload()[1:] }

// EncodeEvent encodes an EVENT for the namespace nsp from an event name and arguments that are
// already JSON. The packet and its websocket frame are built in a single buffer, so one
// broadcast costs one encoding whatever the number of receivers.
func EncodeEvent(nsp, event string, args ...json.RawMessage) *Encoded {
	return encodeRaw(PacketEvent, nsp, noAck, event, args, nil)
}

// encodeText builds a text-only packet with raw JSON data (which may be nil).
func encodeText(t PacketType, nsp string, id int64, data []byte) *engineio.Message {
	buf := engineio.NewMessageBuffer(4 + len(nsp) + len(data))
	buf = append(buf, '0'+byte(engineio.PacketMessage))
	buf = appendHeader(buf, t, nsp, id, 0)
	buf = append(buf, data...)
	return engineio.MessageFromBuffer(buf, false)
}

// Binary marks a []byte argument to send as a binary attachment. Top-level []byte arguments of
// Emit and Ack are sent as attachments automatically; Binary is the same thing, explicit.
type Binary []byte

// encodeArgs encodes an EVENT (name != "") or ACK with Go values as arguments. Top-level []byte
// (or Binary) arguments become binary attachments with placeholders, as socket.io-parser does.
func encodeArgs(t PacketType, nsp string, id int64, name string, args []any) (*Encoded, error) {
	raw := make([]json.RawMessage, len(args))
	var attachments [][]byte
	for i, a := range args {
		if b, ok := asBinary(a); ok {
			raw[i] = fmt.Appendf(nil, `{"_placeholder":true,"num":%d}`, len(attachments))
			attachments = append(attachments, b)
			continue
		}
		j, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("socket.io: encoding argument %d: %w", i, err)
		}
		raw[i] = j
	}
	return encodeRaw(t, nsp, id, name, raw, attachments), nil
}

// encodeRaw encodes an EVENT (name != "") or ACK whose arguments are raw JSON, which may hold
// placeholders for the binary attachments.
func encodeRaw(t PacketType, nsp string, id int64, name string, args []json.RawMessage, attachments [][]byte) *Encoded {
	if len(attachments) > 0 {
		if t == PacketEvent {
			t = PacketBinaryEvent
		} else {
			t = PacketBinaryAck
		}
	}
	n := 24 + len(nsp) + len(name)
	for _, a := range args {
		n += len(a) + 1
	}
	buf := engineio.NewMessageBuffer(n)
	buf = append(buf, '0'+byte(engineio.PacketMessage))
	buf = appendHeader(buf, t, nsp, id, len(attachments))
	buf = append(buf, '[')
	if name != "" {
		buf = AppendJSONString(buf, name)
	}
	for i, a := range args {
		if i > 0 || name != "" {
			buf = append(buf, ',')
		}
		buf = append(buf, a...)
	}
	buf = append(buf, ']')
	msgs := make([]*engineio.Message, 0, 1+len(attachments))
	msgs = append(msgs, engineio.MessageFromBuffer(buf, false))
	for _, b := range attachments {
		msgs = append(msgs, engineio.NewBinaryMessage(b))
	}
	return &Encoded{msgs: msgs}
}

func asBinary(a any) ([]byte, bool) {
	switch b := a.(type) {
	case []byte:
		return b, true
	case Binary:
		return b, true
	}
	return nil, false
}
