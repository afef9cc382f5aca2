package retention_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/retention"
)

func setup(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.NewPool(t, pgtest.NewDatabase(t))
	return pool
}

func quiet() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPrunesByAge: events go once they are older than the retention period, not before.
func TestPrunesByAge(t *testing.T) {
	pool := setup(t)
	p := retention.New(retention.Config{Pool: pool, Retention: time.Second, Logger: quiet()})
	for range 3 {
		exec(t, pool, `SELECT realtime.publish('e', ARRAY['u'], '{}', '{}')`)
	}
	r, err := p.Prune(context.Background())
	if err != nil || !r.Ran || r.Events != 0 {
		t.Fatalf("young events pruned: %+v, %v", r, err)
	}
	pruned := int64(0)
	wait.Until(t, "the events to age", func() bool {
		r, err := p.Prune(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pruned += r.Events
		return pruned == 3
	})

	exec(t, pool, `SELECT realtime.publish('e', ARRAY['u'], '{}', '{}')`)
	if r, err := p.Prune(context.Background()); err != nil || r.Events != 0 {
		t.Fatalf("a young event pruned: %+v, %v", r, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM realtime.events`); n != 1 {
		t.Fatalf("%d events left, want 1", n)
	}
	if runs, events, _ := p.Totals(); runs < 3 || events != 3 {
		t.Fatalf("totals: %d runs, %d events", runs, events)
	}
}

// TestOneNodeAtATime: while another node prunes (holds the lock), a prune does nothing.
func TestOneNodeAtATime(t *testing.T) {
	pool := setup(t)
	p := retention.New(retention.Config{Pool: pool, Retention: time.Hour, Logger: quiet()})
	ctx := context.Background()
	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, cluster.RetentionLock); err != nil {
		t.Fatal(err)
	}
	if r, err := p.Prune(ctx); err != nil || r.Ran {
		t.Fatalf("pruned while another node held the lock: %+v, %v", r, err)
	}
	_ = other.Rollback(ctx)
	if r, err := p.Prune(ctx); err != nil || !r.Ran {
		t.Fatalf("did not prune once the lock was free: %+v, %v", r, err)
	}
}

// TestRunPrunesEventsAndSessions: Run prunes periodically, sessions included.
func TestRunPrunesEventsAndSessions(t *testing.T) {
	pool := setup(t)
	exec(t, pool, `SELECT realtime.publish('e', ARRAY['u'], '{}', '{}')`)
	exec(t, pool, `INSERT INTO realtime.nodes (id, hostname, addr, pid) VALUES ('n1', 'h', ':1', 1)`)
	exec(t, pool, `INSERT INTO realtime.sessions (pid, user_id, pos, node, sid, disconnected_at)
		VALUES ('gone', 'u', 0, 'n1', 's', now()), ('here', 'u', 0, 'n1', 's2', NULL)`)
	p := retention.New(retention.Config{Pool: pool, Retention: 300 * time.Millisecond, RecoveryWindow: 300 * time.Millisecond,
		NodeSilence: 200 * time.Millisecond, Interval: 50 * time.Millisecond, Logger: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// The node beats; its connected session stays, the disconnected one goes.
	stop := time.Now().Add(2 * time.Second)
	for time.Now().Before(stop) {
		exec(t, pool, `UPDATE realtime.nodes SET seen_at = now()`)
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(t, pool, `SELECT count(*) FROM realtime.events`); n != 0 {
		t.Fatalf("%d events left", n)
	}
	var left string
	if err := pool.QueryRow(ctx, `SELECT string_agg(pid, ',') FROM realtime.sessions`).Scan(&left); err != nil || left != "here" {
		t.Fatalf("sessions left %q (%v), want here", left, err)
	}
	// The node stops beating: its sessions go with it.
	wait.Until(t, "the silent node's sessions to go", func() bool {
		return count(t, pool, `SELECT count(*) FROM realtime.sessions`) == 0 &&
			count(t, pool, `SELECT count(*) FROM realtime.nodes`) == 0
	})

}

func TestDefaultInterval(t *testing.T) {
	for _, tc := range []struct{ retention, want time.Duration }{
		{time.Second, 100 * time.Millisecond},
		{5 * time.Second, 500 * time.Millisecond},
		{time.Hour, time.Minute},
		{10 * time.Millisecond, 100 * time.Millisecond},
	} {
		if got := retention.New(retention.Config{Retention: tc.retention}).Interval(); got != tc.want {
			t.Errorf("retention %v: interval %v, want %v", tc.retention, got, tc.want)
		}
	}
}
