// Package listener turns PostgreSQL notifications on the realtime channel into Envelopes, in
// commit order, exactly once: it LISTENs on a dedicated connection, then reads the outbox for
// anything committed since the last delivered position, resolves envelopes sent by reference,
// fills gaps from the outbox, and reconnects with backoff when the connection drops.
//
// It relies on the outbox's positions being commit-ordered: realtime.on_commit draws each
// event's position at commit under one advisory lock for the stream (migrations/realtime 0001
// and 0010), so a snapshot that sees position P sees every committed position below it, and
// "everything after P" read from the outbox is exactly what is notified after P. The scheme
// costs writers little beyond what NOTIFY already costs them (notifying commits run one at a
// time): measured with pgbench, 16 clients, realtime.publish leaves 10-15% of a plain INSERT's
// throughput and 0.4-0.85x of a naive per-row pg_notify trigger, the lock itself within the
// noise (docs/delivery.md, scripts/offsets-bench.sh).
package listener

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"
)

// Handler receives each event once, in commit order, from the listener's goroutine. It must
// not block: hand the event on to non-blocking queues.
type Handler func(*Envelope)

// Config configures a Listener. Zero values select the documented defaults.
type Config struct {
	// Connect opens the listener's connection (database.Config.Connector). Each reconnection
	// calls it again. Required.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// Channel is the NOTIFY channel of the event stream. Empty means "realtime".
	Channel string
	// ControlChannel carries messages outside the stream (typing indicators, cluster-wide
	// commands) between nodes: no position, no catch-up, delivered only to nodes connected at
	// the time. Empty means "realtime_control".
	ControlChannel string
	// OnControl receives each control message's payload. Nil: control messages are ignored.
	OnControl func(payload []byte)
	// ControlOnly listens to the control channel alone: the events reach the node another way
	// (the bus, in fleet mode), and the handler is never called.
	ControlOnly bool
	// MinBackoff and MaxBackoff bound the wait between reconnection attempts. Zero means
	// 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// HealthInterval is how long the connection may stay silent before it is pinged, so that
	// a dead network is noticed. Zero means 15s.
	HealthInterval time.Duration
	// QueryTimeout bounds connecting and each query of the listener (LISTEN, a batch of the
	// catch-up, a health ping), so that a network that silently drops packets is noticed.
	// Zero means 30s.
	QueryTimeout time.Duration
	// Logger receives reconnects and skipped notifications. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

func (c Config) withDefaults() Config {
	if c.Channel == "" {
		c.Channel = "realtime"
	}
	if c.ControlChannel == "" {
		c.ControlChannel = "realtime_control"
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = 15 * time.Second
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
	return c
}

// ApplicationName is the listener connection's application_name, to find it in pg_stat_activity.
const ApplicationName = "realtimed-listener"

// Stats are counters since the listener started.
type Stats struct {
	Delivered  uint64 // events handed to the handler
	Skipped    uint64 // notifications that were not valid envelopes or named no event of the outbox, and invalid outbox rows
	Duplicates uint64 // notifications already delivered by catch-up or ahead
	Ahead      uint64 // events delivered by Offer, before their append
	CaughtUp   uint64 // events delivered from the outbox rather than from a notification
	Reconnects uint64 // connections lost and re-established
}

// Listener delivers the events of the outbox. Create it with New and start it with Run.
type Listener struct {
	cfg    Config
	handle Handler
	log    logrus.FieldLogger

	started bool // a start position is known (only touched by Run's goroutine)
	// deliverMu serializes handing events to the handler (Run's goroutine and Offer): lastPos
	// only grows, and the handler sees positions in order, each once.
	deliverMu sync.Mutex
	lastPos   atomic.Int64
	early     early // events offered ahead of lastPos+1 (guarded by deliverMu)
	connected atomic.Bool
	caughtUp  atomic.Bool

	delivered, skipped, duplicates, fromOutbox, reconnects, ahead atomic.Uint64
}

// New returns a listener that passes events to h.
func New(cfg Config, h Handler) (*Listener, error) {
	if cfg.Connect == nil {
		return nil, errors.New("listener: Config.Connect is required")
	}
	if h == nil {
		return nil, errors.New("listener: a handler is required")
	}
	cfg = cfg.withDefaults()
	return &Listener{cfg: cfg, handle: h, log: cfg.Logger}, nil
}

// Ready reports whether the listener is connected and has caught up with the outbox.
func (l *Listener) Ready() bool { return l.connected.Load() && l.caughtUp.Load() }

// Position returns the position of the last event handed to the handler. It is updated just
// before the handler is called: an event above Position has not reached the handler yet.
func (l *Listener) Position() int64 { return l.lastPos.Load() }

// Stats returns the listener's counters.
func (l *Listener) Stats() Stats {
	return Stats{
		Delivered: l.delivered.Load(), Skipped: l.skipped.Load(), Duplicates: l.duplicates.Load(), Ahead: l.ahead.Load(),
		CaughtUp: l.fromOutbox.Load(), Reconnects: l.reconnects.Load(),
	}
}

// StartAt makes the listener deliver every event after pos when it starts, instead of starting
// at the newest event. Call it before Run.
func (l *Listener) StartAt(pos int64) {
	l.lastPos.Store(pos)
	l.started = true
}

// Run listens until ctx is done, reconnecting whenever the connection is lost. It returns
// ctx's error.
func (l *Listener) Run(ctx context.Context) error {
	backoff := l.cfg.MinBackoff
	for {
		began := time.Now()
		err := l.session(ctx)
		l.connected.Store(false)
		l.forgetEarly()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(began) > 10*l.cfg.MaxBackoff {
			backoff = l.cfg.MinBackoff
		}
		l.reconnects.Add(1)
		l.log.WithError(err).WithFields(logrus.Fields{"retry_in": backoff.String(), "position": l.lastPos.Load()}).
			Warn("listener: connection lost; reconnecting")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, l.cfg.MaxBackoff)
	}
}

// session runs one connection: LISTEN, catch up, then wait for notifications.
func (l *Listener) session(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, l.cfg.QueryTimeout)
	conn, err := l.cfg.Connect(cctx)
	cancel()
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.Background())
	channels := []string{l.cfg.Channel, l.cfg.ControlChannel}
	if l.cfg.ControlOnly {
		channels = channels[1:]
	}
	for _, ch := range channels {
		if err := l.exec(ctx, conn, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return fmt.Errorf("LISTEN %s: %w", ch, err)
		}
	}
	l.connected.Store(true)
	if l.cfg.ControlOnly {
		l.caughtUp.Store(true)
		l.log.Info("listener: listening to the control channel")
		for {
			if err := l.next(ctx, conn); err != nil {
				return err
			}
		}
	}
	// LISTEN is in effect: everything committed from now on will be notified. Read what was
	// committed before (or while we were away) from the outbox.
	if !l.started {
		head, err := l.head(ctx, conn)
		if err != nil {
			return err
		}
		l.lastPos.Store(head)
		l.started = true
	}
	if err := l.catchUp(ctx, conn, 0); err != nil {
		return err
	}
	l.caughtUp.Store(true)
	l.log.WithField("position", l.lastPos.Load()).Info("listener: listening")
	for {
		if err := l.next(ctx, conn); err != nil {
			return err
		}
	}
}

