package walsource

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/realtimed/realtimed/internal/pause"
	"github.com/sirupsen/logrus"
)

// MonitorConfig configures a Monitor. Zero values select the documented defaults.
type MonitorConfig struct {
	// Slot is the replication slot's name. Empty means DefaultSlot.
	Slot string
	// DB reads pg_replication_slots (a pool). Required.
	DB Querier
	// Interval is how often the slot is read. Zero means 2s.
	Interval time.Duration
	// StallAfter is how long the slot's confirmed position may stay put while WAL is written
	// past it before the stream counts as stalled (not ready). Zero means 30s.
	StallAfter time.Duration
	// Logger receives the slot's changes of state. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

// Health is the slot's state as a Monitor last read it.
type Health struct {
	Slot      Slot
	Err       error     // reading the slot failed
	Stalled   bool      // WAL is waiting and the confirmed position has not moved for StallAfter
	MovedAt   time.Time // when the confirmed position last moved (or the monitor started)
	CheckedAt time.Time
}

// Ready reports whether the stream advances: the slot exists, is valid and is not stalled.
func (h Health) Ready() bool {
	return h.Err == nil && h.Slot.Exists && h.Slot.WALStatus != "lost" && !h.Stalled
}

// Monitor watches the slot from any node, for /readyz and the metrics: its lag, its validity,
// and whether its confirmed position advances while there is WAL to consume.
type Monitor struct {
	cfg MonitorConfig
	log logrus.FieldLogger

	mu sync.Mutex
	h  Health
}

// NewMonitor returns a monitor; run it with Run.
func NewMonitor(cfg MonitorConfig) (*Monitor, error) {
	if cfg.DB == nil {
		return nil, errors.New("walsource: MonitorConfig.DB is required")
	}
	if cfg.Slot == "" {
		cfg.Slot = DefaultSlot
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	return &Monitor{cfg: cfg, log: cfg.Logger.WithField("slot", cfg.Slot), h: Health{MovedAt: time.Now()}}, nil
}

// Health returns the last state read.
func (m *Monitor) Health() Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.h
}

// Ready reports whether the last state read was ready (Health.Ready).
func (m *Monitor) Ready() bool { return m.Health().Ready() }

// Run reads the slot every Interval until ctx is done.
func (m *Monitor) Run(ctx context.Context) {
	for {
		m.Check(ctx)
		if !pause.For(ctx, m.cfg.Interval) {
			return
		}
	}
}

// Check reads the slot once.
func (m *Monitor) Check(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, max(m.cfg.Interval, 5*time.Second))
	s, err := ReadSlot(qctx, m.cfg.DB, m.cfg.Slot)
	cancel()
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	m.mu.Lock()
	prev := m.h
	h := Health{Slot: s, Err: err, MovedAt: prev.MovedAt, CheckedAt: now}
	if err == nil && (s.Confirmed != prev.Slot.Confirmed || !s.Behind) {
		h.MovedAt = now
	}
	h.Stalled = err == nil && s.Behind && now.Sub(h.MovedAt) >= m.cfg.StallAfter
	m.h = h
	m.mu.Unlock()
	m.logChange(prev, h)
}

func (m *Monitor) logChange(prev, h Health) {
	switch {
	case h.Err != nil && prev.Err == nil:
		m.log.WithError(h.Err).Warn("walsource: cannot read the replication slot")
	case h.Err == nil && !h.Slot.Exists && (prev.Slot.Exists || prev.CheckedAt.IsZero()):
		m.log.Warn("walsource: the replication slot does not exist (yet): the elected reader creates it")
	case h.Slot.WALStatus == "lost" && prev.Slot.WALStatus != "lost":
		m.log.Error("walsource: the replication slot was invalidated (wal_status lost): events in the removed WAL are lost; " +
			"drop it (SELECT pg_drop_replication_slot('<slot>')) and realtimed creates a new one (docs/delivery.md, \"The wal source\")")
	case h.Stalled && !prev.Stalled:
		m.log.WithFields(logrus.Fields{"lag_bytes": h.Slot.LagBytes, "since": h.MovedAt.Format(time.RFC3339)}).
			Warn("walsource: the stream does not advance: WAL is waiting and the slot's position has not moved; not ready")
	case !h.Stalled && prev.Stalled:
		m.log.Info("walsource: the stream advances again")
	}
}
