package socketio

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// waitTimeout bounds every wait in these tests: generous, because the machine is shared.
const waitTimeout = 10 * time.Second

// testServer is a Socket.IO server with the conformance suites' behaviour on "/" and
// "/custom" (echo "message" as "message-back", ack "message-with-ack" with its arguments),
// behind httptest, with its log captured and its connections and disconnections observable.
type testServer struct {
	*httptest.Server
	io   *Server
	hook *logtest.Hook

	mu          sync.Mutex
	connected   map[string]*Socket         // by socket id
	disconnects map[string]disconnectEvent // by socket id
}

type disconnectEvent struct {
	id     string
	nsp    string
	reason DisconnectReason
}

func newTestServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	opts.Logger = log
	ts := &testServer{hook: hook, connected: make(map[string]*Socket), disconnects: make(map[string]disconnectEvent)}
	ts.io = NewServer(opts)
	for _, name := range []string{"/", "/custom"} {
		ts.setup(ts.io.Of(name))
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", ts.io)
	ts.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		ts.Server.CloseClientConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		ts.io.Shutdown(ctx)
		ts.Server.Close()
	})
	return ts
}

func (ts *testServer) setup(ns *Namespace) {
	ns.OnConnection(func(s *Socket) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.connected[s.ID()] = s
	})
	ns.OnDisconnect(func(s *Socket, reason DisconnectReason) {
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.disconnects[s.ID()] = disconnectEvent{s.ID(), s.Namespace().Name(), reason}
	})
	ns.On("message", func(s *Socket, e *Event) { _ = s.EmitRaw("message-back", e.Args, e.Attachments) })
	ns.On("message-with-ack", func(s *Socket, e *Event) { _ = e.AckRaw(e.Args, e.Attachments) })
	ns.On("panic", func(*Socket, *Event) { panic("handler bug") })
	ns.On("disconnect-me", func(s *Socket, e *Event) { s.Disconnect(false) })
}

// waitDisconnect returns the disconnection of socket id.
func (ts *testServer) waitDisconnect(t *testing.T, id string) disconnectEvent {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		ts.mu.Lock()
		ev, ok := ts.disconnects[id]
		ts.mu.Unlock()
		if ok {
			return ev
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("socket %s did not disconnect", id)
	return disconnectEvent{}
}

// waitLog waits for a log entry at level whose message contains msg and whose fields match
// (the error field by substring).
func (ts *testServer) waitLog(t *testing.T, level logrus.Level, msg string, fields logrus.Fields) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		for _, e := range ts.hook.AllEntries() {
			if e.Level == level && strings.Contains(e.Message, msg) && fieldsMatch(e.Data, fields) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	var seen []string
	for _, e := range ts.hook.AllEntries() {
		seen = append(seen, fmt.Sprintf("%s %q %v", e.Level, e.Message, e.Data))
	}
	t.Fatalf("no %s log %q with %v; logged:\n%s", level, msg, fields, strings.Join(seen, "\n"))
}

func fieldsMatch(data, want logrus.Fields) bool {
	for k, v := range want {
		got, ok := data[k]
		if !ok {
			return false
		}
		if k == logrus.ErrorKey {
			err, _ := got.(error)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprint(v)) {
				return false
			}
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// frame is one Engine.IO message: a Socket.IO text packet (without the Engine.IO "4") or a
// binary attachment.
type frame struct {
	text   string
	binary []byte
}

func text(s string) frame   { return frame{text: s} }
func bin(b ...byte) frame   { return frame{binary: b} }
func (f frame) isBin() bool { return f.binary != nil }

func (f frame) String() string {
	if f.isBin() {
		return fmt.Sprintf("<binary %x>", f.binary)
	}
	return f.text
}

// rawClient is a raw Socket.IO client over one transport.
type rawClient interface {
	sid() string
	send(frames ...frame)
	// next returns the next frame from the server, answering pings.
	next() frame
	// closed waits until the server has ended the session.
	closed()
}

// wsClient speaks Socket.IO over a raw websocket.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
	id string
}

func (ts *testServer) dialWebsocket(t *testing.T) *wsClient {
	t.Helper()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := (&websocket.Dialer{HandshakeTimeout: waitTimeout}).Dial(url, nil)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &wsClient{t: t, ws: ws}
	_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
	_, open, err := ws.ReadMessage()
	if err != nil || len(open) == 0 || open[0] != '0' {
		t.Fatalf("open packet: %q %v", open, err)
	}
	c.id = openSID(t, open[1:])
	return c
}

func openSID(t *testing.T, data []byte) string {
	t.Helper()
	var op struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(data, &op); err != nil || op.SID == "" {
		t.Fatalf("open packet %q: %v", data, err)
	}
	return op.SID
}

func (c *wsClient) sid() string { return c.id }

func (c *wsClient) send(frames ...frame) {
	c.t.Helper()
	for _, f := range frames {
		var err error
		if f.isBin() {
			err = c.ws.WriteMessage(websocket.BinaryMessage, f.binary)
		} else {
			err = c.ws.WriteMessage(websocket.TextMessage, []byte("4"+f.text))
		}
		if err != nil {
			c.t.Fatalf("websocket write: %v", err)
		}
	}
}

func (c *wsClient) next() frame {
	c.t.Helper()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(waitTimeout))
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("websocket read: %v", err)
		}
		if mt == websocket.BinaryMessage {
			return frame{binary: data}
		}
		switch {
		case string(data) == "2":
			_ = c.ws.WriteMessage(websocket.TextMessage, []byte("3"))
		case len(data) > 0 && data[0] == '4':
			return text(string(data[1:]))
		default:
			c.t.Fatalf("unexpected engine packet %q", data)
		}
	}
}

