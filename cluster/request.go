package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
)

// requestType is the "type" of the control messages that carry requests between nodes.
const requestType = "cluster.request"

// request asks every other node to answer an operation.
type request struct {
	Type    string          `json:"type"`
	Request string          `json:"request"`
	From    string          `json:"from"`
	Op      string          `json:"op"`
	Args    json.RawMessage `json:"args,omitempty"`
}

// ErrBadRequest is wrapped by the errors of malformed requests from other nodes.
var ErrBadRequest = errors.New("cluster: bad request")

// Replies are the answers to one Ask.
type Replies struct {
	// ByNode holds each answering node's reply.
	ByNode map[string]json.RawMessage
	// Missing lists the live nodes that did not answer in time.
	Missing []string
}

// Serve makes this node answer the operation op for the other nodes: h gets the request's
// arguments (JSON, possibly empty) and returns the reply, marshalled to JSON. It runs on a
// goroutine of its own.
func (c *Cluster) Serve(op string, h func(args []byte) (any, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.services[op] = h
}

// Ask sends op with args to every other live node and collects their replies until all have
// answered or Config.Wait has passed. Nodes that did not answer are listed in Missing.
func (c *Cluster) Ask(ctx context.Context, op string, args any) (Replies, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return Replies{}, err
	}
	want := make(map[string]bool)
	for _, n := range nodes {
		if n.ID != c.cfg.Node {
			want[n.ID] = true
		}
	}
	out := Replies{ByNode: map[string]json.RawMessage{}}
	if len(want) == 0 {
		return out, nil
	}
	req := request{Type: requestType, Request: newRequestID(), From: c.cfg.Node, Op: op}
	if args != nil {
		if req.Args, err = json.Marshal(args); err != nil {
			return Replies{}, fmt.Errorf("cluster: encoding the arguments of %s: %w", op, err)
		}
	}
	payload, _ := json.Marshal(req)
	if _, err := c.cfg.Pool.Exec(ctx, `SELECT pg_notify($1, $2)`, c.publisher.cfg.Channel, string(payload)); err != nil {
		return Replies{}, fmt.Errorf("cluster: asking the other nodes: %w", err)
	}
	defer c.forget(req.Request)
	deadline := time.Now().Add(c.cfg.Wait)
	for {
		if err := c.collect(ctx, req.Request, want, out.ByNode); err != nil {
			return Replies{}, err
		}
		if len(out.ByNode) == len(want) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return Replies{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	for id := range want {
		if _, ok := out.ByNode[id]; !ok {
			out.Missing = append(out.Missing, id)
		}
	}
	return out, nil
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// collect reads the replies stored so far (each query holds one pooled connection, briefly).
func (c *Cluster) collect(ctx context.Context, requestID string, want map[string]bool, into map[string]json.RawMessage) error {
	rows, err := c.cfg.Pool.Query(ctx, `SELECT node, body FROM realtime.node_replies WHERE request = $1`, requestID)
	if err != nil {
		return fmt.Errorf("cluster: reading replies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			node string
			body []byte
		)
		if err := rows.Scan(&node, &body); err != nil {
			return fmt.Errorf("cluster: reading replies: %w", err)
		}
		if want[node] {
			into[node] = body
		}
	}
	return rows.Err()
}

// forget deletes a request's replies, and any left behind by requests that gave up.
func (c *Cluster) forget(requestID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.cfg.Pool.Exec(ctx, `DELETE FROM realtime.node_replies
		WHERE request = $1 OR created_at < now() - interval '1 minute'`, requestID); err != nil {
		c.log.WithError(err).Warn("cluster: deleting replies")
	}
}

// decodeRequest parses a control message of type requestType.
func decodeRequest(payload []byte) (request, error) {
	var r request
	if err := json.Unmarshal(payload, &r); err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	switch {
	case r.Type != requestType:
		return r, fmt.Errorf("%w: type %q", ErrBadRequest, r.Type)
	case r.Request == "" || r.From == "" || r.Op == "":
		return r, fmt.Errorf("%w: missing request, from or op", ErrBadRequest)
	}
	return r, nil
}

// onRequest handles a request from another node: it answers in the background, so the
// goroutine delivering control messages never waits. Requests from this node itself are
// ignored; malformed ones and unknown operations are logged.
func (c *Cluster) onRequest(payload []byte) {
	req, err := decodeRequest(payload)
	if err != nil {
		c.log.WithError(err).Warn("cluster: ignored a control message")
		return
	}
	if req.From == c.cfg.Node {
		return
	}
	c.mu.RLock()
	h := c.services[req.Op]
	c.mu.RUnlock()
	if h == nil {
		c.log.WithFields(logrus.Fields{"op": req.Op, "from": req.From}).Warn("cluster: ignored a request for an unknown operation")
		return
	}
	go c.answer(req, h)
}

func (c *Cluster) answer(req request, h func([]byte) (any, error)) {
	log := c.log.WithFields(logrus.Fields{"op": req.Op, "from": req.From})
	body, err := h(req.Args)
	if err != nil {
		log.WithError(err).Warn("cluster: could not answer a request")
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		log.WithError(err).Warn("cluster: encoding a reply")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.cfg.Pool.Exec(ctx, `INSERT INTO realtime.node_replies (request, node, body) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, req.Request, c.cfg.Node, b); err != nil {
		log.WithError(err).Warn("cluster: storing a reply")
	}
}
