package engineio

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

var (
	errPollOverlap   = fmt.Errorf("%w: overlapping GET requests", ErrProtocolViolation)
	errPostOverlap   = fmt.Errorf("%w: overlapping POST requests", ErrProtocolViolation)
	errBinaryBody    = fmt.Errorf("%w: binary polling body (not allowed in protocol v4)", ErrProtocolViolation)
	errBodyTooLarge  = fmt.Errorf("%w: polling body exceeds maxPayload", ErrProtocolViolation)
	errBodyUTF8      = fmt.Errorf("%w: polling body is not valid UTF-8", ErrProtocolViolation)
	errPollAbandoned = errors.New("engine.io: client abandoned its pending GET")
)

// upgradeHold is how long after an upgrade probe a pending GET is released with a noop (Node
// checks every 100ms). The client waits for that GET before it completes the upgrade.
const upgradeHold = 50 * time.Millisecond

// waitForPoll waits, with c.mu held, until the pending GET has something to return: packets, a
// close, a completed upgrade, or the noop that lets the client pause polling during an upgrade.
// It returns false (with c.mu released) if the client went away.
func (c *Conn) waitForPoll(r *http.Request) bool {
	for len(c.queue) == 0 && c.state == stateOpen && c.netConn == nil {
		var hold <-chan time.Time
		if c.upgrading {
			left := upgradeHold - time.Since(c.upgradeStart)
			if left <= 0 {
				return true
			}
			t := time.NewTimer(left)
			defer t.Stop()
			hold = t.C
		}
		wake := c.pollWake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-hold:
		case <-r.Context().Done():
			c.mu.Lock()
			c.pollWaiting = false
			c.mu.Unlock()
			c.closeWith(CloseTransportClose, errPollAbandoned)
			return false
		}
		c.mu.Lock()
	}
	return true
}

// servePoll answers a long-polling GET with everything queued, waiting until there is something.
func (c *Conn) servePoll(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if c.netConn != nil || c.state == stateClosed {
		c.mu.Unlock()
		c.srv.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "polling GET for a session that is not polling")
		return
	}
	if c.pongOverdueLocked() {
		c.mu.Unlock()
		c.closeWith(ClosePingTimeout, nil)
		c.srv.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "ping timeout")
		return
	}
	if c.pollWaiting {
		c.mu.Unlock()
		c.closeWith(CloseTransportError, errPollOverlap)
		c.srv.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "overlapping GET")
		return
	}
	c.pollWaiting = true
	if !c.waitForPoll(r) {
		return
	}
	batch := c.queue
	c.queue = nil
	closing := c.state == stateClosing
	if closing && len(batch) > 1 && batch[len(batch)-1] == msgClose {
		// As Node's engine.io does, deliver what was queued before the close first and the
		// close packet on the next GET: the client handles a Socket.IO DISCONNECT in the same
		// payload only after the transport close, and would report "transport close" instead
		// of "io server disconnect".
		batch, c.queue, closing = batch[:len(batch)-1], []*Message{msgClose}, false
		c.srv.sched.Reset(c.timer, c.srv.opts.CloseGrace)
	}
	finished := c.state == stateClosed
	// The official client never has a GET pending when it completes an upgrade (it waits for
	// its GET to return first), so a GET still pending when the upgrade completed is a stray.
	stray := len(batch) == 0 && c.netConn != nil
	c.pollWaiting = false
	c.mu.Unlock()
	if stray {
		c.srv.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "GET still pending after the upgrade")
		return
	}

	body := encodePayload(batch)
	if finished && len(batch) == 0 {
		body = msgClose.pollingBytes()
	}
	size := 0
	for _, m := range batch {
		size += m.Size()
	}
	c.mu.Lock()
	c.queueBytes -= size
	c.mu.Unlock()
	writePayload(w, body)
	if c.srv.opts.OnWrite != nil && len(batch) > 0 {
		c.srv.opts.OnWrite(batch, time.Now())
	}
	if closing {
		c.finish()
	}
}

// encodePayload joins messages into one long-polling payload; an empty batch (a GET released
// by an upgrade) becomes a noop packet.
func encodePayload(batch []*Message) []byte {
	if len(batch) == 0 {
		return msgNoop.pollingBytes()
	}
	if len(batch) == 1 {
		return batch[0].pollingBytes()
	}
	n := len(batch) - 1
	for _, m := range batch {
		n += len(m.pollingBytes())
	}
	body := make([]byte, 0, n)
	for i, m := range batch {
		if i > 0 {
			body = append(body, recordSeparator)
		}
		body = append(body, m.pollingBytes()...)
	}
	return body
}

func writePayload(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// serveData handles a long-polling POST: the client's packets.
func (c *Conn) serveData(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	// A closing session still reads POSTs: the client's close packet ends it at once.
	if c.netConn != nil || c.state == stateClosed {
		c.mu.Unlock()
		c.srv.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "polling POST for a session that is not polling")
		return
	}
	if c.postActive {
		c.mu.Unlock()
		c.closeWith(CloseTransportError, errPostOverlap)
		c.srv.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "overlapping POST")
		return
	}
	c.postActive = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.postActive = false
		c.mu.Unlock()
	}()

	if r.Header.Get("Content-Type") == "application/octet-stream" {
		c.closeWith(CloseTransportError, errBinaryBody)
		c.srv.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "binary body")
		return
	}
	limit := c.maxMessage()
	if r.ContentLength > int64(limit) {
		noKeepAlive(w)
		c.closeWith(CloseTransportError, errBodyTooLarge)
		c.srv.refuse(w, r, http.StatusRequestEntityTooLarge, codeBadRequest, "Payload too large", "body exceeds maxPayload")
		return
	}
	body, err := c.readBody(w, r, limit)
	if err != nil {
		noKeepAlive(w)
		c.closeWith(CloseTransportError, fmt.Errorf("engine.io: reading polling body: %w", err))
		c.srv.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "body not read")
		return
	}
	if len(body) > limit {
		noKeepAlive(w)
		c.closeWith(CloseTransportError, errBodyTooLarge)
		c.srv.refuse(w, r, http.StatusRequestEntityTooLarge, codeBadRequest, "Payload too large", "body exceeds maxPayload")
		return
	}
	if !utf8.Valid(body) {
		c.closeWith(CloseTransportError, errBodyUTF8)
		c.srv.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "body is not UTF-8")
		return
	}
	packets, err := DecodePayload(body)
	if err != nil {
		c.closeWith(CloseParseError, err)
		c.srv.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "bad payload")
		return
	}
	for _, p := range packets {
		if !c.onPacket(p) {
			break
		}
	}
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}

// readBody reads a POST's body, at most limit+1 bytes, within Options.ReadTimeout. While it
// reads, a close of the session (Conn.finish) ends the read at once.
func (c *Conn) readBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(c.srv.opts.ReadTimeout))
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return nil, errSessionClosed
	}
	c.postBody = rc
	c.mu.Unlock()
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	c.mu.Lock()
	c.postBody = nil
	c.mu.Unlock()
	// The deadline bounded this body only; net/http sets its own for the next request.
	_ = rc.SetReadDeadline(time.Time{})
	return body, err
}

// noKeepAlive closes the connection after a response to a request whose body was not read to
// its end: otherwise net/http would read the rest of it, without a deadline, to reuse the
// connection.
func noKeepAlive(w http.ResponseWriter) { w.Header().Set("Connection", "close") }

// errSessionClosed ends the body read of a POST whose session closed.
var errSessionClosed = errors.New("engine.io: session closed")
