package wait

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	if !For(time.Second, func() bool { return n.Add(1) == 3 }) {
		t.Fatal("For gave up on a condition that came true")
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("condition checked %d times, want 3", got)
	}
}

func TestForGivesUp(t *testing.T) {
	start := time.Now()
	if For(50*time.Millisecond, func() bool { return false }) {
		t.Fatal("For reported a condition that never held")
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("For gave up before its timeout")
	}
}
