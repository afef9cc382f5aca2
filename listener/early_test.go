package listener

import (
	"encoding/json"
	"testing"
)

func TestEarlyKeepsTheNewestContiguousOffers(t *testing.T) {
	envs := func(from, to int64, payload int) []*Envelope {
		var out []*Envelope
		for p := from; p <= to; p++ {
			out = append(out, &Envelope{Pos: p, Payload: make(json.RawMessage, payload)})
		}
		return out
	}
	tests := []struct {
		name       string
		offers     [][]*Envelope
		first, len int64
	}{
		{"one offer", [][]*Envelope{envs(5, 7, 1)}, 5, 3},
		{"offers continuing one another", [][]*Envelope{envs(5, 7, 1), envs(8, 8, 1), envs(9, 12, 1)}, 5, 8},
		{"an offer after a gap replaces", [][]*Envelope{envs(5, 7, 1), envs(9, 10, 1)}, 9, 2},
		{"an offer going back replaces (a new reader's term)", [][]*Envelope{envs(5, 9, 1), envs(6, 7, 1)}, 6, 2},
		{"beyond the count, the oldest go", [][]*Envelope{envs(1, maxEarlyEvents, 0), envs(maxEarlyEvents+1, maxEarlyEvents+10, 0)}, 11, maxEarlyEvents},
		{"beyond the bytes, the oldest go", [][]*Envelope{envs(1, 10, 4<<20)}, 7, 4},
		{"one event over the bytes is not kept", [][]*Envelope{envs(1, 1, maxEarlyBytes+1)}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e early
			for _, o := range tt.offers {
				e.add(o)
			}
			if int64(len(e.envs)) != tt.len {
				t.Fatalf("%d waiting, want %d", len(e.envs), tt.len)
			}
			size := 0
			for i, env := range e.envs {
				if env.Pos != tt.first+int64(i) {
					t.Fatalf("waiting #%d at %d, want %d", i, env.Pos, tt.first+int64(i))
				}
				size += len(env.Payload)
			}
			if size != e.bytes || e.bytes > maxEarlyBytes {
				t.Fatalf("bytes %d, counted %d (limit %d)", size, e.bytes, maxEarlyBytes)
			}
		})
	}
}
