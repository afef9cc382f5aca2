package workload

import (
	"context"
	"errors"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/bench/procstat"
)

// IdleOptions configure the idle workload.
type IdleOptions struct {
	Clients int // one user each
	// Hold keeps the clients connected this long after the measurement (to profile the server).
	Hold time.Duration
}

// IdleResult is the server's memory per idle connection.
type IdleResult struct {
	Header
	ConnectSec     float64 `json:"connect_sec"`
	ConnectsPerSec float64 `json:"connects_per_sec"`
	// ConnectCPUSec is the server CPU spent while the clients connected and authenticated.
	ConnectCPUSec float64 `json:"server_connect_cpu_sec"`
	// RSS before the clients connected and after, each read once it had settled (same
	// procedure for every server: procstat.Settle).
	RSSBeforeKB   int64   `json:"server_rss_before_kb"`
	RSSAfterKB    int64   `json:"server_rss_after_kb"`
	SettledBefore bool    `json:"settled_before"`
	SettledAfter  bool    `json:"settled_after"`
	KBPerConn     float64 `json:"server_kb_per_connection"`
	Dropped       int64   `json:"dropped"`
}

// Idle connects Clients clients that send nothing and measures the server's RSS growth.
func Idle(ctx context.Context, c Config, o IdleOptions) (*IdleResult, error) {
	if c.Server == nil {
		return nil, errors.New("idle: the server's resources must be readable (pid or stats URL)")
	}
	f, cleanup, err := c.setup(ctx, o.Clients)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	r := &IdleResult{Header: c.header("idle", o.Clients)}

	before, settled, err := procstat.Settle(ctx, c.Server, c.Settle)
	if err != nil {
		return nil, err
	}
	r.RSSBeforeKB, r.SettledBefore = before.RSSKB, settled
	c.Log.WithFields(logrus.Fields{"rss_kb": before.RSSKB, "settled": settled}).Info("server RSS before connecting")

	start := time.Now()
	pool, err := Connect(ctx, c.Target, o.Clients, func(i int) string { return f.Users[i].Token }, nil, c.Log)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	pool.Run(func(int, []byte) {})
	r.ConnectSec = round3(time.Since(start).Seconds())
	r.ConnectsPerSec = perSec(int64(o.Clients), time.Since(start))
	connected, err := c.Server.Sample(ctx)
	if err != nil {
		return nil, err
	}
	r.ConnectCPUSec = round3(connected.CPUSec - before.CPUSec)
	c.Log.WithFields(logrus.Fields{"clients": o.Clients, "seconds": r.ConnectSec}).Info("connected; waiting for the server's RSS to settle")

	after, settled, err := procstat.Settle(ctx, c.Server, c.Settle)
	if err != nil {
		return nil, err
	}
	r.RSSAfterKB, r.SettledAfter = after.RSSKB, settled
	r.KBPerConn = round3(float64(after.RSSKB-before.RSSKB) / float64(o.Clients))
	r.Dropped = pool.Dropped()
	if o.Hold > 0 {
		c.Log.WithField("hold", o.Hold.String()).Info("measured; holding the connections")
		select {
		case <-ctx.Done():
		case <-time.After(o.Hold):
		}
	}
	return r, nil
}
