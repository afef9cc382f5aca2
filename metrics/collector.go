package metrics

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/realtimed/realtimed/listener"
)

// Sources are what the scrape-time collector reads. Nil fields leave their metrics out.
type Sources struct {
	// Transports returns the open connections by transport (engineio.Server.TransportCounts).
	Transports func() map[string]int
	// Pending returns the connections that have not completed the Socket.IO CONNECT yet
	// (engineio.Server.Pending).
	Pending func() int
	// Rooms walks the rooms that have sockets (socketio.Namespace.EachRoom).
	Rooms func(f func(room string, sockets int))
	// Listener is the node's listener: position, readiness, reconnects.
	Listener *listener.Listener
	// DB is queried at scrape time for the outbox head, the listener's lag and the NOTIFY
	// queue usage.
	DB *pgxpool.Pool
	// Pools returns the node's connection pools by name, for their statistics.
	Pools func() map[string]*pgxpool.Pool
	// Recovery returns the recovery store's counters (nil: recovery is off).
	Recovery func() RecoveryStats
	// Position, when set, is the position the lag metrics are measured from instead of the
	// listener's (the bus's, in fleet mode).
	Position func() int64
}

// RecoveryStats are the counters of connection-state recovery that /metrics shows.
type RecoveryStats struct {
	Recovered, NotRecovered, RetryLater, Overloaded int64
	Waiting, WaitingAhead                           int
}

// dbTimeout bounds the scrape-time database query.
const dbTimeout = 2 * time.Second

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	descConnections = desc("connections", "Open Engine.IO connections, by transport.", "transport")
	descPending     = desc("pending_connections", "Connections that have not been authenticated yet (no accepted Socket.IO CONNECT): bounded by REALTIME_PREAUTH_MAX_CONNECTIONS.")
	descRooms       = desc("rooms", "Rooms with at least one socket, by kind (user, chat, other).", "kind")
	descMemberships = desc("room_memberships", "Sockets in rooms, counted once per room, by kind of room.", "kind")
	descLConnected  = desc("listener_connected", "1 when the listener's LISTEN connection is up and caught up with the outbox.")
	descLPosition   = desc("listener_position", "Position of the last event the listener delivered.")
	descLReconnects = desc("listener_reconnects_total", "Listener connections lost and re-established.")
	descLSkipped    = desc("listener_skipped_total", "Notifications that were not valid envelopes, or references to missing rows.")
	descLDuplicates = desc("listener_duplicates_total", "Notifications of positions already delivered (by catch-up, or ahead of the append by the wal reader of this node).")
	descLCaughtUp   = desc("listener_caught_up_events_total", "Events delivered from the outbox rather than from a notification.")
	descDBUp        = desc("database_up", "1 when the scrape-time database query succeeded.")
	descHead        = desc("outbox_head_position", "Highest committed position in the outbox (realtime.events).")
	descLagEvents   = desc("listener_lag_events", "Committed events the listener has not delivered yet (outbox head - listener position).")
	descLagSeconds  = desc("listener_lag_seconds", "Age of the oldest committed event the listener has not delivered yet; 0 when caught up.")
	descQueueUsage  = desc("notification_queue_usage", "pg_notification_queue_usage(): fraction of PostgreSQL's NOTIFY queue in use (alert well below 1).")
	descPoolConns   = desc("db_pool_connections", "Connections of each of the node's pools: acquired (in use), idle, max.", "pool", "state")
	descPoolWaits   = desc("db_pool_acquire_waits_total", "Acquisitions that had to wait for a connection, by pool.", "pool")
	descPoolWaited  = desc("db_pool_acquire_wait_seconds_total", "Time spent waiting for a connection, by pool.", "pool")
	descRecoveries  = desc("recoveries_total", "Connection-state recoveries asked for, by result: recovered, not_recovered (no session this socket may resume), retry_later (the database could not answer, or the stream did not reach the offset in time), overloaded (the queue was full or the wait too long).", "result")
	descRecWaiting  = desc("recovery_queue", "Restores waiting for a batch.")
	descRecAhead    = desc("recovery_waiting_ahead", "Restores whose offset is ahead of the appended stream (wal source), waiting for it.")
)

// stateCollector reads the node's state when Prometheus scrapes.
type stateCollector struct {
	src Sources
	wal func() WALStats // nil unless REALTIME_SOURCE=wal
}

