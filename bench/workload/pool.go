package workload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/bench/sioclient"
)

// Target is the server under test and how to reach it.
type Target struct {
	// URL is the server's base URL (http://host:port).
	URL string
	// SourceIPs are local addresses to connect from, in turn (e.g. 127.0.0.1…127.0.0.4), so that
	// many connections do not run out of ephemeral ports. Empty: the system chooses.
	SourceIPs []string
	// Concurrency is how many connections are being opened at once (default 64).
	Concurrency int
}

// Pool is a set of connected clients, each with its own reading goroutine once Run is called.
type Pool struct {
	clients []*sioclient.Client
	wg      sync.WaitGroup
	closing atomic.Bool
	dropped atomic.Int64 // read loops that ended before Close
	log     logrus.FieldLogger
}

// Connect opens n clients; client i authenticates with token(i). join, when not nil, runs
// on each client after it connected (e.g. room:join with its ack). It fails if any client
// cannot connect after a few attempts: a bench needs all of them.
func Connect(ctx context.Context, t Target, n int, token func(i int) string,
	join func(ctx context.Context, i int, c *sioclient.Client) error, log logrus.FieldLogger) (*Pool, error) {
	dialers, err := newDialers(t)
	if err != nil {
		return nil, err
	}
	p := &Pool{clients: make([]*sioclient.Client, n), log: log}
	conc := t.Concurrency
	if conc <= 0 {
		conc = 64
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		done     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < min(conc, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := dialRetry(ctx, dialers[i%len(dialers)], func(ctx context.Context, d *sioclient.Dialer) (*sioclient.Client, error) {
					return d.Dial(ctx, token(i))
				})
				if err == nil && join != nil {
					if err = join(ctx, i, c); err != nil {
						_ = c.Close()
					}
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("client %d: %w", i, err); cancel() })
					return
				}
				p.clients[i] = c
				if d := done.Add(1); d%1000 == 0 {
					log.WithFields(logrus.Fields{"connected": d, "of": n, "elapsed": time.Since(start).Round(time.Millisecond).String()}).Info("connecting")
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		p.Close()
		return nil, firstErr
	}
	return p, nil
}

func newDialers(t Target) ([]*sioclient.Dialer, error) {
	if len(t.SourceIPs) == 0 {
		d, err := sioclient.NewDialer(t.URL, nil)
		if err != nil {
			return nil, err
		}
		return []*sioclient.Dialer{d}, nil
	}
	var out []*sioclient.Dialer
	for _, ip := range t.SourceIPs {
		addr := net.ParseIP(ip)
		if addr == nil {
			return nil, fmt.Errorf("source address %q is not an IP address", ip)
		}
		d, err := sioclient.NewDialer(t.URL, &net.TCPAddr{IP: addr})
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// dialRetry retries transient failures (a full accept backlog resets connections, a server
// closes a connection it cannot serve right now) but not a refused authentication.
func dialRetry(ctx context.Context, d *sioclient.Dialer, dial func(context.Context, *sioclient.Dialer) (*sioclient.Client, error)) (*sioclient.Client, error) {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		var c *sioclient.Client
		c, err = dial(dctx, d)
		cancel()
		if err == nil {
			return c, nil
		}
		var ce *sioclient.ConnectError
		if errors.As(err, &ce) {
			return nil, err
		}
	}
	return nil, err
}

// Len returns the number of clients.
func (p *Pool) Len() int { return len(p.clients) }

// Run starts every client's read loop; onEvent gets the client's index and the event (see
// sioclient.Client.Run). It returns at once.
func (p *Pool) Run(onEvent func(i int, msg []byte)) {
	for i, c := range p.clients {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			err := c.Run(func(msg []byte) { onEvent(i, msg) })
			if !p.closing.Load() {
				p.dropped.Add(1)
				p.log.WithField("client", i).WithError(err).Warn("the server closed a client's connection")
			}
		}()
	}
}

// Dropped returns how many clients lost their connection before Close.
func (p *Pool) Dropped() int64 { return p.dropped.Load() }

// Close closes every client and waits for their read loops.
func (p *Pool) Close() {
	p.closing.Store(true)
	for _, c := range p.clients {
		if c != nil {
			_ = c.Close()
		}
	}
	p.wg.Wait()
}
