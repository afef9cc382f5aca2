package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// PacketType is the Engine.IO v4 packet type, sent as the first character of a text packet.
type PacketType byte

// Engine.IO v4 packet types.
const (
	PacketOpen PacketType = iota
	PacketClose
	PacketPing
	PacketPong
	PacketMessage
	PacketUpgrade
	PacketNoop
)

// recordSeparator separates packets in an HTTP long-polling payload.
const recordSeparator = '\x1e'

// ErrInvalidPacket is returned (wrapped) for any packet or payload that does not follow the protocol.
var ErrInvalidPacket = errors.New("engine.io: invalid packet")

// Packet is one decoded Engine.IO packet. Binary is set for binary messages, which have no type
// character on the wire (a binary websocket frame, or a "b"-prefixed base64 element in a polling payload).
type Packet struct {
	Type   PacketType
	Data   []byte
	Binary bool
}

// DecodePacket decodes one text packet: a websocket text frame or one element of a polling payload.
// Data aliases the input.
func DecodePacket(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, fmt.Errorf("%w: empty packet", ErrInvalidPacket)
	}
	if b[0] == 'b' {
		return decodeBase64(b[1:])
	}
	t := b[0] - '0'
	if b[0] < '0' || t > byte(PacketNoop) {
		return Packet{}, fmt.Errorf("%w: unknown packet type %q", ErrInvalidPacket, b[0])
	}
	return Packet{Type: PacketType(t), Data: b[1:]}, nil
}

func decodeBase64(b []byte) (Packet, error) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	if err != nil {
		return Packet{}, fmt.Errorf("%w: bad base64 binary packet: %v", ErrInvalidPacket, err)
	}
	return Packet{Type: PacketMessage, Data: out[:n], Binary: true}, nil
}

// DecodePayload splits an HTTP long-polling payload into packets. Every element must be a valid
// packet; an empty payload or an empty element is an error. Data of text packets aliases body.
func DecodePayload(body []byte) ([]Packet, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrInvalidPacket)
	}
	packets := make([]Packet, 0, bytes.Count(body, []byte{recordSeparator})+1)
	for len(body) > 0 || len(packets) == 0 {
		elem := body
		if i := bytes.IndexByte(body, recordSeparator); i >= 0 {
			elem, body = body[:i], body[i+1:]
			if len(body) == 0 {
				return nil, fmt.Errorf("%w: trailing record separator", ErrInvalidPacket)
			}
		} else {
			body = nil
		}
		p, err := DecodePacket(elem)
		if err != nil {
			return nil, err
		}
		packets = append(packets, p)
	}
	return packets, nil
}

// AppendPacket appends the text encoding of p (as sent over HTTP long-polling) to dst.
func AppendPacket(dst []byte, p Packet) []byte {
	if p.Binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	dst = append(dst, byte('0'+p.Type))
	return append(dst, p.Data...)
}
