package metrics

import "github.com/prometheus/client_golang/prometheus"

// WALStats are the wal source's figures that /metrics shows (REALTIME_SOURCE=wal).
type WALStats struct {
	// SlotLagBytes is pg_current_wal_lsn() - the slot's confirmed_flush_lsn, as last read.
	SlotLagBytes int64
	// DecodeLagSeconds is, on the elected reader, how long after its commit the last
	// transaction appended to the stream was appended.
	DecodeLagSeconds float64
	// Appended counts the events this node appended to the stream while elected.
	Appended uint64
	// Offered counts the events this node's reader offered to its listener ahead of their
	// append while elected (REALTIME_WAL_AHEAD).
	Offered uint64
	// Ahead counts the events this node's listener delivered before their append.
	Ahead uint64
	// Elected is true on the node that reads the slot.
	Elected bool
	// Advancing is false while WAL waits in the slot and its position does not move (or the
	// slot is missing or invalidated): /readyz is false then.
	Advancing bool
}

var (
	descWALLag      = desc("wal_slot_lag_bytes", "Bytes of WAL the replication slot has not confirmed yet: pg_current_wal_lsn() - confirmed_flush_lsn.")
	descWALDecode   = desc("wal_decode_lag_seconds", "On the elected reader: time from the commit of the last transaction appended to the stream to its append.")
	descWALAppended = desc("wal_events_appended_total", "Events this node appended to the stream from the replication slot while elected.")
	descWALOffered  = desc("wal_events_offered_total", "Events this node's reader offered to its listener before their append (REALTIME_WAL_AHEAD).")
	descWALAhead    = desc("wal_events_ahead_total", "Events this node delivered to its clients before their append (REALTIME_WAL_AHEAD).")
	descWALElected  = desc("wal_reader_elected", "1 on the node that reads the replication slot.")
	descWALReady    = desc("wal_stream_advancing", "1 while the slot exists, is valid and its position moves when there is WAL to read.")
)

// SetWAL sets where the wal source's figures come from, before the first scrape.
func (m *Metrics) SetWAL(f func() WALStats) { m.state.wal = f }

func (c *stateCollector) collectWAL(ch chan<- prometheus.Metric) {
	w := c.wal()
	ch <- prometheus.MustNewConstMetric(descWALLag, prometheus.GaugeValue, float64(w.SlotLagBytes))
	ch <- prometheus.MustNewConstMetric(descWALDecode, prometheus.GaugeValue, w.DecodeLagSeconds)
	ch <- prometheus.MustNewConstMetric(descWALAppended, prometheus.CounterValue, float64(w.Appended))
	ch <- prometheus.MustNewConstMetric(descWALOffered, prometheus.CounterValue, float64(w.Offered))
	ch <- prometheus.MustNewConstMetric(descWALAhead, prometheus.CounterValue, float64(w.Ahead))
	ch <- prometheus.MustNewConstMetric(descWALElected, prometheus.GaugeValue, boolValue(w.Elected))
	ch <- prometheus.MustNewConstMetric(descWALReady, prometheus.GaugeValue, boolValue(w.Advancing))
}
