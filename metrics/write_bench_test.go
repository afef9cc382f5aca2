package metrics

import (
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/realtimed/realtimed/socketio/engineio"
)

type nopHandler struct{}

func (nopHandler) OnMessage(*engineio.Conn, engineio.Packet)           {}
func (nopHandler) OnClose(*engineio.Conn, engineio.CloseReason, error) {}

// BenchmarkSocketWrite sends stamped 300-byte messages in batches of 10 over a real loopback
// websocket, with the latency observer (metrics) and without it (baseline): the difference is
// what the delivery latency histogram costs per delivery. ns/op is per delivered message.
func BenchmarkSocketWrite(b *testing.B) {
	b.Run("baseline", func(b *testing.B) { benchSocketWrite(b, nil) })
	b.Run("observed", func(b *testing.B) { benchSocketWrite(b, New(Sources{}).Written) })
}

func benchSocketWrite(b *testing.B, onWrite func([]*engineio.Message, time.Time)) {
	conns := make(chan *engineio.Conn, 1)
	srv := engineio.NewServer(engineio.Options{OnWrite: onWrite, SendQueueLimit: 64 << 20}, nil,
		func(c *engineio.Conn) engineio.Handler { conns <- c; return nopHandler{} })
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/?EIO=4&transport=websocket", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()
	if _, _, err := ws.ReadMessage(); err != nil { // open packet
		b.Fatal(err)
	}
	c := <-conns
	batch := make([]*engineio.Message, 10)
	for i := range batch {
		batch[i] = engineio.NewTextMessage(engineio.PacketMessage, []byte(strings.Repeat("x", 300)))
		batch[i].SetStamp(time.Now().UnixMicro())
	}
	var read atomic.Int64
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
			read.Add(1)
		}
	}()
	waitRead := func(n int64) {
		for read.Load() < n {
			runtime.Gosched()
		}
	}
	b.ResetTimer()
	sent := int64(0)
	for sent < int64(b.N) {
		c.Send(batch...)
		sent += int64(len(batch))
		if sent%1000 == 0 { // keep the queue short
			waitRead(sent - 200)
		}
	}
	waitRead(sent)
	b.StopTimer()
}
