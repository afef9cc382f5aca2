//go:build linux

package engineio

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Websocket send queues are drained by a few writer goroutines shared by every connection of
// the process (as many as there are CPUs), with non-blocking vectored writes: a delivery costs
// no goroutine, no timer and no allocation. A connection whose socket buffer is full (the
// write would block, or was partial) is handed to a goroutine of its own, which waits until
// the socket is writable again under Options.WriteTimeout and drains the queue (Conn.flush);
// the writers never block.

// writeQueue holds connections that have frames to write. When it is full, a connection gets
// a flush goroutine instead of waiting for a place.
var (
	writeQueue  chan *Conn
	writersOnce sync.Once
)

// fullSocketHandoffs counts connections handed to a flush goroutine because their socket was
// full (tests check that the path is taken).
var fullSocketHandoffs atomic.Int64

// maxIovecs bounds the frames of one write.
const maxIovecs = 64

func startWriters() {
	writeQueue = make(chan *Conn, 1<<16)
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		go runWriter()
	}
}

func runWriter() {
	w := newRawWriter()
	for c := range writeQueue {
		c.drain(w)
	}
}

// rawWriters serve the writes that Conn.SendDirect makes from its caller's goroutine.
var rawWriters = sync.Pool{New: func() any { return newRawWriter() }}

// canWriteDirectLocked tells whether c's socket takes non-blocking writes. c.mu is held.
func (c *Conn) canWriteDirectLocked() bool { return c.rc != nil && !c.srv.opts.GoroutineIO }

// writeDirect drains c's queue from the calling goroutine; c.writing is already set.
func (c *Conn) writeDirect() {
	w := rawWriters.Get().(*rawWriter)
	c.drain(w)
	rawWriters.Put(w)
}

// kickWriterLocked makes a writer drain c's queue; c.writing is already set. c.mu is held.
func (c *Conn) kickWriterLocked() {
	if c.rc == nil || c.srv.opts.GoroutineIO {
		go c.flush()
		return
	}
	writersOnce.Do(startWriters)
	select {
	case writeQueue <- c:
	default:
		go c.flush()
	}
}

// drain writes c's queue with non-blocking writes until it is empty, or hands the rest to a
// flush goroutine when the socket cannot take it all now.
func (c *Conn) drain(w *rawWriter) {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.state == stateClosed && !c.closeAfter {
			c.writing = false
			closeNow := c.closeAfter
			c.mu.Unlock()
			if closeNow {
				go c.closeSocket(true) // writes a close frame: may block
			}
			return
		}
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		head := c.headSent
		c.mu.Unlock()

		done, rest, err := c.writeNonBlocking(w, batch, head)
		if done > 0 && c.srv.opts.OnWrite != nil {
			c.srv.opts.OnWrite(batch[:done], time.Now())
		}
		c.mu.Lock()
		c.queueBytes -= payloadSize(batch[:done])
		if done == len(batch) {
			c.headSent = 0
			clear(batch)
			if cap(batch) <= 64 {
				c.spare = batch[:0]
			}
			c.mu.Unlock()
			continue
		}
		// Put back what is left, ahead of what was queued meanwhile.
		left := make([]*Message, 0, len(batch)-done+len(c.queue))
		left = append(append(left, batch[done:]...), c.queue...)
		c.queue, c.headSent = left, rest
		c.mu.Unlock()
		if err != nil && !errors.Is(err, syscall.EAGAIN) {
			go c.writeFailed(err) // closing may block: not on a writer
			return
		}
		fullSocketHandoffs.Add(1)
		go c.flush() // the socket is full: wait for it on a goroutine of its own
		return
	}
}

// writeNonBlocking writes the frames of batch (the first from byte head on) without waiting.
// It returns how many messages were written completely and how many bytes of the next one.
func (c *Conn) writeNonBlocking(w *rawWriter, batch []*Message, head int) (done, rest int, err error) {
	for done < len(batch) {
		v := w.iov[:0]
		for i := done; i < len(batch) && len(v) < maxIovecs; i++ {
			f := batch[i].frame()
			if i == done {
				f = f[head:]
			}
			v = append(v, syscall.Iovec{Base: &f[0]})
			v[len(v)-1].SetLen(len(f))
		}
		w.iov = v
		end := done + len(v)
		n, werr := w.writev(c.rc)
		clear(v) // drop the references to the frames
		for n > 0 {
			left := len(batch[done].frame()) - head
			if n < left {
				head += n
				break
			}
			n -= left
			done, head = done+1, 0
		}
		if werr != nil {
			return done, head, werr
		}
		if done < end { // a partial write: the socket buffer is full
			return done, head, syscall.EAGAIN
		}
	}
	return done, 0, nil
}

func payloadSize(msgs []*Message) int {
	n := 0
	for _, m := range msgs {
		n += m.Size()
	}
	return n
}

// rawWriter makes non-blocking vectored writes; one per writer goroutine, reused for every
// write, so that a write allocates nothing.
type rawWriter struct {
	iov   []syscall.Iovec
	n     uintptr
	errno syscall.Errno
	do    func(fd uintptr) bool // w.write, bound once
}

func newRawWriter() *rawWriter {
	w := &rawWriter{iov: make([]syscall.Iovec, 0, maxIovecs)}
	w.do = w.write
	return w
}

func (w *rawWriter) write(fd uintptr) bool {
	w.n, _, w.errno = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
	return w.errno != syscall.EINTR
}

// writev writes w.iov to the socket once, without waiting: syscall.EAGAIN when the socket
// buffer is full.
func (w *rawWriter) writev(rc syscall.RawConn) (int, error) {
	w.n, w.errno = 0, 0
	if err := rc.Write(w.do); err != nil {
		return 0, err
	}
	if w.errno != 0 {
		return 0, w.errno
	}
	return int(w.n), nil
}
