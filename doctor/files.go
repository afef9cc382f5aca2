//go:build unix

package doctor

import (
	"context"
	"fmt"
	"syscall"
)

// How many file descriptors a node needs beyond one per client connection: its database
// connections (the pool, plus the listener, the elected-work lock and a rules or migration
// connection) and a baseline for the process itself (standard streams, the epoll instance,
// the listening sockets, TLS and JWKS files and connections).
const (
	extraDBConns    = 4
	processBaseline = 64
	// floorConnections is the load a node should be able to take even when the cluster is idle
	// at the time of the check.
	floorConnections = 10_000
)

func init() {
	Register(Check{Name: "open files", Order: 60, Run: checkOpenFiles})
}

// checkOpenFiles compares the open-file limit with the connections a node should expect: the
// clients the cluster holds now (connected sessions and those within the recovery window,
// from realtime.sessions), spread over the nodes that would remain if one node failed, and at
// least floorConnections.
func checkOpenFiles(ctx context.Context, env *Env) Result {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return Failf("reading the open-file limit: %v", err)
	}
	// Go raises the soft limit to the hard one when a program starts: this process, like a
	// node started the same way, runs with lim.Cur.
	limit := lim.Cur
	overhead := uint64(processBaseline + extraDBConns)
	if env.Config.DB != nil {
		overhead += uint64(env.Config.DB.MaxConns())
	}
	room := uint64(0)
	if limit > overhead {
		room = limit - overhead
	}
	have := fmt.Sprintf("limit %d: room for %d client connections (after %d for the process and its database connections)", limit, room, overhead)
	const raise = "ulimit -n, systemd LimitNOFILE=, compose ulimits: nofile"
	load, err := clusterLoad(ctx, env)
	now := "the cluster's clients could not be counted: " + fmt.Sprint(err)
	if err == nil {
		now = load.String()
	}
	switch {
	case err == nil && room < load.perNode():
		return Failf("%s, fewer than the %d a node may have to take now (%s); raise it (%s)", have, load.perNode(), now, raise)
	case room < floorConnections:
		return Warnf("%s, fewer than the %d a node should be able to take (%s); raise it before the load grows (%s)", have, floorConnections, now, raise)
	}
	return Passf("%s, at least the %d a node should take (%s)", have, max(floorConnections, load.perNode()), now)
}

// load is what the cluster holds now.
type load struct {
	clients uint64 // connected sockets and sessions within the recovery window
	nodes   uint64 // nodes seen within the last heartbeats
}

// perNode is how many clients one node gets when one node of the cluster fails and its
// clients reconnect to the others (all of them, with one or two nodes).
func (l load) perNode() uint64 {
	survivors := max(l.nodes, 2) - 1
	return (l.clients + survivors - 1) / survivors
}

func (l load) String() string {
	return fmt.Sprintf("%d clients on %d live nodes now, spread over %d if one fails", l.clients, l.nodes, max(l.nodes, 2)-1)
}

// clusterLoad counts the clients the cluster holds from realtime.sessions (written by nodes
// with connection-state recovery on, the default) and the live nodes from realtime.nodes.
func clusterLoad(ctx context.Context, env *Env) (load, error) {
	pool, err := env.Pool(ctx)
	if err != nil {
		return load{}, err
	}
	var l load
	err = pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM realtime.sessions s WHERE s.disconnected_at IS NOT NULL
		    OR EXISTS (SELECT 1 FROM realtime.nodes n WHERE n.id = s.node AND n.seen_at > now() - interval '1 minute')),
		(SELECT count(*) FROM realtime.nodes WHERE seen_at > now() - interval '1 minute')`).Scan(&l.clients, &l.nodes)
	return l, err
}
