// Package cluster is how realtimed nodes know of each other and work together, through the
// PostgreSQL they share (no other broker, no node-to-node network path):
//
//   - the node registry: each node announces itself in realtime.nodes and refreshes its row
//     while it runs (heartbeats); a node not seen for three heartbeats counts as gone;
//   - the control channel: typed JSON messages to every node (NOTIFY on realtime_control),
//     sent in batches and in order by one publisher, dispatched by type where they arrive;
//   - requests with replies: a node asks every other live node a question (the admin API's
//     "which sockets do you hold") and collects their answers (realtime.node_replies);
//   - elected work: work that one node at a time must do, either once per turn under a
//     transaction-level advisory lock (retention), or for as long as the node stays elected,
//     under a session-level advisory lock on a connection of its own (Lead).
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"
)

// Config configures a Cluster. Zero values select the documented defaults.
type Config struct {
	// Node is this node's id (NewNodeID). Required.
	Node string
	// Addr is the node's listen address, as shown in realtime.nodes.
	Addr string
	// Pool is the database. Required.
	Pool *pgxpool.Pool
	// Heartbeat is how often the node refreshes its row. Zero means 10s. A node not seen for
	// three heartbeats (Silence) counts as gone.
	Heartbeat time.Duration
	// Wait bounds how long Ask waits for the other nodes' replies. Zero means 3s.
	Wait time.Duration
	// Control configures the control channel's publisher.
	Control PublisherConfig
	// Logger receives failures. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

// Cluster is this node's membership in the cluster. Register handlers (Handle, Serve) before
// Run; route the control channel's notifications to Deliver.
type Cluster struct {
	cfg       Config
	log       logrus.FieldLogger
	mux       *mux
	publisher *Publisher

	mu       sync.RWMutex
	services map[string]func(args []byte) (any, error)
}

// New returns the cluster membership of node cfg.Node.
func New(cfg Config) (*Cluster, error) {
	if cfg.Node == "" {
		return nil, errors.New("cluster: Config.Node is required")
	}
	if cfg.Pool == nil {
		return nil, errors.New("cluster: Config.Pool is required")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	if cfg.Control.Logger == nil {
		cfg.Control.Logger = cfg.Logger
	}
	c := &Cluster{
		cfg: cfg, log: cfg.Logger, mux: newMux(cfg.Logger),
		publisher: NewPublisher(cfg.Pool, cfg.Control),
		services:  map[string]func([]byte) (any, error){},
	}
	c.mux.handle(requestType, c.onRequest)
	return c, nil
}

// NewNodeID returns an id for this process: the host name and a random suffix, so that two
// processes on one host differ.
func NewNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// Node returns this node's id.
func (c *Cluster) Node() string { return c.cfg.Node }

// Silence is how long a node may go without refreshing its row before it counts as gone.
func (c *Cluster) Silence() time.Duration { return 3 * c.cfg.Heartbeat }

// Handle routes control messages of type typ to h. h runs on the goroutine that delivers
// control messages (the listener's) and must not block.
func (c *Cluster) Handle(typ string, h func(payload []byte)) { c.mux.handle(typ, h) }

// Deliver hands a control message that arrived on the control channel to its handler.
func (c *Cluster) Deliver(payload []byte) { c.mux.dispatch(payload) }

// Publish queues a control message for every node, this one included (best effort: it
// returns false when the message is too large for NOTIFY or the queue is full).
func (c *Cluster) Publish(msg []byte) bool { return c.publisher.Publish(msg) }

// Publisher returns the control channel's publisher (its counters).
func (c *Cluster) Publisher() *Publisher { return c.publisher }

// Run keeps the node announced and sends control messages until ctx is done; then it sends
// what is still queued, removes the node's row, and returns.
func (c *Cluster) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.publisher.Run(ctx)
	}()
	c.heartbeat(ctx)
	wg.Wait()
}
