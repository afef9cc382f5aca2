package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"
)

// ControlType is the "type" of the control messages (channel realtime_control) this package
// sends and handles.
const ControlType = "admin.request"

// Operations a node can be asked to carry out.
const (
	opSockets    = "sockets"
	opDevices    = "devices"
	opDisconnect = "disconnect"
)

// request is a control message asking every other node for its answer.
type request struct {
	Type    string `json:"type"`
	Request string `json:"request"`
	From    string `json:"from"`
	Op      string `json:"op"`
	User    string `json:"user,omitempty"`
}

// cluster announces this node in realtime.nodes and exchanges requests and replies with the
// other nodes through PostgreSQL.
type cluster struct {
	node      string
	addr      string
	db        *pgxpool.Pool
	log       logrus.FieldLogger
	heartbeat time.Duration
	stale     time.Duration
	wait      time.Duration
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

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// announce inserts or refreshes this node's row.
func (c *cluster) announce(ctx context.Context) error {
	host, _ := os.Hostname()
	_, err := c.db.Exec(ctx, `INSERT INTO realtime.nodes (id, hostname, addr, pid) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET seen_at = now()`, c.node, host, c.addr, os.Getpid())
	if err != nil {
		return fmt.Errorf("admin: announcing node %s: %w", c.node, err)
	}
	return nil
}

// run keeps the node's row fresh until ctx is done, then deletes it.
func (c *cluster) run(ctx context.Context) {
	t := time.NewTicker(c.heartbeat)
	defer t.Stop()
	for {
		if err := c.announce(ctx); err != nil && ctx.Err() == nil {
			c.log.WithError(err).Warn("admin: node heartbeat failed")
		}
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := c.db.Exec(dctx, `DELETE FROM realtime.nodes WHERE id = $1`, c.node); err != nil {
				c.log.WithError(err).Warn("admin: removing the node's row")
			}
			return
		case <-t.C:
		}
	}
}

// Node is a row of realtime.nodes.
type Node struct {
	ID        string    `json:"id"`
	Hostname  string    `json:"hostname"`
	Addr      string    `json:"addr"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"startedAt"`
	SeenAt    time.Time `json:"seenAt"`
}

// liveNodes returns the nodes seen recently.
func (c *cluster) liveNodes(ctx context.Context) ([]Node, error) {
	rows, err := c.db.Query(ctx, `SELECT id, hostname, addr, pid, started_at, seen_at FROM realtime.nodes
		WHERE seen_at > now() - make_interval(secs => $1) ORDER BY started_at, id`, c.stale.Seconds())
	if err != nil {
		return nil, fmt.Errorf("admin: listing nodes: %w", err)
	}
	nodes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Node, error) {
		var n Node
		err := r.Scan(&n.ID, &n.Hostname, &n.Addr, &n.PID, &n.StartedAt, &n.SeenAt)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("admin: listing nodes: %w", err)
	}
	return nodes, nil
}

// ask sends req to every other live node and collects their replies until all have answered
// or the wait is over. It returns the replies by node and the nodes that did not answer.
func (c *cluster) ask(ctx context.Context, op, user string) (map[string]json.RawMessage, []string, error) {
	nodes, err := c.liveNodes(ctx)
	if err != nil {
		return nil, nil, err
	}
	want := make(map[string]bool)
	for _, n := range nodes {
		if n.ID != c.node {
			want[n.ID] = true
		}
	}
	if len(want) == 0 {
		return nil, nil, nil
	}
	req := request{Type: ControlType, Request: newRequestID(), From: c.node, Op: op, User: user}
	payload, _ := json.Marshal(req)
	if _, err := c.db.Exec(ctx, `SELECT pg_notify('realtime_control', $1)`, string(payload)); err != nil {
		return nil, nil, fmt.Errorf("admin: asking the other nodes: %w", err)
	}
	defer c.forget(req.Request)
	replies := make(map[string]json.RawMessage)
	deadline := time.Now().Add(c.wait)
	for {
		if err := c.collect(ctx, req.Request, want, replies); err != nil {
			return nil, nil, err
		}
		if len(replies) == len(want) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	var missing []string
	for id := range want {
		if _, ok := replies[id]; !ok {
			missing = append(missing, id)
		}
	}
	return replies, missing, nil
}

func (c *cluster) collect(ctx context.Context, requestID string, want map[string]bool, into map[string]json.RawMessage) error {
	rows, err := c.db.Query(ctx, `SELECT node, body FROM realtime.node_replies WHERE request = $1`, requestID)
	if err != nil {
		return fmt.Errorf("admin: reading replies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			node string
			body []byte
		)
		if err := rows.Scan(&node, &body); err != nil {
			return fmt.Errorf("admin: reading replies: %w", err)
		}
		if want[node] {
			into[node] = body
		}
	}
	return rows.Err()
}

// forget deletes a request's replies, and any left behind by requests that gave up.
func (c *cluster) forget(requestID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.db.Exec(ctx, `DELETE FROM realtime.node_replies
		WHERE request = $1 OR created_at < now() - interval '1 minute'`, requestID); err != nil {
		c.log.WithError(err).Warn("admin: deleting replies")
	}
}

// reply stores this node's answer to a request.
func (c *cluster) reply(ctx context.Context, requestID string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("admin: encoding reply: %w", err)
	}
	_, err = c.db.Exec(ctx, `INSERT INTO realtime.node_replies (request, node, body) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, requestID, c.node, b)
	if err != nil {
		return fmt.Errorf("admin: storing reply: %w", err)
	}
	return nil
}

var errBadRequest = errors.New("admin: bad control request")

// decodeRequest parses a control message of type ControlType.
func decodeRequest(payload []byte) (request, error) {
	var r request
	if err := json.Unmarshal(payload, &r); err != nil {
		return r, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	switch {
	case r.Type != ControlType:
		return r, fmt.Errorf("%w: type %q", errBadRequest, r.Type)
	case r.Request == "" || r.From == "":
		return r, fmt.Errorf("%w: missing request or from", errBadRequest)
	case r.Op != opSockets && r.Op != opDevices && r.Op != opDisconnect:
		return r, fmt.Errorf("%w: unknown op %q", errBadRequest, r.Op)
	case r.Op != opSockets && r.User == "":
		return r, fmt.Errorf("%w: op %s needs a user", errBadRequest, r.Op)
	}
	return r, nil
}
