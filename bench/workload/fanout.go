package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/bench/sioclient"
	"github.com/realtimed/realtimed/bench/stats"
)

// Room modes of the fan-out workload.
const (
	// RoomChat: every client is a different user, member of one chat, and joins chat:<id> with
	// room:join; events are published to that room.
	RoomChat = "chat"
	// RoomUser: every client is the same user (one device each); events are published to the
	// user, i.e. its user:<id> room. Needs no room:join.
	RoomUser = "user"
)

// fanoutEvent is the name of the bench's fan-out event.
const fanoutEvent = "bench.fanout"

// FanoutOptions configure the fan-out workload.
type FanoutOptions struct {
	Clients      int
	Events       int     // measured events
	Warmup       int     // events sent (and awaited) before measuring
	PayloadBytes int     // size of each event's JSON payload as published
	Rate         float64 // events per second; 0: back to back from one connection
	Room         string  // RoomChat or RoomUser
	// Drain is how long to wait without progress for the last deliveries (default 30s).
	Drain time.Duration
}

// FanoutResult is deliveries per server CPU-second and publish→client latency.
type FanoutResult struct {
	Header
	Room         string  `json:"room"`
	Events       int     `json:"events"`
	PayloadBytes int     `json:"payload_bytes"`
	Rate         float64 `json:"rate"`
	Expected     int64   `json:"deliveries_expected"`
	Delivered    int64   `json:"deliveries"`
	Lost         int64   `json:"lost"`
	Duplicated   int64   `json:"duplicated"`
	WallSec      float64 `json:"wall_sec"`
	PublishSec   float64 `json:"publish_sec"`
	PerSec       float64 `json:"deliveries_per_sec"`
	// PerCPUSec is deliveries per second of server CPU (user+system) over the measured run.
	PerCPUSec float64 `json:"deliveries_per_server_cpu_sec"`
	// CPUMicrosPerDelivery is its inverse, in microseconds.
	CPUMicrosPerDelivery float64 `json:"server_cpu_us_per_delivery"`
	// Latency runs from just before the publishing statement to the client's read.
	Latency stats.Summary `json:"latency"`
	Server  *Usage        `json:"server,omitempty"`
	Bench   *Usage        `json:"bench"`
	Dropped int64         `json:"dropped"`
}

// fanoutClient is one client's tally; only its reading goroutine touches it.
type fanoutClient struct {
	seen      []uint64 // bitset of sequence numbers
	delivered int64    // measured (not warm-up) events received once
	dup       int64
}

// observe records that event seq arrived; it reports false (and counts a duplicate) when it
// had arrived before.
func (cl *fanoutClient) observe(seq int64) bool {
	word, bit := seq/64, uint64(1)<<(seq%64)
	if cl.seen[word]&bit != 0 {
		cl.dup++
		return false
	}
	cl.seen[word] |= bit
	return true
}

