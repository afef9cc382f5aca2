// Package bus routes the event stream through NATS in fleet mode (REALTIME_BUS): one elected
// node, the publisher, reads the stream from PostgreSQL and publishes each event once per
// recipient room; every node subscribes to the rooms of its own sockets only (and
// realtime:internal), delivers what arrives in order, drops positions it already delivered,
// and reads PostgreSQL again (pos > the last position it had, filtered by its rooms) whenever
// it may have missed a message: a new connection to NATS, messages dropped as a slow
// consumer, another publisher. PostgreSQL stays the source of truth; NATS only routes.
package bus

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sirupsen/logrus"
)

// Options configure the connection to NATS. The URL carries the servers (comma-separated),
// user and password (nats://user:pass@host:4222) and TLS (tls://…), as nats.go reads them.
type Options struct {
	// URL is REALTIME_BUS. Required.
	URL string
	// Name is the connection's name, as the server shows it (the node id).
	Name string
	// Creds is a credentials file (JWT and NKey seed), for nats.UserCredentials.
	Creds string
	// CA is a PEM file of root certificates to verify the server with (nats.RootCAs).
	CA string
	// Cert and Key are a client certificate and its key (nats.ClientCert), for servers that
	// verify clients.
	Cert, Key string
	// ReconnectWait is the pause between reconnection attempts. Zero means 250ms.
	ReconnectWait time.Duration
	// Logger receives connection changes. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

// Conn is a connection to NATS that counts the TCP connections it made: a subscriber compares
// the count before and after a message to tell whether the connection was replaced in between
// (and messages may have been lost).
type Conn struct {
	*nats.Conn
	dials atomic.Uint64
	log   logrus.FieldLogger
}

// Dials returns how many TCP connections to NATS were made. It increases before any byte of a
// new connection is read.
func (c *Conn) Dials() uint64 { return c.dials.Load() }

// countingDialer dials TCP and counts the connections.
type countingDialer struct {
	net.Dialer
	n *atomic.Uint64
}

func (d *countingDialer) Dial(network, address string) (net.Conn, error) {
	conn, err := d.Dialer.Dial(network, address)
	if err == nil {
		d.n.Add(1)
	}
	return conn, err
}

// Connect connects to NATS, retrying forever when the connection drops (and at startup, when
// the server is not up yet): subscriptions are sent again on every new connection.
func Connect(o Options) (*Conn, error) {
	if o.URL == "" {
		return nil, errors.New("bus: Options.URL is required")
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = logrus.StandardLogger()
	}
	c := &Conn{log: o.Logger}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(o.ReconnectWait),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		// Nothing is kept for the next connection: a publication during a reconnection fails
		// (the publisher's term ends and the next one resumes from the confirmed position),
		// so that no message written before a lost one arrives after it.
		nats.ReconnectBufSize(-1),
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.SetCustomDialer(&countingDialer{Dialer: net.Dialer{Timeout: 2 * time.Second, KeepAlive: 15 * time.Second}, n: &c.dials}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			o.Logger.WithError(err).Warn("bus: disconnected from NATS; reconnecting (missed events are read from PostgreSQL)")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			o.Logger.WithField("server", nc.ConnectedUrlRedacted()).Info("bus: reconnected to NATS")
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			o.Logger.WithField("server", nc.ConnectedUrlRedacted()).Info("bus: connected to NATS")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			entry := o.Logger.WithError(err)
			if sub != nil {
				entry = entry.WithField("subject", sub.Subject)
			}
			entry.Warn("bus: NATS error")
		}),
	}
	opts = append(opts, o.security()...)
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connecting to NATS: %w", err)
	}
	c.Conn = nc
	return c, nil
}

// security returns the nats.go options for the credentials file and TLS files configured
// (user and password, or tls://, come with the URL itself).
func (o Options) security() []nats.Option {
	var opts []nats.Option
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.CA != "" {
		opts = append(opts, nats.RootCAs(o.CA))
	}
	if o.Cert != "" || o.Key != "" {
		opts = append(opts, nats.ClientCert(o.Cert, o.Key))
	}
	return opts
}

// Close drains nothing: it closes the connection (subscriptions end; the node's stream is
// PostgreSQL's).
func (c *Conn) Close() { c.Conn.Close() }

// ProbeResult is what Probe found out about the NATS server.
type ProbeResult struct {
	Server     string        // the URL connected to, password redacted
	Version    string        // the server's version
	RTT        time.Duration // a publication's round trip through a room subject
	MaxPayload int64         // the largest message the server accepts
}

// Probe connects once (no retries), subscribes to a room subject of its own under prefix,
// publishes to it and waits for the message: the credentials, TLS and the permissions a node
// needs on <prefix>.room.> all work. For `realtimed doctor`.
func Probe(o Options, prefix string, timeout time.Duration) (ProbeResult, error) {
	var res ProbeResult
	opts := []nats.Option{nats.Name("realtimed doctor"), nats.Timeout(timeout), nats.NoReconnect()}
	opts = append(opts, o.security()...)
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return res, fmt.Errorf("connecting: %w", err)
	}
	defer nc.Close()
	res.Server, res.Version, res.MaxPayload = nc.ConnectedUrlRedacted(), nc.ConnectedServerVersion(), nc.MaxPayload()
	subject := RoomSubject(prefix, "doctor:"+nats.NewInbox()[len("_INBOX."):])
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		return res, fmt.Errorf("subscribing to %s: %w", subject, err)
	}
	if err := nc.FlushTimeout(timeout); err != nil {
		return res, fmt.Errorf("subscribing to %s: %w", subject, err)
	}
	start := time.Now()
	if err := nc.Publish(subject, []byte("{}")); err != nil {
		return res, fmt.Errorf("publishing to %s: %w", subject, err)
	}
	if _, err := sub.NextMsg(timeout); err != nil {
		return res, fmt.Errorf("no message back on %s (permissions?): %w", subject, err)
	}
	res.RTT = time.Since(start)
	return res, nil
}
