package engineio

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestPollingEcho(t *testing.T) {
	ts := newTestServer(t, Options{})
	p, _ := ts.openPolling(t)
	for _, tc := range []struct{ name, body, want string }{
		{"text", "4hello", "4hello"},
		{"utf-8", "4héllo €", "4héllo €"},
		{"binary as base64", "bAQIDBA==", "bAQIDBA=="},
		{"several packets in one payload", "4a\x1e4b\x1ebAQ==", "4a\x1e4b\x1ebAQ=="},
		{"noop is ignored", "6\x1e4after noop", "4after noop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := p.post(tc.body); res.status != http.StatusOK || res.body != "ok" {
				t.Fatalf("POST: %d %q", res.status, res.body)
			}
			var got []string
			for len(strings.Join(got, "\x1e")) < len(tc.want) {
				got = append(got, p.getMessages())
			}
			if g := strings.Join(got, "\x1e"); g != tc.want {
				t.Fatalf("got %q, want %q", g, tc.want)
			}
		})
	}
}

func TestPollingHeartbeat(t *testing.T) {
	ts := newTestServer(t, Options{PingInterval: 100 * time.Millisecond, PingTimeout: 300 * time.Millisecond})
	p, _ := ts.openPolling(t)
	for range 3 {
		if res := p.get(); res.body != "2" {
			t.Fatalf("ping expected, got %q", res.body)
		}
		p.post("3")
	}
	p.echoes("alive after three pings")

	// No pong: the session closes with "ping timeout".
	if res := p.get(); res.body != "2" {
		t.Fatalf("ping expected, got %q", res.body)
	}
	if ev := ts.waitClose(t, p.sid); ev.reason != ClosePingTimeout {
		t.Fatalf("reason %q, want ping timeout", ev.reason)
	}
	if res := p.get(); res.status != http.StatusBadRequest {
		t.Fatalf("GET after the timeout: status %d", res.status)
	}
}

// A client sends a close packet: its pending GET is released (with a noop, as Node does) and
// the session ends with "transport close".
func TestPollingClientClose(t *testing.T) {
	ts := newTestServer(t, Options{})
	p, _ := ts.openPolling(t)
	pending := p.getAsync()
	waitPending(t, ts, p.sid)
	p.post("1")
	if res := <-pending; res.status != http.StatusOK || res.body != "6" {
		t.Fatalf("pending GET: %d %q, want noop", res.status, res.body)
	}
	if ev := ts.waitClose(t, p.sid); ev.reason != CloseTransportClose {
		t.Fatalf("reason %q", ev.reason)
	}
}

// A server-side close reaches a polling client as a close packet after what was queued, on
// the next GET, as Node does.
func TestPollingServerClose(t *testing.T) {
	ts := newTestServer(t, Options{})
	p, _ := ts.openPolling(t)
	c := ts.eng.lookup(p.sid)
	c.Send(NewTextMessage(PacketMessage, []byte("last words")))
	c.Close()
	if res := p.get(); res.body != "4last words" {
		t.Fatalf("GET %q, want the queued message", res.body)
	}
	if res := p.get(); res.body != "1" {
		t.Fatalf("GET %q, want the close packet", res.body)
	}
	if ev := ts.waitClose(t, p.sid); ev.reason != CloseForced {
		t.Fatalf("reason %q", ev.reason)
	}
}

