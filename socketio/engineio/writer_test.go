package engineio

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/realtimed/realtimed/internal/wait"
)

// TestWritesResumeAfterAFullSocket fills the socket while the client is not reading (the
// writers then find it full and hand it to a flush goroutine), then reads: every message
// arrives, whole and in order.
func TestWritesResumeAfterAFullSocket(t *testing.T) {
	for _, mode := range readModes {
		for _, via := range sendModes {
			t.Run(mode.name+"/"+via.name, func(t *testing.T) {
				testWritesResumeAfterAFullSocket(t, mode.goroutines, via.send)
			})
		}
	}
}

// sendModes are the two ways to queue messages: Send (the shared writers write them) and
// SendDirect (the caller writes them when the connection is idle).
var sendModes = []struct {
	name string
	send func(*Conn, ...*Message) bool
}{
	{"Send", (*Conn).Send},
	{"SendDirect", (*Conn).SendDirect},
}

func testWritesResumeAfterAFullSocket(t *testing.T, goroutines bool, send func(*Conn, ...*Message) bool) {
	const writeTimeout = time.Second
	hs, _, conns := wsTestServer(t, Options{GoroutineIO: goroutines, SendQueueLimit: 64 << 20, WriteTimeout: writeTimeout})
	ws, c := dialOpen(t, hs, conns)
	handoffs := fullSocketHandoffs.Load()
	const count, size = 400, 30_000 // 12 MB: more than the socket buffers hold
	for i := 0; i < count; i++ {
		if !send(c, NewTextMessage(PacketMessage, bigPayload(i, size))) {
			t.Fatalf("Send %d refused", i)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the writers hit the full socket
	if !goroutines && fullSocketHandoffs.Load() == handoffs {
		t.Fatal("the writers never found the socket full")
	}
	for i := 0; i < count; i++ {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, got, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := append([]byte{'4'}, bigPayload(i, size)...); !bytes.Equal(got, want) {
			t.Fatalf("message %d differs (%d bytes, want %d)", i, len(got), len(want))
		}
	}
	// The blocking writes' deadline has passed: later writes must not trip over it.
	time.Sleep(writeTimeout + 200*time.Millisecond)
	if !send(c, NewTextMessage(PacketMessage, []byte("later"))) {
		t.Fatal("Send after the write timeout refused")
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, got, err := ws.ReadMessage(); err != nil || string(got) != "4later" {
		t.Fatalf("message after the write timeout: %q, %v", got, err)
	}
}

// TestSendAndSendDirectKeepOrder mixes the two ways of sending from one goroutine, with sizes
// that sometimes leave a write in progress (SendDirect then queues behind it) and sometimes
// find the connection idle (SendDirect writes itself): the client reads every message once,
// in the order sent.
func TestSendAndSendDirectKeepOrder(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			hs, _, conns := wsTestServer(t, Options{GoroutineIO: mode.goroutines, SendQueueLimit: 64 << 20})
			ws, c := dialOpen(t, hs, conns)
			const count = 3000
			done := make(chan error, 1)
			go func() {
				for i := 0; i < count; i++ {
					_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
					_, got, err := ws.ReadMessage()
					if err != nil {
						done <- fmt.Errorf("message %d: %w", i, err)
						return
					}
					if want := append([]byte{'4'}, bigPayload(i, orderTestSize(i))...); !bytes.Equal(got, want) {
						done <- fmt.Errorf("message %d differs: got %.12q…", i, got)
						return
					}
				}
				done <- nil
			}()
			for i := 0; i < count; i++ {
				if !sendModes[i%2].send(c, NewTextMessage(PacketMessage, bigPayload(i, orderTestSize(i)))) {
					t.Fatalf("message %d refused", i)
				}
				if i%100 == 0 {
					time.Sleep(time.Millisecond) // let the queue drain: the next SendDirect writes itself
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func orderTestSize(i int) int { return []int{10, 200, 5_000, 70_000}[i%4] }

func bigPayload(i, size int) []byte {
	p := bytes.Repeat([]byte{byte('a' + i%26)}, size)
	copy(p, fmt.Sprintf("%06d", i))
	return p
}

// TestSlowConsumerIsDisconnected checks the bounded send queue: a client that does not read
// while messages keep coming is disconnected with CloseSlowConsumer once its queue exceeds
// SendQueueLimit, and the Send that overflowed reports it; another client is not affected.
func TestSlowConsumerIsDisconnected(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			hs, rec, conns := wsTestServer(t, Options{GoroutineIO: mode.goroutines, SendQueueLimit: 256 << 10})
			_, slow := dialOpen(t, hs, conns)
			fast, fastConn := dialOpen(t, hs, conns)
			msg := NewTextMessage(PacketMessage, bytes.Repeat([]byte("x"), 16<<10))
			refused := -1
			for i := 0; i < 10_000; i++ { // up to 160 MB: far more than socket buffers and queue
				if !sendModes[i%2].send(slow, msg) {
					refused = i
					break
				}
				if i%64 == 0 {
					time.Sleep(time.Millisecond) // let the writers fill the socket first
				}
			}
			if refused < 0 {
				t.Fatal("the send queue never overflowed")
			}
			wait.Until(t, "the slow consumer to be closed", func() bool { _, ok := rec.closeReason(slow); return ok })
			if reason, _ := rec.closeReason(slow); reason != CloseSlowConsumer {
				t.Fatalf("closed with %q, want %q", reason, CloseSlowConsumer)
			}
			if slow.Send(msg) {
				t.Fatal("Send on a closed connection succeeded")
			}
			if !fastConn.Send(NewTextMessage(PacketMessage, []byte("still here"))) {
				t.Fatal("the other connection was refused")
			}
			_ = fast.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, got, err := fast.ReadMessage(); err != nil || string(got) != "4still here" {
				t.Fatalf("other client got %q, %v", got, err)
			}
		})
	}
}

// TestCloseDeliversQueuedMessagesFirst: a server-side Close writes what is queued, then a close
// frame.
func TestCloseDeliversQueuedMessagesFirst(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			hs, rec, conns := wsTestServer(t, Options{GoroutineIO: mode.goroutines})
			ws, c := dialOpen(t, hs, conns)
			for i := 0; i < 3; i++ {
				c.Send(NewTextMessage(PacketMessage, []byte{byte('a' + i)}))
			}
			c.Close()
			for _, want := range []string{"4a", "4b", "4c"} {
				_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, got, err := ws.ReadMessage(); err != nil || string(got) != want {
					t.Fatalf("got %q, %v; want %q", got, err, want)
				}
			}
			_, _, err := ws.ReadMessage()
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Fatalf("after the messages: %v, want a normal close frame", err)
			}
			wait.Until(t, "OnClose", func() bool { r, ok := rec.closeReason(c); return ok && r == CloseForced })
		})
	}
}

// TestGracefulCloseOfAVanishedClientFinishes: the server closes a connection gracefully (queued
// messages first) while its client has gone away with unread data; the write fails, and the
// session must still finish and report its close.
func TestGracefulCloseOfAVanishedClientFinishes(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			hs, rec, conns := wsTestServer(t, Options{GoroutineIO: mode.goroutines, SendQueueLimit: 64 << 20})
			ws, c := dialOpen(t, hs, conns)
			for i := 0; i < 400; i++ { // 12 MB: the socket fills up, the rest stays queued
				c.Send(NewTextMessage(PacketMessage, bigPayload(i, 30_000)))
			}
			time.Sleep(100 * time.Millisecond)
			c.Close() // graceful: what is queued is still to be written
			tcp := ws.NetConn().(*net.TCPConn)
			_ = tcp.SetLinger(0) // the client vanishes with a reset, unread data and all
			_ = tcp.Close()
			wait.Until(t, "the session to finish", func() bool { _, ok := rec.closeReason(c); return ok })
			if reason, _ := rec.closeReason(c); reason != CloseForced {
				t.Fatalf("closed with %q, want %q", reason, CloseForced)
			}
		})
	}
}
