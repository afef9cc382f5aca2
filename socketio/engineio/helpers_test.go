package engineio

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// waitTimeout bounds every wait in these tests: generous, because the machine is shared.
const waitTimeout = 10 * time.Second

// testServer is an Engine.IO server whose sessions echo every message, behind httptest, with
// its log captured.
type testServer struct {
	*httptest.Server
	eng    *Server
	hook   *logtest.Hook
	closes chan closeEvent
}

type closeEvent struct {
	sid    string
	reason CloseReason
	err    error
}

// echoHandler sends every message back and reports closes.
type echoHandler struct{ closes chan<- closeEvent }

func (h echoHandler) OnMessage(c *Conn, p Packet) {
	if p.Binary {
		c.Send(NewBinaryMessage(p.Data))
		return
	}
	c.Send(NewTextMessage(PacketMessage, p.Data))
}

func (h echoHandler) OnClose(c *Conn, reason CloseReason, err error) {
	h.closes <- closeEvent{c.ID(), reason, err}
}

func newTestServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	ts := &testServer{hook: hook, closes: make(chan closeEvent, 64)}
	ts.eng = NewServer(opts, log, func(*Conn) Handler { return echoHandler{ts.closes} })
	ts.Server = httptest.NewServer(ts.eng)
	t.Cleanup(func() {
		ts.eng.Close()
		ts.Server.Close()
		ts.eng.sched.Close()
	})
	return ts
}

func (ts *testServer) url(query string) string {
	return ts.URL + "/engine.io/?EIO=4&" + query
}

func (ts *testServer) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(ts.url(query), "http")
}

// waitClose returns the close of session sid, failing the test if it does not come in time.
func (ts *testServer) waitClose(t *testing.T, sid string) closeEvent {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case ev := <-ts.closes:
			if ev.sid == sid {
				return ev
			}
		case <-deadline:
			t.Fatalf("session %s did not close", sid)
		}
	}
}

// waitLog waits for a log entry at level whose message contains msg and whose fields contain
// every key/value of fields (the error field is matched by substring).
func (ts *testServer) waitLog(t *testing.T, level logrus.Level, msg string, fields logrus.Fields) *logrus.Entry {
	t.Helper()
	return waitLog(t, ts.hook, level, msg, fields)
}

