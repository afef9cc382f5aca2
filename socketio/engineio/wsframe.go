package engineio

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
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

// Close status codes (RFC 6455, section 7.4.1) the server sends.
const (
	closeNormal         uint16 = 1000
	closeGoingAway      uint16 = 1001
	closeProtocolError  uint16 = 1002
	closeNoStatus       uint16 = 1005 // never sent: the absence of a code in a received close
	closeInvalidPayload uint16 = 1007
	closePolicy         uint16 = 1008
	closeTooBig         uint16 = 1009
	closeInternalError  uint16 = 1011
)

// wsError is a websocket protocol error: the connection is failed with its close code.
type wsError struct {
	code uint16
	msg  string
}

func (e *wsError) Error() string { return "websocket: " + e.msg }

// closeCode implements closeCoder.
func (e *wsError) closeCode() uint16 { return e.code }

// closeCoder is an error that says which close code a websocket failed by it is closed with.
type closeCoder interface{ closeCode() uint16 }

var (
	errFrameReserved     = &wsError{closeProtocolError, "reserved bits or opcode set"}
	errFrameUnmasked     = &wsError{closeProtocolError, "client frame is not masked"}
	errFrameControl      = &wsError{closeProtocolError, "fragmented or oversized control frame"}
	errFrameContinuation = &wsError{closeProtocolError, "continuation frame without a message in progress"}
	errFrameInterleaved  = &wsError{closeProtocolError, "data frame while a fragmented message is in progress"}
	errFrameLength       = &wsError{closeProtocolError, "frame length is not minimal or too large"}
	errCloseFrame        = &wsError{closeProtocolError, "close frame with a 1-byte payload or an invalid status code"}
	errInvalidUTF8       = &wsError{closeInvalidPayload, "text message is not valid UTF-8"}
	errCloseReasonUTF8   = &wsError{closeInvalidPayload, "close reason is not valid UTF-8"}
)

// errMessageTooBig reports a message over the read limit.
type errMessageTooBig struct{ limit int }

func (e errMessageTooBig) Error() string {
	return fmt.Sprintf("websocket: message exceeds maxPayload (%d bytes)", e.limit)
}

func (e errMessageTooBig) closeCode() uint16 { return closeTooBig }

// messageLimit gives the largest message a frameReader accepts when a message starts. A
// connection's limit rises once it is admitted (Conn.Admit), possibly from another goroutine.
type messageLimit interface{ maxMessage() int }

// fixedLimit is a limit that never changes.
type fixedLimit int

func (l fixedLimit) maxMessage() int { return int(l) }

// frameReader decodes the client-to-server side of a websocket incrementally: feed it the
// bytes read from the socket in chunks of any size, and it calls emit once per complete
// message (text or binary, fragments joined) and once per control frame. It holds no buffer
// between messages, so an idle connection costs only the struct itself, and the buffer of a
// message grows with the bytes that arrive, never with the length a header announces. Text is
// checked to be UTF-8 as it arrives, across fragments, so a bad byte fails the connection
// before the rest of the message is read.
type frameReader struct {
	limit messageLimit

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
	msgMax  int    // the limit that applied when the message began
	msg     []byte // payload so far
	control []byte // control frame payload so far (at most 125 bytes)
	text    utf8Stream

	// emitted counts the messages and control frames emitted.
	emitted uint64
}

// busy reports whether a message or frame has begun and not ended.
func (r *frameReader) busy() bool { return r.nhdr > 0 || r.inFrame || r.msgOp != 0 }

// feed consumes p. emit receives each message with its opcode (opText, opBinary, opClose,
// opPing or opPong); the payload belongs to the caller from then on. An error from emit stops
// feeding and is returned; a protocol error is returned as is (its closeCode says how to close
// the connection) and the reader must not be fed again.
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
			r.remaining -= n
			r.unmask(chunk)
			if err := r.take(chunk); err != nil {
				return err
			}
		}
		if r.remaining == 0 {
			if err := r.endFrame(emit); err != nil {
				return err
			}
		}
	}
}

// take adds an unmasked payload chunk to the control frame or to the message.
func (r *frameReader) take(chunk []byte) error {
	if r.opcode >= opClose {
		r.control = append(r.control, chunk...)
		return nil
	}
	if r.msgOp == opText && !r.text.write(chunk) {
		return errInvalidUTF8
	}
	r.msg = appendGrowing(r.msg, chunk, len(r.msg)+len(chunk)+int(r.remaining))
	return nil
}

