package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/listener"
)

// PublisherConfig configures a Publisher. Zero values select the documented defaults.
type PublisherConfig struct {
	// Conn is the node's connection to NATS. Required.
	Conn *Conn
	// Prefix starts every subject. Empty means "realtime".
	Prefix string
	// Node names the publisher in heartbeats and realtime.bus_state. Required.
	Node string
	// Pool records the published-through position (realtime.bus_state). Required.
	Pool *pgxpool.Pool
	// Connect opens the connection the publisher reads the stream on (LISTEN and catch-up, as
	// the listener does). Required.
	Connect func(ctx context.Context) (*pgx.Conn, error)
	// Recipients names the rooms of an event (router.Recipients). Required.
	Recipients func(*listener.Envelope) []string
	// Confirm is how often the publisher asks NATS to confirm what it published (a PING and
	// its PONG) and sends a heartbeat when the position moved. Zero means 50ms.
	Confirm time.Duration
	// Heartbeat is how often a heartbeat goes out when nothing moved. Zero means 1s.
	Heartbeat time.Duration
	// Checkpoint is how often the confirmed position is written to realtime.bus_state. Zero
	// means 1s.
	Checkpoint time.Duration
	// Logger receives failures. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

// Head is a heartbeat of the publisher, on the head subject: every event through Pos has been
// published, in order, by the publisher Term (a new one after each election).
type Head struct {
	Pos  int64  `json:"head"`
	Term string `json:"term"`
}

// PublisherStats are counters since the node started.
type PublisherStats struct {
	Events   uint64 // events published
	Messages uint64 // messages published (an event goes to each of its rooms)
	Terms    uint64 // times this node became the publisher
	Position int64  // position published through and confirmed by NATS
}

// Publisher publishes the stream to NATS while its node is elected (run it under a
// cluster.Leader with cluster.BusPublisherLock).
type Publisher struct {
	cfg  PublisherConfig
	log  logrus.FieldLogger
	head string

	events, messages, terms atomic.Uint64
	confirmed               atomic.Int64
}

// NewPublisher returns a publisher; run Work under a leader.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	switch {
	case cfg.Conn == nil || cfg.Pool == nil || cfg.Connect == nil || cfg.Recipients == nil:
		return nil, errors.New("bus: PublisherConfig.Conn, Pool, Connect and Recipients are required")
	case cfg.Node == "":
		return nil, errors.New("bus: PublisherConfig.Node is required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "realtime"
	}
	if cfg.Confirm <= 0 {
		cfg.Confirm = 50 * time.Millisecond
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.Checkpoint <= 0 {
		cfg.Checkpoint = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	return &Publisher{cfg: cfg, log: cfg.Logger.WithField("component", "bus publisher"), head: HeadSubject(cfg.Prefix)}, nil
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{Events: p.events.Load(), Messages: p.messages.Load(), Terms: p.terms.Load(), Position: p.confirmed.Load()}
}

// term is one term of the publisher: from its election until its work fails or it steps down.
type term struct {
	p       *Publisher
	id      string
	dials   uint64 // the connection's dial count when the term began
	fail    context.CancelCauseFunc
	mu      sync.Mutex // serializes publications with confirmations
	last    int64      // position published through (guarded by mu)
	durable int64      // position recorded in realtime.bus_state
}

// Work publishes from the recorded position until ctx ends or publishing fails; it returns why.
// A term ends when the NATS connection is replaced (what was in flight may be lost), so that
// the next one resumes from the position NATS confirmed.
func (p *Publisher) Work(ctx context.Context) error {
	from, err := p.start(ctx)
	if err != nil {
		return err
	}
	n := p.terms.Add(1)
	wctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	t := &term{p: p, id: fmt.Sprintf("%s/%d", p.cfg.Node, n), dials: p.cfg.Conn.Dials(), fail: fail, last: from, durable: from}
	p.confirmed.Store(from)
	l, err := listener.New(listener.Config{Connect: p.cfg.Connect, Logger: p.log}, t.publish)
	if err != nil {
		return err
	}
	l.StartAt(from)
	p.log.WithFields(logrus.Fields{"from": from, "term": t.id}).Info("bus: publishing the stream")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = l.Run(wctx)
	}()
	t.confirmLoop(wctx)
	fail(nil)
	wg.Wait()
	t.checkpoint(context.Background()) // what was confirmed, for the next term
	if cause := context.Cause(wctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return ctx.Err()
}

// start reads the position to resume from: realtime.bus_state, or the stream's head the first
// time (nodes expect nothing older).
func (p *Publisher) start(ctx context.Context) (int64, error) {
	var from int64
	err := p.cfg.Pool.QueryRow(ctx, `WITH head AS (SELECT coalesce(max(pos), 0) AS pos FROM realtime.events),
		ins AS (INSERT INTO realtime.bus_state (published_through, publisher) SELECT pos, $1 FROM head
			ON CONFLICT (id) DO NOTHING RETURNING published_through)
		SELECT coalesce((SELECT published_through FROM ins), (SELECT published_through FROM realtime.bus_state))`,
		p.cfg.Node).Scan(&from)
	if err != nil {
		return 0, fmt.Errorf("bus: reading realtime.bus_state (is the realtime schema migrated?): %w", err)
	}
	return from, nil
}

// publish sends an event to each of its rooms (the listener's handler, in commit order).
func (t *term) publish(env *listener.Envelope) {
	data, err := json.Marshal(env)
	if err != nil {
		t.fail(fmt.Errorf("bus: encoding event %d: %w", env.Pos, err))
		return
	}
	if int64(len(data)) > t.p.cfg.Conn.MaxPayload() {
		data, _ = json.Marshal(struct {
			ID  int64 `json:"id"`
			Pos int64 `json:"pos"`
			Ref bool  `json:"ref"`
		}{env.ID, env.Pos, true})
	}
	rooms := t.p.cfg.Recipients(env)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.p.cfg.Conn.Dials() != t.dials {
		// Messages written to the previous connection may be lost: none may follow them on
		// this one, or a node would take the later positions and drop the earlier ones.
		t.fail(fmt.Errorf("bus: the NATS connection was replaced; republishing from %d", t.p.confirmed.Load()))
		return
	}
	for _, room := range rooms {
		if err := t.p.cfg.Conn.Publish(RoomSubject(t.p.cfg.Prefix, room), data); err != nil {
			t.fail(fmt.Errorf("bus: publishing event %d: %w", env.Pos, err))
			return
		}
	}
	t.last = env.Pos
	t.p.events.Add(1)
	t.p.messages.Add(uint64(len(rooms)))
}

// confirmLoop confirms publications with NATS, sends heartbeats and records checkpoints until
// ctx ends or a confirmation fails.
func (t *term) confirmLoop(ctx context.Context) {
	confirm := time.NewTicker(t.p.cfg.Confirm)
	defer confirm.Stop()
	checkpoint := time.NewTicker(t.p.cfg.Checkpoint)
	defer checkpoint.Stop()
	var beat time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-checkpoint.C:
			t.checkpoint(ctx)
		case <-confirm.C:
			moved, err := t.confirm()
			if err != nil {
				t.fail(err)
				return
			}
			if moved || time.Since(beat) >= t.p.cfg.Heartbeat {
				t.heartbeat()
				beat = time.Now()
			}
		}
	}
}

