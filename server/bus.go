package server

import (
	"context"
	"sync"

	"github.com/realtimed/realtimed/bus"
	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/metrics"
	"github.com/realtimed/realtimed/router"
)

// fleet is the node's part of fleet mode (REALTIME_BUS): its NATS connection, the subscriber
// that delivers the rooms of its sockets, and the publisher it runs when elected.
type fleet struct {
	conn   *bus.Conn
	sub    *bus.Subscriber
	pub    *bus.Publisher
	leader *cluster.Leader
}

// newFleet connects to NATS (retrying in the background while the server is down) and builds
// the subscriber and the publisher. The namespace's Interest is the subscriber.
func (s *Server) newFleet() (*fleet, error) {
	c := s.cfg.Bus
	conn, err := bus.Connect(bus.Options{URL: c.URL, Name: "realtimed " + s.cluster.Node(), Creds: c.Creds, CA: c.CA,
		Cert: c.Cert, Key: c.Key, Logger: s.log})
	if err != nil {
		return nil, err
	}
	f := &fleet{conn: conn}
	f.sub, err = bus.NewSubscriber(bus.SubscriberConfig{Conn: conn, Prefix: c.Prefix, Pool: s.pool, Deliver: s.router.Deliver,
		Always: []string{router.InternalRoom}, UserOf: router.UserOfRoom, Logger: s.log})
	if err == nil {
		f.pub, err = bus.NewPublisher(bus.PublisherConfig{Conn: conn, Prefix: c.Prefix, Node: s.cluster.Node(), Pool: s.pool,
			Connect: s.cfg.DB.Connector("realtimed-bus-publisher"), Recipients: router.Recipients, Logger: s.log})
	}
	if err == nil {
		f.leader, err = cluster.NewLeader(cluster.LeaderConfig{Name: "bus publisher", Key: cluster.BusPublisherLock,
			Connect: s.cfg.DB.Connector("realtimed-bus-leader"), Logger: s.log})
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return f, nil
}

// run runs the subscriber and campaigns for the publisher until ctx ends, then closes the
// connection.
func (f *fleet) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = f.sub.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		f.leader.Run(ctx, f.pub.Work)
	}()
	wg.Wait()
	f.conn.Close()
}

// stats are the bus metrics.
func (f *fleet) stats() metrics.BusStats {
	st, ps := f.sub.Stats(), f.pub.Stats()
	return metrics.BusStats{
		Connected: f.conn.IsConnected(), Received: st.Received, FromNATS: st.Delivered, FromDB: st.CaughtUp,
		Duplicates: st.Duplicates, CatchUps: st.CatchUps, Subscriptions: st.Subscriptions, Position: st.Position,
		HeadAge: st.HeadAge.Seconds(), Publishing: f.leader.Leading(), PublishedEvents: ps.Events,
		PublishedMessages: ps.Messages, PublishedThrough: ps.Position,
	}
}
