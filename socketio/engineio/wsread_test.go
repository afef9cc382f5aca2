package engineio

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/realtimed/realtimed/internal/wait"
)

// readModes are the two ways a websocket is read: the shared poller and a goroutine each.
var readModes = []struct {
	name       string
	goroutines bool
}{{"poller", false}, {"goroutines", true}}

// recorder is a Handler that records messages and closes.
type recorder struct {
	mu     sync.Mutex
	msgs   map[*Conn][]Packet
	closed map[*Conn]CloseReason
	errs   map[*Conn]error
}

func newRecorder() *recorder {
	return &recorder{msgs: map[*Conn][]Packet{}, closed: map[*Conn]CloseReason{}, errs: map[*Conn]error{}}
}

func (r *recorder) OnMessage(c *Conn, p Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.Data = append([]byte(nil), p.Data...)
	r.msgs[c] = append(r.msgs[c], p)
}

func (r *recorder) OnClose(c *Conn, reason CloseReason, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed[c], r.errs[c] = reason, err
}

func (r *recorder) messages(c *Conn) []Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Packet(nil), r.msgs[c]...)
}

func (r *recorder) closeReason(c *Conn) (CloseReason, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reason, ok := r.closed[c]
	return reason, ok
}

// wsTestServer serves an engine whose sessions are recorded; opened sessions arrive on conns.
func wsTestServer(t *testing.T, opts Options) (*httptest.Server, *recorder, chan *Conn) {
	t.Helper()
	rec := newRecorder()
	conns := make(chan *Conn, 1024)
	srv := NewServer(opts, nil, func(c *Conn) Handler { conns <- c; return rec })
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return hs, rec, conns
}

func wsURL(hs *httptest.Server, query string) string {
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/?EIO=4&transport=websocket" + query
}

// dialOpen opens a websocket session and reads its open packet.
func dialOpen(t *testing.T, hs *httptest.Server, conns chan *Conn) (*websocket.Conn, *Conn) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(hs, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, open, err := ws.ReadMessage(); err != nil || open[0] != '0' {
		t.Fatalf("open packet %q, %v", open, err)
	}
	select {
	case c := <-conns:
		return ws, c
	case <-time.After(10 * time.Second):
		t.Fatal("no session opened")
	}
	return nil, nil
}

func TestIdleWebsocketsHoldNoGoroutineWithThePoller(t *testing.T) {
	if !pollerAvailable() {
		t.Fatal("the poller is not available on this system (Linux is required)")
	}
	const n = 60
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			hs, _, conns := wsTestServer(t, Options{GoroutineIO: mode.goroutines})
			dialOpen(t, hs, conns) // warm up: starts the poller, the scheduler, the listener
			settle := func() int {
				// Handshake goroutines finish shortly after each handshake; wait for calm.
				last, stable := runtime.NumGoroutine(), 0
				for stable < 5 {
					time.Sleep(20 * time.Millisecond)
					if g := runtime.NumGoroutine(); g == last {
						stable++
					} else {
						last, stable = g, 0
					}
				}
				return last
			}
			before := settle()
			for i := 0; i < n; i++ {
				dialOpen(t, hs, conns) // the client reads nothing more: no client goroutine either
			}
			grew := settle() - before
			if mode.goroutines && grew < n {
				t.Fatalf("%d goroutines for %d connections read by goroutines", grew, n)
			}
			if !mode.goroutines && grew > 5 {
				t.Fatalf("%d more goroutines for %d idle connections read by the poller", grew, n)
			}
		})
	}
}

