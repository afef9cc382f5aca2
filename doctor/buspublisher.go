package doctor

import (
	"context"
	"time"

	"github.com/realtimed/realtimed/cluster"
)

// A publisher this far behind the stream's head, or silent this long while events wait,
// deserves a look.
const (
	busLagWarn     = 10000
	busSilenceWarn = 30 * time.Second
)

func init() {
	Register(Check{Name: "bus publisher", Order: 71, NeedsDatabase: true, Applies: busConfigured, Run: checkBusPublisher})
}

// checkBusPublisher reads realtime.bus_state: is a node elected to publish, and how far behind
// the stream's head are the publications NATS confirmed.
func checkBusPublisher(ctx context.Context, env *Env) Result {
	pool, _ := env.Pool(ctx)
	var (
		exists bool
		head   int64
	)
	if err := pool.QueryRow(ctx, `SELECT to_regclass('realtime.bus_state') IS NOT NULL, coalesce((SELECT max(pos) FROM realtime.events), 0)`).
		Scan(&exists, &head); err != nil {
		return Failf("reading the stream's head: %v", err)
	}
	if !exists {
		return Failf("realtime.bus_state is missing: migrate the realtime schema (realtimed migrate)")
	}
	var elected bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1)`, cluster.BusPublisherLock).Scan(&elected); err != nil {
		return Failf("reading pg_locks: %v", err)
	}
	var (
		through   int64
		publisher string
		age       time.Duration
	)
	err := pool.QueryRow(ctx, `SELECT published_through, publisher, now() - updated_at FROM realtime.bus_state`).Scan(&through, &publisher, &age)
	if err != nil {
		if !elected {
			return Warnf("no node has published yet and none is elected: are nodes running with REALTIME_BUS?")
		}
		return Passf("a node is elected; nothing published yet")
	}
	lag := head - through
	switch {
	case !elected:
		return Warnf("no node is elected to publish (published through %d by %s, %s ago; stream head %d): nodes receive nothing until one is",
			through, publisher, age.Round(time.Second), head)
	case lag > busLagWarn || lag > 0 && age > busSilenceWarn:
		return Warnf("publisher %s is %d events behind the stream's head (confirmed %s ago)", publisher, lag, age.Round(time.Second))
	}
	return Passf("publisher %s elected; published through %d, the stream's head is %d", publisher, through, head)
}
