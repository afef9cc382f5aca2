package listener_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/tcpproxy"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/listener"
)

// The listener loses nothing and repeats nothing, whatever happens to its connection: every
// test ends with checkExactly, which compares the delivered positions with the outbox.

// runListener runs a listener on dbURL until the test ends.
func runListener(t *testing.T, dbURL string, tune func(*listener.Config), h listener.Handler) *listener.Listener {
	t.Helper()
	log, _ := test.NewNullLogger()
	cfg := listener.Config{Connect: database.MustParse(dbURL).Connector(listener.ApplicationName), Logger: log, MinBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
	if tune != nil {
		tune(&cfg)
	}
	l, err := listener.New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wait.UntilWithin(t, time.Minute, "the listener is ready", l.Ready)
	return l
}

// outboxPositions returns every position of the outbox, in order.
func outboxPositions(t *testing.T, pool *pgxpool.Pool) []int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT pos FROM realtime.events WHERE pos IS NOT NULL ORDER BY pos`)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// checkExactly waits until the listener has delivered every event of the outbox and checks
// that it delivered each once, in commit order.
func checkExactly(t *testing.T, got *collector, pool *pgxpool.Pool) {
	t.Helper()
	want := outboxPositions(t, pool)
	wait.UntilWithin(t, time.Minute, fmt.Sprintf("%d events are delivered", len(want)), func() bool { return len(got.events()) >= len(want) })
	time.Sleep(100 * time.Millisecond) // room for a duplicate to show up
	var delivered []int64
	for _, e := range got.events() {
		delivered = append(delivered, e.Pos)
	}
	if !slices.Equal(delivered, want) {
		t.Fatalf("delivered %d positions, the outbox has %d; first difference at %d\ndelivered %v\noutbox    %v",
			len(delivered), len(want), firstDiff(delivered, want), clip(delivered), clip(want))
	}
}

func firstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func clip(p []int64) []int64 {
	if len(p) > 40 {
		return p[len(p)-40:]
	}
	return p
}

// writers publishes from n goroutines, in transactions of 1 to 5 events with pauses inside,
// until stop is closed; it returns when they are done.
func writers(t *testing.T, pool *pgxpool.Pool, n int, stop <-chan struct{}) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := publishTx(pool, w, i, 1+rand.IntN(5)); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	return &wg
}

func publishTx(pool *pgxpool.Pool, writer, i, events int) error {
	ctx := context.Background()
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for e := range events {
			if _, err := tx.Exec(ctx, `SELECT realtime.publish('w.e', ARRAY['u1'], '{}', jsonb_build_object('w', $1::int, 'i', $2::int, 'e', $3::int))`,
				writer, i, e); err != nil {
				return err
			}
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
		}
		return nil
	})
}

func terminateListener(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	                          WHERE application_name = $1 AND datname = current_database()`, listener.ApplicationName)
	return err
}

// TestLosslessUnderRepeatedTermination: with writers committing all along, the listener's
// backend is terminated every 100-300ms; every event is delivered once, in commit order.
func TestLosslessUnderRepeatedTermination(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	pool := pgtest.NewPool(t, dbURL)
	got := &collector{}
	l := runListener(t, dbURL, nil, got.handle)
	stop := make(chan struct{})
	wg := writers(t, pool, 4, stop)
	kills := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); kills++ {
		time.Sleep(time.Duration(100+rand.IntN(200)) * time.Millisecond)
		if err := terminateListener(context.Background(), pool); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	checkExactly(t, got, pool)
	if st := l.Stats(); st.Reconnects < 3 || st.Duplicates+st.CaughtUp == 0 {
		t.Fatalf("stats %+v after %d terminations: want several reconnects and catch-ups", st, kills)
	}
	wait.UntilWithin(t, time.Minute, "the listener is ready again", l.Ready)
}

