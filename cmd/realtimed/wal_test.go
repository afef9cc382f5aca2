package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/wait"
)

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// TestWALSourceNeedsTheReplicationAttribute: serve with REALTIME_SOURCE=wal as a role without
// REPLICATION stops with one line naming what is missing, exit status 2.
func TestWALSourceNeedsTheReplicationAttribute(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	role := randomName("norepl_")
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `CREATE ROLE `+role+` LOGIN NOREPLICATION`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), `DROP ROLE `+role) })
	u, _ := url.Parse(dbURL)
	u.User = url.User(role)
	_, stderr, code := runCLI(t, []string{"DATABASE_URL=" + u.String(), "REALTIME_SOURCE=wal", "REALTIME_JWT_SECRET=s"}, "serve")
	last := lastLine(stderr)
	if code != 2 || !strings.Contains(last, "REALTIME_SOURCE=wal") || !strings.Contains(last, "REPLICATION") || strings.Contains(last, "wal_level") {
		t.Fatalf("exit %d, last line %q: want status 2 and one line naming the REPLICATION attribute", code, last)
	}
}

// TestServeWithTheWALSource: a node with REALTIME_SOURCE=wal creates its slot, becomes ready
// with the stream check, appends what rules publish and shows the wal metrics.
func TestServeWithTheWALSource(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	slot := randomName("t_")
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	t.Cleanup(func() { pgtest.DropSlot(t, dbURL, slot) })
	node := startServe(t, "DATABASE_URL="+dbURL, "REALTIME_SOURCE=wal", "REALTIME_WAL_SLOT="+slot, "REALTIME_JWT_SECRET=s")
	node.waitReady(t)
	if body := node.get(t, "/readyz"); !strings.Contains(body, `"stream":true`) {
		t.Fatalf("/readyz: %s", body)
	}
	var source string
	if err := conn.QueryRow(context.Background(), `SELECT value FROM realtime.settings WHERE key = 'source'`).Scan(&source); err != nil || source != "wal" {
		t.Fatalf("source %q, %v", source, err)
	}
	if _, err := conn.Exec(context.Background(), `SELECT realtime.publish('x.y', ARRAY['u1'], '{}', '{}')`); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the event appended by the node", func() bool {
		return strings.Contains(node.get(t, "/metrics"), "realtimed_wal_events_appended_total 1")
	})
	metrics := node.get(t, "/metrics")
	for _, m := range []string{"realtimed_wal_slot_lag_bytes", "realtimed_wal_decode_lag_seconds", "realtimed_wal_reader_elected 1", "realtimed_wal_stream_advancing 1"} {
		if !strings.Contains(metrics, m) {
			t.Fatalf("/metrics lacks %s", m)
		}
	}
}
