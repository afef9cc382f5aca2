package bus_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/realtimed/realtimed/bus"
	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/natstest"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/tcpproxy"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/router"
)

// The bus loses nothing and repeats nothing, whatever happens to NATS: every test publishes
// events while something breaks, then compares what each node delivered with the outbox,
// filtered by the node's rooms: the same positions, each once, in commit order.

func quietLogger() logrus.FieldLogger {
	log, _ := test.NewNullLogger()
	return log
}

func connect(t *testing.T, url string) *bus.Conn {
	t.Helper()
	c, err := bus.Connect(bus.Options{URL: url, ReconnectWait: 50 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// logBuffer keeps a node's log lines, shown when its check fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// node is a subscriber standing for a realtimed node whose sockets are in rooms.
type node struct {
	logs  logBuffer
	sub   *bus.Subscriber
	rooms []string
	late  []string // rooms joined while events flowed
	from  int64    // the stream's head once every room was subscribed

	mu   sync.Mutex
	got  []int64
	slow time.Duration
}

func (n *node) deliver(env *listener.Envelope) {
	if n.slow > 0 {
		time.Sleep(n.slow)
	}
	n.mu.Lock()
	n.got = append(n.got, env.Pos)
	n.mu.Unlock()
}

func (n *node) delivered() []int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

func startNode(t *testing.T, natsURL string, pool *pgxpool.Pool, rooms []string, tune func(*bus.SubscriberConfig)) *node {
	t.Helper()
	n := &node{rooms: rooms}
	log := logrus.New()
	log.SetOutput(&n.logs)
	log.SetLevel(logrus.DebugLevel)
	cfg := bus.SubscriberConfig{Conn: connect(t, natsURL), Pool: pool, Deliver: n.deliver, Always: []string{router.InternalRoom},
		UserOf: router.UserOfRoom, Linger: 100 * time.Millisecond, Logger: log}
	if tune != nil {
		tune(&cfg)
	}
	sub, err := bus.NewSubscriber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.sub = sub
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wait.UntilWithin(t, 30*time.Second, "the subscriber is ready", sub.Ready)
	for _, r := range rooms {
		sub.Acquire(r)
	}
	n.from = head(t, pool)
	return n
}

func head(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var h int64
	if err := pool.QueryRow(context.Background(), `SELECT coalesce(max(pos), 0) FROM realtime.events`).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// publisher runs a bus publisher under a leader until stop is called.
type publisher struct {
	pub  *bus.Publisher
	lead *cluster.Leader
	stop func()
}

func startPublisher(t *testing.T, natsURL, dbURL string, pool *pgxpool.Pool, name string) *publisher {
	t.Helper()
	conn := connect(t, natsURL)
	pub, err := bus.NewPublisher(bus.PublisherConfig{Conn: conn, Node: name, Pool: pool,
		Connect: database.MustParse(dbURL).Connector("bus-publisher-" + name), Recipients: router.Recipients,
		Heartbeat: 200 * time.Millisecond, Checkpoint: 100 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	lead, err := cluster.NewLeader(cluster.LeaderConfig{Name: "bus publisher", Key: cluster.BusPublisherLock,
		Connect: database.MustParse(dbURL).Connector("bus-leader-" + name), Retry: 100 * time.Millisecond,
		Check: 100 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); lead.Run(ctx, pub.Work) }()
	var once sync.Once
	p := &publisher{pub: pub, lead: lead, stop: func() { once.Do(func() { cancel(); <-done }) }}
	t.Cleanup(p.stop)
	return p
}

// writeEvents publishes n events from a few writers: each to one to three users, half of them
// to a chat room as well.
func writeEvents(t *testing.T, pool *pgxpool.Pool, n int, users, chats []string) {
	t.Helper()
	const writers = 4
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/writers; i++ {
				var us, rs []string
				for k := 0; k <= rand.IntN(3); k++ {
					us = append(us, users[rand.IntN(len(users))])
				}
				if rand.IntN(2) == 0 {
					rs = append(rs, chats[rand.IntN(len(chats))])
				}
				if _, err := pool.Exec(context.Background(), `SELECT realtime.publish('test.event', $1, $2, '{"x":1}'::jsonb)`, us, rs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// expected returns the positions after from whose recipients meet rooms, in order.
func expected(t *testing.T, pool *pgxpool.Pool, from int64, rooms []string) []int64 {
	t.Helper()
	var users, named []string
	for _, r := range rooms {
		if u, ok := router.UserOfRoom(r); ok {
			users = append(users, u)
		} else {
			named = append(named, r)
		}
	}
	rows, err := pool.Query(context.Background(), `SELECT pos FROM realtime.events WHERE pos > $1 AND (users && $2 OR rooms && $3) ORDER BY pos`, from, users, named)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// checkExactly waits until the node delivered every expected position after n.from, then
// checks it delivered each once, in order, and nothing outside its rooms.
func checkExactly(t *testing.T, pool *pgxpool.Pool, n *node, all int) {
	t.Helper()
	want := expected(t, pool, n.from, n.rooms)
	if len(want) == 0 {
		t.Fatal("no event for the node's rooms: the test proves nothing")
	}
	last := want[len(want)-1]
	wait.UntilWithin(t, time.Minute, fmt.Sprintf("the node delivered through %d", last), func() bool {
		return n.sub.Position() >= last && slices.Contains(n.delivered(), last)
	})
	got := n.delivered()
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("position %d delivered after %d: duplicate or out of order", got[i], got[i-1])
		}
	}
	var after []int64
	for _, p := range got {
		if p > n.from {
			after = append(after, p)
		}
	}
	allowed := expected(t, pool, n.from, append(slices.Clone(n.rooms), n.late...))
	var got2 []int64
	for _, p := range after { // events of rooms joined later, after the check's start
		if slices.Contains(want, p) || !slices.Contains(allowed, p) {
			got2 = append(got2, p)
		}
	}
	if !slices.Equal(got2, want) {
		missing, extra := diff(want, got2)
		t.Fatalf("delivered %d events, want %d: missing %v, not for the node %v; first deliveries %v; the node's log:\n%s",
			len(got2), len(want), head10(missing), head10(extra), head10(got), n.logs.String())
	}
	if len(after) >= all {
		t.Fatalf("the node delivered all %d events: nothing was routed", all)
	}
}

func diff(want, got []int64) (missing, extra []int64) {
	for _, p := range want {
		if !slices.Contains(got, p) {
			missing = append(missing, p)
		}
	}
	for _, p := range got {
		if !slices.Contains(want, p) {
			extra = append(extra, p)
		}
	}
	return missing, extra
}

func head10(s []int64) []int64 { return s[:min(len(s), 10)] }

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func TestFleetExactlyOnce(t *testing.T) {
	users, chats := names("u", 40), names("chat:c", 8)
	for _, tc := range []struct {
		name  string
		chaos func(t *testing.T, env *fleet)
	}{
		{"steady", func(*testing.T, *fleet) {}},
		{"nats restarted", func(t *testing.T, env *fleet) { env.nats.Restart(t, 300*time.Millisecond) }},
		{"node connection cut", func(t *testing.T, env *fleet) {
			env.proxy.Refuse(true)
			env.proxy.Cut()
			time.Sleep(500 * time.Millisecond)
			env.proxy.Refuse(false)
		}},
		{"publisher fails over", func(t *testing.T, env *fleet) {
			for _, p := range env.pubs {
				if p.lead.Leading() {
					p.stop()
					return
				}
			}
			t.Fatal("no publisher elected")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newFleet(t, users, chats)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); writeEvents(t, env.pool, 1200, users, chats) }()
			time.Sleep(200 * time.Millisecond)
			tc.chaos(t, env)
			// A room joined while events flow gets every event committed after the join.
			late := env.nodes[0]
			late.sub.Acquire("chat:c7")
			late.late = append(late.late, "chat:c7")
			joined := head(t, env.pool)
			wg.Wait()
			for i, n := range env.nodes {
				t.Logf("node %d: rooms %d, delivered %d of %d events, %+v", i, len(n.rooms), len(n.delivered()), head(t, env.pool), n.sub.Stats())
				checkExactly(t, env.pool, n, 1200)
			}
			lateWant := expected(t, env.pool, joined, []string{"chat:c7"})
			got := late.delivered()
			for _, p := range lateWant {
				if !slices.Contains(got, p) {
					t.Fatalf("event %d of chat:c7, committed after the node joined it, not delivered", p)
				}
			}
		})
	}
}

// fleet is a publisher pair and three nodes, the last one behind a TCP proxy.
type fleet struct {
	nats  *natstest.Server
	proxy *tcpproxy.Proxy
	pool  *pgxpool.Pool
	pubs  []*publisher
	nodes []*node
}

func newFleet(t *testing.T, users, chats []string) *fleet {
	dbURL := pgtest.NewDatabase(t)
	env := &fleet{nats: natstest.Start(t), pool: pgtest.NewPool(t, dbURL)}
	p, err := tcpproxy.New(env.nats.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	env.proxy = p
	env.pubs = []*publisher{startPublisher(t, env.nats.URL(), dbURL, env.pool, "a"), startPublisher(t, env.nats.URL(), dbURL, env.pool, "b")}
	wait.UntilWithin(t, 30*time.Second, "a publisher is elected", func() bool {
		return env.pubs[0].lead.Leading() || env.pubs[1].lead.Leading()
	})
	userRooms := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, u := range ids {
			out[i] = router.UserRoom(u)
		}
		return out
	}
	env.nodes = []*node{
		startNode(t, env.nats.URL(), env.pool, append(userRooms(users[:10]), chats[0]), nil),
		startNode(t, env.nats.URL(), env.pool, append(userRooms(users[10:20]), chats[1], chats[2]), func(c *bus.SubscriberConfig) {
			c.Queue = 8 // a slow consumer: NATS drops messages, the node reads them from PostgreSQL
		}),
		startNode(t, "nats://"+p.Addr(), env.pool, append(userRooms(users[20:25]), chats[3]), nil),
	}
	env.nodes[1].slow = 200 * time.Microsecond
	return env
}
