package listener_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/listener"
)

// collector records delivered envelopes.
type collector struct {
	mu   sync.Mutex
	envs []*listener.Envelope
}

func (c *collector) handle(e *listener.Envelope) {
	c.mu.Lock()
	c.envs = append(c.envs, e)
	c.mu.Unlock()
}

func (c *collector) events() []*listener.Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*listener.Envelope(nil), c.envs...)
}

// waitFor polls until n events were delivered.
func (c *collector) waitFor(t *testing.T, n int) []*listener.Envelope {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if evs := c.events(); len(evs) >= n {
			return evs
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("got %d events, want %d", len(c.events()), n)
	return nil
}

type fixture struct {
	pool *pgxpool.Pool
	l    *listener.Listener
	got  *collector
	logs *test.Hook
}

// start runs a listener against a fresh database until the test ends.
func start(t *testing.T, tune func(*listener.Config)) *fixture {
	t.Helper()
	url := pgtest.NewDatabase(t)
	pool := pgtest.NewPool(t, url)
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	cfg := listener.Config{Connect: database.MustParse(url).Connector(listener.ApplicationName), Logger: log, MinBackoff: 50 * time.Millisecond}
	if tune != nil {
		tune(&cfg)
	}
	f := &fixture{pool: pool, got: &collector{}, logs: hook}
	l, err := listener.New(cfg, f.got.handle)
	if err != nil {
		t.Fatal(err)
	}
	f.l = l
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	f.waitReady(t)
	return f
}

func (f *fixture) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f.l.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("listener not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (f *fixture) publish(t *testing.T, event string, payload string) {
	t.Helper()
	f.exec(t, `SELECT realtime.publish($1, ARRAY['u1'], '{}', $2::jsonb)`, event, payload)
}

func TestDeliversEventsWithTheirFields(t *testing.T) {
	f := start(t, nil)
	f.exec(t, `SELECT realtime.publish('task.created', ARRAY['u1','u2'], ARRAY['chat:c1'], '{"taskId":"t1"}')`)
	e := f.got.waitFor(t, 1)[0]
	if e.Event != "task.created" || strings.Join(e.Users, ",") != "u1,u2" || strings.Join(e.Rooms, ",") != "chat:c1" ||
		string(e.Payload) != `{"taskId": "t1"}` || e.Pos != 1 || e.ID != 1 || e.Ref {
		t.Fatalf("unexpected envelope %+v (payload %s)", e, e.Payload)
	}
	if age := time.Since(e.CommittedAt()); age < 0 || age > time.Minute {
		t.Fatalf("commit time %v is off", e.CommittedAt())
	}
}

// TestCommitOrderNotInsertOrder: the transaction that inserted first but commits last is
// delivered last, and positions follow commit order.
func TestCommitOrderNotInsertOrder(t *testing.T) {
	f := start(t, nil)
	ctx := context.Background()
	first, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback(ctx) //nolint:errcheck
	if _, err := first.Exec(ctx, `SELECT realtime.publish('inserted.first', ARRAY['u1'], '{}', '{}')`); err != nil {
		t.Fatal(err)
	}
	f.publish(t, "inserted.second", `{}`) // autocommits before first
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	evs := f.got.waitFor(t, 2)
	if evs[0].Event != "inserted.second" || evs[1].Event != "inserted.first" {
		t.Fatalf("delivered %s then %s, want commit order", evs[0].Event, evs[1].Event)
	}
	if evs[0].Pos != 1 || evs[1].Pos != 2 || evs[0].ID != 2 || evs[1].ID != 1 {
		t.Fatalf("positions/ids: %d/%d then %d/%d", evs[0].Pos, evs[0].ID, evs[1].Pos, evs[1].ID)
	}
}

// TestLargeEventsArriveByReference: envelopes over NOTIFY's limit are read from the outbox.
func TestLargeEventsArriveByReference(t *testing.T) {
	f := start(t, nil)
	for _, size := range []int{100, 7999, 8000, 100_000} {
		payload := fmt.Sprintf(`{"blob":%q}`, strings.Repeat("x", size))
		f.publish(t, "big.event", payload)
	}
	evs := f.got.waitFor(t, 4)
	for i, size := range []int{100, 7999, 8000, 100_000} {
		var p struct{ Blob string }
		if err := json.Unmarshal(evs[i].Payload, &p); err != nil || len(p.Blob) != size {
			t.Fatalf("event %d: payload of %d bytes arrived as %d (%v)", i, size, len(p.Blob), err)
		}
		if evs[i].Event != "big.event" || len(evs[i].Users) != 1 {
			t.Fatalf("event %d incomplete: %+v", i, evs[i])
		}
	}
}

// TestReconnectCatchesUp: events committed while the listener's connection is down are
// delivered after it reconnects, once each, in order.
func TestReconnectCatchesUp(t *testing.T) {
	f := start(t, func(c *listener.Config) { c.MinBackoff = 500 * time.Millisecond })
	f.publish(t, "before", `{}`)
	f.got.waitFor(t, 1)
	f.exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	           WHERE application_name = $1 AND datname = current_database()`, listener.ApplicationName)
	for i := 0; i < 5; i++ {
		f.publish(t, fmt.Sprintf("while.down.%d", i), `{}`)
	}
	f.publish(t, "last", `{}`)
	f.got.waitFor(t, 7)
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive meanwhile
	evs := f.got.events()
	if len(evs) != 7 {
		t.Fatalf("delivered %d events, want 7 (no duplicates)", len(evs))
	}
	for i, e := range evs {
		if e.Pos != int64(i+1) {
			t.Fatalf("event %d has position %d: not in order or duplicated", i, e.Pos)
		}
	}
	if st := f.l.Stats(); st.Reconnects < 1 || st.CaughtUp < 1 {
		t.Fatalf("stats %+v: want a reconnect and events from the outbox", st)
	}
}

// TestSkipsBadNotifications: garbage on the channel is logged, counted and skipped.
func TestSkipsBadNotifications(t *testing.T) {
	f := start(t, nil)
	bad := []string{
		`not json`,
		`{"id":1}`,
		`{"id":5,"pos":999,"ref":true}`,
		`{"id":6,"pos":1000,"event":"","users":["u"],"payload":{}}`,
		`{"id":7,"pos":1001,"event":"x","users":[],"rooms":[],"payload":{}}`,
	}
	for _, n := range bad {
		f.exec(t, `SELECT pg_notify('realtime', $1)`, n)
	}
	f.publish(t, "good", `{}`)
	evs := f.got.waitFor(t, 1)
	if len(evs) != 1 || evs[0].Event != "good" {
		t.Fatalf("delivered %+v", evs)
	}
	if st := f.l.Stats(); st.Skipped != uint64(len(bad)) {
		t.Fatalf("skipped %d, want %d", st.Skipped, len(bad))
	}
	warned := 0
	for _, e := range f.logs.AllEntries() {
		if e.Level == logrus.WarnLevel && strings.Contains(e.Message, "skipped a notification") {
			warned++
		}
	}
	if warned != len(bad) {
		t.Fatalf("%d warnings logged, want %d", warned, len(bad))
	}
}

// TestStartAt replays the outbox from a position.
func TestStartAt(t *testing.T) {
	url := pgtest.NewDatabase(t)
	pool := pgtest.NewPool(t, url)
	for i := 0; i < 3; i++ {
		if _, err := pool.Exec(context.Background(), `SELECT realtime.publish('old', ARRAY['u'], '{}', '{}')`); err != nil {
			t.Fatal(err)
		}
	}
	got := &collector{}
	l, err := listener.New(listener.Config{Connect: database.MustParse(url).Connector(listener.ApplicationName), Logger: logrus.New()}, got.handle)
	if err != nil {
		t.Fatal(err)
	}
	l.StartAt(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx) //nolint:errcheck
	evs := got.waitFor(t, 2)
	if evs[0].Pos != 2 || evs[1].Pos != 3 {
		t.Fatalf("replayed positions %d, %d; want 2, 3", evs[0].Pos, evs[1].Pos)
	}
}

func TestControlMessages(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	f := start(t, func(c *listener.Config) {
		c.OnControl = func(p []byte) { mu.Lock(); got = append(got, string(p)); mu.Unlock() }
	})
	f.exec(t, `SELECT pg_notify('realtime_control', '{"type":"hello"}')`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("control message not received")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got[0] != `{"type":"hello"}` || len(f.got.events()) != 0 {
		t.Fatalf("control %v, events %v", got, f.got.events())
	}
}