func TestWebsocketFrames(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			hs, rec, conns := wsTestServer(t, Options{GoroutineIO: mode.goroutines, MaxPayload: 1000})

			// Messages: text (fragmented by a small write buffer), binary, and a ping in between.
			d := websocket.Dialer{WriteBufferSize: 64}
			ws, _, err := d.Dial(wsURL(hs, ""), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			c := <-conns
			long := "4" + strings.Repeat("x", 300)
			if err := ws.WriteMessage(websocket.TextMessage, []byte(long)); err != nil {
				t.Fatal(err)
			}
			pong := make(chan string, 1)
			ws.SetPongHandler(func(s string) error { pong <- s; return nil })
			if err := ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(5*time.Second)); err != nil {
				t.Fatal(err)
			}
			if err := ws.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2}); err != nil {
				t.Fatal(err)
			}
			go func() { // the client reads to see the pong
				for {
					if _, _, err := ws.ReadMessage(); err != nil {
						return
					}
				}
			}()
			select {
			case got := <-pong:
				if got != "are you there" {
					t.Fatalf("pong %q", got)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no pong")
			}
			wait.Until(t, "two messages", func() bool { return len(rec.messages(c)) == 2 })
			msgs := rec.messages(c)
			if string(msgs[0].Data) != long[1:] || msgs[0].Binary || !msgs[1].Binary || string(msgs[1].Data) != "\x00\x01\x02" {
				t.Fatalf("messages %+v", msgs)
			}

			// Closes: by the client, for a message over MaxPayload, for a base64 text packet,
			// for an unmasked frame.
			cases := []struct {
				name string
				send func(ws *websocket.Conn, raw net.Conn) error
				want CloseReason
			}{
				{"close frame", func(ws *websocket.Conn, _ net.Conn) error {
					return ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(5*time.Second))
				}, CloseTransportClose},
				{"too big", func(ws *websocket.Conn, _ net.Conn) error {
					return ws.WriteMessage(websocket.TextMessage, []byte("4"+strings.Repeat("y", 1000)))
				}, CloseTransportError},
				{"base64 over websocket", func(ws *websocket.Conn, _ net.Conn) error {
					return ws.WriteMessage(websocket.TextMessage, []byte("bAAEC"))
				}, CloseParseError},
				{"unmasked frame", func(_ *websocket.Conn, raw net.Conn) error {
					_, err := raw.Write([]byte{0x81, 0x02, '4', 'x'})
					return err
				}, CloseTransportError},
				{"client goes away", func(_ *websocket.Conn, raw net.Conn) error { return raw.Close() }, CloseTransportClose},
			}
			for _, tc := range cases {
				ws, c := dialOpen(t, hs, conns)
				if err := tc.send(ws, ws.NetConn()); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				wait.Until(t, tc.name+" closes", func() bool { _, ok := rec.closeReason(c); return ok })
				if got, _ := rec.closeReason(c); got != tc.want {
					t.Errorf("%s: closed with %q, want %q", tc.name, got, tc.want)
				}
			}
		})
	}
}

// rawUpgrade sends a websocket upgrade request for session sid on a raw TCP connection and
// reads the 101 response.
func rawUpgrade(t *testing.T, hs *httptest.Server, sid string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(nc, "GET /?EIO=4&transport=websocket&sid=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"+
		"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", sid, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	return nc, br
}

// readServerFrame reads one unmasked server frame (small payloads only).
func readServerFrame(t *testing.T, nc net.Conn, br *bufio.Reader) string {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if hdr[1] >= 126 {
		t.Fatalf("frame too long for this helper: %x", hdr)
	}
	p := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	return string(p)
}

func TestUpgradeHandlesMessagesSentWithTheUpgradePacket(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			hs, rec, conns := wsTestServer(t, Options{GoroutineIO: mode.goroutines})
			res, err := http.Get(hs.URL + "/?EIO=4&transport=polling")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			c := <-conns
			if !strings.Contains(string(body), c.ID()) {
				t.Fatalf("handshake %q", body)
			}
			nc, br := rawUpgrade(t, hs, c.ID())
			key := [4]byte{1, 2, 3, 4}
			if _, err := nc.Write(clientFrame(true, opText, []byte("2probe"), key)); err != nil {
				t.Fatal(err)
			}
			if got := readServerFrame(t, nc, br); got != "3probe" {
				t.Fatalf("probe answer %q", got)
			}
			// The upgrade packet, two messages and half of a third, in one write; then the rest.
			third := clientFrame(true, opText, []byte("4third"), key)
			burst := append(clientFrame(true, opText, []byte("5"), key), clientFrame(true, opText, []byte("4first"), key)...)
			burst = append(burst, clientFrame(true, opText, []byte("4second"), key)...)
			burst = append(burst, third[:5]...)
			if _, err := nc.Write(burst); err != nil {
				t.Fatal(err)
			}
			wait.Until(t, "two messages", func() bool { return len(rec.messages(c)) == 2 })
			if _, err := nc.Write(third[5:]); err != nil {
				t.Fatal(err)
			}
			wait.Until(t, "three messages", func() bool { return len(rec.messages(c)) == 3 })
			var got []string
			for _, m := range rec.messages(c) {
				got = append(got, string(m.Data))
			}
			if strings.Join(got, ",") != "first,second,third" || c.Transport() != "websocket" {
				t.Fatalf("messages %v on %s", got, c.Transport())
			}
			// The session is on the websocket: what the server sends arrives there.
			c.Send(NewTextMessage(PacketMessage, []byte("hello")))
			if got := readServerFrame(t, nc, br); got != "4hello" {
				t.Fatalf("server message %q", got)
			}
		})
	}
}