// waitPending waits until the session has a GET waiting.
func waitPending(t *testing.T, ts *testServer, sid string) {
	t.Helper()
	c := ts.eng.lookup(sid)
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		waiting := c.pollWaiting
		c.mu.Unlock()
		if waiting {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("GET not pending in time")
}

// Two GETs at once: the second gets 400 and the session closes ("transport error"), its
// pending GET receiving the close packet, as the spec says. Other sessions are unaffected.
func TestPollingOverlappingGET(t *testing.T) {
	ts := newTestServer(t, Options{})
	bystander, _ := ts.openPolling(t)
	p, _ := ts.openPolling(t)
	first := p.getAsync()
	waitPending(t, ts, p.sid)
	if res := p.get(); res.status != http.StatusBadRequest {
		t.Fatalf("second GET: status %d, want 400", res.status)
	}
	if res := <-first; res.status != http.StatusOK || res.body != "1" {
		t.Fatalf("first GET: %d %q, want the close packet", res.status, res.body)
	}
	ev := ts.waitClose(t, p.sid)
	if ev.reason != CloseTransportError {
		t.Fatalf("reason %q", ev.reason)
	}
	ts.waitLog(t, logrus.InfoLevel, "protocol violation", logrus.Fields{"sid": p.sid, "reason": "transport error", logrus.ErrorKey: "overlapping GET"})
	bystander.echoes("unharmed")
}

// Two POSTs at once: the second gets 400 and the session closes.
func TestPollingOverlappingPOST(t *testing.T) {
	ts := newTestServer(t, Options{})
	bystander, _ := ts.openPolling(t)
	p, _ := ts.openPolling(t)

	// The first POST announces a body it sends slowly, so it is still active.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, p.url(), pr)
	req.ContentLength = 100
	slow := make(chan int, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- -1
			return
		}
		res.Body.Close()
		slow <- res.StatusCode
	}()
	if _, err := pw.Write([]byte("4partial")); err != nil {
		t.Fatal(err)
	}
	c := ts.eng.lookup(p.sid)
	deadline := time.Now().Add(waitTimeout)
	for {
		c.mu.Lock()
		active := c.postActive
		c.mu.Unlock()
		if active {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first POST not active")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if res := p.post("4second"); res.status != http.StatusBadRequest {
		t.Fatalf("second POST: status %d, want 400", res.status)
	}
	if ev := ts.waitClose(t, p.sid); ev.reason != CloseTransportError {
		t.Fatalf("reason %q", ev.reason)
	}
	ts.waitLog(t, logrus.InfoLevel, "protocol violation", logrus.Fields{"sid": p.sid, logrus.ErrorKey: "overlapping POST"})
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-slow
	bystander.echoes("unharmed")
}

// A body over maxPayload is refused with 413 and closes the session; a body of exactly
// maxPayload is accepted.
func TestPollingMaxPayload(t *testing.T) {
	ts := newTestServer(t, Options{MaxPayload: 1000})
	bystander, _ := ts.openPolling(t)

	ok, _ := ts.openPolling(t)
	exact := "4" + strings.Repeat("x", 999)
	if res := ok.post(exact); res.status != http.StatusOK {
		t.Fatalf("body of maxPayload: status %d", res.status)
	}
	if got := ok.getMessages(); got != exact {
		t.Fatalf("echo of %d bytes: got %d bytes", len(exact), len(got))
	}

	p, _ := ts.openPolling(t)
	if res := p.post("4" + strings.Repeat("x", 1000)); res.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize body: status %d, want 413", res.status)
	}
	if ev := ts.waitClose(t, p.sid); ev.reason != CloseTransportError {
		t.Fatalf("reason %q", ev.reason)
	}
	ts.waitLog(t, logrus.InfoLevel, "protocol violation", logrus.Fields{"sid": p.sid, logrus.ErrorKey: "exceeds maxPayload"})
	bystander.echoes("unharmed")
}

// A session's sid used over the other transport is refused without harming the session.
func TestSidOverTheWrongTransport(t *testing.T) {
	ts := newTestServer(t, Options{})
	w, _ := ts.openWebsocket(t)
	p, _ := ts.openPolling(t)

	t.Run("websocket sid over polling", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			res := do(t, method, ts.url("transport=polling&sid="+w.sid), "4stolen", nil)
			if res.status != http.StatusBadRequest {
				t.Fatalf("%s: status %d, want 400", method, res.status)
			}
		}
		ts.waitLog(t, logrus.DebugLevel, "request refused", logrus.Fields{"sid": w.sid, "why": "polling GET for a session that is not polling"})
		ts.waitLog(t, logrus.DebugLevel, "request refused", logrus.Fields{"sid": w.sid, "why": "polling POST for a session that is not polling"})
		w.echoes("unharmed websocket")
	})
	t.Run("polling sid over websocket without upgrade", func(t *testing.T) {
		res := do(t, http.MethodGet, ts.url("transport=websocket&sid="+p.sid), "", nil)
		if res.status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", res.status)
		}
		p.echoes("unharmed polling")
	})
	t.Run("websocket sid in a second websocket", func(t *testing.T) {
		ws, _, err := dialWS(t, ts.wsURL("transport=websocket&sid="+w.sid), nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		waitWSClosed(t, ws) // closed at once, the session stays
		w.echoes("unharmed websocket")
	})
}
