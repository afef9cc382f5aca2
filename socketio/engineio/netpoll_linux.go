//go:build linux

package engineio

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
)

// The poller waits for readable websocket connections with one epoll instance and one
// goroutine for the whole process. A connection is registered one-shot: when it becomes
// readable, a goroutine reads what arrived, handles it, and re-arms the registration. An idle
// connection therefore has no goroutine, no goroutine stack and no read buffer of its own —
// which, with thousands of connections, is most of what a connection would otherwise cost.
type poller struct {
	epfd int

	mu    sync.Mutex
	conns []*Conn // by file descriptor
}

var (
	pollerOnce sync.Once
	thePoller  *poller
	pollerErr  error
)

// sharedPoller returns the process's poller, starting it on first use.
func sharedPoller() (*poller, error) {
	pollerOnce.Do(func() {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			pollerErr = fmt.Errorf("engine.io: epoll_create1: %w", err)
			return
		}
		thePoller = &poller{epfd: epfd}
		go thePoller.run()
	})
	return thePoller, pollerErr
}

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// add registers c's socket; c.onReadable runs when it has something to read.
func (p *poller) add(c *Conn, fd int) error {
	p.mu.Lock()
	for len(p.conns) <= fd {
		p.conns = append(p.conns, nil)
	}
	p.conns[fd] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: pollEvents, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.forget(c, fd)
		return fmt.Errorf("engine.io: epoll_ctl add: %w", err)
	}
	return nil
}

// rearm asks for the next readiness of c's socket (one-shot registrations fire once).
func (p *poller) rearm(fd int) error {
	ev := syscall.EpollEvent{Events: pollEvents, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return fmt.Errorf("engine.io: epoll_ctl mod: %w", err)
	}
	return nil
}

// remove unregisters c's socket. Call it before the socket is closed: once closed, its file
// descriptor number may be reused by a new connection.
func (p *poller) remove(c *Conn, fd int) {
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	p.forget(c, fd)
}

func (p *poller) forget(c *Conn, fd int) {
	p.mu.Lock()
	if fd < len(p.conns) && p.conns[fd] == c {
		p.conns[fd] = nil
	}
	p.mu.Unlock()
}

func (p *poller) lookup(fd int32) *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if int(fd) < len(p.conns) {
		return p.conns[fd]
	}
	return nil
}

func (p *poller) run() {
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			// Not expected with a valid epoll descriptor; nothing can be read any more.
			panic(fmt.Sprintf("engine.io: epoll_wait: %v", err))
		}
		for i := 0; i < n; i++ {
			if c := p.lookup(events[i].Fd); c != nil {
				go c.onReadable()
			}
		}
	}
}

// pollerAvailable reports whether websocket reads can use the shared poller.
func pollerAvailable() bool {
	_, err := sharedPoller()
	return err == nil
}

// pollRead is what a goroutine woken by the poller reads with: a buffer and the functions it
// passes to the raw connection, bound once. They are pooled: an idle connection keeps none, and
// a read allocates nothing.
type pollRead struct {
	buf    []byte
	n      int
	err    error
	p      *poller
	read   func(fd uintptr) bool
	rearm  func(fd uintptr)
	rearmE error
}

var pollReadPool = sync.Pool{New: func() any {
	r := &pollRead{buf: make([]byte, 16<<10)}
	r.read = r.readFD
	r.rearm = r.rearmFD
	return r
}}

func (r *pollRead) readFD(fd uintptr) bool {
	r.n, r.err = syscall.Read(int(fd), r.buf)
	return !errors.Is(r.err, syscall.EINTR)
}

func (r *pollRead) rearmFD(fd uintptr) { r.rearmE = r.p.rearm(int(fd)) }

// onReadable runs on a fresh goroutine when the poller reports c's socket readable: it reads
// and handles everything available, then re-arms the registration.
func (c *Conn) onReadable() {
	if !c.rd.reading.CompareAndSwap(false, true) {
		return // another goroutine is reading; it re-arms when done
	}
	r := pollReadPool.Get().(*pollRead)
	defer pollReadPool.Put(r)
	open := c.readAvailable(r)
	c.rd.reading.Store(false)
	if !open || c.rd.stopped.Load() {
		return
	}
	r.p, r.rearmE = thePoller, nil
	if err := c.rc.Control(r.rearm); err != nil || r.rearmE != nil {
		if !c.rd.stopped.Load() {
			c.closeWith(CloseTransportError, errors.Join(err, r.rearmE))
		}
	}
}

// readAvailable reads until the socket would block; it reports false once the connection is
// closing.
func (c *Conn) readAvailable(r *pollRead) bool {
	for {
		n, err := c.readNonBlocking(r)
		if n > 0 {
			if ferr := c.rd.fr.feed(r.buf[:n], c.onFrame); ferr != nil {
				c.readFailed(ferr)
				return false
			}
		}
		switch {
		case errors.Is(err, syscall.EAGAIN):
			c.watchStall()
			return true
		case err != nil:
			c.closeWith(readCloseReason(err), err)
			return false
		}
	}
}

// readNonBlocking reads once without waiting: syscall.EAGAIN when nothing is there, io.EOF
// when the peer has closed.
func (c *Conn) readNonBlocking(r *pollRead) (int, error) {
	r.n, r.err = 0, nil
	err := c.rc.Read(r.read)
	switch {
	case err != nil:
		return 0, err
	case r.err != nil:
		return 0, r.err
	case r.n == 0:
		return 0, io.EOF
	}
	return r.n, nil
}
