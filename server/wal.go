package server

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/metrics"
	"github.com/realtimed/realtimed/walsource"
)

// walParts is the wal source on this node: the reader, which campaigns to stream the slot, and
// the monitor, which watches the slot for /readyz and the metrics. With the notify source, a
// slot left by the wal source is drained (its last messages appended) and then dropped by a
// reader in retire mode, without a monitor.
type walParts struct {
	reader  *walsource.Reader
	monitor *walsource.Monitor // nil when retiring
}

// prepareSource writes the configured source into realtime.settings. For wal (whose
// preflight Prepare ran first), it creates the slot before, so that no message is written
// before the slot can see it.
func (s *Server) prepareSource(ctx context.Context) error {
	slot := s.cfg.WALSlot
	previous, err := walsource.SetSource(ctx, s.pool, s.cfg.Source, slot)
	if err != nil {
		return err
	}
	if previous != s.cfg.Source {
		s.log.WithFields(logrus.Fields{"from": previous, "to": s.cfg.Source, "slot": slot}).Warn("switched the event stream's source")
	}
	retire := false
	if s.cfg.Source == walsource.SourceNotify {
		st, err := walsource.ReadSlot(ctx, s.pool, slot)
		if err != nil {
			return err
		}
		if !st.Exists || !st.Here {
			return nil
		}
		retire = true
		s.log.WithField("slot", slot).Info("the wal source's slot exists: its remaining events are appended to the stream, then it is dropped")
	}
	return s.newWAL(retire)
}

func (s *Server) newWAL(retire bool) error {
	db := s.cfg.DB
	var ahead func([]*listener.Envelope)
	if s.cfg.WALAhead && s.cfg.Bus.URL == "" {
		ahead = func(envs []*listener.Envelope) { s.listener.Offer(envs) }
	}
	reader, err := walsource.New(walsource.Config{
		Slot:    s.cfg.WALSlot,
		Ahead:   ahead,
		Connect: db.Connector("realtimed-wal-reader"),
		ConnectReplication: func(ctx context.Context) (*pgconn.PgConn, error) {
			return db.ConnectReplication(ctx, walsource.ApplicationName)
		},
		Retire: retire,
		Logger: s.log,
	})
	if err != nil {
		return err
	}
	w := &walParts{reader: reader}
	if !retire {
		w.monitor, err = walsource.NewMonitor(walsource.MonitorConfig{Slot: s.cfg.WALSlot, DB: s.pools.health,
			StallAfter: s.cfg.WALStall, Logger: s.log})
		if err != nil {
			return fmt.Errorf("wal source: %w", err)
		}
		s.metrics.SetWAL(func() metrics.WALStats { return w.stats(s.listener.Stats().Ahead) })
	}
	s.wal = w
	return nil
}

// ready reports whether the stream advances (always, when retiring).
func (w *walParts) ready() bool { return w.monitor == nil || w.monitor.Ready() }

// stats are the wal figures for /metrics; ahead is how many events the node's listener delivered
// ahead of their append.
func (w *walParts) stats(ahead uint64) metrics.WALStats {
	st := w.reader.Stats()
	h := w.monitor.Health()
	return metrics.WALStats{SlotLagBytes: h.Slot.LagBytes, DecodeLagSeconds: st.DecodeLag.Seconds(),
		Appended: st.Appended, Offered: st.Offered, Ahead: ahead, Elected: w.reader.Leading(), Advancing: h.Ready()}
}

// run runs the reader and the monitor until ctx ends.
func (w *walParts) run(ctx context.Context) {
	done := make(chan struct{})
	if w.monitor != nil {
		go func() {
			defer close(done)
			w.monitor.Run(ctx)
		}()
	} else {
		close(done)
	}
	w.reader.Run(ctx)
	<-done
}

// aheadWindow is how far ahead of the appended stream a recovering client's offset may be
// (recovery.Config.AheadWindow): with the wal source, the reading node may have delivered events
// that are still being appended (docs/delivery.md, "Delivering ahead").
func aheadWindow(cfg config.Config) int64 {
	if cfg.Source != walsource.SourceWAL {
		return 0
	}
	return 100000
}