// Fanout connects Clients clients to one room and publishes Events events to it through
// realtime.publish, measuring deliveries per server CPU-second and latency.
func Fanout(ctx context.Context, c Config, o FanoutOptions) (*FanoutResult, error) {
	if o.Room != RoomChat && o.Room != RoomUser {
		return nil, fmt.Errorf("fanout: room must be %q or %q", RoomChat, RoomUser)
	}
	if o.Events < 1 || o.Clients < 1 {
		return nil, errors.New("fanout: needs at least one client and one event")
	}
	if o.Drain <= 0 {
		o.Drain = 30 * time.Second
	}
	users := o.Clients
	if o.Room == RoomUser {
		users = 1
	}
	f, cleanup, err := c.setup(ctx, users)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	var join func(ctx context.Context, i int, cl *sioclient.Client) error
	token := func(i int) string { return f.Users[i].Token }
	target := `{}`
	rooms := []string{"chat:" + f.ChatID}
	if o.Room == RoomChat {
		join = joinChat(f.ChatID)
	} else {
		token = func(int) string { return f.Users[0].Token }
		target, rooms = "{"+f.Users[0].ID+"}", nil
	}
	pool, err := Connect(ctx, c.Target, o.Clients, token, join, c.Log)
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	total := o.Warmup + o.Events
	clients := make([]fanoutClient, o.Clients)
	for i := range clients {
		clients[i].seen = make([]uint64, total/64+1)
	}
	var lat stats.Histogram
	var delivered, warmDelivered atomic.Int64 // deliveries to all clients
	warm := int64(o.Warmup)
	pool.Run(func(i int, msg []byte) {
		name, rest, ok := eventArgs(msg)
		if !ok || string(name) != fanoutEvent {
			return
		}
		seq, ok1 := intAfter(rest, `"s":`, "")
		sent, ok2 := intAfter(rest, `"t":`, "")
		if !ok1 || !ok2 || seq >= int64(total) {
			return
		}
		if !clients[i].observe(seq) {
			return
		}
		if seq < warm {
			warmDelivered.Add(1)
			return
		}
		clients[i].delivered++
		lat.Record(time.Since(time.UnixMicro(sent)))
		delivered.Add(1)
	})

	pub, err := newPublisher(ctx, c.DatabaseURL, target, rooms, o.PayloadBytes)
	if err != nil {
		return nil, err
	}
	defer pub.close()

	if o.Warmup > 0 {
		c.Log.WithField("events", o.Warmup).Info("warming up")
		if err := pub.run(ctx, 0, o.Warmup, o.Rate); err != nil {
			return nil, err
		}
		want := int64(o.Warmup) * int64(o.Clients)
		if waitCount(ctx, &warmDelivered, want, o.Drain); warmDelivered.Load() < want {
			return nil, fmt.Errorf("fanout: %d of %d warm-up deliveries arrived", warmDelivered.Load(), want)
		}
	}

	r := &FanoutResult{Header: c.header("fanout", o.Clients), Room: o.Room, Events: o.Events,
		PayloadBytes: o.PayloadBytes, Rate: o.Rate, Expected: int64(o.Events) * int64(o.Clients)}
	m, err := c.startMeter(ctx)
	if err != nil {
		return nil, err
	}
	c.Log.WithFields(logrus.Fields{"events": o.Events, "clients": o.Clients, "rate": o.Rate}).Info("publishing")
	pubStart := time.Now()
	if err := pub.run(ctx, o.Warmup, total, o.Rate); err != nil {
		return nil, err
	}
	r.PublishSec = round3(time.Since(pubStart).Seconds())
	waitCount(ctx, &delivered, r.Expected, o.Drain)
	r.Server, r.Bench, _, err = m.stop(ctx)
	if err != nil {
		return nil, err
	}
	wall := time.Since(pubStart)

	for i := range clients {
		r.Delivered += clients[i].delivered
		r.Duplicated += clients[i].dup
	}
	r.Lost = r.Expected - r.Delivered
	r.WallSec = round3(wall.Seconds())
	r.PerSec = perSec(r.Delivered, wall)
	if r.Server != nil && r.Server.CPUSec > 0 {
		r.PerCPUSec = round3(float64(r.Delivered) / r.Server.CPUSec)
		if r.Delivered > 0 {
			r.CPUMicrosPerDelivery = round3(r.Server.CPUSec * 1e6 / float64(r.Delivered))
		}
	}
	r.Latency = lat.Summary()
	r.Dropped = pool.Dropped()
	return r, nil
}

// waitCount waits until n reaches want, or until it has not moved for drain.
func waitCount(ctx context.Context, n *atomic.Int64, want int64, drain time.Duration) {
	last, lastMove := n.Load(), time.Now()
	for last < want && time.Since(lastMove) < drain && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		if v := n.Load(); v != last {
			last, lastMove = v, time.Now()
		}
	}
}

// publisher publishes the bench's events through realtime.publish, one transaction each.
type publisher struct {
	conn  *pgx.Conn
	users string
	rooms []string
	pad   string
}

func newPublisher(ctx context.Context, url, users string, rooms []string, payloadBytes int) (*publisher, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("publisher: connecting: %w", err)
	}
	// {"s":<seq>,"t":<µs>,"pad":"…"}: about 40 bytes without the padding.
	padLen := max(0, payloadBytes-len(`{"s":1000000,"t":1700000000000000,"pad":""}`))
	return &publisher{conn: conn, users: users, rooms: rooms, pad: strings.Repeat("x", padLen)}, nil
}

// run publishes events from..to-1 at rate per second (0: back to back).
func (p *publisher) run(ctx context.Context, from, to int, rate float64) error {
	if p.rooms == nil {
		p.rooms = []string{}
	}
	start := time.Now()
	buf := make([]byte, 0, 64+len(p.pad))
	for seq := from; seq < to; seq++ {
		if rate > 0 {
			due := start.Add(time.Duration(float64(seq-from) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		buf = append(buf[:0], `{"s":`...)
		buf = strconv.AppendInt(buf, int64(seq), 10)
		buf = append(buf, `,"t":`...)
		buf = strconv.AppendInt(buf, time.Now().UnixMicro(), 10)
		buf = append(buf, `,"pad":"`...)
		buf = append(buf, p.pad...)
		buf = append(buf, `"}`...)
		if _, err := p.conn.Exec(ctx, "SELECT realtime.publish($1, $2::text[], $3::text[], $4::jsonb)",
			fanoutEvent, p.users, p.rooms, string(buf)); err != nil {
			return fmt.Errorf("publishing event %d: %w", seq, err)
		}
	}
	return nil
}

func (p *publisher) close() { _ = p.conn.Close(context.Background()) }
