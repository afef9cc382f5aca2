package walsource

import (
	"testing"
	"time"
)

// TestWhenAnAppendIsDue: appends go at a pause of the stream or after MaxDelay, but while
// delivering ahead only once the oldest pending event is AheadDelay old; a full batch goes at
// once; nothing starts while an append is in flight unless the batch is full.
func TestWhenAnAppendIsDue(t *testing.T) {
	cfg := Config{MaxBatch: 100, FlushAfter: 2 * time.Millisecond, MaxDelay: 5 * time.Millisecond,
		AheadDelay: 20 * time.Millisecond}.withDefaults()
	now := time.Now()
	tests := []struct {
		name     string
		pending  int // events pending
		age      time.Duration
		paused   bool
		inflight bool
		offer    bool
		want     bool
	}{
		{name: "nothing pending", paused: true, want: false},
		{name: "the stream paused", pending: 1, age: time.Millisecond, paused: true, want: true},
		{name: "flowing, younger than MaxDelay", pending: 1, age: 4 * time.Millisecond, want: false},
		{name: "flowing, MaxDelay old", pending: 1, age: 5 * time.Millisecond, want: true},
		{name: "an append in flight", pending: 1, age: time.Second, paused: true, inflight: true, want: false},
		{name: "a full batch, append in flight", pending: 100, inflight: true, want: true},
		{name: "ahead: the stream paused", pending: 1, age: 5 * time.Millisecond, paused: true, offer: true, want: false},
		{name: "ahead: AheadDelay old", pending: 1, age: 20 * time.Millisecond, offer: true, want: true},
		{name: "ahead: a full batch", pending: 100, offer: true, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &stream{r: &Reader{cfg: cfg}, offer: tt.offer, pendingEvents: tt.pending, pendingSince: now.Add(-tt.age)}
			if tt.pending > 0 {
				s.pending = []*txn{{}}
			}
			if tt.inflight {
				s.inflight = make(chan appendDone)
			}
			if got := s.due(now, tt.paused); got != tt.want {
				t.Fatalf("due = %v, want %v", got, tt.want)
			}
		})
	}
}
