package engineio

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio/internal/sched"
)

// Transport names, as used in the "transport" query parameter.
const (
	transportPolling   = "polling"
	transportWebsocket = "websocket"
)

type connState uint8

const (
	stateOpen    connState = iota
	stateClosing           // polling only: the close packet waits in the queue for the client's next GET
	stateClosed
)

// Handler receives a connection's messages and its close. The server calls it from one
// goroutine at a time per connection.
type Handler interface {
	// OnMessage is called for every message packet (text or binary). p.Data may be retained.
	OnMessage(c *Conn, p Packet)
	// OnClose is called once, when the connection has closed. err carries detail for logs.
	OnClose(c *Conn, reason CloseReason, err error)
}

// Conn is one Engine.IO session. Its send queue is shared by both transports: a websocket
// connection drains it with one vectored write per batch, from a goroutine that exists only
// while there is something to write; a polling connection drains it into the pending GET.
type Conn struct {
	id       string
	srv      *Server
	handler  Handler
	remote   string
	header   []string // kept handshake headers: name, value, name, value…
	query    url.Values
	openedAt time.Time
	timer    *sched.Timer

	deliverMu sync.Mutex // serializes calls into the handler (OnMessage, then OnClose once)

	mu            sync.Mutex
	state         connState
	reason        CloseReason
	reasonErr     error
	closedNotify  bool // the session has finished; OnClose has been, or will be, called
	delivering    bool // a call to OnMessage is under way
	closeDeferred bool // finish ran during OnMessage: OnClose is called when it returns
	queue         []*Message
	spare         []*Message // recycled queue backing array
	queueBytes    int
	awaitingPong  bool
	pongDeadline  time.Time
	overflowed    bool   // the send queue overflowed; a close is under way
	closeCode     uint16 // websocket: status of the close frame sent when closing (0: none)

	// admission is admissionPending until the layer above admits the connection (Conn.Admit):
	// until then its messages are held to Options.PendingMaxPayload, and it counts against
	// Options.MaxPending.
	admission atomic.Int32

	// websocket transport
	netConn      net.Conn        // nil while polling
	rc           syscall.RawConn // netConn's file descriptor, for the poller and non-blocking writes
	rd           wsReader        // decodes and drives reads of netConn
	headSent     int             // bytes of the first queued frame already written
	writing      bool            // a flush goroutine is running
	closeAfter   bool            // close the socket once the queue is flushed
	lingering    bool            // closeSocket took over closing netConn (finish leaves it alone)
	socketClosed bool            // lingerClose has netConn
	stall        *stallWatch     // times out a message that stops arriving; nil until needed

	// polling transport and upgrade
	pollWake     chan struct{} // cap 1; nil once upgraded
	pollWaiting  bool          // a GET is pending
	postActive   bool
	postBody     *http.ResponseController // the POST whose body is being read, if any
	probe        net.Conn                 // websocket being probed for an upgrade
	upgrading    bool                     // probe answered: release GETs with noop
	upgradeStart time.Time
}

// ID returns the session id.
func (c *Conn) ID() string { return c.id }

// RemoteAddr returns the client's address as seen by the server.
func (c *Conn) RemoteAddr() string { return c.remote }

// Header returns the headers of the handshake request that the connection keeps
// (Options.KeepHeaders), or nil when it has none of them. Each call returns a new copy.
func (c *Conn) Header() http.Header {
	if len(c.header) == 0 {
		return nil
	}
	h := make(http.Header, len(c.header)/2)
	for i := 0; i+1 < len(c.header); i += 2 {
		h[c.header[i]] = append(h[c.header[i]], c.header[i+1])
	}
	return h
}

// Query returns the query parameters of the handshake request other than Engine.IO's own
// (EIO, transport, sid, t, j, b64), or nil when there are none.
func (c *Conn) Query() url.Values { return c.query }

// OpenedAt returns when the session was opened.
func (c *Conn) OpenedAt() time.Time { return c.openedAt }

// Transport returns "polling" or "websocket".
func (c *Conn) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.netConn != nil {
		return transportWebsocket
	}
	return transportPolling
}

// Send queues messages for delivery, in order, without blocking. It returns false when the
// connection is closed or closing, or when the messages overflowed its send queue (the
// connection is then closed with CloseSlowConsumer).
func (c *Conn) Send(msgs ...*Message) bool { return c.send(msgs, false) }