func newStateCollector(src Sources) *stateCollector { return &stateCollector{src: src} }

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descConnections, descPending, descRooms, descMemberships, descLConnected, descLPosition, descLReconnects,
		descLSkipped, descLDuplicates, descLCaughtUp, descDBUp, descHead, descLagEvents, descLagSeconds, descQueueUsage,
		descPoolConns, descPoolWaits, descPoolWaited, descRecoveries, descRecWaiting, descRecAhead,
		descWALLag, descWALDecode, descWALAppended, descWALOffered, descWALAhead, descWALElected, descWALReady,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Pending != nil {
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(c.src.Pending()))
	}
	if c.src.Transports != nil {
		for transport, n := range c.src.Transports() {
			ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(n), transport)
		}
	}
	if c.src.Rooms != nil {
		c.collectRooms(ch)
	}
	if l := c.src.Listener; l != nil {
		st := l.Stats()
		ch <- prometheus.MustNewConstMetric(descLConnected, prometheus.GaugeValue, boolValue(l.Ready()))
		ch <- prometheus.MustNewConstMetric(descLPosition, prometheus.GaugeValue, float64(l.Position()))
		ch <- prometheus.MustNewConstMetric(descLReconnects, prometheus.CounterValue, float64(st.Reconnects))
		ch <- prometheus.MustNewConstMetric(descLSkipped, prometheus.CounterValue, float64(st.Skipped))
		ch <- prometheus.MustNewConstMetric(descLDuplicates, prometheus.CounterValue, float64(st.Duplicates))
		ch <- prometheus.MustNewConstMetric(descLCaughtUp, prometheus.CounterValue, float64(st.CaughtUp))
	}
	if c.src.DB != nil {
		c.collectDatabase(ch)
	}
	if c.src.Pools != nil {
		c.collectPools(ch)
	}
	if c.wal != nil {
		c.collectWAL(ch)
	}
	if c.src.Recovery != nil {
		r := c.src.Recovery()
		for result, n := range map[string]int64{"recovered": r.Recovered, "not_recovered": r.NotRecovered,
			"retry_later": r.RetryLater, "overloaded": r.Overloaded} {
			ch <- prometheus.MustNewConstMetric(descRecoveries, prometheus.CounterValue, float64(n), result)
		}
		ch <- prometheus.MustNewConstMetric(descRecWaiting, prometheus.GaugeValue, float64(r.Waiting))
		ch <- prometheus.MustNewConstMetric(descRecAhead, prometheus.GaugeValue, float64(r.WaitingAhead))
	}
}

func (c *stateCollector) collectPools(ch chan<- prometheus.Metric) {
	for name, pool := range c.src.Pools() {
		st := pool.Stat()
		ch <- prometheus.MustNewConstMetric(descPoolConns, prometheus.GaugeValue, float64(st.AcquiredConns()), name, "acquired")
		ch <- prometheus.MustNewConstMetric(descPoolConns, prometheus.GaugeValue, float64(st.IdleConns()), name, "idle")
		ch <- prometheus.MustNewConstMetric(descPoolConns, prometheus.GaugeValue, float64(st.MaxConns()), name, "max")
		ch <- prometheus.MustNewConstMetric(descPoolWaits, prometheus.CounterValue, float64(st.EmptyAcquireCount()), name)
		ch <- prometheus.MustNewConstMetric(descPoolWaited, prometheus.CounterValue, st.EmptyAcquireWaitTime().Seconds(), name)
	}
}

// roomKind groups rooms by their prefix, so that the label stays small.
func roomKind(room string) string {
	kind, _, ok := strings.Cut(room, ":")
	if ok && (kind == "user" || kind == "chat") {
		return kind
	}
	return "other"
}

func (c *stateCollector) collectRooms(ch chan<- prometheus.Metric) {
	rooms := map[string]int{"user": 0, "chat": 0, "other": 0}
	members := map[string]int{"user": 0, "chat": 0, "other": 0}
	c.src.Rooms(func(room string, n int) {
		k := roomKind(room)
		rooms[k]++
		members[k] += n
	})
	for k, n := range rooms {
		ch <- prometheus.MustNewConstMetric(descRooms, prometheus.GaugeValue, float64(n), k)
		ch <- prometheus.MustNewConstMetric(descMemberships, prometheus.GaugeValue, float64(members[k]), k)
	}
}

// lagQuery reads, in one round trip, the outbox head, the age of the oldest event after the
// listener's position, and the NOTIFY queue usage.
const lagQuery = `SELECT
    coalesce((SELECT max(pos) FROM realtime.events), 0),
    coalesce((SELECT extract(epoch FROM clock_timestamp() - committed_at)::float8
              FROM realtime.events WHERE pos > $1 ORDER BY pos LIMIT 1), 0),
    pg_notification_queue_usage()`

func (c *stateCollector) collectDatabase(ch chan<- prometheus.Metric) {
	var pos int64
	if c.src.Listener != nil {
		pos = c.src.Listener.Position()
	}
	if c.src.Position != nil {
		pos = c.src.Position()
	}
	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	var (
		head       int64
		lagSeconds float64
		queueUsage float64
	)
	err := c.src.DB.QueryRow(ctx, lagQuery, pos).Scan(&head, &lagSeconds, &queueUsage)
	ch <- prometheus.MustNewConstMetric(descDBUp, prometheus.GaugeValue, boolValue(err == nil))
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descHead, prometheus.GaugeValue, float64(head))
	ch <- prometheus.MustNewConstMetric(descQueueUsage, prometheus.GaugeValue, queueUsage)
	if c.src.Listener != nil {
		ch <- prometheus.MustNewConstMetric(descLagEvents, prometheus.GaugeValue, float64(max(head-pos, 0)))
		ch <- prometheus.MustNewConstMetric(descLagSeconds, prometheus.GaugeValue, max(lagSeconds, 0))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