// TestManyConnectionsComeAndGo checks that, while connections open and close all the time (and
// file descriptors are reused), every message reaches its own session.
func TestManyConnectionsComeAndGo(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			hs, rec, conns := wsTestServer(t, Options{GoroutineIO: mode.goroutines})
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			var mu sync.Mutex
			sessions := map[string]*Conn{}
			go func() {
				for c := range conns {
					mu.Lock()
					sessions[c.ID()] = c
					mu.Unlock()
				}
			}()
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 25; i++ {
						if err := sendOwnID(hs); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			wait.Until(t, "every session closed", func() bool {
				mu.Lock()
				defer mu.Unlock()
				for _, c := range sessions {
					if _, ok := rec.closeReason(c); !ok {
						return false
					}
				}
				return len(sessions) == 200
			})

			mu.Lock()
			defer mu.Unlock()
			for id, c := range sessions {
				msgs := rec.messages(c)
				if len(msgs) != 3 {
					t.Fatalf("session %s got %d messages, want 3", id, len(msgs))
				}
				for _, m := range msgs {
					if string(m.Data) != id {
						t.Fatalf("session %s got %q", id, m.Data)
					}
				}
			}
		})
	}
}

// sendOwnID opens a session, sends its id back three times and closes.
func sendOwnID(hs *httptest.Server) error {
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(hs, ""), nil)
	if err != nil {
		return err
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, open, err := ws.ReadMessage()
	if err != nil {
		return err
	}
	sid := strings.Split(strings.Split(string(open), `"sid":"`)[1], `"`)[0]
	for i := 0; i < 3; i++ {
		if err := ws.WriteMessage(websocket.TextMessage, []byte("4"+sid)); err != nil {
			return err
		}
	}
	// Close cleanly and wait for the server to go, so that the three messages were read.
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(5*time.Second)); err != nil {
		return err
	}
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("session %s: the server did not close", sid)
			}
			return nil
		}
	}
}

func TestConnKeepsOnlyUsefulHandshakeData(t *testing.T) {
	hs, _, conns := wsTestServer(t, Options{})
	h := http.Header{}
	h.Set("Authorization", "Bearer abc")
	h.Set("Accept-Language", "fr")
	h.Set("X-Custom", "1")
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(hs, "&token=t1"), h)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c := <-conns
	if got := c.Header(); len(got) != 1 || got.Get("Authorization") != "Bearer abc" {
		t.Fatalf("kept headers %v", got)
	}
	if q := c.Query(); len(q) != 1 || q.Get("token") != "t1" {
		t.Fatalf("kept query %v", q)
	}

	hs2, _, conns2 := wsTestServer(t, Options{KeepHeaders: []string{"x-custom"}})
	ws2, _, err := websocket.DefaultDialer.Dial(wsURL(hs2, ""), h)
	if err != nil {
		t.Fatal(err)
	}
	defer ws2.Close()
	c2 := <-conns2
	if got := c2.Header(); len(got) != 1 || got.Get("X-Custom") != "1" || c2.Query() != nil {
		t.Fatalf("kept headers %v, query %v", got, c2.Query())
	}
}