// SendDirect is Send for a delivery to a few connections. When nothing is being written to
// the connection, the messages are written from the calling goroutine with a non-blocking
// write, instead of waking a shared writer: for an event to one user's devices, that thread
// handoff costs more CPU than the write and, on a busy machine, adds the time the kernel takes
// to schedule the writer. Whatever the socket cannot take at once is finished as Send would.
// Broadcasts to many connections should use Send, so that the shared writers spread the
// writes over the CPUs and coalesce a connection's frames into one write.
func (c *Conn) SendDirect(msgs ...*Message) bool { return c.send(msgs, true) }

func (c *Conn) send(msgs []*Message, direct bool) bool {
	c.mu.Lock()
	if c.state != stateOpen || c.overflowed {
		c.mu.Unlock()
		return false
	}
	for _, m := range msgs {
		c.queue = append(c.queue, m)
		c.queueBytes += m.Size()
	}
	if c.queueBytes > c.srv.opts.SendQueueLimit {
		// Drop the backlog now; close from another goroutine, because the caller may hold locks
		// (a broadcast holds its namespace's) that the close handler needs.
		clear(c.queue)
		c.queue, c.queueBytes, c.headSent = c.queue[:0], 0, 0
		c.overflowed = true
		c.mu.Unlock()
		go c.closeWith(CloseSlowConsumer, nil)
		return false
	}
	if direct && !c.writing && c.netConn != nil && c.canWriteDirectLocked() {
		c.writing = true
		c.mu.Unlock()
		c.writeDirect()
		return true
	}
	c.kickLocked()
	c.mu.Unlock()
	return true
}

// Close closes the connection from the server side. Messages already queued are delivered first.
func (c *Conn) Close() { c.closeWith(CloseForced, nil) }

// CloseWith closes the connection for reason; err is detail for logs. Only CloseForced and
// CloseServerShutdown deliver what is already queued; other reasons drop it.
func (c *Conn) CloseWith(reason CloseReason, err error) { c.closeWith(reason, err) }

// kickLocked makes the active transport drain the queue.
func (c *Conn) kickLocked() {
	if c.netConn == nil {
		select {
		case c.pollWake <- struct{}{}:
		default:
		}
		return
	}
	if !c.writing {
		c.writing = true
		c.kickWriterLocked()
	}
}

// flush writes the queue to the websocket in batches until it is empty, waiting for the
// socket when it is full (under Options.WriteTimeout). It runs on a goroutine of its own: for
// every connection where the shared writers are not used, and for a connection whose socket
// buffer the writers found full.
func (c *Conn) flush() {
	bufs := getBuffers()
	defer putBuffers(bufs)
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.state == stateClosed && !c.closeAfter {
			c.writing = false
			closeNow := c.closeAfter
			c.mu.Unlock()
			if closeNow {
				c.closeSocket(true)
			}
			return
		}
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		head := c.headSent
		nc := c.netConn
		c.mu.Unlock()

		n, err := c.writeBatch(nc, bufs, batch, head)
		if err == nil && c.srv.opts.OnWrite != nil {
			c.srv.opts.OnWrite(batch, time.Now())
		}

		c.mu.Lock()
		c.queueBytes -= n
		c.headSent = 0
		clear(batch)
		if cap(batch) <= 64 {
			c.spare = batch[:0]
		}
		c.mu.Unlock()
		if err != nil {
			c.writeFailed(err)
			return
		}
	}
}

// writeFailed ends a connection whose socket could not be written. When a graceful close was
// already under way (its state is closed, so closeWith would do nothing), the socket is
// closed here.
func (c *Conn) writeFailed(err error) {
	c.mu.Lock()
	c.writing = false
	closing := c.closeAfter
	c.mu.Unlock()
	if closing {
		c.closeSocket(false)
		return
	}
	c.closeWith(CloseTransportError, err)
}

// writeBatch writes the frames of batch (the first from byte head on) in one vectored write
// and returns their payload bytes.
func (c *Conn) writeBatch(nc net.Conn, bufs *frameBuffers, batch []*Message, head int) (int, error) {
	frames := bufs.frames[:0]
	size := 0
	for i, m := range batch {
		f := m.frame()
		if i == 0 {
			f = f[head:]
		}
		frames = append(frames, f)
		size += m.Size()
	}
	bufs.frames = frames
	if err := nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout)); err != nil {
		return size, err
	}
	bufs.work = frames
	_, err := bufs.work.WriteTo(nc) // consumes work, not frames
	clear(bufs.frames)
	if err == nil {
		// The deadline bounds this write only: the shared writers' and SendDirect's
		// non-blocking writes would fail at once on a deadline left in the past.
		err = nc.SetWriteDeadline(time.Time{})
	}
	return size, err
}

// frameBuffers are the vectors of one flush. WriteTo consumes the net.Buffers it is called
// on, so it writes a copy held here (a local copy would escape to the heap on every write).
type frameBuffers struct {
	frames, work net.Buffers
}

