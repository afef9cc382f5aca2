package engineio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// WebSocket opcodes (RFC 6455, section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

var (
	errFrameReserved     = errors.New("websocket: reserved bits or opcode set")
	errFrameUnmasked     = errors.New("websocket: client frame is not masked")
	errFrameControl      = errors.New("websocket: fragmented or oversized control frame")
	errFrameContinuation = errors.New("websocket: continuation frame without a message in progress")
	errFrameInterleaved  = errors.New("websocket: data frame while a fragmented message is in progress")
	errFrameLength       = errors.New("websocket: frame length is not minimal or too large")
)

// errMessageTooBig reports a message over the read limit.
type errMessageTooBig struct{ limit int }

func (e errMessageTooBig) Error() string {
	return fmt.Sprintf("websocket: message exceeds maxPayload (%d bytes)", e.limit)
}

// frameReader decodes the client-to-server side of a websocket incrementally: feed it the
// bytes read from the socket in chunks of any size, and it calls emit once per complete
// message (text or binary, fragments joined) and once per control frame. It holds no buffer
// between messages, so an idle connection costs only the struct itself.
type frameReader struct {
	limit int // largest message, in bytes

	// The header being read: up to 14 bytes (2 + 8 of extended length + 4 of mask).
	hdr  [14]byte
	nhdr int

	// The frame whose payload is being read.
	inFrame   bool
	fin       bool
	opcode    byte
	remaining uint64
	mask      [4]byte
	maskPos   int

	// The message being assembled (data frames) or the control frame payload.
	msgOp   byte   // opText or opBinary while a message is in progress, else 0
	msg     []byte // payload so far
	control []byte // control frame payload so far (at most 125 bytes)
}

// feed consumes p. emit receives each message with its opcode (opText, opBinary, opClose,
// opPing or opPong); the payload belongs to the caller from then on. An error from emit stops
// feeding and is returned; a protocol error is returned as is and the reader must not be fed
// again.
func (r *frameReader) feed(p []byte, emit func(op byte, payload []byte) error) error {
	for {
		if !r.inFrame {
			if len(p) == 0 {
				return nil
			}
			n, err := r.readHeader(p)
			if err != nil {
				return err
			}
			p = p[n:]
			if !r.inFrame {
				return nil // header incomplete: wait for more bytes
			}
		}
		if r.remaining > 0 {
			if len(p) == 0 {
				return nil
			}
			n := uint64(len(p))
			if n > r.remaining {
				n = r.remaining
			}
			chunk := p[:n]
			p = p[n:]
			r.unmask(chunk)
			if r.opcode >= opClose {
				r.control = append(r.control, chunk...)
			} else {
				r.msg = append(r.msg, chunk...)
			}
			r.remaining -= n
		}
		if r.remaining == 0 {
			if err := r.endFrame(emit); err != nil {
				return err
			}
		}
	}
}

// readHeader consumes header bytes from p; once the header is complete it validates it and
// starts the frame. It returns the bytes consumed.
func (r *frameReader) readHeader(p []byte) (int, error) {
	used := 0
	need := 2
	for {
		if r.nhdr >= 2 {
			need = headerLen(r.hdr[1])
		}
		if r.nhdr == need {
			break
		}
		if used == len(p) {
			return used, nil
		}
		r.hdr[r.nhdr] = p[used]
		r.nhdr++
		used++
	}
	return used, r.startFrame()
}

// headerLen is the full header length given the second header byte (mask bit and length).
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

func (r *frameReader) startFrame() error {
	b0, b1 := r.hdr[0], r.hdr[1]
	r.nhdr = 0
	fin, op := b0&0x80 != 0, b0&0x0f
	if b0&0x70 != 0 || (op > opBinary && op < opClose) || op > opPong {
		return errFrameReserved
	}
	if b1&0x80 == 0 {
		return errFrameUnmasked
	}
	length := uint64(b1 & 0x7f)
	maskAt := 2
	switch length {
	case 126:
		length = uint64(binary.BigEndian.Uint16(r.hdr[2:]))
		if length < 126 {
			return errFrameLength
		}
		maskAt = 4
	case 127:
		length = binary.BigEndian.Uint64(r.hdr[2:])
		if length <= 0xffff || length>>63 != 0 {
			return errFrameLength
		}
		maskAt = 10
	}
	copy(r.mask[:], r.hdr[maskAt:maskAt+4])
	r.maskPos = 0
	switch {
	case op >= opClose:
		if !fin || length > 125 {
			return errFrameControl
		}
		r.control = nil
	case op == opContinuation:
		if r.msgOp == 0 {
			return errFrameContinuation
		}
	default:
		if r.msgOp != 0 {
			return errFrameInterleaved
		}
		r.msgOp = op
	}
	if op < opClose && uint64(len(r.msg))+length > uint64(r.limit) {
		return errMessageTooBig{r.limit}
	}
	if op < opClose && r.msg == nil && fin {
		r.msg = make([]byte, 0, length) // a whole message in one frame: allocate it exactly
	}
	r.inFrame, r.fin, r.opcode, r.remaining = true, fin, op, length
	return nil
}

// endFrame finishes the current frame and emits what it completed.
func (r *frameReader) endFrame(emit func(op byte, payload []byte) error) error {
	r.inFrame = false
	if r.opcode >= opClose {
		payload := r.control
		r.control = nil
		if payload == nil {
			payload = []byte{}
		}
		return emit(r.opcode, payload)
	}
	if !r.fin {
		return nil
	}
	op, msg := r.msgOp, r.msg
	r.msgOp, r.msg = 0, nil
	if msg == nil {
		msg = []byte{}
	}
	return emit(op, msg)
}

// unmask XORs b with the frame's masking key, continuing where the last chunk stopped.
func (r *frameReader) unmask(b []byte) {
	pos := r.maskPos
	i := 0
	if len(b) >= 16 {
		// Align to the key, then eight bytes at a time.
		for ; pos&3 != 0 && i < len(b); i++ {
			b[i] ^= r.mask[pos&3]
			pos++
		}
		k := uint64(binary.LittleEndian.Uint32(r.mask[:]))
		k |= k << 32
		for ; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= r.mask[pos&3]
		pos++
	}
	r.maskPos = pos & 3
}
