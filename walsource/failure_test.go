package walsource_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/tcpproxy"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/walsource"
)

// writers publishes from n goroutines, each transaction two events with unique payloads, until
// stop is called; stop returns how many events committed.
func (e *env) writers(t *testing.T, n int) (stop func() int) { return e.paddedWriters(t, n, 0) }

// paddedWriters is writers with pad bytes more in each event's payload.
func (e *env) paddedWriters(t *testing.T, n, pad int) (stop func() int) {
	t.Helper()
	var committed atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				_, err := e.pool.Exec(context.Background(), `SELECT realtime.publish('w', ARRAY['u'], '{}',
					jsonb_build_object('w', $1::int, 'i', $2::int, 'k', k) || CASE WHEN $3::int > 0 THEN jsonb_build_object('pad', repeat('x', $3::int)) ELSE '{}' END)
					FROM generate_series(0, 1) k`, w, i, pad)
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				committed.Add(2)
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return func() int {
		cancel()
		wg.Wait()
		return int(committed.Load())
	}
}

// TestReplayAfterCrashBetweenAppendAndConfirm: a reader appends batches and dies before
// confirming them; the next reader is sent them again and appends each event exactly once.
func TestReplayAfterCrashBetweenAppendAndConfirm(t *testing.T) {
	e := newEnv(t, walsource.SourceWAL)
	ctx := context.Background()
	for i := range 50 {
		if _, err := e.pool.Exec(ctx, `SELECT realtime.publish('c', ARRAY['u'], '{}', jsonb_build_object('t', $1::int, 'k', k)) FROM generate_series(1, 2) k`, i); err != nil {
			t.Fatal(err)
		}
	}
	before, err := walsource.ReadSlot(ctx, e.pool, e.slot)
	if err != nil {
		t.Fatal(err)
	}
	n, err := walsource.CrashAfterAppend(ctx, e.readerConfig("walsource-test-crashing"), 30)
	if err != nil {
		t.Fatal(err)
	}
	if n < 30 || e.count(t) != n {
		t.Fatalf("the crashing reader appended %d events, the table holds %d", n, e.count(t))
	}
	after, err := walsource.ReadSlot(ctx, e.pool, e.slot)
	if err != nil {
		t.Fatal(err)
	}
	if after.Confirmed != before.Confirmed {
		t.Fatalf("the slot moved from %s to %s without a confirmation", before.Confirmed, after.Confirmed)
	}
	r, _ := e.startReader(t, e.readerConfig("walsource-test-reader"))
	e.waitCount(t, 100)
	checkOrder(t, e.rows(t))
	// The rows are visible when the append commits; the reader counts them a moment later.
	wait.Until(t, "the second reader's count", func() bool { return r.Stats().Appended >= uint64(100-n) })
	if st := r.Stats(); st.Appended != uint64(100-n) {
		t.Fatalf("the second reader appended %d events, want %d (the rest)", st.Appended, 100-n)
	}
}

// leaderOf waits until exactly one of the readers leads and returns its index.
func leaderOf(t *testing.T, within time.Duration, readers ...*walsource.Reader) int {
	t.Helper()
	leader := -1
	wait.UntilWithin(t, within, "one elected reader", func() bool {
		leader = -1
		for i, r := range readers {
			if r.Leading() {
				if leader >= 0 {
					return false
				}
				leader = i
			}
		}
		return leader >= 0
	})
	return leader
}

// TestFailoverWhenTheReaderLosesItsConnections: two readers; the elected one's backends are
// terminated while 8 writers publish; the other takes over within seconds, and every event is
// in the stream exactly once, in commit order.
func TestFailoverWhenTheReaderLosesItsConnections(t *testing.T) {
	e := newEnv(t, walsource.SourceWAL)
	apps := []string{"walsource-test-a", "walsource-test-b"}
	a, _ := e.startReader(t, e.readerConfig(apps[0]))
	b, _ := e.startReader(t, e.readerConfig(apps[1]))
	stop := e.writers(t, 8)
	first := leaderOf(t, 10*time.Second, a, b)
	wait.Until(t, "events appended", func() bool { return e.count(t) > 50 })
	if _, err := e.pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name IN ($1, $2)`, apps[first], walsource.ApplicationName); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	readers := []*walsource.Reader{a, b}
	wait.UntilWithin(t, 10*time.Second, "the other reader elected", func() bool { return readers[1-first].Leading() })
	t.Logf("the other reader was elected %s after the terminations", time.Since(began).Round(time.Millisecond))
	wait.Until(t, "the new reader appends", func() bool { return readers[1-first].Stats().Appended > 0 })
	committed := stop()
	e.waitCount(t, committed)
	checkOrder(t, e.rows(t))
}

// TestFailoverWithAStaleWalsender: a reader's host vanished: its walsender still streams the
// slot (the server does not notice a silent peer for wal_sender_timeout), so the slot is
// "active for PID". The newly elected reader terminates that walsender (realtimed's, by its
// application_name) and streams.
func TestFailoverWithAStaleWalsender(t *testing.T) {
	e := newEnv(t, walsource.SourceWAL)
	replURL, replProxy := tcpproxy.Database(t, e.url)
	ghost, err := database.MustParse(replURL).ConnectReplication(context.Background(), walsource.ApplicationName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ghost.Close(context.Background()) })
	if err := walsource.StartReplication(context.Background(), ghost, e.slot); err != nil {
		t.Fatal(err)
	}
	replProxy.Blackhole(true) // the host is gone; the server still sees the connection
	stop := e.writers(t, 4)
	b, _ := e.startReader(t, e.readerConfig("walsource-test-b"))
	began := time.Now()
	wait.UntilWithin(t, 15*time.Second, "the reader streaming", func() bool { return b.Stats().Appended > 0 })
	t.Logf("the reader streams %s after its start", time.Since(began).Round(time.Millisecond))
	if n := b.Stats().Terminated; n != 1 {
		t.Fatalf("the reader terminated %d stale walsenders, want 1", n)
	}
	committed := stop()
	e.waitCount(t, committed)
	checkOrder(t, e.rows(t))
}
