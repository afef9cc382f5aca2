package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/internal/wait"
)

// DropSlot drops a test's replication slot on url once no walsender streams it any more (the
// reader that streamed it has stopped), trying for up to 20 s. A slot that cannot be dropped
// is reported as a test error: left behind, it would keep WAL on the shared server.
func DropSlot(t testing.TB, url, slot string) {
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Errorf("dropping slot %s: %v", slot, err)
		return
	}
	defer conn.Close(context.Background())
	var lastErr error
	if !wait.For(20*time.Second, func() bool {
		_, lastErr = conn.Exec(context.Background(), `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
		return lastErr == nil
	}) {
		t.Errorf("dropping slot %s: %v", slot, lastErr)
	}
}
