package metrics

import "github.com/prometheus/client_golang/prometheus"

// BusStats are what /metrics shows of fleet mode (REALTIME_BUS): the node's subscriber and,
// when it is the elected one, its publisher.
type BusStats struct {
	Connected     bool
	Received      uint64 // messages received from NATS (heartbeats included)
	FromNATS      uint64 // events delivered as they arrived from NATS
	FromDB        uint64 // events delivered from PostgreSQL by catch-ups
	Duplicates    uint64 // messages for positions already delivered
	CatchUps      uint64 // catch-ups after a possible gap
	Subscriptions int    // subjects subscribed
	Position      int64
	HeadAge       float64 // seconds since the last heartbeat of the publisher

	Publishing        bool
	PublishedEvents   uint64
	PublishedMessages uint64
	PublishedThrough  int64
}

var (
	descBusConnected  = desc("bus_connected", "1 when the node's NATS connection is up (REALTIME_BUS).")
	descBusReceived   = desc("bus_messages_received_total", "Messages this node received from NATS: the events of the rooms of its sockets (once per room), and heartbeats.")
	descBusDelivered  = desc("bus_events_delivered_total", "Events this node delivered, by source: nats (as they arrived) or postgres (catch-ups after a possible gap).", "source")
	descBusDuplicates = desc("bus_duplicates_total", "Messages for positions already delivered (an event to several rooms of this node, a republication after a failover).")
	descBusCatchUps   = desc("bus_catchups_total", "Reads of PostgreSQL after a possible gap: a new NATS connection, a slow consumer, an unconfirmed subscription, another publisher.")
	descBusSubs       = desc("bus_subscriptions", "Subjects this node subscribes to on NATS: the rooms of its sockets, realtime:internal and the publisher's heartbeats.")
	descBusPosition   = desc("bus_position", "Stream position this node delivered through.")
	descBusHeadAge    = desc("bus_heartbeat_age_seconds", "Seconds since the publisher's last heartbeat reached this node.")
	descBusPublishing = desc("bus_publisher", "1 while this node is the elected bus publisher.")
	descBusPubEvents  = desc("bus_published_events_total", "Events this node published to NATS as the publisher.")
	descBusPubMsgs    = desc("bus_published_messages_total", "Messages this node published to NATS as the publisher (one per recipient room of each event).")
	descBusPubPos     = desc("bus_published_position", "Stream position through which NATS confirmed this node's publications.")
)

type busCollector struct{ stats func() BusStats }

// Describe implements prometheus.Collector.
func (c busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBusConnected, descBusReceived, descBusDelivered, descBusDuplicates, descBusCatchUps,
		descBusSubs, descBusPosition, descBusHeadAge, descBusPublishing, descBusPubEvents, descBusPubMsgs, descBusPubPos} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c busCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descBusConnected, boolValue(st.Connected))
	counter(descBusReceived, st.Received)
	counter(descBusDelivered, st.FromNATS, "nats")
	counter(descBusDelivered, st.FromDB, "postgres")
	counter(descBusDuplicates, st.Duplicates)
	counter(descBusCatchUps, st.CatchUps)
	gauge(descBusSubs, float64(st.Subscriptions))
	gauge(descBusPosition, float64(st.Position))
	gauge(descBusHeadAge, st.HeadAge)
	gauge(descBusPublishing, boolValue(st.Publishing))
	counter(descBusPubEvents, st.PublishedEvents)
	counter(descBusPubMsgs, st.PublishedMessages)
	gauge(descBusPubPos, float64(st.PublishedThrough))
}

// SetBus registers the bus metrics, read from stats at scrape time, and makes the listener lag
// metrics follow position (the bus's) instead of the listener's. Call it before serving.
func (m *Metrics) SetBus(stats func() BusStats, position func() int64) {
	m.reg.MustRegister(busCollector{stats: stats})
	m.state.src.Position = position
}