func (l *Listener) exec(ctx context.Context, conn *pgx.Conn, sql string) error {
	qctx, cancel := context.WithTimeout(ctx, l.cfg.QueryTimeout)
	defer cancel()
	_, err := conn.Exec(qctx, sql)
	return err
}

// head returns the position of the newest committed event.
func (l *Listener) head(ctx context.Context, conn *pgx.Conn) (int64, error) {
	qctx, cancel := context.WithTimeout(ctx, l.cfg.QueryTimeout)
	defer cancel()
	var head int64
	if err := conn.QueryRow(qctx, "SELECT coalesce(max(pos), 0) FROM realtime.events").Scan(&head); err != nil {
		return 0, fmt.Errorf("reading the outbox head: %w", err)
	}
	return head, nil
}

// next waits for one notification, pinging the server when the connection stays silent.
func (l *Listener) next(ctx context.Context, conn *pgx.Conn) error {
	wctx, cancel := context.WithTimeout(ctx, l.cfg.HealthInterval)
	n, err := conn.WaitForNotification(wctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("waiting for notifications: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, min(5*time.Second, l.cfg.QueryTimeout))
		defer cancel()
		if err := conn.Ping(pctx); err != nil {
			return fmt.Errorf("health check: %w", err)
		}
		return nil
	}
	if n.Channel == l.cfg.ControlChannel {
		if l.cfg.OnControl != nil {
			l.cfg.OnControl([]byte(n.Payload))
		}
		return nil
	}
	return l.onNotification(ctx, conn, n.Payload)
}

// onNotification delivers the event a notification names. The notification is trusted only
// when it names the very next position: then its envelope is delivered as is (read from the
// outbox when it is a reference). When it names a later position, the outbox is read up to
// that position instead, so that nothing in between is lost (positions drawn by transactions
// that failed to commit leave gaps) and a hand-written notification with a made-up position
// cannot make the listener skip real events: the outbox, not the notification, says what
// exists.
func (l *Listener) onNotification(ctx context.Context, conn *pgx.Conn, payload string) error {
	if IsBatch(payload) {
		return l.onBatch(ctx, conn, payload)
	}
	env, err := Decode([]byte(payload))
	if err != nil {
		l.skip(err, payload)
		return nil
	}
	return l.onEnvelope(ctx, conn, env, payload)
}

// onBatch handles a notification of the wal source (walsource): the envelopes a batch
// appended, in order, each handled as a notification of its own; or a reference to the batch's
// last position, read from the outbox. Either way positions already delivered are passed over
// and gaps are filled from the outbox.
func (l *Listener) onBatch(ctx context.Context, conn *pgx.Conn, payload string) error {
	if last, ok := BatchLast(payload); ok && last <= l.lastPos.Load() {
		l.duplicates.Add(1) // delivered ahead (or by catch-up): not even decoded
		return nil
	}
	b, err := DecodeBatch([]byte(payload))
	if err != nil {
		l.skip(err, payload)
		return nil
	}
	if b.Through > 0 {
		if b.Through <= l.lastPos.Load() {
			l.duplicates.Add(1)
			return nil
		}
		return l.catchUp(ctx, conn, b.Through)
	}
	for _, env := range b.Batch {
		if err := l.onEnvelope(ctx, conn, env, payload); err != nil {
			return err
		}
	}
	return nil
}

func (l *Listener) onEnvelope(ctx context.Context, conn *pgx.Conn, env *Envelope, payload string) error {
	last := l.lastPos.Load()
	switch {
	case env.Pos <= last:
		l.duplicates.Add(1)
		return nil
	case env.Pos > last+1:
		if err := l.catchUp(ctx, conn, env.Pos); err != nil {
			return err
		}
		if l.lastPos.Load() < env.Pos {
			l.skip(fmt.Errorf("%w: event %d (position %d) is not in the outbox", ErrBadEnvelope, env.ID, env.Pos), payload)
		}
		return nil
	}
	if env.Ref {
		full, err := l.fetch(ctx, conn, env.Pos)
		if err != nil {
			return err
		}
		if full == nil || full.ID != env.ID {
			l.skip(fmt.Errorf("%w: event %d (position %d) is not in the outbox", ErrBadEnvelope, env.ID, env.Pos), payload)
			return nil
		}
		if err := full.validate(); err != nil {
			l.skip(fmt.Errorf("outbox row at position %d: %w", env.Pos, err), payload)
			l.passOver(env.Pos)
			return nil
		}
		env = full
	}
	l.deliver(env)
	return nil
}

func (l *Listener) skip(err error, payload string) {
	l.skipped.Add(1)
	if len(payload) > 200 {
		payload = payload[:200] + "…"
	}
	l.log.WithError(err).WithField("notification", payload).Warn("listener: skipped a notification")
}

// deliver hands an event to the handler unless its position was delivered already (by Offer
// meanwhile). The position is published first (see Position).
func (l *Listener) deliver(env *Envelope) {
	l.deliverMu.Lock()
	defer l.deliverMu.Unlock()
	if env.Pos <= l.lastPos.Load() {
		l.duplicates.Add(1)
		return
	}
	l.lastPos.Store(env.Pos)
	l.handle(env)
	l.delivered.Add(1)
	l.deliverEarly()
}

// passOver moves the last delivered position to pos (an invalid event passed over), unless
// the stream is past it already.
func (l *Listener) passOver(pos int64) {
	l.deliverMu.Lock()
	defer l.deliverMu.Unlock()
	if pos > l.lastPos.Load() {
		l.lastPos.Store(pos)
		l.deliverEarly()
	}
}

const selectEvents = SelectEvents

// SelectEvents selects the outbox's columns in the order ScanEnvelope reads them.
const SelectEvents = `SELECT id, pos, event, users, rooms, payload, committed_at FROM realtime.events`

// ScanEnvelope reads a row selected with SelectEvents (for pgx.CollectRows).
func ScanEnvelope(row pgx.CollectableRow) (*Envelope, error) { return scanEnvelope(row) }

// catchUp delivers, from the outbox, the events after the last delivered position and, when
// through > 0, up to it. Rows that are not valid events (written around realtime.publish) are
// logged, counted and passed over.
func (l *Listener) catchUp(ctx context.Context, conn *pgx.Conn, through int64) error {
	const batch = 1000
	for {
		last := l.lastPos.Load()
		envs, err := l.read(ctx, conn, selectEvents+
			` WHERE pos > $1 AND ($2 = 0 OR pos <= $2) ORDER BY pos LIMIT $3`, last, through, batch)
		if err != nil {
			return fmt.Errorf("reading the outbox after position %d: %w", last, err)
		}
		for _, env := range envs {
			if err := env.validate(); err != nil {
				l.skipped.Add(1)
				l.log.WithError(err).WithField("position", env.Pos).Warn("listener: skipped an outbox row that is not a valid event")
				l.passOver(env.Pos)
				continue
			}
			l.fromOutbox.Add(1)
			l.deliver(env)
		}
		if len(envs) < batch {
			return nil
		}
	}
}

func (l *Listener) read(ctx context.Context, conn *pgx.Conn, sql string, args ...any) ([]*Envelope, error) {
	qctx, cancel := context.WithTimeout(ctx, l.cfg.QueryTimeout)
	defer cancel()
	rows, err := conn.Query(qctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanEnvelope)
}

// fetch reads one event by position; it returns nil if there is none.
func (l *Listener) fetch(ctx context.Context, conn *pgx.Conn, pos int64) (*Envelope, error) {
	envs, err := l.read(ctx, conn, selectEvents+` WHERE pos = $1`, pos)
	if err != nil {
		return nil, fmt.Errorf("reading event at position %d: %w", pos, err)
	}
	if len(envs) == 0 {
		return nil, nil
	}
	return envs[0], nil
}

func scanEnvelope(row pgx.CollectableRow) (*Envelope, error) {
	var (
		e         Envelope
		committed *time.Time
		payload   []byte
	)
	if err := row.Scan(&e.ID, &e.Pos, &e.Event, &e.Users, &e.Rooms, &payload, &committed); err != nil {
		return nil, err
	}
	e.Payload = payload
	if committed != nil {
		e.TS = committed.UnixMicro()
	}
	return &e, nil
}
