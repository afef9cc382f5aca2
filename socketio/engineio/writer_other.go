//go:build !linux

package engineio

import "sync/atomic"

// kickWriterLocked makes a flush goroutine drain c's queue: outside Linux there are no shared
// writers. c.mu is held.
func (c *Conn) kickWriterLocked() { go c.flush() }

// canWriteDirectLocked is false outside Linux: Conn.SendDirect queues as Conn.Send does.
func (c *Conn) canWriteDirectLocked() bool { return false }

func (c *Conn) writeDirect() { c.flush() }

// fullSocketHandoffs is only counted by the Linux writers.
var fullSocketHandoffs atomic.Int64
