package walsource_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/walsource"
)

// TestListenersReceiveTheWALStream: a node's listener receives what the reader appends, from
// the batch notifications (envelopes, or a reference for batches too large to carry), exactly
// once and in position order: small events, 20 kB events and revocations (which the router
// acts on in stream order).
func TestListenersReceiveTheWALStream(t *testing.T) {
	e := newEnv(t, walsource.SourceWAL)
	var (
		mu  sync.Mutex
		got []*listener.Envelope
	)
	l := e.startListener(t, func(env *listener.Envelope) {
		mu.Lock()
		got = append(got, env)
		mu.Unlock()
	})
	e.startReader(t, e.readerConfig("walsource-test-reader"))

	// One writer, small events: batches of one transaction, carried by their notifications.
	for i := range 20 {
		if _, err := e.pool.Exec(context.Background(), `SELECT realtime.publish('small', ARRAY['u'], '{}', jsonb_build_object('i', $1::int))`, i); err != nil {
			t.Fatal(err)
		}
	}
	wait.Until(t, "the small events delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 20
	})
	// 8 writers, mixed: batches too large for a notification are read from the outbox.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				q := `SELECT realtime.publish('small', ARRAY['u'], '{}', jsonb_build_object('w', $1::int, 'i', $2::int))`
				switch i % 5 {
				case 3:
					q = `SELECT realtime.publish('large', ARRAY['u'], '{}', jsonb_build_object('w', $1::int, 'i', $2::int, 'pad', repeat('x', 20000)))`
				case 4:
					q = `SELECT realtime.revoke_chat_member('c' || $1::int, 'u' || $2::int)`
				}
				if _, err := e.pool.Exec(context.Background(), q, w, i); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	const total = 20 + 8*25
	wait.Until(t, "every event delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= total
	})
	rows := e.rows(t)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != total || len(rows) != total {
		t.Fatalf("delivered %d events, the stream holds %d, want %d", len(got), len(rows), total)
	}
	revocations := 0
	for i, env := range got {
		if env.Pos != rows[i].pos || env.Event != rows[i].event {
			t.Fatalf("delivery %d is %s at %d, the stream has %s at %d", i, env.Event, env.Pos, rows[i].event, rows[i].pos)
		}
		if env.Event == "realtime.revoke_chat_member" {
			revocations++
			if !slices.Equal(env.Rooms, []string{"realtime:internal"}) {
				t.Fatalf("revocation to rooms %v", env.Rooms)
			}
		}
	}
	if revocations != 8*5 {
		t.Fatalf("%d revocations delivered, want %d", revocations, 8*5)
	}
	st := l.Stats()
	if st.Delivered != total || st.Skipped != 0 {
		t.Fatalf("listener stats %+v", st)
	}
	if st.CaughtUp == total {
		t.Fatalf("every event was read from the outbox: the batch notifications carried none (%+v)", st)
	}
	t.Logf("listener: %+v", st)
}

// startListener runs a node's listener until the test ends, once it is ready.
func (e *env) startListener(t *testing.T, h listener.Handler) *listener.Listener {
	t.Helper()
	l, err := listener.New(listener.Config{Connect: e.db.Connector("walsource-test-listener")}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = l.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	wait.Until(t, "the listener ready", l.Ready)
	return l
}

// TestListenerDeliversAheadUnderASteadyFlow: with 8 writers publishing without a pause, from
// before the reader starts, the reader's node delivers every event it offers ahead of its
// append, exactly once and in position order. Offers ahead of the listener's position (the
// NOTIFY of the appends before them still on its way) wait for the stream instead of being
// refused: refused, the listener caught up with the offers again only when the flow paused for
// longer than an append (8% of the events waited for their append here, before the fix).
func TestListenerDeliversAheadUnderASteadyFlow(t *testing.T) {
	e := newEnv(t, walsource.SourceWAL)
	var (
		mu   sync.Mutex
		last int64
		bad  error
	)
	l := e.startListener(t, func(env *listener.Envelope) {
		mu.Lock()
		defer mu.Unlock()
		if last != 0 && env.Pos != last+1 && bad == nil {
			bad = fmt.Errorf("position %d delivered after %d", env.Pos, last)
		}
		last = env.Pos
	})
	// The writers start first: when the reader starts offering (after its first append), more
	// transactions are already decoded, and offered, than the listener has received; and the
	// events are large enough that every batch's notification is a reference, which the listener
	// resolves from the outbox (slower than the next offers).
	stop := e.paddedWriters(t, 8, 1000)
	time.Sleep(200 * time.Millisecond)
	cfg := e.readerConfig("walsource-test-reader")
	cfg.Ahead = func(envs []*listener.Envelope) { l.Offer(envs) }
	reader, _ := e.startReader(t, cfg)
	time.Sleep(3 * time.Second)
	committed := stop()
	e.waitCount(t, committed)
	wait.Until(t, "every event delivered", func() bool { return l.Stats().Delivered >= uint64(committed) })
	mu.Lock()
	defer mu.Unlock()
	if bad != nil {
		t.Fatal(bad)
	}
	st := l.Stats()
	if st.Delivered != uint64(committed) {
		t.Fatalf("delivered %d events, %d committed", st.Delivered, committed)
	}
	// Every event offered is delivered ahead: none is refused (the events decoded before the
	// first append are appended before offering starts, and arrive through the stream).
	if offered := reader.Stats().Offered; st.Ahead != offered || st.Ahead < st.Delivered*3/4 {
		t.Fatalf("%d events offered, %d of %d delivered ahead; want all offered ones, and at least 75%% (%+v)",
			offered, st.Ahead, st.Delivered, st)
	}
	t.Logf("%d events committed, %d delivered ahead (%+v)", committed, st.Ahead, st)
}
