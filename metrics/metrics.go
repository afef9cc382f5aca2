// Package metrics exposes realtimed's Prometheus metrics: counters fed by the router's hooks
// (events, deliveries, auth failures, disconnects), a delivery latency histogram fed at socket
// write time, and gauges read at scrape time (connections, rooms, listener position and lag,
// the NOTIFY queue), plus the Go runtime and process collectors.
//
// The hot path (one call per event, one per socket write) takes no locks but a read lock on a
// small map and allocates nothing; everything else is computed when Prometheus scrapes.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/realtimed/realtimed/buildinfo"
	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/socketio/engineio"
)

// Namespace prefixes every metric name.
const Namespace = "realtimed"

// maxEventNames bounds the event label's cardinality: names beyond it are counted as OtherEvent.
const maxEventNames = 500

// OtherEvent is the event label of events whose name arrived after maxEventNames others.
const OtherEvent = "_other"

// LatencyBuckets are the delivery latency histogram's upper bounds, in seconds.
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Known label values, exported at zero from the start so that rate() and alerts work before the
// first occurrence.
var (
	knownAuthCodes   = []string{"missing_token", "invalid_token", "token_expired", "token_not_yet_valid", "auth_unavailable"}
	knownDisconnects = []string{
		"transport close", "transport error", "parse error", "ping timeout", "forced close",
		"server shutting down", "slow consumer", "client namespace disconnect", "server namespace disconnect",
	}
)

// Metrics holds realtimed's metrics and their registry.
type Metrics struct {
	reg *prometheus.Registry

	received     *prometheus.CounterVec
	delivered    *prometheus.CounterVec
	latency      prometheus.Histogram
	authFailures *prometheus.CounterVec
	disconnects  *prometheus.CounterVec

	state *stateCollector

	mu     sync.RWMutex
	events map[string]eventCounters
}

type eventCounters struct {
	received, delivered prometheus.Counter
}

// New registers the metrics and the scrape-time collector reading src.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		state:  newStateCollector(src),
		events: make(map[string]eventCounters),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "events_received_total",
			Help: "Events received from the listener, by event name.",
		}, []string{"event"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "events_delivered_total",
			Help: "Event deliveries queued on sockets (one per receiving socket), by event name.",
		}, []string{"event"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "delivery_latency_seconds",
			Help:    "Time from an event's commit in PostgreSQL to its write on a client's socket, per delivery.",
			Buckets: LatencyBuckets,
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "auth_failures_total",
			Help: "Refused connections, by auth error code.",
		}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "disconnects_total",
			Help: `Authenticated sockets that left, by reason ("slow consumer": the client could not keep up).`,
		}, []string{"reason"}),
	}
	for _, c := range knownAuthCodes {
		m.authFailures.WithLabelValues(c)
	}
	for _, r := range knownDisconnects {
		m.disconnects.WithLabelValues(r)
	}
	m.reg.MustRegister(
		m.received, m.delivered, m.latency, m.authFailures, m.disconnects,
		m.state,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		newBuildInfo(buildinfo.Get()),
	)
	return m
}

// SetListener sets the listener read at scrape time, when it is created after the metrics.
// Call it before serving.
func (m *Metrics) SetListener(l *listener.Listener) { m.state.src.Listener = l }

// SetRecovery sets where the recovery counters come from, before the first scrape.
func (m *Metrics) SetRecovery(f func() RecoveryStats) { m.state.src.Recovery = f }

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Delivered counts an event received from the listener and queued on sockets (router hook).
func (m *Metrics) Delivered(env *listener.Envelope, sockets int) {
	c := m.countersFor(env.Event)
	c.received.Inc()
	if sockets > 0 {
		c.delivered.Add(float64(sockets))
	}
}

func (m *Metrics) countersFor(event string) eventCounters {
	m.mu.RLock()
	c, ok := m.events[event]
	m.mu.RUnlock()
	if ok {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.events[event]; ok {
		return c
	}
	label := event
	if len(m.events) >= maxEventNames {
		label = OtherEvent
	}
	c = eventCounters{received: m.received.WithLabelValues(label), delivered: m.delivered.WithLabelValues(label)}
	if label != OtherEvent {
		m.events[event] = c
	}
	return c
}

// AuthFailed counts a refused connection (router hook).
func (m *Metrics) AuthFailed(code string) { m.authFailures.WithLabelValues(code).Inc() }

// Disconnected counts a socket that left (router hook).
func (m *Metrics) Disconnected(reason string) { m.disconnects.WithLabelValues(reason).Inc() }

// Written observes the delivery latency of every stamped message written to a client
// (engineio.Options.OnWrite). Stamps are commit times in µs; a clock behind the database's
// gives negative durations, counted as zero.
func (m *Metrics) Written(msgs []*engineio.Message, at time.Time) {
	now := at.UnixMicro()
	for _, msg := range msgs {
		if st := msg.Stamp(); st != 0 {
			m.latency.Observe(float64(max(now-st, 0)) / 1e6)
		}
	}
}