// appendGrowing appends chunk to buf. When buf must grow, it at most doubles, and never past
// want, the size the frame being read announces: memory follows the bytes that arrived, and a
// message that arrives in one read is allocated once, exactly.
func appendGrowing(buf, chunk []byte, want int) []byte {
	need := len(buf) + len(chunk)
	if need > cap(buf) {
		size := 2 * cap(buf)
		if size < need {
			size = need
		}
		if size > want {
			size = want
		}
		grown := make([]byte, len(buf), size)
		copy(grown, buf)
		buf = grown
	}
	return append(buf, chunk...)
}

// readHeader consumes header bytes from p; once the header is complete it validates it and
// starts the frame. It returns the bytes consumed. Each part of the header is checked as soon
// as it has arrived, as a strict peer does, without waiting for the rest.
func (r *frameReader) readHeader(p []byte) (int, error) {
	used := 0
	for {
		need := 2
		if r.nhdr >= 2 {
			need = headerLen(r.hdr[1])
		}
		if r.nhdr == need {
			break
		}
		if used == len(p) {
			return used, nil
		}
		had := r.nhdr
		n := copy(r.hdr[had:need], p[used:])
		r.nhdr += n
		used += n
		if err := r.checkHeader(had); err != nil {
			return used, err
		}
	}
	return used, r.startFrame()
}

// checkHeader checks the header bytes that arrived after the first had ones: the first byte,
// the second, and the extended length.
func (r *frameReader) checkHeader(had int) error {
	if had < 1 {
		if err := checkFirstByte(r.hdr[0]); err != nil {
			return err
		}
	}
	if r.nhdr < 2 {
		return nil
	}
	if had < 2 {
		if err := r.checkSecondByte(); err != nil {
			return err
		}
	}
	if end := 2 + extendedLengthSize(r.hdr[1]); end > 2 && had < end && r.nhdr >= end {
		_, err := r.frameLength()
		return err
	}
	return nil
}

// checkFirstByte refuses reserved bits and opcodes.
func checkFirstByte(b0 byte) error {
	op := b0 & 0x0f
	if b0&0x70 != 0 || (op > opBinary && op < opClose) || op > opPong {
		return errFrameReserved
	}
	return nil
}

// checkSecondByte checks what the first two header bytes say against the reader's state: the
// mask bit, a control frame's FIN bit and length, a continuation without a message, a new
// message inside a fragmented one.
func (r *frameReader) checkSecondByte() error {
	b0, b1 := r.hdr[0], r.hdr[1]
	fin, op := b0&0x80 != 0, b0&0x0f
	switch {
	case b1&0x80 == 0:
		return errFrameUnmasked
	case op >= opClose && (!fin || b1&0x7f > 125):
		return errFrameControl
	case op == opContinuation && r.msgOp == 0:
		return errFrameContinuation
	case (op == opText || op == opBinary) && r.msgOp != 0:
		return errFrameInterleaved
	}
	return nil
}

