//go:build !linux

package engineio

import "errors"

// poller is Linux-only (epoll); elsewhere every websocket is read by a goroutine of its own.
type poller struct{}

func sharedPoller() (*poller, error) { return nil, errors.New("engine.io: no poller on this system") }

func (*poller) add(*Conn, int) error { return errors.New("engine.io: no poller on this system") }
func (*poller) rearm(int) error      { return nil }
func (*poller) remove(*Conn, int)    {}

func pollerAvailable() bool { return false }
