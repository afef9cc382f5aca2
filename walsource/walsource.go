// Package walsource is the wal source of the event stream (REALTIME_SOURCE=wal): the node
// elected under cluster.StreamReaderLock streams a persistent logical replication slot
// (pgoutput, messages 'true'), decodes the transactional messages realtime.publish writes
// (prefix 'realtime'), groups them by commit and appends them to realtime.events in commit
// order: positions numbered on from the stream's head under cluster.StreamOrderLock, one COPY
// per batch, one NOTIFY per batch. The slot's position is confirmed only once the batch's
// transaction has committed, and appending is idempotent (each event is identified by its
// transaction's commit LSN and its index in it, and transactions at or below realtime.settings
// 'wal_appended_lsn' are passed over), so a crash anywhere loses and duplicates nothing. Since
// positions follow from what is durable, a replay numbers events the same, which lets the
// reader's node deliver them before their append (Config.Ahead).
package walsource

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/pause"
	"github.com/realtimed/realtimed/listener"
)

// Config configures a Reader. Zero values select the documented defaults.
type Config struct {
	// Slot is the replication slot's name. Empty means DefaultSlot.
	Slot string
	// Connect opens a plain connection: one holds the election's lock, another appends
	// (database.Config.Connector). Required.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// ConnectReplication opens the replication connection (database.Config.ConnectReplication
	// with ApplicationName). Required.
	ConnectReplication func(ctx context.Context) (*pgconn.PgConn, error)
	// MaxBatch is how many events a batch holds at most (a transaction is never split: one
	// larger than MaxBatch makes a batch of its own). Zero means 10000.
	MaxBatch int
	// FlushAfter is how long the stream may stay silent with events pending before they are
	// appended. Zero means 2ms.
	FlushAfter time.Duration
	// MaxDelay bounds how long an event waits to be appended while the stream keeps flowing
	// (a steady flow never leaves the FlushAfter silence; while an append runs, the next batch
	// grows by itself). Zero means 5ms.
	MaxDelay time.Duration
	// AheadDelay replaces FlushAfter and MaxDelay while the reader delivers ahead (Ahead): its
	// node's clients have the events already, so appends wait until the oldest pending event
	// is AheadDelay old (or a batch is full), whether or not the stream pauses. Fewer, larger
	// appends cost the node and PostgreSQL much less (docs/performance.md); the other nodes,
	// and replays of the events concerned, get them up to AheadDelay later. Zero means 20ms.
	AheadDelay time.Duration
	// StatusInterval is how often the reader reports its position to the server. Zero means 1s.
	StatusInterval time.Duration
	// Retry is how often a node that is not elected campaigns, and how long an elected node
	// whose work failed waits before it tries again. Zero means 1s.
	Retry time.Duration
	// Retire makes the reader drain a slot the wal source left after a switch back to notify:
	// it appends the slot's remaining messages, then drops the slot and stops (docs/delivery.md,
	// "Switching sources"). Without a slot it does nothing.
	Retire bool
	// Ahead, when set, receives each decoded transaction's events as soon as it arrives, with
	// the positions its append will give them, before the append (docs/delivery.md, "Delivering
	// ahead"): the node's listener (listener.Listener.Offer) delivers them without waiting for
	// the append's commit and NOTIFY. It runs on the stream's goroutine and must not block. The
	// envelopes have no ID (the append draws it). Nil: events reach nodes through their
	// listeners only.
	Ahead func(envs []*listener.Envelope)
	// Logger receives elections, failures and the slot's state. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

func (c Config) withDefaults() Config {
	if c.Slot == "" {
		c.Slot = DefaultSlot
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 10000
	}
	if c.FlushAfter <= 0 {
		c.FlushAfter = 2 * time.Millisecond
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 5 * time.Millisecond
	}
	if c.AheadDelay <= 0 {
		c.AheadDelay = 20 * time.Millisecond
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = time.Second
	}
	if c.Retry <= 0 {
		c.Retry = time.Second
	}
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
	return c
}

// Stats are the reader's counters since it started.
type Stats struct {
	Appended    uint64        // events appended to realtime.events
	Offered     uint64        // events handed to Config.Ahead before their append
	Batches     uint64        // batches appended
	DecodeLag   time.Duration // append time - commit time of the last transaction appended
	Invalidated bool          // the slot was invalidated (wal_status lost)
	Retired     bool          // Retire: the slot was drained and dropped
	Terminated  uint64        // stale walsenders of realtimed terminated to take the slot over
}

// Reader reads the slot while this node is elected. Create it with New and run it with Run.
type Reader struct {
	cfg    Config
	log    logrus.FieldLogger
	leader *cluster.Leader

	appended, batches atomic.Uint64
	offered           atomic.Uint64
	decodeLag         atomic.Int64
	invalidated       atomic.Bool
	retired           atomic.Bool
	terminated        atomic.Uint64
	stopRun           context.CancelFunc
}

// New returns a reader.
func New(cfg Config) (*Reader, error) {
	if cfg.Connect == nil {
		return nil, errors.New("walsource: Config.Connect is required")
	}
	if cfg.ConnectReplication == nil {
		return nil, errors.New("walsource: Config.ConnectReplication is required")
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.WithField("slot", cfg.Slot)
	leader, err := cluster.NewLeader(cluster.LeaderConfig{
		Name: "wal stream reader", Key: cluster.StreamReaderLock, Connect: cfg.Connect, Retry: cfg.Retry, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("walsource: %w", err)
	}
	return &Reader{cfg: cfg, log: log, leader: leader}, nil
}

// Leading reports whether this node is the elected reader.
func (r *Reader) Leading() bool { return r.leader.Leading() }

// Stats returns the reader's counters.
func (r *Reader) Stats() Stats {
	return Stats{
		Appended: r.appended.Load(), Offered: r.offered.Load(), Batches: r.batches.Load(),
		DecodeLag: time.Duration(r.decodeLag.Load()), Invalidated: r.invalidated.Load(),
		Retired: r.retired.Load(), Terminated: r.terminated.Load(),
	}
}

// Run campaigns and, whenever this node is elected, streams the slot, until ctx is done. It
// returns once the streaming has stopped and the election's lock is released.
// A retiring reader also returns once the slot is dropped.
func (r *Reader) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.stopRun = cancel
	r.leader.Run(ctx, r.term)
}

// term is one elected term: check the slot, stream it, append what it carries.
func (r *Reader) term(ctx context.Context) error {
	conn, err := r.cfg.Connect(ctx)
	if err != nil {
		return fmt.Errorf("connecting to append: %w", err)
	}
	defer database.CloseConn(conn)
	registerLSN(conn)
	if r.cfg.Retire {
		return r.retireTerm(ctx, conn)
	}
	if err := EnsureSlot(ctx, conn, r.cfg.Slot); err != nil {
		if errors.Is(err, ErrSlotInvalidated) {
			if !r.invalidated.Swap(true) {
				r.log.WithError(err).Error("walsource: the replication slot is invalidated; no event reaches the stream until it is dropped (docs/delivery.md, \"The wal source\")")
			}
			pause.For(ctx, 10*r.cfg.Retry)
		}
		return err
	}
	r.invalidated.Store(false)
	slot, err := ReadSlot(ctx, conn, r.cfg.Slot)
	if err != nil {
		return err
	}
	rc, err := r.start(ctx, conn)
	if err != nil {
		return err
	}
	defer rc.Close(context.Background())
	// The server must never be told a position below the slot's (it could move it back).
	s := &stream{r: r, conn: conn, rc: rc, confirmed: slot.Confirmed}
	return s.run(ctx)
}

// retireTerm drains the slot (Retire), drops it and stops the reader.
func (r *Reader) retireTerm(ctx context.Context, conn *pgx.Conn) error {
	slot, err := ReadSlot(ctx, conn, r.cfg.Slot)
	if err != nil {
		return err
	}
	if slot.Exists {
		if slot.WALStatus == "lost" {
			return fmt.Errorf("%w: slot %q cannot be drained; drop it: SELECT pg_drop_replication_slot('%s')", ErrSlotInvalidated, r.cfg.Slot, r.cfg.Slot)
		}
		rc, err := r.start(ctx, conn)
		if err != nil {
			return err
		}
		ret, err := newRetirement(ctx, conn, rc.PID())
		if err != nil {
			rc.Close(context.Background())
			return err
		}
		s := &stream{r: r, conn: conn, rc: rc, confirmed: slot.Confirmed, retire: ret}
		err = s.run(ctx)
		rc.Close(context.Background())
		if !errors.Is(err, errRetired) {
			return err
		}
		dropped, err := dropSlot(ctx, conn, r.cfg.Slot)
		if err != nil {
			return err
		}
		if !dropped {
			return errors.New("walsource: the source was switched back to wal; the slot stays")
		}
		r.log.Info("walsource: the wal source's slot is drained and dropped")
	}
	r.retired.Store(true)
	r.stopRun()
	return nil
}

// start opens the replication connection and starts streaming the slot. A walsender still
// streaming it is a stale one of ours (this node holds the reader's lock): it is terminated.
func (r *Reader) start(ctx context.Context, conn *pgx.Conn) (*pgconn.PgConn, error) {
	for attempt := 0; ; attempt++ {
		rc, err := r.cfg.ConnectReplication(ctx)
		if err != nil {
			return nil, fmt.Errorf("opening the replication connection: %w", err)
		}
		err = startReplication(ctx, rc, r.cfg.Slot)
		if err == nil {
			r.log.Info("walsource: streaming the replication slot")
			return rc, nil
		}
		rc.Close(context.Background())
		var pgErr *pgconn.PgError
		if attempt >= 20 || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return nil, fmt.Errorf("starting replication from slot %q: %w", r.cfg.Slot, err)
		}
		if err := r.terminateStale(ctx, conn); err != nil {
			return nil, err
		}
		if !pause.For(ctx, 250*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

// terminateStale ends the walsender streaming the slot when it is realtimed's (its
// application_name is ApplicationName): a previous reader that died or lost its network
// without the server noticing yet.
func (r *Reader) terminateStale(ctx context.Context, conn *pgx.Conn) error {
	var pid int32
	var app string
	err := conn.QueryRow(ctx, `SELECT s.active_pid, coalesce(a.application_name, '')
		FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
		WHERE s.slot_name = $1 AND s.active_pid IS NOT NULL`, r.cfg.Slot).Scan(&pid, &app)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // gone meanwhile
	}
	if err != nil {
		return fmt.Errorf("finding who streams slot %q: %w", r.cfg.Slot, err)
	}
	if app != ApplicationName {
		return fmt.Errorf("replication slot %q is streamed by another client (pid %d, application_name %q): name another slot (REALTIME_WAL_SLOT)", r.cfg.Slot, pid, app)
	}
	r.log.WithField("pid", pid).Warn("walsource: a stale walsender of realtimed still holds the slot; terminating it")
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		return fmt.Errorf("terminating the stale walsender %d: %w", pid, err)
	}
	r.terminated.Add(1)
	return nil
}
