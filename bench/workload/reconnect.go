package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/bench/sioclient"
)

// ReconnectOptions configure the reconnect workload.
type ReconnectOptions struct {
	Clients int // one user each, all members of one chat
	// Missed is how many events each user is sent while disconnected, besides one event to
	// the chat (default 2).
	Missed int
}

// ReconnectResult is how fast a server takes connections and recoveries.
type ReconnectResult struct {
	Header
	// Connect: every client connects (and the server saves its session, with recovery on).
	ConnectSec     float64 `json:"connect_sec"`
	ConnectsPerSec float64 `json:"connects_per_sec"`
	ConnectServer  *Usage  `json:"server_connect,omitempty"`
	// Recovery (only when the server offers it): every client, in the chat's room, drops its
	// connection and comes back at once with its pid; the time runs until each has its CONNECT
	// reply and the events it missed.
	Recovery         bool    `json:"recovery"`
	Missed           int     `json:"missed_per_client"`
	RecoverSec       float64 `json:"recover_sec,omitempty"`
	RecoveriesPerSec float64 `json:"recoveries_per_sec,omitempty"`
	Recovered        int64   `json:"recovered"`
	NotRecovered     int64   `json:"not_recovered"`
	// Failed counts clients that could not connect again after five attempts (the server
	// kept closing their connections), or did not get their missed events within a minute.
	Failed        int64  `json:"failed"`
	RecoverServer *Usage `json:"server_recover,omitempty"`
	Bench         *Usage `json:"bench"`
}

// Reconnect measures connects per second, then, when the server offers connection-state
// recovery, recoveries per second of a crowd that comes back at once (each client with its
// user room and the chat's room, each missing Missed+1 events).
func Reconnect(ctx context.Context, c Config, o ReconnectOptions) (*ReconnectResult, error) {
	if o.Missed <= 0 {
		o.Missed = 2
	}
	f, cleanup, err := c.setup(ctx, o.Clients)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	r := &ReconnectResult{Header: c.header("reconnect", o.Clients), Missed: o.Missed + 1}
	token := func(i int) string { return f.Users[i].Token }
	m, err := c.startMeter(ctx)
	if err != nil {
		return nil, err
	}
	pool, err := Connect(ctx, c.Target, o.Clients, token, nil, c.Log)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	var wall time.Duration
	if r.ConnectServer, _, wall, err = m.stop(ctx); err != nil {
		return nil, err
	}
	r.ConnectSec, r.ConnectsPerSec = round3(wall.Seconds()), perSec(int64(o.Clients), wall)
	c.Log.WithFields(logrus.Fields{"clients": o.Clients, "per_sec": r.ConnectsPerSec}).Info("connected")
	sessions := make([]sioclient.Session, o.Clients)
	for i, cl := range pool.clients {
		sessions[i].PID = cl.PID()
	}
	if r.Recovery = sessions[0].PID != ""; !r.Recovery {
		return r, nil
	}
	if err := pool.each(ctx, c.Target.Concurrency, joinChat(f.ChatID)); err != nil {
		return nil, err
	}
	pool.Close()
	users := make([]string, o.Clients)
	for i, u := range f.Users {
		users[i] = u.ID
	}
	if err := c.disconnectedAndMissed(ctx, sessions, users, f.ChatID, o.Missed); err != nil {
		return nil, err
	}
	if m, err = c.startMeter(ctx); err != nil {
		return nil, err
	}
	again, err := c.recoverAll(ctx, sessions, token, o.Missed+1, r)
	if err != nil {
		return nil, err
	}
	defer again.Close()
	if r.RecoverServer, r.Bench, wall, err = m.stop(ctx); err != nil {
		return nil, err
	}
	r.RecoverSec, r.RecoveriesPerSec = round3(wall.Seconds()), perSec(r.Recovered, wall)
	return r, nil
}

// each runs f on every client, conc at a time.
func (p *Pool) each(ctx context.Context, conc int, f func(ctx context.Context, i int, c *sioclient.Client) error) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range max(1, min(conc, len(p.clients))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(p.clients); i = int(next.Add(1) - 1) {
				if err := f(ctx, i, p.clients[i]); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("client %d: %w", i, err))
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// disconnectedAndMissed waits until the server has recorded every client's disconnection, then
// publishes, in one transaction, missed events to each user and one to the chat.
func (c *Config) disconnectedAndMissed(ctx context.Context, sessions []sioclient.Session, users []string, chat string, missed int) error {
	conn, err := pgx.Connect(ctx, c.DatabaseURL)
	if err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	defer conn.Close(context.Background())
	pids := make([]string, len(sessions))
	for i, s := range sessions {
		pids[i] = s.PID
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var connected int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM realtime.sessions WHERE pid = ANY($1) AND disconnected_at IS NULL`,
			pids).Scan(&connected); err != nil {
			return fmt.Errorf("reconnect: reading sessions: %w", err)
		}
		if connected == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("reconnect: %d sessions still connected a minute after the clients left", connected)
		}
		time.Sleep(50 * time.Millisecond)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT realtime.publish('bench.missed', ARRAY[u], '{}', jsonb_build_object('n', n))
			FROM unnest($1::text[]) u, generate_series(1, $2) n`, users, missed); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT realtime.publish('bench.missed', '{}', ARRAY['chat:' || $1], '{}')`, chat)
		return err
	})
	if err != nil {
		return fmt.Errorf("reconnect: publishing the missed events: %w", err)
	}
	return nil
}

// recoverAll reconnects every client at once with its pid and waits for the missed events.
func (c *Config) recoverAll(ctx context.Context, sessions []sioclient.Session, token func(int) string, missed int,
	r *ReconnectResult) (*Pool, error) {
	dialers, err := newDialers(c.Target)
	if err != nil {
		return nil, err
	}
	p := &Pool{clients: make([]*sioclient.Client, len(sessions)), log: c.Log}
	err = p.each(ctx, c.Target.Concurrency, func(ctx context.Context, i int, _ *sioclient.Client) error {
		cl, err := dialRetry(ctx, dialers[i%len(dialers)], func(ctx context.Context, d *sioclient.Dialer) (*sioclient.Client, error) {
			return d.DialSession(ctx, token(i), sessions[i])
		})
		var ce *sioclient.ConnectError
		if errors.As(err, &ce) {
			return err
		}
		if err != nil {
			atomic.AddInt64(&r.Failed, 1)
			c.Log.WithError(err).Debug("reconnect: a client could not connect again")
			return nil
		}
		p.clients[i] = cl
		if cl.PID() != sessions[i].PID {
			atomic.AddInt64(&r.NotRecovered, 1)
			return nil
		}
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := cl.Await(actx, missed); err != nil {
			atomic.AddInt64(&r.Failed, 1)
			return nil
		}
		atomic.AddInt64(&r.Recovered, 1)
		return nil
	})
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("reconnect: %w", err)
	}
	return p, nil
}
