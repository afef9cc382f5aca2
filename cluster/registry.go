package cluster

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// Node is a row of realtime.nodes.
type Node struct {
	ID        string    `json:"id"`
	Hostname  string    `json:"hostname"`
	Addr      string    `json:"addr"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"startedAt"`
	SeenAt    time.Time `json:"seenAt"`
}

// Announce inserts or refreshes this node's row once (Run keeps it fresh). Recovery sessions
// name the node, so it is announced before clients connect.
func (c *Cluster) Announce(ctx context.Context) error {
	host, _ := os.Hostname()
	_, err := c.cfg.Pool.Exec(ctx, `INSERT INTO realtime.nodes (id, hostname, addr, pid) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET seen_at = now()`, c.cfg.Node, host, c.cfg.Addr, os.Getpid())
	if err != nil {
		return fmt.Errorf("cluster: announcing node %s: %w", c.cfg.Node, err)
	}
	return nil
}

// heartbeat keeps the node's row fresh until ctx is done, then deletes it.
func (c *Cluster) heartbeat(ctx context.Context) {
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, c.cfg.Heartbeat)
		if err := c.Announce(actx); err != nil && ctx.Err() == nil {
			c.log.WithError(err).Warn("cluster: node heartbeat failed")
		}
		cancel()
		select {
		case <-ctx.Done():
			c.leave()
			return
		case <-t.C:
		}
	}
}

// leave deletes the node's row: its sessions' recovery window starts now.
func (c *Cluster) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.cfg.Pool.Exec(ctx, `DELETE FROM realtime.nodes WHERE id = $1`, c.cfg.Node); err != nil {
		c.log.WithError(err).Warn("cluster: removing the node's row")
	}
}

// Nodes returns the nodes seen within Silence, oldest first.
func (c *Cluster) Nodes(ctx context.Context) ([]Node, error) {
	rows, err := c.cfg.Pool.Query(ctx, `SELECT id, hostname, addr, pid, started_at, seen_at FROM realtime.nodes
		WHERE seen_at > now() - make_interval(secs => $1) ORDER BY started_at, id`, c.Silence().Seconds())
	if err != nil {
		return nil, fmt.Errorf("cluster: listing nodes: %w", err)
	}
	nodes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Node, error) {
		var n Node
		err := r.Scan(&n.ID, &n.Hostname, &n.Addr, &n.PID, &n.StartedAt, &n.SeenAt)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: listing nodes: %w", err)
	}
	return nodes, nil
}
