package engineio

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/realtimed/realtimed/internal/wait"
)

type nopHandler struct{}

func (nopHandler) OnMessage(*Conn, Packet)           {}
func (nopHandler) OnClose(*Conn, CloseReason, error) {}

// observed collects what OnWrite reports.
type observed struct {
	mu     sync.Mutex
	stamps []int64
	calls  int
}

func (o *observed) onWrite(msgs []*Message, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls++
	for _, m := range msgs {
		if m.Stamp() != 0 {
			o.stamps = append(o.stamps, m.Stamp())
		}
	}
}

func (o *observed) snapshot() []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int64(nil), o.stamps...)
}

func startHTTP(t *testing.T, srv *Server) string {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return hs.URL
}

func startObserved(t *testing.T) (*Server, *httptest.Server, *observed, chan *Conn) {
	t.Helper()
	obs := &observed{}
	conns := make(chan *Conn, 4)
	srv := NewServer(Options{OnWrite: obs.onWrite}, nil, func(c *Conn) Handler { conns <- c; return nopHandler{} })
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return srv, hs, obs, conns
}

func TestOnWriteReportsStampsAndTransportCounts(t *testing.T) {
	srv, hs, obs, conns := startObserved(t)

	// A long-polling session.
	res, err := http.Get(hs.URL + "/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(res.Body)
	res.Body.Close()
	polling := <-conns

	// A websocket session.
	wsURL := "ws" + strings.TrimPrefix(hs.URL, "http") + "/?EIO=4&transport=websocket"
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, _, err := ws.ReadMessage(); err != nil { // open packet
		t.Fatal(err)
	}
	websock := <-conns

	if got := srv.TransportCounts(); got["polling"] != 1 || got["websocket"] != 1 {
		t.Fatalf("TransportCounts = %v, want 1 polling and 1 websocket", got)
	}

	stamped := func(us int64) *Message {
		m := NewTextMessage(PacketMessage, []byte("hello"))
		m.SetStamp(us)
		return m
	}
	// Unstamped messages are written too but carry no stamp.
	if !websock.Send(NewTextMessage(PacketMessage, []byte("plain")), stamped(111)) {
		t.Fatal("websocket Send failed")
	}
	for i := 0; i < 2; i++ {
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	wait.Until(t, "the websocket write to be observed", func() bool { return len(obs.snapshot()) == 1 })

	if !polling.Send(stamped(222)) {
		t.Fatal("polling Send failed")
	}
	res, err = http.Get(hs.URL + "/?EIO=4&transport=polling&sid=" + polling.ID())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "4hello" {
		t.Fatalf("poll body = %q", body)
	}
	wait.Until(t, "the polling write to be observed", func() bool { return len(obs.snapshot()) == 2 })
	if got := obs.snapshot(); got[0] != 111 || got[1] != 222 {
		t.Fatalf("stamps = %v, want [111 222]", got)
	}
}
