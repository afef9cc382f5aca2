package engineio

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// scriptedHandler runs a function per message and reports closes.
type scriptedHandler struct {
	onMessage func(c *Conn, p Packet)
	closes    chan<- closeEvent
}

func (h scriptedHandler) OnMessage(c *Conn, p Packet) { h.onMessage(c, p) }
func (h scriptedHandler) OnClose(c *Conn, reason CloseReason, err error) {
	h.closes <- closeEvent{c.ID(), reason, err}
}

func newScriptedServer(t *testing.T, opts Options, onMessage func(c *Conn, p Packet)) *testServer {
	t.Helper()
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	ts := &testServer{hook: hook, closes: make(chan closeEvent, 64)}
	ts.eng = NewServer(opts, log, func(*Conn) Handler { return scriptedHandler{onMessage, ts.closes} })
	ts.Server = httptest.NewServer(ts.eng)
	t.Cleanup(func() {
		ts.eng.Close()
		ts.Server.Close()
		ts.eng.sched.Close()
	})
	return ts
}

// A handler that closes its own connection from OnMessage (as the Socket.IO layer does on a
// malformed packet) gets OnClose once OnMessage has returned, on both transports.
func TestCloseFromOnMessage(t *testing.T) {
	ts := newScriptedServer(t, Options{}, func(c *Conn, p Packet) {
		if string(p.Data) == "bye" {
			c.CloseWith(CloseParseError, errors.New("handler refused the message"))
			return
		}
		c.Send(NewTextMessage(PacketMessage, p.Data))
	})
	w, _ := ts.openWebsocket(t)
	w.send("4bye")
	if ev := ts.waitClose(t, w.sid); ev.reason != CloseParseError {
		t.Fatalf("websocket: reason %q", ev.reason)
	}
	p, _ := ts.openPolling(t)
	p.post("4bye\x1e4ignored after the close")
	if ev := ts.waitClose(t, p.sid); ev.reason != CloseParseError {
		t.Fatalf("polling: reason %q", ev.reason)
	}
	ts.waitLog(t, logrus.InfoLevel, "protocol violation", logrus.Fields{"sid": p.sid, logrus.ErrorKey: "handler refused"})
	if ts.eng.Count() != 0 {
		t.Fatalf("%d sessions left", ts.eng.Count())
	}
}

// A handler busy in OnMessage never holds up the heartbeat scheduler: a session that times out
// meanwhile is closed after OnMessage returns, while other sessions keep their heartbeats.
func TestBusyHandlerDoesNotStallTimers(t *testing.T) {
	release := make(chan struct{})
	ts := newScriptedServer(t, Options{PingInterval: 100 * time.Millisecond, PingTimeout: 200 * time.Millisecond}, func(c *Conn, p Packet) {
		if string(p.Data) == "block" {
			<-release
		}
	})
	busy, _ := ts.openWebsocket(t)
	busy.send("4block")
	other, _ := ts.openWebsocket(t)

	// The busy session misses its pong; its close waits for the handler. The other session
	// must see several pings meanwhile.
	for range 5 {
		_ = other.ws.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, data, err := other.ws.ReadMessage(); err != nil || string(data) != "2" {
			t.Fatalf("other session: %q %v", data, err)
		}
		other.send("3")
	}
	select {
	case ev := <-ts.closes:
		t.Fatalf("OnClose of %s (%s) while its OnMessage is running", ev.sid, ev.reason)
	default:
	}
	close(release)
	if ev := ts.waitClose(t, busy.sid); ev.reason != ClosePingTimeout {
		t.Fatalf("reason %q", ev.reason)
	}
	if ts.eng.lookup(other.sid) == nil {
		t.Fatal("the other session closed")
	}
}
