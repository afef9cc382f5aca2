package pause_test

import (
	"context"
	"testing"
	"time"

	"github.com/realtimed/realtimed/internal/pause"
)

func TestFor(t *testing.T) {
	if !pause.For(context.Background(), time.Millisecond) {
		t.Fatal("For returned false although the duration passed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if pause.For(ctx, time.Hour) {
		t.Fatal("For returned true although the context had ended")
	}
}