var buffersPool = sync.Pool{New: func() any { return &frameBuffers{frames: make(net.Buffers, 0, 64)} }}

func getBuffers() *frameBuffers { return buffersPool.Get().(*frameBuffers) }

func putBuffers(b *frameBuffers) {
	if cap(b.frames) > 1024 {
		return
	}
	b.frames, b.work = b.frames[:0], nil
	buffersPool.Put(b)
}

// closeWith closes the connection for reason. Graceful reasons deliver what is queued first.
func (c *Conn) closeWith(reason CloseReason, err error) {
	c.mu.Lock()
	if c.state == stateClosing && reason == CloseTransportClose && c.netConn == nil {
		// A polling session closed by the server, whose client closed too: nothing more
		// will be collected, finish now rather than after the grace period.
		c.mu.Unlock()
		c.finish()
		return
	}
	if c.state != stateOpen {
		c.mu.Unlock()
		return
	}
	c.reason, c.reasonErr = reason, err
	c.closeCode = closeCodeFor(reason, err)
	graceful := reason.graceful()
	if !graceful {
		clear(c.queue)
		c.queue = c.queue[:0]
		c.queueBytes, c.headSent = 0, 0
	}
	if c.netConn == nil {
		c.closePollingLocked(reason, graceful) // unlocks
		return
	}
	c.state = stateClosed
	if graceful { // the flush goroutine writes what is queued, then the close frame
		c.closeAfter = true
		c.kickLocked()
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.closeSocket(c.closeCode != 0)
}

// closePollingLocked closes a polling session: a pending GET (or, for a graceful close, the next
// one) receives what is queued and then the close packet. Called with c.mu held; unlocks it.
func (c *Conn) closePollingLocked(reason CloseReason, graceful bool) {
	final, grace := msgClose, c.srv.opts.CloseGrace
	if reason == CloseTransportClose {
		// The client asked to close: release its pending GET with a noop. Its GET and the POST
		// carrying the close travel on different connections and may arrive in either order,
		// so a GET that arrives just after the close is still answered rather than refused.
		final, grace, graceful = msgNoop, clientCloseGrace, true
	}
	if !c.pollWaiting && !graceful {
		c.mu.Unlock()
		c.finish()
		return
	}
	c.state = stateClosing
	c.queue = append(c.queue, final)
	c.kickLocked()
	waiting := c.pollWaiting
	c.mu.Unlock()
	if !waiting {
		c.srv.sched.Reset(c.timer, grace)
	}
}

// clientCloseGrace is how long a polling session closed by its client waits for a GET that
// was sent before the close but arrives after it.
const clientCloseGrace = 100 * time.Millisecond

// closeSocket ends a websocket connection, with a close frame (status c.closeCode) when
// withFrame is set, and finishes the session. It does not block: the close handshake runs on
// a goroutine of its own (lingerClose). When a write is under way, the writer sends the close
// frame once it is done (its loop calls closeSocket again), so that the frame never lands
// inside another.
func (c *Conn) closeSocket(withFrame bool) {
	c.mu.Lock()
	if c.socketClosed {
		c.mu.Unlock()
		return
	}
	nc := c.netConn
	var frame []byte
	if withFrame && c.closeCode != 0 {
		if c.writing {
			c.closeAfter, c.lingering = true, true
			c.mu.Unlock()
			// A write blocked on a full socket fails soon, and the socket is closed then.
			_ = nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
			c.stopReading()
			c.finish()
			return
		}
		frame = closeFrame(c.closeCode)
		c.writing = true // nothing else is written from now on
	}
	c.socketClosed, c.lingering = true, true
	linger := lingers(c.reason)
	c.mu.Unlock()
	c.stopReading()
	go lingerClose(nc, frame, linger)
	c.finish()
}

// finish releases the session and reports the close to the handler, once.
func (c *Conn) finish() {
	c.mu.Lock()
	if c.closedNotify {
		c.mu.Unlock()
		return
	}
	c.closedNotify = true
	c.state = stateClosed
	reason, err := c.reason, c.reasonErr
	probe, nc, post, stall := c.probe, c.netConn, c.postBody, c.stall
	if c.lingering {
		nc = nil // lingerClose closes it
	}
	c.probe = nil
	clear(c.queue)
	c.queue, c.spare, c.queueBytes, c.headSent = nil, nil, 0, 0
	if c.pollWake != nil {
		select {
		case c.pollWake <- struct{}{}:
		default:
		}
	}
	// The handler may be in OnMessage right now, possibly on this very goroutine (a handler
	// that closes its connection): OnClose then follows when OnMessage returns. Otherwise it
	// is called here, and this goroutine (possibly the scheduler's) never waits for a handler.
	deferred := c.delivering
	c.closeDeferred = deferred
	c.mu.Unlock()

	c.srv.sched.Stop(c.timer)
	stall.stop(c.srv.sched)
	c.srv.remove(c)
	c.endPending()
	if post != nil {
		_ = post.SetReadDeadline(time.Now()) // a POST still reading its body ends at once
	}
	if probe != nil {
		_ = probe.Close()
	}
	if nc != nil {
		c.stopReading()
		_ = nc.Close()
	}
	c.logClose(reason, err)
	if !deferred {
		c.notifyClose()
	}
}

// notifyClose calls the handler's OnClose, after any OnMessage under way.
func (c *Conn) notifyClose() {
	c.mu.Lock()
	reason, err := c.reason, c.reasonErr
	c.mu.Unlock()
	c.deliverMu.Lock()
	defer c.deliverMu.Unlock()
	c.handler.OnClose(c, reason, err)
}

// deliver hands a message to the handler unless the session has finished.
func (c *Conn) deliver(p Packet) {
	c.deliverMu.Lock()
	c.mu.Lock()
	if c.state != stateOpen || c.closedNotify {
		c.mu.Unlock()
		c.deliverMu.Unlock()
		return
	}
	c.delivering = true
	c.mu.Unlock()

	defer func() {
		c.mu.Lock()
		c.delivering = false
		notify := c.closeDeferred
		c.closeDeferred = false
		c.mu.Unlock()
		c.deliverMu.Unlock()
		if notify {
			c.notifyClose()
		}
	}()
	c.handler.OnMessage(c, p)
}

// logClose logs why the session closed: at info level when the client broke the protocol (so
// an operator can see who and why), at warn level for a slow consumer, at debug level otherwise.
func (c *Conn) logClose(reason CloseReason, err error) {
	entry := c.srv.log.WithFields(logrus.Fields{"sid": c.id, "remote": c.remote, "reason": string(reason)})
	if err != nil {
		entry = entry.WithError(err)
	}
	switch {
	case reason == CloseParseError || errors.Is(err, ErrProtocolViolation):
		entry.Info("engine.io: connection closed after a protocol violation")
	case reason == CloseSlowConsumer:
		entry.Warn("engine.io: connection closed: the client does not read fast enough")
	default:
		entry.Debug("engine.io: connection closed")
	}
}

// onTimer drives the heartbeat and the polling close grace period. It runs on the scheduler.
func (c *Conn) onTimer() {
	c.mu.Lock()
	switch {
	case c.state == stateClosing:
		c.mu.Unlock()
		c.finish()
	case c.state == stateClosed:
		c.mu.Unlock()
	case c.awaitingPong:
		c.mu.Unlock()
		c.closeWith(ClosePingTimeout, nil)
	default:
		c.awaitingPong = true
		c.pongDeadline = time.Now().Add(c.srv.opts.PingTimeout)
		c.queue = append(c.queue, msgPing)
		c.queueBytes += msgPing.Size()
		c.kickLocked()
		c.mu.Unlock()
		c.srv.sched.Reset(c.timer, c.srv.opts.PingTimeout)
	}
}

// pongOverdueLocked reports whether the pong deadline has passed, even if the scheduler has
// not fired yet: a request that arrives after the deadline finds the session timed out.
func (c *Conn) pongOverdueLocked() bool {
	return c.awaitingPong && time.Now().After(c.pongDeadline)
}

func (c *Conn) onPong() {
	c.mu.Lock()
	was := c.awaitingPong
	c.awaitingPong = false
	open := c.state == stateOpen
	c.mu.Unlock()
	if was && open {
		c.srv.sched.Reset(c.timer, c.srv.opts.PingInterval)
	}
}

// onPacket handles one packet from the client on the active transport. It returns false when
// the packet closed the connection.
func (c *Conn) onPacket(p Packet) bool {
	switch p.Type {
	case PacketMessage:
		c.deliver(p)
	case PacketPong:
		c.onPong()
	case PacketNoop:
	case PacketClose:
		c.closeWith(CloseTransportClose, nil)
		return false
	default: // open, upgrade or ping (heartbeats go server→client in v4): a protocol violation
		c.closeWith(CloseParseError, errUnexpectedPacket(p.Type))
		return false
	}
	return true
}

type errUnexpectedPacket PacketType

func (e errUnexpectedPacket) Error() string {
	return "engine.io: unexpected packet type " + string(rune('0'+e)) + " from client"
}
