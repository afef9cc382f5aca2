package engineio

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sirupsen/logrus"
)

func TestWebsocketEcho(t *testing.T) {
	ts := newTestServer(t, Options{})
	w, _ := ts.openWebsocket(t)
	w.echoes("hello")
	w.sendBinary([]byte{1, 2, 3, 4})
	if mt, data := w.read(); mt != websocket.BinaryMessage || data != "\x01\x02\x03\x04" {
		t.Fatalf("binary echo: type %d %q", mt, data)
	}
	w.send("6") // noop: ignored
	w.echoes("after noop")
}

func TestWebsocketHeartbeat(t *testing.T) {
	ts := newTestServer(t, Options{PingInterval: 100 * time.Millisecond, PingTimeout: 300 * time.Millisecond})
	w, _ := ts.openWebsocket(t)
	for range 3 {
		_ = w.ws.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, data, err := w.ws.ReadMessage(); err != nil || string(data) != "2" {
			t.Fatalf("ping expected: %q %v", data, err)
		}
		w.send("3")
	}
	// No pong this time.
	_ = w.ws.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, data, _ := w.ws.ReadMessage(); string(data) != "2" {
		t.Fatalf("ping expected, got %q", data)
	}
	if ev := ts.waitClose(t, w.sid); ev.reason != ClosePingTimeout {
		t.Fatalf("reason %q", ev.reason)
	}
}

func TestWebsocketClientClose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(w *wsSession)
	}{
		{"close packet", func(w *wsSession) { w.send("1") }},
		{"close frame", func(w *wsSession) {
			_ = w.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		}},
		{"TCP close", func(w *wsSession) { _ = w.ws.NetConn().Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Options{})
			w, _ := ts.openWebsocket(t)
			tc.close(w)
			if ev := ts.waitClose(t, w.sid); ev.reason != CloseTransportClose {
				t.Fatalf("reason %q (%v)", ev.reason, ev.err)
			}
		})
	}
}

// A websocket message over maxPayload closes that connection with status 1009 (as Node's ws
// does) and is logged.
func TestWebsocketMaxPayload(t *testing.T) {
	ts := newTestServer(t, Options{MaxPayload: 1000})
	bystander, _ := ts.openWebsocket(t)
	w, _ := ts.openWebsocket(t)
	w.echoes(strings.Repeat("x", 999)) // 1000 bytes with the type
	w.send("4" + strings.Repeat("x", 1000))
	if err := w.waitClosed(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("close: %v, want 1009", err)
	}
	if ev := ts.waitClose(t, w.sid); ev.reason != CloseTransportError {
		t.Fatalf("reason %q", ev.reason)
	}
	ts.waitLog(t, logrus.InfoLevel, "protocol violation", logrus.Fields{"sid": w.sid, logrus.ErrorKey: "exceeds maxPayload"})
	bystander.echoes("unharmed")

	// The limit holds for binary messages and during an upgrade probe too.
	b, _ := ts.openWebsocket(t)
	b.sendBinary(make([]byte, 1001))
	if err := b.waitClosed(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("binary: close %v, want 1009", err)
	}
	if ev := ts.waitClose(t, b.sid); ev.reason != CloseTransportError {
		t.Fatalf("binary: reason %q", ev.reason)
	}
	p, _ := ts.openPolling(t)
	probe, _, err := dialWS(t, ts.wsURL("transport=websocket&sid="+p.sid), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = probe.WriteMessage(websocket.TextMessage, []byte("2"+strings.Repeat("p", 1000)))
	if err := waitWSClosed(t, probe); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("probe: close %v, want 1009", err)
	}
	p.echoes("polling session survives a bad probe")
}

