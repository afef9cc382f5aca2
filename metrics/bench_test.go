package metrics

import (
	"testing"
	"time"

	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/socketio/engineio"
)

// BenchmarkDelivered is the per-event cost of the router hook.
func BenchmarkDelivered(b *testing.B) {
	m := New(Sources{})
	env := &listener.Envelope{Event: "task.created"}
	b.ReportAllocs()
	for b.Loop() {
		m.Delivered(env, 10)
	}
}

// BenchmarkWritten is the cost of observing one socket write of a batch of 10 stamped
// messages (10 deliveries); compare with BenchmarkWrittenUnstamped, the same batch without
// stamps (what a write costs the metrics when there is nothing to observe).
func BenchmarkWritten(b *testing.B)          { benchWritten(b, true) }
func BenchmarkWrittenUnstamped(b *testing.B) { benchWritten(b, false) }

func benchWritten(b *testing.B, stamped bool) {
	m := New(Sources{})
	batch := make([]*engineio.Message, 10)
	for i := range batch {
		batch[i] = engineio.NewTextMessage(engineio.PacketMessage, []byte("2[\"task.created\",{}]"))
		if stamped {
			batch[i].SetStamp(time.Now().UnixMicro())
		}
	}
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		m.Written(batch, at)
	}
}
