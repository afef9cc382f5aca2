package cluster

// The control channel carries messages between nodes outside the event stream (typing
// indicators, requests of the admin API), through PostgreSQL: NOTIFY on the control channel,
// which every node's listener LISTENs to and hands to Cluster.Deliver. No second broker is
// needed.
//
// Control messages are best effort, unlike events: they have no position, a node that is not
// listening when one is sent never sees it, and a message that cannot be sent within MaxAge
// (the database is unreachable) is dropped and counted.

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sirupsen/logrus"
)

// DefaultChannel is the control channel's name (listener.Config.ControlChannel's default).
const DefaultChannel = "realtime_control"

// MaxMessageBytes is the largest message NOTIFY carries (its payload must stay under 8000 bytes).
const MaxMessageBytes = 7999

// Execer runs a statement: a *pgxpool.Pool or a *pgx.Conn.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// PublisherConfig configures a Publisher. Zero values select the documented defaults.
type PublisherConfig struct {
	// Channel is the NOTIFY channel. Empty means DefaultChannel.
	Channel string
	// QueueSize bounds the messages waiting to be sent; Publish refuses more. Zero means 4096.
	QueueSize int
	// MaxBatch bounds the messages sent in one statement. Zero means 256.
	MaxBatch int
	// MaxAge is how long a batch is retried while the database cannot be reached before it is
	// dropped. Zero means 3s.
	MaxAge time.Duration
	// Logger receives failures. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

func (c PublisherConfig) withDefaults() PublisherConfig {
	if c.Channel == "" {
		c.Channel = DefaultChannel
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 4096
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 3 * time.Second
	}
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
	return c
}

// Publisher sends control messages from one goroutine (Run), in the order they were
// published: each batch is one statement (realtime.notify_all), so the nodes receive them in
// that order too. Publish never blocks.
type Publisher struct {
	db    Execer
	cfg   PublisherConfig
	queue chan []byte

	sent, dropped atomic.Uint64
}

// NewPublisher returns a publisher that sends through db once Run is called.
func NewPublisher(db Execer, cfg PublisherConfig) *Publisher {
	cfg = cfg.withDefaults()
	return &Publisher{db: db, cfg: cfg, queue: make(chan []byte, cfg.QueueSize)}
}

// Publish queues msg for every node. It returns false, and counts the message as dropped, when
// msg is too large for NOTIFY or the queue is full.
func (p *Publisher) Publish(msg []byte) bool {
	if len(msg) > MaxMessageBytes {
		p.dropped.Add(1)
		p.cfg.Logger.WithField("bytes", len(msg)).Warn("control: message too large for NOTIFY; dropped")
		return false
	}
	select {
	case p.queue <- msg:
		return true
	default:
		p.dropped.Add(1)
		return false
	}
}

// Sent returns the number of messages sent.
func (p *Publisher) Sent() uint64 { return p.sent.Load() }

// Dropped returns the number of messages refused by Publish or given up by Run.
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// Run sends queued messages until ctx is done, then tries once more, for a second at most,
// to send what is still queued (the typing.stopped of sockets closed at shutdown).
func (p *Publisher) Run(ctx context.Context) {
	batch := make([]string, 0, p.cfg.MaxBatch)
	for {
		select {
		case <-ctx.Done():
			p.final(batch[:0])
			return
		case m := <-p.queue:
			batch = append(batch[:0], string(m))
		}
		batch = p.fill(batch, p.cfg.MaxBatch)
		if !p.send(ctx, batch) {
			p.final(batch)
			return
		}
	}
}

// fill adds queued messages to batch, up to limit, without waiting.
func (p *Publisher) fill(batch []string, limit int) []string {
	for len(batch) < limit {
		select {
		case m := <-p.queue:
			batch = append(batch, string(m))
		default:
			return batch
		}
	}
	return batch
}

// final sends batch and everything still queued, once, within a second.
func (p *Publisher) final(batch []string) {
	batch = p.fill(batch, p.cfg.QueueSize+len(batch))
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.exec(ctx, batch); err != nil {
		p.dropped.Add(uint64(len(batch)))
		p.cfg.Logger.WithError(err).WithField("messages", len(batch)).Warn("control: messages not sent at shutdown; dropped")
		return
	}
	p.sent.Add(uint64(len(batch)))
}

// send delivers one batch, retrying with backoff until MaxAge has passed. It returns false,
// with the batch unsent, when ctx is done.
func (p *Publisher) send(ctx context.Context, batch []string) bool {
	deadline := time.Now().Add(p.cfg.MaxAge)
	backoff := 50 * time.Millisecond
	for {
		err := p.exec(ctx, batch)
		if err == nil {
			p.sent.Add(uint64(len(batch)))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if time.Now().Add(backoff).After(deadline) {
			p.dropped.Add(uint64(len(batch)))
			p.cfg.Logger.WithError(err).WithField("messages", len(batch)).Warn("control: messages not sent; dropped")
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (p *Publisher) exec(ctx context.Context, batch []string) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.MaxAge)
	defer cancel()
	if _, err := p.db.Exec(ctx, "SELECT realtime.notify_all($1, $2)", p.cfg.Channel, batch); err != nil {
		return fmt.Errorf("notifying %s: %w", p.cfg.Channel, err)
	}
	return nil
}
