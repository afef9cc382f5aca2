package server

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/realtimed/realtimed/database"
)

// pools are the node's connection pools, one per kind of work, so that a burst of one kind
// cannot take the connections another needs: when every client of a failed node reconnects
// here at once, their recoveries queue in the connect pool while the readiness check and the
// commands of the sockets already connected go on with connections of their own.
//
// Separate pools rather than one pool with a quota per kind of work: a pool's connections can
// only be taken by its own work, which is the guarantee wanted, pgxpool's own limits and
// statistics apply to each, and each has its own name in pg_stat_activity, so an operator sees
// at once which work holds the database's connections.
type pools struct {
	// main ("realtimed") serves the sockets already connected (room:join, the session writes
	// of connects and room changes) and the node's own work: the cluster's heartbeats and
	// control messages, retention, the admin API, the console and the demo.
	main *pgxpool.Pool
	// connect ("realtimed-connect") serves sockets while they connect: session-token lookups,
	// recovery restores and replays.
	connect *pgxpool.Pool
	// health ("realtimed-health") answers /readyz and the scrape-time metrics query.
	health *pgxpool.Pool
}

// Pool names, as pg_stat_activity shows them (application_name).
const (
	mainPoolName    = "realtimed"
	connectPoolName = "realtimed-connect"
	healthPoolName  = "realtimed-health"
)

// poolShares divides a node's connections (pool_max_conns) among its pools: one or two for
// health, then half of the rest for the main pool and half for connecting sockets, at least
// one each (so a node opens at least three).
func poolShares(total int32) (main, connect, health int32) {
	health = min(2, max(1, total/8))
	rest := total - health
	main = max(1, rest/2)
	connect = max(1, rest-main)
	return main, connect, health
}

// newPools opens the node's pools (their connections are opened on demand).
func newPools(ctx context.Context, db *database.Config) (*pools, error) {
	mainN, connectN, healthN := poolShares(db.MaxConns())
	var p pools
	var err error
	if p.main, err = db.NewPool(ctx, mainPoolName, mainN); err != nil {
		return nil, err
	}
	if p.connect, err = db.NewPool(ctx, connectPoolName, connectN); err != nil {
		p.close()
		return nil, err
	}
	if p.health, err = db.NewPool(ctx, healthPoolName, healthN); err != nil {
		p.close()
		return nil, err
	}
	return &p, nil
}

// close closes every pool that was opened.
func (p *pools) close() {
	for _, pool := range []*pgxpool.Pool{p.main, p.connect, p.health} {
		if pool != nil {
			pool.Close()
		}
	}
}

// byName returns the pools by their names in pg_stat_activity.
func (p *pools) byName() map[string]*pgxpool.Pool {
	return map[string]*pgxpool.Pool{mainPoolName: p.main, connectPoolName: p.connect, healthPoolName: p.health}
}