// confirm waits for NATS to confirm what was published so far. It fails when the connection
// was replaced since the term began: messages in flight then may never have arrived.
func (t *term) confirm() (moved bool, err error) {
	t.mu.Lock()
	last := t.last
	t.mu.Unlock()
	if err := t.p.cfg.Conn.FlushTimeout(5 * time.Second); err != nil {
		return false, fmt.Errorf("bus: NATS did not confirm publications through %d: %w", last, err)
	}
	if d := t.p.cfg.Conn.Dials(); d != t.dials {
		return false, fmt.Errorf("bus: the NATS connection was replaced; republishing from %d", t.p.confirmed.Load())
	}
	if last <= t.p.confirmed.Load() {
		return false, nil
	}
	t.p.confirmed.Store(last)
	return true, nil
}

// heartbeat publishes the confirmed position on the head subject.
func (t *term) heartbeat() {
	data, _ := json.Marshal(Head{Pos: t.p.confirmed.Load(), Term: t.id})
	if err := t.p.cfg.Conn.Publish(t.p.head, data); err != nil {
		t.p.log.WithError(err).Warn("bus: heartbeat not sent")
	}
}

// checkpoint records the confirmed position in realtime.bus_state.
func (t *term) checkpoint(ctx context.Context) {
	pos := t.p.confirmed.Load()
	if pos <= t.durable {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := t.p.cfg.Pool.Exec(cctx, `UPDATE realtime.bus_state SET published_through = $1, publisher = $2, updated_at = now()
		WHERE published_through < $1`, pos, t.id)
	if err != nil {
		t.p.log.WithError(err).WithField("position", pos).Warn("bus: recording the published position failed; retrying")
		return
	}
	t.durable = pos
}