func waitLog(t *testing.T, hook *logtest.Hook, level logrus.Level, msg string, fields logrus.Fields) *logrus.Entry {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		for _, e := range hook.AllEntries() {
			if e.Level == level && strings.Contains(e.Message, msg) && fieldsMatch(e.Data, fields) {
				return e
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	var seen []string
	for _, e := range hook.AllEntries() {
		seen = append(seen, fmt.Sprintf("%s %q %v", e.Level, e.Message, e.Data))
	}
	t.Fatalf("no %s log %q with %v; logged:\n%s", level, msg, fields, strings.Join(seen, "\n"))
	return nil
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

// openPacket is the handshake's open packet.
type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func parseOpen(t *testing.T, body string) openPacket {
	t.Helper()
	if !strings.HasPrefix(body, "0") {
		t.Fatalf("open packet expected, got %q", body)
	}
	var op openPacket
	if err := json.Unmarshal([]byte(body[1:]), &op); err != nil {
		t.Fatalf("open packet %q: %v", body, err)
	}
	return op
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, body string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{Timeout: waitTimeout}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

// pollingSession is a raw HTTP long-polling client.
type pollingSession struct {
	t   *testing.T
	ts  *testServer
	sid string
}

// openPolling performs the polling handshake.
func (ts *testServer) openPolling(t *testing.T) (*pollingSession, openPacket) {
	t.Helper()
	res := do(t, http.MethodGet, ts.url("transport=polling"), "", nil)
	if res.status != http.StatusOK {
		t.Fatalf("handshake: status %d %s", res.status, res.body)
	}
	op := parseOpen(t, res.body)
	return &pollingSession{t: t, ts: ts, sid: op.SID}, op
}

func (p *pollingSession) url() string { return p.ts.url("transport=polling&sid=" + p.sid) }

func (p *pollingSession) get() response {
	p.t.Helper()
	return do(p.t, http.MethodGet, p.url(), "", nil)
}

func (p *pollingSession) post(body string) response {
	p.t.Helper()
	return do(p.t, http.MethodPost, p.url(), body, nil)
}

// getAsync starts a GET and returns a channel for its response.
func (p *pollingSession) getAsync() <-chan response {
	ch := make(chan response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, p.url(), nil)
		res, err := (&http.Client{Timeout: waitTimeout}).Do(req)
		if err != nil {
			ch <- response{status: -1, body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		ch <- response{res.StatusCode, res.Header, string(b)}
	}()
	return ch
}

// getMessages polls until a payload without pings arrives, answering pings with pongs.
func (p *pollingSession) getMessages() string {
	p.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		res := p.get()
		if res.status != http.StatusOK {
			p.t.Fatalf("GET: status %d %s", res.status, res.body)
		}
		var kept []string
		for _, pk := range strings.Split(res.body, "\x1e") {
			if pk == "2" {
				p.post("3")
				continue
			}
			kept = append(kept, pk)
		}
		if len(kept) > 0 {
			return strings.Join(kept, "\x1e")
		}
	}
	p.t.Fatal("no message in time")
	return ""
}

// echoes checks that the session still works: a message comes back.
func (p *pollingSession) echoes(msg string) {
	p.t.Helper()
	if res := p.post("4" + msg); res.status != http.StatusOK || res.body != "ok" {
		p.t.Fatalf("POST: status %d %q", res.status, res.body)
	}
	if got := p.getMessages(); got != "4"+msg {
		p.t.Fatalf("echo: got %q, want %q", got, "4"+msg)
	}
}

// wsSession is a raw websocket client.
type wsSession struct {
	t   *testing.T
	ws  *websocket.Conn
	sid string
}

func dialWS(t *testing.T, url string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	ws, res, err := d.Dial(url, header)
	if err == nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, res, err
}

// openWebsocket opens a session directly over websocket.
func (ts *testServer) openWebsocket(t *testing.T) (*wsSession, openPacket) {
	t.Helper()
	ws, _, err := dialWS(t, ts.wsURL("transport=websocket"), nil)
	if err != nil {
		t.Fatalf("websocket handshake: %v", err)
	}
	s := &wsSession{t: t, ws: ws}
	op := parseOpen(t, s.readText())
	s.sid = op.SID
	return s, op
}

// read returns the next frame that is not a ping (pings are answered).
func (s *wsSession) read() (int, string) {
	s.t.Helper()
	for {
		_ = s.ws.SetReadDeadline(time.Now().Add(waitTimeout))
		mt, data, err := s.ws.ReadMessage()
		if err != nil {
			s.t.Fatalf("websocket read: %v", err)
		}
		if mt == websocket.TextMessage && string(data) == "2" {
			s.send("3")
			continue
		}
		return mt, string(data)
	}
}

func (s *wsSession) readText() string {
	s.t.Helper()
	mt, data := s.read()
	if mt != websocket.TextMessage {
		s.t.Fatalf("text frame expected, got binary %q", data)
	}
	return data
}

func (s *wsSession) send(text string) {
	s.t.Helper()
	if err := s.ws.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		s.t.Fatalf("websocket write: %v", err)
	}
}

func (s *wsSession) sendBinary(b []byte) {
	s.t.Helper()
	if err := s.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		s.t.Fatalf("websocket write: %v", err)
	}
}

func (s *wsSession) echoes(msg string) {
	s.t.Helper()
	s.send("4" + msg)
	if got := s.readText(); got != "4"+msg {
		s.t.Fatalf("echo: got %q, want %q", got, "4"+msg)
	}
}

// waitClosed reads until the server closes the websocket and returns the close error.
func (s *wsSession) waitClosed() error {
	s.t.Helper()
	return waitWSClosed(s.t, s.ws)
}

func waitWSClosed(t *testing.T, ws *websocket.Conn) error {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("websocket not closed by the server in time")
		}
		return err
	}
}