func (c *wsClient) closed() {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue // whatever was queued, then the close
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatal("websocket not closed by the server in time")
		}
		return
	}
}

// pollingClient speaks Socket.IO over raw HTTP long-polling.
type pollingClient struct {
	t   *testing.T
	url string
	id  string
	buf []frame
}

func (ts *testServer) dialPolling(t *testing.T) *pollingClient {
	t.Helper()
	base := ts.URL + "/socket.io/?EIO=4&transport=polling"
	status, body := httpDo(t, http.MethodGet, base, "")
	if status != http.StatusOK || !strings.HasPrefix(body, "0") {
		t.Fatalf("handshake: %d %q", status, body)
	}
	id := openSID(t, []byte(body[1:]))
	return &pollingClient{t: t, url: base + "&sid=" + id, id: id}
}

func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&http.Client{Timeout: waitTimeout}).Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (c *pollingClient) sid() string { return c.id }

// encodePayload builds a polling body from frames.
func encodePayload(frames []frame) string {
	parts := make([]string, len(frames))
	for i, f := range frames {
		if f.isBin() {
			parts[i] = "b" + base64.StdEncoding.EncodeToString(f.binary)
		} else {
			parts[i] = "4" + f.text
		}
	}
	return strings.Join(parts, "\x1e")
}

func (c *pollingClient) send(frames ...frame) {
	c.t.Helper()
	status, body := httpDo(c.t, http.MethodPost, c.url, encodePayload(frames))
	if status != http.StatusOK && status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
		c.t.Fatalf("POST: %d %q", status, body)
	}
}

func (c *pollingClient) next() frame {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for len(c.buf) == 0 {
		if time.Now().After(deadline) {
			c.t.Fatal("no message in time")
		}
		status, body := httpDo(c.t, http.MethodGet, c.url, "")
		if status != http.StatusOK {
			c.t.Fatalf("GET: %d %q", status, body)
		}
		for _, p := range strings.Split(body, "\x1e") {
			switch {
			case p == "2":
				httpDo(c.t, http.MethodPost, c.url, "3")
			case p == "6":
			case strings.HasPrefix(p, "4"):
				c.buf = append(c.buf, text(p[1:]))
			case strings.HasPrefix(p, "b"):
				b, err := base64.StdEncoding.DecodeString(p[1:])
				if err != nil {
					c.t.Fatalf("base64 element %q: %v", p, err)
				}
				c.buf = append(c.buf, frame{binary: b})
			default:
				c.t.Fatalf("unexpected engine packet %q", p)
			}
		}
	}
	f := c.buf[0]
	c.buf = c.buf[1:]
	return f
}

func (c *pollingClient) closed() {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		status, body := httpDo(c.t, http.MethodGet, c.url, "")
		if status == http.StatusBadRequest || body == "1" || strings.HasSuffix(body, "\x1e1") {
			return
		}
	}
	c.t.Fatal("polling session not closed in time")
}

// expect reads the next frame and compares it.
func expect(t *testing.T, c rawClient, want frame) {
	t.Helper()
	got := c.next()
	if got.isBin() != want.isBin() || got.text != want.text || string(got.binary) != string(want.binary) {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// expectPrefix reads the next text frame and checks its start.
func expectPrefix(t *testing.T, c rawClient, prefix string) string {
	t.Helper()
	got := c.next()
	if got.isBin() || !strings.HasPrefix(got.text, prefix) {
		t.Fatalf("got %s, want a packet starting with %q", got, prefix)
	}
	return got.text
}

// connect joins nsp with an optional auth payload and returns the socket id.
func connect(t *testing.T, c rawClient, nsp, auth string) string {
	t.Helper()
	prefix := "0"
	if nsp != "/" {
		prefix += nsp + ","
	}
	c.send(text(prefix + auth))
	reply := expectPrefix(t, c, prefix+"{")
	var r struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(reply[len(prefix):]), &r); err != nil || r.SID == "" {
		t.Fatalf("CONNECT reply %q: %v", reply, err)
	}
	return r.SID
}

// echoes checks that a connected client still gets its "message" echoed.
func echoes(t *testing.T, c rawClient, word string) {
	t.Helper()
	c.send(text(`2["message","` + word + `"]`))
	expect(t, c, text(`2["message-back","`+word+`"]`))
}

// transports runs f over each transport.
func transports(t *testing.T, ts *testServer, f func(t *testing.T, dial func() rawClient)) {
	t.Run("websocket", func(t *testing.T) { f(t, func() rawClient { return ts.dialWebsocket(t) }) })
	t.Run("polling", func(t *testing.T) { f(t, func() rawClient { return ts.dialPolling(t) }) })
}

// findSocket returns the connected socket with id, waiting for OnConnection (the CONNECT
// reply is queued just before it runs).
func (ts *testServer) findSocket(t *testing.T, id string) *Socket {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		ts.mu.Lock()
		s := ts.connected[id]
		ts.mu.Unlock()
		if s != nil {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("socket %s not connected", id)
	return nil
}