// headerLen is the full header length given the second header byte (mask bit and length).
func headerLen(b1 byte) int {
	n := 2 + extendedLengthSize(b1)
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// extendedLengthSize is the size of the extended payload length given the second header byte.
func extendedLengthSize(b1 byte) int {
	switch b1 & 0x7f {
	case 126:
		return 2
	case 127:
		return 8
	}
	return 0
}

// frameLength decodes the payload length of the header read so far (its extended length
// complete) and refuses one not in its shortest form or with the top bit set.
func (r *frameReader) frameLength() (uint64, error) {
	length := uint64(r.hdr[1] & 0x7f)
	switch length {
	case 126:
		length = uint64(binary.BigEndian.Uint16(r.hdr[2:]))
		if length < 126 {
			return 0, errFrameLength
		}
	case 127:
		length = binary.BigEndian.Uint64(r.hdr[2:])
		if length <= 0xffff || length>>63 != 0 {
			return 0, errFrameLength
		}
	}
	return length, nil
}

func (r *frameReader) startFrame() error {
	b0, b1 := r.hdr[0], r.hdr[1]
	r.nhdr = 0
	fin, op := b0&0x80 != 0, b0&0x0f
	length, err := r.frameLength()
	if err != nil {
		return err
	}
	maskAt := 2 + extendedLengthSize(b1)
	copy(r.mask[:], r.hdr[maskAt:maskAt+4])
	r.maskPos = 0
	// checkSecondByte has checked the opcode against the state.
	switch {
	case op >= opClose:
		r.control = nil
	case op != opContinuation:
		r.msgOp, r.msgMax = op, r.limit.maxMessage()
		r.text = utf8Stream{}
	}
	if op < opClose && uint64(len(r.msg))+length > uint64(r.msgMax) {
		return errMessageTooBig{r.msgMax}
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
		if r.opcode == opClose {
			if err := checkClosePayload(payload); err != nil {
				return err
			}
		}
		r.emitted++
		return emit(r.opcode, payload)
	}
	if !r.fin {
		return nil
	}
	if r.msgOp == opText && !r.text.complete() {
		return errInvalidUTF8 // the message ends inside a character
	}
	op, msg := r.msgOp, r.msg
	r.msgOp, r.msg = 0, nil
	if msg == nil {
		msg = []byte{}
	}
	r.emitted++
	return emit(op, msg)
}

// checkClosePayload validates a close frame's payload: empty, or a status code a peer may send
// followed by a UTF-8 reason (RFC 6455, sections 5.5.1 and 7.4).
func checkClosePayload(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if len(p) == 1 || !validReceivedCode(binary.BigEndian.Uint16(p)) {
		return errCloseFrame
	}
	if !utf8.Valid(p[2:]) {
		return errCloseReasonUTF8
	}
	return nil
}

// validReceivedCode reports whether a peer may send code in a close frame: the codes RFC 6455
// and its registry define for that, and the ranges for libraries (3000–3999) and applications
// (4000–4999). 1004, 1005, 1006 and 1015 are never sent on the wire.
func validReceivedCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
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

// utf8Stream validates UTF-8 that arrives in pieces: a character split between pieces is
// carried over, and a byte that no valid text can continue with is refused at once.
type utf8Stream struct {
	carry  [utf8.UTFMax]byte
	ncarry int
}

// write checks the next piece; it reports false once the text cannot be valid.
func (s *utf8Stream) write(p []byte) bool {
	if s.ncarry == 0 && utf8.Valid(p) {
		return true // the usual case: whole characters
	}
	for s.ncarry > 0 && len(p) > 0 {
		s.carry[s.ncarry] = p[0]
		s.ncarry++
		p = p[1:]
		c := s.carry[:s.ncarry]
		if !utf8.FullRune(c) {
			if !validPrefix(c) {
				return false
			}
			continue
		}
		if r, size := utf8.DecodeRune(c); r == utf8.RuneError && size <= 1 || size != len(c) {
			return false
		}
		s.ncarry = 0
	}
	if len(p) == 0 {
		return true
	}
	// Hold back an incomplete character at the end, if any.
	tail := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				tail = i
			}
			break
		}
	}
	if !utf8.Valid(p[:tail]) {
		return false
	}
	s.ncarry = copy(s.carry[:], p[tail:])
	return s.ncarry == 0 || validPrefix(s.carry[:s.ncarry])
}

// complete reports whether the text ended on a character boundary.
func (s *utf8Stream) complete() bool { return s.ncarry == 0 }

// validPrefix reports whether p, an incomplete character, can still become a valid one: the
// second byte's range depends on the first (no overlong forms, no surrogates, nothing past
// U+10FFFF), and every following byte is a continuation byte.
func validPrefix(p []byte) bool {
	b0 := p[0]
	lo, hi := byte(0x80), byte(0xbf)
	switch {
	case b0 >= 0xc2 && b0 <= 0xdf, b0 >= 0xe1 && b0 <= 0xec, b0 == 0xee, b0 == 0xef, b0 >= 0xf1 && b0 <= 0xf3:
	case b0 == 0xe0:
		lo = 0xa0
	case b0 == 0xed:
		hi = 0x9f
	case b0 == 0xf0:
		lo = 0x90
	case b0 == 0xf4:
		hi = 0x8f
	default:
		return false
	}
	for i, b := range p[1:] {
		if i == 0 && (b < lo || b > hi) || i > 0 && (b < 0x80 || b > 0xbf) {
			return false
		}
	}
	return true
}