// TestLosslessAcrossNetworkCuts: the listener reaches PostgreSQL through a proxy that cuts
// its connection, refuses new ones for a while, or silently drops everything (a dead network
// the listener notices only by its health ping); events committed meanwhile arrive once, in
// order, and Ready is false while the listener is cut off.
func TestLosslessAcrossNetworkCuts(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	pool := pgtest.NewPool(t, dbURL)
	viaProxy, proxy := tcpproxy.Database(t, dbURL)
	got := &collector{}
	l := runListener(t, viaProxy, func(c *listener.Config) {
		c.HealthInterval = 200 * time.Millisecond
		c.QueryTimeout = time.Second
	}, got.handle)
	publish := func(n int) {
		for i := range n {
			if err := publishTx(pool, 0, i, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(3)
	wait.UntilWithin(t, time.Minute, "3 events", func() bool { return len(got.events()) == 3 })

	for _, cut := range []struct {
		name       string
		down, heal func()
	}{
		{"cut", func() { proxy.Refuse(true); proxy.Cut() }, func() { proxy.Refuse(false) }},
		{"black hole", func() { proxy.Blackhole(true) }, func() { proxy.Blackhole(false) }},
	} {
		before := l.Stats().Reconnects
		cut.down()
		publish(5)
		wait.UntilWithin(t, time.Minute, "the listener notices the "+cut.name, func() bool { return !l.Ready() })
		// Stay down until a reconnection attempt has failed too (a connection attempt into a
		// black hole must time out, not hang).
		wait.UntilWithin(t, time.Minute, "a failed reconnection attempt", func() bool { return l.Stats().Reconnects >= before+2 })
		publish(5)
		cut.heal()
		wait.UntilWithin(t, time.Minute, "the listener is back after the "+cut.name, l.Ready)
		checkExactly(t, got, pool)
		if after := l.Stats().Reconnects; after == before {
			t.Fatalf("%s: no reconnect counted", cut.name)
		}
	}
}

// TestLosslessAcrossPostgresRestarts: PostgreSQL (a cluster of the test's own) is restarted
// cleanly and crashed while writers commit; every acknowledged event is delivered once, in
// order.
func TestLosslessAcrossPostgresRestarts(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	dbURL := pgtest.NewDatabaseOn(t, cluster.AdminURL())
	pool := pgtest.NewPool(t, dbURL)
	got := &collector{}
	l := runListener(t, dbURL, nil, got.handle)

	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // publishes all along; failures while PostgreSQL is down are expected
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if publishTx(pool, 0, i, 1) == nil {
				acked.Add(1)
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	for _, mode := range []string{"fast", "immediate"} {
		start := acked.Load()
		wait.UntilWithin(t, time.Minute, "some events before the restart", func() bool { return acked.Load() > start+20 })
		cluster.Restart(t, mode)
		cluster.WaitUp(t)
		mid := acked.Load()
		wait.UntilWithin(t, time.Minute, "some events after the restart", func() bool { return acked.Load() > mid+20 })
		wait.UntilWithin(t, time.Minute, "the listener is back", l.Ready)
	}
	close(stop)
	wg.Wait()
	checkExactly(t, got, pool)
	if n := int64(len(got.events())); n < acked.Load() {
		t.Fatalf("delivered %d events, %d commits were acknowledged", n, acked.Load())
	}
	if st := l.Stats(); st.Reconnects < 2 {
		t.Fatalf("stats %+v: want a reconnect per restart", st)
	}
}

// TestNotReadyUntilCaughtUp: after a reconnection the listener is connected but not ready
// until it has delivered what it missed.
func TestNotReadyUntilCaughtUp(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	pool := pgtest.NewPool(t, dbURL)
	viaProxy, proxy := tcpproxy.Database(t, dbURL)
	var (
		mu      sync.Mutex
		gate    = make(chan struct{})
		blocked atomic.Bool
		holding atomic.Bool
	)
	got := &collector{}
	l := runListener(t, viaProxy, nil, func(e *listener.Envelope) {
		if holding.Load() {
			blocked.Store(true)
			<-gate
		}
		mu.Lock()
		defer mu.Unlock()
		got.handle(e)
	})
	proxy.Refuse(true)
	proxy.Cut()
	wait.UntilWithin(t, time.Minute, "the listener notices the cut", func() bool { return !l.Ready() })
	for i := range 3 {
		if err := publishTx(pool, 0, i, 1); err != nil {
			t.Fatal(err)
		}
	}
	holding.Store(true)
	proxy.Refuse(false)
	wait.UntilWithin(t, time.Minute, "the catch-up starts", blocked.Load)
	if l.Ready() {
		t.Fatal("ready while catching up")
	}
	holding.Store(false)
	close(gate)
	wait.UntilWithin(t, time.Minute, "ready after the catch-up", l.Ready)
	checkExactly(t, got, pool)
}

// TestForgedNotifications: notifications that look valid but name positions or events the
// outbox does not have are skipped, and the listener goes on delivering real events (a
// made-up position far ahead must not make it skip the events in between).
func TestForgedNotifications(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	pool := pgtest.NewPool(t, dbURL)
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	got := &collector{}
	l := runListener(t, dbURL, func(c *listener.Config) { c.Logger = log }, got.handle)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`SELECT realtime.publish('real.one', ARRAY['u1'], '{}', '{}')`)
	wait.UntilWithin(t, time.Minute, "the first event", func() bool { return len(got.events()) == 1 })
	forged := []string{
		// A full envelope with a position far ahead.
		`{"id":500,"pos":500,"event":"forged.far","users":["u1"],"rooms":[],"payload":{"x":1}}`,
		// A reference to the next position, with an id the outbox does not have there.
		`{"id":777,"pos":2,"ref":true}`,
		// A reference to a position that does not exist.
		`{"id":3,"pos":3,"ref":true}`,
	}
	for _, n := range forged {
		exec(`SELECT pg_notify('realtime', $1)`, n)
	}
	wait.UntilWithin(t, time.Minute, "the forged notifications are skipped", func() bool { return l.Stats().Skipped == uint64(len(forged)) })
	// Rows written around realtime.publish: no recipients, a null payload.
	exec(`INSERT INTO realtime.events (event, users, rooms, payload) VALUES ('no.recipients', '{}', '{}', '{}')`)
	exec(`INSERT INTO realtime.events (event, users, rooms, payload) VALUES ('null.payload', '{u1}', '{}', 'null')`)
	for i := range 3 {
		exec(`SELECT realtime.publish('real.after', ARRAY['u1'], '{}', jsonb_build_object('i', $1::int))`, i)
	}
	wait.UntilWithin(t, time.Minute, "the real events after the forged ones", func() bool { return len(got.events()) == 4 })
	time.Sleep(200 * time.Millisecond)
	var names []string
	for _, e := range got.events() {
		names = append(names, e.Event)
	}
	if want := []string{"real.one", "real.after", "real.after", "real.after"}; !slices.Equal(names, want) {
		t.Fatalf("delivered %v, want %v", names, want)
	}
	if st := l.Stats(); st.Skipped < uint64(len(forged))+2 {
		t.Fatalf("skipped %d, want at least %d", st.Skipped, len(forged)+2)
	}
	warned := 0
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			warned++
		}
	}
	if warned < len(forged)+2 {
		t.Fatalf("%d warnings, want one per skipped notification or row", warned)
	}
}
