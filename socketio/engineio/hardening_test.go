package engineio

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/internal/wait"
)

// A frame header announcing a large frame reserves nothing: the message's buffer grows with
// the bytes that arrive (issue 15, finding 2).
func TestFrameBufferGrowsWithArrivingBytes(t *testing.T) {
	r := &frameReader{limit: fixedLimit(1_000_000)}
	header := []byte{finBinary, 0x80 | 127, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x36, 1, 2, 3, 4} // 999,990 bytes
	if err := r.feed(append(header, make([]byte, 10)...), func(byte, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if cap(r.msg) > 1024 {
		t.Fatalf("10 bytes of a 999,990-byte frame hold a %d-byte buffer", cap(r.msg))
	}
	// Growing, the buffer at most doubles, and never past what the frame announced.
	chunk := make([]byte, 100_000)
	for i := 0; i < 9; i++ {
		if err := r.feed(chunk, func(byte, []byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if len(r.msg) > 0 && cap(r.msg) > 2*len(r.msg) {
			t.Fatalf("%d bytes arrived, buffer of %d", len(r.msg), cap(r.msg))
		}
	}
	var got []byte
	if err := r.feed(chunk[:99_980], func(op byte, p []byte) error { got = p; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 999_990 || cap(got) != 999_990 {
		t.Fatalf("message of %d bytes in a buffer of %d, want 999990 in 999990", len(got), cap(got))
	}
}

// A websocket frame that stops arriving closes the connection after ReadTimeout with status
// 1008, in both read modes (issue 15, finding 2); a slow but complete message does not.
func TestStalledFrameTimesOut(t *testing.T) {
	for _, mode := range readModes {
		t.Run(mode.name, func(t *testing.T) {
			ts := newTestServer(t, Options{ReadTimeout: 300 * time.Millisecond, GoroutineIO: mode.goroutines})
			bystander, _ := ts.openWebsocket(t)

			stalled := ts.openRawWS(t)
			stalled.write([]byte{finText, 0x80 | 127, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x36, 1, 2, 3, 4}) // 999,990 bytes
			stalled.write([]byte("4xxxxxxxxx"))
			started := time.Now()
			stalled.expectClose(closePolicy)
			if d := time.Since(started); d > 3*time.Second {
				t.Fatalf("closed after %v, want about 300ms", d)
			}
			ts.waitLog(t, logrus.InfoLevel, "protocol violation", logrus.Fields{logrus.ErrorKey: "not completed within the read timeout"})

			header := ts.openRawWS(t) // half a header is a message begun too
			header.write([]byte{finText})
			header.expectClose(closePolicy)

			slow := ts.openRawWS(t) // each message completes in time: the connection stays
			for i := 0; i < 4; i++ {
				f := frame(finText, fmt.Sprintf("4slow %d", i))
				slow.write(f[:3])
				time.Sleep(200 * time.Millisecond)
				slow.write(f[3:])
				if got := slow.next(); string(got.payload) != fmt.Sprintf("4slow %d", i) {
					t.Fatalf("echo %q", got.payload)
				}
			}
			time.Sleep(400 * time.Millisecond) // idle between messages is no stall
			slow.write(frame(finText, "4still here"))
			if got := slow.next(); string(got.payload) != "4still here" {
				t.Fatalf("echo %q", got.payload)
			}
			bystander.echoes("unharmed")
		})
	}
}

// stalledPOST sends a polling POST that announces size bytes and sends only the first sent,
// and returns a channel that receives the response status (or -1 when the connection closed
// without one) and when it came.
func stalledPOST(t *testing.T, ts *testServer, sid string, size, sent int) <-chan int {
	t.Helper()
	u, _ := url.Parse(ts.url("transport=polling&sid=" + sid))
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n\r\n4%s",
		u.RequestURI(), u.Host, size, strings.Repeat("x", sent-1))
	done := make(chan int, 1)
	go func() {
		_ = nc.SetReadDeadline(time.Now().Add(waitTimeout))
		res, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			done <- -1
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}()
	return done
}

// A polling POST whose body stalls is ended after ReadTimeout, and its session closed
// (issue 15, finding 3).
func TestPollingBodyReadTimeout(t *testing.T) {
	ts := newTestServer(t, Options{ReadTimeout: 300 * time.Millisecond})
	bystander, _ := ts.openPolling(t)
	p, _ := ts.openPolling(t)
	started := time.Now()
	done := stalledPOST(t, ts, p.sid, 500_000, 1000)
	select {
	case status := <-done:
		if status != http.StatusBadRequest {
			t.Fatalf("stalled POST: status %d, want 400", status)
		}
	case <-time.After(waitTimeout):
		t.Fatal("stalled POST not ended")
	}
	if d := time.Since(started); d > 3*time.Second {
		t.Fatalf("stalled POST ended after %v, want about 300ms", d)
	}
	if ev := ts.waitClose(t, p.sid); ev.reason != CloseTransportError {
		t.Fatalf("reason %q", ev.reason)
	}
	bystander.echoes("unharmed")
}

// A POST still reading its body when its session closes (here by ping timeout) ends at once,
// however long ReadTimeout is (issue 15, finding 3).
func TestPollingBodyEndsWithItsSession(t *testing.T) {
	ts := newTestServer(t, Options{ReadTimeout: time.Minute, PingInterval: 200 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	p, _ := ts.openPolling(t)
	done := stalledPOST(t, ts, p.sid, 500_000, 1000)
	if ev := ts.waitClose(t, p.sid); ev.reason != ClosePingTimeout {
		t.Fatalf("reason %q", ev.reason)
	}
	closed := time.Now()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("the POST of a closed session is still open")
	}
	if d := time.Since(closed); d > 2*time.Second {
		t.Fatalf("POST ended %v after its session", d)
	}
}

// A body announced larger than the limit is refused before it is read.
func TestPollingOversizeBodyRefusedUnread(t *testing.T) {
	ts := newTestServer(t, Options{MaxPayload: 1000, ReadTimeout: time.Minute})
	p, _ := ts.openPolling(t)
	select {
	case status := <-stalledPOST(t, ts, p.sid, 1001, 10):
		if status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", status)
		}
	case <-time.After(waitTimeout):
		t.Fatal("oversize POST not answered before its body arrived")
	}
	if ev := ts.waitClose(t, p.sid); ev.reason != CloseTransportError {
		t.Fatalf("reason %q", ev.reason)
	}
}

// A POST refused before its body was read to the end (here a chunked body over the limit) has
// its connection closed after the answer: net/http would otherwise read the rest of the body,
// without a deadline, to reuse the connection.
func TestPollingRefusedBodyClosesConnection(t *testing.T) {
	ts := newTestServer(t, Options{MaxPayload: 1000})
	p, _ := ts.openPolling(t)
	u, _ := url.Parse(ts.url("transport=polling&sid=" + p.sid))
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	body := "4" + strings.Repeat("x", 499_999)
	fmt.Fprintf(nc, "POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s", u.RequestURI(), u.Host, len(body), body)
	_ = nc.SetReadDeadline(time.Now().Add(waitTimeout))
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("response %v, %v; want 413", res, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the answer: %v, want the connection closed", err)
	}
}

// A polling body that is not UTF-8 is refused and closes its session (issue 15, finding 5).
func TestPollingBodyMustBeUTF8(t *testing.T) {
	ts := newTestServer(t, Options{})
	bystander, _ := ts.openPolling(t)
	for _, body := range []string{"4\xff", "4ok\x1e4\xed\xa0\x80", "4\xc0\xaf", "4\xce"} {
		p, _ := ts.openPolling(t)
		if res := p.post(body); res.status != http.StatusBadRequest {
			t.Fatalf("%q: status %d, want 400", body, res.status)
		}
		if ev := ts.waitClose(t, p.sid); ev.reason != CloseTransportError {
			t.Fatalf("%q: reason %q", body, ev.reason)
		}
		ts.waitLog(t, logrus.InfoLevel, "protocol violation", logrus.Fields{"sid": p.sid, logrus.ErrorKey: "not valid UTF-8"})
	}
	bystander.echoes("κόσμε")
}

// Text frames that are not UTF-8 fail the websocket with status 1007 (issue 15, finding 5);
// the conformance table has the full set of sequences.
func TestWebsocketTextMustBeUTF8(t *testing.T) {
	ts := newTestServer(t, Options{})
	bystander, _ := ts.openWebsocket(t)
	w, _ := ts.openWebsocket(t)
	w.send("4\xed\xa0\x80")
	if err := w.waitClosed(); !websocket.IsCloseError(err, websocket.CloseInvalidFramePayloadData) {
		t.Fatalf("close: %v, want 1007", err)
	}
	if ev := ts.waitClose(t, w.sid); ev.reason != CloseTransportError {
		t.Fatalf("reason %q", ev.reason)
	}
	bystander.echoes("κόσμε")
}

// Until a session is admitted, its messages are held to PendingMaxPayload, over both
// transports; once admitted, MaxPayload applies.
func TestPendingMaxPayload(t *testing.T) {
	var admit atomic.Bool
	ts := newScriptedServer(t, Options{MaxPayload: 100_000, PendingMaxPayload: 1000}, func(c *Conn, p Packet) {
		if string(p.Data) == "admit" && admit.Load() {
			c.Admit()
		}
		c.Send(NewTextMessage(PacketMessage, p.Data))
	})
	big := "4" + strings.Repeat("x", 5000)

	w := ts.openRawWS(t)
	w.write(frame(finText, "4"+strings.Repeat("x", 999)))
	if f := w.next(); len(f.payload) != 1000 {
		t.Fatalf("echo of %d bytes", len(f.payload))
	}
	w.write([]byte{finText, 0x80 | 126, 0x13, 0x88, 1, 2, 3, 4}) // a header announcing 5000 bytes is enough
	w.expectClose(closeTooBig)

	p, _ := ts.openPolling(t)
	if res := p.post(big); res.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("pending polling body: status %d, want 413", res.status)
	}

	admit.Store(true)
	a := ts.openRawWS(t)
	a.write(frame(finText, "4admit"))
	a.next()
	a.write(frame(finText, big))
	if f := a.next(); len(f.payload) != len(big) {
		t.Fatalf("admitted: echo of %d bytes", len(f.payload))
	}
	ap, _ := ts.openPolling(t)
	ap.echoes("admit")
	ap.echoes(big[1:])
}

// Past MaxPending sessions not yet admitted, handshakes are refused with 503 and Retry-After
// on both transports; a place comes back when a pending session is admitted or ends.
func TestMaxPendingRefusesHandshakes(t *testing.T) {
	ts := newScriptedServer(t, Options{MaxPending: 3}, func(c *Conn, p Packet) {
		if string(p.Data) == "admit" {
			c.Admit()
		}
	})
	w1 := ts.openRawWS(t)
	ts.openRawWS(t)
	p, _ := ts.openPolling(t)
	if n := ts.eng.Pending(); n != 3 {
		t.Fatalf("%d pending, want 3", n)
	}
	for _, transport := range []string{"polling", "websocket"} {
		var res response
		if transport == "websocket" {
			_, hres, err := dialWS(t, ts.wsURL("transport=websocket"), nil)
			if err == nil {
				t.Fatal("websocket handshake accepted past MaxPending")
			}
			res = response{status: hres.StatusCode, header: hres.Header}
		} else {
			res = do(t, http.MethodGet, ts.url("transport=polling"), "", nil)
		}
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
			t.Fatalf("%s: status %d, Retry-After %q; want 503 with Retry-After", transport, res.status, res.header.Get("Retry-After"))
		}
	}
	ts.waitLog(t, logrus.WarnLevel, "too many connections have not authenticated", nil)

	w1.write(frame(finText, "4admit")) // admitted: no longer pending
	wait.Until(t, "the admitted session's place is released", func() bool { return ts.eng.Pending() == 2 })
	third := ts.openRawWS(t)
	third.write(frame(finClose, closePayload(closeNormal, "")))
	third.expectClose(closeNormal)
	p.post("1") // the polling session closes: its place too
	wait.Until(t, "the closed sessions' places are released", func() bool { return ts.eng.Pending() == 1 })
	ts.openPolling(t)
	ts.openRawWS(t)
}
