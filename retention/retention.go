// Package retention prunes the outbox and the recovery sessions: events older than the
// retention period (as a prefix of the stream, realtime.prune) and sessions that can no longer
// be recovered (realtime.prune_sessions). Several nodes may run it; one at a time prunes
// (cluster.Exclusive with cluster.RetentionLock).
package retention

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/cluster"
)

// Config configures a Pruner.
type Config struct {
	// Pool is the database. Required.
	Pool *pgxpool.Pool
	// Retention is how long events stay in the outbox. Required.
	Retention time.Duration
	// RecoveryWindow is how long sessions stay recoverable. Zero: sessions are not pruned.
	RecoveryWindow time.Duration
	// NodeSilence is how long a node may go without a heartbeat before it counts as gone (its
	// connected sessions' window then runs from its last heartbeat). Zero means 30s.
	NodeSilence time.Duration
	// Interval is the time between two prunes. Zero means a tenth of the retention, between
	// 100ms and 1 minute.
	Interval time.Duration
	// Logger receives what was pruned (debug) and failures. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

// Result is what one prune did.
type Result struct {
	Ran      bool  // false when another node held the lock
	Events   int64 // outbox rows deleted
	Sessions int64 // sessions deleted
}

// Pruner prunes periodically.
type Pruner struct {
	cfg                    Config
	log                    logrus.FieldLogger
	runs, events, sessions atomic.Int64
}

// New returns a pruner; start it with Run.
func New(cfg Config) *Pruner {
	if cfg.Interval <= 0 {
		cfg.Interval = min(max(cfg.Retention/10, 100*time.Millisecond), time.Minute)
	}
	if cfg.NodeSilence <= 0 {
		cfg.NodeSilence = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	return &Pruner{cfg: cfg, log: cfg.Logger}
}

// Interval returns the time between two prunes.
func (p *Pruner) Interval() time.Duration { return p.cfg.Interval }

// Totals returns how many prunes ran on this node and what they deleted.
func (p *Pruner) Totals() (runs, events, sessions int64) {
	return p.runs.Load(), p.events.Load(), p.sessions.Load()
}

// Run prunes every Interval until ctx is done.
func (p *Pruner) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := p.Prune(ctx); err != nil && ctx.Err() == nil {
			p.log.WithError(err).Warn("retention: pruning failed")
		}
	}
}

// Prune prunes once, unless another node is pruning.
func (p *Pruner) Prune(ctx context.Context) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, max(p.cfg.Interval, 30*time.Second))
	defer cancel()
	var r Result
	ran, err := cluster.Exclusive(ctx, p.cfg.Pool, cluster.RetentionLock, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT realtime.prune($1::interval)`, p.cfg.Retention).Scan(&r.Events); err != nil {
			return fmt.Errorf("pruning events: %w", err)
		}
		if p.cfg.RecoveryWindow > 0 {
			if err := tx.QueryRow(ctx, `SELECT realtime.prune_sessions($1::interval, $2::interval)`, p.cfg.RecoveryWindow, p.cfg.NodeSilence).Scan(&r.Sessions); err != nil {
				return fmt.Errorf("pruning sessions: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("retention: %w", err)
	}
	r.Ran = ran
	if r.Ran {
		p.runs.Add(1)
		p.events.Add(r.Events)
		p.sessions.Add(r.Sessions)
		if r.Events > 0 || r.Sessions > 0 {
			p.log.WithFields(logrus.Fields{"events": r.Events, "sessions": r.Sessions}).Debug("retention: pruned")
		}
	}
	return r, nil
}
