package walsource_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/walsource"
)

// TestInvalidatedSlot runs on a server of its own (it lowers max_slot_wal_keep_size and
// checkpoints): WAL written past the limit while no reader runs invalidates the slot; the
// monitor says not ready, the reader reports it and appends nothing; once the slot is dropped
// (the documented recovery) the reader creates a new one and events flow again.
func TestInvalidatedSlot(t *testing.T) {
	c := pgtest.NewCluster(t)
	url := pgtest.NewDatabaseOn(t, c.AdminURL())
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, c.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, q := range []string{`ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'`, `ALTER SYSTEM SET wal_keep_size = 0`, `SELECT pg_reload_conf()`} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{url: url, db: database.MustParse(url), slot: "t_invalidated"}
	t.Cleanup(func() { pgtest.DropSlot(t, url, e.slot) })
	pool, err := e.db.NewPool(ctx, "walsource-test", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	e.pool = pool
	if _, err := walsource.SetSource(ctx, pool, walsource.SourceWAL, e.slot); err != nil {
		t.Fatal(err)
	}
	// WAL past the limit, then checkpoints: the slot's WAL is removed.
	if _, err := pool.Exec(ctx, `CREATE TABLE filler AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 1) g`); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the slot invalidated", func() bool {
		for _, q := range []string{`INSERT INTO filler SELECT g, repeat('x', 500) FROM generate_series(1, 20000) g`, `SELECT pg_switch_wal()`, `CHECKPOINT`} {
			if _, err := pool.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		st, err := walsource.ReadSlot(ctx, pool, e.slot)
		return err == nil && st.WALStatus == "lost"
	})
	m, err := walsource.NewMonitor(walsource.MonitorConfig{Slot: e.slot, DB: pool})
	if err != nil {
		t.Fatal(err)
	}
	m.Check(ctx)
	if m.Ready() {
		t.Fatalf("monitor ready with an invalidated slot: %+v", m.Health())
	}
	r, _ := e.startReader(t, e.readerConfig("walsource-test-reader"))
	wait.Until(t, "the reader to report the invalidated slot", func() bool { return r.Stats().Invalidated })
	if err := walsource.EnsureSlot(ctx, pool, e.slot); !errors.Is(err, walsource.ErrSlotInvalidated) || !strings.Contains(err.Error(), "pg_drop_replication_slot") {
		t.Fatalf("EnsureSlot on the invalidated slot: %v", err)
	}

	// Recovery: drop it; the reader creates a new one (events of the lost WAL are gone).
	if _, err := pool.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, e.slot); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "a new slot", func() bool {
		st, err := walsource.ReadSlot(ctx, pool, e.slot)
		return err == nil && st.Exists && st.WALStatus != "lost" && !r.Stats().Invalidated
	})
	if _, err := pool.Exec(ctx, `SELECT realtime.publish('after', ARRAY['u'], '{}', '{}')`); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the event after recovery appended", func() bool { return r.Stats().Appended == 1 })
	m.Check(ctx)
	if !m.Ready() {
		t.Fatalf("monitor not ready after the recovery: %+v", m.Health())
	}
}

// TestPreflightNamesWhatIsMissing: on a server with wal_level replica, as a role without
// REPLICATION, the preflight is one line naming both.
func TestPreflightNamesWhatIsMissing(t *testing.T) {
	c := pgtest.NewClusterWith(t, "-c wal_level=replica")
	url := pgtest.NewDatabaseOn(t, c.AdminURL())
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = walsource.Preflight(ctx, conn)
	if err == nil || !strings.Contains(err.Error(), "wal_level is replica") || strings.Contains(err.Error(), "REPLICATION") {
		t.Fatalf("preflight as superuser with wal_level replica: %v", err)
	}
	if _, err := conn.Exec(ctx, `CREATE ROLE app LOGIN; SET ROLE app`); err != nil {
		t.Fatal(err)
	}
	err = walsource.Preflight(ctx, conn)
	if err == nil || !strings.Contains(err.Error(), "wal_level is replica") || !strings.Contains(err.Error(), "REPLICATION") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("preflight as a plain role with wal_level replica: %v", err)
	}
	t.Log(err)
}
