package engineio

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/realtimed/realtimed/internal/wait"
)

type closeCounter struct{ closed atomic.Int32 }

func (h *closeCounter) OnMessage(*Conn, Packet)           {}
func (h *closeCounter) OnClose(*Conn, CloseReason, error) { h.closed.Add(1) }

func poll(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// A server close of a polling session with packets queued delivers the packets first and the
// close packet on the next GET (as Node's engine.io does: the official client handles a
// Socket.IO DISCONNECT in the same payload only after the close); the client's own close
// packet then ends the session at once instead of after the grace period.
func TestPollingServerCloseDeliversQueueThenClose(t *testing.T) {
	for _, clientCloses := range []bool{false, true} {
		name := map[bool]string{false: "client polls again", true: "client sends close"}[clientCloses]
		t.Run(name, func(t *testing.T) {
			h := &closeCounter{}
			conns := make(chan *Conn, 1)
			srv := NewServer(Options{}, nil, func(c *Conn) Handler { conns <- c; return h })
			hs := startHTTP(t, srv)
			open := poll(t, hs+"/?EIO=4&transport=polling")
			if !strings.HasPrefix(open, "0{") {
				t.Fatalf("open: %q", open)
			}
			c := <-conns
			base := hs + "/?EIO=4&transport=polling&sid=" + c.ID()
			c.Send(NewTextMessage(PacketMessage, []byte("41")))
			c.Close()
			if got := poll(t, base); got != "441" {
				t.Fatalf("first GET after the close: %q, want only the queued message", got)
			}
			if clientCloses {
				res, err := http.Post(base, "text/plain;charset=UTF-8", strings.NewReader("1"))
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Fatalf("the client's close POST: %d", res.StatusCode)
				}
			} else if got := poll(t, base); got != "1" {
				t.Fatalf("second GET: %q, want the close packet", got)
			}
			wait.Until(t, "the session to finish", func() bool { return h.closed.Load() == 1 && srv.Count() == 0 })
		})
	}
}
