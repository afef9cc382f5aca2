package bus

import (
	"context"
	"strconv"
	"testing"

	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/listener"
)

// BenchmarkCatchUp: a node reading a gap from PostgreSQL: 20,000 events to one of 10,000
// users each; the node holds 1,000 of the users (a tenth of the events are its own). Reported:
// stream events scanned per second and the node's events delivered per second.
func BenchmarkCatchUp(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b, pgtest.NewDatabase(b))
	const events, users, mine = 20000, 10000, 1000
	if _, err := pool.Exec(ctx, `SELECT realtime.publish('bench', ARRAY['u' || (i % $2)], '{}', '{"x":1}'::jsonb)
		FROM generate_series(1, $1) i`, events, users); err != nil {
		b.Fatal(err)
	}
	var delivered int
	s := &Subscriber{cfg: SubscriberConfig{Pool: pool, Deliver: func(*listener.Envelope) { delivered++ },
		UserOf: func(room string) (string, bool) { return room, true }}, log: quietLog(), rooms: map[string]*roomSub{}}
	for i := 0; i < mine; i++ {
		s.rooms["u"+strconv.Itoa(i*(users/mine))] = &roomSub{refs: 1}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.pos.Store(0)
		if _, _, err := s.readMissed(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "scanned/s")
	b.ReportMetric(float64(delivered)/b.Elapsed().Seconds(), "delivered/s")
}