// The upgrade: probe ping → probe pong, the pending GET is released with a noop, the upgrade
// packet moves the session onto the websocket, and polling requests for it are refused after.
func TestUpgrade(t *testing.T) {
	ts := newTestServer(t, Options{})
	p, op := ts.openPolling(t)
	if len(op.Upgrades) != 1 || op.Upgrades[0] != "websocket" {
		t.Fatalf("upgrades %q", op.Upgrades)
	}
	pending := p.getAsync()
	waitPending(t, ts, p.sid)

	w := ts.probe(t, p.sid)
	if res := <-pending; res.status != http.StatusOK || res.body != "6" {
		t.Fatalf("pending GET during upgrade: %d %q, want noop", res.status, res.body)
	}

	// A second websocket while the first is upgrading is closed at once.
	second, _, err := dialWS(t, ts.wsURL("transport=websocket&sid="+p.sid), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitWSClosed(t, second)

	// Messages sent before the upgrade completes are not lost.
	if res := p.post("4during upgrade"); res.status != http.StatusOK {
		t.Fatalf("POST during upgrade: %d", res.status)
	}
	w.send("5")
	if got := w.readText(); got != "4during upgrade" {
		t.Fatalf("queued message after upgrade: %q", got)
	}
	w.echoes("over websocket")
	if tr := ts.eng.lookup(p.sid).Transport(); tr != "websocket" {
		t.Fatalf("transport %q", tr)
	}

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		if res := do(t, method, p.url(), "4late", nil); res.status != http.StatusBadRequest {
			t.Fatalf("polling %s after upgrade: status %d", method, res.status)
		}
	}
	third, _, err := dialWS(t, ts.wsURL("transport=websocket&sid="+p.sid), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitWSClosed(t, third)
	w.echoes("still upgraded")
}

// probe opens a websocket for the polling session sid and completes the probe exchange.
func (ts *testServer) probe(t *testing.T, sid string) *wsSession {
	t.Helper()
	ws, _, err := dialWS(t, ts.wsURL("transport=websocket&sid="+sid), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &wsSession{t: t, ws: ws, sid: sid}
	w.send("2probe")
	if got := w.readText(); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	return w
}

// TestUpgradedConnectionOutlivesWriteTimeout: the probe answer is written under a deadline;
// once the session is on the websocket, writes long after that deadline still go out (server
// messages through the shared writers, and the echo of a client message).
func TestUpgradedConnectionOutlivesWriteTimeout(t *testing.T) {
	const writeTimeout = 200 * time.Millisecond
	ts := newTestServer(t, Options{WriteTimeout: writeTimeout})
	p, _ := ts.openPolling(t)
	w := ts.probe(t, p.sid)
	w.send("5")
	w.echoes("upgraded")
	time.Sleep(writeTimeout + 200*time.Millisecond)
	w.echoes("after the write timeout")
	if !ts.eng.lookup(p.sid).Send(NewTextMessage(PacketMessage, []byte("from the server"))) {
		t.Fatal("Send refused")
	}
	if got := w.readText(); got != "4from the server" {
		t.Fatalf("server message after the write timeout: %q", got)
	}
}

// A probe that does not follow the protocol is dropped; the polling session carries on.
func TestUpgradeBadProbe(t *testing.T) {
	ts := newTestServer(t, Options{UpgradeTimeout: 300 * time.Millisecond})
	for _, tc := range []struct {
		name  string
		frame func(ws *websocket.Conn) error
	}{
		{"message instead of probe", func(ws *websocket.Conn) error { return ws.WriteMessage(websocket.TextMessage, []byte("4hi")) }},
		{"binary probe", func(ws *websocket.Conn) error { return ws.WriteMessage(websocket.BinaryMessage, []byte("2probe")) }},
		{"garbage", func(ws *websocket.Conn) error { return ws.WriteMessage(websocket.TextMessage, []byte("zz")) }},
		{"silence", func(*websocket.Conn) error { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := ts.openPolling(t)
			ws, _, err := dialWS(t, ts.wsURL("transport=websocket&sid="+p.sid), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.frame(ws); err != nil {
				t.Fatal(err)
			}
			waitWSClosed(t, ws)
			p.echoes("still polling")
			if tr := ts.eng.lookup(p.sid).Transport(); tr != "polling" {
				t.Fatalf("transport %q", tr)
			}
		})
	}
}

// Malformed Engine.IO packets close only the offending session, with the reason logged.
func TestMalformedPackets(t *testing.T) {
	const ws, poll = 1, 2
	for _, tc := range []struct {
		name       string
		payload    string // a polling body; over websocket the same bytes in one text frame
		err        string
		transports int
		pollStatus int // the POST's answer: a payload that decodes is accepted, then acted on
	}{
		{"unknown packet type", "9", "unknown packet type", ws | poll, 400},
		{"non-digit type", "x", "unknown packet type", ws | poll, 400},
		{"client ping (wrong heartbeat direction)", "2", "unexpected packet type 2", ws | poll, 200},
		{"open from client", "0", "unexpected packet type 0", ws | poll, 200},
		{"upgrade outside an upgrade", "5", "unexpected packet type 5", ws | poll, 200},
		{"empty websocket frame", "", "empty packet", ws, 0},
		{"base64 over websocket", "bAQID", "base64", ws, 0},
		{"empty polling body", "", "empty payload", poll, 400},
		{"empty element", "4a\x1e\x1e4b", "empty packet", poll, 400},
		{"trailing separator", "4a\x1e", "trailing record separator", poll, 400},
		{"bad base64", "b!!!", "bad base64", poll, 400},
		{"bad packet after a good one", "4fine\x1e7", "unknown packet type", poll, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Options{})
			bystander, _ := ts.openWebsocket(t)
			if tc.transports&ws != 0 {
				w, _ := ts.openWebsocket(t)
				w.send(tc.payload)
				w.waitClosed()
				if ev := ts.waitClose(t, w.sid); ev.reason != CloseParseError {
					t.Fatalf("websocket: reason %q", ev.reason)
				}
				ts.waitLog(t, logrus.InfoLevel, "protocol violation", logrus.Fields{"sid": w.sid, "reason": "parse error", logrus.ErrorKey: tc.err})
			}
			if tc.transports&poll != 0 {
				p, _ := ts.openPolling(t)
				if res := p.post(tc.payload); res.status != tc.pollStatus {
					t.Fatalf("polling: status %d, want %d", res.status, tc.pollStatus)
				}
				if ev := ts.waitClose(t, p.sid); ev.reason != CloseParseError {
					t.Fatalf("polling: reason %q", ev.reason)
				}
				ts.waitLog(t, logrus.InfoLevel, "protocol violation", logrus.Fields{"sid": p.sid, "reason": "parse error", logrus.ErrorKey: tc.err})
				if res := p.get(); res.status != http.StatusBadRequest && res.body != "1" {
					t.Fatalf("GET after the close: %d %q", res.status, res.body)
				}
			}
			bystander.echoes("unharmed")
			if ts.eng.Count() != 1 {
				t.Fatalf("%d sessions open, want only the bystander", ts.eng.Count())
			}
		})
	}
}
