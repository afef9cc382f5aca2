package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// PacketType is the Socket.IO v5 packet type.
type PacketType byte

// Socket.IO v5 packet types.
const (
	PacketConnect PacketType = iota
	PacketDisconnect
	PacketEvent
	PacketAck
	PacketConnectError
	PacketBinaryEvent
	PacketBinaryAck
)

// ErrInvalidPacket is returned (wrapped) for a Socket.IO packet that does not follow the protocol.
var ErrInvalidPacket = errors.New("socket.io: invalid packet")

// noAck marks a packet without an acknowledgement id.
const noAck = -1

// maxAckID keeps ids within what JavaScript numbers represent exactly.
const maxAckID = 1<<53 - 1

// Packet is a decoded Socket.IO packet. Data is the raw JSON payload (nil when absent).
type Packet struct {
	Type        PacketType
	Namespace   string
	ID          int64 // noAck (-1) when the packet carries no ack id
	Attachments int
	Data        json.RawMessage
}

// reservedEvents cannot be sent by clients (as in Node's socket.io-parser).
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true, "disconnecting": true,
	"newListener": true, "removeListener": true,
}

// DecodePacket decodes the text part of a Socket.IO packet: type, attachment count, namespace,
// ack id and JSON payload, validated as Node's socket.io-parser does. maxAttachments bounds the
// announced binary attachments; the placeholders of a binary packet must match them (see
// checkPlaceholders). Data aliases b.
func DecodePacket(b []byte, maxAttachments int) (Packet, error) {
	p := Packet{Namespace: "/", ID: noAck}
	if len(b) == 0 {
		return p, fmt.Errorf("%w: empty packet", ErrInvalidPacket)
	}
	if b[0] < '0' || b[0] > '6' {
		return p, fmt.Errorf("%w: unknown packet type %q", ErrInvalidPacket, b[0])
	}
	p.Type = PacketType(b[0] - '0')
	i := 1
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		n, next, ok := readUint(b, i, 4)
		if !ok || next >= len(b) || b[next] != '-' {
			return p, fmt.Errorf("%w: bad attachment count", ErrInvalidPacket)
		}
		if n > int64(maxAttachments) {
			return p, fmt.Errorf("%w: %d attachments exceed the limit of %d", ErrInvalidPacket, n, maxAttachments)
		}
		p.Attachments, i = int(n), next+1
	}
	if i < len(b) && b[i] == '/' {
		end := bytes.IndexByte(b[i:], ',')
		if end < 0 {
			p.Namespace, i = string(b[i:]), len(b)
		} else {
			p.Namespace, i = string(b[i:i+end]), i+end+1
		}
		if !utf8.ValidString(p.Namespace) {
			return p, fmt.Errorf("%w: namespace is not UTF-8", ErrInvalidPacket)
		}
	}
	if i < len(b) && isDigit(b[i]) {
		id, next, ok := readUint(b, i, 16)
		if !ok || id > maxAckID {
			return p, fmt.Errorf("%w: bad ack id", ErrInvalidPacket)
		}
		p.ID, i = id, next
	}
	if i < len(b) {
		p.Data = b[i:]
	}
	return p, validatePayload(&p)
}

// readUint reads up to maxDigits decimal digits from b[i:].
func readUint(b []byte, i, maxDigits int) (n int64, next int, ok bool) {
	start := i
	for i < len(b) && isDigit(b[i]) {
		if i-start == maxDigits {
			return 0, i, false
		}
		n = n*10 + int64(b[i]-'0')
		i++
	}
	return n, i, i > start
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validatePayload checks the payload's JSON shape against the packet type.
func validatePayload(p *Packet) error {
	if p.Data != nil && !json.Valid(p.Data) {
		return fmt.Errorf("%w: payload is not valid JSON", ErrInvalidPacket)
	}
	first := firstByte(p.Data)
	switch p.Type {
	case PacketConnect:
		if p.Data == nil || first == '{' {
			return nil
		}
	case PacketDisconnect:
		if p.Data == nil {
			return nil
		}
	case PacketEvent:
		if first == '[' {
			_, err := eventName(p.Data)
			return err
		}
	case PacketBinaryEvent:
		if first == '[' {
			if _, err := eventName(p.Data); err != nil {
				return err
			}
			return checkPlaceholders(p.Data, p.Attachments)
		}
	case PacketAck:
		if first == '[' && p.ID != noAck {
			return nil
		}
	case PacketBinaryAck:
		if first == '[' && p.ID != noAck {
			return checkPlaceholders(p.Data, p.Attachments)
		}
	case PacketConnectError:
		return fmt.Errorf("%w: CONNECT_ERROR is sent by servers only", ErrInvalidPacket)
	}
	return fmt.Errorf("%w: payload does not fit packet type %d", ErrInvalidPacket, p.Type)
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// eventName returns the event name, the first element of an EVENT payload. It must be a
// string: socket.io-parser also lets numbers through, but no client API sends one, and a
// handler keyed by name could not tell 1 from "1".
func eventName(data json.RawMessage) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '['
		return "", fmt.Errorf("%w: %v", ErrInvalidPacket, err)
	}
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("%w: event without a name", ErrInvalidPacket)
	}
	switch name := tok.(type) {
	case string:
		if reservedEvents[name] {
			return "", fmt.Errorf("%w: reserved event name %q", ErrInvalidPacket, name)
		}
		return name, nil
	case json.Delim:
		if name == ']' {
			return "", fmt.Errorf("%w: event without a name", ErrInvalidPacket)
		}
	}
	return "", fmt.Errorf("%w: event name must be a string", ErrInvalidPacket)
}

// appendHeader appends a packet's type, attachment count, namespace and ack id.
func appendHeader(dst []byte, t PacketType, nsp string, id int64, attachments int) []byte {
	dst = append(dst, byte('0'+t))
	if t == PacketBinaryEvent || t == PacketBinaryAck {
		dst = appendInt(dst, int64(attachments))
		dst = append(dst, '-')
	}
	if nsp != "/" && nsp != "" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if id != noAck {
		dst = appendInt(dst, id)
	}
	return dst
}

func appendInt(dst []byte, n int64) []byte {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}

// AppendJSONString appends s as a JSON string literal.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
