package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/pause"
	"github.com/sirupsen/logrus"
)

// The advisory locks realtimed takes, all in one place. The numbers spell "realtime" in ASCII,
// plus one for each new lock.
const (
	// StreamOrderLock orders the outbox's positions by commit (realtime.on_commit, in SQL).
	StreamOrderLock int64 = 8243113893085555045
	// RetentionLock makes one node at a time prune (retention).
	RetentionLock int64 = 8243113893085555046
	// StreamReaderLock elects the node that reads the logical replication slot.
	StreamReaderLock int64 = 8243113893085555047
	// BusPublisherLock elects the node that publishes the stream to the bus (REALTIME_BUS).
	BusPublisherLock int64 = 8243113893085555048
	// StreamAheadLock is held (session level, exclusively) by the wal reader while it hands
	// events to its node before appending them (walsource, "delivering ahead"). While it is
	// held, realtime.on_commit passes notify-source events to the reader as logical messages
	// instead of drawing positions itself, so the reader's positions are the only ones.
	StreamAheadLock int64 = 8243113893085555049
)

// Exclusive runs f in a transaction on pool unless another node holds key's lock
// (pg_try_advisory_xact_lock): one node at a time does the work of a turn, and the lock goes
// with the transaction. It reports whether f ran.
func Exclusive(ctx context.Context, pool *pgxpool.Pool, key int64, f func(tx pgx.Tx) error) (ran bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, key).Scan(&ran); err != nil {
			return fmt.Errorf("taking lock %d: %w", key, err)
		}
		if !ran {
			return nil
		}
		return f(tx)
	})
	if err != nil {
		return false, err
	}
	return ran, nil
}

// LeaderConfig configures a Leader. Zero values select the documented defaults.
type LeaderConfig struct {
	// Name says what the leader does, in log lines.
	Name string
	// Key is the advisory lock that elects the leader (one of the *Lock constants). Required.
	Key int64
	// Connect opens the connection that holds the lock: a connection of its own, never one of
	// a pool (database.Config.Connector). Required.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// Retry is how often a node that is not elected tries again, and how long an elected
	// node whose work failed waits before it tries again. Zero means 1s.
	Retry time.Duration
	// Check is how often an elected node checks that its lock connection is alive. Zero
	// means 1s.
	Check time.Duration
	// Logger receives elections and failures. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

// Leader runs work on one node of the cluster at a time, for as long as that node stays
// elected. The lock is a session-level advisory lock on a connection of its own: it goes when
// the node stops, dies (the server sees the connection close) or loses the database (the
// server drops the session after TCP keepalives of a few seconds, which the connection asks
// for). The elected node checks its connection every Check and stops its work as soon as the
// check fails, so that it has stopped before another node can be elected.
type Leader struct {
	cfg     LeaderConfig
	log     logrus.FieldLogger
	leading atomic.Bool
	terms   atomic.Uint64
}

// NewLeader returns a leader; start it with Run.
func NewLeader(cfg LeaderConfig) (*Leader, error) {
	if cfg.Connect == nil {
		return nil, errors.New("cluster: LeaderConfig.Connect is required")
	}
	if cfg.Key == 0 {
		return nil, errors.New("cluster: LeaderConfig.Key is required")
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.Check <= 0 {
		cfg.Check = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	return &Leader{cfg: cfg, log: cfg.Logger.WithField("elected", cfg.Name)}, nil
}

// Leading reports whether this node is elected and its work is running.
func (l *Leader) Leading() bool { return l.leading.Load() }

// Terms returns how many times this node has been elected.
func (l *Leader) Terms() uint64 { return l.terms.Load() }

// Run campaigns until ctx is done. Whenever this node is elected it runs work with a context
// that ends when it stops being elected (or ctx ends); work should return then. When work
// returns, the node steps down, waits Retry and campaigns again. Run returns once work has
// returned and the lock is released.
func (l *Leader) Run(ctx context.Context, work func(ctx context.Context) error) {
	for ctx.Err() == nil {
		conn, err := l.connect(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.log.WithError(err).Warn("cluster: cannot campaign; retrying")
			}
			pause.For(ctx, l.cfg.Retry)
			continue
		}
		if l.campaign(ctx, conn) {
			l.lead(ctx, conn, work)
		}
		database.CloseConn(conn)
		pause.For(ctx, l.cfg.Retry)
	}
}

// connect opens the lock connection and makes the server notice within seconds when the node
// behind it disappears.
func (l *Leader) connect(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := l.cfg.Connect(cctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, `SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3`); err != nil {
		database.CloseConn(conn)
		return nil, fmt.Errorf("setting keepalives: %w", err)
	}
	// PostgreSQL 12 and later also give up on unacknowledged writes (a peer that vanished).
	_, _ = conn.Exec(cctx, `SET tcp_user_timeout = 5000`)
	return conn, nil
}

// campaign tries to take the lock every Retry until it does (true) or ctx ends or the
// connection fails (false).
func (l *Leader) campaign(ctx context.Context, conn *pgx.Conn) bool {
	for {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var got bool
		err := conn.QueryRow(qctx, `SELECT pg_try_advisory_lock($1)`, l.cfg.Key).Scan(&got)
		cancel()
		switch {
		case ctx.Err() != nil:
			return false
		case err != nil:
			l.log.WithError(err).Warn("cluster: campaigning failed; reconnecting")
			return false
		case got:
			return true
		}
		if !pause.For(ctx, l.cfg.Retry) {
			return false
		}
	}
}

// lead runs work while the lock connection stays alive, then releases the lock.
func (l *Leader) lead(ctx context.Context, conn *pgx.Conn, work func(context.Context) error) {
	l.terms.Add(1)
	l.leading.Store(true)
	l.log.Info("cluster: elected")
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- work(wctx) }()
	t := time.NewTicker(l.cfg.Check)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			cancel()
			l.stepDown(conn, err)
			return
		case <-t.C:
			pctx, pcancel := context.WithTimeout(ctx, max(l.cfg.Check, time.Second))
			err := conn.Ping(pctx)
			pcancel()
			if err != nil && ctx.Err() == nil {
				l.log.WithError(err).Warn("cluster: lost the lock connection; stopping the elected work")
				cancel()
				<-done
				l.leading.Store(false)
				return
			}
		}
	}
}

func (l *Leader) stepDown(conn *pgx.Conn, err error) {
	l.leading.Store(false)
	if err != nil && !errors.Is(err, context.Canceled) {
		l.log.WithError(err).Warn("cluster: the elected work failed; stepping down")
	} else {
		l.log.Info("cluster: stepping down")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, l.cfg.Key)
}
